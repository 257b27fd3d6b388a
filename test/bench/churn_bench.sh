#!/bin/bash
# test/bench/churn_bench.sh - speed of lrml.train and lrml.predict on
# 1,000,000 generated churn rows, each beside a baseline run in the same
# session (see test/bench/README.md).  Run by hand, as root, from anywhere:
#
#     bash test/bench/churn_bench.sh [ROWS]
#
# It builds and installs the extension, starts a throwaway cluster, loads
# ROWS rows (default 1000000) made by ../shared/data/gen/gen_churn.py, and
# prints the timings and ratios.  Never run by the test suite.
set -euo pipefail

ROWS="${1:-1000000}"
REPEAT=3

# shellcheck source=bench_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

bench_generator gen_churn.py >/dev/null	# before building: fail early without the data
bench_start python3-numpy
bench_load_churn "$ROWS"
SUM="$(printf '%s + ' "${NUMERIC[@]}")"; SUM="${SUM% + }"

lrml_log "baseline: one scan summing the 20 columns, serial and parallel"
SERIAL="SET max_parallel_workers_per_gather = 0"
time_ms "SELECT sum($SUM) FROM t" >/dev/null
SCAN="$(best_ms "SELECT sum($SUM) FROM t" "$SERIAL")"
PSCAN="$(best_ms "SELECT sum($SUM) FROM t")"

lrml_log "lrml.train: 1 epoch and 21 epochs"
T1="$(best_ms "SELECT count(*) FROM lrml.train('b1', 't20', 'churned', NULL, '{\"epochs\": 1, \"seed\": 1}')")"
T21="$(best_ms "SELECT count(*) FROM lrml.train('b21', 't20', 'churned', NULL, '{\"epochs\": 21, \"seed\": 1}')")"
EPOCH="$(awk "BEGIN{print ($T21 - $T1) / 20}")"
LOAD="$(awk "BEGIN{print $T1 - $EPOCH}")"
TRAIN20="$(awk "BEGIN{print $LOAD + 20 * $EPOCH}")"

lrml_log "peak memory: a backend that scans t, and one that trains 20 epochs"
PEAK_SCAN="$(peak_kb "SELECT sum($SUM) FROM t")"
PEAK_TRAIN="$(peak_kb "SELECT count(*) FROM lrml.train('b20', 't20', 'churned', NULL, '{\"epochs\": 20, \"seed\": 1}')")"

lrml_log "lrml.predict over every row against the same model as a SQL expression"
# The model's folded weights, probed through lrml.predict(model, float8[])
# around the training means, where the logit is well conditioned.
EXPR="$("${PSQL[@]}" -At <<'SQL'
WITH cols AS (
  SELECT c.ord::int AS j, c.col->>'name' AS name,
         (c.col->>'mean')::float8 AS mean, (c.col->>'scale')::float8 AS scale
  FROM lrml.models m,
       jsonb_array_elements(m.features->'columns') WITH ORDINALITY AS c(col, ord)
  WHERE m.name = 'b21'
    AND m.version = (SELECT max(version) FROM lrml.models WHERE name = 'b21')),
b AS (
  SELECT ln(p / (1 - p)) AS z
  FROM (SELECT lrml.predict('b21', (SELECT array_agg(mean ORDER BY j) FROM cols)) AS p) s),
w AS (
  SELECT cols.j, cols.name, cols.mean,
         (ln(p / (1 - p)) - (SELECT z FROM b)) / cols.scale AS wj
  FROM cols,
       LATERAL (SELECT lrml.predict('b21',
                  (SELECT array_agg(CASE WHEN c2.j = cols.j THEN c2.mean + c2.scale
                                         ELSE c2.mean END ORDER BY c2.j)
                   FROM cols c2)) AS p) s)
SELECT format('1 / (1 + exp(-(%s%s)))',
              (SELECT z FROM b) - (SELECT sum(wj * mean) FROM w),
              string_agg(format(' + (%s) * %I', wj, name), '' ORDER BY j))
FROM w;
SQL
)"
"${PSQL[@]}" -At -c "SELECT max(abs(lrml.predict('b21', t) - ($EXPR))) < 1e-9 AS same FROM t" | grep -q t ||
	lrml_die "the SQL expression does not reproduce lrml.predict"
time_ms "SELECT sum($EXPR) FROM t" >/dev/null
SQLP="$(best_ms "SELECT sum($EXPR) FROM t")"
PRED="$(best_ms "SELECT sum(lrml.predict('b21', t)) FROM t")"

cat <<EOF2

rows                                   $ROWS
scan summing 20 columns, one process   $SCAN ms   (the baseline: lrml.train reads in one process)
same scan, parallel plan (2 workers)   $PSCAN ms
lrml.train: loading (+ validation)     $LOAD ms
lrml.train: one epoch                  $EPOCH ms
lrml.train: load + 20 epochs           $TRAIN20 ms   ratio to scan $(ratio "$TRAIN20" "$SCAN") (target <= 5); to the parallel scan $(ratio "$TRAIN20" "$PSCAN")
peak RSS: backend scanning t          $PEAK_SCAN kB
peak RSS: backend training 20 epochs   $PEAK_TRAIN kB   (difference $((PEAK_TRAIN - PEAK_SCAN)) kB)
SQL expression of the model            $SQLP ms
lrml.predict(model, row)               $PRED ms   ratio $(ratio "$PRED" "$SQLP") (target <= 1.5)
EOF2
