-- lrml.fit_recommender (one recommender per group): training, NULL
-- groups, parallel plans, lrml.save and scoring by name, model_info
SET extra_float_digits = 0;
SET lrml.blas_threads = 1;

-- a generated ratings table: three regions of 40 users, each user rating
-- the items i with (u + i) % 3 = 0; region "none" has no ratings at all
CREATE TABLE fr_ratings AS
SELECT region, user_id, item_id, rating FROM (
  SELECT (ARRAY['east', 'north', 'west'])[1 + u % 3] AS region,
         u AS user_id, i AS item_id,
         (1 + (u % 4 + i % 5) % 5)::float8 AS rating
  FROM generate_series(1, 120) u, generate_series(1, 40) i
  WHERE (u + i) % 3 = 0
  UNION ALL
  SELECT 'none', u, 1, NULL FROM generate_series(1, 5) u) s
ORDER BY user_id, item_id, rating;
INSERT INTO fr_ratings VALUES ('east', NULL, 1, 3), ('east', 1, NULL, 3);
ANALYZE fr_ratings;

-- one recommender per region; "none" cannot train: NULL and one NOTICE
CREATE TABLE fr_models AS
SELECT region,
       lrml.fit_recommender(user_id, item_id, rating,
                            '{"factors": 4, "epochs": 20, "seed": 1}') AS m
FROM fr_ratings GROUP BY region;
SELECT region, m IS NOT NULL AS trained,
       (lrml.model_info(m)->'metrics'->>'rows')::int AS rows,
       (lrml.model_info(m)->'metrics'->>'rows_null')::int AS rows_null,
       (lrml.model_info(m)->>'users')::int AS users,
       (lrml.model_info(m)->>'items')::int AS items,
       (lrml.model_info(m)->'metrics'->>'train_rmse')::float8 < 'Infinity' AS finite
FROM fr_models ORDER BY region;

-- model_info of a recommender value: kind, ids, factors, options, metrics
SELECT lrml.model_info(m)->>'kind' AS kind,
       lrml.model_info(m)->'classifier' AS classifier,
       lrml.model_info(m)->'biases' AS biases,
       lrml.model_info(m)->>'id_type' AS id_type,
       lrml.model_info(m)->'factors' AS factors,
       lrml.model_info(m)->>'user_col' AS user_col,
       lrml.model_info(m)->>'rating_col' AS rating_col,
       lrml.model_info(m)->'options'->'epochs' AS epochs,
       lrml.model_info(m)->'options'->>'model' AS model,
       lrml.model_info(m)->'options'->>'on_group_error' AS on_group_error,
       lrml.model_info(m)->'metrics'->'train_rows' AS train_rows,
       lrml.model_info(m)->'metrics'->'valid_rows' AS valid_rows
FROM fr_models WHERE region = 'east';

-- a group trains as lrml.train_recommender does on the same rows in the
-- same order: after lrml.save, the factors in lrml.factors are equal
SELECT count(*) AS epochs FROM lrml.train_recommender('fr_trained',
  'SELECT user_id, item_id, rating FROM fr_ratings WHERE region = ''north''',
  'user_id', 'item_id', 'rating',
  options => '{"factors": 4, "epochs": 20, "seed": 1}');
SELECT lrml.save('fr_saved', m) AS version FROM fr_models
WHERE region = 'north';
SELECT count(*) AS factor_rows,
       count(*) FILTER (WHERE t.bias = s.bias AND t.factors = s.factors) AS equal
FROM lrml.factors t
JOIN lrml.factors s USING (side, id)
WHERE t.model_id = (SELECT id FROM lrml.models WHERE name = 'fr_trained')
  AND s.model_id = (SELECT id FROM lrml.models WHERE name = 'fr_saved');

-- a saved value scores by name: predict_rating, recommend, similar_items
SELECT (SELECT count(*) FROM lrml.factors f JOIN lrml.models m
        ON m.id = f.model_id WHERE m.name = 'fr_saved') AS factor_rows,
       (SELECT kind FROM lrml.models WHERE name = 'fr_saved') AS kind,
       (SELECT source FROM lrml.models WHERE name = 'fr_saved') AS source;
SELECT round(lrml.predict_rating('fr_saved', 2, 1)::numeric, 4) =
       round(lrml.predict_rating('fr_trained', 2, 1)::numeric, 4) AS same_rating,
       lrml.predict_rating('fr_saved', 2, 1) BETWEEN 1 AND 5 AS in_range;
SELECT count(*) AS n, bool_and(item_id % 3 <> 1) AS unseen,
       bool_and(score < 'Infinity') AS finite
FROM lrml.recommend('fr_saved', 2, 5);
SELECT array_agg(item_id ORDER BY rank) =
       (SELECT array_agg(item_id ORDER BY rank)
        FROM lrml.recommend('fr_trained', 2, 5)) AS same_top5
FROM lrml.recommend('fr_saved', 2, 5);
SELECT count(*) AS n, bool_and(similarity BETWEEN -1 AND 1) AS cosine
FROM lrml.similar_items('fr_saved', 2, 3);
-- the value itself recommends and finds similar items as its saved
-- version does, seen items left out
SELECT (SELECT array_agg(item_id || ':' || round(score::numeric, 6) ORDER BY rank)
        FROM fr_models, lrml.recommend(m, 2, 5) WHERE region = 'north') =
       (SELECT array_agg(item_id || ':' || round(score::numeric, 6) ORDER BY rank)
        FROM lrml.recommend('fr_saved', 2, 5)) AS same_recommend,
       (SELECT array_agg(item_id || ':' || round(score::numeric, 6) ORDER BY rank)
        FROM fr_models, lrml.recommend(m, 2, 5, false) WHERE region = 'north') =
       (SELECT array_agg(item_id || ':' || round(score::numeric, 6) ORDER BY rank)
        FROM lrml.recommend('fr_saved', 2, 5, false)) AS same_with_seen,
       (SELECT array_agg(item_id || ':' || round(similarity::numeric, 6) ORDER BY rank)
        FROM fr_models, lrml.similar_items(m, 2, 3) WHERE region = 'north') =
       (SELECT array_agg(item_id || ':' || round(similarity::numeric, 6) ORDER BY rank)
        FROM lrml.similar_items('fr_saved', 2, 3)) AS same_similar;
SELECT count(*) AS unknown_user_rows FROM fr_models, lrml.recommend(m, 999, 4)
WHERE region = 'north';
-- a trained recommender loads as a value that recommends as it does
SELECT (SELECT array_agg(item_id ORDER BY rank) FROM lrml.recommend(lrml.load('fr_trained'), 2, 5)) =
       (SELECT array_agg(item_id ORDER BY rank) FROM lrml.recommend('fr_trained', 2, 5)) AS loaded_recommends,
       lrml.model_info(lrml.load('fr_trained'))->>'kind' AS kind;
SELECT * FROM lrml.recommend((SELECT m FROM fr_models WHERE region = 'north'), 'u1'::text, 3);
-- a saved value has no training source; given a relation, evaluate reads
-- its columns user_id, item_id and rating
SELECT * FROM lrml.evaluate('fr_saved');
SELECT metric, value < 'Infinity' AS finite
FROM lrml.evaluate('fr_saved', 'fr_ratings') ORDER BY metric;
-- a value scores ratings directly, as its saved version does (an unknown
-- user gets the mean and the item's bias)
SELECT bool_and(lrml.predict_rating(m, 2, i) = lrml.predict_rating('fr_saved', 2, i)
                AND lrml.predict_rating(m, 999, i) = lrml.predict_rating('fr_saved', 999, i)) AS same
FROM fr_models, generate_series(1, 45) i WHERE region = 'north';

-- a parallel plan: partial aggregates in two workers, combined in the
-- leader; each group's rows are sorted, so the models are the serial ones
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT region, lrml.fit_recommender(user_id, item_id, rating, '{}')
FROM fr_ratings GROUP BY region;
CREATE TABLE fr_models_parallel AS
SELECT region,
       lrml.fit_recommender(user_id, item_id, rating,
                            '{"factors": 4, "epochs": 20, "seed": 1}') AS m
FROM fr_ratings GROUP BY region;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
SELECT p.region, p.m IS NOT NULL AS trained,
       p.m::text IS NOT DISTINCT FROM s.m::text AS same_model
FROM fr_models_parallel p JOIN fr_models s USING (region)
ORDER BY p.region;

-- text ids keep their type; bpr on interaction rows (rating NULL) and on
-- ratings with a positive_threshold (every west user has every west item,
-- so a fifth of the rows is left out: bpr needs items a user lacks)
CREATE TABLE fr_text AS
SELECT 'u' || user_id AS user_id, 'i' || item_id AS item_id, rating
FROM fr_ratings WHERE region = 'west' AND (user_id + 2 * item_id) % 5 <> 0;
SELECT lrml.save('fr_bpr', lrml.fit_recommender(user_id, item_id, NULL,
                 '{"model": "bpr", "factors": 4, "epochs": 5}')) AS version
FROM fr_text;
SELECT lrml.model_info(m)->>'kind' AS kind,
       lrml.model_info(m)->>'id_type' AS id_type,
       lrml.model_info(m)->'rating_col' AS rating_col,
       (lrml.model_info(m)->'metrics'->>'positives')::int AS positives
FROM (SELECT lrml.fit_recommender(user_id, item_id, NULL,
             '{"model": "bpr", "factors": 4, "epochs": 5}') AS m
      FROM fr_text) s;
SELECT count(*) AS n, bool_and(item_id LIKE 'i%') AS text_ids,
       pg_typeof(min(item_id)) AS id_type
FROM lrml.recommend('fr_bpr', 'u3'::text, 4);
SELECT (lrml.model_info(m)->'metrics'->>'positives')::int AS positives,
       (lrml.model_info(m)->'metrics'->>'rows')::int AS rows
FROM (SELECT lrml.fit_recommender(user_id, item_id, rating,
             '{"model": "bpr", "positive_threshold": 4, "epochs": 3}') AS m
      FROM fr_text) s;

-- on_group_error "error" fails the query instead of giving NULL
SELECT region, lrml.fit_recommender(user_id, item_id, rating,
                                    '{"on_group_error": "error"}') IS NULL
FROM fr_ratings GROUP BY region ORDER BY region;
-- a window aggregate reports its group at once
SELECT DISTINCT lrml.fit_recommender(user_id, item_id, rating, '{}')
       OVER (PARTITION BY region) IS NULL AS untrained
FROM fr_ratings WHERE region = 'none';
-- no rows at all: NULL, no notice
SELECT lrml.fit_recommender(user_id, item_id, rating, '{}') IS NULL AS none
FROM fr_ratings WHERE false;

-- bad inputs fail the query at once
-- the ids must have one type, an integer type or text
SELECT lrml.fit_recommender(user_id, item_id::text, rating, '{}')
FROM fr_ratings;
SELECT lrml.fit_recommender(user_id::int8, item_id, rating, '{}')
FROM fr_ratings;
SELECT lrml.fit_recommender(user_id::float8, item_id::float8, rating, '{}')
FROM fr_ratings;
-- options: no warm start, recommender models only, checked keys
SELECT lrml.fit_recommender(user_id, item_id, rating, '{"warm_start": true}')
FROM fr_ratings;
SELECT lrml.fit_recommender(user_id, item_id, rating, '{"model": "logistic"}')
FROM fr_ratings;
SELECT lrml.fit_recommender(user_id, item_id, rating, '{"factor": 4}')
FROM fr_ratings;
SELECT lrml.fit_recommender(user_id, item_id, rating, '{"mode": "full_batch"}')
FROM fr_ratings;
-- bpr on ratings needs a threshold; ratings must be finite
SELECT lrml.fit_recommender(user_id, item_id, rating, '{"model": "bpr"}')
FROM fr_ratings;
SELECT lrml.fit_recommender(user_id, item_id, 'NaN', '{}') FROM fr_ratings;
-- lrml.memory_limit bounds a group's rows, and its text ids too
SET lrml.memory_limit = '1MB';
SELECT lrml.fit_recommender(u, u % 7, 3.0, '{}')
FROM generate_series(1, 60000) u;
SELECT lrml.fit_recommender(repeat('x', 5000) || u, 'i', 3.0, '{}')
FROM generate_series(1, 400) u;
RESET lrml.memory_limit;
-- on_group_error is an option of the aggregates only
SELECT * FROM lrml.train_recommender('fr_bad', 'fr_ratings', 'user_id',
  'item_id', 'rating', options => '{"on_group_error": "null"}');
-- a recommender value is scored by name, not by vector
SELECT lrml.predict(m, ARRAY[1.0, 2.0]) FROM fr_models WHERE region = 'east';
SELECT lrml.predict_rating(m, 'u1'::text, 'i2'::text) FROM fr_models
WHERE region = 'east';
SELECT lrml.predict_rating(lrml.fit(ARRAY[rating], rating > 3, '{"epochs": 1}'), 1, 2)
FROM fr_ratings;
SELECT lrml.save('fr_bad', NULL::lrml.model);

SELECT lrml.drop_model('fr_trained'), lrml.drop_model('fr_saved'),
       lrml.drop_model('fr_bpr');
DROP TABLE fr_ratings, fr_models, fr_models_parallel, fr_text;
