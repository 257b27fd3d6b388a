-- reading training data: relations, query text, types, NULLs and labels
SET extra_float_digits = 0;

CREATE TABLE churn (id int PRIMARY KEY, x1 float8, x2 float8, churned boolean);
INSERT INTO churn VALUES
 (1,0.9,0.1,true),(2,0.8,0.3,true),(3,0.7,0.2,true),(4,0.4,0.6,true),
 (5,0.2,0.9,false),(6,0.1,0.7,false),(7,0.3,0.8,false),(8,0.6,0.5,false);
CREATE TABLE victim (x int);
INSERT INTO victim VALUES (1);

-- a table in another schema, a view, and query text all train
CREATE SCHEMA other;
CREATE TABLE other."Mixed Case" AS SELECT * FROM churn;
CREATE VIEW churn_view AS SELECT x1, x2, churned FROM churn;
SELECT count(*) FROM lrml.train(model => 'in_schema', relation => 'other."Mixed Case"', label => 'churned',
                                features => ARRAY['x1', 'x2'], options => '{"epochs": 2}');
SELECT count(*) FROM lrml.train(model => 'in_view', relation => 'churn_view', label => 'churned',
                                options => '{"epochs": 2}');
SELECT count(*) FROM lrml.train(model => 'in_query', relation => 'SELECT x1, x2 * 2 AS x2, churned FROM churn WHERE id > 0;',
                                label => 'churned', options => '{"epochs": 2}');
SELECT count(*) FROM lrml.train(model => 'in_values', relation => '  VALUES (1.0, true), (2.0, false), (1.5, true), (0.5, false)',
                                label => 'column2', options => '{"epochs": 2, "validation_fraction": 0}');
SELECT name, source FROM lrml.models WHERE name LIKE 'in\_%' ORDER BY name;

-- a quoted name with spaces and a semicolon is just a name (C14)
CREATE TABLE "Churn Data; v2" ("Feature One" float8, "Churned?" boolean);
INSERT INTO "Churn Data; v2" SELECT x1, churned FROM churn;
SELECT count(*) FROM lrml.train(model => 'odd', relation => '"Churn Data; v2"', label => 'Churned?',
                                features => ARRAY['Feature One'], options => '{}');
-- a table whose name starts like a keyword is a name
CREATE TABLE selections AS SELECT * FROM churn;
SELECT count(*) FROM lrml.train(model => 'sel', relation => 'selections', label => 'churned',
                                features => ARRAY['x1'], options => '{"epochs": 1}');

-- model names are text: 64 characters that differ in the last stay distinct
SELECT count(*) FROM lrml.train(repeat('a', 63) || 'x', 'churn', 'churned', ARRAY['x1', 'x2'], '{"epochs": 2}');
SELECT count(*) FROM lrml.train(repeat('a', 63) || 'y', 'churn', 'churned', ARRAY['x1', 'x2'], '{"epochs": 2}');
SELECT right(name, 2), version FROM lrml.models WHERE name LIKE 'aaaa%' ORDER BY name;
SELECT count(*) FROM lrml.train('m5''; DROP TABLE victim; --', 'churn', 'churned', ARRAY['x1', 'x2'], '{"epochs": 2}');
SELECT lrml.predict('m5''; DROP TABLE victim; --', ARRAY[0.5, 0.5]) BETWEEN 0 AND 1 AS scores;

-- text, boolean and enum features are one-hot or 0/1; NULL text is a category
CREATE TYPE plan AS ENUM ('basic', 'premium');
CREATE TABLE mixed (id int, region text, p plan, active boolean, spend numeric, churned text);
INSERT INTO mixed SELECT g, (ARRAY['north', 'south', NULL])[g % 3 + 1],
       (ARRAY['basic', 'premium'])[g % 2 + 1]::plan, g % 4 = 0, g * 1.5,
       CASE WHEN g % 5 < 2 THEN 'Yes' ELSE 'No' END
FROM generate_series(1, 60) g;
SELECT count(*) FROM lrml.train(model => 'mixed', relation => 'mixed', label => 'churned',
                                features => ARRAY['region', 'p', 'active', 'spend'], options => '{"epochs": 3}');
SELECT features->'inputs' AS inputs FROM lrml.models WHERE name = 'mixed';
SELECT c->>'name' AS name, c->>'type' AS type, c->'offset' AS offset, c->'categories' AS categories,
       round((c->>'mean')::numeric, 6) AS mean, round((c->>'scale')::numeric, 6) AS scale,
       round((c->>'fill')::numeric, 6) AS fill, c->'nulls' AS nulls
FROM lrml.models, jsonb_array_elements(features->'columns') c WHERE name = 'mixed'
ORDER BY (c->>'offset')::int;
SELECT metrics->>'positive_class' AS positive FROM lrml.models WHERE name = 'mixed';

-- NULL features become the training mean; NULL labels are skipped and counted (C08)
CREATE TABLE churn_null (id int, x1 float8, x2 float8, churned boolean);
INSERT INTO churn_null VALUES
 (1,0.9,0.1,true),(2,0.8,0.3,true),(3,0.2,0.9,false),(4,0.1,0.7,false),
 (5,NULL,0.5,true),(6,NULL,NULL,false),(7,0.5,0.5,NULL);
SELECT count(*) FROM lrml.train('nullm', 'churn_null', 'churned', ARRAY['x1', 'x2'], '{"epochs": 20, "seed": 3}');
SELECT metrics->'rows' AS rows, metrics->'rows_null_label' AS null_label,
       metrics->'feature_nulls' AS feature_nulls,
       (metrics->>'train_rows')::int + (metrics->>'valid_rows')::int + (metrics->>'rows_null_label')::int AS total
FROM lrml.models WHERE name = 'nullm';
SELECT c->>'name' AS name, (c->>'mean')::float8 IS NOT NULL AS has_mean, c->'nulls' AS train_nulls
FROM lrml.models, jsonb_array_elements(features->'columns') c WHERE name = 'nullm' ORDER BY 1;
CREATE TABLE q (id int, x1 float8, x2 float8, churned boolean);
INSERT INTO q VALUES (1,NULL,0.5,NULL),(2,0,0.5,NULL);
CREATE TABLE q_filled AS SELECT * FROM q;
UPDATE q_filled SET x1 = (SELECT (c->>'mean')::float8 FROM lrml.models, jsonb_array_elements(features->'columns') c
                         WHERE name = 'nullm' AND c->>'name' = 'x1') WHERE x1 IS NULL;
SELECT q.id, lrml.predict('nullm', q) = lrml.predict('nullm', f) AS null_is_mean,
       lrml.predict('nullm', q) IS NOT NULL AS scored
FROM q JOIN q_filled f USING (id) ORDER BY q.id;
SELECT (SELECT lrml.predict('nullm', q) FROM q WHERE id = 1) <> (SELECT lrml.predict('nullm', q) FROM q WHERE id = 2) AS null_is_not_zero;
-- training twice gives bit-identical parameters
SELECT count(*) FROM lrml.train('nullm', 'churn_null', 'churned', ARRAY['x1', 'x2'], '{"epochs": 20, "seed": 3}');
SELECT count(DISTINCT parameters) AS distinct_parameters FROM lrml.models WHERE name = 'nullm';

-- labels: 1/0 integers, yes/no text and a named positive class (C13)
CREATE TABLE lab (id int, x1 float8, y3 int, y1 boolean, yf float8, yt text, yy text, y01 int);
INSERT INTO lab VALUES (1,0.1,0,true,1.0,'churned','yes',1),(2,0.9,1,true,0.0,'stayed','no',0),
                       (3,0.5,2,true,0.5,'stayed','No',0),(4,0.3,1,true,1.0,'churned','YES',1);
SELECT count(*) FROM lrml.train('lt2', 'lab', 'yt', ARRAY['x1'], '{"positive_class": "churned", "validation_fraction": 0}');
SELECT count(*) FROM lrml.train('l01', 'lab', 'y01', ARRAY['x1'], '{"validation_fraction": 0}');
SELECT name, metrics->>'positive_class' AS positive FROM lrml.models WHERE name IN ('lt2', 'l01') ORDER BY name;

-- query text may carry comments and parentheses
SELECT count(*) FROM lrml.train(model => 'q_comment', relation => 'SELECT x1, churned FROM churn -- trailing comment',
                                label => 'churned', options => '{"epochs": 1}');
SELECT count(*) FROM lrml.train(model => 'q_comment', relation => '/* leading */ (SELECT x1, churned FROM churn)',
                                label => 'churned', options => '{"epochs": 1}');

-- an exact positive_class wins over a case-insensitive one
CREATE TABLE yes_case (x float8, y text);
INSERT INTO yes_case VALUES (1, 'yes'), (2, 'YES'), (3, 'yes'), (4, 'YES');
SELECT count(*) FROM lrml.train('yes_upper', 'yes_case', 'y', NULL, '{"positive_class": "YES", "validation_fraction": 0, "epochs": 1}');
SELECT metrics->>'positive_class' AS positive FROM lrml.models WHERE name = 'yes_upper';

-- numeric labels are classes by value: 1, 1.0 and 1.00 are one class
CREATE TABLE num_lab (x float8, y numeric);
INSERT INTO num_lab VALUES (1, 1.0), (2, 1.00), (3, 0), (4, 0.0), (5, 1);
SELECT count(*) FROM lrml.train('num_lab', 'num_lab', 'y', NULL, '{"validation_fraction": 0, "epochs": 1}');
SELECT metrics->>'positive_class' AS positive FROM lrml.models WHERE name = 'num_lab';

-- char(n) ignores trailing spaces, in categories and labels
CREATE TABLE padded (c char(4), y char(5));
INSERT INTO padded VALUES ('a', 'yes'), ('b', 'no'), ('a', 'yes'), ('b', 'no');
SELECT count(*) FROM lrml.train('padded', 'padded', 'y', NULL, '{"validation_fraction": 0, "epochs": 1}');
SELECT features->'columns'->0->'categories' AS categories, metrics->>'positive_class' AS positive
FROM lrml.models WHERE name = 'padded';
SELECT lrml.predict('padded', r) = lrml.predict('padded', ARRAY[1, 0]) AS text_matches_char
FROM (SELECT 'a'::text AS c) r;

-- tiny values and large offsets keep their precision until standardized
CREATE TABLE tiny AS SELECT g * 1e-50::float8 AS x, g > 10 AS y FROM generate_series(1, 20) g;
CREATE TABLE offset_x AS SELECT 1e10::float8 + g AS x, g > 10 AS y FROM generate_series(1, 20) g;
SELECT (SELECT valid_metric FROM lrml.train('tiny', 'tiny', 'y', NULL, '{"epochs": 20, "learning_rate": 0.1, "validation_fraction": 0.5}') WHERE epoch = 19) = 1 AS tiny_separates,
       (SELECT valid_metric FROM lrml.train('offset', 'offset_x', 'y', NULL, '{"epochs": 20, "learning_rate": 0.1, "validation_fraction": 0.5}') WHERE epoch = 19) = 1 AS offset_separates;

-- real labels are classes as PostgreSQL shows them: 0.1, not 0.100000001
CREATE TABLE lf4 AS SELECT i, ((i % 2) * 0.1)::float4 AS y FROM generate_series(1, 50) i;
SELECT count(*) FROM lrml.train('lf4', 'lf4', 'y', NULL, '{"positive_class": "0.1", "epochs": 1}');
SELECT metrics->>'positive_class' AS positive FROM lrml.models WHERE name = 'lf4';

-- a validation row far outside the training rows still gives finite losses
CREATE TABLE outl AS
  SELECT i, CASE WHEN i = 1 THEN 1e100 ELSE (i % 2) * 1e-100 END::float8 AS x,
         (i % 2)::float8 * 1e100 AS y, i % 2 = 0 AS yb
  FROM generate_series(1, 50) i;
SELECT epoch, valid_loss IS NOT NULL AS finite_loss
FROM lrml.train('outl', 'SELECT x, y FROM outl', 'y', NULL, '{"model": "linear", "epochs": 2, "seed": 2}')
ORDER BY epoch;
SELECT epoch, valid_loss IS NOT NULL AS finite_loss
FROM lrml.train('outlb', 'SELECT x, yb FROM outl', 'yb', NULL, '{"epochs": 2, "seed": 1}')
ORDER BY epoch;

-- a linear model that can score beyond the accepted magnitude (below)
SELECT count(*) FROM lrml.train('ovf', 'SELECT (i % 2) * 1e-140::float8 AS x, (i % 2) * 1e150::float8 AS y FROM generate_series(1, 100) i',
                                'y', NULL, '{"model": "linear", "epochs": 30, "learning_rate": 0.5}');

-- every error below stores nothing
CREATE TABLE n0 AS SELECT (SELECT count(*) FROM lrml.models) AS models,
                          (SELECT count(*) FROM lrml.training_log) AS log_rows;

-- labels that are not a binary target (C13)
SELECT * FROM lrml.train('l3', 'lab', 'y3', ARRAY['x1'], '{}');
SELECT * FROM lrml.train('l1', 'lab', 'y1', ARRAY['x1'], '{}');
SELECT * FROM lrml.train('lf', 'lab', 'yf', ARRAY['x1'], '{}');
SELECT * FROM lrml.train('lt', 'lab', 'yt', ARRAY['x1'], '{}');
SELECT * FROM lrml.train('ly', 'lab', 'yy', ARRAY['x1'], '{}');
SELECT * FROM lrml.train('lp', 'lab', 'yt', ARRAY['x1'], '{"positive_class": "gone"}');
SELECT * FROM lrml.train('ll', 'lab', 'yt', ARRAY['x1'], '{"model": "linear"}');
-- every label NULL, every value of a feature NULL (C08)
CREATE TABLE all_null (x1 float8, x2 float8, y boolean);
INSERT INTO all_null VALUES (1, NULL, NULL), (2, NULL, NULL);
SELECT * FROM lrml.train('an', 'all_null', 'y', ARRAY['x1'], '{}');
INSERT INTO all_null VALUES (1, NULL, true), (2, NULL, false), (3, NULL, true), (4, NULL, false);
SELECT * FROM lrml.train('an', 'all_null', 'y', ARRAY['x1', 'x2'], '{"validation_fraction": 0}');
-- NaN and infinity in a feature, and unusable types
CREATE TABLE bad (x1 float8, j jsonb, arr int[], y boolean);
INSERT INTO bad VALUES (1, '{}', '{1}', true), ('NaN', '{}', '{1}', false);
SELECT * FROM lrml.train('bad', 'bad', 'y', ARRAY['x1'], '{}');
UPDATE bad SET x1 = 'Infinity' WHERE y = false;
SELECT * FROM lrml.train('bad', 'bad', 'y', ARRAY['x1'], '{}');
SELECT * FROM lrml.train('bad', 'bad', 'y', ARRAY['j'], '{}');
SELECT * FROM lrml.train('bad', 'bad', 'y', ARRAY['arr'], '{}');
-- numbers beyond the accepted magnitude, in features and labels
CREATE TABLE huge (x numeric, y float8, b boolean);
INSERT INTO huge VALUES (1, 1, true), (2, 2, false), (repeat('9', 400)::numeric, 3, true);
SELECT * FROM lrml.train('huge', 'huge', 'b', ARRAY['x'], '{}');
SELECT * FROM lrml.train('huge', 'SELECT 9e99999::numeric AS x, true AS b UNION ALL SELECT 1, false', 'b');
-- a prediction beyond the same magnitude is an error, also in evaluate
SELECT * FROM lrml.evaluate('ovf', 'SELECT 1e-130::float8 AS x, 1.0::float8 AS y');
UPDATE huge SET x = 3, y = 1e155 WHERE y = 3;
SELECT * FROM lrml.train('huge', 'huge', 'y', ARRAY['x'], '{"model": "linear"}');
-- missing relation, column, and bad names and query text (C14)
SELECT * FROM lrml.train('m0', 'no_such_table', 'churned', ARRAY['x1'], '{}');
SELECT * FROM lrml.train('m1', 'churn; DROP TABLE victim; --', 'churned', ARRAY['x1', 'x2'], '{}');
SELECT * FROM lrml.train('m2', 'SELECT * FROM churn; DROP TABLE victim', 'churned', ARRAY['x1', 'x2'], '{}');
SELECT * FROM lrml.train('m3', 'WITH d AS (DELETE FROM victim RETURNING 1) SELECT c.* FROM churn c, d', 'churned', ARRAY['x1', 'x2'], '{}');
SELECT * FROM lrml.train('m3b', 'SELECT * INTO stolen FROM churn', 'churned', ARRAY['x1', 'x2'], '{}');
SELECT * FROM lrml.train('m4', 'churn', 'churned', ARRAY['x1","x2) FROM churn; DROP TABLE victim; --'], '{}');
SELECT * FROM lrml.train('m6', 'churn', 'no_label', ARRAY['x1'], '{}');
SELECT * FROM lrml.train('m7', 'churn', 'churned', ARRAY['x1', 'x1'], '{}');
SELECT * FROM lrml.train('m8', 'churn', 'churned', ARRAY['churned'], '{}');
SELECT * FROM lrml.train('m9', 'churn', 'churned', ARRAY[]::text[], '{}');
SELECT * FROM lrml.train('m10', 'churn', 'churned', ARRAY['x1', NULL], '{}');
SELECT * FROM lrml.train(NULL, 'churn', 'churned', ARRAY['x1'], '{}');
SELECT * FROM lrml.train('', 'churn', 'churned', ARRAY['x1'], '{}');
CREATE SEQUENCE a_sequence;
SELECT * FROM lrml.train('m11', 'a_sequence', 'churned', ARRAY['x1'], '{}');
SELECT * FROM lrml.train('m3c', 'SELECT * FROM churn FOR UPDATE', 'churned', ARRAY['x1', 'x2'], '{}');
SELECT * FROM lrml.train(repeat('n', 1001), 'churn', 'churned', ARRAY['x1'], '{}');
BEGIN READ ONLY;
SELECT * FROM lrml.train('ro', 'churn', 'churned', ARRAY['x1'], '{}');
ROLLBACK;
-- too few rows for the split
SELECT * FROM lrml.train('m12', 'SELECT 1.0 AS x, true AS y UNION ALL SELECT 2.0, false', 'y', NULL, '{"validation_fraction": 0.5}');
SELECT * FROM lrml.train('m13', 'SELECT 1.0 AS x, true AS y UNION ALL SELECT 2.0, false', 'y', NULL, '{"validation_fraction": 0.9}');
-- the memory limit turns a large training into an error
SET lrml.memory_limit = '1MB';
SELECT * FROM lrml.train('big', 'SELECT g::float8 AS a, g::float8 AS b, g % 2 = 0 AS y FROM generate_series(1, 100000) g', 'y', NULL, '{}');
-- distinct category texts count against the limit too
SELECT * FROM lrml.train('bigtext', 'SELECT repeat(''x'', 5000) || g AS c, g % 2 = 0 AS y FROM generate_series(1, 400) g', 'y', NULL, '{}');
RESET lrml.memory_limit;
-- a cancelled training stores nothing
\set VERBOSITY terse
SET statement_timeout = '300ms';
SELECT count(*) FROM lrml.train('slow', 'SELECT g::float8 AS a, (g % 7)::float8 AS b, g % 3 = 0 AS y FROM generate_series(1, 20000) g', 'y', NULL, '{"epochs": 100000, "batch_size": 1}');
RESET statement_timeout;
\set VERBOSITY default

SELECT count(*) FROM victim;
SELECT (SELECT count(*) FROM lrml.models) = models AS no_model_stored,
       (SELECT count(*) FROM lrml.training_log) = log_rows AS no_log_stored
FROM n0;
SELECT 1 AS still_alive;

DELETE FROM lrml.model_names;
DROP TABLE churn, victim, other."Mixed Case", "Churn Data; v2", selections, mixed, churn_null, q, q_filled, lab, n0, all_null, bad,
  yes_case, num_lab, padded, tiny, offset_x, huge, lf4, outl CASCADE;
DROP SCHEMA other;
DROP TYPE plan;
DROP SEQUENCE a_sequence;
