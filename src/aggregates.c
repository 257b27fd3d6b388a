/*-------------------------------------------------------------------------
 *
 * aggregates.c
 *	  The lrml.model value type, the aggregates lrml.fit and
 *	  lrml.gradient, and the group training all aggregates share.
 *
 * lrml.model is a trained model as a value: any kind lrml trains, with
 * the options it was trained with and its metrics, so that it can be
 * stored in any column, saved under a name (lrml.save) and scored
 * directly (score.c).  Its binary form, sent and received as is, is
 *
 *		uint32	magic "LRMV"
 *		int32	value format version (LRML_VALUE_FORMAT_VERSION)
 *		int32	length, then the model payload of ModelStoreSerialize
 *				(with its own magic "LRML" and format version)
 *		int32	length, then the resolved options as JSON text
 *		int32	length, then the metrics as JSON text
 *
 * in network byte order.  Its text form is "lrml.model/1:" followed by
 * the base64 of the binary form, so text and binary round-trip exactly.
 * Input of either form never trusts the bytes: every length is checked,
 * the payload is fully decoded (model_store.c refuses unknown versions
 * and inconsistent payloads) and both JSON texts must parse as objects.
 *
 * lrml.fit(features float8[], label anyelement, options jsonb) gathers
 * the rows of its group into an internal state (features as doubles,
 * labels as values or class codes), combines states by concatenation,
 * serializes them for parallel workers, and trains in the final function
 * through the same preparation and loop as lrml.train (TrainPrepareLoaded,
 * TrainFit), so every option of lrml.train applies and each group's
 * encoding, scaling and class weights are the group's own.  Feature
 * columns are the array positions, named x[1], x[2], ...; a NULL element
 * is a NULL value (imputed with the group's training mean).  Rows with a
 * NULL label are skipped and counted.
 *
 * The final function first sorts the group's rows (by label, then
 * features), so the model depends on the rows and not on the order in
 * which a plan delivers them: a parallel plan trains the same model as a
 * serial one.
 *
 * A group whose rows cannot train a model (one class only, too few rows,
 * a diverged run: an error of SQLSTATE class 22, data exception) yields
 * NULL, unless on_group_error is "error"; one NOTICE per query gives the
 * number of such groups and the first one's reason.
 * AggregateTrainGroup does this for lrml.fit and for lrml.fit_recommender
 * (mf_aggregate.c), whose final functions hand it their training.
 *
 * Such an error is caught with PG_TRY and no subtransaction.  That is
 * safe here because the final function's training is pure computation
 * over memory it owns: it reads no table, takes no lock, pins no buffer
 * and opens no file, so the error leaves nothing that only transaction
 * abort could release; everything it allocated lives in one context that
 * is deleted after the catch.  Errors of any other class (cancel, out of
 * memory, program limits, wrong types) are re-thrown.
 *
 * lrml.gradient(weights, features, label, options) sums the loss and its
 * gradient over its rows for given weights, with a fixed-size float8[]
 * state and an element-wise-sum combine, so that a parallel plan, or a
 * distributed engine that pushes partial aggregates to the nodes holding
 * the data, can compute it where the rows are.
 *
 * src/aggregates.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"
#include "mf.h"

#include "common/base64.h"
#include "common/shortest_dec.h"
#include "executor/executor.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* "LRMV": first four bytes of every lrml.model value */
#define LRML_VALUE_MAGIC	0x4C524D56

/* Version of the value's outer layout; the loader refuses others */
#define LRML_VALUE_FORMAT_VERSION	1

/* Prefix of the text form */
#define LRML_VALUE_PREFIX	"lrml.model/1:"

/* Name of a group in error messages, and the source of its model */
#define FIT_GROUP_NAME		"lrml.fit group"
#define FIT_SOURCE			"lrml.fit"

/*
 * The rows of one group of lrml.fit.  X is n_rows x d, row-major, NaN for
 * a NULL element; y holds the label's value when the label type is
 * numeric or boolean (numeric_type), else the code of its text in
 * label_text.
 */
typedef struct FitState
{
	int			d;				/* features per row; -1 before the first */
	int64		n_rows;
	int64		capacity;		/* rows X and y have room for */
	double	   *X;
	double	   *y;
	int64	   *n_null;			/* per feature: NULL elements */
	int64		n_null_label;	/* rows skipped for a NULL label */
	Oid			label_typid;	/* base type of the label */
	bool		numeric_type;	/* label stored as a value */
	int			n_label_texts;
	bool		too_many_labels;	/* more than LRML_MAX_LABEL_VALUES */
	char	   *label_text[LRML_MAX_LABEL_VALUES];
	Jsonb	   *options;		/* the first row's options */
	FmgrInfo   *outfunc;		/* label output function (accum only) */
} FitState;


/*
 * The value type
 */

/*
 * Lay out an lrml.model value from a serialized payload, options and
 * metrics, in the current context.
 */
static bytea *
ValueAssemble(bytea *payload, Jsonb *options, Jsonb *metrics)
{
	char	   *opt_text = JsonbToCString(NULL, &options->root,
										  VARSIZE(options));
	char	   *met_text = JsonbToCString(NULL, &metrics->root,
										  VARSIZE(metrics));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, LRML_VALUE_MAGIC);
	pq_sendint32(&buf, LRML_VALUE_FORMAT_VERSION);
	pq_sendint32(&buf, VARSIZE_ANY_EXHDR(payload));
	pq_sendbytes(&buf, VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload));
	pq_sendint32(&buf, strlen(opt_text));
	pq_sendbytes(&buf, opt_text, strlen(opt_text));
	pq_sendint32(&buf, strlen(met_text));
	pq_sendbytes(&buf, met_text, strlen(met_text));
	return pq_endtypsend(&buf);
}

/*
 * Build an lrml.model value from a trained model, its resolved options
 * and its metrics, in the current context.
 */
bytea *
ModelValueBuild(const LrmlModel *model, Jsonb *options, Jsonb *metrics)
{
	return ValueAssemble(ModelStoreSerialize(model), options, metrics);
}

/*
 * Fail for a value whose bytes do not form an lrml.model (does not
 * return).
 */
static void
ValueCorrupt(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid lrml.model value"),
			 errdetail("%s", detail)));
}

/* Read an int32 at *pos of data (len bytes), checking the bounds */
static int32
ValueInt32(const char *data, int len, int *pos)
{
	uint32		v;

	if (len - *pos < 4)
		ValueCorrupt("The value is shorter than its layout.");
	memcpy(&v, data + *pos, 4);
	*pos += 4;
	return (int32) pg_ntoh32(v);
}

/* Read a length-prefixed block at *pos; return where it starts */
static const char *
ValueBlock(const char *data, int len, int *pos, int32 *block_len)
{
	const char *start;

	*block_len = ValueInt32(data, len, pos);
	if (*block_len < 0 || *block_len > len - *pos)
		ValueCorrupt("A length in the value runs past its end.");
	start = data + *pos;
	*pos += *block_len;
	return start;
}

/* Error context of ValueJson: which JSON text of a value failed to parse */
static void
ValueJsonContext(void *arg)
{
	errcontext("reading the %s of an lrml.model value", (const char *) arg);
}

/* Parse a JSON object text of len bytes into jsonb */
static Jsonb *
ValueJson(const char *text, int32 len, const char *what)
{
	char	   *s = pnstrdup(text, len);
	Jsonb	   *j;
	ErrorContextCallback context;

	if ((int32) strlen(s) != len)
		ValueCorrupt(psprintf("The %s contain a zero byte.", what));
	if (!pg_verifymbstr(s, len, true))
		ValueCorrupt(psprintf("The %s are not valid in the database encoding.",
							  what));
	context.callback = ValueJsonContext;
	context.arg = unconstify(char *, what);
	context.previous = error_context_stack;
	error_context_stack = &context;
	j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
	error_context_stack = context.previous;
	if (!JB_ROOT_IS_OBJECT(j) || JB_ROOT_IS_SCALAR(j))
		ValueCorrupt(psprintf("The %s are not a JSON object.", what));
	return j;
}

/*
 * Decode the len bytes of an lrml.model value at data into the current
 * context: the model, and, if wanted (not NULL), its options and metrics.
 * Every check of the file header is made; the options and metrics are
 * parsed even when not wanted, so that input refuses bad ones.
 */
static LrmlModel *
ValueDecode(const char *data, int len, Jsonb **options, Jsonb **metrics)
{
	int			pos = 0;
	int32		format;
	int32		n;
	const char *block;
	bytea	   *payload;
	LrmlModel  *model;
	Jsonb	   *opt;
	Jsonb	   *met;

	if ((uint32) ValueInt32(data, len, &pos) != LRML_VALUE_MAGIC)
		ValueCorrupt("The value does not start with the lrml.model magic number.");
	format = ValueInt32(data, len, &pos);
	if (format != LRML_VALUE_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("lrml.model value has format version %d, which this build cannot read",
						format),
				 errdetail("This build reads format version %d.",
						   LRML_VALUE_FORMAT_VERSION)));
	block = ValueBlock(data, len, &pos, &n);
	payload = palloc(VARHDRSZ + n);
	SET_VARSIZE(payload, VARHDRSZ + n);
	memcpy(VARDATA(payload), block, n);
	model = ModelStoreDeserialize(payload);
	block = ValueBlock(data, len, &pos, &n);
	opt = ValueJson(block, n, "options");
	block = ValueBlock(data, len, &pos, &n);
	met = ValueJson(block, n, "metrics");
	if (pos != len)
		ValueCorrupt("The value has trailing bytes.");
	if (options)
		*options = opt;
	if (metrics)
		*metrics = met;
	return model;
}

/*
 * Decode an lrml.model value (possibly toasted) into the current context;
 * options and metrics may be NULL when not wanted.
 */
LrmlModel *
ModelValueDecode(bytea *value, Jsonb **options, Jsonb **metrics)
{
	return ValueDecode(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value),
					   options, metrics);
}

/*
 * lrml.model input: "lrml.model/1:" and the base64 of the binary form.
 */
PG_FUNCTION_INFO_V1(lrml_model_in);
Datum
lrml_model_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		prefix = strlen(LRML_VALUE_PREFIX);
	int			len;
	bytea	   *result;
	int			n;

	if (strncmp(str, LRML_VALUE_PREFIX, prefix) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type lrml.model"),
				 errdetail("The text form of a model starts with \"%s\".",
						   LRML_VALUE_PREFIX)));
	str += prefix;
	len = strlen(str);
	if (len > (int) (MaxAllocSize / 2))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("lrml.model text is too long")));
	result = palloc(VARHDRSZ + pg_b64_dec_len(len));
	n = pg_b64_decode(str, len, VARDATA(result), pg_b64_dec_len(len));
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type lrml.model"),
				 errdetail("The text after \"%s\" is not valid base64.",
						   LRML_VALUE_PREFIX)));
	SET_VARSIZE(result, VARHDRSZ + n);
	(void) ValueDecode(VARDATA(result), n, NULL, NULL);
	PG_RETURN_BYTEA_P(result);
}

/*
 * lrml.model output: the text form (see lrml_model_in).
 */
PG_FUNCTION_INFO_V1(lrml_model_out);
Datum
lrml_model_out(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_BYTEA_PP(0);
	int			len = VARSIZE_ANY_EXHDR(value);
	size_t		prefix = strlen(LRML_VALUE_PREFIX);
	int			enc_len = pg_b64_enc_len(len);
	char	   *out = palloc(prefix + enc_len + 1);
	int			n;

	memcpy(out, LRML_VALUE_PREFIX, prefix);
	n = pg_b64_encode(VARDATA_ANY(value), len, out + prefix, enc_len);
	if (n < 0)
		elog(ERROR, "could not encode an lrml.model value in base64");
	out[prefix + n] = '\0';
	PG_RETURN_CSTRING(out);
}

/*
 * lrml.model binary input: the binary form, checked as input is.
 */
PG_FUNCTION_INFO_V1(lrml_model_recv);
Datum
lrml_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			n = buf->len - buf->cursor;
	bytea	   *result = palloc(VARHDRSZ + n);

	SET_VARSIZE(result, VARHDRSZ + n);
	pq_copymsgbytes(buf, VARDATA(result), n);
	(void) ValueDecode(VARDATA(result), n, NULL, NULL);
	PG_RETURN_BYTEA_P(result);
}

/*
 * lrml.model binary output: the binary form as stored.
 */
PG_FUNCTION_INFO_V1(lrml_model_send);
Datum
lrml_model_send(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * lrml.load(model text, version int DEFAULT NULL): a stored version (the
 * deployed one when version is NULL) as an lrml.model value, holding its
 * payload, options and metrics as they are stored; lrml.save of it stores
 * the same model again.  The value is decoded once, so a version whose
 * payload is damaged fails here.
 */
PG_FUNCTION_INFO_V1(lrml_load);
Datum
lrml_load(PG_FUNCTION_ARGS)
{
	char	   *name;
	int32		version;
	bytea	   *payload;
	Jsonb	   *options;
	Jsonb	   *metrics;
	bytea	   *value;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	version = PG_ARGISNULL(1) ? WARM_START_DEPLOYED : PG_GETARG_INT32(1);
	if (!PG_ARGISNULL(1) && version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("version %d of model \"%s\" does not exist",
						version, name),
				 errdetail("Versions count from 1.")));
	ModelStoreReadRow(name, &version, &payload, &options, &metrics);
	value = ValueAssemble(payload, options, metrics);
	(void) ModelValueDecode(value, NULL, NULL);
	PG_RETURN_BYTEA_P(value);
}

/* Append "key": JSON string (or null) to an object text */
static void
InfoString(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, ", \"%s\": ", key);
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/*
 * Append the weights of a logistic or linear model to an object text:
 * ", "bias": b, "weights": [...]": b is the score (the log-odds of a
 * classifier, the label of a regression) of a row whose numbers are at
 * their training means, whose booleans are false and that has none of
 * the categories (every one-hot input 0); then one element per encoded
 * input with its
 * column (and category, null for the NULL category, for one-hot inputs),
 * "weight", the weight on the standardized input, and "per_unit", the
 * change of the score (the log-odds of a classifier, the label of a
 * regression) when the column grows by one unit (numbers, booleans) or
 * takes the category (one-hot inputs, which are not scaled).
 */
static void
InfoWeights(StringInfo buf, const LrmlModel *model)
{
	const FeatureEncoding *enc = model->encoding;
	double		unit = model->classifier ? 1.0 : model->y_scale;

	appendStringInfoString(buf, ", \"bias\": ");
	LrmlAppendJsonNumber(buf, model->classifier ? model->bias :
						 model->y_center + model->bias * unit);
	appendStringInfoString(buf, ", \"weights\": [");
	for (int c = 0; c < enc->n_columns; c++)
	{
		const FeatureColumn *col = &enc->columns[c];

		for (int i = 0; i < col->width; i++)
		{
			int			j = col->offset + i;

			if (j > 0)
				appendStringInfoString(buf, ", ");
			appendStringInfoString(buf, "{\"column\": ");
			escape_json(buf, col->name);
			if (col->kind == FEATURE_CATEGORICAL)
			{
				appendStringInfoString(buf, ", \"category\": ");
				if (col->categories[i] != NULL)
					escape_json(buf, col->categories[i]);
				else
					appendStringInfoString(buf, "null");
			}
			appendStringInfoString(buf, ", \"weight\": ");
			LrmlAppendJsonNumber(buf, model->w[j]);
			appendStringInfoString(buf, ", \"per_unit\": ");
			LrmlAppendJsonNumber(buf, model->w[j] / enc->scale[j] * unit);
			appendStringInfoChar(buf, '}');
		}
	}
	appendStringInfoChar(buf, ']');
}

/*
 * Describe a recommender value: its kind, biases, columns, id type,
 * users, items, factors and mean (MfDescribe), options and metrics.
 */
static Datum
RecommenderInfo(const LrmlModel *model, Jsonb *options, Jsonb *metrics)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"kind\": ");
	escape_json(&buf, ModelKindName(model->kind));
	appendStringInfo(&buf, ", \"classifier\": false, \"biases\": %s",
					 model->mf->biases ? "true" : "false");
	appendStringInfo(&buf, ", \"options\": %s",
					 JsonbToCString(NULL, &options->root, VARSIZE(options)));
	appendStringInfo(&buf, ", \"metrics\": %s}",
					 JsonbToCString(NULL, &metrics->root, VARSIZE(metrics)));
	return DirectFunctionCall2(jsonb_concat,
							   DirectFunctionCall1(jsonb_in,
												   CStringGetDatum(buf.data)),
							   JsonbPGetDatum(MfDescribe(model->mf)));
}

/*
 * lrml.model_info(m lrml.model): its kind, label and classes, inputs,
 * options, metrics and feature encoding, as a jsonb object.
 */
PG_FUNCTION_INFO_V1(lrml_model_info);
Datum
lrml_model_info(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_BYTEA_PP(0);
	Jsonb	   *options;
	Jsonb	   *metrics;
	LrmlModel  *model = ModelValueDecode(value, &options, &metrics);
	Jsonb	   *enc;
	StringInfoData buf;

	initStringInfo(&buf);
	if (model->mf != NULL)
		PG_RETURN_DATUM(RecommenderInfo(model, options, metrics));
	enc = FeatureEncodingToJsonb(model->encoding);
	appendStringInfoString(&buf, "{\"kind\": ");
	escape_json(&buf, ModelKindName(model->kind));
	appendStringInfo(&buf, ", \"classifier\": %s",
					 model->classifier ? "true" : "false");
	InfoString(&buf, "label", model->label);
	/* a boolean label's classes are stored as "t" and "f" */
	if (model->positive_label && model->negative_label &&
		strcmp(model->positive_label, "t") == 0 &&
		strcmp(model->negative_label, "f") == 0)
	{
		InfoString(&buf, "positive_class", "true");
		InfoString(&buf, "negative_class", "false");
	}
	else
	{
		InfoString(&buf, "positive_class", model->positive_label);
		InfoString(&buf, "negative_class", model->negative_label);
	}
	appendStringInfo(&buf, ", \"inputs\": %d", model->encoding->n_inputs);
	appendStringInfo(&buf, ", \"parameters\": %d",
					 model->kind == MODEL_MLP ? model->n_weights :
					 model->n_weights + 1);
	if (model->kind != MODEL_MLP)
		InfoWeights(&buf, model);
	appendStringInfo(&buf, ", \"options\": %s",
					 JsonbToCString(NULL, &options->root, VARSIZE(options)));
	appendStringInfo(&buf, ", \"metrics\": %s",
					 JsonbToCString(NULL, &metrics->root, VARSIZE(metrics)));
	appendStringInfo(&buf, ", \"encoding\": %s}",
					 JsonbToCString(NULL, &enc->root, VARSIZE(enc)));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in,
										CStringGetDatum(buf.data)));
}

/*
 * Return the options of a model value as they are stored: read as the
 * options of the call that trained it (defaults filled in), and checked
 * against what the value's parameters hold, so that a stored version never
 * contradicts itself (the text form of a value can be written by hand).
 * A value of an aggregate carries "on_group_error" and is read as an
 * aggregate's options; any other (lrml.load of a version that lrml.train
 * or lrml.train_recommender stored, perhaps warm-started or full-batch)
 * as a training call's, so that saving it stores its options unchanged.
 */
static Jsonb *
ValueOptions(const LrmlModel *model, Jsonb *options)
{
	TrainOptions opts;
	bool		same;
	JsonbValue	key;
	bool		aggregate;

	aggregate = getKeyJsonValueFromContainer(&options->root,
											 "on_group_error",
											 strlen("on_group_error"),
											 &key) != NULL;
	if (model->mf != NULL && aggregate)
		OptionsParseAggregateRecommender(options, &opts);
	else if (model->mf != NULL)
		OptionsParseRecommender(options, &opts);
	else if (aggregate)
		OptionsParseAggregate(options, &opts);
	else
		OptionsParse(options, &opts);
	same = opts.model == model->kind;
	if (same && model->kind == MODEL_MLP)
	{
		same = opts.mlp.n_hidden == model->mlp.n_hidden &&
			opts.mlp.activation == model->mlp.activation;
		for (int i = 0; same && i < model->mlp.n_hidden; i++)
			same = opts.mlp.hidden[i] == model->mlp.hidden[i];
	}
	if (same && model->mf != NULL)
		same = opts.factors == model->mf->k &&
			opts.biases == model->mf->biases &&
			(isnan(opts.positive_threshold) ?
			 isnan(model->mf->positive_threshold) :
			 opts.positive_threshold == model->mf->positive_threshold);
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the options of the lrml.model value do not describe its parameters"),
				 errdetail("The options name a \"%s\" model; the parameters are of a \"%s\" model, or of other layers or factors.",
						   ModelKindName(opts.model),
						   ModelKindName(model->kind))));
	return OptionsToJsonb(&opts);
}

/*
 * lrml.save(model text, m lrml.model): store m as the next version of the
 * named model, as a training call would (same lock, ownership and row
 * security), with source "lrml.save", its options and metrics, no
 * optimizer state and no training log; return the version.
 */
PG_FUNCTION_INFO_V1(lrml_save);
Datum
lrml_save(PG_FUNCTION_ARGS)
{
	char	   *name = TrainRequiredText(fcinfo, 0, "model");
	bytea	   *value;
	Jsonb	   *options;
	Jsonb	   *metrics;
	LrmlModel  *model;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"m\" must not be NULL"),
				 errhint("A group that could not be trained has a NULL model; filter it out with \"WHERE m IS NOT NULL\".")));
	TrainCheckStorable(name, "lrml.save()");
	value = PG_GETARG_BYTEA_PP(1);
	model = ModelValueDecode(value, &options, &metrics);
	PG_RETURN_INT32(ModelStoreSave(name, LRML_SAVE_SOURCE, model,
								   ValueOptions(model, options), metrics,
								   NULL, NULL, 0, 0));
}


/*
 * The aggregate lrml.fit
 */

/*
 * Create the state of a group in aggcxt for a label of type typid and the
 * group's first options, after checking both, so that a wrong option or
 * label type fails the query at once instead of every group.
 */
static FitState *
FitStateCreate(MemoryContext aggcxt, Oid typid, Jsonb *options)
{
	FitState   *state;
	TrainOptions opts;
	Oid			base = getBaseType(typid);
	FeatureKind kind = FeatureKindForType(base);
	Oid			outfunc;
	bool		varlena;

	OptionsParseAggregate(options, &opts);
	if (MODEL_IS_RECOMMENDER(opts.model))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("lrml.fit cannot train a \"%s\" model",
						ModelKindName(opts.model)),
				 errhint("Train recommenders with the aggregate lrml.fit_recommender, or with lrml.train_recommender.")));
	if (kind == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the label of lrml.fit cannot have type %s",
						format_type_be(typid)),
				 errhint("A classifier label may be a boolean, number, text or enum value.")));
	if (TrainLabelMode(&opts, NULL) == LABEL_BY_TYPE &&
		kind == FEATURE_NUMERIC &&
		(opts.class_weight_balanced || opts.class_weight != 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"class_weight\" applies only to classifiers"),
				 errdetail("The label given to lrml.fit is numeric, so the mlp is a regression."),
				 errhint("Remove \"class_weight\", or name the positive class with \"positive_class\" to train a classifier.")));
	if (TrainLabelMode(&opts, NULL) == LABEL_NUMBER &&
		kind != FEATURE_NUMERIC)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the label of a linear model must have a numeric type"),
				 errdetail("The label given to lrml.fit has type %s.",
						   format_type_be(typid)),
				 errhint("For a label of two values use \"model\": \"logistic\".")));

	state = MemoryContextAllocZero(aggcxt, sizeof(FitState));
	state->d = -1;
	state->label_typid = base;
	state->numeric_type = (kind != FEATURE_CATEGORICAL);
	state->options = (Jsonb *) MemoryContextAlloc(aggcxt, VARSIZE(options));
	memcpy(state->options, options, VARSIZE(options));
	if (!state->numeric_type)
	{
		state->outfunc = MemoryContextAlloc(aggcxt, sizeof(FmgrInfo));
		getTypeOutputInfo(base, &outfunc, &varlena);
		fmgr_info_cxt(outfunc, state->outfunc, aggcxt);
	}
	return state;
}

/*
 * Make room for at least one more row (doubling), within
 * lrml.memory_limit.
 */
static void
FitStateGrow(FitState *state, MemoryContext aggcxt, int64 need)
{
	int64		cap = Max(64, state->capacity);
	Size		bytes;
	Size		x_bytes;

	if (need <= state->capacity)
		return;
	while (cap < need)
		cap *= 2;
	bytes = mul_size(cap, mul_size(state->d + 1, sizeof(double)));
	DatasetCheckMemory(bytes);
	x_bytes = mul_size(cap, mul_size(state->d, sizeof(double)));
	if (state->X == NULL)
	{
		state->X = MemoryContextAllocHuge(aggcxt, x_bytes);
		state->y = MemoryContextAllocHuge(aggcxt,
										  mul_size(cap, sizeof(double)));
	}
	else
	{
		state->X = repalloc_huge(state->X, x_bytes);
		state->y = repalloc_huge(state->y, mul_size(cap, sizeof(double)));
	}
	state->capacity = cap;
}

/*
 * Set the number of features of a state from its first row.
 */
static void
FitStateSetWidth(FitState *state, MemoryContext aggcxt, int d)
{
	if (d < 1 || d > LRML_MAX_INPUTS)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("the features of lrml.fit must have between 1 and %d elements",
						LRML_MAX_INPUTS),
				 errdetail("The array given has %d elements.", d)));
	state->d = d;
	state->n_null = MemoryContextAllocZero(aggcxt, sizeof(int64) * d);
}

/* Fail for a row whose feature count differs from the group's */
static void
ReportWidth(int want, int got)
{
	ereport(ERROR,
			(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
			 errmsg("the feature arrays of one group of lrml.fit must have one length"),
			 errdetail("The group has rows of %d features and a row of %d.",
					   want, got)));
}

/* Return the class code of a label text, adding it if new */
static double
FitLabelCode(FitState *state, MemoryContext aggcxt, const char *text)
{
	for (int c = 0; c < state->n_label_texts; c++)
		if (strcmp(state->label_text[c], text) == 0)
			return (double) c;
	if (state->n_label_texts == LRML_MAX_LABEL_VALUES)
	{
		state->too_many_labels = true;
		return -1.0;
	}
	state->label_text[state->n_label_texts] =
		MemoryContextStrdup(aggcxt, text);
	return (double) state->n_label_texts++;
}

/*
 * Fail unless a row's options are the first row's: an aggregate trains
 * (or sums) with one set of options, whatever order a plan reads its rows
 * in.
 */
void
AggregateCheckOptions(Jsonb *first, Jsonb *options, const char *aggregate)
{
	if (VARSIZE(first) != VARSIZE(options) ||
		memcmp(first, options, VARSIZE(options)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the options of %s differ between rows", aggregate),
				 errhint("Pass the same options to every row of a group, for example as a constant.")));
}

/*
 * lrml.fit_accum(state, features, label, options): add one row.
 *
 * A NULL label skips the row (counted); NULL features are an error; a
 * NULL element is a NULL value of its feature.  Values must be finite and
 * within LRML_MAX_ABS_VALUE, as lrml.train requires.
 */
PG_FUNCTION_INFO_V1(lrml_fit_accum);
Datum
lrml_fit_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FitState   *state;
	ArrayType  *array;
	int			n;
	double	   *row;
	const double *data;
	bits8	   *nulls;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "lrml.fit_accum called in non-aggregate context");
	state = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	if (state == NULL)
	{
		Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 2);

		if (!OidIsValid(typid))
			elog(ERROR, "could not determine the label type of lrml.fit");
		state = FitStateCreate(aggcxt, typid, TrainOptionsArg(fcinfo, 3));
	}
	else
		AggregateCheckOptions(state->options, TrainOptionsArg(fcinfo, 3),
						 "lrml.fit");
	if (PG_ARGISNULL(2))
	{
		state->n_null_label++;
		PG_RETURN_POINTER(state);
	}
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"features\" of lrml.fit must not be NULL"),
				 errhint("NULL elements are allowed; filter out rows without features.")));

	array = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("input array must have one dimension"),
				 errdetail("The array given has %d dimensions.",
						   ARR_NDIM(array))));
	n = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	if (state->d < 0)
		FitStateSetWidth(state, aggcxt, n);
	else if (n != state->d)
		ReportWidth(state->d, n);
	FitStateGrow(state, aggcxt, state->n_rows + 1);

	/* 1. the features, NaN for NULL */
	row = state->X + state->n_rows * state->d;
	/* ARR_DATA_PTR, spelled out to keep -Wsign-compare quiet */
	data = (const double *) ((char *) array +
							 (ARR_HASNULL(array) ? (Size) array->dataoffset :
							  ARR_OVERHEAD_NONULLS(ARR_NDIM(array))));
	nulls = ARR_NULLBITMAP(array);
	for (int j = 0; j < n; j++)
	{
		if (nulls != NULL && (nulls[j / 8] & (1 << (j % 8))) == 0)
		{
			row[j] = get_float8_nan();
			state->n_null[j]++;
			continue;
		}
		row[j] = *data++;
		if (unlikely(!(fabs(row[j]) <= LRML_MAX_ABS_VALUE)))
			FeatureRejectNumber(psprintf("x[%d]", j + 1), row[j]);
	}

	/* 2. the label: a value, or the code of its text */
	if (state->numeric_type)
	{
		double		v = FeatureDatumToDouble(PG_GETARG_DATUM(2),
											 state->label_typid);

		if (unlikely(!(fabs(v) <= LRML_MAX_ABS_VALUE)))
			FeatureRejectNumber("label", v);
		state->y[state->n_rows] = v;
	}
	else
	{
		char	   *text = DatasetTextValue(PG_GETARG_DATUM(2),
											state->label_typid,
											state->outfunc);

		state->y[state->n_rows] = FitLabelCode(state, aggcxt, text);
		pfree(text);
	}
	state->n_rows++;
	PG_RETURN_POINTER(state);
}

/*
 * Append the rows of src to dst (whose width is set), remapping class
 * codes.
 */
static void
FitStateAppend(FitState *dst, const FitState *src, MemoryContext aggcxt)
{
	int			map[LRML_MAX_LABEL_VALUES];

	if (src->d >= 0 && src->d != dst->d)
		ReportWidth(dst->d, src->d);
	for (int c = 0; c < src->n_label_texts; c++)
		map[c] = (int) FitLabelCode(dst, aggcxt, src->label_text[c]);
	dst->too_many_labels |= src->too_many_labels;
	dst->n_null_label += src->n_null_label;
	if (src->n_rows == 0)
		return;
	for (int j = 0; j < dst->d; j++)
		dst->n_null[j] += src->n_null[j];
	FitStateGrow(dst, aggcxt, dst->n_rows + src->n_rows);
	memcpy(dst->X + dst->n_rows * dst->d, src->X,
		   sizeof(double) * src->n_rows * src->d);
	for (int64 i = 0; i < src->n_rows; i++)
	{
		double		v = src->y[i];

		if (!dst->numeric_type)
			v = (v < 0) ? -1.0 : (double) map[(int) v];
		dst->y[dst->n_rows + i] = v;
	}
	dst->n_rows += src->n_rows;
}

/*
 * lrml.fit_combine(a, b): the rows of both states, in a (or a copy of b
 * in the aggregate's context when a is NULL).
 */
PG_FUNCTION_INFO_V1(lrml_fit_combine);
Datum
lrml_fit_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FitState   *a;
	FitState   *b;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "lrml.fit_combine called in non-aggregate context");
	a = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	b = PG_ARGISNULL(1) ? NULL : (FitState *) PG_GETARG_POINTER(1);
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		a = MemoryContextAllocZero(aggcxt, sizeof(FitState));
		a->d = -1;
		a->label_typid = b->label_typid;
		a->numeric_type = b->numeric_type;
		a->options = MemoryContextAlloc(aggcxt, VARSIZE(b->options));
		memcpy(a->options, b->options, VARSIZE(b->options));
	}
	AggregateCheckOptions(a->options, b->options, "lrml.fit");
	if (a->d < 0 && b->d >= 0)
		FitStateSetWidth(a, aggcxt, b->d);
	if (b->d >= 0)
		FitStateAppend(a, b, aggcxt);
	else
		a->n_null_label += b->n_null_label;
	PG_RETURN_POINTER(a);
}

/*
 * lrml.fit_serial(state): the state as bytea, for a parallel worker to
 * hand to the leader.  Doubles are copied in the machine's own format:
 * a serialized state never leaves the server.
 */
PG_FUNCTION_INFO_V1(lrml_fit_serial);
Datum
lrml_fit_serial(PG_FUNCTION_ARGS)
{
	FitState   *state = (FitState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int			d = Max(state->d, 0);

	pq_begintypsend(&buf);
	pq_sendint32(&buf, state->d);
	pq_sendint64(&buf, state->n_rows);
	pq_sendint64(&buf, state->n_null_label);
	pq_sendint32(&buf, state->label_typid);
	pq_sendbyte(&buf, state->numeric_type);
	pq_sendbyte(&buf, state->too_many_labels);
	pq_sendint32(&buf, state->n_label_texts);
	for (int c = 0; c < state->n_label_texts; c++)
		pq_sendstring(&buf, state->label_text[c]);
	pq_sendint32(&buf, VARSIZE(state->options));
	pq_sendbytes(&buf, (char *) state->options, VARSIZE(state->options));
	for (int j = 0; j < d; j++)
		pq_sendint64(&buf, state->n_null[j]);
	pq_sendbytes(&buf, (char *) state->X,
				 sizeof(double) * state->n_rows * d);
	pq_sendbytes(&buf, (char *) state->y, sizeof(double) * state->n_rows);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * lrml.fit_deserial(bytes, internal): a state from lrml.fit_serial, in
 * the current context.
 */
PG_FUNCTION_INFO_V1(lrml_fit_deserial);
Datum
lrml_fit_deserial(PG_FUNCTION_ARGS)
{
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);
	FitState   *state = palloc0(sizeof(FitState));
	StringInfoData buf;
	int32		len;
	int			d;

	buf.data = VARDATA_ANY(bytes);
	buf.len = VARSIZE_ANY_EXHDR(bytes);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	state->d = pq_getmsgint(&buf, 4);
	state->n_rows = pq_getmsgint64(&buf);
	state->capacity = state->n_rows;
	state->n_null_label = pq_getmsgint64(&buf);
	state->label_typid = pq_getmsgint(&buf, 4);
	state->numeric_type = pq_getmsgbyte(&buf);
	state->too_many_labels = pq_getmsgbyte(&buf);
	state->n_label_texts = pq_getmsgint(&buf, 4);
	if (state->n_label_texts < 0 ||
		state->n_label_texts > LRML_MAX_LABEL_VALUES)
		elog(ERROR, "invalid lrml.fit state: %d label values",
			 state->n_label_texts);
	for (int c = 0; c < state->n_label_texts; c++)
		state->label_text[c] = pstrdup(pq_getmsgstring(&buf));
	len = pq_getmsgint(&buf, 4);
	state->options = palloc(len);
	pq_copymsgbytes(&buf, (char *) state->options, len);
	d = Max(state->d, 0);
	state->n_null = palloc0(sizeof(int64) * Max(d, 1));
	for (int j = 0; j < d; j++)
		state->n_null[j] = pq_getmsgint64(&buf);
	state->X = palloc_extended(Max(sizeof(double) * state->n_rows * d, 1),
							   MCXT_ALLOC_HUGE);
	pq_copymsgbytes(&buf, (char *) state->X,
					sizeof(double) * state->n_rows * d);
	state->y = palloc_extended(Max(sizeof(double) * state->n_rows, 1),
							   MCXT_ALLOC_HUGE);
	pq_copymsgbytes(&buf, (char *) state->y, sizeof(double) * state->n_rows);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(state);
}

/*
 * Return the text of a numeric or boolean class value, as lrml.train
 * names it: t or f, or the number (a real as PostgreSQL shows it).
 */
static char *
ClassValueText(Oid typid, double v)
{
	StringInfoData buf;

	if (typid == BOOLOID)
		return pstrdup(v != 0.0 ? "t" : "f");
	if (typid == FLOAT4OID)
	{
		char	   *s = palloc(FLOAT_SHORTEST_DECIMAL_LEN);

		float_to_shortest_decimal_buf((float) v, s);
		return s;
	}
	initStringInfo(&buf);
	LrmlAppendJsonNumber(&buf, v);
	return buf.data;
}

/* qsort comparator: strings by strcmp */
static int
CompareText(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Compare two doubles, NaN (a NULL element) after every number */
static inline int
CompareValue(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) - isnan(b);
	return (a > b) - (a < b);
}

/* What CompareRows compares: a state, and the rank of each class code */
typedef struct RowOrder
{
	const FitState *state;
	const int  *rank;			/* text labels: rank of code c; else NULL */
} RowOrder;

/* Return the label of row i as sorted: a value, or the rank of its class */
static inline double
SortLabel(const RowOrder *ro, int64 i)
{
	double		v = ro->state->y[i];

	return (ro->rank != NULL && v >= 0) ? (double) ro->rank[(int) v] : v;
}

/* qsort_arg comparator: rows of a state by label, then features */
static int
CompareRows(const void *pa, const void *pb, void *arg)
{
	const RowOrder *ro = (const RowOrder *) arg;
	const FitState *state = ro->state;
	int64		a = *(const int64 *) pa;
	int64		b = *(const int64 *) pb;
	const double *xa = state->X + a * state->d;
	const double *xb = state->X + b * state->d;
	int			c = CompareValue(SortLabel(ro, a), SortLabel(ro, b));

	for (int j = 0; c == 0 && j < state->d; j++)
		c = CompareValue(xa[j], xb[j]);
	return c;
}

/*
 * Copy the rows of a state, sorted by label and features, into *X and *y
 * (in the current context); a text label's codes become the ranks of
 * their texts (rank, or NULL for other labels).  The rows of a group
 * arrive in an order that depends on the plan (a parallel plan
 * interleaves its workers' rows, and class codes follow the order in
 * which classes were first seen); sorting first makes the split, the
 * shuffle and so the model depend on the rows only, so every plan trains
 * the same model.  Rows that compare equal are identical, so their order
 * does not matter.
 */
static void
SortedRows(const FitState *state, const int *rank, double **X, double **y)
{
	int64		n = state->n_rows;
	int			d = state->d;
	int64	   *order;
	RowOrder	ro;

	DatasetCheckMemory(mul_size(n, mul_size(d + 2, sizeof(double))));
	order = palloc_extended(sizeof(int64) * n, MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < n; i++)
		order[i] = i;
	ro.state = state;
	ro.rank = rank;
	qsort_arg(order, n, sizeof(int64), CompareRows, &ro);
	*X = palloc_extended(mul_size(n, mul_size(d, sizeof(double))),
						 MCXT_ALLOC_HUGE);
	*y = palloc_extended(mul_size(n, sizeof(double)), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < n; i++)
	{
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		memcpy(*X + i * d, state->X + order[i] * d, sizeof(double) * d);
		(*y)[i] = SortLabel(&ro, order[i]);
	}
	pfree(order);
}

/*
 * Build the RawData of a group from its state, in the current context,
 * with the rows in sorted order (SortedRows).  The state itself is never
 * changed: a final function must leave its state as it was.
 */
static RawData *
FitRawData(const FitState *state, const TrainOptions *opts)
{
	RawData    *raw = palloc0(sizeof(RawData));
	LabelMode	mode = TrainLabelMode(opts, NULL);

	if (state->n_rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the group has no rows with a non-NULL label")));
	raw->relation = FIT_GROUP_NAME;
	raw->source = FIT_SOURCE;
	raw->label = "label";
	raw->label_typid = state->label_typid;
	raw->numeric_label = mode == LABEL_NUMBER ||
		(mode == LABEL_BY_TYPE &&
		 FeatureKindForType(state->label_typid) == FEATURE_NUMERIC);
	raw->n_columns = state->d;
	raw->columns = palloc0(sizeof(RawColumn) * state->d);
	for (int j = 0; j < state->d; j++)
	{
		raw->columns[j].name = psprintf("x[%d]", j + 1);
		raw->columns[j].typid = FLOAT8OID;
		raw->columns[j].kind = FEATURE_NUMERIC;
		raw->columns[j].n_null = state->n_null[j];
	}
	raw->n_rows = state->n_rows;
	raw->n_null_label = state->n_null_label;
	if (state->too_many_labels && !raw->numeric_label)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label \"%s\" has more than %d distinct values; a logistic model needs exactly 2",
						raw->label, LRML_MAX_LABEL_VALUES)));

	/* text classes: codes become the ranks of their texts */
	if (!state->numeric_type)
	{
		int			rank[LRML_MAX_LABEL_VALUES];

		raw->n_label_values = state->n_label_texts;
		memcpy(raw->label_text, state->label_text,
			   sizeof(char *) * state->n_label_texts);
		qsort(raw->label_text, raw->n_label_values, sizeof(char *),
			  CompareText);
		for (int c = 0; c < state->n_label_texts; c++)
			for (int r = 0; r < raw->n_label_values; r++)
				if (strcmp(state->label_text[c], raw->label_text[r]) == 0)
					rank[c] = r;
		SortedRows(state, rank, &raw->values, &raw->y);
		return raw;
	}
	SortedRows(state, NULL, &raw->values, &raw->y);
	if (raw->numeric_label)
		return raw;

	/* numbers and booleans as classes: coded here, in sorted order */
	{
		double		seen[LRML_MAX_LABEL_VALUES] = {0};

		for (int64 i = 0; i < raw->n_rows; i++)
		{
			int			c;

			for (c = 0; c < raw->n_label_values; c++)
				if (seen[c] == raw->y[i])
					break;
			if (c == raw->n_label_values)
			{
				if (c == LRML_MAX_LABEL_VALUES)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("label \"%s\" has more than %d distinct values; a logistic model needs exactly 2",
									raw->label, LRML_MAX_LABEL_VALUES)));
				seen[c] = raw->y[i];
				raw->label_text[c] = ClassValueText(state->label_typid,
													seen[c]);
				raw->n_label_values++;
			}
			raw->y[i] = (double) c;
		}
	}
	return raw;
}

/*
 * Train the model of one group into an lrml.model value in result_cxt;
 * everything else is allocated in the current context.
 */
static bytea *
FitGroup(const FitState *state, TrainOptions *opts, MemoryContext result_cxt)
{
	RawData    *raw = FitRawData(state, opts);
	TrainInput	in;
	TrainFitResult fit;
	Jsonb	   *metrics;
	Jsonb	   *options;
	MemoryContext old;
	bytea	   *value;

	TrainPrepareLoaded(raw, false, opts, NULL, &in);
	TrainFit(FIT_SOURCE, opts, &in, &fit);
	metrics = TrainMetrics(&in, &fit);
	options = OptionsToJsonb(opts);
	old = MemoryContextSwitchTo(result_cxt);
	value = ModelValueBuild(in.model, options, metrics);
	MemoryContextSwitchTo(old);
	return value;
}

/*
 * The groups of one query that could not train (fn_extra of the final
 * function): their count and the first reason, reported in one NOTICE
 * when the query's executor shuts down.
 */
typedef struct FitFailures
{
	const char *aggname;		/* lrml.fit or lrml.fit_recommender */
	int64		n_failed;
	char	   *first_reason;
	bool		registered;		/* the shutdown callback is registered */
} FitFailures;

/*
 * Executor shutdown callback: report the query's failed groups in one
 * NOTICE.
 */
static void
FitReportFailures(Datum arg)
{
	FitFailures *ff = (FitFailures *) DatumGetPointer(arg);

	if (ff->n_failed > 0)
		ereport(NOTICE,
				(errmsg_plural("%s could not train the model of " INT64_FORMAT " group",
							   "%s could not train the models of " INT64_FORMAT " groups",
							   ff->n_failed, ff->aggname, ff->n_failed),
				 errdetail("The first failing group gave the error: %s.",
						   ff->first_reason),
				 errhint("Their models are NULL.  Set \"on_group_error\" to \"error\" to fail the query instead.")));
	ff->n_failed = 0;
	ff->registered = false;
}

/*
 * Note a group that could not train, with the error it gave.  Under a
 * plain aggregate node, the query's failures are counted and reported
 * once, when its executor shuts down (a query that fails later reports
 * nothing more); elsewhere (a window aggregate) each group reports at
 * once.
 */
static void
FitNoteFailure(FunctionCallInfo fcinfo, const char *aggname,
			   const char *reason)
{
	FitFailures *ff = (FitFailures *) fcinfo->flinfo->fn_extra;

	if (fcinfo->context == NULL || !IsA(fcinfo->context, AggState))
	{
		ereport(NOTICE,
				(errmsg("%s could not train the model of a group", aggname),
				 errdetail("Its rows gave the error: %s.", reason),
				 errhint("The group's model is NULL.  Set \"on_group_error\" to \"error\" to fail the query instead.")));
		return;
	}
	if (ff == NULL)
	{
		ff = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
									sizeof(FitFailures));
		ff->aggname = aggname;
		fcinfo->flinfo->fn_extra = ff;
	}
	if (!ff->registered)
	{
		/*
		 * An expression context of its own: the node's are reset per
		 * group, this one only when the executor state is freed.
		 */
		EState	   *estate = ((AggState *) fcinfo->context)->ss.ps.state;

		RegisterExprContextCallback(CreateExprContext(estate),
									FitReportFailures, PointerGetDatum(ff));
		ff->registered = true;
	}
	if (ff->n_failed++ == 0)
	{
		if (ff->first_reason)
			pfree(ff->first_reason);
		ff->first_reason = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt,
											   reason);
	}
}

/*
 * Train the model of one group with train(state, opts, result_cxt), for
 * the final function of aggregate aggname; return the lrml.model value,
 * or NULL for a group that could not train.
 *
 * 1. Train in a context of its own.  A data exception (SQLSTATE class
 *	  22) is caught, unless on_group_error is "error": the group yields
 *	  NULL, and the query reports its failed groups in one NOTICE
 *	  (FitNoteFailure).  See the file header for why catching without a
 *	  subtransaction is safe here.
 * 2. Delete the group's context either way.
 */
bytea *
AggregateTrainGroup(FunctionCallInfo fcinfo, const char *aggname,
					AggregateTrainer train, const void *state,
					TrainOptions *opts)
{
	MemoryContext result_cxt = CurrentMemoryContext;
	MemoryContext group_cxt;
	bytea	   *volatile value = NULL;
	ErrorData  *volatile edata = NULL;
	bool		fail = opts->group_error_fail;

	/* 1. */
	group_cxt = AllocSetContextCreate(CurrentMemoryContext, "lrml fit group",
									  ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		MemoryContextSwitchTo(group_cxt);
		value = train(state, opts, result_cxt);
		MemoryContextSwitchTo(result_cxt);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(result_cxt);
		edata = CopyErrorData();
		if (fail ||
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			PG_RE_THROW();
		FlushErrorState();
	}
	PG_END_TRY();

	/* 2. */
	MemoryContextDelete(group_cxt);
	if (value == NULL)
		FitNoteFailure(fcinfo, aggname, edata->message);
	return value;
}

/* AggregateTrainer of lrml.fit */
static bytea *
FitTrainer(const void *state, TrainOptions *opts, MemoryContext result_cxt)
{
	return FitGroup((const FitState *) state, opts, result_cxt);
}

/*
 * lrml.fit_final(state): train the group's model (AggregateTrainGroup),
 * with the group's options (checked by the first row already).
 */
PG_FUNCTION_INFO_V1(lrml_fit_final);
Datum
lrml_fit_final(PG_FUNCTION_ARGS)
{
	TrainOptions opts;
	bytea	   *value;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	OptionsParseAggregate(((FitState *) PG_GETARG_POINTER(0))->options,
						  &opts);
	opts.quiet = true;
	value = AggregateTrainGroup(fcinfo, FIT_SOURCE, FitTrainer,
								PG_GETARG_POINTER(0), &opts);
	if (value == NULL)
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(value);
}


/*
 * The aggregate lrml.gradient
 */

/* Leading elements of a gradient state: count, loss sum */
#define GRADIENT_HEAD	2

/*
 * Options of lrml.gradient, as read once per query (fn_extra): the loss,
 * and the options text they were read from.
 */
typedef struct GradientOptions
{
	Jsonb	   *options;		/* copy of the options read */
	bool		linear;			/* squared error; else logistic */
} GradientOptions;

/*
 * Return the options of lrml.gradient: "model" "logistic" (the default)
 * or "linear", nothing else.  They are read on the first row; every
 * later row must have the same.
 */
static const GradientOptions *
GradientReadOptions(FunctionCallInfo fcinfo)
{
	GradientOptions *go = (GradientOptions *) fcinfo->flinfo->fn_extra;
	Jsonb	   *options = TrainOptionsArg(fcinfo, 4);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		linear = false;

	if (go != NULL)
	{
		AggregateCheckOptions(go->options, options, "lrml.gradient");
		return go;
	}
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options of lrml.gradient must be a JSON object")));
	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		char	   *model = NULL;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		if (strcmp(key, "model") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized option of lrml.gradient: \"%s\"",
							key),
					 errhint("lrml.gradient takes only \"model\"; the caller applies the learning rate and the penalties.")));
		if (v.type == jbvString)
			model = pnstrdup(v.val.string.val, v.val.string.len);
		if (model == NULL ||
			(strcmp(model, "logistic") != 0 && strcmp(model, "linear") != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"model\" of lrml.gradient must be \"logistic\" or \"linear\"")));
		linear = strcmp(model, "linear") == 0;
	}
	if (go == NULL)
		go = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
									sizeof(GradientOptions));
	else
		pfree(go->options);
	go->options = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
									 VARSIZE(options));
	memcpy(go->options, options, VARSIZE(options));
	go->linear = linear;
	fcinfo->flinfo->fn_extra = go;
	return go;
}

/*
 * Return the elements of a one-dimensional float8 array without NULLs,
 * and its length in *n; what names the argument in errors.
 */
static double *
GradientVector(ArrayType *a, int *n, const char *what)
{
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"%s\" of lrml.gradient must have one dimension",
						what)));
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" of lrml.gradient must not contain NULL elements",
						what),
				 errhint("The caller encodes the features: impute NULL values, for example with the training mean.")));
	*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	/* ARR_DATA_PTR, spelled out to keep -Wsign-compare quiet */
	return (double *) ((char *) a +
					   (ARR_HASNULL(a) ? (Size) a->dataoffset :
						ARR_OVERHEAD_NONULLS(ARR_NDIM(a))));
}

/*
 * Return a row's label for lrml.gradient as a double: a boolean, or a
 * number (0 or 1 for the logistic loss).
 */
static double
GradientLabel(FunctionCallInfo fcinfo, bool linear)
{
	Oid			typid = getBaseType(get_fn_expr_argtype(fcinfo->flinfo, 3));
	double		y;

	if (FeatureKindForType(typid) != FEATURE_NUMERIC &&
		FeatureKindForType(typid) != FEATURE_BOOLEAN)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the label of lrml.gradient must be a boolean or a number"),
				 errdetail("The label given has type %s.",
						   format_type_be(typid))));
	y = FeatureDatumToDouble(PG_GETARG_DATUM(3), typid);
	if (!(fabs(y) <= LRML_MAX_ABS_VALUE))
		FeatureRejectNumber("label", y);
	if (!linear && y != 0.0 && y != 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the label of a logistic lrml.gradient must be 0 or 1"),
				 errdetail("A row has the label %g.", y)));
	return y;
}

/*
 * lrml.gradient_accum(state, weights, features, label, options): add one
 * row's loss and gradient.
 *
 * weights holds w_1 .. w_d and the bias b; the state is [n, L, g_1 ..
 * g_d, g_b], n the rows, L the loss sum, g the gradient sum.  For a row x
 * with label y, z = b + sum_j w_j x_j and
 *
 *		logistic: loss = log(1 + e^z) - y z,	dloss/dz = sigmoid(z) - y
 *		linear:   loss = (z - y)^2 / 2,			dloss/dz = z - y
 *
 * (log(1 + e^z) as max(z, 0) + log1p(e^-|z|), which cannot overflow);
 * g_j += dloss/dz * x_j, g_b += dloss/dz.  A row with a NULL label is
 * skipped.  Features must be finite; a non-finite loss is left for the
 * caller to see (divergence).
 */
PG_FUNCTION_INFO_V1(lrml_gradient_accum);
Datum
lrml_gradient_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	const GradientOptions *go;
	ArrayType  *state;
	double	   *s;
	const double *w;
	const double *x;
	int			nw;
	int			nx;
	int			ns;
	double		y;
	double		z;
	double		dz;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "lrml.gradient_accum called in non-aggregate context");
	go = GradientReadOptions(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"weights\" of lrml.gradient must not be NULL")));
	if (PG_ARGISNULL(3) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_ARRAYTYPE_P(PG_GETARG_ARRAYTYPE_P(0));
	}
	w = GradientVector(PG_GETARG_ARRAYTYPE_P(1), &nw, "weights");
	x = GradientVector(PG_GETARG_ARRAYTYPE_P(2), &nx, "features");
	if (nw != nx + 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("lrml.gradient needs one weight per feature and a bias"),
				 errdetail("%d weights were given for %d features.", nw, nx)));
	y = GradientLabel(fcinfo, go->linear);

	/* the state is created in the aggregate's context, then updated */
	if (PG_ARGISNULL(0))
	{
		MemoryContext old = MemoryContextSwitchTo(aggcxt);
		Datum	   *zeros = palloc(sizeof(Datum) * (nw + GRADIENT_HEAD));

		for (int k = 0; k < nw + GRADIENT_HEAD; k++)
			zeros[k] = Float8GetDatumFast(0.0);
		state = construct_array(zeros, nw + GRADIENT_HEAD, FLOAT8OID,
								sizeof(float8), FLOAT8PASSBYVAL,
								TYPALIGN_DOUBLE);
		MemoryContextSwitchTo(old);
	}
	else
		state = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(state) != 1 ||
		ARR_DIMS(state)[0] != nw + GRADIENT_HEAD)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("the weights of one lrml.gradient must have one length")));
	s = GradientVector(state, &ns, "state");

	/* bounded inputs keep every product, and so the sums, finite */
	if (!(fabs(w[nx]) <= LRML_MAX_ABS_VALUE))
		FeatureRejectNumber(psprintf("weights[%d]", nx + 1), w[nx]);
	z = w[nx];
	for (int j = 0; j < nx; j++)
	{
		if (!(fabs(w[j]) <= LRML_MAX_ABS_VALUE))
			FeatureRejectNumber(psprintf("weights[%d]", j + 1), w[j]);
		if (!(fabs(x[j]) <= LRML_MAX_ABS_VALUE))
			FeatureRejectNumber(psprintf("features[%d]", j + 1), x[j]);
		z += w[j] * x[j];
	}
	if (go->linear)
	{
		dz = z - y;
		s[1] += 0.5 * dz * dz;
	}
	else
	{
		dz = LrmlSigmoid(z) - y;
		s[1] += Max(z, 0.0) + log1p(exp(-fabs(z))) - y * z;
	}
	s[0] += 1.0;
	for (int j = 0; j < nx; j++)
		s[GRADIENT_HEAD + j] += dz * x[j];
	s[GRADIENT_HEAD + nx] += dz;
	PG_RETURN_ARRAYTYPE_P(state);
}

/*
 * lrml.gradient_combine(a, b): the element-wise sum of two states, in a.
 * Strict: the executor keeps the other state when one is NULL.
 */
PG_FUNCTION_INFO_V1(lrml_gradient_combine);
Datum
lrml_gradient_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	int			na;
	int			nb;
	double	   *sa;
	const double *sb;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "lrml.gradient_combine called in non-aggregate context");
	sa = GradientVector(a, &na, "state");
	sb = GradientVector(b, &nb, "state");
	if (na != nb)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("the weights of one lrml.gradient must have one length"),
				 errdetail("Partial sums of %d and %d elements were combined.",
						   na, nb)));
	for (int k = 0; k < na; k++)
		sa[k] += sb[k];
	PG_RETURN_ARRAYTYPE_P(a);
}
