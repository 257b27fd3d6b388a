-- lrml.fit (one model per group), the lrml.model type, lrml.save and
-- scoring by value
SET extra_float_digits = 0;
SET lrml.blas_threads = 1;
\i test/data/mlc_churn.sql

-- a generated customers table: four regions of 1,000 rows
CREATE TABLE agg_customers AS
SELECT i AS id, i % 4 AS region,
       (i * 7 % 60)::float8 AS tenure, (20 + i * 13 % 80)::float8 AS charges,
       (i * 3 % 7)::float8 AS calls,
       ((i * 7 % 60) < 15 AND (i * 3 % 7) > 2) OR i % 11 = 0 AS churned
FROM generate_series(1, 4000) i;

-- the example of the documentation: train per region, score in a join
CREATE TABLE region_models AS
  SELECT region, lrml.fit(ARRAY[tenure, charges, calls], churned,
                          '{"schedule": "cosine", "epochs": 30}') AS m
  FROM agg_customers GROUP BY region;
SELECT region, m IS NOT NULL AS trained,
       (lrml.model_info(m)->'metrics'->>'rows')::int AS rows,
       (lrml.model_info(m)->'metrics'->>'valid_auc')::float8 > 0.7 AS auc_ok
FROM region_models ORDER BY region;
SELECT count(*) AS scored, bool_and(p > 0 AND p < 1) AS probabilities
FROM (SELECT c.id, lrml.predict(r.m, ARRAY[c.tenure, c.charges, c.calls]) AS p
      FROM agg_customers c JOIN region_models r USING (region)) s;

-- each group's encoding is its own: the means differ by region
SELECT region,
       round((lrml.model_info(m)->'encoding'->'columns'->0->>'mean')::numeric, 4) AS tenure_mean
FROM region_models ORDER BY region;

-- model_info: kind, classes, options (every option of lrml.train), metrics
SELECT lrml.model_info(m)->>'kind' AS kind,
       lrml.model_info(m)->'classifier' AS classifier,
       lrml.model_info(m)->>'positive_class' AS positive_class,
       lrml.model_info(m)->'inputs' AS inputs,
       lrml.model_info(m)->'options'->'schedule' AS schedule,
       lrml.model_info(m)->'options'->>'on_group_error' AS on_group_error,
       lrml.model_info(m)->'metrics'->'feature_nulls' AS feature_nulls
FROM region_models WHERE region = 0;

-- the real churn table, grouped by area_code: train on four fifths of the
-- rows, score the held-out fifth (AUC by the rank formula)
CREATE TABLE agg_churn AS
SELECT row_number() OVER () AS rn, area_code, churn,
       ARRAY[account_length, number_vmail_messages, total_day_minutes,
             total_day_calls, total_eve_minutes, total_eve_calls,
             total_night_minutes, total_night_calls, total_intl_minutes,
             total_intl_calls, number_customer_service_calls,
             (international_plan = 'yes')::int,
             (voice_mail_plan = 'yes')::int]::float8[] AS x
FROM mlc_churn;
CREATE TABLE area_models AS
SELECT area_code, lrml.fit(x, churn, '{"epochs": 40, "learning_rate": 0.05}') AS m
FROM agg_churn WHERE rn % 5 <> 0 GROUP BY area_code;
CREATE FUNCTION agg_auc(score float8[], pos bool[]) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
  WITH r AS (SELECT p, rank() OVER (ORDER BY s) AS rk
             FROM unnest(score, pos) AS u(s, p))
  SELECT ((SELECT sum(rk) FROM r WHERE p)
          - count(*) FILTER (WHERE p) * (count(*) FILTER (WHERE p) + 1) / 2.0)
         / (count(*) FILTER (WHERE p) * count(*) FILTER (WHERE NOT p))
  FROM r $$;
SELECT area_code, (lrml.model_info(m)->'metrics'->>'rows')::int AS rows
FROM area_models ORDER BY area_code;
CREATE TABLE area_scores AS
SELECT c.rn, lrml.predict(a.m, c.x) AS s, c.churn = 'yes' AS pos
FROM agg_churn c JOIN area_models a USING (area_code) WHERE c.rn % 5 = 0;
SELECT count(*) AS held_out,
       agg_auc(array_agg(s ORDER BY rn), array_agg(pos ORDER BY rn)) >= 0.75 AS auc_at_least_075
FROM area_scores;

-- grouped by state: 51 models in one query
SELECT count(*) AS states, count(m) AS trained
FROM (SELECT state, lrml.fit(ARRAY[total_day_minutes, number_customer_service_calls],
                             churn, '{"epochs": 5, "validation_fraction": 0}') AS m
      FROM mlc_churn GROUP BY state) s;

-- a parallel plan: partial aggregates in two workers, combined in the
-- leader; the final function sorts each group's rows, so the models are
-- those of the serial plan, and so is their quality
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT lrml.fit(x, churn, '{}') FROM agg_churn WHERE rn % 5 <> 0;
EXPLAIN (COSTS OFF)
SELECT area_code, lrml.fit(x, churn, '{}') FROM agg_churn
WHERE rn % 5 <> 0 GROUP BY area_code;
CREATE TABLE area_models_parallel AS
SELECT area_code, lrml.fit(x, churn, '{"epochs": 40, "learning_rate": 0.05}') AS m
FROM agg_churn WHERE rn % 5 <> 0 GROUP BY area_code;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
SELECT p.area_code,
       lrml.model_info(p.m)->'metrics'->'rows' = lrml.model_info(s.m)->'metrics'->'rows' AS same_rows,
       p.m::text = s.m::text AS same_model
FROM area_models_parallel p JOIN area_models s USING (area_code)
ORDER BY p.area_code;
SELECT abs(agg_auc(array_agg(lrml.predict(p.m, c.x) ORDER BY c.rn),
                   array_agg(c.churn = 'yes' ORDER BY c.rn))
           - (SELECT agg_auc(array_agg(s ORDER BY rn), array_agg(pos ORDER BY rn))
              FROM area_scores)) < 0.01 AS parallel_auc_within_001
FROM agg_churn c JOIN area_models_parallel p USING (area_code)
WHERE c.rn % 5 = 0;

-- every option of lrml.train applies: an mlp, early stopping, a linear
-- model on a numeric label, text classes
SELECT lrml.model_info(lrml.fit(x, churn,
         '{"model": "mlp", "hidden": [8], "epochs": 5, "early_stopping": {"patience": 2}}'))->>'kind' AS kind
FROM agg_churn;
SELECT lrml.model_info(m)->>'kind' AS kind, lrml.model_info(m)->'classifier' AS classifier,
       abs(lrml.predict(m, ARRAY[10.0]) - 21) < 1 AS fits_line
FROM (SELECT lrml.fit(ARRAY[i::float8], 2.0 * i + 1,
                      '{"model": "linear", "epochs": 200, "learning_rate": 0.05, "batch_size": 8}') AS m
      FROM generate_series(1, 40) i) s;
SELECT lrml.model_info(m)->>'positive_class' AS positive_class,
       lrml.model_info(m)->>'negative_class' AS negative_class
FROM (SELECT lrml.fit(ARRAY[i::float8], CASE WHEN i > 20 THEN 'stay' ELSE 'leave' END,
                      '{"positive_class": "leave"}') AS m
      FROM generate_series(1, 40) i) s;

-- NULL labels are skipped and counted; a NULL element is a NULL value
SELECT lrml.model_info(m)->'metrics'->'rows' AS rows,
       lrml.model_info(m)->'metrics'->'rows_null_label' AS null_labels,
       lrml.model_info(m)->'metrics'->'feature_nulls' AS feature_nulls
FROM (SELECT lrml.fit(ARRAY[CASE WHEN i % 10 = 0 THEN NULL ELSE i END, i % 3]::float8[],
                      CASE WHEN i % 7 = 0 THEN NULL ELSE i % 2 = 0 END, '{}') AS m
      FROM generate_series(1, 100) i) s;

-- predict_class by value
SELECT lrml.predict_class(m, ARRAY[5.0, 50, 6]) AS churns,
       lrml.predict_class(m, ARRAY[5.0, 50, 6], 0.999) AS churns_at_0999
FROM region_models WHERE region = 0;

-- the text form round-trips exactly; so does the binary form (COPY BINARY)
SELECT region, m::text::lrml.model::text = m::text AS text_round_trip,
       left(m::text, 13) AS prefix
FROM region_models ORDER BY region;
\copy (SELECT region, m FROM region_models) TO '/tmp/lrml_aggregates_models.bin' WITH (FORMAT binary)
CREATE TABLE region_models_copy (region int, m lrml.model);
\copy region_models_copy FROM '/tmp/lrml_aggregates_models.bin' WITH (FORMAT binary)
\! rm -f /tmp/lrml_aggregates_models.bin
SELECT r.region, r.m::text = c.m::text AS binary_round_trip
FROM region_models r JOIN region_models_copy c USING (region) ORDER BY r.region;

-- lrml.save stores the value as the next version; scoring by name equals
-- scoring by value; evaluate needs a relation with columns x[1], ... and
-- label
SELECT lrml.save('agg_region1', m) AS version FROM region_models WHERE region = 1;
SELECT lrml.save(model => 'agg_region1', m => m) AS version FROM region_models WHERE region = 2;
SELECT version, kind, source, options->>'epochs' AS epochs, metrics->'rows' AS rows
FROM lrml.models WHERE name = 'agg_region1' ORDER BY version;
SELECT bool_and(lrml.predict('agg_region1', ARRAY[c.tenure, c.charges, c.calls])
                = lrml.predict(r.m, ARRAY[c.tenure, c.charges, c.calls])) AS same_scores
FROM agg_customers c, region_models r WHERE r.region = 2;
SELECT metric, round(value::numeric, 4) AS value
FROM lrml.evaluate('agg_region1', 'SELECT tenure AS "x[1]", charges AS "x[2]", calls AS "x[3]", churned AS label FROM agg_customers WHERE region = 2')
WHERE metric IN ('auc', 'rows') ORDER BY metric;
SELECT * FROM lrml.evaluate('agg_region1');
SELECT lrml.drop_model('agg_region1');

-- a group that cannot train yields NULL; one notice per query counts
-- them and names the first one's reason (groups sorted, so that the
-- first is always the same)
SET enable_hashagg = off;
SELECT region, m IS NULL AS is_null
FROM (SELECT region, lrml.fit(ARRAY[tenure], region = 0 OR churned AND region <> 1, '{}') AS m
      FROM agg_customers GROUP BY region) s ORDER BY region;
SELECT lrml.fit(ARRAY[tenure], churned, '{"validation_fraction": 0.9}') IS NULL AS too_few_rows
FROM agg_customers WHERE id IN (11, 12);
SELECT lrml.fit(ARRAY[tenure], churned, '{}') IS NULL AS no_labels
FROM agg_customers WHERE false;
SELECT lrml.fit(ARRAY[tenure], NULL::bool, '{}') IS NULL AS all_labels_null
FROM agg_customers WHERE id < 10;
-- as a window aggregate, over each partition, each failing partition
-- reports at once
SELECT region, bool_and(m IS NULL) AS is_null, count(*) AS rows
FROM (SELECT region, lrml.fit(ARRAY[tenure], region = 0 OR churned, '{"epochs": 2}')
                     OVER (PARTITION BY region) AS m
      FROM agg_customers WHERE id <= 400) s
GROUP BY region ORDER BY region;
-- ... and fails the query with "on_group_error": "error"
SELECT region, lrml.fit(ARRAY[tenure], region = 0 OR churned, '{"on_group_error": "error"}') IS NULL
FROM agg_customers GROUP BY region ORDER BY region;
RESET enable_hashagg;

-- errors that are not the group's data fail the query at once
SELECT lrml.fit(ARRAY[tenure], churned, '{"epochs": 0}') FROM agg_customers;
SELECT lrml.fit(ARRAY[tenure], churned, '{"on_group_error": "ignore"}') FROM agg_customers;
SELECT lrml.fit(ARRAY[tenure], churned, '{"warm_start": true}') FROM agg_customers;
SELECT lrml.fit(ARRAY[tenure], point(1, 2), '{}') FROM agg_customers;
SELECT lrml.fit(ARRAY[tenure], 'a'::text, '{"model": "linear"}') FROM agg_customers;
SELECT lrml.fit(CASE WHEN id = 7 THEN ARRAY[tenure] ELSE ARRAY[tenure, calls] END, churned, '{}')
FROM agg_customers;
SELECT lrml.fit(CASE WHEN id = 7 THEN NULL ELSE ARRAY[tenure] END, churned, '{}')
FROM agg_customers;
SELECT lrml.fit(ARRAY[CASE WHEN id = 7 THEN 'NaN' ELSE tenure END], churned, '{}')
FROM agg_customers;
SELECT lrml.fit(ARRAY[]::float8[], churned, '{}') FROM agg_customers;
SELECT lrml.fit(ARRAY[[tenure]], churned, '{}') FROM agg_customers;
SELECT * FROM lrml.train('agg_bad', 'agg_customers', 'churned', ARRAY['tenure'],
                         options => '{"on_group_error": "null"}');
SELECT lrml.save('agg_bad', NULL);
SELECT lrml.predict(m, ARRAY[1.0]) FROM region_models WHERE region = 0;
SELECT lrml.predict_class(m, ARRAY[1.0, 2, 3], 2) FROM region_models WHERE region = 0;

-- hand-edited values are refused, never trusted: a wrong prefix, bad
-- base64, a short value, an unknown version, every truncation
SELECT 'garbage'::lrml.model;
SELECT 'lrml.model/1:%%%'::lrml.model;
SELECT 'lrml.model/1:AAAA'::lrml.model;
SELECT ('lrml.model/1:' || translate(encode(set_byte(decode(substr(m::text, 14), 'base64'), 7, 2), 'base64'), E'\n', ''))::lrml.model
FROM region_models WHERE region = 0;
SELECT ('lrml.model/1:' || translate(encode(set_byte(decode(substr(m::text, 14), 'base64'), 11, 9), 'base64'), E'\n', ''))::lrml.model
FROM region_models WHERE region = 0;
DO $$
DECLARE
	raw bytea;
	accepted int := 0;
	refused int := 0;
BEGIN
	SELECT decode(substr(m::text, 14), 'base64') INTO raw
	FROM region_models WHERE region = 0;
	FOR n IN 0 .. length(raw) - 1 LOOP
		BEGIN
			PERFORM ('lrml.model/1:' ||
					 translate(encode(substr(raw, 1, n), 'base64'), E'\n', ''))::lrml.model;
			accepted := accepted + 1;
		EXCEPTION WHEN others THEN
			refused := refused + 1;
		END;
	END LOOP;
	RAISE NOTICE 'truncations accepted: %, refused: %', accepted, refused > 0;
	-- every single byte changed: decoded or refused, never a crash
	FOR n IN 0 .. length(raw) - 1 LOOP
		BEGIN
			PERFORM lrml.model_info(('lrml.model/1:' ||
					 translate(encode(set_byte(raw, n, 255 - get_byte(raw, n)), 'base64'),
							   E'\n', ''))::lrml.model);
		EXCEPTION WHEN others THEN
			NULL;
		END;
	END LOOP;
	RAISE NOTICE 'every changed byte handled';
END $$;

-- lrml.gradient: loss and gradient sums equal the same formula in SQL
-- (to 1e-9 relative), logistic and linear
CREATE TABLE agg_grad AS
SELECT i, (i % 17) / 17.0 AS a, ((i * 7) % 13) / 13.0 - 0.5 AS b,
       i % 3 = 0 AS y, (i % 5)::float8 AS t
FROM generate_series(1, 20000) i;
CREATE FUNCTION agg_close(x float8[], y float8[]) RETURNS bool
LANGUAGE sql IMMUTABLE AS $$
  SELECT array_length(x, 1) = array_length(y, 1) AND
         bool_and(abs(u - v) <= 1e-9 * greatest(abs(u), abs(v), 1e-300))
  FROM unnest(x, y) AS p(u, v) $$;
CREATE TABLE agg_grad_serial AS
SELECT lrml.gradient(ARRAY[0.5, -1, 0.1], ARRAY[a, b], y, '{}') AS logistic,
       lrml.gradient(ARRAY[0.5, -1, 0.1], ARRAY[a, b], t, '{"model": "linear"}') AS linear
FROM agg_grad;
SELECT array_length(logistic, 1) AS state_length, logistic[1] AS rows,
       agg_close(logistic, (
         SELECT ARRAY[count(*), sum(ln(1 + exp(z)) - y * z), sum((p - y) * a),
                      sum((p - y) * b), sum(p - y)]
         FROM (SELECT a, b, y::int AS y, z, 1 / (1 + exp(-z)) AS p
               FROM (SELECT a, b, y, 0.1 + 0.5 * a - b AS z FROM agg_grad) r) s)) AS logistic_matches_sql,
       agg_close(linear, (
         SELECT ARRAY[count(*), sum((z - t) ^ 2 / 2), sum((z - t) * a),
                      sum((z - t) * b), sum(z - t)]
         FROM (SELECT a, b, t, 0.1 + 0.5 * a - b AS z FROM agg_grad) r)) AS linear_matches_sql
FROM agg_grad_serial;
-- a 0/1 label gives what a boolean gives; NULL labels are skipped
SELECT agg_close(lrml.gradient(ARRAY[0.5, -1, 0.1], ARRAY[a, b], y::int, '{}'),
                 (SELECT logistic FROM agg_grad_serial)) AS int_label_same,
       lrml.gradient(ARRAY[0.5, -1, 0.1], ARRAY[a, b], NULLIF(y, y), '{}') IS NULL AS all_null
FROM agg_grad;

-- a parallel plan pushes partial sums to the workers; the sums equal the
-- serial plan's to 1e-9 relative
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT lrml.gradient(ARRAY[0.5, -1, 0.1], ARRAY[a, b], y, '{}') FROM agg_grad;
CREATE TABLE agg_grad_parallel AS
SELECT lrml.gradient(ARRAY[0.5, -1, 0.1], ARRAY[a, b], y, '{}') AS logistic,
       lrml.gradient(ARRAY[0.5, -1, 0.1], ARRAY[a, b], t, '{"model": "linear"}') AS linear
FROM agg_grad;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
SELECT agg_close(p.logistic, s.logistic) AS logistic_same,
       agg_close(p.linear, s.linear) AS linear_same
FROM agg_grad_parallel p, agg_grad_serial s;

-- lrml.gradient's errors
SELECT lrml.gradient(ARRAY[0.5, -1, 0.1], ARRAY[a, b], i, '{}') FROM agg_grad;
SELECT lrml.gradient(ARRAY[0.5, -1, 0.1], ARRAY[a, b], y, '{"model": "logist"}') FROM agg_grad;
SELECT lrml.gradient(ARRAY[0.5, -1, 0.1], ARRAY[a, b], y, '{"l2": 1}') FROM agg_grad;
SELECT lrml.gradient(ARRAY[0.5, -1], ARRAY[a, b], y, '{}') FROM agg_grad;
SELECT lrml.gradient(ARRAY[0.5, -1, 0.1], ARRAY[a, NULL], y, '{}') FROM agg_grad;
SELECT lrml.gradient(NULL, ARRAY[a, b], y, '{}') FROM agg_grad;
SELECT lrml.gradient(ARRAY[0.5, -1, 0.1], ARRAY[a, b], 'x'::text, '{}') FROM agg_grad;
SELECT lrml.gradient(ARRAY[0.5, -1, 0.1], ARRAY[a, 'Infinity'], y, '{}') FROM agg_grad;
SELECT lrml.gradient(CASE WHEN i = 5 THEN ARRAY[1.0, 2] ELSE ARRAY[0.5, -1, 0.1] END,
                     CASE WHEN i = 5 THEN ARRAY[a] ELSE ARRAY[a, b] END, y, '{}')
FROM agg_grad;

DROP TABLE agg_grad, agg_grad_serial, agg_grad_parallel;
DROP FUNCTION agg_close(float8[], float8[]);
DROP TABLE agg_customers, region_models, agg_churn, area_models,
	area_models_parallel, area_scores, region_models_copy, mlc_churn;
DROP FUNCTION agg_auc(float8[], bool[]);
-- recommenders are not trained by lrml.fit
SELECT lrml.fit(ARRAY[1.0, 2.0], true, '{"model": "mf"}');
-- lrml.load: a stored version as a value; saving it stores the same model
CREATE TABLE ag_lin AS
SELECT i, (i % 17)::float8 AS x1, (i % 11)::float8 * 10 AS x2,
       3 * (i % 17) - 2 * (i % 11) * 10 + 5 AS y
FROM generate_series(1, 2000) i;
SELECT count(*) AS epochs FROM lrml.train('ag_lin', 'ag_lin', 'y', ARRAY['x1', 'x2'],
  '{"model": "linear", "epochs": 60, "l2": 0, "optimizer": "sgd", "learning_rate": 0.1, "batch_size": 64}');
SELECT lrml.save('ag_lin_copy', lrml.load('ag_lin')) AS version;
SELECT (SELECT parameters FROM lrml.models WHERE name = 'ag_lin') =
       (SELECT parameters FROM lrml.models WHERE name = 'ag_lin_copy') AS same_payload,
       lrml.load('ag_lin', 1)::text = lrml.load('ag_lin')::text AS deployed_is_1,
       lrml.predict(lrml.load('ag_lin'), ARRAY[2, 30]) = lrml.predict('ag_lin', ARRAY[2, 30]) AS same_score;
-- model_info gives the weights: per unit of each column (exactly 3 and -2
-- here), and the bias is the score of a row at the training means
SELECT w->>'column' AS column_name, round((w->>'per_unit')::numeric, 4) AS per_unit
FROM jsonb_array_elements(lrml.model_info(lrml.load('ag_lin'))->'weights') WITH ORDINALITY AS e(w, n)
ORDER BY n;
SELECT abs((i->>'bias')::float8 -
           lrml.predict('ag_lin', ARRAY[(i->'encoding'->'columns'->0->>'mean')::float8,
                                        (i->'encoding'->'columns'->1->>'mean')::float8])) < 1e-9 AS bias_at_means
FROM (SELECT lrml.model_info(lrml.load('ag_lin')) AS i) s;
-- one weight per one-hot input, the NULL category as null
CREATE TABLE ag_cat AS
SELECT i, CASE WHEN i % 5 = 0 THEN NULL ELSE (ARRAY['a', 'b'])[1 + i % 2] END AS c,
       (i % 3)::float8 AS x, (i % 2 = 0) AS y
FROM generate_series(1, 200) i;
SELECT count(*) AS epochs FROM lrml.train('ag_cat', 'ag_cat', 'y', ARRAY['c', 'x'], '{"epochs": 5}');
SELECT w->>'column' AS column_name, w->'category' AS category, w ? 'per_unit' AS has_per_unit
FROM jsonb_array_elements(lrml.model_info(lrml.load('ag_cat'))->'weights') WITH ORDINALITY AS e(w, n)
ORDER BY n;
DROP TABLE ag_cat;
SELECT lrml.drop_model('ag_cat');
-- a warm-started version saves as it is, options included
SELECT count(*) AS epochs FROM lrml.train('ag_lin', 'ag_lin', 'y', ARRAY['x1', 'x2'],
  '{"warm_start": true, "epochs": 1, "learning_rate": 0.001, "optimizer": "sgd", "batch_size": 64}');
SELECT lrml.save('ag_lin_copy', lrml.load('ag_lin')) AS version;
SELECT lrml.load('ag_lin')::text = lrml.load('ag_lin_copy')::text AS same_value,
       lrml.load('ag_lin_copy')::text <> lrml.load('ag_lin_copy', 1)::text AS new_version;
SELECT lrml.load('ag_none');
SELECT lrml.load('ag_lin', 7);
SELECT lrml.load('ag_lin', 0);
SELECT lrml.load(NULL) IS NULL AS null_name;
DROP TABLE ag_lin;
SELECT lrml.drop_model('ag_lin'), lrml.drop_model('ag_lin_copy');
