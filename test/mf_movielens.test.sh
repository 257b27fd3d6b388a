#!/bin/bash
# test/mf_movielens.test.sh - recommender quality on MovieLens 100k (u1 split)
#
# Trains on u1.base and measures on u1.test (predictions clipped to the
# training range, 1..5):
#   - the setting of the issue ({"model": "mf", "factors": 100, "epochs":
#     100, "learning_rate": 0.01, "reg": 0.08, cosine over 100 epochs,
#     "sgd", no validation, seed 7}) must reach RMSE <= 0.925;
#   - the recommender defaults ({}) must reach RMSE <= 0.922;
#   - implicit feedback: "bpr" on the ratings >= 4 of u1.base, with the
#     ratings >= 4 of u1.test held out, must reach an ndcg@10 at least 20%
#     above that of a most-popular-items ranking evaluated the same way
#     (items the user rated in u1.base left out of both rankings); the
#     ndcg@10 of the explicit model is printed for comparison.
# The data lives outside the repository, in ../shared/data/movielens-100k;
# without it the test is skipped.  Run by test/run_tests.sh with PGHOST,
# PGPORT, PGUSER and PGDATABASE set.

set -euo pipefail

DATA="${LRML_MOVIELENS:-$(pwd)/../shared/data/movielens-100k}"
if [ ! -r "$DATA/u1.base" ] || [ ! -r "$DATA/u1.test" ]; then
	echo "skipped: MovieLens 100k not found in $DATA (u1.base, u1.test)"
	exit 77
fi

out="$(psql -X -q -At -v ON_ERROR_STOP=1 -v data="$DATA" <<'SQL'
SET client_min_messages = warning;
CREATE TABLE base (user_id int, item_id int, rating float8, ts bigint);
CREATE TABLE test (user_id int, item_id int, rating float8, ts bigint);
\set base_file :data '/u1.base'
\set test_file :data '/u1.test'
COPY base FROM :'base_file';
COPY test FROM :'test_file';

SELECT count(*) FROM lrml.train_recommender('ml_req', 'base', 'user_id', 'item_id', 'rating',
  options => '{"model": "mf", "factors": 100, "epochs": 100, "learning_rate": 0.01, "reg": 0.08,
               "schedule": {"name": "cosine", "total": 100}, "optimizer": "sgd",
               "validation_fraction": 0, "seed": 7}') \gset
SELECT count(*) FROM lrml.train_recommender('ml_def', 'base', 'user_id', 'item_id', 'rating') \gset
SELECT count(*) FROM lrml.train_recommender('ml_bpr', 'base', 'user_id', 'item_id', 'rating',
  options => '{"model": "bpr", "positive_threshold": 4}') \gset

SELECT 'required_rmse ' || round(value::numeric, 4) FROM lrml.evaluate('ml_req', 'test') WHERE metric = 'rmse';
SELECT 'default_rmse ' || round(value::numeric, 4) FROM lrml.evaluate('ml_def', 'test') WHERE metric = 'rmse';
-- the same RMSE computed in SQL from lrml.predict_rating
SELECT 'sql_rmse ' || round(sqrt(avg((rating - lrml.predict_rating('ml_def', user_id, item_id))^2))::numeric, 4) FROM test;

-- ranking: ndcg@10 of the model against most-popular items, both
-- ranking only items the user has not rated in u1.base
SELECT 'mf_ndcg ' || round(value::numeric, 4)
FROM lrml.evaluate('ml_def', 'test', '{"threshold": 4, "k": 10}') WHERE metric = 'ndcg@10';
SELECT 'bpr_' || metric || ' ' || round(value::numeric, 4)
FROM lrml.evaluate('ml_bpr', 'test', '{"k": 10}');
-- popularity: the number of positives in u1.base
WITH pop AS (
  SELECT item_id, count(*) FILTER (WHERE rating >= 4) AS n FROM base GROUP BY item_id
), users AS (
  SELECT DISTINCT t.user_id FROM test t
  WHERE t.rating >= 4 AND t.item_id IN (SELECT item_id FROM pop)
    AND NOT EXISTS (SELECT 1 FROM base b WHERE b.user_id = t.user_id AND b.item_id = t.item_id)
), ranked AS (
  SELECT u.user_id, p.item_id,
         row_number() OVER (PARTITION BY u.user_id ORDER BY p.n DESC, p.item_id) AS r
  FROM users u CROSS JOIN pop p
  WHERE NOT EXISTS (SELECT 1 FROM base b WHERE b.user_id = u.user_id AND b.item_id = p.item_id)
), rel AS (
  SELECT DISTINCT t.user_id, t.item_id FROM test t JOIN users u USING (user_id)
  WHERE t.rating >= 4 AND t.item_id IN (SELECT item_id FROM pop)
), per_user AS (
  SELECT u.user_id,
         coalesce((SELECT sum(1 / log(2, r.r + 1)) FROM ranked r JOIN rel USING (user_id, item_id)
                   WHERE r.user_id = u.user_id AND r.r <= 10), 0) /
         (SELECT sum(1 / log(2, g + 1)) FROM generate_series(1,
                  least(10, (SELECT count(*) FROM rel WHERE rel.user_id = u.user_id))) g) AS ndcg
  FROM users u
)
SELECT 'popular_ndcg ' || round(avg(ndcg)::numeric, 4) FROM per_user;
SQL
)"
echo "$out"

value() { awk -v k="$1" '$1 == k { print $2 }' <<<"$out"; }
fail=0
check() {
	if awk -v a="$2" -v b="$4" -v op="$3" 'BEGIN { exit !((op == "<=") ? a <= b : a >= b) }'; then
		echo "ok: $1 $2 $3 $4"
	else
		echo "FAILED: $1 $2 is not $3 $4"
		fail=1
	fi
}
check "RMSE of the required setting" "$(value required_rmse)" "<=" 0.925
check "RMSE of the defaults" "$(value default_rmse)" "<=" 0.922
check "RMSE from predict_rating" "$(value sql_rmse)" "<=" 0.922
check "bpr ndcg@10 over 1.2 x popularity" "$(value bpr_ndcg@10)" ">=" \
	"$(awk -v p="$(value popular_ndcg)" 'BEGIN { print p * 1.2 }')"
exit "$fail"
