/*-------------------------------------------------------------------------
 *
 * model_store.c
 *	  Stored models: the payload format, lrml.models and lrml.model_names,
 *	  deploy and drop.
 *
 * This file owns every read and write of the model store tables.  A model
 * version is one row of lrml.models; its learned parameters are a bytea
 * payload written with the portable pq_send* routines (network byte
 * order), so a dump restores on any platform:
 *
 *		uint32	magic "LRML"
 *		int32	format version (LRML_FORMAT_VERSION)
 *		int32	model kind (ModelKind)
 *		text	label, positive_label, negative_label
 *				(each int32 length, -1 for NULL, then the bytes)
 *		int32	length of the encoding block, then the block
 *				(FeatureEncodingWrite)
 *		float8	bias, y_center, y_scale
 *		logistic, linear:
 *		int32	number of weights n, then n float8 weights
 *		mlp (a classifier when it has label texts, else a regression):
 *		int32	mlp format version (LRML_MLP_FORMAT_VERSION)
 *		int32	activation (MlpActivation)
 *		int32	number of hidden layers h, then h int32 layer sizes
 *		int32	number of parameters n, then n float8 parameters
 *				(W_1, b_1, ..., W_L, b_L; see mlp.c)
 *
 * A recommender (kind mf or bpr) has only the magic, format version and
 * kind in common; its own layout follows (see mf_store.c), and its
 * factors are also stored as rows of lrml.factors.
 *
 * The loader refuses format versions it does not know and treats a short,
 * overlong or inconsistent payload, or a non-finite number in it, as
 * corrupt: an error, never a crash.
 *
 * Privileges come from row-level security on the tables (see the install
 * script); the functions here also check ownership explicitly first, so
 * that a refusal names the model and its owner.  Writers (store, deploy,
 * drop) take an advisory lock on the model name (LRML_LOCK_CLASS, hash of
 * the name), held to the end of the transaction and waited for like any
 * other lock, so concurrent trainings of one name get consecutive
 * versions.  Version numbers come from model_names.last_version and are
 * never handed out twice while the name exists (until the whole model is
 * dropped).  Each function connects
 * to SPI and finishes before it returns; values travel as parameters.
 * Memory handed back to callers is allocated in the context they name (or
 * the current one).
 *
 * src/model_store.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"
#include "mf.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* "LRML": first four bytes of every payload */
#define LRML_PAYLOAD_MAGIC	0x4C524D4C

/*
 * Version of the mlp part of a payload; the loader refuses others.  Old
 * kinds keep their layout, so the payload's own format version stays.
 */
#define LRML_MLP_FORMAT_VERSION	1

/* First key of the advisory lock on a model name ("lrml") */
#define LRML_LOCK_CLASS		0x6C726D6C

/* A payload being decoded, with what to call it in error messages */
typedef struct PayloadReader
{
	StringInfoData buf;
	const char *name;			/* model name, or NULL when unknown */
	int32		version;		/* model version, or 0 when unknown */
} PayloadReader;

static void PayloadCorrupt(PayloadReader *r, const char *detail)
			pg_attribute_noreturn();

/*
 * Report a corrupt payload (does not return).
 */
static void
PayloadCorrupt(PayloadReader *r, const char *detail)
{
	ModelStoreReportCorrupt(r->name, r->version, detail);
}

/*
 * Report a corrupt stored model (does not return): version version of
 * model name, or a model value when name is NULL; detail says what is
 * wrong.  Payload readers of every family report through here.
 */
void
ModelStoreReportCorrupt(const char *name, int32 version, const char *detail)
{
	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored model is corrupt"),
				 errdetail("%s", detail)));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("version %d of model \"%s\" is corrupt", version, name),
			 errdetail("%s", detail),
			 errhint("Drop this version with lrml.drop_model and train the model again.")));
}

/*
 * Fail unless n more bytes remain in the payload.
 */
static void
PayloadNeed(PayloadReader *r, int64 n)
{
	if (n < 0 || n > (int64) (r->buf.len - r->buf.cursor))
		PayloadCorrupt(r, psprintf("The payload ends after %d bytes.",
								   r->buf.len));
}

/*
 * Read an int32 from the payload.
 */
static int32
PayloadInt32(PayloadReader *r)
{
	PayloadNeed(r, 4);
	return (int32) pq_getmsgint(&r->buf, 4);
}

/*
 * Read a finite float8 from the payload; what names it in the error.
 */
static double
PayloadFloat8(PayloadReader *r, const char *what)
{
	double		v;

	PayloadNeed(r, 8);
	v = pq_getmsgfloat8(&r->buf);
	if (!isfinite(v))
		PayloadCorrupt(r, psprintf("The %s is not a finite number.", what));
	return v;
}

/*
 * Write a nullable string: its length (-1 for NULL), then its bytes.
 */
static void
PayloadWriteText(StringInfo buf, const char *s)
{
	int			len;

	if (s == NULL)
	{
		pq_sendint32(buf, -1);
		return;
	}
	len = strlen(s);
	pq_sendint32(buf, len);
	pq_sendbytes(buf, s, len);
}

/*
 * Read a nullable string written by PayloadWriteText.
 */
static char *
PayloadText(PayloadReader *r)
{
	int32		len = PayloadInt32(r);
	const char *bytes;

	if (len == -1)
		return NULL;
	PayloadNeed(r, len);
	bytes = pq_getmsgbytes(&r->buf, len);
	if (memchr(bytes, '\0', len) != NULL)
		PayloadCorrupt(r, "A label text contains a zero byte.");
	if (!pg_verifymbstr(bytes, len, true))
		PayloadCorrupt(r, "A label text is not valid in the database encoding.");
	return pnstrdup(bytes, len);
}

/*
 * Serialize a model into a payload, allocated in the current context.
 *
 * The parameters must be finite: the trainer validates them before it
 * stores a model, so a non-finite value here is an internal error.
 */
bytea *
ModelStoreSerialize(const LrmlModel *model)
{
	StringInfoData buf;
	StringInfoData enc;
	int			n;
	int			j;

	if (model->mf != NULL)
	{
		pq_begintypsend(&buf);
		pq_sendint32(&buf, LRML_PAYLOAD_MAGIC);
		pq_sendint32(&buf, LRML_FORMAT_VERSION);
		pq_sendint32(&buf, (int32) model->kind);
		MfPayloadWrite(&buf, model->mf);
		return pq_endtypsend(&buf);
	}

	n = (model->kind == MODEL_MLP) ? model->n_weights :
		model->encoding->n_inputs;
	if (!isfinite(model->bias) || !isfinite(model->y_center) ||
		!isfinite(model->y_scale))
		elog(ERROR, "cannot store a model with a non-finite bias or scale");
	for (j = 0; j < n; j++)
		if (!isfinite(model->w[j]))
			elog(ERROR, "cannot store a model with non-finite weight %d", j);

	pq_begintypsend(&buf);
	pq_sendint32(&buf, LRML_PAYLOAD_MAGIC);
	pq_sendint32(&buf, LRML_FORMAT_VERSION);
	pq_sendint32(&buf, (int32) model->kind);
	PayloadWriteText(&buf, model->label);
	PayloadWriteText(&buf, model->positive_label);
	PayloadWriteText(&buf, model->negative_label);

	/* the encoding goes in a block of its own, so its reader cannot overrun */
	initStringInfo(&enc);
	FeatureEncodingWrite(&enc, model->encoding);
	pq_sendint32(&buf, enc.len);
	pq_sendbytes(&buf, enc.data, enc.len);
	pfree(enc.data);

	pq_sendfloat8(&buf, model->bias);
	pq_sendfloat8(&buf, model->y_center);
	pq_sendfloat8(&buf, model->y_scale);
	if (model->kind == MODEL_MLP)
	{
		pq_sendint32(&buf, LRML_MLP_FORMAT_VERSION);
		pq_sendint32(&buf, (int32) model->mlp.activation);
		pq_sendint32(&buf, model->mlp.n_hidden);
		for (j = 0; j < model->mlp.n_hidden; j++)
			pq_sendint32(&buf, model->mlp.hidden[j]);
	}
	pq_sendint32(&buf, n);
	for (j = 0; j < n; j++)
		pq_sendfloat8(&buf, model->w[j]);
	return pq_endtypsend(&buf);
}

/*
 * Check that a decoded encoding is consistent, so that scoring can trust
 * its offsets and widths.
 */
static void
PayloadCheckEncoding(PayloadReader *r, const FeatureEncoding *enc)
{
	int			offset = 0;
	int			i;

	if (enc->n_columns < 1 || enc->n_inputs < 1 ||
		enc->n_inputs > LRML_MAX_INPUTS)
		PayloadCorrupt(r, "The feature encoding has no inputs or too many.");
	for (i = 0; i < enc->n_columns; i++)
	{
		const FeatureColumn *col = &enc->columns[i];

		if (col->offset != offset || col->width < 1 ||
			col->width > enc->n_inputs - offset)
			PayloadCorrupt(r, "The feature encoding has inconsistent offsets.");
		if (col->kind == FEATURE_CATEGORICAL ?
			col->n_categories != col->width : col->width != 1)
			PayloadCorrupt(r, "The feature encoding has inconsistent widths.");
		if (col->kind != FEATURE_CATEGORICAL && !isfinite(col->fill))
			PayloadCorrupt(r, "A NULL fill value is not a finite number.");
		offset += col->width;
	}
	if (offset != enc->n_inputs)
		PayloadCorrupt(r, "The feature encoding has inconsistent widths.");
	for (i = 0; i < enc->n_inputs; i++)
		if (!isfinite(enc->center[i]) || !isfinite(enc->scale[i]) ||
			enc->scale[i] == 0)
			PayloadCorrupt(r, "A feature scale is zero or not finite.");
}

/*
 * Error context callback: name the model whose encoding is being read.
 */
static void
PayloadErrorContext(void *arg)
{
	PayloadReader *r = (PayloadReader *) arg;

	if (r->name != NULL)
		errcontext("while reading the feature encoding of version %d of model \"%s\"",
				   r->version, r->name);
}

/*
 * Decode the mlp part of a payload into model, whose encoding is read:
 * its format version, shape and parameters.  The shape must fit the
 * bounds of the options, and the parameter count must match the shape
 * and the encoding, so that scoring can trust the layout.
 */
static void
PayloadDecodeMlp(PayloadReader *r, LrmlModel *model)
{
	MlpShape   *shape = &model->mlp;
	int32		format = PayloadInt32(r);
	int32		n;

	if (format != LRML_MLP_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 r->name ?
				 errmsg("model \"%s\" has mlp format version %d, which this build cannot read",
						r->name, format) :
				 errmsg("stored model has mlp format version %d, which this build cannot read",
						format),
				 errdetail("This build reads mlp format version %d.",
						   LRML_MLP_FORMAT_VERSION)));
	shape->activation = (MlpActivation) PayloadInt32(r);
	if (shape->activation != MLP_RELU && shape->activation != MLP_TANH)
		PayloadCorrupt(r, psprintf("The activation %d is not valid.",
								   (int) shape->activation));
	shape->n_hidden = PayloadInt32(r);
	if (shape->n_hidden < 1 || shape->n_hidden > LRML_MLP_MAX_LAYERS)
		PayloadCorrupt(r, psprintf("The number of hidden layers, %d, is not between 1 and %d.",
								   shape->n_hidden, LRML_MLP_MAX_LAYERS));
	for (int l = 0; l < shape->n_hidden; l++)
	{
		shape->hidden[l] = PayloadInt32(r);
		if (shape->hidden[l] < 1 || shape->hidden[l] > LRML_MLP_MAX_UNITS)
			PayloadCorrupt(r, psprintf("A hidden layer size, %d, is not between 1 and %d.",
									   shape->hidden[l], LRML_MLP_MAX_UNITS));
	}
	n = PayloadInt32(r);
	if ((int64) n != MlpParamCount(model->encoding->n_inputs, shape))
		PayloadCorrupt(r, "The number of parameters does not match the layers and the feature encoding.");
	PayloadNeed(r, (int64) n * 8);
	model->n_weights = n;
	model->w = palloc(sizeof(double) * n);
	for (int j = 0; j < n; j++)
		model->w[j] = PayloadFloat8(r, "parameter");
	if (r->buf.cursor != r->buf.len)
		PayloadCorrupt(r, "The payload has trailing bytes.");
}

/*
 * Fail unless format, read from a payload or its row, is the format
 * version this build reads; name (NULL for a value's payload) names the
 * model in the message.
 */
static void
CheckFormatVersion(const char *name, int32 format)
{
	if (format == LRML_FORMAT_VERSION)
		return;
	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stored model has format version %d, which this build cannot read",
						format),
				 errdetail("This build reads format version %d.",
						   LRML_FORMAT_VERSION)));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("model \"%s\" has format version %d, which this build cannot read",
					name, format),
			 errdetail("This build reads format version %d.",
					   LRML_FORMAT_VERSION),
			 errhint("Install the lrml version that stored it, or train the model again.")));
}

/*
 * Decode a payload (see the file header) into the current memory context.
 *
 * name and version only label error messages; name may be NULL.
 */
static LrmlModel *
PayloadDecode(bytea *payload, const char *name, int32 version)
{
	PayloadReader r;
	LrmlModel  *model = palloc0(sizeof(LrmlModel));
	StringInfoData block;
	ErrorContextCallback errcallback;
	int32		format;
	int32		len;
	int			j;

	/* 1. Header: magic, format version, kind and label texts */
	r.name = name;
	r.version = version;
	r.buf.data = VARDATA_ANY(payload);
	r.buf.len = VARSIZE_ANY_EXHDR(payload);
	r.buf.maxlen = r.buf.len;
	r.buf.cursor = 0;
	if (PayloadInt32(&r) != (int32) LRML_PAYLOAD_MAGIC)
		PayloadCorrupt(&r, "The payload does not start with the lrml magic number.");
	format = PayloadInt32(&r);
	CheckFormatVersion(name, format);
	model->kind = (ModelKind) PayloadInt32(&r);
	if (MODEL_IS_RECOMMENDER(model->kind))
	{
		model->mf = MfPayloadRead(&r.buf, model->kind, name, version);
		model->label = model->mf->rating_col;
		return model;
	}
	if (model->kind != MODEL_LOGISTIC && model->kind != MODEL_LINEAR &&
		model->kind != MODEL_MLP)
		PayloadCorrupt(&r, psprintf("The model kind %d is not valid.",
									(int) model->kind));
	model->label = PayloadText(&r);
	model->positive_label = PayloadText(&r);
	model->negative_label = PayloadText(&r);
	model->classifier = model->kind == MODEL_LOGISTIC ||
		(model->kind == MODEL_MLP &&
		 (model->positive_label != NULL || model->negative_label != NULL));
	if (model->classifier &&
		(model->positive_label == NULL || model->negative_label == NULL ||
		 strcmp(model->positive_label, model->negative_label) == 0))
		PayloadCorrupt(&r, "The classes of the classifier are missing or equal.");

	/* 2. The feature encoding, read from its own block */
	len = PayloadInt32(&r);
	PayloadNeed(&r, len);
	block.data = (char *) pq_getmsgbytes(&r.buf, len);
	block.len = len;
	block.maxlen = len;
	block.cursor = 0;
	errcallback.callback = PayloadErrorContext;
	errcallback.arg = &r;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	model->encoding = FeatureEncodingRead(&block);
	error_context_stack = errcallback.previous;
	if (block.cursor != block.len)
		PayloadCorrupt(&r, "The feature encoding block has trailing bytes.");
	PayloadCheckEncoding(&r, model->encoding);

	/* 3. Bias, target scaling and weights, all finite */
	model->bias = PayloadFloat8(&r, "bias");
	model->y_center = PayloadFloat8(&r, "target center");
	model->y_scale = PayloadFloat8(&r, "target scale");
	if (model->y_scale == 0)
		PayloadCorrupt(&r, "The target scale is zero.");
	if (model->kind == MODEL_MLP)
	{
		PayloadDecodeMlp(&r, model);
		return model;
	}
	model->n_weights = model->encoding->n_inputs;
	if (PayloadInt32(&r) != model->encoding->n_inputs)
		PayloadCorrupt(&r, "The number of weights does not match the feature encoding.");
	PayloadNeed(&r, (int64) model->encoding->n_inputs * 8);
	model->w = palloc(sizeof(double) * model->encoding->n_inputs);
	for (j = 0; j < model->encoding->n_inputs; j++)
	{
		model->w[j] = PayloadFloat8(&r, "weight");
		/* scoring divides each weight by its scale once */
		if (!isfinite(model->w[j] / model->encoding->scale[j]))
			PayloadCorrupt(&r, "A weight divided by its feature scale is not a finite number.");
	}
	if (r.buf.cursor != r.buf.len)
		PayloadCorrupt(&r, "The payload has trailing bytes.");
	return model;
}

/*
 * Decode a payload into the current memory context.
 *
 * Errors do not name the model; callers that know it use the loaders
 * below, whose messages do.
 */
LrmlModel *
ModelStoreDeserialize(bytea *payload)
{
	return PayloadDecode(payload, NULL, 0);
}

/*
 * Take the transaction-level advisory lock on a model name, waiting for
 * it as long as lock_timeout allows.
 *
 * The lock is (LRML_LOCK_CLASS, hashtext(name)), the same key as
 * pg_advisory_xact_lock(1819438444, hashtext(name)), so it shows in
 * pg_locks and the wait shows in pg_stat_activity.  It is an ordinary
 * heavyweight lock wait: the deadlock detector sees it (40P01), and
 * statement_timeout and cancel work as usual.  When lock_timeout expires,
 * the error is replaced by one that names the model (55P03).  Two names
 * with the same hash share a lock, which costs only some waiting.
 */
static void
LockModelName(const char *name)
{
	LOCKTAG		tag;
	uint32		hash;
	MemoryContext oldcxt = CurrentMemoryContext;

	hash = DatumGetUInt32(hash_any((const unsigned char *) name,
								   strlen(name)));
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, LRML_LOCK_CLASS, hash, 2);

	PG_TRY();
	{
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* CopyErrorData must not run in ErrorContext */
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
		{
			FreeErrorData(edata);
			PG_RE_THROW();
		}
		FlushErrorState();
		FreeErrorData(edata);

		/*
		 * Raise the replacement at once: the abort of the transaction
		 * takes us out of the lock's wait queue.
		 */
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("could not lock model \"%s\"", name),
				 errdetail("Another session is training, deploying or dropping it.")));
	}
	PG_END_TRY();
}

/*
 * Reject a NULL or empty model name.
 */
static char *
ModelNameArg(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	return name;
}

/*
 * Run a statement with text, int4, int8 and regrole parameters ("t", "i",
 * "l" and "r" in types, one letter per parameter; NULL values pass as SQL
 * NULL), read-only or not, and fail unless SPI returns expect.  SPI must
 * be connected.
 */
static int
ExecQuery(const char *sql, const char *types, Datum *values, bool *isnull,
		  bool read_only, int expect)
{
	int			n = strlen(types);
	Oid			argtypes[8];
	char		nulls[8];
	int			ret;
	int			i;

	Assert(n <= 8);
	memset(nulls, ' ', sizeof(nulls));
	for (i = 0; i < n; i++)
	{
		argtypes[i] = (types[i] == 't') ? TEXTOID :
			(types[i] == 'r') ? REGROLEOID :
			(types[i] == 'l') ? INT8OID : INT4OID;
		nulls[i] = (isnull != NULL && isnull[i]) ? 'n' : ' ';
	}
	ret = SPI_execute_with_args(sql, n, argtypes, values, nulls, read_only,
								0);
	if (ret != expect)
		elog(ERROR, "model store statement failed: %s",
			 SPI_result_code_string(ret));
	return ret;
}

/*
 * Run a statement (see ExecQuery) with read_only = false, so that in READ
 * COMMITTED each statement sees what committed before it started,
 * including versions stored while we waited for the model lock.
 */
static int
RunQuery(const char *sql, const char *types, Datum *values, bool *isnull,
		 int expect)
{
	return ExecQuery(sql, types, values, isnull, false, expect);
}

/*
 * Run a read-only SELECT (see ExecQuery) in the caller's snapshot and
 * return the number of rows in SPI_tuptable.
 */
static uint64
ReadQuery(const char *sql, const char *types, Datum *values)
{
	ExecQuery(sql, types, values, NULL, true, SPI_OK_SELECT);
	return SPI_processed;
}

/*
 * Does the model name exist?  If so, the current role must be a member of
 * its owner (superusers are members of every role), else error.  SPI
 * must be connected.
 */
static bool
CheckModelOwner(const char *name)
{
	Datum		values[1];
	bool		isnull;
	Oid			owner;
	char	   *owner_name;

	values[0] = CStringGetTextDatum(name);
	RunQuery("SELECT n.owner::pg_catalog.oid,"
			 " pg_catalog.pg_has_role(n.owner::pg_catalog.oid, 'MEMBER')"
			 " FROM lrml.model_names n"
			 " WHERE n.name OPERATOR(pg_catalog.=) $1",
			 "t", values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
								   SPI_tuptable->tupdesc, 2, &isnull)))
		return true;

	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1,
										   &isnull));
	owner_name = GetUserNameFromId(owner, true);
	if (owner_name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of model \"%s\"", name),
				 errdetail("Model \"%s\" is owned by a dropped role (OID %u).",
						   name, owner),
				 errhint("A superuser may deploy or drop it.")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("must be owner of model \"%s\"", name),
			 errdetail("Model \"%s\" is owned by role \"%s\".",
					   name, owner_name)));
	return true;				/* keep compiler quiet */
}

/*
 * Check, before an expensive training run, that the current role may
 * store a version of the model: the name is not empty and is new or owned
 * by (a role of) the current role.  ModelStoreSave checks again.
 */
void
ModelStoreCheckWritable(const char *name)
{
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	SPI_connect();
	(void) CheckModelOwner(name);
	SPI_finish();
}

/*
 * Insert the lrml.models row of a new version, trained by the current
 * role, and return its id.  SPI must be connected.
 */
static int64
InsertVersion(const char *name, int32 version, const char *source,
			  const LrmlModel *model, Jsonb *options, Jsonb *metrics,
			  bytea *optimizer_state, int32 parent_version)
{
	Oid			argtypes[13] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
		JSONBOID, JSONBOID, BYTEAOID, BYTEAOID, JSONBOID, INT4OID, REGROLEOID,
	INT4OID};
	Datum		values[13];
	char		nulls[13];
	bool		isnull;
	int			ret;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);
	values[2] = CStringGetTextDatum(ModelKindName(model->kind));
	values[3] = CStringGetTextDatum(source);
	if (model->label)
		values[4] = CStringGetTextDatum(model->label);
	else
		nulls[4] = 'n';
	values[5] = JsonbPGetDatum(model->mf ? MfDescribe(model->mf) :
							   FeatureEncodingToJsonb(model->encoding));
	values[6] = JsonbPGetDatum(options);
	values[7] = PointerGetDatum(ModelStoreSerialize(model));
	if (optimizer_state)
		values[8] = PointerGetDatum(optimizer_state);
	else
		nulls[8] = 'n';
	values[9] = JsonbPGetDatum(metrics);
	values[10] = Int32GetDatum(LRML_FORMAT_VERSION);
	values[11] = ObjectIdGetDatum(GetUserId());
	values[12] = Int32GetDatum(parent_version);
	if (parent_version <= 0)
		nulls[12] = 'n';

	ret = SPI_execute_with_args("INSERT INTO lrml.models (name, version,"
								" kind, source, label, features, options,"
								" parameters, optimizer_state, metrics,"
								" format_version, owner, parent_version)"
								" VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
								" $9, $10, $11, $12, $13) RETURNING id",
								13, argtypes, values, nulls, false, 1);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not insert model version: %s",
			 SPI_result_code_string(ret));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Return a one-dimensional array of n values of type elemtype; nulls[i]
 * marks NULL elements (nulls may be NULL for none).
 */
static Datum
CurveArray(Datum *values, bool *nulls, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  elemtype, typlen, typbyval,
											  typalign));
}

/*
 * Store the training curve of model version id in lrml.training_log: one
 * row per epoch, NaN losses and metrics as NULL, an empty event as NULL.
 * The rows go in one statement, the curve passed as arrays.  SPI must be
 * connected.
 */
static void
InsertTrainingLog(int64 id, const EpochRecord *curve, int n_epochs)
{
	Oid			argtypes[7] = {INT8OID, INT4ARRAYOID, FLOAT8ARRAYOID,
		FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, TEXTARRAYOID};
	Datum		args[7];
	Datum	   *col[6];
	bool	   *isnull[6];
	int			ret;

	if (n_epochs <= 0)
		return;
	for (int c = 0; c < 6; c++)
	{
		col[c] = palloc(sizeof(Datum) * n_epochs);
		isnull[c] = palloc0(sizeof(bool) * n_epochs);
	}
	for (int i = 0; i < n_epochs; i++)
	{
		const EpochRecord *e = &curve[i];

		col[0][i] = Int32GetDatum(e->epoch);
		col[1][i] = Float8GetDatum(e->lr);
		col[2][i] = Float8GetDatum(e->train_loss);
		col[3][i] = Float8GetDatum(e->valid_loss);
		col[4][i] = Float8GetDatum(e->valid_metric);
		isnull[2][i] = isnan(e->train_loss);
		isnull[3][i] = isnan(e->valid_loss);
		isnull[4][i] = isnan(e->valid_metric);
		isnull[5][i] = (e->event[0] == '\0');
		col[5][i] = isnull[5][i] ? (Datum) 0 : CStringGetTextDatum(e->event);
	}

	args[0] = Int64GetDatum(id);
	args[1] = CurveArray(col[0], NULL, n_epochs, INT4OID);
	for (int c = 1; c < 5; c++)
		args[c + 1] = CurveArray(col[c], isnull[c], n_epochs, FLOAT8OID);
	args[6] = CurveArray(col[5], isnull[5], n_epochs, TEXTOID);

	ret = SPI_execute_with_args("INSERT INTO lrml.training_log (model_id,"
								" epoch, lr, train_loss, valid_loss,"
								" valid_metric, event)"
								" SELECT $1, c.* FROM ROWS FROM"
								" (pg_catalog.unnest($2), pg_catalog.unnest($3),"
								" pg_catalog.unnest($4), pg_catalog.unnest($5),"
								" pg_catalog.unnest($6), pg_catalog.unnest($7))"
								" AS c",
								7, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert the training log: %s",
			 SPI_result_code_string(ret));
}

/*
 * Store the trials of a search in lrml.trials, beside version version of
 * model name (just stored by the caller, in this transaction): failed
 * trials with their reason and NULL losses.  The rows go in one
 * statement, the trials passed as arrays.
 */
void
ModelStoreSaveTrials(const char *name, int32 version,
					 const TrialRecord *trials, int n)
{
	Oid			argtypes[10] = {TEXTOID, INT4OID, INT4ARRAYOID,
		JSONBARRAYOID, TEXTARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID,
	FLOAT8ARRAYOID, BOOLARRAYOID, FLOAT8ARRAYOID};
	Datum		args[10];
	Datum	   *col[8];
	bool	   *isnull[8];
	int			ret;

	if (n <= 0)
		return;
	for (int c = 0; c < 8; c++)
	{
		col[c] = palloc(sizeof(Datum) * n);
		isnull[c] = palloc0(sizeof(bool) * n);
	}
	for (int i = 0; i < n; i++)
	{
		const TrialRecord *t = &trials[i];

		col[0][i] = Int32GetDatum(t->trial);
		col[1][i] = JsonbPGetDatum(t->params);
		col[2][i] = CStringGetTextDatum(t->ok ? "ok" : "failed");
		isnull[3][i] = t->ok;
		col[3][i] = t->ok ? (Datum) 0 : CStringGetTextDatum(t->reason);
		col[4][i] = Float8GetDatum(t->valid_loss);
		isnull[4][i] = !t->ok;
		col[5][i] = Float8GetDatum(t->valid_metric);
		isnull[5][i] = isnan(t->valid_metric);
		col[6][i] = BoolGetDatum(t->best);
		col[7][i] = Float8GetDatum(t->seconds);
	}

	args[0] = CStringGetTextDatum(name);
	args[1] = Int32GetDatum(version);
	args[2] = CurveArray(col[0], NULL, n, INT4OID);
	args[3] = CurveArray(col[1], NULL, n, JSONBOID);
	args[4] = CurveArray(col[2], NULL, n, TEXTOID);
	args[5] = CurveArray(col[3], isnull[3], n, TEXTOID);
	args[6] = CurveArray(col[4], isnull[4], n, FLOAT8OID);
	args[7] = CurveArray(col[5], isnull[5], n, FLOAT8OID);
	args[8] = CurveArray(col[6], NULL, n, BOOLOID);
	args[9] = CurveArray(col[7], NULL, n, FLOAT8OID);

	SPI_connect();
	ret = SPI_execute_with_args("INSERT INTO lrml.trials (model_id, trial,"
								" params, status, reason, valid_loss,"
								" valid_metric, best, seconds)"
								" SELECT m.id, c.* FROM lrml.models m,"
								" ROWS FROM (pg_catalog.unnest($3),"
								" pg_catalog.unnest($4), pg_catalog.unnest($5),"
								" pg_catalog.unnest($6), pg_catalog.unnest($7),"
								" pg_catalog.unnest($8), pg_catalog.unnest($9),"
								" pg_catalog.unnest($10)) AS c"
								" WHERE m.name OPERATOR(pg_catalog.=) $1"
								" AND m.version OPERATOR(pg_catalog.=) $2",
								10, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT || SPI_processed != (uint64) n)
		elog(ERROR, "could not insert the trials of model \"%s\": %s",
			 name, SPI_result_code_string(ret));
	SPI_finish();
}

/*
 * Replace a serialization failure or unique violation raised while
 * storing a version of name by a clear error; re-throw anything else.
 * Called in PG_CATCH; cxt is a memory context outside ErrorContext.
 *
 * In READ COMMITTED these cannot happen: the model lock orders the
 * writers and each statement sees what committed before it.  In
 * REPEATABLE READ or SERIALIZABLE, a version stored by another session
 * after our snapshot was taken is invisible to us, so bumping the name's
 * last_version (or registering the name) fails with 40001, or, failing
 * that, the insert of the version with 23505.
 *
 * XXX: under SERIALIZABLE a 40001 here could also come from a conflict
 * with the caller's other reads; it is reported the same way, and
 * retrying is the right answer to both.
 */
static void
ReportStoreConflict(const char *name, MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	if (edata->sqlerrcode != ERRCODE_T_R_SERIALIZATION_FAILURE &&
		edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
	{
		FreeErrorData(edata);
		PG_RE_THROW();
	}
	FlushErrorState();
	FreeErrorData(edata);
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not store model \"%s\"", name),
			 errdetail("Another session stored a version of it concurrently."),
			 errhint("Retry the training, or train in a READ COMMITTED transaction.")));
}

/*
 * Fail unless a new version of kind may join the versions of name: a name
 * holds recommenders or models of rows (classifiers and regressions), not
 * both, so that scoring it by name keeps working.  SPI must be connected.
 */
static void
CheckSameFamily(const char *name, ModelKind kind)
{
	Datum		values[1];
	char	   *newest;
	bool		recommender;

	values[0] = CStringGetTextDatum(name);
	RunQuery("SELECT m.kind FROM lrml.models m"
			 " WHERE m.name OPERATOR(pg_catalog.=) $1"
			 " ORDER BY m.version DESC LIMIT 1",
			 "t", values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	newest = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	recommender = strcmp(newest, "mf") == 0 || strcmp(newest, "bpr") == 0;
	if (recommender != MODEL_IS_RECOMMENDER(kind))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("a \"%s\" model cannot be a version of model \"%s\"",
						ModelKindName(kind), name),
				 errdetail("The versions of model \"%s\" are %s.", name,
						   recommender ? "recommenders" :
						   "classifiers or regression models"),
				 errhint("Use another model name, or drop the model first.")));
}

/*
 * Store a trained model as the next version of name and return the
 * version number.
 *
 * 1. Lock the name (waits for a concurrent training, deploy or drop of
 *	  the same name to commit or abort; see LockModelName).
 * 2. Check the caller may add versions, registering the name, owned by
 *	  the current role, if it is new.
 * 3. Version = last_version + 1 (so 1 for a new name), recorded in the
 *	  name's row, so that a dropped version's number is never handed out
 *	  again.  The highest stored version is taken into account too, in case
 *	  rows were inserted by hand.
 * 4. Insert the version, trained by the current role, and its curve.
 *
 * Steps 2 to 4 report a concurrent store under REPEATABLE READ or
 * SERIALIZABLE clearly (ReportStoreConflict).  options and metrics must
 * not be NULL; optimizer_state may be.  parent_version is the version a
 * warm start began from, 0 for none.  The lock is held to the end of
 * the transaction.
 */
int32
ModelStoreSave(const char *name, const char *source, const LrmlModel *model,
			   Jsonb *options, Jsonb *metrics, bytea *optimizer_state,
			   const EpochRecord *curve, int n_epochs, int32 parent_version)
{
	Datum		values[2];
	bool		isnull;
	int32		version = 0;
	int64		id;
	MemoryContext cxt;

	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	SPI_connect();
	cxt = CurrentMemoryContext;
	LockModelName(name);

	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(GetUserId());
	PG_TRY();
	{
		if (CheckModelOwner(name))
			CheckSameFamily(name, model->kind);
		else
			RunQuery("INSERT INTO lrml.model_names (name, owner)"
					 " VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
					 "tr", values, NULL, SPI_OK_INSERT);

		RunQuery("UPDATE lrml.model_names n"
				 " SET last_version = GREATEST(n.last_version,"
				 " (SELECT pg_catalog.max(m.version) FROM lrml.models m"
				 " WHERE m.name OPERATOR(pg_catalog.=) n.name))"
				 " OPERATOR(pg_catalog.+) 1"
				 " WHERE n.name OPERATOR(pg_catalog.=) $1"
				 " RETURNING n.last_version",
				 "t", values, NULL, SPI_OK_UPDATE_RETURNING);
		if (SPI_processed != 1)
			elog(ERROR, "model name \"%s\" vanished while storing a version",
				 name);
		version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1,
											  &isnull));

		id = InsertVersion(name, version, source, model, options, metrics,
						   optimizer_state, parent_version);
		InsertTrainingLog(id, curve, n_epochs);
		if (model->mf != NULL)
			MfStoreFactors(id, model->mf);
	}
	PG_CATCH();
	{
		ReportStoreConflict(name, cxt);
	}
	PG_END_TRY();
	SPI_finish();
	return version;
}

/*
 * Find the deployed version of a model: the pinned one, else the newest.
 * Sets *version and *store_relid (the OID of lrml.models, which changes
 * when the extension is recreated) and returns the version's id.
 *
 * SPI must be connected.  Runs read-only, in the caller's snapshot.  A
 * pinned version that no longer exists (rows deleted by hand) falls back
 * to the newest.
 */
static int64
LookupDeployed(const char *name, int32 *version, Oid *store_relid)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	int			ret;

	values[0] = CStringGetTextDatum(name);
	ret = SPI_execute_with_args("SELECT m.tableoid, m.id, m.version"
								" FROM lrml.model_names n"
								" JOIN lrml.models m"
								" ON m.name OPERATOR(pg_catalog.=) n.name"
								" WHERE n.name OPERATOR(pg_catalog.=) $1"
								" ORDER BY m.version OPERATOR(pg_catalog.=)"
								" n.deployed_version DESC NULLS LAST,"
								" m.version DESC LIMIT 1",
								1, argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up model: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		/* a name whose versions were all dropped one by one */
		ret = SPI_execute_with_args("SELECT 1 FROM lrml.model_names n"
									" WHERE n.name OPERATOR(pg_catalog.=) $1",
									1, argtypes, values, NULL, true, 1);
		if (ret == SPI_OK_SELECT && SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" has no versions", name),
					 errhint("Train it again, or drop it with lrml.drop_model.")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name)));
	}

	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	*store_relid = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
	*version = DatumGetInt32(SPI_getbinval(tuple, desc, 3, &isnull));
	return DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
}

/*
 * Read and decode model version id into a StoredModel allocated in mcxt.
 * SPI must be connected.
 */
static StoredModel *
FetchById(int64 id, MemoryContext mcxt)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	int32		format;
	StoredModel *stored;
	MemoryContext oldcxt;
	int			ret;

	values[0] = Int64GetDatum(id);
	ret = SPI_execute_with_args("SELECT m.name, m.version, m.source,"
								" m.format_version, m.parameters"
								" FROM lrml.models m"
								" WHERE m.id OPERATOR(pg_catalog.=) $1",
								1, argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read model: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model version with id " INT64_FORMAT
						" does not exist", id)));
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	oldcxt = MemoryContextSwitchTo(mcxt);
	stored = palloc0(sizeof(StoredModel));
	stored->id = id;
	stored->name = TextDatumGetCString(SPI_getbinval(tuple, desc, 1,
													 &isnull));
	stored->version = DatumGetInt32(SPI_getbinval(tuple, desc, 2, &isnull));
	stored->source = TextDatumGetCString(SPI_getbinval(tuple, desc, 3,
													   &isnull));
	format = DatumGetInt32(SPI_getbinval(tuple, desc, 4, &isnull));
	CheckFormatVersion(stored->name, format);
	stored->model = PayloadDecode(DatumGetByteaPP(SPI_getbinval(tuple, desc,
																5, &isnull)),
								  stored->name, stored->version);
	MemoryContextSwitchTo(oldcxt);
	return stored;
}

/*
 * Return the id of version *version of model name, or of its deployed
 * version for WARM_START_DEPLOYED (then set *version); fail with 42704
 * when there is none.  SPI must be connected.
 */
static int64
VersionId(const char *name, int32 *version)
{
	Datum		values[2];
	bool		isnull;

	if (*version == WARM_START_DEPLOYED)
	{
		Oid			relid;

		return LookupDeployed(name, version, &relid);
	}
	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(*version);
	if (ReadQuery("SELECT m.id FROM lrml.models m"
				  " WHERE m.name OPERATOR(pg_catalog.=) $1"
				  " AND m.version OPERATOR(pg_catalog.=) $2",
				  "ti", values) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("version %d of model \"%s\" does not exist",
						*version, name)));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Read version *version of model name (WARM_START_DEPLOYED: the deployed
 * one, whose number goes into *version) as it is stored: its payload,
 * options and metrics, copied into the current memory context.
 */
void
ModelStoreReadRow(const char *name, int32 *version, bytea **payload,
				  Jsonb **options, Jsonb **metrics)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		values[1];
	TupleDesc	desc;
	HeapTuple	tuple;
	bool		isnull;

	SPI_connect();
	values[0] = Int64GetDatum(VersionId(name, version));
	if (ReadQuery("SELECT m.parameters, m.options, m.metrics,"
				  " m.format_version FROM lrml.models m"
				  " WHERE m.id OPERATOR(pg_catalog.=) $1",
				  "l", values) != 1)
		elog(ERROR, "could not read version %d of model \"%s\"",
			 *version, name);
	desc = SPI_tuptable->tupdesc;
	tuple = SPI_tuptable->vals[0];
	/* as FetchById: a row of another format is not decoded as this one */
	CheckFormatVersion(name, DatumGetInt32(SPI_getbinval(tuple, desc, 4,
														 &isnull)));
	MemoryContextSwitchTo(cxt);
	*payload = DatumGetByteaPCopy(SPI_getbinval(tuple, desc, 1, &isnull));
	*options = DatumGetJsonbPCopy(SPI_getbinval(tuple, desc, 2, &isnull));
	*metrics = DatumGetJsonbPCopy(SPI_getbinval(tuple, desc, 3, &isnull));
	SPI_finish();
}

/*
 * Read version version of model name (WARM_START_DEPLOYED: the deployed
 * one), decoded, and its optimizer state (*optimizer_state, NULL when none
 * is stored), in the current memory context.
 */
StoredModel *
ModelStoreLoadVersion(const char *name, int32 version,
					  bytea **optimizer_state)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		values[1];
	StoredModel *stored;
	int64		id;
	bool		isnull;
	Datum		state;

	SPI_connect();
	id = VersionId(name, &version);
	stored = FetchById(id, cxt);

	values[0] = Int64GetDatum(id);
	if (ReadQuery("SELECT m.optimizer_state, m.kind FROM lrml.models m"
				  " WHERE m.id OPERATOR(pg_catalog.=) $1",
				  "l", values) != 1)
		elog(ERROR, "could not read the optimizer state of model \"%s\"",
			 name);
	/* the row's kind column must say what the payload holds */
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
			   ModelKindName(stored->model->kind)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("version %d of model \"%s\" is corrupt",
						stored->version, name),
				 errdetail("Its kind column does not match its parameters.")));
	state = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &isnull);
	*optimizer_state = NULL;
	if (!isnull)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		*optimizer_state = DatumGetByteaPCopy(state);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return stored;
}

/*
 * Find the kind of version version of model name (WARM_START_DEPLOYED: the
 * deployed one) as its row records it; return false when there is no
 * such version (nothing is raised: the caller reports it later).
 */
bool
ModelStoreVersionKind(const char *name, int32 version, ModelKind *kind)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	char	   *text = NULL;
	int			ret;

	SPI_connect();
	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);
	ret = SPI_execute_with_args(version == WARM_START_DEPLOYED ?
								"SELECT m.kind FROM lrml.model_names n"
								" JOIN lrml.models m"
								" ON m.name OPERATOR(pg_catalog.=) n.name"
								" WHERE n.name OPERATOR(pg_catalog.=) $1"
								" ORDER BY m.version OPERATOR(pg_catalog.=)"
								" n.deployed_version DESC NULLS LAST,"
								" m.version DESC LIMIT 1" :
								"SELECT m.kind FROM lrml.models m"
								" WHERE m.name OPERATOR(pg_catalog.=) $1"
								" AND m.version OPERATOR(pg_catalog.=) $2",
								version == WARM_START_DEPLOYED ? 1 : 2,
								argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up model: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
		text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_finish();
	for (ModelKind k = MODEL_LOGISTIC; text != NULL && k <= MODEL_BPR; k++)
		if (strcmp(text, ModelKindName(k)) == 0)
		{
			*kind = k;
			return true;
		}
	return false;
}

/*
 * Find the id of the deployed version of a model (see LookupDeployed).
 * Cheap: one indexed query, no payload read.  Errors with 42704 when the
 * model does not exist.
 */
int64
ModelStoreLookup(const char *name, int32 *version, Oid *store_relid)
{
	int64		id;

	SPI_connect();
	id = LookupDeployed(name, version, store_relid);
	SPI_finish();
	return id;
}

/*
 * Load and decode model version id into a StoredModel allocated in mcxt.
 */
StoredModel *
ModelStoreLoadById(int64 id, MemoryContext mcxt)
{
	StoredModel *stored;

	SPI_connect();
	stored = FetchById(id, mcxt);
	SPI_finish();
	return stored;
}

/*
 * Return the role that trained model version id (lrml.models.owner), or
 * InvalidOid when the version no longer exists.  The role may have been
 * dropped since.
 */
Oid
ModelStoreTrainedBy(int64 id)
{
	Datum		values[1];
	bool		isnull;
	Oid			owner = InvalidOid;

	SPI_connect();
	values[0] = Int64GetDatum(id);
	if (ReadQuery("SELECT m.owner::pg_catalog.oid FROM lrml.models m"
				  " WHERE m.id OPERATOR(pg_catalog.=) $1",
				  "l", values) == 1)
		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1,
											   &isnull));
	SPI_finish();
	return owner;
}

/*
 * Fail unless version of the model exists.  SPI must be connected.  Unlike
 * VersionId it reads with a new snapshot (RunQuery), so that lrml.deploy
 * and lrml.drop_model, which wait for the model's lock first, see a
 * version stored while they waited.
 */
static void
CheckVersionExists(const char *name, int32 version)
{
	Datum		values[2];

	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);
	RunQuery("SELECT 1 FROM lrml.models m"
			 " WHERE m.name OPERATOR(pg_catalog.=) $1"
			 " AND m.version OPERATOR(pg_catalog.=) $2",
			 "ti", values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("version %d of model \"%s\" does not exist",
						version, name)));
}

/*
 * lrml.deploy(model text, version int): pin the version used for scoring
 * by name, or with a NULL version return to the newest.
 */
PG_FUNCTION_INFO_V1(lrml_deploy);
Datum
lrml_deploy(PG_FUNCTION_ARGS)
{
	char	   *name = ModelNameArg(fcinfo, 0);
	Datum		values[2];
	bool		isnull[2] = {false, PG_ARGISNULL(1)};

	PreventCommandIfReadOnly("lrml.deploy()");
	values[0] = CStringGetTextDatum(name);
	values[1] = isnull[1] ? (Datum) 0 : PG_GETARG_DATUM(1);

	SPI_connect();
	LockModelName(name);
	if (!CheckModelOwner(name))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name)));
	if (!isnull[1])
		CheckVersionExists(name, DatumGetInt32(values[1]));
	RunQuery("UPDATE lrml.model_names SET deployed_version = $2"
			 " WHERE name OPERATOR(pg_catalog.=) $1",
			 "ti", values, isnull, SPI_OK_UPDATE);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * lrml.drop_model(model text, version int): drop one version, or the
 * whole model (every version, its training logs and its name) when
 * version is NULL.
 *
 * Dropping the pinned version unpins the model (scoring falls back to the
 * newest).  Dropping a version, even the newest or the only one, keeps
 * the name, its owner and last_version, so the number is never handed out
 * again; a name without versions scores as an error until it is trained
 * again.  Only dropping the whole model frees the name: its next training
 * starts a new model at version 1 and may be done by any role.
 */
PG_FUNCTION_INFO_V1(lrml_drop_model);
Datum
lrml_drop_model(PG_FUNCTION_ARGS)
{
	char	   *name = ModelNameArg(fcinfo, 0);
	Datum		values[2];

	PreventCommandIfReadOnly("lrml.drop_model()");
	values[0] = CStringGetTextDatum(name);
	values[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);

	SPI_connect();
	LockModelName(name);
	if (!CheckModelOwner(name))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name)));

	if (PG_ARGISNULL(1))
	{
		RunQuery("DELETE FROM lrml.model_names"
				 " WHERE name OPERATOR(pg_catalog.=) $1",
				 "t", values, NULL, SPI_OK_DELETE);
		SPI_finish();
		PG_RETURN_VOID();
	}

	CheckVersionExists(name, DatumGetInt32(values[1]));
	RunQuery("DELETE FROM lrml.models"
			 " WHERE name OPERATOR(pg_catalog.=) $1"
			 " AND version OPERATOR(pg_catalog.=) $2",
			 "ti", values, NULL, SPI_OK_DELETE);
	RunQuery("UPDATE lrml.model_names SET deployed_version = NULL"
			 " WHERE name OPERATOR(pg_catalog.=) $1"
			 " AND deployed_version OPERATOR(pg_catalog.=) $2",
			 "ti", values, NULL, SPI_OK_UPDATE);
	SPI_finish();
	PG_RETURN_VOID();
}
