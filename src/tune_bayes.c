/*-------------------------------------------------------------------------
 *
 * tune_bayes.c
 *	  Bayesian search for lrml.tune: a Gaussian-process surrogate of the
 *	  trial score and expected improvement.
 *
 * tune.c runs the trials and asks this file for the next point of a
 * Bayesian search (BayesPropose) once its random start is done.  This
 * file reads the trials so far and the space; it trains nothing and
 * stores nothing.
 *
 * Bayesian search (Snoek, Larochelle and Adams, "Practical Bayesian
 * Optimization of Machine Learning Algorithms", NIPS 2012) models the
 * trial score as a Gaussian process over the space scaled to the unit
 * cube, and picks each next trial by expected improvement:
 *
 *	  u         a point: a range's value mapped to [0, 1] in its scale
 *	            (for "int" the rounded value), a list as one-hot
 *	  y         the score to minimize: ln(valid_loss) or ln(rmse), or
 *	            -auc; standardized over the trials that succeeded; a
 *	            failed trial gets max(y) + 1, a finite penalty that makes
 *	            it the worst result (all 0 when none succeeded)
 *	  k(u, u')  Matern 5/2: (1 + sqrt(5) r / l + 5 r^2 / (3 l^2))
 *	            * exp(-sqrt(5) r / l), r = |u - u'| (one length scale l,
 *	            unit signal variance)
 *	  K         k over the trials + s2 I; l and the noise s2 are the pair of
 *	            a small grid with the largest log marginal likelihood
 *	            -y^T K^-1 y / 2 - sum ln diag(L) - n ln(2 pi) / 2,
 *	            K = L L^T by LAPACK's Cholesky (dpotrf, dpotrs)
 *	  mu(u)     k_*^T K^-1 y,  s(u)^2 = 1 - k_*^T K^-1 k_*
 *	  EI(u)     (y_min - mu - xi) Phi(z) + s phi(z),
 *	            z = (y_min - mu - xi) / s, xi = 0.01
 *
 * The first max(3, min(coordinates + 1, 10)) trials (at most the budget)
 * are random, and a random point that repeats a trial is drawn again
 * (BayesStartPoint); each later one is the untried candidate of largest
 * EI among 1000 random points and 100 perturbations of each of the three best
 * trials so far (ranges moved by N(0, 0.1^2) in scaled units, a list's
 * choice redrawn with probability 0.2); a space of finitely many points
 * ends the search once all are tried.  If no kernel of the grid can be
 * factored, the trial is drawn at random.  Every draw comes from one
 * generator seeded by the search's seed, so the same search gives the
 * same trials.
 *
 * Memory: BayesPropose works in a context of its own, deleted before it
 * returns; only the proposed point (in the caller's SearchPoint) and the
 * result survive.
 *
 * src/tune_bayes.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"
#include "tune.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"
#include "utils/memutils.h"

/* Bayesian search: candidates scored by EI per trial */
#define BAYES_RANDOM_CANDIDATES 1000
#define BAYES_LOCAL_CANDIDATES	100
#define BAYES_LOCAL_CENTERS		3
#define BAYES_LOCAL_SD			0.1
#define BAYES_LOCAL_SWITCH		0.2
#define BAYES_XI				0.01

/* Random start: draws of a point before a repeat is accepted */
#define BAYES_START_DRAWS		100

/*----------
 * Matern 5/2 kernel at distance r for length scale l:
 *	  (1 + sqrt(5) r / l + 5 r^2 / (3 l^2)) exp(-sqrt(5) r / l)
 */
static double
Matern52(double r, double l)
{
	double		a = sqrt(5.0) * r / l;

	return (1.0 + a + a * a / 3.0) * exp(-a);
}

static double
Distance(const double *a, const double *b, int n)
{
	double		s = 0.0;

	for (int i = 0; i < n; i++)
		s += (a[i] - b[i]) * (a[i] - b[i]);
	return sqrt(s);
}

/*
 * The Gaussian process over the trials so far: the Cholesky factor of K,
 * K^-1 y, and the chosen length scale.
 */
typedef struct GaussianProcess
{
	int			n;
	int			dim;
	double	  **u;				/* the trials' points */
	double	   *L;				/* n x n factor of K */
	double	   *alpha;			/* K^-1 y */
	double		length;
	double		y_min;
} GaussianProcess;

/*
 * Build K for length scale l and noise s2 into K, factor it, and return
 * the log marginal likelihood of y (or -inf when K is not positive
 * definite).  alpha gets K^-1 y.
 */
static double
FitKernel(const GaussianProcess *gp, const double *y, double l, double s2,
		  double *K, double *alpha)
{
	int			n = gp->n;
	double		lml = 0.0;

	for (int i = 0; i < n; i++)
		for (int j = 0; j <= i; j++)
		{
			double		k = Matern52(Distance(gp->u[i], gp->u[j], gp->dim), l);

			if (i == j)
				k += s2 + 1e-10;
			K[i * n + j] = k;
			K[j * n + i] = k;
		}
	if (!LinalgCholesky(n, K))
		return -get_float8_infinity();
	memcpy(alpha, y, sizeof(double) * n);
	LinalgCholeskySolve(n, K, 1, alpha);
	for (int i = 0; i < n; i++)
		lml -= 0.5 * y[i] * alpha[i] + log(K[i * n + i]);
	return lml - 0.5 * n * log(2.0 * M_PI);
}

/*
 * Fit the Gaussian process to the trials: standardized targets, failed
 * trials at the penalty, and the (length, noise) pair of largest marginal
 * likelihood from a small grid.  Returns false when no kernel of the grid
 * could be factored (the caller then draws at random).
 */
static bool
FitProcess(const SearchSpec *spec, Trial *trials, int n, GaussianProcess *gp)
{
	static const double lengths[] = {0.05, 0.1, 0.2, 0.35, 0.5, 0.8, 1.2, 2.0};
	static const double noises[] = {1e-6, 1e-4, 1e-2, 1e-1};
	double	   *y = palloc(sizeof(double) * n);
	double	   *K = palloc(sizeof(double) * n * n);
	double	   *alpha = palloc(sizeof(double) * n);
	double		sum = 0.0,
				sumsq = 0.0,
				mean,
				sd,
				worst = -get_float8_infinity(),
				best_lml = -get_float8_infinity();
	int			n_ok = 0;

	gp->n = n;
	gp->dim = Max(spec->n_coords, 1);
	gp->u = palloc(sizeof(double *) * n);
	gp->L = palloc(sizeof(double) * n * n);
	gp->alpha = palloc(sizeof(double) * n);
	gp->length = lengths[0];

	/* positive losses on a log scale: a diverging trial is no outlier */
	for (int i = 0; i < n; i++)
	{
		gp->u[i] = trials[i].u;
		y[i] = get_float8_nan();
		if (!trials[i].ok)
			continue;
		y[i] = spec->metric == METRIC_AUC ? trials[i].score :
			log(Max(trials[i].score, 1e-300));
		sum += y[i];
		sumsq += y[i] * y[i];
		n_ok++;
	}
	mean = n_ok > 0 ? sum / n_ok : 0.0;
	sd = n_ok > 1 ? sqrt(Max(sumsq / n_ok - mean * mean, 0.0)) : 0.0;
	if (!(sd > 1e-12))
		sd = 1.0;
	for (int i = 0; i < n; i++)
		if (trials[i].ok)
		{
			y[i] = (y[i] - mean) / sd;
			worst = Max(worst, y[i]);
		}
	gp->y_min = get_float8_infinity();
	for (int i = 0; i < n; i++)
	{
		if (!trials[i].ok)
			y[i] = n_ok > 0 ? worst + 1.0 : 0.0;
		gp->y_min = Min(gp->y_min, y[i]);
	}

	for (int a = 0; a < (int) lengthof(lengths); a++)
		for (int b = 0; b < (int) lengthof(noises); b++)
		{
			double		l = lengths[a] * sqrt((double) gp->dim);
			double		lml;

			CHECK_FOR_INTERRUPTS();
			lml = FitKernel(gp, y, l, noises[b], K, alpha);

			if (lml > best_lml)
			{
				best_lml = lml;
				gp->length = l;
				memcpy(gp->L, K, sizeof(double) * n * n);
				memcpy(gp->alpha, alpha, sizeof(double) * n);
			}
		}
	return isfinite(best_lml);
}

/*
 * Expected improvement of each of m candidate points cu[] (minimizing).
 */
static void
ExpectedImprovement(const GaussianProcess *gp, double **cu, int m,
					double *ei)
{
	int			n = gp->n;
	double	   *ks = palloc(sizeof(double) * n * m);
	double	   *v = palloc(sizeof(double) * n * m);

	for (int c = 0; c < m; c++)
		for (int i = 0; i < n; i++)
			ks[c * n + i] = Matern52(Distance(cu[c], gp->u[i], gp->dim),
									 gp->length);
	memcpy(v, ks, sizeof(double) * n * m);
	LinalgCholeskySolve(n, gp->L, m, v);
	for (int c = 0; c < m; c++)
	{
		double		mu = 0.0,
					var = 1.0,
					s,
					z,
					gain;

		for (int i = 0; i < n; i++)
		{
			mu += ks[c * n + i] * gp->alpha[i];
			var -= ks[c * n + i] * v[c * n + i];
		}
		s = sqrt(Max(var, 1e-12));
		gain = gp->y_min - mu - BAYES_XI;
		z = gain / s;
		ei[c] = gain * 0.5 * erfc(-z / M_SQRT2) +
			s * exp(-0.5 * z * z) / sqrt(2.0 * M_PI);
		if (!isfinite(ei[c]))
			ei[c] = 0.0;
	}
	pfree(ks);
	pfree(v);
}

/*
 * Draw a standard normal number (Box-Muller).
 */
static double
NormalDraw(pg_prng_state *rng)
{
	double		u1 = 1.0 - pg_prng_double(rng);	/* in (0, 1] */
	double		u2 = pg_prng_double(rng);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/*
 * Set p to a perturbation of the trial point c.
 */
static void
LocalPoint(const SearchSpec *spec, const SearchPoint *c, pg_prng_state *rng,
		   SearchPoint *p)
{
	for (int d = 0; d < spec->n_dims; d++)
	{
		const SearchDim *dim = &spec->dims[d];

		if (dim->is_range)
		{
			p->choice[d] = -1;
			p->value[d] = SearchUnitToRange(dim, SearchRangeToUnit(dim, c->value[d]) +
									  BAYES_LOCAL_SD * NormalDraw(rng));
		}
		else if (pg_prng_double(rng) < BAYES_LOCAL_SWITCH)
			p->choice[d] = (int) pg_prng_uint64_range(rng, 0,
													  dim->n_choices - 1);
		else
			p->choice[d] = c->choice[d];
	}
}

/*
 * Has point u (of dim coordinates) been tried by one of trials[0 .. n-1]?
 */
static bool
Tried(const double *u, const Trial *trials, int n, int dim)
{
	for (int i = 0; i < n; i++)
		if (Distance(u, trials[i].u, dim) < 1e-9)
			return true;
	return false;
}

/*
 * Count the distinct points of trials[0 .. n-1].
 */
int
BayesDistinctTried(const Trial *trials, int n, int dim)
{
	int			count = 0;

	for (int i = 0; i < n; i++)
		count += !Tried(trials[i].u, trials, i, dim);
	return count;
}

/*
 * Propose the next point of a Bayesian search into p: the untried
 * candidate of largest expected improvement (see the file header), or a
 * random point when the process cannot be fitted.  Returns false when
 * every candidate had been tried already (p is then the best of them).
 */
bool
BayesPropose(const SearchSpec *spec, Trial *trials, int n,
			 pg_prng_state *rng, SearchPoint *p)
{
	int			n_centers = 0;
	int			centers[BAYES_LOCAL_CENTERS];
	int			m;
	SearchPoint *cand;
	double	  **cu;
	double	   *ei;
	GaussianProcess gp;
	int			best = -1;
	int			best_any = 0;
	bool		untried;
	int			dim = Max(spec->n_coords, 1);
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "lrml tune proposal",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old_cxt = MemoryContextSwitchTo(cxt);

	if (!FitProcess(spec, trials, n, &gp))
	{
		SearchRandomPoint(spec, rng, p);
		MemoryContextSwitchTo(old_cxt);
		MemoryContextDelete(cxt);
		return true;
	}

	/* the best trials that succeeded, best first */
	for (int k = 0; k < BAYES_LOCAL_CENTERS; k++)
	{
		int			pick = -1;

		for (int i = 0; i < n; i++)
		{
			bool		taken = false;

			for (int j = 0; j < n_centers; j++)
				taken |= centers[j] == i;
			if (trials[i].ok && !taken &&
				(pick < 0 || trials[i].score < trials[pick].score))
				pick = i;
		}
		if (pick >= 0)
			centers[n_centers++] = pick;
	}

	m = BAYES_RANDOM_CANDIDATES + n_centers * BAYES_LOCAL_CANDIDATES;
	cand = palloc(sizeof(SearchPoint) * m);
	cu = palloc(sizeof(double *) * m);
	ei = palloc(sizeof(double) * m);
	for (int c = 0; c < m; c++)
	{
		SearchPointAlloc(spec, &cand[c]);
		if (c < BAYES_RANDOM_CANDIDATES)
			SearchRandomPoint(spec, rng, &cand[c]);
		else
			LocalPoint(spec,
					   &trials[centers[(c - BAYES_RANDOM_CANDIDATES) /
									   BAYES_LOCAL_CANDIDATES]].point,
					   rng, &cand[c]);
		cu[c] = palloc(sizeof(double) * dim);
		SearchPointToUnit(spec, &cand[c], cu[c]);
	}
	ExpectedImprovement(&gp, cu, m, ei);
	for (int c = 0; c < m; c++)
	{
		CHECK_FOR_INTERRUPTS();
		if (ei[c] > ei[best_any])
			best_any = c;
		if ((best < 0 || ei[c] > ei[best]) && !Tried(cu[c], trials, n, dim))
			best = c;
	}
	untried = (best >= 0);
	if (!untried)
		best = best_any;
	memcpy(p->choice, cand[best].choice, sizeof(int) * spec->n_dims);
	memcpy(p->value, cand[best].value, sizeof(double) * spec->n_dims);
	/* the candidates die with cxt: read nothing of them after this */
	MemoryContextSwitchTo(old_cxt);
	MemoryContextDelete(cxt);
	return untried;
}

/*
 * Draw a point of a Bayesian search's random start into p, after n trials:
 * a random point, drawn again (up to BAYES_START_DRAWS times) while it
 * repeats a trial, so that a finite space is not spent on repeats.
 * Returns false, drawing nothing, when a finite space of space_size points
 * (space_size <= 0: not finite) has been tried in full.
 */
bool
BayesStartPoint(const SearchSpec *spec, const Trial *trials, int n,
				double space_size, pg_prng_state *rng, SearchPoint *p)
{
	int			dim = Max(spec->n_coords, 1);
	double	   *u;

	if (space_size > 0 && BayesDistinctTried(trials, n, dim) >= space_size)
		return false;
	u = palloc(sizeof(double) * dim);
	for (int d = 0; d < BAYES_START_DRAWS; d++)
	{
		SearchRandomPoint(spec, rng, p);
		SearchPointToUnit(spec, p, u);
		if (!Tried(u, trials, n, dim))
			break;
	}
	pfree(u);
	return true;
}
