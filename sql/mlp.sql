-- lrml.train with "model": "mlp": layers, training, storage and scoring
SET extra_float_digits = 0;

-- XOR-like data: the label is the sign of x1 * x2, which no linear model
-- can separate; a text column adds one-hot inputs
CREATE TABLE mlp_xor AS
SELECT i AS id,
       ((i * 37) % 101) / 50.0 - 1.0 AS x1,
       ((i * 61) % 103) / 51.0 - 1.0 AS x2,
       (ARRAY['a', 'b', 'c'])[i % 3 + 1] AS tag,
       (((i * 37) % 101) / 50.0 - 1.0) * (((i * 61) % 103) / 51.0 - 1.0) > 0
         AS label
FROM generate_series(1, 600) AS i;
CREATE VIEW mlp_xor_features AS SELECT x1, x2, tag, label FROM mlp_xor;

-- the mlp fits what logistic regression cannot
SELECT count(*) AS epochs,
       bool_and(train_loss IS NOT NULL AND valid_loss IS NOT NULL) AS curve
FROM lrml.train(model => 'mlp_xor', relation => 'mlp_xor_features', label => 'label',
                options => '{"model": "mlp", "hidden": [16], "learning_rate": 0.03,
                             "epochs": 60, "batch_size": 32, "seed": 1}');
SELECT count(*) FROM lrml.train(model => 'mlp_xor_lr', relation => 'mlp_xor_features',
                                label => 'label', options => '{"epochs": 60, "seed": 1}');
SELECT m.metric, m.value > 0.95 AS mlp_good, l.value < 0.7 AS logistic_poor
FROM lrml.evaluate('mlp_xor', 'mlp_xor_features') m
JOIN lrml.evaluate('mlp_xor_lr', 'mlp_xor_features') l USING (metric)
WHERE metric IN ('auc', 'accuracy') ORDER BY metric;
SELECT metric FROM lrml.evaluate('mlp_xor', 'mlp_xor_features') ORDER BY metric;

-- the stored version: its kind and every mlp option, defaults filled in
SELECT kind, options->'hidden' AS hidden, options->>'activation' AS activation,
       options->'dropout' AS dropout, options->>'model' AS model,
       format_version
FROM lrml.models WHERE name = 'mlp_xor';

-- scoring by row (whole row and composite), by array and predict_class agree
SELECT count(*) AS rows,
       bool_and(abs(lrml.predict('mlp_xor', x) - lrml.predict('mlp_xor', ROW(x.x1, x.x2, x.tag, NULL)::mlp_xor_features)) < 1e-12) AS row_forms_agree,
       bool_and(abs(lrml.predict('mlp_xor', x) -
                    lrml.predict('mlp_xor', ARRAY[x.x1, x.x2, (x.tag = 'a')::int,
                                                  (x.tag = 'b')::int, (x.tag = 'c')::int]::float8[])) < 1e-12)
         AS array_agrees,
       bool_and(lrml.predict_class('mlp_xor', x) = (lrml.predict('mlp_xor', x) >= 0.5))
         AS class_agrees,
       bool_and(lrml.predict('mlp_xor', x) BETWEEN 0 AND 1) AS probabilities
FROM mlp_xor x;
-- an unseen category and NULLs score too
SELECT lrml.predict('mlp_xor', ROW(0.5, -0.5, 'zzz', NULL)::mlp_xor_features) < 0.5 AS unseen,
       lrml.predict('mlp_xor', ROW(NULL, NULL, NULL, NULL)::mlp_xor_features) BETWEEN 0 AND 1 AS nulls;

-- same data, options and seed: the same model, bit for bit
SELECT count(*) FROM lrml.train(model => 'mlp_xor_again', relation => 'mlp_xor_features',
                label => 'label',
                options => '{"model": "mlp", "hidden": [16], "learning_rate": 0.03,
                             "epochs": 60, "batch_size": 32, "seed": 1}');
SELECT a.parameters = b.parameters AS same_parameters
FROM lrml.models a, lrml.models b
WHERE a.name = 'mlp_xor' AND b.name = 'mlp_xor_again';

-- two tanh layers with dropout, sgd with momentum and a cosine schedule
SELECT count(*) AS epochs
FROM lrml.train(model => 'mlp_deep', relation => 'mlp_xor_features', label => 'label',
                options => '{"model": "mlp", "hidden": [16, 8], "activation": "tanh",
                             "dropout": 0.1, "optimizer": "sgd", "momentum": 0.9,
                             "learning_rate": 0.05, "schedule": "cosine",
                             "epochs": 80, "batch_size": 32, "seed": 2}');
SELECT value > 0.9 AS deep_good FROM lrml.evaluate('mlp_deep', 'mlp_xor_features')
WHERE metric = 'auc';
SELECT jsonb_array_length(options->'hidden') AS layers, options->>'activation' AS activation,
       options->'dropout' AS dropout
FROM lrml.models WHERE name = 'mlp_deep';

-- early stopping keeps the best epoch's weights, as for the linear models
SELECT count(*) < 500 AS stopped_early,
       bool_or(event LIKE '%restored_best%') AS restored
FROM lrml.train(model => 'mlp_es', relation => 'mlp_xor_features', label => 'label',
                options => '{"model": "mlp", "hidden": [16], "learning_rate": 0.05,
                             "epochs": 500, "batch_size": 32, "seed": 3,
                             "early_stopping": {"patience": 3}}');

-- a diverging rate backs off; the run still learns
SELECT bool_or(event LIKE '%diverged%') AS backed_off,
       bool_or(event LIKE '%restored_best%') AS restored
FROM lrml.train(model => 'mlp_wild', relation => 'mlp_xor_features', label => 'label',
                options => '{"model": "mlp", "hidden": [16], "optimizer": "sgd",
                             "learning_rate": 1000, "epochs": 10, "batch_size": 32,
                             "seed": 1}');
SELECT value > 0.9 AS wild_learned FROM lrml.evaluate('mlp_wild', 'mlp_xor_features')
WHERE metric = 'auc';

-- the range test starts from the same initialization
SELECT count(*) > 10 AS steps, count(*) FILTER (WHERE suggested) = 1 AS one_suggested
FROM lrml.lr_find(relation => 'mlp_xor_features', label => 'label',
                  options => '{"model": "mlp", "hidden": [16], "batch_size": 32, "seed": 1}');

-- a numeric label makes a regression: identity output, rmse
CREATE TABLE mlp_reg AS
SELECT id, x1, x2, 10 + 5 * x1 * x2 + 2 * x1 AS y FROM mlp_xor;
SELECT count(*) FROM lrml.train(model => 'mlp_reg', relation => 'mlp_reg', label => 'y',
                features => ARRAY['x1', 'x2'],
                options => '{"model": "mlp", "hidden": [16], "learning_rate": 0.01,
                             "epochs": 100, "batch_size": 32, "seed": 1}');
SELECT count(*) FROM lrml.train(model => 'mlp_reg_lin', relation => 'mlp_reg', label => 'y',
                features => ARRAY['x1', 'x2'], options => '{"model": "linear", "seed": 1}');
SELECT m.metric, m.value < l.value AS mlp_lower
FROM lrml.evaluate('mlp_reg', 'mlp_reg') m
JOIN lrml.evaluate('mlp_reg_lin', 'mlp_reg') l USING (metric)
WHERE metric IN ('rmse', 'mae') ORDER BY metric;
SELECT value > 0.9 AS r2_high FROM lrml.evaluate('mlp_reg', 'mlp_reg') WHERE metric = 'r2';
SELECT abs(lrml.predict('mlp_reg', ARRAY[0.5, 0.5]) - 12.25) < 0.5 AS near_truth;
SELECT bool_and(abs(lrml.predict('mlp_reg', ARRAY[r.x1, r.x2]::float8[]) -
                    lrml.predict('mlp_reg', r)) < 1e-12) AS forms_agree
FROM mlp_reg r;
SELECT options ? 'positive_class' AS has_positive, metrics ? 'valid_rmse' AS rmse_metric
FROM lrml.models WHERE name = 'mlp_reg';

-- a numeric 0/1 label with positive_class is a classifier
CREATE TABLE mlp_int AS SELECT x1, x2, label::int AS churned FROM mlp_xor;
SELECT count(*) FROM lrml.train(model => 'mlp_int', relation => 'mlp_int', label => 'churned',
                options => '{"model": "mlp", "positive_class": 1, "learning_rate": 0.03,
                             "epochs": 60, "batch_size": 32, "seed": 1}');
SELECT value > 0.95 AS int_good FROM lrml.evaluate('mlp_int', 'mlp_int') WHERE metric = 'auc';

-- class weights apply to an mlp classifier; the default layers are [32]
SELECT count(*) FROM lrml.train(model => 'mlp_weighted', relation => 'mlp_xor_features',
                label => 'label',
                options => '{"model": "mlp", "class_weight": "balanced", "learning_rate": 0.03,
                             "epochs": 60, "batch_size": 32, "seed": 1}');
SELECT options->'hidden' AS hidden, options->'class_weight' AS class_weight
FROM lrml.models WHERE name = 'mlp_weighted';
SELECT value > 0.95 AS weighted_good FROM lrml.evaluate('mlp_weighted', 'mlp_xor_features')
WHERE metric = 'auc';

-- errors: options out of range, or for another model, name the key
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"model": "mlp", "hidden": []}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"model": "mlp", "hidden": 32}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"model": "mlp", "hidden": [0]}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"model": "mlp", "hidden": [5000]}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"model": "mlp", "hidden": [2.5]}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"model": "mlp", "hidden": ["32"]}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"model": "mlp", "hidden": [1, 1, 1, 1, 1, 1, 1, 1, 1]}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"model": "mlp", "activation": "sigmoid"}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"model": "mlp", "activation": 1}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"model": "mlp", "dropout": 1}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"model": "mlp", "dropout": -0.1}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"hidden": [8]}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"model": "linear", "activation": "tanh"}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL, '{"dropout": 0.5}');
SELECT * FROM lrml.train('mlp_bad', 'mlp_reg', 'y', NULL, '{"model": "mlp", "class_weight": "balanced"}');
SELECT lrml.predict_class('mlp_reg', r) FROM mlp_reg r WHERE id = 1;
SELECT * FROM lrml.train('mlp_bad', 'mlp_xor_features', 'label', NULL,
                         '{"model": "mlp", "hidden": [4096, 4096, 4096, 4096]}');
SELECT count(*) AS bad_versions FROM lrml.models WHERE name = 'mlp_bad';

-- errors: a hand-edited payload is refused, never trusted
-- (mlp_xor: 5 inputs, hidden [16]: 5*16 + 16 + 16 + 1 = 113 parameters;
-- the mlp part starts 4 * 5 bytes before them)
BEGIN;
INSERT INTO lrml.models (name, version, kind, source, label, features, options,
                         parameters, metrics, format_version)
SELECT name, 3, kind, source, label, features, options,
       overlay(parameters PLACING '\x00000002'::bytea
               FROM length(parameters) - 113 * 8 - 20 + 1 FOR 4), metrics, 1
FROM lrml.models WHERE name = 'mlp_xor';
SELECT lrml.predict('mlp_xor', ARRAY[0.5, 0.5, 1, 0, 0]);
ROLLBACK;
BEGIN;
INSERT INTO lrml.models (name, version, kind, source, label, features, options,
                         parameters, metrics, format_version)
SELECT name, 3, kind, source, label, features, options,
       overlay(parameters PLACING '\x00000011'::bytea
               FROM length(parameters) - 113 * 8 - 8 + 1 FOR 4), metrics, 1
FROM lrml.models WHERE name = 'mlp_xor';
SELECT lrml.predict('mlp_xor', ARRAY[0.5, 0.5, 1, 0, 0]);
ROLLBACK;
BEGIN;
INSERT INTO lrml.models (name, version, kind, source, label, features, options,
                         parameters, metrics, format_version)
SELECT name, 3, kind, source, label, features, options,
       overlay(parameters PLACING '\x7fffffff'::bytea
               FROM length(parameters) - 113 * 8 - 8 + 1 FOR 4), metrics, 1
FROM lrml.models WHERE name = 'mlp_xor';
SELECT lrml.predict('mlp_xor', ARRAY[0.5, 0.5, 1, 0, 0]);
ROLLBACK;
BEGIN;
INSERT INTO lrml.models (name, version, kind, source, label, features, options,
                         parameters, metrics, format_version)
SELECT name, 3, kind, source, label, features, options,
       overlay(parameters PLACING '\x00000009'::bytea
               FROM length(parameters) - 113 * 8 - 16 + 1 FOR 4), metrics, 1
FROM lrml.models WHERE name = 'mlp_xor';
SELECT lrml.predict('mlp_xor', ARRAY[0.5, 0.5, 1, 0, 0]);
ROLLBACK;
BEGIN;
INSERT INTO lrml.models (name, version, kind, source, label, features, options,
                         parameters, metrics, format_version)
SELECT name, 3, kind, source, label, features, options,
       substring(parameters FROM 1 FOR length(parameters) - 8), metrics, 1
FROM lrml.models WHERE name = 'mlp_xor';
SELECT lrml.predict('mlp_xor', ARRAY[0.5, 0.5, 1, 0, 0]);
ROLLBACK;
BEGIN;
INSERT INTO lrml.models (name, version, kind, source, label, features, options,
                         parameters, metrics, format_version)
SELECT name, 3, kind, source, label, features, options,
       overlay(parameters PLACING '\x7ff0000000000000'::bytea
               FROM length(parameters) - 7 FOR 8), metrics, 1
FROM lrml.models WHERE name = 'mlp_xor';
SELECT lrml.predict('mlp_xor', ARRAY[0.5, 0.5, 1, 0, 0]);
ROLLBACK;
SELECT lrml.predict('mlp_xor', ARRAY[0.5, 0.5, 1, 0, 0]) BETWEEN 0 AND 1 AS still_scores;

DELETE FROM lrml.model_names;
DROP VIEW mlp_xor_features;
DROP TABLE mlp_xor, mlp_reg, mlp_int;
