/*-------------------------------------------------------------------------
 *
 * ratings.c
 *	  Read (user, item[, rating]) rows for recommenders, and map user and
 *	  item ids to dense indexes.
 *
 * This file owns every SPI read of rating rows, for training and for
 * lrml.evaluate.  It resolves the relation like dataset.c (a name, or the
 * text of one read-only query), checks the column types (ids: one type
 * for both columns, an integer type or text; ratings: a number), and
 * streams the rows through a cursor into compact arrays.  Rows with a
 * NULL user, item or rating are skipped and counted; NaN and infinite
 * ratings are refused.  It knows nothing about factors or optimizers.
 *
 * Ids keep their type: integer ids (int2, int4, int8 and domains over
 * them) are kept as int64, text ids (text, varchar and domains over them)
 * as strings, each mapped by a dynahash to its index, in order of first
 * appearance.  The maps and arrays are allocated in the caller's memory
 * context; the SPI connection opens and closes inside RatingsLoad.
 *
 * src/ratings.c
 *
 *-------------------------------------------------------------------------
 */
#include "mf.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* Rows fetched from the cursor at a time */
#define RATINGS_BATCH_ROWS 10000

/* Entries of the two kinds of id hash */
typedef struct IntIdEntry
{
	int64		key;
	int32		idx;
} IntIdEntry;

typedef struct TextIdEntry
{
	char	   *key;
	int32		idx;
} TextIdEntry;

/* Hash and compare the keys of a text id hash (pointers to strings). */
static uint32
TextIdHash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return string_hash(s, strlen(s) + 1);
}

static int
TextIdMatch(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

/*
 * Set up an empty id map for integer or text ids in the current memory
 * context, sized for capacity ids.
 */
void
IdMapInit(IdMap *map, bool is_text, int32 capacity)
{
	HASHCTL		ctl;

	memset(map, 0, sizeof(IdMap));
	map->is_text = is_text;
	map->cap = Max(capacity, 16);
	ctl.hcxt = CurrentMemoryContext;
	if (is_text)
	{
		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(TextIdEntry);
		ctl.hash = TextIdHash;
		ctl.match = TextIdMatch;
		map->hash = hash_create("lrml ids", map->cap, &ctl,
								HASH_ELEM | HASH_FUNCTION | HASH_COMPARE |
								HASH_CONTEXT);
		map->texts = palloc_extended(sizeof(char *) * map->cap,
									 MCXT_ALLOC_HUGE);
	}
	else
	{
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(IntIdEntry);
		map->hash = hash_create("lrml ids", map->cap, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		map->ints = palloc_extended(sizeof(int64) * map->cap,
									MCXT_ALLOC_HUGE);
	}
}

/*
 * Add an id (int_id, or text_id for a text map) if it is new; return its
 * index.
 */
int32
IdMapAdd(IdMap *map, int64 int_id, const char *text_id)
{
	bool		found;
	TextIdEntry *te = NULL;
	IntIdEntry *ie = NULL;

	if (map->is_text)
	{
		te = hash_search(map->hash, &text_id, HASH_ENTER, &found);
		if (found)
			return te->idx;
	}
	else
	{
		ie = hash_search(map->hash, &int_id, HASH_ENTER, &found);
		if (found)
			return ie->idx;
	}

	if (map->n == PG_INT32_MAX - 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct ids"),
				 errdetail("A recommender holds at most %d users and %d items.",
						   PG_INT32_MAX - 1, PG_INT32_MAX - 1)));
	if (map->n == map->cap)
	{
		map->cap = (map->cap > PG_INT32_MAX / 2) ?
			PG_INT32_MAX - 1 : map->cap * 2;
		if (map->is_text)
			map->texts = repalloc_huge(map->texts, sizeof(char *) * map->cap);
		else
			map->ints = repalloc_huge(map->ints, sizeof(int64) * map->cap);
	}
	if (map->is_text)
	{
		/* the entry's key must outlive the caller's string */
		te->key = MemoryContextStrdup(GetMemoryChunkContext(map->texts),
									  text_id);
		te->idx = map->n;
		map->texts[map->n] = te->key;
		map->text_bytes = add_size(map->text_bytes, strlen(text_id) + 1 +
								   sizeof(TextIdEntry));
	}
	else
	{
		ie->idx = map->n;
		map->ints[map->n] = int_id;
	}
	return map->n++;
}

/*
 * Is a (base) id type one of the text types?
 */
bool
IdTypeIsText(Oid typid)
{
	return typid == TEXTOID || typid == VARCHAROID;
}

/*
 * Return the base type of an id column of type typid, failing unless it is
 * an integer type or text.  relation may be NULL for an argument.
 */
Oid
IdTypeCheck(Oid typid, const char *relation, const char *column)
{
	Oid			base = getBaseType(typid);

	if (base == INT2OID || base == INT4OID || base == INT8OID ||
		IdTypeIsText(base))
		return base;
	if (relation == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("argument \"%s\" must have an integer or text type",
						column),
				 errdetail("The argument has type %s.",
						   format_type_be(typid))));
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("column \"%s\" of relation \"%s\" must have an integer or text type",
					column, relation),
			 errdetail("Column \"%s\" has type %s.", column,
					   format_type_be(typid)),
			 errhint("Recommender ids are integers or text; cast other ids in a view.")));
	return InvalidOid;			/* keep compiler quiet */
}

/* Return an integer id value of base type typid as int64. */
int64
IdIntValue(Datum value, Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return DatumGetInt16(value);
		case INT4OID:
			return DatumGetInt32(value);
		case INT8OID:
			return DatumGetInt64(value);
	}
	elog(ERROR, "unexpected id type: %u", typid);
	return 0;					/* keep compiler quiet */
}

/*
 * Return the index of an id value of base type typid (text or integer, as
 * the map is), or -1 when the map does not hold it.
 */
int32
IdMapLookup(const IdMap *map, Datum value, Oid typid)
{
	if (map->is_text)
	{
		char	   *s = TextDatumGetCString(value);
		TextIdEntry *e = hash_search(map->hash, &s, HASH_FIND, NULL);

		pfree(s);
		return e ? e->idx : -1;
	}
	else
	{
		int64		id = IdIntValue(value, typid);
		IntIdEntry *e = hash_search(map->hash, &id, HASH_FIND, NULL);

		return e ? e->idx : -1;
	}
}

/*
 * Return the id of index idx as a datum of base type typid (an integer
 * type for an integer map, a text type for a text map), failing when an
 * integer id does not fit the type.
 */
Datum
IdMapDatum(const IdMap *map, int32 idx, Oid typid)
{
	int64		id;

	if (map->is_text)
		return CStringGetTextDatum(map->texts[idx]);
	id = map->ints[idx];
	if (typid == INT8OID)
		return Int64GetDatum(id);
	if ((typid == INT4OID && (id < PG_INT32_MIN || id > PG_INT32_MAX)) ||
		(typid == INT2OID && (id < PG_INT16_MIN || id > PG_INT16_MAX)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("id " INT64_FORMAT " is out of range for type %s",
						id, format_type_be(typid)),
				 errhint("Pass the id argument as bigint.")));
	return typid == INT4OID ? Int32GetDatum((int32) id) :
		Int16GetDatum((int16) id);
}

/*
 * Return the text form of the id of index idx (as lrml.factors stores it).
 */
char *
IdMapText(const IdMap *map, int32 idx)
{
	if (map->is_text)
		return map->texts[idx];
	return psprintf(INT64_FORMAT, map->ints[idx]);
}

/*
 * Map one id value to its index: add it when grow, else look it up (-1
 * when unknown).
 */
static int32
MapId(IdMap *map, bool grow, Datum value, Oid typid)
{
	int32		idx;

	if (!grow)
		return IdMapLookup(map, value, typid);
	if (map->is_text)
	{
		char	   *s = TextDatumGetCString(value);

		idx = IdMapAdd(map, 0, s);
		pfree(s);
		return idx;
	}
	return IdMapAdd(map, IdIntValue(value, typid), NULL);
}

/*
 * Describe the relation's columns and check the id and rating columns;
 * return the base type of the ids.  SPI must be connected.
 */
static Oid
CheckColumns(const char *relation, const char *from, const char *user_col,
			 const char *item_col, const char *rating_col)
{
	TupleDesc	desc;
	const char *cols[3] = {user_col, item_col, rating_col};
	Oid			types[3];

	if (SPI_execute(psprintf("SELECT * FROM %s LIMIT 0", from), true, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not describe relation \"%s\"", relation);
	desc = SPI_tuptable->tupdesc;
	for (int c = 0; c < 3; c++)
	{
		int			att;

		if (cols[c] == NULL)
			continue;
		att = DatasetFindColumn(desc, cols[c]);
		if (att < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" does not exist in relation \"%s\"",
							cols[c], relation)));
		types[c] = TupleDescAttr(desc, att)->atttypid;
	}
	if (rating_col != NULL &&
		FeatureKindForType(getBaseType(types[2])) != FEATURE_NUMERIC)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" must have a numeric type",
						rating_col, relation),
				 errdetail("Column \"%s\" has type %s.", rating_col,
						   format_type_be(types[2]))));
	if (IdTypeCheck(types[0], relation, user_col) !=
		IdTypeCheck(types[1], relation, item_col))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("user and item columns of relation \"%s\" must have the same type",
						relation),
				 errdetail("Column \"%s\" has type %s and column \"%s\" has type %s.",
						   user_col, format_type_be(types[0]), item_col,
						   format_type_be(types[1])),
				 errhint("Cast one of them in a view or query.")));
	SPI_freetuptable(SPI_tuptable);
	return IdTypeCheck(types[0], relation, user_col);
}

/*
 * Size the row arrays of data for the planner's estimate of the rows,
 * with a margin, so that they need not grow by doubling (which holds the
 * old and the new arrays at once).  An estimate beyond the memory limit
 * is ignored; the arrays then grow as rows arrive.
 */
static void
ReserveRatings(RatingData *data, int64 *cap, double estimate, Size row_bytes)
{
	double		want = estimate * 1.05 + 1024;

	if (want <= *cap ||
		want * row_bytes / 1024 > (double) lrml_memory_limit_kb)
		return;
	*cap = (int64) want;
	data->u = repalloc_huge(data->u, sizeof(int32) * *cap);
	data->i = repalloc_huge(data->i, sizeof(int32) * *cap);
	if (data->r)
		data->r = repalloc_huge(data->r, sizeof(double) * *cap);
}

/*
 * Does the relation (a name or query text) have the column?
 */
bool
RatingsHasColumn(const char *relation, const char *column)
{
	char	   *from = DatasetFromClause(relation);
	bool		found;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(psprintf("SELECT * FROM %s LIMIT 0", from), true, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not describe relation \"%s\"", relation);
	found = DatasetFindColumn(SPI_tuptable->tupdesc, column) >= 0;
	SPI_finish();
	return found;
}

/*
 * Read the rating rows of relation into a RatingData in the current
 * memory context.
 *
 * 1. Resolve the relation, check the columns (ids of one integer or text
 *	  type; a numeric rating, if rating_col is not NULL).
 * 2. Read the rows through a cursor: skip and count rows with a NULL
 *	  value; refuse non-finite ratings; map the ids through users and
 *	  items, adding new ids when grow (training: the maps are initialized
 *	  here, unless the caller seeded them with a version's ids), else
 *	  giving -1 for ids they lack.
 *
 * model_typid, when valid, is the id type of a trained model: the
 * relation's ids must be of the same kind (integer or text).  Memory is
 * counted against lrml.memory_limit.
 */
RatingData *
RatingsLoad(const char *relation, const char *user_col, const char *item_col,
			const char *rating_col, IdMap *users, IdMap *items, bool grow,
			Oid model_typid)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	RatingData *data = palloc0(sizeof(RatingData));
	char	   *from = DatasetFromClause(relation);
	MemoryContext batch_cxt;
	Portal		portal;
	int64		cap = 65536;
	Size		row_bytes = 2 * sizeof(int32) +
		(rating_col ? sizeof(double) : 0);
	Oid			rating_typid = InvalidOid;
	SPIPlanPtr	plan;
	char	   *sql;

	/* 1. */
	data->source = DatasetIsQuery(relation) ? pstrdup(relation) : from;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	data->id_typid = CheckColumns(relation, from, user_col, item_col,
								  rating_col);
	if (OidIsValid(model_typid) &&
		IdTypeIsText(model_typid) != IdTypeIsText(data->id_typid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("id columns of relation \"%s\" must have %s type",
						relation, IdTypeIsText(model_typid) ?
						"a text" : "an integer"),
				 errdetail("The model was trained on ids of type %s; column \"%s\" has type %s.",
						   format_type_be(model_typid), user_col,
						   format_type_be(data->id_typid))));
	MemoryContextSwitchTo(caller_cxt);
	/* maps a warm start seeded with its version's ids are kept */
	if (grow && users->hash == NULL)
	{
		IdMapInit(users, IdTypeIsText(data->id_typid), 1024);
		IdMapInit(items, IdTypeIsText(data->id_typid), 1024);
	}

	data->u = palloc_extended(sizeof(int32) * cap, MCXT_ALLOC_HUGE);
	data->i = palloc_extended(sizeof(int32) * cap, MCXT_ALLOC_HUGE);
	if (rating_col)
		data->r = palloc_extended(sizeof(double) * cap, MCXT_ALLOC_HUGE);
	batch_cxt = AllocSetContextCreate(caller_cxt, "lrml ratings batch",
									  ALLOCSET_DEFAULT_SIZES);

	/* 2. */
	sql = psprintf("SELECT %s, %s%s%s FROM %s", quote_identifier(user_col),
				   quote_identifier(item_col), rating_col ? ", " : "",
				   rating_col ? quote_identifier(rating_col) : "", from);
	plan = SPI_prepare(sql, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not plan the read of relation \"%s\"", relation);
	ReserveRatings(data, &cap, DatasetEstimatedRows(plan), row_bytes);
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPITupleTable *tt;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, RATINGS_BATCH_ROWS);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		if (rating_col && !OidIsValid(rating_typid))
			rating_typid = getBaseType(SPI_gettypeid(tt->tupdesc, 3));
		old = MemoryContextSwitchTo(batch_cxt);
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			HeapTuple	tup = tt->vals[row];
			bool		null_u,
						null_i,
						null_r = false;
			Datum		vu = SPI_getbinval(tup, tt->tupdesc, 1, &null_u);
			Datum		vi = SPI_getbinval(tup, tt->tupdesc, 2, &null_i);
			Datum		vr = rating_col ?
				SPI_getbinval(tup, tt->tupdesc, 3, &null_r) : (Datum) 0;
			int64		n = data->n;

			if (null_u || null_i || null_r)
			{
				data->n_null++;
				continue;
			}
			if (n == cap)
			{
				MemoryContextSwitchTo(caller_cxt);
				cap *= 2;
				DatasetCheckMemory(add_size(mul_size(cap, row_bytes),
											users->text_bytes +
											items->text_bytes));
				data->u = repalloc_huge(data->u, sizeof(int32) * cap);
				data->i = repalloc_huge(data->i, sizeof(int32) * cap);
				if (rating_col)
					data->r = repalloc_huge(data->r, sizeof(double) * cap);
				MemoryContextSwitchTo(batch_cxt);
			}
			if (rating_col)
			{
				double		r = FeatureDatumToDouble(vr, rating_typid);

				if (!(fabs(r) <= LRML_MAX_ABS_VALUE))
					FeatureRejectNumber(rating_col, r);
				data->r[n] = r;
			}
			/* new ids are copied into the maps' own context */
			MemoryContextSwitchTo(caller_cxt);
			data->u[n] = MapId(users, grow, vu, data->id_typid);
			data->i[n] = MapId(items, grow, vi, data->id_typid);
			MemoryContextSwitchTo(batch_cxt);
			data->n++;
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_cxt);
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	MemoryContextSwitchTo(caller_cxt);
	MemoryContextDelete(batch_cxt);
	DatasetCheckMemory(add_size(mul_size(data->n, row_bytes),
								users->text_bytes + items->text_bytes));
	data->n_read = data->n;
	return data;
}
