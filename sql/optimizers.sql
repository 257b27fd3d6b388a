-- optimizers (sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw) and lr_scaling
SET extra_float_digits = 0;

\i test/data/mlc_churn.sql

-- every optimizer trains the churn table to a mean validation AUC of at
-- least 0.80 over five seeded splits (seeds 1..5), with the defaults
-- (50 epochs, batch_size 256, l2 1e-4, constant rate) and these settings
CREATE TABLE settings (name text PRIMARY KEY, options jsonb);
INSERT INTO settings VALUES
 ('sgd', '{"optimizer": "sgd", "learning_rate": 0.1}'),
 ('sgd_momentum', '{"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9}'),
 ('sgd_nesterov', '{"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": true}'),
 ('adagrad', '{"optimizer": "adagrad", "learning_rate": 0.1}'),
 ('rmsprop', '{"optimizer": "rmsprop", "learning_rate": 0.01}'),
 ('adam', '{"optimizer": "adam", "learning_rate": 0.01}'),
 ('adamw', '{"optimizer": "adamw", "learning_rate": 0.01}');
SELECT name, options, count(*) AS splits, avg(auc) >= 0.80 AS mean_auc_at_least_080
FROM (SELECT c.name, c.options,
             (SELECT valid_metric
              FROM lrml.train(model => 'opt_' || c.name, relation => 'mlc_churn', label => 'churn',
                              options => c.options || jsonb_build_object('seed', s))
              WHERE epoch = 49) AS auc
      FROM settings c, generate_series(1, 5) s) runs
GROUP BY name, options ORDER BY name;

-- the stored options hold each optimizer's parameters, defaults included
SELECT m.name, m.options
FROM lrml.models m WHERE m.name LIKE 'opt\_%' AND m.version = 1 ORDER BY m.name;
-- parsing the stored options again trains the same model
SELECT c.name,
       (SELECT valid_metric FROM lrml.train('again_' || c.name, 'mlc_churn', 'churn', NULL, m.options)
        WHERE epoch = 49) =
       (SELECT valid_metric FROM lrml.training_log l WHERE l.model_id = m.id AND l.epoch = 49) AS same_auc
FROM settings c JOIN lrml.models m ON m.name = 'opt_' || c.name AND m.version = 1
ORDER BY c.name;

-- adagrad on a constant column with l2 0 keeps finite weights: a
-- coordinate whose gradient is always 0 takes steps 0 / (0 + eps) (C12)
CREATE TABLE churn_const (id int PRIMARY KEY, x1 float8, x2 float8, churned boolean);
INSERT INTO churn_const VALUES
 (1,0.9,0.5,true),(2,0.8,0.5,true),(3,0.7,0.5,true),(4,0.4,0.5,true),
 (5,0.2,0.5,false),(6,0.1,0.5,false),(7,0.3,0.5,false),(8,0.6,0.5,false);
SELECT count(*) AS epochs, bool_and(train_loss < 'Infinity') AS finite_loss
FROM lrml.train('const_adagrad', 'churn_const', 'churned', ARRAY['x1', 'x2'],
  '{"optimizer": "adagrad", "l2": 0, "epochs": 10, "batch_size": 4, "seed": 1}');
SELECT lrml.predict('const_adagrad', ARRAY[0.5, 0.5]) BETWEEN 0 AND 1 AS finite,
       lrml.predict('const_adagrad', ARRAY[0.5, 0.5]) =
       lrml.predict('const_adagrad', ARRAY[0.5, 7.0]) AS constant_column_ignored,
       options->'eps' AS default_eps
FROM lrml.models WHERE name = 'const_adagrad';

-- the stored optimizer state has format version 2: a 76-byte header (rho
-- and weight_decay added), then the moment arrays of 3 parameters (x1, x2,
-- bias) this optimizer keeps: none (sgd), G (adagrad), v (rmsprop), m and
-- v (adam, adamw)
SELECT o.name, count(*) AS epochs
FROM (VALUES ('sgd'), ('adagrad'), ('rmsprop'), ('adam'), ('adamw')) o(name),
     lrml.train('state_' || o.name, 'churn_const', 'churned', ARRAY['x1', 'x2'],
                jsonb_build_object('optimizer', o.name, 'epochs', 2))
GROUP BY o.name ORDER BY o.name;
SELECT m.options->>'optimizer' AS optimizer,
       substr(m.optimizer_state, 1, 4) AS version,
       (length(m.optimizer_state) - 76) / (3 * 8) AS moment_arrays,
       (length(m.optimizer_state) - 76) % (3 * 8) = 0 AS whole_arrays
FROM lrml.models m
JOIN (VALUES ('sgd'), ('adagrad'), ('rmsprop'), ('adam'), ('adamw')) o(name)
  ON m.name = 'state_' || o.name
ORDER BY optimizer;

-- lr_scaling: batch_size 1024 over base_batch_size 256 makes the rate
-- 4 times larger (linear) or 2 times larger (sqrt); the default is none
SELECT s.scaling, p.epoch, round(p.lr::numeric, 6) AS lr
FROM (VALUES ('none'), ('linear'), ('sqrt')) s(scaling),
     lrml.schedule(jsonb_build_object('learning_rate', 0.01, 'batch_size', 1024,
                                      'base_batch_size', 256, 'lr_scaling', s.scaling)
                   - CASE WHEN s.scaling = 'none' THEN 'base_batch_size' ELSE '' END, 2) p
ORDER BY s.scaling, p.epoch;
-- it scales every rate of the schedule, warm-up included; 256 is the default base
SELECT epoch, round(lr::numeric, 6) AS lr
FROM lrml.schedule('{"learning_rate": 0.1, "batch_size": 64, "lr_scaling": "linear",
                     "warmup_epochs": 2, "schedule": {"name": "cosine", "min_lr": 0.01}}', 6)
ORDER BY epoch;
-- training uses the scaled rate and stores learning_rate as given, so the
-- stored options give the same rates again
SELECT round(lr::numeric, 6) AS lr
FROM lrml.train('scaled', 'churn_const', 'churned', ARRAY['x1'],
  '{"optimizer": "sgd", "learning_rate": 0.01, "batch_size": 512, "lr_scaling": "linear", "epochs": 1}');
SELECT options->'learning_rate' AS learning_rate, options->'lr_scaling' AS lr_scaling,
       options->'base_batch_size' AS base_batch_size
FROM lrml.models WHERE name = 'scaled';
SELECT round(lr::numeric, 6) AS lr
FROM lrml.train('scaled', 'churn_const', 'churned', ARRAY['x1'],
                (SELECT options FROM lrml.models WHERE name = 'scaled' AND version = 1));
-- without lr_scaling neither key is stored
SELECT options ? 'lr_scaling' AS has_lr_scaling, options ? 'base_batch_size' AS has_base
FROM lrml.models WHERE name = 'opt_sgd' AND version = 1;

-- every error below stores nothing
CREATE TABLE n0 AS SELECT (SELECT count(*) FROM lrml.models) AS models,
                          (SELECT count(*) FROM lrml.training_log) AS log_rows;
-- eps must be greater than 0 (C12)
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "adagrad", "eps": 0}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "adagrad", "eps": -1e-8}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "rmsprop", "eps": 0}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "rmsprop", "eps": -1e-8}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "adamw", "eps": 0}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "adamw", "eps": -1e-8}');
-- rho in [0, 1), weight_decay at least 0
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "rmsprop", "rho": 1.0}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "rmsprop", "rho": -0.1}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "adamw", "weight_decay": -1}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "adamw", "beta2": 1.0}');
-- a key of another optimizer names the key and its optimizers
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "adagrad", "momentum": 0.9}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "adam", "rho": 0.9}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "adam", "weight_decay": 0.01}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "sgd", "eps": 1e-8}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"optimizer": "rmsprop", "beta1": 0.9}');
-- lr_scaling and base_batch_size
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"lr_scaling": "cubic"}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"lr_scaling": "lineer"}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"lr_scaling": "linear", "base_batch_size": 0}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"lr_scaling": "sqrt", "base_batch_size": 2.5}');
SELECT * FROM lrml.train('bad', 'churn_const', 'churned', ARRAY['x1'], '{"base_batch_size": 128}');
SELECT * FROM lrml.schedule('{"lr_scaling": "cubic"}', 2);
SELECT (SELECT count(*) FROM lrml.models) = models AS no_model_stored,
       (SELECT count(*) FROM lrml.training_log) = log_rows AS no_log_stored
FROM n0;

DELETE FROM lrml.model_names;
DROP TABLE mlc_churn, settings, churn_const, n0;
