# test/bench/bench_lib.sh - what the benchmarks share
# shellcheck shell=bash
#
# Sourced by the scripts of test/bench, never run.  It sources
# ../setup.sh and defines:
#
#   bench_start [PACKAGE...]  install what is missing (and the packages
#                             named), build without -Werror, install, start
#                             a throwaway cluster; PSQL then runs psql in
#                             its database "postgres"
#   bench_generator NAME      print the path of ../shared/data/gen/NAME, or
#                             fail when the shared data is missing
#   bench_load_churn ROWS     make ROWS rows with gen_churn.py (seed 42),
#                             load them into table t with a view t20 of the
#                             20 numeric columns and the label; sets
#                             NUMERIC (those columns) and COLS (as a list)
#   time_ms SQL [SETTING]     wall time of SQL, in ms, SETTING run first in
#                             the same session
#   best_ms SQL [SETTING]     the smallest of REPEAT (default 3) time_ms
#   peak_kb SQL               peak resident memory (VmHWM, kB) of a backend
#                             running SQL
#   ratio A B                 A / B to two decimals

# shellcheck source=../setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"

PSQL=(lrml_psql -q -d postgres)

bench_start()
{
	LRML_PACKAGES+=("$@")
	lrml_install_traps
	lrml_lock
	lrml_install_packages
	LRML_WERROR=0 lrml_build
	lrml_start_cluster
}

bench_generator()
{
	local gen="${LRML_SHARED_DATA:-}/gen/$1"

	if [ ! -f "$gen" ]; then
		echo "the generator $gen is missing; this benchmark needs ../shared/data" >&2
		exit 1
	fi
	echo "$gen"
}

bench_load_churn()
{
	local csv="$LRML_TMP/churn.csv"

	NUMERIC=(tenure_months age monthly_charges total_charges num_products
		support_calls_90d late_payments_12m data_usage_gb call_minutes_month
		dropped_call_pct days_since_last_login contract_months_left
		discount_pct num_devices satisfaction_score referrals credit_score
		household_size distance_to_store_km noise_1)
	COLS="$(IFS=,; echo "${NUMERIC[*]}")"
	lrml_log "generating $1 rows"
	/usr/bin/python3 "$(bench_generator gen_churn.py)" --rows "$1" --seed 42 \
		--out "$csv" --quiet
	chmod a+r "$csv"
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
\copy t FROM '$csv' WITH (FORMAT csv, HEADER true)
VACUUM ANALYZE t;
CREATE VIEW t20 AS SELECT $COLS, churned FROM t;
SQL
	rm -f "$csv"
}

time_ms()
{
	"${PSQL[@]}" -c '\timing on' -c "${2:-SELECT 1}" -c "$1" |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1
}

best_ms()
{
	local best='' t

	for _ in $(seq "${REPEAT:-3}"); do
		t="$(time_ms "$1" "${2:-SELECT 1}")"
		if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then
			best="$t"
		fi
	done
	echo "$best"
}

peak_kb()
{
	local pid='' kb=''

	PGAPPNAME=lrml_bench "${PSQL[@]}" -At -c "$1" -c "SELECT pg_sleep(3)" >/dev/null &
	for _ in $(seq 1200); do
		pid="$("${PSQL[@]}" -At -c "SELECT pid FROM pg_stat_activity
			WHERE application_name = 'lrml_bench' AND query LIKE '%pg_sleep%'")"
		[ -n "$pid" ] && break
		sleep 0.5
	done
	kb="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
	wait
	echo "$kb"
}

ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
