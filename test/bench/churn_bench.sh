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

# shellcheck source=../setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"

GEN="${LRML_SHARED_DATA:-}/gen/gen_churn.py"
if [ ! -f "$GEN" ]; then
	echo "the generator $GEN is missing; this benchmark needs ../shared/data" >&2
	exit 1
fi

LRML_PACKAGES+=(python3-numpy)
lrml_install_traps
lrml_lock
lrml_install_packages
LRML_WERROR=0 lrml_build
lrml_start_cluster

NUMERIC=(tenure_months age monthly_charges total_charges num_products
	support_calls_90d late_payments_12m data_usage_gb call_minutes_month
	dropped_call_pct days_since_last_login contract_months_left discount_pct
	num_devices satisfaction_score referrals credit_score household_size
	distance_to_store_km noise_1)
COLS="$(IFS=,; echo "${NUMERIC[*]}")"
SUM="$(printf '%s + ' "${NUMERIC[@]}")"; SUM="${SUM% + }"

lrml_log "generating $ROWS rows"
CSV="$LRML_TMP/churn.csv"
/usr/bin/python3 "$GEN" --rows "$ROWS" --seed 42 --out "$CSV" --quiet
chmod a+r "$CSV"

PSQL=(lrml_psql -q -d postgres)
"${PSQL[@]}" <<SQL
CREATE EXTENSION lrml;
CREATE TABLE t (customer_id int, tenure_months float8, age float8,
  monthly_charges float8, total_charges float8, num_products float8,
  support_calls_90d float8, late_payments_12m float8, data_usage_gb float8,
  call_minutes_month float8, dropped_call_pct float8,
  days_since_last_login float8, contract_months_left float8,
  discount_pct float8, num_devices float8, satisfaction_score float8,
  referrals float8, credit_score float8, household_size float8,
  distance_to_store_km float8, noise_1 float8, plan text, region text,
  payment_method text, churned boolean);
\copy t FROM '$CSV' WITH (FORMAT csv, HEADER true)
VACUUM ANALYZE t;
CREATE VIEW t20 AS SELECT $COLS, churned FROM t;
SQL

# Print the wall time, in ms, of one statement run by psql (the last
# statement, when $2 gives a setting to run first).
time_ms()
{
	"${PSQL[@]}" -c '\timing on' -c "${2:-SELECT 1}" -c "$1" |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1
}

# Print the smallest of REPEAT timings of a statement.
best_ms()
{
	local best= t
	for _ in $(seq "$REPEAT"); do
		t="$(time_ms "$1" "${2:-SELECT 1}")"
		if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then
			best="$t"
		fi
	done
	echo "$best"
}

ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }

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

# Print the peak resident memory (VmHWM, kB) of a backend running $1.
# The statement runs in the background under a known application_name,
# followed by a pause during which /proc is read.
peak_kb()
{
	local pid= kb=
	PGAPPNAME=lrml_bench "${PSQL[@]}" -At -c "$1" -c "SELECT pg_sleep(3)" >/dev/null &
	for _ in $(seq 600); do
		pid="$("${PSQL[@]}" -At -c "SELECT pid FROM pg_stat_activity
			WHERE application_name = 'lrml_bench' AND query LIKE '%pg_sleep%'")"
		[ -n "$pid" ] && break
		sleep 0.5
	done
	kb="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
	wait
	echo "$kb"
}

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
