-- lrml model store: versions, deploy, drop, owners, the per-name lock,
-- stored payloads
SET extra_float_digits = 0;

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
SELECT lrml.drop_model('ms', 4);
SELECT lrml.predict('ms', c) = (SELECT p FROM ms_seen WHERE version = 3) AS uses_v3
FROM ms_churn c WHERE id = 1;
-- the dropped version's training log went with it
SELECT count(*) AS orphan_log_rows FROM lrml.training_log l
WHERE NOT EXISTS (SELECT 1 FROM lrml.models m WHERE m.id = l.model_id);

-- versions keep counting from the highest stored one
SELECT count(*) FROM lrml.train(model => 'ms', relation => 'ms_churn', label => 'churned',
                                features => ARRAY['x1', 'x2'], options => '{"epochs": 2}');
SELECT version, features->'inputs' AS inputs FROM lrml.models WHERE name = 'ms' ORDER BY version;

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
-- dropping the last version drops the name too
SELECT lrml.drop_model('ms', 1);
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
SELECT metric FROM lrml.evaluate('ms_owned') ORDER BY metric;
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
-- a third session gives up after lock_timeout
SET lock_timeout = '200ms';
SELECT lrml.deploy('ms_locked', NULL);
RESET lock_timeout;
SELECT dblink_exec('ms_first', 'COMMIT');
SELECT n FROM dblink_get_result('ms_second') AS t(n bigint);
SELECT version, options->'epochs' AS epochs_option,
       (SELECT count(*) FROM lrml.training_log l WHERE l.model_id = m.id) AS log_rows
FROM lrml.models m WHERE name = 'ms_locked' ORDER BY version;
SELECT dblink_disconnect('ms_first');
SELECT dblink_disconnect('ms_second');

-- a stored payload of an unknown format version is refused
BEGIN;
UPDATE lrml.models SET format_version = 3 WHERE name = 'ms_locked' AND version = 2;
SELECT lrml.predict('ms_locked', ARRAY[0.5, 0.5]);
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
