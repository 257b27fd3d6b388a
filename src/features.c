/*-------------------------------------------------------------------------
 *
 * features.c
 *	  Feature encoding: learned from the training rows, replayed at scoring.
 *
 * Each feature column becomes one or more encoded inputs:
 *
 *	numeric (integer, float, numeric)	one input, standardized with the
 *										training rows' mean and population
 *										standard deviation (1 if that is 0);
 *										NULL becomes the training mean
 *	boolean								one input, 0 or 1, not scaled; NULL
 *										becomes the training share of true
 *	categorical (text, varchar, char,	one 0/1 input per category seen in
 *	enum)								the training rows, sorted bytewise;
 *										NULL is a category of its own (last)
 *										when the training rows have one; an
 *										unseen value encodes as all zeros
 *
 * Statistics come from the training rows only, never from the validation
 * rows.  This file knows nothing about SPI, models or optimizers; the
 * encoding it returns is allocated in the caller's memory context.
 *
 * src/features.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"

#include <float.h>

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

/*
 * Largest standardized value in the training matrix.  A training row lies
 * within sqrt(n) standard deviations of the mean, so only a validation row
 * far outside the training rows is clamped; without the clamp it could
 * overflow float4 and make the validation loss NaN.
 */
#define FEATURE_CLAMP 1e6

/* How many rows ahead FeatureMatrixBuild prefetches */
#define FEATURE_PREFETCH 16

/*
 * Return the feature kind of a column type, or 0 if lrml cannot use it.
 */
FeatureKind
FeatureKindForType(Oid typid)
{
	Oid			base = getBaseType(typid);

	switch (base)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return FEATURE_NUMERIC;
		case BOOLOID:
			return FEATURE_BOOLEAN;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
		case CHAROID:
			return FEATURE_CATEGORICAL;
		default:
			if (type_is_enum(base))
				return FEATURE_CATEGORICAL;
			return 0;
	}
}

/*
 * Convert a numeric to double.  NaN and infinities convert as such; a
 * value beyond double becomes the largest double, for the caller's range
 * check to report with the column's name.
 */
double
FeatureNumericToDouble(Datum value)
{
	double		v;

	if (numeric_is_inf(DatumGetNumeric(value)))
		return DatumGetFloat8(DirectFunctionCall1(numeric_float8, value));
	v = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
										   value));
	return isinf(v) ? copysign(DBL_MAX, v) : v;
}

/*
 * Fail for a number of a column (feature or label) that lrml does not
 * accept: NaN, an infinity, or beyond LRML_MAX_ABS_VALUE in magnitude.
 * Callers test with !(fabs(v) <= LRML_MAX_ABS_VALUE), which NaN fails.
 */
void
FeatureRejectNumber(const char *column, double v)
{
	if (isnan(v) || isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("column \"%s\" contains the value %s", column,
						isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity")),
				 errdetail("Values must be finite numbers or NULL.")));
	/* a numeric beyond double range arrives as the largest double */
	if (fabs(v) == DBL_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a value of column \"%s\" is out of range", column),
				 errdetail("lrml accepts numbers up to %g in magnitude.",
						   LRML_MAX_ABS_VALUE)));
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("value %g of column \"%s\" is out of range", v, column),
			 errdetail("lrml accepts numbers up to %g in magnitude.",
					   LRML_MAX_ABS_VALUE)));
}

static int
CompareCategory(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Return the index of the non-NULL category whose text is the len bytes at
 * value (not NUL-terminated), or -1 if unseen.
 *
 * The categories are sorted by strcmp; comparing the common prefix with
 * memcmp and then the lengths gives the same order, so the search needs
 * no NUL-terminated copy of the value.
 */
int
FeatureCategoryIndexLen(const FeatureColumn *col, const char *value,
						int len)
{
	int			lo = 0;
	int			hi = col->n_categories;

	/* the NULL category, if any, is last and not part of the search */
	if (hi > 0 && col->categories[hi - 1] == NULL)
		hi--;
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		const char *cat = col->categories[mid];
		int			cat_len = strlen(cat);
		int			cmp = memcmp(value, cat, Min(len, cat_len));

		if (cmp == 0)
			cmp = (len > cat_len) - (len < cat_len);
		if (cmp == 0)
			return mid;
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/*
 * Return the index of a non-NULL category value, or -1 if unseen.
 */
int
FeatureCategoryIndex(const FeatureColumn *col, const char *value)
{
	return FeatureCategoryIndexLen(col, value, strlen(value));
}

/*
 * Return the index of the NULL category, or -1 if there is none.
 */
static int
NullCategory(const FeatureColumn *col)
{
	int			n = col->n_categories;

	return (n > 0 && col->categories[n - 1] == NULL) ? n - 1 : -1;
}

/*
 * Fail unless a column of type typid can be encoded as feature col.
 */
void
FeatureCheckType(const FeatureColumn *col, Oid typid)
{
	FeatureKind kind = FeatureKindForType(typid);
	static const char *const kind_names[] = {
		NULL, "a numeric", "a boolean", "a text or enum"
	};

	if (kind != col->kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" has type %s, but the model needs %s type",
						col->name, format_type_be(typid),
						kind_names[col->kind])));
}

/*
 * Set the number of encoded inputs of enc, failing beyond LRML_MAX_INPUTS,
 * with every center 0 and every scale 1 (what an indicator has).
 */
void
FeatureEncodingSetInputs(FeatureEncoding *enc, int n_inputs)
{
	if (n_inputs > LRML_MAX_INPUTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the features encode to %d inputs, more than the limit of %d",
						n_inputs, LRML_MAX_INPUTS)));
	enc->n_inputs = n_inputs;
	enc->center = palloc0(sizeof(double) * Max(n_inputs, 1));
	enc->scale = palloc(sizeof(double) * Max(n_inputs, 1));
	for (int k = 0; k < n_inputs; k++)
		enc->scale[k] = 1.0;
}

/*
 * Learn the encoding of raw's columns from the training rows.
 *
 * is_train[r] says whether raw row r is a training row.  The rows are read
 * in memory order, twice (means, then variances, for a stable variance).
 * Fails when a numeric or boolean column has no non-NULL training value.
 */
FeatureEncoding *
FeatureEncodingBuild(const RawData *raw, const bool *is_train)
{
	FeatureEncoding *enc = palloc0(sizeof(FeatureEncoding));
	int			n_cols = raw->n_columns;
	double	   *sum = palloc0(sizeof(double) * n_cols);
	double	   *sumsq = palloc0(sizeof(double) * n_cols);
	int64	   *count = palloc0(sizeof(int64) * n_cols);
	bool	  **seen = palloc0(sizeof(bool *) * n_cols);
	int			offset = 0;

	enc->n_columns = n_cols;
	enc->columns = palloc0(sizeof(FeatureColumn) * n_cols);
	for (int j = 0; j < n_cols; j++)
		if (raw->columns[j].kind == FEATURE_CATEGORICAL)
			seen[j] = palloc0(sizeof(bool) * (raw->columns[j].n_codes + 1));

	/* 1. NULL counts, sums and categories seen */
	for (int64 r = 0; r < raw->n_rows; r++)
	{
		const double *row = raw->values + r * n_cols;

		if (!is_train[r])
			continue;
		for (int j = 0; j < n_cols; j++)
		{
			FeatureColumn *col = &enc->columns[j];

			if (raw->columns[j].kind == FEATURE_CATEGORICAL)
			{
				if (row[j] < 0)
					col->n_null++;
				else
					seen[j][(int) row[j]] = true;
			}
			else if (isnan(row[j]))
				col->n_null++;
			else
			{
				sum[j] += row[j];
				count[j]++;
			}
		}
	}

	/* 2. squared deviations from the means */
	for (int j = 0; j < n_cols; j++)
	{
		if (raw->columns[j].kind != FEATURE_CATEGORICAL && count[j] == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature column \"%s\" has no non-NULL value in the training rows",
							raw->columns[j].name),
					 errhint("Leave the column out of \"features\".")));
		if (count[j] > 0)
			sum[j] /= count[j];
	}
	for (int64 r = 0; r < raw->n_rows; r++)
	{
		const double *row = raw->values + r * n_cols;

		if (!is_train[r])
			continue;
		for (int j = 0; j < n_cols; j++)
			if (raw->columns[j].kind != FEATURE_CATEGORICAL && !isnan(row[j]))
				sumsq[j] += (row[j] - sum[j]) * (row[j] - sum[j]);
	}

	/* 3. the columns: fill values, sorted categories, offsets */
	for (int j = 0; j < n_cols; j++)
	{
		const RawColumn *rc = &raw->columns[j];
		FeatureColumn *col = &enc->columns[j];

		col->name = pstrdup(rc->name);
		col->kind = rc->kind;
		col->offset = offset;
		if (rc->kind == FEATURE_CATEGORICAL)
		{
			int			n = 0;

			col->categories = palloc(sizeof(char *) * (rc->n_codes + 1));
			for (int c = 0; c < rc->n_codes; c++)
				if (seen[j][c])
					col->categories[n++] = pstrdup(rc->code_text[c]);
			qsort(col->categories, n, sizeof(char *), CompareCategory);
			if (col->n_null > 0)
				col->categories[n++] = NULL;
			col->n_categories = n;
			col->width = n;
		}
		else
		{
			col->fill = sum[j];
			col->width = 1;
		}
		offset += col->width;
	}

	/* 4. per-input centers and scales; a constant column scales by 1 */
	FeatureEncodingSetInputs(enc, offset);
	for (int j = 0; j < n_cols; j++)
	{
		FeatureColumn *col = &enc->columns[j];

		if (col->kind == FEATURE_NUMERIC)
		{
			double		sd = sqrt(sumsq[j] / count[j]);

			enc->center[col->offset] = col->fill;
			enc->scale[col->offset] = (sd > 0.0 && isfinite(sd)) ? sd : 1.0;
		}
	}
	return enc;
}

/*
 * Build the encoded, scaled float4 matrix of the given rows.
 *
 * Row i of the result (n_rows x enc->n_inputs, row-major) encodes raw row
 * rows[i].  The caller has checked the memory limit for the result.
 */
float *
FeatureMatrixBuild(const RawData *raw, const FeatureEncoding *enc,
				   const int64 *rows, int64 n_rows)
{
	int			d = enc->n_inputs;
	int			n_cols = raw->n_columns;
	int		  **map = palloc0(sizeof(int *) * n_cols);
	int		   *null_idx = palloc0(sizeof(int) * n_cols);
	bool	   *categorical = palloc(sizeof(bool) * n_cols);
	int		   *offset = palloc(sizeof(int) * n_cols);
	double	   *fill = palloc0(sizeof(double) * n_cols);
	double	   *center = palloc0(sizeof(double) * n_cols);
	double	   *inv_scale = palloc0(sizeof(double) * n_cols);
	float	   *X;

	X = palloc_extended(mul_size(mul_size(n_rows, d), sizeof(float)) + 1,
						MCXT_ALLOC_HUGE);

	/*
	 * Lay out what the loop needs per column in flat arrays; multiply by the
	 * inverse scale rather than divide; map each load-time category code to
	 * its index in the encoding.
	 */
	for (int j = 0; j < n_cols; j++)
	{
		const FeatureColumn *col = &enc->columns[j];
		const RawColumn *rc = &raw->columns[j];

		categorical[j] = (col->kind == FEATURE_CATEGORICAL);
		offset[j] = col->offset;
		if (!categorical[j])
		{
			fill[j] = col->fill;
			center[j] = enc->center[col->offset];
			inv_scale[j] = 1.0 / enc->scale[col->offset];
			continue;
		}
		map[j] = palloc(sizeof(int) * (rc->n_codes + 1));
		for (int c = 0; c < rc->n_codes; c++)
			map[j][c] = FeatureCategoryIndex(col, rc->code_text[c]);
		null_idx[j] = NullCategory(col);
	}

	for (int64 i = 0; i < n_rows; i++)
	{
		const double *src = raw->values + rows[i] * n_cols;
		float	   *dst = X + i * d;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();

		/*
		 * The rows come in shuffled order, so each is a cache miss: ask for
		 * every cache line of a row a few rows ahead while this one is
		 * encoded.
		 */
#ifdef __GNUC__
		if (i + FEATURE_PREFETCH < n_rows)
		{
			const double *ahead = raw->values +
				rows[i + FEATURE_PREFETCH] * n_cols;

			for (int k = 0; k < n_cols; k += 8)
				__builtin_prefetch(ahead + k);
			__builtin_prefetch(ahead + n_cols - 1);
		}
#endif
		for (int j = 0; j < n_cols; j++)
		{
			if (categorical[j])
			{
				int			idx = src[j] < 0 ? null_idx[j] : map[j][(int) src[j]];

				memset(dst + offset[j], 0,
					   sizeof(float) * enc->columns[j].width);
				if (idx >= 0)
					dst[offset[j] + idx] = 1.0f;
			}
			else
			{
				double		v = isnan(src[j]) ? fill[j] : src[j];

				v = (v - center[j]) * inv_scale[j];
				dst[offset[j]] = (float) Max(-FEATURE_CLAMP, Min(v, FEATURE_CLAMP));
			}
		}
	}
	return X;
}

/*
 * Append the encoding to buf in a portable binary form.
 */
void
FeatureEncodingWrite(StringInfo buf, const FeatureEncoding *enc)
{
	pq_sendint32(buf, enc->n_columns);
	pq_sendint32(buf, enc->n_inputs);
	for (int j = 0; j < enc->n_columns; j++)
	{
		const FeatureColumn *col = &enc->columns[j];
		int			len = strlen(col->name);

		pq_sendint32(buf, len);
		pq_sendbytes(buf, col->name, len);
		pq_sendint32(buf, col->kind);
		pq_sendint32(buf, col->offset);
		pq_sendint32(buf, col->width);
		pq_sendfloat8(buf, col->fill);
		pq_sendint64(buf, col->n_null);
		pq_sendint32(buf, col->n_categories);
		for (int c = 0; c < col->n_categories; c++)
		{
			if (col->categories[c] == NULL)
				pq_sendint32(buf, -1);
			else
			{
				len = strlen(col->categories[c]);
				pq_sendint32(buf, len);
				pq_sendbytes(buf, col->categories[c], len);
			}
		}
	}
	for (int k = 0; k < enc->n_inputs; k++)
	{
		pq_sendfloat8(buf, enc->center[k]);
		pq_sendfloat8(buf, enc->scale[k]);
	}
}

/*
 * Readers of a stored encoding that refuse to read past its end: a
 * truncated payload is corrupt, not a protocol error.
 */
static void
NeedBytes(StringInfo buf, int n)
{
	if (n < 0 || buf->cursor > buf->len - n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored model payload is corrupt")));
}

static int32
ReadInt32(StringInfo buf)
{
	NeedBytes(buf, 4);
	return (int32) pq_getmsgint(buf, 4);
}

static int64
ReadInt64(StringInfo buf)
{
	NeedBytes(buf, 8);
	return pq_getmsgint64(buf);
}

static double
ReadFloat8(StringInfo buf)
{
	NeedBytes(buf, 8);
	return pq_getmsgfloat8(buf);
}

/*
 * Read a counted string written by FeatureEncodingWrite; NULL for -1.
 */
static char *
ReadText(StringInfo buf)
{
	int			len = ReadInt32(buf);
	const char *bytes;

	if (len == -1)
		return NULL;
	if (len < 0 || len > buf->len - buf->cursor)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored model payload is corrupt")));
	bytes = pq_getmsgbytes(buf, len);
	if (!pg_verifymbstr(bytes, len, true))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored model payload is corrupt"),
				 errdetail("A column name or category is not valid in the database encoding.")));
	return pnstrdup(bytes, len);
}

/*
 * Read an encoding written by FeatureEncodingWrite, checking its shape.
 */
FeatureEncoding *
FeatureEncodingRead(StringInfo buf)
{
	FeatureEncoding *enc = palloc0(sizeof(FeatureEncoding));
	int			offset = 0;

	enc->n_columns = ReadInt32(buf);
	enc->n_inputs = ReadInt32(buf);
	if (enc->n_columns <= 0 || enc->n_columns > LRML_MAX_INPUTS ||
		enc->n_inputs < 0 || enc->n_inputs > LRML_MAX_INPUTS)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored model payload is corrupt")));
	enc->columns = palloc0(sizeof(FeatureColumn) * enc->n_columns);
	for (int j = 0; j < enc->n_columns; j++)
	{
		FeatureColumn *col = &enc->columns[j];

		col->name = ReadText(buf);
		col->kind = ReadInt32(buf);
		col->offset = ReadInt32(buf);
		col->width = ReadInt32(buf);
		col->fill = ReadFloat8(buf);
		col->n_null = ReadInt64(buf);
		col->n_categories = ReadInt32(buf);
		if (col->name == NULL || col->offset != offset ||
			col->kind < FEATURE_NUMERIC || col->kind > FEATURE_CATEGORICAL ||
			col->n_categories < 0 || col->n_categories > LRML_MAX_CATEGORIES ||
			col->width != (col->kind == FEATURE_CATEGORICAL ?
						   col->n_categories : 1) ||
			!isfinite(col->fill))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("stored model payload is corrupt")));
		if (col->n_categories > 0)
			col->categories = palloc(sizeof(char *) * col->n_categories);
		for (int c = 0; c < col->n_categories; c++)
		{
			col->categories[c] = ReadText(buf);

			/*
			 * Lookups binary-search the categories: they must be strictly
			 * increasing, with the NULL category, if any, last.
			 */
			if ((col->categories[c] == NULL && c != col->n_categories - 1) ||
				(c > 0 && col->categories[c] != NULL &&
				 strcmp(col->categories[c - 1], col->categories[c]) >= 0))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("stored model payload is corrupt")));
		}
		offset += col->width;
	}
	if (offset != enc->n_inputs)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored model payload is corrupt")));
	enc->center = palloc(sizeof(double) * Max(enc->n_inputs, 1));
	enc->scale = palloc(sizeof(double) * Max(enc->n_inputs, 1));
	for (int k = 0; k < enc->n_inputs; k++)
	{
		enc->center[k] = ReadFloat8(buf);
		enc->scale[k] = ReadFloat8(buf);
		if (!isfinite(enc->center[k]) || !isfinite(enc->scale[k]) ||
			enc->scale[k] == 0.0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("stored model payload is corrupt")));
	}
	return enc;
}

/*
 * Describe the encoding as jsonb, for lrml.models.features.
 */
Jsonb *
FeatureEncodingToJsonb(const FeatureEncoding *enc)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"inputs\": %d, \"columns\": [", enc->n_inputs);
	for (int j = 0; j < enc->n_columns; j++)
	{
		const FeatureColumn *col = &enc->columns[j];

		if (j > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, "{\"name\": ");
		escape_json(&buf, col->name);
		switch (col->kind)
		{
			case FEATURE_NUMERIC:
				appendStringInfoString(&buf, ", \"type\": \"numeric\", \"mean\": ");
				LrmlAppendJsonNumber(&buf, enc->center[col->offset]);
				appendStringInfoString(&buf, ", \"scale\": ");
				LrmlAppendJsonNumber(&buf, enc->scale[col->offset]);
				break;
			case FEATURE_BOOLEAN:
				appendStringInfoString(&buf, ", \"type\": \"boolean\", \"fill\": ");
				LrmlAppendJsonNumber(&buf, col->fill);
				break;
			case FEATURE_CATEGORICAL:
				appendStringInfoString(&buf, ", \"type\": \"categorical\", \"categories\": [");
				for (int c = 0; c < col->n_categories; c++)
				{
					if (c > 0)
						appendStringInfoString(&buf, ", ");
					if (col->categories[c] == NULL)
						appendStringInfoString(&buf, "null");
					else
						escape_json(&buf, col->categories[c]);
				}
				appendStringInfoChar(&buf, ']');
				break;
		}
		appendStringInfo(&buf, ", \"offset\": %d, \"nulls\": " INT64_FORMAT "}",
						 col->offset, col->n_null);
	}
	appendStringInfoString(&buf, "]}");
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(buf.data)));
}
