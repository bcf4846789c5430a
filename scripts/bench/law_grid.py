#!/usr/bin/env python3
"""Writes a synthetic sweep CSV for perflaw fit: the paper's grid, values from a known
Performance Law plus seeded Gaussian noise.

  law_grid.py OUT.csv [--noise 0.003] [--seed 1] [--levels 1]

--levels K adds K (dataset, max_seq_len) groups with different tokens and ApEn and a data term,
so the file also serves `--form performance-data` (true D' exponent e = -0.25, w3 = 0.03).
"""
import argparse
import math
import random

LAYERS = [4, 8, 12, 16, 24, 32]
DIMS = [25, 50, 75, 100]
# w1, a, w2, b, p, c: optimum N* = p^(-1/a) = 16 layers, d* = p^(-1/b) = 64.
TRUE = dict(w1=0.05, a=-1.0, w2=0.08, b=-2.0 / 3.0, p=16.0, c=0.3, w3=0.03, e=-0.25)
LEVELS = [(50, 2e5, 1.5), (100, 1e6, 2.0), (150, 5e6, 1.2), (200, 2e7, 2.5)]


def term(x, a, p):
    return -1.0 / (p * x ** a) - a * math.log(x)


def law(n, d, dprime, t, with_data):
    v = t["w1"] * term(n, t["a"], t["p"]) + t["w2"] * term(d, t["b"], t["p"]) + t["c"]
    if with_data:
        v += t["w3"] * term(dprime, t["e"], t["p"])
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--noise", type=float, default=0.003)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--levels", type=int, default=1, choices=range(1, 5))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w") as f:
        f.write("dataset,max_seq_len,layers,d_model,metric,value,tokens,apen\n")
        for seq_len, tokens, apen in LEVELS[: args.levels]:
            for n in LAYERS:
                for d in DIMS:
                    v = law(n, d, tokens * apen, TRUE, args.levels > 1)
                    v += rng.gauss(0.0, args.noise)
                    f.write(f"synthetic,{seq_len},{n},{d},HR@10,{v:.6f},{tokens:g},{apen:g}\n")


if __name__ == "__main__":
    main()
