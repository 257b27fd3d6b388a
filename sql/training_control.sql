-- training that watches itself: plateau cuts, early stopping, divergence back-off, verbose
SET extra_float_digits = 0;

-- a table whose validation loss cannot improve (C02, C10)
CREATE TABLE flat40 (id int, x1 float8, churned boolean);
INSERT INTO flat40 SELECT g, CASE WHEN g % 2 = 0 THEN 1.0 ELSE -1.0 END, (g % 4) < 2
FROM generate_series(1, 40) g;

-- plateau: more than patience flat epochs cut the rate from the next epoch (C02)
SELECT epoch, round(lr::numeric, 6) AS lr, event
FROM lrml.train('plat', 'flat40', 'churned', ARRAY['x1'],
  '{"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 64, "epochs": 10, "seed": 1,
    "schedule": {"name": "plateau", "factor": 0.1, "patience": 2, "cooldown": 0, "threshold": 1e-4, "min_lr": 0}}')
ORDER BY epoch;
-- the log holds the same rates and events
SELECT l.epoch, round(l.lr::numeric, 6) AS lr, l.event
FROM lrml.training_log l JOIN lrml.models m ON m.id = l.model_id
WHERE m.name = 'plat' AND l.event IS NOT NULL ORDER BY l.epoch;
-- min_lr clamps the fourth cut, which is then not a cut
SELECT string_agg(round(lr::numeric, 6)::text, ', ' ORDER BY epoch) AS rates,
       count(event) AS cuts
FROM lrml.train('plat_min', 'flat40', 'churned', ARRAY['x1'],
  '{"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 64, "epochs": 13, "seed": 1,
    "schedule": {"name": "plateau", "factor": 0.1, "patience": 2, "threshold": 1e-4, "min_lr": 5e-4}}');
-- cooldown 1: after a cut, one epoch is not counted
SELECT string_agg(round(lr::numeric, 6)::text, ', ' ORDER BY epoch) AS rates
FROM lrml.train('plat_cool', 'flat40', 'churned', ARRAY['x1'],
  '{"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 64, "epochs": 10, "seed": 1,
    "schedule": {"name": "plateau", "factor": 0.5, "patience": 1, "cooldown": 1}}');
-- plateau depends on the loss, so it has no preview
SELECT * FROM lrml.schedule('{"schedule": "plateau"}', 5);

-- early stopping off means every epoch runs (C10)
SELECT count(*) AS epochs, count(event) AS events
FROM lrml.train('es_off', 'flat40', 'churned', ARRAY['x1'],
  '{"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 64, "epochs": 20, "seed": 1}');
-- on: patience epochs without an improvement of min_delta stop the run,
-- and the best epoch's weights are kept
SELECT epoch, round(valid_loss::numeric, 6) AS valid_loss, event
FROM lrml.train('es_on', 'flat40', 'churned', ARRAY['x1'],
  '{"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 64, "epochs": 20, "seed": 1,
    "early_stopping": {"patience": 3, "min_delta": 0.001}}')
ORDER BY epoch;
SELECT count(*) FROM lrml.train('es_epoch0', 'flat40', 'churned', ARRAY['x1'],
  '{"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 64, "epochs": 1, "seed": 1}');
SELECT lrml.predict('es_on', ARRAY[1.0]) = lrml.predict('es_epoch0', ARRAY[1.0]) AS kept_epoch_0;
SELECT options->'early_stopping' AS early_stopping FROM lrml.models WHERE name = 'es_on';
-- "early_stopping": true takes patience 10; without validation rows it does not run
SELECT count(*) AS epochs FROM lrml.train('es_noval', 'flat40', 'churned', ARRAY['x1'],
  '{"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 64, "epochs": 15, "seed": 1,
    "early_stopping": true, "validation_fraction": 0}');
SELECT options->'early_stopping' AS early_stopping FROM lrml.models WHERE name = 'es_noval';

-- divergence: a rate of 1e6 backs off by 10 until training recovers, and
-- everything stored is finite
\i test/data/mlc_churn.sql
SELECT epoch, lr, event
FROM lrml.train('div', 'mlc_churn', 'churn', NULL,
  '{"optimizer": "sgd", "learning_rate": 1e6, "epochs": 20, "seed": 1}')
ORDER BY epoch;
-- a run that backed off keeps its best validated epoch: finite, and with
-- a validation AUC of at least 0.75
SELECT bool_and(l.train_loss IS NULL OR l.train_loss < 'Infinity') AS finite_log,
       (SELECT value FROM lrml.evaluate('div', 'mlc_churn') WHERE metric = 'auc') > 0.75 AS scores_all_rows,
       (SELECT b.valid_metric FROM lrml.training_log b
        WHERE b.model_id = m.id AND coalesce(b.event, '') NOT LIKE 'diverged%'
        ORDER BY b.valid_loss, b.epoch LIMIT 1) >= 0.75 AS kept_auc_at_least_075
FROM lrml.models m JOIN lrml.training_log l ON l.model_id = m.id
WHERE m.name = 'div' GROUP BY m.id;

-- verbose reports each epoch at INFO
SELECT count(*) FROM lrml.train('verb', 'flat40', 'churned', ARRAY['x1'],
  '{"epochs": 2, "verbose": true, "batch_size": 64, "optimizer": "sgd"}');

-- every error below stores nothing
CREATE TABLE n0 AS SELECT (SELECT count(*) FROM lrml.models) AS models,
                          (SELECT count(*) FROM lrml.training_log) AS log_rows;
-- divergence "error" fails at once, naming the epoch, the loss and the rate
SELECT * FROM lrml.train('div_err', 'mlc_churn', 'churn', NULL,
  '{"optimizer": "sgd", "learning_rate": 1e6, "epochs": 8, "seed": 1, "divergence": "error"}');
-- a run in which every epoch diverged stores nothing
SELECT * FROM lrml.train('div_all', 'mlc_churn', 'churn', NULL,
  '{"optimizer": "sgd", "learning_rate": 1e308, "epochs": 3}');
-- a schedule whose rate overflows fails, in training and in the preview
SELECT * FROM lrml.train('rate_inf', 'flat40', 'churned', ARRAY['x1'],
  '{"epochs": 3, "schedule": {"name": "step", "step_size": 1, "gamma": 1e308}}');
SELECT * FROM lrml.schedule('{"schedule": {"name": "cyclic", "max_lr": 1, "step_size": 1, "mode": "exp_range", "gamma": 1e300}}', 4);
-- bad options of the loop's own control
SELECT * FROM lrml.train('bad', 'flat40', 'churned', ARRAY['x1'], '{"divergence": "explode"}');
SELECT * FROM lrml.train('bad', 'flat40', 'churned', ARRAY['x1'], '{"early_stopping": 3}');
SELECT * FROM lrml.train('bad', 'flat40', 'churned', ARRAY['x1'], '{"early_stopping": {"patience": 0}}');
SELECT * FROM lrml.train('bad', 'flat40', 'churned', ARRAY['x1'], '{"early_stopping": {"min_delta": -1}}');
SELECT * FROM lrml.train('bad', 'flat40', 'churned', ARRAY['x1'], '{"early_stopping": {"patiense": 3}}');
SELECT * FROM lrml.train('bad', 'flat40', 'churned', ARRAY['x1'], '{"patience": 3}');
SELECT * FROM lrml.train('bad', 'flat40', 'churned', ARRAY['x1'], '{"schedule": {"name": "plateau", "factor": 1}}');
SELECT * FROM lrml.train('bad', 'flat40', 'churned', ARRAY['x1'], '{"schedule": {"name": "plateau", "patience": -1}}');
SELECT * FROM lrml.train('bad', 'flat40', 'churned', ARRAY['x1'], '{"verbose": "yes"}');
SELECT * FROM lrml.train('bad', 'flat40', 'churned', ARRAY['x1'], '{"schedule": {"name": "plateau", "min_lr": 1}}');
SELECT * FROM lrml.schedule('{"schedule": {"name": "cyclic", "max_lr": 0.1, "mode": "triangular2", "gamma": 5}}', 3);
SELECT (SELECT count(*) FROM lrml.models) = models AS no_model_stored,
       (SELECT count(*) FROM lrml.training_log) = log_rows AS no_log_stored
FROM n0;

DELETE FROM lrml.model_names;
DROP TABLE flat40, mlc_churn, n0;
