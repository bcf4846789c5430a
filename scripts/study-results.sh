#!/usr/bin/env bash
# Every number of docs/results.md, recomputed from the study's results database.
#
#   bash scripts/study-results.sh [DB] [REPORT_DIR]
#
# DB defaults to out/study-cpu/results.db (written by `perflaw run configs/study-cpu.yaml`),
# REPORT_DIR to out/study-cpu/report. PERFLAW names the binary (default build/bin/perflaw);
# FIT_OPTS adds options to every fit, predict and report (default none: --starts 1000 --bootstrap
# 1000 --seed 1; results do not depend on --threads), e.g. FIT_OPTS="--starts 50 --bootstrap 20"
# for a quick look.
# It runs perflaw commands only and prints their output; the CSVs it feeds to `perflaw fit --csv`
# and `perflaw predict --csv` (written by `perflaw sql --format csv`) and the report folders go to
# REPORT_DIR. `perflaw fit DB` stores its fits in the database's `fits` table: run it on a copy
# (sqlite3 DB ".backup COPY") while a sweep is writing.
# All metrics: split test, protocol sampled:100 (100 uniform negatives outside the user's history),
# one row per completed point (a configuration run with several seeds gives several observations;
# fits do not average them).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
DB=${1:-out/study-cpu/results.db}
OUT=${2:-out/study-cpu/report}
PERFLAW=${PERFLAW:-build/bin/perflaw}
read -r -a EXTRA <<< "${FIT_OPTS:-}"
SEL=(--split test --protocol sampled:100 "${EXTRA[@]}")
mkdir -p "$OUT"

FAILED=()
run() {
  echo
  echo "\$ perflaw $*"
  "$PERFLAW" "$@"
  local rc=$?
  if [ "$rc" != 0 ]; then
    echo "(perflaw exited with code $rc)"
    FAILED+=("perflaw $* (exit $rc)")
  fi
}

# The stem of a point's data.path (ml-100k, amazon-video), as `perflaw fit DB` names datasets.
STEM="substr(base, 1, instr(base, '.') - 1)"
BASE="replace(json_extract(p.config, '$.data.path'), rtrim(json_extract(p.config, '$.data.path'),
  replace(json_extract(p.config, '$.data.path'), '/', '')), '')"

# csv FILE METRIC_NAME DB_METRIC WHERE: the law CSV (docs/law.md, Input) of the completed points
# matching WHERE, with tokens and apen from dataset_stats, in the order `perflaw fit DB` reads
# them (by point id), so that a fit of the same rows lands on the same optimum.
csv() {
  echo "\$ perflaw sql $DB --format csv \"SELECT ... WHERE $4 ORDER BY p.id\" > $1"
  "$PERFLAW" sql "$DB" --format csv "SELECT $STEM AS dataset, L AS max_seq_len, layers, d_model,
    '$2' AS metric, m.value AS value, s.tokens AS tokens, s.apen AS apen
    FROM (SELECT p.*, $BASE AS base, json_extract(p.config, '$.data.path') AS path,
            json_extract(p.config, '$.data.max_seq_len') AS L,
            json_extract(p.config, '$.model.layers') AS layers,
            json_extract(p.config, '$.model.d_model') AS d_model FROM points p) p
    JOIN result_metrics m ON m.point = p.id AND m.split = 'test' AND m.protocol = 'sampled:100'
      AND m.metric = '$3' AND m.k = 10
    JOIN dataset_stats s ON s.dataset = p.path AND s.max_seq_len = p.L
    WHERE p.state = 'COMPLETED' AND $4 ORDER BY p.id" > "$1"
}

echo "== 1. the sweep and its points (the study ran as two invocations of the same command on"
echo "==    one database: sweep 1 ran 29 points, sweep 2 added ml-100k L = 100 and reused the 29) =="
run sql "$DB" "SELECT id, name, status, datetime(started_at, 'unixepoch') AS started_utc,
  datetime(finished_at, 'unixepoch') AS finished_utc,
  round(finished_at - started_at) AS wall_seconds,
  (SELECT count(*) FROM sweep_points sp WHERE sp.sweep = sweeps.id) AS points FROM sweeps"
run sql "$DB" "SELECT state, count(*) AS points FROM points GROUP BY state"
run sql "$DB" "SELECT s.id AS sweep, count(a.id) AS attempts,
  sum(a.exit_reason = 'completed') AS completed, sum(a.exit_reason != 'completed') AS not_completed,
  round(sum(a.ended_at - a.started_at) / 3600.0, 3) AS worker_hours
  FROM sweeps s LEFT JOIN attempts a ON a.started_at BETWEEN s.started_at AND s.finished_at
  GROUP BY s.id ORDER BY s.id"

echo
echo "== 2. datasets per max_seq_len L: tokens, ApEn(m=2, r=0.2) and D' = tokens x ApEn =="
run sql "$DB" "SELECT substr(base, 1, instr(base, '.') - 1) AS dataset, max_seq_len AS L, users, tokens, round(apen, 5) AS apen_mean, round(tokens * apen, 1) AS dprime
  FROM (SELECT *, replace(dataset, rtrim(dataset, replace(dataset, '/', '')), '') AS base
        FROM dataset_stats) ORDER BY dataset, L"

echo
echo "== 3. every completed point: test HR@10 and NDCG@10 (sampled:100), with the binomial standard"
echo "==    error of HR@10 from the number of test users alone (evaluation noise, not seed noise) =="
run sql "$DB" "SELECT substr(base, 1, instr(base, '.') - 1) AS dataset,
  json_extract(p.config, '$.data.max_seq_len') AS L, json_extract(p.config, '$.model.layers') AS N,
  json_extract(p.config, '$.model.d_model') AS d, json_extract(p.config, '$.seed') AS seed,
  hr.users AS test_users, round(hr.value, 4) AS hr10, round(nd.value, 4) AS ndcg10,
  round(sqrt(hr.value * (1 - hr.value) / hr.users), 4) AS hr10_binomial_se,
  r.best_epoch, (SELECT max(epoch) FROM epoch_metrics e WHERE e.point = p.id) AS epochs_run,
  r.steps, round(r.wall_seconds) AS wall_seconds
  FROM (SELECT *, $BASE AS base FROM points p) p JOIN results r ON r.point = p.id
  JOIN result_metrics hr ON hr.point = p.id AND hr.split = 'test' AND hr.protocol = 'sampled:100'
    AND hr.metric = 'hr' AND hr.k = 10
  JOIN result_metrics nd ON nd.point = p.id AND nd.split = 'test' AND nd.protocol = 'sampled:100'
    AND nd.metric = 'ndcg' AND nd.k = 10
  WHERE p.state = 'COMPLETED' ORDER BY dataset, L, N, d, seed"

# ml-100k test HR@10 / NDCG@10 per (L, N, d, seed): the source of 3b and of the 6d baseline.
ML_OBS="WITH obs AS (SELECT json_extract(p.config, '$.data.max_seq_len') AS L,
    json_extract(p.config, '$.model.layers') AS N, json_extract(p.config, '$.model.d_model') AS d,
    json_extract(p.config, '$.seed') AS seed, hr.value AS hr10, nd.value AS ndcg10
  FROM points p
  JOIN result_metrics hr ON hr.point = p.id AND hr.split = 'test' AND hr.protocol = 'sampled:100'
    AND hr.metric = 'hr' AND hr.k = 10
  JOIN result_metrics nd ON nd.point = p.id AND nd.split = 'test' AND nd.protocol = 'sampled:100'
    AND nd.metric = 'ndcg' AND nd.k = 10
  WHERE p.state = 'COMPLETED' AND json_extract(p.config, '$.data.path') LIKE '%/ml-100k.inter'),
  by_config AS (SELECT a.N, a.d, a.seed, a.hr10 AS h50, b.hr10 AS h100, c.hr10 AS h200,
    a.ndcg10 AS n50, b.ndcg10 AS n100, c.ndcg10 AS n200
  FROM obs a JOIN obs b ON b.N = a.N AND b.d = a.d AND b.seed = a.seed AND a.L = 50 AND b.L = 100
  JOIN obs c ON c.N = a.N AND c.d = a.d AND c.seed = a.seed AND c.L = 200)"

echo
echo "== 3b. ml-100k: test HR@10 and NDCG@10 (sampled:100) at L = 50, 100 and 200, same (N, d, seed) =="
run sql "$DB" "$ML_OBS SELECT N, d, seed, round(h50, 4) AS hr10_L50, round(h100, 4) AS hr10_L100,
  round(h200, 4) AS hr10_L200, round(n50, 4) AS ndcg10_L50, round(n100, 4) AS ndcg10_L100,
  round(n200, 4) AS ndcg10_L200 FROM by_config ORDER BY N, d, seed"
echo
echo "== 3b'. ml-100k: spread of the three L values of one configuration: the sample standard deviation"
echo "==      over L per (N, d), pooled (root mean square) over the 9 configurations, and the mean"
echo "==      of each L over them =="
run sql "$DB" "$ML_OBS SELECT count(*) AS configurations,
  round(sqrt(avg(((h50 - (h50 + h100 + h200) / 3) * (h50 - (h50 + h100 + h200) / 3)
    + (h100 - (h50 + h100 + h200) / 3) * (h100 - (h50 + h100 + h200) / 3)
    + (h200 - (h50 + h100 + h200) / 3) * (h200 - (h50 + h100 + h200) / 3)) / 2)), 4)
    AS hr10_pooled_sd_over_L,
  round(sqrt(avg(((n50 - (n50 + n100 + n200) / 3) * (n50 - (n50 + n100 + n200) / 3)
    + (n100 - (n50 + n100 + n200) / 3) * (n100 - (n50 + n100 + n200) / 3)
    + (n200 - (n50 + n100 + n200) / 3) * (n200 - (n50 + n100 + n200) / 3)) / 2)), 4)
    AS ndcg10_pooled_sd_over_L,
  round(avg(h50), 4) AS hr10_mean_L50, round(avg(h100), 4) AS hr10_mean_L100,
  round(avg(h200), 4) AS hr10_mean_L200, round(avg(n50), 4) AS ndcg10_mean_L50,
  round(avg(n100), 4) AS ndcg10_mean_L100, round(avg(n200), 4) AS ndcg10_mean_L200
  FROM by_config"

echo
echo "== 3c. points that stopped before their last epoch (early stopping): validation NDCG@10"
echo "==     (sampled:100) and training loss per epoch =="
run sql "$DB" "SELECT $BASE AS data_file,
  json_extract(p.config, '$.data.max_seq_len') AS L, json_extract(p.config, '$.model.layers') AS N,
  json_extract(p.config, '$.model.d_model') AS d, v.epoch, round(v.value, 4) AS valid_ndcg10,
  round(t.value, 4) AS train_loss
  FROM points p JOIN results r ON r.point = p.id
  JOIN epoch_metrics v ON v.point = p.id AND v.attempt = r.attempt AND v.split = 'valid'
    AND v.metric = 'ndcg' AND v.k = 10 AND v.protocol = 'sampled:100'
  JOIN epoch_metrics t ON t.point = p.id AND t.attempt = r.attempt AND t.epoch = v.epoch
    AND t.split = 'train' AND t.metric = 'loss'
  WHERE p.state = 'COMPLETED' AND (SELECT max(epoch) FROM epoch_metrics e WHERE e.point = p.id)
    < json_extract(p.config, '$.train.epochs')
  ORDER BY data_file, L, N, d, v.epoch"

# D' of ml-100k at L = 200, at which the held-out fit of section 6 predicts.
DPRIME_200=$("$PERFLAW" sql "$DB" --format csv "SELECT tokens * apen FROM dataset_stats
  WHERE dataset LIKE '%/ml-100k.inter' AND max_seq_len = 200" | tail -n 1)
ML="p.path LIKE '%/ml-100k.inter'"

for metric in NDCG@10 HR@10; do
  m=$(echo "$metric" | tr -d '@' | tr '[:upper:]' '[:lower:]')  # ndcg10, hr10
  dbm=${m%10}                                                    # ndcg, hr
  echo
  echo "== 4. $metric: Performance Law vs the scaling baseline per (dataset, L) =="
  run fit "$DB" "${SEL[@]}" --metric "$metric" --form performance
  run fit "$DB" "${SEL[@]}" --metric "$metric" --form scaling
  echo
  echo "== 5. $metric: data-aware joint fit (performance-data, all datasets and L, D' = tokens x ApEn) =="
  run fit "$DB" "${SEL[@]}" --metric "$metric" --form performance-data
  echo
  echo "== 6. $metric: held-out L: performance-data fitted on L <= 100 (amazon-video L 50, ml-100k"
  echo "==    L 50 and 100: 3 distinct D'), one joint group, scored on the 9 ml-100k L = 200 points =="
  run fit "$DB" "${SEL[@]}" --metric "$metric" --form performance-data \
    --train-where "max_seq_len<=100"
  echo
  echo "== 6b. $metric: that subset fit itself (convergence, parameters): the same 29 rows from a CSV"
  echo "==     in the database's order, and its prediction for each ml-100k L = 200 configuration"
  echo "==     at D' = $DPRIME_200 (ml-100k L 200) =="
  csv "$OUT/heldout-L-train-$m.csv" "$metric" "$dbm" "p.L <= 100"
  run fit --csv "$OUT/heldout-L-train-$m.csv" --form performance-data "${EXTRA[@]}"
  for layers in 1 2 4; do
    for d_model in 16 32 64; do
      run predict --csv "$OUT/heldout-L-train-$m.csv" --form performance-data --layers "$layers" \
        --d-model "$d_model" --dprime "$DPRIME_200" "${EXTRA[@]}"
    done
  done
  echo
  echo "== 6c. $metric: baselines for the same 9 held-out points, within ml-100k (CSVs in the"
  echo "==     database's order; --group-by none): reuse the L = 100 fit (fitted on L 100 only),"
  echo "==     and pool L 50 + 100 ignoring L; each with the law and the scaling form =="
  csv "$OUT/ml-100k-L100-L200-$m.csv" "$metric" "$dbm" "$ML AND p.L >= 100"
  csv "$OUT/ml-100k-$m.csv" "$metric" "$dbm" "$ML"
  for form in performance scaling; do
    run fit --csv "$OUT/ml-100k-L100-L200-$m.csv" --form "$form" --group-by none \
      --train-where "max_seq_len<=100" "${EXTRA[@]}"
    run fit --csv "$OUT/ml-100k-$m.csv" --form "$form" --group-by none \
      --train-where "max_seq_len<=100" "${EXTRA[@]}"
  done
  echo
  echo "== 6d. $metric: no fit at all: the observed L = 100 value of the same (N, d, seed) as the"
  echo "==     prediction for L = 200 (R2 against the mean of the 9 L = 200 values, as the fits' held-out R2) =="
  if [ "$m" = hr10 ]; then a=h100 b=h200; else a=n100 b=n200; fi
  run sql "$DB" "$ML_OBS SELECT count(*) AS held_out_points,
    round(1 - sum(($b - $a) * ($b - $a)) / sum(($b - (SELECT avg($b) FROM by_config))
      * ($b - (SELECT avg($b) FROM by_config))), 4) AS held_out_r2,
    round(sqrt(avg(($b - $a) * ($b - $a))), 5) AS held_out_rmse,
    round(avg(abs($b - $a)), 5) AS held_out_mae FROM by_config"
  echo
  echo "== 7. $metric: extrapolation to 8 layers: fitted on layers <= 4, scored on the 8-layer point;"
  echo "==    grouped by dataset only (ml-100k pools L = 50, 100 and 200; per (dataset, L) only the"
  echo "==    L = 50 groups have an 8-layer point, the others would be reported not checked) =="
  run fit "$DB" "${SEL[@]}" --metric "$metric" --form performance --group-by dataset \
    --train-where "layers<=4"
  run fit "$DB" "${SEL[@]}" --metric "$metric" --form scaling --group-by dataset \
    --train-where "layers<=4"
done

echo
echo "== 7b. the same amazon-video HR@10 extrapolation from a CSV of the same 10 rows ordered by (layers, d_model) =="
echo "\$ perflaw sql $DB --format csv ... > $OUT/amazon-video-hr10.csv"
"$PERFLAW" sql "$DB" --format csv "SELECT 'amazon-video' AS dataset,
  json_extract(p.config, '$.data.max_seq_len') AS max_seq_len,
  json_extract(p.config, '$.model.layers') AS layers,
  json_extract(p.config, '$.model.d_model') AS d_model, 'HR@10' AS metric, m.value AS value
  FROM points p JOIN result_metrics m ON m.point = p.id AND m.split = 'test'
    AND m.protocol = 'sampled:100' AND m.metric = 'hr' AND m.k = 10
  WHERE p.state = 'COMPLETED' AND json_extract(p.config, '$.data.path') LIKE '%/amazon-video.txt'
  ORDER BY layers, d_model" > "$OUT/amazon-video-hr10.csv"
run fit --csv "$OUT/amazon-video-hr10.csv" --form performance --train-where "layers<=4" "${EXTRA[@]}"

echo
echo "== 8. plots and report.md (fits as in 4 and 5) =="
for metric in NDCG@10 HR@10; do
  dir=$(echo "$metric" | tr -d '@' | tr '[:upper:]' '[:lower:]')
  run report "$DB" "${SEL[@]}" --metric "$metric" --form performance --out "$OUT/$dir"
  run report "$DB" "${SEL[@]}" --metric "$metric" --form performance-data --out "$OUT/$dir-data"
done

echo
echo "== perflaw commands that exited non-zero: ${#FAILED[@]} =="
for f in "${FAILED[@]}"; do echo "  $f"; done
[ "${#FAILED[@]}" = 0 ]
