/*-------------------------------------------------------------------------
 *
 * linalg.h
 *	  Small inline kernels for short vectors.
 *
 * A matrix-factorization update touches two rows of k factors (k is tens
 * to a few hundred): a BLAS call costs more than the work there, so these
 * loops are plain C that the compiler can unroll and vectorize.  Anything
 * longer (scoring every item at once) goes through linalg.c and OpenBLAS.
 * Accumulation is in double.
 *
 * src/linalg.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LRML_LINALG_H
#define LRML_LINALG_H

/* Return x . y over n doubles. */
static inline double
LinalgDot(const double *x, const double *y, int n)
{
	double		s0 = 0.0,
				s1 = 0.0,
				s2 = 0.0,
				s3 = 0.0;
	int			j = 0;

	/* four sums, so that the additions need not wait on each other */
	for (; j + 3 < n; j += 4)
	{
		s0 += x[j] * y[j];
		s1 += x[j + 1] * y[j + 1];
		s2 += x[j + 2] * y[j + 2];
		s3 += x[j + 3] * y[j + 3];
	}
	for (; j < n; j++)
		s0 += x[j] * y[j];
	return (s0 + s1) + (s2 + s3);
}

/* Return x . y over n floats, accumulated in double. */
static inline double
LinalgDotF4(const float *x, const float *y, int n)
{
	double		s = 0.0;

	for (int j = 0; j < n; j++)
		s += (double) x[j] * y[j];
	return s;
}

/*
 * Set out = a * x + b * y over n doubles (out may not alias x or y).
 */
static inline void
LinalgAxpby(double *pg_restrict out, double a, const double *pg_restrict x,
			double b, const double *pg_restrict y, int n)
{
	for (int j = 0; j < n; j++)
		out[j] = a * x[j] + b * y[j];
}

/*
 * Set gx = a * y + b * x and gy = a * x + b * y over n doubles, in one
 * pass: the two gradients of a product term x . y with an L2 term.
 */
static inline void
LinalgCrossAxpby(double *pg_restrict gx, double *pg_restrict gy, double a,
				 const double *pg_restrict x, const double *pg_restrict y,
				 double b, int n)
{
	for (int j = 0; j < n; j++)
	{
		gx[j] = a * y[j] + b * x[j];
		gy[j] = a * x[j] + b * y[j];
	}
}

#endif							/* LRML_LINALG_H */
