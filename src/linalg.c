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
 * y = A x, or y = A^T x when transpose, in single precision, with A an
 * m x n row-major matrix (y has m entries, or n when transpose).
 */
void
LinalgGemvF4(int m, int n, const float *A, bool transpose, const float *x,
			 float *y)
{
	if (m == 0)
	{
		if (transpose)
			memset(y, 0, sizeof(float) * n);
		return;
	}
	cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, m, n,
				1.0f, A, n, x, 1, 0.0f, y, 1);
}

