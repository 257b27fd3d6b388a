/*-------------------------------------------------------------------------
 *
 * mf_aggregate.c
 *	  The aggregate lrml.fit_recommender: one recommender per group.
 *
 * lrml.fit_recommender(user_id anyelement, item_id anyelement, rating
 * float8, options jsonb) gathers the (user, item, rating) rows of its
 * group into an internal state: ids as int64 (integer types) or as
 * zero-terminated strings in one buffer (text types), ratings as doubles.
 * The user and item ids have one type, an integer type or text, as
 * PostgreSQL's polymorphism already requires of two anyelement arguments.
 * States combine by concatenation and serialize to bytea for parallel
 * workers; their size counts against lrml.memory_limit.
 *
 * Which rows carry a rating follows lrml.train_recommender: "mf" (the
 * default) and "bpr" with a positive_threshold read the rating, and rows
 * with a NULL user, item or rating are skipped and counted; "bpr" without
 * a threshold takes interaction rows, whose rating must be NULL (pass
 * NULL::float8), and skips rows with a NULL user or item.
 *
 * The final function sorts the group's rows (by user, item, rating; text
 * ids bytewise), maps the ids to indexes in that order and trains through
 * MfFit (mf.c), as lrml.train_recommender does, so that the model depends
 * on the rows and not on the order a plan delivers them in: a parallel
 * plan trains the same model as a serial one.  Group errors of SQLSTATE
 * class 22 (too few rows, a diverged run) give NULL and one NOTICE per
 * query, or fail the query with "on_group_error": "error", through
 * AggregateTrainGroup (aggregates.c).  Warm starts are refused: a group
 * has no stored version to start from.
 *
 * The model value's columns are "user_id", "item_id" and "rating" (NULL
 * for interaction rows), so lrml.evaluate of a saved value reads columns
 * of those names from the relation it is given.
 *
 * src/mf_aggregate.c
 *
 *-------------------------------------------------------------------------
 */
#include "mf.h"

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* Name of the aggregate, and of a group in error messages */
#define FIT_REC_SOURCE		"lrml.fit_recommender"
#define FIT_REC_GROUP_NAME	"lrml.fit_recommender group"

/*
 * The rows of one group of lrml.fit_recommender.  u and i hold integer
 * ids, or, for text ids, the offsets of their strings in text.
 */
typedef struct RecState
{
	Oid			id_typid;		/* base type of the ids */
	bool		is_text;
	bool		ratings;		/* rows carry a rating */
	int64		n_rows;
	int64		capacity;		/* rows u, i and r have room for */
	int64	   *u;
	int64	   *i;
	double	   *r;				/* NULL without ratings */
	char	   *text;			/* text ids, each ending in a zero byte */
	Size		text_len;
	Size		text_cap;
	int64		n_null;			/* rows skipped for a NULL value */
	Jsonb	   *options;		/* the first row's options */
} RecState;

/* Return the bytes a row takes in a state */
static inline Size
RowBytes(const RecState *state)
{
	return 2 * sizeof(int64) + (state->ratings ? sizeof(double) : 0);
}

/*
 * Create an empty state in aggcxt for ids of base type id_typid, with
 * the given options.
 */
static RecState *
RecStateNew(MemoryContext aggcxt, Oid id_typid, bool ratings,
			Jsonb *options)
{
	RecState   *state = MemoryContextAllocZero(aggcxt, sizeof(RecState));

	state->id_typid = id_typid;
	state->is_text = IdTypeIsText(id_typid);
	state->ratings = ratings;
	state->options = MemoryContextAlloc(aggcxt, VARSIZE(options));
	memcpy(state->options, options, VARSIZE(options));
	return state;
}

/*
 * Create the state of a group from its first row's id type and options,
 * after checking both, so that a wrong option or id type fails the query
 * at once instead of every group.
 */
static RecState *
RecStateCreate(MemoryContext aggcxt, Oid typid, Jsonb *options)
{
	TrainOptions opts;
	Oid			base = IdTypeCheck(typid, NULL, "user_id");

	OptionsParseAggregateRecommender(options, &opts);
	return RecStateNew(aggcxt, base, opts.model == MODEL_MF ||
					   !isnan(opts.positive_threshold), options);
}

/*
 * Make room for need rows and text_need bytes of text (doubling), within
 * lrml.memory_limit.
 */
static void
RecStateGrow(RecState *state, MemoryContext aggcxt, int64 need,
			 Size text_need)
{
	if (need > state->capacity)
	{
		int64		cap = Max(256, state->capacity);

		while (cap < need)
			cap *= 2;
		DatasetCheckMemory(add_size(mul_size(cap, RowBytes(state)),
									state->text_cap));
		if (state->u == NULL)
		{
			state->u = MemoryContextAllocHuge(aggcxt, sizeof(int64) * cap);
			state->i = MemoryContextAllocHuge(aggcxt, sizeof(int64) * cap);
			if (state->ratings)
				state->r = MemoryContextAllocHuge(aggcxt,
												  sizeof(double) * cap);
		}
		else
		{
			state->u = repalloc_huge(state->u, sizeof(int64) * cap);
			state->i = repalloc_huge(state->i, sizeof(int64) * cap);
			if (state->ratings)
				state->r = repalloc_huge(state->r, sizeof(double) * cap);
		}
		state->capacity = cap;
	}
	if (text_need > state->text_cap)
	{
		Size		cap = Max(4096, state->text_cap);

		while (cap < text_need)
			cap = mul_size(cap, 2);
		DatasetCheckMemory(add_size(mul_size(state->capacity,
											 RowBytes(state)), cap));
		if (state->text == NULL)
			state->text = MemoryContextAllocHuge(aggcxt, cap);
		else
			state->text = repalloc_huge(state->text, cap);
		state->text_cap = cap;
	}
}

/*
 * Return the id of argument argno as stored in a state: the integer, or
 * the offset of its text appended to the state's buffer.
 */
static int64
RecStateId(RecState *state, MemoryContext aggcxt, FunctionCallInfo fcinfo,
		   int argno)
{
	Datum		value = PG_GETARG_DATUM(argno);
	text	   *t;
	Size		len;
	int64		offset;

	if (!state->is_text)
		return IdIntValue(value, state->id_typid);
	t = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(t);
	RecStateGrow(state, aggcxt, state->n_rows + 1,
				 add_size(state->text_len, len + 1));
	offset = (int64) state->text_len;
	memcpy(state->text + offset, VARDATA_ANY(t), len);
	state->text[offset + len] = '\0';
	state->text_len += len + 1;
	return offset;
}

/*
 * lrml.fit_recommender_accum(state, user_id, item_id, rating, options):
 * add one row.
 *
 * Rows with a NULL user or item, and rows without a rating when the
 * model reads ratings, are skipped and counted.  A rating must be finite
 * and within LRML_MAX_ABS_VALUE; interaction rows (bpr without a
 * positive_threshold) must not have one.
 */
PG_FUNCTION_INFO_V1(lrml_fit_recommender_accum);
Datum
lrml_fit_recommender_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	RecState   *state;
	int64		n;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "lrml.fit_recommender_accum called in non-aggregate context");
	state = PG_ARGISNULL(0) ? NULL : (RecState *) PG_GETARG_POINTER(0);
	if (state == NULL)
	{
		Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 1);

		if (!OidIsValid(typid))
			elog(ERROR, "could not determine the id type of lrml.fit_recommender");
		state = RecStateCreate(aggcxt, typid, TrainOptionsArg(fcinfo, 4));
	}
	else
		AggregateCheckOptions(state->options, TrainOptionsArg(fcinfo, 4),
							  "lrml.fit_recommender");
	if (!state->ratings && !PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"bpr\" needs option \"positive_threshold\" with ratings"),
				 errhint("Set \"positive_threshold\" to the least rating that counts as a positive, or pass the rating as NULL to treat every row as one.")));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) ||
		(state->ratings && PG_ARGISNULL(3)))
	{
		state->n_null++;
		PG_RETURN_POINTER(state);
	}

	n = state->n_rows;
	RecStateGrow(state, aggcxt, n + 1, state->text_len);
	if (state->ratings)
	{
		double		r = PG_GETARG_FLOAT8(3);

		if (unlikely(!(fabs(r) <= LRML_MAX_ABS_VALUE)))
			FeatureRejectNumber("rating", r);
		state->r[n] = r;
	}
	state->u[n] = RecStateId(state, aggcxt, fcinfo, 1);
	state->i[n] = RecStateId(state, aggcxt, fcinfo, 2);
	state->n_rows++;
	PG_RETURN_POINTER(state);
}

/*
 * lrml.fit_recommender_combine(a, b): the rows of both states, in a (or
 * in a new state in the aggregate's context when a is NULL).
 */
PG_FUNCTION_INFO_V1(lrml_fit_recommender_combine);
Datum
lrml_fit_recommender_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	RecState   *a;
	RecState   *b;
	int64		shift;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "lrml.fit_recommender_combine called in non-aggregate context");
	a = PG_ARGISNULL(0) ? NULL : (RecState *) PG_GETARG_POINTER(0);
	b = PG_ARGISNULL(1) ? NULL : (RecState *) PG_GETARG_POINTER(1);
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
		a = RecStateNew(aggcxt, b->id_typid, b->ratings, b->options);
	AggregateCheckOptions(a->options, b->options, "lrml.fit_recommender");
	if (a->id_typid != b->id_typid || a->ratings != b->ratings)
		elog(ERROR, "lrml.fit_recommender cannot combine states of id types %u and %u",
			 a->id_typid, b->id_typid);

	a->n_null += b->n_null;
	RecStateGrow(a, aggcxt, a->n_rows + b->n_rows,
				 add_size(a->text_len, b->text_len));
	shift = a->is_text ? (int64) a->text_len : 0;
	for (int64 x = 0; x < b->n_rows; x++)
	{
		a->u[a->n_rows + x] = b->u[x] + shift;
		a->i[a->n_rows + x] = b->i[x] + shift;
	}
	if (a->ratings && b->n_rows > 0)
		memcpy(a->r + a->n_rows, b->r, sizeof(double) * b->n_rows);
	if (b->text_len > 0)
		memcpy(a->text + a->text_len, b->text, b->text_len);
	a->text_len += b->text_len;
	a->n_rows += b->n_rows;
	PG_RETURN_POINTER(a);
}

/*
 * lrml.fit_recommender_serial(state): the state as bytea, for a parallel
 * worker to hand to the leader.  Numbers are copied in the machine's own
 * format: a serialized state never leaves the server.
 */
PG_FUNCTION_INFO_V1(lrml_fit_recommender_serial);
Datum
lrml_fit_recommender_serial(PG_FUNCTION_ARGS)
{
	RecState   *state = (RecState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, state->id_typid);
	pq_sendbyte(&buf, state->ratings);
	pq_sendint64(&buf, state->n_rows);
	pq_sendint64(&buf, state->n_null);
	pq_sendint64(&buf, (int64) state->text_len);
	pq_sendint32(&buf, VARSIZE(state->options));
	pq_sendbytes(&buf, (char *) state->options, VARSIZE(state->options));
	pq_sendbytes(&buf, (char *) state->u, sizeof(int64) * state->n_rows);
	pq_sendbytes(&buf, (char *) state->i, sizeof(int64) * state->n_rows);
	if (state->ratings)
		pq_sendbytes(&buf, (char *) state->r,
					 sizeof(double) * state->n_rows);
	pq_sendbytes(&buf, state->text, state->text_len);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * lrml.fit_recommender_deserial(bytes, internal): a state from
 * lrml.fit_recommender_serial, in the current context.
 */
PG_FUNCTION_INFO_V1(lrml_fit_recommender_deserial);
Datum
lrml_fit_recommender_deserial(PG_FUNCTION_ARGS)
{
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);
	RecState   *state = palloc0(sizeof(RecState));
	StringInfoData buf;
	int64		text_len;
	int32		len;

	buf.data = VARDATA_ANY(bytes);
	buf.len = VARSIZE_ANY_EXHDR(bytes);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	state->id_typid = pq_getmsgint(&buf, 4);
	state->is_text = IdTypeIsText(state->id_typid);
	state->ratings = pq_getmsgbyte(&buf);
	state->n_rows = pq_getmsgint64(&buf);
	state->n_null = pq_getmsgint64(&buf);
	text_len = pq_getmsgint64(&buf);
	if (state->n_rows < 0 || state->n_rows > buf.len / 16 ||
		text_len < 0 || text_len > buf.len)
		elog(ERROR, "invalid lrml.fit_recommender state: " INT64_FORMAT " rows",
			 state->n_rows);
	len = pq_getmsgint(&buf, 4);
	if (len < (int32) VARHDRSZ || len > buf.len - buf.cursor)
		elog(ERROR, "invalid lrml.fit_recommender state: options of %d bytes",
			 len);
	state->options = palloc(len);
	pq_copymsgbytes(&buf, (char *) state->options, len);
	state->capacity = state->n_rows;
	state->u = palloc_extended(sizeof(int64) * Max(state->n_rows, 1),
							   MCXT_ALLOC_HUGE);
	state->i = palloc_extended(sizeof(int64) * Max(state->n_rows, 1),
							   MCXT_ALLOC_HUGE);
	pq_copymsgbytes(&buf, (char *) state->u, sizeof(int64) * state->n_rows);
	pq_copymsgbytes(&buf, (char *) state->i, sizeof(int64) * state->n_rows);
	if (state->ratings)
	{
		state->r = palloc_extended(sizeof(double) * Max(state->n_rows, 1),
								   MCXT_ALLOC_HUGE);
		pq_copymsgbytes(&buf, (char *) state->r,
						sizeof(double) * state->n_rows);
	}
	state->text_len = (Size) text_len;
	state->text_cap = (Size) text_len;
	if (text_len > 0)
	{
		state->text = palloc_extended(text_len, MCXT_ALLOC_HUGE);
		pq_copymsgbytes(&buf, state->text, text_len);
	}
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(state);
}

/* Compare two ids of a state: integers, or their texts bytewise */
static inline int
CompareId(const RecState *state, int64 a, int64 b)
{
	if (state->is_text)
		return strcmp(state->text + a, state->text + b);
	return (a > b) - (a < b);
}

/* qsort_arg comparator: rows of a state by user, item, then rating */
static int
CompareRecRows(const void *pa, const void *pb, void *arg)
{
	const RecState *state = (const RecState *) arg;
	int64		a = *(const int64 *) pa;
	int64		b = *(const int64 *) pb;
	int			c = CompareId(state, state->u[a], state->u[b]);

	if (c == 0)
		c = CompareId(state, state->i[a], state->i[b]);
	if (c == 0 && state->ratings)
		c = (state->r[a] > state->r[b]) - (state->r[a] < state->r[b]);
	return c;
}

/* Map one id of a state to its index in map, adding it if new */
static inline int32
MapRecId(IdMap *map, const RecState *state, int64 id)
{
	if (state->is_text)
		return IdMapAdd(map, 0, state->text + id);
	return IdMapAdd(map, id, NULL);
}

/*
 * Build the RatingData of a group, with its ids mapped into users and
 * items, in the current context.  The rows are sorted first (by user,
 * item and rating) and the ids mapped in that order, so the indexes, the
 * split and the model depend on the rows only; rows that compare equal
 * are identical.  The state itself is never changed: a final function
 * must leave its state as it was.
 */
static RatingData *
RecRatingData(const RecState *state, IdMap *users, IdMap *items)
{
	RatingData *data = palloc0(sizeof(RatingData));
	int64		n = state->n_rows;
	int64	   *order;

	DatasetCheckMemory(add_size(mul_size(n, RowBytes(state) +
										 2 * sizeof(int32) +
										 sizeof(double)),
								mul_size(state->text_len, 2)));
	order = palloc_extended(sizeof(int64) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int64 x = 0; x < n; x++)
		order[x] = x;
	qsort_arg(order, n, sizeof(int64), CompareRecRows, (void *) state);

	data->source = FIT_REC_SOURCE;
	data->id_typid = state->id_typid;
	data->n = n;
	data->n_read = n;
	data->n_null = state->n_null;
	data->u = palloc_extended(sizeof(int32) * Max(n, 1), MCXT_ALLOC_HUGE);
	data->i = palloc_extended(sizeof(int32) * Max(n, 1), MCXT_ALLOC_HUGE);
	if (state->ratings)
		data->r = palloc_extended(sizeof(double) * Max(n, 1),
								  MCXT_ALLOC_HUGE);
	IdMapInit(users, state->is_text, 1024);
	IdMapInit(items, state->is_text, 1024);
	for (int64 x = 0; x < n; x++)
	{
		int64		row = order[x];

		if ((x & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		data->u[x] = MapRecId(users, state, state->u[row]);
		data->i[x] = MapRecId(items, state, state->i[row]);
		if (state->ratings)
			data->r[x] = state->r[row];
	}
	pfree(order);
	return data;
}

/*
 * Train the recommender of one group into an lrml.model value in
 * result_cxt (an AggregateTrainer); everything else is allocated in the
 * current context.
 */
static bytea *
RecTrainer(const void *arg, TrainOptions *opts, MemoryContext result_cxt)
{
	const RecState *state = (const RecState *) arg;
	MfModel    *m = palloc0(sizeof(MfModel));
	RatingData *data = RecRatingData(state, &m->users, &m->items);
	MfFitResult fit;
	Jsonb	   *options;
	MemoryContext old;
	bytea	   *value;

	m->user_col = "user_id";
	m->item_col = "item_id";
	m->rating_col = state->ratings ? "rating" : NULL;
	MfFit(FIT_REC_SOURCE, FIT_REC_GROUP_NAME, data, m, opts, NULL, &fit);
	options = OptionsToJsonb(opts);
	old = MemoryContextSwitchTo(result_cxt);
	value = ModelValueBuild(fit.model, options, fit.metrics);
	MemoryContextSwitchTo(old);
	return value;
}

/*
 * lrml.fit_recommender_final(state): train the group's recommender
 * (AggregateTrainGroup), with the group's options (checked by the first
 * row already).
 */
PG_FUNCTION_INFO_V1(lrml_fit_recommender_final);
Datum
lrml_fit_recommender_final(PG_FUNCTION_ARGS)
{
	RecState   *state;
	TrainOptions opts;
	bytea	   *value;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (RecState *) PG_GETARG_POINTER(0);
	OptionsParseAggregateRecommender(state->options, &opts);
	opts.quiet = true;
	value = AggregateTrainGroup(fcinfo, FIT_REC_SOURCE, RecTrainer, state,
								&opts);
	if (value == NULL)
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(value);
}
