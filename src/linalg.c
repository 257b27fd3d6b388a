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


/*
 * LAPACK's Cholesky routines, as OpenBLAS exports them (Fortran calling
 * convention: every argument by reference, matrices column-major).  For a
 * symmetric matrix the storage order does not matter, and "L" of a
 * column-major matrix is "U" of the same memory read row-major.
 */
extern void dpotrf_(const char *uplo, const int *n, double *a,
					const int *lda, int *info);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs,
					const double *a, const int *lda, double *b,
					const int *ldb, int *info);

/*
 * Factor the symmetric positive definite n x n matrix A in place as
 * A = L L^T (LAPACK dpotrf); return false when A is not positive definite.
 * The factor is only meant for LinalgCholeskySolve.
 */
bool
LinalgCholesky(int n, double *A)
{
	int			info = 0;

	dpotrf_("L", &n, A, &n, &info);
	if (info < 0)
		elog(ERROR, "dpotrf: argument %d is invalid", -info);
	return info == 0;
}

/*
 * Solve A X = B for X in place of B, with A factored by LinalgCholesky
 * (LAPACK dpotrs).  B holds nrhs right-hand sides of n entries each, one
 * after the other.
 */
void
LinalgCholeskySolve(int n, const double *L, int nrhs, double *B)
{
	int			info = 0;

	if (n == 0 || nrhs == 0)
		return;
	dpotrs_("L", &n, &nrhs, L, &n, B, &n, &info);
	if (info != 0)
		elog(ERROR, "dpotrs: argument %d is invalid", -info);
}

/*
 * y = A x, or y = A^T x when transpose, in double precision, with A an
 * m x n row-major matrix (y has m entries, or n when transpose).
 */
void
LinalgGemvF8(int m, int n, const double *A, bool transpose, const double *x,
			 double *y)
{
	if (m == 0)
	{
		if (transpose)
			memset(y, 0, sizeof(double) * n);
		return;
	}
	cblas_dgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, m, n,
				1.0, A, n, x, 1, 0.0, y, 1);
}

/*
 * C = op(A) op(B) + beta C in single precision, all row-major: op(A) is
 * m x k (A is k x m when trans_a), op(B) is k x n (B is n x k when
 * trans_b), C is m x n.  beta 0 overwrites C; beta 1 adds to it.
 */
void
LinalgGemmF4(bool trans_a, bool trans_b, int m, int n, int k,
			 const float *A, const float *B, float beta, float *C)
{
	if (m == 0 || n == 0)
		return;
	if (k == 0)
	{
		if (beta == 0.0f)
			memset(C, 0, sizeof(float) * (size_t) m * n);
		return;
	}
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
				trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
				A, trans_a ? m : k, B, trans_b ? k : n, beta, C, n);
}
