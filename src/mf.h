/*-------------------------------------------------------------------------
 *
 * mf.h
 *	  Recommenders: the decoded model, id maps and rating rows shared by
 *	  mf.c (training), mf_aggregate.c (lrml.fit_recommender), mf_store.c
 *	  (payload, lrml.factors), mf_score.c (scoring, top-k, evaluation) and
 *	  ratings.c (reading rating rows).
 *
 * src/mf.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LRML_MF_H
#define LRML_MF_H

#include "lrml.h"

#include "utils/hsearch.h"

/*
 * Ids of users or items, mapped to dense indexes 0 .. n - 1 in order of
 * first appearance.  Integer ids (int2, int4, int8) are kept as int64,
 * text ids (text, varchar) as strings; the hash maps either to its index.
 */
typedef struct IdMap
{
	bool		is_text;
	int32		n;
	int32		cap;
	int64	   *ints;			/* !is_text: the id of each index */
	char	  **texts;			/* is_text: the id of each index */
	HTAB	   *hash;
	Size		text_bytes;		/* memory held by the texts */
} IdMap;

/*
 * A trained recommender, as stored and as decoded for scoring.
 *
 *	  r_hat(u, i) = mu + b_u[u] + b_i[i] + P[u] . Q[i]
 *
 * (b_u and b_i are 0 with "biases": false).  A bpr model ranks with
 * b_i + P[u] . Q[i]: its mu and b_u are 0 and its scores are not ratings,
 * so they are not clipped (r_min and r_max are -DBL_MAX and DBL_MAX).
 * P and Q are row-major,
 * n x k.  Users and items seen only in validation rows have zero biases
 * and factors.  The seen items of user u (all of u's rows in the training
 * relation, validation rows included) are seen_items[seen_start[u] ..
 * seen_start[u + 1] - 1], in increasing order.
 */
typedef struct MfModel
{
	ModelKind	kind;			/* MODEL_MF or MODEL_BPR */
	Oid			id_typid;		/* base type of the id columns */
	int32		k;
	bool		biases;
	double		mu;				/* global mean of the training ratings */
	double		r_min;			/* range of the training ratings */
	double		r_max;
	char	   *user_col;
	char	   *item_col;
	char	   *rating_col;		/* NULL for interaction rows */
	double		positive_threshold; /* bpr: least positive rating, or NaN */
	IdMap		users;
	IdMap		items;
	double	   *user_bias;
	double	   *item_bias;
	float	   *P;
	float	   *Q;
	int64	   *seen_start;		/* n_users + 1 entries */
	int32	   *seen_items;
	/* derived for scoring (MfPrepareScoring), not stored */
	float	   *q_norm;			/* |Q[i]| */
	/* a warm start's, for the stored metrics only */
	int32		parent_version; /* 0 when trained from scratch */
	int32		new_users;		/* users and items its version lacked */
	int32		new_items;
} MfModel;

/*
 * Rating rows as read by ratings.c: user and item indexes into two IdMaps
 * (-1 for an id the maps do not hold, when they were not allowed to
 * grow), and the rating (NULL when there is no rating column).
 */
typedef struct RatingData
{
	char	   *source;			/* query text, or the resolved name */
	Oid			id_typid;
	int64		n;
	int32	   *u;
	int32	   *i;
	double	   *r;
	int64		n_null;			/* rows skipped for a NULL value */
	int64		n_read;			/* rows read without a NULL value */
} RatingData;

/* A trained recommender and what storing it needs (MfFit) */
typedef struct MfFitResult
{
	LrmlModel  *model;
	Jsonb	   *metrics;
	EpochRecord *curve;
	int			n_epochs;
	bytea	   *optimizer_state;
} MfFitResult;

/* mf.c */
extern void MfFit(const char *name, const char *what, RatingData *data,
				  MfModel *m, TrainOptions *opts, const WarmStart *ws,
				  MfFitResult *result);

/* ratings.c */
extern void IdMapInit(IdMap *map, bool is_text, int32 capacity);
extern int32 IdMapLookup(const IdMap *map, Datum value, Oid typid);
extern int32 IdMapAdd(IdMap *map, int64 int_id, const char *text_id);
extern bool IdTypeIsText(Oid typid);
extern int64 IdIntValue(Datum value, Oid typid);
extern Oid	IdTypeCheck(Oid typid, const char *relation, const char *column);
extern Datum IdMapDatum(const IdMap *map, int32 idx, Oid typid);
extern char *IdMapText(const IdMap *map, int32 idx);
extern bool RatingsHasColumn(const char *relation, const char *column);
extern RatingData *RatingsLoad(const char *relation, const char *user_col,
							   const char *item_col, const char *rating_col,
							   IdMap *users, IdMap *items, bool grow,
							   Oid model_typid);

/* mf_store.c */
extern void MfPayloadWrite(StringInfo buf, const MfModel *m);
extern MfModel *MfPayloadRead(StringInfo buf, ModelKind kind,
							  const char *name, int32 version);
extern Jsonb *MfDescribe(const MfModel *m);
extern void MfStoreFactors(int64 model_id, const MfModel *m);

/* score.c */
extern const StoredModel *ScoreRecommender(FunctionCallInfo fcinfo,
										   text *name);
extern const StoredModel *ScoreRecommenderValue(FunctionCallInfo fcinfo,
												bytea *value);

/* mf_score.c */
extern void MfPrepareScoring(MfModel *m);
extern void MfEvaluate(FunctionCallInfo fcinfo, const StoredModel *stored,
					   const char *relation, Jsonb *options);

#endif							/* LRML_MF_H */
