/*-------------------------------------------------------------------------
 *
 * mf_score.c
 *	  Scoring recommenders: lrml.predict_rating, lrml.recommend,
 *	  lrml.similar_items, and lrml.evaluate on rating or interaction rows.
 *
 * Models come decoded from the per-backend cache of score.c (one lookup
 * of the deployed version per statement).  Top-k over all items is one
 * single-precision gemv through linalg.c (scores = Q p_u, or Q q_i for
 * similarity) followed by a partial sort: a binary heap of the k best
 * (O(n log k)), then the k sorted.  Ties are broken by the item's index,
 * so results are deterministic.
 *
 * Cold start (every id that the model does not hold is scored, never an
 * error, never NaN):
 *	  - an unknown user and a known item: mu + b_i;
 *	  - a known user and an unknown item: mu + b_u;
 *	  - both unknown: mu;
 *	  - recommend for an unknown user ranks the items by mu + b_i;
 *	  - similar_items for an unknown item, or for an item whose factors are
 *		all zero (it had no training rating), returns no rows, and an item
 *		with zero factors has similarity 0 to any other.
 * predict_rating and evaluate clip predictions to the range of the
 * training ratings; recommend's scores are the unclipped predictions,
 * which keep the ranking of items beyond the top of the scale.
 *
 * src/mf_score.c
 *
 *-------------------------------------------------------------------------
 */
#include "mf.h"
#include "linalg.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(lrml_predict_rating);
PG_FUNCTION_INFO_V1(lrml_predict_rating_model);
PG_FUNCTION_INFO_V1(lrml_recommend);
PG_FUNCTION_INFO_V1(lrml_recommend_model);
PG_FUNCTION_INFO_V1(lrml_similar_items);
PG_FUNCTION_INFO_V1(lrml_similar_items_model);

static void Recommend(FunctionCallInfo fcinfo, const StoredModel *stored);
static void SimilarItems(FunctionCallInfo fcinfo, const StoredModel *stored);

/* An item and its score, as the top-k heap holds them */
typedef struct ScoredItem
{
	double		score;
	int32		idx;
} ScoredItem;

/*
 * Derive what scoring needs from a decoded model: the norm of each item's
 * factors (for cosine similarity).  Allocates in the current context.
 */
void
MfPrepareScoring(MfModel *m)
{
	m->q_norm = palloc_extended(sizeof(float) * m->items.n, MCXT_ALLOC_HUGE);
	for (int32 i = 0; i < m->items.n; i++)
	{
		const float *q = m->Q + (int64) i * m->k;

		m->q_norm[i] = (float) sqrt(LinalgDotF4(q, q, m->k));
	}
}

/*
 * Return the index of id argument argno in map, or -1 for an id the model
 * does not hold.  The argument must be of an integer type for a model of
 * integer ids and of a text type for one of text ids.
 */
static int32
IdArg(FunctionCallInfo fcinfo, const StoredModel *stored, const IdMap *map,
	  int argno, const char *argname)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, argno);
	Oid			base = IdTypeCheck(typid, NULL, argname);

	if (IdTypeIsText(base) != map->is_text)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("argument \"%s\" must have %s type", argname,
						map->is_text ? "a text" : "an integer"),
				 stored->version > 0 ?
				 errdetail("Model \"%s\" was trained on ids of type %s; the argument has type %s.",
						   stored->name,
						   format_type_be(stored->model->mf->id_typid),
						   format_type_be(typid)) :
				 errdetail("The lrml.model value was trained on ids of type %s; the argument has type %s.",
						   format_type_be(stored->model->mf->id_typid),
						   format_type_be(typid)),
				 errhint("Cast the id, for example to %s.",
						 format_type_be(stored->model->mf->id_typid))));
	return IdMapLookup(map, PG_GETARG_DATUM(argno), base);
}

/* Clip a prediction to the range of the training ratings. */
static double
ClipRating(const MfModel *m, double z)
{
	return z < m->r_min ? m->r_min : (z > m->r_max ? m->r_max : z);
}

/*
 * Return the clipped predicted rating of user index u for item index i,
 * either of which may be -1 (unknown: see the cold-start rules).
 */
static double
PredictIndexes(const MfModel *m, int32 u, int32 i)
{
	double		z = m->mu;

	if (u >= 0)
		z += m->user_bias[u];
	if (i >= 0)
		z += m->item_bias[i];
	if (u >= 0 && i >= 0)
		z += LinalgDotF4(m->P + (int64) u * m->k, m->Q + (int64) i * m->k,
						 m->k);
	return ClipRating(m, z);
}

/*
 * The rating of lrml.predict_rating with recommender stored, whose other
 * arguments are user_id and item_id.
 */
static double
PredictRating(FunctionCallInfo fcinfo, const StoredModel *stored)
{
	const MfModel *m = stored->model->mf;
	int32		u = IdArg(fcinfo, stored, &m->users, 1, "user_id");
	int32		i = IdArg(fcinfo, stored, &m->items, 2, "item_id");

	return PredictIndexes(m, u, i);
}

/*
 * lrml.predict_rating(model text, user_id anyelement, item_id anyelement)
 */
Datum
lrml_predict_rating(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(PredictRating(fcinfo,
								   ScoreRecommender(fcinfo,
													PG_GETARG_TEXT_PP(0))));
}

/*
 * lrml.predict_rating(m lrml.model, user_id anyelement, item_id
 * anyelement): the same with a recommender value.
 */
Datum
lrml_predict_rating_model(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(PredictRating(fcinfo,
								   ScoreRecommenderValue(fcinfo,
														 PG_GETARG_BYTEA_PP(0))));
}

/* Is a worse than b: a lower score, or an equal one of a later item? */
static inline bool
Worse(const ScoredItem *a, const ScoredItem *b)
{
	return a->score < b->score || (a->score == b->score && a->idx > b->idx);
}

/* Restore the min-heap (worst on top) below position pos. */
static void
SiftDown(ScoredItem *heap, int n, int pos)
{
	for (;;)
	{
		int			worst = pos;
		int			l = 2 * pos + 1;
		int			r = l + 1;
		ScoredItem	tmp;

		if (l < n && Worse(&heap[l], &heap[worst]))
			worst = l;
		if (r < n && Worse(&heap[r], &heap[worst]))
			worst = r;
		if (worst == pos)
			return;
		tmp = heap[pos];
		heap[pos] = heap[worst];
		heap[worst] = tmp;
		pos = worst;
	}
}

/* qsort order of scored items: the best first. */
static int
CompareBestFirst(const void *a, const void *b)
{
	const ScoredItem *x = (const ScoredItem *) a;
	const ScoredItem *y = (const ScoredItem *) b;

	if (Worse(y, x))
		return -1;
	if (Worse(x, y))
		return 1;
	return 0;
}

/*
 * Select the k best of scores[0 .. n - 1], skipping items whose skip[] is
 * set (skip may be NULL), into out, best first; return how many.
 *
 * A min-heap of the k best so far keeps its worst at the top; each other
 * item replaces the top when better.  O(n log k).
 */
static int
TopK(const double *scores, int32 n, const bool *skip, int k,
	 ScoredItem *out)
{
	int			size = 0;

	for (int32 i = 0; i < n; i++)
	{
		ScoredItem	c;

		if (skip != NULL && skip[i])
			continue;
		c.score = scores[i];
		c.idx = i;
		if (size < k)
		{
			/* sift up */
			int			pos = size++;

			out[pos] = c;
			while (pos > 0 && Worse(&out[pos], &out[(pos - 1) / 2]))
			{
				ScoredItem	tmp = out[pos];

				out[pos] = out[(pos - 1) / 2];
				out[(pos - 1) / 2] = tmp;
				pos = (pos - 1) / 2;
			}
		}
		else if (Worse(&out[0], &c))
		{
			out[0] = c;
			SiftDown(out, size, 0);
		}
	}
	qsort(out, size, sizeof(ScoredItem), CompareBestFirst);
	return size;
}

/*
 * Fill scores[0 .. n_items - 1] with the unclipped predicted rating of
 * every item for user index u (-1: unknown, mu + b_i).  The dot products
 * are one gemv; float scratch comes from the caller (n_items floats).
 */
static void
ScoreAllItems(const MfModel *m, int32 u, float *dots, double *scores)
{
	double		base = m->mu + (u >= 0 ? m->user_bias[u] : 0.0);

	if (u >= 0)
		LinalgGemvF4(m->items.n, m->k, m->Q, false, m->P + (int64) u * m->k,
					 dots);
	for (int32 i = 0; i < m->items.n; i++)
		scores[i] = base + m->item_bias[i] + (u >= 0 ? (double) dots[i] : 0.0);
}

/*
 * Mark the seen items of user index u in skip (n_items entries, cleared
 * by the caller).
 */
static void
MarkSeen(const MfModel *m, int32 u, bool *skip)
{
	if (u < 0)
		return;
	for (int64 s = m->seen_start[u]; s < m->seen_start[u + 1]; s++)
		skip[m->seen_items[s]] = true;
}

/* Return the k argument, failing for a negative one. */
static int
KArg(FunctionCallInfo fcinfo, int argno)
{
	int			k = PG_GETARG_INT32(argno);

	if (k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"k\" must not be negative"),
				 errdetail("The value given was %d.", k)));
	return k;
}

/*
 * Emit the rows (item id, score, rank) of a top-k result; the id takes the
 * type of the result's first column (the id argument's type).
 */
static void
EmitTopK(FunctionCallInfo fcinfo, const MfModel *m, const ScoredItem *top,
		 int n, const bool *null_score)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			id_type = getBaseType(TupleDescAttr(rsinfo->setDesc,
													0)->atttypid);

	for (int r = 0; r < n; r++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = IdMapDatum(&m->items, top[r].idx, id_type);
		values[1] = Float8GetDatum(top[r].score);
		nulls[1] = null_score != NULL && null_score[top[r].idx];
		values[2] = Int32GetDatum(r + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
}

/*
 * lrml.recommend(model text, user_id anyelement, k int, exclude_seen bool)
 *
 * The k items with the highest predicted rating for the user, best first;
 * with exclude_seen, not the items the user has in the relation the model
 * was trained on.  Fewer than k rows when fewer items remain.
 */
Datum
lrml_recommend(PG_FUNCTION_ARGS)
{
	InitMaterializedSRF(fcinfo, 0);
	Recommend(fcinfo, ScoreRecommender(fcinfo, PG_GETARG_TEXT_PP(0)));
	return (Datum) 0;
}

/*
 * lrml.recommend(m lrml.model, user_id anyelement, k int, exclude_seen
 * bool): the same with a recommender value.
 */
Datum
lrml_recommend_model(PG_FUNCTION_ARGS)
{
	InitMaterializedSRF(fcinfo, 0);
	Recommend(fcinfo, ScoreRecommenderValue(fcinfo, PG_GETARG_BYTEA_PP(0)));
	return (Datum) 0;
}

/*
 * lrml.similar_items(model text, item_id anyelement, k int)
 *
 * The k items whose factors have the highest cosine similarity with the
 * item's, best first, the item itself left out.  An item with zero
 * factors has similarity 0; an unknown item, or one with zero factors,
 * gives no rows.
 */
Datum
lrml_similar_items(PG_FUNCTION_ARGS)
{
	InitMaterializedSRF(fcinfo, 0);
	SimilarItems(fcinfo, ScoreRecommender(fcinfo, PG_GETARG_TEXT_PP(0)));
	return (Datum) 0;
}

/*
 * lrml.similar_items(m lrml.model, item_id anyelement, k int): the same
 * with a recommender value.
 */
Datum
lrml_similar_items_model(PG_FUNCTION_ARGS)
{
	InitMaterializedSRF(fcinfo, 0);
	SimilarItems(fcinfo,
				 ScoreRecommenderValue(fcinfo, PG_GETARG_BYTEA_PP(0)));
	return (Datum) 0;
}

/*
 * Emit the rows of lrml.recommend with recommender stored, whose other
 * arguments are user_id, k and exclude_seen.
 */
static void
Recommend(FunctionCallInfo fcinfo, const StoredModel *stored)
{
	const MfModel *m = stored->model->mf;
	int32		u;
	int			k = KArg(fcinfo, 2);
	bool		exclude_seen = PG_GETARG_BOOL(3);
	MemoryContext cxt;
	MemoryContext old;
	float	   *dots;
	double	   *scores;
	bool	   *skip;
	ScoredItem *top;
	int			n;

	u = IdArg(fcinfo, stored, &m->users, 1, "user_id");
	if (k == 0)
		return;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "lrml recommend",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	k = Min(k, m->items.n);
	dots = palloc_extended(sizeof(float) * m->items.n, MCXT_ALLOC_HUGE);
	scores = palloc_extended(sizeof(double) * m->items.n, MCXT_ALLOC_HUGE);
	skip = palloc_extended(sizeof(bool) * m->items.n,
						   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	top = palloc(sizeof(ScoredItem) * k);
	ScoreAllItems(m, u, dots, scores);
	if (exclude_seen)
		MarkSeen(m, u, skip);
	n = TopK(scores, m->items.n, skip, k, top);
	MemoryContextSwitchTo(old);
	EmitTopK(fcinfo, m, top, n, NULL);
	MemoryContextDelete(cxt);
}

/*
 * Emit the rows of lrml.similar_items with recommender stored, whose other
 * arguments are item_id and k.
 */
static void
SimilarItems(FunctionCallInfo fcinfo, const StoredModel *stored)
{
	const MfModel *m = stored->model->mf;
	int32		i;
	int			k = KArg(fcinfo, 2);
	MemoryContext cxt;
	MemoryContext old;
	float	   *dots;
	double	   *sims;
	bool	   *skip;
	ScoredItem *top;
	double		norm;
	int			n;

	i = IdArg(fcinfo, stored, &m->items, 1, "item_id");
	if (k == 0 || i < 0 || !(m->q_norm[i] > 0.0f))
		return;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "lrml similar items",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	k = Min(k, m->items.n);
	dots = palloc_extended(sizeof(float) * m->items.n, MCXT_ALLOC_HUGE);
	sims = palloc_extended(sizeof(double) * m->items.n, MCXT_ALLOC_HUGE);
	skip = palloc_extended(sizeof(bool) * m->items.n,
						   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	top = palloc(sizeof(ScoredItem) * k);
	LinalgGemvF4(m->items.n, m->k, m->Q, false, m->Q + (int64) i * m->k,
				 dots);
	norm = m->q_norm[i];
	for (int32 j = 0; j < m->items.n; j++)
	{
		/* a zero vector has no direction: similarity 0, never 0 / 0 */
		sims[j] = m->q_norm[j] > 0.0f ?
			(double) dots[j] / (norm * (double) m->q_norm[j]) : 0.0;
		/* rounding may push a cosine a little past 1 */
		sims[j] = Max(-1.0, Min(1.0, sims[j]));
	}
	skip[i] = true;
	n = TopK(sims, m->items.n, skip, k, top);
	MemoryContextSwitchTo(old);
	EmitTopK(fcinfo, m, top, n, NULL);
	MemoryContextDelete(cxt);
}

/* Append one (metric, value) row; NaN (undefined) as NULL. */
static void
Emit(FunctionCallInfo fcinfo, const char *metric, double value)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[2];
	bool		nulls[2] = {false, isnan(value)};

	values[0] = CStringGetTextDatum(metric);
	values[1] = Float8GetDatum(value);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* Sums of the ranking metrics over the users measured */
typedef struct RankSums
{
	double		precision;
	double		recall;
	double		ndcg;
	double		auc;
	int64		users;
	int64		auc_users;
} RankSums;

/*
 * Add the ranking metrics of user index u, whose relevant held-out items
 * are marked in relevant (n_relevant of them, none seen in training), to
 * sums.  Candidates are the items the user has not seen in training.
 */
static void
RankUser(const MfModel *m, int32 u, const bool *relevant, int n_relevant,
		 int k, float *dots, double *scores, bool *skip, ScoredItem *top,
		 double *cand_score, double *cand_y, RankSums *sums)
{
	int			n;
	int			hits = 0;
	double		dcg = 0.0;
	double		idcg = 0.0;
	int64		n_cand = 0;
	double		auc;

	ScoreAllItems(m, u, dots, scores);
	memset(skip, 0, sizeof(bool) * m->items.n);
	MarkSeen(m, u, skip);
	n = TopK(scores, m->items.n, skip, k, top);

	/* 1. precision, recall and NDCG at k (binary relevance) */
	for (int r = 0; r < n; r++)
	{
		if (relevant[top[r].idx])
		{
			hits++;
			dcg += 1.0 / log2(r + 2.0);
		}
	}
	for (int r = 0; r < Min(k, n_relevant); r++)
		idcg += 1.0 / log2(r + 2.0);
	sums->precision += (double) hits / k;
	sums->recall += (double) hits / n_relevant;
	sums->ndcg += dcg / idcg;
	sums->users++;

	/* 2. AUC over the unseen items: relevant against the rest */
	for (int32 i = 0; i < m->items.n; i++)
	{
		if (skip[i])
			continue;
		cand_score[n_cand] = scores[i];
		cand_y[n_cand++] = relevant[i] ? 1.0 : 0.0;
	}
	auc = MetricAuc(cand_score, cand_y, n_cand);
	if (!isnan(auc))
	{
		sums->auc += auc;
		sums->auc_users++;
	}
}

/*
 * Compute precision@k, recall@k, ndcg@k and AUC, averaged over the known
 * users with at least one relevant row (a rating at or above the
 * threshold, or every row without one) whose item they have not seen in
 * training.  Rows of unknown users or items are left out.
 */
static void
RankingMetrics(FunctionCallInfo fcinfo, const MfModel *m,
			   const RatingData *data, const EvaluateOptions *eo)
{
	int32		n_users = m->users.n;
	int32		n_items = m->items.n;
	int64	   *start = palloc0(sizeof(int64) * (n_users + 1));
	int32	   *rows_item = palloc_extended(sizeof(int32) * Max(data->n, 1),
											MCXT_ALLOC_HUGE);
	int64	   *fill = palloc0(sizeof(int64) * (n_users + 1));
	bool	   *relevant = palloc0(sizeof(bool) * n_items);
	bool	   *seen = palloc0(sizeof(bool) * n_items);
	float	   *dots = palloc(sizeof(float) * n_items);
	double	   *scores = palloc(sizeof(double) * n_items);
	bool	   *skip = palloc(sizeof(bool) * n_items);
	ScoredItem *top = palloc(sizeof(ScoredItem) * Min(eo->k, n_items));
	double	   *cand_score = palloc(sizeof(double) * n_items);
	double	   *cand_y = palloc(sizeof(double) * n_items);
	RankSums	sums;
	char		name[64];

	/* 1. group the relevant rows of known users and items by user */
	memset(&sums, 0, sizeof(sums));
	for (int64 r = 0; r < data->n; r++)
		if (data->u[r] >= 0 && data->i[r] >= 0 &&
			(!eo->has_threshold || data->r[r] >= eo->threshold))
			start[data->u[r] + 1]++;
	for (int32 u = 0; u < n_users; u++)
		start[u + 1] += start[u];
	for (int64 r = 0; r < data->n; r++)
		if (data->u[r] >= 0 && data->i[r] >= 0 &&
			(!eo->has_threshold || data->r[r] >= eo->threshold))
			rows_item[start[data->u[r]] + fill[data->u[r]]++] = data->i[r];

	/* 2. measure each user with relevant unseen items */
	for (int32 u = 0; u < n_users; u++)
	{
		int			n_relevant = 0;

		CHECK_FOR_INTERRUPTS();
		if (start[u] == start[u + 1])
			continue;
		MarkSeen(m, u, seen);
		for (int64 s = start[u]; s < start[u + 1]; s++)
			if (!seen[rows_item[s]] && !relevant[rows_item[s]])
			{
				relevant[rows_item[s]] = true;
				n_relevant++;
			}
		if (n_relevant > 0)
			RankUser(m, u, relevant, n_relevant, Min(eo->k, n_items), dots,
					 scores, skip, top, cand_score, cand_y, &sums);
		for (int64 s = start[u]; s < start[u + 1]; s++)
			relevant[rows_item[s]] = false;
		for (int64 s = m->seen_start[u]; s < m->seen_start[u + 1]; s++)
			seen[m->seen_items[s]] = false;
	}

	snprintf(name, sizeof(name), "precision@%d", eo->k);
	Emit(fcinfo, name, sums.users ? sums.precision / sums.users :
		 get_float8_nan());
	snprintf(name, sizeof(name), "recall@%d", eo->k);
	Emit(fcinfo, name, sums.users ? sums.recall / sums.users :
		 get_float8_nan());
	snprintf(name, sizeof(name), "ndcg@%d", eo->k);
	Emit(fcinfo, name, sums.users ? sums.ndcg / sums.users :
		 get_float8_nan());
	Emit(fcinfo, "auc", sums.auc_users ? sums.auc / sums.auc_users :
		 get_float8_nan());
	Emit(fcinfo, "users", (double) sums.users);
}

/*
 * lrml.evaluate for a recommender (called by lrml_evaluate, materialized
 * result already set up): read the relation's rows by the model's column
 * names and measure the deployed version.
 *
 * On rating rows (the relation has the model's rating column): rmse and
 * mae of the clipped predictions (unknown ids scored by the cold-start
 * rules) and rows; with the "threshold" option also the ranking metrics
 * of the rows rated at or above it.  On interaction rows (no rating
 * column): the ranking metrics of every row (see RankingMetrics).  Rows
 * with a NULL value are skipped, with a notice.
 */
void
MfEvaluate(FunctionCallInfo fcinfo, const StoredModel *stored,
		   const char *relation, Jsonb *options)
{
	const MfModel *m = stored->model->mf;
	EvaluateOptions eo;
	MemoryContext cxt;
	MemoryContext old;
	RatingData *data;
	IdMap		users = m->users;
	IdMap		items = m->items;
	const char *rating_col = m->rating_col;
	bool		has_rating;

	ScoreEvaluateOptions(options, true, &eo);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "lrml evaluate",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);

	/* interaction rows have no rating column */
	has_rating = rating_col != NULL &&
		RatingsHasColumn(relation, rating_col);
	/* a bpr model ranks: by default its own positives are the relevant */
	if (m->kind == MODEL_BPR && has_rating && !eo.has_threshold &&
		!isnan(m->positive_threshold))
	{
		eo.has_threshold = true;
		eo.threshold = m->positive_threshold;
	}
	data = RatingsLoad(relation, m->user_col, m->item_col,
					   has_rating ? rating_col : NULL, &users, &items, false,
					   m->id_typid);
	if (data->n_null > 0)
		ereport(NOTICE,
				(errmsg_plural("skipped " INT64_FORMAT " row with a NULL user, item or rating",
							   "skipped " INT64_FORMAT " rows with a NULL user, item or rating",
							   data->n_null, data->n_null)));
	if (eo.has_threshold && !has_rating)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"threshold\" needs rating rows"),
				 errdetail("Relation \"%s\" has no column \"%s\".", relation,
						   rating_col ? rating_col : "rating")));

	if (has_rating && m->kind == MODEL_MF)
	{
		double		se = 0.0;
		double		ae = 0.0;

		for (int64 r = 0; r < data->n; r++)
		{
			double		e = data->r[r] - PredictIndexes(m, data->u[r],
														data->i[r]);

			se += e * e;
			ae += fabs(e);
		}
		Emit(fcinfo, "rmse", data->n ? sqrt(se / data->n) : get_float8_nan());
		Emit(fcinfo, "mae", data->n ? ae / data->n : get_float8_nan());
		Emit(fcinfo, "rows", (double) data->n);
	}
	if (!has_rating || eo.has_threshold || m->kind == MODEL_BPR)
		RankingMetrics(fcinfo, m, data, &eo);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}
