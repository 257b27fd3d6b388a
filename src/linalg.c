/*-------------------------------------------------------------------------
 *
 * linalg.c
 *	  The one door to OpenBLAS.
 *
 * Every vector and matrix product of lrml that is long enough to pay for a
 * library call goes through here; this is the only file that includes
 * cblas.h.  Matrices are dense and row-major.  Callers keep each call
 * bounded (a mini-batch, a chunk of rows) so that a cancel stays prompt.
 *
 * src/linalg.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"

#include <cblas.h>

/* OpenBLAS's own entry point; not part of the standard CBLAS header. */
extern void openblas_set_num_threads(int num_threads);

/*
 * Set how many threads OpenBLAS may use.
 */
void
LinalgSetThreads(int n)
{
	openblas_set_num_threads(n);
}

/*
 * y = A x, with A an m x n row-major matrix.
 */
void
LinalgGemvF8(int m, int n, const double *A, const double *x, double *y)
{
	if (m == 0)
		return;
	cblas_dgemv(CblasRowMajor, CblasNoTrans, m, n, 1.0, A, n, x, 1,
				0.0, y, 1);
}

/*
 * y = A^T x, with A an m x n row-major matrix (y has n entries).
 */
void
LinalgGemvTF8(int m, int n, const double *A, const double *x, double *y)
{
	if (m == 0)
	{
		memset(y, 0, sizeof(double) * n);
		return;
	}
	cblas_dgemv(CblasRowMajor, CblasTrans, m, n, 1.0, A, n, x, 1,
				0.0, y, 1);
}

/*
 * y = A x in single precision, with A an m x n row-major matrix.
 */
void
LinalgGemvF4(int m, int n, const float *A, const float *x, float *y)
{
	if (m == 0)
		return;
	cblas_sgemv(CblasRowMajor, CblasNoTrans, m, n, 1.0f, A, n, x, 1,
				0.0f, y, 1);
}

/*
 * y = A^T x in single precision, with A an m x n row-major matrix.
 */
void
LinalgGemvTF4(int m, int n, const float *A, const float *x, float *y)
{
	if (m == 0)
	{
		memset(y, 0, sizeof(float) * n);
		return;
	}
	cblas_sgemv(CblasRowMajor, CblasTrans, m, n, 1.0f, A, n, x, 1,
				0.0f, y, 1);
}

/*
 * Return x . y.
 */
double
LinalgDot(int n, const double *x, const double *y)
{
	return cblas_ddot(n, x, 1, y, 1);
}

/*
 * y += a x.
 */
void
LinalgAxpy(int n, double a, const double *x, double *y)
{
	cblas_daxpy(n, a, x, 1, y, 1);
}
