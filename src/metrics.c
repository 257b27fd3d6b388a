/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  Quality measures of a trained model: AUC, log loss, the confusion
 *	  matrix measures, RMSE, MAE and R^2.
 *
 * Every function here is a pure function of its arrays: no SPI, no
 * catalog access, no errors for ordinary input.  A measure that is not
 * defined for its input (AUC with one class only, precision with no
 * positive predictions, R^2 of a constant target, anything over zero
 * rows) is returned as NaN; callers show it as NULL.  Labels are doubles
 * holding 0 or 1; a label above 0.5 counts as positive.  Sums are taken
 * in double.  Scratch memory comes from the current memory context.
 *
 * References:
 *	  Hanley JA, McNeil BJ.  The meaning and use of the area under a
 *	  receiver operating characteristic (ROC) curve.  Radiology 143(1),
 *	  1982 (AUC as the Mann-Whitney U statistic).
 *
 * src/metrics.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"

#include "utils/float.h"
#include "utils/memutils.h"

/* Lower and upper bound of a probability inside the log loss */
#define LOG_LOSS_EPS	1e-15

/*
 * Map a double to an unsigned key with the same order (NaN last).
 *
 * Flipping the sign bit of a non-negative double, and every bit of a
 * negative one, turns IEEE order into unsigned integer order.  -0 is
 * taken as +0 and every NaN as one value, so that two keys are equal
 * exactly when float8_cmp_internal calls their doubles equal.
 */
static inline uint64
SortableKey(double d)
{
	uint64		u;

	if (isnan(d))
		return PG_UINT64_MAX;
	if (d == 0.0)
		d = 0.0;
	memcpy(&u, &d, sizeof(u));
	return (u & UINT64CONST(0x8000000000000000)) ?
		~u : (u | UINT64CONST(0x8000000000000000));
}

/* Bits of the key sorted per pass of the radix sort, and the passes */
#define RADIX_BITS		11
#define RADIX_SIZE		(1 << RADIX_BITS)
#define RADIX_PASSES	((64 + RADIX_BITS - 1) / RADIX_BITS)

/*
 * Sort n keys, carrying a 0/1 label byte with each.
 *
 * A least-significant-digit radix sort, up to six passes of 11 bits:
 * linear in n, which matters because the AUC is computed on the
 * validation rows after every epoch.  One read of the keys counts the
 * digits of every pass; a pass in which every key has the same digit
 * would move nothing and is skipped (scores of one sign and similar size
 * share their top bits).  Only the key and one byte move, not the scores
 * and labels as doubles.  Rows with equal keys keep no
 * particular order; the AUC gives tied scores their average rank anyway.
 * The sorted keys and labels end in *keys and *labels, which may then be
 * the scratch arrays it allocated (in the current context): it frees the
 * other two, so the caller frees *keys and *labels as before.
 */
static void
SortKeyLabels(uint64 **keys, uint8 **labels, int64 n)
{
	uint64	   *k1 = *keys;
	uint8	   *l1 = *labels;
	uint64	   *k2 = MemoryContextAllocHuge(CurrentMemoryContext,
											mul_size(n, sizeof(uint64)));
	uint8	   *l2 = MemoryContextAllocHuge(CurrentMemoryContext, n);
	int64	   *counts = palloc0(sizeof(int64) * RADIX_SIZE * RADIX_PASSES);

	for (int64 i = 0; i < n; i++)
	{
		uint64		key = k1[i];

		for (int pass = 0; pass < RADIX_PASSES; pass++)
			counts[pass * RADIX_SIZE +
				   ((key >> (pass * RADIX_BITS)) & (RADIX_SIZE - 1))]++;
	}

	for (int pass = 0; pass < RADIX_PASSES; pass++)
	{
		int			shift = pass * RADIX_BITS;
		int64	   *count = counts + pass * RADIX_SIZE;
		int64		total = 0;
		bool		trivial = false;
		uint64	   *tk;
		uint8	   *tl;

		for (int b = 0; b < RADIX_SIZE; b++)
		{
			int64		c = count[b];

			trivial |= (c == n);
			count[b] = total;
			total += c;
		}
		if (trivial)
			continue;
		for (int64 i = 0; i < n; i++)
		{
			int64		dst = count[(k1[i] >> shift) & (RADIX_SIZE - 1)]++;

			k2[dst] = k1[i];
			l2[dst] = l1[i];
		}
		tk = k1;
		k1 = k2;
		k2 = tk;
		tl = l1;
		l1 = l2;
		l2 = tl;
	}
	*keys = k1;
	*labels = l1;
	pfree(k2);
	pfree(l2);
	pfree(counts);
}

/*
 * Area under the ROC curve of scores against 0/1 labels.
 *
 * AUC is the probability that a random positive row scores above a random
 * negative one, counting ties as one half.  With the rows ranked by score
 * (1 = lowest; tied scores share the average of their ranks):
 *
 *		AUC = (R_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
 *
 * where R_pos is the sum of the ranks of the positive rows.  Cost:
 * linear in n (SortKeyLabels).  Returns NaN when either class is absent.
 */
double
MetricAuc(const double *score, const double *y, int64 n)
{
	uint64	   *keys;
	uint8	   *labels;
	double		n_pos = 0;
	double		rank_sum = 0;
	int64		i;

	if (n <= 0)
		return get_float8_nan();

	keys = MemoryContextAllocHuge(CurrentMemoryContext,
								  mul_size((Size) n, sizeof(uint64)));
	labels = MemoryContextAllocHuge(CurrentMemoryContext, (Size) n);
	for (i = 0; i < n; i++)
	{
		keys[i] = SortableKey(score[i]);
		labels[i] = (y[i] > 0.5);
		n_pos += labels[i];
	}
	if (n_pos == 0 || n_pos == (double) n)
	{
		pfree(keys);
		pfree(labels);
		return get_float8_nan();
	}

	SortKeyLabels(&keys, &labels, n);

	/* 1. Walk runs of tied scores, giving each run its average rank */
	i = 0;
	while (i < n)
	{
		int64		j = i;
		double		run_pos = 0;

		while (j < n && keys[j] == keys[i])
		{
			run_pos += labels[j];
			j++;
		}
		/* ranks i+1 .. j, average (i + 1 + j) / 2 */
		rank_sum += run_pos * ((double) (i + 1) + (double) j) / 2.0;
		i = j;
	}
	pfree(keys);
	pfree(labels);

	/* 2. Mann-Whitney U of the positives, normalized */
	return (rank_sum - n_pos * (n_pos + 1.0) / 2.0) /
		(n_pos * ((double) n - n_pos));
}

/*
 * Mean (weighted) binary cross-entropy of probabilities p against labels.
 *
 *		log_loss = - sum_i w_i * (y_i * log(p_i) + (1 - y_i) * log(1 - p_i))
 *				   / sum_i w_i
 *
 * p is clamped to [1e-15, 1 - 1e-15] so that a confident mistake costs a
 * large but finite amount.  weight may be NULL (all weights 1).  Returns
 * NaN for no rows or a zero total weight.
 */
double
MetricLogLoss(const double *p, const double *y, const double *weight,
			  int64 n)
{
	double		loss = 0;
	double		total = 0;
	int64		i;

	for (i = 0; i < n; i++)
	{
		double		pi = p[i];
		double		wi = weight ? weight[i] : 1.0;

		if (pi < LOG_LOSS_EPS)
			pi = LOG_LOSS_EPS;
		else if (pi > 1.0 - LOG_LOSS_EPS)
			pi = 1.0 - LOG_LOSS_EPS;
		if (y[i] > 0.5)
			loss -= wi * log(pi);
		else
			loss -= wi * log1p(-pi);
		total += wi;
	}
	if (total <= 0)
		return get_float8_nan();
	return loss / total;
}

/*
 * Count true and false positives and negatives of p >= threshold.
 */
void
MetricConfusion(const double *p, const double *y, int64 n, double threshold,
				MetricCounts *counts)
{
	int64		i;

	memset(counts, 0, sizeof(MetricCounts));
	for (i = 0; i < n; i++)
	{
		bool		predicted = (p[i] >= threshold);
		bool		actual = (y[i] > 0.5);

		if (predicted && actual)
			counts->tp++;
		else if (predicted)
			counts->fp++;
		else if (actual)
			counts->fn++;
		else
			counts->tn++;
	}
}

/*
 * Share of rows classified correctly: (tp + tn) / n.
 */
double
MetricAccuracy(const MetricCounts *c)
{
	int64		n = c->tp + c->fp + c->tn + c->fn;

	if (n == 0)
		return get_float8_nan();
	return (double) (c->tp + c->tn) / (double) n;
}

/*
 * Share of positive predictions that are right: tp / (tp + fp).
 */
double
MetricPrecision(const MetricCounts *c)
{
	if (c->tp + c->fp == 0)
		return get_float8_nan();
	return (double) c->tp / (double) (c->tp + c->fp);
}

/*
 * Share of positive rows that are found: tp / (tp + fn).
 */
double
MetricRecall(const MetricCounts *c)
{
	if (c->tp + c->fn == 0)
		return get_float8_nan();
	return (double) c->tp / (double) (c->tp + c->fn);
}

/*
 * Harmonic mean of precision and recall: 2 tp / (2 tp + fp + fn).
 *
 * Defined whenever there is a positive row or a positive prediction, so it
 * is 0 (not NaN) when precision or recall alone is undefined but the other
 * is 0.
 */
double
MetricF1(const MetricCounts *c)
{
	int64		denom = 2 * c->tp + c->fp + c->fn;

	if (denom == 0)
		return get_float8_nan();
	return 2.0 * (double) c->tp / (double) denom;
}

/*
 * Root mean squared error: sqrt(sum_i (pred_i - y_i)^2 / n).
 */
double
MetricRmse(const double *pred, const double *y, int64 n)
{
	double		sse = 0;
	int64		i;

	if (n <= 0)
		return get_float8_nan();
	for (i = 0; i < n; i++)
	{
		double		d = pred[i] - y[i];

		sse += d * d;
	}
	return sqrt(sse / (double) n);
}

/*
 * Mean absolute error: sum_i |pred_i - y_i| / n.
 */
double
MetricMae(const double *pred, const double *y, int64 n)
{
	double		sae = 0;
	int64		i;

	if (n <= 0)
		return get_float8_nan();
	for (i = 0; i < n; i++)
		sae += fabs(pred[i] - y[i]);
	return sae / (double) n;
}

/*
 * Coefficient of determination: 1 - SS_res / SS_tot.
 *
 *		SS_res = sum_i (y_i - pred_i)^2,  SS_tot = sum_i (y_i - mean(y))^2
 *
 * The mean is taken first (two passes) so SS_tot does not lose precision
 * to cancellation.  Negative when the model is worse than predicting the
 * mean.  Returns NaN when there are no rows or y is constant.
 */
double
MetricR2(const double *pred, const double *y, int64 n)
{
	double		mean = 0;
	double		ss_res = 0;
	double		ss_tot = 0;
	int64		i;

	if (n <= 0)
		return get_float8_nan();
	for (i = 0; i < n; i++)
		mean += y[i];
	mean /= (double) n;

	for (i = 0; i < n; i++)
	{
		double		r = y[i] - pred[i];
		double		d = y[i] - mean;

		ss_res += r * r;
		ss_tot += d * d;
	}
	if (ss_tot <= 0)
		return get_float8_nan();
	return 1.0 - ss_res / ss_tot;
}
