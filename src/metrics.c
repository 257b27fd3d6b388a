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

/* A score and its label, sorted together for the AUC */
typedef struct ScoredLabel
{
	double		score;
	double		y;
} ScoredLabel;

/*
 * Map a double to an unsigned key with the same order (NaN last).
 *
 * Flipping the sign bit of a non-negative double, and every bit of a
 * negative one, turns IEEE order into unsigned integer order.
 */
static inline uint64
SortableKey(double d)
{
	uint64		u;

	if (isnan(d))
		return PG_UINT64_MAX;
	memcpy(&u, &d, sizeof(u));
	return (u & UINT64CONST(0x8000000000000000)) ?
		~u : (u | UINT64CONST(0x8000000000000000));
}

/* Bits of the key sorted per pass of the radix sort */
#define RADIX_BITS	11
#define RADIX_SIZE	(1 << RADIX_BITS)

/*
 * Sort n ScoredLabels by score.
 *
 * A least-significant-digit radix sort over SortableKey, six passes of 11
 * bits: linear in n, which matters because the AUC is computed on the
 * validation rows after every epoch.  Rows with equal scores keep no
 * particular order; the AUC gives tied scores their average rank anyway.
 */
static void
SortScoredLabels(ScoredLabel *rows, int64 n)
{
	uint64	   *keys = MemoryContextAllocHuge(CurrentMemoryContext,
											  mul_size(n, sizeof(uint64)));
	uint64	   *keys2 = MemoryContextAllocHuge(CurrentMemoryContext,
											   mul_size(n, sizeof(uint64)));
	ScoredLabel *rows2 = MemoryContextAllocHuge(CurrentMemoryContext,
												mul_size(n, sizeof(ScoredLabel)));
	int64	   *count = palloc(sizeof(int64) * RADIX_SIZE);

	for (int64 i = 0; i < n; i++)
		keys[i] = SortableKey(rows[i].score);

	for (int shift = 0; shift < 64; shift += RADIX_BITS)
	{
		int64		total = 0;
		uint64	   *tk;
		ScoredLabel *tr;

		memset(count, 0, sizeof(int64) * RADIX_SIZE);
		for (int64 i = 0; i < n; i++)
			count[(keys[i] >> shift) & (RADIX_SIZE - 1)]++;
		for (int b = 0; b < RADIX_SIZE; b++)
		{
			int64		c = count[b];

			count[b] = total;
			total += c;
		}
		for (int64 i = 0; i < n; i++)
		{
			int64		dst = count[(keys[i] >> shift) & (RADIX_SIZE - 1)]++;

			keys2[dst] = keys[i];
			rows2[dst] = rows[i];
		}
		tk = keys;
		keys = keys2;
		keys2 = tk;
		tr = rows;
		rows = rows2;
		rows2 = tr;
	}

	/* six passes: the sorted rows are back in the caller's array */
	pfree(keys);
	pfree(keys2);
	pfree(rows2);
	pfree(count);
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
 * O(n log n) for the sort.  Returns NaN when either class is absent.
 */
double
MetricAuc(const double *score, const double *y, int64 n)
{
	ScoredLabel *rows;
	double		n_pos = 0;
	double		rank_sum = 0;
	double		auc;
	int64		i;

	if (n <= 0)
		return get_float8_nan();

	rows = MemoryContextAllocHuge(CurrentMemoryContext,
								  mul_size((Size) n, sizeof(ScoredLabel)));
	for (i = 0; i < n; i++)
	{
		rows[i].score = score[i];
		rows[i].y = (y[i] > 0.5) ? 1.0 : 0.0;
		n_pos += rows[i].y;
	}
	if (n_pos == 0 || n_pos == (double) n)
	{
		pfree(rows);
		return get_float8_nan();
	}

	SortScoredLabels(rows, n);

	/* 1. Walk runs of tied scores, giving each run its average rank */
	i = 0;
	while (i < n)
	{
		int64		j = i;
		double		run_pos = 0;

		while (j < n && float8_cmp_internal(rows[j].score, rows[i].score) == 0)
		{
			run_pos += rows[j].y;
			j++;
		}
		/* ranks i+1 .. j, average (i + 1 + j) / 2 */
		rank_sum += run_pos * ((double) (i + 1) + (double) j) / 2.0;
		i = j;
	}
	pfree(rows);

	/* 2. Mann-Whitney U of the positives, normalized */
	auc = (rank_sum - n_pos * (n_pos + 1.0) / 2.0) /
		(n_pos * ((double) n - n_pos));
	return auc;
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
