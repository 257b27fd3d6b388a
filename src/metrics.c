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
 * Order ScoredLabels by score, then by label (qsort comparator).
 */
static int
ScoredLabelCmp(const void *a, const void *b)
{
	const ScoredLabel *sa = (const ScoredLabel *) a;
	const ScoredLabel *sb = (const ScoredLabel *) b;
	int			cmp = float8_cmp_internal(sa->score, sb->score);

	if (cmp != 0)
		return cmp;
	return float8_cmp_internal(sa->y, sb->y);
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

	qsort(rows, (size_t) n, sizeof(ScoredLabel), ScoredLabelCmp);

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
