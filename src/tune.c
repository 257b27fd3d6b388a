/*-------------------------------------------------------------------------
 *
 * tune.c
 *	  lrml.tune: grid, random and Bayesian search over training options.
 *
 * A search trains one model per trial, each with the caller's options
 * overlaid by the trial's values of the tuned keys, scores it on the
 * validation rows, and stores the best trial's model as the next version
 * of the named model, with every trial in lrml.trials.  The rows are read
 * once (TrainLoad) and every trial prepares from them as lrml.train does
 * (TrainPrepareLoaded, TrainFit): same split, encoding and seed, so the
 * stored model predicts exactly as that call's would on those rows.  The
 * split's keys (seed, validation_fraction) and warm_start cannot be tuned,
 * so that every trial is scored on the same validation rows; trials are
 * compared only when their losses are alike (classifiers with
 * classifiers), and a class weight is tuned only on the AUC.
 *
 * The space maps option keys ("learning_rate", or "schedule.max_lr" for a
 * parameter inside an object-valued option) to a list of choices or to a
 * range {"min", "max", "scale"} with scale "linear", "log" or "int".
 * Grid search runs every combination (a range gives "num" points, or
 * every integer of an "int" range).  Random search draws each key
 * independently: a choice uniformly, a range uniformly in its scale.
 * Every candidate of a grid, and every end of a random or Bayesian
 * space, is checked with the option parser before any trial trains, so a
 * bad value fails the call at once, naming it; a combination that only
 * turns out to be invalid when drawn is a failed trial.
 *
 * A trial that fails with a data exception (SQLSTATE class 22: an invalid
 * combination of options, a run that diverged with "divergence": "error"
 * or after five back-offs) is recorded as failed, with its reason and
 * NULL losses, and never competes for best; it runs in a subtransaction,
 * so its partial work is undone.  Any other error (a cancel, the memory
 * limit) ends the whole call, and nothing is stored; so does an error of
 * the rows themselves, raised once when they are read.  When every trial
 * fails the same way, that error is raised as it is.  "max_seconds" is
 * checked before each trial but the first.
 *
 * Bayesian search, the third method, lives in tune_bayes.c; this file
 * parses the search, runs the trials and stores the result.
 *
 * src/tune.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"
#include "tune.h"

#include <errno.h>
#include <float.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(lrml_tune);


/* State shown by the error context callback */
typedef struct TuneContext
{
	const char *model_name;
	int			trial;			/* -1 while checking the space */
	const char *params;
} TuneContext;

static void
TuneErrorCallback(void *arg)
{
	TuneContext *tc = (TuneContext *) arg;

	if (tc->trial >= 0)
		errcontext("trial %d of the search for model \"%s\": %s",
				   tc->trial, tc->model_name, tc->params);
	else if (tc->params != NULL)
		errcontext("checking the search space of model \"%s\": %s",
				   tc->model_name, tc->params);
}

static const char *const method_names[] = {"grid", "random", "bayes"};
static const char *const metric_names[] = {"valid_loss", "auc", "rmse"};
static const char *const scale_names[] = {"linear", "log", "int"};
static const char *const search_keys[] = {
	"method", "trials", "metric", "space", "max_seconds", "seed"
};

/*
 * Join names as "a", "b" and "c" for a hint.
 */
static char *
NameList(const char *const *names, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s\"%s\"",
						 i == 0 ? "" : (i == n - 1 ? " and " : ", "),
						 names[i]);
	return buf.data;
}

/*
 * Return the index of the string v in names, or fail naming what and the
 * valid names.
 */
static int
NameIndex(const char *what, const char *const *names, int n, JsonbValue *v)
{
	char	   *given;

	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a string", what),
				 errdetail("The value given was %s.", OptionsDescribeValue(v)),
				 errhint("Valid values are %s.", NameList(names, n))));
	given = pnstrdup(v->val.string.val, v->val.string.len);
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], given) == 0)
			return i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized %s: \"%s\"", what, given),
			 errhint("Valid values are %s.", NameList(names, n))));
	return -1;					/* keep compiler quiet */
}

/*
 * Convert a jsonb number to double into *x; return false when it is
 * beyond LRML_MAX_ABS_VALUE in magnitude, or so small that it is not 0
 * but would round to 0 or lose precision.
 */
static bool
NumberInRange(JsonbValue *v, double *x)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
														  NumericGetDatum(v->val.numeric)));
	char	   *end;

	errno = 0;
	*x = strtod(text, &end);
	if (errno == ERANGE || !isfinite(*x) || fabs(*x) > LRML_MAX_ABS_VALUE)
		return false;
	return *x == 0.0 ? strspn(text, "-0.") == strlen(text) :
		fabs(*x) >= 1.0 / LRML_MAX_ABS_VALUE;
}

/*
 * Read a finite number for a search key, or fail.
 */
static double
SearchNumber(const char *subject, JsonbValue *v)
{
	double		x;

	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a number", subject),
				 errdetail("The value given was %s.",
						   OptionsDescribeValue(v))));
	if (!NumberInRange(v, &x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is out of range", subject),
				 errdetail("The value given was %s; numbers must be 0 or between 1e-150 and 1e150 in magnitude.",
						   OptionsDescribeValue(v))));
	return x;
}

/*
 * Read an integer in [lo, hi] for a search key, or fail.
 */
static int64
SearchInteger(const char *subject, JsonbValue *v, int64 lo, int64 hi)
{
	double		x = SearchNumber(subject, v);

	if (x != floor(x) || x < (double) lo || x > (double) hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be an integer between " INT64_FORMAT " and " INT64_FORMAT,
						subject, lo, hi),
				 errdetail("The value given was %s.",
						   OptionsDescribeValue(v))));
	return (int64) x;
}

/*
 * Read the search's seed: an integer from 0 to 2^63 - 1, exactly.
 */
static int64
SearchSeed(JsonbValue *v)
{
	double		x = SearchNumber("search key \"seed\"", v);

	if (x != floor(x) || x < 0 || x >= 9.2e18)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search key \"seed\" must be an integer between 0 and 9200000000000000000"),
				 errdetail("The value given was %s.", OptionsDescribeValue(v))));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8,
											 NumericGetDatum(v->val.numeric)));
}

/*
 * Collect the keys and values of a jsonb object container into *keys and
 * *values; return their number.
 */
static int
ObjectPairs(JsonbContainer *container, char ***keys, JsonbValue **values)
{
	int			n = JsonContainerSize(container);
	JsonbIterator *it = JsonbIteratorInit(container);
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			k = 0;

	*keys = palloc0(sizeof(char *) * (n + 1));
	*values = palloc0(sizeof(JsonbValue) * (n + 1));
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			(*keys)[k] = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
			(*values)[k++] = v;
	}
	return k;
}

/*
 * Check a tuned key's name: a top-level option (the option parser checks
 * it further), or "schedule.<param>" / "early_stopping.<param>".  The
 * split's keys cannot be tuned.
 */
static void
CheckSpaceKey(const char *key)
{
	const char *dot = strchr(key, '.');

	if (strcmp(key, "warm_start") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"warm_start\" cannot be tuned"),
				 errdetail("Every trial of a search reads the same rows, the features of one starting version."),
				 errhint("Set it in the options instead.")));
	if (strcmp(key, "seed") == 0 || strcmp(key, "validation_fraction") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" cannot be tuned", key),
				 errdetail("It decides which rows validate, and every trial must be scored on the same rows."),
				 errhint("Set it in the options instead.")));
	if (dot == NULL)
		return;
	if (strchr(dot + 1, '.') != NULL || dot[1] == '\0' ||
		!((dot - key == 8 && strncmp(key, "schedule", 8) == 0) ||
		  (dot - key == 14 && strncmp(key, "early_stopping", 14) == 0)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized search space key \"%s\"", key),
				 errhint("Tune an option by its name, or a parameter of the schedule or of early stopping as \"schedule.<parameter>\" or \"early_stopping.<parameter>\".")));
}

/*
 * Read one range {"min", "max", "scale", "num"} of the space into dim.
 */
static void
ParseRange(SearchDim *dim, JsonbContainer *obj, SearchMethod method)
{
	char	  **keys;
	JsonbValue *values;
	int			n = ObjectPairs(obj, &keys, &values);
	bool		have_min = false,
				have_max = false;
	char	   *subject;
	static const char *const range_keys[] = {"min", "max", "scale", "num"};

	dim->is_range = true;
	dim->scale = SCALE_LINEAR;
	dim->num = 0;
	for (int i = 0; i < n; i++)
	{
		subject = psprintf("\"%s\" of search space key \"%s\"", keys[i],
						   dim->key);
		if (strcmp(keys[i], "min") == 0)
		{
			dim->min = SearchNumber(subject, &values[i]);
			have_min = true;
		}
		else if (strcmp(keys[i], "max") == 0)
		{
			dim->max = SearchNumber(subject, &values[i]);
			have_max = true;
		}
		else if (strcmp(keys[i], "scale") == 0)
			dim->scale = (RangeScale) (1 +
									   NameIndex("range scale", scale_names,
												 lengthof(scale_names),
												 &values[i]));
		else if (strcmp(keys[i], "num") == 0)
		{
			if (method != SEARCH_GRID)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"num\" of search space key \"%s\" applies only to a grid search",
								dim->key),
						 errhint("Random and Bayesian searches draw from the whole range.")));
			dim->num = (int) SearchInteger(subject, &values[i], 1,
										   TUNE_MAX_CHOICES);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized key \"%s\" in the range of search space key \"%s\"",
							keys[i], dim->key),
					 errhint("A range has the keys %s.",
							 NameList(range_keys, lengthof(range_keys)))));
	}
	if (!have_min || !have_max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the range of search space key \"%s\" needs \"min\" and \"max\"",
						dim->key),
				 errhint("Write a range as {\"min\": 0.001, \"max\": 0.1, \"scale\": \"log\"}, or give a list of values.")));
	if (dim->min > dim->max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the range of search space key \"%s\" has \"min\" above \"max\"",
						dim->key),
				 errdetail("The range given was %g to %g.", dim->min,
						   dim->max)));
	if (dim->scale == SCALE_LOG && !(dim->min > 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a \"log\" range of search space key \"%s\" must have \"min\" greater than 0",
						dim->key),
				 errdetail("The value given was %g.", dim->min)));
	if (dim->scale == SCALE_INT &&
		(dim->min != floor(dim->min) || dim->max != floor(dim->max) ||
		 fabs(dim->min) > TUNE_MAX_INT || fabs(dim->max) > TUNE_MAX_INT))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an \"int\" range of search space key \"%s\" must have integer bounds",
						dim->key),
				 errdetail("The range given was %g to %g; the bounds must be integers of at most %.0f in magnitude.",
						   dim->min, dim->max, TUNE_MAX_INT)));
	if (method != SEARCH_GRID)
		return;
	if (dim->scale == SCALE_INT && dim->num == 0)
		dim->num = (int) Min(dim->max - dim->min + 1, TUNE_MAX_CHOICES + 1);
	if (dim->num == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the range of search space key \"%s\" needs \"num\" in a grid search",
						dim->key),
				 errhint("Give the number of grid points, for example \"num\": 5, or a list of values.")));
	if (dim->num > TUNE_MAX_CHOICES ||
		(dim->scale == SCALE_INT && dim->num > dim->max - dim->min + 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the grid of search space key \"%s\" has too many points",
						dim->key),
				 errdetail("A range gives at most %d points, and an \"int\" range at most one per integer.",
						   TUNE_MAX_CHOICES)));
	if (dim->num > 1 && dim->min == dim->max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the grid of search space key \"%s\" repeats its one value",
						dim->key),
				 errdetail("Its range holds only %g, and \"num\" is %d.",
						   dim->min, dim->num),
				 errhint("Set \"num\" to 1, or set the value in the options.")));
	if (dim->num == 1 && dim->min != dim->max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the grid of search space key \"%s\" needs \"num\" of at least 2",
						dim->key),
				 errdetail("Its range holds more than one value.")));
}

/*
 * Read one list of choices of the space into dim.
 */
static void
ParseChoices(SearchDim *dim, JsonbContainer *arr)
{
	int			n = JsonContainerSize(arr);
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			k = 0;

	if (n == 0 || n > TUNE_MAX_CHOICES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the list of search space key \"%s\" must have between 1 and %d values",
						dim->key, TUNE_MAX_CHOICES)));
	dim->is_range = false;
	dim->n_choices = n;
	dim->choices = palloc(sizeof(Jsonb *) * n);
	dim->choice_text = palloc(sizeof(char *) * n);
	it = JsonbIteratorInit(arr);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (v.type == jbvNull)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the list of search space key \"%s\" must not hold null",
							dim->key)));
		if (v.type == jbvNumeric)
			(void) SearchNumber(psprintf("a value of search space key \"%s\"",
										 dim->key), &v);
		dim->choices[k] = JsonbValueToJsonb(&v);
		dim->choice_text[k] = JsonbToCString(NULL, &dim->choices[k]->root,
											 VARSIZE(dim->choices[k]));
		/* a repeated value would be searched twice, as two points */
		for (int c = 0; c < k; c++)
			if (compareJsonbContainers(&dim->choices[c]->root,
									   &dim->choices[k]->root) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the list of search space key \"%s\" holds the value %s twice",
								dim->key, dim->choice_text[k])));
		k++;
	}
}

/*
 * Read the "space" of a search.
 */
static void
ParseSpace(SearchSpec *spec, JsonbValue *space)
{
	char	  **keys;
	JsonbValue *values;
	int			coord = 0;

	if (space->type != jbvBinary ||
		!JsonContainerIsObject(space->val.binary.data) ||
		JsonContainerSize(space->val.binary.data) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search key \"space\" must be a non-empty JSON object"),
				 errdetail("The value given was %s.", OptionsDescribeValue(space)),
				 errhint("Map each tuned option to a list of values or to a range, for example {\"learning_rate\": {\"min\": 0.001, \"max\": 0.1, \"scale\": \"log\"}}.")));
	spec->space = JsonbValueToJsonb(space);
	spec->n_dims = ObjectPairs(space->val.binary.data, &keys, &values);
	spec->dims = palloc0(sizeof(SearchDim) * spec->n_dims);
	for (int i = 0; i < spec->n_dims; i++)
	{
		SearchDim  *dim = &spec->dims[i];
		JsonbValue *v = &values[i];

		dim->key = keys[i];
		CheckSpaceKey(dim->key);
		if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
			ParseChoices(dim, v->val.binary.data);
		else if (v->type == jbvBinary &&
				 JsonContainerIsObject(v->val.binary.data))
			ParseRange(dim, v->val.binary.data, spec->method);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("search space key \"%s\" must be a list of values or a range",
							dim->key),
					 errdetail("The value given was %s.", OptionsDescribeValue(v)),
					 errhint("Write [0.01, 0.1] for a list, or {\"min\": 0.001, \"max\": 0.1, \"scale\": \"log\"} for a range.")));
		dim->coord = coord;
		dim->width = dim->is_range ? 1 : dim->n_choices;
		coord += dim->width;
	}
	spec->n_coords = coord;
}

/*
 * Read the search argument of lrml.tune.  The search's seed is -1 unless
 * given: the options' seed, once they are read.
 *
 * 1. Collect the keys; "method" first, since it decides which others
 *	  apply.
 * 2. Read each key.
 * 3. Grid: the number of trials is the number of combinations.
 */
static void
ParseSearch(Jsonb *search, SearchSpec *spec)
{
	char	  **keys;
	JsonbValue *values;
	int			n;
	JsonbValue *space = NULL;

	/* 1. */
	if (!JB_ROOT_IS_OBJECT(search) || JB_ROOT_IS_SCALAR(search))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search must be a JSON object"),
				 errhint("Write it as {\"method\": \"bayes\", \"trials\": 20, \"space\": {\"learning_rate\": {\"min\": 0.0001, \"max\": 1, \"scale\": \"log\"}}}.")));
	memset(spec, 0, sizeof(SearchSpec));
	spec->method = SEARCH_BAYES;
	spec->trials = 20;
	spec->metric = METRIC_VALID_LOSS;
	spec->seed = -1;			/* the options' seed, once they are read */
	n = ObjectPairs(&search->root, &keys, &values);
	for (int i = 0; i < n; i++)
	{
		bool		known = false;

		for (int k = 0; k < (int) lengthof(search_keys); k++)
			known |= strcmp(keys[i], search_keys[k]) == 0;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized search key \"%s\"", keys[i]),
					 errhint("Valid search keys are %s; training options go in the options argument.",
							 NameList(search_keys, lengthof(search_keys)))));
		if (strcmp(keys[i], "method") == 0)
			spec->method = (SearchMethod) (1 +
										   NameIndex("search method",
													 method_names,
													 lengthof(method_names),
													 &values[i]));
	}

	/* 2. */
	for (int i = 0; i < n; i++)
	{
		if (strcmp(keys[i], "trials") == 0)
		{
			if (spec->method == SEARCH_GRID)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("search key \"trials\" does not apply to a grid search"),
						 errdetail("A grid search runs every combination of its space."),
						 errhint("Remove \"trials\", or use \"method\": \"random\" or \"bayes\".")));
			spec->trials = (int) SearchInteger("search key \"trials\"",
											   &values[i], 1,
											   spec->method == SEARCH_BAYES ?
											   TUNE_MAX_BAYES_TRIALS :
											   TUNE_MAX_TRIALS);
		}
		else if (strcmp(keys[i], "metric") == 0)
			spec->metric = (SearchMetric) (1 +
										   NameIndex("search metric",
													 metric_names,
													 lengthof(metric_names),
													 &values[i]));
		else if (strcmp(keys[i], "max_seconds") == 0)
		{
			spec->max_seconds = SearchNumber("search key \"max_seconds\"",
											 &values[i]);
			if (!(spec->max_seconds > 0.0))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("search key \"max_seconds\" must be greater than 0"),
						 errdetail("The value given was %s.",
								   OptionsDescribeValue(&values[i]))));
		}
		else if (strcmp(keys[i], "seed") == 0)
			spec->seed = SearchSeed(&values[i]);
		else if (strcmp(keys[i], "space") == 0)
			space = &values[i];
	}
	if (space == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search key \"space\" is missing"),
				 errhint("Map each tuned option to a list of values or to a range, for example \"space\": {\"learning_rate\": [0.001, 0.01, 0.1]}.")));
	ParseSpace(spec, space);

	/* 3. */
	if (spec->method == SEARCH_GRID)
	{
		double		combos = 1.0;

		for (int d = 0; d < spec->n_dims; d++)
			combos *= spec->dims[d].is_range ? spec->dims[d].num :
				spec->dims[d].n_choices;
		if (combos > TUNE_MAX_TRIALS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the grid has %.0f combinations, more than the %d a search may run",
							combos, TUNE_MAX_TRIALS),
					 errhint("Use fewer values, or \"method\": \"random\" or \"bayes\".")));
		spec->trials = (int) combos;
	}
}

/*
 * Map a range's value to [0, 1] in its scale.
 */
double
SearchRangeToUnit(const SearchDim *dim, double x)
{
	if (dim->max == dim->min)
		return 0.0;
	if (dim->scale == SCALE_LOG)
		return (log(x) - log(dim->min)) / (log(dim->max) - log(dim->min));
	return (x - dim->min) / (dim->max - dim->min);
}

/*
 * Map t in [0, 1] to a value of the range; an "int" range rounds.
 */
double
SearchUnitToRange(const SearchDim *dim, double t)
{
	double		x;

	t = Max(0.0, Min(1.0, t));
	if (dim->scale == SCALE_LOG)
		x = exp(log(dim->min) + t * (log(dim->max) - log(dim->min)));
	else
		x = dim->min + t * (dim->max - dim->min);
	if (dim->scale == SCALE_INT)
		x = floor(x + 0.5);
	return Max(dim->min, Min(dim->max, x));
}

void
SearchPointAlloc(const SearchSpec *spec, SearchPoint *p)
{
	p->choice = palloc0(sizeof(int) * Max(spec->n_dims, 1));
	p->value = palloc0(sizeof(double) * Max(spec->n_dims, 1));
}

/*
 * Round x to 12 significant digits, so that grid points read as written
 * (0.01, not 0.009999999999999995).
 */
static double
RoundDigits(double x)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), "%.12g", x);
	return strtod(buf, NULL);
}

/*
 * Set p to grid combination index; the last key varies fastest.
 */
static void
GridPoint(const SearchSpec *spec, int index, SearchPoint *p)
{
	for (int d = spec->n_dims - 1; d >= 0; d--)
	{
		const SearchDim *dim = &spec->dims[d];
		int			size = dim->is_range ? dim->num : dim->n_choices;
		int			i = index % size;

		index /= size;
		p->choice[d] = dim->is_range ? -1 : i;
		if (dim->is_range)
		{
			p->value[d] = size == 1 ? dim->min :
				RoundDigits(SearchUnitToRange(dim, (double) i / (size - 1)));
			/* the ends exactly as given */
			if (i == 0)
				p->value[d] = dim->min;
			else if (i == size - 1)
				p->value[d] = dim->max;
		}
	}
}

/*
 * Draw p uniformly from the space: a choice uniformly, a range uniformly
 * in its scale ("int": each integer with the same chance).
 */
void
SearchRandomPoint(const SearchSpec *spec, pg_prng_state *rng, SearchPoint *p)
{
	for (int d = 0; d < spec->n_dims; d++)
	{
		const SearchDim *dim = &spec->dims[d];

		if (!dim->is_range)
		{
			p->choice[d] = (int) pg_prng_uint64_range(rng, 0,
													  dim->n_choices - 1);
			continue;
		}
		p->choice[d] = -1;
		if (dim->scale == SCALE_INT)
			p->value[d] = dim->min +
				(double) pg_prng_uint64_range(rng, 0,
											  (uint64) (dim->max - dim->min));
		else
			p->value[d] = SearchUnitToRange(dim, pg_prng_double(rng));
	}
}

/*
 * Write the coordinates of p in the unit cube into u.
 */
void
SearchPointToUnit(const SearchSpec *spec, const SearchPoint *p, double *u)
{
	memset(u, 0, sizeof(double) * Max(spec->n_coords, 1));
	for (int d = 0; d < spec->n_dims; d++)
	{
		const SearchDim *dim = &spec->dims[d];

		if (dim->is_range)
			u[dim->coord] = SearchRangeToUnit(dim, p->value[d]);
		else
			u[dim->coord + p->choice[d]] = 1.0;
	}
}

/*
 * Append the JSON text of key d's value at p.
 */
static void
AppendValue(StringInfo buf, const SearchDim *dim, const SearchPoint *p,
			int d)
{
	if (!dim->is_range)
		appendStringInfoString(buf, dim->choice_text[p->choice[d]]);
	else if (dim->scale == SCALE_INT)
		appendStringInfo(buf, INT64_FORMAT, (int64) p->value[d]);
	else
		LrmlAppendJsonNumber(buf, p->value[d]);
}

/*
 * Return the trial parameters of p as a jsonb object.
 */
static Jsonb *
PointParams(const SearchSpec *spec, const SearchPoint *p)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int d = 0; d < spec->n_dims; d++)
	{
		if (d > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, spec->dims[d].key);
		appendStringInfoString(&buf, ": ");
		AppendValue(&buf, &spec->dims[d], p, d);
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(buf.data)));
}

/*
 * Return options with path (one or two keys) set to value.
 */
static Jsonb *
JsonbSetPath(Jsonb *options, const char *k1, const char *k2, Jsonb *value)
{
	Datum		path[2];
	ArrayType  *arr;

	path[0] = CStringGetTextDatum(k1);
	if (k2 != NULL)
		path[1] = CStringGetTextDatum(k2);
	arr = construct_array(path, k2 != NULL ? 2 : 1, TEXTOID, -1, false,
						  TYPALIGN_INT);
	return DatumGetJsonbP(DirectFunctionCall4(jsonb_set,
											  JsonbPGetDatum(options),
											  PointerGetDatum(arr),
											  JsonbPGetDatum(value),
											  BoolGetDatum(true)));
}

/*
 * Return options with the tuned key set to value.  A key "parent.child"
 * sets a parameter inside an object-valued option: a schedule given by
 * name becomes {"name": ...}, early stopping given as true becomes {}.
 * The option itself must be given (or tuned): a search does not turn
 * early stopping on, or pick a schedule, by itself.
 */
static Jsonb *
ApplyParam(Jsonb *options, const char *key, Jsonb *value)
{
	const char *dot = strchr(key, '.');
	char	   *parent;
	JsonbValue	buf;
	JsonbValue *cur;
	StringInfoData obj;

	if (dot == NULL)
		return JsonbSetPath(options, key, NULL, value);
	parent = pnstrdup(key, dot - key);
	cur = getKeyJsonValueFromContainer(&options->root, parent,
									   strlen(parent), &buf);
	if (cur != NULL && cur->type == jbvBinary &&
		JsonContainerIsObject(cur->val.binary.data))
		return JsonbSetPath(options, parent, dot + 1, value);

	initStringInfo(&obj);
	if (strcmp(parent, "schedule") == 0 && cur != NULL &&
		cur->type == jbvString)
	{
		appendStringInfoString(&obj, "{\"name\": ");
		escape_json(&obj, pnstrdup(cur->val.string.val, cur->val.string.len));
		appendStringInfoString(&obj, "}");
	}
	else if (strcmp(parent, "early_stopping") == 0 && cur != NULL &&
			 cur->type == jbvBool && cur->val.boolean)
		appendStringInfoString(&obj, "{}");
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot tune \"%s\": option \"%s\" is %s", key, parent,
						cur == NULL ? "not given" : OptionsDescribeValue(cur)),
				 strcmp(parent, "schedule") == 0 ?
				 errhint("Name the schedule in the options, or tune \"schedule\" itself.") :
				 errhint("Turn early stopping on in the options.")));
	options = JsonbSetPath(options, parent, NULL,
						   DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
															  CStringGetDatum(obj.data))));
	return JsonbSetPath(options, parent, dot + 1, value);
}

/*
 * Return the options of a trial at p: the caller's options with each
 * tuned key set (keys in jsonb order, so a parent comes before its
 * parameters).
 */
static Jsonb *
PointOptions(const SearchSpec *spec, Jsonb *base, const SearchPoint *p)
{
	Jsonb	   *options = base;

	for (int d = 0; d < spec->n_dims; d++)
	{
		const SearchDim *dim = &spec->dims[d];
		Jsonb	   *value;

		if (dim->is_range)
		{
			StringInfoData buf;

			initStringInfo(&buf);
			AppendValue(&buf, dim, p, d);
			value = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													   CStringGetDatum(buf.data)));
		}
		else
			value = dim->choices[p->choice[d]];
		options = ApplyParam(options, dim->key, value);
	}
	return options;
}

/*
 * Kinds of validation loss: trials are compared only within one (1: log
 * loss of classifiers, 2: squared error of regression models; 0: not
 * known before the rows are read).
 */
static int
LossFamily(const TrainOptions *opts)
{
	if (opts->model == MODEL_LOGISTIC)
		return 1;
	if (opts->model == MODEL_LINEAR)
		return 2;
	/* an mlp is a classifier if it names its positive class; else the
	 * label's type decides, once the rows are read */
	return opts->positive_class ? 1 : 0;
}

/*
 * Fail when the search metric does not fit the model of opts.
 */
static void
CheckMetric(const SearchSpec *spec, const TrainOptions *opts)
{
	int			family = LossFamily(opts);

	if ((spec->metric == METRIC_AUC && family == 2) ||
		(spec->metric == METRIC_RMSE && family == 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search metric \"%s\" does not apply to a %s model",
						metric_names[spec->metric - 1],
						ModelKindName(opts->model)),
				 errhint("Use \"valid_loss\" for any model, \"auc\" for a classifier or \"rmse\" for a regression model.")));
	if (opts->validation_fraction == 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a search needs validation rows"),
				 errdetail("The option \"validation_fraction\" is 0."),
				 errhint("Set \"validation_fraction\" above 0, for example 0.2.")));
}

/*
 * Check the options of a point, failing on the first bad one; tc names
 * the point in the error context.  The first point checked sets *first
 * (its options parsed); every later one must train a model
 * with the same kind of loss.
 */
static void
CheckPoint(const SearchSpec *spec, Jsonb *base, const SearchPoint *p,
		   TuneContext *tc, bool is_first, TrainOptions *first,
		   int *family, ModelKind *family_kind)
{
	Jsonb	   *params = PointParams(spec, p);
	Jsonb	   *options;
	TrainOptions opts;

	tc->params = JsonbToCString(NULL, &params->root, VARSIZE(params));
	options = PointOptions(spec, base, p);
	OptionsParse(options, &opts);
	if (MODEL_IS_RECOMMENDER(opts.model))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("lrml.tune cannot search over a \"%s\" model",
						ModelKindName(opts.model)),
				 errhint("Search the options of a recommender by calling lrml.train_recommender for each setting.")));
	if (opts.full_batch)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"mode\" \"full_batch\" cannot be used in lrml.tune"),
				 errdetail("A search trains its trials on rows read once into memory.")));
	CheckMetric(spec, &opts);
	if (is_first)
		*first = opts;
	if (*family == 0)
	{
		*family = LossFamily(&opts);
		*family_kind = opts.model;
	}
	else if (LossFamily(&opts) != 0 && LossFamily(&opts) != *family)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot compare a %s model with a %s model in one search",
						ModelKindName(*family_kind),
						ModelKindName(opts.model)),
				 errdetail("Their validation losses measure different things: log loss and squared error."),
				 errhint("Search each kind of model separately.")));
	tc->params = NULL;
}

/*
 * Check the space before any trial trains.  Grid: every combination.
 * Random and Bayesian: every choice and both ends of every range, with
 * the other keys at their first choice or lower end.  *first gets the
 * first point's options (see CheckPoint).
 */
static void
CheckSpace(const SearchSpec *spec, Jsonb *base, TuneContext *tc,
		   TrainOptions *first)
{
	SearchPoint p;
	bool		is_first = true;
	int			family = 0;
	ModelKind	family_kind = MODEL_LOGISTIC;

	for (int d = 0; d < spec->n_dims; d++)
		if (strcmp(spec->dims[d].key, "class_weight") == 0 &&
			spec->metric == METRIC_VALID_LOSS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("search metric \"valid_loss\" cannot compare trials of different class weights"),
					 errdetail("The validation loss weighs each row by the weight of its class."),
					 errhint("Use \"metric\": \"auc\".")));
	SearchPointAlloc(spec, &p);
	if (spec->method == SEARCH_GRID)
	{
		for (int i = 0; i < spec->trials; i++)
		{
			CHECK_FOR_INTERRUPTS();
			GridPoint(spec, i, &p);
			CheckPoint(spec, base, &p, tc, is_first, first, &family,
					   &family_kind);
			is_first = false;
		}
		return;
	}
	for (int d = 0; d < spec->n_dims; d++)
	{
		const SearchDim *dim = &spec->dims[d];
		int			n = dim->is_range ? 2 : dim->n_choices;

		for (int i = 0; i < n; i++)
		{
			for (int e = 0; e < spec->n_dims; e++)
			{
				p.choice[e] = spec->dims[e].is_range ? -1 : 0;
				p.value[e] = spec->dims[e].min;
			}
			if (dim->is_range)
				p.value[d] = i == 0 ? dim->min : dim->max;
			else
				p.choice[d] = i;
			CheckPoint(spec, base, &p, tc, is_first, first, &family,
					   &family_kind);
			is_first = false;
		}
	}
}

/*
 * Return the number of points of the space, or -1 when it has a
 * continuous range (or more points than a search could try).
 */
static double
SpaceSize(const SearchSpec *spec)
{
	double		size = 1.0;

	for (int d = 0; d < spec->n_dims; d++)
	{
		const SearchDim *dim = &spec->dims[d];

		if (!dim->is_range)
			size *= dim->n_choices;
		else if (dim->scale == SCALE_INT || dim->min == dim->max)
			size *= dim->max - dim->min + 1;
		else
			return -1.0;
	}
	return size > TUNE_MAX_TRIALS ? -1.0 : size;
}

/*
 * Is an error of this SQLSTATE a failed trial rather than a failed
 * search?  Data exceptions: invalid combinations of options, divergence,
 * non-finite results.
 */
static bool
TrialMayFail(int sqlerrcode)
{
	return ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_DATA_EXCEPTION;
}

/*
 * Describe why a trial failed: the error's message and, if it has one,
 * its detail, joined as one phrase.
 */
static char *
TrialReason(const ErrorData *edata)
{
	char	   *detail;
	int			len;

	if (edata->detail == NULL)
		return pstrdup(edata->message);
	detail = pstrdup(edata->detail);
	len = strlen(detail);
	if (len > 0 && detail[len - 1] == '.')
		detail[len - 1] = '\0';
	/* "The loss ..." continues the message as "the loss ..." */
	if (len > 1 && detail[0] >= 'A' && detail[0] <= 'Z' &&
		detail[1] >= 'a' && detail[1] <= 'z')
		detail[0] += 'a' - 'A';
	return psprintf("%s: %s", edata->message, detail);
}

/*
 * Run trial t with the given options on the rows read once for the search
 * (raw, shared by every trial) and from the version a warm start begins
 * from (version, read once too, or NULL), in a subtransaction and a
 * memory context of its own (a child of parent_cxt, kept when the trial
 * succeeds).
 *
 * 1. Parse the options, encode the rows, train (the same steps as
 *	  lrml.train).
 * 2. Score the final weights on the validation rows: the weights kept,
 *	  which after early stopping or a back-off are not the last epoch's.
 *	  The loss must be finite; so must the metric when it is the search's
 *	  (an AUC is undefined when the validation rows hold one class).
 * 3. On a data exception, roll back and keep the error; rethrow any other
 *	  error.
 */
static void
RunTrial(const char *name, RawData *raw, const WarmStart *version,
		 const SearchSpec *spec, Jsonb *options, Trial *t,
		 MemoryContext parent_cxt)
{
	MemoryContext old_cxt = CurrentMemoryContext;
	ResourceOwner old_owner = CurrentResourceOwner;
	TimestampTz start = GetCurrentTimestamp();
	long		secs;
	int			usecs;

	t->cxt = AllocSetContextCreate(parent_cxt, "lrml tune trial",
								   ALLOCSET_DEFAULT_SIZES);
	t->ok = false;
	t->valid_loss = get_float8_nan();
	t->valid_metric = get_float8_nan();
	t->score = get_float8_nan();
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(t->cxt);
	PG_TRY();
	{
		double		loss,
					metric;
		WarmStart  *warm;

		/* 1. */
		OptionsParse(options, &t->opts);
		t->opts.quiet = true;
		warm = WarmStartCheck(version, options, &t->opts);
		t->parsed = true;
		CheckMetric(spec, &t->opts);
		TrainPrepareLoaded(raw, true, &t->opts, warm, &t->in);
		if ((spec->metric == METRIC_AUC && !t->opts.classifier) ||
			(spec->metric == METRIC_RMSE && t->opts.classifier))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("search metric \"%s\" does not apply to a %s",
							metric_names[spec->metric - 1],
							t->opts.classifier ? "classifier" : "regression model")));
		if (t->opts.validation_fraction == 0.0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("relation \"%s\" has too few rows for a validation split",
							raw->relation),
					 errhint("Raise \"validation_fraction\" or add rows.")));
		TrainFit(name, &t->opts, &t->in, &t->fit);

		/* 2. */
		t->in.learner->validate(t->in.learner->arg, t->fit.theta, &loss,
								&metric);
		for (int k = 0; k < t->in.learner->n_params; k++)
			if (!isfinite(t->fit.theta[k]))
				loss = get_float8_nan();
		if (!isfinite(loss))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the trained model's validation loss is not finite")));
		if (spec->metric != METRIC_VALID_LOSS && !isfinite(metric))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the validation %s of the trained model is undefined",
							metric_names[spec->metric - 1]),
					 errdetail("The validation rows hold only one class.")));
		t->valid_loss = loss;
		t->valid_metric = isfinite(metric) ? metric : get_float8_nan();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old_cxt);
		CurrentResourceOwner = old_owner;
		t->ok = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* 3. */
		MemoryContextSwitchTo(old_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old_cxt);
		CurrentResourceOwner = old_owner;
		if (!TrialMayFail(edata->sqlerrcode))
			ReThrowError(edata);
		t->reason = TrialReason(edata);
		t->edata = edata;
		MemoryContextDelete(t->cxt);
		t->cxt = NULL;
	}
	PG_END_TRY();

	if (t->ok)
	{
		if (spec->metric == METRIC_AUC)
			t->score = -t->valid_metric;
		else if (spec->metric == METRIC_RMSE)
			t->score = t->valid_metric;
		else
			t->score = t->valid_loss;
	}
	TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
	t->seconds = secs + usecs / 1e6;
}


/* How a search ended before its planned trials */
typedef enum SearchStop
{
	STOP_NONE = 0,
	STOP_TIME,					/* max_seconds ran out */
	STOP_EXHAUSTED				/* Bayesian: every point of the space tried */
} SearchStop;

/*
 * Record of the search stored in the best version's metrics.
 */
static Jsonb *
SearchRecord(const SearchSpec *spec, int n_run, int n_failed, int best,
			 int n_init, SearchStop stop)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"search\": {\"method\": \"%s\", \"metric\": \"%s\"",
					 method_names[spec->method - 1],
					 metric_names[spec->metric - 1]);
	appendStringInfo(&buf, ", \"seed\": " INT64_FORMAT, spec->seed);
	appendStringInfo(&buf, ", \"trials\": %d, \"trials_planned\": %d"
					 ", \"trials_failed\": %d, \"best_trial\": %d",
					 n_run, spec->trials, n_failed, best);
	if (spec->method == SEARCH_BAYES)
		appendStringInfo(&buf, ", \"random_start\": %d", Min(n_init, n_run));
	if (spec->max_seconds > 0.0)
	{
		appendStringInfoString(&buf, ", \"max_seconds\": ");
		LrmlAppendJsonNumber(&buf, spec->max_seconds);
	}
	appendStringInfo(&buf, ", \"stopped_by_time\": %s",
					 stop == STOP_TIME ? "true" : "false");
	if (spec->method == SEARCH_BAYES)
		appendStringInfo(&buf, ", \"space_exhausted\": %s",
						 stop == STOP_EXHAUSTED ? "true" : "false");
	appendStringInfoString(&buf, ", \"space\": ");
	appendStringInfoString(&buf, JsonbToCString(NULL, &spec->space->root,
												VARSIZE(spec->space)));
	appendStringInfoString(&buf, "}}");
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(buf.data)));
}

/*
 * Fail because no trial succeeded.  When every trial failed the same way
 * (an error no tuned value avoids: a label with one class, a split with no
 * validation row), that error is raised as it is; otherwise one error
 * lists each trial's reason.
 */
static void
ReportNoTrial(const char *name, Trial *trials, int n)
{
	StringInfoData buf;
	bool		same = true;

	for (int i = 1; i < n && same; i++)
		same = trials[i].edata->sqlerrcode == trials[0].edata->sqlerrcode &&
			strcmp(trials[i].reason, trials[0].reason) == 0;
	if (same)
		ReThrowError(trials[0].edata);

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%sTrial %d %s: %s.", i > 0 ? "\n" : "", i,
						 JsonbToCString(NULL, &trials[i].params->root,
										VARSIZE(trials[i].params)),
						 trials[i].reason);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("no trial of the search for model \"%s\" succeeded", name),
			 errdetail_internal("%s", buf.data),
			 errhint("Narrow the space to values that train.")));
}

/*
 * Tell once about failed trials, and about a search that ended early.
 */
static void
ReportSearch(const char *name, const SearchSpec *spec, Trial *trials, int n,
			 int n_failed, SearchStop stop)
{
	if (n_failed > 0)
	{
		StringInfoData buf;
		int			shown = 0;

		initStringInfo(&buf);
		for (int i = 0; i < n && shown < 3; i++)
			if (!trials[i].ok)
				appendStringInfo(&buf, "%sTrial %d: %s.",
								 shown++ > 0 ? "\n" : "", i,
								 trials[i].reason);
		ereport(NOTICE,
				(errmsg_plural("%d of %d trial of the search for model \"%s\" failed",
							   "%d of %d trials of the search for model \"%s\" failed",
							   n, n_failed, n, name),
				 errdetail_internal("%s", buf.data),
				 errhint("Every trial and its reason are in lrml.trials.")));
	}
	if (stop == STOP_TIME)
		ereport(NOTICE,
				(errmsg("the search for model \"%s\" stopped after %d of %d trials",
						name, n, spec->trials),
				 errdetail("Its time limit of %g seconds (search key \"max_seconds\") ran out.",
						   spec->max_seconds)));
	if (stop == STOP_EXHAUSTED)
		ereport(NOTICE,
				(errmsg("the search for model \"%s\" stopped after %d of %d trials",
						name, n, spec->trials),
				 errdetail("It had tried every point of its space.")));
}

/*
 * Store the best trial's model and every trial; return its version.
 */
static int32
StoreSearch(const char *name, const SearchSpec *spec, Trial *trials,
			int n_run, int n_failed, int best, int n_init, SearchStop stop)
{
	TrialRecord *records = palloc0(sizeof(TrialRecord) * n_run);
	int32		version;

	version = TrainStore(name, &trials[best].opts, &trials[best].in,
						 &trials[best].fit,
						 SearchRecord(spec, n_run, n_failed, best, n_init,
									  stop));
	for (int i = 0; i < n_run; i++)
	{
		records[i].trial = i;
		records[i].params = trials[i].params;
		records[i].ok = trials[i].ok;
		records[i].reason = trials[i].reason;
		records[i].valid_loss = trials[i].valid_loss;
		records[i].valid_metric = trials[i].valid_metric;
		records[i].best = (i == best);
		records[i].seconds = trials[i].seconds;
	}
	ModelStoreSaveTrials(name, version, records, n_run);
	return version;
}

/*
 * lrml.tune(model, relation, label, features, search, options)
 *
 * 1. Read the search; check the whole space (before any data is read) and
 *	  that the model could be stored.
 * 2. Read the rows once, with the first point's options: every trial
 *	  trains on these rows.
 * 3. Run the trials: grid in order, random draws, or Bayesian proposals
 *	  after the random start; stop early when max_seconds ran out, or when
 *	  a Bayesian search has tried every point of a finite space.
 * 4. Store the best trial's model with the search in its metrics, and the
 *	  trials in lrml.trials; fail when no trial succeeded.
 * 5. Return one row per trial.
 */
Datum
lrml_tune(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = TrainRequiredText(fcinfo, 0, "model");
	char	   *relation = TrainRequiredText(fcinfo, 1, "relation");
	char	   *label = TrainRequiredText(fcinfo, 2, "label");
	ArrayType  *features = PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3);
	Jsonb	   *options = WarmStartOptions(name, TrainOptionsArg(fcinfo, 5));
	TrainOptions first_opts;
	SearchSpec	spec;
	MemoryContext tune_cxt;
	MemoryContext old_cxt;
	RawData    *raw;
	WarmStart  *version;
	Trial	   *trials;
	pg_prng_state rng;
	TimestampTz start;
	double		space_size;
	bool		exhausted;
	int			n_run = 0;
	int			n_failed = 0;
	int			n_init;
	int			best = -1;
	SearchStop	stop = STOP_NONE;
	TuneContext tc;
	ErrorContextCallback callback;

	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"search\" must not be NULL")));

	tune_cxt = AllocSetContextCreate(CurrentMemoryContext, "lrml tune",
									 ALLOCSET_DEFAULT_SIZES);
	old_cxt = MemoryContextSwitchTo(tune_cxt);
	tc.model_name = name;
	tc.trial = -1;
	tc.params = NULL;
	callback.callback = TuneErrorCallback;
	callback.arg = &tc;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	/* 1. */
	ParseSearch(PG_GETARG_JSONB_P(4), &spec);
	CheckSpace(&spec, options, &tc, &first_opts);
	if (spec.seed < 0)
		spec.seed = first_opts.seed;
	TrainCheckStorable(name, "lrml.tune()");
	MemoryContextSwitchTo(old_cxt);
	InitMaterializedSRF(fcinfo, 0);
	MemoryContextSwitchTo(tune_cxt);

	/* 2. */
	version = WarmStartPeek(name, &first_opts);
	raw = TrainLoad(relation, label, features, &first_opts, version);

	/* 3. */
	trials = palloc0(sizeof(Trial) * spec.trials);
	pg_prng_seed(&rng, (uint64) spec.seed);
	n_init = Min(spec.trials, Max(3, Min(spec.n_coords + 1, 10)));
	space_size = SpaceSize(&spec);
	start = GetCurrentTimestamp();
	for (int i = 0; i < spec.trials; i++)
	{
		Trial	   *t = &trials[i];
		long		secs;
		int			usecs;

		CHECK_FOR_INTERRUPTS();
		TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
		if (i > 0 && spec.max_seconds > 0.0 &&
			secs + usecs / 1e6 >= spec.max_seconds)
		{
			stop = STOP_TIME;
			break;
		}
		SearchPointAlloc(&spec, &t->point);
		exhausted = false;
		if (spec.method == SEARCH_GRID)
			GridPoint(&spec, i, &t->point);
		else if (spec.method == SEARCH_RANDOM)
			SearchRandomPoint(&spec, &rng, &t->point);
		else if (i < n_init)
			exhausted = !BayesStartPoint(&spec, trials, i, space_size, &rng,
										 &t->point);
		else
			exhausted = !BayesPropose(&spec, trials, i, &rng, &t->point) &&
				space_size > 0 &&
				BayesDistinctTried(trials, i,
								   Max(spec.n_coords, 1)) >= space_size;
		if (exhausted)
		{
			stop = STOP_EXHAUSTED;
			break;
		}
		t->u = palloc(sizeof(double) * Max(spec.n_coords, 1));
		SearchPointToUnit(&spec, &t->point, t->u);
		t->params = PointParams(&spec, &t->point);

		tc.trial = i;
		tc.params = JsonbToCString(NULL, &t->params->root,
								   VARSIZE(t->params));
		RunTrial(name, raw, version, &spec,
				 PointOptions(&spec, options, &t->point), t, tune_cxt);
		tc.trial = -1;
		tc.params = NULL;
		n_run++;
		if (!t->ok)
			n_failed++;
		else if (best < 0 || t->score < trials[best].score)
		{
			if (best >= 0)
			{
				MemoryContextDelete(trials[best].cxt);
				trials[best].cxt = NULL;
			}
			best = i;
		}
		else
		{
			MemoryContextDelete(t->cxt);
			t->cxt = NULL;
		}
	}

	/* 4. */
	if (best < 0)
		ReportNoTrial(name, trials, n_run);
	ReportSearch(name, &spec, trials, n_run, n_failed, stop);
	StoreSearch(name, &spec, trials, n_run, n_failed, best, n_init, stop);

	/* 5. */
	for (int i = 0; i < n_run; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int32GetDatum(i);
		values[1] = JsonbPGetDatum(trials[i].params);
		values[2] = Float8GetDatum(trials[i].valid_loss);
		nulls[2] = !trials[i].ok;
		values[3] = Float8GetDatum(trials[i].valid_metric);
		nulls[3] = isnan(trials[i].valid_metric);
		values[4] = BoolGetDatum(i == best);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}

	error_context_stack = callback.previous;
	MemoryContextSwitchTo(old_cxt);
	MemoryContextDelete(tune_cxt);
	return (Datum) 0;
}
