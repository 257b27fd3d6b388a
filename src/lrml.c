/*-------------------------------------------------------------------------
 *
 * lrml.c
 *	  Module magic and settings of lrml.
 *
 * This file owns the lrml.* configuration parameters and the few helpers
 * every other file shares; no training, no scoring.  Settings are read by
 * the other files through the globals declared in lrml.h.
 *
 * src/lrml.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"

#include <limits.h>

#include "common/shortest_dec.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

/* lrml.memory_limit: the most memory one training call may hold, in kB */
int			lrml_memory_limit_kb = 2 * 1024 * 1024;

/* lrml.blas_threads: threads OpenBLAS may use inside one backend */
int			lrml_blas_threads = 1;

void		_PG_init(void);

/*
 * Append a double to JSON text: the shortest text that reads back as the
 * same double, whatever extra_float_digits says, or null when it is NaN or
 * infinite (JSON has no such numbers).
 */
void
LrmlAppendJsonNumber(StringInfo buf, double v)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (!isfinite(v))
	{
		appendStringInfoString(buf, "null");
		return;
	}
	double_to_shortest_decimal_buf(v, digits);
	appendStringInfoString(buf, digits);
}

static void
AssignBlasThreads(int newval, void *extra)
{
	LinalgSetThreads(newval);
}

/*
 * Define the settings and set the BLAS thread count.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("lrml.memory_limit",
							"Sets the most memory one training call may use for its data.",
							"Training that would need more fails with an error instead of exhausting the server's memory.",
							&lrml_memory_limit_kb,
							2 * 1024 * 1024,
							1024,
							MAX_KILOBYTES,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lrml.blas_threads",
							"Sets the number of threads OpenBLAS may use in one backend.",
							"One thread keeps results bit-for-bit reproducible.",
							&lrml_blas_threads,
							1,
							1,
							64,
							PGC_USERSET,
							0,
							NULL, AssignBlasThreads, NULL);

	MarkGUCPrefixReserved("lrml");

	LinalgSetThreads(lrml_blas_threads);
}
