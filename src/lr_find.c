/*-------------------------------------------------------------------------
 *
 * lr_find.c
 *	  lrml.lr_find: the learning-rate range test.
 *
 * The range test (Smith, "Cyclical Learning Rates for Training Neural
 * Networks", WACV 2017, section 3.3, in the form popularized by fastai's
 * lr_find) trains a fresh model for a few hundred mini-batches while the
 * rate grows exponentially from start_lr to end_lr, and records the loss
 * of every batch.  The loss first stays flat (rate too small), then falls
 * (useful rates), then rises or explodes (rate too large); a good rate
 * lies on the steepest part of the fall.
 *
 * The data, split, encoding and model family are exactly those of
 * lrml.train with the same options (TrainPrepare in train.c), and so is
 * the optimizer; the rate of each step is the test's own, so schedules and
 * warm-up are refused (options.c).  The model is thrown away: this file
 * never writes to a table, and everything it allocates lives in one memory
 * context that dies with the call.
 *
 * src/lr_find.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(lrml_lr_find);

/* Weight of the past in the smoothed loss (fastai's beta) */
#define LR_FIND_BETA		0.98

/* The test stops once the smoothed loss exceeds this multiple of its best */
#define LR_FIND_EXPLODE		4.0

/* Fewest finite steps from which a rate is suggested */
#define LR_FIND_MIN_STEPS	3

/* One step of the range test (one row of the result) */
typedef struct LrFindStep
{
	double		lr;
	double		loss;
	double		smoothed;
} LrFindStep;

/* State shown by the error context callback during the test */
typedef struct LrFindContext
{
	const char *relation;
	int			step;
} LrFindContext;

static void
LrFindErrorCallback(void *arg)
{
	LrFindContext *fc = (LrFindContext *) arg;

	errcontext("learning-rate range test on \"%s\", step %d", fc->relation,
			   fc->step);
}

/*----------
 * Run the range test; fill steps[] and return the number of steps kept.
 *
 * With N = num_steps, step i = 0 .. N - 1:
 *
 *	  lr_i       = start_lr * (end_lr / start_lr)^(i / (N - 1))
 *	               (computed as exp(ln(start_lr) + i / (N - 1) *
 *	               ln(ratio)), which cannot overflow, and exactly end_lr
 *	               at the last step)
 *	  loss_i     = mean loss of mini-batch i mod n_batches, before the
 *	               update
 *	  avg_i      = beta * avg_(i-1) + (1 - beta) * loss_i,  avg_(-1) = 0
 *	  smoothed_i = avg_i / (1 - beta^(i + 1))    (bias correction)
 *
 * with beta = 0.98.  The batches are the runs of batch_size consecutive
 * training rows, which were shuffled once by the seed; the test cycles
 * through them in order, as often as N needs.  After recording step i,
 * the optimizer takes one step at rate lr_i.
 *
 * The test stops early once smoothed_i > 4 * min_(j<i) smoothed_j (that
 * step is kept), or as soon as loss_i or smoothed_i is not finite (that
 * step is dropped), so every step returned is finite.
 *----------
 */
static int
RangeTest(const TrainOptions *opts, const Learner *learner, int64 n_train,
		  LrFindContext *fc, LrFindStep *steps)
{
	int			n_params = learner->n_params;
	int			batch = (int) Min(opts->batch_size, n_train);
	int64		n_batches = (n_train + batch - 1) / batch;
	double		log_ratio = log(opts->end_lr) - log(opts->start_lr);
	double	   *theta = palloc0(sizeof(double) * n_params);
	double	   *grad = palloc0(sizeof(double) * n_params);
	OptimizerState *optimizer = OptimizerCreate(&opts->optimizer, n_params);
	double		avg = 0.0;
	double		best = get_float8_infinity();
	int			n = 0;

	/* start where lrml.train would start */
	if (learner->init)
		learner->init(learner->arg, theta);
	for (int i = 0; i < opts->num_steps; i++)
	{
		int64		first = (i % n_batches) * batch;
		int			rows = (int) Min(batch, n_train - first);
		double		lr;
		double		loss;
		double		smoothed;

		CHECK_FOR_INTERRUPTS();
		fc->step = i;
		/* in the log domain, so that no step overflows; the last is end_lr */
		lr = (i == opts->num_steps - 1) ? opts->end_lr :
			exp(log(opts->start_lr) +
				log_ratio * i / (double) (opts->num_steps - 1));
		loss = learner->batch_gradient(learner->arg, first, rows, theta,
									   grad);
		if (!isfinite(loss))
			break;
		avg = LR_FIND_BETA * avg + (1.0 - LR_FIND_BETA) * loss;
		smoothed = avg / (1.0 - pow(LR_FIND_BETA, i + 1));
		if (!isfinite(smoothed))
			break;

		steps[n].lr = lr;
		steps[n].loss = loss;
		steps[n].smoothed = smoothed;
		n++;
		ereport(opts->verbose ? INFO : DEBUG1,
				(errmsg("range test step %d of %d: lr %g, loss %g, smoothed loss %g",
						i, opts->num_steps, lr, loss, smoothed)));

		/* the loss has exploded: larger rates only get worse */
		if (smoothed > LR_FIND_EXPLODE * best)
			break;
		best = Min(best, smoothed);
		TrainStep(learner, optimizer, theta, grad, lr);
	}
	return n;
}

/*
 * Return the mean raw loss of steps i - k .. i + k (clipped to 0 .. n - 1).
 */
static double
CenteredMean(const LrFindStep *steps, int n, int i, int k)
{
	int			lo = Max(0, i - k);
	int			hi = Min(n - 1, i + k);
	double		sum = 0.0;

	for (int j = lo; j <= hi; j++)
		sum += steps[j].loss;
	return sum / (hi - lo + 1);
}

/*----------
 * Return the suggested step of a range test of n finite steps, or -1 when
 * there are fewer than LR_FIND_MIN_STEPS; *fell tells whether the loss
 * fell before its minimum.
 *
 * The smoothed_loss column (an exponential moving average, beta 0.98)
 * trails the loss by dozens of steps, so its steepest fall comes where the
 * loss has already bottomed out.  The suggestion therefore uses a centered
 * moving average, which does not lag: with k = max(1, n / 20),
 *
 *	  c_i = mean of the losses of steps i - k .. i + k (clipped to the run)
 *	  x_i = ln(lr_i)
 *	  m   = the first step with the lowest c_i
 *	  g_i = (c_(i+1) - c_(i-1)) / (x_(i+1) - x_(i-1))   for 1 <= i < m
 *
 * The suggestion is the step i with 1 <= i < m whose g_i is the most
 * negative (the earliest of equals): the middle of the steepest stretch of
 * the falling loss.  When no such step has g_i < 0 (the loss never fell),
 * the suggestion is m itself and *fell is false.
 *----------
 */
static int
Suggest(const LrFindStep *steps, int n, bool *fell)
{
	int			k = Max(1, n / 20);
	double	   *c;
	int			m = 0;
	int			best = -1;
	double		best_slope = 0.0;

	*fell = false;
	if (n < LR_FIND_MIN_STEPS)
		return -1;
	c = palloc(sizeof(double) * n);
	for (int i = 0; i < n; i++)
	{
		c[i] = CenteredMean(steps, n, i, k);
		if (c[i] < c[m])
			m = i;
	}
	for (int i = 1; i < m; i++)
	{
		double		slope = (c[i + 1] - c[i - 1]) /
			(log(steps[i + 1].lr) - log(steps[i - 1].lr));

		if (slope < best_slope)
		{
			best_slope = slope;
			best = i;
		}
	}
	pfree(c);
	*fell = (best >= 0);
	return *fell ? best : m;
}

/*
 * Tell the caller that no rate, or only a poor one, could be suggested.
 */
static void
ReportSuggestion(const TrainOptions *opts, const LrFindStep *steps, int n,
				 int suggested, bool fell)
{
	if (suggested < 0)
		ereport(NOTICE,
				(errmsg("no learning rate is suggested"),
				 errdetail_plural("The range test kept %d finite step; a suggestion needs at least %d.",
								  "The range test kept %d finite steps; a suggestion needs at least %d.",
								  n, n, LR_FIND_MIN_STEPS),
				 n < opts->num_steps ?
				 errhint("The loss exploded at once; lower \"start_lr\".") :
				 errhint("Raise \"num_steps\".")));
	else if (!fell)
		ereport(NOTICE,
				(errmsg("the loss did not fall during the range test"),
				 errdetail("Step %d, at learning rate %g, has the lowest loss and is suggested.",
						   suggested, steps[suggested].lr),
				 errhint("Lower \"start_lr\" to see where the loss begins to fall.")));
}

/*
 * lrml.lr_find(relation, label, features, options)
 *
 * 1. Check the arguments and options (before any data is read).
 * 2. Read the rows, resolve the label, split, encode: as lrml.train does.
 * 3. Run the range test on the training rows (RangeTest).
 * 4. Mark the suggested step (Suggest) and return every step kept.
 *
 * Nothing is stored; the trained weights are thrown away.
 */
Datum
lrml_lr_find(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *relation = TrainRequiredText(fcinfo, 0, "relation");
	char	   *label = TrainRequiredText(fcinfo, 1, "label");
	ArrayType  *features = PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2);
	TrainOptions opts;
	MemoryContext find_cxt;
	MemoryContext old_cxt;
	TrainInput	in;
	LrFindStep *steps;
	LrFindContext fc;
	ErrorContextCallback callback;
	int			n;
	int			suggested;
	bool		fell;

	/* 1. */
	OptionsParseLrFind(TrainOptionsArg(fcinfo, 3), &opts);
	InitMaterializedSRF(fcinfo, 0);

	find_cxt = AllocSetContextCreate(CurrentMemoryContext, "lrml lr_find",
									 ALLOCSET_DEFAULT_SIZES);
	old_cxt = MemoryContextSwitchTo(find_cxt);

	/* 2. */
	TrainPrepare(relation, label, features, &opts, NULL, &in);

	/* 3. */
	steps = palloc(sizeof(LrFindStep) * opts.num_steps);
	fc.relation = relation;
	fc.step = 0;
	callback.callback = LrFindErrorCallback;
	callback.arg = &fc;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	n = RangeTest(&opts, in.learner, in.data.n_train, &fc, steps);
	error_context_stack = callback.previous;

	/* 4. */
	suggested = Suggest(steps, n, &fell);
	ReportSuggestion(&opts, steps, n, suggested, fell);
	for (int i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int32GetDatum(i);
		values[1] = Float8GetDatum(steps[i].lr);
		values[2] = Float8GetDatum(steps[i].loss);
		values[3] = Float8GetDatum(steps[i].smoothed);
		values[4] = BoolGetDatum(i == suggested);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}

	MemoryContextSwitchTo(old_cxt);
	MemoryContextDelete(find_cxt);
	return (Datum) 0;
}
