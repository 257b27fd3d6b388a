-- lr_find: the learning-rate range test
SET extra_float_digits = 0;

-- a small, linearly separable table: x1 + x2 > 10 is the label
CREATE TABLE sep AS
SELECT i AS id, (i * 37 % 101) / 10.0 AS x1, (i * 53 % 97) / 10.0 AS x2,
       (i * 37 % 101) / 10.0 + (i * 53 % 97) / 10.0 > 10 AS y
FROM generate_series(1, 200) i;
CREATE TABLE n0 AS
SELECT (SELECT count(*) FROM lrml.models) AS models,
       (SELECT count(*) FROM lrml.training_log) AS log_rows;
CREATE TABLE curve AS
SELECT * FROM lrml.lr_find(relation => 'sep', label => 'y',
                           features => ARRAY['x1', 'x2'],
                           options => '{"batch_size": 16, "num_steps": 60, "start_lr": 1e-4, "end_lr": 100}');

-- the rate grows exponentially from start_lr to end_lr
SELECT step, round(lr::numeric, 6) AS lr
FROM curve WHERE step IN (0, 1, 15, 30, 45, 59) ORDER BY step;
-- every step is returned, every value is finite, the first loss is log 2
-- (all weights 0), and the smoothed loss falls well below it
SELECT count(*) AS steps,
       round((SELECT loss FROM curve WHERE step = 0)::numeric, 4) AS first_loss,
       bool_and(loss::text NOT IN ('NaN', 'Infinity')
                AND smoothed_loss::text NOT IN ('NaN', 'Infinity')) AS finite,
       min(smoothed_loss) < 0.35 AS smoothed_fell
FROM curve;
-- exactly one step is suggested, on the falling part: before the lowest
-- smoothed loss, with a lower smoothed loss than at the start, at a rate
-- between 0.01 and 10
SELECT count(*) AS suggested,
       bool_and(c.smoothed_loss < (SELECT smoothed_loss FROM curve WHERE step = 0)) AS below_start,
       bool_and(c.step < (SELECT step FROM curve ORDER BY smoothed_loss, step LIMIT 1)) AS before_minimum,
       bool_and(c.lr BETWEEN 0.01 AND 10) AS rate_in_range
FROM curve c WHERE c.suggested;

-- with plain sgd the loss explodes at large rates: the test stops at the
-- first step whose smoothed loss exceeds 4 times the best one, and returns
-- that step
WITH c AS (
  SELECT * FROM lrml.lr_find(relation => 'sep', label => 'y',
                             features => ARRAY['x1', 'x2'],
                             options => '{"optimizer": "sgd", "batch_size": 16, "num_steps": 60, "start_lr": 1e-3, "end_lr": 1000}'))
SELECT count(*) < 60 AS stopped_early,
       (SELECT smoothed_loss FROM c ORDER BY step DESC LIMIT 1) >
       4 * (SELECT min(smoothed_loss) FROM c WHERE step < (SELECT max(step) FROM c)) AS last_step_exploded,
       count(*) FILTER (WHERE suggested) AS suggested
FROM c;

-- too short a test suggests nothing, with a notice
SELECT step, round(lr::numeric, 8) AS lr, suggested
FROM lrml.lr_find(relation => 'sep', label => 'y', features => ARRAY['x1', 'x2'],
                  options => '{"num_steps": 2}')
ORDER BY step;

-- the same options and seed give the same curve
SELECT count(*) = 0 AS same_curve
FROM (SELECT step, lr, loss, smoothed_loss, suggested FROM curve
      EXCEPT
      SELECT * FROM lrml.lr_find(relation => 'sep', label => 'y',
                                 features => ARRAY['x1', 'x2'],
                                 options => '{"batch_size": 16, "num_steps": 60, "start_lr": 1e-4, "end_lr": 100}')) d;

-- the churn table with the defaults (100 steps from 1e-7 to 10, adam,
-- batch_size 256, seed 1)
\i test/data/mlc_churn.sql
CREATE TABLE churn_curve AS
SELECT * FROM lrml.lr_find(relation => 'mlc_churn', label => 'churn');
SELECT count(*) AS steps, count(*) FILTER (WHERE suggested) AS suggested,
       round((SELECT lr FROM churn_curve WHERE suggested)::numeric, 4) AS suggested_lr
FROM churn_curve;

-- an extreme sweep stays finite and ends exactly at end_lr
SELECT count(*) FILTER (WHERE NOT (lr < 'Infinity' AND loss < 'Infinity' AND smoothed_loss < 'Infinity')) AS non_finite,
       count(*) FILTER (WHERE suggested) <= 1 AS at_most_one_suggestion
FROM lrml.lr_find(relation => 'mlc_churn', label => 'churn',
                  options => '{"start_lr": 1e-300, "end_lr": 1e300, "num_steps": 50}');
SELECT max(lr) = 1e300 AS ends_at_end_lr
FROM lrml.lr_find(relation => 'mlc_churn', label => 'churn',
                  options => '{"start_lr": 1e-300, "end_lr": 1e300, "num_steps": 2}');

-- nothing is stored by a range test
SELECT (SELECT count(*) FROM lrml.models) = models AS no_model_stored,
       (SELECT count(*) FROM lrml.training_log) = log_rows AS no_log_stored
FROM n0;

-- training with the suggested rate (defaults otherwise, 50 epochs) gives a
-- mean validation AUC over seeds 1..5 of at least 0.80, with the default
-- 100 steps and with 200
CREATE TABLE churn_curve_200 AS
SELECT * FROM lrml.lr_find(relation => 'mlc_churn', label => 'churn',
                           options => '{"num_steps": 200}');
SELECT c.num_steps, round(c.lr::numeric, 4) AS suggested_lr,
       avg(auc) >= 0.80 AS mean_auc_at_least_080
FROM (SELECT 100 AS num_steps, lr FROM churn_curve WHERE suggested
      UNION ALL
      SELECT 200, lr FROM churn_curve_200 WHERE suggested) c,
     LATERAL (SELECT s,
                     (SELECT valid_metric
                      FROM lrml.train(model => 'lrf_' || c.num_steps || '_' || s,
                                      relation => 'mlc_churn', label => 'churn',
                                      options => jsonb_build_object('learning_rate', c.lr, 'seed', s))
                      WHERE epoch = 49) AS auc
              FROM generate_series(1, 5) s) r
GROUP BY c.num_steps, c.lr ORDER BY c.num_steps;

-- errors: end_lr not above start_lr, too few steps, a schedule, the range
-- test's options given to lrml.train and lrml.schedule, a bad relation
SELECT * FROM lrml.lr_find(relation => 'sep', label => 'y',
                           options => '{"start_lr": 0.1, "end_lr": 0.1}');
SELECT * FROM lrml.lr_find(relation => 'sep', label => 'y',
                           options => '{"num_steps": 1}');
SELECT * FROM lrml.lr_find(relation => 'sep', label => 'y',
                           options => '{"start_lr": 0}');
SELECT * FROM lrml.lr_find(relation => 'sep', label => 'y',
                           options => '{"schedule": "cosine"}');
SELECT * FROM lrml.lr_find(relation => 'sep', label => 'y',
                           options => '{"warmup_epochs": 1}');
SELECT * FROM lrml.train(model => 'lrf_bad', relation => 'sep', label => 'y',
                         options => '{"start_lr": 1e-5}');
SELECT * FROM lrml.train(model => 'lrf_bad', relation => 'sep', label => 'y',
                         options => '{"num_step": 10}');
SELECT * FROM lrml.schedule('{"num_steps": 10}', 2);
SELECT * FROM lrml.lr_find(relation => 'no_such_table', label => 'y');
SELECT * FROM lrml.lr_find(relation => NULL, label => 'y');

DELETE FROM lrml.model_names;
DROP TABLE sep, n0, curve, mlc_churn, churn_curve, churn_curve_200;
