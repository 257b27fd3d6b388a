-- lrml scoring by name: predict by row and by array, predict_class,
-- evaluate, and the per-backend model cache
SET extra_float_digits = 0;

CREATE TABLE sc_customers (id int PRIMARY KEY, tenure int, charges numeric,
                           usage float4, senior boolean, plan text,
                           churned text, monthly numeric);
INSERT INTO sc_customers
SELECT i, CASE WHEN i % 13 = 0 THEN NULL ELSE (i * 7) % 60 + 1 END,
       20 + (i * 13) % 80 + 0.25 * (i % 4), ((i * 11) % 50) / 10.0,
       i % 5 = 0,
       CASE i % 4 WHEN 0 THEN 'basic' WHEN 1 THEN 'plus' WHEN 2 THEN 'pro' END,
       CASE WHEN ((i * 7) % 60 < 20 AND (i * 13) % 80 > 30) OR i % 7 = 0
            THEN 'yes' ELSE 'no' END,
       15 + 0.5 * ((i * 7) % 60 + 1) + 10 * (i % 4) + 0.5 * (i % 3)
FROM generate_series(1, 80) AS i;

SELECT count(*) FROM lrml.train(model => 'sc_churn', relation => 'sc_customers',
                                label => 'churned',
                                features => ARRAY['tenure', 'charges', 'usage', 'senior', 'plan'],
                                options => '{"epochs": 40, "seed": 3, "learning_rate": 0.05}');
-- the encoding fixes the order of the inputs of the array form
SELECT c->>'name' AS name, c->>'type' AS type, c->'offset' AS "offset",
       c->'categories' AS categories
FROM lrml.models m, jsonb_array_elements(m.features->'columns') AS c
WHERE m.name = 'sc_churn' ORDER BY (c->>'offset')::int;

-- a row scores as a probability; predict_class compares it with 0.5
SELECT id, round(lrml.predict('sc_churn', c)::numeric, 4) AS p,
       lrml.predict_class('sc_churn', c) AS churns
FROM sc_customers c WHERE id <= 6 ORDER BY id;
SELECT bool_and(lrml.predict('sc_churn', c) > 0 AND lrml.predict('sc_churn', c) < 1) AS in_range,
       bool_and(lrml.predict_class('sc_churn', c) = (lrml.predict('sc_churn', c) >= 0.5)) AS class_at_half,
       bool_and(lrml.predict_class('sc_churn', c, 0.0)) AS all_at_zero,
       bool_and(lrml.predict_class('sc_churn', c, 0.3) = (lrml.predict('sc_churn', c) >= 0.3)) AS class_at_03
FROM sc_customers c;

-- the array form on the same raw inputs gives the same score
-- (row 1: tenure 8, charges 33.25, usage 1.1, not senior, plan "plus")
SELECT abs(lrml.predict('sc_churn', c)
           - lrml.predict('sc_churn', ARRAY[8, 33.25, 1.1::float4, 0, 0, 1, 0, 0])) < 1e-12 AS same
FROM sc_customers c WHERE id = 1;
-- (row 4: tenure 29, charges 72, usage 4.4, not senior, plan "basic")
SELECT abs(lrml.predict('sc_churn', c)
           - lrml.predict('sc_churn', ARRAY[29, 72, 4.4::float4, 0, 1, 0, 0, 0])) < 1e-12 AS same
FROM sc_customers c WHERE id = 4;
-- (row 5: tenure 36, charges 85.25, usage 0.5, senior, plan "plus")
SELECT abs(lrml.predict('sc_churn', c)
           - lrml.predict('sc_churn', ARRAY[36, 85.25, 0.5::float4, 1, 0, 1, 0, 0])) < 1e-12 AS same
FROM sc_customers c WHERE id = 5;

-- columns match by name: order, extra columns and other numeric types do not matter
SELECT bool_and(abs(lrml.predict('sc_churn', c) - lrml.predict('sc_churn', t)) < 1e-12) AS same
FROM sc_customers c
JOIN (SELECT 'note' AS note, plan::varchar(10) AS plan, senior, usage::float8 AS usage,
             charges::float8 AS charges, tenure::bigint AS tenure, id
      FROM sc_customers) AS t USING (id);
-- the planner passes a table's or subquery's row column by column; a row
-- that cannot be split (here a subquery kept apart by OFFSET 0) scores the same
EXPLAIN (VERBOSE, COSTS OFF) SELECT lrml.predict('sc_churn', c) FROM sc_customers c;
SELECT bool_and(abs(lrml.predict('sc_churn', c) - lrml.predict('sc_churn', t)) < 1e-12) AS same,
       count(*) AS n_rows
FROM sc_customers c JOIN (SELECT * FROM sc_customers OFFSET 0) AS t USING (id);
CREATE VIEW sc_view AS SELECT id, plan, senior, tenure, usage, charges FROM sc_customers;
SELECT bool_and(abs(lrml.predict('sc_churn', c) - lrml.predict('sc_churn', v)) < 1e-12) AS same
FROM sc_customers c JOIN sc_view v USING (id);
-- a row that an outer join leaves NULL scores as NULL
SELECT o.i, lrml.predict('sc_churn', c) AS p
FROM generate_series(1, 2) AS o(i) LEFT JOIN sc_customers c ON c.id = o.i * 100
ORDER BY o.i;
-- an enum for a text feature, a domain over smallint for an integer one
CREATE TYPE sc_plan AS ENUM ('pro', 'plus', 'basic', 'gold');
CREATE DOMAIN sc_months AS smallint CHECK (VALUE >= 0);
SELECT bool_and(abs(lrml.predict('sc_churn', c) - lrml.predict('sc_churn', t)) < 1e-12) AS same
FROM sc_customers c
JOIN (SELECT id, tenure::sc_months AS tenure, charges, usage, senior, plan::sc_plan AS plan
      FROM sc_customers) AS t USING (id);
-- an anonymous record with named columns
SELECT abs(lrml.predict('sc_churn', c) - lrml.predict('sc_churn', t)) < 1e-12 AS same
FROM sc_customers c,
     (VALUES (8, 33.25, 1.1::float4, false, 'plus')) AS t(tenure, charges, usage, senior, plan)
WHERE c.id = 1;

-- NULL takes the training mean (numeric), the share of true (boolean), the
-- NULL category (text); an unseen category scores as all zeros
CREATE TABLE sc_null AS
SELECT 1 AS id, NULL::int AS tenure, 33.25 AS charges, 1.1::float4 AS usage,
       false AS senior, 'plus' AS plan;
INSERT INTO sc_null VALUES (2, 8, 33.25, 1.1, NULL, 'plus'),
                           (3, 8, 33.25, 1.1, false, NULL),
                           (4, 8, 33.25, 1.1, false, 'platinum');
SELECT abs(lrml.predict('sc_churn', n)
           - lrml.predict('sc_churn', ARRAY[(SELECT (c->>'mean')::float8
                                              FROM lrml.models m, jsonb_array_elements(m.features->'columns') c
                                              WHERE m.name = 'sc_churn' AND c->>'name' = 'tenure'),
                                             33.25, 1.1::float4, 0, 0, 1, 0, 0])) < 1e-12 AS null_is_mean,
       abs(lrml.predict('sc_churn', n)
           - lrml.predict('sc_churn', ARRAY[NULL, 33.25, 1.1::float4, 0, 0, 1, 0, 0])) < 1e-12 AS null_element_is_mean
FROM sc_null n WHERE id = 1;
SELECT abs(lrml.predict('sc_churn', n)
           - lrml.predict('sc_churn', ARRAY[8, 33.25, 1.1::float4,
                                             (SELECT (c->>'fill')::float8
                                              FROM lrml.models m, jsonb_array_elements(m.features->'columns') c
                                              WHERE m.name = 'sc_churn' AND c->>'name' = 'senior'),
                                             0, 1, 0, 0])) < 1e-12 AS null_is_share,
       abs(lrml.predict('sc_churn', n)
           - lrml.predict('sc_churn', ARRAY[8, 33.25, 1.1::float4, NULL, 0, 1, 0, 0])) < 1e-12 AS null_element_is_share
FROM sc_null n WHERE id = 2;
SELECT abs(lrml.predict('sc_churn', n)
           - lrml.predict('sc_churn', ARRAY[8, 33.25, 1.1::float4, 0, 0, 0, 0, 1])) < 1e-12 AS null_category
FROM sc_null n WHERE id = 3;
SELECT abs(lrml.predict('sc_churn', n)
           - lrml.predict('sc_churn', ARRAY[8, 33.25, 1.1::float4, 0, 0, 0, 0, 0])) < 1e-12 AS unseen_is_zeros
FROM sc_null n WHERE id = 4;

-- the case of NULL features (C08): a NULL x1 scores as the stored mean, not as 0
CREATE TABLE churn_null (id int, x1 float8, x2 float8, churned boolean);
INSERT INTO churn_null VALUES
 (1,0.9,0.1,true),(2,0.8,0.3,true),(3,0.2,0.9,false),(4,0.1,0.7,false),
 (5,NULL,0.5,true),(6,NULL,NULL,false),(7,0.5,0.5,NULL);
SELECT count(*) FROM lrml.train(model => 'nullm', relation => 'churn_null', label => 'churned',
                                features => ARRAY['x1', 'x2'], options => '{"epochs": 20, "seed": 3}');
CREATE TABLE q (id int, x1 float8, x2 float8, churned boolean);
INSERT INTO q VALUES (1, NULL, 0.5, NULL), (2, 0, 0.5, NULL);
CREATE TABLE q_filled AS SELECT * FROM q;
UPDATE q_filled SET x1 = (SELECT (c->>'mean')::float8
                          FROM lrml.models m, jsonb_array_elements(m.features->'columns') c
                          WHERE m.name = 'nullm' AND c->>'name' = 'x1')
WHERE x1 IS NULL;
SELECT q.id, abs(lrml.predict('nullm', q) - lrml.predict('nullm', f)) < 1e-12 AS as_mean,
       lrml.predict('nullm', q) <> lrml.predict('nullm', z) AS differs_from_zero
FROM q JOIN q_filled f USING (id) JOIN q z ON z.id = 2
WHERE q.id = 1;

-- the name may change from row to row; each row uses its own model
SELECT count(*) FROM lrml.train(model => 'sc_churn2', relation => 'sc_customers',
                                label => 'churned', features => ARRAY['tenure', 'plan'],
                                options => '{"epochs": 5, "seed": 3}');
SELECT v.m, abs(lrml.predict(v.m, c) - CASE v.m WHEN 'sc_churn' THEN lrml.predict('sc_churn', c)
                                               ELSE lrml.predict('sc_churn2', c) END) < 1e-12 AS same
FROM sc_customers c, (VALUES ('sc_churn'), ('sc_churn2'), ('sc_churn')) AS v(m)
WHERE c.id = 3 ORDER BY 1, 2;

-- a linear model predicts in the label's units
SELECT count(*) FROM lrml.train(model => 'sc_spend', relation => 'sc_customers', label => 'monthly',
                                features => ARRAY['tenure', 'plan'],
                                options => '{"model": "linear", "epochs": 100, "seed": 1, "learning_rate": 0.05}');
SELECT bool_and(abs(lrml.predict('sc_spend', c) - monthly) < 10) AS close
FROM sc_customers c WHERE tenure IS NOT NULL;
SELECT abs(lrml.predict('sc_spend', c) - lrml.predict('sc_spend', ARRAY[8, 0, 1, 0, 0])) < 1e-9 AS same
FROM sc_customers c WHERE id = 1;

-- evaluate: classifier metrics, in this order, on the training relation by default
SELECT metric, round(value::numeric, 4) AS value FROM lrml.evaluate('sc_churn');
SELECT (SELECT value FROM lrml.evaluate('sc_churn') WHERE metric = 'auc') > 0.7 AS auc_ok;
-- the same measures written in SQL
CREATE TABLE sc_scored AS
SELECT lrml.predict('sc_churn', c) AS p, (churned = 'yes')::int AS y FROM sc_customers c;
WITH e AS (SELECT metric, value FROM lrml.evaluate('sc_churn')),
counts AS (
  SELECT count(*) FILTER (WHERE p >= 0.5 AND y = 1) AS tp,
         count(*) FILTER (WHERE p >= 0.5 AND y = 0) AS fp,
         count(*) FILTER (WHERE p < 0.5 AND y = 1) AS fn,
         count(*) FILTER (WHERE p < 0.5 AND y = 0) AS tn,
         -avg(y * ln(greatest(p, 1e-15)) + (1 - y) * ln(greatest(1 - p, 1e-15))) AS log_loss,
         count(*) AS n
  FROM sc_scored),
ranked AS (
  SELECT y, rank() OVER (ORDER BY p) + (count(*) OVER (PARTITION BY p) - 1) / 2.0 AS r
  FROM sc_scored),
auc AS (
  SELECT (sum(r) FILTER (WHERE y = 1) - count(*) FILTER (WHERE y = 1) * (count(*) FILTER (WHERE y = 1) + 1) / 2.0)
         / (count(*) FILTER (WHERE y = 1) * count(*) FILTER (WHERE y = 0)) AS auc
  FROM ranked),
sql AS (
  SELECT 'auc' AS metric, auc::float8 AS value FROM auc
  UNION ALL SELECT 'log_loss', log_loss FROM counts
  UNION ALL SELECT 'accuracy', (tp + tn)::float8 / n FROM counts
  UNION ALL SELECT 'precision', tp::float8 / (tp + fp) FROM counts
  UNION ALL SELECT 'recall', tp::float8 / (tp + fn) FROM counts
  UNION ALL SELECT 'f1', 2.0 * tp / (2 * tp + fp + fn) FROM counts
  UNION ALL SELECT 'rows', n FROM counts)
SELECT metric, abs(e.value - sql.value) < 1e-9 AS matches_sql
FROM e JOIN sql USING (metric) ORDER BY metric;

-- the AUC with heavy ties (three distinct scores) equals the rank formula
CREATE TABLE sc_ties AS
SELECT i, (i % 3)::float8 AS x, ((i % 3) = 2 OR i % 7 = 0) AS y FROM generate_series(1, 300) i;
SELECT count(*) AS epochs FROM lrml.train('sc_ties', 'sc_ties', 'y', ARRAY['x'], '{"epochs": 5}');
WITH s AS (SELECT lrml.predict('sc_ties', t) AS p, y::int AS y FROM sc_ties t),
r AS (SELECT y, rank() OVER (ORDER BY p) + (count(*) OVER (PARTITION BY p) - 1) / 2.0 AS r FROM s)
SELECT (SELECT count(DISTINCT p) FROM s) AS distinct_scores,
       abs((SELECT value FROM lrml.evaluate('sc_ties', 'sc_ties') WHERE metric = 'auc') -
           (SELECT (sum(r) FILTER (WHERE y = 1) - count(*) FILTER (WHERE y = 1) * (count(*) FILTER (WHERE y = 1) + 1) / 2.0)
                   / (count(*) FILTER (WHERE y = 1) * count(*) FILTER (WHERE y = 0)) FROM r)) < 1e-12 AS matches_sql;
DROP TABLE sc_ties;
SELECT lrml.drop_model('sc_ties');

-- a threshold option and a query as the relation; NULL labels are skipped
SELECT metric, round(value::numeric, 4) AS value
FROM lrml.evaluate('sc_churn', 'SELECT * FROM sc_customers WHERE id > 40',
                   '{"threshold": 0.3}');
SELECT metric, value FROM lrml.evaluate('nullm', 'churn_null') WHERE metric = 'rows';
-- a relation of one class only: AUC is undefined (NULL), the rest is not
SELECT metric, round(value::numeric, 4) AS value
FROM lrml.evaluate('sc_churn', $$SELECT * FROM sc_customers WHERE churned = 'no'$$);

-- evaluate: linear metrics, checked against SQL
SELECT metric, round(value::numeric, 4) AS value FROM lrml.evaluate('sc_spend');
SELECT (SELECT value FROM lrml.evaluate('sc_spend') WHERE metric = 'r2') > 0.9 AS r2_ok;
WITH s AS (SELECT lrml.predict('sc_spend', c) AS p, monthly::float8 AS y FROM sc_customers c),
sql AS (
  SELECT 'rmse' AS metric, sqrt(avg((p - y) ^ 2)) AS value FROM s
  UNION ALL SELECT 'mae', avg(abs(p - y)) FROM s
  UNION ALL SELECT 'r2', 1 - sum((y - p) ^ 2) / (SELECT sum((y - m) ^ 2) FROM s, (SELECT avg(y) AS m FROM s) a) FROM s
  UNION ALL SELECT 'rows', count(*) FROM s)
SELECT metric, abs(e.value - sql.value) < 1e-9 AS matches_sql
FROM lrml.evaluate('sc_spend') AS e JOIN sql USING (metric) ORDER BY metric;

-- the cache: another session's new version or deploy is seen by the next query here
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('sc_other',
       'dbname=' || current_database() || ' port=' || current_setting('port') ||
       ' host=' || split_part(current_setting('unix_socket_directories'), ',', 1));
SELECT count(*) FROM lrml.train(model => 'sc_cache', relation => 'sc_customers', label => 'churned',
                                features => ARRAY['tenure', 'charges'],
                                options => '{"epochs": 3, "seed": 1}');
CREATE TABLE sc_cache_seen AS
SELECT 1 AS version, lrml.predict('sc_cache', ARRAY[10, 50]) AS p;
SELECT n FROM dblink('sc_other',
  $$SELECT count(*) FROM lrml.train(model => 'sc_cache', relation => 'sc_customers',
      label => 'churned', features => ARRAY['tenure', 'charges'],
      options => '{"epochs": 30, "seed": 2, "learning_rate": 0.1}')$$) AS t(n bigint);
INSERT INTO sc_cache_seen
SELECT 2, p FROM dblink('sc_other', $$SELECT lrml.predict('sc_cache', ARRAY[10, 50])$$) AS t(p float8);
SELECT lrml.predict('sc_cache', ARRAY[10, 50]) = (SELECT p FROM sc_cache_seen WHERE version = 2) AS sees_v2,
       (SELECT p FROM sc_cache_seen WHERE version = 1) <> (SELECT p FROM sc_cache_seen WHERE version = 2) AS versions_differ;
SELECT ok FROM dblink('sc_other', $$SELECT 1 FROM lrml.deploy('sc_cache', 1)$$) AS t(ok int);
SELECT lrml.predict('sc_cache', ARRAY[10, 50]) = (SELECT p FROM sc_cache_seen WHERE version = 1) AS sees_v1;
-- one query keeps the version it started with, even when a deploy commits midway
SELECT i, lrml.predict('sc_cache', ARRAY[10, 50]) = (SELECT p FROM sc_cache_seen WHERE version = 1) AS uses_v1,
       CASE WHEN i = 1 THEN (SELECT ok FROM dblink('sc_other', $$SELECT 1 FROM lrml.deploy('sc_cache', 2)$$)
                                                   AS t(ok int)) END AS deployed
FROM generate_series(1, 3) AS i ORDER BY i;
SELECT lrml.predict('sc_cache', ARRAY[10, 50]) = (SELECT p FROM sc_cache_seen WHERE version = 2) AS next_query_v2;
-- a dropped and retrained name is a new model
SELECT ok FROM dblink('sc_other', $$SELECT 1 FROM lrml.drop_model('sc_cache')$$) AS t(ok int);
SELECT lrml.predict('sc_cache', ARRAY[10, 50]);
SELECT count(*) FROM lrml.train(model => 'sc_cache', relation => 'sc_customers', label => 'churned',
                                features => ARRAY['tenure', 'charges'],
                                options => '{"epochs": 3, "seed": 1}');
SELECT lrml.predict('sc_cache', ARRAY[10, 50]) = (SELECT p FROM sc_cache_seen WHERE version = 1) AS retrained_like_v1;
SELECT dblink_disconnect('sc_other');

-- the cache inside PL/pgSQL: fn_extra of a simple expression lives for the
-- whole transaction, yet each statement sees the versions trained, rolled
-- back and dropped by the statements before it
CREATE FUNCTION sc_plp_score() RETURNS float8 LANGUAGE plpgsql AS $$
BEGIN
  RETURN lrml.predict('sc_plp', ARRAY[10, 50]);
END
$$;
DO $$
DECLARE
  p1 float8;
  p2 float8;
BEGIN
  PERFORM count(*) FROM lrml.train(model => 'sc_plp', relation => 'sc_customers',
                                   label => 'churned', features => ARRAY['tenure', 'charges'],
                                   options => '{"epochs": 3, "seed": 1}');
  p1 := sc_plp_score();
  BEGIN
    PERFORM count(*) FROM lrml.train(model => 'sc_plp', relation => 'sc_customers',
                                     label => 'churned', features => ARRAY['tenure', 'charges'],
                                     options => '{"epochs": 30, "seed": 2, "learning_rate": 0.1}');
    p2 := sc_plp_score();
    RAISE NOTICE 'new version scores inside the block: %', p2 <> p1;
    RAISE SQLSTATE 'LRUND';
  EXCEPTION WHEN SQLSTATE 'LRUND' THEN NULL;
  END;
  RAISE NOTICE 'rolled back, version 1 scores again: %', sc_plp_score() = p1;
  PERFORM count(*) FROM lrml.train(model => 'sc_plp', relation => 'sc_customers',
                                   label => 'churned', features => ARRAY['tenure', 'charges'],
                                   options => '{"epochs": 30, "seed": 2, "learning_rate": 0.1}');
  RAISE NOTICE 'retrained, the new version scores: %', sc_plp_score() = p2;
  PERFORM lrml.deploy('sc_plp', 1);
  RAISE NOTICE 'deployed version 1 scores: %', sc_plp_score() = p1;
  PERFORM lrml.drop_model('sc_plp');
  BEGIN
    RAISE NOTICE 'dropped, yet scored: %', sc_plp_score();
  EXCEPTION WHEN undefined_object THEN
    RAISE NOTICE 'dropped: %', SQLERRM;
  END;
END
$$;
SELECT count(*) AS sc_plp_versions FROM lrml.models WHERE name = 'sc_plp';

-- char(n) values lose their trailing spaces, as in training: a category
-- as char(8) scores like the same text
SELECT bool_and(abs(lrml.predict('sc_churn', c) - lrml.predict('sc_churn', t)) < 1e-12) AS same
FROM sc_customers c
JOIN (SELECT id, tenure, charges, usage, senior, plan::char(8) AS plan FROM sc_customers) AS t
USING (id);

-- evaluate compares numeric labels by value and char(n) labels without
-- trailing spaces; boolean classes show as true and false
CREATE TABLE sc_labels (id int PRIMARY KEY, x float8, yf float8, yc char(6), yb boolean);
INSERT INTO sc_labels
SELECT i, i % 10, CASE WHEN i % 10 + i % 3 >= 6 THEN 1.0 ELSE 0.0 END,
       CASE WHEN i % 10 + i % 3 >= 6 THEN 'yes' ELSE 'no' END, i % 10 + i % 3 >= 6
FROM generate_series(1, 40) AS i;
SELECT count(*) FROM lrml.train(model => 'sc_yf', relation => 'sc_labels', label => 'yf',
                                features => ARRAY['x'], options => '{"epochs": 5, "seed": 1}');
SELECT count(*) FROM lrml.train(model => 'sc_yc', relation => 'sc_labels', label => 'yc',
                                features => ARRAY['x'], options => '{"epochs": 5, "seed": 1}');
SELECT count(*) FROM lrml.train(model => 'sc_yb', relation => 'sc_labels', label => 'yb',
                                features => ARRAY['x'], options => '{"epochs": 5, "seed": 1}');
WITH base AS (SELECT metric, value FROM lrml.evaluate('sc_yf', 'sc_labels'))
SELECT b.metric,
       n.value IS NOT DISTINCT FROM b.value AS as_numeric,
       i.value IS NOT DISTINCT FROM b.value AS as_int,
       s.value IS NOT DISTINCT FROM b.value AS as_numeric_scale_2
FROM base b
JOIN lrml.evaluate('sc_yf', 'SELECT x, yf::numeric AS yf FROM sc_labels') n USING (metric)
JOIN lrml.evaluate('sc_yf', 'SELECT x, yf::int AS yf FROM sc_labels') i USING (metric)
JOIN lrml.evaluate('sc_yf', 'SELECT x, yf::numeric(4, 2) AS yf FROM sc_labels') s USING (metric)
ORDER BY b.metric;
WITH base AS (SELECT metric, value FROM lrml.evaluate('sc_yc', 'sc_labels'))
SELECT b.metric, t.value IS NOT DISTINCT FROM b.value AS as_text,
       c.value IS NOT DISTINCT FROM b.value AS as_char_10
FROM base b
JOIN lrml.evaluate('sc_yc', 'SELECT x, rtrim(yc)::text AS yc FROM sc_labels') t USING (metric)
JOIN lrml.evaluate('sc_yc', 'SELECT x, yc::char(10) AS yc FROM sc_labels') c USING (metric)
ORDER BY b.metric;
SELECT value FROM lrml.evaluate('sc_yb', 'sc_labels') WHERE metric = 'rows';

-- evaluate without a relation re-reads the stored source only for the role
-- that trained the version: another role, even a superuser, runs none of
-- it and must name the relation
CREATE ROLE regress_lrml_sc_low;
GRANT SELECT ON sc_customers TO regress_lrml_sc_low;
CREATE FUNCTION sc_touch() RETURNS int LANGUAGE sql VOLATILE AS
$$ SELECT 1 FROM set_config('sc.touched_by', current_user, false) $$;
SET ROLE regress_lrml_sc_low;
SELECT count(*) FROM lrml.train(model => 'sc_low', relation => 'SELECT c.*, sc_touch() AS t FROM sc_customers c',
                                label => 'churned', features => ARRAY['tenure', 'charges'],
                                options => '{"epochs": 2, "seed": 1}');
SELECT current_setting('sc.touched_by') AS touched_by;
RESET ROLE;
SELECT set_config('sc.touched_by', '', false);
SELECT * FROM lrml.evaluate('sc_low');
SELECT current_setting('sc.touched_by') = '' AS nothing_ran;
SELECT metric FROM lrml.evaluate('sc_low', 'sc_customers') ORDER BY metric;
SET ROLE regress_lrml_sc_low;
SELECT count(*) AS metrics FROM lrml.evaluate('sc_low');
SELECT current_setting('sc.touched_by') AS touched_by;
RESET ROLE;

-- errors: missing models (nothing is returned, no NULL)
SELECT lrml.predict('no_such_model', ARRAY[1, 2]::float8[]);
SELECT lrml.predict('no_such_model', c) FROM sc_customers c WHERE id = 1;
SELECT lrml.predict_class('no_such_model', c) FROM sc_customers c WHERE id = 1;
SELECT * FROM lrml.evaluate('no_such_model');
SELECT * FROM lrml.evaluate(NULL);

-- errors: rows that do not fit the model
SELECT lrml.predict('sc_churn', t) FROM (SELECT id, tenure, charges, usage, plan FROM sc_customers) t WHERE id = 1;
SELECT lrml.predict('sc_churn', t)
FROM (SELECT id, tenure::text AS tenure, charges, usage, senior, plan FROM sc_customers) t WHERE id = 1;
SELECT lrml.predict('sc_churn', t)
FROM (SELECT id, tenure, charges, usage, senior, id AS plan FROM sc_customers) t WHERE id = 1;
SELECT lrml.predict('sc_churn', 42);
SELECT lrml.predict('sc_churn', ROW(8, 33.25, 1.1, false, 'plus'));
SELECT lrml.predict('sc_churn', t)
FROM (SELECT 8 AS tenure, 33.25 AS charges, 'NaN'::float4 AS usage, false AS senior, 'plus' AS plan) t;
SELECT lrml.predict('sc_churn', t)
FROM (SELECT 8 AS tenure, 'Infinity'::numeric AS charges, 1.1 AS usage, false AS senior, 'plus' AS plan) t;

-- errors: values beyond 1e150 in magnitude, as in training (22003), and
-- scores that overflow are errors, never NaN or infinity
SELECT lrml.predict('sc_churn', t)
FROM (SELECT 8 AS tenure, 33.25 AS charges, 1e308::float8 AS usage, false AS senior, 'plus' AS plan) t;
SELECT lrml.predict('sc_churn', t)
FROM (SELECT 8 AS tenure, -1e200 AS charges, 1.1 AS usage, false AS senior, 'plus' AS plan) t;
SELECT lrml.predict_class('sc_churn', t)
FROM (SELECT 8 AS tenure, 1e151 AS charges, 1.1 AS usage, false AS senior, 'plus' AS plan) t;
SELECT lrml.predict('sc_churn', ARRAY[8, 1e308, 1.1, 0, 0, 1, 0, 0]);
SELECT lrml.predict('sc_churn', ARRAY[8, 33.25, 1.1, 0, 0, -1e151, 0, 0]);
SELECT lrml.predict('sc_churn', ARRAY[8, 1e150, 1.1, 0, 0, 1, 0, 0]) BETWEEN 0 AND 1 AS at_the_bound;
-- a linear model whose first weight is 1e300 (written by hand): every
-- score beyond 1e150 in magnitude is out of range, an overflow included
BEGIN;
INSERT INTO lrml.models (name, version, kind, source, label, features, options,
                         parameters, metrics, format_version)
SELECT name, 99, kind, source, label, features, options,
       overlay(parameters PLACING '\x7e37e43c8800759c'::bytea FROM length(parameters) - 39 FOR 8),
       metrics, format_version
FROM lrml.models WHERE name = 'sc_spend' AND version = 1;
SAVEPOINT overflow;
SELECT lrml.predict('sc_spend', ARRAY[1e-3, 0, 1, 0, 0]);
ROLLBACK TO overflow;
SELECT lrml.predict('sc_spend', ARRAY[1e150, 0, 1, 0, 0]);
ROLLBACK TO overflow;
SELECT lrml.predict('sc_spend', t) FROM (SELECT -1e150 AS tenure, 'plus' AS plan) t;
ROLLBACK;

-- errors: arrays that do not fit the model
SELECT lrml.predict('sc_churn', ARRAY[8, 33.25, 1.1, 0, 0, 7, 0, 0]);
SELECT lrml.predict('sc_churn', ARRAY[8, 33.25, 1.1, 0, 0, 1, 0]);
SELECT lrml.predict('sc_churn', ARRAY[]::float8[]);
SELECT lrml.predict('sc_churn', ARRAY[[8, 33.25, 1.1, 0], [0, 1, 0, 0]]);
SELECT lrml.predict('sc_churn', ARRAY[8, 33.25, 1.1, 0, NULL, 1, 0, 0]);
SELECT lrml.predict('sc_churn', ARRAY[8, 'NaN', 1.1, 0, 0, 1, 0, 0]);
SELECT lrml.predict('sc_churn', ARRAY[8, 33.25, '-Infinity', 0, 0, 1, 0, 0]);

-- errors: classes of a linear model, thresholds out of range
SELECT lrml.predict_class('sc_spend', c) FROM sc_customers c WHERE id = 1;
SELECT lrml.predict_class('sc_churn', c, 1.5) FROM sc_customers c WHERE id = 1;
SELECT lrml.predict_class('sc_churn', c, 'NaN') FROM sc_customers c WHERE id = 1;

-- errors: evaluate options and relations
SELECT * FROM lrml.evaluate('sc_churn', NULL, '{"k": 10}');
SELECT * FROM lrml.evaluate('sc_churn', NULL, '{"threshold": 2}');
SELECT * FROM lrml.evaluate('sc_churn', NULL, '{"threshold": "high"}');
SELECT * FROM lrml.evaluate('sc_churn', NULL, '{"threshold": "0.3"}');
SELECT * FROM lrml.evaluate('sc_churn', NULL, '{"threshold": null}');
SELECT * FROM lrml.evaluate('sc_churn', NULL, '{"threshold": 1e400}');
SELECT * FROM lrml.evaluate('sc_churn', NULL, '[0.5]');
SELECT * FROM lrml.evaluate('sc_churn', 'sc_missing_table');
SELECT * FROM lrml.evaluate('sc_churn', 'SELECT id, churned FROM sc_customers');
SELECT * FROM lrml.evaluate('sc_churn', $$SELECT tenure, charges, usage, senior, plan,
                                           CASE WHEN id = 3 THEN 'maybe' ELSE churned END AS churned
                                           FROM sc_customers$$);
SELECT * FROM lrml.evaluate('sc_churn', 'SELECT tenure, charges, usage, senior, plan FROM sc_customers');
SELECT * FROM lrml.evaluate('sc_spend', $$SELECT tenure, plan, plan AS monthly FROM sc_customers$$);
SELECT * FROM lrml.evaluate('sc_churn', 'SELECT * FROM sc_customers; DROP TABLE sc_customers');
SELECT * FROM lrml.evaluate('sc_yf', 'SELECT x, yf + 1 AS yf FROM sc_labels');
SELECT * FROM lrml.evaluate('sc_yb', $$SELECT x, CASE WHEN id = 3 THEN 'maybe' ELSE yb::text END AS yb
                                       FROM sc_labels$$);
SELECT * FROM lrml.evaluate('sc_yc', $$SELECT x, 'maybe'::char(8) AS yc FROM sc_labels$$);
SELECT * FROM lrml.evaluate('sc_spend', $$SELECT tenure, plan, 1e200 AS monthly FROM sc_customers$$);
SELECT count(*) AS customers FROM sc_customers;

-- clean up
SELECT lrml.drop_model(m) FROM (VALUES ('sc_churn'), ('sc_churn2'), ('sc_spend'), ('sc_cache'), ('nullm'),
                                       ('sc_yf'), ('sc_yc'), ('sc_yb'), ('sc_low')) AS v(m);
SELECT count(*) AS models_left FROM lrml.models WHERE name LIKE 'sc%' OR name = 'nullm';
DROP VIEW sc_view;
REVOKE SELECT ON sc_customers FROM regress_lrml_sc_low;
DROP ROLE regress_lrml_sc_low;
DROP FUNCTION sc_touch(), sc_plp_score();
DROP TABLE sc_cache_seen, sc_scored, sc_null, q, q_filled, churn_null, sc_customers, sc_labels;
DROP TYPE sc_plan;
DROP DOMAIN sc_months;
DROP EXTENSION dblink;
