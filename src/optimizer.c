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
 *	  adam  Kingma and Ba, "Adam: A Method for Stochastic Optimization",
 *	        ICLR 2015, with bias correction.
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

#include <math.h>

#include "libpq/pqformat.h"
#include "utils/memutils.h"

#include "lrml.h"

/*
 * Version of the serialized optimizer state.  OptimizerRead refuses any
 * other; a change of the layout below needs a new number.
 *
 * Layout (network byte order, as written by pq_send*):
 *	  int32   format version
 *	  int32   optimizer kind (OptimizerKind)
 *	  int32   n, the length of the parameter vector
 *	  int64   t, the number of updates taken
 *	  float8  momentum, int32 nesterov (0 or 1), float8 beta1, beta2, eps
 *	  int32   number of moment arrays (0, 1 or 2)
 *	  float8  n values of m, if present, then n values of v, if present
 */
#define OPTIMIZER_FORMAT_VERSION	1

/* Bytes of the layout above before the moment arrays. */
#define OPTIMIZER_HEADER_SIZE		60

typedef void (*OptimizerStepFunc) (OptimizerState *state, double *w,
								   const double *grad, double lr);

typedef struct OptimizerMethod
{
	OptimizerKind kind;
	const char *name;
	int			n_moments;		/* moment arrays: m, then v */
	OptimizerStepFunc step;
} OptimizerMethod;

static void SgdStep(OptimizerState *state, double *w, const double *grad,
					double lr);
static void AdamStep(OptimizerState *state, double *w, const double *grad,
					 double lr);

static const OptimizerMethod optimizer_methods[] = {
	{OPTIMIZER_SGD, "sgd", 1, SgdStep},
	{OPTIMIZER_ADAM, "adam", 2, AdamStep}
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
 * Return the number of moment arrays a configuration uses: those of its
 * table row, except that sgd without momentum keeps no velocity.
 */
static int
MomentCount(const OptimizerConfig *config)
{
	if (config->kind == OPTIMIZER_SGD && config->momentum == 0.0)
		return 0;
	return OptimizerMethodCheck(config->kind)->n_moments;
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

	if (v == NULL)
	{
		for (int j = 0; j < state->n; j++)
			w[j] -= lr * grad[j];
		return;
	}

	for (int j = 0; j < state->n; j++)
	{
		v[j] = mu * v[j] + grad[j];
		if (state->config.nesterov)
			w[j] -= lr * (grad[j] + mu * v[j]);
		else
			w[j] -= lr * v[j];
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
	double		beta1 = state->config.beta1;
	double		beta2 = state->config.beta2;
	double		eps = state->config.eps;
	double		bc1;
	double		bc2;

	/* OptimizerStep has already counted this update in state->t */
	bc1 = 1.0 - pow(beta1, (double) state->t);
	bc2 = 1.0 - pow(beta2, (double) state->t);

	for (int j = 0; j < state->n; j++)
	{
		double		g = grad[j];
		double		mhat;
		double		vhat;

		state->m[j] = beta1 * state->m[j] + (1.0 - beta1) * g;
		state->v[j] = beta2 * state->v[j] + (1.0 - beta2) * g * g;
		mhat = state->m[j] / bc1;
		vhat = state->v[j] / bc2;
		w[j] -= lr * mhat / (sqrt(vhat) + eps);
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
	int			n_moments = MomentCount(config);

	if (n < 0)
		elog(ERROR, "invalid optimizer vector length: %d", n);

	state = (OptimizerState *) palloc0(sizeof(OptimizerState));
	state->config = *config;
	state->n = n;
	state->t = 0;
	if (n_moments >= 1)
		state->m = AllocVector(n);
	if (n_moments >= 2)
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
 * Forget all updates: zero the moments and the update count.
 */
void
OptimizerReset(OptimizerState *state)
{
	Size		size = mul_size((Size) state->n, sizeof(double));

	state->t = 0;
	if (state->m != NULL)
		memset(state->m, 0, size);
	if (state->v != NULL)
		memset(state->v, 0, size);
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
 * An unknown format version or optimizer kind is refused (it was written
 * by a newer build); a state whose header does not fit its configuration
 * or whose data is short is reported as corrupted.
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

	if (buf->len - buf->cursor < (int) sizeof(int32))
		CorruptState("It is shorter than its header.");
	version = (int32) pq_getmsgint(buf, 4);
	if (version != OPTIMIZER_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("optimizer state has format version %d, which this build cannot read",
						version),
				 errhint("This build reads optimizer state format version %d.",
						 OPTIMIZER_FORMAT_VERSION)));
	if (buf->len - buf->cursor < OPTIMIZER_HEADER_SIZE - (int) sizeof(int32))
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
	n_moments = (int32) pq_getmsgint(buf, 4);

	/* range checks, written so that NaN fails them */
	if (n < 0 || t < 0 ||
		!(config.momentum >= 0.0 && config.momentum < 1.0) ||
		!(config.beta1 >= 0.0 && config.beta1 < 1.0) ||
		!(config.beta2 >= 0.0 && config.beta2 < 1.0) ||
		!(config.eps >= 0.0 && isfinite(config.eps)))
		CorruptState("Its header holds a value out of range.");
	if (n_moments != MomentCount(&config))
		CorruptState("Its moment arrays do not match its optimizer.");
	if ((int64) (buf->len - buf->cursor) <
		(int64) n_moments * n * (int64) sizeof(float8))
		CorruptState("It is shorter than its header says.");

	state = (OptimizerState *) palloc0(sizeof(OptimizerState));
	state->config = config;
	state->n = n;
	state->t = t;
	if (n_moments >= 1)
		state->m = ReadVector(buf, n, false);
	if (n_moments >= 2)
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
