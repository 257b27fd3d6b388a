/*-------------------------------------------------------------------------
 *
 * schedule.c
 *	  Learning-rate schedules: the rate as a pure function of the step.
 *
 * A schedule maps t, the number of units (epochs, or mini-batch steps when
 * schedule_unit is "step") completed before the update, to the learning
 * rate of that update.  t counts from 0.  With lr the option learning_rate:
 *
 *	  constant      lr
 *	  step          lr * gamma^floor(t / step_size)
 *	  exponential   lr * gamma^t
 *	  cosine        min_lr + (lr - min_lr) *
 *	                         (1 + cos(pi * min(t, total) / total)) / 2
 *
 * The cosine schedule is SGDR without restarts (Loshchilov and Hutter,
 * "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017); it
 * stays at min_lr once t reaches total.
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

static const ScheduleMethod schedule_methods[] = {
	{SCHEDULE_CONSTANT, "constant", ConstantRate},
	{SCHEDULE_STEP, "step", StepRate},
	{SCHEDULE_EXPONENTIAL, "exponential", ExponentialRate},
	{SCHEDULE_COSINE, "cosine", CosineRate}
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
 * Fill in the parameters that depend on the run.
 *
 * epochs and steps_per_epoch describe the run the schedule is used for.
 * A cosine schedule without an explicit total lasts the whole run: epochs
 * units, or epochs * steps_per_epoch when schedule_unit is "step".  The
 * total is at least 1, so a run of no epochs still has a valid schedule.
 * Call this once, after OptionsParse and before the first ScheduleRate.
 */
void
ScheduleResolve(LearningSchedule *s, int epochs, int64 steps_per_epoch)
{
	int64		units = epochs;

	if (s->kind != SCHEDULE_COSINE || s->total != 0)
		return;

	if (s->unit_step &&
		pg_mul_s64_overflow((int64) epochs, steps_per_epoch, &units))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("training run is too long for a learning rate schedule"),
				 errdetail("%d epochs of " INT64_FORMAT " steps each exceed the largest step count.",
						   epochs, steps_per_epoch)));

	s->total = Max(units, 1);
}

/*
 * Return the learning rate of update t (counted from 0 in the schedule's
 * unit).  The rate depends on s and t only.
 */
double
ScheduleRate(const LearningSchedule *s, int64 t)
{
	if (t < 0)
		elog(ERROR, "learning rate requested for negative step " INT64_FORMAT,
			 t);

	return ScheduleMethodFor(s->kind)->rate(s, t);
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
