/*-------------------------------------------------------------------------
 *
 * tune.h
 *	  The search space, points and trials of lrml.tune, shared by tune.c
 *	  (parsing, trials, storage) and tune_bayes.c (Bayesian proposals).
 *
 * src/tune.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LRML_TUNE_H
#define LRML_TUNE_H

#include "lrml.h"

#include "common/pg_prng.h"

/* Largest number of trials of one search */
#define TUNE_MAX_TRIALS		10000

/* Largest number of trials of a Bayesian search (its kernel is n x n) */
#define TUNE_MAX_BAYES_TRIALS	500

/* Largest magnitude of a bound of an "int" range (exact in a double) */
#define TUNE_MAX_INT			1e15

/* Largest number of choices (or grid points) of one key */
#define TUNE_MAX_CHOICES	1000

typedef enum SearchMethod
{
	SEARCH_GRID = 1,
	SEARCH_RANDOM,
	SEARCH_BAYES
} SearchMethod;

typedef enum SearchMetric
{
	METRIC_VALID_LOSS = 1,
	METRIC_AUC,
	METRIC_RMSE
} SearchMetric;

typedef enum RangeScale
{
	SCALE_LINEAR = 1,
	SCALE_LOG,
	SCALE_INT
} RangeScale;

/* One tuned key: a list of choices or a range */
typedef struct SearchDim
{
	char	   *key;			/* option key, or "parent.child" */
	bool		is_range;
	int			n_choices;		/* list */
	Jsonb	  **choices;
	char	  **choice_text;	/* JSON text of each choice */
	double		min;			/* range */
	double		max;
	RangeScale	scale;
	int			num;			/* grid: points of the range */
	int			coord;			/* first coordinate in the unit cube */
	int			width;			/* coordinates: 1 for a range, else
								 * n_choices */
} SearchDim;

typedef struct SearchSpec
{
	SearchMethod method;
	int			trials;
	SearchMetric metric;
	double		max_seconds;	/* 0: no limit */
	int64		seed;
	Jsonb	   *space;			/* as given, for the stored record */
	int			n_dims;
	SearchDim  *dims;
	int			n_coords;
} SearchSpec;

/* A point of the space: per key, a choice index (list) or a value */
typedef struct SearchPoint
{
	int		   *choice;
	double	   *value;
} SearchPoint;

/* One trial as it ran */
typedef struct Trial
{
	SearchPoint point;
	double	   *u;				/* the point in the unit cube */
	Jsonb	   *params;
	TrainOptions opts;
	bool		parsed;			/* opts hold the trial's options */
	bool		ok;
	char	   *reason;			/* failed: the error message */
	ErrorData  *edata;			/* failed: the error */
	double		valid_loss;		/* NaN unless ok */
	double		valid_metric;
	double		score;			/* value minimized; NaN unless ok */
	double		seconds;
	MemoryContext cxt;			/* ok: holds the trained model */
	TrainInput	in;
	TrainFitResult fit;
} Trial;

/* tune.c: the space */
extern double SearchRangeToUnit(const SearchDim *dim, double x);
extern double SearchUnitToRange(const SearchDim *dim, double t);
extern void SearchPointAlloc(const SearchSpec *spec, SearchPoint *p);
extern void SearchRandomPoint(const SearchSpec *spec, pg_prng_state *rng,
							  SearchPoint *p);
extern void SearchPointToUnit(const SearchSpec *spec, const SearchPoint *p,
							  double *u);

/* tune_bayes.c */
extern bool BayesPropose(const SearchSpec *spec, Trial *trials, int n,
						 pg_prng_state *rng, SearchPoint *p);
extern int	BayesDistinctTried(const Trial *trials, int n, int dim);
extern bool BayesStartPoint(const SearchSpec *spec, const Trial *trials,
							int n, double space_size, pg_prng_state *rng,
							SearchPoint *p);

#endif							/* LRML_TUNE_H */
