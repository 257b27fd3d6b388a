#!/bin/bash
# test/bench/mlp_bench.sh - speed of one epoch of an mlp with hidden
# [64, 32] beside one epoch of logistic regression on the same generated
# churn rows, in the same run (see test/bench/README.md).  Run by hand, as
# root, from anywhere:
#
#     bash test/bench/mlp_bench.sh [ROWS]
#
# It builds and installs the extension, starts a throwaway cluster, loads
# ROWS rows (default 1000000) made by ../shared/data/gen/gen_churn.py,
# prints both epoch times and their ratio and, when perf is installed,
# where an mlp run spends its time.  Never run by the test suite.
set -euo pipefail

ROWS="${1:-1000000}"
REPEAT=2

# shellcheck source=bench_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

bench_generator gen_churn.py >/dev/null	# before building: fail early without the data
bench_start python3-numpy
bench_load_churn "$ROWS"

# Print the time of one epoch of a model: (T(1 + K epochs) - T(1 epoch))
# / K, so that loading, the split, the encoding and storing cancel out;
# K is $2.
epoch_ms()
{
	local t1 tk
	t1="$(best_ms "SELECT count(*) FROM lrml.train('e1', 't20', 'churned', NULL, '{$1, \"epochs\": 1, \"seed\": 1}')")"
	tk="$(best_ms "SELECT count(*) FROM lrml.train('ek', 't20', 'churned', NULL, '{$1, \"epochs\": $((1 + $2)), \"seed\": 1}')")"
	awk "BEGIN{print ($tk - $t1) / $2}"
}

MLP='"model": "mlp", "hidden": [64, 32]'
lrml_log "one epoch of logistic regression"
LOGISTIC="$(epoch_ms '"model": "logistic"' 20)"
lrml_log "one epoch of an mlp with hidden [64, 32]"
MLP_EPOCH="$(epoch_ms "$MLP" 4)"

cat <<EOF2

rows                                   $ROWS (20 numeric inputs; 800,000 train, 200,000 validate)
logistic regression: one epoch         $LOGISTIC ms
mlp, hidden [64, 32]: one epoch        $MLP_EPOCH ms
ratio mlp / logistic                   $(awk "BEGIN{printf \"%.1f\", $MLP_EPOCH / $LOGISTIC}")
EOF2

# Where an mlp run spends its time: perf attached to the training backend
# for 10 epochs (and the loading), samples grouped by shared object and
# by symbol.
if command -v perf >/dev/null; then
	lrml_log "profiling 10 mlp epochs with perf"
	set +e
	PGAPPNAME=lrml_bench "${PSQL[@]}" -At -c "SELECT pg_sleep(2)" \
		-c "SELECT count(*) FROM lrml.train('p', 't20', 'churned', NULL, '{$MLP, \"epochs\": 10, \"seed\": 1}')" >/dev/null &
	CLIENT_PID=$!
	PID=
	for _ in $(seq 100); do
		PID="$("${PSQL[@]}" -At -c "SELECT pid FROM pg_stat_activity
			WHERE application_name = 'lrml_bench'")"
		[ -n "$PID" ] && break
		sleep 0.1
	done
	PERF_DATA="$LRML_TMP/perf.data"
	perf record -q -o "$PERF_DATA" -p "$PID" &
	PERF_PID=$!
	wait "$CLIENT_PID"
	kill -INT "$PERF_PID"
	wait "$PERF_PID"
	printf '\nprofile of 10 mlp epochs (and the loading), by object, then by symbol:\n'
	perf report -i "$PERF_DATA" --stdio --sort dso 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -n 5
	perf report -i "$PERF_DATA" --stdio --sort sym 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -n 12
	set -e
fi
