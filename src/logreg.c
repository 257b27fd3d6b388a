/*-------------------------------------------------------------------------
 *
 * logreg.c
 *	  Logistic and linear regression: loss, gradient and validation.
 *
 * For parameters theta = (w, b), encoded inputs x_i, targets y_i and row
 * weights c_i, over a mini-batch of n rows:
 *
 *		z_i = w . x_i + b
 *
 *	logistic:  loss = 1/n sum c_i (log(1 + exp(z_i)) - y_i z_i)
 *			   dloss/dz_i = c_i (sigmoid(z_i) - y_i) / n
 *	linear:    loss = 1/n sum c_i (z_i - y_i)^2 / 2
 *			   dloss/dz_i = c_i (z_i - y_i) / n
 *
 *		grad_w = X^T dloss/dz + l2 w,	grad_b = sum dloss/dz
 *
 * (the bias is not penalized).  The linear model trains on a standardized
 * target; the losses it reports are mean squared errors in the target's
 * own units.  A batch is a run of consecutive rows of the float4 matrix
 * (shuffled once when it was built), multiplied in place through
 * OpenBLAS in single precision (two sgemv calls per batch): the products
 * over one batch have float4 inputs anyway, and their rounding (about
 * 1e-7 relative) is far below the noise of a mini-batch gradient.  Each
 * row's loss and derivative, and every sum over batches, are in double.
 * Non-finite losses are returned as they are; the training loop decides.
 *
 * src/logreg.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"

#include "miscadmin.h"

/* Validation rows scored per gemv call */
#define LOGREG_CHUNK 4096

typedef struct Logreg
{
	const TrainSet *data;
	ModelKind	kind;
	double		l2;
	double		y_scale;		/* linear: reported losses use y's units */
	int			max_rows;		/* capacity of the buffers below */
	float	   *wf;				/* the weights, in single precision */
	float	   *zf;				/* scores, then scaled dloss/dz */
	float	   *gf;				/* X^T dloss/dz */
	double	   *scores;			/* validation scores */
} Logreg;

/*
 * Compute the scores (without the bias) of rows first .. first + n - 1
 * into lr->zf.
 */
static void
Scores(Logreg *lr, int64 first, int n, const double *theta)
{
	int			d = lr->data->d;

	for (int k = 0; k < d; k++)
		lr->wf[k] = (float) theta[k];
	LinalgGemvF4(n, d, lr->data->X + first * d, false, lr->wf, lr->zf);
}

/* Rows of one class whose (1 + e) factors are multiplied before a log */
#define LOSS_LOG_EVERY 512

/*
 * A running, weighted sum of row losses.
 *
 * The logistic loss of a row with score z and label y is
 * max(z, 0) - y z + log(1 + e), with e = exp(-|z|) in (0, 1].  The log
 * terms of rows of one class (which share one weight) are gathered as a
 * product and their logarithm taken once every LOSS_LOG_EVERY rows: a
 * product of factors in (1, 2] cannot overflow before 1023 of them, its
 * rounding error (n ulps) equals that of summing n logs, and the log per
 * row was the largest single cost of an epoch.
 */
typedef struct LossSum
{
	double		sum;			/* weighted max(z, 0) - y z, or squares */
	double		logs;			/* weighted logs of flushed products */
	double		prod[2];		/* per class: pending product of (1 + e) */
	int			pending[2];
	const double *weight;		/* per class */
} LossSum;

static inline void
LossInit(LossSum *s, const double *class_weight)
{
	s->sum = 0.0;
	s->logs = 0.0;
	s->prod[0] = s->prod[1] = 1.0;
	s->pending[0] = s->pending[1] = 0;
	s->weight = class_weight;
}

static inline void
LossFlush(LossSum *s, int cls)
{
	s->logs += s->weight[cls] * log(s->prod[cls]);
	s->prod[cls] = 1.0;
	s->pending[cls] = 0;
}

/*
 * Add the loss of one row with score z and target y; return its weighted
 * derivative by z.
 *
 * Logistic: one exp serves both loss and derivative; sigmoid(z) is
 * 1 / (1 + e) for z >= 0 and e / (1 + e) otherwise, and nothing can
 * overflow.  Linear: (z - y)^2 / 2, unweighted.
 */
static inline double
LossAdd(LossSum *s, ModelKind kind, double z, double y)
{
	if (kind == MODEL_LOGISTIC)
	{
		int			cls = (y == 1.0);
		double		e = exp(-fabs(z));
		double		p = (z >= 0 ? 1.0 : e) / (1.0 + e);

		s->sum += s->weight[cls] * (Max(z, 0.0) - y * z);
		s->prod[cls] *= 1.0 + e;
		if (++s->pending[cls] == LOSS_LOG_EVERY)
			LossFlush(s, cls);
		return s->weight[cls] * (p - y);
	}
	s->sum += 0.5 * (z - y) * (z - y);
	return z - y;
}

/* Return the total of a LossSum. */
static inline double
LossTotal(LossSum *s)
{
	LossFlush(s, 0);
	LossFlush(s, 1);
	return s->sum + s->logs;
}

/*
 * Mean loss and gradient over a mini-batch (see the file header).
 *
 * 1. Score the batch's rows.
 * 2. Turn each score into its loss and dloss/dz.
 * 3. grad_w = X^T dloss/dz + l2 w; grad_b = sum dloss/dz.
 */
static double
LogregBatchGradient(void *arg, int64 first, int n, const double *theta,
					double *grad)
{
	Logreg	   *lr = (Logreg *) arg;
	const TrainSet *data = lr->data;
	int			d = data->d;
	LossSum		acc;
	double		loss;
	double		gb = 0.0;

	/* 1. */
	Scores(lr, first, n, theta);

	/* 2. */
	LossInit(&acc, data->class_weight);
	for (int i = 0; i < n; i++)
	{
		double		dz = LossAdd(&acc, lr->kind, lr->zf[i] + theta[d],
								 data->y[first + i]) / n;

		lr->zf[i] = (float) dz;
		gb += dz;
	}

	/* 3. */
	LinalgGemvF4(n, d, data->X + first * d, true, lr->zf, lr->gf);
	for (int k = 0; k < d; k++)
		grad[k] = lr->gf[k] + lr->l2 * theta[k];
	grad[d] = gb;

	loss = LossTotal(&acc) / n;
	if (lr->kind == MODEL_LINEAR)
		loss *= 2.0 * lr->y_scale * lr->y_scale;
	return loss;
}

/*
 * Loss and metric on the validation rows.
 *
 * The loss is the weighted mean log loss (logistic) or mean squared error
 * (linear); the metric is the AUC (logistic) or the root mean squared
 * error (linear), both in the target's units.
 */
static void
LogregValidate(void *arg, const double *theta, double *loss, double *metric)
{
	Logreg	   *lr = (Logreg *) arg;
	const TrainSet *data = lr->data;
	int64		n_valid = data->n_valid;
	LossSum		acc;
	double		sum;

	LossInit(&acc, data->class_weight);
	for (int64 start = 0; start < n_valid; start += lr->max_rows)
	{
		int			n = (int) Min(lr->max_rows, n_valid - start);

		CHECK_FOR_INTERRUPTS();
		Scores(lr, data->n_train + start, n, theta);
		for (int i = 0; i < n; i++)
		{
			double		z = lr->zf[i] + theta[data->d];

			(void) LossAdd(&acc, lr->kind, z,
						   data->y[data->n_train + start + i]);
			lr->scores[start + i] = z;
		}
	}
	sum = LossTotal(&acc);

	if (lr->kind == MODEL_LOGISTIC)
	{
		*loss = sum / n_valid;
		*metric = MetricAuc(lr->scores, data->y + data->n_train, n_valid);
	}
	else
	{
		*loss = 2.0 * sum / n_valid * lr->y_scale * lr->y_scale;
		*metric = sqrt(*loss);
	}
}

/*
 * Return a Learner for a logistic or linear model over data.
 *
 * Buffers are sized for the larger of a batch and a validation chunk.
 * Everything lives in the current context.
 */
Learner *
LogregLearner(const TrainSet *data, ModelKind kind, double l2,
			  double y_scale, int batch_size)
{
	Learner    *learner = palloc0(sizeof(Learner));
	Logreg	   *lr = palloc0(sizeof(Logreg));

	lr->data = data;
	lr->kind = kind;
	lr->l2 = l2;
	lr->y_scale = y_scale;
	lr->max_rows = (int) Max(LOGREG_CHUNK, Min(batch_size, data->n_train));
	lr->wf = palloc(sizeof(float) * Max(data->d, 1));
	lr->gf = palloc(sizeof(float) * Max(data->d, 1));
	lr->zf = palloc_extended(sizeof(float) * lr->max_rows, MCXT_ALLOC_HUGE);
	lr->scores = palloc_extended(sizeof(double) * (data->n_valid + 1),
								 MCXT_ALLOC_HUGE);

	learner->n_params = data->d + 1;
	learner->n_weight_ranges = 1;
	learner->weight_ranges[0].start = 0;
	learner->weight_ranges[0].len = data->d;
	learner->batch_gradient = LogregBatchGradient;
	learner->validate = LogregValidate;
	learner->arg = lr;
	return learner;
}
