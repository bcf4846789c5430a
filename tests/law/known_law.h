// Known Performance Laws on chosen grids, plus seeded noise: the ground truth of the verdict and
// suggestion tests.
#pragma once

#include <cmath>
#include <random>
#include <vector>

#include "law/data.h"
#include "law/forms.h"

namespace perflaw::law {

// w1, a, w2, b, p, c of the Performance Law: N* = p^(-1/a), d* = p^(-1/b).
inline std::vector<double> Law(double n_star, double d_star) {
  const double p = 16.0, a = -std::log(p) / std::log(n_star), b = -std::log(p) / std::log(d_star);
  return {0.05, a, 0.08, b, p, 0.3};
}

// One cell of a synthetic grid: HR@10 of (layers, d_model) at L 50, its value left to the caller.
inline Observation SyntheticCell(double layers, double d_model) {
  Observation o;
  o.dataset = "synthetic";
  o.max_seq_len = 50;
  o.metric = "HR@10";
  o.layers = layers;
  o.d_model = d_model;
  o.origin = "synthetic";
  return o;
}

// The law on layers x d_model plus Gaussian noise of sd `noise`, `seeds` runs per cell.
inline std::vector<Observation> Grid(const std::vector<double>& theta,
                                     const std::vector<double>& layers,
                                     const std::vector<double>& dims, double noise, uint32_t seed,
                                     int seeds = 1) {
  auto form = std::move(MakeForm("performance")).value();
  std::mt19937 rng(seed);
  std::normal_distribution<double> gauss(0.0, 1.0);
  std::vector<Observation> rows;
  for (double n : layers)
    for (double d : dims)
      for (int s = 0; s < seeds; ++s) {
        Observation o = SyntheticCell(n, d);
        o.users = 10000;
        o.value = form->Eval(theta.data(), o, nullptr) + noise * gauss(rng);
        rows.push_back(o);
      }
  return rows;
}

}  // namespace perflaw::law
