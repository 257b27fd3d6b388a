/*-------------------------------------------------------------------------
 *
 * mf.c
 *	  Matrix factorization recommenders: lrml.train_recommender, for
 *	  explicit ratings ("mf") and implicit feedback ("bpr").
 *
 * The model is biased matrix factorization (Koren, Bell and Volinsky,
 * "Matrix Factorization Techniques for Recommender Systems", IEEE
 * Computer 42(8), 2009):
 *
 *		r_hat(u, i) = mu + b_u + b_i + p_u . q_i
 *
 * with mu the mean training rating (fixed), b_u and b_i learned biases
 * (none with "biases": false) and p_u, q_i rows of k factors, fitted to
 * minimize, over the training ratings,
 *
 *		sum (r - r_hat)^2 + reg (|p_u|^2 + |q_i|^2)
 *		                  + reg_bias (b_u^2 + b_i^2)
 *
 * by stochastic gradient descent over the shuffled ratings, one rating at
 * a time (Funk's SGD, as in Koren et al.).  Each rating touches only
 * 2 (k + 1) parameters, so this file plugs into the shared training loop
 * (train.c) through Learner.run_batch: the loop keeps the schedule, the
 * epochs and their order, interrupts, divergence back-off, plateau, early
 * stopping and the curve, while run_batch applies the sparse updates with
 * OptimizerSparseStep (optimizer.c): plain sgd, or adagrad with one
 * accumulated rate per user row, item row and bias.  The loop's "rows"
 * are blocks of MF_BLOCK_ROWS ratings, whose order it shuffles every
 * epoch; the ratings themselves were shuffled once, by the seed, when the
 * split was drawn.
 *
 * The parameter vector theta (double) is
 *
 *		[ b_u (n_users) | b_i (n_items) | P (n_users x k) | Q (n_items x k) ]
 *
 * and the optimizer's state vector has one entry per block: the factor
 * rows of the users, then of the items, then the user biases, then the
 * item biases.
 *
 * "bpr" (Rendle, Freudenthaler, Gantner and Schmidt-Thieme, "BPR:
 * Bayesian Personalized Ranking from Implicit Feedback", UAI 2009) fits
 * the same factors (and item biases) to rank each positive above
 * uniformly sampled negatives; see BprRunBatch.
 *
 * The validation split (validation_fraction, drawn by the seed) gives the
 * per-epoch validation MSE (valid_loss) and RMSE (valid_metric), with
 * predictions clipped to the range of the training ratings as scoring
 * clips them; for bpr, the BPR loss and AUC of each validation positive
 * against a fixed sampled negative.  Users and items that have no
 * training rating keep zero factors and biases, so they are scored by the
 * cold-start rules.
 *
 * MfFit trains on rating rows already in memory (from RatingsLoad for
 * lrml.train_recommender, from the group's state for the aggregate
 * lrml.fit_recommender, mf_aggregate.c); only lrml.train_recommender
 * warm-starts and stores.
 *
 * Memory: everything is allocated in the training call's context, which
 * dies with the call; nothing is stored unless training succeeds.
 *
 * src/mf.c
 *
 *-------------------------------------------------------------------------
 */
#include "mf.h"
#include "linalg.h"

#include <float.h>

#include "common/pg_prng.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(lrml_train_recommender);

/* Rows between interrupt checks in the loops over all ratings */
#define MF_INTERRUPT_MASK 0xFFFF

/* Ratings per block of the training loop (one "step" of a schedule) */
#define MF_BLOCK_ROWS 128

/*
 * Scale of the initial factors: each is drawn from N(0, (MF_INIT_SCALE /
 * sqrt(k))^2), so that |p_u|^2 starts near MF_INIT_SCALE^2 whatever k is.
 * (N(0, 0.1^2) per factor, as in Surprise, starts 100 factors ten times
 * larger and ends about 0.01 worse in RMSE on MovieLens u1.)
 */
#define MF_INIT_SCALE 0.1

/*
 * The training data and hyperparameters the Learner callbacks see.
 */
typedef struct MfTrain
{
	int32	   *u;				/* training rows, then validation rows */
	int32	   *i;
	double	   *r;
	int64		n_train;
	int64		n_valid;
	int32		n_users;
	int32		n_items;
	int			k;
	double		mu;
	double		r_min;			/* range of the training ratings */
	double		r_max;
	double		reg;
	double		reg_bias;
	bool		biases;
	int64		off_P;			/* offsets in theta */
	int64		off_Q;
	double	   *gp;				/* scratch: k each */
	double	   *gq;
	/* bpr only */
	bool		bpr;
	int			negatives;		/* sampled negatives per positive */
	int64	   *pos_start;		/* each user's positives (all rows), */
	int32	   *pos_items;		/* sorted, as in MfModel's seen sets */
	int32	   *valid_neg;		/* a fixed negative per validation row */
	pg_prng_state rng;			/* draws the training negatives */
} MfTrain;

/* Clip a prediction to the range of the training ratings. */
static inline double
Clip(const MfTrain *t, double x)
{
	return x < t->r_min ? t->r_min : (x > t->r_max ? t->r_max : x);
}

/*
 * Return the raw prediction for (u, i) from theta: mu + b_u + b_i + p . q
 * for mf, b_i + p . q for bpr (mu and b_u do not change a user's ranking).
 */
static inline double
Predict(const MfTrain *t, const double *theta, int32 u, int32 i)
{
	double		z = t->mu + LinalgDot(theta + t->off_P + (int64) u * t->k,
									  theta + t->off_Q + (int64) i * t->k,
									  t->k);

	if (t->biases)
		z += (t->bpr ? 0.0 : theta[u]) + theta[t->n_users + i];
	return z;
}

/* Ratings ahead whose factor rows are prefetched */
#define MF_PREFETCH_AHEAD 8

/*
 * Ask for the factor rows of rating r (and the user's bias) before they
 * are needed: the rows are visited in random order and mostly out of
 * cache, and waiting for them costs more than the update.  Measured on
 * 10M ratings at 64 factors, 8 ratings ahead beat 4 and 16, and asking
 * for the whole item row beat asking for its first line.
 */
static inline void
PrefetchRows(const MfTrain *t, const double *theta, int64 r)
{
	const double *p = theta + t->off_P + (int64) t->u[r] * t->k;
	const double *q = theta + t->off_Q + (int64) t->i[r] * t->k;

	/* one request per 64-byte line: 8 doubles */
	for (int f = 0; f < t->k; f += 8)
	{
		__builtin_prefetch(p + f, 1);
		__builtin_prefetch(q + f, 1);
	}
	__builtin_prefetch(&theta[t->u[r]], 1);
}

/* Return log(1 + exp(-z)) = -log sigmoid(z), without overflow. */
static inline double
SoftplusNeg(double z)
{
	return z > 0 ? log1p(exp(-z)) : -z + log1p(exp(z));
}

/* Is item i among the sorted positives of user u? */
static bool
IsPositive(const MfTrain *t, int32 u, int32 i)
{
	int64		lo = t->pos_start[u];
	int64		hi = t->pos_start[u + 1];

	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (t->pos_items[mid] == i)
			return true;
		if (t->pos_items[mid] < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Random draws before a negative is searched for by a scan */
#define BPR_MAX_DRAWS 32

/*
 * Draw a negative item for user u: one that is not among u's positives,
 * uniformly by rejection.  A user with positives for nearly every item
 * would make rejection slow, and one with every item would make it loop
 * forever, so after BPR_MAX_DRAWS failures the next non-positive item
 * after a random start is taken, and -1 is returned when there is none.
 */
static int32
SampleNegative(MfTrain *t, int32 u, pg_prng_state *rng)
{
	int32		start;

	if (t->pos_start[u + 1] - t->pos_start[u] >= t->n_items)
		return -1;
	for (int d = 0; d < BPR_MAX_DRAWS; d++)
	{
		int32		j = (int32) pg_prng_uint64_range(rng, 0, t->n_items - 1);

		if (!IsPositive(t, u, j))
			return j;
	}
	start = (int32) pg_prng_uint64_range(rng, 0, t->n_items - 1);
	for (int32 x = 0; x < t->n_items; x++)
	{
		int32		j = (start + x) % t->n_items;

		if (!IsPositive(t, u, j))
			return j;
	}
	return -1;					/* not reached: u lacks some item */
}

/*----------
 * BPR (Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit
 * Feedback", UAI 2009), LearnBPR with uniform negatives: for each positive
 * (u, i) of rows first .. first + n - 1 and each of "negatives" items j
 * drawn by SampleNegative, with x = x_ui - x_uj, x_ui = b_i + p_u . q_i,
 * the loss -log sigmoid(x) + reg |.|^2 terms has, with s = sigmoid(-x),
 *
 *	  g(p_u) = -s (q_i - q_j) + reg * p_u
 *	  g(q_i) = -s p_u + reg * q_i           g(b_i) = -s + reg_bias * b_i
 *	  g(q_j) =  s p_u + reg * q_j           g(b_j) =  s + reg_bias * b_j
 *
 * (all from the values before the update), each block stepped by
 * OptimizerSparseStep.  Returns the mean loss per positive (summed over
 * its negatives); a user with every item has no negative and is skipped.
 *----------
 */
static double
BprRunBatch(MfTrain *t, int64 first, int n, double *theta,
			OptimizerState *optimizer, double lr)
{
	int			k = t->k;
	int64		bias_slot = (int64) t->n_users + t->n_items;
	double		loss = 0.0;

	for (int64 r = first; r < first + n; r++)
	{
		int32		u = t->u[r];
		int32		i = t->i[r];
		double	   *p = theta + t->off_P + (int64) u * k;
		double	   *qi = theta + t->off_Q + (int64) i * k;

		for (int neg = 0; neg < t->negatives; neg++)
		{
			int32		j = SampleNegative(t, u, &t->rng);
			double	   *qj;
			double		x;
			double		sg;
			double		g;

			if (j < 0)
				break;
			qj = theta + t->off_Q + (int64) j * k;
			x = Predict(t, theta, u, i) - Predict(t, theta, u, j);
			loss += SoftplusNeg(x);
			sg = LrmlSigmoid(-x);
			if (t->biases)
			{
				g = -sg + t->reg_bias * theta[t->n_users + i];
				OptimizerSparseStep(optimizer, bias_slot + t->n_users + i,
									&theta[t->n_users + i], &g, 1, lr);
				g = sg + t->reg_bias * theta[t->n_users + j];
				OptimizerSparseStep(optimizer, bias_slot + t->n_users + j,
									&theta[t->n_users + j], &g, 1, lr);
			}
			/* g(p_u) = -s q_i + s q_j + reg p_u, in two passes */
			LinalgAxpby(t->gp, -sg, qi, t->reg, p, k);
			for (int f = 0; f < k; f++)
				t->gp[f] += sg * qj[f];
			LinalgAxpby(t->gq, -sg, p, t->reg, qi, k);
			OptimizerSparseStep(optimizer, t->n_users + i, qi, t->gq, k, lr);
			LinalgAxpby(t->gq, sg, p, t->reg, qj, k);
			OptimizerSparseStep(optimizer, t->n_users + j, qj, t->gq, k, lr);
			OptimizerSparseStep(optimizer, u, p, t->gp, k, lr);
		}
	}
	optimizer->t += n;
	return loss / n;
}

/*----------
 * Apply one SGD update per rating of rows first .. first + n - 1 and
 * return their mean squared error, measured before each update.  For a
 * rating r of user u and item i, with e = r - r_hat(u, i):
 *
 *	  g(b_u) = -e + reg_bias * b_u          g(b_i) = -e + reg_bias * b_i
 *	  g(p_u) = -e q_i + reg * p_u           g(q_i) = -e p_u + reg * q_i
 *
 * (both factor gradients from the values before the update), and each
 * block steps by OptimizerSparseStep at rate lr.  A non-finite error is
 * not checked here: it makes the returned loss non-finite, and the loop
 * backs off.
 *----------
 */
static double
MfRunBatch(void *arg, int64 first, int n, double *theta,
		   OptimizerState *optimizer, double lr)
{
	MfTrain    *t = (MfTrain *) arg;
	int			k = t->k;
	int64		bias_slot = (int64) t->n_users + t->n_items;
	double		loss = 0.0;

	if (t->bpr)
		return BprRunBatch(t, first, n, theta, optimizer, lr);
	for (int64 r = first; r < first + n; r++)
	{
		int32		u = t->u[r];
		int32		i = t->i[r];
		double	   *p = theta + t->off_P + (int64) u * k;
		double	   *q = theta + t->off_Q + (int64) i * k;
		double		e;
		double		g;

		if (r + MF_PREFETCH_AHEAD < first + n)
			PrefetchRows(t, theta, r + MF_PREFETCH_AHEAD);
		e = t->r[r] - Predict(t, theta, u, i);

		loss += e * e;
		if (t->biases)
		{
			g = -e + t->reg_bias * theta[u];
			OptimizerSparseStep(optimizer, bias_slot + u, &theta[u], &g, 1,
								lr);
			g = -e + t->reg_bias * theta[t->n_users + i];
			OptimizerSparseStep(optimizer, bias_slot + t->n_users + i,
								&theta[t->n_users + i], &g, 1, lr);
		}
		LinalgCrossAxpby(t->gp, t->gq, -e, p, q, t->reg, k);
		OptimizerSparseStep(optimizer, u, p, t->gp, k, lr);
		OptimizerSparseStep(optimizer, t->n_users + i, q, t->gq, k, lr);
	}
	optimizer->t += n;
	return loss / n;
}

/*
 * Learner.batch_gradient: never called, since run_batch is set.
 */
static double
MfBatchGradient(void *arg, int64 first, int n, const double *theta,
				double *grad)
{
	elog(ERROR, "matrix factorization has no dense gradient");
	return 0.0;					/* keep compiler quiet */
}

/*
 * Validation loss (MSE) and metric (RMSE) of the clipped predictions; for
 * bpr, the mean BPR loss and the AUC over the validation positives, each
 * against its fixed negative (ties count one half).
 */
static void
MfValidate(void *arg, const double *theta, double *loss, double *metric)
{
	MfTrain    *t = (MfTrain *) arg;
	double		sum = 0.0;

	if (t->bpr)
	{
		double		right = 0.0;
		int64		n = 0;

		for (int64 r = t->n_train; r < t->n_train + t->n_valid; r++)
		{
			double		x;

			if ((r & MF_INTERRUPT_MASK) == 0)
				CHECK_FOR_INTERRUPTS();
			if (t->valid_neg[r - t->n_train] < 0)
				continue;
			x = Predict(t, theta, t->u[r], t->i[r]) -
				Predict(t, theta, t->u[r], t->valid_neg[r - t->n_train]);
			sum += SoftplusNeg(x);
			right += x > 0 ? 1.0 : (x == 0 ? 0.5 : 0.0);
			n++;
		}
		*loss = n > 0 ? sum / n : get_float8_nan();
		*metric = n > 0 ? right / n : get_float8_nan();
		return;
	}

	for (int64 r = t->n_train; r < t->n_train + t->n_valid; r++)
	{
		double		e = t->r[r] - Clip(t, Predict(t, theta, t->u[r],
												   t->i[r]));

		if ((r & MF_INTERRUPT_MASK) == 0)
			CHECK_FOR_INTERRUPTS();
		sum += e * e;
	}
	*loss = t->n_valid > 0 ? sum / t->n_valid : get_float8_nan();
	*metric = sqrt(*loss);
}

/*
 * Draw the validation split with the seed and reorder the rows in place:
 * the training rows, shuffled, then the validation rows (round(n *
 * fraction) of them).  Returns the number of validation rows.
 *
 * The rows are shuffled where they are (Fisher-Yates), so no copy of
 * them is ever held: at 10M ratings a copy and its index were the peak
 * of the whole training call.
 */
static int64
SplitRatings(RatingData *data, double fraction, uint64 seed)
{
	int64		n = data->n;
	int64		n_valid = (int64) floor(n * fraction + 0.5);
	pg_prng_state rng;

	pg_prng_seed(&rng, seed);
	for (int64 x = n - 1; x > 0; x--)
	{
		int64		y = (int64) pg_prng_uint64_range(&rng, 0, (uint64) x);
		int32		u = data->u[x];
		int32		i = data->i[x];

		if ((x & MF_INTERRUPT_MASK) == 0)
			CHECK_FOR_INTERRUPTS();
		data->u[x] = data->u[y];
		data->u[y] = u;
		data->i[x] = data->i[y];
		data->i[y] = i;
		if (data->r)
		{
			double		r = data->r[x];

			data->r[x] = data->r[y];
			data->r[y] = r;
		}
	}
	/* the last n_valid of the shuffled rows validate */
	return Min(n_valid, n);
}

/* Return a standard normal draw (Box-Muller). */
static double
NormalDraw(pg_prng_state *rng)
{
	double		u1 = 1.0 - pg_prng_double(rng); /* in (0, 1] */
	double		u2 = pg_prng_double(rng);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/*
 * Set up theta: zero biases; factors drawn from N(0, (MF_INIT_SCALE /
 * sqrt(k))^2) for
 * users and items that have training ratings, zero for the others.
 */
static double *
InitTheta(const MfTrain *t, int64 n_params, uint64 seed)
{
	double	   *theta = palloc_extended(sizeof(double) * n_params,
										MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	bool	   *has_user = palloc0(sizeof(bool) * t->n_users);
	bool	   *has_item = palloc0(sizeof(bool) * t->n_items);
	double		std = MF_INIT_SCALE / sqrt((double) t->k);
	pg_prng_state rng;

	for (int64 r = 0; r < t->n_train; r++)
	{
		has_user[t->u[r]] = true;
		has_item[t->i[r]] = true;
	}
	pg_prng_seed(&rng, seed ^ UINT64CONST(0x6d66));
	for (int32 u = 0; u < t->n_users; u++)
		for (int j = 0; has_user[u] && j < t->k; j++)
			theta[t->off_P + (int64) u * t->k + j] =
				std * NormalDraw(&rng);
	for (int32 i = 0; i < t->n_items; i++)
		for (int j = 0; has_item[i] && j < t->k; j++)
			theta[t->off_Q + (int64) i * t->k + j] =
				std * NormalDraw(&rng);
	pfree(has_user);
	pfree(has_item);
	return theta;
}

/* qsort order of int32 values: increasing. */
static int
CompareInt32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/*
 * Build per-user item sets from rows (u[r], i[r]), r < n: *start gets
 * n_users + 1 offsets into *items, each user's distinct items in
 * increasing order.
 */
static void
BuildUserSets(int32 n_users, const int32 *u_of, const int32 *i_of, int64 n,
			  int64 **start_out, int32 **items_out)
{
	int64	   *fill = palloc0(sizeof(int64) * (n_users + 1));
	int64	   *start = palloc_extended(sizeof(int64) * (n_users + 1),
										MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	int32	   *items = palloc_extended(sizeof(int32) * Max(n, 1),
										MCXT_ALLOC_HUGE);
	int64		kept = 0;

	for (int64 r = 0; r < n; r++)
		start[u_of[r] + 1]++;
	for (int32 u = 0; u < n_users; u++)
		start[u + 1] += start[u];
	for (int64 r = 0; r < n; r++)
		items[start[u_of[r]] + fill[u_of[r]]++] = i_of[r];

	/* sort each user's items and drop repeated rows of one item */
	for (int32 u = 0; u < n_users; u++)
	{
		int64		first = start[u];
		int64		end = start[u + 1];

		CHECK_FOR_INTERRUPTS();
		qsort(items + first, end - first, sizeof(int32), CompareInt32);
		start[u] = kept;
		for (int64 s = first; s < end; s++)
			if (s == first || items[s] != items[s - 1])
				items[kept++] = items[s];
	}
	start[n_users] = kept;
	pfree(fill);
	*start_out = start;
	*items_out = items;
}

/*
 * Keep only the rows rated at or above threshold (bpr's positives),
 * in order.
 */
static void
KeepPositives(RatingData *data, double threshold)
{
	int64		kept = 0;

	for (int64 r = 0; r < data->n; r++)
	{
		if (!(data->r[r] >= threshold))
			continue;
		data->u[kept] = data->u[r];
		data->i[kept] = data->i[r];
		data->r[kept] = data->r[r];
		kept++;
	}
	data->n = kept;
}

/*
 * Fail when a trained bias or factor v is not finite or larger than bound
 * in magnitude (LRML_MF_MAX_ABS_FACTOR, LRML_MF_MAX_ABS_BIAS): stored, it
 * could not be scored.
 */
static void
CheckTrained(double v, double bound, bool factor)
{
	if (!(fabs(v) <= bound))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 factor ?
				 errmsg("a trained factor of the recommender is out of range") :
				 errmsg("a trained bias of the recommender is out of range"),
				 errdetail("Its magnitude is %g; at most %g is allowed.",
						   fabs(v), bound),
				 errhint("Lower \"learning_rate\", or scale the ratings down.")));
}

/*
 * Copy the trained theta into the model (factors as float4), failing if
 * anything is not finite or out of range (CheckTrained).
 */
static void
FillModel(MfModel *m, const MfTrain *t, const double *theta)
{
	int64		n_p = (int64) t->n_users * t->k;
	int64		n_q = (int64) t->n_items * t->k;

	m->user_bias = palloc_extended(sizeof(double) * t->n_users,
								   MCXT_ALLOC_HUGE);
	/* bpr has no user bias */
	m->item_bias = palloc_extended(sizeof(double) * t->n_items,
								   MCXT_ALLOC_HUGE);
	m->P = palloc_extended(sizeof(float) * n_p, MCXT_ALLOC_HUGE);
	m->Q = palloc_extended(sizeof(float) * n_q, MCXT_ALLOC_HUGE);
	for (int32 u = 0; u < t->n_users; u++)
		m->user_bias[u] = t->biases && !t->bpr ? theta[u] : 0.0;
	for (int32 i = 0; i < t->n_items; i++)
		m->item_bias[i] = t->biases ? theta[t->n_users + i] : 0.0;
	for (int64 x = 0; x < n_p; x++)
		m->P[x] = (float) theta[t->off_P + x];
	for (int64 x = 0; x < n_q; x++)
		m->Q[x] = (float) theta[t->off_Q + x];

	for (int32 u = 0; u < t->n_users; u++)
		CheckTrained(m->user_bias[u], LRML_MF_MAX_ABS_BIAS, false);
	for (int32 i = 0; i < t->n_items; i++)
		CheckTrained(m->item_bias[i], LRML_MF_MAX_ABS_BIAS, false);
	for (int64 x = 0; x < n_p; x++)
		CheckTrained(m->P[x], LRML_MF_MAX_ABS_FACTOR, true);
	for (int64 x = 0; x < n_q; x++)
		CheckTrained(m->Q[x], LRML_MF_MAX_ABS_FACTOR, true);
}

/*
 * Return the training RMSE of the stored model (float4 factors), with
 * predictions clipped as scoring clips them.
 */
static double
TrainRmse(const MfModel *m, const MfTrain *t)
{
	double		sum = 0.0;

	for (int64 r = 0; r < t->n_train; r++)
	{
		int32		u = t->u[r];
		int32		i = t->i[r];
		double		z;
		double		e;

		if ((r & MF_INTERRUPT_MASK) == 0)
			CHECK_FOR_INTERRUPTS();
		z = m->mu + m->user_bias[u] + m->item_bias[i] +
			LinalgDotF4(m->P + (int64) u * m->k, m->Q + (int64) i * m->k,
						m->k);
		e = t->r[r] - Clip(t, z);
		sum += e * e;
	}
	return sqrt(sum / t->n_train);
}

/*
 * Append "key": number (or null when not finite) to a JSON object text.
 */
static void
JsonNumber(StringInfo buf, const char *key, double v)
{
	appendStringInfo(buf, ", \"%s\": ", key);
	LrmlAppendJsonNumber(buf, v);
}

/*
 * Build the metrics stored with the model.
 */
static Jsonb *
BuildMetrics(const RatingData *data, const MfTrain *t, const MfModel *m,
			 const EpochRecord *last)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"rows\": " INT64_FORMAT, data->n_read);
	appendStringInfo(&buf, ", \"rows_null\": " INT64_FORMAT, data->n_null);
	appendStringInfo(&buf, ", \"train_rows\": " INT64_FORMAT, t->n_train);
	appendStringInfo(&buf, ", \"valid_rows\": " INT64_FORMAT, t->n_valid);
	appendStringInfo(&buf, ", \"users\": %d, \"items\": %d", t->n_users,
					 t->n_items);
	appendStringInfo(&buf, ", \"epochs\": %d", last->epoch + 1);
	if (m->parent_version > 0)
		appendStringInfo(&buf, ", \"warm_start\": {\"version\": %d"
						 ", \"new_users\": %d, \"new_items\": %d}",
						 m->parent_version, m->new_users, m->new_items);
	JsonNumber(&buf, "train_loss", last->train_loss);
	JsonNumber(&buf, "valid_loss", last->valid_loss);
	if (t->bpr)
	{
		appendStringInfo(&buf, ", \"positives\": " INT64_FORMAT, data->n);
		JsonNumber(&buf, "valid_auc", last->valid_metric);
	}
	else
	{
		JsonNumber(&buf, "global_mean", m->mu);
		JsonNumber(&buf, "train_rmse", TrainRmse(m, t));
		JsonNumber(&buf, "valid_rmse", last->valid_metric);
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(buf.data)));
}

/*
 * Set up bpr's sampling: every user's positives (training and validation
 * rows, so that neither is drawn as a negative), the generator of the
 * training negatives, and one fixed negative per validation row.
 */
static void
SetupBpr(MfTrain *t, uint64 seed)
{
	int64		n = t->n_train + t->n_valid;
	pg_prng_state rng;

	BuildUserSets(t->n_users, t->u, t->i, n, &t->pos_start, &t->pos_items);
	pg_prng_seed(&t->rng, seed ^ UINT64CONST(0x627072));
	pg_prng_seed(&rng, seed ^ UINT64CONST(0x76616c));
	t->valid_neg = palloc_extended(sizeof(int32) * Max(t->n_valid, 1),
								   MCXT_ALLOC_HUGE);
	for (int64 r = 0; r < t->n_valid; r++)
		t->valid_neg[r] = SampleNegative(t, t->u[t->n_train + r], &rng);
}

/*
 * Fail when no training positive of a bpr model has a negative to rank
 * against (every user with a training row has every item): the model
 * could learn nothing.  what names the relation in the message.
 */
static void
CheckNegatives(const MfTrain *t, const char *what)
{
	for (int64 r = 0; r < t->n_train; r++)
	{
		int32		u = t->u[r];

		if (t->pos_start[u + 1] - t->pos_start[u] < t->n_items)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("relation \"%s\" has no item that a user lacks, so model \"bpr\" has nothing to rank",
					what),
			 errdetail("Every user with a training row has a positive for each of the %d items.",
					   t->n_items),
			 errhint("Add rows of other items, or use \"positive_threshold\" so that not every row is a positive.")));
}

/*
 * Set up the training data of the Learner from the split rows: the mean
 * and range of the training ratings, theta's layout and the scratch.
 */
static void
SetupTrain(MfTrain *t, RatingData *data, int64 n_valid,
		   const TrainOptions *opts, const MfModel *m)
{
	double		sum = 0.0;

	t->u = data->u;
	t->i = data->i;
	t->r = data->r;
	t->n_train = data->n - n_valid;
	t->n_valid = n_valid;
	t->n_users = m->users.n;
	t->n_items = m->items.n;
	t->k = opts->factors;
	t->reg = opts->reg;
	t->reg_bias = opts->reg_bias;
	t->biases = opts->biases;
	t->bpr = (opts->model == MODEL_BPR);
	t->negatives = opts->negatives;
	if (t->bpr)
	{
		/* scores of a ranking: no mean, no clipping */
		t->mu = 0.0;
		t->r_min = -DBL_MAX;
		t->r_max = DBL_MAX;
	}
	else
	{
		t->r_min = get_float8_infinity();
		t->r_max = -get_float8_infinity();
		for (int64 r = 0; r < t->n_train; r++)
		{
			sum += t->r[r];
			t->r_min = Min(t->r_min, t->r[r]);
			t->r_max = Max(t->r_max, t->r[r]);
		}
		t->mu = sum / t->n_train;
	}
	t->off_P = (int64) t->n_users + t->n_items;
	t->off_Q = t->off_P + (int64) t->n_users * t->k;
	t->gp = palloc(sizeof(double) * t->k);
	t->gq = palloc(sizeof(double) * t->k);
	if (t->bpr)
		SetupBpr(t, (uint64) opts->seed);
}

/*
 * Check that a recommender can continue version ws of its name: users and
 * items in columns of the version's names (ids are matched to the
 * version's by value, so a swapped pair would silently give items the
 * factors of users), the same kind of rows (ratings or interactions), and
 * the version's factors and
 * biases ("factors" and "biases" left out of the options are the
 * version's; given, they must be).  The model kind is the version's
 * already (WarmStartOptions, WarmStartLoad).
 */
static void
MfWarmCheck(const WarmStart *ws, Jsonb *options, TrainOptions *opts,
			const char *user_col, const char *item_col,
			const char *rating_col)
{
	const MfModel *old = ws->stored->model->mf;
	JsonbValue	buf;

	if (old == NULL)
		elog(ERROR, "version %d of model \"%s\" is not a recommender",
			 ws->version, ws->stored->name);
	if (strcmp(user_col, old->user_col) != 0 ||
		strcmp(item_col, old->item_col) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version %d of model \"%s\" has users in column \"%s\" and items in column \"%s\"",
						ws->version, ws->stored->name, old->user_col,
						old->item_col),
				 errdetail("The call names user_col \"%s\" and item_col \"%s\".",
						   user_col, item_col),
				 errhint("A warm start reads users and items from columns of the same names; rename them in a query (SELECT ... AS \"%s\", ... AS \"%s\").",
						 old->user_col, old->item_col)));
	if ((old->rating_col == NULL) != (rating_col == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version %d of model \"%s\" was trained on %s",
						ws->version, ws->stored->name,
						old->rating_col ? "ratings" : "interaction rows"),
				 errhint("%s", old->rating_col ?
						 "Pass the column of the ratings as rating_col." :
						 "Pass rating_col as NULL.")));
	if ((opts->factors != old->k &&
		 getKeyJsonValueFromContainer(&options->root, "factors", 7,
									  &buf) != NULL) ||
		(opts->biases != old->biases &&
		 getKeyJsonValueFromContainer(&options->root, "biases", 6,
									  &buf) != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot warm-start a recommender of other factors or biases from version %d of model \"%s\"",
						ws->version, ws->stored->name),
				 errdetail("Version %d has %d factors and %s.", ws->version,
						   old->k, old->biases ? "biases" : "no biases"),
				 errhint("Remove \"factors\" and \"biases\" from the options: a warm start keeps those of its version.")));
	opts->factors = old->k;
	opts->biases = old->biases;
}

/*
 * Copy the ids of src into the empty map dst, keeping their indexes.
 */
static void
CopyIdMap(IdMap *dst, const IdMap *src)
{
	IdMapInit(dst, src->is_text, Max(src->n, 1024));
	for (int32 x = 0; x < src->n; x++)
		IdMapAdd(dst, src->is_text ? 0 : src->ints[x],
				 src->is_text ? src->texts[x] : NULL);
}

/*
 * Start theta and the optimizer from version old: its users and items
 * keep their indexes (the maps were seeded with its ids), so each keeps
 * its biases and factors, and, unless the optimizer is fresh (NULL), its
 * accumulated slots; new users and items keep InitTheta's draws and zero
 * slots.  The optimizer's slots are the factor rows of the users, then of
 * the items, then the user biases, then the item biases.
 */
static void
MfWarmParams(const MfModel *old, const MfTrain *t, double *theta,
			 const OptimizerState *from, OptimizerState *to)
{
	int32		ou = old->users.n;
	int32		oi = old->items.n;
	int			k = t->k;

	for (int32 u = 0; u < ou; u++)
	{
		theta[u] = old->user_bias[u];
		for (int j = 0; j < k; j++)
			theta[t->off_P + (int64) u * k + j] = old->P[(int64) u * k + j];
	}
	for (int32 i = 0; i < oi; i++)
	{
		theta[t->n_users + i] = old->item_bias[i];
		for (int j = 0; j < k; j++)
			theta[t->off_Q + (int64) i * k + j] = old->Q[(int64) i * k + j];
	}
	if (from == NULL)
		return;
	if (from->n != 2 * (ou + oi))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the optimizer state of a recommender version is corrupt"),
				 errdetail("It has %d slots for %d users and %d items.",
						   from->n, ou, oi)));
	to->t = from->t;
	for (int side = 0; side < 2; side++)
	{
		double	   *dst = side == 0 ? to->m : to->v;
		const double *src = side == 0 ? from->m : from->v;
		int64		base = (int64) t->n_users + t->n_items;

		if (dst == NULL || src == NULL)
			continue;
		for (int32 u = 0; u < ou; u++)
		{
			dst[u] = src[u];
			dst[base + u] = src[ou + oi + u];
		}
		for (int32 i = 0; i < oi; i++)
		{
			dst[t->n_users + i] = src[ou + i];
			dst[base + t->n_users + i] = src[2 * ou + oi + i];
		}
	}
}

/*
 * Build the seen sets of a warm-started version: its version's seen items
 * and the new rows, for every user.
 */
static void
MfWarmSeen(const MfModel *old, MfModel *m, const RatingData *data)
{
	int64		n_old = old->seen_start[old->users.n];
	int64		n = n_old + data->n;
	int32	   *u = palloc_extended(sizeof(int32) * Max(n, 1), MCXT_ALLOC_HUGE);
	int32	   *i = palloc_extended(sizeof(int32) * Max(n, 1), MCXT_ALLOC_HUGE);
	int64		x = 0;

	for (int32 user = 0; user < old->users.n; user++)
		for (int64 s = old->seen_start[user]; s < old->seen_start[user + 1];
			 s++)
		{
			u[x] = user;
			i[x++] = old->seen_items[s];
		}
	memcpy(u + x, data->u, sizeof(int32) * data->n);
	memcpy(i + x, data->i, sizeof(int32) * data->n);
	BuildUserSets(m->users.n, u, i, n, &m->seen_start, &m->seen_items);
	pfree(u);
	pfree(i);
}

/*
 * Check the size of the model against the limits, before allocating it:
 * theta and its two snapshots (last good, best epoch) in double, and the
 * optimizer's state with its two snapshots.
 */
static int
CheckModelSize(const MfTrain *t, int64 *n_slots)
{
	int64		rows = (int64) t->n_users + t->n_items;
	int64		n_params = rows * (t->k + 1);

	*n_slots = 2 * rows;
	if (n_params > PG_INT32_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("recommender is too large"),
				 errdetail("%d users and %d items with %d factors make " INT64_FORMAT " parameters; at most %d are allowed.",
						   t->n_users, t->n_items, t->k, n_params,
						   PG_INT32_MAX / 2),
				 errhint("Lower \"factors\".")));
	DatasetCheckMemory(add_size(mul_size(n_params, 3 * sizeof(double)),
								mul_size(*n_slots, 3 * sizeof(double))));
	return (int) n_params;
}

/*
 * Check the rating column (ratings: there is one) against the model: mf
 * needs ratings; bpr takes interaction rows, or ratings with a
 * positive_threshold.
 */
static void
CheckRatingColumn(const TrainOptions *opts, bool ratings)
{
	bool		threshold = !isnan(opts->positive_threshold);

	if (opts->model == MODEL_MF && !ratings)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model \"mf\" needs a rating column"),
				 errhint("Pass the column of the ratings as rating_col, or use \"model\": \"bpr\" for interaction rows.")));
	if (opts->model == MODEL_BPR && ratings && !threshold)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"bpr\" needs option \"positive_threshold\" with a rating column"),
				 errhint("Set \"positive_threshold\" to the least rating that counts as a positive, or pass rating_col as NULL to treat every row as one.")));
	if (opts->model == MODEL_BPR && !ratings && threshold)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"positive_threshold\" needs a rating column"),
				 errhint("Pass the column of the ratings as rating_col.")));
}

/*
 * Train a recommender on rating rows already in memory: data, with its
 * ids mapped into m->users and m->items (m otherwise zero), the parsed
 * options, and a warm start's version (ws, or NULL).  what names the
 * rows in errors (a relation, or an aggregate's group); name is the
 * model's name in the training error context.  Both
 * lrml.train_recommender and the aggregate lrml.fit_recommender call it.
 *
 * 1. Build the seen sets from every row; for bpr on ratings, keep the
 *	  positives; split by the seed.
 * 2. Train with the shared loop (sparse updates through run_batch).
 * 3. Copy the result into the model, check it is finite, and build the
 *	  metrics and the optimizer state.
 *
 * data's arrays are freed; everything else is allocated in the current
 * context.
 */
void
MfFit(const char *name, const char *what, RatingData *data, MfModel *m,
	  TrainOptions *opts, const WarmStart *ws, MfFitResult *result)
{
	const MfModel *old = ws ? ws->stored->model->mf : NULL;
	bool		ratings = data->r != NULL;
	MfTrain		t;
	Learner		learner;
	OptimizerState *optimizer;
	EpochRecord *curve;
	StringInfoData state_buf;
	LrmlModel  *model;
	double	   *theta;
	int64		n_valid;
	int64		n_slots;
	int			n_epochs;

	/* 1. */
	if (old)
		MfWarmSeen(old, m, data);
	else
		BuildUserSets(m->users.n, data->u, data->i, data->n,
					  &m->seen_start, &m->seen_items);
	if (opts->model == MODEL_BPR && ratings)
		KeepPositives(data, opts->positive_threshold);
	n_valid = SplitRatings(data, opts->validation_fraction,
						   (uint64) opts->seed);
	if (data->n - n_valid < 1)
		TrainTooFewRows(what, n_valid,
						opts->model == MODEL_BPR && ratings ?
						psprintf("Rows with a NULL value are skipped, and only ratings at or above \"positive_threshold\" are positives; " INT64_FORMAT " rows remain.",
								 data->n) :
						psprintf("Rows with a NULL user, item or rating are skipped; " INT64_FORMAT " rows remain.",
								 data->n));
	if (n_valid == 0)
		opts->validation_fraction = 0.0;
	m->kind = opts->model;
	m->id_typid = data->id_typid;
	m->k = opts->factors;
	m->biases = opts->biases;
	m->positive_threshold = opts->positive_threshold;
	SetupTrain(&t, data, n_valid, opts, m);
	if (t.bpr)
		CheckNegatives(&t, what);
	if (old && !t.bpr)
	{
		/* the biases and factors are relative to the version's mean */
		t.mu = old->mu;
		t.r_min = Min(t.r_min, old->r_min);
		t.r_max = Max(t.r_max, old->r_max);
	}
	m->mu = t.mu;
	m->r_min = t.r_min;
	m->r_max = t.r_max;

	/* 2. */
	memset(&learner, 0, sizeof(learner));
	learner.n_params = CheckModelSize(&t, &n_slots);
	learner.batch_gradient = MfBatchGradient;
	learner.validate = MfValidate;
	learner.run_batch = MfRunBatch;
	learner.arg = &t;
	opts->batch_size = MF_BLOCK_ROWS;
	ScheduleResolve(&opts->schedule, opts->epochs,
					(t.n_train + MF_BLOCK_ROWS - 1) / MF_BLOCK_ROWS);
	theta = InitTheta(&t, learner.n_params, (uint64) opts->seed);
	optimizer = OptimizerCreate(&opts->optimizer, (int) n_slots);
	if (old)
		MfWarmParams(old, &t, theta, ws->optimizer, optimizer);
	curve = palloc0(sizeof(EpochRecord) * Max(opts->epochs, 1));
	n_epochs = TrainLoop(name, opts, &learner, t.n_train, theta, optimizer,
						 (uint64) opts->seed, curve);
	if (n_epochs == 0)
	{
		/* a copy: scored as it stands */
		curve[0].epoch = -1;
		curve[0].train_loss = get_float8_nan();
		curve[0].valid_loss = get_float8_nan();
		curve[0].valid_metric = get_float8_nan();
		if (t.n_valid > 0)
			MfValidate(&t, theta, &curve[0].valid_loss,
					   &curve[0].valid_metric);
	}

	/* 3. */
	FillModel(m, &t, theta);
	if (old)
	{
		m->parent_version = ws->version;
		m->new_users = m->users.n - old->users.n;
		m->new_items = m->items.n - old->items.n;
	}
	model = palloc0(sizeof(LrmlModel));
	model->kind = opts->model;
	model->label = m->rating_col;
	model->mf = m;
	result->model = model;
	result->metrics = BuildMetrics(data, &t, m,
								   &curve[Max(n_epochs - 1, 0)]);
	result->curve = curve;
	result->n_epochs = n_epochs;
	initStringInfo(&state_buf);
	OptimizerWrite(&state_buf, optimizer);
	result->optimizer_state =
		(bytea *) cstring_to_text_with_len(state_buf.data, state_buf.len);
	/* what storing needs is copied: free the largest arrays */
	pfree(theta);
	pfree(data->u);
	pfree(data->i);
	if (data->r)
		pfree(data->r);
}

/*
 * lrml.train_recommender(model, relation, user_col, item_col, rating_col,
 * options)
 *
 * 1. Check the arguments and options (before any data is read).
 * 2. Read the ratings, mapping the ids (a warm start's known ids keep
 *	  their indexes).
 * 3. Train (MfFit).
 * 4. Store the model and its factors, return the curve.
 */
Datum
lrml_train_recommender(PG_FUNCTION_ARGS)
{
	char	   *name = TrainRequiredText(fcinfo, 0, "model");
	char	   *relation = TrainRequiredText(fcinfo, 1, "relation");
	char	   *user_col = TrainRequiredText(fcinfo, 2, "user_col");
	char	   *item_col = TrainRequiredText(fcinfo, 3, "item_col");
	char	   *rating_col = PG_ARGISNULL(4) ? NULL :
		TrainRequiredText(fcinfo, 4, "rating_col");
	Jsonb	   *options = WarmStartOptions(name, TrainOptionsArg(fcinfo, 5));
	TrainOptions opts;
	WarmStart  *ws;
	const MfModel *old = NULL;
	MemoryContext train_cxt;
	MemoryContext old_cxt;
	RatingData *data;
	MfModel    *m;
	MfFitResult fit;

	/* 1. */
	if (strcmp(user_col, item_col) == 0 ||
		(rating_col && (strcmp(rating_col, user_col) == 0 ||
						strcmp(rating_col, item_col) == 0)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_COLUMN),
				 errmsg("column \"%s\" is given twice",
						strcmp(user_col, item_col) == 0 ? user_col :
						rating_col),
				 errdetail("The user, item and rating columns must be different columns.")));
	OptionsParseRecommender(options, &opts);
	if (opts.full_batch)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"mode\" \"full_batch\" cannot be used in lrml.train_recommender"),
				 errdetail("A recommender trains on its ratings read once into memory.")));
	CheckRatingColumn(&opts, rating_col != NULL);
	TrainCheckStorable(name, "lrml.train_recommender()");
	InitMaterializedSRF(fcinfo, 0);

	train_cxt = AllocSetContextCreate(CurrentMemoryContext, "lrml train",
									  ALLOCSET_DEFAULT_SIZES);
	old_cxt = MemoryContextSwitchTo(train_cxt);
	ws = WarmStartLoad(name, options, &opts);
	if (ws)
	{
		MfWarmCheck(ws, options, &opts, user_col, item_col, rating_col);
		old = ws->stored->model->mf;
	}

	/* 2. */
	m = palloc0(sizeof(MfModel));
	if (old)
	{
		/* known ids keep their indexes, new ones come after them */
		CopyIdMap(&m->users, &old->users);
		CopyIdMap(&m->items, &old->items);
	}
	data = RatingsLoad(relation, user_col, item_col, rating_col, &m->users,
					   &m->items, true,
					   old ? old->id_typid : InvalidOid);
	m->user_col = user_col;
	m->item_col = item_col;
	m->rating_col = rating_col;

	/* 3. */
	MfFit(name, relation, data, m, &opts, ws, &fit);

	/* 4. */
	ModelStoreSave(name, data->source, fit.model, OptionsToJsonb(&opts),
				   fit.metrics, fit.optimizer_state, fit.curve, fit.n_epochs,
				   ws ? ws->version : 0);
	TrainReturnCurve((ReturnSetInfo *) fcinfo->resultinfo, fit.curve,
					 fit.n_epochs);

	MemoryContextSwitchTo(old_cxt);
	MemoryContextDelete(train_cxt);
	return (Datum) 0;
}
