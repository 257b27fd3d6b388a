/* lrml--0.1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lrml" to load this file. \quit

--
-- Model store
--
-- A model name is owned by the role that trained its first version; that
-- role (or a member of it, or a superuser) may add versions, deploy and
-- drop.  Everybody with USAGE on the schema may read models and score.
-- Row-level security enforces this, so no function needs SECURITY DEFINER.
--
-- Versions count up from 1 per name and are never reused while the name
-- exists: model_names.last_version remembers the highest version handed
-- out, and dropping versions (even the newest, even all of them one by
-- one) keeps the name.  Only lrml.drop_model(name) drops the name, and a
-- later training of that name starts a new model at version 1.  Model ids
-- (lrml.models.id) come from a sequence and are never reused.
--
-- Owners are stored as regrole, i.e. role OIDs, and table rows create no
-- dependency on a role: DROP ROLE of an owner succeeds and leaves its
-- names and versions owned by a dangling OID.  Only superusers can then
-- deploy or drop them (a superuser is a member of every role, dangling or
-- not).  Should a later role be given the same OID, it would own them.
-- Reassign or drop a role's models before dropping the role.
--

CREATE TABLE lrml.model_names (
	name text PRIMARY KEY
		CHECK (name OPERATOR(pg_catalog.<>) ''),
	owner regrole NOT NULL
		DEFAULT pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER)),
	deployed_version int,
	last_version int NOT NULL DEFAULT 0
		CHECK (last_version OPERATOR(pg_catalog.>=) 0),
	created timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CHECK (deployed_version OPERATOR(pg_catalog.>) 0
		   AND deployed_version OPERATOR(pg_catalog.<=) last_version)
);

CREATE TABLE lrml.models (
	id bigserial PRIMARY KEY,
	name text NOT NULL REFERENCES lrml.model_names (name)
		ON DELETE CASCADE,
	version int NOT NULL CHECK (version OPERATOR(pg_catalog.>) 0),
	kind text NOT NULL,
	owner regrole NOT NULL
		DEFAULT pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER)),
	created timestamptz NOT NULL DEFAULT pg_catalog.now(),
	parent_version int
		CHECK (parent_version OPERATOR(pg_catalog.>) 0
			   AND parent_version OPERATOR(pg_catalog.<) version),
	source text NOT NULL,
	label text,
	features jsonb NOT NULL
		CHECK (pg_catalog.jsonb_typeof(features) OPERATOR(pg_catalog.=)
			   'object'),
	options jsonb NOT NULL
		CHECK (pg_catalog.jsonb_typeof(options) OPERATOR(pg_catalog.=)
			   'object'),
	parameters bytea NOT NULL,
	optimizer_state bytea,
	metrics jsonb NOT NULL
		CHECK (pg_catalog.jsonb_typeof(metrics) OPERATOR(pg_catalog.=)
			   'object'),
	format_version int NOT NULL
		CHECK (format_version OPERATOR(pg_catalog.>) 0),
	UNIQUE (name, version),
	-- jsonb numbers are always finite, but NaN or an infinity could come in
	-- as a string: learning rates, losses and metrics must be numbers
	CONSTRAINT models_rates_finite
		CHECK (NOT pg_catalog.jsonb_path_exists(options,
			'$.keyvalue() ? (@.key like_regex "^learning_rate$" && @.value.type() != "number")',
			'{}', true)),
	CONSTRAINT models_metrics_finite
		CHECK (NOT pg_catalog.jsonb_path_exists(metrics,
			'$.keyvalue() ? (@.key like_regex "^(train_loss|valid_loss|valid_metric|valid_auc|valid_rmse)$" && @.value.type() != "number" && @.value.type() != "null")',
			'{}', true))
);

-- NaN sorts above Infinity in PostgreSQL, so "< 'Infinity'" refuses both
CREATE TABLE lrml.training_log (
	model_id bigint NOT NULL REFERENCES lrml.models (id) ON DELETE CASCADE,
	epoch int NOT NULL CHECK (epoch OPERATOR(pg_catalog.>=) 0),
	lr float8 NOT NULL
		CHECK (lr OPERATOR(pg_catalog.>=) 0
			   AND lr OPERATOR(pg_catalog.<) 'Infinity'),
	train_loss float8
		CHECK (train_loss OPERATOR(pg_catalog.>) '-Infinity'
			   AND train_loss OPERATOR(pg_catalog.<) 'Infinity'),
	valid_loss float8
		CHECK (valid_loss OPERATOR(pg_catalog.>) '-Infinity'
			   AND valid_loss OPERATOR(pg_catalog.<) 'Infinity'),
	valid_metric float8
		CHECK (valid_metric OPERATOR(pg_catalog.>) '-Infinity'
			   AND valid_metric OPERATOR(pg_catalog.<) 'Infinity'),
	event text,
	PRIMARY KEY (model_id, epoch)
);

-- One row per trial of a search (lrml.tune), beside the version it stored.
CREATE TABLE lrml.trials (
	model_id bigint NOT NULL REFERENCES lrml.models (id) ON DELETE CASCADE,
	trial int NOT NULL CHECK (trial OPERATOR(pg_catalog.>=) 0),
	params jsonb NOT NULL
		CHECK (pg_catalog.jsonb_typeof(params) OPERATOR(pg_catalog.=)
			   'object'),
	status text NOT NULL
		CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['ok', 'failed'])),
	reason text,
	valid_loss float8
		CHECK (valid_loss OPERATOR(pg_catalog.>) '-Infinity'
			   AND valid_loss OPERATOR(pg_catalog.<) 'Infinity'),
	valid_metric float8
		CHECK (valid_metric OPERATOR(pg_catalog.>) '-Infinity'
			   AND valid_metric OPERATOR(pg_catalog.<) 'Infinity'),
	best bool NOT NULL,
	seconds float8 NOT NULL CHECK (seconds OPERATOR(pg_catalog.>=) 0),
	PRIMARY KEY (model_id, trial),
	-- a failed trial has a reason and no scores; a trial that ran, scores
	CHECK ((status OPERATOR(pg_catalog.=) 'ok') OPERATOR(pg_catalog.=)
		   (reason IS NULL AND valid_loss IS NOT NULL)),
	CHECK (NOT best OR status OPERATOR(pg_catalog.=) 'ok')
);
-- one best trial per search
CREATE UNIQUE INDEX trials_one_best ON lrml.trials (model_id) WHERE best;

COMMENT ON TABLE lrml.model_names IS
	'lrml model names: owner, deployed version and last version handed out';
COMMENT ON TABLE lrml.models IS
	'lrml model versions: encoding, options, parameters and metrics';
COMMENT ON TABLE lrml.training_log IS
	'lrml training curves: one row per epoch of each model version';
COMMENT ON TABLE lrml.trials IS
	'lrml searches: one row per trial, beside the model version each search stored';

SELECT pg_catalog.pg_extension_config_dump('lrml.model_names', '');
SELECT pg_catalog.pg_extension_config_dump('lrml.models', '');
SELECT pg_catalog.pg_extension_config_dump('lrml.models_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lrml.training_log', '');
SELECT pg_catalog.pg_extension_config_dump('lrml.trials', '');

ALTER TABLE lrml.model_names ENABLE ROW LEVEL SECURITY;
ALTER TABLE lrml.models ENABLE ROW LEVEL SECURITY;
ALTER TABLE lrml.training_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE lrml.trials ENABLE ROW LEVEL SECURITY;

-- Names: members of the owner write.  Versions and their training logs:
-- members of the name's owner write, and a new version (with its log)
-- must name the current role as the one that trained it, so that nobody
-- can store a version claiming another role trained it.
CREATE POLICY model_names_read ON lrml.model_names FOR SELECT
	USING (true);
CREATE POLICY model_names_insert ON lrml.model_names FOR INSERT
	WITH CHECK (pg_catalog.pg_has_role(owner::pg_catalog.oid, 'MEMBER'));
CREATE POLICY model_names_update ON lrml.model_names FOR UPDATE
	USING (pg_catalog.pg_has_role(owner::pg_catalog.oid, 'MEMBER'))
	WITH CHECK (pg_catalog.pg_has_role(owner::pg_catalog.oid, 'MEMBER'));
CREATE POLICY model_names_delete ON lrml.model_names FOR DELETE
	USING (pg_catalog.pg_has_role(owner::pg_catalog.oid, 'MEMBER'));

CREATE POLICY models_read ON lrml.models FOR SELECT
	USING (true);
CREATE POLICY models_insert ON lrml.models FOR INSERT
	WITH CHECK (owner::pg_catalog.oid OPERATOR(pg_catalog.=)
				pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER))::pg_catalog.oid
				AND EXISTS (SELECT 1 FROM lrml.model_names n
							WHERE n.name OPERATOR(pg_catalog.=) models.name
							  AND pg_catalog.pg_has_role(n.owner::pg_catalog.oid,
														 'MEMBER')));
CREATE POLICY models_delete ON lrml.models FOR DELETE
	USING (EXISTS (SELECT 1 FROM lrml.model_names n
				   WHERE n.name OPERATOR(pg_catalog.=) models.name
					 AND pg_catalog.pg_has_role(n.owner::pg_catalog.oid,
												'MEMBER')));

CREATE POLICY training_log_read ON lrml.training_log FOR SELECT
	USING (true);
CREATE POLICY training_log_insert ON lrml.training_log FOR INSERT
	WITH CHECK (EXISTS (SELECT 1 FROM lrml.models m
						JOIN lrml.model_names n
						  ON n.name OPERATOR(pg_catalog.=) m.name
						WHERE m.id OPERATOR(pg_catalog.=) training_log.model_id
						  AND m.owner::pg_catalog.oid OPERATOR(pg_catalog.=)
							  pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER))::pg_catalog.oid
						  AND pg_catalog.pg_has_role(n.owner::pg_catalog.oid,
													 'MEMBER')));
CREATE POLICY training_log_delete ON lrml.training_log FOR DELETE
	USING (EXISTS (SELECT 1 FROM lrml.models m
				   JOIN lrml.model_names n
					 ON n.name OPERATOR(pg_catalog.=) m.name
				   WHERE m.id OPERATOR(pg_catalog.=) training_log.model_id
					 AND pg_catalog.pg_has_role(n.owner::pg_catalog.oid,
												'MEMBER')));

-- Trials: as the training log, beside a version the current role trained.
CREATE POLICY trials_read ON lrml.trials FOR SELECT
	USING (true);
CREATE POLICY trials_insert ON lrml.trials FOR INSERT
	WITH CHECK (EXISTS (SELECT 1 FROM lrml.models m
						JOIN lrml.model_names n
						  ON n.name OPERATOR(pg_catalog.=) m.name
						WHERE m.id OPERATOR(pg_catalog.=) trials.model_id
						  AND m.owner::pg_catalog.oid OPERATOR(pg_catalog.=)
							  pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER))::pg_catalog.oid
						  AND pg_catalog.pg_has_role(n.owner::pg_catalog.oid,
													 'MEMBER')));
CREATE POLICY trials_delete ON lrml.trials FOR DELETE
	USING (EXISTS (SELECT 1 FROM lrml.models m
				   JOIN lrml.model_names n
					 ON n.name OPERATOR(pg_catalog.=) m.name
				   WHERE m.id OPERATOR(pg_catalog.=) trials.model_id
					 AND pg_catalog.pg_has_role(n.owner::pg_catalog.oid,
												'MEMBER')));

GRANT USAGE ON SCHEMA lrml TO PUBLIC;
GRANT SELECT, INSERT, DELETE ON lrml.model_names TO PUBLIC;
GRANT UPDATE (deployed_version, last_version) ON lrml.model_names TO PUBLIC;
-- ids come from the sequence only: a forged id could collide with the
-- versions of other roles, or reuse the id of a model cached by a backend
GRANT SELECT, DELETE ON lrml.models TO PUBLIC;
GRANT INSERT (name, version, kind, owner, parent_version, source, label,
			  features, options, parameters, optimizer_state, metrics,
			  format_version) ON lrml.models TO PUBLIC;
GRANT SELECT, INSERT, DELETE ON lrml.training_log TO PUBLIC;
GRANT SELECT, INSERT, DELETE ON lrml.trials TO PUBLIC;
GRANT USAGE ON SEQUENCE lrml.models_id_seq TO PUBLIC;

--
-- Training
--

CREATE FUNCTION lrml.train(model text, relation text, label text,
						   features text[] DEFAULT NULL,
						   options jsonb DEFAULT '{}')
RETURNS TABLE (epoch int, lr float8, train_loss float8, valid_loss float8,
			   valid_metric float8, event text)
AS 'MODULE_PATHNAME', 'lrml_train'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lrml.train(text, text, text, text[], jsonb) IS
	'train a classifier or regression model and store it as a new version';

-- Trains a throwaway model on the training rows; stores nothing.
CREATE FUNCTION lrml.lr_find(relation text, label text,
							 features text[] DEFAULT NULL,
							 options jsonb DEFAULT '{}')
RETURNS TABLE (step int, lr float8, loss float8, smoothed_loss float8,
			   suggested bool)
AS 'MODULE_PATHNAME', 'lrml_lr_find'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lrml.lr_find(text, text, text[], jsonb) IS
	'run a learning-rate range test and suggest a learning rate';

-- Trains one model per trial and stores the best as a new version.
CREATE FUNCTION lrml.tune(model text, relation text, label text,
						  features text[], search jsonb,
						  options jsonb DEFAULT '{}')
RETURNS TABLE (trial int, params jsonb, valid_loss float8,
			   valid_metric float8, best bool)
AS 'MODULE_PATHNAME', 'lrml_tune'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lrml.tune(text, text, text, text[], jsonb, jsonb) IS
	'search training options by grid, random or Bayesian search and store the best model';

-- Pure: parses the options and computes rates, reads no table.
CREATE FUNCTION lrml.schedule(options jsonb, epochs int,
							  steps_per_epoch int DEFAULT 1)
RETURNS TABLE (epoch int, step int, lr float8)
AS 'MODULE_PATHNAME', 'lrml_schedule'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION lrml.schedule(jsonb, int, int) IS
	'preview the learning rate of every update of a training run with these options';

--
-- Scoring
--

-- Internal: the planner rewrites lrml.predict(model, t) with a whole-row t
-- to lrml.predict_columns(model, ARRAY[column names], t.c1, t.c2, ...), so
-- that no composite datum is built per row (src/score.c).
CREATE FUNCTION lrml.predict_support(internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'lrml_predict_support'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION lrml.predict_columns(model text, names text[],
									 VARIADIC "any")
RETURNS float8
AS 'MODULE_PATHNAME', 'lrml_predict_columns'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION lrml.predict_columns(text, text[], "any") IS
	'internal: lrml.predict on a row passed column by column';

CREATE FUNCTION lrml.predict(model text, "row" anynonarray)
RETURNS float8
AS 'MODULE_PATHNAME', 'lrml_predict_row'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT lrml.predict_support;

COMMENT ON FUNCTION lrml.predict(text, anynonarray) IS
	'score a row with the deployed version of a model, columns by name';

CREATE FUNCTION lrml.predict(model text, x float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'lrml_predict_array'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION lrml.predict(text, float8[]) IS
	'score an input vector (one value per encoded input) with a model';

CREATE FUNCTION lrml.predict_class(model text, "row" anynonarray,
								   threshold float8 DEFAULT 0.5)
RETURNS bool
AS 'MODULE_PATHNAME', 'lrml_predict_class_row'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION lrml.predict_class(text, anynonarray, float8) IS
	'classify a row: true when the positive-class probability reaches the threshold';

CREATE FUNCTION lrml.deploy(model text, version int)
RETURNS void
AS 'MODULE_PATHNAME', 'lrml_deploy'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lrml.deploy(text, int) IS
	'pin the version of a model used for scoring by name, or NULL for the newest';

CREATE FUNCTION lrml.evaluate(model text, relation text DEFAULT NULL,
							  options jsonb DEFAULT '{}')
RETURNS TABLE (metric text, value float8)
AS 'MODULE_PATHNAME', 'lrml_evaluate'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lrml.evaluate(text, text, jsonb) IS
	'measure a model on a relation: classification or regression metrics';

CREATE FUNCTION lrml.drop_model(model text, version int DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'lrml_drop_model'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lrml.drop_model(text, int) IS
	'drop one version of a model, or the whole model when version is NULL';

--
-- Recommenders
--

-- The biases and factors of each recommender version, one row per user
-- and per item, so that they can be queried and joined; the model's
-- payload in lrml.models holds the same numbers for scoring.
CREATE TABLE lrml.factors (
	model_id bigint NOT NULL REFERENCES lrml.models (id) ON DELETE CASCADE,
	side text NOT NULL
		CHECK (side OPERATOR(pg_catalog.=) ANY (ARRAY['user', 'item'])),
	id text NOT NULL,
	bias float8 NOT NULL
		CHECK (bias OPERATOR(pg_catalog.>) '-Infinity'
			   AND bias OPERATOR(pg_catalog.<) 'Infinity'),
	factors float4[] NOT NULL,
	PRIMARY KEY (model_id, side, id)
);

COMMENT ON TABLE lrml.factors IS
	'lrml recommender factors: one row per user and per item of each model version';

SELECT pg_catalog.pg_extension_config_dump('lrml.factors', '');

ALTER TABLE lrml.factors ENABLE ROW LEVEL SECURITY;

-- as for the training log: members of the name's owner write, and only
-- for a version the current role trained
CREATE POLICY factors_read ON lrml.factors FOR SELECT
	USING (true);
CREATE POLICY factors_insert ON lrml.factors FOR INSERT
	WITH CHECK (EXISTS (SELECT 1 FROM lrml.models m
						JOIN lrml.model_names n
						  ON n.name OPERATOR(pg_catalog.=) m.name
						WHERE m.id OPERATOR(pg_catalog.=) factors.model_id
						  AND m.owner::pg_catalog.oid OPERATOR(pg_catalog.=)
							  pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER))::pg_catalog.oid
						  AND pg_catalog.pg_has_role(n.owner::pg_catalog.oid,
													 'MEMBER')));
CREATE POLICY factors_delete ON lrml.factors FOR DELETE
	USING (EXISTS (SELECT 1 FROM lrml.models m
				   JOIN lrml.model_names n
					 ON n.name OPERATOR(pg_catalog.=) m.name
				   WHERE m.id OPERATOR(pg_catalog.=) factors.model_id
					 AND pg_catalog.pg_has_role(n.owner::pg_catalog.oid,
												'MEMBER')));

GRANT SELECT, INSERT, DELETE ON lrml.factors TO PUBLIC;

CREATE FUNCTION lrml.train_recommender(model text, relation text,
									   user_col text, item_col text,
									   rating_col text DEFAULT NULL,
									   options jsonb DEFAULT '{}')
RETURNS TABLE (epoch int, lr float8, train_loss float8, valid_loss float8,
			   valid_metric float8, event text)
AS 'MODULE_PATHNAME', 'lrml_train_recommender'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lrml.train_recommender(text, text, text, text, text, jsonb) IS
	'train a matrix-factorization recommender and store it as a new version';

CREATE FUNCTION lrml.predict_rating(model text, user_id anyelement,
									item_id anyelement)
RETURNS float8
AS 'MODULE_PATHNAME', 'lrml_predict_rating'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION lrml.predict_rating(text, anyelement, anyelement) IS
	'predict the rating of an item by a user with the deployed version of a recommender';

CREATE FUNCTION lrml.recommend(model text, user_id anyelement, k int DEFAULT 10,
							   exclude_seen bool DEFAULT true)
RETURNS TABLE (item_id anyelement, score float8, rank int)
AS 'MODULE_PATHNAME', 'lrml_recommend'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION lrml.recommend(text, anyelement, int, bool) IS
	'the k items with the highest predicted rating for a user';

CREATE FUNCTION lrml.similar_items(model text, item_id anyelement,
								   k int DEFAULT 10)
RETURNS TABLE (item_id anyelement, similarity float8, rank int)
AS 'MODULE_PATHNAME', 'lrml_similar_items'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION lrml.similar_items(text, anyelement, int) IS
	'the k items whose factors are most similar (cosine) to an item''s';

-- The model type
--

-- A trained model as a value: text form "lrml.model/1:" and base64 of the
-- binary form, which holds the stored payload, the options and the metrics
-- (src/aggregates.c).
CREATE TYPE lrml.model;

CREATE FUNCTION lrml.model_in(cstring)
RETURNS lrml.model
AS 'MODULE_PATHNAME', 'lrml_model_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION lrml.model_out(lrml.model)
RETURNS cstring
AS 'MODULE_PATHNAME', 'lrml_model_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION lrml.model_recv(internal)
RETURNS lrml.model
AS 'MODULE_PATHNAME', 'lrml_model_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION lrml.model_send(lrml.model)
RETURNS bytea
AS 'MODULE_PATHNAME', 'lrml_model_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE lrml.model (
	INPUT = lrml.model_in,
	OUTPUT = lrml.model_out,
	RECEIVE = lrml.model_recv,
	SEND = lrml.model_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = extended
);

COMMENT ON TYPE lrml.model IS
	'a trained model as a value: its parameters, encoding, options and metrics';

CREATE FUNCTION lrml.model_info(m lrml.model)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lrml_model_info'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION lrml.model_info(lrml.model) IS
	'describe a model value: kind, classes, options, metrics and feature encoding';

CREATE FUNCTION lrml.save(model text, m lrml.model)
RETURNS int
AS 'MODULE_PATHNAME', 'lrml_save'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION lrml.save(text, lrml.model) IS
	'store a model value as the next version of a named model; returns the version';

CREATE FUNCTION lrml.predict(m lrml.model, x float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'lrml_predict_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION lrml.predict(lrml.model, float8[]) IS
	'score an input vector (one value per encoded input) with a model value';

CREATE FUNCTION lrml.predict_class(m lrml.model, x float8[],
								   threshold float8 DEFAULT 0.5)
RETURNS bool
AS 'MODULE_PATHNAME', 'lrml_predict_class_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION lrml.predict_class(lrml.model, float8[], float8) IS
	'classify an input vector with a model value: true when the positive-class probability reaches the threshold';

CREATE FUNCTION lrml.predict_rating(m lrml.model, user_id anyelement,
									item_id anyelement)
RETURNS float8
AS 'MODULE_PATHNAME', 'lrml_predict_rating_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION lrml.predict_rating(lrml.model, anyelement, anyelement) IS
	'predict the rating of an item by a user with a recommender value';

CREATE FUNCTION lrml.recommend(m lrml.model, user_id anyelement, k int DEFAULT 10,
							   exclude_seen bool DEFAULT true)
RETURNS TABLE (item_id anyelement, score float8, rank int)
AS 'MODULE_PATHNAME', 'lrml_recommend_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION lrml.recommend(lrml.model, anyelement, int, bool) IS
	'the k items with the highest predicted rating for a user, by a recommender value';

CREATE FUNCTION lrml.similar_items(m lrml.model, item_id anyelement,
								   k int DEFAULT 10)
RETURNS TABLE (item_id anyelement, similarity float8, rank int)
AS 'MODULE_PATHNAME', 'lrml_similar_items_model'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION lrml.similar_items(lrml.model, anyelement, int) IS
	'the k items whose factors are most similar (cosine) to an item''s, by a recommender value';

CREATE FUNCTION lrml.load(model text, version int DEFAULT NULL)
RETURNS lrml.model
AS 'MODULE_PATHNAME', 'lrml_load'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION lrml.load(text, int) IS
	'a stored version of a model (the deployed one by default) as an lrml.model value';

--
-- Aggregates
--

-- Internal: the steps of lrml.fit (src/aggregates.c).  The state holds the
-- group's rows; combine concatenates, serial and deserial carry a state
-- from a parallel worker to the leader, and the final function trains.
CREATE FUNCTION lrml.fit_accum(internal, float8[], anyelement, jsonb)
RETURNS internal
AS 'MODULE_PATHNAME', 'lrml_fit_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION lrml.fit_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'lrml_fit_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION lrml.fit_serial(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'lrml_fit_serial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION lrml.fit_deserial(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'lrml_fit_deserial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION lrml.fit_final(internal)
RETURNS lrml.model
AS 'MODULE_PATHNAME', 'lrml_fit_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION lrml.fit_accum(internal, float8[], anyelement, jsonb) IS
	'internal: add a row to the state of lrml.fit';
COMMENT ON FUNCTION lrml.fit_combine(internal, internal) IS
	'internal: combine two states of lrml.fit';
COMMENT ON FUNCTION lrml.fit_serial(internal) IS
	'internal: serialize a state of lrml.fit';
COMMENT ON FUNCTION lrml.fit_deserial(bytea, internal) IS
	'internal: deserialize a state of lrml.fit';
COMMENT ON FUNCTION lrml.fit_final(internal) IS
	'internal: train the model of a group of lrml.fit';

CREATE AGGREGATE lrml.fit(features float8[], label anyelement, options jsonb) (
	SFUNC = lrml.fit_accum,
	STYPE = internal,
	FINALFUNC = lrml.fit_final,
	COMBINEFUNC = lrml.fit_combine,
	SERIALFUNC = lrml.fit_serial,
	DESERIALFUNC = lrml.fit_deserial,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE lrml.fit(float8[], anyelement, jsonb) IS
	'train one model per group with the options of lrml.train; NULL for a group that cannot train';

-- Internal: the steps of lrml.fit_recommender (src/mf_aggregate.c).  The
-- state holds the group's (user, item, rating) rows; combine concatenates,
-- serial and deserial carry a state from a parallel worker to the leader,
-- and the final function sorts the rows and trains.
CREATE FUNCTION lrml.fit_recommender_accum(internal, anyelement, anyelement,
										   float8, jsonb)
RETURNS internal
AS 'MODULE_PATHNAME', 'lrml_fit_recommender_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION lrml.fit_recommender_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'lrml_fit_recommender_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION lrml.fit_recommender_serial(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'lrml_fit_recommender_serial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION lrml.fit_recommender_deserial(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'lrml_fit_recommender_deserial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION lrml.fit_recommender_final(internal)
RETURNS lrml.model
AS 'MODULE_PATHNAME', 'lrml_fit_recommender_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION lrml.fit_recommender_accum(internal, anyelement, anyelement, float8, jsonb) IS
	'internal: add a row to the state of lrml.fit_recommender';
COMMENT ON FUNCTION lrml.fit_recommender_combine(internal, internal) IS
	'internal: combine two states of lrml.fit_recommender';
COMMENT ON FUNCTION lrml.fit_recommender_serial(internal) IS
	'internal: serialize a state of lrml.fit_recommender';
COMMENT ON FUNCTION lrml.fit_recommender_deserial(bytea, internal) IS
	'internal: deserialize a state of lrml.fit_recommender';
COMMENT ON FUNCTION lrml.fit_recommender_final(internal) IS
	'internal: train the recommender of a group of lrml.fit_recommender';

CREATE AGGREGATE lrml.fit_recommender(user_id anyelement,
									  item_id anyelement, rating float8,
									  options jsonb) (
	SFUNC = lrml.fit_recommender_accum,
	STYPE = internal,
	FINALFUNC = lrml.fit_recommender_final,
	COMBINEFUNC = lrml.fit_recommender_combine,
	SERIALFUNC = lrml.fit_recommender_serial,
	DESERIALFUNC = lrml.fit_recommender_deserial,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE lrml.fit_recommender(anyelement, anyelement, float8, jsonb) IS
	'train one recommender per group with the options of lrml.train_recommender; NULL for a group that cannot train';

-- Internal: the steps of lrml.gradient.  The state is the result itself,
-- [rows, loss sum, gradient sums], a float8[] of fixed size, and combine
-- adds two states element by element: a distributed engine can push the
-- partial aggregate down to the nodes that hold the rows.
CREATE FUNCTION lrml.gradient_accum(float8[], float8[], float8[], anyelement,
									jsonb)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'lrml_gradient_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION lrml.gradient_combine(float8[], float8[])
RETURNS float8[]
AS 'MODULE_PATHNAME', 'lrml_gradient_combine'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION lrml.gradient_accum(float8[], float8[], float8[], anyelement, jsonb) IS
	'internal: add a row''s loss and gradient to the state of lrml.gradient';
COMMENT ON FUNCTION lrml.gradient_combine(float8[], float8[]) IS
	'internal: add two states of lrml.gradient element by element';

CREATE AGGREGATE lrml.gradient(weights float8[], features float8[],
							   label anyelement, options jsonb) (
	SFUNC = lrml.gradient_accum,
	STYPE = float8[],
	COMBINEFUNC = lrml.gradient_combine,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE lrml.gradient(float8[], float8[], anyelement, jsonb) IS
	'sum the loss and its gradient over rows for given weights: [rows, loss, gradient..., bias gradient]';
