/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Parse, check and print the options of a training call.
 *
 * A training call takes its options as one jsonb object.  OptionsParse
 * fills a TrainOptions with the defaults, then reads every key, checks its
 * type and range, and raises an error on the first one that is wrong, all
 * before any data is read.  OptionsToJsonb prints the resolved options,
 * defaults included, for storing beside the model; parsing that output
 * again gives the same TrainOptions.
 *
 * Every top-level key named in the design has one row in option_specs[]:
 * its name, whether this version builds it, the kind of value it takes and
 * its range, the optimizers or models it belongs to, and the field it
 * fills.  Every schedule parameter has one row in schedule_params[].
 * Enabling a key later is one row (and its field), not new parsing code.
 * The range test's keys (start_lr, end_lr, num_steps) are read only by
 * OptionsParseLrFind; OptionsParse refuses them, and OptionsToJsonb never
 * prints them for a training call.
 * Keys, schedules and optimizers that the design names but this version
 * does not build are refused with ERRCODE_FEATURE_NOT_SUPPORTED; any other
 * unrecognized key or value with ERRCODE_INVALID_PARAMETER_VALUE, and the
 * hint lists the valid ones.  Names match exactly: case and white space
 * count.
 *
 * This file only reads the options: it knows nothing about tables, and the
 * rates and updates themselves live in schedule.c and optimizer.c.
 * Results are allocated in CurrentMemoryContext.
 *
 * src/options.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/varlena.h"

#include "lrml.h"

/* Longest value text shown in a detail message, in bytes. */
#define MAX_VALUE_TEXT		60

/* Kind of value an option takes. */
typedef enum OptionType
{
	OPTION_NUMBER,				/* a finite number, stored as double */
	OPTION_INTEGER,				/* an integer, stored as int or int64 */
	OPTION_BOOLEAN,				/* true or false, stored as bool */
	OPTION_CUSTOM				/* anything else: the row's parse function */
} OptionType;

/* Allowed range of a number or integer. */
typedef enum RangeKind
{
	RANGE_ANY,					/* only the limits of the field's type */
	RANGE_GT,					/* value > lo */
	RANGE_GE,					/* value >= lo */
	RANGE_GE_LT,				/* lo <= value < hi */
	RANGE_GT_LT,				/* lo < value < hi */
	RANGE_GE_LE					/* lo <= value <= hi */
} RangeKind;

typedef struct ValueRule
{
	OptionType	type;
	RangeKind	range;
	double		lo;
	double		hi;
} ValueRule;

/* Which training calls a key applies to. */
typedef enum OptionScope
{
	SCOPE_ALL,
	SCOPE_OPTIMIZER,			/* only with the optimizers in owners[] */
	SCOPE_MODEL,				/* only with the models in owners[] */
	SCOPE_LR_FIND				/* only in the range test, lrml.lr_find */
} OptionScope;

#define MAX_OWNERS 4

struct OptionSpec;

typedef void (*OptionParseFunc) (const struct OptionSpec *spec,
								 JsonbValue *value, TrainOptions *opts);

typedef struct OptionSpec
{
	const char *name;
	bool		supported;		/* false: named in the design, not built */
	ValueRule	rule;
	OptionScope scope;
	const char *owners[MAX_OWNERS]; /* optimizer or model names */
	size_t		offset;			/* field of TrainOptions (plain types) */
	size_t		size;
	OptionParseFunc parse;		/* OPTION_CUSTOM */
} OptionSpec;

typedef void (*ScheduleParamParseFunc) (const char *subject,
									   JsonbValue *value,
									   LearningSchedule *s);

/*
 * A schedule parameter.  Defaults with a special meaning: a total of 0 is
 * the run's length (ScheduleResolve), and PARAM_UNSET marks a parameter
 * whose default depends on other options or that must be given (see
 * FinishSchedule).  A custom parameter (milestones, mode) has its own
 * parse function, and SetSchedule sets its default.
 */
typedef struct ScheduleParam
{
	const char *schedule;
	const char *name;
	ValueRule	rule;
	double		default_value;
	size_t		offset;			/* LearningSchedule field; size 0: none */
	size_t		size;
	ScheduleParamParseFunc parse;	/* OPTION_CUSTOM only */
} ScheduleParam;

/* Default of a parameter that must be given or is derived; never valid. */
#define PARAM_UNSET			(-1.0)

/* A set of names (models, optimizers, ...) and which of them are built. */
typedef struct Vocabulary
{
	const char *what;			/* "optimizer", for messages */
	const char *whats;			/* "optimizers" */
	const char *const *names;
	int			n_names;
	bool		(*built) (const char *name);
} Vocabulary;

static void ParseModel(const OptionSpec *spec, JsonbValue *value,
					   TrainOptions *opts);
static void ParseOptimizer(const OptionSpec *spec, JsonbValue *value,
						   TrainOptions *opts);
static void ParseSchedule(const OptionSpec *spec, JsonbValue *value,
						  TrainOptions *opts);
static void ParseScheduleUnit(const OptionSpec *spec, JsonbValue *value,
							  TrainOptions *opts);
static void ParseEarlyStopping(const OptionSpec *spec, JsonbValue *value,
							   TrainOptions *opts);
static void ParseDivergence(const OptionSpec *spec, JsonbValue *value,
							TrainOptions *opts);
static void ParseLrScaling(const OptionSpec *spec, JsonbValue *value,
						   TrainOptions *opts);
static void ParseClassWeight(const OptionSpec *spec, JsonbValue *value,
							 TrainOptions *opts);
static void ParsePositiveClass(const OptionSpec *spec, JsonbValue *value,
							   TrainOptions *opts);
static void ParseMode(const OptionSpec *spec, JsonbValue *value,
					  TrainOptions *opts);
static void ParseOnGroupError(const OptionSpec *spec, JsonbValue *value,
							  TrainOptions *opts);
static void ParseWarmStart(const OptionSpec *spec, JsonbValue *value,
						   TrainOptions *opts);
static void ParseHidden(const OptionSpec *spec, JsonbValue *value,
						TrainOptions *opts);
static void ParseActivation(const OptionSpec *spec, JsonbValue *value,
							TrainOptions *opts);
static void ParseMilestones(const char *subject, JsonbValue *value,
							LearningSchedule *s);
static void ParseCyclicMode(const char *subject, JsonbValue *value,
							LearningSchedule *s);
static void SetSchedule(LearningSchedule *s, const char *name);
static void CheckRecommender(TrainOptions *opts);
static void NoSuchParam(const char *schedule, const char *key)
			pg_attribute_noreturn();

/*
 * Shorthands for the tables: the kind and range of a value, the calls a
 * key applies to, and the field it fills.
 */
#define NUMBER_RULE(range, lo, hi)	{OPTION_NUMBER, range, lo, hi}
#define INTEGER_RULE(range, lo, hi) {OPTION_INTEGER, range, lo, hi}
#define BOOLEAN_RULE				{OPTION_BOOLEAN, RANGE_ANY, 0, 0}
#define CUSTOM_RULE					{OPTION_CUSTOM, RANGE_ANY, 0, 0}
#define FOR_ALL						SCOPE_ALL, {NULL}
#define FOR_OPTIMIZERS(...)			SCOPE_OPTIMIZER, {__VA_ARGS__}
#define FOR_MODELS(...)				SCOPE_MODEL, {__VA_ARGS__}
#define FOR_LR_FIND					SCOPE_LR_FIND, {NULL}
#define FOR_CLASSIFIERS				FOR_MODELS("logistic", "linear", "mlp")
#define FIELD(f) \
	offsetof(TrainOptions, f), sizeof(((TrainOptions *) NULL)->f), NULL
#define CUSTOM(fn)					0, 0, fn

/*
 * Every top-level option key of the design.  The supported ones are listed
 * in this order in hints.
 */
static const OptionSpec option_specs[] = {
	{"model", true, CUSTOM_RULE, FOR_ALL, CUSTOM(ParseModel)},
	{"optimizer", true, CUSTOM_RULE, FOR_ALL, CUSTOM(ParseOptimizer)},
	{"learning_rate", true, NUMBER_RULE(RANGE_GT, 0, 0), FOR_ALL,
	FIELD(schedule.base_lr)},
	{"schedule", true, CUSTOM_RULE, FOR_ALL, CUSTOM(ParseSchedule)},
	{"schedule_unit", true, CUSTOM_RULE, FOR_ALL,
	CUSTOM(ParseScheduleUnit)},
	{"epochs", true, INTEGER_RULE(RANGE_GE_LE, 0, 1000000), FOR_ALL,
	FIELD(epochs)},
	{"batch_size", true, INTEGER_RULE(RANGE_GE, 1, 0), FOR_CLASSIFIERS,
	FIELD(batch_size)},
	{"lr_scaling", true, CUSTOM_RULE, FOR_CLASSIFIERS,
	CUSTOM(ParseLrScaling)},
	{"base_batch_size", true, INTEGER_RULE(RANGE_GE, 1, 0), FOR_CLASSIFIERS,
	FIELD(base_batch_size)},
	{"l2", true, NUMBER_RULE(RANGE_GE, 0, 0), FOR_CLASSIFIERS, FIELD(l2)},
	{"l1", true, NUMBER_RULE(RANGE_GE, 0, 0), FOR_CLASSIFIERS, FIELD(l1)},
	{"validation_fraction", true, NUMBER_RULE(RANGE_GE_LT, 0, 1), FOR_ALL,
	FIELD(validation_fraction)},
	{"seed", true, INTEGER_RULE(RANGE_GE, 0, 0), FOR_ALL, FIELD(seed)},
	{"class_weight", true, CUSTOM_RULE, FOR_MODELS("logistic", "mlp"),
	CUSTOM(ParseClassWeight)},
	{"positive_class", true, CUSTOM_RULE, FOR_MODELS("logistic", "mlp"),
	CUSTOM(ParsePositiveClass)},
	{"hidden", true, CUSTOM_RULE, FOR_MODELS("mlp"), CUSTOM(ParseHidden)},
	{"activation", true, CUSTOM_RULE, FOR_MODELS("mlp"),
	CUSTOM(ParseActivation)},
	{"dropout", true, NUMBER_RULE(RANGE_GE_LT, 0, 1), FOR_MODELS("mlp"),
	FIELD(dropout)},
	{"momentum", true, NUMBER_RULE(RANGE_GE_LT, 0, 1), FOR_OPTIMIZERS("sgd"),
	FIELD(optimizer.momentum)},
	{"nesterov", true, BOOLEAN_RULE, FOR_OPTIMIZERS("sgd"),
	FIELD(optimizer.nesterov)},
	{"rho", true, NUMBER_RULE(RANGE_GE_LT, 0, 1), FOR_OPTIMIZERS("rmsprop"),
	FIELD(optimizer.rho)},
	{"beta1", true, NUMBER_RULE(RANGE_GE_LT, 0, 1),
	FOR_OPTIMIZERS("adam", "adamw"), FIELD(optimizer.beta1)},
	{"beta2", true, NUMBER_RULE(RANGE_GE_LT, 0, 1),
	FOR_OPTIMIZERS("adam", "adamw"), FIELD(optimizer.beta2)},
	{"eps", true, NUMBER_RULE(RANGE_GE, LRML_MIN_EPS, 0),
	FOR_OPTIMIZERS("adagrad", "rmsprop", "adam", "adamw"),
	FIELD(optimizer.eps)},
	{"weight_decay", true, NUMBER_RULE(RANGE_GE, 0, 0),
	FOR_OPTIMIZERS("adamw"), FIELD(optimizer.weight_decay)},
	{"warmup_epochs", true, INTEGER_RULE(RANGE_GE, 0, 0), FOR_ALL,
	FIELD(schedule.warmup_epochs)},
	{"warmup_steps", true, INTEGER_RULE(RANGE_GE, 0, 0), FOR_ALL,
	FIELD(schedule.warmup_steps)},
	{"mode", true, CUSTOM_RULE, FOR_ALL, CUSTOM(ParseMode)},
	{"warm_start", true, CUSTOM_RULE, FOR_ALL, CUSTOM(ParseWarmStart)},
	{"verbose", true, BOOLEAN_RULE, FOR_ALL, FIELD(verbose)},
	{"early_stopping", true, CUSTOM_RULE, FOR_ALL,
	CUSTOM(ParseEarlyStopping)},
	{"divergence", true, CUSTOM_RULE, FOR_ALL, CUSTOM(ParseDivergence)},
	{"reset_optimizer", true, BOOLEAN_RULE, FOR_ALL,
	FIELD(reset_optimizer)},
	{"extend_categories", true, BOOLEAN_RULE, FOR_ALL,
	FIELD(extend_categories)},
	{"on_group_error", true, CUSTOM_RULE, FOR_ALL,
	CUSTOM(ParseOnGroupError)},
	{"factors", true, INTEGER_RULE(RANGE_GE_LE, 1, LRML_MAX_FACTORS),
	FOR_MODELS("mf", "bpr"), FIELD(factors)},
	{"reg", true, NUMBER_RULE(RANGE_GE, 0, 0), FOR_MODELS("mf", "bpr"),
	FIELD(reg)},
	{"reg_bias", true, NUMBER_RULE(RANGE_GE, 0, 0), FOR_MODELS("mf", "bpr"),
	FIELD(reg_bias)},
	{"biases", true, BOOLEAN_RULE, FOR_MODELS("mf", "bpr"), FIELD(biases)},
	{"negatives", true, INTEGER_RULE(RANGE_GE_LE, 1, 1000),
	FOR_MODELS("bpr"), FIELD(negatives)},
	{"positive_threshold", true, NUMBER_RULE(RANGE_ANY, 0, 0),
	FOR_MODELS("bpr"), FIELD(positive_threshold)},
	/* the range test's own: lrml.train and lrml.schedule refuse them */
	{"start_lr", true, NUMBER_RULE(RANGE_GT, 0, 0), FOR_LR_FIND,
	FIELD(start_lr)},
	{"end_lr", true, NUMBER_RULE(RANGE_GT, 0, 0), FOR_LR_FIND,
	FIELD(end_lr)},
	{"num_steps", true, INTEGER_RULE(RANGE_GE_LE, 2, LRML_MAX_LR_FIND_STEPS),
	FOR_LR_FIND, FIELD(num_steps)}
};

#define N_OPTION_SPECS ((int) lengthof(option_specs))

#define SFIELD(f) \
	offsetof(LearningSchedule, f), sizeof(((LearningSchedule *) NULL)->f)
#define NO_SFIELD					0, 0
#define NOT_BUILT(schedule, name) \
	{schedule, name, CUSTOM_RULE, 0, NO_SFIELD, NULL}

/*
 * Every schedule parameter of the design, with its default.  The rows of a
 * schedule that is not built yet only name the parameter, so that it is
 * recognized when given at the top level by mistake.
 */
static const ScheduleParam schedule_params[] = {
	{"step", "step_size", INTEGER_RULE(RANGE_GE, 1, 0), 10,
	SFIELD(step_size)},
	{"step", "gamma", NUMBER_RULE(RANGE_GT, 0, 0), 0.1, SFIELD(gamma)},
	{"multistep", "milestones", CUSTOM_RULE, 0, NO_SFIELD,
	ParseMilestones},
	{"multistep", "gamma", NUMBER_RULE(RANGE_GT, 0, 0), 0.1, SFIELD(gamma)},
	{"exponential", "gamma", NUMBER_RULE(RANGE_GT, 0, 0), 0.9,
	SFIELD(gamma)},
	{"inverse_time", "decay", NUMBER_RULE(RANGE_GT, 0, 0), 0.1,
	SFIELD(decay)},
	{"inverse_time", "power", NUMBER_RULE(RANGE_GT, 0, 0), 1, SFIELD(power)},
	{"polynomial", "total", INTEGER_RULE(RANGE_GE, 1, 0), 0, SFIELD(total)},
	{"polynomial", "end_lr", NUMBER_RULE(RANGE_GE, 0, 0), 0,
	SFIELD(end_lr)},
	{"polynomial", "power", NUMBER_RULE(RANGE_GT, 0, 0), 1, SFIELD(power)},
	{"cosine", "total", INTEGER_RULE(RANGE_GE, 1, 0), 0, SFIELD(total)},
	{"cosine", "min_lr", NUMBER_RULE(RANGE_GE, 0, 0), 0, SFIELD(min_lr)},
	{"cosine_restarts", "period", INTEGER_RULE(RANGE_GE, 1, 0), 10,
	SFIELD(period)},
	{"cosine_restarts", "mult", INTEGER_RULE(RANGE_GE, 1, 0), 1,
	SFIELD(mult)},
	{"cosine_restarts", "min_lr", NUMBER_RULE(RANGE_GE, 0, 0), 0,
	SFIELD(min_lr)},
	{"cyclic", "base_lr", NUMBER_RULE(RANGE_GE, 0, 0), PARAM_UNSET,
	SFIELD(cyclic_base_lr)},
	{"cyclic", "max_lr", NUMBER_RULE(RANGE_GT, 0, 0), PARAM_UNSET,
	SFIELD(max_lr)},
	{"cyclic", "step_size", INTEGER_RULE(RANGE_GE, 1, 0), 2000,
	SFIELD(step_size)},
	{"cyclic", "mode", CUSTOM_RULE, 0, NO_SFIELD, ParseCyclicMode},
	{"cyclic", "gamma", NUMBER_RULE(RANGE_GT, 0, 0), 1, SFIELD(gamma)},
	{"one_cycle", "max_lr", NUMBER_RULE(RANGE_GT, 0, 0), PARAM_UNSET,
	SFIELD(max_lr)},
	{"one_cycle", "total", INTEGER_RULE(RANGE_GE, 1, 0), 0, SFIELD(total)},
	{"one_cycle", "pct_start", NUMBER_RULE(RANGE_GT_LT, 0, 1), 0.3,
	SFIELD(pct_start)},
	{"one_cycle", "div_factor", NUMBER_RULE(RANGE_GE, 1, 0), 25,
	SFIELD(div_factor)},
	{"one_cycle", "final_div_factor", NUMBER_RULE(RANGE_GE, 1, 0), 1e4,
	SFIELD(final_div_factor)},
	{"plateau", "factor", NUMBER_RULE(RANGE_GT_LT, 0, 1), 0.1,
	SFIELD(plateau_factor)},
	{"plateau", "patience", INTEGER_RULE(RANGE_GE, 0, 0), 10,
	SFIELD(plateau_patience)},
	{"plateau", "threshold", NUMBER_RULE(RANGE_GE, 0, 0), 1e-4,
	SFIELD(plateau_threshold)},
	{"plateau", "cooldown", INTEGER_RULE(RANGE_GE, 0, 0), 0,
	SFIELD(plateau_cooldown)},
	{"plateau", "min_lr", NUMBER_RULE(RANGE_GE, 0, 0), 0, SFIELD(min_lr)}
};

#define N_SCHEDULE_PARAMS ((int) lengthof(schedule_params))

/* Names of the design; schedule.c and optimizer.c say which are built. */
static const char *const model_names[] = {
	"logistic", "linear", "mlp", "mf", "bpr"
};
static const char *const optimizer_names[] = {
	"sgd", "adagrad", "rmsprop", "adam", "adamw"
};
static const char *const schedule_names[] = {
	"constant", "step", "multistep", "exponential", "inverse_time",
	"polynomial", "cosine", "cosine_restarts", "cyclic", "one_cycle",
	"plateau"
};
static const char *const unit_names[] = {"epoch", "step"};
static const char *const divergence_names[] = {"backoff", "error"};
static const char *const group_error_names[] = {"null", "error"};
static const char *const mode_names[] = {"minibatch", "full_batch"};
static const char *const lr_scaling_names[] = {"none", "linear", "sqrt"};
static const char *const activation_names[] = {"relu", "tanh"};
static const char *const cyclic_mode_names[] = {
	"triangular", "triangular2", "exp_range"
};

static bool ModelBuilt(const char *name);
static bool OptimizerBuilt(const char *name);
static bool ScheduleBuilt(const char *name);
static bool AlwaysBuilt(const char *name);

static const Vocabulary model_vocabulary = {
	"model", "models", model_names, lengthof(model_names), ModelBuilt
};
static const Vocabulary optimizer_vocabulary = {
	"optimizer", "optimizers", optimizer_names, lengthof(optimizer_names),
	OptimizerBuilt
};
static const Vocabulary schedule_vocabulary = {
	"learning rate schedule", "schedules", schedule_names,
	lengthof(schedule_names), ScheduleBuilt
};
static const Vocabulary unit_vocabulary = {
	"schedule unit", "schedule units", unit_names, lengthof(unit_names),
	AlwaysBuilt
};
static const Vocabulary divergence_vocabulary = {
	"divergence action", "divergence actions", divergence_names,
	lengthof(divergence_names), AlwaysBuilt
};
static const Vocabulary mode_vocabulary = {
	"training mode", "training modes", mode_names, lengthof(mode_names),
	AlwaysBuilt
};
static const Vocabulary group_error_vocabulary = {
	"group error action", "group error actions", group_error_names,
	lengthof(group_error_names), AlwaysBuilt
};
static const Vocabulary lr_scaling_vocabulary = {
	"learning rate scaling", "scalings", lr_scaling_names,
	lengthof(lr_scaling_names), AlwaysBuilt
};
static const Vocabulary activation_vocabulary = {
	"activation", "activations", activation_names,
	lengthof(activation_names), AlwaysBuilt
};
static const Vocabulary cyclic_mode_vocabulary = {
	"cyclic mode", "cyclic modes", cyclic_mode_names,
	lengthof(cyclic_mode_names), AlwaysBuilt
};


/*
 * Names and messages
 */

/* Map a model name to its kind; return false if this build has none. */
static bool
ModelFromName(const char *name, ModelKind *kind)
{
	if (strcmp(name, "logistic") == 0)
		*kind = MODEL_LOGISTIC;
	else if (strcmp(name, "linear") == 0)
		*kind = MODEL_LINEAR;
	else if (strcmp(name, "mlp") == 0)
		*kind = MODEL_MLP;
	else if (strcmp(name, "mf") == 0)
		*kind = MODEL_MF;
	else if (strcmp(name, "bpr") == 0)
		*kind = MODEL_BPR;
	else
		return false;
	return true;
}

/* Return whether this build implements the named model, and so on. */
static bool
ModelBuilt(const char *name)
{
	ModelKind	kind;

	return ModelFromName(name, &kind);
}

static bool
OptimizerBuilt(const char *name)
{
	OptimizerKind kind;

	return OptimizerFromName(name, &kind);
}

static bool
ScheduleBuilt(const char *name)
{
	ScheduleKind kind;

	return ScheduleFromName(name, &kind);
}

static bool
AlwaysBuilt(const char *name)
{
	return true;
}

/*
 * Return the name of a model kind, as written in the options: "logistic",
 * "linear", "mlp", "mf" or "bpr".
 */
const char *
ModelKindName(ModelKind kind)
{
	switch (kind)
	{
		case MODEL_LOGISTIC:
			return "logistic";
		case MODEL_LINEAR:
			return "linear";
		case MODEL_MLP:
			return "mlp";
		case MODEL_MF:
			return "mf";
		case MODEL_BPR:
			return "bpr";
	}
	elog(ERROR, "unrecognized model kind: %d", (int) kind);
	return NULL;				/* keep compiler quiet */
}

/* Return names quoted and joined for a message: "a", "b" and "c". */
static char *
QuotedList(const char *const *names, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, i == n - 1 ? " and " : ", ");
		appendStringInfo(&buf, "\"%s\"", names[i]);
	}
	return buf.data;
}

/*
 * Return the candidate closest to given by edit distance, if it is close
 * enough to be a likely typing slip ("adam " for "adam"), else NULL.
 */
static const char *
ClosestName(const char *given, const char *const *names, int n)
{
	int			given_len = strlen(given);
	int			max_d = Max(1, given_len / 4);
	const char *best = NULL;
	int			best_d = max_d + 1;

	/* the distance costs O(len^2); long input is no typing slip */
	if (given_len > 64)
		return NULL;

	for (int i = 0; i < n; i++)
	{
		int			d = varstr_levenshtein_less_equal(given, given_len,
													  names[i],
													  strlen(names[i]),
													  1, 1, 1, max_d, true);

		if (d < best_d)
		{
			best = names[i];
			best_d = d;
		}
	}
	return best;
}

/* Collect the names of a vocabulary that this version builds. */
static int
BuiltNames(const Vocabulary *voc, const char **out)
{
	int			n = 0;

	for (int i = 0; i < voc->n_names; i++)
	{
		if (voc->built(voc->names[i]))
			out[n++] = voc->names[i];
	}
	return n;
}

/* Return a JSON string value as a C string. */
static char *
StringValue(JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* Return the decimal text of a numeric, as numeric_out writes it. */
static char *
NumericOutText(Numeric num)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out,
											   NumericGetDatum(num)));
}

/* Return text, cut to MAX_VALUE_TEXT bytes with "..." if longer. */
static char *
ClipText(char *text)
{
	int			len = strlen(text);

	if (len <= MAX_VALUE_TEXT)
		return text;
	len = pg_mbcliplen(text, len, MAX_VALUE_TEXT - 3);
	return psprintf("%.*s...", len, text);
}

/*
 * Return the text of a JSON number for messages: as written, unless that
 * is long (1e400 prints 401 digits), then in scientific notation.
 */
static char *
NumericText(Numeric num)
{
	char	   *text = NumericOutText(num);
	int			count = 0;
	int			significant = 0;

	if (strlen(text) <= 20)
		return text;

	/* keep the significant digits, up to 15 */
	for (const char *p = strpbrk(text, "123456789"); p && *p; p++)
	{
		if (*p >= '0' && *p <= '9')
			count++;
		if (*p >= '1' && *p <= '9')
			significant = count;
	}
	return numeric_out_sci(num, Max(0, Min(significant, 15) - 1));
}

/* Return a JSON value as JSON text for messages, clipped. */
static char *
ValueText(JsonbValue *v)
{
	StringInfoData buf;

	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvBool:
			return v->val.boolean ? "true" : "false";
		case jbvNumeric:
			return NumericText(v->val.numeric);
		case jbvString:
			/* clip inside the quotes, so that they stay visible */
			initStringInfo(&buf);
			escape_json(&buf, ClipText(StringValue(v)));
			return buf.data;
		case jbvBinary:
			return ClipText(JsonbToCString(NULL, v->val.binary.data,
										   v->val.binary.len));
		default:
			elog(ERROR, "unexpected jsonb value type: %d", (int) v->type);
	}
	return NULL;				/* keep compiler quiet */
}

/*
 * Describe a JSON value for a detail message: the string "fast", the
 * number 1e+400, the array [1, 2], null.  Long values are clipped.
 */
char *
OptionsDescribeValue(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return psprintf("the string %s", ValueText(v));
		case jbvNumeric:
			return psprintf("the number %s", ValueText(v));
		case jbvBinary:
			if (JsonContainerIsArray(v->val.binary.data))
				return psprintf("the array %s", ValueText(v));
			return psprintf("the object %s", ValueText(v));
		default:
			return ValueText(v);
	}
}

/* Return the subject of messages about a key: option "epochs". */
static char *
OptionSubject(const char *key)
{
	return psprintf("option \"%s\"", key);
}

/* Return the subject of messages about a schedule parameter. */
static char *
ParamSubject(const char *schedule, const char *key)
{
	return psprintf("parameter \"%s\" of schedule \"%s\"", key, schedule);
}


/*
 * Values: types and ranges
 */

/* Report a value whose JSON type is wrong; expected is "number" etc. */
static void
WrongType(const char *subject, const char *expected, JsonbValue *v)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be %s", subject, expected),
			 errdetail("The value given was %s.", OptionsDescribeValue(v))));
}

/*
 * Report a value outside its range.  lo and hi are the bounds as text;
 * given is the value as written.
 */
static void
OutOfRange(const char *subject, RangeKind range, const char *lo,
		   const char *hi, const char *given)
{
	switch (range)
	{
		case RANGE_GT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be greater than %s", subject, lo),
					 errdetail("The value given was %s.", given)));
			break;
		case RANGE_GE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be at least %s", subject, lo),
					 errdetail("The value given was %s.", given)));
			break;
		case RANGE_GE_LT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be at least %s and less than %s",
							subject, lo, hi),
					 errdetail("The value given was %s.", given)));
			break;
		case RANGE_GE_LE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be at least %s and at most %s",
							subject, lo, hi),
					 errdetail("The value given was %s.", given)));
			break;
		case RANGE_GT_LT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be greater than %s and less than %s",
							subject, lo, hi),
					 errdetail("The value given was %s.", given)));
			break;
		case RANGE_ANY:
			elog(ERROR, "value out of range without a range");
	}
}

/* Return a bound of a range as text: integers without a decimal point. */
static char *
BoundText(double x)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (x == floor(x) && fabs(x) < 1e15)
		return psprintf("%.0f", x);
	double_to_shortest_decimal_buf(x, buf);
	return pstrdup(buf);
}

/* Check that x lies in the range of rule; given is x as written. */
static void
CheckRange(const char *subject, const ValueRule *rule, double x,
		   const char *given)
{
	bool		ok;

	switch (rule->range)
	{
		case RANGE_GT:
			ok = x > rule->lo;
			break;
		case RANGE_GE:
			ok = x >= rule->lo;
			break;
		case RANGE_GE_LT:
			ok = x >= rule->lo && x < rule->hi;
			break;
		case RANGE_GE_LE:
			ok = x >= rule->lo && x <= rule->hi;
			break;
		case RANGE_GT_LT:
			ok = x > rule->lo && x < rule->hi;
			break;
		default:
			ok = true;
			break;
	}
	if (!ok)
		OutOfRange(subject, rule->range, BoundText(rule->lo),
				   BoundText(rule->hi), given);
}

/*
 * Return a JSON number as a double, refusing other types, values that do
 * not fit in a double (1e400, 1e-400) and values out of the rule's range.
 *
 * jsonb numbers are exact decimals that may exceed the double range, and
 * the numeric-to-double cast would raise its own error; so convert the
 * decimal text with strtod and check for ERANGE.  A nonzero value too
 * small for a double is refused rather than read as 0.  A string such as
 * "NaN" or "Infinity" is not a number, but it gets the message about
 * finite numbers, which is what its writer needs to read.
 */
static double
NumberValue(const char *subject, const ValueRule *rule, JsonbValue *v)
{
	char	   *text;
	char	   *end;
	double		x;

	if (v->type == jbvString)
	{
		char	   *s = StringValue(v);

		x = strtod(s, &end);
		if (end != s && *end == '\0' && !isfinite(x))
			WrongType(subject, "a finite number", v);
	}
	if (v->type != jbvNumeric)
		WrongType(subject, "a number", v);

	text = NumericOutText(v->val.numeric);
	errno = 0;
	x = strtod(text, &end);
	if (errno == ERANGE && fabs(x) > 1.0)
		WrongType(subject, "a finite number", v);
	/* like float8in, accept subnormal results but not a rounding to 0 */
	if (errno == ERANGE && x == 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is out of range for type double precision",
						subject),
				 errdetail("The value given was %s.", ValueText(v))));
	if (*end != '\0' || !isfinite(x))
		elog(ERROR, "could not convert jsonb number \"%s\" to double", text);

	CheckRange(subject, rule, x, ValueText(v));
	return x;
}

/*
 * Return a JSON number that must be an integer between the rule's bounds
 * and max, the largest value of the field it is stored in.  The decimal
 * text is parsed exactly, so the int64 limits are exact; 3.0 counts as an
 * integer, 3.5 does not.
 */
static int64
IntegerValue(const char *subject, const ValueRule *rule, int64 max,
			 JsonbValue *v)
{
	char	   *text;
	char	   *point;
	char	   *end;
	int64		x;

	if (v->type != jbvNumeric)
		WrongType(subject, "an integer", v);

	text = NumericOutText(v->val.numeric);
	point = strchr(text, '.');
	if (point != NULL)
	{
		if (point[strspn(point + 1, "0") + 1] != '\0')
			WrongType(subject, "an integer", v);
		*point = '\0';
	}

	errno = 0;
	x = strtoi64(text, &end, 10);
	if (*end != '\0')
		elog(ERROR, "could not convert jsonb number \"%s\" to integer", text);
	if (errno == ERANGE || x > max)
	{
		char	   *hi = psprintf(INT64_FORMAT, max);

		/* an explicit upper bound is below max */
		if (rule->range == RANGE_GE_LE)
			hi = BoundText(rule->hi);
		OutOfRange(subject, RANGE_GE_LE, BoundText(rule->lo), hi,
				   ValueText(v));
	}

	CheckRange(subject, rule, (double) x, ValueText(v));
	return x;
}

/*
 * Parse a value of a plain type (number, integer, boolean) by its rule
 * and store it at base + offset, a field of the given size.
 */
static void
ParsePlain(const char *subject, const ValueRule *rule, JsonbValue *v,
		   void *base, size_t offset, size_t size)
{
	char	   *field = (char *) base + offset;

	switch (rule->type)
	{
		case OPTION_NUMBER:
			Assert(size == sizeof(double));
			*(double *) field = NumberValue(subject, rule, v);
			break;
		case OPTION_INTEGER:
			if (size == sizeof(int64))
				*(int64 *) field = IntegerValue(subject, rule, PG_INT64_MAX,
												v);
			else if (size == sizeof(int))
				*(int *) field = (int) IntegerValue(subject, rule, INT_MAX,
													v);
			else
				elog(ERROR, "unexpected integer option size: %d", (int) size);
			break;
		case OPTION_BOOLEAN:
			Assert(size == sizeof(bool));
			if (v->type != jbvBool)
				WrongType(subject, "a boolean", v);
			*(bool *) field = v->val.boolean;
			break;
		case OPTION_CUSTOM:
			elog(ERROR, "option without a plain type has no field");
	}
}

/*
 * Return the name given as v, which must be a string naming a built member
 * of voc.  subject names the key for a type error.
 */
static char *
VocabularyValue(const char *subject, const Vocabulary *voc, JsonbValue *v)
{
	const char *valid[16];
	int			n_valid;
	char	   *name;
	const char *closest;

	if (v->type != jbvString)
		WrongType(subject, "a string", v);
	name = StringValue(v);

	Assert(voc->n_names <= (int) lengthof(valid));
	n_valid = BuiltNames(voc, valid);

	for (int i = 0; i < voc->n_names; i++)
	{
		if (strcmp(voc->names[i], name) != 0)
			continue;
		if (!voc->built(name))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s \"%s\" is not supported in this version of lrml",
							voc->what, name),
					 errhint("Valid %s are %s.", voc->whats,
							 QuotedList(valid, n_valid))));
		return name;
	}

	closest = ClosestName(name, valid, n_valid);
	if (closest != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized %s: %s", voc->what, ValueText(v)),
				 errhint("Perhaps you meant \"%s\".  Valid %s are %s.",
						 closest, voc->whats, QuotedList(valid, n_valid))));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized %s: %s", voc->what, ValueText(v)),
			 errhint("Valid %s are %s.", voc->whats,
					 QuotedList(valid, n_valid))));
	return NULL;				/* keep compiler quiet */
}


/*
 * Options with their own syntax
 */

/*
 * Set the defaults of a recommender's training: they differ from a
 * classifier's, and were chosen by measurement on MovieLens (README,
 * "Recommenders").  Keys read after "model" override them.
 */
static void
RecommenderDefaults(TrainOptions *opts)
{
	bool		bpr = (opts->model == MODEL_BPR);

	opts->optimizer.kind = OPTIMIZER_SGD;
	SetSchedule(&opts->schedule, "cosine");
	opts->schedule.base_lr = bpr ? LRML_BPR_DEFAULT_LR : LRML_MF_DEFAULT_LR;
	opts->epochs = bpr ? LRML_BPR_DEFAULT_EPOCHS : LRML_MF_DEFAULT_EPOCHS;
	opts->validation_fraction = LRML_MF_DEFAULT_VALIDATION;
	opts->factors = bpr ? LRML_BPR_DEFAULT_FACTORS : LRML_MF_DEFAULT_FACTORS;
	opts->reg = bpr ? LRML_BPR_DEFAULT_REG : LRML_MF_DEFAULT_REG;
}

/* model: "logistic", "linear", "mlp", "mf" or "bpr"; recommenders set
 * their own defaults. */
static void
ParseModel(const OptionSpec *spec, JsonbValue *value, TrainOptions *opts)
{
	char	   *name = VocabularyValue(OptionSubject(spec->name),
									   &model_vocabulary, value);

	if (!ModelFromName(name, &opts->model))
		elog(ERROR, "model \"%s\" has no kind", name);
	if (MODEL_IS_RECOMMENDER(opts->model))
		RecommenderDefaults(opts);
	opts->model_given = true;
}

/* Return the SQL name of the aggregate (or training call) of opts */
static const char *
AggregateName(const TrainOptions *opts)
{
	return opts->recommender ? "lrml.fit_recommender" : "lrml.fit";
}

/*
 * mode: "minibatch" (the default: the rows are read once into memory) or
 * "full_batch" (one lrml.gradient pass over the relation per epoch,
 * full_batch.c), which lrml.fit does not take.
 */
static void
ParseMode(const OptionSpec *spec, JsonbValue *value, TrainOptions *opts)
{
	char	   *name = VocabularyValue(OptionSubject(spec->name),
									   &mode_vocabulary, value);

	opts->full_batch = strcmp(name, "full_batch") == 0;
	if (opts->full_batch && opts->aggregate)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"mode\" \"full_batch\" cannot be used in the aggregate %s",
						AggregateName(opts)),
				 errdetail("%s trains each group on rows it has gathered in memory.",
						   AggregateName(opts))));
}

/*
 * on_group_error: "null" (the default: a group that cannot train yields
 * NULL and a notice) or "error"; only the aggregates lrml.fit and
 * lrml.fit_recommender take it.
 */
static void
ParseOnGroupError(const OptionSpec *spec, JsonbValue *value,
				  TrainOptions *opts)
{
	char	   *name;

	if (!opts->aggregate)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"on_group_error\" applies only to the aggregate %s",
						AggregateName(opts)),
				 errhint("Remove \"on_group_error\": this call trains one model, and any error fails it.")));
	name = VocabularyValue(OptionSubject(spec->name),
						   &group_error_vocabulary, value);
	opts->group_error_fail = strcmp(name, "error") == 0;
}

/*
 * Read "warm_start": true (the deployed version), false, or a version
 * number.  The aggregates lrml.fit and lrml.fit_recommender train new
 * models only.
 */
static void
ParseWarmStart(const OptionSpec *spec, JsonbValue *value, TrainOptions *opts)
{
	static const ValueRule version_rule = INTEGER_RULE(RANGE_GE_LE, 1,
													   PG_INT32_MAX);

	if (opts->aggregate)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"warm_start\" cannot be used in the aggregate %s",
						AggregateName(opts)),
				 errdetail("%s trains a new model for each group; it has no stored version to start from.",
						   AggregateName(opts))));

	if (value->type == jbvBool)
	{
		opts->warm_start = value->val.boolean ? WARM_START_DEPLOYED : 0;
		return;
	}
	if (value->type != jbvNumeric)
		WrongType(OptionSubject(spec->name), "true, false or a version number",
				  value);
	opts->warm_start = (int32) IntegerValue(OptionSubject(spec->name),
											&version_rule, PG_INT32_MAX,
											value);
}

/*
 * optimizer: "sgd", "adagrad", "rmsprop", "adam" or "adamw".  AdaGrad's
 * eps defaults to 1e-10 (as in PyTorch), the others' to 1e-8; an "eps" key
 * is read after this one, so it overrides the default.
 */
static void
ParseOptimizer(const OptionSpec *spec, JsonbValue *value,
			   TrainOptions *opts)
{
	char	   *name = VocabularyValue(OptionSubject(spec->name),
									   &optimizer_vocabulary, value);

	if (!OptimizerFromName(name, &opts->optimizer.kind))
		elog(ERROR, "optimizer \"%s\" has no kind", name);
	if (opts->optimizer.kind == OPTIMIZER_ADAGRAD)
		opts->optimizer.eps = 1e-10;
}

/* schedule_unit: "epoch" or "step" (one mini-batch). */
static void
ParseScheduleUnit(const OptionSpec *spec, JsonbValue *value,
				  TrainOptions *opts)
{
	char	   *name = VocabularyValue(OptionSubject(spec->name),
									   &unit_vocabulary, value);

	opts->schedule.unit_step = strcmp(name, "step") == 0;
}

/*
 * early_stopping: true or false (patience 10, min_delta 0), or an object
 * with "patience" (an integer >= 1) and "min_delta" (>= 0), which turns it
 * on.
 */
static void
ParseEarlyStopping(const OptionSpec *spec, JsonbValue *value,
				   TrainOptions *opts)
{
	static const ValueRule patience_rule = INTEGER_RULE(RANGE_GE_LE, 1,
														1000000);
	static const ValueRule delta_rule = NUMBER_RULE(RANGE_GE, 0, 0);
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	key;
	JsonbValue	val;

	if (value->type == jbvBool)
	{
		opts->early_stopping = value->val.boolean;
		return;
	}
	if (value->type != jbvBinary ||
		!JsonContainerIsObject(value->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"early_stopping\" must be true, false or an object"),
				 errdetail("The value given was %s.",
						   OptionsDescribeValue(value)),
				 errhint("For example {\"early_stopping\": {\"patience\": 5, \"min_delta\": 0.0001}}.")));
	opts->early_stopping = true;
	it = JsonbIteratorInit(value->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		char	   *name;

		if (tok != WJB_KEY)
			continue;
		name = StringValue(&key);
		tok = JsonbIteratorNext(&it, &val, true);
		if (strcmp(name, "patience") == 0)
			opts->es_patience = (int) IntegerValue("parameter \"patience\" of option \"early_stopping\"",
												   &patience_rule, 1000000, &val);
		else if (strcmp(name, "min_delta") == 0)
			opts->es_min_delta = NumberValue("parameter \"min_delta\" of option \"early_stopping\"",
											 &delta_rule, &val);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"early_stopping\" has no parameter \"%s\"",
							name),
					 errhint("The parameters of \"early_stopping\" are \"patience\" and \"min_delta\".")));
	}
}

/* divergence: "backoff" (the default) or "error". */
static void
ParseDivergence(const OptionSpec *spec, JsonbValue *value,
				TrainOptions *opts)
{
	char	   *name = VocabularyValue(OptionSubject(spec->name),
									   &divergence_vocabulary, value);

	opts->divergence_error = strcmp(name, "error") == 0;
}

/* lr_scaling: "none" (the default), "linear" or "sqrt". */
static void
ParseLrScaling(const OptionSpec *spec, JsonbValue *value,
			   TrainOptions *opts)
{
	char	   *name = VocabularyValue(OptionSubject(spec->name),
									   &lr_scaling_vocabulary, value);

	if (strcmp(name, "linear") == 0)
		opts->lr_scaling = LR_SCALING_LINEAR;
	else if (strcmp(name, "sqrt") == 0)
		opts->lr_scaling = LR_SCALING_SQRT;
	else
		opts->lr_scaling = LR_SCALING_NONE;
}

/* Return the name of an lr_scaling value, as written in the options. */
static const char *
LrScalingName(LrScaling scaling)
{
	switch (scaling)
	{
		case LR_SCALING_NONE:
			return "none";
		case LR_SCALING_LINEAR:
			return "linear";
		case LR_SCALING_SQRT:
			return "sqrt";
	}
	elog(ERROR, "unrecognized learning rate scaling: %d", (int) scaling);
	return NULL;				/* keep compiler quiet */
}

/* class_weight: "balanced", or the weight of a positive row (> 0). */
static void
ParseClassWeight(const OptionSpec *spec, JsonbValue *value,
				 TrainOptions *opts)
{
	static const ValueRule positive = NUMBER_RULE(RANGE_GT, 0, 0);

	if (value->type == jbvString &&
		strcmp(StringValue(value), "balanced") == 0)
	{
		opts->class_weight_balanced = true;
		opts->class_weight = 1.0;
		return;
	}
	if (value->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be \"balanced\" or a number",
						spec->name),
				 errdetail("The value given was %s.",
						   OptionsDescribeValue(value))));

	opts->class_weight_balanced = false;
	opts->class_weight = NumberValue(OptionSubject(spec->name), &positive,
									 value);
}

/*
 * positive_class: the label value of the positive class, kept as text.
 *
 * A string is kept as given, a number as written in the JSON (1, 2.5), a
 * boolean as "true" or "false" (not as the "t" or "f" of boolean output).
 * The caller compares it with the text of each label value, also
 * case-insensitively, and by value for boolean and numeric labels, so
 * that true matches a boolean label's "t" and 1 matches "1.0".
 */
static void
ParsePositiveClass(const OptionSpec *spec, JsonbValue *value,
				   TrainOptions *opts)
{
	switch (value->type)
	{
		case jbvString:
			opts->positive_class = StringValue(value);
			break;
		case jbvNumeric:
			opts->positive_class = NumericOutText(value->val.numeric);
			break;
		case jbvBool:
			opts->positive_class = pstrdup(value->val.boolean ?
										   "true" : "false");
			break;
		default:
			WrongType(OptionSubject(spec->name),
					  "a string, a number or a boolean", value);
	}
}

/*
 * hidden: the sizes of the hidden layers of an mlp, a non-empty array of
 * at most LRML_MLP_MAX_LAYERS integers, each 1 .. LRML_MLP_MAX_UNITS.
 */
static void
ParseHidden(const OptionSpec *spec, JsonbValue *value, TrainOptions *opts)
{
	static const ValueRule rule = INTEGER_RULE(RANGE_GE_LE, 1,
											   LRML_MLP_MAX_UNITS);
	JsonbContainer *arr;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	const char *subject = "each layer size of option \"hidden\"";
	int			n = 0;

	if (value->type != jbvBinary ||
		!JsonContainerIsArray(value->val.binary.data) ||
		JsonContainerSize(value->val.binary.data) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"hidden\" must be a non-empty array of layer sizes"),
				 errdetail("The value given was %s.",
						   OptionsDescribeValue(value)),
				 errhint("Give the units of each hidden layer, for example [32] or [64, 32].")));
	arr = value->val.binary.data;
	if (JsonContainerSize(arr) > LRML_MLP_MAX_LAYERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"hidden\" must have at most %d layers",
						LRML_MLP_MAX_LAYERS),
				 errdetail("The value given was %s.",
						   OptionsDescribeValue(value))));

	it = JsonbIteratorInit(arr);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		opts->mlp.hidden[n++] = (int) IntegerValue(subject, &rule, INT_MAX,
												   &v);
	}
	opts->mlp.n_hidden = n;
}

/* activation: "relu" or "tanh", the hidden layers' activation. */
static void
ParseActivation(const OptionSpec *spec, JsonbValue *value,
				TrainOptions *opts)
{
	char	   *name = VocabularyValue(OptionSubject(spec->name),
									   &activation_vocabulary, value);

	opts->mlp.activation = strcmp(name, "tanh") == 0 ? MLP_TANH : MLP_RELU;
}

/*
 * multistep milestones: a non-empty array of non-negative integers in
 * strictly increasing order.
 */
static void
ParseMilestones(const char *subject, JsonbValue *value, LearningSchedule *s)
{
	static const ValueRule rule = INTEGER_RULE(RANGE_GE, 0, 0);
	JsonbContainer *arr;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			n = 0;

	if (value->type != jbvBinary ||
		!JsonContainerIsArray(value->val.binary.data) ||
		JsonContainerSize(value->val.binary.data) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a non-empty array of integers", subject),
				 errdetail("The value given was %s.",
						   OptionsDescribeValue(value)),
				 errhint("Give the units at which the rate is cut, for example [30, 80].")));

	arr = value->val.binary.data;
	s->milestones = (int64 *) palloc(sizeof(int64) * JsonContainerSize(arr));
	it = JsonbIteratorInit(arr);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		s->milestones[n] = IntegerValue(subject, &rule, PG_INT64_MAX, &v);
		if (n > 0 && s->milestones[n] <= s->milestones[n - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be in strictly increasing order",
							subject),
					 errdetail("Milestone " INT64_FORMAT " follows milestone " INT64_FORMAT ".",
							   s->milestones[n], s->milestones[n - 1])));
		n++;
	}
	s->n_milestones = n;
}

/* cyclic mode: "triangular", "triangular2" or "exp_range". */
static void
ParseCyclicMode(const char *subject, JsonbValue *value, LearningSchedule *s)
{
	char	   *name = VocabularyValue(subject, &cyclic_mode_vocabulary,
									   value);

	if (strcmp(name, "triangular") == 0)
		s->cyclic_mode = CYCLIC_TRIANGULAR;
	else if (strcmp(name, "triangular2") == 0)
		s->cyclic_mode = CYCLIC_TRIANGULAR2;
	else
		s->cyclic_mode = CYCLIC_EXP_RANGE;
}

/* Return the name of a cyclic mode, as written in the options. */
static const char *
CyclicModeName(CyclicMode mode)
{
	switch (mode)
	{
		case CYCLIC_TRIANGULAR:
			return "triangular";
		case CYCLIC_TRIANGULAR2:
			return "triangular2";
		case CYCLIC_EXP_RANGE:
			return "exp_range";
	}
	elog(ERROR, "unrecognized cyclic mode: %d", (int) mode);
	return NULL;				/* keep compiler quiet */
}

/* Return the row of schedule_params for a schedule and key, or NULL. */
static const ScheduleParam *
FindScheduleParam(const char *schedule, const char *key)
{
	for (int i = 0; i < N_SCHEDULE_PARAMS; i++)
	{
		if (strcmp(schedule_params[i].schedule, schedule) == 0 &&
			strcmp(schedule_params[i].name, key) == 0)
			return &schedule_params[i];
	}
	return NULL;
}

/*
 * Set a schedule's kind and the defaults of all its parameters.  The
 * custom ones default to no milestones and the triangular policy.
 */
static void
SetSchedule(LearningSchedule *s, const char *name)
{
	if (!ScheduleFromName(name, &s->kind))
		elog(ERROR, "schedule \"%s\" has no kind", name);

	s->n_milestones = 0;
	s->milestones = NULL;
	s->cyclic_mode = CYCLIC_TRIANGULAR;
	for (int i = 0; i < N_SCHEDULE_PARAMS; i++)
	{
		const ScheduleParam *param = &schedule_params[i];
		char	   *field = (char *) s + param->offset;

		if (strcmp(param->schedule, name) != 0 ||
			param->rule.type == OPTION_CUSTOM)
			continue;
		if (param->rule.type == OPTION_NUMBER)
			*(double *) field = param->default_value;
		else if (param->rule.type == OPTION_INTEGER &&
				 param->size == sizeof(int64))
			*(int64 *) field = (int64) param->default_value;
		else if (param->rule.type == OPTION_INTEGER)
			*(int *) field = (int) param->default_value;
		else
			elog(ERROR, "schedule parameter \"%s\" has no default",
				 param->name);
	}
}

/* Report a key of a schedule object that the schedule does not take. */
static void
NoSuchParam(const char *schedule, const char *key)
{
	const char *names[N_SCHEDULE_PARAMS];
	int			n = 0;

	for (int i = 0; i < N_SCHEDULE_PARAMS; i++)
	{
		if (strcmp(schedule_params[i].schedule, schedule) == 0)
			names[n++] = schedule_params[i].name;
	}

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule \"%s\" has no parameter \"%s\"",
						schedule, key),
				 errhint("Schedule \"%s\" takes no parameters.", schedule)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("schedule \"%s\" has no parameter \"%s\"",
					schedule, key),
			 errhint("The parameters of schedule \"%s\" are %s.",
					 schedule, QuotedList(names, n))));
}

/*
 * schedule: a name, taking that schedule's defaults, or an object with a
 * "name" key and any of that schedule's parameters.
 */
static void
ParseSchedule(const OptionSpec *spec, JsonbValue *value, TrainOptions *opts)
{
	JsonbContainer *obj;
	JsonbValue	name_value;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	char	   *name;
	char	   *key = NULL;

	if (value->type == jbvString)
	{
		name = VocabularyValue(OptionSubject(spec->name),
							   &schedule_vocabulary, value);
		SetSchedule(&opts->schedule, name);
		return;
	}
	if (value->type != jbvBinary ||
		!JsonContainerIsObject(value->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a string or an object",
						spec->name),
				 errdetail("The value given was %s.", OptionsDescribeValue(value)),
				 errhint("Give a schedule name, such as \"cosine\", or an object such as {\"name\": \"step\", \"step_size\": 10}.")));

	/* 1. the name, which says what the other keys mean */
	obj = value->val.binary.data;
	if (getKeyJsonValueFromContainer(obj, "name", 4, &name_value) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" has no \"name\" key", spec->name),
				 errdetail("The value given was %s.", ValueText(value)),
				 errhint("Give a schedule name, such as \"cosine\", or an object such as {\"name\": \"step\", \"step_size\": 10}.")));
	name = VocabularyValue("the \"name\" of option \"schedule\"",
						   &schedule_vocabulary, &name_value);
	SetSchedule(&opts->schedule, name);

	/* 2. every other key must be a parameter of that schedule */
	it = JsonbIteratorInit(obj);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		const ScheduleParam *param;

		if (tok == WJB_KEY)
		{
			key = StringValue(&v);
			continue;
		}
		if (tok != WJB_VALUE || strcmp(key, "name") == 0)
			continue;

		param = FindScheduleParam(name, key);
		if (param == NULL)
			NoSuchParam(name, key);
		if (param->parse != NULL)
			param->parse(ParamSubject(name, key), &v, &opts->schedule);
		else
			ParsePlain(ParamSubject(name, key), &param->rule, &v,
					   &opts->schedule, param->offset, param->size);
	}
}


/*
 * Keys of the options object
 */

/* Return the row of option_specs for a key, or NULL. */
static const OptionSpec *
FindOption(const char *key)
{
	for (int i = 0; i < N_OPTION_SPECS; i++)
	{
		if (strcmp(option_specs[i].name, key) == 0)
			return &option_specs[i];
	}
	return NULL;
}

/*
 * Return the schedule name given in options, as a string or as the name of
 * a schedule object, or "" if there is none.
 */
static char *
GivenScheduleName(Jsonb *options)
{
	JsonbValue	v;
	JsonbValue	name;

	if (getKeyJsonValueFromContainer(&options->root, "schedule", 8,
									 &v) == NULL)
		return "";
	if (v.type == jbvString)
		return StringValue(&v);
	if (v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data) &&
		getKeyJsonValueFromContainer(v.val.binary.data, "name", 4,
									 &name) != NULL &&
		name.type == jbvString)
		return StringValue(&name);
	return "";
}

/*
 * Report a top-level key that is a schedule parameter: it belongs inside
 * the schedule object.  The hint's example uses the schedule given in the
 * options if it takes this parameter, else a built schedule that does.
 */
static void
MisplacedScheduleParam(const char *key, JsonbValue *value, Jsonb *options)
{
	const char *owners[N_SCHEDULE_PARAMS];
	int			n = 0;
	int			n_built = 0;
	const char *example;
	const char *given = GivenScheduleName(options);

	/* the built schedules that take key, first, then those not built */
	for (int pass = 0; pass < 2; pass++)
	{
		for (int i = 0; i < N_SCHEDULE_PARAMS; i++)
		{
			const char *schedule = schedule_params[i].schedule;

			if (strcmp(schedule_params[i].name, key) == 0 &&
				ScheduleBuilt(schedule) == (pass == 0))
				owners[n++] = schedule;
		}
		if (pass == 0)
			n_built = n;
	}
	Assert(n > 0);

	/* the example uses the schedule given, if it takes key */
	example = owners[0];
	for (int i = 0; i < n_built; i++)
	{
		if (strcmp(owners[i], given) == 0)
			example = owners[i];
	}
	/* name only the built ones, if there are any */
	if (n_built > 0)
		n = n_built;

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized option \"%s\"", key),
			 errdetail_plural("\"%s\" is a parameter of schedule %s.",
							  "\"%s\" is a parameter of schedules %s.",
							  n, key, QuotedList(owners, n)),
			 errhint("Schedule parameters go inside the schedule object, for example {\"schedule\": {\"name\": \"%s\", \"%s\": %s}}.",
					 example, key, ValueText(value))));
}

/*
 * Report a key of the range test given to another call.  A key that is
 * also a schedule parameter (end_lr) is more likely a misplaced one.
 */
static void
RangeTestOnly(const char *key, JsonbValue *value, Jsonb *options)
{
	for (int i = 0; i < N_SCHEDULE_PARAMS; i++)
	{
		if (strcmp(schedule_params[i].name, key) == 0)
			MisplacedScheduleParam(key, value, options);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("option \"%s\" applies only to lrml.lr_find", key),
			 errdetail("\"start_lr\", \"end_lr\" and \"num_steps\" set the rates of a learning-rate range test."),
			 errhint("Remove \"%s\", or run the range test with lrml.lr_find.",
					 key)));
}

/*
 * Check that a key of options is a supported option of this call (the
 * range test if lr_find); report it otherwise.
 */
static const OptionSpec *
CheckKey(const char *key, JsonbValue *value, Jsonb *options, bool lr_find)
{
	const OptionSpec *spec = FindOption(key);
	const char *valid[N_OPTION_SPECS];
	int			n_valid = 0;
	const char *closest;

	if (spec != NULL && spec->supported && spec->scope == SCOPE_LR_FIND &&
		!lr_find)
		RangeTestOnly(key, value, options);
	if (spec != NULL && spec->supported)
		return spec;
	if (spec != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("option \"%s\" is not supported in this version of lrml",
						key)));

	for (int i = 0; i < N_SCHEDULE_PARAMS; i++)
	{
		if (strcmp(schedule_params[i].name, key) == 0)
			MisplacedScheduleParam(key, value, options);
	}

	for (int i = 0; i < N_OPTION_SPECS; i++)
	{
		if (option_specs[i].supported &&
			(lr_find || option_specs[i].scope != SCOPE_LR_FIND))
			valid[n_valid++] = option_specs[i].name;
	}
	closest = ClosestName(key, valid, n_valid);
	if (closest != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized option \"%s\"", key),
				 errhint("Perhaps you meant \"%s\".  Valid options are %s.",
						 closest, QuotedList(valid, n_valid))));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized option \"%s\"", key),
			 errhint("Valid options are %s.", QuotedList(valid, n_valid))));
	return NULL;				/* keep compiler quiet */
}

/*
 * Return whether a key applies with the chosen optimizer and model; if
 * report, raise an error when it does not.
 */
static bool
InScope(const OptionSpec *spec, const TrainOptions *opts, bool report)
{
	const char *what;
	const char *chosen;
	const char *owners[MAX_OWNERS];
	int			n = 0;

	if (spec->scope == SCOPE_ALL)
		return true;
	/* CheckKey has refused these outside the range test */
	if (spec->scope == SCOPE_LR_FIND)
		return opts->lr_find;
	if (spec->scope == SCOPE_OPTIMIZER)
	{
		what = "optimizer";
		chosen = OptimizerName(opts->optimizer.kind);
	}
	else
	{
		what = "model";
		chosen = ModelKindName(opts->model);
	}

	for (int i = 0; i < MAX_OWNERS && spec->owners[i] != NULL; i++)
	{
		if (strcmp(spec->owners[i], chosen) == 0)
			return true;
		if (spec->scope == SCOPE_OPTIMIZER ?
			OptimizerBuilt(spec->owners[i]) : ModelBuilt(spec->owners[i]))
			owners[n++] = spec->owners[i];
	}
	if (!report)
		return false;

	if (n == 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" applies only to %s %s",
						spec->name, what, QuotedList(owners, n)),
				 errdetail("The %s is \"%s\".", what, chosen),
				 errhint("Remove \"%s\", or set \"%s\" to %s.",
						 spec->name, what, QuotedList(owners, n))));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("option \"%s\" applies only to %ss %s",
					spec->name, what, QuotedList(owners, n)),
			 errdetail("The %s is \"%s\".", what, chosen)));
	return false;				/* keep compiler quiet */
}

/* Parse the value of one supported key into opts. */
static void
ParseOption(const OptionSpec *spec, JsonbValue *value, TrainOptions *opts)
{
	if (spec->rule.type == OPTION_CUSTOM)
		spec->parse(spec, value, opts);
	else
		ParsePlain(OptionSubject(spec->name), &spec->rule, value, opts,
				   spec->offset, spec->size);
}

/* Return a double in its shortest exact decimal form, for messages. */
static char *
DoubleText(double x)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(x, buf);
	return pstrdup(buf);
}

/*
 * Report a rate parameter of a schedule that must be at most the learning
 * rate.
 */
static void
CheckAtMostRate(const LearningSchedule *s, const char *key, double value)
{
	if (value <= s->base_lr)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("parameter \"%s\" of schedule \"%s\" must be at most the learning rate",
					key, ScheduleName(s->kind)),
			 errdetail("The value given was %s, and the learning rate is %s.",
					   DoubleText(value), DoubleText(s->base_lr))));
}

/*
 * Check a schedule's parameters against each other and the learning rate,
 * and fill in the defaults that depend on them:
 *
 *	  cosine, cosine_restarts, min_lr <= learning_rate
 *	  plateau
 *	  polynomial               end_lr <= learning_rate
 *	  multistep                milestones must be given
 *	  cyclic                   base_lr defaults to learning_rate; max_lr
 *	                           must be given, greater than base_lr; gamma
 *	                           only with mode exp_range
 *	  one_cycle                max_lr defaults to learning_rate
 *	  warm-up                  at most one of warmup_epochs and
 *	                           warmup_steps; warmup_steps needs
 *	                           schedule_unit "step"
 */
static void
FinishSchedule(LearningSchedule *s)
{
	const char *name = ScheduleName(s->kind);

	if (s->kind == SCHEDULE_COSINE || s->kind == SCHEDULE_COSINE_RESTARTS ||
		s->kind == SCHEDULE_PLATEAU)
		CheckAtMostRate(s, "min_lr", s->min_lr);
	if (s->kind == SCHEDULE_POLYNOMIAL)
		CheckAtMostRate(s, "end_lr", s->end_lr);

	if (s->kind == SCHEDULE_MULTISTEP && s->n_milestones == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule \"%s\" requires parameter \"milestones\"",
						name),
				 errhint("Give the units at which the rate is cut, for example {\"name\": \"multistep\", \"milestones\": [30, 80]}.")));

	if (s->kind == SCHEDULE_CYCLIC)
	{
		if (s->cyclic_base_lr == PARAM_UNSET)
			s->cyclic_base_lr = s->base_lr;
		if (s->max_lr == PARAM_UNSET)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("schedule \"%s\" requires parameter \"max_lr\"",
							name),
					 errhint("Give the upper bound of the cycle, for example {\"name\": \"cyclic\", \"max_lr\": 0.1}; \"base_lr\" defaults to the learning rate.")));
		if (s->gamma != 1.0 && s->cyclic_mode != CYCLIC_EXP_RANGE)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"gamma\" of schedule \"%s\" applies only to mode \"exp_range\"",
							name),
					 errdetail("The value given was %s.", DoubleText(s->gamma)),
					 errhint("Remove \"gamma\", or set \"mode\" to \"exp_range\".")));
		if (!(s->max_lr > s->cyclic_base_lr))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"max_lr\" of schedule \"%s\" must be greater than \"base_lr\"",
							name),
					 errdetail("The value given was %s, and base_lr is %s.",
							   DoubleText(s->max_lr),
							   DoubleText(s->cyclic_base_lr)),
					 errhint("\"base_lr\" defaults to the learning rate.")));
	}
	if (s->kind == SCHEDULE_ONE_CYCLE && s->max_lr == PARAM_UNSET)
		s->max_lr = s->base_lr;

	if (s->warmup_epochs > 0 && s->warmup_steps > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options \"warmup_epochs\" and \"warmup_steps\" cannot both be given"),
				 errhint("Use \"warmup_epochs\", or \"warmup_steps\" with \"schedule_unit\" \"step\".")));
	if (s->warmup_steps > 0 && !s->unit_step)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"warmup_steps\" requires \"schedule_unit\" \"step\""),
				 errdetail("With \"schedule_unit\" \"epoch\" the rate changes once per epoch."),
				 errhint("Set \"schedule_unit\" to \"step\", or use \"warmup_epochs\".")));
}

/*----------
 * Set the factor that lr_scaling applies to every rate of the schedule,
 * with r = batch_size / base_batch_size:
 *
 *	  none    1
 *	  linear  r         (Goyal et al., "Accurate, Large Minibatch SGD:
 *	                    Training ImageNet in 1 Hour", 2017)
 *	  sqrt    sqrt(r)   (Krizhevsky, "One weird trick for parallelizing
 *	                    convolutional neural networks", 2014)
 *
 * learning_rate keeps the value given, so that the stored options parse
 * to the same rates; ScheduleRate multiplies the factor in.
 *----------
 */
static void
SetRateScale(TrainOptions *opts)
{
	double		r = (double) opts->batch_size / opts->base_batch_size;

	switch (opts->lr_scaling)
	{
		case LR_SCALING_NONE:
			opts->schedule.rate_scale = 1.0;
			break;
		case LR_SCALING_LINEAR:
			opts->schedule.rate_scale = r;
			break;
		case LR_SCALING_SQRT:
			opts->schedule.rate_scale = sqrt(r);
			break;
	}
}

/*
 * Check the options of a range test: end_lr above start_lr, and no
 * schedule or warm-up, since the test sets the rate of every step itself.
 * The other options are those of lrml.train; learning_rate, lr_scaling,
 * schedule_unit, epochs, early_stopping and divergence are accepted and
 * have no effect.
 */
static void
CheckRangeTest(const TrainOptions *opts)
{
	const LearningSchedule *s = &opts->schedule;

	if (!(opts->end_lr > opts->start_lr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"end_lr\" must be greater than \"start_lr\""),
				 errdetail("The value given was %s, and start_lr is %s.",
						   DoubleText(opts->end_lr),
						   DoubleText(opts->start_lr)),
				 errhint("\"start_lr\" defaults to 1e-07 and \"end_lr\" to 10.")));
	if (opts->early_stopping || opts->divergence_error)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" cannot be used in a learning-rate range test",
						opts->early_stopping ? "early_stopping" : "divergence"),
				 errdetail("The range test runs its steps whatever the loss does, and stops on its own rule.")));
	if (opts->warm_start != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"warm_start\" cannot be used in a learning-rate range test"),
				 errdetail("The range test trains a fresh model and throws it away.")));
	if (s->kind != SCHEDULE_CONSTANT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule \"%s\" cannot be used in a learning-rate range test",
						ScheduleName(s->kind)),
				 errdetail("The range test raises the rate from \"start_lr\" to \"end_lr\" itself."),
				 errhint("Remove \"schedule\", or set it to \"constant\".")));
	if (s->warmup_epochs > 0 || s->warmup_steps > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" cannot be used in a learning-rate range test",
						s->warmup_epochs > 0 ? "warmup_epochs" :
						"warmup_steps"),
				 errdetail("The range test raises the rate from \"start_lr\" to \"end_lr\" itself.")));
}

/*
 * Check the conditions that involve more than one option; given_base is
 * whether "base_batch_size" was given.
 */
static void
CheckCombinations(TrainOptions *opts, bool given_base)
{
	if (opts->epochs == 0 && opts->warm_start == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"epochs\" must be at least 1 and at most 1000000"),
				 errdetail("The value given was 0."),
				 errhint("\"epochs\": 0 is allowed only with \"warm_start\", to copy a version.")));
	if (opts->warm_start == 0 &&
		(opts->reset_optimizer || opts->extend_categories))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" applies only with \"warm_start\"",
						opts->reset_optimizer ? "reset_optimizer" :
						"extend_categories"),
				 errhint("Set \"warm_start\" to true or to a version number, or remove the option.")));

	if (opts->optimizer.kind == OPTIMIZER_SGD && opts->optimizer.nesterov &&
		opts->optimizer.momentum == 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"nesterov\" requires a momentum greater than 0"),
				 errhint("Set \"momentum\" as well, for example to 0.9.")));

	if (given_base && opts->lr_scaling == LR_SCALING_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"base_batch_size\" requires \"lr_scaling\" \"linear\" or \"sqrt\""),
				 errdetail("Without \"lr_scaling\" the rate does not depend on the batch size."),
				 errhint("Set \"lr_scaling\", or remove \"base_batch_size\".")));
	if (opts->full_batch && opts->model == MODEL_MLP)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"mode\" \"full_batch\" trains logistic and linear models only"),
				 errhint("Use \"mode\": \"minibatch\" for an mlp.")));
	if (opts->full_batch &&
		(opts->class_weight_balanced || opts->class_weight != 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"class_weight\" cannot be used with \"mode\" \"full_batch\""),
				 errdetail("A full-batch pass sums every row with the same weight.")));
	if (opts->full_batch && opts->warm_start != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"warm_start\" cannot be used with \"mode\" \"full_batch\""),
				 errdetail("A full-batch run encodes the relation afresh.")));
	if (opts->full_batch && opts->lr_scaling != LR_SCALING_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"lr_scaling\" cannot be used with \"mode\" \"full_batch\""),
				 errdetail("A full-batch epoch is one update over every row; there is no batch size to scale by.")));
	if (opts->full_batch && opts->lr_find)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"mode\" \"full_batch\" cannot be used in a learning-rate range test"),
				 errdetail("The range test reads the rows once into memory.")));
	SetRateScale(opts);

	if (MODEL_IS_RECOMMENDER(opts->model))
		CheckRecommender(opts);
	FinishSchedule(&opts->schedule);
	if (opts->lr_find)
		CheckRangeTest(opts);
}

/*
 * Check what a recommender needs of the options: an optimizer with a
 * sparse step (sgd without momentum, or adagrad), since each rating
 * updates only its user's and item's parameters; and resolve reg_bias,
 * which defaults to reg.
 */
static void
CheckRecommender(TrainOptions *opts)
{
	if (opts->optimizer.kind == OPTIMIZER_SGD &&
		opts->optimizer.momentum > 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"momentum\" does not apply to model \"%s\"",
						ModelKindName(opts->model)),
				 errdetail("Each rating updates only its user's and item's parameters."),
				 errhint("Remove \"momentum\", or use the optimizer \"adagrad\".")));
	if (!OptimizerHasSparseStep(&opts->optimizer))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("optimizer \"%s\" does not apply to model \"%s\"",
						OptimizerName(opts->optimizer.kind),
						ModelKindName(opts->model)),
				 errdetail("Each rating updates only its user's and item's parameters."),
				 errhint("Valid optimizers for recommenders are \"sgd\" and \"adagrad\".")));
	if (opts->extend_categories)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"extend_categories\" does not apply to model \"%s\"",
						ModelKindName(opts->model)),
				 errdetail("A warm-started recommender always gives new users and items factors of their own.")));
	if (opts->reg_bias < 0.0)
		opts->reg_bias = opts->reg;
}

/*
 * Fill opts with the defaults of every option.
 */
void
OptionsDefaults(TrainOptions *opts)
{
	memset(opts, 0, sizeof(TrainOptions));
	opts->model = MODEL_LOGISTIC;
	opts->mlp.n_hidden = 1;
	opts->mlp.hidden[0] = 32;
	opts->mlp.activation = MLP_RELU;
	opts->dropout = 0.0;

	opts->optimizer.kind = OPTIMIZER_ADAM;
	opts->optimizer.momentum = 0.0;
	opts->optimizer.nesterov = false;
	opts->optimizer.beta1 = 0.9;
	opts->optimizer.beta2 = 0.999;
	opts->optimizer.eps = 1e-8;
	opts->optimizer.rho = 0.99;
	opts->optimizer.weight_decay = 0.01;

	SetSchedule(&opts->schedule, "constant");
	opts->schedule.base_lr = 0.01;
	opts->schedule.rate_scale = 1.0;
	opts->schedule.unit_step = false;

	opts->epochs = 50;
	opts->batch_size = 256;
	opts->lr_scaling = LR_SCALING_NONE;
	opts->base_batch_size = 256;
	opts->l2 = 1e-4;
	opts->l1 = 0.0;
	opts->validation_fraction = 0.2;
	opts->seed = 1;
	opts->class_weight_balanced = false;
	opts->class_weight = 1.0;
	opts->positive_class = NULL;
	opts->verbose = false;
	opts->early_stopping = false;
	opts->es_patience = 10;
	opts->es_min_delta = 0.0;
	opts->divergence_error = false;
	opts->lr_find = false;
	opts->start_lr = 1e-7;
	opts->end_lr = 10.0;
	opts->num_steps = 100;
	opts->factors = LRML_MF_DEFAULT_FACTORS;
	opts->reg = LRML_MF_DEFAULT_REG;
	opts->reg_bias = -1.0;		/* the same as reg */
	opts->biases = true;
	opts->negatives = 1;
	opts->positive_threshold = get_float8_nan();
}

/*
 * Refuse a model of the wrong family for the call: a classifier for
 * lrml.train_recommender, a recommender for the range test (lrml.train
 * checks its own, since lrml.schedule previews either family).
 */
static void
CheckFamily(const TrainOptions *opts, bool lr_find, bool recommender)
{
	if (recommender && !MODEL_IS_RECOMMENDER(opts->model))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot train a \"%s\" model",
						opts->aggregate ? "lrml.fit_recommender" :
						"lrml.train_recommender",
						ModelKindName(opts->model)),
				 errhint("Valid models for recommenders are \"mf\" and \"bpr\".  Train classifiers with lrml.train.")));
	if (lr_find && MODEL_IS_RECOMMENDER(opts->model))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lrml.lr_find cannot test a \"%s\" model",
						ModelKindName(opts->model)),
				 errhint("The range test trains classifiers only.")));
}

/*
 * Fill opts from the jsonb object options (NULL: all defaults), for a
 * range test if lr_find: only then are start_lr, end_lr and num_steps
 * accepted.
 *
 * 1. Fill in the defaults.
 * 2. Check that options is an object and collect its keys and values.
 * 3. Check every key: unrecognized, unsupported and misplaced keys are
 *    refused in key order.
 * 4. Read model and optimizer first, since they decide which of the other
 *    keys apply; then every other key, checking its scope, type and range.
 * 5. Check the conditions between options, and set the factor of
 *    lr_scaling; for a range test, check its own (CheckRangeTest).
 *
 * The schedule's total is left at 0 ("the run's length") unless given:
 * call ScheduleResolve once the run's length is known.
 */
static void
ParseOptions(Jsonb *options, TrainOptions *opts, bool lr_find,
			 bool recommender, bool aggregate)
{
	int			n_pairs;
	char	  **keys;
	JsonbValue *values;
	const OptionSpec **specs;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			n = 0;
	bool		given_base = false;

	/* 1 */
	OptionsDefaults(opts);
	opts->lr_find = lr_find;
	if (recommender)
	{
		opts->model = MODEL_MF;
		RecommenderDefaults(opts);
	}
	opts->aggregate = aggregate;
	opts->recommender = recommender;
	if (options == NULL)
	{
		CheckCombinations(opts, false);
		return;
	}

	/* 2 */
	if (JB_ROOT_IS_SCALAR(options) || !JB_ROOT_IS_OBJECT(options))
	{
		JsonbValue	root;

		if (!JsonbExtractScalar(&options->root, &root))
		{
			root.type = jbvBinary;
			root.val.binary.data = &options->root;
			root.val.binary.len = VARSIZE(options) - VARHDRSZ;
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object"),
				 errdetail("The value given was %s.", OptionsDescribeValue(&root)),
				 errhint("Write the options as an object, for example {\"learning_rate\": 0.1, \"epochs\": 20}.")));
	}

	n_pairs = JsonContainerSize(&options->root);
	keys = (char **) palloc0(sizeof(char *) * (n_pairs + 1));
	values = (JsonbValue *) palloc0(sizeof(JsonbValue) * (n_pairs + 1));
	specs = (const OptionSpec **) palloc0(sizeof(OptionSpec *) *
										  (n_pairs + 1));
	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			keys[n] = StringValue(&v);
		else if (tok == WJB_VALUE)
			values[n++] = v;
	}
	Assert(n == n_pairs);

	/* 3 */
	for (int i = 0; i < n; i++)
		specs[i] = CheckKey(keys[i], &values[i], options, lr_find);

	/* 4 */
	for (int i = 0; i < n; i++)
	{
		if (specs[i]->parse == ParseModel)
			ParseOption(specs[i], &values[i], opts);
	}
	CheckFamily(opts, lr_find, recommender);
	for (int i = 0; i < n; i++)
	{
		if (specs[i]->parse == ParseOptimizer)
			ParseOption(specs[i], &values[i], opts);
	}
	for (int i = 0; i < n; i++)
	{
		if (specs[i]->parse == ParseModel ||
			specs[i]->parse == ParseOptimizer)
			continue;
		InScope(specs[i], opts, true);
		ParseOption(specs[i], &values[i], opts);
		if (strcmp(specs[i]->name, "base_batch_size") == 0)
			given_base = true;
	}

	/* 5 */
	CheckCombinations(opts, given_base);
}

/*
 * Fill opts from the options of a training call (lrml.train,
 * lrml.schedule); see ParseOptions.
 */
void
OptionsParse(Jsonb *options, TrainOptions *opts)
{
	ParseOptions(options, opts, false, false, false);
}

/*
 * Fill opts from the options of lrml.train_recommender: those of a
 * training call, with "model" "mf" (or "bpr") and the recommender
 * defaults; see ParseOptions.
 */
void
OptionsParseRecommender(Jsonb *options, TrainOptions *opts)
{
	ParseOptions(options, opts, false, true, false);
}

/*
 * Fill opts from the options of the aggregate lrml.fit: those of a
 * training call, plus on_group_error and without warm_start; see
 * ParseOptions.
 */
void
OptionsParseAggregate(Jsonb *options, TrainOptions *opts)
{
	ParseOptions(options, opts, false, false, true);
}

/*
 * Fill opts from the options of the aggregate lrml.fit_recommender: those
 * of lrml.train_recommender, plus on_group_error and without warm_start;
 * see ParseOptions.
 */
void
OptionsParseAggregateRecommender(Jsonb *options, TrainOptions *opts)
{
	ParseOptions(options, opts, false, true, true);
}

/*
 * Fill opts from the options of a learning-rate range test (lrml.lr_find):
 * those of a training call, plus start_lr, end_lr and num_steps; see
 * ParseOptions and CheckRangeTest.
 */
void
OptionsParseLrFind(Jsonb *options, TrainOptions *opts)
{
	ParseOptions(options, opts, true, false, false);
}


/*
 * Printing the resolved options
 */

/* Push a key into an object being built. */
static void
PushKey(JsonbParseState **state, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = pstrdup(key);
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
}

static void
PushString(JsonbParseState **state, const char *key, const char *value)
{
	JsonbValue	v;

	PushKey(state, key);
	v.type = jbvString;
	v.val.string.val = pstrdup(value);
	v.val.string.len = strlen(value);
	pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * Push a double as a JSON number in its shortest exact decimal form, so
 * that reading it back gives the same double.
 */
static void
PushNumber(JsonbParseState **state, const char *key, double value)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];
	Datum		num;
	JsonbValue	v;

	if (!isfinite(value))
		elog(ERROR, "option \"%s\" is not finite", key);
	double_to_shortest_decimal_buf(value, buf);
	num = DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
							  ObjectIdGetDatum(InvalidOid),
							  Int32GetDatum(-1));

	PushKey(state, key);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(num);
	pushJsonbValue(state, WJB_VALUE, &v);
}

static void
PushInteger(JsonbParseState **state, const char *key, int64 value)
{
	JsonbValue	v;

	PushKey(state, key);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric,
														Int64GetDatum(value)));
	pushJsonbValue(state, WJB_VALUE, &v);
}

static void
PushBool(JsonbParseState **state, const char *key, bool value)
{
	JsonbValue	v;

	PushKey(state, key);
	v.type = jbvBool;
	v.val.boolean = value;
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* Push a field of a plain type, read from base + offset. */
static void
PushPlain(JsonbParseState **state, const char *key, const ValueRule *rule,
		  const void *base, size_t offset, size_t size)
{
	const char *field = (const char *) base + offset;

	if (rule->type == OPTION_NUMBER)
		PushNumber(state, key, *(const double *) field);
	else if (rule->type == OPTION_INTEGER && size == sizeof(int64))
		PushInteger(state, key, *(const int64 *) field);
	else if (rule->type == OPTION_INTEGER)
		PushInteger(state, key, *(const int *) field);
	else if (rule->type == OPTION_BOOLEAN)
		PushBool(state, key, *(const bool *) field);
	else
		elog(ERROR, "option \"%s\" has no plain type", key);
}

/* Push early_stopping: false, or an object with its parameters. */
static void
PushEarlyStopping(JsonbParseState **state, const TrainOptions *opts)
{
	if (!opts->early_stopping)
	{
		PushBool(state, "early_stopping", false);
		return;
	}
	PushKey(state, "early_stopping");
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	PushInteger(state, "patience", opts->es_patience);
	PushNumber(state, "min_delta", opts->es_min_delta);
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/* Push multistep's milestones as an array of integers. */
static void
PushMilestones(JsonbParseState **state, const char *key,
			   const LearningSchedule *s)
{
	PushKey(state, key);
	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < s->n_milestones; i++)
	{
		Datum		num = DirectFunctionCall1(int8_numeric,
											  Int64GetDatum(s->milestones[i]));
		JsonbValue	v;

		v.type = jbvNumeric;
		v.val.numeric = DatumGetNumeric(num);
		pushJsonbValue(state, WJB_ELEM, &v);
	}
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
}

/* Push an mlp's hidden layer sizes as an array of integers. */
static void
PushHidden(JsonbParseState **state, const MlpShape *shape)
{
	PushKey(state, "hidden");
	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < shape->n_hidden; i++)
	{
		Datum		num = DirectFunctionCall1(int4_numeric,
											  Int32GetDatum(shape->hidden[i]));
		JsonbValue	v;

		v.type = jbvNumeric;
		v.val.numeric = DatumGetNumeric(num);
		pushJsonbValue(state, WJB_ELEM, &v);
	}
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
}

/* Push the schedule object: its name and every parameter. */
static void
PushSchedule(JsonbParseState **state, const LearningSchedule *s)
{
	const char *name = ScheduleName(s->kind);

	PushKey(state, "schedule");
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	PushString(state, "name", name);
	for (int i = 0; i < N_SCHEDULE_PARAMS; i++)
	{
		const ScheduleParam *param = &schedule_params[i];

		if (strcmp(param->schedule, name) != 0)
			continue;
		/* a total of 0 means "the run's length", not resolved yet */
		if (strcmp(param->name, "total") == 0 && s->total == 0)
			continue;
		if (param->parse == ParseMilestones)
			PushMilestones(state, param->name, s);
		else if (param->parse == ParseCyclicMode)
			PushString(state, param->name, CyclicModeName(s->cyclic_mode));
		else
			PushPlain(state, param->name, &param->rule, s, param->offset,
					  param->size);
	}
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/*
 * Return the resolved options as a jsonb object, for storing beside the
 * model: every supported key that applies to the chosen model and
 * optimizer, defaults included, with the schedule as an object holding
 * its name and all its parameters, and positive_class, warmup_epochs and
 * warmup_steps only if they were given (a warm-up only if not 0), and
 * lr_scaling and base_batch_size only if lr_scaling is not "none" (so
 * that options stored before lr_scaling existed print the same).
 * Parsing the result again gives the same options.  Call ScheduleResolve
 * first, so that a schedule's total is known (it is left out while it is
 * 0).
 */
Jsonb *
OptionsToJsonb(const TrainOptions *opts)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < N_OPTION_SPECS; i++)
	{
		const OptionSpec *spec = &option_specs[i];

		if (!spec->supported || !InScope(spec, opts, false))
			continue;
		/* a warm-up is printed only when there is one */
		if (spec->offset == offsetof(TrainOptions, schedule.warmup_epochs) &&
			opts->schedule.warmup_epochs == 0)
			continue;
		if (spec->offset == offsetof(TrainOptions, schedule.warmup_steps) &&
			opts->schedule.warmup_steps == 0)
			continue;
		/* and a warm start, with its own options */
		if ((spec->parse == ParseWarmStart ||
			 spec->offset == offsetof(TrainOptions, reset_optimizer) ||
			 spec->offset == offsetof(TrainOptions, extend_categories)) &&
			opts->warm_start == 0)
			continue;
		/* a recommender's sgd has no momentum, its ids no categories */
		if ((spec->offset == offsetof(TrainOptions, optimizer.momentum) ||
			 spec->offset == offsetof(TrainOptions, optimizer.nesterov) ||
			 spec->offset == offsetof(TrainOptions, extend_categories)) &&
			MODEL_IS_RECOMMENDER(opts->model))
			continue;
		/* an L1 penalty only when there is one */
		if (spec->offset == offsetof(TrainOptions, l1) && opts->l1 == 0.0)
			continue;
		/* a mode only when it is not the default */
		if (spec->parse == ParseMode && !opts->full_batch)
			continue;
		/* on_group_error only in the options of an aggregate */
		if (spec->parse == ParseOnGroupError && !opts->aggregate)
			continue;
		/* and a positive threshold */
		if (spec->offset == offsetof(TrainOptions, positive_threshold) &&
			isnan(opts->positive_threshold))
			continue;
		/* so is a scaling of the rate */
		if ((spec->parse == ParseLrScaling ||
			 spec->offset == offsetof(TrainOptions, base_batch_size)) &&
			opts->lr_scaling == LR_SCALING_NONE)
			continue;

		if (spec->rule.type != OPTION_CUSTOM)
			PushPlain(&state, spec->name, &spec->rule, opts, spec->offset,
					  spec->size);
		else if (spec->parse == ParseModel)
			PushString(&state, spec->name, ModelKindName(opts->model));
		else if (spec->parse == ParseOptimizer)
			PushString(&state, spec->name,
					   OptimizerName(opts->optimizer.kind));
		else if (spec->parse == ParseSchedule)
			PushSchedule(&state, &opts->schedule);
		else if (spec->parse == ParseScheduleUnit)
			PushString(&state, spec->name,
					   opts->schedule.unit_step ? "step" : "epoch");
		else if (spec->parse == ParseClassWeight &&
				 opts->class_weight_balanced)
			PushString(&state, spec->name, "balanced");
		else if (spec->parse == ParseClassWeight)
			PushNumber(&state, spec->name, opts->class_weight);
		else if (spec->parse == ParseEarlyStopping)
			PushEarlyStopping(&state, opts);
		else if (spec->parse == ParseDivergence)
			PushString(&state, spec->name,
					   opts->divergence_error ? "error" : "backoff");
		else if (spec->parse == ParseMode)
			PushString(&state, spec->name, "full_batch");
		else if (spec->parse == ParseOnGroupError)
			PushString(&state, spec->name,
					   opts->group_error_fail ? "error" : "null");
		else if (spec->parse == ParseLrScaling)
			PushString(&state, spec->name, LrScalingName(opts->lr_scaling));
		else if (spec->parse == ParseWarmStart &&
				 opts->warm_start == WARM_START_DEPLOYED)
			PushBool(&state, spec->name, true);
		else if (spec->parse == ParseWarmStart)
			PushInteger(&state, spec->name, opts->warm_start);
		else if (spec->parse == ParsePositiveClass &&
				 opts->positive_class != NULL)
			PushString(&state, spec->name, opts->positive_class);
		else if (spec->parse == ParseHidden)
			PushHidden(&state, &opts->mlp);
		else if (spec->parse == ParseActivation)
			PushString(&state, spec->name,
					   MlpActivationName(opts->mlp.activation));
		else if (spec->parse != ParsePositiveClass)
			elog(ERROR, "option \"%s\" cannot be printed", spec->name);
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);

	return JsonbValueToJsonb(result);
}
