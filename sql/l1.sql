-- "l1": a proximal L1 penalty that sets weights to exactly 0
SET client_min_messages = warning;

-- 2,000 rows, 10 inputs; only x1 and x2 decide the label (with noise)
CREATE TABLE sparse AS
SELECT i AS id,
       ((i * 7919) % 1000) / 500.0 - 1 AS x1, ((i * 104729) % 997) / 498.5 - 1 AS x2,
       ((i * 1297) % 991) / 495.5 - 1 AS x3, ((i * 2203) % 983) / 491.5 - 1 AS x4,
       ((i * 3571) % 977) / 488.5 - 1 AS x5, ((i * 4421) % 971) / 485.5 - 1 AS x6,
       ((i * 5651) % 967) / 483.5 - 1 AS x7, ((i * 6781) % 953) / 476.5 - 1 AS x8,
       ((i * 7727) % 947) / 473.5 - 1 AS x9, ((i * 8887) % 941) / 470.5 - 1 AS x10,
       (2 * (((i * 7919) % 1000) / 500.0 - 1) - 1.5 * (((i * 104729) % 997) / 498.5 - 1)
        + ((i * 31337) % 1009) / 1009.0 - 0.5) > 0 AS y
FROM generate_series(1, 2000) i;

CREATE FUNCTION sparse_train(name text, options jsonb) RETURNS bigint
LANGUAGE sql AS $$
  SELECT count(*) FROM lrml.train(model => name, relation => 'sparse', label => 'y',
    features => ARRAY['x1','x2','x3','x4','x5','x6','x7','x8','x9','x10'], options => options)
$$;

-- how much moving input j from 0 to 1 moves the score: exactly 0 when
-- the input's weight is 0 (a logistic model)
CREATE FUNCTION effects(model text) RETURNS float8[]
LANGUAGE sql AS $$
  SELECT array_agg(lrml.predict(model, (SELECT array_agg((k = j)::int::float8 ORDER BY k)
                                        FROM generate_series(1, 10) k))
                   - lrml.predict(model, array_fill(0::float8, ARRAY[10])) ORDER BY j)
  FROM generate_series(1, 10) j
$$;

CREATE TABLE runs (name text, options jsonb);
INSERT INTO runs VALUES
  ('none',     '{"epochs": 30}'),
  ('sgd',      '{"epochs": 30, "optimizer": "sgd", "learning_rate": 0.1, "l1": 0.01}'),
  ('momentum', '{"epochs": 30, "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "l1": 0.01}'),
  ('adagrad',  '{"epochs": 30, "optimizer": "adagrad", "learning_rate": 0.1, "l1": 0.01}'),
  ('rmsprop',  '{"epochs": 30, "optimizer": "rmsprop", "l1": 0.01}'),
  ('adam',     '{"epochs": 30, "l1": 0.01}'),
  ('adamw',    '{"epochs": 30, "optimizer": "adamw", "l1": 0.01}'),
  ('full',     '{"epochs": 40, "mode": "full_batch", "learning_rate": 0.5, "l1": 0.01}');
SELECT name, sparse_train('l1_' || name, options) AS epochs FROM runs ORDER BY name;

-- every optimizer sets some noise weights to exactly 0 and keeps x1 and
-- x2; the metrics count the zeros, which are exactly the inputs without
-- effect on the score; without l1 there is no count and no zero
SELECT r.name,
       (m.metrics->>'zero_weights')::int >= 3 AS sparse,
       (m.metrics->>'zero_weights')::int =
         (SELECT count(*) FROM unnest(effects(m.name)) e WHERE e = 0) AS zeros_have_no_effect,
       CASE WHEN r.name = 'none' THEN
         (SELECT count(*) FROM unnest(effects(m.name)) e WHERE e = 0) END AS zeros_without_l1,
       m.metrics->>'weights' AS weights,
       m.options->>'l1' AS l1,
       (m.metrics->>'valid_auc')::float8 >= 0.98 AS good_auc,
       (effects(m.name))[1] > 0 AND (effects(m.name))[2] < 0 AS keeps_x1_x2
FROM runs r JOIN lrml.models m ON m.name = 'l1_' || r.name
ORDER BY r.name;

-- the same options and seed give the same model
SELECT sparse_train('l1_adam', '{"epochs": 30, "l1": 0.01}');
SELECT a.parameters = b.parameters AS same_parameters
FROM lrml.models a JOIN lrml.models b ON a.name = b.name AND a.version = 1 AND b.version = 2
WHERE a.name = 'l1_adam';

-- an mlp: l1 shrinks every weight matrix, never a bias
SELECT sparse_train('l1_mlp', '{"model": "mlp", "hidden": [16], "epochs": 30, "l1": 0.003}');
SELECT (metrics->>'weights')::int AS weights,
       (metrics->>'zero_weights')::int > (metrics->>'weights')::int / 3 AS sparse,
       (metrics->>'valid_auc')::float8 >= 0.98 AS good_auc
FROM lrml.models WHERE name = 'l1_mlp';

-- the aggregate, the range test and a search take it too
SELECT (lrml.model_info(lrml.fit(ARRAY[x1, x2, x3, x4, x5, x6, x7, x8, x9, x10], y,
                                 '{"epochs": 30, "l1": 0.01}'))
        -> 'metrics' ->> 'zero_weights')::int >= 3 AS fit_sparse
FROM sparse;
SELECT count(*) > 10 AS steps FROM lrml.lr_find(relation => 'sparse', label => 'y',
  features => ARRAY['x1', 'x2', 'x3'], options => '{"l1": 0.01, "num_steps": 30}');
SELECT trial, params, best FROM lrml.tune(model => 'l1_tuned', relation => 'sparse', label => 'y',
  features => ARRAY['x1','x2','x3','x4','x5','x6','x7','x8','x9','x10'],
  search => '{"method": "grid", "space": {"l1": [0, 0.001, 1]}}',
  options => '{"epochs": 10}') ORDER BY trial;

-- on the churn table, a small l1 zeroes about half of the 73 inputs and
-- scores as well as none (5 seeds)
\i test/data/mlc_churn.sql
CREATE TABLE churn_l1 AS
SELECT l1, s, (SELECT count(*) FROM lrml.train(model => 'l1_churn_' || l1 || '_' || s,
  relation => 'mlc_churn', label => 'churn', options => jsonb_build_object('l1', l1, 'seed', s))) AS epochs
FROM unnest(ARRAY[0, 0.001]::float8[]) l1, generate_series(1, 5) s;
SELECT l1, avg((metrics->>'valid_auc')::float8) >= 0.80 AS mean_auc_ok,
       coalesce(avg((metrics->>'zero_weights')::float8), 0) >= 20 AS many_zeros
FROM churn_l1 JOIN lrml.models m ON m.name = 'l1_churn_' || l1 || '_' || s
GROUP BY l1 ORDER BY l1;

-- fine-tuning with l1 from a fresh optimizer state leaves alone the
-- weights whose gradient has been 0 so far (the categories absent from
-- the first batches): a careful warm start scores as its parent does
SELECT count(*) AS epochs FROM lrml.train(model => 'l1_ws', relation => 'mlc_churn',
  label => 'churn', options => '{"epochs": 5, "seed": 1}');
SELECT count(*) AS epochs FROM lrml.train(model => 'l1_ws', relation => 'mlc_churn',
  label => 'churn', options => '{"warm_start": 1, "reset_optimizer": true, "epochs": 1,
                                 "l1": 1e-4, "l2": 0, "learning_rate": 1e-4, "batch_size": 32}');
SELECT abs((SELECT (metrics->>'valid_auc')::float8 FROM lrml.models WHERE name = 'l1_ws' AND version = 2) -
           (SELECT (metrics->>'valid_auc')::float8 FROM lrml.models WHERE name = 'l1_ws' AND version = 1))
       < 0.002 AS scores_as_parent;

-- errors
SELECT sparse_train('l1_bad', '{"l1": -0.1}');
SELECT sparse_train('l1_bad', '{"l1": "much"}');
SELECT * FROM lrml.train_recommender(model => 'l1_bad',
  relation => 'SELECT id % 50 AS u, id % 37 AS i, x1 AS r FROM sparse',
  user_col => 'u', item_col => 'i', rating_col => 'r', options => '{"l1": 0.01}');
SELECT count(*) AS stored FROM lrml.models WHERE name = 'l1_bad';

DROP TABLE churn_l1, mlc_churn, runs, sparse;
DROP FUNCTION sparse_train(text, jsonb), effects(text);
DELETE FROM lrml.model_names;
