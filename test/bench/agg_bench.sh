#!/bin/bash
# test/bench/agg_bench.sh - the aggregates: per-group training of 1,000
# groups of 1,000 rows with lrml.fit, the speed-up of a parallel plan over
# a serial one (lrml.fit and lrml.gradient), and full-batch against
# mini-batch training on a generated 1,000,000-row table (see
# test/bench/README.md).  Run by hand, as root, from anywhere:
#
#     bash test/bench/agg_bench.sh [GROUPS] [ROWS_PER_GROUP]
#
# It builds and installs the extension, starts a throwaway cluster, makes
# GROUPS x ROWS_PER_GROUP rows (default 1000 x 1000) with arithmetic over
# generate_series, prints its figures and stops the cluster.  Never run by
# the test suite.
set -euo pipefail

GROUPS_N="${1:-1000}"
PER_GROUP="${2:-1000}"
ROWS=$((GROUPS_N * PER_GROUP))

# shellcheck source=bench_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

bench_start

# Rows: three features from a seeded hash, a label drawn from a logistic
# model whose weights differ by group (so each group needs its own
# model), noise from a second hash.
lrml_log "generating $ROWS rows in $GROUPS_N groups"
"${PSQL[@]}" <<SQL
CREATE EXTENSION lrml;
CREATE TABLE g AS
SELECT grp, a, b, c,
       (hashint8(i * 7 + 3) & 65535) / 65536.0 <
         1 / (1 + exp(-(0.5 + (1 + grp % 5) * a - (grp % 3) * b + 0.7 * c))) AS y
FROM (SELECT i, i / $PER_GROUP AS grp,
             (hashint8(i) & 65535) / 32768.0 - 1 AS a,
             (hashint8(i + $ROWS) & 65535) / 32768.0 - 1 AS b,
             (hashint8(i + 2 * $ROWS) & 65535) / 32768.0 - 1 AS c
      FROM generate_series(0, $ROWS - 1) i) s;
CREATE TABLE g_holdout AS
SELECT grp, a, b, c,
       (hashint8(i * 7 + 3) & 65535) / 65536.0 <
         1 / (1 + exp(-(0.5 + (1 + grp % 5) * a - (grp % 3) * b + 0.7 * c))) AS y
FROM (SELECT i, (i - $ROWS) / ($PER_GROUP / 5) AS grp,
             (hashint8(i) & 65535) / 32768.0 - 1 AS a,
             (hashint8(i + $ROWS) & 65535) / 32768.0 - 1 AS b,
             (hashint8(i + 2 * $ROWS) & 65535) / 32768.0 - 1 AS c
      FROM generate_series($ROWS, $ROWS + $ROWS / 5 - 1) i) s;
VACUUM ANALYZE g;
VACUUM ANALYZE g_holdout;
CREATE FUNCTION auc(score float8[], pos bool[]) RETURNS float8
LANGUAGE sql IMMUTABLE AS \$\$
  WITH r AS (SELECT p, rank() OVER (ORDER BY s) AS rk
             FROM unnest(score, pos) AS u(s, p))
  SELECT ((SELECT sum(rk) FROM r WHERE p)
          - count(*) FILTER (WHERE p) * (count(*) FILTER (WHERE p) + 1) / 2.0)
         / (count(*) FILTER (WHERE p) * count(*) FILTER (WHERE NOT p))
  FROM r \$\$;
SQL

SERIAL="SET max_parallel_workers_per_gather = 0;"
PARALLEL="SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;"

FIT="lrml.fit(ARRAY[a, b, c], y, '{\"epochs\": 30}')"

lrml_log "per-group training, serial plan"
T_SERIAL="$(time_ms "CREATE TABLE m_serial AS SELECT grp, $FIT AS m FROM g GROUP BY grp" "$SERIAL")"
lrml_log "per-group training, parallel plan"
T_PARALLEL="$(time_ms "CREATE TABLE m_parallel AS SELECT grp, $FIT AS m FROM g GROUP BY grp" "$PARALLEL")"
PLAN="$("${PSQL[@]}" -At -c "$PARALLEL" -c "EXPLAIN (COSTS OFF) SELECT grp, $FIT FROM g GROUP BY grp" |
	grep -c 'Partial' || true)"
CHECK="$("${PSQL[@]}" -At -c "
SELECT count(*) || ' groups, ' || count(s.m) || ' trained, ' ||
       count(*) FILTER (WHERE s.m::text = p.m::text) || ' identical serial and parallel'
FROM m_serial s JOIN m_parallel p USING (grp)")"
AUC="$("${PSQL[@]}" -At -c "
SELECT round(auc(array_agg(lrml.predict(m.m, ARRAY[h.a, h.b, h.c])), array_agg(h.y))::numeric, 4)
FROM g_holdout h JOIN m_serial m USING (grp)")"
AUC_ONE="$("${PSQL[@]}" -At -c "
CREATE TABLE m_one AS SELECT $FIT AS m FROM g;
SELECT round(auc(array_agg(lrml.predict(m.m, ARRAY[h.a, h.b, h.c])), array_agg(h.y))::numeric, 4)
FROM g_holdout h, m_one m")"

GRAD="lrml.gradient(ARRAY[0.1, 0.2, 0.3, 0.4], ARRAY[a, b, c], y, '{}')"
lrml_log "lrml.gradient over every row, serial and parallel"
G_SERIAL="$(time_ms "SELECT $GRAD FROM g" "$SERIAL")"
G_PARALLEL="$(time_ms "SELECT $GRAD FROM g" "$PARALLEL")"
G_SAME="$("${PSQL[@]}" -At -c "
CREATE TABLE gs AS SELECT $GRAD AS v FROM g;" -c "$PARALLEL" -c "
CREATE TABLE gp AS SELECT $GRAD AS v FROM g;
SELECT max(abs(x - y) / greatest(abs(x), abs(y), 1e-300))
FROM gs, gp, unnest(gs.v, gp.v) AS u(x, y)")"

# One model over every row: full-batch (one lrml.gradient query per epoch)
# against mini-batch, both scored on the held-out rows
lrml_log "full-batch and mini-batch training over $ROWS rows"
T_FULL="$(time_ms "SELECT count(*) FROM lrml.train('full', 'g', 'y', ARRAY['a', 'b', 'c', 'grp'],
	options => '{\"mode\": \"full_batch\", \"epochs\": 40, \"learning_rate\": 0.1}')")"
T_MINI="$(time_ms "SELECT count(*) FROM lrml.train('mini', 'g', 'y', ARRAY['a', 'b', 'c', 'grp'],
	options => '{\"epochs\": 5}')")"
FB="$("${PSQL[@]}" -At -c "
SELECT round((metrics->>'valid_auc')::numeric, 4) FROM lrml.models WHERE name = 'full'")"
MB="$("${PSQL[@]}" -At -c "
SELECT round((metrics->>'valid_auc')::numeric, 4) FROM lrml.models WHERE name = 'mini'")"
FB_H="$("${PSQL[@]}" -At -c "
SELECT round(auc(array_agg(lrml.predict('full', h)), array_agg(h.y))::numeric, 4) FROM g_holdout h")"
MB_H="$("${PSQL[@]}" -At -c "
SELECT round(auc(array_agg(lrml.predict('mini', h)), array_agg(h.y))::numeric, 4) FROM g_holdout h")"

cat <<EOF2

rows                                      $ROWS ($GROUPS_N groups of $PER_GROUP; 3 features)
lrml.fit per group, serial plan           $T_SERIAL ms ($(awk "BEGIN{printf \"%.0f\", $ROWS / $T_SERIAL * 1000}") rows/s)
lrml.fit per group, parallel plan         $T_PARALLEL ms (speed-up $(awk "BEGIN{printf \"%.2f\", $T_SERIAL / $T_PARALLEL}"); $PLAN Partial nodes in the plan)
per-group models                          $CHECK
held-out AUC, per-group models            $AUC
held-out AUC, one model for all groups    $AUC_ONE
lrml.gradient, serial plan                $G_SERIAL ms
lrml.gradient, parallel plan              $G_PARALLEL ms (speed-up $(awk "BEGIN{printf \"%.2f\", $G_SERIAL / $G_PARALLEL}"); largest relative difference $G_SAME)
full batch, 40 epochs                     $T_FULL ms; validation AUC $FB, held-out AUC $FB_H
mini-batch, 5 epochs                      $T_MINI ms; validation AUC $MB, held-out AUC $MB_H
EOF2
