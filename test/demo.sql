-- test/demo.sql: train a churn model on a real customer table, compare it
-- with a small neural network, tune its rate, evaluate it and list the
-- customers most likely to leave.
--
-- test/demo.sh runs this file from the repository root against a throwaway
-- cluster.  To run it on a server of your own, with the extension
-- installed, from the repository root:
--
--     createdb lrml_demo && psql -d lrml_demo -f test/demo.sql
--
-- The data: 5,000 telecom customers, described in
-- test/data/mlc_churn.README.md.

\set ON_ERROR_STOP on
\set QUIET on
-- notices (early stopping says which epoch it kept) without their hints
\set VERBOSITY terse
\pset null ''

CREATE EXTENSION IF NOT EXISTS lrml;

-- One row per customer; customer_id numbers the rows in file order.
CREATE TABLE customers (
    customer_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state text NOT NULL,
    account_length integer NOT NULL,
    area_code text NOT NULL,
    international_plan text NOT NULL,
    voice_mail_plan text NOT NULL,
    number_vmail_messages integer NOT NULL,
    total_day_minutes double precision NOT NULL,
    total_day_calls integer NOT NULL,
    total_day_charge double precision NOT NULL,
    total_eve_minutes double precision NOT NULL,
    total_eve_calls integer NOT NULL,
    total_eve_charge double precision NOT NULL,
    total_night_minutes double precision NOT NULL,
    total_night_calls integer NOT NULL,
    total_night_charge double precision NOT NULL,
    total_intl_minutes double precision NOT NULL,
    total_intl_calls integer NOT NULL,
    total_intl_charge double precision NOT NULL,
    number_customer_service_calls integer NOT NULL,
    churn text NOT NULL             -- the label: 'yes' or 'no'
);

\copy customers (state, account_length, area_code, international_plan, voice_mail_plan, number_vmail_messages, total_day_minutes, total_day_calls, total_day_charge, total_eve_minutes, total_eve_calls, total_eve_charge, total_night_minutes, total_night_calls, total_night_charge, total_intl_minutes, total_intl_calls, total_intl_charge, number_customer_service_calls, churn) FROM 'test/data/mlc_churn.csv' WITH (FORMAT csv, HEADER true)

-- Train on every column but the id, which says nothing about churn.
CREATE VIEW customer_features AS
    SELECT state, account_length, area_code, international_plan,
           voice_mail_plan, number_vmail_messages,
           total_day_minutes, total_day_calls, total_day_charge,
           total_eve_minutes, total_eve_calls, total_eve_charge,
           total_night_minutes, total_night_calls, total_night_charge,
           total_intl_minutes, total_intl_calls, total_intl_charge,
           number_customer_service_calls, churn
    FROM customers;

SELECT count(*) AS customers,
       count(*) FILTER (WHERE churn = 'yes') AS churned
FROM customers;

\echo
\echo 'Training a logistic regression model "churn", 30 epochs.'
\echo 'One row per epoch; valid_metric is the AUC on the 20% of rows held out.'
SELECT epoch,
       round(lr::numeric, 4) AS lr,
       round(train_loss::numeric, 4) AS train_loss,
       round(valid_loss::numeric, 4) AS valid_loss,
       round(valid_metric::numeric, 4) AS valid_metric,
       event
FROM lrml.train(model => 'churn',
                relation => 'customer_features',
                label => 'churn',
                features => NULL,
                options => '{"epochs": 30, "seed": 1}');

\echo 'A small neural network on the same split: an mlp with one hidden layer'
\echo 'of 32 units, Adam at 0.003, stopping early when the validation loss'
\echo 'stops improving.  Its last epoch:'
SELECT epoch,
       round(valid_loss::numeric, 4) AS valid_loss,
       round(valid_metric::numeric, 4) AS valid_auc,
       event
FROM lrml.train(model => 'churn_mlp',
                relation => 'customer_features',
                label => 'churn',
                features => NULL,
                options => '{"model": "mlp", "hidden": [32],
                             "learning_rate": 0.003, "epochs": 200,
                             "early_stopping": true, "seed": 1}')
ORDER BY epoch DESC
LIMIT 1;

\echo 'A Bayesian search over the logistic model''s rate, penalty and schedule'
\echo '(12 trials); the best is stored as the next version of "churn":'
SELECT trial, params->>'schedule' AS schedule,
       round((params->>'learning_rate')::numeric, 4) AS learning_rate,
       round((params->>'l2')::numeric, 6) AS l2,
       round(valid_loss::numeric, 4) AS valid_loss,
       round(valid_metric::numeric, 4) AS valid_auc
FROM lrml.tune(model => 'churn', relation => 'customer_features',
               label => 'churn', features => NULL,
               search => '{"method": "bayes", "trials": 12, "space": {
                   "learning_rate": {"min": 1e-4, "max": 1, "scale": "log"},
                   "l2": {"min": 1e-6, "max": 0.1, "scale": "log"},
                   "schedule": ["constant", "cosine"]}}',
               options => '{"epochs": 30, "seed": 1}')
WHERE best;

\echo 'Both models on every customer (columns are matched by name).  These rows'
\echo 'include the 80% each model trained on, so the figures flatter both; the'
\echo 'validation AUC of the curves above is what to expect on new customers.'
SELECT l.metric,
       round(l.value::numeric, CASE WHEN l.metric = 'rows' THEN 0 ELSE 4 END)
           AS logistic,
       round(m.value::numeric, CASE WHEN m.metric = 'rows' THEN 0 ELSE 4 END)
           AS mlp
FROM lrml.evaluate(model => 'churn', relation => 'customers')
         WITH ORDINALITY AS l(metric, value, n)
JOIN lrml.evaluate(model => 'churn_mlp', relation => 'customers') AS m
    USING (metric)
ORDER BY l.n;

\echo 'The ten customers most likely to leave by the logistic model (p: its'
\echo 'probability of churn; lrml.predict(''churn_mlp'', c) scores with the mlp):'
SELECT customer_id, state,
       international_plan AS intl_plan,
       voice_mail_plan AS vmail_plan,
       round(total_day_minutes::numeric, 1) AS day_minutes,
       number_customer_service_calls AS service_calls,
       churn,
       round(lrml.predict('churn', c)::numeric, 3) AS p
FROM customers AS c
ORDER BY p DESC, customer_id
LIMIT 10;
