// Dataset-level transition entropy: how predictable a user's next item is from the previous one,
// estimated over every consecutive pair of every user's sequence. Unlike per-user ApEn at r < 1,
// which on data without repeated items depends only on sequence lengths, it measures the
// dataset's transition structure (docs/data.md, "Transition entropy").
//
// Estimators, all in bits. With N pairs (a, b), n_a pairs of context a, n_ab of pair (a, b) and
// K_a distinct successors of a:
//   plug-in       H(B|A) = sum_a (n_a / N) H_a,  H_a = log n_a - (1/n_a) sum_b n_ab log n_ab
//   Miller-Madow  H_a + (K_a - 1) / (2 n_a) nats per context; in total + (pairs_distinct -
//                 contexts) / (2 N) nats. Exactly 0 on a deterministic chain.
//   Grassberger   (2003) H_a = log n_a - (1/n_a) sum_b n_ab G(n_ab), G(n) = psi(n) +
//                 (-1)^n (psi((n+1)/2) - psi(n/2)) / 2. Less biased when most pairs occur once,
//                 but not 0 on a deterministic chain (a context seen n times adds log n - G(n)).
// The marginal H(B) uses the same estimators on the pairs' second items; their difference
// I(A; B) = H(B) - H(B|A) is the information the previous item carries about the next.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "apen/sequences.h"

namespace perflaw::apen {

// One entropy under the three estimators, in bits; NaN when there are no pairs.
struct EntropyEstimates {
  double plugin = std::numeric_limits<double>::quiet_NaN();
  double miller_madow = std::numeric_limits<double>::quiet_NaN();
  double grassberger = std::numeric_limits<double>::quiet_NaN();
};

struct TransitionEntropy {
  uint64_t pairs = 0;            // consecutive (previous, next) pairs within users
  uint64_t contexts = 0;         // distinct previous items
  uint64_t distinct_pairs = 0;   // distinct (previous, next) pairs
  uint64_t singleton_pairs = 0;  // distinct pairs seen exactly once: how sparse the estimate is
  EntropyEstimates conditional;  // H(next | previous)
  EntropyEstimates marginal;     // H(next), over the same pairs
  // The headline value: Miller-Madow H(next | previous), bits per transition.
  double bits() const { return conditional.miller_madow; }
  // I(previous; next) = H(next) - H(next | previous), Miller-Madow, bits.
  double mutual_information() const { return marginal.miller_madow - conditional.miller_madow; }
};

// Over each user's last `max_seq_len` items (0 = whole sequences); pairs never cross users.
// O(P log P) for P pairs (one sort of 8-byte keys), deterministic.
TransitionEntropy ComputeTransitionEntropy(const Sequences& seqs, size_t max_seq_len = 0);

// Digamma psi(x) for x > 0 (recurrence to x >= 10, then the asymptotic series; error < 1e-13).
double Digamma(double x);

// Grassberger's G(n) above, n >= 1.
double GrassbergerG(uint64_t n);

}  // namespace perflaw::apen
