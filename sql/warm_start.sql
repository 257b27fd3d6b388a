-- warm start: continue a stored version on new rows
SET extra_float_digits = 0;

-- the real churn table, split by area code into an old and a new period;
-- the new period is split again into rows to train on and held-out rows
\i test/data/mlc_churn.sql
CREATE TABLE ws_rows AS SELECT row_number() OVER () AS id, * FROM mlc_churn;
CREATE VIEW ws_old AS
SELECT state, account_length, international_plan, voice_mail_plan,
       number_vmail_messages, total_day_minutes, total_day_calls,
       total_eve_minutes, total_eve_calls, total_night_minutes,
       total_night_calls, total_intl_minutes, total_intl_calls,
       number_customer_service_calls, churn
FROM ws_rows WHERE area_code <> 'area_code_415';
CREATE VIEW ws_new AS
SELECT state, account_length, international_plan, voice_mail_plan,
       number_vmail_messages, total_day_minutes, total_day_calls,
       total_eve_minutes, total_eve_calls, total_night_minutes,
       total_night_calls, total_intl_minutes, total_intl_calls,
       number_customer_service_calls, churn
FROM ws_rows WHERE area_code = 'area_code_415' AND id % 5 <> 0;
CREATE VIEW ws_held AS
SELECT * FROM ws_rows WHERE area_code = 'area_code_415' AND id % 5 = 0;
SELECT (SELECT count(*) FROM ws_old) AS old_rows, (SELECT count(*) FROM ws_new) AS new_rows,
       (SELECT count(*) FROM ws_held) AS held_rows;

-- a model of the old period, then three epochs on the new rows from it and
-- from scratch: the warm start begins lower and scores the held-out rows
-- at least as well
SELECT count(*) FROM lrml.train(model => 'ws', relation => 'ws_old', label => 'churn');
CREATE TABLE ws_warm AS
SELECT * FROM lrml.train(model => 'ws', relation => 'ws_new', label => 'churn',
                         options => '{"warm_start": true, "epochs": 3, "learning_rate": 0.003}');
CREATE TABLE ws_cold AS
SELECT * FROM lrml.train(model => 'ws_cold', relation => 'ws_new', label => 'churn',
                         options => '{"epochs": 3, "learning_rate": 0.003}');
SELECT w.epoch, w.event, w.train_loss < c.train_loss AS warm_loss_lower
FROM ws_warm w JOIN ws_cold c USING (epoch) ORDER BY epoch;
SELECT (SELECT value FROM lrml.evaluate('ws', 'ws_held') WHERE metric = 'auc') >=
       (SELECT value FROM lrml.evaluate('ws_cold', 'ws_held') WHERE metric = 'auc')
       AS warm_scores_held_out_as_well;
-- the lineage: version 2 began from version 1, and says so in its log
SELECT version, parent_version, options->'warm_start' AS warm_start,
       options->'epochs' AS epochs
FROM lrml.models WHERE name = 'ws' ORDER BY version;
SELECT l.epoch, l.event FROM lrml.training_log l JOIN lrml.models m ON m.id = l.model_id
WHERE m.name = 'ws' AND m.version = 2 ORDER BY l.epoch;
-- new rows are encoded with the stored means and scales
SELECT (SELECT features FROM lrml.models WHERE name = 'ws' AND version = 1)->'columns'
     = (SELECT features FROM lrml.models WHERE name = 'ws' AND version = 2)->'columns'
       AS same_encoding;

-- "epochs": 0 stores a copy that predicts exactly as the original, with
-- the same optimizer state; "reset_optimizer" starts a fresh state
SELECT count(*) AS log_rows FROM lrml.train(model => 'ws', relation => 'ws_new', label => 'churn',
                                            options => '{"warm_start": 2, "epochs": 0}');
CREATE TABLE ws_v3 AS SELECT row_number() OVER () AS k, lrml.predict('ws', h) AS p FROM ws_held h;
SELECT lrml.deploy('ws', 2);
CREATE TABLE ws_v2 AS SELECT row_number() OVER () AS k, lrml.predict('ws', h) AS p FROM ws_held h;
SELECT lrml.deploy('ws', NULL);
SELECT bool_and(a.p = b.p) AS copy_predicts_exactly FROM ws_v3 a JOIN ws_v2 b USING (k);
SELECT a.optimizer_state = b.optimizer_state AS same_optimizer_state,
       b.parent_version
FROM lrml.models a, lrml.models b
WHERE a.name = 'ws' AND a.version = 2 AND b.name = 'ws' AND b.version = 3;
SELECT count(*) FROM lrml.train(model => 'ws', relation => 'ws_new', label => 'churn',
                                options => '{"warm_start": 2, "epochs": 0, "reset_optimizer": true}');
SELECT a.optimizer_state <> b.optimizer_state AS fresh_optimizer_state
FROM lrml.models a, lrml.models b
WHERE a.name = 'ws' AND a.version = 2 AND b.name = 'ws' AND b.version = 4;

-- categories that the version has not seen: a NOTICE, scored as unseen;
-- extend_categories gives them inputs of their own with weight 0
CREATE TABLE ws_cat (id int, color text, x float8, y boolean);
INSERT INTO ws_cat SELECT g, CASE WHEN g % 2 = 0 THEN 'red' ELSE 'blue' END,
       (g % 10) / 10.0, (g % 10) >= 5 FROM generate_series(1, 200) g;
CREATE TABLE ws_cat_new (id int, color text, x float8, y boolean);
INSERT INTO ws_cat_new SELECT g, CASE WHEN g % 3 = 0 THEN 'green' WHEN g % 3 = 1 THEN 'red' ELSE NULL END,
       (g % 10) / 10.0, (g % 10) >= 4 FROM generate_series(1, 90) g;
SELECT count(*) FROM lrml.train('wsc', 'ws_cat', 'y', ARRAY['color', 'x'], '{"epochs": 5, "seed": 2}');
SELECT count(*) FROM lrml.train('wsc', 'ws_cat_new', 'y', NULL, '{"warm_start": true, "epochs": 2, "seed": 2}');
SELECT features->'columns'->0->'categories' AS categories FROM lrml.models WHERE name = 'wsc' ORDER BY version;
SELECT count(*) FROM lrml.train('wsc', 'ws_cat_new', 'y', NULL,
  '{"warm_start": 1, "epochs": 0, "extend_categories": true}');
SELECT features->'columns'->0->'categories' AS categories FROM lrml.models WHERE name = 'wsc' AND version = 3;
-- the added inputs weigh 0: the copy scores every row as version 1 does
CREATE TABLE wsc_scores AS
SELECT c.id, lrml.predict('wsc', c) AS v3 FROM ws_cat_new c;
SELECT lrml.deploy('wsc', 1);
SELECT bool_and(abs(s.v3 - lrml.predict('wsc', c)) < 1e-12) AS zero_weights
FROM ws_cat_new c JOIN wsc_scores s USING (id);
SELECT lrml.deploy('wsc', NULL);

-- a linear model keeps its target scaling
SELECT count(*) FROM lrml.train('wsl', 'SELECT x, 3 * x + 1 AS t FROM ws_cat', 't', NULL,
                                '{"model": "linear", "epochs": 20, "seed": 1}');
SELECT count(*) FROM lrml.train('wsl', 'SELECT x, 3 * x + 2 AS t FROM ws_cat', 't', NULL,
                                '{"warm_start": true, "epochs": 0}');
CREATE TABLE wsl_v2 AS SELECT lrml.predict('wsl', ARRAY[0.5]) AS p;
SELECT lrml.deploy('wsl', 1);
SELECT lrml.predict('wsl', ARRAY[0.5]) = p AS same_prediction FROM wsl_v2;
SELECT lrml.deploy('wsl', NULL);
SELECT kind, parent_version FROM lrml.models WHERE name = 'wsl' ORDER BY version;

-- a search can fine-tune from a version: every trial starts from it
SELECT count(*) AS trials, count(*) FILTER (WHERE best) AS n_best
FROM lrml.tune('wsc', 'ws_cat_new', 'y', NULL,
  '{"method": "grid", "space": {"learning_rate": [0.001, 0.01]}}', '{"warm_start": 1, "epochs": 2}');
SELECT version, parent_version FROM lrml.models WHERE name = 'wsc' ORDER BY version;

-- what cannot be continued is an error naming the difference; nothing is stored
CREATE TABLE ws_counts AS SELECT count(*) AS n FROM lrml.models;
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', NULL, '{"warm_start": true, "model": "linear"}');
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', ARRAY['color', 'x', 'id'], '{"warm_start": true}');
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', ARRAY['color'], '{"warm_start": true}');
SELECT * FROM lrml.train('wsc', 'SELECT color, y FROM ws_cat_new', 'y', NULL, '{"warm_start": true}');
SELECT * FROM lrml.train('wsc', 'SELECT color, x::text AS x, y FROM ws_cat_new', 'y', NULL, '{"warm_start": true}');
SELECT * FROM lrml.train('wsc', 'SELECT color, x, CASE WHEN y THEN ''yes'' ELSE ''maybe'' END AS y FROM ws_cat_new', 'y', NULL, '{"warm_start": true}');
-- new rows of one class: the error of a cold start
SELECT * FROM lrml.train('wsc', 'SELECT color, x, true AS y FROM ws_cat_new', 'y', NULL, '{"warm_start": true}');
SELECT * FROM lrml.train('wsc', 'SELECT color, x, NOT y AS y FROM ws_cat_new', 'y', NULL, '{"warm_start": true, "positive_class": "false"}');
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', NULL, '{"warm_start": true, "optimizer": "sgd"}');
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', NULL, '{"warm_start": 99}');
SELECT * FROM lrml.train('no_such_model', 'ws_cat_new', 'y', NULL, '{"warm_start": true}');
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', NULL, '{"warm_start": 0}');
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', NULL, '{"warm_start": "latest"}');
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', NULL, '{"reset_optimizer": true}');
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', NULL, '{"extend_categories": true}');
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', NULL, '{"epochs": 0}');
SELECT * FROM lrml.lr_find('ws_cat_new', 'y', NULL, '{"warm_start": true}');
SELECT (SELECT count(*) FROM lrml.models) = n AS nothing_stored FROM ws_counts;

-- an mlp continues with its layers; extended inputs start at weight 0
SELECT count(*) FROM lrml.train('wsm', 'ws_cat', 'y', ARRAY['color', 'x'],
  '{"model": "mlp", "hidden": [8], "epochs": 5, "seed": 2}');
SELECT count(*) FROM lrml.train('wsm', 'ws_cat_new', 'y', NULL,
  '{"warm_start": 1, "epochs": 0, "extend_categories": true}');
CREATE TABLE wsm_scores AS SELECT c.id, lrml.predict('wsm', c) AS v2 FROM ws_cat_new c;
SELECT lrml.deploy('wsm', 1);
SELECT bool_and(abs(s.v2 - lrml.predict('wsm', c)) < 1e-12) AS same_scores
FROM ws_cat_new c JOIN wsm_scores s USING (id);
SELECT lrml.deploy('wsm', NULL);
SELECT count(*) FROM lrml.train('wsm', 'ws_cat_new', 'y', NULL,
  '{"warm_start": 2, "epochs": 3, "learning_rate": 0.003}');
SELECT version, kind, parent_version, options->'hidden' AS hidden
FROM lrml.models WHERE name = 'wsm' ORDER BY version;
SELECT * FROM lrml.train('wsm', 'ws_cat_new', 'y', NULL, '{"warm_start": true, "hidden": [4]}');

-- the new label must name the two classes one to one; a boolean model
-- takes 'true'/'false' text; positive_class must be the version's
SELECT count(*) FROM lrml.train('wsl2', 'SELECT id, color, x, CASE WHEN y THEN ''yes'' ELSE ''no'' END AS y FROM ws_cat',
  'y', NULL, '{"epochs": 3}');
SELECT * FROM lrml.train('wsl2', 'SELECT id, color, x, CASE WHEN y THEN ''yes'' ELSE ''YES'' END AS y FROM ws_cat',
  'y', NULL, '{"warm_start": 1, "epochs": 1}');
SELECT * FROM lrml.train('wsl2', 'SELECT id, color, x, CASE WHEN y THEN ''no'' ELSE ''NO'' END AS y FROM ws_cat',
  'y', NULL, '{"warm_start": 1, "epochs": 1}');
SELECT count(*) FROM lrml.train('wsc', 'SELECT color, x, y::text AS y FROM ws_cat_new', 'y', NULL,
  '{"warm_start": 1, "epochs": 1}');
SELECT count(*) FROM lrml.train('wsc', 'SELECT color, x, y::int AS y FROM ws_cat_new', 'y', NULL,
  '{"warm_start": 1, "epochs": 1, "positive_class": "1"}');
-- a regression has no positive class
SELECT count(*) FROM lrml.train('wsr', 'SELECT x, (x * 10)::int AS t FROM ws_cat', 't', NULL,
  '{"model": "mlp", "hidden": [4], "epochs": 2}');
SELECT * FROM lrml.train('wsr', 'SELECT x, (x * 10)::int AS t FROM ws_cat', 't', NULL,
  '{"warm_start": true, "positive_class": "1"}');

-- a warm start near a minimum is not taken for a divergence: its first
-- batch's loss is tiny, and the rule measures from a cold start's
SELECT count(*) FROM lrml.train('wsfit', 'SELECT x, 3 * x + 1 AS t FROM ws_cat', 't', NULL,
  '{"model": "linear", "epochs": 60, "seed": 1}');
SELECT count(*) AS epochs, count(event) FILTER (WHERE event LIKE '%diverged%') AS diverged
FROM lrml.train('wsfit', 'SELECT x, 3 * x + 1 AS t FROM ws_cat', 't', NULL,
  '{"warm_start": true, "epochs": 3, "learning_rate": 0.001, "reset_optimizer": true, "divergence": "error"}');

-- a copy is scored as it stands
SELECT (metrics->>'valid_loss')::float8 > 0 AS scored, metrics->'epochs' AS epochs, metrics->'kept_epoch' AS kept
FROM lrml.models WHERE name = 'ws' AND version = 3;

-- the NOTICE counts each row once, however many of its columns are new
CREATE TABLE ws_two (a text, b text, y boolean);
INSERT INTO ws_two SELECT CASE WHEN g % 2 = 0 THEN 'p' ELSE 'q' END, CASE WHEN g % 3 = 0 THEN 'r' ELSE 's' END, g % 5 < 2
FROM generate_series(1, 60) g;
SELECT count(*) FROM lrml.train('ws2', 'ws_two', 'y', NULL, '{"epochs": 2}');
SELECT count(*) FROM lrml.train('ws2', 'SELECT ''new'' AS a, ''new'' AS b, y FROM ws_two WHERE a = ''p''
  UNION ALL SELECT a, b, y FROM ws_two', 'y', NULL, '{"warm_start": true, "epochs": 1}');
SELECT count(*) FROM lrml.train('ws2', 'SELECT * FROM (SELECT ''new'' AS a, b, y FROM ws_two LIMIT 1) n
  UNION ALL SELECT a, b, y FROM ws_two', 'y', NULL, '{"warm_start": true, "epochs": 1}');

-- extending past the category limit fails and stores nothing
CREATE TABLE ws_many AS SELECT 'n' || g AS k, g % 3 = 0 AS y FROM generate_series(1, 6000) g;
CREATE TABLE ws_more AS SELECT 'm' || g AS k, g % 3 = 0 AS y FROM generate_series(1, 6000) g;
CREATE VIEW ws_two_k AS SELECT a AS k, y FROM ws_two;
SELECT count(*) FROM lrml.train('wsk', 'ws_two_k', 'y', NULL, '{"epochs": 1}');
SELECT count(*) FROM lrml.train('wsk', 'ws_many', 'y', NULL,
  '{"warm_start": true, "epochs": 0, "extend_categories": true, "validation_fraction": 0}');
SELECT * FROM lrml.train('wsk', 'ws_more', 'y', NULL,
  '{"warm_start": true, "epochs": 0, "extend_categories": true, "validation_fraction": 0}');
SELECT max(version) AS versions FROM lrml.models WHERE name = 'wsk';

-- a search whose trials cannot all continue the version records them as failed
SELECT trial, params, valid_loss IS NULL AS failed
FROM lrml.tune('wsc', 'ws_cat_new', 'y', NULL,
  '{"method": "grid", "space": {"optimizer": ["sgd", "adam"]}}', '{"warm_start": 1, "epochs": 2}')
ORDER BY trial;

-- options are read before the version is looked for; features as in training
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', NULL, '{"warm_start": 77, "bogus": 1}');
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', ARRAY['color', 'x', 'x'], '{"warm_start": true}');
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', ARRAY['color', NULL], '{"warm_start": true}');
-- a hand-edited version is refused as corrupt
UPDATE lrml.models SET kind = 'mlp' WHERE name = 'wsc' AND version = 1;
SELECT * FROM lrml.train('wsc', 'ws_cat_new', 'y', NULL, '{"warm_start": 1}');
UPDATE lrml.models SET kind = 'logistic' WHERE name = 'wsc' AND version = 1;
SELECT * FROM lrml.train('wsm', 'ws_cat_new', 'y', NULL, '{"warm_start": 1, "model": "logistic"}');
