/*-------------------------------------------------------------------------
 *
 * train.c
 *	  lrml.train and the training loop every model family shares.
 *
 * TrainLoop owns what is common to all gradient training: mini-batches
 * in a seeded random order each epoch, the learning-rate schedule, the
 * optimizer step, interrupt checks, the per-epoch curve, and the loop's
 * watch over itself (divergence back-off, plateau cuts, early stopping).
 * A model family (logreg.c) plugs in through a Learner and never sees
 * schedules or optimizers; a family whose rows each touch only a few
 * parameters (mf.c) sets Learner.run_batch and applies its own sparse
 * updates through OptimizerSparseStep at the rate the loop gives it.
 *
 * TrainPrepare reads the data (dataset.c), resolves the label, splits the
 * rows, learns the encoding (features.c) and builds the Learner; both
 * lrml_train and the range test (lr_find.c) start from it.  lrml_train
 * then trains and stores the model (model_store.c), all inside one memory
 * context that dies with the call.  Nothing is stored unless every step
 * succeeds; an error or a cancel leaves the model tables as they were.
 *
 * src/train.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(lrml_train);

/* State shown by the error context callback while training */
typedef struct TrainContext
{
	const char *model_name;
	int			epoch;
} TrainContext;

static void
TrainErrorCallback(void *arg)
{
	TrainContext *tc = (TrainContext *) arg;

	if (tc->epoch >= 0)
		errcontext("training model \"%s\", epoch %d", tc->model_name,
				   tc->epoch);
	else
		errcontext("training model \"%s\"", tc->model_name);
}

/*
 * Shuffle a[0 .. n - 1] in place (Fisher-Yates) with the given generator.
 */
static void
Shuffle(int64 *a, int64 n, pg_prng_state *rng)
{
	for (int64 i = n - 1; i > 0; i--)
	{
		int64		j = (int64) pg_prng_uint64_range(rng, 0, (uint64) i);
		int64		tmp = a[i];

		a[i] = a[j];
		a[j] = tmp;
	}
}

/* Back-offs allowed before a diverging run fails */
#define MAX_BACKOFFS 5

/* An epoch explodes when its loss exceeds this multiple of the first */
#define EXPLODE_FACTOR 4.0

/*
 * What the loop watches besides the schedule: the rate factor from
 * back-offs and plateau cuts, the last good state, the plateau's and early
 * stopping's counters, and the best epoch's weights.
 */
typedef struct LoopWatch
{
	double		lr_factor;		/* plateau cuts: applied to every rate */
	double		backoff_div;	/* 10^backoffs, exact: divides every rate */
	int			backoffs;
	double		first_loss;		/* loss of the first batch, at the start */
	double		cold_loss;		/* warm start: a cold start's first loss */
	double	   *good_theta;		/* after the last good epoch */
	OptimizerState *good_opt;
	double		plateau_best;
	int			plateau_bad;
	int			cooldown_left;
	double		es_best;
	int			es_bad;
	int			best_epoch;
	double	   *best_theta;
	OptimizerState *best_opt;
} LoopWatch;

/*
 * Append an event name to an epoch's event list.
 */
static void
AddEvent(EpochRecord *rec, const char *event)
{
	int			len = strlen(rec->event);

	snprintf(rec->event + len, LRML_EVENT_LEN - len, "%s%s",
			 len > 0 ? ", " : "", event);
}

/*
 * Fail with the divergence error.
 */
static void
ReportDivergence(int epoch, int64 updates, double loss, double rate,
				 bool backed_off)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("training diverged at epoch %d", epoch),
			 isfinite(loss) ?
			 errdetail("The training loss rose to %g, more than %g times its start, after " INT64_FORMAT " updates at learning rate %g.",
					   loss, EXPLODE_FACTOR, updates, rate) :
			 errdetail("The loss became %s after " INT64_FORMAT " updates at learning rate %g.",
					   isnan(loss) ? "NaN" : "infinite", updates, rate),
			 backed_off ?
			 errhint("The rate was already cut by 10 %d times; lower the learning rate or use a decaying schedule.",
					 MAX_BACKOFFS) :
			 errhint("Lower the learning rate or use a decaying schedule.")));
}

/*
 * Handle an epoch that diverged: fail with divergence "error" or after
 * MAX_BACKOFFS back-offs; otherwise go back to the last good weights and
 * optimizer state and cut the rate by 10 for the rest of the run.
 */
static void
BackOff(const TrainOptions *opts, LoopWatch *w, EpochRecord *rec,
		int64 updates, double loss, double rate, double *theta,
		OptimizerState *optimizer, int n_params)
{
	if (opts->divergence_error || w->backoffs >= MAX_BACKOFFS)
		ReportDivergence(rec->epoch, updates, loss, rate,
						 w->backoffs >= MAX_BACKOFFS);
	memcpy(theta, w->good_theta, sizeof(double) * n_params);
	OptimizerCopy(optimizer, w->good_opt);
	w->backoff_div *= 10.0;
	w->backoffs++;
	AddEvent(rec, "diverged");
}

/*
 * Apply the plateau rule after an epoch whose monitored loss is m
 * (PyTorch's ReduceLROnPlateau, relative threshold): m improves when
 * m < best * (1 - threshold); the rate is cut by factor, not below min_lr,
 * once more than patience epochs in a row did not improve, and cooldown
 * epochs follow each cut.  A cut takes effect from the next epoch.
 */
static void
PlateauStep(const LearningSchedule *s, LoopWatch *w, EpochRecord *rec,
			double m)
{
	double		rate,
				cut;

	if (m < w->plateau_best * (1.0 - s->plateau_threshold))
	{
		w->plateau_best = m;
		w->plateau_bad = 0;
	}
	else
		w->plateau_bad++;
	if (w->cooldown_left > 0)
	{
		w->cooldown_left--;
		w->plateau_bad = 0;
	}
	if (w->plateau_bad <= s->plateau_patience)
		return;

	rate = s->base_lr * w->lr_factor / w->backoff_div;
	cut = Max(rate * s->plateau_factor, s->min_lr);
	if (rate - cut > 1e-8)
	{
		w->lr_factor = cut * w->backoff_div / s->base_lr;
		AddEvent(rec, "lr_reduced");
	}
	w->cooldown_left = s->plateau_cooldown;
	w->plateau_bad = 0;
}

/*
 * Keep the best epoch after an epoch with validation loss m; return true
 * when early stopping says to stop.  An epoch improves when
 * m < best - min_delta (min_delta is 0 without early stopping); its weights
 * and optimizer state are kept, for early stopping and for runs that
 * backed off.  Early stopping stops after patience epochs in a row without
 * improvement.
 */
static bool
BestEpochStep(const TrainOptions *opts, LoopWatch *w, EpochRecord *rec,
			  double m, const double *theta, const OptimizerState *optimizer,
			  int n_params)
{
	double		min_delta = opts->early_stopping ? opts->es_min_delta : 0.0;

	if (m < w->es_best - min_delta)
	{
		w->es_best = m;
		w->es_bad = 0;
		w->best_epoch = rec->epoch;
		memcpy(w->best_theta, theta, sizeof(double) * n_params);
		OptimizerCopy(w->best_opt, optimizer);
		return false;
	}
	if (!opts->early_stopping || ++w->es_bad < opts->es_patience)
		return false;
	AddEvent(rec, "early_stop");
	return true;
}

/*
 * Report an epoch at INFO (verbose) or DEBUG1.
 */
static void
ReportEpoch(const char *model_name, const TrainOptions *opts,
			const EpochRecord *rec, TimestampTz start)
{
	long		secs;
	int			usecs;
	double		left;

	TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
	left = (secs + usecs / 1e6) / (rec->epoch + 1) *
		(opts->epochs - rec->epoch - 1);
	ereport(opts->verbose ? INFO : DEBUG1,
			(errmsg("model \"%s\" epoch %d of %d: lr %g, train loss %g, valid loss %g, valid %s %g%s%s, about %.0f s left",
					model_name, rec->epoch, opts->epochs, rec->lr,
					rec->train_loss, rec->valid_loss,
					opts->classifier || opts->model == MODEL_BPR ?
					"auc" : "rmse",
					rec->valid_metric, rec->event[0] ? ", " : "",
					rec->event, left)));
}

/*
 * Fail for a validation loss that is not finite.
 */
static void
ReportValidLoss(int epoch, double loss)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("validation loss became %s at epoch %d",
					isnan(loss) ? "NaN" : "infinite", epoch),
			 errdetail("Some validation rows lie far outside the range of the training rows, or the scores overflow."),
			 errhint("Filter or clip outlying rows, or lower the learning rate.")));
}

/*
 * Set up the watch: rate factor 1, the starting state as the last good one.
 * The best epoch's state is kept only when there are validation rows
 * (keep_best), since only they choose it.
 */
static void
WatchInit(LoopWatch *w, const double *theta, const OptimizerState *optimizer,
		  int n_params, bool keep_best)
{
	memset(w, 0, sizeof(LoopWatch));
	w->lr_factor = 1.0;
	w->backoff_div = 1.0;
	w->first_loss = get_float8_nan();
	w->good_theta = palloc_extended(sizeof(double) * n_params,
									MCXT_ALLOC_HUGE);
	memcpy(w->good_theta, theta, sizeof(double) * n_params);
	w->good_opt = OptimizerCreate(&optimizer->config, optimizer->n);
	OptimizerCopy(w->good_opt, optimizer);
	w->plateau_best = get_float8_infinity();
	w->es_best = get_float8_infinity();
	w->best_epoch = -1;
	if (!keep_best)
		return;
	w->best_theta = palloc_extended(sizeof(double) * n_params,
									MCXT_ALLOC_HUGE);
	w->best_opt = OptimizerCreate(&optimizer->config, optimizer->n);
}

/* Free an optimizer state made by OptimizerCreate (NULL is allowed). */
static void
FreeOptimizer(OptimizerState *state)
{
	if (state == NULL)
		return;
	if (state->m)
		pfree(state->m);
	if (state->v)
		pfree(state->v);
	pfree(state);
}

/*
 * Give back the watch's copies of the parameters and optimizer state:
 * for a large model they are most of the loop's memory, and the caller
 * still has to store the model.
 */
static void
WatchFree(LoopWatch *w)
{
	pfree(w->good_theta);
	FreeOptimizer(w->good_opt);
	if (w->best_theta)
		pfree(w->best_theta);
	FreeOptimizer(w->best_opt);
}

/*
 * Return the loss of the first batch at the parameters a cold start would
 * begin from (zeros, or the family's initial weights); 0 if not finite.
 *
 * A warm start begins near a minimum, where the first batch's loss can be
 * tiny; an epoch then "explodes" past EXPLODE_FACTOR times it by noise
 * alone.  Measuring from the larger of the two keeps the rule's meaning:
 * worse than a multiple of where training from scratch begins.
 */
static double
ColdLoss(const Learner *learner, int batch, double *grad)
{
	double	   *cold = palloc0(sizeof(double) * learner->n_params);
	double		loss;

	if (learner->init)
		learner->init(learner->arg, cold);
	loss = learner->batch_gradient(learner->arg, 0, batch, cold, grad);
	pfree(cold);
	return isfinite(loss) ? loss : 0.0;
}

/*
 * Take one update of theta with the gradient grad at rate lr: the
 * optimizer's step, then, with an L1 penalty, its proximal shrinking of
 * the learner's weights (OptimizerShrink; biases are never shrunk).
 */
void
TrainStep(const Learner *learner, OptimizerState *optimizer, double *theta,
		  const double *grad, double lr)
{
	OptimizerStep(optimizer, theta, grad, lr);
	if (learner->l1 <= 0.0)
		return;
	for (int r = 0; r < learner->n_weight_ranges; r++)
		OptimizerShrink(optimizer, theta, learner->weight_ranges[r].start,
						learner->weight_ranges[r].len, lr, learner->l1);
}

/*
 * Run one epoch's batches; return the mean batch loss, or the first loss
 * that is not finite (the epoch then stops at once).  *rate is the rate of
 * the last update, rec->lr that of the first.
 */
static double
RunEpoch(const TrainOptions *opts, const Learner *learner, LoopWatch *w,
		 EpochRecord *rec, const int64 *order, int64 n_batches, int batch,
		 int64 n_train, double *theta, double *grad,
		 OptimizerState *optimizer, int64 *updates, double *rate)
{
	double		loss_sum = 0.0;

	for (int64 b = 0; b < n_batches; b++)
	{
		int64		first = order[b] * batch;
		int			n = (int) Min(batch, n_train - first);
		int64		t = opts->schedule.unit_step ? *updates : rec->epoch;
		double		loss;

		CHECK_FOR_INTERRUPTS();
		*rate = ScheduleRate(&opts->schedule, t) * w->lr_factor /
			w->backoff_div;
		if (b == 0)
			rec->lr = *rate;
		/* a family with sparse updates applies them itself */
		if (learner->run_batch != NULL)
			loss = learner->run_batch(learner->arg, first, n, theta,
									  optimizer, *rate);
		else
			loss = learner->batch_gradient(learner->arg, first, n, theta,
										   grad);
		if (isnan(w->first_loss))
			w->first_loss = Max(loss, w->cold_loss);
		if (!isfinite(loss))
			return loss;
		loss_sum += loss * n;
		if (learner->run_batch == NULL)
			TrainStep(learner, optimizer, theta, grad, *rate);
		(*updates)++;
	}
	return loss_sum / n_train;
}

/*
 * Train theta for at most opts->epochs epochs; return the epochs run (0
 * for 0 epochs, a warm start's copy).  Epoch 0 of a warm start carries the
 * event warm_start first.
 *
 * The training rows were shuffled once, by the seed, when the matrix was
 * built; batch b is the run of rows b * batch_size onwards, so each batch
 * reads memory in order.
 *
 * 1. Each epoch, shuffle the order of the batches with the seeded
 *	  generator, and run them (RunEpoch): the rate of an update is the
 *	  scheduled rate (t = epoch, or the update count with schedule_unit
 *	  "step") times the watch's factor.
 * 2. Score the validation rows.  The epoch diverged if a loss (training
 *	  or validation) or weight is not finite, or its training loss is more
 *	  than EXPLODE_FACTOR times the loss of the very first batch (for a
 *	  warm start, the larger of it and a cold start's, ColdLoss); then back
 *	  off (BackOff) and score the restored state.  Otherwise its state
 *	  becomes the last good one.
 * 3. Apply the plateau rule (on the validation loss, or the training loss
 *	  without validation rows) and early stopping (validation rows only);
 *	  record the epoch.
 * 4. A run in which every epoch diverged fails.  With early stopping, or
 *	  after any back-off (a run that diverged is unsteady), give back the
 *	  best validated epoch's weights and optimizer state when a later epoch
 *	  was worse (event restored_best).
 */
int
TrainLoop(const char *model_name, const TrainOptions *opts,
		  const Learner *learner, int64 n_train, double *theta,
		  OptimizerState *optimizer, uint64 seed, EpochRecord *curve)
{
	int			n_params = learner->n_params;
	int			batch = (int) Min(opts->batch_size, n_train);
	int64		n_batches = (n_train + batch - 1) / batch;
	int64	   *order = palloc_extended(sizeof(int64) * n_batches,
										MCXT_ALLOC_HUGE);
	/* a family with its own sparse updates needs no dense gradient */
	double	   *grad = learner->run_batch ? NULL :
		palloc0(sizeof(double) * n_params);
	bool		validating = opts->validation_fraction > 0;
	TimestampTz start = GetCurrentTimestamp();
	pg_prng_state rng;
	int64		updates = 0;
	int			n_epochs = 0;
	int			n_good = 0;
	LoopWatch	w;
	TrainContext tc;
	ErrorContextCallback callback;

	/* 0 epochs: a warm start's copy, whose start is the result */
	if (opts->epochs == 0)
		return 0;
	tc.model_name = model_name;
	tc.epoch = -1;
	callback.callback = TrainErrorCallback;
	callback.arg = &tc;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	if (opts->early_stopping && !validating)
		ereport(opts->quiet ? DEBUG1 : NOTICE,
				(errmsg("early stopping does not run without validation rows"),
				 errdetail("Every one of the %d epochs runs.", opts->epochs),
				 errhint("Set \"validation_fraction\" above 0, with enough rows for a validation split.")));
	WatchInit(&w, theta, optimizer, n_params, validating);
	if (opts->warm_start != 0 && grad != NULL)
		w.cold_loss = ColdLoss(learner, batch, grad);
	pg_prng_seed(&rng, seed);
	for (int64 b = 0; b < n_batches; b++)
		order[b] = b;

	for (int epoch = 0; epoch < opts->epochs; epoch++)
	{
		EpochRecord *rec = &curve[epoch];
		double		rate = 0.0;
		double		loss;
		bool		diverged;

		tc.epoch = epoch;
		memset(rec, 0, sizeof(EpochRecord));
		rec->epoch = epoch;
		/* a warm start is the first thing that happens in epoch 0 */
		if (epoch == 0 && opts->warm_start != 0)
			AddEvent(rec, "warm_start");
		n_epochs = epoch + 1;

		/* 1. */
		Shuffle(order, n_batches, &rng);
		loss = RunEpoch(opts, learner, &w, rec, order, n_batches, batch,
						n_train, theta, grad, optimizer, &updates, &rate);

		/* 2. */
		diverged = !isfinite(loss) || loss > EXPLODE_FACTOR * w.first_loss;
		for (int k = 0; k < n_params && !diverged; k++)
			if (!isfinite(theta[k]))
				diverged = true;
		rec->train_loss = isfinite(loss) ? loss : get_float8_nan();
		rec->valid_loss = get_float8_nan();
		rec->valid_metric = get_float8_nan();
		if (!diverged && validating)
		{
			/* weights too large to score the validation rows diverged too */
			learner->validate(learner->arg, theta, &rec->valid_loss,
							  &rec->valid_metric);
			if (!isfinite(rec->valid_loss))
			{
				diverged = true;
				loss = rec->valid_loss;
			}
		}
		if (diverged)
		{
			BackOff(opts, &w, rec, updates, loss, rate, theta, optimizer,
					n_params);
			if (validating)
				learner->validate(learner->arg, theta, &rec->valid_loss,
								  &rec->valid_metric);
		}
		else
		{
			memcpy(w.good_theta, theta, sizeof(double) * n_params);
			OptimizerCopy(w.good_opt, optimizer);
			n_good++;
		}

		/* 3. */
		if (validating && !isfinite(rec->valid_loss))
			ReportValidLoss(epoch, rec->valid_loss);
		if (opts->schedule.kind == SCHEDULE_PLATEAU && !diverged)
			PlateauStep(&opts->schedule, &w, rec,
						validating ? rec->valid_loss : rec->train_loss);
		if (validating && !diverged &&
			BestEpochStep(opts, &w, rec, rec->valid_loss, theta, optimizer,
						  n_params))
		{
			ReportEpoch(model_name, opts, rec, start);
			break;
		}
		ReportEpoch(model_name, opts, rec, start);
	}

	/* 4. */
	if (n_good == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("training diverged in every epoch"),
				 errdetail_plural("The %d epoch run backed off; nothing was learned.",
								  "All %d epochs run backed off; nothing was learned.",
								  n_epochs, n_epochs),
				 errhint("Lower the learning rate or use a decaying schedule.")));
	if ((opts->early_stopping || w.backoffs > 0) && w.best_epoch >= 0 &&
		w.best_epoch != n_epochs - 1)
	{
		memcpy(theta, w.best_theta, sizeof(double) * n_params);
		OptimizerCopy(optimizer, w.best_opt);
		AddEvent(&curve[n_epochs - 1], "restored_best");
		ereport(opts->quiet ? DEBUG1 : NOTICE,
				(errmsg("model \"%s\" keeps the weights of epoch %d",
						model_name, w.best_epoch),
				 errdetail("Its validation loss, %g, was the best of the %d epochs run%s.",
						   w.es_best, n_epochs,
						   strstr(curve[n_epochs - 1].event, "early_stop") ?
						   "; training stopped early" :
						   (w.backoffs > 0 ? "; training diverged and backed off" : "")),
				 w.backoffs > 0 && !opts->early_stopping ?
				 errhint("Lower the learning rate to train without back-offs.") :
				 strstr(curve[n_epochs - 1].event, "early_stop") ?
				 errhint("Raise the patience of \"early_stopping\" to train longer.") :
				 errhint("The later epochs did not improve on it; a lower or decaying rate may.")));
	}

	error_context_stack = callback.previous;
	WatchFree(&w);
	pfree(order);
	if (grad)
		pfree(grad);
	return n_epochs;
}

/*
 * Return the display form of a label value of raw's label column.
 */
static const char *
LabelDisplay(const RawData *raw, const char *text)
{
	return DatasetLabelDisplay(text, getBaseType(raw->label_typid) == BOOLOID);
}

static int
CompareText(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Does label text match the positive_class option?
 *
 * Exact text first, then case-insensitive, then as a boolean for boolean
 * labels, then as a number for numeric labels.
 */
static bool
MatchesPositive(const RawData *raw, const char *text, const char *wanted)
{
	FeatureKind kind = FeatureKindForType(raw->label_typid);
	bool		b;
	char	   *end;
	double		a,
				w;

	if (strcmp(text, wanted) == 0 || pg_strcasecmp(text, wanted) == 0)
		return true;
	if (kind == FEATURE_BOOLEAN && parse_bool(wanted, &b))
		return b == (strcmp(text, "t") == 0);
	if (kind == FEATURE_NUMERIC)
	{
		a = strtod(text, &end);
		w = strtod(wanted, &end);
		return *end == '\0' && *wanted != '\0' && a == w;
	}
	return false;
}

/*
 * Is a label value one of the automatic positives (true, 1, yes)?
 */
static bool
IsAutoPositive(const RawData *raw, const char *text)
{
	FeatureKind kind = FeatureKindForType(raw->label_typid);

	if (kind == FEATURE_BOOLEAN)
		return strcmp(text, "t") == 0;
	if (kind == FEATURE_NUMERIC)
		return strtod(text, NULL) == 1.0;
	return pg_strcasecmp(text, "yes") == 0 ||
		pg_strcasecmp(text, "true") == 0 ||
		strcmp(text, "1") == 0;
}

/*
 * Decide the positive class of a logistic model's label and turn the label
 * codes of raw->y into 0/1.  Sets the model's label texts.  Full-batch
 * training (full_batch.c) resolves its classes here too, from one row per
 * class.
 */
void
TrainResolveLabels(RawData *raw, const TrainOptions *opts, LrmlModel *model)
{
	int			pos = -1;

	if (raw->n_rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation \"%s\" has no rows with a non-NULL label \"%s\"",
						raw->relation, raw->label)));
	if (raw->n_label_values == 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label \"%s\" has only one value (%s)", raw->label,
						LabelDisplay(raw, raw->label_text[0])),
				 errdetail("A classifier needs rows of two classes.")));
	if (raw->n_label_values > 2)
	{
		char	   *sorted[LRML_MAX_LABEL_VALUES + 1];
		StringInfoData list;

		memcpy(sorted, raw->label_text, sizeof(char *) * raw->n_label_values);
		qsort(sorted, raw->n_label_values, sizeof(char *), CompareText);
		initStringInfo(&list);
		for (int i = 0; i < raw->n_label_values; i++)
			appendStringInfo(&list, "%s%s", i > 0 ? ", " : "",
							 LabelDisplay(raw, sorted[i]));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label \"%s\" has %d distinct values (%s); a logistic model needs exactly 2",
						raw->label, raw->n_label_values, list.data),
				 errhint("For a numeric target, use \"model\": \"linear\".")));
	}

	/* an exact match wins over a looser one */
	if (opts->positive_class)
	{
		for (int i = 0; i < 2; i++)
			if (strcmp(raw->label_text[i], opts->positive_class) == 0)
				pos = i;
	}
	if (pos == -1)
	{
		for (int i = 0; i < 2; i++)
		{
			bool		match = opts->positive_class ?
				MatchesPositive(raw, raw->label_text[i],
								opts->positive_class) :
				IsAutoPositive(raw, raw->label_text[i]);

			if (match)
				pos = (pos == -1) ? i : -2;
		}
	}
	if (pos < 0 && opts->positive_class)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("positive_class \"%s\" is not a value of label \"%s\"",
						opts->positive_class, raw->label),
				 errdetail("The label has the values \"%s\" and \"%s\".",
						   LabelDisplay(raw, raw->label_text[0]),
						   LabelDisplay(raw, raw->label_text[1]))));
	if (pos < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot tell the positive class of label \"%s\"",
						raw->label),
				 errdetail("The label has the values \"%s\" and \"%s\".",
						   LabelDisplay(raw, raw->label_text[0]),
						   LabelDisplay(raw, raw->label_text[1])),
				 errhint("Name it with the option \"positive_class\", for example {\"positive_class\": \"%s\"}.",
						 LabelDisplay(raw, raw->label_text[0]))));

	model->positive_label = pstrdup(raw->label_text[pos]);
	model->negative_label = pstrdup(raw->label_text[1 - pos]);
	for (int64 i = 0; i < raw->n_rows; i++)
		raw->y[i] = ((int) raw->y[i] == pos) ? 1.0 : 0.0;
}

/*
 * Does label text (of raw's label column) name the stored class text?  As
 * ResolveLabels matches a positive_class, or as the same truth value (a
 * boolean label is stored as "t" or "f"; "true", "yes" and 1 match "t").
 */
static bool
WarmClassMatches(const RawData *raw, const char *text, const char *stored)
{
	bool		a,
				b;

	return MatchesPositive(raw, text, stored) ||
		(parse_bool(text, &a) && parse_bool(stored, &b) && a == b);
}

/*
 * Show a stored class text: a boolean's "t" and "f" as true and false.
 */
static const char *
StoredClassDisplay(const char *text)
{
	return DatasetLabelDisplay(text, strcmp(text, "t") == 0 ||
							   strcmp(text, "f") == 0);
}

/*
 * Resolve the label of a warm-started classifier: the new rows must hold
 * two values that name the starting version's two classes one to one,
 * the same one positive.  "positive_class", if given, must name it.
 */
static void
WarmLabels(RawData *raw, TrainOptions *opts, const WarmStart *warm,
		   LrmlModel *model)
{
	const LrmlModel *old = warm->stored->model;
	int			pos = -1;

	/* no rows, one value or more than two: the errors of a cold start */
	if (raw->n_label_values != 2)
		TrainResolveLabels(raw, opts, model);
	if (raw->n_label_values == 2)
		for (int i = 0; i < 2; i++)
		{
			const char *other = raw->label_text[1 - i];

			if (WarmClassMatches(raw, raw->label_text[i], old->positive_label) &&
				!WarmClassMatches(raw, raw->label_text[i], old->negative_label) &&
				WarmClassMatches(raw, other, old->negative_label) &&
				!WarmClassMatches(raw, other, old->positive_label))
				pos = i;
		}
	if (pos < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label \"%s\" does not have the classes of version %d of model \"%s\"",
						raw->label, warm->version, warm->stored->name),
				 errdetail("Version %d has the positive class \"%s\" and the negative class \"%s\".",
						   warm->version,
						   StoredClassDisplay(old->positive_label),
						   StoredClassDisplay(old->negative_label)),
				 errhint("Warm-start from a version with these classes, or train a new model name.")));
	if (opts->positive_class != NULL &&
		!MatchesPositive(raw, raw->label_text[pos], opts->positive_class))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("positive_class \"%s\" is not the positive class of version %d of model \"%s\"",
						opts->positive_class, warm->version,
						warm->stored->name),
				 errdetail("Its positive class is \"%s\".",
						   StoredClassDisplay(old->positive_label)),
				 errhint("Remove \"positive_class\": a warm start keeps the classes of its version.")));
	opts->positive_class = pstrdup(raw->label_text[pos]);
	TrainResolveLabels(raw, opts, model);
}

/*
 * Fail because relation left no training row once n_valid rows were held
 * out for validation; detail, if not NULL, says which rows were skipped.
 * Every family reports it so.
 */
void
TrainTooFewRows(const char *relation, int64 n_valid, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("relation \"%s\" has too few rows to train on", relation),
			 detail ? errdetail("%s", detail) : 0,
			 n_valid > 0 ?
			 errhint("Lower \"validation_fraction\" or add rows.") :
			 errhint("Add rows.")));
}

/*
 * Split the rows into training and validation rows.
 *
 * Returns an ordering of raw's rows, training rows first, and sets
 * *is_train (per raw row) and *n_valid.  round(n * fraction) rows
 * validate; for classifiers the split is stratified: each class gives its
 * share, rounded, to the validation rows.  The training rows come in a
 * random order drawn from the seed (the matrix is built in this order, and
 * training walks it batch by batch); the validation rows keep table order.
 */
static int64 *
SplitRows(const RawData *raw, const TrainOptions *opts, bool stratify,
		  bool **is_train, int64 *n_valid)
{
	int64		n = raw->n_rows;
	int64		want = (int64) floor(n * opts->validation_fraction + 0.5);
	int64	   *order = palloc_extended(sizeof(int64) * Max(n, 1),
										MCXT_ALLOC_HUGE);
	int64	   *members = palloc_extended(sizeof(int64) * Max(n, 1),
										  MCXT_ALLOC_HUGE);
	bool	   *train = palloc_extended(sizeof(bool) * Max(n, 1),
										MCXT_ALLOC_HUGE);
	int64		n_train = 0;
	int64		nv = 0;
	int64		pos = 0;
	pg_prng_state rng;

	pg_prng_seed(&rng, (uint64) opts->seed);
	for (int64 i = 0; i < n; i++)
	{
		train[i] = true;
		pos += (raw->y[i] == 1.0);
	}

	/* 1. draw each class's validation rows */
	for (int cls = 0; cls < (stratify ? 2 : 1); cls++)
	{
		int64		m = 0;
		int64		take;

		for (int64 i = 0; i < n; i++)
			if (!stratify || (int) raw->y[i] == cls)
				members[m++] = i;
		if (!stratify)
			take = want;
		else if (cls == 0)
			take = want - (int64) floor((double) want * pos / n + 0.5);
		else
			take = want - nv;
		take = Max(0, Min(take, m));
		Shuffle(members, m, &rng);
		for (int64 i = 0; i < take; i++)
			train[members[i]] = false;
		nv += take;
	}

	/* 2. training rows shuffled, then validation rows in table order */
	for (int64 i = 0; i < n; i++)
		if (train[i])
			order[n_train++] = i;
	Shuffle(order, n_train, &rng);
	for (int64 i = 0, k = n_train; i < n; i++)
		if (!train[i])
			order[k++] = i;

	pfree(members);
	*is_train = train;
	*n_valid = nv;
	return order;
}

/*
 * Append "key": number (or null when not finite) to a JSON object text.
 */
static void
JsonNumber(StringInfo buf, const char *key, double v)
{
	appendStringInfo(buf, ", \"%s\": ", key);
	LrmlAppendJsonNumber(buf, v);
}

/*
 * With an L1 penalty, append to the text of a metrics object how many of
 * the learner's weights theta holds at exactly 0, and how many weights
 * there are (", "zero_weights": z, "weights": n"); nothing without one.
 */
void
TrainAppendSparsity(StringInfo buf, const Learner *learner,
					const double *theta)
{
	int64		zeros = 0;
	int64		weights = 0;

	if (learner->l1 <= 0.0)
		return;
	for (int r = 0; r < learner->n_weight_ranges; r++)
	{
		const ParamRange *range = &learner->weight_ranges[r];

		for (int64 j = range->start; j < range->start + range->len; j++)
			zeros += (theta[j] == 0.0);
		weights += range->len;
	}
	appendStringInfo(buf, ", \"zero_weights\": " INT64_FORMAT
					 ", \"weights\": " INT64_FORMAT, zeros, weights);
}

/*
 * Build the metrics stored with the model: row counts, NULL counts, class
 * balance, the epochs run, the losses of the epoch whose weights are
 * stored (kept; NULL when no epoch ran), and with an L1 penalty the
 * weights it set to 0.
 */
static Jsonb *
BuildMetrics(const RawData *raw, const TrainInput *in, int n_epochs,
			 const EpochRecord *last)
{
	const TrainSet *data = &in->data;
	const LrmlModel *model = in->model;
	StringInfoData buf;
	bool		logistic = model->classifier;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"rows\": " INT64_FORMAT, raw->n_rows);
	appendStringInfo(&buf, ", \"rows_null_label\": " INT64_FORMAT,
					 raw->n_null_label);
	appendStringInfo(&buf, ", \"train_rows\": " INT64_FORMAT, data->n_train);
	appendStringInfo(&buf, ", \"valid_rows\": " INT64_FORMAT, data->n_valid);
	if (logistic)
	{
		int64		tp = 0,
					vp = 0;

		for (int64 i = 0; i < data->n_train; i++)
			tp += (data->y[i] == 1.0);
		for (int64 i = 0; i < data->n_valid; i++)
			vp += (data->y[data->n_train + i] == 1.0);
		appendStringInfoString(&buf, ", \"positive_class\": ");
		escape_json(&buf, LabelDisplay(raw, model->positive_label));
		appendStringInfo(&buf, ", \"train_positives\": " INT64_FORMAT
						 ", \"valid_positives\": " INT64_FORMAT, tp, vp);
	}
	appendStringInfoString(&buf, ", \"feature_nulls\": {");
	for (int j = 0; j < raw->n_columns; j++)
	{
		const RawColumn *col = &raw->columns[j];

		if (j > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, col->name);
		appendStringInfo(&buf, ": " INT64_FORMAT, col->n_null);
	}
	appendStringInfoChar(&buf, '}');
	appendStringInfo(&buf, ", \"epochs\": %d", n_epochs);
	if (last && last->epoch >= 0)
		appendStringInfo(&buf, ", \"kept_epoch\": %d", last->epoch);
	JsonNumber(&buf, "train_loss", last ? last->train_loss : NAN);
	JsonNumber(&buf, "valid_loss", last ? last->valid_loss : NAN);
	JsonNumber(&buf, logistic ? "valid_auc" : "valid_rmse",
			   last ? last->valid_metric : NAN);
	TrainAppendSparsity(&buf, in->learner, model->w);
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(buf.data)));
}

/*
 * Encode the split rows and fill the TrainSet (weights, targets).
 *
 * For linear models the target is standardized; its center and scale go
 * into the model.  Class weights: "balanced" gives each class the weight
 * n_train / (2 n_class); a number weighs the positive rows.
 */
static void
BuildTrainSet(RawData *raw, const TrainOptions *opts, const int64 *order,
			  const bool *is_train, int64 n_valid, LrmlModel *model,
			  TrainInput *in)
{
	int64		n = raw->n_rows;
	TrainSet   *data = &in->data;
	FeatureEncoding *enc;

	data->n_train = n - n_valid;
	data->n_valid = n_valid;
	if (in->warm)
		enc = WarmStartEncoding(in->warm, raw, is_train,
								opts->extend_categories, opts->quiet,
								&in->input_map);
	else
		enc = FeatureEncodingBuild(raw, is_train);
	model->encoding = enc;
	data->d = enc->n_inputs;
	DatasetCheckMemory(add_size(mul_size(mul_size(n, data->d), sizeof(float)),
								mul_size(n, 2 * sizeof(double))));
	data->X = FeatureMatrixBuild(raw, enc, order, n);

	/* the double-precision rows are no longer needed: give them back */
	if (!raw->values_shared)
	{
		pfree(raw->values);
		raw->values = NULL;
	}
	data->y = palloc_extended(sizeof(double) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < n; i++)
		data->y[i] = raw->y[order[i]];

	model->y_center = 0.0;
	model->y_scale = 1.0;
	if (!opts->classifier && in->warm)
	{
		/* the stored weights are in the stored target units */
		model->y_center = in->warm->stored->model->y_center;
		model->y_scale = in->warm->stored->model->y_scale;
		for (int64 i = 0; i < n; i++)
			data->y[i] = (data->y[i] - model->y_center) / model->y_scale;
	}
	else if (!opts->classifier)
	{
		double		sum = 0.0,
					sumsq = 0.0;

		for (int64 i = 0; i < data->n_train; i++)
			sum += data->y[i];
		model->y_center = sum / data->n_train;
		for (int64 i = 0; i < data->n_train; i++)
			sumsq += (data->y[i] - model->y_center) *
				(data->y[i] - model->y_center);
		model->y_scale = sqrt(sumsq / data->n_train);
		if (!(model->y_scale > 0.0))
			model->y_scale = 1.0;
		for (int64 i = 0; i < n; i++)
			data->y[i] = (data->y[i] - model->y_center) / model->y_scale;
	}

	data->class_weight[0] = 1.0;
	data->class_weight[1] = 1.0;
	if (opts->classifier && opts->class_weight_balanced)
	{
		int64		pos = 0;

		for (int64 i = 0; i < data->n_train; i++)
			pos += (data->y[i] == 1.0);
		data->class_weight[1] = (double) data->n_train / (2.0 * pos);
		data->class_weight[0] = (double) data->n_train /
			(2.0 * (data->n_train - pos));
	}
	else if (opts->classifier)
		data->class_weight[1] = opts->class_weight;
}

/*
 * Check that the training rows can fit the model at all.
 */
static void
CheckTrainRows(const RawData *raw, const bool *is_train, int64 n_valid,
			   bool classifier)
{
	int64		n_train = raw->n_rows - n_valid;
	int64		pos = 0;

	if (n_train < 1)
		TrainTooFewRows(raw->relation, n_valid, NULL);
	if (!classifier)
		return;
	for (int64 i = 0; i < raw->n_rows; i++)
		pos += (is_train[i] && raw->y[i] == 1.0);
	if (pos == 0 || pos == n_train)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the training rows of relation \"%s\" hold only one class",
						raw->relation),
				 errhint("Lower \"validation_fraction\" or add rows of the other class.")));
}

/*
 * Return text argument argno, failing with a clear message when NULL or
 * empty.
 */
char *
TrainRequiredText(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	char	   *s;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be NULL", argname)));
	s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must not be empty", argname)));
	return s;
}

/*
 * Return jsonb argument argno, the options of a call; NULL reads as {}.
 */
Jsonb *
TrainOptionsArg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												  CStringGetDatum("{}")));
	return PG_GETARG_JSONB_P(argno);
}

/*
 * Prepare the data of a training run into *in, in the current context.
 *
 * 1. Read the rows (dataset.c).
 * 2. Resolve a classifier's label to 0/1 (or check that a linear model has
 *	  rows).
 * 3. Split into training and validation rows, check that the training
 *	  rows can fit the model, encode them (features.c).
 * 4. Build the model family's Learner.
 *
 * An mlp is a classifier when its label is not of a numeric type, or
 * when positive_class names its positive class; otherwise it is a
 * regression.  Sets opts->classifier, and opts->validation_fraction to 0
 * when no row validates.  lrml.train
 * and lrml.lr_find share this, so that a range test sees exactly the
 * training rows, in the order, that lrml.train with the same options
 * would train on.
 */
void
TrainPrepare(const char *relation, const char *label, ArrayType *features,
			 TrainOptions *opts, const WarmStart *warm, TrainInput *in)
{
	RawData    *raw = TrainLoad(relation, label, features, opts, warm);

	TrainPrepareLoaded(raw, false, opts, warm, in);
}

/*
 * Read the rows of a training run (step 1 of TrainPrepare): a warm start
 * reads its version's feature columns.
 */
RawData *
TrainLoad(const char *relation, const char *label, ArrayType *features,
		  const TrainOptions *opts, const WarmStart *warm)
{
	if (warm)
		features = WarmStartFeatures(warm, features);
	return DatasetLoad(relation, label, features,
					   TrainLabelMode(opts, warm));
}

/*
 * Return how a run reads its label: a logistic model as classes, a linear
 * one as a number; an mlp as classes when positive_class names one, else
 * by the label's type.  A warm start reads it as its version did.
 */
LabelMode
TrainLabelMode(const TrainOptions *opts, const WarmStart *warm)
{
	if (warm)
		return warm->stored->model->classifier ? LABEL_CLASSES :
			LABEL_NUMBER;
	if (opts->model == MODEL_LOGISTIC)
		return LABEL_CLASSES;
	if (opts->model == MODEL_LINEAR)
		return LABEL_NUMBER;
	return opts->positive_class ? LABEL_CLASSES : LABEL_BY_TYPE;
}

/*
 * Prepare a training run from rows already read (steps 2 to 4 of
 * TrainPrepare).  With shared, raw is left as it was, so that several
 * runs (the trials of a search) prepare from the same rows; otherwise its
 * double-precision values are freed once the matrix is built.
 */
void
TrainPrepareLoaded(RawData *raw, bool shared, TrainOptions *opts,
				   const WarmStart *warm, TrainInput *in)
{
	LrmlModel  *model = palloc0(sizeof(LrmlModel));
	int64	   *order;
	bool	   *is_train;
	int64		n_valid;
	LabelMode	mode;

	memset(in, 0, sizeof(TrainInput));
	in->warm = warm;
	model->kind = opts->model;
	model->label = pstrdup(raw->label);
	mode = TrainLabelMode(opts, warm);
	if ((mode == LABEL_CLASSES && raw->numeric_label) ||
		(mode == LABEL_NUMBER && !raw->numeric_label))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot train a %s and a %s on the same rows in one call",
						raw->numeric_label ? "regression" : "classifier",
						raw->numeric_label ? "classifier" : "regression"),
				 errdetail("The label \"%s\" was read as %s.", raw->label,
						   raw->numeric_label ? "a number" : "classes"),
				 errhint("Search classifiers and regression models separately, or give \"positive_class\" to every mlp.")));
	opts->classifier = !raw->numeric_label;
	model->classifier = opts->classifier;
	if (opts->model == MODEL_MLP)
		model->mlp = opts->mlp;
	if (shared)
	{
		RawData    *copy = palloc(sizeof(RawData));

		*copy = *raw;
		copy->y = palloc_extended(sizeof(double) * Max(raw->n_rows, 1),
								  MCXT_ALLOC_HUGE);
		memcpy(copy->y, raw->y, sizeof(double) * raw->n_rows);
		copy->values_shared = true;
		raw = copy;
	}

	/* 2. */
	if (!opts->classifier &&
		(opts->class_weight_balanced || opts->class_weight != 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"class_weight\" applies only to classifiers"),
				 errdetail("Label \"%s\" is numeric, so the mlp is a regression.",
						   raw->label),
				 errhint("Remove \"class_weight\", or name the positive class with \"positive_class\" to train a classifier.")));
	if (opts->classifier && warm)
		WarmLabels(raw, opts, warm, model);
	else if (opts->classifier)
		TrainResolveLabels(raw, opts, model);
	else if (raw->n_rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation \"%s\" has no rows with a non-NULL label \"%s\"",
						raw->relation, raw->label)));

	/* 3. */
	order = SplitRows(raw, opts, opts->classifier, &is_train, &n_valid);
	CheckTrainRows(raw, is_train, n_valid, opts->classifier);
	BuildTrainSet(raw, opts, order, is_train, n_valid, model, in);
	if (n_valid == 0)
		opts->validation_fraction = 0.0;

	/* 4. */
	if (opts->model == MODEL_MLP)
		in->learner = MlpLearner(&in->data, opts, model->y_scale);
	else
		in->learner = LogregLearner(&in->data, opts->model, opts->l2,
									model->y_scale, opts->batch_size);
	in->learner->l1 = opts->l1;
	in->raw = raw;
	in->model = model;
	if (warm)
		WarmStartParams(warm, opts, in->input_map, in->data.d,
						in->learner->n_params, &in->init_theta,
						&in->init_optimizer);
}

/*
 * Fail early, before any data is read, when the model could not be stored:
 * in a read-only transaction, for an overlong name, or when the name
 * belongs to a role the caller is not a member of.  what names the
 * calling function in the read-only error ("lrml.train()").
 */
void
TrainCheckStorable(const char *name, const char *what)
{
	PreventCommandIfReadOnly(what);
	if (strlen(name) > LRML_MAX_NAME_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("model name is too long"),
				 errdetail("Model names may have at most %d bytes.",
						   LRML_MAX_NAME_BYTES)));
	ModelStoreCheckWritable(name);
}

/*
 * Train the model of a prepared run (TrainPrepare) into *fit, in the
 * current context: resolve the schedule's length, start from zero weights
 * and a fresh optimizer (or where a warm start begins), and run the shared
 * loop.  With 0 epochs (a warm start only) the start is the result.  The
 * weights go into in->model (w, bias).  The schedule's length is resolved
 * in *opts, so that the stored options show it.
 */
void
TrainFit(const char *name, TrainOptions *opts, TrainInput *in,
		 TrainFitResult *fit)
{
	const Learner *learner = in->learner;
	int64		n_train = in->data.n_train;

	ScheduleResolve(&opts->schedule, Max(opts->epochs, 1),
					(n_train + opts->batch_size - 1) / opts->batch_size);
	fit->theta = palloc0(sizeof(double) * learner->n_params);
	fit->optimizer = OptimizerCreate(&opts->optimizer, learner->n_params);
	if (in->init_theta)
		memcpy(fit->theta, in->init_theta,
			   sizeof(double) * learner->n_params);
	else if (learner->init)
		learner->init(learner->arg, fit->theta);
	if (in->init_optimizer)
		OptimizerCopy(fit->optimizer, in->init_optimizer);
	fit->curve = palloc0(sizeof(EpochRecord) * Max(opts->epochs, 1));
	fit->n_epochs = TrainLoop(name, opts, learner, n_train, fit->theta,
							  fit->optimizer, (uint64) opts->seed,
							  fit->curve);
	in->model->w = fit->theta;
	in->model->n_weights = learner->n_params;
	in->model->bias = (opts->model == MODEL_MLP) ? 0.0 :
		fit->theta[in->data.d];
}

/*
 * Return the epoch whose weights a run keeps: the last, or after
 * restored_best the epoch whose validation loss the kept weights have
 * (the first such, the one that set the best).  NULL when no epoch ran.
 */
static const EpochRecord *
KeptEpoch(const TrainInput *in, const TrainFitResult *fit)
{
	const EpochRecord *last;
	double		loss,
				metric;

	if (fit->n_epochs == 0)
		return NULL;
	last = &fit->curve[fit->n_epochs - 1];
	if (strstr(last->event, "restored_best") == NULL)
		return last;
	in->learner->validate(in->learner->arg, fit->theta, &loss, &metric);
	for (int e = 0; e < fit->n_epochs; e++)
		if (fit->curve[e].valid_loss == loss)
			return &fit->curve[e];
	return last;
}

/*
 * Return the metrics stored with a trained run (rows, classes, NULL
 * counts, the kept epoch's losses), as TrainStore stores them; the
 * aggregate lrml.fit puts them into its lrml.model values.
 */
Jsonb *
TrainMetrics(const TrainInput *in, const TrainFitResult *fit)
{
	return BuildMetrics(in->raw, in, fit->n_epochs, KeptEpoch(in, fit));
}

/*
 * Store a trained run as the next version of name and return the version.
 * extra_metrics, if not NULL, is a jsonb object merged into the stored
 * metrics (lrml.tune records its search there).
 */
int32
TrainStore(const char *name, const TrainOptions *opts, const TrainInput *in,
		   const TrainFitResult *fit, Jsonb *extra_metrics)
{
	Jsonb	   *metrics;
	StringInfoData state_buf;
	const EpochRecord *kept = KeptEpoch(in, fit);
	EpochRecord copy;

	/* a copy (0 epochs) is scored as it stands */
	if (kept == NULL)
	{
		memset(&copy, 0, sizeof(copy));
		copy.epoch = -1;
		copy.train_loss = get_float8_nan();
		copy.valid_loss = get_float8_nan();
		copy.valid_metric = get_float8_nan();
		if (in->data.n_valid > 0)
			in->learner->validate(in->learner->arg, fit->theta,
								  &copy.valid_loss, &copy.valid_metric);
		kept = &copy;
	}
	metrics = BuildMetrics(in->raw, in, fit->n_epochs, kept);
	if (extra_metrics != NULL)
		metrics = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
													 JsonbPGetDatum(metrics),
													 JsonbPGetDatum(extra_metrics)));
	initStringInfo(&state_buf);
	OptimizerWrite(&state_buf, fit->optimizer);
	return ModelStoreSave(name, in->raw->source, in->model,
						  OptionsToJsonb(opts), metrics,
						  (bytea *) cstring_to_text_with_len(state_buf.data,
															 state_buf.len),
						  fit->curve, fit->n_epochs,
						  in->warm ? in->warm->version : 0);
}

/*
 * Return the training curve as the rows of a training function's result
 * (materialized: InitMaterializedSRF must have run); NaN losses and
 * metrics and empty events become NULL.
 */
void
TrainReturnCurve(ReturnSetInfo *rsinfo, const EpochRecord *curve,
				 int n_epochs)
{

	for (int e = 0; e < n_epochs; e++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		const EpochRecord *rec = &curve[e];

		values[0] = Int32GetDatum(rec->epoch);
		values[1] = Float8GetDatum(rec->lr);
		values[2] = Float8GetDatum(rec->train_loss);
		nulls[2] = isnan(rec->train_loss);
		values[3] = Float8GetDatum(rec->valid_loss);
		nulls[3] = isnan(rec->valid_loss);
		values[4] = Float8GetDatum(rec->valid_metric);
		nulls[4] = isnan(rec->valid_metric);
		nulls[5] = (rec->event[0] == '\0');
		values[5] = nulls[5] ? (Datum) 0 : CStringGetTextDatum(rec->event);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
}

/*
 * lrml.train(model, relation, label, features, options)
 *
 * 1. Check the arguments and options (before any data is read), and
 *	  load the version a warm start begins from.
 * 2. Read the rows, resolve the label, split, encode.
 * 3. Train with the shared loop.
 * 4. Store the result, return the curve.
 */
Datum
lrml_train(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = TrainRequiredText(fcinfo, 0, "model");
	char	   *relation = TrainRequiredText(fcinfo, 1, "relation");
	char	   *label = TrainRequiredText(fcinfo, 2, "label");
	ArrayType  *features = PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3);
	Jsonb	   *options = WarmStartOptions(name, TrainOptionsArg(fcinfo, 4));
	TrainOptions opts;
	MemoryContext train_cxt;
	MemoryContext old_cxt;
	WarmStart  *warm;
	TrainInput	in;
	TrainFitResult fit;

	/* 1. */
	OptionsParse(options, &opts);
	if (MODEL_IS_RECOMMENDER(opts.model))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lrml.train cannot train a \"%s\" model",
						ModelKindName(opts.model)),
				 errhint("Train recommenders with lrml.train_recommender.")));
	TrainCheckStorable(name, "lrml.train()");
	InitMaterializedSRF(fcinfo, 0);
	if (opts.full_batch)
	{
		FullBatchTrain(rsinfo, name, relation, label, features, &opts);
		return (Datum) 0;
	}

	train_cxt = AllocSetContextCreate(CurrentMemoryContext, "lrml train",
									  ALLOCSET_DEFAULT_SIZES);
	old_cxt = MemoryContextSwitchTo(train_cxt);
	warm = WarmStartLoad(name, options, &opts);

	/* 2. */
	TrainPrepare(relation, label, features, &opts, warm, &in);

	/* 3. */
	TrainFit(name, &opts, &in, &fit);

	/* 4. */
	TrainStore(name, &opts, &in, &fit, NULL);
	TrainReturnCurve(rsinfo, fit.curve, fit.n_epochs);

	MemoryContextSwitchTo(old_cxt);
	MemoryContextDelete(train_cxt);
	return (Datum) 0;
}
