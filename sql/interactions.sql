-- how the entry points meet: values of every kind, options per row,
-- options that one entry point would ignore
SET extra_float_digits = 0;
CREATE TABLE ia_r AS SELECT (i % 50) AS u, (i * 7 % 40) AS it, ((i * 13) % 5 + 1)::float8 AS rating
FROM generate_series(1, 2000) i;
CREATE TABLE ia_d AS SELECT i, sin(i * 0.3) AS a, cos(i * 0.7) AS b,
       sin(i * 0.3) + cos(i * 0.7) > 0 AS y, sin(i * 0.3) * 2 + 1 AS ynum
FROM generate_series(1, 600) i;
SELECT count(*) FROM lrml.train_recommender('ia_rec', 'ia_r', 'u', 'it', 'rating', '{"epochs": 3, "factors": 4}');
SELECT count(*) FROM lrml.train('ia_cls', 'ia_d', 'y', ARRAY['a', 'b'], '{"epochs": 3}');
-- a model value written by hand around a stored payload
CREATE FUNCTION ia_value(p bytea, opt text, met text) RETURNS lrml.model
LANGUAGE sql AS $$
  SELECT ('lrml.model/1:' || translate(encode('\x4c524d56'::bytea || int4send(1) ||
          int4send(length(p)) || p || int4send(length(convert_to(opt, 'UTF8'))) || convert_to(opt, 'UTF8') ||
          int4send(length(convert_to(met, 'UTF8'))) || convert_to(met, 'UTF8'), 'base64'), E'\n', ''))::lrml.model
$$;
-- a recommender value is described, but not scored as a vector
SELECT lrml.model_info(ia_value(parameters, '{}', '{}'))->>'kind' AS kind,
       lrml.model_info(ia_value(parameters, '{}', '{}')) ? 'users' AS has_users
FROM lrml.models WHERE name = 'ia_rec';
SELECT lrml.predict(ia_value(parameters, '{}', '{}'), ARRAY[1]::float8[]) FROM lrml.models WHERE name = 'ia_rec';
SELECT lrml.predict_class(ia_value(parameters, '{}', '{}'), ARRAY[1]::float8[]) FROM lrml.models WHERE name = 'ia_rec';
SELECT 1 AS still_alive;
-- saving a value checks its options against its parameters
SELECT lrml.save('ia_lie', ia_value(parameters, '{"model": "mlp", "hidden": [500]}', '{}'))
FROM lrml.models WHERE name = 'ia_cls';
SELECT lrml.save('ia_lie', ia_value(parameters, '{"epochs": -1}', '{}'))
FROM lrml.models WHERE name = 'ia_cls';
SELECT lrml.save('ia_lie', ia_value(parameters, '{}', '{}')) FROM lrml.models WHERE name = 'ia_rec';
SELECT lrml.save('ia_ok', ia_value(parameters, options::text, '{}')) FROM lrml.models WHERE name = 'ia_cls';
SELECT kind, options->>'model' AS model FROM lrml.models WHERE name = 'ia_ok';
-- one set of options per aggregate
SELECT lrml.gradient(ARRAY[0, 0, 0]::float8[], ARRAY[a, b], y,
                     CASE WHEN i = 1 THEN '{}'::jsonb ELSE '{"model": "linear"}' END)
FROM (SELECT * FROM ia_d ORDER BY i) s;
SELECT lrml.fit(ARRAY[a, b], y, CASE WHEN i = 1 THEN '{"epochs": 1}'::jsonb ELSE '{"epochs": 2}' END)
FROM (SELECT * FROM ia_d ORDER BY i) s;
-- an mlp on a numeric label is a regression: class_weight fails at once
SELECT lrml.fit(ARRAY[a, b], ynum, '{"model": "mlp", "class_weight": 2}') FROM ia_d;
-- options an entry point would ignore are refused
SELECT * FROM lrml.train_recommender('ia_rr', 'ia_r', 'u', 'it', 'rating', '{"mode": "full_batch"}');
SELECT * FROM lrml.lr_find('ia_d', 'y', ARRAY['a', 'b'], '{"early_stopping": true}');
SELECT * FROM lrml.lr_find('ia_d', 'y', ARRAY['a', 'b'], '{"divergence": "error"}');
SELECT * FROM lrml.train('ia_fb', 'ia_d', 'y', ARRAY['a', 'b'], '{"mode": "full_batch", "lr_scaling": "linear"}');
-- full-batch training refuses the values loading refuses, naming the column
SELECT * FROM lrml.train('ia_fb', 'SELECT ''NaN''::float8 AS a, b, y FROM ia_d', 'y', NULL, '{"mode": "full_batch"}');
SELECT * FROM lrml.train('ia_fb', 'SELECT 1e200::float8 * a AS a, b, y FROM ia_d', 'y', NULL, '{"mode": "full_batch"}');
SELECT count(*) AS no_versions FROM lrml.models WHERE name IN ('ia_lie', 'ia_rr', 'ia_fb');
-- lrml.fit_recommender too takes one set of options
SELECT lrml.fit_recommender(u, it, rating,
  CASE WHEN u % 2 = 0 THEN '{"model": "mf", "epochs": 2}'::jsonb ELSE '{"epochs": 2}' END) IS NULL
FROM (SELECT * FROM ia_r ORDER BY u, it) s;
-- a recommender value saves with its own options, not with another kind's
SELECT lrml.save('ia_rec2', ia_value(parameters, options::text, '{}')) FROM lrml.models WHERE name = 'ia_rec';
SELECT lrml.save('ia_lie', ia_value(parameters, (options || '{"model": "bpr", "positive_threshold": 3}')::text, '{}'))
FROM lrml.models WHERE name = 'ia_rec';
-- a hand-written recommender value with factors too large to score
-- (1e38: their dot products overflow float4) is refused, not scored as
-- Infinity or NaN
CREATE TABLE ia_huge AS
SELECT m.parameters AS p, m.options::text AS opt,
       position((SELECT string_agg(float4send(f), ''::bytea ORDER BY o)
                 FROM unnest(x.factors) WITH ORDINALITY AS u(f, o)) IN m.parameters) AS pos
FROM lrml.models m JOIN lrml.factors x ON x.model_id = m.id
WHERE m.name = 'ia_rec' AND x.side = 'user' AND x.id = '1';
SELECT pos > 0 AS found FROM ia_huge;
SELECT lrml.save('ia_huge', ia_value(overlay(p PLACING '\x7e967699'::bytea FROM pos), opt, '{}'))
FROM ia_huge;
SELECT lrml.save('ia_huge', ia_value(overlay(p PLACING '\x5a0e1bca'::bytea FROM pos), opt, '{}'))
FROM ia_huge;
SELECT lrml.save('ia_huge', ia_value(overlay(p PLACING '\x59e35fa9'::bytea FROM pos), opt, '{}'))
FROM ia_huge;
SELECT lrml.predict_rating('ia_huge', 1, 1) BETWEEN 1 AND 5 AS clipped;
-- text that is not valid in the database encoding is refused on input
SELECT ('lrml.model/1:' || translate(encode('\x4c524d56'::bytea || int4send(1) ||
        int4send(length(parameters)) || parameters || int4send(2) || '{}'::bytea ||
        int4send(14) || '\x7b226e6f7465223a2022fffe227d'::bytea, 'base64'), E'\n', ''))::lrml.model IS NOT NULL
FROM lrml.models WHERE name = 'ia_cls';
-- lrml.gradient refuses weights and features it cannot sum
SELECT lrml.gradient(ARRAY[0, 'NaN', 0]::float8[], ARRAY[a, b], y, '{}') FROM ia_d;
SELECT lrml.gradient(ARRAY[0, 1e200, 0]::float8[], ARRAY[a, b], y, '{}') FROM ia_d;
SELECT lrml.gradient(ARRAY[0, 0, 0]::float8[], ARRAY[a, b * 1e200], y, '{}') FROM ia_d;
DROP TABLE ia_huge;
SELECT lrml.drop_model('ia_huge');
-- a recommender's mean rating is bounded as its ratings are (1e150)
SELECT lrml.save('ia_huge', ia_value(overlay(m.parameters PLACING float8send(1e300)
         FROM position(float8send((m.features->>'global_mean')::float8) IN m.parameters)),
       m.options::text, '{}'))
FROM lrml.models m WHERE m.name = 'ia_rec';
