/*-------------------------------------------------------------------------
 *
 * mf_store.c
 *	  Stored recommenders: their payload in lrml.models and their rows in
 *	  lrml.factors.
 *
 * model_store.c writes the common head of every payload (magic, format
 * version, kind) and hands the rest of a recommender's payload to this
 * file.  The payload is the whole model, so scoring decodes one value;
 * lrml.factors holds the same biases and factors as rows (one per user and
 * per item: model id, side, id as text, bias, factors float4[]), so that
 * they can be queried and joined.  After the head, in network byte order:
 *
 *		int32	id type (OID of int2, int4, int8, text or varchar)
 *		int32	k, biases (0 or 1)
 *		float8	mu, r_min, r_max
 *		text	user_col, item_col, rating_col (int32 length, -1 for NULL,
 *				then the bytes)
 *		bpr only: int32 has a positive threshold (0 or 1), float8 it
 *		int32	n_users, n_items
 *		per user, then per item: the id (int64, or text as above),
 *				float8 bias, k float4 factors
 *		per user: int32 number of seen items; then every user's seen item
 *				indexes (int32, increasing per user)
 *
 * The reader refuses anything short, overlong, out of range or not
 * finite as corrupt: an error, never a crash.  Results are allocated in
 * the current memory context.
 *
 * src/mf_store.c
 *
 *-------------------------------------------------------------------------
 */
#include "mf.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

/* lrml.factors rows inserted per statement */
#define FACTOR_ROWS_PER_INSERT 10000

/* A payload being read, with what to call it in error messages */
typedef struct MfReader
{
	StringInfo	buf;
	const char *name;
	int32		version;
} MfReader;

/*
 * Report a corrupt recommender payload (does not return).
 */
static void
MfCorrupt(MfReader *r, const char *detail)
{
	ModelStoreReportCorrupt(r->name, r->version, detail);
}

/* Fail unless n more bytes remain. */
static void
MfNeed(MfReader *r, int64 n)
{
	if (n < 0 || n > (int64) (r->buf->len - r->buf->cursor))
		MfCorrupt(r, "The recommender payload ends early.");
}

/* Read an int32. */
static int32
MfInt32(MfReader *r)
{
	MfNeed(r, 4);
	return (int32) pq_getmsgint(r->buf, 4);
}

/* Read a finite float8. */
static double
MfFloat8(MfReader *r)
{
	double		v;

	MfNeed(r, 8);
	v = pq_getmsgfloat8(r->buf);
	if (!isfinite(v))
		MfCorrupt(r, "A number of the recommender is not finite.");
	return v;
}

/* Write a nullable string: its length (-1 for NULL), then its bytes. */
static void
MfWriteText(StringInfo buf, const char *s)
{
	if (s == NULL)
	{
		pq_sendint32(buf, -1);
		return;
	}
	pq_sendint32(buf, strlen(s));
	pq_sendbytes(buf, s, strlen(s));
}

/* Read a string written by MfWriteText; NULL only if nullable. */
static char *
MfText(MfReader *r, bool nullable)
{
	int32		len = MfInt32(r);
	const char *bytes;

	if (len == -1 && nullable)
		return NULL;
	MfNeed(r, len);
	bytes = pq_getmsgbytes(r->buf, len);
	if (memchr(bytes, '\0', len) != NULL)
		MfCorrupt(r, "A text of the recommender contains a zero byte.");
	if (!pg_verifymbstr(bytes, len, true))
		MfCorrupt(r, "A text of the recommender is not valid in the database encoding.");
	return pnstrdup(bytes, len);
}

/* Write one side (users or items): ids, biases, factors. */
static void
WriteSide(StringInfo buf, const IdMap *map, const double *bias,
		  const float *F, int k)
{
	for (int32 x = 0; x < map->n; x++)
	{
		if (map->is_text)
			MfWriteText(buf, map->texts[x]);
		else
			pq_sendint64(buf, map->ints[x]);
		pq_sendfloat8(buf, bias[x]);
		for (int j = 0; j < k; j++)
			pq_sendfloat4(buf, F[(int64) x * k + j]);
	}
}

/*
 * Append the recommender's payload (after the common head) to buf.  The
 * model must be finite; the trainer checks it before storing.
 */
void
MfPayloadWrite(StringInfo buf, const MfModel *m)
{
	int32		n_users = m->users.n;

	pq_sendint32(buf, (int32) m->id_typid);
	pq_sendint32(buf, m->k);
	pq_sendint32(buf, m->biases ? 1 : 0);
	pq_sendfloat8(buf, m->mu);
	pq_sendfloat8(buf, m->r_min);
	pq_sendfloat8(buf, m->r_max);
	MfWriteText(buf, m->user_col);
	MfWriteText(buf, m->item_col);
	MfWriteText(buf, m->rating_col);
	if (m->kind == MODEL_BPR)
	{
		pq_sendint32(buf, isnan(m->positive_threshold) ? 0 : 1);
		pq_sendfloat8(buf, isnan(m->positive_threshold) ? 0.0 :
					  m->positive_threshold);
	}
	pq_sendint32(buf, n_users);
	pq_sendint32(buf, m->items.n);
	WriteSide(buf, &m->users, m->user_bias, m->P, m->k);
	WriteSide(buf, &m->items, m->item_bias, m->Q, m->k);
	for (int32 u = 0; u < n_users; u++)
		pq_sendint32(buf, (int32) (m->seen_start[u + 1] - m->seen_start[u]));
	for (int64 s = 0; s < m->seen_start[n_users]; s++)
		pq_sendint32(buf, m->seen_items[s]);
}

/* Read one side written by WriteSide into map, bias and F. */
static void
ReadSide(MfReader *r, IdMap *map, int32 n, bool is_text, double **bias,
		 float **F, int k)
{
	int64		per_row = (is_text ? 4 : 8) + 8 + 4 * (int64) k;

	/* a cheap bound before allocating: each row needs per_row bytes */
	MfNeed(r, (int64) n * per_row);
	IdMapInit(map, is_text, n);
	*bias = palloc_extended(sizeof(double) * Max(n, 1), MCXT_ALLOC_HUGE);
	*F = palloc_extended(sizeof(float) * Max((int64) n * k, 1),
						 MCXT_ALLOC_HUGE);
	for (int32 x = 0; x < n; x++)
	{
		int32		idx;

		if (is_text)
			idx = IdMapAdd(map, 0, MfText(r, false));
		else
		{
			MfNeed(r, 8);
			idx = IdMapAdd(map, pq_getmsgint64(r->buf), NULL);
		}
		if (idx != x)
			MfCorrupt(r, "An id of the recommender appears twice.");
		(*bias)[x] = MfFloat8(r);
		if (fabs((*bias)[x]) > LRML_MF_MAX_ABS_BIAS)
			MfCorrupt(r, "A bias of the recommender is out of range.");
		MfNeed(r, 4 * (int64) k);
		for (int j = 0; j < k; j++)
		{
			float		f = pq_getmsgfloat4(r->buf);

			if (!(fabsf(f) <= LRML_MF_MAX_ABS_FACTOR))
				MfCorrupt(r, "A factor of the recommender is not finite or out of range.");
			(*F)[(int64) x * k + j] = f;
		}
	}
}

/*
 * Read a recommender's payload of the given kind from buf (its cursor
 * after the common head) into a new MfModel.  name and version label
 * error messages; name may be NULL.
 */
MfModel *
MfPayloadRead(StringInfo buf, ModelKind kind, const char *name,
			  int32 version)
{
	MfReader	r;
	MfModel    *m = palloc0(sizeof(MfModel));
	int32		n_users;
	int32		n_items;
	bool		is_text;

	r.buf = buf;
	r.name = name;
	r.version = version;
	m->kind = kind;
	m->id_typid = (Oid) MfInt32(&r);
	if (m->id_typid != INT2OID && m->id_typid != INT4OID &&
		m->id_typid != INT8OID && !IdTypeIsText(m->id_typid))
		MfCorrupt(&r, "The id type of the recommender is not valid.");
	is_text = IdTypeIsText(m->id_typid);
	m->k = MfInt32(&r);
	if (m->k < 1 || m->k > LRML_MAX_FACTORS)
		MfCorrupt(&r, "The number of factors is out of range.");
	m->biases = MfInt32(&r) != 0;
	m->mu = MfFloat8(&r);
	m->r_min = MfFloat8(&r);
	m->r_max = MfFloat8(&r);
	if (m->r_min > m->r_max)
		MfCorrupt(&r, "The rating range is empty.");
	/*
	 * Ratings are bounded as when training, and so their mean (0 for bpr,
	 * whose scores are not clipped: its range is unbounded).
	 */
	if (fabs(m->mu) > LRML_MAX_ABS_VALUE ||
		(kind == MODEL_MF &&
		 (fabs(m->r_min) > LRML_MAX_ABS_VALUE ||
		  fabs(m->r_max) > LRML_MAX_ABS_VALUE)))
		MfCorrupt(&r, "The mean or the range of the ratings is out of range.");
	m->user_col = MfText(&r, false);
	m->item_col = MfText(&r, false);
	m->rating_col = MfText(&r, true);
	m->positive_threshold = get_float8_nan();
	if (kind == MODEL_BPR)
	{
		bool		has = MfInt32(&r) != 0;
		double		threshold = MfFloat8(&r);

		if (has)
			m->positive_threshold = threshold;
	}
	/* what the rows were: ratings (mf; bpr with a threshold) or not */
	if ((kind == MODEL_MF && m->rating_col == NULL) ||
		(kind == MODEL_BPR &&
		 (m->rating_col == NULL) != isnan(m->positive_threshold)))
		MfCorrupt(&r, "The rating column does not match the model kind and its positive threshold.");
	n_users = MfInt32(&r);
	n_items = MfInt32(&r);
	if (n_users < 1 || n_items < 1)
		MfCorrupt(&r, "The recommender has no users or no items.");

	ReadSide(&r, &m->users, n_users, is_text, &m->user_bias, &m->P, m->k);
	ReadSide(&r, &m->items, n_items, is_text, &m->item_bias, &m->Q, m->k);
	/* biases training never learns are 0: bpr's users', or all without */
	for (int32 u = 0; u < n_users; u++)
		if (m->user_bias[u] != 0.0 && (kind == MODEL_BPR || !m->biases))
			MfCorrupt(&r, "A user bias is set that the model does not have.");
	for (int32 i = 0; i < n_items; i++)
		if (m->item_bias[i] != 0.0 && !m->biases)
			MfCorrupt(&r, "An item bias is set that the model does not have.");

	MfNeed(&r, 4 * (int64) n_users);
	m->seen_start = palloc_extended(sizeof(int64) * (n_users + 1),
									MCXT_ALLOC_HUGE);
	m->seen_start[0] = 0;
	for (int32 u = 0; u < n_users; u++)
	{
		int32		c = MfInt32(&r);

		if (c < 0 || c > n_items)
			MfCorrupt(&r, "A seen-item count is out of range.");
		m->seen_start[u + 1] = m->seen_start[u] + c;
	}
	MfNeed(&r, 4 * m->seen_start[n_users]);
	m->seen_items = palloc_extended(sizeof(int32) *
									Max(m->seen_start[n_users], 1),
									MCXT_ALLOC_HUGE);
	for (int32 u = 0; u < n_users; u++)
	{
		for (int64 s = m->seen_start[u]; s < m->seen_start[u + 1]; s++)
		{
			int32		item = MfInt32(&r);

			if (item < 0 || item >= n_items ||
				(s > m->seen_start[u] && item <= m->seen_items[s - 1]))
				MfCorrupt(&r, "A seen item is out of range or out of order.");
			m->seen_items[s] = item;
		}
	}
	if (buf->cursor != buf->len)
		MfCorrupt(&r, "The payload has trailing bytes.");
	return m;
}

/*
 * Return the description of a recommender stored in lrml.models.features:
 * its columns, id type and sizes.
 */
Jsonb *
MfDescribe(const MfModel *m)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"user_col\": ");
	escape_json(&buf, m->user_col);
	appendStringInfoString(&buf, ", \"item_col\": ");
	escape_json(&buf, m->item_col);
	appendStringInfoString(&buf, ", \"rating_col\": ");
	if (m->rating_col)
		escape_json(&buf, m->rating_col);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", \"id_type\": ");
	escape_json(&buf, format_type_be(m->id_typid));
	appendStringInfo(&buf, ", \"users\": %d, \"items\": %d, \"factors\": %d",
					 m->users.n, m->items.n, m->k);
	appendStringInfoString(&buf, ", \"global_mean\": ");
	LrmlAppendJsonNumber(&buf, m->mu);
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(buf.data)));
}

/*
 * Insert rows first .. first + n - 1 of one side into lrml.factors.
 */
static void
InsertSideRows(int64 model_id, const char *side, const IdMap *map,
			   const double *bias, const float *F, int k, int32 first,
			   int32 n)
{
	Oid			argtypes[5] = {INT8OID, TEXTOID, TEXTARRAYOID,
		FLOAT8ARRAYOID, FLOAT4ARRAYOID};
	Datum		args[5];
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *biases = palloc(sizeof(Datum) * n);
	Datum	   *factors = palloc(sizeof(Datum) * (int64) n * k);
	char	   *sql;
	int			ret;

	for (int32 x = 0; x < n; x++)
	{
		ids[x] = CStringGetTextDatum(IdMapText(map, first + x));
		biases[x] = Float8GetDatum(bias[first + x]);
		for (int j = 0; j < k; j++)
			factors[(int64) x * k + j] =
				Float4GetDatum(F[(int64) (first + x) * k + j]);
	}
	args[0] = Int64GetDatum(model_id);
	args[1] = CStringGetTextDatum(side);
	args[2] = PointerGetDatum(construct_array(ids, n, TEXTOID, -1, false,
											  TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(biases, n, FLOAT8OID, 8,
											  FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
	args[4] = PointerGetDatum(construct_array(factors, n * k, FLOAT4OID, 4,
											  true, TYPALIGN_INT));
	sql = psprintf("INSERT INTO lrml.factors"
				   " (model_id, side, id, bias, factors)"
				   " SELECT $1, $2, f.id, f.bias,"
				   " $5[(f.o - 1) * %d + 1 : f.o * %d]"
				   " FROM ROWS FROM (pg_catalog.unnest($3),"
				   " pg_catalog.unnest($4))"
				   " WITH ORDINALITY AS f (id, bias, o)", k, k);
	ret = SPI_execute_with_args(sql, 5, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert recommender factors: %s",
			 SPI_result_code_string(ret));
	pfree(ids);
	pfree(biases);
	pfree(factors);
}

/*
 * Store the factors of model version model_id in lrml.factors: one row per
 * user and per item.  SPI must be connected (ModelStoreSave).
 */
void
MfStoreFactors(int64 model_id, const MfModel *m)
{
	for (int32 first = 0; first < m->users.n; first += FACTOR_ROWS_PER_INSERT)
	{
		CHECK_FOR_INTERRUPTS();
		InsertSideRows(model_id, "user", &m->users, m->user_bias, m->P, m->k,
					   first, Min(FACTOR_ROWS_PER_INSERT, m->users.n - first));
	}
	for (int32 first = 0; first < m->items.n; first += FACTOR_ROWS_PER_INSERT)
	{
		CHECK_FOR_INTERRUPTS();
		InsertSideRows(model_id, "item", &m->items, m->item_bias, m->Q, m->k,
					   first, Min(FACTOR_ROWS_PER_INSERT, m->items.n - first));
	}
}
