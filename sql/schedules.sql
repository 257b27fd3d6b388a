-- learning-rate schedules: lrml.schedule previews against values computed
-- by hand (C01, C03, C04, C05), training against the preview, bad options
SET extra_float_digits = -9;	-- float8 prints 6 significant digits

-- constant: the default rate, one row per epoch, step 0
SELECT * FROM lrml.schedule(options => '{"schedule": "constant"}', epochs => 3);

-- step (C05, and the issue's 0.025 at t = 7); bare name: step_size 10, gamma 0.1
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 0.1, "schedule": {"name": "step", "step_size": 3, "gamma": 0.5}}', 8);
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 1, "schedule": "step"}', 12);

-- multistep: gamma to the number of milestones <= t; a milestone 0 cuts at once
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 1, "schedule": {"name": "multistep", "milestones": [2, 5], "gamma": 0.5}}', 7);
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 1, "schedule": {"name": "multistep", "milestones": [0, 1, 3]}}', 5);

-- exponential (C05): 0.1, 0.09, 0.081, 0.0729, 0.06561
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 0.1, "schedule": {"name": "exponential", "gamma": 0.9}}', 5);

-- inverse_time (C05): 0.1, 0.0666667, 0.05, 0.04, 0.0333333; with power 0.5
-- and decay 1 it is MADlib's inv: 0.1, 0.0707107, 0.057735, 0.05, 0.0447214
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 0.1, "schedule": {"name": "inverse_time", "decay": 0.5}}', 5);
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 0.1, "schedule": {"name": "inverse_time", "decay": 1, "power": 0.5}}', 5);

-- polynomial: 0.09 * (1 - t/4)^2 + 0.01 = 0.1, 0.060625, 0.0325, 0.015625,
-- then 0.01; without total it lasts the run: 1, 0.75, 0.5, 0.25
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 0.1, "schedule": {"name": "polynomial", "total": 4, "end_lr": 0.01, "power": 2}}', 6);
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 1, "schedule": "polynomial"}', 4);

-- cosine: 1, 0.853553, 0.5, 0.146447, then 0 from t = total on
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 1, "schedule": {"name": "cosine", "total": 4}}', 6);

-- cosine_restarts (C03 a): periods 1, 2, 4, 8, restarts at 1, 3, 7
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 0.5, "schedule": {"name": "cosine_restarts", "period": 1, "mult": 2, "min_lr": 0}}', 9);
SELECT bool_and(abs(lr - v) <= 1e-9 * v) AS c03a_exact
FROM lrml.schedule('{"learning_rate": 0.5, "schedule": {"name": "cosine_restarts", "period": 1, "mult": 2, "min_lr": 0}}', 9)
JOIN unnest('{0.5, 0.5, 0.25, 0.5, 0.4267766953, 0.25, 0.0732233047, 0.5, 0.4809698831}'::float8[])
     WITH ORDINALITY AS e(v, i) ON e.i = epoch + 1;

-- cosine_restarts (C03 b): 0.0505 at 5, 0.0034227 at 9 (never min_lr), 0.1 at 10
SELECT epoch, lr FROM lrml.schedule('{"learning_rate": 0.1, "schedule": {"name": "cosine_restarts", "period": 10, "mult": 1, "min_lr": 0.001}}', 31)
WHERE epoch IN (5, 9, 10, 19, 20) ORDER BY epoch;
SELECT min(lr) > 0.001 AS above_min_lr, max(lr) = 0.1 AS peak
FROM lrml.schedule('{"learning_rate": 0.1, "schedule": {"name": "cosine_restarts", "period": 10, "mult": 1, "min_lr": 0.001}}', 100);

-- cosine_restarts (C03 c): period 1, mult 3 restarts exactly at 1, 4, 13,
-- 40, 121, 364 (a floating logarithm misses 121); 3.7602e-5 at 120,
-- 0.0999958 at 122
SELECT epoch, lr, lr = 0.1 AS restart
FROM lrml.schedule('{"learning_rate": 0.1, "schedule": {"name": "cosine_restarts", "period": 1, "mult": 3, "min_lr": 0}}', 401)
WHERE epoch IN (0, 1, 4, 13, 40, 120, 121, 122, 363, 364, 365) ORDER BY epoch;

-- ... and the closed form agrees with stepwise bookkeeping (T_cur += 1;
-- at T_cur = T_i, T_cur = 0 and T_i *= mult) at every step up to 400
WITH RECURSIVE walk(t, t_cur, t_i) AS (
	SELECT 0, 0, 1
	UNION ALL
	SELECT t + 1,
		   CASE WHEN t_cur + 1 = t_i THEN 0 ELSE t_cur + 1 END,
		   CASE WHEN t_cur + 1 = t_i THEN t_i * 3 ELSE t_i END
	FROM walk WHERE t < 400
)
SELECT count(*) AS steps,
	   bool_and(abs(p.lr - 0.1 * (1 + cos(pi() * w.t_cur / w.t_i)) / 2) <= 1e-15) AS agree
FROM walk w
JOIN lrml.schedule('{"learning_rate": 0.1, "schedule": {"name": "cosine_restarts", "period": 1, "mult": 3, "min_lr": 0}}', 401) p
  ON p.epoch = w.t;

-- cyclic, base_lr 0.1, max_lr 0.5, half-cycle 2:
-- triangular  0.1 0.3 0.5 0.3 0.1 0.3 0.5 0.3 0.1
-- triangular2 0.1 0.3 0.5 0.3 0.1 0.2 0.3 0.2 0.1
-- exp_range   0.1 + 0.4 * height * 0.9^t: 0.1 0.28 0.424 0.2458 0.1 0.218098 0.312576 ...
SELECT m.mode, array_agg(lr ORDER BY epoch) AS lr
FROM (VALUES ('triangular'), ('triangular2'), ('exp_range')) AS m(mode),
	 LATERAL lrml.schedule(jsonb_build_object('learning_rate', 0.1,
		'schedule', jsonb_build_object('name', 'cyclic', 'max_lr', 0.5, 'step_size', 2,
									   'mode', m.mode)
		|| CASE WHEN m.mode = 'exp_range' THEN '{"gamma": 0.9}'::jsonb ELSE '{}' END), 9)
GROUP BY m.mode ORDER BY m.mode;
-- an explicit base_lr wins over learning_rate
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 0.3, "schedule": {"name": "cyclic", "base_lr": 0.001, "max_lr": 0.005, "step_size": 4}}', 9);

-- one_cycle (C01): 0.004, 0.052, 0.1, 0.0950485, 0.0811746, 0.0611262,
-- 0.0388742, 0.0188258, 0.00495194, 4e-07, and epoch 10 stays at 4e-07
SELECT epoch, step, lr
FROM lrml.schedule('{"learning_rate": 0.004, "schedule": {"name": "one_cycle", "max_lr": 0.1, "total": 10,
                    "pct_start": 0.3, "div_factor": 25, "final_div_factor": 1e4}}', 11)
ORDER BY epoch, step;
SELECT bool_and(abs(lr - v) <= 1e-8 * v) AS c01_exact
FROM lrml.schedule('{"learning_rate": 0.004, "schedule": {"name": "one_cycle", "max_lr": 0.1, "total": 10}}', 11)
JOIN unnest('{0.004, 0.052, 0.1, 0.0950484632, 0.0811745654, 0.0611262022, 0.0388741978,
              0.0188258346, 0.0049519368, 4e-7, 4e-7}'::float8[])
     WITH ORDINALITY AS e(v, i) ON e.i = epoch + 1;
SELECT lr_9 = lr_10 AS floor_holds, lr_10 = lr_100 AS floor_holds_later
FROM (SELECT max(lr) FILTER (WHERE epoch = 9) AS lr_9, max(lr) FILTER (WHERE epoch = 10) AS lr_10,
             max(lr) FILTER (WHERE epoch = 100) AS lr_100
      FROM lrml.schedule('{"schedule": {"name": "one_cycle", "max_lr": 0.1, "total": 10}}', 101)) s;

-- one_cycle: lr(0) comes from max_lr / div_factor, not from learning_rate
SELECT (SELECT array_agg(lr ORDER BY epoch) FROM lrml.schedule('{"learning_rate": 0.004, "schedule": {"name": "one_cycle", "max_lr": 0.1, "total": 10}}', 11))
     = (SELECT array_agg(lr ORDER BY epoch) FROM lrml.schedule('{"learning_rate": 0.05, "schedule": {"name": "one_cycle", "max_lr": 0.1, "total": 10}}', 11))
       AS learning_rate_ignored;
SELECT lr FROM lrml.schedule('{"schedule": {"name": "one_cycle", "max_lr": 0.1, "total": 10, "div_factor": 10}}', 1);
-- a bare one_cycle peaks at learning_rate and lasts the run: the C01 values
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 0.1, "schedule": "one_cycle"}', 10);

-- one_cycle cross-check, total 50 and max_lr 0.01: 2.0168449509684565e-05,
-- 4e-08, and 4e-08 again at step 50 (the reference rises back)
SELECT epoch, lr, abs(lr - v) <= 1e-12 * v AS as_expected
FROM lrml.schedule('{"schedule": {"name": "one_cycle", "max_lr": 0.01, "total": 50}}', 51)
JOIN (VALUES (48, 2.0168449509684565e-05::float8), (49, 4e-08), (50, 4e-08)) AS e(t, v)
  ON e.t = epoch
ORDER BY epoch;
-- the issue's check: total 100 gives 0.004 at t = 0 and 0.1 at t = 29
SELECT epoch, lr FROM lrml.schedule('{"schedule": {"name": "one_cycle", "max_lr": 0.1, "total": 100}}', 100)
WHERE epoch IN (0, 29) ORDER BY epoch;
-- schedule_unit "step": 5 epochs of 2 steps give the same 10 values
SELECT epoch, step, lr
FROM lrml.schedule('{"schedule_unit": "step", "schedule": {"name": "one_cycle", "max_lr": 0.1, "total": 10}}', 5, 2)
ORDER BY epoch, step;

-- warm-up (C04 a): warmup_epochs 0 is bit for bit no warm-up
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 0.1, "warmup_epochs": 0, "schedule": {"name": "step", "step_size": 3, "gamma": 0.5}}', 7);
SELECT (SELECT array_agg(lr ORDER BY epoch) FROM lrml.schedule('{"learning_rate": 0.1, "warmup_epochs": 0, "schedule": {"name": "step", "step_size": 3, "gamma": 0.5}}', 7))
     = (SELECT array_agg(lr ORDER BY epoch) FROM lrml.schedule('{"learning_rate": 0.1, "schedule": {"name": "step", "step_size": 3, "gamma": 0.5}}', 7))
       AS identical;
-- (C04 b): 1e-4, 2e-4, 2e-4, 2e-4, 2e-4, 1.8e-4, 1.8e-4, 1.8e-4, 1.62e-4, 1.62e-4
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 2e-4, "warmup_epochs": 2, "schedule": {"name": "step", "step_size": 3, "gamma": 0.9}}', 10);
-- (C04 c): 0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"learning_rate": 0.1, "warmup_epochs": 4, "schedule": {"name": "step", "step_size": 3, "gamma": 0.5}}', 10);
-- warmup_epochs in step units: 1 epoch of 2 steps, then constant
SELECT epoch, step, lr
FROM lrml.schedule('{"learning_rate": 0.1, "warmup_epochs": 1, "schedule_unit": "step"}', 2, 2)
ORDER BY epoch, step;
-- warmup_steps 3, then a cosine over the remaining 5 of 8 steps:
-- 1/3, 2/3, 1, then 1, 0.904508, 0.654508, 0.345492, 0.0954915
SELECT array_agg(lr ORDER BY epoch, step) AS lr
FROM lrml.schedule('{"learning_rate": 1, "warmup_steps": 3, "schedule_unit": "step", "schedule": "cosine"}', 2, 4);
-- warm-up in front of one_cycle starts from its first rate, max_lr / div_factor
SELECT array_agg(lr ORDER BY epoch) AS lr
FROM lrml.schedule('{"warmup_epochs": 2, "schedule": {"name": "one_cycle", "max_lr": 0.1, "total": 10}}', 4);

-- with schedule_unit "epoch", every step of an epoch has the epoch's rate
SELECT epoch, step, lr
FROM lrml.schedule('{"learning_rate": 0.1, "schedule": {"name": "step", "step_size": 1, "gamma": 0.5}}', 2, 3)
ORDER BY epoch, step;

-- a training run applies the previewed rate at every epoch, for every schedule
CREATE TABLE sched_churn (id int PRIMARY KEY, x1 float8, x2 float8, churned boolean);
INSERT INTO sched_churn VALUES
 (1,0.9,0.1,true),(2,0.8,0.3,true),(3,0.7,0.2,true),(4,0.4,0.6,true),
 (5,0.2,0.9,false),(6,0.1,0.7,false),(7,0.3,0.8,false),(8,0.6,0.5,false);
CREATE TABLE sched_cases (name text PRIMARY KEY, options jsonb);
INSERT INTO sched_cases VALUES
 ('constant', '{"schedule": "constant"}'),
 ('step', '{"schedule": {"name": "step", "step_size": 3, "gamma": 0.5}}'),
 ('multistep', '{"schedule": {"name": "multistep", "milestones": [2, 5]}}'),
 ('exponential', '{"schedule": {"name": "exponential", "gamma": 0.9}}'),
 ('inverse_time', '{"schedule": {"name": "inverse_time", "decay": 0.5}}'),
 ('polynomial', '{"schedule": {"name": "polynomial", "power": 2}}'),
 ('cosine', '{"schedule": "cosine"}'),
 ('cosine_restarts', '{"schedule": {"name": "cosine_restarts", "period": 1, "mult": 3}}'),
 ('cyclic', '{"schedule": {"name": "cyclic", "max_lr": 0.5, "step_size": 2, "mode": "triangular2"}}'),
 ('one_cycle', '{"schedule": "one_cycle"}'),
 ('warmup', '{"warmup_epochs": 4, "schedule": {"name": "step", "step_size": 3, "gamma": 0.5}}'),
 ('per_step', '{"schedule_unit": "step", "batch_size": 2, "warmup_steps": 2, "schedule": "cosine"}');
SELECT c.name, count(*) AS epochs,
	   bool_and(t.lr = p.lr) AS same_as_preview
FROM sched_cases c,
	 LATERAL lrml.train(model => 'sched_' || c.name, relation => 'sched_churn', label => 'churned',
						features => ARRAY['x1', 'x2'],
						options => c.options || '{"optimizer": "sgd", "learning_rate": 0.1, "epochs": 14, "seed": 3}') t,
	 LATERAL lrml.schedule(c.options || '{"learning_rate": 0.1}',
						   14, CASE WHEN c.name = 'per_step' THEN 3 ELSE 1 END) p
WHERE p.epoch = t.epoch AND p.step = 0
GROUP BY c.name ORDER BY c.name;
-- the stored options hold the resolved schedule, which previews the same rates
SELECT m.name, m.options->'schedule' AS schedule
FROM lrml.models m WHERE m.name IN ('sched_cyclic', 'sched_one_cycle', 'sched_multistep', 'sched_per_step')
ORDER BY m.name;
SELECT c.name, bool_and(l.lr = p.lr) AS log_matches
FROM sched_cases c
JOIN lrml.models m ON m.name = 'sched_' || c.name
JOIN lrml.training_log l ON l.model_id = m.id
JOIN LATERAL lrml.schedule(m.options, 14, CASE WHEN c.name = 'per_step' THEN 3 ELSE 1 END) p
  ON p.epoch = l.epoch AND p.step = 0
GROUP BY c.name ORDER BY c.name;
SELECT count(*) FROM (SELECT lrml.drop_model('sched_' || name) FROM sched_cases) d;
DROP TABLE sched_cases;
DROP TABLE sched_churn;

-- plateau depends on the loss: it has no preview
SELECT * FROM lrml.schedule('{"schedule": {"name": "plateau", "patience": 2}}', 5);

-- the run's length must be positive and not too long
SELECT * FROM lrml.schedule('{}', 0);
SELECT * FROM lrml.schedule('{}', 3, 0);
SELECT * FROM lrml.schedule('{}', 1001, 1000);
SELECT count(*) FROM lrml.schedule('{}', 1000, 1000);

-- options are checked as in training (C11)
SELECT * FROM lrml.schedule('{"learnig_rate": 0.1}', 3);
SELECT * FROM lrml.schedule('{"schedule": "cosine_anealing"}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "step", "step_size": 3, "gamma": 0.5, "period": 4}}', 3);
SELECT * FROM lrml.schedule('{"schedule": "one_cycle", "max_lr": 0.1}', 3);
SELECT * FROM lrml.schedule('[0.1, 0.2]', 3);

-- multistep milestones: given, an array, non-empty, integers >= 0, increasing
SELECT * FROM lrml.schedule('{"schedule": "multistep"}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "multistep", "milestones": 3}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "multistep", "milestones": []}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "multistep", "milestones": [-1, 2]}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "multistep", "milestones": [1.5]}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "multistep", "milestones": [5, 3]}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "multistep", "milestones": [2, 2]}}', 3);

-- inverse_time and polynomial ranges
SELECT * FROM lrml.schedule('{"schedule": {"name": "inverse_time", "decay": -1}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "inverse_time", "power": 0}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "polynomial", "end_lr": 0.5}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "polynomial", "total": 0}}', 3);

-- cosine_restarts: period >= 1, an integer mult >= 1, min_lr <= learning_rate
SELECT * FROM lrml.schedule('{"schedule": {"name": "cosine_restarts", "period": 0}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "cosine_restarts", "mult": 1.5}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "cosine_restarts", "mult": 0}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "cosine_restarts", "min_lr": 1}}', 3);

-- cyclic: max_lr given and above base_lr, a known mode
SELECT * FROM lrml.schedule('{"schedule": "cyclic"}', 3);
SELECT * FROM lrml.schedule('{"learning_rate": 0.1, "schedule": {"name": "cyclic", "max_lr": 0.1}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "cyclic", "base_lr": 0.5, "max_lr": 0.2}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "cyclic", "max_lr": 0.2, "mode": "triangle"}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "cyclic", "max_lr": 0.2, "mode": 2}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "cyclic", "max_lr": 0.2, "step_size": 0}}', 3);

-- one_cycle: pct_start in (0, 1), factors >= 1, a first phase past unit 0
SELECT * FROM lrml.schedule('{"schedule": {"name": "one_cycle", "pct_start": 0}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "one_cycle", "pct_start": 1}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "one_cycle", "div_factor": 0.5}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "one_cycle", "final_div_factor": 0}}', 3);
SELECT * FROM lrml.schedule('{"schedule": {"name": "one_cycle", "max_lr": -0.1}}', 3);
SELECT * FROM lrml.schedule('{"schedule": "one_cycle"}', 3);

-- warm-up: a count >= 0, one of the two keys, warmup_steps only per step
SELECT * FROM lrml.schedule('{"warmup_epochs": -1}', 3);
SELECT * FROM lrml.schedule('{"warmup_epochs": 1.5}', 3);
SELECT * FROM lrml.schedule('{"warmup_steps": 2}', 3);
SELECT * FROM lrml.schedule('{"schedule_unit": "step", "warmup_epochs": 1, "warmup_steps": 2}', 3);
