#!/usr/bin/python3
"""Reference ApEn / SampEn: a direct numpy transcription of the quadratic definitions.

This is what the Performance Law authors' code does (per user: build the template matrix, all
pairwise Chebyshev distances, count those within r), and the baseline that perflaw's C++ measures
(apen/quality.cc) are timed and checked against by scripts/bench/apen.sh.

Reads the dataset itself:
  * SASRec text: one `user item` pair per line, each user's lines in chronological order;
  * RecBole atomic `.inter` TSV with a typed header (`user_id:token item_id:token rating:float
    timestamp:float`): each user's interactions stable-sorted by timestamp (ties keep file order).
Item ids are re-indexed densely to 1..n in ascending order of the raw id (numeric order when every
id is an integer, else string order) - the convention of perflaw's loader (apen/dataset.h) - so the
raw-id distances, and hence ApEn for r >= 1, agree with the C++ side.

Usage: apen_reference.py PATH [--max-seq-len L] [--m M] [--r R]
Prints one JSON object: users, mean ApEn and SampEn over users where they are defined (finite),
the counts behind those means, and the seconds spent computing (loading excluded).
Run with Debian's /usr/bin/python3 (python3-numpy).
"""

import argparse
import json
import math
import sys
import time

import numpy as np


def fail(message):
    """Bad input: one line naming the file:line or option, exit code 2."""
    print(f"apen_reference.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def read_sasrec(path):
    users, order = {}, []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                fail(f"{path}:{lineno}: expected `user item`, got {line.strip()!r}")
            user, item = parts
            if user not in users:
                users[user] = []
                order.append(user)
            users[user].append(item)
    return [users[u] for u in order]


def read_atomic(path):
    with open(path) as f:
        header = [c.split(":")[0] for c in f.readline().rstrip("\n").split("\t")]
        try:
            ui, ii, ti = header.index("user_id"), header.index("item_id"), header.index("timestamp")
        except ValueError:
            fail(f"{path}:1: header needs user_id, item_id and timestamp columns")
        users, order = {}, []
        for lineno, line in enumerate(f, 2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(header):
                fail(f"{path}:{lineno}: expected {len(header)} fields, got {len(fields)}")
            user = fields[ui]
            if user not in users:
                users[user] = []
                order.append(user)
            try:
                users[user].append((float(fields[ti]), fields[ii]))
            except ValueError:
                fail(f"{path}:{lineno}: non-numeric timestamp {fields[ti]!r}")
    # sorted() is stable: equal timestamps keep file order.
    return [[item for _, item in sorted(users[u], key=lambda p: p[0])] for u in order]


def dense_item_ids(sequences):
    raw = {item for seq in sequences for item in seq}
    try:
        ordered = sorted(raw, key=int)
    except ValueError:
        ordered = sorted(raw)
    index = {item: i + 1 for i, item in enumerate(ordered)}
    return [np.array([index[item] for item in seq], dtype=np.int64) for seq in sequences]


def chebyshev_matches(x, k, count, r):
    """Matrix of |template_i - template_j|_inf <= r over the first `count` templates of length k."""
    templates = np.lib.stride_tricks.sliding_window_view(x, k)[:count]
    distances = np.abs(templates[:, None, :] - templates[None, :, :]).max(axis=2)
    return distances <= r


def approximate_entropy(x, m, r):
    n = len(x)
    if n <= m:
        return math.nan

    def phi(k):
        count = n - k + 1
        c = chebyshev_matches(x, k, count, r).sum(axis=1) / count  # self-matches included
        return np.sum(np.log(c)) / count

    return abs(phi(m + 1) - phi(m))


def sample_entropy(x, m, r):
    n = len(x)
    if n <= m:
        return math.nan
    count = n - m  # both counts over the first n - m templates, self-matches excluded
    b = chebyshev_matches(x, m, count, r).sum() - count
    a = chebyshev_matches(x, m + 1, count, r).sum() - count
    if b == 0:
        return math.nan
    if a == 0:
        return math.inf
    return -math.log(a / b)


def summarize(values):
    finite = [v for v in values if math.isfinite(v)]
    return {
        "mean": sum(finite) / len(finite) if finite else None,
        "users_defined": len(finite),
        "users_undefined": sum(1 for v in values if math.isnan(v)),
        "users_infinite": sum(1 for v in values if math.isinf(v)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path")
    parser.add_argument("--max-seq-len", type=int, default=0, help="keep each user's last L items (0 = all)")
    parser.add_argument("--m", type=int, default=2)
    parser.add_argument("--r", type=float, default=0.2)
    parser.add_argument("--format", choices=["auto", "sasrec", "atomic"], default="auto")
    args = parser.parse_args()
    if args.m < 1:
        fail(f"--m must be >= 1, got {args.m}")
    if not (args.r >= 0 and math.isfinite(args.r)):
        fail(f"--r must be a finite number >= 0, got {args.r}")
    if args.max_seq_len < 0:
        fail(f"--max-seq-len must be >= 0, got {args.max_seq_len}")

    fmt = args.format
    if fmt == "auto":
        fmt = "atomic" if args.path.endswith(".inter") else "sasrec"
    start = time.perf_counter()
    try:
        open(args.path).close()
    except OSError as e:
        fail(f"{args.path}: cannot open file ({e.strerror})")
    sequences = dense_item_ids(read_atomic(args.path) if fmt == "atomic" else read_sasrec(args.path))
    load_seconds = time.perf_counter() - start

    start = time.perf_counter()
    apen, sampen = [], []
    for x in sequences:
        if args.max_seq_len > 0:
            x = x[-args.max_seq_len:]
        apen.append(approximate_entropy(x, args.m, args.r))
        sampen.append(sample_entropy(x, args.m, args.r))
    seconds = time.perf_counter() - start

    a, s = summarize(apen), summarize(sampen)
    print(json.dumps({
        "path": args.path,
        "format": fmt,
        "max_seq_len": args.max_seq_len,
        "m": args.m,
        "r": args.r,
        "users": len(sequences),
        "tokens": int(sum(min(len(x), args.max_seq_len) if args.max_seq_len > 0 else len(x) for x in sequences)),
        "apen_mean": a["mean"],
        "apen_users_defined": a["users_defined"],
        "apen_users_undefined": a["users_undefined"],
        "sampen_mean": s["mean"],
        "sampen_users_defined": s["users_defined"],
        "sampen_users_undefined": s["users_undefined"],
        "sampen_users_infinite": s["users_infinite"],
        "load_seconds": round(load_seconds, 3),
        "seconds": round(seconds, 3),
    }))


if __name__ == "__main__":
    main()
