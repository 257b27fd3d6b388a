/*-------------------------------------------------------------------------
 *
 * schedule.c
 *	  Learning-rate schedules: the rate as a pure function of the step.
 *
 * A schedule maps t, the number of units (epochs, or mini-batch steps when
 * schedule_unit is "step") completed before the update, to the learning
 * rate of that update.  t counts from 0.  With lr the option learning_rate:
 *
 *	  constant         lr
 *	  step             lr * gamma^floor(t / step_size)
 *	  multistep        lr * gamma^(number of milestones <= t)
 *	  exponential      lr * gamma^t
 *	  inverse_time     lr / (1 + decay * t)^power
 *	  polynomial       (lr - end_lr) * (1 - min(t, total) / total)^power
 *	                   + end_lr
 *	  cosine           min_lr + (lr - min_lr) *
 *	                   (1 + cos(pi * min(t, total) / total)) / 2
 *	  cosine_restarts  min_lr + (lr - min_lr) *
 *	                   (1 + cos(pi * T_cur / T_i)) / 2, where period i
 *	                   lasts T_i = period * mult^i units and T_cur is t's
 *	                   position in its period, 0 .. T_i - 1
 *	  cyclic           base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale
 *	                   with cycle = floor(1 + t / (2 * step_size)),
 *	                   x = |t / step_size - 2 * cycle + 1| and scale 1
 *	                   (triangular), 1 / 2^(cycle - 1) (triangular2) or
 *	                   gamma^t (exp_range)
 *	  one_cycle        cosine from max_lr / div_factor up to max_lr over
 *	                   0 .. s1 = pct_start * total - 1, then cosine down to
 *	                   max_lr / (div_factor * final_div_factor) over
 *	                   s1 .. total - 1, and that floor from then on
 *
 * With a warm-up of W units (warmup_epochs or warmup_steps) in front:
 *
 *	  rate(t) = base(0) * (t + 1) / W   for t < W
 *	  rate(t) = base(t - W)             for t >= W
 *
 * so the schedule's own clock starts when the warm-up ends, and W = 0 is
 * exactly the schedule without warm-up.
 *
 * Every rate, warm-up included, is then multiplied by rate_scale, the
 * factor of lr_scaling (batch_size / base_batch_size, its square root, or
 * 1; options.c computes it).  So the scaling applies to the whole curve,
 * its floors (min_lr, end_lr) and bounds (max_lr) included, while the
 * stored learning_rate stays as given.
 *
 * References: cosine and cosine_restarts are SGDR (Loshchilov and Hutter,
 * "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017), in
 * the stepwise convention of PyTorch's CosineAnnealingWarmRestarts (the
 * last unit of a period is above min_lr; the next one restarts at lr).
 * cyclic is Smith, "Cyclical Learning Rates for Training Neural Networks",
 * WACV 2017.  one_cycle is Smith and Topin, "Super-Convergence", 2018, in
 * the two-phase cosine form of PyTorch's OneCycleLR, except that units at
 * or past total - 1 stay at the floor instead of rising again.
 * Positions in periods and cycles are computed with integers, never with
 * a floating-point logarithm, so that a restart falls exactly where it
 * should (log(243) / log(3) is below 5 in double precision).
 *
 * This file owns the formulas and the schedule names only: it knows
 * nothing about tables, models or the option syntax (options.c parses and
 * checks the parameters).  ScheduleRate never depends on anything but its
 * arguments, so a preview of the rates and a training run agree exactly.
 * Adding a schedule is adding its rate function and one row of
 * schedule_methods[] (plus its parameters in options.c).
 *
 * src/schedule.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"

#include "lrml.h"

typedef double (*ScheduleRateFunc) (const LearningSchedule *s, int64 t);

typedef struct ScheduleMethod
{
	ScheduleKind kind;
	const char *name;
	ScheduleRateFunc rate;
} ScheduleMethod;

static double ConstantRate(const LearningSchedule *s, int64 t);
static double StepRate(const LearningSchedule *s, int64 t);
static double ExponentialRate(const LearningSchedule *s, int64 t);
static double CosineRate(const LearningSchedule *s, int64 t);
static double MultistepRate(const LearningSchedule *s, int64 t);
static double InverseTimeRate(const LearningSchedule *s, int64 t);
static double PolynomialRate(const LearningSchedule *s, int64 t);
static double CosineRestartsRate(const LearningSchedule *s, int64 t);
static double CyclicRate(const LearningSchedule *s, int64 t);
static double OneCycleRate(const LearningSchedule *s, int64 t);

/* In the order of the design's list, which hints follow. */
static const ScheduleMethod schedule_methods[] = {
	{SCHEDULE_CONSTANT, "constant", ConstantRate},
	{SCHEDULE_STEP, "step", StepRate},
	{SCHEDULE_MULTISTEP, "multistep", MultistepRate},
	{SCHEDULE_EXPONENTIAL, "exponential", ExponentialRate},
	{SCHEDULE_INVERSE_TIME, "inverse_time", InverseTimeRate},
	{SCHEDULE_POLYNOMIAL, "polynomial", PolynomialRate},
	{SCHEDULE_COSINE, "cosine", CosineRate},
	{SCHEDULE_COSINE_RESTARTS, "cosine_restarts", CosineRestartsRate},
	{SCHEDULE_CYCLIC, "cyclic", CyclicRate},
	{SCHEDULE_ONE_CYCLE, "one_cycle", OneCycleRate},
	/* plateau's cuts follow the loss: the training loop applies them */
	{SCHEDULE_PLATEAU, "plateau", ConstantRate}
};

#define N_SCHEDULE_METHODS ((int) lengthof(schedule_methods))

/* Return the table row of a schedule kind. */
static const ScheduleMethod *
ScheduleMethodFor(ScheduleKind kind)
{
	for (int i = 0; i < N_SCHEDULE_METHODS; i++)
	{
		if (schedule_methods[i].kind == kind)
			return &schedule_methods[i];
	}
	elog(ERROR, "unrecognized learning rate schedule kind: %d", (int) kind);
	return NULL;				/* keep compiler quiet */
}

/* lr */
static double
ConstantRate(const LearningSchedule *s, int64 t)
{
	return s->base_lr;
}

/*
 * lr * gamma^floor(t / step_size)
 *
 * The exponent is an integer division, so the rate changes exactly at
 * multiples of step_size whatever the rounding of floating point.
 */
static double
StepRate(const LearningSchedule *s, int64 t)
{
	int64		k = t / s->step_size;

	return s->base_lr * pow(s->gamma, (double) k);
}

/* lr * gamma^t */
static double
ExponentialRate(const LearningSchedule *s, int64 t)
{
	return s->base_lr * pow(s->gamma, (double) t);
}

/* min_lr + (lr - min_lr) * (1 + cos(pi * min(t, total) / total)) / 2 */
static double
CosineRate(const LearningSchedule *s, int64 t)
{
	int64		tc = Min(t, s->total);

	if (s->total < 1)
		elog(ERROR, "cosine schedule used before its total was resolved");

	return s->min_lr + (s->base_lr - s->min_lr) *
		(1.0 + cos(M_PI * (double) tc / (double) s->total)) / 2.0;
}

/*
 * lr * gamma^(number of milestones <= t)
 *
 * The milestones are strictly increasing (checked by options.c), so a
 * binary search counts them.
 */
static double
MultistepRate(const LearningSchedule *s, int64 t)
{
	int			lo = 0;
	int			hi = s->n_milestones;

	/* find the first milestone greater than t */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (s->milestones[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return s->base_lr * pow(s->gamma, (double) lo);
}

/* lr / (1 + decay * t)^power */
static double
InverseTimeRate(const LearningSchedule *s, int64 t)
{
	return s->base_lr / pow(1.0 + s->decay * (double) t, s->power);
}

/* (lr - end_lr) * (1 - min(t, total) / total)^power + end_lr */
static double
PolynomialRate(const LearningSchedule *s, int64 t)
{
	int64		tc = Min(t, s->total);

	if (s->total < 1)
		elog(ERROR, "polynomial schedule used before its total was resolved");

	return (s->base_lr - s->end_lr) *
		pow(1.0 - (double) tc / (double) s->total, s->power) + s->end_lr;
}

/*
 * min_lr + (lr - min_lr) * (1 + cos(pi * T_cur / T_i)) / 2
 *
 * Walk the periods with integers: period i starts where period i - 1
 * ended and lasts period * mult^i units.  There are at most 63 periods
 * before an int64 overflows, and a period that would overflow is longer
 * than any t, so the walk stops there.  mult 1 needs no walk.
 */
static double
CosineRestartsRate(const LearningSchedule *s, int64 t)
{
	int64		start = 0;
	int64		len = s->period;
	int64		next;

	if (s->mult == 1)
		start = t - t % len;
	else
	{
		while (!pg_add_s64_overflow(start, len, &next) && t >= next)
		{
			start = next;
			if (pg_mul_s64_overflow(len, (int64) s->mult, &len))
				break;
		}
	}

	return s->min_lr + (s->base_lr - s->min_lr) *
		(1.0 + cos(M_PI * (double) (t - start) / (double) len)) / 2.0;
}

/*----------
 * Smith's cyclical learning rate, half-cycle step_size (= s):
 *
 *	  cycle = floor(1 + t / (2 s))
 *	  x     = |t / s - 2 cycle + 1|
 *	  rate  = base_lr + (max_lr - base_lr) * max(0, 1 - x) * scale
 *
 * with scale 1 (triangular), 1 / 2^(cycle - 1) (triangular2) or gamma^t
 * (exp_range).  With p = t mod 2s, 1 - x = (s - |p - s|) / s, which is
 * what is computed, in integers up to the last division.
 *----------
 */
static double
CyclicRate(const LearningSchedule *s, int64 t)
{
	int64		half = s->step_size;
	int64		cycle = t / (2 * half) + 1;
	int64		p = t % (2 * half);
	double		height = (double) (half - Abs(p - half)) / (double) half;
	double		scale = 1.0;

	if (s->cyclic_mode == CYCLIC_TRIANGULAR2)
		scale = pow(0.5, (double) (cycle - 1));
	else if (s->cyclic_mode == CYCLIC_EXP_RANGE)
		scale = pow(s->gamma, (double) t);

	return s->cyclic_base_lr +
		(s->max_lr - s->cyclic_base_lr) * height * scale;
}

/*----------
 * One-cycle policy, two cosine phases (total = T):
 *
 *	  initial = max_lr / div_factor
 *	  floor   = initial / final_div_factor
 *	  s1      = pct_start * T - 1         (end of phase 1, may be fractional)
 *	  e       = T - 1                     (end of phase 2)
 *	  anneal(a, b, p) = b + (a - b) / 2 * (cos(pi * p) + 1)
 *
 *	  t <= s1:      anneal(initial, max_lr, t / s1)
 *	  s1 < t < e:   anneal(max_lr, floor, (t - s1) / (e - s1))
 *	  t >= e:       floor
 *
 * The last line is lrml's: PyTorch evaluates phase 2 past e, where p > 1
 * and the cosine rises again.  ScheduleResolve checks s1 > 0, so phase 1
 * has a start and an end.  The arithmetic follows PyTorch's order, so
 * that the rates agree to the last bit.
 *----------
 */
static double
OneCycleRate(const LearningSchedule *s, int64 t)
{
	double		initial = s->max_lr / s->div_factor;
	double		floor_lr = initial / s->final_div_factor;
	double		s1 = s->pct_start * (double) s->total - 1.0;
	double		e = (double) (s->total - 1);
	double		a;
	double		b;
	double		p;

	if (s->total < 2)
		elog(ERROR, "one_cycle schedule used before its total was resolved");

	if ((double) t >= e)
		return floor_lr;
	if ((double) t <= s1)
	{
		a = initial;
		b = s->max_lr;
		p = (double) t / s1;
	}
	else
	{
		a = s->max_lr;
		b = floor_lr;
		p = ((double) t - s1) / (e - s1);
	}
	return b + (a - b) / 2.0 * (cos(M_PI * p) + 1.0);
}

/*
 * Fill in the parameters that depend on the run.
 *
 * epochs and steps_per_epoch describe the run the schedule is used for;
 * a run lasts epochs units, or epochs * steps_per_epoch when
 * schedule_unit is "step".
 *
 * 1. The warm-up in units: warmup_steps, or warmup_epochs times the steps
 *	  per epoch when the unit is a step.
 * 2. A cosine, polynomial or one_cycle schedule without an explicit total
 *	  lasts the rest of the run after the warm-up (at least 1 unit), so
 *	  that it ends on the run's last unit.
 * 3. one_cycle needs a first phase that ends after unit 0.
 *
 * Call this once, after OptionsParse and before the first ScheduleRate.
 */
void
ScheduleResolve(LearningSchedule *s, int epochs, int64 steps_per_epoch)
{
	int64		units = epochs;

	if (s->unit_step &&
		pg_mul_s64_overflow((int64) epochs, steps_per_epoch, &units))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("training run is too long for a learning rate schedule"),
				 errdetail("%d epochs of " INT64_FORMAT " steps each exceed the largest step count.",
						   epochs, steps_per_epoch)));

	/* 1. */
	s->warmup = s->warmup_steps;
	if (s->warmup_epochs > 0 && s->unit_step &&
		pg_mul_s64_overflow((int64) s->warmup_epochs, steps_per_epoch,
							&s->warmup))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("warm-up is too long for a learning rate schedule"),
				 errdetail("%d epochs of " INT64_FORMAT " steps each exceed the largest step count.",
						   s->warmup_epochs, steps_per_epoch)));
	else if (s->warmup_epochs > 0 && !s->unit_step)
		s->warmup = s->warmup_epochs;

	/* 2. */
	if ((s->kind == SCHEDULE_COSINE || s->kind == SCHEDULE_POLYNOMIAL ||
		 s->kind == SCHEDULE_ONE_CYCLE) && s->total == 0)
		s->total = Max(units - s->warmup, 1);

	/* 3. */
	if (s->kind == SCHEDULE_ONE_CYCLE &&
		!(s->pct_start * (double) s->total > 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule \"one_cycle\" is too short for its \"pct_start\""),
				 errdetail("With total " INT64_FORMAT " and pct_start %g, the rising phase ends at unit %g; it must end after unit 0.",
						   s->total, s->pct_start,
						   s->pct_start * (double) s->total - 1.0),
				 errhint("Raise \"total\" (or the number of epochs) or \"pct_start\", so that pct_start * total is greater than 1.")));
}

/*
 * Return the learning rate of update t (counted from 0 in the schedule's
 * unit).  The rate depends on s and t only.
 *
 * During a warm-up of W units the rate rises linearly to the schedule's
 * first rate, base(0) * (t + 1) / W; after it, the schedule runs on its
 * own clock, base(t - W).  W = 0 takes the second branch for every t.
 * Either is multiplied by s->rate_scale (1 without lr_scaling).
 */
double
ScheduleRate(const LearningSchedule *s, int64 t)
{
	ScheduleRateFunc rate;
	double		r;

	if (t < 0)
		elog(ERROR, "learning rate requested for negative step " INT64_FORMAT,
			 t);

	rate = ScheduleMethodFor(s->kind)->rate;
	if (t < s->warmup)
		r = s->rate_scale * rate(s, 0) *
			((double) (t + 1) / (double) s->warmup);
	else
		r = s->rate_scale * rate(s, t - s->warmup);

	/* parameters such as a huge gamma can push the rate past double */
	if (!isfinite(r))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("learning rate of schedule \"%s\" is out of range at step " INT64_FORMAT,
						ScheduleName(s->kind), t),
				 errdetail("The schedule's parameters make the rate %s.",
						   isnan(r) ? "NaN" : "infinite"),
				 errhint("Lower \"gamma\", the learning rate or its scaling.")));
	return r;
}

/* Return the name of a schedule kind, as written in the options. */
const char *
ScheduleName(ScheduleKind kind)
{
	return ScheduleMethodFor(kind)->name;
}

/*
 * Look up a schedule by its name; return true and set *kind if this build
 * implements it, false otherwise.  The match is exact (case and spaces).
 */
bool
ScheduleFromName(const char *name, ScheduleKind *kind)
{
	for (int i = 0; i < N_SCHEDULE_METHODS; i++)
	{
		if (strcmp(schedule_methods[i].name, name) == 0)
		{
			*kind = schedule_methods[i].kind;
			return true;
		}
	}
	return false;
}
