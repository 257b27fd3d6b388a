/*-------------------------------------------------------------------------
 *
 * full_batch.c
 *	  lrml.train with "mode": "full_batch": one aggregate pass per epoch.
 *
 * For a relation too large to read into memory, or spread over several
 * machines, an epoch of full-batch gradient descent is a sum over the
 * rows, which lrml.gradient (aggregates.c) computes where the rows are.
 * This file drives such a run from the calling side:
 *
 * 1. One pass learns the encoding of the training rows: per numeric or
 *	  boolean column its mean, standard deviation and NULL count, per
 *	  categorical column its categories, and the label's classes (or a
 *	  linear target's mean and standard deviation), each with an ordinary
 *	  aggregate query.  The encoding is that of features.c: numeric inputs
 *	  (x - mean) / sd with NULL as the mean, booleans 0/1 with NULL as
 *	  their mean, categories one-hot with a NULL category last.
 * 2. It writes the encoded feature array as SQL, so that the query of
 *	  every epoch is
 *
 *		SELECT lrml.gradient($1, ARRAY[(c1 - m1) / s1, ...], y, options)
 *		FROM relation WHERE <training row>
 *
 *	  and a validation query reads the encoded validation rows through a
 *	  cursor to compute their loss and AUC (or RMSE) here.
 * 3. The shared loop (TrainLoop) runs the epochs with one batch per
 *	  epoch, whose gradient is that query's: schedules, optimizers, early
 *	  stopping and divergence back-off stay on the calling side, as in
 *	  mini-batch training.
 * 4. The model is stored as lrml.train stores one.
 *
 * The validation split cannot be drawn from a shuffle of rows that are
 * never read into memory: a row validates when a hash of its whole text
 * (hashtextextended of the row, with the seed) falls below the fraction.
 * It is deterministic for given rows and seed, but neither stratified nor
 * exactly round(n * fraction) rows, and identical rows fall on the same
 * side.  Each query runs in its own snapshot; rows changed by other
 * sessions while a run goes on change the sums of later epochs.
 *
 * src/full_batch.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* Validation rows fetched from the cursor at a time */
#define FULL_BATCH_FETCH	10000

/* Resolution of the hash that splits rows (parts per million) */
#define SPLIT_BUCKETS		1000000

/* A full-batch run: the SQL it sends and what it learned in step 1 */
typedef struct FullBatch
{
	const char *name;
	char	   *from;			/* FROM item, aliased lrml_source */
	char	   *train_where;	/* condition of a training row */
	char	   *valid_where;	/* condition of a validation row */
	char	   *x_sql;			/* the encoded features, ARRAY[...] */
	char	   *y_sql;			/* the label as 0/1 or standardized */
	bool		linear;
	Oid			label_typid;	/* base type of the label */
	double		l2;
	double		y_scale;		/* linear: target standard deviation */
	int			d;
	int64		n_train;
	int64		n_valid;
	int64		n_null_label;
	char	   *grad_sql;		/* the query of an epoch, $1 the weights */
	char	   *valid_sql;		/* the encoded validation rows */
} FullBatch;

/* Append a double to SQL text exactly (17 significant digits) */
static void
AppendSqlNumber(StringInfo buf, double v)
{
	appendStringInfo(buf, "(%.17g)::float8", v);
}

/* The result of a query of step 1, as text, copied out of SPI */
typedef struct ReadResult
{
	uint64		n;				/* rows */
	int			natts;
	char	  **cells;			/* n x natts, NULL for NULL */
	TupleDesc	desc;
} ReadResult;

/*
 * Run a read-only query of step 1 in a connection of its own, and return
 * its rows as text in the current context.
 */
static ReadResult *
RunRead(const char *sql)
{
	MemoryContext cxt = CurrentMemoryContext;
	ReadResult *res = palloc0(sizeof(ReadResult));
	int			ret;

	SPI_connect();
	ret = SPI_execute(sql, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "full-batch query failed: %s",
			 SPI_result_code_string(ret));
	MemoryContextSwitchTo(cxt);
	res->n = SPI_processed;
	res->desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
	res->natts = res->desc->natts;
	res->cells = palloc(sizeof(char *) * Max(res->n * res->natts, 1));
	for (uint64 r = 0; r < res->n; r++)
		for (int i = 0; i < res->natts; i++)
			res->cells[r * res->natts + i] =
				SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc,
							 i + 1);
	SPI_finish();
	return res;
}

/* Return column i (1-based) of row r of a result as a double */
static double
ResultDouble(const ReadResult *res, uint64 r, int i, bool *isnull)
{
	const char *cell = res->cells[r * res->natts + i - 1];

	*isnull = (cell == NULL);
	return *isnull ? 0.0 : strtod(cell, NULL);
}

/*
 * Fail, as loading does (FeatureRejectNumber), when a numeric feature
 * holds a NaN, an infinity or a number beyond LRML_MAX_ABS_VALUE: one
 * query counts them per column, a second fetches one to name it.
 */
static void
CheckValues(FullBatch *fb, char **names, Oid *types, int n_cols)
{
	StringInfoData sql;
	ReadResult *res;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT 0");
	for (int j = 0; j < n_cols; j++)
		if (FeatureKindForType(types[j]) == FEATURE_NUMERIC)
			appendStringInfo(&sql, ", pg_catalog.count(*) FILTER (WHERE NOT (pg_catalog.abs((%s)::float8) OPERATOR(pg_catalog.<=) %g))",
							 quote_identifier(names[j]), LRML_MAX_ABS_VALUE);
		else
			appendStringInfoString(&sql, ", 0");
	appendStringInfo(&sql, " FROM %s", fb->from);
	res = RunRead(sql.data);
	for (int j = 0; j < n_cols; j++)
	{
		bool		isnull;
		ReadResult *bad;

		if (ResultDouble(res, 0, 2 + j, &isnull) == 0)
			continue;
		bad = RunRead(psprintf("SELECT (%s)::float8 FROM %s WHERE NOT (pg_catalog.abs((%s)::float8) OPERATOR(pg_catalog.<=) %g) LIMIT 1",
							   quote_identifier(names[j]), fb->from,
							   quote_identifier(names[j]),
							   LRML_MAX_ABS_VALUE));
		FeatureRejectNumber(names[j], ResultDouble(bad, 0, 1, &isnull));
	}
}

/*
 * Resolve the feature columns of the relation: the given names, or every
 * column but the label, each of a type lrml can encode.  Returns the
 * number of columns; names and types go into *names and *types.
 */
static int
ResolveColumns(const char *from, const char *relation, const char *label,
			   ArrayType *features, char ***names, Oid **types,
			   Oid *label_typid)
{
	TupleDesc	desc;
	int			label_att;
	int			n = 0;
	Datum	   *elems;
	bool	   *nulls;
	int			n_elems;

	desc = RunRead(psprintf("SELECT * FROM %s LIMIT 0", from))->desc;
	label_att = DatasetFindColumn(desc, label);
	if (label_att < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("label column \"%s\" does not exist in relation \"%s\"",
						label, relation)));
	*label_typid = getBaseType(TupleDescAttr(desc, label_att)->atttypid);
	*names = palloc(sizeof(char *) * desc->natts);
	*types = palloc(sizeof(Oid) * desc->natts);
	if (features == NULL)
	{
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (att->attisdropped || i == label_att)
				continue;
			(*names)[n] = pstrdup(NameStr(att->attname));
			(*types)[n++] = getBaseType(att->atttypid);
		}
	}
	else
	{
		deconstruct_array(features, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n_elems);
		*names = repalloc(*names, sizeof(char *) * Max(n_elems, 1));
		*types = repalloc(*types, sizeof(Oid) * Max(n_elems, 1));
		for (int i = 0; i < n_elems; i++)
		{
			char	   *name;
			int			att;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("feature names must not be NULL")));
			name = TextDatumGetCString(elems[i]);
			att = DatasetFindColumn(desc, name);
			if (att < 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" does not exist in relation \"%s\"",
								name, relation)));
			if (att == label_att)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" is the label and cannot also be a feature",
								name)));
			(*names)[n] = name;
			(*types)[n++] = getBaseType(TupleDescAttr(desc, att)->atttypid);
		}
	}
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation \"%s\" has no column besides the label",
						relation)));
	for (int i = 0; i < n; i++)
		if (FeatureKindForType((*types)[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of relation \"%s\" cannot be a feature",
							(*names)[i], relation),
					 errdetail("Column \"%s\" has type %s.", (*names)[i],
							   format_type_be((*types)[i])),
					 errhint("Features may be numeric, boolean, text or enum columns.")));
	return n;
}

/* qsort comparator: category texts by strcmp, as features.c sorts them */
static int
CompareCategoryText(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Read the categories of a categorical column over the training rows
 * into col (sorted, NULL category last).
 */
static void
ReadCategories(FullBatch *fb, const char *qname, FeatureColumn *col)
{
	int			n = 0;
	bool		has_null = false;
	ReadResult *res = RunRead(psprintf("SELECT DISTINCT (%s)::text FROM %s WHERE %s",
									   qname, fb->from, fb->train_where));

	if (res->n > LRML_MAX_CATEGORIES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("column \"%s\" has more than %d categories",
						col->name, LRML_MAX_CATEGORIES)));
	col->categories = palloc(sizeof(char *) * (res->n + 1));
	for (uint64 r = 0; r < res->n; r++)
	{
		char	   *v = res->cells[r];

		if (v == NULL)
			has_null = true;
		else
			col->categories[n++] = v;
	}
	qsort(col->categories, n, sizeof(char *), CompareCategoryText);
	if (has_null)
		col->categories[n++] = NULL;
	col->n_categories = n;
	col->width = n;
}

/*
 * Append the SQL of the encoded inputs of one column to buf (each input
 * followed by ", ").
 */
static void
AppendEncodedColumn(StringInfo buf, const FeatureEncoding *enc,
					const FeatureColumn *col, const char *qname)
{
	if (col->kind == FEATURE_NUMERIC)
	{
		appendStringInfo(buf, "((COALESCE((%s)::float8, ", qname);
		AppendSqlNumber(buf, col->fill);
		appendStringInfoString(buf, ") - ");
		AppendSqlNumber(buf, enc->center[col->offset]);
		appendStringInfoString(buf, ") / ");
		AppendSqlNumber(buf, enc->scale[col->offset]);
		appendStringInfoString(buf, "), ");
		return;
	}
	if (col->kind == FEATURE_BOOLEAN)
	{
		appendStringInfo(buf, "COALESCE((%s)::int::float8, ", qname);
		AppendSqlNumber(buf, col->fill);
		appendStringInfoString(buf, "), ");
		return;
	}
	for (int k = 0; k < col->n_categories; k++)
	{
		if (col->categories[k] == NULL)
			appendStringInfo(buf, "((%s) IS NULL)::int::float8, ", qname);
		else
			appendStringInfo(buf,
							 "COALESCE((%s)::text OPERATOR(pg_catalog.=) %s, false)::int::float8, ",
							 qname, quote_literal_cstr(col->categories[k]));
	}
}

/*
 * Step 1 of the file header for the feature columns: learn the encoding
 * of the training rows, and write the encoded feature array as SQL.
 */
static FeatureEncoding *
LearnEncoding(FullBatch *fb, char **names, Oid *types, int n_cols)
{
	FeatureEncoding *enc = palloc0(sizeof(FeatureEncoding));
	StringInfoData sql;
	StringInfoData x;
	int			offset = 0;
	double	   *sd;
	ReadResult *stats;

	enc->n_columns = n_cols;
	enc->columns = palloc0(sizeof(FeatureColumn) * n_cols);

	/* 0. no NaN, infinite or huge value, as loading refuses them */
	CheckValues(fb, names, types, n_cols);

	/* 1. means, deviations and NULL counts of numeric and boolean columns */
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT 0");
	for (int j = 0; j < n_cols; j++)
	{
		const char *q = quote_identifier(names[j]);

		if (FeatureKindForType(types[j]) == FEATURE_CATEGORICAL)
			appendStringInfo(&sql, ", NULL::float8, NULL::float8, (pg_catalog.count(*) FILTER (WHERE (%s) IS NULL))::float8",
							 q);
		else
		{
			const char *v = FeatureKindForType(types[j]) == FEATURE_BOOLEAN ?
				psprintf("(%s)::int::float8", q) : psprintf("(%s)::float8", q);

			appendStringInfo(&sql, ", pg_catalog.avg(%s), pg_catalog.stddev_pop(%s), (pg_catalog.count(*) FILTER (WHERE (%s) IS NULL))::float8",
							 v, v, q);
		}
	}
	appendStringInfo(&sql, " FROM %s WHERE %s", fb->from, fb->train_where);
	stats = RunRead(sql.data);

	/* 2. the columns, as FeatureEncodingBuild makes them */
	sd = palloc(sizeof(double) * n_cols);
	for (int j = 0; j < n_cols; j++)
	{
		FeatureColumn *col = &enc->columns[j];
		bool		no_mean;
		bool		no_sd;
		double		mean = ResultDouble(stats, 0, 2 + 3 * j, &no_mean);
		bool		isnull;

		col->name = names[j];
		col->kind = FeatureKindForType(types[j]);
		col->offset = offset;
		col->n_null = (int64) ResultDouble(stats, 0, 4 + 3 * j, &isnull);
		sd[j] = ResultDouble(stats, 0, 3 + 3 * j, &no_sd);
		if (col->kind == FEATURE_CATEGORICAL)
			ReadCategories(fb, quote_identifier(names[j]), col);
		else if (no_mean)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature column \"%s\" has no non-NULL value in the training rows",
							col->name),
					 errhint("Leave the column out of \"features\".")));
		else
		{
			col->fill = mean;
			col->width = 1;
		}
		offset += col->width;
		if (offset > LRML_MAX_INPUTS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the features encode to %d inputs, more than the limit of %d",
							offset, LRML_MAX_INPUTS)));
	}

	/* 3. centers and scales (a constant column scales by 1); the SQL */
	enc->n_inputs = offset;
	enc->center = palloc0(sizeof(double) * Max(offset, 1));
	enc->scale = palloc(sizeof(double) * Max(offset, 1));
	for (int k = 0; k < offset; k++)
		enc->scale[k] = 1.0;
	initStringInfo(&x);
	appendStringInfoString(&x, "ARRAY[");
	for (int j = 0; j < n_cols; j++)
	{
		FeatureColumn *col = &enc->columns[j];

		if (col->kind == FEATURE_NUMERIC)
		{
			enc->center[col->offset] = col->fill;
			enc->scale[col->offset] = (sd[j] > 0.0 && isfinite(sd[j])) ?
				sd[j] : 1.0;
		}
		AppendEncodedColumn(&x, enc, col, quote_identifier(names[j]));
	}
	x.len -= 2;					/* the last ", " */
	x.data[x.len] = '\0';
	appendStringInfoString(&x, "]::float8[]");
	fb->x_sql = x.data;
	fb->d = offset;
	return enc;
}

/*
 * Step 1 of the file header for the label: a classifier's classes, from
 * one row per class (the positive class chosen as lrml.train chooses it),
 * or a linear target's mean and deviation; write the label as SQL.
 */
static void
LearnLabel(FullBatch *fb, const char *label, Oid label_typid,
		   const TrainOptions *opts, LrmlModel *model)
{
	const char *q = quote_identifier(label);
	FeatureKind kind = FeatureKindForType(label_typid);
	RawData		raw;
	ReadResult *res;
	bool		isnull;

	if (opts->model == MODEL_LINEAR)
	{
		double		mean,
					sd;

		if (kind != FEATURE_NUMERIC)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("the label of a linear model must have a numeric type"),
					 errdetail("Label \"%s\" has type %s.", label,
							   format_type_be(label_typid))));
		res = RunRead(psprintf("SELECT pg_catalog.avg((%s)::float8), pg_catalog.stddev_pop((%s)::float8) FROM %s WHERE %s",
							   q, q, fb->from, fb->train_where));
		mean = ResultDouble(res, 0, 1, &isnull);
		sd = ResultDouble(res, 0, 2, &isnull);
		if (!(sd > 0.0) || !isfinite(sd))
			sd = 1.0;
		model->y_center = mean;
		model->y_scale = sd;
		fb->y_scale = sd;
		fb->y_sql = psprintf("(((%s)::float8 - (%.17g)::float8) / (%.17g)::float8)",
							 q, mean, sd);
		return;
	}

	/* classes: at most one more than a logistic model can take */
	if (kind == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("label \"%s\" cannot have type %s", label,
						format_type_be(label_typid))));
	memset(&raw, 0, sizeof(raw));
	raw.relation = (char *) fb->name;
	raw.label = (char *) label;
	raw.label_typid = label_typid;
	if (label_typid == BOOLOID)
		res = RunRead(psprintf("SELECT CASE WHEN %s THEN 't' ELSE 'f' END FROM %s WHERE %s GROUP BY 1 ORDER BY 1 LIMIT %d",
						 q, fb->from, fb->train_where,
						 LRML_MAX_LABEL_VALUES + 1));
	else
		res = RunRead(psprintf("SELECT pg_catalog.min((%s)::text) FROM %s WHERE %s GROUP BY %s ORDER BY 1 LIMIT %d",
						 q, fb->from, fb->train_where, q,
						 LRML_MAX_LABEL_VALUES + 1));
	raw.n_rows = res->n;
	raw.n_label_values = Min(res->n, LRML_MAX_LABEL_VALUES);
	raw.y = palloc(sizeof(double) * (raw.n_rows + 1));
	for (uint64 r = 0; r < res->n && r < LRML_MAX_LABEL_VALUES; r++)
	{
		raw.label_text[r] = res->cells[r];
		raw.y[r] = (double) r;
	}
	if (res->n > LRML_MAX_LABEL_VALUES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label \"%s\" has more than %d distinct values; a logistic model needs exactly 2",
						label, LRML_MAX_LABEL_VALUES)));
	TrainResolveLabels(&raw, opts, model);
	model->y_center = 0.0;
	model->y_scale = 1.0;

	/* compared as the classes were read: by value, truth or text */
	if (label_typid == BOOLOID)
		fb->y_sql = psprintf(strcmp(model->positive_label, "t") == 0 ?
							 "(%s)::int" : "(NOT (%s))::int", q);
	else if (kind == FEATURE_NUMERIC)
		fb->y_sql = psprintf("((%s)::float8 OPERATOR(pg_catalog.=) (%.17g)::float8)::int",
							 q, strtod(model->positive_label, NULL));
	else
		fb->y_sql = psprintf("((%s)::text OPERATOR(pg_catalog.=) %s)::int",
							 q, quote_literal_cstr(model->positive_label));
}

/* Return the elements of a float8[] without NULLs */
static inline const double *
ArrayValues(ArrayType *a)
{
	/* ARR_DATA_PTR, spelled out to keep -Wsign-compare quiet */
	return (const double *) ((char *) a + ARR_OVERHEAD_NONULLS(ARR_NDIM(a)));
}

/* Return theta as a float8[] datum */
static Datum
WeightsArray(const double *theta, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);

	for (int k = 0; k < n; k++)
		elems[k] = Float8GetDatum(theta[k]);
	return PointerGetDatum(construct_array(elems, n, FLOAT8OID,
										   sizeof(float8), FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
}

/*
 * Learner: the mean loss and gradient over every training row, from one
 * lrml.gradient query (see logreg.c for the loss and the l2 term).
 */
static double
FullBatchGradient(void *arg, int64 first, int n, const double *theta,
				  double *grad)
{
	FullBatch  *fb = (FullBatch *) arg;
	Datum		w = WeightsArray(theta, fb->d + 1);
	Oid			argtypes[1] = {FLOAT8ARRAYOID};
	ArrayType  *sums;
	const double *s;
	bool		isnull;
	double		count;
	double		loss;
	int			ret;

	SPI_connect();
	ret = SPI_execute_with_args(fb->grad_sql, 1, argtypes, &w, NULL, true,
								1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "full-batch gradient query failed: %s",
			 SPI_result_code_string(ret));
	sums = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1,
											&isnull));
	if (isnull || ArrayGetNItems(ARR_NDIM(sums), ARR_DIMS(sums)) !=
		fb->d + 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation \"%s\" has no training rows left",
						fb->name)));
	s = ArrayValues(sums);
	count = s[0];
	loss = s[1] / count;
	for (int k = 0; k < fb->d; k++)
		grad[k] = s[2 + k] / count + fb->l2 * theta[k];
	grad[fb->d] = s[2 + fb->d] / count;
	SPI_finish();
	if (fb->linear)
		loss *= 2.0 * fb->y_scale * fb->y_scale;
	return loss;
}

/*
 * Learner: loss and metric over the validation rows, read through a
 * cursor and scored here: mean log loss and AUC, or mean squared error
 * and RMSE (in the target's units).
 */
static void
FullBatchValidate(void *arg, const double *theta, double *loss,
				  double *metric)
{
	FullBatch  *fb = (FullBatch *) arg;
	int64		cap = Max(fb->n_valid, 1);
	double	   *score = palloc_extended(sizeof(double) * cap,
										MCXT_ALLOC_HUGE);
	double	   *y = palloc_extended(sizeof(double) * cap, MCXT_ALLOC_HUGE);
	int64		n = 0;
	double		sum = 0.0;
	Portal		portal;

	SPI_connect();
	portal = SPI_cursor_open_with_args(NULL, fb->valid_sql, 0, NULL, NULL,
									   NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FULL_BATCH_FETCH);
		if (SPI_processed == 0)
			break;
		CHECK_FOR_INTERRUPTS();
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			ArrayType  *x = DatumGetArrayTypeP(SPI_getbinval(tuple, desc, 1,
															 &isnull));
			const double *xv = ArrayValues(x);
			double		yv = DatumGetFloat8(SPI_getbinval(tuple, desc, 2,
														  &isnull));
			double		z = theta[fb->d];

			for (int k = 0; k < fb->d; k++)
				z += theta[k] * xv[k];
			if (n == cap)
			{
				cap *= 2;
				score = repalloc_huge(score, sizeof(double) * cap);
				y = repalloc_huge(y, sizeof(double) * cap);
			}
			score[n] = z;
			y[n++] = yv;
			if (fb->linear)
				sum += 0.5 * (z - yv) * (z - yv);
			else
				sum += Max(z, 0.0) + log1p(exp(-fabs(z))) - yv * z;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	if (fb->linear)
	{
		*loss = 2.0 * sum / Max(n, 1) * fb->y_scale * fb->y_scale;
		*metric = sqrt(*loss);
	}
	else
	{
		*loss = sum / Max(n, 1);
		*metric = MetricAuc(score, y, n);
	}
	pfree(score);
	pfree(y);
}

/*
 * Write the epoch and validation queries.
 */
static void
WriteQueries(FullBatch *fb)
{
	fb->grad_sql = psprintf("SELECT lrml.gradient($1, %s, %s, '{\"model\": \"%s\"}'::jsonb) FROM %s WHERE %s",
							fb->x_sql, fb->y_sql,
							fb->linear ? "linear" : "logistic",
							fb->from, fb->train_where);
	fb->valid_sql = psprintf("SELECT %s, (%s)::float8 FROM %s WHERE %s",
							 fb->x_sql, fb->y_sql, fb->from,
							 fb->valid_where);
}

/*
 * Build the metrics stored with a full-batch model, as TrainStore's
 * (without the class counts, which would need another pass).
 */
static Jsonb *
FullBatchMetrics(const FullBatch *fb, const LrmlModel *model,
				 const Learner *learner, const EpochRecord *curve,
				 int n_epochs)
{
	const FeatureEncoding *enc = model->encoding;
	StringInfoData buf;
	const EpochRecord *kept = &curve[n_epochs - 1];

	/* restored_best keeps the (first) epoch of the best validation loss */
	if (strstr(kept->event, "restored_best") != NULL)
		for (int e = n_epochs - 1; e >= 0; e--)
			if (curve[e].valid_loss <= kept->valid_loss)
				kept = &curve[e];
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"mode\": \"full_batch\", \"rows\": " INT64_FORMAT,
					 fb->n_train + fb->n_valid);
	appendStringInfo(&buf, ", \"rows_null_label\": " INT64_FORMAT
					 ", \"train_rows\": " INT64_FORMAT
					 ", \"valid_rows\": " INT64_FORMAT,
					 fb->n_null_label, fb->n_train, fb->n_valid);
	if (model->classifier)
	{
		appendStringInfoString(&buf, ", \"positive_class\": ");
		escape_json(&buf, DatasetLabelDisplay(model->positive_label,
											  fb->label_typid == BOOLOID));
	}
	appendStringInfoString(&buf, ", \"feature_nulls\": {");
	for (int j = 0; j < enc->n_columns; j++)
	{
		if (j > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, enc->columns[j].name);
		appendStringInfo(&buf, ": " INT64_FORMAT, enc->columns[j].n_null);
	}
	appendStringInfo(&buf, "}, \"epochs\": %d, \"kept_epoch\": %d",
					 n_epochs, kept->epoch);
	appendStringInfoString(&buf, ", \"train_loss\": ");
	LrmlAppendJsonNumber(&buf, kept->train_loss);
	appendStringInfoString(&buf, ", \"valid_loss\": ");
	LrmlAppendJsonNumber(&buf, kept->valid_loss);
	appendStringInfo(&buf, ", \"%s\": ", fb->linear ? "valid_rmse" : "valid_auc");
	LrmlAppendJsonNumber(&buf, kept->valid_metric);
	TrainAppendSparsity(&buf, learner, model->w);
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(buf.data)));
}

/*
 * Set up the split conditions and count the rows of each side.
 */
static void
SplitAndCount(FullBatch *fb, const char *label, const TrainOptions *opts)
{
	const char *q = quote_identifier(label);
	int64		cut = (int64) floor(opts->validation_fraction * SPLIT_BUCKETS +
									0.5);
	char	   *in_valid = psprintf("(pg_catalog.abs(pg_catalog.hashtextextended((lrml_source.*)::text, " INT64_FORMAT ") %% %d) < " INT64_FORMAT ")",
									opts->seed, SPLIT_BUCKETS, cut);
	bool		isnull;
	ReadResult *res;

	fb->train_where = psprintf("(%s) IS NOT NULL AND NOT %s", q, in_valid);
	fb->valid_where = psprintf("(%s) IS NOT NULL AND %s", q, in_valid);
	res = RunRead(psprintf("SELECT pg_catalog.count(*) FILTER (WHERE %s), pg_catalog.count(*) FILTER (WHERE %s), pg_catalog.count(*) FILTER (WHERE (%s) IS NULL) FROM %s",
						   fb->train_where, fb->valid_where, q, fb->from));
	fb->n_train = (int64) ResultDouble(res, 0, 1, &isnull);
	fb->n_valid = (int64) ResultDouble(res, 0, 2, &isnull);
	fb->n_null_label = (int64) ResultDouble(res, 0, 3, &isnull);
	if (fb->n_train < 1)
		TrainTooFewRows(fb->name, fb->n_valid, NULL);
	if (fb->n_train > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("relation \"%s\" has more than %d training rows",
						fb->name, PG_INT32_MAX)));
}

/*
 * lrml.train with "mode": "full_batch" (see the file header): train and
 * store the model, and put its curve into rsinfo.  Runs in a context of
 * its own that dies with the call.
 */
void
FullBatchTrain(ReturnSetInfo *rsinfo, const char *name, const char *relation,
			   const char *label, ArrayType *features, TrainOptions *opts)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "lrml full batch",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	FullBatch  *fb = palloc0(sizeof(FullBatch));
	LrmlModel  *model = palloc0(sizeof(LrmlModel));
	Learner		learner;
	TrainOptions run;
	char	  **names;
	Oid		   *types;
	Oid			label_typid;
	int			n_cols;
	double	   *theta;
	OptimizerState *optimizer;
	EpochRecord *curve;
	int			n_epochs;
	StringInfoData state_buf;
	char	   *source;

	/* 1. the columns, the split, the encoding and the label */
	fb->name = relation;
	fb->l2 = opts->l2;
	fb->linear = opts->model == MODEL_LINEAR;
	opts->classifier = !fb->linear;
	source = DatasetIsQuery(relation) ? pstrdup(relation) :
		DatasetFromClause(relation);
	fb->from = DatasetIsQuery(relation) ? DatasetFromClause(relation) :
		psprintf("%s AS lrml_source", source);
	n_cols = ResolveColumns(fb->from, relation, label, features, &names,
							&types, &label_typid);
	fb->label_typid = label_typid;
	SplitAndCount(fb, label, opts);
	if (fb->n_valid == 0)
		opts->validation_fraction = 0.0;
	model->encoding = LearnEncoding(fb, names, types, n_cols);
	model->kind = opts->model;
	model->classifier = !fb->linear;
	model->label = pstrdup(label);
	LearnLabel(fb, label, label_typid, opts, model);

	/* 2. */
	WriteQueries(fb);

	/* 3. one batch of every training row per epoch */
	memset(&learner, 0, sizeof(learner));
	learner.n_params = fb->d + 1;
	learner.n_weight_ranges = 1;
	learner.weight_ranges[0].start = 0;
	learner.weight_ranges[0].len = fb->d;
	learner.l1 = opts->l1;
	learner.init = NULL;
	learner.batch_gradient = FullBatchGradient;
	learner.validate = FullBatchValidate;
	learner.arg = fb;
	run = *opts;
	run.batch_size = (int) fb->n_train;
	ScheduleResolve(&run.schedule, run.epochs, 1);
	opts->schedule = run.schedule;
	theta = palloc0(sizeof(double) * learner.n_params);
	optimizer = OptimizerCreate(&opts->optimizer, learner.n_params);
	curve = palloc0(sizeof(EpochRecord) * run.epochs);
	n_epochs = TrainLoop(name, &run, &learner, fb->n_train, theta, optimizer,
						 (uint64) opts->seed, curve);

	/* 4. */
	model->w = theta;
	model->n_weights = fb->d;
	model->bias = theta[fb->d];
	initStringInfo(&state_buf);
	OptimizerWrite(&state_buf, optimizer);
	ModelStoreSave(name, source, model, OptionsToJsonb(opts),
				   FullBatchMetrics(fb, model, &learner, curve, n_epochs),
				   (bytea *) cstring_to_text_with_len(state_buf.data,
													  state_buf.len),
				   curve, n_epochs, 0);
	TrainReturnCurve(rsinfo, curve, n_epochs);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}
