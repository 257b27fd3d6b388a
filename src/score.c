/*-------------------------------------------------------------------------
 *
 * score.c
 *	  Scoring by model name: lrml.predict, lrml.predict_class and
 *	  lrml.evaluate, with a per-backend cache of decoded models.
 *
 * Scoring a million rows must decode a model once and must not touch the
 * model store per row.  So:
 *
 *	- A backend-local cache (a dynahash under CacheMemoryContext) keeps up
 *	  to SCORE_CACHE_MODELS decoded models, keyed by lrml.models.id, which
 *	  is never reused; the least recently used one is evicted.  A model in
 *	  use by a running query is pinned: evicting it only unlinks it, and
 *	  its memory goes when the last query using it lets go.  The whole
 *	  cache is dropped when lrml.models itself changes identity (the
 *	  extension was dropped and created again, restarting the ids).
 *	- Per query (fn_extra, in fn_mcxt), the first call looks up once which
 *	  version of the named model is deployed, pins its cache entry and maps
 *	  the row type's columns to the model's features.  Later rows read no
 *	  table.  A new version or a deploy committed by another session is
 *	  therefore seen by the next query, never midway through one.
 *	- A whole-row argument (lrml.predict('m', t) FROM t) would make the
 *	  executor build a composite datum of every column for every row,
 *	  which costs more than the scoring.  A planner support function
 *	  rewrites such calls to pass the columns one by one
 *	  (lrml.predict_columns); the result is the same.
 *
 * The score of a row is
 *
 *		z = bias + sum_j w[j] * (x[j] - center[j]) / scale[j]
 *
 * over the encoded inputs x (features.c); a logistic model returns
 * sigmoid(z), a linear one y_center + y_scale * z.  The division is folded
 * into the weights once per decoded model (wf[j] = w[j] / scale[j]); the
 * center stays inside the product for numeric inputs, so a column with a
 * large mean and a small spread loses no precision, and is folded into the
 * bias for one-hot inputs, so a categorical column costs one lookup and
 * one addition per row whatever its number of categories.
 *
 * This file reads user data only in lrml.evaluate, through an SPI cursor
 * over the caller's relation or query, with the caller's rights.
 *
 * src/score.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/typcache.h"

/* Decoded models kept per backend */
#define SCORE_CACHE_MODELS	16

/* Rows fetched from the evaluation cursor at a time */
#define EVALUATE_BATCH_ROWS 1000

/* How one feature value is read from its column */
typedef enum ValueReader
{
	READ_FLOAT8,
	READ_FLOAT4,
	READ_INT2,
	READ_INT4,
	READ_INT8,
	READ_BOOL,
	READ_NUMERIC,				/* any other numeric type, via features.c */
	READ_TEXT,					/* categorical text, varchar, char(n) */
	READ_OUTPUT					/* categorical via the output function */
} ValueReader;

/*
 * A decoded model, ready to score.  Everything hangs off mcxt.
 */
typedef struct CachedModel
{
	int64		id;				/* lrml.models.id */
	StoredModel *stored;
	LrmlModel  *model;			/* stored->model */
	double	   *wf;				/* w[j] / scale[j] */
	double		bias_onehot;	/* bias - sum of wf[j] * center[j] over the
								 * inputs of categorical columns */
	int		   *null_category;	/* per column: NULL category or -1 */
	int		   *input_column;	/* per input: its column */
	MemoryContext mcxt;
	int			pins;			/* queries using it */
	bool		evicted;		/* no longer in the cache */
	uint64		last_used;
} CachedModel;

typedef struct CacheEntry
{
	int64		id;				/* hash key */
	CachedModel *cm;
} CacheEntry;

/*
 * Where a feature column sits in a row, and how to read it.
 */
typedef struct ColumnMap
{
	const FeatureColumn *col;
	int			attnum;			/* 1-based attribute number */
	Oid			typid;			/* base type of the attribute */
	ValueReader reader;
	double		w;				/* numeric, boolean: wf of the input */
	double		center;			/* numeric, boolean: its input's center */
	const double *wf;			/* categorical: wf of its first input */
	int			null_category;	/* categorical: NULL category or -1 */
	FmgrInfo	outfunc;		/* READ_OUTPUT */
} ColumnMap;

/*
 * Per-query state of a scoring function, kept in fn_extra.
 */
typedef struct ScoreState
{
	MemoryContext mcxt;			/* fn_mcxt */
	MemoryContextCallback release;	/* unpins cm when mcxt goes */
	text	   *name;			/* model argument the state was built for */
	CachedModel *cm;			/* pinned */
	bool		row_checked;	/* the argument type is composite */
	Oid			row_typid;		/* row type the map was built for */
	int32		row_typmod;
	TupleTableSlot *slot;		/* deforms rows of that type */
	HeapTupleData tuple;		/* the current row, for the slot */
	int			max_attnum;		/* highest attribute the map reads */
	ColumnMap  *map;			/* one per feature column */
	Datum	   *values;			/* predict_columns: the current row */
	bool	   *isnull;
} ScoreState;

static HTAB *model_cache = NULL;
static MemoryContext cache_context = NULL;
static Oid	cache_store_relid = InvalidOid;
static uint64 cache_clock = 0;

/*
 * Let go of a model: once unpinned and evicted, free it.
 */
static void
CacheRelease(CachedModel *cm)
{
	Assert(cm->pins > 0);
	cm->pins--;
	if (cm->pins == 0 && cm->evicted)
		MemoryContextDelete(cm->mcxt);
}

/*
 * Unlink a model from the cache, freeing it unless a query has it pinned.
 */
static void
CacheEvict(CachedModel *cm)
{
	(void) hash_search(model_cache, &cm->id, HASH_REMOVE, NULL);
	cm->evicted = true;
	if (cm->pins == 0)
		MemoryContextDelete(cm->mcxt);
}

/*
 * Create the cache on first use; empty it when lrml.models is a different
 * table than the one its entries came from.
 */
static void
CachePrepare(Oid store_relid)
{
	HASH_SEQ_STATUS status;
	CacheEntry *entry;

	if (model_cache == NULL)
	{
		HASHCTL		ctl;

		cache_context = AllocSetContextCreate(CacheMemoryContext,
											  "lrml model cache",
											  ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(CacheEntry);
		ctl.hcxt = cache_context;
		model_cache = hash_create("lrml model cache", SCORE_CACHE_MODELS,
								  &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (store_relid == cache_store_relid)
		return;

	hash_seq_init(&status, model_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		CacheEvict(entry->cm);
	cache_store_relid = store_relid;
}

/*
 * Evict the least recently used model if the cache is full.
 */
static void
CacheMakeRoom(void)
{
	HASH_SEQ_STATUS status;
	CacheEntry *entry;
	CachedModel *oldest = NULL;

	if (hash_get_num_entries(model_cache) < SCORE_CACHE_MODELS)
		return;
	hash_seq_init(&status, model_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (oldest == NULL || entry->cm->last_used < oldest->last_used)
			oldest = entry->cm;
	CacheEvict(oldest);
}

/*
 * Decode model version id and derive what scoring needs (see the file
 * header): folded weights, the one-hot part of the bias, the NULL
 * category of each column and the column of each input.
 *
 * The model is built in a context under parent, so an error frees it
 * with the query; the caller moves it into the cache once it is complete.
 */
static CachedModel *
CacheBuild(int64 id, MemoryContext parent)
{
	MemoryContext mcxt;
	MemoryContext oldcxt;
	CachedModel *cm;
	FeatureEncoding *enc;
	int			i;
	int			j;

	mcxt = AllocSetContextCreate(parent, "lrml model",
								 ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(mcxt);
	cm = palloc0(sizeof(CachedModel));
	cm->id = id;
	cm->mcxt = mcxt;
	cm->stored = ModelStoreLoadById(id, mcxt);
	cm->model = cm->stored->model;
	enc = cm->model->encoding;

	cm->wf = palloc(sizeof(double) * enc->n_inputs);
	cm->input_column = palloc(sizeof(int) * enc->n_inputs);
	cm->null_category = palloc(sizeof(int) * enc->n_columns);
	cm->bias_onehot = cm->model->bias;
	for (i = 0; i < enc->n_columns; i++)
	{
		const FeatureColumn *col = &enc->columns[i];
		int			n = col->n_categories;

		cm->null_category[i] = -1;
		if (col->kind == FEATURE_CATEGORICAL && n > 0 &&
			col->categories[n - 1] == NULL)
			cm->null_category[i] = n - 1;
		for (j = col->offset; j < col->offset + col->width; j++)
		{
			cm->wf[j] = cm->model->w[j] / enc->scale[j];
			cm->input_column[j] = i;
			if (col->kind == FEATURE_CATEGORICAL)
				cm->bias_onehot -= cm->wf[j] * enc->center[j];
		}
	}
	MemoryContextSwitchTo(oldcxt);
	return cm;
}

/*
 * Return the deployed version of the named model, decoded and pinned.
 *
 * One cheap lookup of the deployed id per call; the payload is read and
 * decoded only on a cache miss.  The caller must CacheRelease the model.
 */
static CachedModel *
CacheAcquire(const char *name, MemoryContext query_cxt)
{
	int32		version;
	Oid			store_relid;
	int64		id;
	CacheEntry *entry;
	CachedModel *cm;
	bool		found;

	id = ModelStoreLookup(name, &version, &store_relid);
	CachePrepare(store_relid);
	entry = hash_search(model_cache, &id, HASH_FIND, NULL);
	if (entry != NULL)
		cm = entry->cm;
	else
	{
		cm = CacheBuild(id, query_cxt);
		CacheMakeRoom();
		MemoryContextSetParent(cm->mcxt, cache_context);
		entry = hash_search(model_cache, &id, HASH_ENTER, &found);
		entry->cm = cm;
	}
	cm->pins++;
	cm->last_used = ++cache_clock;
	return cm;
}

/*
 * Memory context callback: the query is over, unpin its model.
 */
static void
ScoreStateRelease(void *arg)
{
	ScoreState *state = (ScoreState *) arg;

	if (state->cm != NULL)
		CacheRelease(state->cm);
	state->cm = NULL;
}

/*
 * Return the per-query state for the model named by the first argument,
 * creating it or switching models as needed.
 *
 * The name is compared on every call (it could differ from row to row);
 * only a different name costs a new lookup.
 */
static ScoreState *
GetScoreState(FunctionCallInfo fcinfo, text *name)
{
	ScoreState *state = (ScoreState *) fcinfo->flinfo->fn_extra;
	MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;
	char	   *name_str;

	if (state != NULL && state->name != NULL &&
		VARSIZE_ANY_EXHDR(state->name) == VARSIZE_ANY_EXHDR(name) &&
		memcmp(VARDATA_ANY(state->name), VARDATA_ANY(name),
			   VARSIZE_ANY_EXHDR(name)) == 0)
		return state;

	if (state == NULL)
	{
		state = MemoryContextAllocZero(mcxt, sizeof(ScoreState));
		state->mcxt = mcxt;
		state->release.func = ScoreStateRelease;
		state->release.arg = state;
		MemoryContextRegisterResetCallback(mcxt, &state->release);
		fcinfo->flinfo->fn_extra = state;
	}

	/* forget the previous model and row mapping */
	ScoreStateRelease(state);
	state->name = NULL;
	state->row_typid = InvalidOid;
	state->map = NULL;

	name_str = text_to_cstring(name);
	state->cm = CacheAcquire(name_str, mcxt);
	state->name = (text *) MemoryContextAlloc(mcxt, VARSIZE_ANY(name));
	memcpy(state->name, name, VARSIZE_ANY(name));
	return state;
}

/*
 * Choose how to read a column of base type typid as feature col.
 */
static ValueReader
ChooseReader(const FeatureColumn *col, Oid typid)
{
	if (col->kind == FEATURE_CATEGORICAL)
	{
		if (typid == TEXTOID || typid == VARCHAROID || typid == BPCHAROID)
			return READ_TEXT;
		return READ_OUTPUT;
	}
	switch (typid)
	{
		case FLOAT8OID:
			return READ_FLOAT8;
		case FLOAT4OID:
			return READ_FLOAT4;
		case INT2OID:
			return READ_INT2;
		case INT4OID:
			return READ_INT4;
		case INT8OID:
			return READ_INT8;
		case BOOLOID:
			return READ_BOOL;
		default:
			return READ_NUMERIC;
	}
}

/*
 * Map the model's feature columns to attributes of desc, allocating the
 * map in mcxt.  attnums[i] is the attribute of feature column i, or 0 to
 * find it by name.  Fails when a feature column is missing or its type
 * does not fit; returns the highest attribute number used.
 */
static int
BuildColumnMap(CachedModel *cm, TupleDesc desc, const int *attnums,
			   MemoryContext mcxt, ColumnMap **map_out)
{
	FeatureEncoding *enc = cm->model->encoding;
	ColumnMap  *map;
	int			max_attnum = 0;
	int			i;

	map = MemoryContextAllocZero(mcxt, sizeof(ColumnMap) * enc->n_columns);
	for (i = 0; i < enc->n_columns; i++)
	{
		ColumnMap  *m = &map[i];
		Form_pg_attribute att = NULL;

		m->col = &enc->columns[i];
		m->attnum = attnums ? attnums[i] : 0;
		for (int a = 0; m->attnum == 0 && a < desc->natts; a++)
		{
			att = TupleDescAttr(desc, a);
			if (!att->attisdropped && strcmp(NameStr(att->attname),
											 m->col->name) == 0)
				m->attnum = a + 1;
		}
		if (m->attnum == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" does not exist in the row",
							m->col->name),
					 errdetail("Version %d of model \"%s\" uses column \"%s\" as a feature.",
							   cm->stored->version, cm->stored->name,
							   m->col->name)));
		att = TupleDescAttr(desc, m->attnum - 1);
		FeatureCheckType(m->col, att->atttypid);
		m->typid = getBaseType(att->atttypid);
		m->reader = ChooseReader(m->col, m->typid);
		m->w = cm->wf[m->col->offset];
		m->center = enc->center[m->col->offset];
		m->wf = &cm->wf[m->col->offset];
		m->null_category = cm->null_category[i];
		if (m->reader == READ_OUTPUT)
		{
			Oid			outfunc;
			bool		isvarlena;

			getTypeOutputInfo(m->typid, &outfunc, &isvarlena);
			fmgr_info_cxt(outfunc, &m->outfunc, mcxt);
		}
		max_attnum = Max(max_attnum, m->attnum);
	}
	*map_out = map;
	return max_attnum;
}

/*
 * Fail on a non-finite feature value, with the message features.c uses.
 */
static void
RejectValue(const ColumnMap *m, Datum value)
{
	double		scratch[1];

	/* the features.c encoder reports the column and the value */
	FeatureEncodeValue(m->col, value, false, m->typid, NULL,
					   scratch - m->col->offset);
	elog(ERROR, "non-finite value in column \"%s\" was not rejected",
		 m->col->name);
}

/*
 * Turn the linear score z into the model's output.
 */
static inline double
ScoreOutput(const LrmlModel *model, double z)
{
	if (model->kind == MODEL_LOGISTIC)
		return LrmlSigmoid(z);
	return model->y_center + model->y_scale * z;
}

/*
 * Score one row given as deformed values (values[attnum - 1]).
 *
 * Numeric and boolean values are read without function calls and
 * checked for finiteness; NULL becomes the column's fill value.  A
 * categorical value adds the weight of its category (nothing for a
 * category not seen in training).
 */
static double
ScoreValues(const CachedModel *cm, const ColumnMap *map, const Datum *values,
			const bool *isnull)
{
	double		z = cm->bias_onehot;
	int			n = cm->model->encoding->n_columns;
	int			i;

	for (i = 0; i < n; i++)
	{
		const ColumnMap *m = &map[i];
		Datum		d = values[m->attnum - 1];
		double		v;
		int			idx;
		char	   *str;

		if (m->reader >= READ_TEXT)
		{
			if (isnull[m->attnum - 1])
				idx = m->null_category;
			else
			{
				if (m->reader == READ_TEXT)
					str = TextDatumGetCString(d);
				else
					str = OutputFunctionCall((FmgrInfo *) &m->outfunc, d);
				idx = FeatureCategoryIndex(m->col, str);
				pfree(str);
			}
			if (idx >= 0)
				z += m->wf[idx];
			continue;
		}

		if (isnull[m->attnum - 1])
			v = m->col->fill;
		else
		{
			switch (m->reader)
			{
				case READ_FLOAT8:
					v = DatumGetFloat8(d);
					break;
				case READ_FLOAT4:
					v = (double) DatumGetFloat4(d);
					break;
				case READ_INT2:
					v = (double) DatumGetInt16(d);
					break;
				case READ_INT4:
					v = (double) DatumGetInt32(d);
					break;
				case READ_INT8:
					v = (double) DatumGetInt64(d);
					break;
				case READ_BOOL:
					v = DatumGetBool(d) ? 1.0 : 0.0;
					break;
				default:
					v = FeatureDatumToDouble(d, m->typid);
					break;
			}
			if (unlikely(isnan(v) || isinf(v)))
				RejectValue(m, d);
		}
		z += m->w * (v - m->center);
	}
	return ScoreOutput(cm->model, z);
}

/*
 * Score the composite argument argno with the state's model.
 *
 * The first row of a type maps the model's feature columns to the row's
 * attributes by name (extra attributes are ignored); every row is then
 * deformed only up to the last attribute the model reads.
 */
static double
ScoreRowArg(FunctionCallInfo fcinfo, ScoreState *state, int argno)
{
	HeapTupleHeader td;
	Oid			typid;
	int32		typmod;
	TupleTableSlot *slot;

	if (!state->row_checked)
	{
		Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, argno);

		if (!OidIsValid(argtype) || !type_is_rowtype(argtype))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("argument \"row\" must be a row, not type %s",
							format_type_be(argtype)),
					 errhint("Pass a table row, as in lrml.predict('model', t) FROM t, or an array of encoded inputs.")));
		state->row_checked = true;
	}

	td = PG_GETARG_HEAPTUPLEHEADER(argno);
	typid = HeapTupleHeaderGetTypeId(td);
	typmod = HeapTupleHeaderGetTypMod(td);
	if (typid != state->row_typid || typmod != state->row_typmod ||
		state->map == NULL)
	{
		TupleDesc	desc;
		MemoryContext oldcxt;

		if (state->slot != NULL)
			ExecDropSingleTupleTableSlot(state->slot);
		state->slot = NULL;
		state->row_typid = InvalidOid;
		oldcxt = MemoryContextSwitchTo(state->mcxt);
		desc = lookup_rowtype_tupdesc_copy(typid, typmod);
		state->max_attnum = BuildColumnMap(state->cm, desc, NULL,
										   state->mcxt, &state->map);
		state->slot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
		MemoryContextSwitchTo(oldcxt);
		state->row_typid = typid;
		state->row_typmod = typmod;
	}

	state->tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&state->tuple.t_self);
	state->tuple.t_tableOid = InvalidOid;
	state->tuple.t_data = td;
	slot = ExecStoreHeapTuple(&state->tuple, state->slot, false);
	slot_getsomeattrs(slot, state->max_attnum);
	return ScoreValues(state->cm, state->map, slot->tts_values,
					   slot->tts_isnull);
}

/*
 * lrml.predict(model text, row anynonarray): score a row, columns matched
 * to the model's features by name.  A classifier returns the probability
 * of the positive class, a linear model the predicted value.
 */
PG_FUNCTION_INFO_V1(lrml_predict_row);
Datum
lrml_predict_row(PG_FUNCTION_ARGS)
{
	ScoreState *state = GetScoreState(fcinfo, PG_GETARG_TEXT_PP(0));

	PG_RETURN_FLOAT8(ScoreRowArg(fcinfo, state, 1));
}

/*
 * Is range table entry varno on the nullable side of an outer join in the
 * join tree under jtnode?  nullable says whether jtnode itself is.
 */
static bool
RangeIsNullable(Node *jtnode, int varno, bool nullable)
{
	ListCell   *lc;

	if (jtnode == NULL)
		return false;
	if (IsA(jtnode, RangeTblRef))
		return nullable && ((RangeTblRef *) jtnode)->rtindex == varno;
	if (IsA(jtnode, FromExpr))
	{
		foreach(lc, ((FromExpr *) jtnode)->fromlist)
			if (RangeIsNullable(lfirst(lc), varno, nullable))
				return true;
		return false;
	}
	if (IsA(jtnode, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) jtnode;
		bool		left_nullable = nullable || j->jointype == JOIN_RIGHT ||
			j->jointype == JOIN_FULL;
		bool		right_nullable = nullable || j->jointype != JOIN_INNER;

		return RangeIsNullable(j->larg, varno, left_nullable) ||
			RangeIsNullable(j->rarg, varno, right_nullable);
	}
	return false;
}

/*
 * Split a row argument into its column expressions and names, or return
 * false when it is not a form that can be split without changing the
 * result: a whole-row reference to a table that no outer join can null,
 * or a ROW() constructor (which is never NULL itself).
 */
static bool
SplitRowArgument(PlannerInfo *root, Node *row, List **cols, List **names)
{
	TupleDesc	desc;
	ListCell   *lc;
	int			a = 0;

	*cols = NIL;
	*names = NIL;
	if (IsA(row, RowExpr))
	{
		RowExpr    *r = (RowExpr *) row;

		if (r->row_typeid == RECORDOID)
		{
			if (list_length(r->colnames) != list_length(r->args))
				return false;
			*cols = r->args;
			*names = r->colnames;
			return true;
		}
		desc = lookup_rowtype_tupdesc(r->row_typeid, -1);
		if (desc->natts != list_length(r->args))
		{
			ReleaseTupleDesc(desc);
			return false;
		}
		foreach(lc, r->args)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a++);

			if (att->attisdropped)
				continue;
			*cols = lappend(*cols, lfirst(lc));
			*names = lappend(*names,
							 makeString(pstrdup(NameStr(att->attname))));
		}
		ReleaseTupleDesc(desc);
		return true;
	}

	if (IsA(row, Var) && root != NULL)
	{
		Var		   *var = (Var *) row;
		RangeTblEntry *rte;
		Relation	rel;

		if (var->varattno != 0 || var->varlevelsup != 0 ||
			var->varno < 1 || var->varno > list_length(root->parse->rtable))
			return false;
		rte = rt_fetch(var->varno, root->parse->rtable);
		if (rte->rtekind != RTE_RELATION ||
			RangeIsNullable((Node *) root->parse->jointree, var->varno, false))
			return false;
		rel = relation_open(rte->relid, NoLock);
		desc = RelationGetDescr(rel);
		for (a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);

			if (att->attisdropped)
				continue;
			*cols = lappend(*cols, makeVar(var->varno, att->attnum,
										   att->atttypid, att->atttypmod,
										   att->attcollation, 0));
			*names = lappend(*names,
							 makeString(pstrdup(NameStr(att->attname))));
		}
		relation_close(rel, NoLock);
		return true;
	}
	return false;
}

/*
 * Planner support for lrml.predict(model, row): pass the row's columns
 * one by one.
 *
 * A whole-row argument such as t in lrml.predict('m', t) FROM t makes the
 * executor build a composite datum of every column for every row, which
 * costs more than scoring it.  So lrml.predict(model, t) is rewritten to
 * lrml.predict_columns(model, ARRAY[column names], t.c1, t.c2, ...), which
 * scores the same values by the same names without that datum.  The model
 * is not read here: the columns are taken from the row type, and which
 * model version scores them is still decided when the query runs.  Rows
 * that cannot be split without changing the result are left alone (see
 * SplitRowArgument).
 */
PG_FUNCTION_INFO_V1(lrml_predict_support);
Datum
lrml_predict_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSimplify *req;
	List	   *cols;
	List	   *names;
	Datum	   *elems;
	ListCell   *lc;
	Oid			argtypes[3] = {TEXTOID, TEXTARRAYOID, ANYOID};
	Oid			funcid;
	Const	   *names_const;
	FuncExpr   *call;
	int			i = 0;

	if (!IsA(rawreq, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSimplify *) rawreq;
	if (list_length(req->fcall->args) != 2 ||
		!SplitRowArgument(req->root, lsecond(req->fcall->args),
						  &cols, &names) ||
		list_length(cols) < 1 || list_length(cols) > FUNC_MAX_ARGS - 2)
		PG_RETURN_POINTER(NULL);
	funcid = LookupFuncName(list_make2(makeString("lrml"),
									   makeString("predict_columns")),
							3, argtypes, true);
	if (!OidIsValid(funcid))
		PG_RETURN_POINTER(NULL);

	elems = palloc(sizeof(Datum) * list_length(names));
	foreach(lc, names)
		elems[i++] = CStringGetTextDatum(strVal(lfirst(lc)));
	names_const = makeConst(TEXTARRAYOID, -1, InvalidOid, -1,
							PointerGetDatum(construct_array(elems, i, TEXTOID,
															-1, false,
															TYPALIGN_INT)),
							false, false);
	call = makeFuncExpr(funcid, FLOAT8OID,
						list_concat(list_make2(linitial(req->fcall->args),
											   names_const),
									cols),
						InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	call->location = req->fcall->location;
	PG_RETURN_POINTER(call);
}

/*
 * lrml.predict_columns(model text, names text[], VARIADIC "any"): score
 * the row whose columns are the variadic arguments, named by names.
 *
 * Internal: the planner rewrites lrml.predict(model, row) to this (see
 * lrml_predict_support).  Not strict, because NULL column values score
 * as their fill values; a NULL model name gives NULL, as lrml.predict
 * does.
 */
PG_FUNCTION_INFO_V1(lrml_predict_columns);
Datum
lrml_predict_columns(PG_FUNCTION_ARGS)
{
	ScoreState *state;
	int			n_values = PG_NARGS() - 2;
	int			n_columns;
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = GetScoreState(fcinfo, PG_GETARG_TEXT_PP(0));
	if (state->map == NULL)
	{
		Datum	   *names;
		bool	   *names_null;
		int			n_names;
		TupleDesc	desc;

		if (PG_ARGISNULL(1))
			elog(ERROR, "column names of lrml.predict_columns must not be null");
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false,
						  TYPALIGN_INT, &names, &names_null, &n_names);
		if (n_names != n_values)
			elog(ERROR, "lrml.predict_columns got %d names for %d values",
				 n_names, n_values);
		desc = CreateTemplateTupleDesc(n_values);
		for (i = 0; i < n_values; i++)
			TupleDescInitEntry(desc, i + 1,
							   names_null[i] ? "" :
							   TextDatumGetCString(names[i]),
							   get_fn_expr_argtype(fcinfo->flinfo, i + 2),
							   -1, 0);
		(void) BuildColumnMap(state->cm, desc, NULL, state->mcxt,
							  &state->map);
		state->values = MemoryContextAllocZero(state->mcxt,
											   sizeof(Datum) * n_values);
		state->isnull = MemoryContextAllocZero(state->mcxt,
											   sizeof(bool) * n_values);
	}

	n_columns = state->cm->model->encoding->n_columns;
	for (i = 0; i < n_columns; i++)
	{
		int			k = state->map[i].attnum - 1;

		state->values[k] = PG_GETARG_DATUM(k + 2);
		state->isnull[k] = PG_ARGISNULL(k + 2);
	}
	PG_RETURN_FLOAT8(ScoreValues(state->cm, state->map, state->values,
								 state->isnull));
}

/*
 * lrml.predict_class(model text, row anynonarray, threshold float8):
 * true when a classifier's probability of the positive class reaches the
 * threshold.
 */
PG_FUNCTION_INFO_V1(lrml_predict_class_row);
Datum
lrml_predict_class_row(PG_FUNCTION_ARGS)
{
	ScoreState *state = GetScoreState(fcinfo, PG_GETARG_TEXT_PP(0));
	double		threshold = PG_GETARG_FLOAT8(2);

	if (state->cm->model->kind != MODEL_LOGISTIC)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a linear model",
						state->cm->stored->name),
				 errhint("Only classifiers have classes; use lrml.predict for the predicted value.")));
	if (!(threshold >= 0.0 && threshold <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"threshold\" must be between 0 and 1"),
				 errdetail("The threshold given is %g.", threshold)));
	PG_RETURN_BOOL(ScoreRowArg(fcinfo, state, 1) >= threshold);
}

/*
 * lrml.predict(model text, x float8[]): score a vector of raw encoded
 * inputs, one per input in encoding order (a numeric or boolean column's
 * value, a 0/1 indicator per category of a categorical column).
 *
 * A NULL element takes the fill value of its numeric or boolean column
 * (the training mean), as a NULL column value does; a NULL indicator is
 * an error, since it says nothing about the category.
 */
PG_FUNCTION_INFO_V1(lrml_predict_array);
Datum
lrml_predict_array(PG_FUNCTION_ARGS)
{
	ScoreState *state = GetScoreState(fcinfo, PG_GETARG_TEXT_PP(0));
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(1);
	const CachedModel *cm = state->cm;
	const FeatureEncoding *enc = cm->model->encoding;
	int			n = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	const double *data;
	bits8	   *nulls = ARR_NULLBITMAP(array);
	double		z = cm->model->bias;
	int			j;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("input array must have one dimension"),
				 errdetail("The array given has %d dimensions.",
						   ARR_NDIM(array))));
	if (n != enc->n_inputs)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("model \"%s\" expects %d inputs, but %d were given",
						cm->stored->name, enc->n_inputs, n)));

	/* ARR_DATA_PTR, spelled out to keep -Wsign-compare quiet */
	data = (const double *) ((char *) array +
							 (ARR_HASNULL(array) ? (Size) array->dataoffset :
							  ARR_OVERHEAD_NONULLS(ARR_NDIM(array))));
	for (j = 0; j < n; j++)
	{
		const FeatureColumn *col = &enc->columns[cm->input_column[j]];
		double		v;

		if (nulls != NULL && (nulls[j / 8] & (1 << (j % 8))) == 0)
		{
			if (col->kind == FEATURE_CATEGORICAL)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("input %d of model \"%s\" is NULL",
								j + 1, cm->stored->name),
						 errdetail("Input %d is a category indicator of column \"%s\"; only numeric and boolean inputs may be NULL.",
								   j + 1, col->name)));
			v = col->fill;
		}
		else
			v = *data++;
		if (isnan(v) || isinf(v))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("input %d of model \"%s\" is %s",
							j + 1, cm->stored->name,
							isnan(v) ? "NaN" : "infinite"),
					 errdetail("Inputs must be finite numbers or NULL.")));
		z += cm->wf[j] * (v - enc->center[j]);
	}
	PG_RETURN_FLOAT8(ScoreOutput(cm->model, z));
}

/*
 * Parse lrml.evaluate's options: only "threshold", a number in [0, 1]
 * (default 0.5).
 */
static double
EvaluateThreshold(Jsonb *options)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	double		threshold = 0.5;

	if (options == NULL)
		return threshold;
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object")));

	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		Datum		number;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		if (strcmp(key, "threshold") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized evaluation option: \"%s\"", key),
					 errhint("The only valid option is \"threshold\".")));
		(void) JsonbIteratorNext(&it, &v, true);
		if (v.type != jbvNumeric)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"threshold\" must be a number")));
		number = NumericGetDatum(v.val.numeric);
		threshold = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
													   number));
		if (!(threshold >= 0.0 && threshold <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"threshold\" must be between 0 and 1"),
					 errdetail("The threshold given is %g.", threshold)));
	}
	return threshold;
}

/* Scores and labels of the rows of an evaluation */
typedef struct EvalRows
{
	int64		n;
	int64		cap;
	int64		n_null_label;
	double	   *pred;
	double	   *y;
} EvalRows;

/*
 * Return the label of a row as the model sees it: for a classifier 1 or 0
 * by the text of the value, for a linear model the number.
 */
static double
EvaluateLabel(const CachedModel *cm, Datum value, Oid typid,
			  FmgrInfo *outfunc)
{
	const LrmlModel *model = cm->model;
	char	   *str;
	double		y;

	if (model->kind == MODEL_LINEAR)
	{
		y = FeatureDatumToDouble(value, typid);
		if (isnan(y) || isinf(y))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("label column \"%s\" contains the value %s",
							model->label, isnan(y) ? "NaN" : "infinity")));
		return y;
	}

	if (typid == TEXTOID || typid == VARCHAROID || typid == BPCHAROID)
		str = TextDatumGetCString(value);
	else
		str = OutputFunctionCall(outfunc, value);
	if (model->positive_label && strcmp(str, model->positive_label) == 0)
		y = 1.0;
	else if (model->negative_label &&
			 strcmp(str, model->negative_label) == 0)
		y = 0.0;
	else
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("label column \"%s\" contains the value \"%s\", which is not a class of model \"%s\"",
						model->label, str, cm->stored->name),
				 errdetail("The classes are \"%s\" (positive) and \"%s\".",
						   model->positive_label
						   ? model->positive_label : "",
						   model->negative_label
						   ? model->negative_label : "")));
	pfree(str);
	return y;
}

/*
 * Does desc have a (live) column of this name?
 */
static bool
HasColumn(TupleDesc desc, const char *name)
{
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return true;
	}
	return false;
}

/*
 * Build the query that reads the model's feature columns, then its label,
 * from the FROM item.
 *
 * The FROM item's columns are looked up first (an empty scan), so that a
 * missing column is reported by name rather than as an error in a query
 * the user did not write.  SPI must be connected.
 */
static char *
EvaluateQuery(const CachedModel *cm, const char *from)
{
	const LrmlModel *model = cm->model;
	StringInfoData sql;
	TupleDesc	desc;
	int			ret;
	int			i;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT * FROM %s LIMIT 0", from);
	ret = SPI_execute(sql.data, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the columns of the relation: %s",
			 SPI_result_code_string(ret));
	desc = SPI_tuptable->tupdesc;
	for (i = 0; i < model->encoding->n_columns; i++)
		if (!HasColumn(desc, model->encoding->columns[i].name))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" does not exist",
							model->encoding->columns[i].name),
					 errdetail("Version %d of model \"%s\" uses column \"%s\" as a feature.",
							   cm->stored->version, cm->stored->name,
							   model->encoding->columns[i].name)));
	if (!HasColumn(desc, model->label))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" does not exist", model->label),
				 errdetail("Version %d of model \"%s\" uses column \"%s\" as its label.",
						   cm->stored->version, cm->stored->name,
						   model->label)));
	SPI_freetuptable(SPI_tuptable);

	resetStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (i = 0; i < model->encoding->n_columns; i++)
		appendStringInfo(&sql, "%s, ",
						 quote_identifier(model->encoding->columns[i].name));
	appendStringInfo(&sql, "%s FROM %s", quote_identifier(model->label),
					 from);
	return sql.data;
}

/*
 * Read the relation through a cursor and score every row with a non-NULL
 * label into rows (allocated in mcxt).
 *
 * 1. Open a read-only cursor over the features and the label (in the
 *	  caller's snapshot, with the caller's rights).
 * 2. Map its columns to the model (checking their types) once.
 * 3. Fetch batches, scoring each row; skip and count NULL labels.
 *
 * XXX: the scores and labels (16 bytes a row) are kept for the AUC's sort
 * and are not counted against lrml.memory_limit; they are a small part of
 * what the same rows cost to train on.
 */
static void
EvaluateScan(const CachedModel *cm, const char *relation, MemoryContext mcxt,
			 EvalRows *rows)
{
	int			n_columns = cm->model->encoding->n_columns;
	int		   *attnums = palloc(sizeof(int) * n_columns);
	MemoryContext batch_cxt;
	ColumnMap  *map = NULL;
	Portal		portal;
	Oid			label_typid = InvalidOid;
	FmgrInfo	label_out;
	Datum	   *values = palloc(sizeof(Datum) * (n_columns + 1));
	bool	   *isnull = palloc(sizeof(bool) * (n_columns + 1));
	char	   *sql;
	int			i;

	for (i = 0; i < n_columns; i++)
		attnums[i] = i + 1;
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
									  "lrml evaluate batch",
									  ALLOCSET_DEFAULT_SIZES);

	SPI_connect();
	sql = EvaluateQuery(cm, DatasetFromClause(relation));
	portal = SPI_cursor_open_with_args(NULL, sql, 0, NULL, NULL, NULL,
									   true, 0);
	for (;;)
	{
		SPITupleTable *tt;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, EVALUATE_BATCH_ROWS);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		if (map == NULL)
		{
			Oid			outfunc;
			bool		isvarlena;

			(void) BuildColumnMap((CachedModel *) cm, tt->tupdesc, attnums,
								  mcxt, &map);
			label_typid = getBaseType(TupleDescAttr(tt->tupdesc,
													n_columns)->atttypid);
			if (cm->model->kind == MODEL_LINEAR &&
				FeatureKindForType(label_typid) != FEATURE_NUMERIC)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("label column \"%s\" must have a numeric type",
								cm->model->label),
						 errdetail("Column \"%s\" has type %s.",
								   cm->model->label,
								   format_type_be(label_typid))));
			getTypeOutputInfo(label_typid, &outfunc, &isvarlena);
			fmgr_info_cxt(outfunc, &label_out, mcxt);
		}

		MemoryContextReset(batch_cxt);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(batch_cxt);

			heap_deform_tuple(tt->vals[r], tt->tupdesc, values, isnull);
			if (isnull[n_columns])
				rows->n_null_label++;
			else
			{
				if (rows->n == rows->cap)
				{
					rows->cap *= 2;
					rows->pred = repalloc_huge(rows->pred,
											   rows->cap * sizeof(double));
					rows->y = repalloc_huge(rows->y,
											rows->cap * sizeof(double));
				}
				rows->y[rows->n] = EvaluateLabel(cm, values[n_columns],
												 label_typid, &label_out);
				rows->pred[rows->n] = ScoreValues(cm, map, values, isnull);
				rows->n++;
			}
			MemoryContextSwitchTo(oldcxt);
		}
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	MemoryContextDelete(batch_cxt);
}

/*
 * Append one (metric, value) row; NaN (an undefined measure) as NULL.
 */
static void
EvaluateEmit(ReturnSetInfo *rsinfo, const char *metric, double value)
{
	Datum		values[2];
	bool		nulls[2] = {false, isnan(value)};

	values[0] = CStringGetTextDatum(metric);
	values[1] = Float8GetDatum(value);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * lrml.evaluate(model text, relation text, options jsonb): measure the
 * deployed version of a model on a relation or query (NULL: the one it
 * was trained on).
 *
 * Classifiers: auc, log_loss, accuracy, precision, recall, f1 (at the
 * "threshold" option, default 0.5) and rows.  Linear models: rmse, mae,
 * r2 and rows.  rows counts the rows measured; rows with a NULL label are
 * skipped, with a notice.  A measure that is undefined on the rows (AUC
 * with one class, precision with no positive prediction) is NULL.
 */
PG_FUNCTION_INFO_V1(lrml_evaluate);
Datum
lrml_evaluate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ScoreState *state;
	const CachedModel *cm;
	char	   *relation;
	double		threshold;
	MemoryContext mcxt;
	EvalRows	rows;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be null")));
	threshold = EvaluateThreshold(PG_ARGISNULL(2) ? NULL :
								  PG_GETARG_JSONB_P(2));
	InitMaterializedSRF(fcinfo, 0);
	state = GetScoreState(fcinfo, PG_GETARG_TEXT_PP(0));
	cm = state->cm;
	if (cm->model->label == NULL)
		elog(ERROR, "model \"%s\" has no label column", cm->stored->name);
	relation = PG_ARGISNULL(1) ? cm->stored->source :
		text_to_cstring(PG_GETARG_TEXT_PP(1));

	mcxt = AllocSetContextCreate(CurrentMemoryContext, "lrml evaluate",
								 ALLOCSET_DEFAULT_SIZES);
	memset(&rows, 0, sizeof(rows));
	rows.cap = 1024;
	rows.pred = MemoryContextAlloc(mcxt, rows.cap * sizeof(double));
	rows.y = MemoryContextAlloc(mcxt, rows.cap * sizeof(double));
	EvaluateScan(cm, relation, mcxt, &rows);

	if (rows.n_null_label > 0)
		ereport(NOTICE,
				(errmsg_plural("skipped " INT64_FORMAT " row with a NULL label",
							   "skipped " INT64_FORMAT " rows with a NULL label",
							   rows.n_null_label, rows.n_null_label)));
	if (cm->model->kind == MODEL_LOGISTIC)
	{
		MetricCounts counts;

		MetricConfusion(rows.pred, rows.y, rows.n, threshold, &counts);
		EvaluateEmit(rsinfo, "auc", MetricAuc(rows.pred, rows.y, rows.n));
		EvaluateEmit(rsinfo, "log_loss",
					 MetricLogLoss(rows.pred, rows.y, NULL, rows.n));
		EvaluateEmit(rsinfo, "accuracy", MetricAccuracy(&counts));
		EvaluateEmit(rsinfo, "precision", MetricPrecision(&counts));
		EvaluateEmit(rsinfo, "recall", MetricRecall(&counts));
		EvaluateEmit(rsinfo, "f1", MetricF1(&counts));
	}
	else
	{
		EvaluateEmit(rsinfo, "rmse", MetricRmse(rows.pred, rows.y, rows.n));
		EvaluateEmit(rsinfo, "mae", MetricMae(rows.pred, rows.y, rows.n));
		EvaluateEmit(rsinfo, "r2", MetricR2(rows.pred, rows.y, rows.n));
	}
	EvaluateEmit(rsinfo, "rows", (double) rows.n);
	MemoryContextDelete(mcxt);
	return (Datum) 0;
}
