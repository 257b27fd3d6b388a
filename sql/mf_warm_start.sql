-- warm start of recommenders: new ratings, some from new users and items
SET extra_float_digits = 0;

-- ratings of a rank-2 taste model, rounded to 1..5; the old period has
-- users 1..150 and items 1..50, the new one adds users 151..200 and
-- items 51..60, and rates other pairs of old users too
CREATE TABLE mw_all AS
SELECT u AS user_id, i AS item_id,
       least(5, greatest(1, round(3 + 1.6 * sin(u * 0.37) * cos(i * 0.71)
                                  + 1.2 * cos(u * 0.53) * sin(i * 0.29))))::float8 AS rating
FROM generate_series(1, 200) u, generate_series(1, 60) i
WHERE (u * 7 + i * 3) % 2 = 0;
CREATE VIEW mw_old AS SELECT * FROM mw_all
WHERE user_id <= 150 AND item_id <= 50 AND (user_id + item_id) % 3 <> 0;
CREATE VIEW mw_new AS SELECT * FROM mw_all
WHERE (user_id > 150 OR item_id > 50 OR (user_id + item_id) % 3 = 0)
  AND (user_id * 31 + item_id) % 5 <> 0;
CREATE VIEW mw_held AS SELECT * FROM mw_all
WHERE (user_id > 150 OR item_id > 50 OR (user_id + item_id) % 3 = 0)
  AND (user_id * 31 + item_id) % 5 = 0;
SELECT (SELECT count(*) FROM mw_old) AS old_rows, (SELECT count(*) FROM mw_new) AS new_rows,
       (SELECT count(*) FROM mw_held) AS held_rows;

-- a model of the old period; three epochs on the new ratings from it and
-- from scratch: the warm start begins lower and scores the held-out
-- ratings at least as well
SELECT count(*) FROM lrml.train_recommender('mw', 'mw_old', 'user_id', 'item_id', 'rating',
  options => '{"factors": 4, "epochs": 40, "seed": 1}');
CREATE TABLE mw_warm AS SELECT * FROM lrml.train_recommender('mw', 'mw_new', 'user_id', 'item_id', 'rating',
  options => '{"warm_start": true, "epochs": 3, "seed": 1}');
CREATE TABLE mw_cold AS SELECT * FROM lrml.train_recommender('mw_cold', 'mw_new', 'user_id', 'item_id', 'rating',
  options => '{"factors": 4, "epochs": 3, "seed": 1}');
SELECT w.epoch, w.event, w.train_loss < c.train_loss AS warm_loss_lower
FROM mw_warm w JOIN mw_cold c USING (epoch) ORDER BY epoch;
SELECT (SELECT value FROM lrml.evaluate('mw', 'mw_held') WHERE metric = 'rmse') <=
       (SELECT value FROM lrml.evaluate('mw_cold', 'mw_held') WHERE metric = 'rmse')
       AS warm_scores_held_out_as_well;
-- new users and items get factors of their own; the lineage is recorded
SELECT m.version, m.parent_version, options->'factors' AS factors,
       m.metrics->'warm_start' AS warm_start,
       count(*) FILTER (WHERE f.side = 'user') AS users,
       count(*) FILTER (WHERE f.side = 'item') AS items
FROM lrml.models m JOIN lrml.factors f ON f.model_id = m.id
WHERE m.name = 'mw' GROUP BY m.version, m.parent_version, m.options, m.metrics
ORDER BY m.version;
-- seen items are those of both periods' rows
SELECT count(*) AS recommended_seen
FROM generate_series(1, 150) u, LATERAL lrml.recommend('mw', u, 10) r
WHERE EXISTS (SELECT 1 FROM mw_all a WHERE a.user_id = u AND a.item_id = r.item_id
              AND (a.item_id, a.user_id) IN (SELECT item_id, user_id FROM mw_old
                                              UNION SELECT item_id, user_id FROM mw_new));

-- "epochs": 0 stores a copy: the same factors and predictions
SELECT count(*) AS log_rows FROM lrml.train_recommender('mw', 'mw_new', 'user_id', 'item_id', 'rating',
  options => '{"warm_start": 2, "epochs": 0}');
SELECT bool_and(a.bias = b.bias AND a.factors = b.factors) AS same_factors, count(*) AS rows
FROM lrml.factors a JOIN lrml.models ma ON ma.id = a.model_id AND ma.name = 'mw' AND ma.version = 2
JOIN lrml.factors b ON b.side = a.side AND b.id = a.id
JOIN lrml.models mb ON mb.id = b.model_id AND mb.name = 'mw' AND mb.version = 3;
SELECT a.optimizer_state = b.optimizer_state AS same_optimizer_state
FROM lrml.models a, lrml.models b
WHERE a.name = 'mw' AND a.version = 2 AND b.name = 'mw' AND b.version = 3;
CREATE TABLE mw_v3 AS SELECT user_id, item_id, lrml.predict_rating('mw', user_id, item_id) AS p FROM mw_held;
SELECT lrml.deploy('mw', 2);
SELECT bool_and(lrml.predict_rating('mw', user_id, item_id) = p) AS same_predictions FROM mw_v3;
SELECT lrml.deploy('mw', NULL);

-- implicit feedback continues too
SELECT count(*) FROM lrml.train_recommender('mwb', 'mw_old', 'user_id', 'item_id', NULL,
  options => '{"model": "bpr", "factors": 4, "epochs": 5, "seed": 1}');
SELECT count(*) AS epochs, min(event) AS first_event
FROM lrml.train_recommender('mwb', 'mw_new', 'user_id', 'item_id', NULL,
  options => '{"warm_start": true, "epochs": 2}');
SELECT kind, parent_version FROM lrml.models WHERE name = 'mwb' ORDER BY version;

-- what cannot continue is an error before training; nothing is stored
CREATE TABLE mw_counts AS SELECT count(*) AS n FROM lrml.models;
SELECT * FROM lrml.train_recommender('mw', 'mw_new', 'user_id', 'item_id', 'rating',
  options => '{"warm_start": true, "factors": 16}');
SELECT * FROM lrml.train_recommender('mw', 'mw_new', 'user_id', 'item_id', NULL,
  options => '{"warm_start": true, "model": "bpr"}');
SELECT * FROM lrml.train_recommender('mwb', 'mw_new', 'user_id', 'item_id', 'rating',
  options => '{"warm_start": true, "model": "bpr", "positive_threshold": 4}');
SELECT * FROM lrml.train_recommender('mw', 'SELECT user_id::text AS user_id, item_id::text AS item_id, rating FROM mw_new',
  'user_id', 'item_id', 'rating', options => '{"warm_start": true}');
SELECT * FROM lrml.train_recommender('mw', 'mw_new', 'user_id', 'item_id', 'rating',
  options => '{"warm_start": true, "optimizer": "adagrad"}');
-- users and items swapped, or read from columns of other names
SELECT * FROM lrml.train_recommender('mw', 'mw_new', 'item_id', 'user_id', 'rating',
  options => '{"warm_start": true}');
SELECT * FROM lrml.train_recommender('mw', 'SELECT user_id AS customer, item_id, rating FROM mw_new',
  'customer', 'item_id', 'rating', options => '{"warm_start": true}');
SELECT * FROM lrml.train_recommender('mw', 'mw_new', 'user_id', 'item_id', 'rating',
  options => '{"warm_start": true, "extend_categories": true}');
SELECT count(*) FROM lrml.train('mw_clf', 'SELECT rating, user_id, rating > 3 AS liked FROM mw_old', 'liked', NULL, '{"epochs": 1}');
SELECT * FROM lrml.train_recommender('mw_clf', 'mw_new', 'user_id', 'item_id', 'rating',
  options => '{"warm_start": true}');
SELECT * FROM lrml.tune('mw', 'mw_new', 'rating', NULL,
  '{"method": "grid", "space": {"factors": [4, 8]}}', '{"model": "mf"}');
SELECT (SELECT count(*) FROM lrml.models) = n + 1 AS only_the_classifier_stored FROM mw_counts;
-- one name holds recommenders or models of rows, not both; columns differ
SELECT * FROM lrml.train_recommender('mw_clf', 'mw_new', 'user_id', 'item_id', 'rating',
  options => '{"epochs": 1}');
SELECT * FROM lrml.train('mw', 'SELECT rating, user_id, rating > 3 AS liked FROM mw_old', 'liked', NULL, '{"epochs": 1}');
SELECT * FROM lrml.train_recommender('mw_same', 'mw_new', 'user_id', 'user_id', 'rating');
SELECT * FROM lrml.train_recommender('mw_same', 'mw_new', 'user_id', 'item_id', 'item_id');
