-- lrml model store: versions, deploy, drop, owners, the per-name lock,
-- stored payloads
SET extra_float_digits = 0;

-- show the SQLSTATE and message of a statement's error, then its detail
-- and hint when details is true
CREATE FUNCTION ms_error(stmt text, details bool DEFAULT true)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  d text;
  h text;
BEGIN
  EXECUTE stmt;
  RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RETURN NEXT SQLSTATE || ': ' || SQLERRM;
  IF details AND d <> '' THEN RETURN NEXT 'detail: ' || d; END IF;
  IF details AND h <> '' THEN RETURN NEXT 'hint: ' || h; END IF;
END
$$;

CREATE TABLE ms_churn (id int PRIMARY KEY, x1 float8, x2 float8, plan text,
                       churned boolean);
INSERT INTO ms_churn
SELECT i, (i % 10) / 10.0, ((i * 7) % 10) / 10.0,
       CASE i % 3 WHEN 0 THEN 'basic' WHEN 1 THEN 'pro' END,
       (i % 10) + (i % 3) >= 6
FROM generate_series(1, 60) AS i;

-- what each version predicts for row 1, recorded right after its training
CREATE TABLE ms_seen (version int PRIMARY KEY, p float8);

-- each training stores the next version, and the newest is deployed
SELECT count(*) FROM lrml.train(model => 'ms', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1', 'x2', 'plan'],
                                options => '{"epochs": 3, "seed": 1, "learning_rate": 0.01}');
INSERT INTO ms_seen SELECT 1, lrml.predict('ms', c) FROM ms_churn c WHERE id = 1;
SELECT count(*) FROM lrml.train(model => 'ms', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1', 'x2', 'plan'],
                                options => '{"epochs": 3, "seed": 1, "learning_rate": 0.1}');
INSERT INTO ms_seen SELECT 2, lrml.predict('ms', c) FROM ms_churn c WHERE id = 1;
SELECT count(*) FROM lrml.train(model => 'ms', relation => 'SELECT * FROM ms_churn WHERE id > 5',
                                label => 'churned', features => ARRAY['x1', 'x2', 'plan'],
                                options => '{"epochs": 4, "seed": 2, "learning_rate": 0.3}');
INSERT INTO ms_seen SELECT 3, lrml.predict('ms', c) FROM ms_churn c WHERE id = 1;
SELECT count(DISTINCT p) AS distinct_predictions FROM ms_seen;

SELECT m.name, m.version, m.kind, m.source, m.label, m.format_version,
       m.owner = current_user::regrole AS mine, m.parent_version,
       m.features->'inputs' AS inputs, length(m.parameters) > 0 AS has_parameters,
       count(l.epoch) AS log_rows
FROM lrml.models m LEFT JOIN lrml.training_log l ON l.model_id = m.id
WHERE m.name = 'ms'
GROUP BY m.id ORDER BY m.version;
SELECT name, owner = current_user::regrole AS mine, deployed_version
FROM lrml.model_names WHERE name = 'ms';

-- the stored payload starts with the magic "LRML" and format version 1
SELECT version, substring(parameters FROM 1 FOR 8) AS header
FROM lrml.models WHERE name = 'ms' ORDER BY version;

-- the training log keeps the curve: epochs from 0, lr always set
SELECT l.epoch, l.lr IS NOT NULL AS has_lr, l.train_loss IS NOT NULL AS has_loss
FROM lrml.training_log l JOIN lrml.models m ON m.id = l.model_id
WHERE m.name = 'ms' AND m.version = 3 ORDER BY l.epoch;

-- deploy pins a version for scoring by name; NULL returns to the newest
SELECT lrml.deploy('ms', 1);
SELECT deployed_version FROM lrml.model_names WHERE name = 'ms';
SELECT lrml.predict('ms', c) = (SELECT p FROM ms_seen WHERE version = 1) AS uses_v1
FROM ms_churn c WHERE id = 1;
SELECT lrml.deploy('ms', 2);
SELECT lrml.predict('ms', c) = (SELECT p FROM ms_seen WHERE version = 2) AS uses_v2
FROM ms_churn c WHERE id = 1;
SELECT lrml.deploy('ms', NULL);
SELECT deployed_version FROM lrml.model_names WHERE name = 'ms';
SELECT lrml.predict('ms', c) = (SELECT p FROM ms_seen WHERE version = 3) AS uses_v3
FROM ms_churn c WHERE id = 1;

-- a pin holds while newer versions arrive
SELECT lrml.deploy('ms', 2);
SELECT count(*) FROM lrml.train(model => 'ms', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1', 'x2', 'plan'],
                                options => '{"epochs": 2, "seed": 5}');
SELECT max(version) AS newest FROM lrml.models WHERE name = 'ms';
SELECT lrml.predict('ms', c) = (SELECT p FROM ms_seen WHERE version = 2) AS still_v2
FROM ms_churn c WHERE id = 1;

-- dropping the pinned version unpins the model: the newest scores again
SELECT lrml.drop_model('ms', 2);
SELECT deployed_version FROM lrml.model_names WHERE name = 'ms';
SELECT version FROM lrml.models WHERE name = 'ms' ORDER BY version;
INSERT INTO ms_seen SELECT 4, lrml.predict('ms', c) FROM ms_churn c WHERE id = 1;
SELECT lrml.deploy('ms', 3);
-- versions count from 1: -1 and 0 name none
SELECT lrml.deploy('ms', -1);
SELECT lrml.drop_model('ms', 0);
SELECT lrml.drop_model('ms', 4);
SELECT lrml.predict('ms', c) = (SELECT p FROM ms_seen WHERE version = 3) AS uses_v3
FROM ms_churn c WHERE id = 1;
-- the dropped version's training log went with it
SELECT count(*) AS orphan_log_rows FROM lrml.training_log l
WHERE NOT EXISTS (SELECT 1 FROM lrml.models m WHERE m.id = l.model_id);

-- versions are never reused: the dropped newest version 4 is not handed out again
SELECT last_version FROM lrml.model_names WHERE name = 'ms';
SELECT count(*) FROM lrml.train(model => 'ms', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1', 'x2'], options => '{"epochs": 2}');
SELECT version, features->'inputs' AS inputs FROM lrml.models WHERE name = 'ms' ORDER BY version;
SELECT last_version FROM lrml.model_names WHERE name = 'ms';

-- dropping the whole model removes every version, its log and its name
SELECT lrml.drop_model('ms');
SELECT count(*) AS versions FROM lrml.models WHERE name = 'ms';
SELECT count(*) AS names FROM lrml.model_names WHERE name = 'ms';
SELECT count(*) AS orphan_log_rows FROM lrml.training_log l
WHERE NOT EXISTS (SELECT 1 FROM lrml.models m WHERE m.id = l.model_id);
-- and a new training starts again at version 1
SELECT count(*) FROM lrml.train(model => 'ms', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1'], options => '{"epochs": 1}');
SELECT version FROM lrml.models WHERE name = 'ms';
-- dropping the only version keeps the name, so its number is not reused
SELECT lrml.drop_model('ms', 1);
SELECT name, last_version FROM lrml.model_names WHERE name = 'ms';
SELECT lrml.predict('ms', ARRAY[0.5]);
SELECT count(*) FROM lrml.train(model => 'ms', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1'], options => '{"epochs": 1}');
SELECT version FROM lrml.models WHERE name = 'ms';
SELECT lrml.drop_model('ms');
SELECT count(*) AS names FROM lrml.model_names WHERE name = 'ms';

-- names are stored literally, quotes, semicolons and all
SELECT count(*) FROM lrml.train(model => 'ms''; DROP TABLE ms_churn; --', relation => 'ms_churn',
                                label => 'churned', features => ARRAY['x1'], options => '{"epochs": 1}');
SELECT name FROM lrml.model_names WHERE name LIKE 'ms''%';
SELECT lrml.predict('ms''; DROP TABLE ms_churn; --', c) > 0 AS scored FROM ms_churn c WHERE id = 1;
SELECT lrml.drop_model('ms''; DROP TABLE ms_churn; --');
-- two long names that differ only in their 64th character stay two models
SELECT count(*) FROM lrml.train(model => repeat('a', 63) || 'x', relation => 'ms_churn',
                                label => 'churned', features => ARRAY['x1'], options => '{"epochs": 1}');
SELECT count(*) FROM lrml.train(model => repeat('a', 63) || 'y', relation => 'ms_churn',
                                label => 'churned', features => ARRAY['x1'], options => '{"epochs": 1}');
SELECT right(name, 2) AS tail, length(name) AS len, version FROM lrml.models
WHERE name LIKE 'aaaa%' ORDER BY name;
SELECT lrml.drop_model(repeat('a', 63) || 'x');
SELECT lrml.drop_model(repeat('a', 63) || 'y');

-- two roles: the first to train a name owns it; others may score, not change it
CREATE ROLE regress_lrml_alice;
CREATE ROLE regress_lrml_bob;
GRANT SELECT ON ms_churn TO regress_lrml_alice, regress_lrml_bob;
SET ROLE regress_lrml_alice;
SELECT count(*) FROM lrml.train(model => 'ms_owned', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1', 'x2'], options => '{"epochs": 2}');
RESET ROLE;
SELECT name, owner, deployed_version FROM lrml.model_names WHERE name = 'ms_owned';
SELECT version, owner FROM lrml.models WHERE name = 'ms_owned';
SET ROLE regress_lrml_bob;
SELECT lrml.predict('ms_owned', c) > 0 AS bob_scores FROM ms_churn c WHERE id = 1;
SELECT metric FROM lrml.evaluate('ms_owned', 'ms_churn') ORDER BY metric;
RESET ROLE;

-- a member of the owning role may add versions; the version row names who trained it
GRANT regress_lrml_alice TO regress_lrml_bob;
SET ROLE regress_lrml_bob;
SELECT count(*) FROM lrml.train(model => 'ms_owned', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1', 'x2'], options => '{"epochs": 2}');
SELECT lrml.deploy('ms_owned', 1);
RESET ROLE;
REVOKE regress_lrml_alice FROM regress_lrml_bob;
SELECT version, owner FROM lrml.models WHERE name = 'ms_owned' ORDER BY version;
SELECT owner, deployed_version FROM lrml.model_names WHERE name = 'ms_owned';

-- the per-name lock: a training that waits for another one of the same
-- name gets the next version once the first commits
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT 'dbname=' || current_database() || ' port=' || current_setting('port') ||
       ' host=' || split_part(current_setting('unix_socket_directories'), ',', 1)
       AS conninfo \gset
SELECT dblink_connect('ms_first', :'conninfo');
SELECT dblink_connect('ms_second', :'conninfo');
SELECT dblink_exec('ms_first', 'BEGIN');
SELECT n FROM dblink('ms_first',
  $$SELECT count(*) FROM lrml.train(model => 'ms_locked', relation => 'ms_churn',
      label => 'churned', features => ARRAY['x1', 'x2'], options => '{"epochs": 2}')$$)
  AS t(n bigint);
SELECT dblink_send_query('ms_second',
  $$SELECT count(*) FROM lrml.train(model => 'ms_locked', relation => 'ms_churn',
      label => 'churned', features => ARRAY['x1', 'x2'], options => '{"epochs": 3}')$$);
-- wait until the second training waits for the lock
DO $$
BEGIN
  FOR i IN 1 .. 1200 LOOP
    PERFORM pg_stat_clear_snapshot();
    PERFORM 1 FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'
      AND query LIKE '%ms_locked%' AND pid <> pg_backend_pid();
    EXIT WHEN FOUND;
    PERFORM pg_sleep(0.05);
  END LOOP;
END
$$;
SELECT dblink_is_busy('ms_second') AS second_waits;
-- the lock shows in pg_locks under the documented key
SELECT count(*) AS lock_holders FROM pg_locks
WHERE locktype = 'advisory' AND granted AND classid = 1819438444
  AND objid = hashtext('ms_locked')::oid AND objsubid = 2;
-- a third session gives up after lock_timeout (55P03)
SET lock_timeout = '200ms';
SELECT lrml.deploy('ms_locked', NULL);
SELECT * FROM ms_error($$SELECT lrml.drop_model('ms_locked')$$);
RESET lock_timeout;
SELECT dblink_exec('ms_first', 'COMMIT');
SELECT n FROM dblink_get_result('ms_second') AS t(n bigint);
SELECT count(*) AS no_more FROM dblink_get_result('ms_second') AS t(n bigint);
SELECT version, options->'epochs' AS epochs_option,
       (SELECT count(*) FROM lrml.training_log l WHERE l.model_id = m.id) AS log_rows
FROM lrml.models m WHERE name = 'ms_locked' ORDER BY version;
-- the model lock is an ordinary lock wait, so the deadlock detector sees
-- it: here ms_first holds the model lock and waits for a table lock that
-- this session holds, and this session then waits for the model lock;
-- only this session checks for deadlocks soon, so it is the one to fail
CREATE TABLE ms_lock_table (x int);
SELECT dblink_exec('ms_first', 'SET deadlock_timeout = ''60s''');
SELECT dblink_exec('ms_first', 'BEGIN');
SELECT ok FROM dblink('ms_first', $$SELECT 1 FROM lrml.deploy('ms_locked', NULL)$$) AS t(ok int);
BEGIN;
LOCK TABLE ms_lock_table;
SELECT dblink_send_query('ms_first', 'LOCK TABLE ms_lock_table');
DO $$
BEGIN
  FOR i IN 1 .. 1200 LOOP
    PERFORM pg_stat_clear_snapshot();
    PERFORM 1 FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND wait_event = 'relation'
      AND query LIKE 'LOCK TABLE ms_lock_table%' AND pid <> pg_backend_pid();
    EXIT WHEN FOUND;
    PERFORM pg_sleep(0.05);
  END LOOP;
END
$$;
SET LOCAL deadlock_timeout = '10ms';
SET LOCAL statement_timeout = '60s';
SELECT * FROM ms_error($$SELECT lrml.deploy('ms_locked', NULL)$$, false);
ROLLBACK;
SELECT status FROM dblink_get_result('ms_first') AS t(status text);
SELECT count(*) AS no_more FROM dblink_get_result('ms_first') AS t(status text);
SELECT dblink_exec('ms_first', 'ROLLBACK');
DROP TABLE ms_lock_table;

-- under REPEATABLE READ or SERIALIZABLE, a version stored by another
-- session after the snapshot was taken is a clear serialization failure
-- (40001), whether the name is new to the snapshot or not
SELECT dblink_exec('ms_second', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT x FROM dblink('ms_second', 'SELECT 1') AS t(x int);
SELECT count(*) FROM lrml.train(model => 'ms_rr', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1'], options => '{"epochs": 1}');
SELECT * FROM ms_error($q$
  SELECT * FROM dblink('ms_second',
    $$SELECT count(*) FROM lrml.train(model => 'ms_rr', relation => 'ms_churn',
        label => 'churned', features => ARRAY['x1'], options => '{"epochs": 1}')$$)
    AS t(n bigint)$q$);
SELECT dblink_exec('ms_second', 'ROLLBACK');
SELECT dblink_exec('ms_second', 'BEGIN ISOLATION LEVEL SERIALIZABLE');
SELECT x FROM dblink('ms_second', 'SELECT 1') AS t(x int);
SELECT count(*) FROM lrml.train(model => 'ms_rr', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1'], options => '{"epochs": 1}');
SELECT * FROM ms_error($q$
  SELECT * FROM dblink('ms_second',
    $$SELECT count(*) FROM lrml.train(model => 'ms_rr', relation => 'ms_churn',
        label => 'churned', features => ARRAY['x1'], options => '{"epochs": 1}')$$)
    AS t(n bigint)$q$);
SELECT dblink_exec('ms_second', 'ROLLBACK');
-- READ COMMITTED gets the next version
SELECT n FROM dblink('ms_second',
  $$SELECT count(*) FROM lrml.train(model => 'ms_rr', relation => 'ms_churn',
      label => 'churned', features => ARRAY['x1'], options => '{"epochs": 1}')$$)
  AS t(n bigint);
SELECT version FROM lrml.models WHERE name = 'ms_rr' ORDER BY version;
SELECT lrml.drop_model('ms_rr');

SELECT dblink_disconnect('ms_first');
SELECT dblink_disconnect('ms_second');

-- a stored payload of an unknown format version is refused
BEGIN;
UPDATE lrml.models SET format_version = 3 WHERE name = 'ms_locked' AND version = 2;
SELECT lrml.predict('ms_locked', ARRAY[0.5, 0.5]);
ROLLBACK;
BEGIN;
UPDATE lrml.models SET format_version = 3 WHERE name = 'ms_locked' AND version = 2;
SELECT lrml.load('ms_locked', 2);
ROLLBACK;
-- a new id, so that no cached copy hides the payload
BEGIN;
INSERT INTO lrml.models (name, version, kind, source, label, features, options,
                         parameters, metrics, format_version)
SELECT name, 3, kind, source, label, features, options,
       overlay(parameters PLACING '\x00000003'::bytea FROM 5 FOR 4), metrics, 1
FROM lrml.models WHERE name = 'ms_locked' AND version = 2;
SELECT lrml.predict('ms_locked', ARRAY[0.5, 0.5]);
ROLLBACK;

-- a truncated, overlong or non-finite payload is an error, not a crash
BEGIN;
INSERT INTO lrml.models (name, version, kind, source, label, features, options,
                         parameters, metrics, format_version)
SELECT name, 3, kind, source, label, features, options,
       substring(parameters FROM 1 FOR 30), metrics, 1
FROM lrml.models WHERE name = 'ms_locked' AND version = 2;
SELECT lrml.predict('ms_locked', ARRAY[0.5, 0.5]);
ROLLBACK;
BEGIN;
INSERT INTO lrml.models (name, version, kind, source, label, features, options,
                         parameters, metrics, format_version)
SELECT name, 3, kind, source, label, features, options,
       parameters || '\x00'::bytea, metrics, 1
FROM lrml.models WHERE name = 'ms_locked' AND version = 2;
SELECT lrml.predict('ms_locked', ARRAY[0.5, 0.5]);
ROLLBACK;
BEGIN;
INSERT INTO lrml.models (name, version, kind, source, label, features, options,
                         parameters, metrics, format_version)
SELECT name, 3, kind, source, label, features, options,
       overlay(parameters PLACING '\x7ff8000000000000'::bytea FROM length(parameters) - 7 FOR 8),
       metrics, 1
FROM lrml.models WHERE name = 'ms_locked' AND version = 2;
SELECT lrml.predict('ms_locked', ARRAY[0.5, 0.5]);
ROLLBACK;
BEGIN;
INSERT INTO lrml.models (name, version, kind, source, label, features, options,
                         parameters, metrics, format_version)
SELECT name, 3, kind, source, label, features, options, '\x4c524d4c'::bytea, metrics, 1
FROM lrml.models WHERE name = 'ms_locked' AND version = 2;
SELECT lrml.predict('ms_locked', ARRAY[0.5, 0.5]);
ROLLBACK;

-- errors: another role cannot add versions, deploy or drop; nothing changes
SELECT count(*) AS versions_before FROM lrml.models WHERE name = 'ms_owned';
SET ROLE regress_lrml_bob;
SELECT count(*) FROM lrml.train(model => 'ms_owned', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1', 'x2'], options => '{"epochs": 2}');
SELECT lrml.deploy('ms_owned', 2);
SELECT lrml.deploy('ms_owned', NULL);
SELECT lrml.drop_model('ms_owned', 1);
SELECT lrml.drop_model('ms_owned');
-- row-level security stops writes that bypass the functions
INSERT INTO lrml.models (name, version, kind, source, features, options, parameters,
                         metrics, format_version)
SELECT name, 99, kind, source, features, options, parameters, metrics, format_version
FROM lrml.models WHERE name = 'ms_owned' AND version = 1;
UPDATE lrml.model_names SET deployed_version = 2 WHERE name = 'ms_owned';
DELETE FROM lrml.models WHERE name = 'ms_owned';
RESET ROLE;
SELECT count(*) AS versions_after FROM lrml.models WHERE name = 'ms_owned';
SELECT deployed_version FROM lrml.model_names WHERE name = 'ms_owned';
-- a version row must name the current role as the one that trained it,
-- even for the name's owner; a log row may only go to such a version
SET ROLE regress_lrml_alice;
INSERT INTO lrml.models (name, version, kind, source, features, options, parameters,
                         metrics, format_version, owner)
SELECT name, 99, kind, source, features, options, parameters, metrics, format_version,
       'regress_lrml_bob'
FROM lrml.models WHERE name = 'ms_owned' AND version = 1;
INSERT INTO lrml.training_log (model_id, epoch, lr)
SELECT id, 99, 0.1 FROM lrml.models WHERE name = 'ms_owned' AND version = 2;
-- ids come from the sequence only: a forged id could block other roles'
-- trainings or reuse the id of a cached model
INSERT INTO lrml.models (id, name, version, kind, source, features, options, parameters,
                         metrics, format_version)
SELECT (SELECT max(id) FROM lrml.models) + 1, name, 98, kind, source, features, options,
       parameters, metrics, format_version
FROM lrml.models WHERE name = 'ms_owned' AND version = 1;
RESET ROLE;
-- deploy and drop refuse a read-only transaction
BEGIN READ ONLY;
SELECT lrml.deploy('ms_owned', 1);
ROLLBACK;
BEGIN READ ONLY;
SELECT lrml.drop_model('ms_owned', 1);
ROLLBACK;
SELECT * FROM ms_error($$SELECT * FROM lrml.evaluate('ms_owned')$$);

-- errors: the tables refuse NaN and infinite rates, losses and metrics,
-- and inconsistent versions, even from a superuser
\set VERBOSITY terse
INSERT INTO lrml.training_log (model_id, epoch, lr)
SELECT id, 99, 'NaN' FROM lrml.models WHERE name = 'ms_owned' AND version = 1;
INSERT INTO lrml.training_log (model_id, epoch, lr)
SELECT id, 99, 'Infinity' FROM lrml.models WHERE name = 'ms_owned' AND version = 1;
INSERT INTO lrml.training_log (model_id, epoch, lr, train_loss)
SELECT id, 99, 0.1, '-Infinity' FROM lrml.models WHERE name = 'ms_owned' AND version = 1;
INSERT INTO lrml.training_log (model_id, epoch, lr, valid_loss)
SELECT id, 99, 0.1, 'NaN' FROM lrml.models WHERE name = 'ms_owned' AND version = 1;
INSERT INTO lrml.training_log (model_id, epoch, lr, valid_metric)
SELECT id, 99, 0.1, 'Infinity' FROM lrml.models WHERE name = 'ms_owned' AND version = 1;
INSERT INTO lrml.training_log (model_id, epoch, lr)
SELECT id, -1, 0.1 FROM lrml.models WHERE name = 'ms_owned' AND version = 1;
INSERT INTO lrml.models (name, version, kind, source, features, options, parameters,
                         metrics, format_version)
SELECT name, 99, kind, source, features, options, parameters,
       metrics || '{"train_loss": "NaN"}', format_version
FROM lrml.models WHERE name = 'ms_owned' AND version = 1;
INSERT INTO lrml.models (name, version, kind, source, features, options, parameters,
                         metrics, format_version)
SELECT name, 99, kind, source, features, options || '{"learning_rate": "Infinity"}',
       parameters, metrics, format_version
FROM lrml.models WHERE name = 'ms_owned' AND version = 1;
UPDATE lrml.model_names SET deployed_version = last_version + 1 WHERE name = 'ms_owned';
UPDATE lrml.model_names SET last_version = -1 WHERE name = 'ms_owned';
INSERT INTO lrml.model_names (name) VALUES ('');
\set VERBOSITY default
SELECT count(*) AS log_rows_99 FROM lrml.training_log WHERE epoch = 99;

-- a payload with any one byte changed is refused or still scores a
-- probability: never a crash, never NaN
SELECT count(*) FROM lrml.train(model => 'ms_fuzz', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1', 'x2', 'plan'], options => '{"epochs": 2}');
DO $$
DECLARE
  base record;
  mask int;
  p float8;
  refused int := 0;
  scored int := 0;
BEGIN
  SELECT * INTO base FROM lrml.models WHERE name = 'ms_fuzz';
  FOR i IN 0 .. length(base.parameters) - 1 LOOP
    FOREACH mask IN ARRAY ARRAY[1, 128, 255] LOOP
      BEGIN
        INSERT INTO lrml.models (name, version, kind, source, label, features, options,
                                 parameters, metrics, format_version)
        VALUES (base.name, 2, base.kind, base.source, base.label, base.features,
                base.options,
                set_byte(base.parameters, i, get_byte(base.parameters, i) # mask),
                base.metrics, base.format_version);
        SELECT lrml.predict('ms_fuzz', c) INTO p FROM ms_churn c WHERE id = 3;
        IF NOT (p >= 0 AND p <= 1) THEN
          RAISE NOTICE 'byte % xor %: score %', i, mask, p;
        END IF;
        scored := scored + 1;
        -- undo the insert
        RAISE SQLSTATE 'LRUND';
      EXCEPTION
        WHEN SQLSTATE 'LRUND' THEN NULL;
        WHEN OTHERS THEN refused := refused + 1;
      END;
    END LOOP;
  END LOOP;
  RAISE NOTICE 'some refused: %, some scored: %', refused > 0, scored > 0;
END
$$;
SELECT lrml.drop_model('ms_fuzz');

-- a role that is dropped leaves its models owned by a dangling OID; a
-- superuser can still deploy and drop them
CREATE ROLE "regress_lrml_Carol";
GRANT SELECT ON ms_churn TO "regress_lrml_Carol";
SET ROLE "regress_lrml_Carol";
SELECT count(*) FROM lrml.train(model => 'ms_orphan', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1'], options => '{"epochs": 1}');
SELECT count(*) FROM lrml.train(model => 'ms_orphan', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1'], options => '{"epochs": 1}');
RESET ROLE;
SELECT n.owner::text AS name_owner, m.version, m.owner::text AS trained_by
FROM lrml.models m JOIN lrml.model_names n USING (name)
WHERE name = 'ms_orphan' ORDER BY m.version;
REVOKE SELECT ON ms_churn FROM "regress_lrml_Carol";
DROP ROLE "regress_lrml_Carol";
SELECT owner::text ~ '^[0-9]+$' AS dangling FROM lrml.model_names WHERE name = 'ms_orphan';
SET ROLE regress_lrml_bob;
\set VERBOSITY terse
SELECT lrml.deploy('ms_orphan', 1);
\set VERBOSITY default
RESET ROLE;
SELECT lrml.deploy('ms_orphan', 1);
SELECT lrml.drop_model('ms_orphan', 2);
SELECT lrml.drop_model('ms_orphan');
SELECT count(*) AS names FROM lrml.model_names WHERE name = 'ms_orphan';


-- errors: missing models and versions, NULL and empty names
SELECT lrml.deploy('ms_missing', 1);
SELECT lrml.deploy('ms_owned', 7);
SELECT lrml.deploy(NULL, 1);
SELECT lrml.drop_model('ms_missing');
SELECT lrml.drop_model('ms_owned', 7);
SELECT lrml.drop_model('');
SELECT count(*) FROM lrml.train(model => '', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1'], options => '{"epochs": 1}');
SELECT lrml.predict('ms_missing', ARRAY[1, 2]::float8[]);

-- clean up
SELECT lrml.drop_model('ms_owned');
SELECT lrml.drop_model('ms_locked');
SELECT count(*) AS models_left FROM lrml.models WHERE name LIKE 'ms%';
REVOKE SELECT ON ms_churn FROM regress_lrml_alice, regress_lrml_bob;
DROP ROLE regress_lrml_alice;
DROP ROLE regress_lrml_bob;
DROP TABLE ms_seen;
DROP TABLE ms_churn;
DROP EXTENSION dblink;
DROP FUNCTION ms_error(text, bool);
