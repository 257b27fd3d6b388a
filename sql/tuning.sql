-- lrml.tune: grid, random and Bayesian search, failed trials, lrml.trials
SET extra_float_digits = 0;

-- a small two-feature churn table (C09)
CREATE TABLE churn (id int, x1 float8, x2 float8, churned boolean);
INSERT INTO churn
SELECT i, sin(i * 0.7), cos(i * 1.3),
       (sin(i * 0.7) + 0.5 * cos(i * 1.3) + 0.3 * sin(i * 0.37)) > 0
FROM generate_series(1, 400) i;
CREATE TABLE counts AS
SELECT (SELECT count(*) FROM lrml.models) AS models,
       (SELECT count(*) FROM lrml.trials) AS trials;

-- an invalid candidate fails the search before any trial trains (C09 a)
SELECT * FROM lrml.tune('srch_a', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "grid", "space": {"learning_rate": [0.0, 0.05], "schedule": ["constant", "exponential"]}}',
  '{"epochs": 10, "seed": 1}');
SELECT (SELECT count(*) FROM lrml.models) = models AS no_model,
       (SELECT count(*) FROM lrml.trials) = trials AS no_trial
FROM counts;

-- a diverging trial is a failed trial with its reason, never the best (C09 b)
SELECT trial, params, round(valid_loss::numeric, 4) AS valid_loss,
       round(valid_metric::numeric, 4) AS valid_auc, best
FROM lrml.tune('srch_a', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "grid", "space": {"learning_rate": [1e6, 0.05]}}',
  '{"epochs": 10, "seed": 1, "divergence": "error"}')
ORDER BY trial;
SELECT t.trial, t.status, t.reason, t.valid_loss IS NULL AS null_loss, t.best
FROM lrml.trials t JOIN lrml.models m ON m.id = t.model_id
WHERE m.name = 'srch_a' ORDER BY t.trial;
-- the stored best predicts exactly as a direct training with its options
SELECT count(*) FROM lrml.train('srch_direct', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"epochs": 10, "seed": 1, "learning_rate": 0.05, "divergence": "error"}');
SELECT bool_and(lrml.predict('srch_a', c) = lrml.predict('srch_direct', c)) AS same_predictions
FROM churn c;
SELECT options->'learning_rate' AS learning_rate,
       metrics->'search'->>'method' AS method,
       metrics->'search'->'best_trial' AS best_trial,
       metrics->'search'->'trials_failed' AS failed
FROM lrml.models WHERE name = 'srch_a';

-- every trial failing is an error that lists each one; nothing is stored (C09 c)
DELETE FROM counts;
INSERT INTO counts SELECT (SELECT count(*) FROM lrml.models), (SELECT count(*) FROM lrml.trials);
SELECT * FROM lrml.tune('srch_c', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "grid", "space": {"learning_rate": [1e7, 1e8]}}',
  '{"epochs": 10, "seed": 1, "divergence": "error", "optimizer": "sgd"}');
SELECT (SELECT count(*) FROM lrml.models) = models AS no_model,
       (SELECT count(*) FROM lrml.trials) = trials AS no_trial
FROM counts;

-- a Bayesian search over rates that diverge: every score finite or NULL,
-- a finite best, and the same seed gives the same trials (C09)
CREATE TABLE bayes1 AS
SELECT * FROM lrml.tune('srch_bayes', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "bayes", "trials": 10, "space": {"learning_rate": {"min": 1e-3, "max": 1e6, "scale": "log"}}}',
  '{"epochs": 10, "seed": 1, "optimizer": "sgd"}');
CREATE TABLE bayes2 AS
SELECT * FROM lrml.tune('srch_bayes', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "bayes", "trials": 10, "space": {"learning_rate": {"min": 1e-3, "max": 1e6, "scale": "log"}}}',
  '{"epochs": 10, "seed": 1, "optimizer": "sgd"}');
SELECT count(*) AS trials,
       bool_and(valid_loss IS NULL OR (valid_loss < 'Infinity' AND valid_loss::text <> 'NaN')) AS finite,
       count(*) FILTER (WHERE best) AS n_best,
       bool_and(NOT best OR valid_loss IS NOT NULL) AS best_scored
FROM bayes1;
SELECT bool_and(a.params = b.params AND a.valid_loss IS NOT DISTINCT FROM b.valid_loss
                AND a.best = b.best) AS same_trials
FROM bayes1 a JOIN bayes2 b USING (trial);
SELECT (SELECT valid_loss FROM bayes1 WHERE best) = (SELECT min(valid_loss) FROM bayes1) AS best_is_lowest;
SELECT count(*) AS no_nan_in_trials FROM lrml.trials
WHERE valid_loss::text = 'NaN' OR valid_metric::text = 'NaN';

-- grid: every combination, the last key fastest; schedule parameters by
-- "schedule.<name>", a range with "num" points
SELECT trial, params, best
FROM lrml.tune('srch_grid', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "grid", "space": {"optimizer": ["sgd", "adam"], "schedule.gamma": {"min": 0.5, "max": 0.9, "num": 3}}}',
  '{"epochs": 5, "seed": 1, "learning_rate": 0.1, "schedule": "exponential"}')
ORDER BY trial;
SELECT options->'schedule' AS schedule, options->>'optimizer' AS optimizer
FROM lrml.models WHERE name = 'srch_grid';

-- random: draws within the space, integers for "int", the same for a seed;
-- metric "auc" keeps the highest validation AUC
CREATE TABLE rand1 AS
SELECT * FROM lrml.tune('srch_rand', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "random", "trials": 8, "metric": "auc", "seed": 5, "space": {"learning_rate": {"min": 1e-3, "max": 1, "scale": "log"}, "batch_size": {"min": 8, "max": 64, "scale": "int"}, "schedule": ["cosine", "constant"]}}',
  '{"epochs": 5, "seed": 1}');
SELECT count(*) AS trials,
       bool_and((params->>'learning_rate')::float8 BETWEEN 1e-3 AND 1) AS rates_in_range,
       bool_and(jsonb_typeof(params->'batch_size') = 'number'
                AND (params->>'batch_size') ~ '^[0-9]+$'
                AND (params->>'batch_size')::int BETWEEN 8 AND 64) AS integer_batches,
       bool_and(params->>'schedule' IN ('cosine', 'constant')) AS choices,
       count(DISTINCT params->>'learning_rate') AS distinct_rates
FROM rand1;
SELECT (SELECT valid_metric FROM rand1 WHERE best) = (SELECT max(valid_metric) FROM rand1) AS best_is_highest_auc;
SELECT bool_and(a.params = b.params) AS same_draws
FROM rand1 a JOIN lrml.tune('srch_rand', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "random", "trials": 8, "metric": "auc", "seed": 5, "space": {"learning_rate": {"min": 1e-3, "max": 1, "scale": "log"}, "batch_size": {"min": 8, "max": 64, "scale": "int"}, "schedule": ["cosine", "constant"]}}',
  '{"epochs": 5, "seed": 1}') b USING (trial);
-- the search is recorded beside the stored version, and so are its trials
SELECT m.version, m.metrics->'search'->>'method' AS method,
       m.metrics->'search'->'trials' AS trials,
       m.metrics->'search'->>'metric' AS metric,
       count(t.*) AS trial_rows, count(*) FILTER (WHERE t.best) AS best_rows
FROM lrml.models m JOIN lrml.trials t ON t.model_id = m.id
WHERE m.name = 'srch_rand' GROUP BY m.version, m.metrics ORDER BY m.version;

-- a search over a linear model tunes on rmse; early stopping's patience
SELECT count(*) AS trials, count(*) FILTER (WHERE best) AS n_best
FROM lrml.tune('srch_lin', 'SELECT x1, x2, 2 * x1 - x2 AS target FROM churn', 'target', NULL,
  '{"method": "grid", "metric": "rmse", "space": {"early_stopping.patience": [2, 4], "l2": [0, 0.01]}}',
  '{"model": "linear", "epochs": 5, "seed": 1, "early_stopping": true}');
SELECT options->'early_stopping' AS early_stopping FROM lrml.models WHERE name = 'srch_lin';

-- max_seconds stops the search between trials, keeping what is done
SELECT count(*) AS trials_run
FROM lrml.tune('srch_time', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "random", "trials": 50, "max_seconds": 1e-9, "space": {"learning_rate": [0.01, 0.1]}}',
  '{"epochs": 5, "seed": 1}');
SELECT metrics->'search'->'stopped_by_time' AS stopped,
       metrics->'search'->'trials_planned' AS planned
FROM lrml.models WHERE name = 'srch_time';

-- Bayesian search finds a rate as good as a dense grid's, and beats random
-- search with the same budget (median best over five search seeds)
CREATE TABLE gen AS
SELECT i AS id,
       sin(i * 0.731) AS a, cos(i * 1.173) AS b, sin(i * 2.357 + 1) AS c,
       cos(i * 0.419 + 2) AS d, sin(i * 3.141 + 0.5) * 3 AS e,
       (sin(i * 0.731) + 0.8 * cos(i * 1.173) - 0.6 * sin(i * 2.357 + 1)
        + 0.3 * cos(i * 0.419 + 2) + 0.3 * sin(i * 3.141 + 0.5)
        + 1.2 * ((sin(i * 12.9898) * 43758.5453
                  - floor(sin(i * 12.9898) * 43758.5453)) - 0.5)) > 0 AS y
FROM generate_series(1, 3000) i;
CREATE TABLE searches AS
SELECT 'grid'::text AS method, 0 AS seed, min(valid_loss) AS best
FROM lrml.tune('srch_dense', 'gen', 'y', ARRAY['a', 'b', 'c', 'd', 'e'],
  '{"method": "grid", "space": {"learning_rate": {"min": 1e-6, "max": 1e4, "scale": "log", "num": 81}}}',
  '{"optimizer": "sgd", "epochs": 3, "batch_size": 64, "l2": 0}');
INSERT INTO searches
SELECT m, s, (SELECT min(valid_loss) FROM lrml.tune('srch_' || m, 'gen', 'y', ARRAY['a', 'b', 'c', 'd', 'e'],
  jsonb_build_object('method', m, 'trials', 15, 'seed', s,
                     'space', '{"learning_rate": {"min": 1e-6, "max": 1e4, "scale": "log"}}'::jsonb),
  '{"optimizer": "sgd", "epochs": 3, "batch_size": 64, "l2": 0}'))
FROM unnest(ARRAY['bayes', 'random']) m, generate_series(1, 5) s;
WITH g AS (SELECT best FROM searches WHERE method = 'grid')
SELECT method, count(*) FILTER (WHERE s.best <= 1.01 * g.best) AS within_1pct_of_grid
FROM searches s, g WHERE method <> 'grid' GROUP BY method ORDER BY method;
SELECT (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY best) FROM searches WHERE method = 'bayes') <
       (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY best) FROM searches WHERE method = 'random')
       AS bayes_beats_random_in_median;

-- every trial reads the same rows, once: a sample drawn anew would differ
SELECT count(*) AS trials, count(DISTINCT valid_loss) AS distinct_losses
FROM lrml.tune('srch_once', 'SELECT * FROM churn TABLESAMPLE BERNOULLI (50)', 'churned', ARRAY['x1', 'x2'],
  '{"method": "random", "trials": 3, "space": {"learning_rate": [0.05]}}', '{"epochs": 2}');
-- validation rows of one class: the AUC is NULL, the loss still ranks trials
SELECT trial, round(valid_loss::numeric, 4) AS valid_loss, valid_metric, best
FROM lrml.tune('srch_rare', 'SELECT x1, x2, id IN (5, 200) AS churned FROM churn', 'churned', NULL,
  '{"method": "grid", "space": {"learning_rate": [0.01, 0.1]}}', '{"epochs": 2}')
ORDER BY trial;
-- the stored version describes the weights it keeps, after early stopping too
SELECT count(*) AS trials FROM lrml.tune('srch_es', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "grid", "space": {"early_stopping.patience": [2, 3]}}',
  '{"epochs": 40, "optimizer": "adam", "learning_rate": 0.3, "batch_size": 8, "early_stopping": true}');
SELECT (m.metrics->>'valid_loss')::float8 = t.valid_loss AS metrics_match_best_trial,
       (m.metrics->>'kept_epoch')::int < (m.metrics->>'epochs')::int - 1 AS kept_earlier_epoch
FROM lrml.models m JOIN lrml.trials t ON t.model_id = m.id AND t.best
WHERE m.name = 'srch_es';
-- a schedule named in the options takes its required parameter from the space
SELECT trial, params, best FROM lrml.tune('srch_ms', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "grid", "space": {"schedule.milestones": [[1, 3], [2, 4]]}}',
  '{"epochs": 5, "schedule": "multistep"}') ORDER BY trial;
-- a Bayesian search stops once it has tried every point of a finite space
SELECT count(*) AS trials, count(DISTINCT params) AS distinct_points
FROM lrml.tune('srch_small', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "bayes", "trials": 8, "space": {"optimizer": ["sgd", "adam"], "l2": [0, 0.01]}}',
  '{"epochs": 2}');
SELECT metrics->'search'->'space_exhausted' AS exhausted, metrics->'search'->'random_start' AS random_start
FROM lrml.models WHERE name = 'srch_small';
-- the search's seed is kept exactly
SELECT count(*) AS trials FROM lrml.tune('srch_seed', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "random", "trials": 1, "seed": 9007199254740993, "space": {"l2": [0]}}', '{"epochs": 1}');
SELECT metrics->'search'->'seed' AS seed FROM lrml.models WHERE name = 'srch_seed';
-- one best trial per search
\set VERBOSITY terse
INSERT INTO lrml.trials (model_id, trial, params, status, valid_loss, best, seconds)
SELECT model_id, 99, '{}', 'ok', 1, true, 0 FROM lrml.trials WHERE best LIMIT 1;
\set VERBOSITY default

-- a cancelled search stores nothing
DELETE FROM counts;
INSERT INTO counts SELECT (SELECT count(*) FROM lrml.models), (SELECT count(*) FROM lrml.trials);
\set VERBOSITY terse
SET statement_timeout = '200ms';
SELECT count(*) FROM lrml.tune('srch_cancel', 'gen', 'y', NULL,
  '{"method": "grid", "space": {"learning_rate": {"min": 1e-3, "max": 1, "scale": "log", "num": 1000}}}',
  '{"epochs": 100}');
RESET statement_timeout;
\set VERBOSITY default
SELECT (SELECT count(*) FROM lrml.models) = models AS no_model,
       (SELECT count(*) FROM lrml.trials) = trials AS no_trial
FROM counts;

-- bad searches fail before any data is read, naming the key and the value
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, NULL);
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '[1]');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"method": "grid", "spaces": {}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"method": "grd", "space": {"l2": [0]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"method": "grid", "trials": 5, "space": {"l2": [0]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"method": "random", "trials": 0, "space": {"l2": [0]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"method": "bayes", "trials": 501, "space": {"l2": [0]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"metric": "accuracy", "space": {"l2": [0]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"metric": "rmse", "space": {"l2": [0]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"method": "random"}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": 0.1}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": []}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": [0, null]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": [0.001, 0.0010]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": {"min": 1, "max": 0}}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": {"min": 0, "max": 1, "scale": "log"}}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": {"min": 0, "max": 1, "scale": "exp"}}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": {"min": 0, "max": 1, "step": 2}}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": {"min": 0}}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": {"min": 0, "max": 1, "num": 3}}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"method": "grid", "space": {"l2": {"min": 0, "max": 1}}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"epochs": {"min": 1.5, "max": 3, "scale": "int"}}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"max_seconds": 0, "l2": [0]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"max_seconds": 0, "space": {"l2": [0]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"seed": [1, 2]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"validation_fraction": [0.1, 0.2]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"optimizer.beta1": [0.9]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"schedule.total": [10]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"early_stopping.patience": [2]}}', '{"early_stopping": false}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"learning_rat": [0.1]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"momentum": [0.9]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": [0]}}', '{"validation_fraction": 0}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": [0]}}', '{"epoch": 3}');
SELECT * FROM lrml.tune('e', 'no_such_table', 'churned', NULL, '{"space": {"l2": [0]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"early_stopping.patience": [2]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"warm_start": [1]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"method": "grid", "space": {"model": ["logistic", "linear"]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"method": "grid", "space": {"class_weight": [1, 10]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"method": "grid", "space": {"l2": {"min": 0.1, "max": 0.1, "num": 5}}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": {"min": 1e-400, "max": 1}}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": [0, 1e400]}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"space": {"l2": {"min": 1e19, "max": 1e19, "scale": "int"}}}');
SELECT * FROM lrml.tune('e', 'churn', 'churned', NULL, '{"seed": 1.5, "space": {"l2": [0]}}');
-- errors of the rows themselves are raised once, as they are
SELECT * FROM lrml.tune('e', 'SELECT x1, x2, true AS churned FROM churn', 'churned', NULL,
  '{"method": "grid", "space": {"l2": [0, 0.1]}}');
SELECT * FROM lrml.tune('e', 'SELECT x1, x2, churned FROM churn WHERE 1 / (id - id) = 1', 'churned', NULL,
  '{"method": "grid", "space": {"l2": [0, 0.1]}}');
SELECT count(*) AS no_model_e FROM lrml.models WHERE name = 'e';

-- an mlp's layers can be tuned, and mlp classifiers compared with logistic ones
SELECT trial, params, best IS NOT NULL AS scored
FROM lrml.tune('srch_mlp', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "grid", "space": {"model": ["logistic", "mlp"], "epochs": [5]}}', '{"seed": 1}')
ORDER BY trial;
SELECT count(*) AS trials
FROM lrml.tune('srch_mlp', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "grid", "space": {"hidden": [[4], [8, 4]]}}', '{"model": "mlp", "epochs": 5}');
SELECT options->'hidden' AS hidden FROM lrml.models WHERE name = 'srch_mlp' ORDER BY version;
-- an mlp on a numeric label is a regression: it cannot be scored by AUC
SELECT * FROM lrml.tune('e', 'SELECT x1, x2, id % 3 AS target FROM churn', 'target', NULL,
  '{"method": "grid", "metric": "auc", "space": {"hidden": [[4]]}}', '{"model": "mlp", "epochs": 2}');
-- a Bayesian search over three ranges proposes from candidates it still
-- holds (it once read them after freeing them)
SELECT count(*) AS trials, count(*) FILTER (WHERE best) AS best
FROM lrml.tune('srch_three', 'churn', 'churned', NULL,
  '{"method": "bayes", "trials": 8, "space": {"learning_rate": {"min": 1e-4, "max": 1, "scale": "log"},
    "l2": {"min": 1e-6, "max": 0.1, "scale": "log"}, "beta1": {"min": 0, "max": 0.9}}}',
  '{"epochs": 1}');
SELECT lrml.drop_model('srch_three');
-- a space of one point is searched once
SELECT count(*) AS trials
FROM lrml.tune('srch_finite', 'churn', 'churned', ARRAY['x1', 'x2'],
  '{"method": "bayes", "trials": 5, "space": {"epochs": {"min": 2, "max": 2, "scale": "int"}}}');
SELECT lrml.drop_model('srch_finite');
