#!/bin/bash
# test/bench/mf_bench.sh - speed and memory of the recommenders (see
# test/bench/README.md).  Run by hand, as root, from anywhere:
#
#     bash test/bench/mf_bench.sh [ROWS]
#
# It builds and installs the extension, starts a throwaway cluster, loads
# ROWS ratings (default 10000000) made by ../shared/data/gen/gen_ratings.py,
# and prints the seconds per epoch per million ratings at 64 factors, the
# peak memory of the training backend, and the latency of lrml.recommend
# over 20,000 items.  Never run by the test suite.
set -euo pipefail

ROWS="${1:-10000000}"
REPEAT=3

# shellcheck source=bench_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

GEN="$(bench_generator gen_ratings.py)"
bench_start python3-numpy

lrml_log "generating $ROWS ratings"
CSV="$LRML_TMP/ratings.csv"
/usr/bin/python3 "$GEN" --rows "$ROWS" --seed 1 --out "$CSV" --quiet
chmod a+r "$CSV"

"${PSQL[@]}" <<SQL
CREATE EXTENSION lrml;
CREATE TABLE r (user_id int, item_id int, rating float8);
\copy r FROM '$CSV' WITH (FORMAT csv, HEADER true)
VACUUM ANALYZE r;
-- 20,000 items, every one rated, for the latency of recommend
CREATE TABLE r20k AS
SELECT g % 5000 AS user_id, ((g::bigint * 7919) % 20000)::int AS item_id,
       (1 + (g * 31) % 5)::float8 AS rating
FROM generate_series(0, 399999) g;
SQL
rm -f "$CSV"

SCAN="$(best_ms "SELECT sum(user_id + item_id + rating) FROM r")"
OPTS='"model": "mf", "factors": 64, "optimizer": "sgd", "learning_rate": 0.005, "reg": 0.05, "seed": 1'
lrml_log "lrml.train_recommender at 64 factors: 1 epoch and 11 epochs"
T1="$(time_ms "SELECT count(*) FROM lrml.train_recommender('m1', 'r', 'user_id', 'item_id', 'rating', options => '{$OPTS, \"epochs\": 1}')")"
T4="$(time_ms "SELECT count(*) FROM lrml.train_recommender('m4', 'r', 'user_id', 'item_id', 'rating', options => '{$OPTS, \"epochs\": 11}')")"
EPOCH="$(awk "BEGIN{print ($T4 - $T1) / 10}")"
LOAD="$(awk "BEGIN{print $T1 - $EPOCH}")"
PER_M="$(awk "BEGIN{printf \"%.3f\", $EPOCH / 1000 / ($ROWS / 1e6)}")"
NS="$(awk "BEGIN{printf \"%.0f\", $EPOCH * 1e6 / $ROWS}")"
RMSE="$("${PSQL[@]}" -At -c "SELECT round((metrics->>'train_rmse')::numeric, 4) FROM lrml.models WHERE name = 'm4'")"

lrml_log "peak memory of a backend training 4 epochs"
PEAK_SCAN="$(peak_kb "SELECT sum(user_id + item_id + rating) FROM r")"
PEAK_TRAIN="$(peak_kb "SELECT count(*) FROM lrml.train_recommender('mp', 'r', 'user_id', 'item_id', 'rating', options => '{$OPTS, \"epochs\": 4}')")"

lrml_log "lrml.recommend: top 10 of 20,000 items at 64 factors"
"${PSQL[@]}" -c "SELECT count(*) FROM lrml.train_recommender('m20k', 'r20k', 'user_id', 'item_id', 'rating', options => '{\"factors\": 64, \"epochs\": 2}')" >/dev/null
CALLS=2000
REC="$(best_ms "SELECT sum(s.n) FROM generate_series(1, $CALLS) u, LATERAL (SELECT count(*) AS n FROM lrml.recommend('m20k', u % 5000, 10)) s")"
BASE="$(best_ms "SELECT sum(s.n) FROM generate_series(1, $CALLS) u, LATERAL (SELECT count(*) AS n FROM generate_series(1, 10) x WHERE x > u % 1) s")"
PER_CALL="$(awk "BEGIN{printf \"%.3f\", ($REC - $BASE) / $CALLS}")"
ITEMS="$("${PSQL[@]}" -At -c "SELECT features->>'items' FROM lrml.models WHERE name = 'm20k'")"
RITEMS="$("${PSQL[@]}" -At -c "SELECT features->>'items' || ' items, ' || (features->>'users') || ' users' FROM lrml.models WHERE name = 'm4'")"

cat <<EOF2

ratings                                  $ROWS ($RITEMS)
scan of the ratings, one process         $SCAN ms
train_recommender: load, split, store    $LOAD ms
train_recommender: one epoch, 64 factors $EPOCH ms   = $PER_M s per epoch per million ratings ($NS ns per rating; target <= 120)
training RMSE after 11 epochs            $RMSE
peak RSS: backend scanning r             $PEAK_SCAN kB
peak RSS: backend training 4 epochs      $PEAK_TRAIN kB   (difference $((PEAK_TRAIN - PEAK_SCAN)) kB)
recommend, top 10 of $ITEMS items         $PER_CALL ms per call, cached ($CALLS calls in one query, less an empty lateral subquery)
EOF2
