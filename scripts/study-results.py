#!/usr/bin/env python3
"""Every number and plot of docs/results.md, recomputed from the study's per-point CSV.

    python3 scripts/study-results.py [--db DB] [--csv CSV] [--out DIR] [--quick]

1. With --db (default out/study-convergence/results.db, written by `perflaw run
   configs/study-convergence.yaml`) present, the completed points are exported to --csv (default
   docs/results/study-convergence.csv, committed): one row per point. Without the database the
   committed CSV is used as is, so every number below can be recomputed from the repository alone.
2. From that CSV only: the law's input (--out/law.csv), the convergence and noise figures, the
   per-dataset verdicts, the three held-out checks and the plots (`perflaw report`), printed as the
   tables docs/results.md quotes and written to --out/results.md.

PERFLAW names the binary (default build/bin/perflaw). --quick uses 50 starts and 50 bootstrap
resamples instead of 1000 and 1000 and leaves docs/results/ alone (the documented figures and
plots use the defaults). Python 3 standard
library only; every fit is `perflaw fit --csv ... --format json`.
All metrics: test split (the checkpoint with the best validation NDCG@10), protocol sampled:100,
K 10; one observation per (point, seed): fits do not average seeds.
"""
import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PERFLAW = os.environ.get("PERFLAW", os.path.join(ROOT, "build/bin/perflaw"))

POINT_COLUMNS = [
    "point", "dataset", "user_fraction", "max_seq_len", "layers", "d_model", "seed", "norm", "warmup",
    "epoch_limit", "patience", "epochs_run", "best_epoch", "stopped_by", "protocol", "eval_users",
    "valid_hr10", "valid_ndcg10", "test_hr10", "test_ndcg10", "users", "tokens", "apen",
    "transition_bits", "wall_seconds"]
METRICS = {"HR@10": "test_hr10", "NDCG@10": "test_ndcg10"}


def perflaw(args, check=True):
    r = subprocess.run([PERFLAW] + args, capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit("perflaw %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def sql(db, query):
    out = perflaw(["sql", db, "--format", "csv", query]).stdout
    return list(csv.DictReader(out.splitlines()))


def fraction_of(options):
    for part in options.split(";"):
        if part.startswith("user_fraction="):
            return float(part.split("=", 1)[1])
    return 1.0


def export(db, csv_path):
    """The completed points of the database, one row each, with their dataset's statistics."""
    points = sql(db, """
      SELECT p.id AS point, json_extract(p.config, '$.data.path') AS path,
        json_extract(p.config, '$.data.user_fraction') AS user_fraction,
        json_extract(p.config, '$.data.max_seq_len') AS max_seq_len,
        json_extract(p.config, '$.model.layers') AS layers,
        json_extract(p.config, '$.model.d_model') AS d_model, json_extract(p.config, '$.seed') AS seed,
        json_extract(p.config, '$.model.norm') AS norm, json_extract(p.config, '$.train.warmup') AS warmup,
        json_extract(p.config, '$.train.epochs') AS epoch_limit,
        json_extract(p.config, '$.train.patience') AS patience,
        json_array_length(r.result, '$.epochs') AS epochs_run, r.best_epoch AS best_epoch,
        json_extract(r.result, '$.wall_seconds') AS wall_seconds,
        json_extract(r.result, '$.dataset.users') AS users,
        (SELECT group_concat(m.split || '~' || m.metric || '~' || m.protocol || '~' || m.users || '~'
           || m.value, ' ') FROM result_metrics m WHERE m.point = p.id AND m.k IN (0, 10)) AS metrics
      FROM points p JOIN results r ON r.point = p.id WHERE p.state = 'COMPLETED' ORDER BY p.id""")
    stats = sql(db, "SELECT dataset, options, max_seq_len, tokens, apen, transition_bits "
                    "FROM dataset_stats")
    by_data = {}
    for s in stats:
        key = (s["dataset"], fraction_of(s["options"]), int(s["max_seq_len"]))
        by_data.setdefault(key, []).append(s)
    rows = []
    for p in points:
        m = {}
        for item in (p.pop("metrics") or "").split():
            split, metric, protocol, users, value = item.split("~")
            m[(split, metric)] = (protocol, users, value)
        key = (p["path"], float(p["user_fraction"]), int(p["max_seq_len"]))
        s = by_data.get(key, [])
        if len(s) != 1:
            sys.exit("%s: %d dataset_stats rows for %s" % (db, len(s), key))
        data_path = p.pop("path")
        p["dataset"] = os.path.splitext(os.path.basename(data_path))[0]
        p["stopped_by"] = "limit" if int(p["epochs_run"]) >= int(p["epoch_limit"]) else "patience"
        p["protocol"], p["eval_users"], p["test_hr10"] = m[("test", "hr")]
        p["test_ndcg10"] = m[("test", "ndcg")][2]
        p["valid_hr10"] = m[("valid", "hr")][2]
        p["valid_ndcg10"] = m[("valid", "ndcg")][2]
        p.update({k: s[0][k] for k in ("tokens", "apen", "transition_bits")})
        rows.append(p)
    rows.sort(key=lambda r: (r["dataset"], -float(r["user_fraction"]), int(r["layers"]),
                             int(r["d_model"]), int(r["seed"])))
    with open(csv_path + ".tmp", "w", newline="") as f:
        w = csv.DictWriter(f, POINT_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    os.replace(csv_path + ".tmp", csv_path)
    print("exported %d points from %s to %s" % (len(rows), db, csv_path))


def base_recipe(row):
    """The main study's training recipe (post-LN, no warm-up); the follow-up's is pre-LN + warm-up."""
    return row.get("norm", "post") == "post" and int(row.get("warmup", 0)) == 0


def name_of(row):
    """ml-100k at a quarter of its users is the dataset ml-100k@0.25 (the full one keeps its name);
    the follow-up's pre-LN runs are ml-100k+preln."""
    f = float(row["user_fraction"])
    name = row["dataset"] if f >= 1 else "%s@%g" % (row["dataset"], f)
    return name if base_recipe(row) else name + "+preln"


def write_law_csv(rows, path, rename=None):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "max_seq_len", "layers", "d_model", "metric", "value", "tokens", "apen",
                    "transition", "users", "best_epoch", "epochs"])
        for r in rows:
            for metric, column in METRICS.items():
                w.writerow([(rename or name_of)(r), r["max_seq_len"], r["layers"], r["d_model"],
                            metric, r[column], r["tokens"], r["apen"], r["transition_bits"],
                            r["eval_users"], r["best_epoch"], r["epochs_run"]])


class Study:
    def __init__(self, rows, out, fit_opts):
        self.rows, self.out, self.fit_opts = rows, out, fit_opts
        self.all_rows = rows
        self.main = [r for r in rows if base_recipe(r)]  # (b), (c): the main study's recipe
        self.lines = []
        self.fits = {}  # tag -> (fit, error): the baselines of (b) and (c) serve both measures

    def say(self, line=""):
        print(line)
        self.lines.append(line)

    def table(self, header, body):
        self.say("| " + " | ".join(header) + " |")
        self.say("|" + "---|" * len(header))
        for b in body:
            self.say("| " + " | ".join(str(x) for x in b) + " |")
        self.say()

    def fit(self, rows, form, metric, extra, tag, rename=None):
        if tag not in self.fits:
            self.fits[tag] = self.fit_once(rows, form, metric, extra, tag, rename)
        return self.fits[tag]

    def fit_once(self, rows, form, metric, extra, tag, rename):
        path = os.path.join(self.out, "law-%s.csv" % tag)
        write_law_csv(rows, path, rename)
        args = ["fit", "--csv", path, "--form", form, "--metric", metric, "--format", "json"]
        r = perflaw(args + self.fit_opts + extra, check=False)
        if r.returncode != 0:
            return None, r.stderr.strip().replace("perflaw: error: ", "")
        return json.loads(r.stdout), None

    # --- the figures -------------------------------------------------------------------------
    def convergence(self):
        self.say("## Convergence")
        body = []
        for ds in self.datasets():
            rs = [r for r in self.rows if name_of(r) == ds]
            by_patience = sum(r["stopped_by"] == "patience" for r in rs)
            best = sorted(int(r["best_epoch"]) for r in rs)
            body.append([ds, len(rs), "%d (%.0f %%)" % (by_patience, 100.0 * by_patience / len(rs)),
                         "%d-%d (median %d)" % (best[0], best[-1], best[len(best) // 2]),
                         max(int(r["epochs_run"]) for r in rs),
                         "%.0f" % sum(float(r["wall_seconds"]) for r in rs)])
        n = len(self.rows)
        stopped = sum(r["stopped_by"] == "patience" for r in self.rows)
        body.append(["all", n, "%d (%.0f %%)" % (stopped, 100.0 * stopped / n), "", "",
                     "%.0f" % sum(float(r["wall_seconds"]) for r in self.rows)])
        self.table(["dataset", "points", "stopped by patience", "best epoch", "most epochs run",
                    "worker seconds"], body)

    def noise(self):
        """sigma of one observation from the seed pairs: sqrt(sum (v0 - v1)^2 / (2 n))."""
        self.say("## Seed noise (test, sampled:100)")
        self.noise_floor = {}
        body = []
        for ds in self.datasets():
            for metric, column in METRICS.items():
                pairs = {}
                for r in self.rows:
                    if name_of(r) == ds:
                        pairs.setdefault((r["layers"], r["d_model"]), []).append(float(r[column]))
                diffs = [v[0] - v[1] for v in pairs.values() if len(v) == 2]
                if not diffs:
                    continue
                sigma = math.sqrt(sum(d * d for d in diffs) / (2 * len(diffs)))
                # Without the deep models, whose seeds often differ by a collapse (docs/results.md).
                shallow = [v[0] - v[1] for k, v in pairs.items() if len(v) == 2 and int(k[0]) <= 2]
                sigma_shallow = math.sqrt(sum(d * d for d in shallow) / (2 * len(shallow)))
                mean = sum(sum(v) for v in pairs.values()) / sum(len(v) for v in pairs.values())
                # A predictor of the exact expected value still misses one observation by
                # E|e| = sigma * sqrt(2 / pi) (Gaussian noise): the relative error floor.
                floor = 100 * sigma * math.sqrt(2 / math.pi) / mean
                self.noise_floor[(ds, metric)] = (sigma, floor)
                body.append([ds, metric, len(diffs), "%.4f" % sigma, "%.2f %%" % floor,
                             "%.4f" % sigma_shallow])
        self.table(["dataset", "metric", "configurations with 2 seeds", "sigma (one run)",
                    "relative error floor", "sigma, layers 1-2 only"], body)

    def measured(self):
        """Mean test HR@10 / NDCG@10 over seeds per configuration; the best of a dataset in bold."""
        self.say("## What was measured (test HR@10 / NDCG@10, mean over seeds)")
        for ds in self.datasets():
            rs = [r for r in self.rows if name_of(r) == ds]
            cells = {}
            for r in rs:
                cells.setdefault((int(r["layers"]), int(r["d_model"])), []).append(
                    (float(r["test_hr10"]), float(r["test_ndcg10"])))
            mean = {k: (sum(v[0] for v in vs) / len(vs), sum(v[1] for v in vs) / len(vs), len(vs))
                    for k, vs in cells.items()}
            best = max(mean, key=lambda k: mean[k][1])
            ds_d = sorted({k[1] for k in mean})
            body = []
            for n in sorted({k[0] for k in mean}):
                row = [ds if not body else "", n]
                for d in ds_d:
                    if (n, d) not in mean:
                        row.append("")
                        continue
                    text = "%.4f / %.4f" % mean[(n, d)][:2]
                    row.append("**%s**" % text if (n, d) == best else text)
                body.append(row)
            self.table(["dataset", "N"] + ["d %d" % d for d in ds_d], body)

    def collapses(self):
        """Runs that ended near the popularity level: test HR@10 below 0.5 on ml-100k."""
        self.say("## Collapsed runs (ml-100k: test HR@10 < 0.5)")
        body = []
        ml = [r for r in self.all_rows if r["dataset"] == "ml-100k"]
        for n in sorted({int(r["layers"]) for r in ml}):
            row = [n]
            for recipe in (True, False):
                rs = [r for r in ml if int(r["layers"]) == n and base_recipe(r) == recipe]
                bad = [r for r in rs if float(r["test_hr10"]) < 0.5]
                row += ["%d of %d" % (len(bad), len(rs)),
                        ", ".join(sorted({r["best_epoch"] for r in bad}, key=int)) or "-"]
            body.append(row)
        self.table(["layers", "post-LN (all fractions): collapsed", "their best epochs",
                    "pre-LN + warm-up (all users): collapsed", "their best epochs"], body)

    def verdicts(self):
        self.say("## Verdicts: the Performance Law per dataset (all seeds, in-grid search box)")
        body = []
        for metric in METRICS:
            for ds in self.datasets():
                rs = [r for r in self.rows if name_of(r) == ds]
                law, err = self.fit(rs, "performance", metric,
                                    ["--group-by", "dataset", "--bootstrap", self.bootstrap],
                                    "verdict-%s-%s" % (ds, metric))
                if law is None:
                    body.append([ds, metric, "fit failed: " + err, "", ""])
                    continue
                g = law[0]
                v = g["verdict"]
                lvb = v.get("law_vs_baseline") or {}
                loo = ("%.4f / %.4f" % (lvb["law_loo_rmse"], lvb["baseline_loo_rmse"])
                       if lvb.get("law_loo_rmse") is not None else "n/a")
                r2 = "%.3f" % g["loo_r2"] if g.get("loo_r2") is not None else "n/a"
                body.append([ds, metric, v["summary"].replace("|", "/"), loo, r2])
        self.table(["dataset", "metric", "verdict", "LOO RMSE law / log-linear", "law LOO R2"], body)

    def held_out_row(self, label, metric, fits, ds_floor):
        """One table row: held-out RMSE and relative error (MAPE) of each fit, then the floor."""
        cells = [label, metric]
        for fit, err in fits:
            e = [g["extrapolation"] for g in fit if g.get("extrapolation")] if fit else []
            if fit is None:
                cells += ["not fitted: " + err.split(": ", 1)[-1], ""]
            elif not e:
                cells += ["no held-out rows", ""]
            else:
                n = sum(x["n_held_out"] for x in e)
                rmse = math.sqrt(sum(x["held_out_rmse"] ** 2 * x["n_held_out"] for x in e) / n)
                mape = sum(x["held_out_mape_percent"] * x["n_held_out"] for x in e) / n
                cells += ["%.4f" % rmse, "%.2f %%" % mape]
        floor = self.noise_floor.get((ds_floor, metric))
        return cells + ["%.4f / %.2f %%" % floor if floor else "n/a"]

    def extrapolation(self):
        """(a) fit on the smaller models of one dataset, predict the larger ones."""
        self.say("## (a) Extrapolation to larger models (held out: the rows the fit never saw)")
        header = ["dataset: fit on", "metric", "law RMSE", "law rel. error", "log-linear RMSE",
                  "log-linear rel. error", "noise floor (sigma / rel.)"]
        body = []
        for ds in self.datasets():
            rs = [r for r in self.rows if name_of(r) == ds]
            for where in ("layers<=4", "d_model<=64", "layers<=4 && d_model<=64"):
                for metric in METRICS:
                    extra = ["--group-by", "dataset", "--train-where", where, "--bootstrap", "0"]
                    tag = "a-%s-%s-%s" % (ds, where.replace(" ", ""), metric)
                    law = self.fit(rs, "performance", metric, extra, tag)
                    base = self.fit(rs, "scaling", metric, extra, tag + "-s")
                    body.append(self.held_out_row("%s: %s" % (ds, where), metric, [law, base], ds))
        self.table(header, body)

    def data_fraction(self):
        """(b) predict one user fraction of ml-100k from the others."""
        self.say("## (b) A held-out data size: one user fraction of ml-100k predicted from the others")
        fractions = sorted({float(r["user_fraction"]) for r in self.main if r["dataset"] == "ml-100k"})
        header = ["held out", "metric", "law RMSE", "law rel. error", "law, no D' RMSE",
                  "law, no D' rel. error", "log-linear RMSE", "log-linear rel. error",
                  "noise floor (sigma / rel.)"]
        for quality in ("apen", "transition"):
            self.say("law: performance-data with D' = tokens x %s, one fit over every dataset's "
                     "rows except the held-out fraction's. Baselines without a data term: "
                     "performance and log-linear fitted on ml-100k's other two fractions pooled "
                     "as one dataset." % quality)
            self.say()
            body = []
            for held in fractions:
                if len(fractions) < 3:
                    break
                held_name = name_of({"dataset": "ml-100k", "user_fraction": held})
                for metric in METRICS:
                    where = "dataset!=%s" % held_name
                    law = self.fit(self.main, "performance-data", metric,
                                   ["--group-by", "none", "--quality", quality, "--train-where",
                                    where, "--bootstrap", "0"], "b-%s-%s-%g" % (quality, metric, held))
                    ml = [r for r in self.main if r["dataset"] == "ml-100k"]
                    tokens = next(r["tokens"] for r in ml if float(r["user_fraction"]) == held)
                    pooled = ["--group-by", "dataset", "--train-where", "tokens!=%s" % tokens,
                              "--bootstrap", "0"]
                    base = [self.fit(ml, form, metric, pooled, "b-%s-%s-%g" % (form, metric, held),
                                     rename=lambda r: r["dataset"])
                            for form in ("performance", "scaling")]
                    body.append(self.held_out_row(held_name, metric, [law] + base, held_name))
            self.table(header, body)

    def datasets_check(self):
        """(c) predict a whole dataset from the others (a data term is what could carry over)."""
        self.say("## (c) A held-out dataset")
        header = ["held out", "metric", "law RMSE", "law rel. error", "law, no D' RMSE",
                  "law, no D' rel. error", "log-linear RMSE", "log-linear rel. error",
                  "noise floor (sigma / rel.)"]
        names = [n for n in self.datasets() if "+" not in n]
        for quality in ("apen", "transition"):
            self.say("law: performance-data with D' = tokens x %s fitted on every other dataset's "
                     "rows (ml-100k's fractions included). Baselines without a data term: "
                     "performance and log-linear fitted on the same rows pooled." % quality)
            self.say()
            body = []
            for held in (n for n in names if "@" not in n):
                # ml-100k held out means all of its fractions held out.
                train = [r for r in self.main if r["dataset"] != held.split("@")[0]]
                test = [r for r in self.main if name_of(r) == held]
                rows = train + test
                for metric in METRICS:
                    where = "dataset!=%s" % held
                    law = self.fit(rows, "performance-data", metric,
                                   ["--group-by", "none", "--quality", quality, "--train-where",
                                    where, "--bootstrap", "0"], "c-%s-%s-%s" % (quality, metric, held))
                    pooled = ["--group-by", "none", "--train-where", where, "--bootstrap", "0"]
                    base = [self.fit(rows, form, metric, pooled, "c-%s-%s-%s" % (form, metric, held))
                            for form in ("performance", "scaling")]
                    body.append(self.held_out_row(held, metric, [law] + base, held))
            self.table(header, body)

    def plots(self):
        path = os.path.join(self.out, "law.csv")
        write_law_csv(self.rows, path)
        report = os.path.join(self.out, "report")
        r = perflaw(["report", "--csv", path, "--form", "performance", "--group-by", "dataset",
                     "--out", report] + self.fit_opts + ["--bootstrap", self.bootstrap], check=False)
        self.say("plots: %s (perflaw report, exit %d)" % (report, r.returncode))
        if r.returncode != 0 or self.quick:
            return  # --quick plots stay in --out: docs/results/ holds the documented ones
        # gNN is the NN-th group of report.md's "### metric=M dataset=D" headings.
        groups = []
        with open(os.path.join(report, "report.md")) as f:
            for line in f:
                if line.startswith("### metric="):
                    keys = dict(kv.split("=", 1) for kv in line[4:].split())
                    groups.append(keys)
        shutil.copyfile(os.path.join(report, "pred_vs_obs.svg"),
                        os.path.join(self.docs, "performance-pred-vs-obs.svg"))
        for i, keys in enumerate(groups, 1):
            src = os.path.join(report, "g%02d_p01_curves.svg" % i)
            name = "%s-%s-curves.svg" % (keys["metric"].lower().replace("@", ""), keys["dataset"])
            if os.path.exists(src):
                shutil.copyfile(src, os.path.join(self.docs, name))
                self.say("  %s -> docs/results/%s" % (os.path.basename(src), name))

    def datasets(self):
        names = []
        for r in self.rows:
            if name_of(r) not in names:
                names.append(name_of(r))
        return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default=os.path.join(ROOT, "out/study-convergence/results.db"))
    ap.add_argument("--csv", default=os.path.join(ROOT, "docs/results/study-convergence.csv"))
    ap.add_argument("--out", default=os.path.join(ROOT, "out/study-convergence/analysis"))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if os.path.exists(a.db):
        export(a.db, a.csv)
    else:
        print("no database at %s: using the committed %s" % (a.db, a.csv))
    with open(a.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    starts = "50" if a.quick else "1000"
    study = Study(rows, a.out, ["--starts", starts, "--seed", "1"])
    study.bootstrap = "50" if a.quick else "1000"
    study.quick = a.quick
    study.docs = os.path.dirname(os.path.abspath(a.csv))
    study.convergence()
    study.noise()
    study.measured()
    study.collapses()
    study.verdicts()
    study.extrapolation()
    study.data_fraction()
    study.datasets_check()
    study.plots()
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("\n".join(study.lines) + "\n")


if __name__ == "__main__":
    main()
