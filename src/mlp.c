/*-------------------------------------------------------------------------
 *
 * mlp.c
 *	  Multilayer perceptron: layers, forward and backward passes, scoring.
 *
 * The network maps the encoded inputs x (d of them) through H hidden
 * layers to one output unit.  With a_0 = x and L = H + 1 weight layers:
 *
 *		z_l = a_{l-1} W_l + b_l,		l = 1 .. L
 *		a_l = f(z_l) * m_l,				l = 1 .. H
 *		score = z_L
 *
 * where W_l is s_{l-1} x s_l (s_0 = d, s_L = 1), f is relu (max(0, z)) or
 * tanh, and m_l is the dropout mask: while training, each unit is kept
 * with probability q = 1 - dropout and then scaled by 1/q (inverted
 * dropout, Srivastava et al. 2014), so no rescaling is needed when
 * scoring; validation and scoring use m_l = 1.  A classifier outputs
 * sigmoid(score) and trains on the log loss, a regression outputs score
 * (on the standardized target) and trains on half the squared error,
 * exactly as logreg.c's models do:
 *
 *	classifier: loss = 1/n sum c_i (log(1 + exp(z_i)) - y_i z_i)
 *				dloss/dz_i = c_i (sigmoid(z_i) - y_i) / n
 *	regression: loss = 1/n sum (z_i - y_i)^2 / 2
 *				dloss/dz_i = (z_i - y_i) / n
 *
 * Backpropagation over a mini-batch of n rows, with dZ_L = dloss/dz:
 *
 *		grad W_l = A_{l-1}^T dZ_l + l2 W_l,		grad b_l = sum_i dZ_l[i]
 *		dZ_{l-1} = (dZ_l W_l^T) * m_{l-1} * f'(z_{l-1})
 *
 * with f'(z) = [z > 0] for relu and 1 - tanh(z)^2 for tanh; biases are
 * not penalized.  Each product is one OpenBLAS sgemm over the whole batch
 * (three per layer, two for the first, which needs no dZ_0), on a
 * single-precision copy of the parameters made once per batch; as in
 * logreg.c, the products accumulate in single precision (their inputs
 * are float4 anyway), while losses and the bias sums are in double.  theta is
 * one flat vector, W_1, b_1, W_2, b_2, ..., W_L, b_L, each W row-major,
 * so the shared training loop, every optimizer, back-off and early
 * stopping treat it like a linear model's weights.
 *
 * The starting weights come from the seed: uniform in +-sqrt(6 / fan_in)
 * for layers feeding relu (He et al. 2015), +-sqrt(6 / (fan_in +
 * fan_out)) for layers feeding tanh and for the output layer (Glorot &
 * Bengio 2010); biases start at 0.  Dropout draws from a generator of its
 * own, seeded too, so a run is reproducible.  Non-finite losses are
 * returned as they are; the training loop decides.
 *
 * Scoring (MlpForward) runs the same network on one row in double
 * precision, one dgemv per layer.  Everything is allocated in the
 * current context.
 *
 * src/mlp.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"

#include "common/pg_prng.h"
#include "miscadmin.h"
#include "utils/float.h"

/* Validation rows scored per forward pass, at least */
#define MLP_CHUNK 1024

/* Largest number of parameters of one network */
#define MLP_MAX_PARAMS 50000000

/* Salts that keep the init and dropout streams apart from the split's */
#define MLP_INIT_SALT		UINT64CONST(0x6d6c7020696e6974)
#define MLP_DROPOUT_SALT	UINT64CONST(0x6d6c702064726f70)

/* Weight layers of the largest network: hidden layers and the output */
#define MLP_MAX_WEIGHT_LAYERS (LRML_MLP_MAX_LAYERS + 1)

/*
 * Where each layer's parameters sit in theta: size[0] = d inputs,
 * size[l] units of layer l = 1 .. n_layers (the last is the output unit);
 * W_l starts at w_off[l], b_l at b_off[l].
 */
typedef struct MlpLayout
{
	int			n_layers;
	int			size[MLP_MAX_WEIGHT_LAYERS + 1];
	int64		w_off[MLP_MAX_WEIGHT_LAYERS + 1];
	int64		b_off[MLP_MAX_WEIGHT_LAYERS + 1];
	int64		n_params;
	int			max_units;		/* largest size[l], l >= 1 */
} MlpLayout;

typedef struct Mlp
{
	const TrainSet *data;
	MlpLayout	layout;
	MlpActivation activation;
	bool		classifier;
	double		l2;
	double		y_scale;		/* regression: losses are in y's units */
	double		dropout;
	uint64		seed;
	pg_prng_state drop_rng;
	int			max_rows;		/* rows per forward pass */
	float	   *wf;				/* theta in single precision */
	float	   *gf;				/* weight gradients */
	float	   *H[MLP_MAX_WEIGHT_LAYERS + 1];	/* f(z_l), then z_L */
	float	   *A[MLP_MAX_WEIGHT_LAYERS + 1];	/* f(z_l) * m_l, or H[l] */
	float	   *M[MLP_MAX_WEIGHT_LAYERS + 1];	/* dropout masks */
	float	   *dZ;				/* max_rows x max_units */
	float	   *dA;				/* max_rows x max_units */
	double	   *scores;			/* validation scores */
} Mlp;

/*
 * Fill in the layout of a network with d inputs; return its number of
 * parameters.  Sizes are bounded (LRML_MAX_INPUTS, LRML_MLP_MAX_UNITS,
 * LRML_MLP_MAX_LAYERS), so the count cannot overflow an int64.
 */
static int64
Layout(int d, const MlpShape *shape, MlpLayout *lay)
{
	int64		off = 0;

	lay->n_layers = shape->n_hidden + 1;
	lay->size[0] = d;
	for (int l = 1; l <= shape->n_hidden; l++)
		lay->size[l] = shape->hidden[l - 1];
	lay->size[lay->n_layers] = 1;
	lay->max_units = 1;
	for (int l = 1; l <= lay->n_layers; l++)
	{
		lay->w_off[l] = off;
		off += (int64) lay->size[l - 1] * lay->size[l];
		lay->b_off[l] = off;
		off += lay->size[l];
		lay->max_units = Max(lay->max_units, lay->size[l]);
	}
	lay->n_params = off;
	return off;
}

/*
 * Return the number of parameters of a network with n_inputs inputs.
 */
int64
MlpParamCount(int n_inputs, const MlpShape *shape)
{
	MlpLayout	lay;

	return Layout(n_inputs, shape, &lay);
}

/* Return the name of an activation, as written in the options. */
const char *
MlpActivationName(MlpActivation activation)
{
	switch (activation)
	{
		case MLP_RELU:
			return "relu";
		case MLP_TANH:
			return "tanh";
	}
	elog(ERROR, "unrecognized activation: %d", (int) activation);
	return NULL;				/* keep compiler quiet */
}

/*
 * Add the bias b to each of the n rows of h (n x s), then apply the
 * activation unless this is the output layer.
 *
 * Each loop is a plain pass over the batch that the compiler vectorizes
 * (see the Makefile): compiled as a branch, relu's test on the random
 * sign of each unit mispredicts half the time and cost more than the
 * matrix products.  XXX: relu turns a NaN unit into 0; a diverging run
 * is still caught by the checks on the loss and on theta.
 */
static void
BiasActivate(float *pg_restrict h, const float *pg_restrict b, int n, int s,
			 MlpActivation activation, bool output)
{
	for (int i = 0; i < n; i++)
	{
		float	   *pg_restrict row = h + (int64) i * s;

		for (int j = 0; j < s; j++)
			row[j] += b[j];
	}
	if (output)
		return;
	if (activation == MLP_RELU)
	{
		for (int64 k = 0; k < (int64) n * s; k++)
			h[k] = h[k] > 0.0f ? h[k] : 0.0f;
	}
	else
	{
		for (int64 k = 0; k < (int64) n * s; k++)
			h[k] = tanhf(h[k]);
	}
}

/*
 * dZ = dA * f'(z) for n values, f' read from the activations h = f(z),
 * times the dropout mask M when there is one.  Vectorized passes, as in
 * BiasActivate.
 */
static void
ActivationGradient(float *pg_restrict dZ, const float *pg_restrict dA,
				   const float *pg_restrict h, const float *pg_restrict M,
				   int64 n, MlpActivation activation)
{
	if (activation == MLP_RELU)
	{
		for (int64 k = 0; k < n; k++)
		{
			float		g = dA[k];

			dZ[k] = h[k] > 0.0f ? g : 0.0f;
		}
	}
	else
	{
		for (int64 k = 0; k < n; k++)
			dZ[k] = dA[k] * (1.0f - h[k] * h[k]);
	}
	if (M == NULL)
		return;
	for (int64 k = 0; k < n; k++)
		dZ[k] *= M[k];
}

/*
 * Run rows X[0 .. n - 1] (n x d, row-major) forward; return the output
 * scores, H[n_layers] (n values).  With train, draw dropout masks.
 *
 * 1. Copy theta to single precision.
 * 2. For each layer: a_{l-1} W_l (one sgemm), then add the bias, and
 *	  apply the activation and the dropout mask to hidden layers.
 */
static float *
Forward(Mlp *net, const float *X, int n, const double *theta, bool train)
{
	const MlpLayout *lay = &net->layout;
	const float *in = X;
	bool		drop = train && net->dropout > 0.0;
	float		keep_scale = (float) (1.0 / (1.0 - net->dropout));

	/* 1. */
	for (int64 k = 0; k < lay->n_params; k++)
		net->wf[k] = (float) theta[k];

	/* 2. */
	for (int l = 1; l <= lay->n_layers; l++)
	{
		int			s = lay->size[l];
		float	   *h = net->H[l];

		LinalgGemmF4(false, false, n, s, lay->size[l - 1], in,
					 net->wf + lay->w_off[l], 0.0f, h);
		BiasActivate(h, net->wf + lay->b_off[l], n, s, net->activation,
					 l == lay->n_layers);
		if (l == lay->n_layers)
			break;
		if (!drop)
		{
			in = h;
			continue;
		}
		for (int64 k = 0; k < (int64) n * s; k++)
		{
			net->M[l][k] = pg_prng_double(&net->drop_rng) < net->dropout ?
				0.0f : keep_scale;
			net->A[l][k] = h[k] * net->M[l][k];
		}
		in = net->A[l];
	}
	return net->H[lay->n_layers];
}

/*
 * Add the loss of a row with score z and target y to *sum; return its
 * weighted derivative by z.  The logistic loss is written as
 * max(z, 0) - y z + log1p(exp(-|z|)), which cannot overflow.
 */
static inline double
RowLoss(const Mlp *net, double z, double y, double *sum)
{
	if (net->classifier)
	{
		int			cls = (y == 1.0);
		double		c = net->data->class_weight[cls];
		double		e = exp(-fabs(z));
		double		p = (z >= 0 ? 1.0 : e) / (1.0 + e);

		*sum += c * (Max(z, 0.0) - y * z + log1p(e));
		return c * (p - y);
	}
	*sum += 0.5 * (z - y) * (z - y);
	return z - y;
}

/*
 * g[j] = sum over the n rows of dZ (n x s) of dZ[i][j], in double.
 */
static void
BiasGradient(double *pg_restrict g, const float *pg_restrict dZ, int n,
			 int s)
{
	for (int j = 0; j < s; j++)
		g[j] = 0.0;
	for (int i = 0; i < n; i++)
	{
		const float *pg_restrict row = dZ + (int64) i * s;

		for (int j = 0; j < s; j++)
			g[j] += row[j];
	}
}

/*
 * Back-propagate dZ (dloss/dz of the output, n x 1) through the network
 * into grad (see the file header).
 *
 * Layer by layer from the output: the weight gradient is one sgemm
 * (A_{l-1}^T dZ_l), the bias gradient a column sum in double, and the
 * next dZ one sgemm (dZ_l W_l^T) times the mask and f'.
 */
static void
Backward(Mlp *net, const float *X, int n, const double *theta, double *grad)
{
	const MlpLayout *lay = &net->layout;
	bool		drop = net->dropout > 0.0;

	for (int l = lay->n_layers; l >= 1; l--)
	{
		int			s = lay->size[l];
		int			s_in = lay->size[l - 1];
		const float *in = (l == 1) ? X : net->A[l - 1];
		const float *h_in = (l == 1) ? NULL : net->H[l - 1];
		int64		w0 = lay->w_off[l];
		int64		b0 = lay->b_off[l];

		LinalgGemmF4(true, false, s_in, s, n, in, net->dZ, 0.0f,
					 net->gf + w0);
		BiasGradient(grad + b0, net->dZ, n, s);
		for (int64 k = 0; k < (int64) s_in * s; k++)
			grad[w0 + k] = net->gf[w0 + k] + net->l2 * theta[w0 + k];
		if (l == 1)
			break;

		LinalgGemmF4(false, true, n, s_in, s, net->dZ, net->wf + w0, 0.0f,
					 net->dA);
		ActivationGradient(net->dZ, net->dA, h_in,
						   drop ? net->M[l - 1] : NULL, (int64) n * s_in,
						   net->activation);
	}
}

/*
 * Mean loss and gradient over a mini-batch (see the file header).
 *
 * 1. Run the batch forward, with dropout.
 * 2. Turn each score into its loss and dloss/dz.
 * 3. Back-propagate.
 */
static double
MlpBatchGradient(void *arg, int64 first, int n, const double *theta,
				 double *grad)
{
	Mlp		   *net = (Mlp *) arg;
	const TrainSet *data = net->data;
	const float *X = data->X + first * data->d;
	const float *z;
	double		sum = 0.0;
	double		loss;

	/* 1. */
	z = Forward(net, X, n, theta, true);

	/* 2. */
	for (int i = 0; i < n; i++)
		net->dZ[i] = (float) (RowLoss(net, z[i], data->y[first + i], &sum) /
							  n);

	/* 3. */
	Backward(net, X, n, theta, grad);

	loss = sum / n;
	if (!net->classifier)
		loss *= 2.0 * net->y_scale * net->y_scale;
	return loss;
}

/*
 * Loss and metric on the validation rows, without dropout: the weighted
 * mean log loss and the AUC (classifier), or the mean squared error and
 * its root in the target's units (regression).
 */
static void
MlpValidate(void *arg, const double *theta, double *loss, double *metric)
{
	Mlp		   *net = (Mlp *) arg;
	const TrainSet *data = net->data;
	int64		n_valid = data->n_valid;
	double		sum = 0.0;

	for (int64 start = 0; start < n_valid; start += net->max_rows)
	{
		int			n = (int) Min(net->max_rows, n_valid - start);
		int64		row = data->n_train + start;
		const float *z;

		CHECK_FOR_INTERRUPTS();
		z = Forward(net, data->X + row * data->d, n, theta, false);
		for (int i = 0; i < n; i++)
		{
			(void) RowLoss(net, z[i], data->y[row + i], &sum);
			net->scores[start + i] = z[i];
		}
	}

	if (net->classifier)
	{
		*loss = sum / n_valid;
		*metric = MetricAuc(net->scores, data->y + data->n_train, n_valid);
	}
	else
	{
		*loss = 2.0 * sum / n_valid * net->y_scale * net->y_scale;
		*metric = sqrt(*loss);
	}
}

/*
 * Fill theta with the starting weights drawn from the seed (He uniform
 * before relu, Glorot uniform before tanh and the output), biases 0.
 */
static void
MlpInit(void *arg, double *theta)
{
	Mlp		   *net = (Mlp *) arg;
	const MlpLayout *lay = &net->layout;
	pg_prng_state rng;

	pg_prng_seed(&rng, net->seed ^ MLP_INIT_SALT);
	for (int l = 1; l <= lay->n_layers; l++)
	{
		int			fan_in = lay->size[l - 1];
		int			fan_out = lay->size[l];
		double		limit;

		if (l < lay->n_layers && net->activation == MLP_RELU)
			limit = sqrt(6.0 / fan_in);
		else
			limit = sqrt(6.0 / (fan_in + fan_out));
		for (int64 k = 0; k < (int64) fan_in * fan_out; k++)
			theta[lay->w_off[l] + k] =
				limit * (2.0 * pg_prng_double(&rng) - 1.0);
		for (int j = 0; j < fan_out; j++)
			theta[lay->b_off[l] + j] = 0.0;
	}
}

/*
 * Allocate a float buffer of rows x cols, checking the size.
 */
static float *
FloatBuffer(int64 rows, int64 cols)
{
	return palloc_extended(mul_size(mul_size(Max(rows, 1), Max(cols, 1)),
									sizeof(float)), MCXT_ALLOC_HUGE);
}

/*
 * Return a Learner for an mlp over data, with the options' shape,
 * dropout, l2 and seed; y_scale converts a regression's losses to the
 * target's units.
 *
 * Fails when the network has more than MLP_MAX_PARAMS parameters, or when
 * the data, the parameters with the optimizer's copies of them, and the
 * network's buffers would together exceed lrml.memory_limit.  Everything
 * lives in the current context.
 */
Learner *
MlpLearner(const TrainSet *data, const TrainOptions *opts, double y_scale)
{
	Learner    *learner = palloc0(sizeof(Learner));
	Mlp		   *net = palloc0(sizeof(Mlp));
	MlpLayout  *lay = &net->layout;
	int64		n_params = Layout(data->d, &opts->mlp, lay);
	int64		units = 0;
	Size		bytes;

	if (n_params > MLP_MAX_PARAMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the network has " INT64_FORMAT " parameters, more than the limit of %d",
						n_params, MLP_MAX_PARAMS),
				 errdetail("The features encode to %d inputs.", data->d),
				 errhint("Use fewer or smaller hidden layers.")));
	net->data = data;
	net->activation = opts->mlp.activation;
	net->classifier = opts->classifier;
	net->l2 = opts->l2;
	net->y_scale = y_scale;
	net->dropout = opts->dropout;
	net->seed = (uint64) opts->seed;
	/* the same seed gives the same dropout masks */
	pg_prng_seed(&net->drop_rng, net->seed ^ MLP_DROPOUT_SALT);
	net->max_rows = (int) Max(MLP_CHUNK, Min(opts->batch_size,
											 data->n_train));

	/*
	 * The training data (float4 matrix, targets), then the parameters:
	 * theta and the gradient, the optimizer's two moments and the loop's
	 * two saved copies of each (double), and wf and gf (float); then the
	 * per-unit buffers of a forward pass.
	 */
	for (int l = 1; l <= lay->n_layers; l++)
		units += lay->size[l];
	bytes = mul_size(data->n_train + data->n_valid,
					 add_size(mul_size(data->d, sizeof(float)),
							  sizeof(double)));
	bytes = add_size(bytes, mul_size(n_params, 10 * sizeof(double) +
									 2 * sizeof(float)));
	bytes = add_size(bytes,
					 mul_size(mul_size(net->max_rows,
									   add_size(mul_size(units, 3),
												2 * lay->max_units)),
							  sizeof(float)));
	DatasetCheckMemory(bytes);

	net->wf = FloatBuffer(n_params, 1);
	net->gf = FloatBuffer(n_params, 1);
	for (int l = 1; l <= lay->n_layers; l++)
	{
		net->H[l] = FloatBuffer(net->max_rows, lay->size[l]);
		net->A[l] = net->H[l];
		if (opts->dropout > 0.0 && l < lay->n_layers)
		{
			net->A[l] = FloatBuffer(net->max_rows, lay->size[l]);
			net->M[l] = FloatBuffer(net->max_rows, lay->size[l]);
		}
	}
	net->dZ = FloatBuffer(net->max_rows, lay->max_units);
	net->dA = FloatBuffer(net->max_rows, lay->max_units);
	net->scores = palloc_extended(sizeof(double) * (data->n_valid + 1),
								  MCXT_ALLOC_HUGE);

	learner->n_params = (int) n_params;
	StaticAssertStmt(MLP_MAX_WEIGHT_LAYERS <= LRML_MAX_WEIGHT_RANGES,
					 "an mlp has more weight layers than a learner has ranges");
	learner->n_weight_ranges = lay->n_layers;
	for (int l = 1; l <= lay->n_layers; l++)
	{
		learner->weight_ranges[l - 1].start = lay->w_off[l];
		learner->weight_ranges[l - 1].len = lay->b_off[l] - lay->w_off[l];
	}
	learner->init = MlpInit;
	learner->batch_gradient = MlpBatchGradient;
	learner->validate = MlpValidate;
	learner->arg = net;
	return learner;
}

/*
 * Return the number of doubles of scratch space MlpForward needs.
 */
int
MlpScratchSize(const LrmlModel *model)
{
	MlpLayout	lay;

	(void) Layout(model->encoding->n_inputs, &model->mlp, &lay);
	return 2 * lay.max_units;
}

/*
 * Return the output score (before the sigmoid or the target's scaling)
 * of a decoded mlp model for one row of scaled inputs x, in double
 * precision.  scratch holds MlpScratchSize(model) doubles.  The result
 * may be NaN or infinite if the products overflow; the caller checks.
 */
double
MlpForward(const LrmlModel *model, const double *x, double *scratch)
{
	MlpLayout	lay;
	const double *in = x;

	(void) Layout(model->encoding->n_inputs, &model->mlp, &lay);
	for (int l = 1; l <= lay.n_layers; l++)
	{
		int			s = lay.size[l];
		double	   *out = scratch + ((l % 2) ? 0 : lay.max_units);
		const double *b = model->w + lay.b_off[l];

		LinalgGemvF8(lay.size[l - 1], s, model->w + lay.w_off[l], true, in,
					 out);
		for (int j = 0; j < s; j++)
		{
			out[j] += b[j];
			/* relu would turn NaN into 0: let the caller see it */
			if (!isfinite(out[j]))
				return get_float8_nan();
			if (l < lay.n_layers)
				out[j] = model->mlp.activation == MLP_RELU ?
					Max(out[j], 0.0) : tanh(out[j]);
		}
		in = out;
	}
	return in[0];
}
