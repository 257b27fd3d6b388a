/*-------------------------------------------------------------------------
 *
 * optimizer.c
 *	  Update rules that turn a gradient into a step of a parameter vector.
 *
 * An optimizer sees a vector w of n doubles, the gradient g of the loss at
 * w (any L2 term already added by the caller) and the learning rate lr of
 * this update, chosen by the schedule.  It keeps its own state (moment
 * vectors, the update count t) in an OptimizerState, which can be copied
 * (to restore a snapshot) and serialized (to store it beside a model).
 *
 * This file knows nothing about tables, model kinds or option syntax.  It
 * implements:
 *
 *	  sgd   stochastic gradient descent with optional momentum and Nesterov
 *	        momentum, in the convention of PyTorch's torch.optim.SGD
 *	        (Sutskever et al., "On the importance of initialization and
 *	        momentum in deep learning", ICML 2013);
 *	  adagrad  Duchi, Hazan and Singer, "Adaptive Subgradient Methods for
 *	        Online Learning and Stochastic Optimization", JMLR 12, 2011;
 *	  rmsprop  Tieleman and Hinton, "Lecture 6.5 - RMSProp", COURSERA:
 *	        Neural Networks for Machine Learning, 2012;
 *	  adam  Kingma and Ba, "Adam: A Method for Stochastic Optimization",
 *	        ICLR 2015, with bias correction;
 *	  adamw  Loshchilov and Hutter, "Decoupled Weight Decay
 *	        Regularization", ICLR 2019: Adam plus a weight decay that
 *	        bypasses the moments.
 *
 * Every division by a root of squared gradients adds eps > 0 to the
 * divisor (options.c refuses eps <= 0), so a coordinate whose gradient has
 * always been 0 takes the step 0 / (0 + eps) = 0, never 0 / 0.
 *
 * Adding an optimizer is adding its step function and one row of
 * optimizer_methods[] (plus its options in options.c).  The vectors are
 * short (one model's parameters), so the loops are plain C.
 *
 * Memory: OptimizerCreate and OptimizerRead allocate the state and its
 * arrays in CurrentMemoryContext; the caller owns them.
 *
 * src/optimizer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "libpq/pqformat.h"
#include "utils/memutils.h"

#include "lrml.h"

/*
 * Version of the serialized optimizer state.  OptimizerRead reads this
 * version and version 1 and refuses any other; a change of the layout
 * below needs a new number.
 *
 * Layout of version 2 (network byte order, as written by pq_send*):
 *	  int32   format version
 *	  int32   optimizer kind (OptimizerKind)
 *	  int32   n, the length of the parameter vector
 *	  int64   t, the number of updates taken
 *	  float8  momentum, int32 nesterov (0 or 1), float8 beta1, beta2, eps
 *	  float8  rho, weight_decay
 *	  int32   number of moment arrays (0, 1 or 2)
 *	  float8  n values of m, if present, then n values of v, if present
 *
 * Version 1 (sgd and adam only) lacks rho and weight_decay; reading it
 * sets both to 0, which neither optimizer uses.  Which arrays are present
 * follows from the optimizer (see optimizer_methods[]); the count is
 * stored only as a check.
 */
#define OPTIMIZER_FORMAT_VERSION	2

/* Bytes of the layouts above before the moment arrays. */
#define OPTIMIZER_HEADER_SIZE_V1	60
#define OPTIMIZER_HEADER_SIZE		76

typedef void (*OptimizerStepFunc) (OptimizerState *state, double *w,
								   const double *grad, double lr);

/*
 * A decaying moment that falls below DBL_MIN is taken as 0.  The moment of
 * a weight whose gradient stays 0 (the inputs of a dead relu unit) decays
 * geometrically into the subnormal range and, rounding to nearest, never
 * reaches 0; every later update then computes with subnormals, which
 * costs the processor about a hundred times as much (Adam's update once
 * took a sixth of an mlp epoch).  Such a moment moves its weight by less
 * than 1e-300 times the rate, nothing a double weight of ordinary size
 * can hold; and since eps is at least LRML_MIN_EPS (options.c), a second
 * moment taken as 0 changes sqrt(v) + eps by less than one part in 1e4.
 */
static inline double
FlushTiny(double x)
{
	return fabs(x) < DBL_MIN ? 0.0 : x;
}

typedef struct OptimizerMethod
{
	OptimizerKind kind;
	const char *name;
	bool		has_m;			/* keeps the array m */
	bool		has_v;			/* keeps the array v */
	OptimizerStepFunc step;
} OptimizerMethod;

static void SgdStep(OptimizerState *state, double *w, const double *grad,
					double lr);
static void AdagradStep(OptimizerState *state, double *w, const double *grad,
						double lr);
static void RmspropStep(OptimizerState *state, double *w, const double *grad,
						double lr);
static void AdamStep(OptimizerState *state, double *w, const double *grad,
					 double lr);
static void AdamwStep(OptimizerState *state, double *w, const double *grad,
					  double lr);

/* In the order of the design's list, which hints follow. */
static const OptimizerMethod optimizer_methods[] = {
	{OPTIMIZER_SGD, "sgd", true, false, SgdStep},
	{OPTIMIZER_ADAGRAD, "adagrad", false, true, AdagradStep},
	{OPTIMIZER_RMSPROP, "rmsprop", false, true, RmspropStep},
	{OPTIMIZER_ADAM, "adam", true, true, AdamStep},
	{OPTIMIZER_ADAMW, "adamw", true, true, AdamwStep}
};

#define N_OPTIMIZER_METHODS ((int) lengthof(optimizer_methods))

/* Return the table row of an optimizer kind, or NULL if there is none. */
static const OptimizerMethod *
OptimizerMethodFor(OptimizerKind kind)
{
	for (int i = 0; i < N_OPTIMIZER_METHODS; i++)
	{
		if (optimizer_methods[i].kind == kind)
			return &optimizer_methods[i];
	}
	return NULL;
}

/* Return the table row of an optimizer kind; it must exist. */
static const OptimizerMethod *
OptimizerMethodCheck(OptimizerKind kind)
{
	const OptimizerMethod *method = OptimizerMethodFor(kind);

	if (method == NULL)
		elog(ERROR, "unrecognized optimizer kind: %d", (int) kind);
	return method;
}

/*
 * Return whether a configuration keeps the arrays m and v: as its table
 * row says, except that sgd without momentum keeps no velocity.
 */
static void
MomentArrays(const OptimizerConfig *config, bool *has_m, bool *has_v)
{
	const OptimizerMethod *method = OptimizerMethodCheck(config->kind);

	*has_m = method->has_m;
	*has_v = method->has_v;
	if (config->kind == OPTIMIZER_SGD && config->momentum == 0.0)
		*has_m = false;
}

/* Allocate a zeroed array of n doubles, beyond 1 GB if need be. */
static double *
AllocVector(int n)
{
	Size		size = mul_size((Size) n, sizeof(double));

	return (double *) MemoryContextAllocExtended(CurrentMemoryContext,
												 Max(size, sizeof(double)),
												 MCXT_ALLOC_HUGE |
												 MCXT_ALLOC_ZERO);
}

/*----------
 * Stochastic gradient descent, with momentum mu when mu > 0.
 *
 *	  plain (mu = 0):  w = w - lr * g
 *	  momentum:        v = mu * v + g
 *	                   w = w - lr * v
 *	  Nesterov:        v = mu * v + g
 *	                   w = w - lr * (g + mu * v)
 *
 * v starts at 0, so the first momentum step equals a plain one (PyTorch
 * starts v at g, which gives the same value).  Non-finite gradients are
 * not checked here: they reach w, and the training loop's loss check
 * reports them.
 *----------
 */
static void
SgdStep(OptimizerState *state, double *w, const double *grad, double lr)
{
	double		mu = state->config.momentum;
	double	   *v = state->m;
	int			n = state->n;	/* a local: see AdamUpdate */

	if (v == NULL)
	{
		for (int j = 0; j < n; j++)
			w[j] -= lr * grad[j];
		return;
	}

	for (int j = 0; j < n; j++)
	{
		v[j] = FlushTiny(mu * v[j] + grad[j]);
		if (state->config.nesterov)
			w[j] -= lr * (grad[j] + mu * v[j]);
		else
			w[j] -= lr * v[j];
	}
}

/*----------
 * AdaGrad (Duchi, Hazan and Singer 2011, diagonal form), with G the sum of
 * the squared gradients so far, starting at 0:
 *
 *	  G = G + g^2
 *	  w = w - lr * g / (sqrt(G) + eps)
 *
 * eps defaults to 1e-10, as in PyTorch's torch.optim.Adagrad; PyTorch's
 * lr_decay and initial_accumulator_value are not offered (a schedule does
 * the former; the latter is 0).  Since G only grows, the effective rate of
 * each coordinate only falls.  Non-finite gradients are not checked here:
 * they reach w, and the training loop's loss check reports them.
 *----------
 */
static void
AdagradStep(OptimizerState *state, double *w, const double *grad, double lr)
{
	double		eps = state->config.eps;
	double	   *G = state->v;
	int			n = state->n;	/* a local: see AdamUpdate */

	for (int j = 0; j < n; j++)
	{
		double		g = grad[j];

		G[j] += g * g;
		w[j] -= lr * g / (sqrt(G[j]) + eps);
	}
}

/*----------
 * RMSProp (Tieleman and Hinton 2012), with v a moving average of the
 * squared gradients, starting at 0:
 *
 *	  v = rho * v + (1 - rho) * g^2
 *	  w = w - lr * g / (sqrt(v) + eps)
 *
 * rho defaults to 0.99 and eps to 1e-8, PyTorch's alpha and eps of
 * torch.optim.RMSprop (without its momentum and centered variants).
 * 0 <= rho < 1 keeps v a weighted mean.  Non-finite gradients are not
 * checked here: they reach w, and the training loop's loss check reports
 * them.
 *----------
 */
static void
RmspropStep(OptimizerState *state, double *w, const double *grad, double lr)
{
	double		rho = state->config.rho;
	double		eps = state->config.eps;
	double	   *v = state->v;
	int			n = state->n;	/* a local: see AdamUpdate */

	for (int j = 0; j < n; j++)
	{
		double		g = grad[j];

		v[j] = FlushTiny(rho * v[j] + (1.0 - rho) * g * g);
		w[j] -= lr * g / (sqrt(v[j]) + eps);
	}
}

/*
 * The update of Adam and AdamW: Adam's step, then a decoupled decay of
 * lambda * w scaled by the rate (lambda = 0 for Adam, which then computes
 * exactly Adam's step).  See AdamStep and AdamwStep for the rules.
 */
static void
AdamUpdate(OptimizerState *state, double *w, const double *grad, double lr,
		   double lambda)
{
	double		beta1 = state->config.beta1;
	double		beta2 = state->config.beta2;
	double		eps = state->config.eps;
	double		bc1;
	double		bc2;

	/*
	 * The moments in locals: with -fno-strict-aliasing a store to w[j]
	 * could change state->m itself, which would keep the loop scalar.
	 */
	double	   *m = state->m;
	double	   *v = state->v;
	int			n = state->n;

	/* OptimizerStep has already counted this update in state->t */
	bc1 = 1.0 - pow(beta1, (double) state->t);
	bc2 = 1.0 - pow(beta2, (double) state->t);

	for (int j = 0; j < n; j++)
	{
		double		g = grad[j];
		double		mhat;
		double		vhat;

		m[j] = FlushTiny(beta1 * m[j] + (1.0 - beta1) * g);
		v[j] = FlushTiny(beta2 * v[j] + (1.0 - beta2) * g * g);
		mhat = m[j] / bc1;
		vhat = v[j] / bc2;
		w[j] -= lr * (mhat / (sqrt(vhat) + eps) + lambda * w[j]);
	}
}

/*----------
 * Adam (Kingma and Ba 2015, Algorithm 1), t the number of this update
 * counted from 1:
 *
 *	  m    = beta1 * m + (1 - beta1) * g
 *	  v    = beta2 * v + (1 - beta2) * g^2
 *	  mhat = m / (1 - beta1^t)
 *	  vhat = v / (1 - beta2^t)
 *	  w    = w - lr * mhat / (sqrt(vhat) + eps)
 *
 * beta1, beta2 < 1 and eps > 0 (checked by options.c) keep both divisions
 * finite.  Non-finite gradients are not checked here: they reach w, and
 * the training loop's loss check reports them.
 *----------
 */
static void
AdamStep(OptimizerState *state, double *w, const double *grad, double lr)
{
	AdamUpdate(state, w, grad, lr, 0.0);
}

/*----------
 * AdamW (Loshchilov and Hutter 2019, Algorithm 2), with Adam's moments
 * and bias correction as in AdamStep and lambda = weight_decay:
 *
 *	  m    = beta1 * m + (1 - beta1) * g
 *	  v    = beta2 * v + (1 - beta2) * g^2
 *	  mhat = m / (1 - beta1^t)
 *	  vhat = v / (1 - beta2^t)
 *	  w    = w - lr * (mhat / (sqrt(vhat) + eps) + lambda * w)
 *
 * The decay uses w before this update and never enters m or v, unlike an
 * L2 term in g.  It is scaled by the scheduled rate lr, as in PyTorch's
 * torch.optim.AdamW, so weight_decay is the paper's lambda divided by its
 * alpha; it defaults to 0.01, as in PyTorch.  Non-finite gradients are not
 * checked here: they reach w, and the training loop's loss check reports
 * them.
 *
 * XXX The decay applies to every parameter, the bias included, since an
 * optimizer knows nothing of the model; PyTorch does the same unless the
 * caller makes parameter groups.  The model's own l2 term, which spares
 * the bias, is still in g.
 *----------
 */
static void
AdamwStep(OptimizerState *state, double *w, const double *grad, double lr)
{
	AdamUpdate(state, w, grad, lr, state->config.weight_decay);
}

/*----------
 * The proximal step of an L1 penalty l1 * |w|_1 on w[start .. start +
 * len - 1], taken right after an update of w at rate lr (Duchi and Singer,
 * "Efficient Online and Batch Learning Using Forward Backward Splitting",
 * JMLR 10, 2009):
 *
 *	  w = sign(w) * max(|w| - lr * s * l1, 0)
 *
 * where s is the scale the optimizer gives that coordinate's step: 1 for
 * plain sgd, 1 / (1 - momentum) for sgd with momentum (its velocity sums
 * the gradients, so a steady gradient moves w 1 / (1 - momentum) times
 * as far as a plain step), 1 / (sqrt(G) + eps) for adagrad,
 * 1 / (sqrt(v) + eps) for rmsprop and 1 / (sqrt(vhat) + eps) for adam
 * and adamw, so that a coordinate the optimizer moves in small steps is
 * also shrunk in small steps (the diagonal-preconditioned proximal step,
 * as in proximal AdaGrad).  In every case a weight stays at 0 while its
 * (averaged) loss gradient is smaller than l1 in magnitude.  A weight
 * whose second moment is 0 (its gradient has been exactly 0 since its
 * optimizer state began: a warm start's first batch, an input absent from
 * every batch so far) is left alone: its scale would be 1 / eps, which
 * would wipe it on no evidence.  A weight that
 * would cross 0 stops at exactly 0, which is where the penalty's sparsity
 * comes from; a gradient step alone never lands on 0.  Call it after
 * OptimizerStep, which has counted the update in state->t.
 *----------
 */
void
OptimizerShrink(const OptimizerState *state, double *w, int64 start,
				int64 len, double lr, double l1)
{
	const double *v = state->v;
	double		eps = state->config.eps;
	double		bc2 = 1.0;
	double		tau = lr * l1;

	Assert(start >= 0 && start + len <= state->n);
	if (state->config.kind == OPTIMIZER_ADAM ||
		state->config.kind == OPTIMIZER_ADAMW)
		bc2 = 1.0 - pow(state->config.beta2, (double) Max(state->t, 1));
	if (state->config.kind == OPTIMIZER_SGD)
		tau /= 1.0 - state->config.momentum;

	for (int64 j = start; j < start + len; j++)
	{
		double		step = tau;
		double		a;

		if (v != NULL && v[j] == 0.0)
			continue;
		if (v != NULL)
			step = tau / (sqrt(v[j] / bc2) + eps);
		a = fabs(w[j]) - step;
		w[j] = (a > 0.0) ? copysign(a, w[j]) : 0.0;
	}
}

/*
 * Create the state of an optimizer for a parameter vector of length n,
 * with zero moments and no updates taken, in CurrentMemoryContext.
 */
OptimizerState *
OptimizerCreate(const OptimizerConfig *config, int n)
{
	OptimizerState *state;
	bool		has_m;
	bool		has_v;

	MomentArrays(config, &has_m, &has_v);
	if (n < 0)
		elog(ERROR, "invalid optimizer vector length: %d", n);

	state = (OptimizerState *) palloc0(sizeof(OptimizerState));
	state->config = *config;
	state->n = n;
	state->t = 0;
	if (has_m)
		state->m = AllocVector(n);
	if (has_v)
		state->v = AllocVector(n);
	return state;
}

/*
 * Apply one update to w (length state->n) with gradient grad and rate lr,
 * and count it in state->t.
 */
void
OptimizerStep(OptimizerState *state, double *w, const double *grad,
			  double lr)
{
	state->t++;
	OptimizerMethodCheck(state->config.kind)->step(state, w, grad, lr);
}

/*
 * Can the optimizer take sparse steps (OptimizerSparseStep)?  Plain sgd
 * and adagrad can; momentum and the moment-based rules, whose state decays
 * at every update of every coordinate, have no sparse form here.
 */
bool
OptimizerHasSparseStep(const OptimizerConfig *config)
{
	return (config->kind == OPTIMIZER_SGD && config->momentum == 0.0) ||
		config->kind == OPTIMIZER_ADAGRAD;
}

/*----------
 * Update one block w[0 .. n - 1] of a parameter vector with its gradient
 * g, for families whose every row touches only a few such blocks (a user's
 * and an item's factors in mf.c).  slot picks the block's entry of the
 * state: the state vector has one entry per block, not per coordinate.
 *
 *	  sgd:      w = w - lr * g
 *	  adagrad:  G[slot] = G[slot] + |g|^2 / n
 *	            w = w - lr * g / (sqrt(G[slot]) + eps)
 *
 * The adagrad form keeps one accumulated rate per block (the mean of the
 * squared gradients of its coordinates, as in Chin et al., "A Learning-
 * Rate Schedule for Stochastic Gradient Methods to Matrix Factorization",
 * PAKDD 2015), so a row that is updated often gets a smaller rate than a
 * rare one.  The update count t is the caller's to advance.  Non-finite
 * gradients are not checked here: the training loop's loss check reports
 * them.
 *----------
 */
void
OptimizerSparseStep(OptimizerState *state, int64 slot, double *w,
					const double *grad, int n, double lr)
{
	if (state->config.kind == OPTIMIZER_ADAGRAD)
	{
		double		sumsq = 0.0;
		double		rate;

		Assert(slot >= 0 && slot < state->n);
		for (int j = 0; j < n; j++)
			sumsq += grad[j] * grad[j];
		state->v[slot] += sumsq / n;
		rate = lr / (sqrt(state->v[slot]) + state->config.eps);
		for (int j = 0; j < n; j++)
			w[j] -= rate * grad[j];
		return;
	}
	if (state->config.kind != OPTIMIZER_SGD || state->m != NULL)
		elog(ERROR, "optimizer kind %d has no sparse step",
			 (int) state->config.kind);
	for (int j = 0; j < n; j++)
		w[j] -= lr * grad[j];
}

/*
 * Copy the state src into dst, which must have been created for the same
 * optimizer and vector length (for example from a snapshot of dst).
 */
void
OptimizerCopy(OptimizerState *dst, const OptimizerState *src)
{
	Size		size = mul_size((Size) src->n, sizeof(double));

	if (dst->config.kind != src->config.kind || dst->n != src->n ||
		(dst->m == NULL) != (src->m == NULL) ||
		(dst->v == NULL) != (src->v == NULL))
		elog(ERROR, "cannot copy optimizer state of kind %d and length %d into kind %d and length %d",
			 (int) src->config.kind, src->n,
			 (int) dst->config.kind, dst->n);

	dst->config = src->config;
	dst->t = src->t;
	if (src->m != NULL)
		memcpy(dst->m, src->m, size);
	if (src->v != NULL)
		memcpy(dst->v, src->v, size);
}

/*
 * Append the serialized state to buf, in the layout described at
 * OPTIMIZER_FORMAT_VERSION.
 */
void
OptimizerWrite(StringInfo buf, const OptimizerState *state)
{
	const OptimizerConfig *config = &state->config;
	int			n_moments = (state->m != NULL) + (state->v != NULL);

	pq_sendint32(buf, OPTIMIZER_FORMAT_VERSION);
	pq_sendint32(buf, (int32) config->kind);
	pq_sendint32(buf, state->n);
	pq_sendint64(buf, state->t);
	pq_sendfloat8(buf, config->momentum);
	pq_sendint32(buf, config->nesterov ? 1 : 0);
	pq_sendfloat8(buf, config->beta1);
	pq_sendfloat8(buf, config->beta2);
	pq_sendfloat8(buf, config->eps);
	pq_sendfloat8(buf, config->rho);
	pq_sendfloat8(buf, config->weight_decay);
	pq_sendint32(buf, n_moments);

	for (int j = 0; state->m != NULL && j < state->n; j++)
		pq_sendfloat8(buf, state->m[j]);
	for (int j = 0; state->v != NULL && j < state->n; j++)
		pq_sendfloat8(buf, state->v[j]);
}

/* Report a stored optimizer state that cannot be valid. */
static void
CorruptState(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored optimizer state is invalid"),
			 errdetail_internal("%s", detail)));
}

/* Read n float8 values into a new array, refusing non-finite ones. */
static double *
ReadVector(StringInfo buf, int n, bool nonnegative)
{
	double	   *x = AllocVector(n);

	for (int j = 0; j < n; j++)
	{
		x[j] = pq_getmsgfloat8(buf);
		if (!isfinite(x[j]) || (nonnegative && x[j] < 0.0))
			CorruptState("A moment value is not a finite number in range.");
	}
	return x;
}

/*
 * Read a state written by OptimizerWrite from buf, starting at its cursor,
 * into CurrentMemoryContext.  The cursor ends after the state, so the state
 * may be followed by other data.
 *
 * Format versions 1 and 2 are read.  An unknown format version or
 * optimizer kind is refused (it was written by a newer build); a state
 * whose header does not fit its configuration or whose data is short is
 * reported as corrupted.
 */
OptimizerState *
OptimizerRead(StringInfo buf)
{
	OptimizerState *state;
	OptimizerConfig config;
	int32		version;
	int32		kind;
	int32		n;
	int64		t;
	int32		n_moments;
	bool		has_m;
	bool		has_v;
	int			header_size;

	if (buf->len - buf->cursor < (int) sizeof(int32))
		CorruptState("It is shorter than its header.");
	version = (int32) pq_getmsgint(buf, 4);
	if (version != 1 && version != OPTIMIZER_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("optimizer state has format version %d, which this build cannot read",
						version),
				 errhint("This build reads optimizer state format versions 1 to %d.",
						 OPTIMIZER_FORMAT_VERSION)));
	header_size = version == 1 ?
		OPTIMIZER_HEADER_SIZE_V1 : OPTIMIZER_HEADER_SIZE;
	if (buf->len - buf->cursor < header_size - (int) sizeof(int32))
		CorruptState("It is shorter than its header.");

	kind = (int32) pq_getmsgint(buf, 4);
	if (OptimizerMethodFor((OptimizerKind) kind) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("optimizer state uses optimizer kind %d, which this build cannot read",
						kind)));

	memset(&config, 0, sizeof(config));
	config.kind = (OptimizerKind) kind;
	n = (int32) pq_getmsgint(buf, 4);
	t = pq_getmsgint64(buf);
	config.momentum = pq_getmsgfloat8(buf);
	config.nesterov = pq_getmsgint(buf, 4) != 0;
	config.beta1 = pq_getmsgfloat8(buf);
	config.beta2 = pq_getmsgfloat8(buf);
	config.eps = pq_getmsgfloat8(buf);
	/* version 1 knew only sgd and adam, which use neither */
	config.rho = 0.0;
	config.weight_decay = 0.0;
	if (version >= 2)
	{
		config.rho = pq_getmsgfloat8(buf);
		config.weight_decay = pq_getmsgfloat8(buf);
	}
	n_moments = (int32) pq_getmsgint(buf, 4);

	/* range checks, written so that NaN fails them */
	if (n < 0 || t < 0 || t > PG_INT64_MAX / 2 ||
		!(config.momentum >= 0.0 && config.momentum < 1.0) ||
		!(config.beta1 >= 0.0 && config.beta1 < 1.0) ||
		!(config.beta2 >= 0.0 && config.beta2 < 1.0) ||
		!(config.eps >= 0.0 && isfinite(config.eps)) ||
		!(config.rho >= 0.0 && config.rho < 1.0) ||
		!(config.weight_decay >= 0.0 && isfinite(config.weight_decay)))
		CorruptState("Its header holds a value out of range.");
	if (version == 1 && kind != OPTIMIZER_SGD && kind != OPTIMIZER_ADAM)
		CorruptState("Format version 1 has no such optimizer.");
	/* every optimizer but sgd divides by sqrt(...) + eps */
	if (kind != OPTIMIZER_SGD && !(config.eps > 0.0))
		CorruptState("Its header holds a value out of range.");
	MomentArrays(&config, &has_m, &has_v);
	if (n_moments != (int32) has_m + (int32) has_v)
		CorruptState("Its moment arrays do not match its optimizer.");
	if ((int64) (buf->len - buf->cursor) <
		(int64) n_moments * n * (int64) sizeof(float8))
		CorruptState("It is shorter than its header says.");

	state = (OptimizerState *) palloc0(sizeof(OptimizerState));
	state->config = config;
	state->n = n;
	state->t = t;
	if (has_m)
		state->m = ReadVector(buf, n, false);
	if (has_v)
		state->v = ReadVector(buf, n, true);
	return state;
}

/* Return the name of an optimizer kind, as written in the options. */
const char *
OptimizerName(OptimizerKind kind)
{
	return OptimizerMethodCheck(kind)->name;
}

/*
 * Look up an optimizer by its name; return true and set *kind if this build
 * implements it, false otherwise.  The match is exact (case and spaces).
 */
bool
OptimizerFromName(const char *name, OptimizerKind *kind)
{
	for (int i = 0; i < N_OPTIMIZER_METHODS; i++)
	{
		if (strcmp(optimizer_methods[i].name, name) == 0)
		{
			*kind = optimizer_methods[i].kind;
			return true;
		}
	}
	return false;
}
