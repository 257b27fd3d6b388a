/*-------------------------------------------------------------------------
 *
 * dataset.c
 *	  Read training rows from a table, view or query into memory.
 *
 * This file owns every SPI read of user data for training: it resolves the
 * relation argument (a name, resolved like regclass, or the text of one
 * read-only query), checks the column types, and streams the rows through
 * a cursor into compact column arrays (RawData).  NaN and infinite values
 * are rejected here; NULL features are kept (as NaN or code -1) for
 * features.c to impute, and rows with a NULL label are skipped and counted.
 * It knows nothing about models, encodings or optimizers.
 *
 * The returned RawData is allocated in the caller's memory context; the
 * SPI connection is opened and closed inside DatasetLoad.
 *
 * src/dataset.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"

#include <float.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "parser/scansup.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"

/* Rows fetched from the cursor at a time */
#define DATASET_FETCH_ROWS 10000

/* An entry of a hash table from text to a small integer code */
typedef struct CodeEntry
{
	char	   *key;
	int32		code;
} CodeEntry;

static uint32
CodeHash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return string_hash(s, strlen(s) + 1);
}

static int
CodeMatch(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

/*
 * Create a hash table from text to code in the current memory context.
 */
static HTAB *
CodeTableCreate(const char *name)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(CodeEntry);
	ctl.hash = CodeHash;
	ctl.match = CodeMatch;
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, 64, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE |
					   HASH_CONTEXT);
}

/*
 * Does the text start with a keyword that makes it a query?
 *
 * A query begins with SELECT, WITH, VALUES or TABLE followed by white space
 * or "(", so a table named "selections" is still a name.
 */
static bool
LooksLikeQuery(const char *text)
{
	static const char *const words[] = {"select", "with", "values", "table"};
	const char *p = text;

	while (scanner_isspace(*p))
		p++;
	for (int i = 0; i < (int) lengthof(words); i++)
	{
		size_t		len = strlen(words[i]);

		if (pg_strncasecmp(p, words[i], len) == 0 &&
			(scanner_isspace(p[len]) || p[len] == '('))
			return true;
	}
	return false;
}

/*
 * Check that query text is one read-only SELECT and return its text.
 *
 * The statement must be a single SELECT (VALUES, TABLE and WITH parse as
 * one) with no INTO and no data-modifying WITH; PostgreSQL only allows
 * data-modifying WITH at the top level, so checking that level suffices.
 */
static char *
CheckQueryText(const char *text)
{
	List	   *stmts = raw_parser(text, RAW_PARSE_DEFAULT);
	RawStmt    *raw;
	SelectStmt *select;
	ListCell   *lc;

	if (list_length(stmts) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query text must be a single statement"),
				 errdetail("The text given holds %d statements.",
						   list_length(stmts))));
	raw = linitial_node(RawStmt, stmts);
	if (!IsA(raw->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query text must be a SELECT statement")));
	select = (SelectStmt *) raw->stmt;
	if (select->intoClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query text must not create a table")));
	if (select->withClause != NULL)
	{
		foreach(lc, select->withClause->ctes)
		{
			CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

			if (!IsA(cte->ctequery, SelectStmt))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("query text must not modify data"),
						 errdetail("WITH query \"%s\" is not a SELECT.",
								   cte->ctename)));
		}
	}

	/* Drop any trailing semicolon: the text is embedded in a FROM item */
	if (raw->stmt_len > 0)
		return pnstrdup(text + raw->stmt_location, raw->stmt_len);
	return pstrdup(text + raw->stmt_location);
}

/*
 * Return the text of a FROM item that reads the relation argument.
 *
 * A name is resolved like regclass (any schema, any quoting) and must be a
 * table, view, materialized view or foreign table; query text is checked by
 * CheckQueryText and wrapped as "(query) AS lrml_source".
 */
char *
DatasetFromClause(const char *relation)
{
	List	   *names;
	RangeVar   *rv;
	Oid			relid;
	char		relkind;

	if (LooksLikeQuery(relation))
		return psprintf("(%s) AS lrml_source", CheckQueryText(relation));

	names = stringToQualifiedNameList(relation);
	rv = makeRangeVarFromNameList(names);
	relid = RangeVarGetRelid(rv, AccessShareLock, false);
	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_VIEW &&
		relkind != RELKIND_MATVIEW && relkind != RELKIND_FOREIGN_TABLE &&
		relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table or view", relation)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * Fail when a training call would hold more than lrml.memory_limit.
 */
void
DatasetCheckMemory(Size bytes)
{
	if (bytes / 1024 > (Size) lrml_memory_limit_kb)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("training data needs more memory than lrml.memory_limit allows"),
				 errdetail("The data needs at least %zu kB; the limit is %d kB.",
						   bytes / 1024, lrml_memory_limit_kb),
				 errhint("Raise lrml.memory_limit, or train on fewer rows or columns.")));
}

/*
 * Find a column by exact name in a result descriptor; -1 if absent.
 */
static int
FindColumn(TupleDesc tupdesc, const char *name)
{
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return i;
	}
	return -1;
}

/*
 * Return the feature column names: the array given, or every column but
 * the label.  Checks for NULL, empty, duplicate and missing names.
 */
static List *
FeatureNames(TupleDesc tupdesc, const char *relation, const char *label,
			 ArrayType *features)
{
	List	   *names = NIL;
	ListCell   *lc;

	if (features == NULL)
	{
		for (int i = 0; i < tupdesc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, i);

			if (!att->attisdropped && strcmp(NameStr(att->attname), label) != 0)
				names = lappend(names, pstrdup(NameStr(att->attname)));
		}
		if (names == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("relation \"%s\" has no column besides the label",
							relation)));
		return names;
	}
	else
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		if (ARR_NDIM(features) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("argument \"features\" must be a one-dimensional array")));
		deconstruct_array(features, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"features\" must not be empty"),
					 errhint("Pass NULL to use every column but the label.")));
		for (int i = 0; i < n; i++)
		{
			char	   *name;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("argument \"features\" must not contain NULL")));
			name = TextDatumGetCString(elems[i]);
			if (strcmp(name, label) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" is the label and cannot also be a feature",
								name)));
			foreach(lc, names)
			{
				if (strcmp((char *) lfirst(lc), name) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_DUPLICATE_COLUMN),
							 errmsg("column \"%s\" is listed twice in \"features\"",
									name)));
			}
			names = lappend(names, name);
		}
	}

	foreach(lc, names)
	{
		char	   *name = (char *) lfirst(lc);

		if (FindColumn(tupdesc, name) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" does not exist in relation \"%s\"",
							name, relation)));
	}
	return names;
}

/*
 * Error for a column whose type lrml cannot use.
 */
static void
ReportColumnType(const char *relation, const char *column, Oid typid,
				 const char *role, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("column \"%s\" of relation \"%s\" has type %s, which cannot be used as %s",
					column, relation, format_type_be(typid), role),
			 errhint("%s", hint)));
}

/*
 * Return the code of text in a code table, adding it if new.
 */
static int32
CodeFor(HTAB *table, const char *str, int *n_codes, char ***code_text,
		int *code_cap)
{
	CodeEntry  *entry;
	bool		found;

	entry = hash_search(table, &str, HASH_ENTER, &found);
	if (!found)
	{
		entry->key = MemoryContextStrdup(GetMemoryChunkContext(*code_text),
										 str);
		entry->code = (*n_codes)++;
		if (*n_codes > *code_cap)
		{
			*code_cap *= 2;
			*code_text = repalloc(*code_text, sizeof(char *) * *code_cap);
		}
		(*code_text)[entry->code] = entry->key;
	}
	return entry->code;
}

/*
 * Return the text form of a categorical or label value.
 */
static char *
ValueText(Datum value, Oid typid, FmgrInfo *outfunc)
{
	switch (typid)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return TextDatumGetCString(value);
		default:
			return OutputFunctionCall(outfunc, value);
	}
}

/* Per-column state while loading */
typedef struct LoadColumn
{
	int			att;			/* index in the cursor's result */
	Oid			base_typid;
	FmgrInfo	outfunc;
	HTAB	   *codes;
	int			code_cap;
} LoadColumn;

/*
 * Grow the column arrays of raw to hold at least need rows.
 */
static void
GrowRows(RawData *raw, int64 *capacity, int64 need)
{
	int64		cap = *capacity;
	Size		row_bytes = sizeof(double);

	if (need <= cap)
		return;
	while (cap < need)
		cap *= 2;
	for (int j = 0; j < raw->n_columns; j++)
		row_bytes += sizeof(float);
	DatasetCheckMemory(mul_size(cap, row_bytes));

	for (int j = 0; j < raw->n_columns; j++)
	{
		RawColumn  *col = &raw->columns[j];

		if (col->kind == FEATURE_CATEGORICAL)
			col->code = repalloc_huge(col->code, sizeof(int32) * cap);
		else
			col->num = repalloc_huge(col->num, sizeof(float) * cap);
	}
	raw->y = repalloc_huge(raw->y, sizeof(double) * cap);
	*capacity = cap;
}

/*
 * Store one feature value of row i.
 */
static void
StoreValue(RawData *raw, LoadColumn *lc, int j, int64 i, Datum value,
		   bool isnull)
{
	RawColumn  *col = &raw->columns[j];
	double		v;

	if (col->kind == FEATURE_CATEGORICAL)
	{
		if (isnull)
			col->code[i] = -1;
		else
		{
			char	   *str = ValueText(value, lc->base_typid, &lc->outfunc);

			col->code[i] = CodeFor(lc->codes, str, &col->n_codes,
								   &col->code_text, &lc->code_cap);
			if (col->n_codes > LRML_MAX_CATEGORIES)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("column \"%s\" has more than %d distinct values",
								col->name, LRML_MAX_CATEGORIES),
						 errhint("Leave out identifier columns, or group rare values.")));
		}
		return;
	}

	if (isnull)
	{
		col->num[i] = get_float4_nan();
		return;
	}
	if (col->kind == FEATURE_BOOLEAN)
	{
		col->num[i] = DatumGetBool(value) ? 1.0f : 0.0f;
		return;
	}
	v = FeatureDatumToDouble(value, lc->base_typid);
	if (isnan(v) || isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("column \"%s\" contains the value %s", col->name,
						isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity")),
				 errdetail("Features must be finite numbers or NULL.")));
	if (fabs(v) > FLT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("value %g of column \"%s\" is out of range", v,
						col->name),
				 errdetail("Features are held as float4, whose largest value is about 3.4e38.")));
	col->num[i] = (float) v;
}

/*
 * Store the label of row i; returns false for a NULL label.
 */
static bool
StoreLabel(RawData *raw, LoadColumn *lab, bool numeric_label, int64 i,
		   Datum value, bool isnull, HTAB *label_codes)
{
	if (isnull)
		return false;
	if (numeric_label)
	{
		double		v = FeatureDatumToDouble(value, lab->base_typid);

		if (isnan(v) || isinf(v))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("label column \"%s\" contains the value %s",
							raw->label, isnan(v) ? "NaN" : "infinity")));
		raw->y[i] = v;
	}
	else
	{
		char	   *str = ValueText(value, lab->base_typid, &lab->outfunc);
		CodeEntry  *entry;
		bool		found;

		entry = hash_search(label_codes, &str, HASH_ENTER, &found);
		if (!found)
		{
			entry->key = MemoryContextStrdup(GetMemoryChunkContext(raw),
											 str);
			entry->code = raw->n_label_values;
			if (raw->n_label_values >= LRML_MAX_LABEL_VALUES)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("label \"%s\" has more than %d distinct values; a logistic model needs exactly 2",
								raw->label, LRML_MAX_LABEL_VALUES),
						 errhint("For a numeric target, use \"model\": \"linear\".")));
			raw->label_text[raw->n_label_values++] = entry->key;
		}
		raw->y[i] = entry->code;
	}
	return true;
}

/*
 * Set up the load state of one column of the cursor's result.
 */
static void
SetupColumn(LoadColumn *lc, TupleDesc tupdesc, int att)
{
	Oid			typid = TupleDescAttr(tupdesc, att)->atttypid;
	Oid			outfn;
	bool		varlena;

	lc->att = att;
	lc->base_typid = getBaseType(typid);
	getTypeOutputInfo(typid, &outfn, &varlena);
	fmgr_info(outfn, &lc->outfunc);
	lc->codes = NULL;
	lc->code_cap = 16;
}

/*
 * Read the training rows of relation into memory.
 *
 * 1. Resolve the relation and describe its columns (no rows read).
 * 2. Check the label and feature names and types.
 * 3. Stream the needed columns through a cursor, DATASET_FETCH_ROWS at a
 *	  time, skipping rows whose label is NULL.
 *
 * numeric_label asks for a numeric label (linear model); otherwise labels
 * are recorded as codes of their text (at most LRML_MAX_LABEL_VALUES).
 */
RawData *
DatasetLoad(const char *relation, const char *label, ArrayType *features,
			bool numeric_label)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	RawData    *raw = palloc0(sizeof(RawData));
	char	   *from = DatasetFromClause(relation);
	TupleDesc	tupdesc;
	List	   *names;
	ListCell   *lc;
	LoadColumn *load;
	LoadColumn	label_load;
	HTAB	   *label_codes;
	StringInfoData sql;
	Portal		portal;
	MemoryContext batch_cxt;
	Datum	   *values;
	bool	   *nulls;
	int64		capacity = 16384;
	int			label_att;
	int			j;

	raw->relation = pstrdup(relation);
	raw->label = pstrdup(label);

	/* 1. describe the relation */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(psprintf("SELECT * FROM %s LIMIT 0", from), true, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "could not describe relation \"%s\"", relation);
	MemoryContextSwitchTo(caller_cxt);
	tupdesc = CreateTupleDescCopy(SPI_tuptable->tupdesc);

	/* 2. check names and types */
	label_att = FindColumn(tupdesc, label);
	if (label_att < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("label column \"%s\" does not exist in relation \"%s\"",
						label, relation)));
	raw->label_typid = TupleDescAttr(tupdesc, label_att)->atttypid;
	if (numeric_label &&
		FeatureKindForType(raw->label_typid) != FEATURE_NUMERIC)
		ReportColumnType(relation, label, raw->label_typid,
						 "the label of a linear model",
						 "A linear model needs a numeric label; for a label of two values use \"model\": \"logistic\".");
	if (!numeric_label && FeatureKindForType(raw->label_typid) == 0)
		ReportColumnType(relation, label, raw->label_typid, "a label",
						 "A classifier label may be a boolean, number, text or enum column.");

	names = FeatureNames(tupdesc, relation, label, features);
	raw->n_columns = list_length(names);
	raw->columns = palloc0(sizeof(RawColumn) * raw->n_columns);
	j = 0;
	foreach(lc, names)
	{
		RawColumn  *col = &raw->columns[j++];
		int			att = FindColumn(tupdesc, (char *) lfirst(lc));

		col->name = (char *) lfirst(lc);
		col->typid = TupleDescAttr(tupdesc, att)->atttypid;
		col->kind = FeatureKindForType(col->typid);
		if (col->kind == 0)
			ReportColumnType(relation, col->name, col->typid, "a feature",
							 "Features may be numeric, boolean, text or enum columns; cast or leave out the others.");
		if (col->kind == FEATURE_CATEGORICAL)
		{
			col->code = palloc_extended(sizeof(int32) * capacity,
										MCXT_ALLOC_HUGE);
			col->code_text = palloc(sizeof(char *) * 16);
		}
		else
			col->num = palloc_extended(sizeof(float) * capacity,
									   MCXT_ALLOC_HUGE);
	}
	raw->y = palloc_extended(sizeof(double) * capacity, MCXT_ALLOC_HUGE);

	/* 3. stream the rows */
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	foreach(lc, names)
		appendStringInfo(&sql, "%s, ", quote_identifier((char *) lfirst(lc)));
	appendStringInfo(&sql, "%s FROM %s", quote_identifier(label), from);
	portal = SPI_cursor_open_with_args(NULL, sql.data, 0, NULL, NULL, NULL,
									   true, CURSOR_OPT_NO_SCROLL);
	tupdesc = portal->tupDesc;

	load = palloc0(sizeof(LoadColumn) * raw->n_columns);
	for (j = 0; j < raw->n_columns; j++)
	{
		SetupColumn(&load[j], tupdesc, j);
		if (raw->columns[j].kind == FEATURE_CATEGORICAL)
			load[j].codes = CodeTableCreate("lrml categories");
	}
	SetupColumn(&label_load, tupdesc, raw->n_columns);
	label_codes = CodeTableCreate("lrml labels");
	values = palloc(sizeof(Datum) * (raw->n_columns + 1));
	nulls = palloc(sizeof(bool) * (raw->n_columns + 1));

	/* text conversions of one batch live in a context reset per batch */
	batch_cxt = AllocSetContextCreate(caller_cxt, "lrml load batch",
									  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		uint64		n;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, DATASET_FETCH_ROWS);
		n = SPI_processed;
		if (n == 0)
			break;
		MemoryContextSwitchTo(caller_cxt);
		GrowRows(raw, &capacity, raw->n_rows + n);
		MemoryContextSwitchTo(batch_cxt);
		for (uint64 r = 0; r < n; r++)
		{
			int64		i = raw->n_rows;

			heap_deform_tuple(SPI_tuptable->vals[r], tupdesc, values, nulls);
			if (!StoreLabel(raw, &label_load, numeric_label, i,
							values[raw->n_columns], nulls[raw->n_columns],
							label_codes))
			{
				raw->n_null_label++;
				continue;
			}
			for (j = 0; j < raw->n_columns; j++)
				StoreValue(raw, &load[j], j, i, values[j], nulls[j]);
			raw->n_rows++;
		}
		SPI_freetuptable(SPI_tuptable);
		MemoryContextReset(batch_cxt);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	MemoryContextSwitchTo(caller_cxt);
	MemoryContextDelete(batch_cxt);
	return raw;
}
