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
 *	- Per statement (fn_extra, in fn_mcxt), the first call looks up once
 *	  which version of the named model is deployed, pins its cache entry
 *	  and maps the row type's columns to the model's features.  Later rows
 *	  read no table.  A new version or a deploy committed by another session
 *	  is therefore seen by the next query, never midway through one.
 *	  fn_extra can outlive a statement (PL/pgSQL keeps the state of simple
 *	  expressions for the whole transaction), so the state remembers the
 *	  transaction, subtransaction and active snapshot it was looked up in,
 *	  and looks again when any of them differs: a version trained, dropped,
 *	  deployed or rolled back by an earlier statement of the same function
 *	  is seen by the next one.
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
 * An mlp runs its network (mlp.c) over the scaled inputs (x[j] -
 * center[j]) / scale[j] instead: scoring a row fills that vector through
 * the same column mapping (with wf[j] = 1 / scale[j], and each one-hot
 * input starting from -center[j] / scale[j]), and only the last step
 * differs: a classifier mlp returns sigmoid(score), a regression
 * y_center + y_scale * score.
 *
 * lrml.predict and lrml.predict_class also take an lrml.model value
 * (aggregates.c) instead of a name.  A value needs no store lookup: per
 * query (fn_extra) the last SCORE_VALUE_MODELS values decoded are kept,
 * found again by a hash and a comparison of their bytes, and folded like
 * a cached model; they die with the query.
 *
 * This file reads user data only in lrml.evaluate, through an SPI cursor
 * over the caller's relation or query, with the caller's rights.  Without
 * a relation, lrml.evaluate re-reads the stored source of the model, and
 * only for the role that trained that version (see lrml_evaluate).
 *
 * Scores are always finite: inputs beyond LRML_MAX_ABS_VALUE in magnitude
 * are refused as training refuses them, and a score that still overflows
 * is an error, never NaN or infinity.
 *
 * src/score.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"
#include "mf.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

/* Decoded models kept per backend */
#define SCORE_CACHE_MODELS	16

/* Rows fetched from the evaluation cursor at a time */
#define EVALUATE_BATCH_ROWS 1000

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
	/* mlp: the scaled inputs of a row, what they start from, scratch */
	double	   *x;
	double	   *x_base;			/* -center[j] / scale[j] for indicators */
	double	   *scratch;
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
	double		w;				/* numeric, boolean: wf of the input */
	double		center;			/* numeric, boolean: its input's center */
	const double *wf;			/* categorical: wf of its first input */
	int			null_category;	/* categorical: NULL category or -1 */
	FmgrInfo	outfunc;		/* categorical: the type's output function */
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
	Oid			store_relid;	/* lrml.models when cm was looked up */
	/* the statement cm was looked up in (see ScoreStateIsCurrent) */
	LocalTransactionId lxid;
	SubTransactionId subxid;
	TransactionId snap_xmin;
	TransactionId snap_xmax;
	CommandId	snap_curcid;
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

static void CacheFold(CachedModel *cm);
static double ScoreArray(const CachedModel *cm, ArrayType *array);

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

	mcxt = AllocSetContextCreate(parent, "lrml model",
								 ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(mcxt);
	cm = palloc0(sizeof(CachedModel));
	cm->id = id;
	cm->mcxt = mcxt;
	cm->stored = ModelStoreLoadById(id, mcxt);
	CacheFold(cm);
	MemoryContextSwitchTo(oldcxt);
	return cm;
}

/*
 * Prepare a decoded model (cm->stored) for scoring, in the current
 * context: fold the scales into the weights and the centers of one-hot
 * inputs into the bias, and note the NULL category of each column and
 * the column of each input.
 */
static void
CacheFold(CachedModel *cm)
{
	FeatureEncoding *enc;
	int			i;
	int			j;

	cm->model = cm->stored->model;
	if (cm->model->mf != NULL)
	{
		/* a recommender: mf_score.c derives what it needs */
		MfPrepareScoring(cm->model->mf);
		return;
	}
	enc = cm->model->encoding;

	cm->wf = palloc(sizeof(double) * enc->n_inputs);
	cm->input_column = palloc(sizeof(int) * enc->n_inputs);
	cm->null_category = palloc(sizeof(int) * enc->n_columns);
	cm->bias_onehot = cm->model->bias;
	if (cm->model->kind == MODEL_MLP)
	{
		cm->x = palloc0(sizeof(double) * enc->n_inputs);
		cm->x_base = palloc0(sizeof(double) * enc->n_inputs);
		cm->scratch = palloc(sizeof(double) * MlpScratchSize(cm->model));
	}
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
			cm->input_column[j] = i;
			if (cm->model->kind == MODEL_MLP)
			{
				/* weights 1: wf scales, the network does the rest */
				cm->wf[j] = 1.0 / enc->scale[j];
				if (col->kind == FEATURE_CATEGORICAL)
					cm->x_base[j] = -cm->wf[j] * enc->center[j];
				continue;
			}
			cm->wf[j] = cm->model->w[j] / enc->scale[j];
			if (col->kind == FEATURE_CATEGORICAL)
				cm->bias_onehot -= cm->wf[j] * enc->center[j];
		}
	}
	if (!isfinite(cm->bias_onehot))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("version %d of model \"%s\" is corrupt",
						cm->stored->version, cm->stored->name),
				 errdetail("The bias folded with the category centers is not a finite number."),
				 errhint("Drop this version with lrml.drop_model and train the model again.")));
}

/*
 * Return model version id (of lrml.models store_relid, as looked up by
 * ModelStoreLookup), decoded and pinned.
 *
 * The payload is read and decoded only on a cache miss.  The caller must
 * CacheRelease the model.
 */
static CachedModel *
CacheAcquire(int64 id, Oid store_relid, MemoryContext query_cxt)
{
	CacheEntry *entry;
	CachedModel *cm;
	bool		found;

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
 * Is the state's lookup from the current statement?
 *
 * A statement is told apart by the top-level and sub-transaction it runs
 * in and by its active snapshot: a new statement that could see other
 * data has a different snapshot (READ COMMITTED) or command id (after a
 * write in the same transaction).  Within one query all of these stay
 * the same, so rows after the first do no lookup.
 */
static bool
ScoreStateIsCurrent(const ScoreState *state)
{
	Snapshot	snap;

	if (!ActiveSnapshotSet())
		return false;
	snap = GetActiveSnapshot();
	return state->lxid == MyProc->lxid &&
		state->subxid == GetCurrentSubTransactionId() &&
		state->snap_xmin == snap->xmin &&
		state->snap_xmax == snap->xmax &&
		state->snap_curcid == snap->curcid;
}

/*
 * Remember the current statement as the one of the state's lookup.
 */
static void
ScoreStateMarkCurrent(ScoreState *state)
{
	Snapshot	snap = ActiveSnapshotSet() ? GetActiveSnapshot() : NULL;

	state->lxid = MyProc->lxid;
	state->subxid = GetCurrentSubTransactionId();
	state->snap_xmin = snap ? snap->xmin : InvalidTransactionId;
	state->snap_xmax = snap ? snap->xmax : InvalidTransactionId;
	state->snap_curcid = snap ? snap->curcid : InvalidCommandId;
}

/*
 * Return the per-statement state for the model named by the first
 * argument, creating it or switching models as needed.
 *
 * The name is compared on every call (it could differ from row to row);
 * a different name, or the first call of a new statement, costs one cheap
 * lookup of the deployed version.  The row mapping is kept as long as the
 * deployed version stays the same.
 */
static ScoreState *
GetScoreStateAny(FunctionCallInfo fcinfo, text *name)
{
	ScoreState *state = (ScoreState *) fcinfo->flinfo->fn_extra;
	MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;
	bool		same_name;
	char	   *name_str;
	int32		version;
	Oid			store_relid;
	int64		id;

	same_name = state != NULL && state->cm != NULL && state->name != NULL &&
		VARSIZE_ANY_EXHDR(state->name) == VARSIZE_ANY_EXHDR(name) &&
		memcmp(VARDATA_ANY(state->name), VARDATA_ANY(name),
			   VARSIZE_ANY_EXHDR(name)) == 0;
	if (same_name && ScoreStateIsCurrent(state))
		return state;

	name_str = text_to_cstring(name);
	id = ModelStoreLookup(name_str, &version, &store_relid);
	if (same_name && id == state->cm->id &&
		store_relid == state->store_relid)
	{
		ScoreStateMarkCurrent(state);
		return state;
	}

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

	state->cm = CacheAcquire(id, store_relid, mcxt);
	state->store_relid = store_relid;
	state->name = (text *) MemoryContextAlloc(mcxt, VARSIZE_ANY(name));
	memcpy(state->name, name, VARSIZE_ANY(name));
	ScoreStateMarkCurrent(state);
	return state;
}

/*
 * Return the state for the model named by the first argument, as
 * GetScoreStateAny does, refusing recommenders: the callers score rows of
 * features.
 */
static ScoreState *
GetScoreState(FunctionCallInfo fcinfo, text *name)
{
	ScoreState *state = GetScoreStateAny(fcinfo, name);

	if (state->cm->model->mf != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a recommender",
						state->cm->stored->name),
				 errhint("Score it with lrml.predict_rating, lrml.recommend or lrml.similar_items.")));
	return state;
}

/*
 * Return the deployed version of the recommender named name, decoded,
 * for the current statement of fcinfo's call site (see GetScoreStateAny);
 * fail for a model that is not a recommender.  The model stays pinned
 * until the call site's memory goes.
 */
const StoredModel *
ScoreRecommender(FunctionCallInfo fcinfo, text *name)
{
	ScoreState *state = GetScoreStateAny(fcinfo, name);

	if (state->cm->model->mf == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is not a recommender",
						state->cm->stored->name),
				 errhint("Score it with lrml.predict or lrml.predict_class.")));
	return state->cm->stored;
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
		Form_pg_attribute att;

		m->col = &enc->columns[i];
		m->attnum = attnums ? attnums[i] : 0;
		if (m->attnum == 0)
			m->attnum = DatasetFindColumn(desc, m->col->name) + 1;
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
		m->w = cm->wf[m->col->offset];
		m->center = enc->center[m->col->offset];
		m->wf = &cm->wf[m->col->offset];
		m->null_category = cm->null_category[i];
		if (m->col->kind == FEATURE_CATEGORICAL)
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
 * Fail for a score that is not finite or beyond LRML_MAX_ABS_VALUE (does
 * not return).
 */
static void
ReportScoreOverflow(const CachedModel *cm, double out)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("score of model \"%s\" is out of range",
					cm->stored->name),
			 errdetail("Version %d of the model computes %s for these inputs; scores must lie within %g in magnitude.",
					   cm->stored->version,
					   isnan(out) ? "NaN" :
					   isinf(out) ? "an infinite score" : "a score beyond the limit",
					   LRML_MAX_ABS_VALUE)));
}

/*
 * Turn the linear score z into the model's output, which must be finite
 * and, like every input, within LRML_MAX_ABS_VALUE in magnitude (so that
 * evaluate's squared errors cannot overflow).
 *
 * Inputs and parameters are finite, but their products and sums can
 * still overflow; the result is then an error, never NaN or infinity.
 */
static inline double
ScoreOutput(const CachedModel *cm, double z)
{
	const LrmlModel *model = cm->model;
	double		out;

	/* a network's sigmoid could hide an overflow inside it */
	if (unlikely(!isfinite(z)))
		ReportScoreOverflow(cm, z);
	if (model->classifier)
		out = LrmlSigmoid(z);
	else
		out = model->y_center + model->y_scale * z;
	if (unlikely(!(fabs(out) <= LRML_MAX_ABS_VALUE)))
		ReportScoreOverflow(cm, out);
	return out;
}

/*
 * Score one row given as deformed values (values[attnum - 1]).
 *
 * Numeric and boolean values are read without function calls and
 * checked against LRML_MAX_ABS_VALUE (NaN and infinities fail too); NULL
 * becomes the column's fill value.  A categorical value adds the weight
 * of its category (nothing for a category not seen in training); char(n)
 * values lose their trailing spaces first, as in training.
 */
static double
ScoreValues(const CachedModel *cm, const ColumnMap *map, const Datum *values,
			const bool *isnull)
{
	double		z = cm->bias_onehot;
	int			n = cm->model->encoding->n_columns;
	double	   *x = cm->x;
	int			i;

	/* an mlp fills its scaled inputs, then runs the network */
	if (x != NULL)
		memcpy(x, cm->x_base,
			   sizeof(double) * cm->model->encoding->n_inputs);

	for (i = 0; i < n; i++)
	{
		const ColumnMap *m = &map[i];
		Datum		d = values[m->attnum - 1];
		double		v;
		int			idx;
		char	   *str;

		if (m->col->kind == FEATURE_CATEGORICAL)
		{
			if (isnull[m->attnum - 1])
				idx = m->null_category;
			else if (m->typid == TEXTOID || m->typid == VARCHAROID ||
					 m->typid == BPCHAROID)
			{
				/* look the text up in place: no copy per row */
				text	   *t = DatumGetTextPP(d);
				const char *p = VARDATA_ANY(t);
				int			len = VARSIZE_ANY_EXHDR(t);

				/* char(n) compares without its trailing spaces */
				while (m->typid == BPCHAROID && len > 0 && p[len - 1] == ' ')
					len--;
				idx = FeatureCategoryIndexLen(m->col, p, len);
				if ((Pointer) t != DatumGetPointer(d))
					pfree(t);
			}
			else
			{
				str = DatasetTextValue(d, m->typid,
									   (FmgrInfo *) &m->outfunc);
				idx = FeatureCategoryIndex(m->col, str);
				pfree(str);
			}
			if (idx >= 0 && x != NULL)
				x[m->col->offset + idx] += m->wf[idx];
			else if (idx >= 0)
				z += m->wf[idx];
			continue;
		}

		if (isnull[m->attnum - 1])
			v = m->col->fill;
		else
		{
			v = FeatureDatumToDouble(d, m->typid);
			if (unlikely(!(fabs(v) <= LRML_MAX_ABS_VALUE)))
				FeatureRejectNumber(m->col->name, v);
		}
		if (x != NULL)
			x[m->col->offset] = m->w * (v - m->center);
		else
			z += m->w * (v - m->center);
	}
	if (x != NULL)
		z = MlpForward(cm->model, x, cm->scratch);
	return ScoreOutput(cm, z);
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
 * Fail unless lrml.predict_class can classify with model cm (named name,
 * or a model value when name is NULL) at threshold: a classifier, and a
 * threshold in [0, 1].
 */
static void
CheckClassify(const CachedModel *cm, const char *name, double threshold)
{
	const char *kind = cm->model->kind == MODEL_LINEAR ?
		"linear" : "regression";

	if (!cm->model->classifier && name != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a %s model", name, kind),
				 errhint("Only classifiers have classes; use lrml.predict for the predicted value.")));
	if (!cm->model->classifier)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("the lrml.model value is a %s model", kind),
				 errhint("Only classifiers have classes; use lrml.predict for the predicted value.")));
	if (!(threshold >= 0.0 && threshold <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"threshold\" must be between 0 and 1"),
				 errdetail("The threshold given is %g.", threshold)));
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

	CheckClassify(state->cm, state->cm->stored->name, threshold);
	PG_RETURN_BOOL(ScoreRowArg(fcinfo, state, 1) >= threshold);
}

/*
 * lrml.predict(model text, x float8[]): score a vector of raw encoded
 * inputs, one per input in encoding order (a numeric or boolean column's
 * value, a 0/1 indicator per category of a categorical column).
 *
 * A NULL element takes the fill value of its numeric or boolean column
 * (the training mean), as a NULL column value does; a NULL indicator is
 * an error, since it says nothing about the category.  Elements must be
 * finite and at most LRML_MAX_ABS_VALUE in magnitude, as training values
 * must.
 */
PG_FUNCTION_INFO_V1(lrml_predict_array);
Datum
lrml_predict_array(PG_FUNCTION_ARGS)
{
	ScoreState *state = GetScoreState(fcinfo, PG_GETARG_TEXT_PP(0));

	PG_RETURN_FLOAT8(ScoreArray(state->cm, PG_GETARG_ARRAYTYPE_P(1)));
}

/*
 * Score a vector of raw encoded inputs with a decoded model (see
 * lrml_predict_array).
 */
static double
ScoreArray(const CachedModel *cm, ArrayType *array)
{
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
		if (!(fabs(v) <= LRML_MAX_ABS_VALUE))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("value %g of column \"%s\" is out of range",
							v, col->name),
					 errdetail("Input %d of the array belongs to column \"%s\". lrml accepts numbers up to %g in magnitude.",
							   j + 1, col->name, LRML_MAX_ABS_VALUE)));
		if (col->kind == FEATURE_CATEGORICAL && v != 0.0 && v != 1.0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("input %d of model \"%s\" must be 0 or 1",
							j + 1, cm->stored->name),
					 errdetail("Input %d is a category indicator of column \"%s\"; the value given was %g.",
							   j + 1, col->name, v)));
		if (cm->x != NULL)
			cm->x[j] = cm->wf[j] * (v - enc->center[j]);
		else
			z += cm->wf[j] * (v - enc->center[j]);
	}
	if (cm->x != NULL)
		z = MlpForward(cm->model, cm->x, cm->scratch);
	return ScoreOutput(cm, z);
}

/* Decoded lrml.model values kept per query by lrml.predict(m, x) */
#define SCORE_VALUE_MODELS	16

/*
 * A decoded lrml.model value, found again by its bytes.
 */
typedef struct ValueModel
{
	uint32		hash;
	Size		len;
	char	   *bytes;			/* the value's bytes, in cm->mcxt */
	CachedModel *cm;
} ValueModel;

/*
 * Per-query state of scoring by value (fn_extra): the values decoded so
 * far, replaced round robin once there are SCORE_VALUE_MODELS.  A join
 * of rows with per-group models meets few distinct values; each row
 * costs one hash of its value's bytes and one comparison.
 */
typedef struct ValueState
{
	int			n;
	int			next;			/* entry replaced next when full */
	ValueModel	models[SCORE_VALUE_MODELS];
} ValueState;

/*
 * Return the decoded model of an lrml.model value, decoding it at most
 * once per query while it stays among the query's recent values.
 */
static const CachedModel *
ValueModelGet(FunctionCallInfo fcinfo, bytea *value)
{
	ValueState *vs = (ValueState *) fcinfo->flinfo->fn_extra;
	const char *bytes = VARDATA_ANY(value);
	Size		len = VARSIZE_ANY_EXHDR(value);
	uint32		hash = hash_bytes((const unsigned char *) bytes, (int) len);
	ValueModel *slot;
	MemoryContext old;
	CachedModel *cm;

	if (vs == NULL)
	{
		vs = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
									sizeof(ValueState));
		fcinfo->flinfo->fn_extra = vs;
	}
	for (int i = 0; i < vs->n; i++)
	{
		ValueModel *vm = &vs->models[i];

		if (vm->hash == hash && vm->len == len &&
			memcmp(vm->bytes, bytes, len) == 0)
			return vm->cm;
	}

	/* decode into a context of its own, then take the slot */
	cm = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CachedModel));
	cm->mcxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt,
									 "lrml model value",
									 ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cm->mcxt);
	cm->stored = palloc0(sizeof(StoredModel));
	cm->stored->name = "lrml.model value";
	cm->stored->model = ModelValueDecode(value, NULL, NULL);
	CacheFold(cm);
	MemoryContextSwitchTo(old);
	if (vs->n < SCORE_VALUE_MODELS)
		slot = &vs->models[vs->n++];
	else
	{
		slot = &vs->models[vs->next];
		vs->next = (vs->next + 1) % SCORE_VALUE_MODELS;
		MemoryContextDelete(slot->cm->mcxt);
		pfree(slot->cm);
	}
	slot->hash = hash;
	slot->len = len;
	slot->bytes = MemoryContextAlloc(cm->mcxt, Max(len, 1));
	memcpy(slot->bytes, bytes, len);
	slot->cm = cm;
	return cm;
}

/*
 * Return the decoded model of an lrml.model value that scores rows of
 * features (ValueModelGet), refusing recommenders.
 */
static const CachedModel *
ValueModelGetRows(FunctionCallInfo fcinfo, bytea *value)
{
	const CachedModel *cm = ValueModelGet(fcinfo, value);

	if (cm->model->mf != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("the lrml.model value is a recommender"),
				 errhint("Score it with lrml.predict_rating, lrml.recommend or lrml.similar_items.")));
	return cm;
}

/*
 * Return the decoded recommender of an lrml.model value (ValueModelGet),
 * for mf_score.c; fail for any other model.
 */
const StoredModel *
ScoreRecommenderValue(FunctionCallInfo fcinfo, bytea *value)
{
	const CachedModel *cm = ValueModelGet(fcinfo, value);

	if (cm->model->mf == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("the lrml.model value is not a recommender"),
				 errhint("Score it with lrml.predict or lrml.predict_class.")));
	return cm->stored;
}

/*
 * lrml.predict(m lrml.model, x float8[]): score a vector of raw encoded
 * inputs with a model value, as lrml.predict(model text, x) does with a
 * stored one.
 */
PG_FUNCTION_INFO_V1(lrml_predict_model);
Datum
lrml_predict_model(PG_FUNCTION_ARGS)
{
	const CachedModel *cm = ValueModelGetRows(fcinfo,
											  PG_GETARG_BYTEA_PP(0));

	PG_RETURN_FLOAT8(ScoreArray(cm, PG_GETARG_ARRAYTYPE_P(1)));
}

/*
 * lrml.predict_class(m lrml.model, x float8[], threshold float8): true
 * when a classifier value's probability of the positive class reaches
 * the threshold.
 */
PG_FUNCTION_INFO_V1(lrml_predict_class_model);
Datum
lrml_predict_class_model(PG_FUNCTION_ARGS)
{
	const CachedModel *cm = ValueModelGetRows(fcinfo,
											  PG_GETARG_BYTEA_PP(0));
	double		threshold = PG_GETARG_FLOAT8(2);

	CheckClassify(cm, NULL, threshold);
	PG_RETURN_BOOL(ScoreArray(cm, PG_GETARG_ARRAYTYPE_P(1)) >= threshold);
}

/* Return an option of lrml.evaluate as a double; a number, or fail. */
static double
EvaluateNumber(const char *key, JsonbValue *v)
{
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a number", key),
				 errdetail("The value given was %s.",
						   OptionsDescribeValue(v))));
	/* a number beyond double becomes an infinity, out of range below */
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(v->val.numeric)));
}

/*
 * Parse lrml.evaluate's options (options may be NULL) into *eo.  A
 * classifier's: "threshold", a probability in [0, 1] (default 0.5).  A
 * recommender's: "k", an integer from 1 to 10000 (default 10), and
 * "threshold", the least rating that is relevant (a finite number, none
 * by default).
 */
void
ScoreEvaluateOptions(Jsonb *options, bool recommender, EvaluateOptions *eo)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	eo->k = 10;
	eo->has_threshold = false;
	eo->threshold = recommender ? 0.0 : 0.5;
	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object")));

	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		double		x;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		if (strcmp(key, "threshold") != 0 &&
			(!recommender || strcmp(key, "k") != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized evaluation option: \"%s\"", key),
					 recommender ?
					 errhint("Valid options for recommenders are \"k\" and \"threshold\".") :
					 errhint("The only valid option is \"threshold\".")));
		(void) JsonbIteratorNext(&it, &v, true);
		x = EvaluateNumber(key, &v);
		if (strcmp(key, "k") == 0)
		{
			if (!(x >= 1 && x <= 10000) || x != floor(x))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"k\" must be an integer between 1 and 10000"),
						 errdetail("The value given was %s.",
								   OptionsDescribeValue(&v))));
			eo->k = (int) x;
			continue;
		}
		if (recommender ? !isfinite(x) : !(x >= 0.0 && x <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 recommender ?
					 errmsg("option \"threshold\" must be a finite number") :
					 errmsg("option \"threshold\" must be between 0 and 1"),
					 errdetail("The value given was %s.",
							   OptionsDescribeValue(&v))));
		eo->has_threshold = true;
		eo->threshold = x;
	}
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
 * How evaluate reads the label column, set up from its first batch.
 */
typedef struct EvalLabel
{
	Oid			typid;			/* base type of the label column */
	FmgrInfo	outfunc;		/* its output function */
	bool		is_bool;		/* show t and f as true and false */
	bool		by_bool;		/* compare booleans, not text */
	bool		positive_true;	/* by_bool: true is the positive class */
	bool		by_value;		/* compare numbers, not text */
	double		positive;		/* by_value: the classes as numbers */
	double		negative;
} EvalLabel;

/*
 * Parse a class text as a number; false if it is not one.
 */
static bool
ClassNumber(const char *text, double *v)
{
	char	   *end;

	if (text == NULL || text[0] == '\0')
		return false;
	errno = 0;
	*v = strtod(text, &end);
	return *end == '\0' && errno == 0 && isfinite(*v);
}

/*
 * Set up the reading of a label column of base type typid.
 *
 * A classifier's classes are stored as text: numbers in their shortest
 * exact form, booleans as t and f, char(n) values without trailing
 * spaces, other values as their type prints them.  A numeric label column
 * is compared by value when both classes are numbers, so that 1, 1.0 and
 * 1.00 are one class; a model with the classes t and f (a boolean label)
 * reads its label as a boolean, so a text column of true and false fits
 * too; other columns are compared by the same text training stored.
 */
static void
EvaluateLabelSetup(const CachedModel *cm, Oid typid, MemoryContext mcxt,
				   EvalLabel *lab)
{
	const LrmlModel *model = cm->model;
	Oid			outfunc;
	bool		isvarlena;

	lab->typid = typid;
	getTypeOutputInfo(typid, &outfunc, &isvarlena);
	fmgr_info_cxt(outfunc, &lab->outfunc, mcxt);
	lab->by_bool = model->classifier &&
		((strcmp(model->positive_label, "t") == 0 &&
		  strcmp(model->negative_label, "f") == 0) ||
		 (strcmp(model->positive_label, "f") == 0 &&
		  strcmp(model->negative_label, "t") == 0));
	lab->positive_true = lab->by_bool &&
		strcmp(model->positive_label, "t") == 0;
	lab->is_bool = lab->by_bool || typid == BOOLOID;
	lab->by_value = !lab->by_bool && model->classifier &&
		FeatureKindForType(typid) == FEATURE_NUMERIC &&
		ClassNumber(model->positive_label, &lab->positive) &&
		ClassNumber(model->negative_label, &lab->negative);
}

/*
 * Return the label of a row as the model sees it: for a classifier 1 or 0
 * (see EvaluateLabelSetup), for a linear model the number.  Text made
 * here lives in the caller's per-batch context.
 */
static double
EvaluateLabel(const CachedModel *cm, const EvalLabel *lab, Datum value)
{
	const LrmlModel *model = cm->model;
	char	   *str;
	double		y;

	if (!model->classifier)
	{
		y = FeatureDatumToDouble(value, lab->typid);
		if (!(fabs(y) <= LRML_MAX_ABS_VALUE))
			FeatureRejectNumber(model->label, y);
		return y;
	}

	if (lab->by_bool)
	{
		bool		b;

		if (lab->typid == BOOLOID)
			return DatumGetBool(value) == lab->positive_true ? 1.0 : 0.0;
		str = DatasetTextValue(value, lab->typid,
							   (FmgrInfo *) &lab->outfunc);
		if (parse_bool(str, &b))
			return b == lab->positive_true ? 1.0 : 0.0;
	}
	else if (lab->by_value)
	{
		double		v = FeatureDatumToDouble(value, lab->typid);

		if (v == lab->positive)
			return 1.0;
		if (v == lab->negative)
			return 0.0;
		str = OutputFunctionCall((FmgrInfo *) &lab->outfunc, value);
	}
	else
	{
		str = DatasetTextValue(value, lab->typid, (FmgrInfo *) &lab->outfunc);
		if (strcmp(str, model->positive_label) == 0)
			return 1.0;
		if (strcmp(str, model->negative_label) == 0)
			return 0.0;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("label column \"%s\" contains the value \"%s\", which is not a class of model \"%s\"",
					model->label, DatasetLabelDisplay(str, lab->is_bool),
					cm->stored->name),
			 errdetail("The classes are \"%s\" (positive) and \"%s\".",
					   DatasetLabelDisplay(model->positive_label,
										   lab->is_bool),
					   DatasetLabelDisplay(model->negative_label,
										   lab->is_bool))));
	return 0.0;					/* keep compiler quiet */
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
		if (DatasetFindColumn(desc, model->encoding->columns[i].name) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" does not exist",
							model->encoding->columns[i].name),
					 errdetail("Version %d of model \"%s\" uses column \"%s\" as a feature.",
							   cm->stored->version, cm->stored->name,
							   model->encoding->columns[i].name)));
	if (DatasetFindColumn(desc, model->label) < 0)
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
	EvalLabel	lab;
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
			Oid			label_typid;

			(void) BuildColumnMap((CachedModel *) cm, tt->tupdesc, attnums,
								  mcxt, &map);
			label_typid = getBaseType(TupleDescAttr(tt->tupdesc,
													n_columns)->atttypid);
			if (!cm->model->classifier &&
				FeatureKindForType(label_typid) != FEATURE_NUMERIC)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("label column \"%s\" must have a numeric type",
								cm->model->label),
						 errdetail("Column \"%s\" has type %s.",
								   cm->model->label,
								   format_type_be(label_typid))));
			EvaluateLabelSetup(cm, label_typid, mcxt, &lab);
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
				rows->y[rows->n] = EvaluateLabel(cm, &lab,
												 values[n_columns]);
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
 * Return the relation lrml.evaluate reads when it is given none: the
 * stored source of the version, if the current role trained it.
 *
 * The source is a table or view name, or query text, and reading it runs
 * whatever it runs (functions called by the query, a view's definition)
 * with the rights of the caller.  Its author may be a less privileged
 * role than the caller: a superuser evaluating a model trained by a
 * low-privileged role would run that role's code with superuser rights.
 * So without a relation, evaluate runs only for current_user equal to
 * the role that trained the version (lrml.models.owner) -- not a member
 * of it, not a superuser -- which runs nothing that role could not run
 * itself.  Everybody else names the relation explicitly.
 */
static char *
EvaluateDefaultRelation(const CachedModel *cm)
{
	Oid			trained_by = ModelStoreTrainedBy(cm->id);
	char	   *role;

	if (strcmp(cm->stored->source, LRML_SAVE_SOURCE) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version %d of model \"%s\" has no training source",
						cm->stored->version, cm->stored->name),
				 errdetail("It was stored from an lrml.model value by lrml.save."),
				 errhint("Pass the relation or query to evaluate on explicitly.")));
	if (OidIsValid(trained_by) && trained_by == GetUserId())
		return cm->stored->source;

	role = OidIsValid(trained_by) ? GetUserNameFromId(trained_by, true) : NULL;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to evaluate model \"%s\" on its training source",
					cm->stored->name),
			 role ?
			 errdetail("Version %d was trained by role \"%s\"; only that role may evaluate it on the relation or query it was trained on.",
					   cm->stored->version, role) :
			 errdetail("Version %d was trained by a role that no longer exists; only that role could evaluate it on the relation or query it was trained on.",
					   cm->stored->version),
			 errhint("Pass the relation or query to evaluate on explicitly.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * lrml.evaluate(model text, relation text, options jsonb): measure the
 * deployed version of a model on a relation or query (NULL: the one it
 * was trained on, for the role that trained it only; see
 * EvaluateDefaultRelation).
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
	EvaluateOptions eo;
	double		threshold;
	MemoryContext mcxt;
	EvalRows	rows;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be null")));
	InitMaterializedSRF(fcinfo, 0);
	state = GetScoreStateAny(fcinfo, PG_GETARG_TEXT_PP(0));
	cm = state->cm;
	if (cm->model->mf != NULL)
	{
		relation = PG_ARGISNULL(1) ? EvaluateDefaultRelation(cm) :
			text_to_cstring(PG_GETARG_TEXT_PP(1));
		MfEvaluate(fcinfo, cm->stored, relation,
				   PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2));
		return (Datum) 0;
	}
	ScoreEvaluateOptions(PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2),
						 false, &eo);
	threshold = eo.threshold;
	if (cm->model->label == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot evaluate model \"%s\"", cm->stored->name),
				 errdetail("Version %d of the model was stored without the name of its label column.",
						   cm->stored->version)));
	relation = PG_ARGISNULL(1) ? EvaluateDefaultRelation(cm) :
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
	if (cm->model->classifier)
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
