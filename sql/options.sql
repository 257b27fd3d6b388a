-- training options: defaults, resolved options, and every bad option (C11, C12)
SET extra_float_digits = 0;

CREATE TABLE churn (id int PRIMARY KEY, x1 float8, x2 float8, churned boolean);
INSERT INTO churn VALUES
 (1,0.9,0.1,true),(2,0.8,0.3,true),(3,0.7,0.2,true),(4,0.4,0.6,true),
 (5,0.2,0.9,false),(6,0.1,0.7,false),(7,0.3,0.8,false),(8,0.6,0.5,false);

-- defaults are filled in and stored with the model
SELECT count(*) FROM lrml.train('defaults', 'churn', 'churned', ARRAY['x1', 'x2']);
SELECT jsonb_pretty(options) FROM lrml.models WHERE name = 'defaults';
-- a bare schedule name takes its defaults; the object form sets parameters
SELECT count(*) FROM lrml.train('sched_obj', 'churn', 'churned', ARRAY['x1', 'x2'],
                                '{"epochs": 3, "schedule": "cosine", "optimizer": "sgd", "momentum": 0.9}');
SELECT options->'schedule' AS schedule, options->'momentum' AS momentum FROM lrml.models WHERE name = 'sched_obj';
-- NULL options mean the defaults
SELECT count(*) FROM lrml.train('null_opts', 'churn', 'churned', ARRAY['x1', 'x2'], NULL);

-- a good model whose predictions must survive every bad call below
SELECT count(*) FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'],
                                '{"learning_rate": 0.05, "epochs": 5, "seed": 1}');
CREATE TABLE before AS
  SELECT (SELECT count(*) FROM lrml.models) AS models,
         (SELECT count(*) FROM lrml.training_log) AS log_rows,
         lrml.predict('keep_me', ARRAY[0.5, 0.5]) AS score;

-- malformed and unknown options (C11)
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"learning_rate": 0.1,');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"schedule": "cosine_anealing"}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"learnig_rate": 0.1}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"learning_rate": "fast"}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '[0.1, 0.2]');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"schedule": "step", "step_size": 3, "gamma": 0.5, "period": 4}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"schedule": {"name": "step", "step_size": 3, "period": 4}}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"optimizer": "adam ", "learning_rate": 0.1}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"schedule": {"type": "step"}}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"optimizer": "adam", "momentum": 0.9}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"model": "forest"}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"schedule_unit": "batch"}');

-- out-of-range numbers (C12)
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"learning_rate": -0.1}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"learning_rate": 0}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"learning_rate": "NaN"}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"learning_rate": "Infinity"}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"learning_rate": 1e400}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"optimizer": "sgd", "momentum": -0.1}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"optimizer": "sgd", "momentum": 1.0}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"optimizer": "sgd", "momentum": 1.5}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"beta1": 1.0}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"beta2": 1.0}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"eps": 0}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"eps": -1e-8}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"epochs": 0}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"epochs": -5}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"epochs": 2.5}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"l2": -1}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"validation_fraction": -0.1}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"validation_fraction": 1.0}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"batch_size": 0}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"class_weight": 0}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"class_weight": "heavy"}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"schedule": {"name": "step", "gamma": 0}}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"schedule": {"name": "cosine", "min_lr": 1}}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"seed": -1}');
-- an option of the aggregates only is refused, not ignored
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"on_group_error": "error"}');
SELECT * FROM lrml.train('keep_me', 'churn', 'churned', ARRAY['x1', 'x2'], '{"l1": -1}');

-- nothing changed
SELECT (SELECT count(*) FROM lrml.models) = models AS same_models,
       (SELECT count(*) FROM lrml.training_log) = log_rows AS same_log,
       lrml.predict('keep_me', ARRAY[0.5, 0.5]) = score AS same_score
FROM before;
SELECT 1 AS still_alive;

-- a constant column with adam and no l2 keeps finite weights (C12)
CREATE TABLE churn_const AS SELECT id, x1, 0.5::float8 AS x2, churned FROM churn;
SELECT count(*) FROM lrml.train('const', 'churn_const', 'churned', ARRAY['x1', 'x2'], '{"l2": 0, "epochs": 10}');
SELECT lrml.predict('const', ARRAY[0.5, 0.5]) BETWEEN 0 AND 1 AS finite;

DELETE FROM lrml.model_names;
DROP TABLE churn, before, churn_const;
