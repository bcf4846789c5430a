"""The large sweep of the `sweep check` benchmarks (growth.sh, sweep_check.sh): a layers x d_model
grid of `points` points on a small synthetic dataset, law off.

    python3 scripts/bench/sweep_grid.py POINTS OUT.yaml
"""
import sys


def write(path, points):
    """Writes the grid's YAML to `path`: 100 layers values from 10^5 points up, else 10."""
    layers = 100 if points >= 100000 else 10
    if points < layers or points % layers:
        sys.exit(f"sweep_grid.py: points must be a multiple of {layers}, got {points}")
    with open(path, "w") as f:
        f.write(f"""name: grid-{points}
data:
  synthetic: {{users: 64, items: 50, mean_length: 8, predictability: 0.5, seed: 1}}
model: {{type: sasrec, heads: 1}}
train: {{epochs: 1}}
eval: {{protocol: "sampled:10", ks: [10]}}
grid:
  model.layers: [{", ".join(str(i) for i in range(1, layers + 1))}]
  model.d_model: [{", ".join(str(8 + i) for i in range(points // layers))}]
policy: {{max_points: {points}}}
law: {{enabled: false}}
db: grid.db
work_dir: work-{points}
""")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[1].isdigit():
        sys.exit("usage: sweep_grid.py POINTS OUT.yaml")
    write(sys.argv[2], int(sys.argv[1]))
