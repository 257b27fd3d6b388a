-- recommenders: matrix factorization, storage, scoring, cold start
SET extra_float_digits = 0;

-- cold start (C07): an unknown user, item or both is scored, never NaN
CREATE TABLE ratings (user_id int, item_id int, rating float8);
INSERT INTO ratings VALUES
 (1,101,5),(1,102,3),(2,101,4),(2,103,1),(3,101,5),(3,102,4);
SELECT count(*) AS epochs, count(event) AS events,
       bool_and(train_loss < 'Infinity') AS finite
FROM lrml.train_recommender('cold', 'ratings', 'user_id', 'item_id', 'rating',
  options => '{"model":"mf","factors":2,"epochs":50,"learning_rate":0.01,"reg":0.02,"biases":true,"seed":1}');
-- the stored global mean is 22/6 = 11/3
SELECT round((features->>'global_mean')::numeric, 10) AS mu,
       features - 'global_mean' AS features
FROM lrml.models WHERE name = 'cold';
-- 1. both unknown: the global mean
SELECT round(lrml.predict_rating('cold', 99, 999)::numeric, 10) AS both_unknown;
-- 2. unknown user: mu + b_101 as stored, above the mean
SELECT round(lrml.predict_rating('cold', 99, 101)::numeric, 10) =
       round(((m.features->>'global_mean')::float8 + f.bias)::numeric, 10) AS is_mu_plus_bias,
       lrml.predict_rating('cold', 99, 101) > 11.0 / 3 AS above_mean
FROM lrml.models m JOIN lrml.factors f ON f.model_id = m.id
WHERE m.name = 'cold' AND f.side = 'item' AND f.id = '101';
-- 3. unknown item: mu + b_1 as stored, finite
SELECT round(lrml.predict_rating('cold', 1, 999)::numeric, 10) =
       round(((m.features->>'global_mean')::float8 + f.bias)::numeric, 10) AS is_mu_plus_bias,
       lrml.predict_rating('cold', 1, 999) < 'Infinity' AS finite
FROM lrml.models m JOIN lrml.factors f ON f.model_id = m.id
WHERE m.name = 'cold' AND f.side = 'user' AND f.id = '1';
-- 4. an unseen user gets the items of the best mu + b_i: 101, then 102
SELECT item_id, rank, score < 'Infinity' AS finite
FROM lrml.recommend('cold', 99, 2) ORDER BY rank;
-- 5. seen items are left out: user 1 rated 101 and 102, so only 103
SELECT item_id, rank FROM lrml.recommend('cold', 1, 2) ORDER BY rank;
SELECT count(*) AS n, bool_and(item_id IN (101, 102, 103)) AS known
FROM lrml.recommend('cold', 1, 2, false);
-- scores of recommend are the predictions (which predict_rating clips to 1..5)
SELECT bool_and(abs(least(greatest(score, 1), 5) - lrml.predict_rating('cold', 2, item_id)) < 1e-5) AS same
FROM lrml.recommend('cold', 2, 3, false);
-- 6. no NaN similarity
SELECT count(*) AS n, bool_and(similarity = similarity) AS no_nan,
       bool_and(similarity BETWEEN -1 AND 1) AS in_range
FROM lrml.similar_items('cold', 101, 5);
-- an unknown item has no similar items; k = 0 gives no rows
SELECT count(*) FROM lrml.similar_items('cold', 999, 5);
SELECT count(*) FROM lrml.recommend('cold', 1, 0);
-- one row per user and per item in lrml.factors, factors of length k
SELECT side, count(*), min(array_length(factors, 1)), max(array_length(factors, 1))
FROM lrml.factors f JOIN lrml.models m ON m.id = f.model_id
WHERE m.name = 'cold' GROUP BY side ORDER BY side;
-- every resolved option is stored
SELECT options FROM lrml.models WHERE name = 'cold';

-- large ratings with the default rate (C06): back off, never NaN
CREATE TABLE big_ratings (user_id int, item_id int, rating float8);
INSERT INTO big_ratings VALUES
 (1,1,1),(1,2,1),(1,3,214),(2,1,1),(2,2,660),(2,4,1),
 (3,1,1),(3,3,1),(3,4,1),(4,2,1),(4,3,1),(4,4,660);
CREATE TABLE big_curve AS
SELECT * FROM lrml.train_recommender('big_mf', 'big_ratings', 'user_id', 'item_id', 'rating',
  options => '{"model":"mf","factors":10,"epochs":20,"optimizer":"sgd","learning_rate":0.005,"reg":0.02,"biases":true,"seed":1}');
CREATE TABLE small_curve AS
SELECT * FROM lrml.train_recommender('big_mf_small', 'big_ratings', 'user_id', 'item_id', 'rating',
  options => '{"model":"mf","factors":10,"epochs":20,"optimizer":"sgd","learning_rate":0.0005,"reg":0.02,"biases":true,"seed":1}');
-- at least one epoch diverged, and every loss is finite
SELECT count(*) FILTER (WHERE event LIKE '%diverged%') >= 1 AS diverged,
       bool_and(train_loss < 'Infinity' AND train_loss > '-Infinity') AS finite
FROM big_curve;
-- the rate is the scheduled one until the first divergence, a tenth of it after
SELECT bool_and(CASE WHEN b.epoch <= d.first THEN abs(b.lr / s.lr - 10) < 1e-9
                     ELSE abs(b.lr / s.lr - 1) < 1e-9 END) AS cut_by_ten
FROM big_curve b JOIN small_curve s USING (epoch),
     (SELECT min(epoch) AS first FROM big_curve WHERE event LIKE '%diverged%') d;
-- the smaller rate never diverges
SELECT count(event) AS events FROM small_curve;
-- everything stored is finite, and the fit beats the global mean (244.71)
SELECT m.name,
       bool_and(f.bias < 'Infinity' AND f.bias > '-Infinity') AS biases_finite,
       bool_and(NOT (f.factors && ARRAY['NaN', 'Infinity', '-Infinity']::float4[])) AS factors_finite
FROM lrml.models m JOIN lrml.factors f ON f.model_id = m.id
WHERE m.name LIKE 'big_mf%' GROUP BY m.name ORDER BY m.name;
SELECT m.name, bool_and(l.train_loss < 'Infinity') AS log_finite
FROM lrml.models m JOIN lrml.training_log l ON l.model_id = m.id
WHERE m.name LIKE 'big_mf%' GROUP BY m.name ORDER BY m.name;
SELECT name, sqrt(avg((r.rating - lrml.predict_rating(name, r.user_id, r.item_id))^2)) <= 244.71 AS beats_mean,
       bool_and(lrml.predict_rating(name, r.user_id, r.item_id) = lrml.predict_rating(name, r.user_id, r.item_id)) AS no_nan
FROM big_ratings r, (VALUES ('big_mf'), ('big_mf_small')) v(name)
GROUP BY name ORDER BY name;
SELECT round((metrics->>'train_rmse')::numeric, 4) =
       round((SELECT sqrt(avg((rating - lrml.predict_rating('big_mf', user_id, item_id))^2))
              FROM big_ratings)::numeric, 4) AS stored_rmse
FROM lrml.models WHERE name = 'big_mf';
-- divergence "error": an error naming the epoch, the loss and the rate, nothing stored
SELECT * FROM lrml.train_recommender('big_mf_err', 'big_ratings', 'user_id', 'item_id', 'rating',
  options => '{"model":"mf","factors":10,"epochs":20,"optimizer":"sgd","learning_rate":0.005,"reg":0.02,"biases":true,"seed":1,"divergence":"error"}');
SELECT count(*) FROM lrml.model_names WHERE name = 'big_mf_err';

-- text ids keep their type; same seed, same model
CREATE TABLE text_ratings AS
SELECT 'u' || (g % 7) AS u, 'i' || (g % 5) AS i, ((g * 7) % 5 + 1)::float8 AS r
FROM generate_series(1, 60) g;
SELECT count(*) FROM lrml.train_recommender('trec', 'text_ratings', 'u', 'i', 'r',
  options => '{"factors": 3, "epochs": 5, "seed": 3}');
SELECT count(*) FROM lrml.train_recommender('trec', 'SELECT * FROM text_ratings', 'u', 'i', 'r',
  options => '{"factors": 3, "epochs": 5, "seed": 3}');
SELECT pg_typeof(item_id), count(*) FROM lrml.recommend('trec', 'u1'::text, 3, false) GROUP BY 1;
SELECT a.id, a.factors = b.factors AS same
FROM lrml.factors a JOIN lrml.models ma ON ma.id = a.model_id,
     lrml.factors b JOIN lrml.models mb ON mb.id = b.model_id
WHERE ma.name = 'trec' AND ma.version = 1 AND mb.name = 'trec' AND mb.version = 2
  AND a.side = 'item' AND b.side = 'item' AND a.id = b.id ORDER BY a.id;
-- a validation split gives the curve its validation RMSE, and early
-- stopping, plateau and the best epoch work as for classifiers
CREATE TABLE noisy AS
SELECT g % 10 AS u, (g / 10) % 8 AS i, (1 + (g * 7919 % 13) % 5)::float8 AS r
FROM generate_series(1, 400) g;
CREATE TABLE split_curve AS
SELECT * FROM lrml.train_recommender('split', 'noisy', 'u', 'i', 'r',
  options => '{"factors": 10, "epochs": 40, "learning_rate": 0.05, "reg": 0, "validation_fraction": 0.25,
               "schedule": {"name": "plateau", "patience": 1, "factor": 0.5},
               "early_stopping": {"patience": 4}, "seed": 5}');
SELECT epoch, round(lr::numeric, 4) AS lr, round(valid_loss::numeric, 4) AS valid_loss,
       abs(valid_metric - sqrt(valid_loss)) < 1e-12 AS metric_is_rmse, event
FROM split_curve ORDER BY epoch;
SELECT (metrics->>'valid_rows')::int AS valid_rows, (metrics->>'train_rows')::int AS train_rows
FROM lrml.models WHERE name = 'split';
-- validation rows count as seen: each of 10 users rated each of 8 items
-- once, a quarter of the rows validate, and nothing is left to recommend
SELECT count(*) FROM lrml.train_recommender('split_seen',
  'SELECT g % 10 AS u, g / 10 AS i, (1 + g % 5)::float8 AS r FROM generate_series(0, 79) g',
  'u', 'i', 'r', options => '{"factors": 2, "epochs": 2, "validation_fraction": 0.25}');
SELECT count(*) AS recommended
FROM generate_series(0, 9) u, LATERAL lrml.recommend('split_seen', u, 10) r;
SELECT count(*) AS without_exclusion
FROM generate_series(0, 9) u, LATERAL lrml.recommend('split_seen', u, 10, false) r;
-- lrml.factors: another role may read but not write
CREATE ROLE regress_lrml_mallory;
SET ROLE regress_lrml_mallory;
SELECT count(*) > 0 AS can_read FROM lrml.factors;
DELETE FROM lrml.factors;
INSERT INTO lrml.factors SELECT model_id, side, id || 'x', bias, factors FROM lrml.factors;
UPDATE lrml.factors SET bias = 0;
RESET ROLE;
DROP ROLE regress_lrml_mallory;
SELECT count(*) FILTER (WHERE bias <> 0) > 0 AS unchanged FROM lrml.factors;
-- bigint ids come back as bigint
CREATE TABLE big_ids AS
SELECT (g % 4) + 5000000000 AS u, (g % 3)::bigint AS i, (g % 5)::float8 AS r
FROM generate_series(1, 30) g;
SELECT count(*) FROM lrml.train_recommender('bigid', 'big_ids', 'u', 'i', 'r',
  options => '{"factors": 2, "epochs": 3}');
SELECT pg_typeof(item_id), count(*) FROM lrml.recommend('bigid', 5000000001::bigint, 2, false) GROUP BY 1;
-- "biases": false learns no biases: r_hat = mu + p . q
SELECT count(*) FROM lrml.train_recommender('nobias', 'ratings', 'user_id', 'item_id', 'rating',
  options => '{"factors": 2, "epochs": 5, "biases": false}');
SELECT bool_and(f.bias = 0) AS zero_biases, round(lrml.predict_rating('nobias', 99, 101)::numeric, 10) AS mu
FROM lrml.factors f JOIN lrml.models m ON m.id = f.model_id WHERE m.name = 'nobias';
-- smallint and varchar ids; a step of the schedule is a block of 128 ratings
SELECT count(*), bool_and(lr > 0) FROM lrml.train_recommender('small',
  'SELECT user_id::int2 AS u, item_id::int2 AS i, rating FROM ratings', 'u', 'i', 'rating',
  options => '{"factors": 2, "epochs": 3, "schedule_unit": "step", "warmup_steps": 2}');
SELECT pg_typeof(item_id), item_id FROM lrml.recommend('small', 2::int2, 1);
SELECT count(*) FROM lrml.train_recommender('vc',
  'SELECT user_id::varchar AS u, item_id::varchar(10) AS i, rating FROM ratings', 'u', 'i', 'rating',
  options => '{"factors": 2, "epochs": 3}');
SELECT pg_typeof(item_id), item_id FROM lrml.recommend('vc', '2'::varchar, 1);
-- evaluate on rating rows: rmse, mae; on interaction rows: ranking metrics
SELECT metric, round(value::numeric, 4) FROM lrml.evaluate('cold', 'ratings') ORDER BY metric;
-- without a relation, the role that trained it evaluates on its source
SELECT metric, round(value::numeric, 4) FROM lrml.evaluate('cold') ORDER BY metric;
-- the schedule preview takes a recommender's options and defaults
SELECT epoch, round(lr::numeric, 6) AS lr FROM lrml.schedule('{"model": "mf", "epochs": 3}', 3);
-- user 1 has not seen only 103: one hit in two places; no negatives, so no auc
SELECT metric, round(value::numeric, 4)
FROM lrml.evaluate('cold', 'SELECT 1 AS user_id, 103 AS item_id', '{"k": 2}') ORDER BY metric;
-- with a threshold, rating rows also give the ranking metrics of the rows at or above it
SELECT metric, round(value::numeric, 4)
FROM lrml.evaluate('cold', 'SELECT * FROM (VALUES (1, 103, 5.0), (2, 102, 1.0)) v (user_id, item_id, rating)', '{"threshold": 4}') ORDER BY metric;

-- implicit feedback (bpr): interaction rows, every row a positive
CREATE TABLE clicks AS
SELECT u, i FROM generate_series(1, 6) u, generate_series(1, 8) i
WHERE (u + i) % 3 <> 0;
-- user 9 has every item: the sampler must not hang, and recommends nothing
INSERT INTO clicks SELECT 9, i FROM generate_series(1, 8) i;
SELECT count(*) AS epochs, bool_and(train_loss < 'Infinity') AS finite,
       bool_and(valid_metric BETWEEN 0 AND 1) AS auc_in_range
FROM lrml.train_recommender('clk', 'clicks', 'u', 'i',
  options => '{"model": "bpr", "factors": 4, "epochs": 20, "validation_fraction": 0.2, "seed": 2}');
SELECT count(*) FROM lrml.recommend('clk', 9, 5);
-- user 1 gets the three items it has not clicked
SELECT count(*) AS n, bool_and((1 + item_id) % 3 = 0) AS unseen
FROM lrml.recommend('clk', 1, 5);
SELECT options - 'seed' AS options, metrics->'valid_rows' AS valid_rows,
       metrics ? 'valid_auc' AS has_auc
FROM lrml.models WHERE name = 'clk';
-- evaluate on interaction rows gives the ranking metrics only
SELECT array_agg(metric ORDER BY metric) FROM lrml.evaluate('clk', 'clicks', '{"k": 3}');
-- ratings with a positive_threshold: ratings below it are not positives
SELECT count(*) FROM lrml.train_recommender('cold_bpr', 'ratings', 'user_id', 'item_id', 'rating',
  options => '{"model": "bpr", "positive_threshold": 4, "factors": 2, "epochs": 5}');
SELECT (metrics->>'rows')::int AS rows, (metrics->>'positives')::int AS positives
FROM lrml.models WHERE name = 'cold_bpr';
-- seen items are all the user's rows: user 1 rated 102 below the threshold
SELECT item_id FROM lrml.recommend('cold_bpr', 1, 3) ORDER BY rank;
SELECT * FROM lrml.train_recommender('e', 'ratings', 'user_id', 'item_id', 'rating',
  options => '{"model": "bpr"}');
SELECT * FROM lrml.train_recommender('e', 'clicks', 'u', 'i',
  options => '{"model": "bpr", "positive_threshold": 4}');
SELECT * FROM lrml.train_recommender('e', 'ratings', 'user_id', 'item_id', 'rating',
  options => '{"model": "bpr", "positive_threshold": 9}');
-- every user has every item: nothing to rank, an error, not an empty model
SELECT * FROM lrml.train_recommender('e', 'SELECT u AS user_id, i AS item_id FROM generate_series(1, 3) u, generate_series(1, 4) i',
  'user_id', 'item_id', options => '{"model": "bpr", "epochs": 2}');
SELECT * FROM lrml.train_recommender('e', 'ratings', 'user_id', 'item_id', 'rating',
  options => '{"negatives": 2}');

-- early stopping needs validation rows, which recommenders hold none of by default
SELECT count(*) AS epochs FROM lrml.train_recommender('cold_es', 'ratings', 'user_id', 'item_id', 'rating',
  options => '{"epochs": 3, "factors": 2, "early_stopping": true}');
SELECT lrml.drop_model('cold_es');

-- errors: bad options, types and arguments
SELECT * FROM lrml.train_recommender('e', 'ratings', 'user_id', 'item_id', 'rating', options => '{"l2": 0.1}');
SELECT * FROM lrml.train_recommender('e', 'ratings', 'user_id', 'item_id', 'rating', options => '{"batch_size": 10}');
SELECT * FROM lrml.train_recommender('e', 'ratings', 'user_id', 'item_id', 'rating', options => '{"optimizer": "adam"}');
SELECT * FROM lrml.train_recommender('e', 'ratings', 'user_id', 'item_id', 'rating', options => '{"optimizer": "sgd", "momentum": 0.9}');
SELECT * FROM lrml.train_recommender('e', 'ratings', 'user_id', 'item_id', 'rating', options => '{"model": "logistic"}');
SELECT * FROM lrml.train_recommender('e', 'ratings', 'user_id', 'item_id', 'rating', options => '{"factors": 0}');
SELECT * FROM lrml.train_recommender('e', 'ratings', 'user_id', 'item_id', 'rating', options => '{"factorz": 3}');
SELECT * FROM lrml.train_recommender('e', 'ratings', 'user_id', 'item_id');
SELECT * FROM lrml.train_recommender('e', 'ratings', 'user_id', 'nope', 'rating');
SELECT * FROM lrml.train('e', 'ratings', 'rating', options => '{"model": "mf"}');
SELECT * FROM lrml.train('e', 'ratings', 'rating', options => '{"factors": 3}');
CREATE TABLE mixed (u int, i text, r float8);
INSERT INTO mixed VALUES (1, 'a', 1);
SELECT * FROM lrml.train_recommender('e', 'mixed', 'u', 'i', 'r');
CREATE TABLE odd_ids (u float8, i float8, r float8);
INSERT INTO odd_ids VALUES (1, 2, 1);
SELECT * FROM lrml.train_recommender('e', 'odd_ids', 'u', 'i', 'r');
CREATE TABLE nan_ratings (u int, i int, r float8);
INSERT INTO nan_ratings VALUES (1, 2, 'NaN');
SELECT * FROM lrml.train_recommender('e', 'nan_ratings', 'u', 'i', 'r');
CREATE TABLE null_ratings (u int, i int, r float8);
INSERT INTO null_ratings VALUES (1, NULL, 3), (NULL, 2, 3), (1, 2, NULL);
SELECT * FROM lrml.train_recommender('e', 'null_ratings', 'u', 'i', 'r');
BEGIN READ ONLY;
SELECT * FROM lrml.train_recommender('e', 'ratings', 'user_id', 'item_id', 'rating');
ROLLBACK;
SELECT count(*) FROM lrml.model_names WHERE name = 'e';
-- scoring: the wrong id type, the wrong kind of model, a negative k
SELECT lrml.predict_rating('cold', 'a'::text, 'b'::text);
SELECT * FROM lrml.recommend('cold', 1, -1);
SELECT lrml.predict('cold', ARRAY[1.0]);
CREATE TABLE lin (x float8, y float8);
INSERT INTO lin SELECT g, 2 * g FROM generate_series(1, 20) g;
SELECT count(*) FROM lrml.train('lin', 'lin', 'y', options => '{"model": "linear", "epochs": 2}');
SELECT lrml.predict_rating('lin', 1, 2);
SELECT * FROM lrml.evaluate('cold', 'ratings', '{"kk": 3}');
SELECT * FROM lrml.evaluate('cold', 'ratings', '{"k": 0}');
-- a damaged payload is reported, never trusted
SELECT count(*) FROM lrml.train_recommender('damaged', 'ratings', 'user_id', 'item_id', 'rating',
  options => '{"factors": 2, "epochs": 2}');
UPDATE lrml.models SET parameters = substring(parameters FROM 1 FOR 60) WHERE name = 'damaged';
SELECT lrml.predict_rating('damaged', 1, 101);
-- text ids need a typed argument: an untyped literal has no type to give
SELECT * FROM lrml.recommend('trec', 'u1');
-- NULL arguments of the strict scoring functions give NULL or no rows
SELECT lrml.predict_rating('cold', NULL::int, 101);
SELECT count(*) FROM lrml.recommend('cold', NULL::int);

SELECT lrml.drop_model(name) FROM lrml.model_names ORDER BY name;
SELECT count(*) FROM lrml.factors;
DROP TABLE clicks, noisy, split_curve, ratings, big_ratings, big_curve, small_curve, text_ratings, big_ids,
  mixed, odd_ids, nan_ratings, null_ratings, lin;
