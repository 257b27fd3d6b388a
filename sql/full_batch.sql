-- lrml.train with "mode": "full_batch": one lrml.gradient query per epoch
SET extra_float_digits = 0;
SET lrml.blas_threads = 1;

-- numeric, integer, text (with NULLs) and boolean features
CREATE TABLE fb_rows AS
SELECT i, (i * 7 % 60)::float8 AS tenure, (20 + i * 13 % 80)::float8 AS charges,
       i * 3 % 7 AS calls,
       CASE i % 3 WHEN 0 THEN 'a' WHEN 1 THEN 'b' END AS plan,
       i % 2 = 0 AS paperless,
       ((i * 7 % 60) < 15 AND (i * 3 % 7) > 2) OR i % 11 = 0 AS churned
FROM generate_series(1, 20000) i;

-- the curve: losses fall, the validation AUC rises
SELECT count(*) AS epochs,
       min(train_loss) < (array_agg(train_loss ORDER BY epoch))[1] AS loss_falls,
       (array_agg(valid_metric ORDER BY epoch DESC))[1] > 0.78 AS auc_ok
FROM lrml.train('fb_full', 'fb_rows', 'churned',
                ARRAY['tenure', 'charges', 'calls', 'plan', 'paperless'],
                options => '{"mode": "full_batch", "epochs": 30, "learning_rate": 0.1}');

-- the same validation AUC as mini-batch training, within 0.01
SELECT count(*) AS epochs
FROM lrml.train('fb_mini', 'fb_rows', 'churned',
                ARRAY['tenure', 'charges', 'calls', 'plan', 'paperless'],
                options => '{"epochs": 10}');
SELECT abs((SELECT value FROM lrml.evaluate('fb_full', 'fb_rows') WHERE metric = 'auc') -
           (SELECT value FROM lrml.evaluate('fb_mini', 'fb_rows') WHERE metric = 'auc'))
       < 0.01 AS same_auc;

-- what is stored: the mode, the split by hash, the encoding of the
-- training rows (a category per value and a NULL category last)
SELECT options->>'mode' AS mode, metrics->>'mode' AS metrics_mode,
       metrics->>'positive_class' AS positive_class,
       (metrics->>'train_rows')::int + (metrics->>'valid_rows')::int AS rows,
       abs((metrics->>'valid_rows')::int - 4000) < 400 AS about_a_fifth,
       jsonb_path_query_array(features, '$.columns[*].name') AS columns,
       features->'columns'->3->'categories' AS plan_categories
FROM lrml.models WHERE name = 'fb_full';

-- scoring by name, rows and arrays alike
SELECT i, round(lrml.predict('fb_full', f)::numeric, 4) AS p
FROM fb_rows f WHERE i <= 3 ORDER BY i;

-- the loop's options work the same: early stopping, a schedule,
-- divergence back-off
SELECT count(*) < 200 AS stopped_early,
       bool_or(event LIKE '%early_stop%') AS early_stop
FROM lrml.train('fb_es', 'fb_rows', 'churned', ARRAY['tenure', 'calls'],
                options => '{"mode": "full_batch", "epochs": 200, "learning_rate": 0.3,
                             "early_stopping": {"patience": 3, "min_delta": 0.001}}');
SELECT epoch, round(lr::numeric, 4) AS lr
FROM lrml.train('fb_cos', 'fb_rows', 'churned', ARRAY['tenure', 'calls'],
                options => '{"mode": "full_batch", "epochs": 4, "schedule": "cosine", "learning_rate": 0.1}')
ORDER BY epoch;
SELECT bool_or(event LIKE '%diverged%') AS backed_off
FROM lrml.train('fb_div', 'fb_rows', 'churned', ARRAY['tenure', 'charges'],
                options => '{"mode": "full_batch", "epochs": 6, "optimizer": "sgd", "learning_rate": 1e6}');

-- labels of other types: char(3) text classes, 0/1 numerics, a boolean
-- whose positive class is false
SELECT (array_agg(valid_metric ORDER BY epoch DESC))[1] > 0.99 AS char_label_auc_ok
FROM lrml.train('fb_char', 'SELECT (i % 17)::float8 AS a, (CASE WHEN i % 17 > 8 THEN ''yes'' ELSE ''no'' END)::char(3) AS y FROM fb_rows', 'y',
                options => '{"mode": "full_batch", "epochs": 20, "learning_rate": 0.3}');
SELECT (array_agg(valid_metric ORDER BY epoch DESC))[1] > 0.99 AS numeric_label_auc_ok
FROM lrml.train('fb_num', 'SELECT (i % 17)::float8 AS a, (i % 17 > 8)::int * 1.0 AS y FROM fb_rows', 'y',
                options => '{"mode": "full_batch", "epochs": 20, "learning_rate": 0.3}');
SELECT (array_agg(valid_metric ORDER BY epoch DESC))[1] > 0.99 AS false_positive_auc_ok
FROM lrml.train('fb_bool', 'SELECT (i % 17)::float8 AS a, i % 17 > 8 AS y FROM fb_rows', 'y',
                options => '{"mode": "full_batch", "epochs": 20, "learning_rate": 0.3, "positive_class": "false"}');
SELECT name, metrics->>'positive_class' AS positive_class,
       lrml.predict(name, ARRAY[16.0]) > 0.9 AS high_at_16
FROM lrml.models WHERE name IN ('fb_char', 'fb_num', 'fb_bool') ORDER BY name;

-- a linear model on a numeric label, from a query
SELECT count(*) AS epochs,
       (array_agg(valid_metric ORDER BY epoch DESC))[1] < 1 AS rmse_ok
FROM lrml.train('fb_lin', 'SELECT tenure, 3 * tenure + 2 AS y FROM fb_rows', 'y',
                options => '{"mode": "full_batch", "model": "linear", "epochs": 60, "optimizer": "sgd", "learning_rate": 0.5}');
SELECT abs(lrml.predict('fb_lin', ARRAY[10.0]) - 32) < 1 AS fits_line;

-- errors
SELECT * FROM lrml.train('fb_bad', 'fb_rows', 'churned',
                         options => '{"mode": "full_batch", "model": "mlp"}');
SELECT * FROM lrml.train('fb_bad', 'fb_rows', 'churned',
                         options => '{"mode": "full_batch", "class_weight": "balanced"}');
SELECT * FROM lrml.train('fb_mini', 'fb_rows', 'churned',
                         options => '{"mode": "full_batch", "warm_start": true}');
SELECT * FROM lrml.train('fb_bad', 'fb_rows', 'churned', options => '{"mode": "fullbatch"}');
SELECT * FROM lrml.lr_find('fb_rows', 'churned', options => '{"mode": "full_batch"}');
SELECT * FROM lrml.tune('fb_bad', 'fb_rows', 'churned', ARRAY['tenure'],
                        '{"method": "grid", "space": {"l2": [0, 0.01]}}',
                        options => '{"mode": "full_batch"}');
SELECT lrml.fit(ARRAY[tenure], churned, '{"mode": "full_batch"}') FROM fb_rows;
SELECT * FROM lrml.train('fb_bad', 'fb_rows', 'nope', options => '{"mode": "full_batch"}');
SELECT * FROM lrml.train('fb_bad', 'fb_rows', 'churned', ARRAY['nope'],
                         options => '{"mode": "full_batch"}');
SELECT * FROM lrml.train('fb_bad', 'SELECT tenure, calls % 3 AS k FROM fb_rows', 'k',
                         options => '{"mode": "full_batch"}');
SELECT * FROM lrml.train('fb_bad', 'SELECT tenure, true AS y FROM fb_rows', 'y',
                         options => '{"mode": "full_batch"}');
SELECT * FROM lrml.train('fb_bad', 'SELECT NULL::float8 AS x, churned FROM fb_rows', 'churned',
                         options => '{"mode": "full_batch"}');
SELECT count(*) FROM lrml.models WHERE name = 'fb_bad';

SELECT lrml.drop_model(n) FROM unnest(ARRAY['fb_full', 'fb_mini', 'fb_es', 'fb_cos',
                                            'fb_div', 'fb_lin', 'fb_char', 'fb_num',
                                            'fb_bool']) AS n;
DROP TABLE fb_rows;
