-- test/data/mlc_churn.sql: create and load the table mlc_churn from
-- test/data/mlc_churn.csv (see mlc_churn.README.md).  Tests include it
-- with \i from the repository root, where pg_regress runs psql.
CREATE TABLE mlc_churn (
  state text, account_length int, area_code text, international_plan text,
  voice_mail_plan text, number_vmail_messages int, total_day_minutes float8,
  total_day_calls int, total_day_charge float8, total_eve_minutes float8,
  total_eve_calls int, total_eve_charge float8, total_night_minutes float8,
  total_night_calls int, total_night_charge float8, total_intl_minutes float8,
  total_intl_calls int, total_intl_charge float8,
  number_customer_service_calls int, churn text);
\copy mlc_churn FROM 'test/data/mlc_churn.csv' WITH (FORMAT csv, HEADER true)
