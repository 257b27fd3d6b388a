-- mlp quality on the real churn table (test/data): 5-fold cross-validation
-- against logistic regression, and the every-fifth-row holdout
SET extra_float_digits = 0;
SET client_min_messages = warning;
\i test/data/mlc_churn.sql

-- rn numbers the rows in file order; folds are a permutation drawn from
-- the fixed seed 7, 1,000 rows each
CREATE TABLE mc_rows AS SELECT row_number() OVER () AS rn, * FROM mlc_churn;
CREATE TABLE mc_folds AS
SELECT rn, (row_number() OVER (ORDER BY hashtext(rn::text || ':7'), rn)) % 5 AS fold
FROM mc_rows;
SELECT fold, count(*) FROM mc_folds GROUP BY fold ORDER BY fold;

-- train on four folds, measure the validation AUC on the fifth
CREATE TABLE mc_auc (fold int, model text, auc float8, PRIMARY KEY (fold, model));
DO $$
DECLARE
	k int;
	cols text := 'state, account_length, area_code, international_plan, '
		'voice_mail_plan, number_vmail_messages, total_day_minutes, '
		'total_day_calls, total_day_charge, total_eve_minutes, '
		'total_eve_calls, total_eve_charge, total_night_minutes, '
		'total_night_calls, total_night_charge, total_intl_minutes, '
		'total_intl_calls, total_intl_charge, number_customer_service_calls, '
		'churn';
BEGIN
	FOR k IN 0..4 LOOP
		EXECUTE format('CREATE VIEW mc_train_%s AS SELECT %s FROM mc_rows r '
					   'JOIN mc_folds f USING (rn) WHERE f.fold <> %s', k, cols, k);
		EXECUTE format('CREATE VIEW mc_valid_%s AS SELECT %s FROM mc_rows r '
					   'JOIN mc_folds f USING (rn) WHERE f.fold = %s', k, cols, k);
		PERFORM count(*) FROM lrml.train(model => 'mc_mlp_' || k,
			relation => 'mc_train_' || k, label => 'churn',
			options => '{"model": "mlp", "hidden": [32], "optimizer": "adam",
						 "learning_rate": 0.003, "schedule": "cosine",
						 "epochs": 200, "early_stopping": true, "seed": 1}');
		PERFORM count(*) FROM lrml.train(model => 'mc_logistic_' || k,
			relation => 'mc_train_' || k, label => 'churn');
		INSERT INTO mc_auc
		SELECT k, 'mlp', value FROM lrml.evaluate('mc_mlp_' || k, 'mc_valid_' || k)
		WHERE metric = 'auc'
		UNION ALL
		SELECT k, 'logistic', value
		FROM lrml.evaluate('mc_logistic_' || k, 'mc_valid_' || k)
		WHERE metric = 'auc';
	END LOOP;
END $$;

-- every fold beats logistic regression; the mean AUC is at least 0.88
SELECT m.fold, m.auc > l.auc AS mlp_beats_logistic, m.auc > 0.85 AS mlp_above_085
FROM mc_auc m JOIN mc_auc l ON l.fold = m.fold AND l.model = 'logistic'
WHERE m.model = 'mlp' ORDER BY m.fold;
SELECT avg(auc) FILTER (WHERE model = 'mlp') >= 0.88 AS mlp_mean_at_least_088,
       avg(auc) FILTER (WHERE model = 'logistic') < 0.85 AS logistic_mean_below_085
FROM mc_auc;

-- hold out every fifth row of the file, train on the rest
CREATE VIEW mc_holdout_train AS
SELECT state, account_length, area_code, international_plan, voice_mail_plan,
       number_vmail_messages, total_day_minutes, total_day_calls,
       total_day_charge, total_eve_minutes, total_eve_calls, total_eve_charge,
       total_night_minutes, total_night_calls, total_night_charge,
       total_intl_minutes, total_intl_calls, total_intl_charge,
       number_customer_service_calls, churn
FROM mc_rows WHERE rn % 5 <> 0;
CREATE VIEW mc_holdout AS SELECT * FROM mc_rows WHERE rn % 5 = 0;
SELECT count(*) > 0 AS trained
FROM lrml.train(model => 'mc_holdout_mlp', relation => 'mc_holdout_train', label => 'churn',
                options => '{"model": "mlp", "hidden": [32], "optimizer": "adam",
                             "learning_rate": 0.003, "epochs": 200,
                             "early_stopping": true, "seed": 3}');
SELECT count(*) > 0 AS trained
FROM lrml.train(model => 'mc_holdout_logistic', relation => 'mc_holdout_train',
                label => 'churn');
SELECT m.value >= 0.87 AS mlp_at_least_087, m.value > l.value AS mlp_beats_logistic
FROM lrml.evaluate('mc_holdout_mlp', 'mc_holdout') m
JOIN lrml.evaluate('mc_holdout_logistic', 'mc_holdout') l USING (metric)
WHERE metric = 'auc';

DELETE FROM lrml.model_names;
DO $$
BEGIN
	FOR k IN 0..4 LOOP
		EXECUTE format('DROP VIEW mc_train_%s, mc_valid_%s', k, k);
	END LOOP;
END $$;
DROP VIEW mc_holdout_train, mc_holdout;
DROP TABLE mlc_churn, mc_rows, mc_folds, mc_auc;
