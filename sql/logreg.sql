-- lrml.train: logistic and linear models, schedules, optimizers, real data
SET extra_float_digits = 0;

CREATE TABLE churn (id int PRIMARY KEY, x1 float8, x2 float8, churned boolean);
INSERT INTO churn VALUES
 (1,0.9,0.1,true),(2,0.8,0.3,true),(3,0.7,0.2,true),(4,0.4,0.6,true),
 (5,0.2,0.9,false),(6,0.1,0.7,false),(7,0.3,0.8,false),(8,0.6,0.5,false);

-- the step schedule changes the rate used in training, epoch by epoch
SELECT epoch, round(lr::numeric, 6) AS lr
FROM lrml.train(model => 'sched_step', relation => 'churn', label => 'churned',
                features => ARRAY['x1', 'x2'],
                options => '{"optimizer": "sgd", "learning_rate": 0.1, "epochs": 8, "seed": 7,
                             "schedule": {"name": "step", "step_size": 3, "gamma": 0.5}}')
ORDER BY epoch;

-- the stored training log holds the same rates
SELECT l.epoch, round(l.lr::numeric, 6) AS lr
FROM lrml.training_log l JOIN lrml.models m ON m.id = l.model_id
WHERE m.name = 'sched_step' ORDER BY l.epoch;

-- exponential and cosine schedules
SELECT epoch, round(lr::numeric, 6) AS lr
FROM lrml.train(model => 'sched_exp', relation => 'churn', label => 'churned',
                features => ARRAY['x1', 'x2'],
                options => '{"optimizer": "sgd", "learning_rate": 0.1, "epochs": 5, "seed": 7,
                             "schedule": {"name": "exponential", "gamma": 0.9}}')
ORDER BY epoch;
SELECT epoch, round(lr::numeric, 6) AS lr
FROM lrml.train(model => 'sched_cos', relation => 'churn', label => 'churned',
                features => ARRAY['x1', 'x2'],
                options => '{"optimizer": "sgd", "learning_rate": 0.1, "epochs": 5, "seed": 7,
                             "schedule": {"name": "cosine", "total": 4, "min_lr": 0.01}}')
ORDER BY epoch;

-- a decaying schedule learns other weights than a constant rate
SELECT count(*) FROM lrml.train(model => 'sched_const', relation => 'churn', label => 'churned',
                features => ARRAY['x1', 'x2'],
                options => '{"optimizer": "sgd", "learning_rate": 0.1, "epochs": 8, "seed": 7}');
SELECT lrml.predict('sched_step', ARRAY[0.5, 0.5]) <> lrml.predict('sched_const', ARRAY[0.5, 0.5]) AS differs;

-- with schedule_unit "step" the rate changes inside an epoch (3 batches of 2 rows)
SELECT epoch, round(lr::numeric, 6) AS lr
FROM lrml.train(model => 'sched_unit', relation => 'churn', label => 'churned',
                features => ARRAY['x1', 'x2'],
                options => '{"optimizer": "sgd", "learning_rate": 0.1, "epochs": 3, "seed": 7, "batch_size": 2,
                             "schedule": {"name": "step", "step_size": 2, "gamma": 0.5}, "schedule_unit": "step"}')
ORDER BY epoch;

-- the curve: 6 training rows, 2 validation rows, losses fall, AUC reported
SELECT epoch, round(train_loss::numeric, 4) AS train_loss,
       round(valid_loss::numeric, 4) AS valid_loss, valid_metric, event
FROM lrml.train(model => 'curve', relation => 'churn', label => 'churned',
                features => ARRAY['x1', 'x2'],
                options => '{"optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.5, "epochs": 5, "seed": 1}')
ORDER BY epoch;
SELECT metrics->'train_rows' AS train_rows, metrics->'valid_rows' AS valid_rows,
       metrics->'train_positives' AS train_pos, metrics->'valid_positives' AS valid_pos,
       metrics->>'positive_class' AS positive
FROM lrml.models WHERE name = 'curve';

-- the same data, options and seed give the same model, bit for bit
SELECT count(*) FROM lrml.train(model => 'det', relation => 'churn', label => 'churned',
                options => '{"epochs": 20, "seed": 3, "optimizer": "sgd", "momentum": 0.5, "nesterov": true}');
SELECT count(*) FROM lrml.train(model => 'det', relation => 'churn', label => 'churned',
                options => '{"epochs": 20, "seed": 3, "optimizer": "sgd", "momentum": 0.5, "nesterov": true}');
SELECT a.parameters = b.parameters AS identical
FROM lrml.models a, lrml.models b
WHERE a.name = 'det' AND a.version = 1 AND b.name = 'det' AND b.version = 2;
-- features NULL means every column but the label (id is a feature here)
SELECT features->'inputs' AS inputs FROM lrml.models WHERE name = 'det' AND version = 1;

-- every optimizer separates a separable table
CREATE TABLE sep AS
  SELECT g AS id, (g % 7) / 7.0 AS a, ((g * 3) % 11) / 11.0 AS b,
         ((g % 7) / 7.0 + ((g * 3) % 11) / 11.0) > 1.0 AS y
  FROM generate_series(1, 400) g;
SELECT o AS optimizer, (SELECT max(valid_metric) FROM lrml.train(model => 'sep_' || o, relation => 'sep', label => 'y',
          features => ARRAY['a', 'b'],
          options => jsonb_build_object('optimizer', o, 'learning_rate', 0.1, 'epochs', 30, 'seed', 2, 'batch_size', 32))) > 0.95 AS auc_ok
FROM unnest(ARRAY['sgd', 'adam']) o ORDER BY o;

-- class_weight "balanced" raises the scores of a rare positive class
CREATE TABLE rare AS
  SELECT g AS id, (g % 10) / 10.0 AS a, (g % 10) = 9 AND g % 3 = 0 AS y
  FROM generate_series(1, 300) g;
SELECT count(*) FROM lrml.train(model => 'rare_plain', relation => 'rare', label => 'y', features => ARRAY['a'],
                options => '{"epochs": 30, "seed": 1, "learning_rate": 0.05}');
SELECT count(*) FROM lrml.train(model => 'rare_bal', relation => 'rare', label => 'y', features => ARRAY['a'],
                options => '{"epochs": 30, "seed": 1, "learning_rate": 0.05, "class_weight": "balanced"}');
SELECT lrml.predict('rare_bal', ARRAY[0.9]) > lrml.predict('rare_plain', ARRAY[0.9]) + 0.2 AS raised;

-- a linear model recovers y = 1 + 2 a - 3 b
CREATE TABLE lin AS
  SELECT g AS id, (g % 13) / 13.0 AS a, ((g * 7) % 17) / 17.0 AS b,
         1 + 2 * ((g % 13) / 13.0) - 3 * (((g * 7) % 17) / 17.0) AS y
  FROM generate_series(1, 500) g;
SELECT epoch, valid_metric < 0.01 AS rmse_small
FROM lrml.train(model => 'lin', relation => 'lin', label => 'y', features => ARRAY['a', 'b'],
                options => '{"model": "linear", "epochs": 40, "seed": 1, "learning_rate": 0.05, "l2": 0, "batch_size": 16}')
WHERE epoch = 39;
SELECT round(lrml.predict('lin', ARRAY[0.5, 0.5])::numeric, 2) AS y_half;

-- the real churn table: validation AUC at least 0.80 with every column
\i test/data/mlc_churn.sql
SELECT count(*) FROM mlc_churn;
-- one split (seed 1) scores about 0.79; five seeded splits, like 5-fold cross-validation, average above 0.80
SELECT count(*) AS splits, avg(auc) >= 0.80 AS mean_auc_at_least_080,
       min(auc) > 0.78 AS every_split_above_078
FROM (SELECT s, (SELECT valid_metric FROM lrml.train(model => 'mlc', relation => 'mlc_churn', label => 'churn',
                                                  options => jsonb_build_object('seed', s))
                 WHERE epoch = 49) AS auc
      FROM generate_series(1, 5) s) runs;
SELECT metrics->'rows' AS rows, metrics->'valid_rows' AS valid_rows, metrics->>'positive_class' AS positive,
       features->'inputs' AS inputs
FROM lrml.models WHERE name = 'mlc' AND version = 1;

-- nothing depends on search_path
SET search_path = pg_catalog;
SELECT count(*) FROM lrml.train(model => 'sp', relation => 'public.churn', label => 'churned',
                options => '{"epochs": 2}');
RESET search_path;

DROP TABLE churn, sep, rare, lin, mlc_churn;
DELETE FROM lrml.model_names;
-- the BLAS path against the formula in SQL: one full-batch sgd step from
-- zero weights is -lr times the mean gradient on the standardized inputs
CREATE TABLE lr_diff AS
SELECT i, sin(i)::float8 AS a, cos(i * 0.7)::float8 AS b, (i % 3 = 0) AS y
FROM generate_series(1, 500) i;
SELECT count(*) AS epochs FROM lrml.train('lr_diff', 'lr_diff', 'y', ARRAY['a', 'b'],
  '{"optimizer": "sgd", "learning_rate": 0.5, "epochs": 1, "batch_size": 1000, "validation_fraction": 0, "l2": 0}');
WITH s AS (SELECT avg(a) AS ma, stddev_pop(a) AS sa, avg(b) AS mb, stddev_pop(b) AS sb FROM lr_diff),
g AS (SELECT -0.5 / 500 * sum((0.5 - y::int) * (a - ma) / sa) AS wa,
             -0.5 / 500 * sum((0.5 - y::int) * (b - mb) / sb) AS wb,
             -0.5 / 500 * sum(0.5 - y::int) AS bias
      FROM lr_diff, s),
m AS (SELECT lrml.model_info(lrml.load('lr_diff')) AS i)
SELECT abs(wa - (i->'weights'->0->>'weight')::float8) < 1e-7 AS weight_a,
       abs(wb - (i->'weights'->1->>'weight')::float8) < 1e-7 AS weight_b,
       abs(bias - (i->>'bias')::float8) < 1e-12 AS bias
FROM g, m;
DROP TABLE lr_diff;
SELECT lrml.drop_model('lr_diff');
