/*-------------------------------------------------------------------------
 *
 * dataset.c
 *	  Read training rows from a table, view or query into memory.
 *
 * This file owns every SPI read of user data for training: it resolves the
 * relation argument (a name, resolved like regclass, or the text of one
 * read-only query), checks the column types, and streams the rows into
 * compact column arrays (RawData) through a receiver that reads each row
 * from the executor's slot, so no tuple is copied on the way.  NaN and
 * infinite values are rejected here; NULL features are kept (as NaN or
 * code -1) for features.c to impute, and rows with a NULL label are
 * skipped and counted.
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
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "parser/scansup.h"
#include "common/shortest_dec.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/regproc.h"

/* Longest label value shown in a message, in bytes */
#define LABEL_DISPLAY_MAX 60

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
 * Does the relation argument hold query text rather than a name?
 *
 * A query begins with SELECT, WITH, VALUES or TABLE followed by white space
 * or "(", so a table named "selections" is still a name.  Leading white
 * space, comments and parentheses are skipped.
 */
bool
DatasetIsQuery(const char *text)
{
	static const char *const words[] = {"select", "with", "values", "table"};
	const char *p = text;

	/* skip white space, comments and opening parentheses */
	for (;;)
	{
		if (scanner_isspace(*p) || *p == '(')
			p++;
		else if (p[0] == '-' && p[1] == '-')
		{
			while (*p != '\0' && *p != '\n')
				p++;
		}
		else if (p[0] == '/' && p[1] == '*')
		{
			const char *end = strstr(p + 2, "*/");

			if (end == NULL)
				return false;
			p = end + 2;
		}
		else
			break;
	}
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
	if (select->lockingClause != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query text must not lock rows"),
				 errhint("Remove FOR UPDATE or FOR SHARE.")));
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
	char	   *nspname;

	/* the newline ends a trailing "--" comment of the query text */
	if (DatasetIsQuery(relation))
		return psprintf("(%s\n) AS lrml_source", CheckQueryText(relation));

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
	nspname = get_namespace_name(get_rel_namespace(relid));
	return quote_qualified_identifier(nspname, get_rel_name(relid));
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
 * Find a live column by exact name in a descriptor; -1 if absent.
 */
int
DatasetFindColumn(TupleDesc tupdesc, const char *name)
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

		if (DatasetFindColumn(tupdesc, name) < 0)
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
		int *code_cap, Size *text_bytes)
{
	CodeEntry  *entry;
	bool		found;

	entry = hash_search(table, &str, HASH_ENTER, &found);
	if (!found)
	{
		/* distinct texts count against the memory limit too */
		*text_bytes = add_size(*text_bytes, strlen(str) + 1 +
							   sizeof(CodeEntry) + sizeof(char *));
		DatasetCheckMemory(*text_bytes);
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
 * Return a label value as messages show it: booleans (stored as t and f)
 * as true and false, and long texts clipped to LABEL_DISPLAY_MAX bytes.
 */
const char *
DatasetLabelDisplay(const char *text, bool is_bool)
{
	int			len;

	if (text == NULL)
		return "";
	if (is_bool && strcmp(text, "t") == 0)
		return "true";
	if (is_bool && strcmp(text, "f") == 0)
		return "false";
	len = strlen(text);
	if (len > LABEL_DISPLAY_MAX)
		return psprintf("%.*s...",
						pg_mbcliplen(text, len, LABEL_DISPLAY_MAX), text);
	return text;
}

/*
 * Return the text form of a categorical or label value of base type typid.
 *
 * char(n) values lose their trailing spaces, which PostgreSQL ignores when
 * it compares them, so 'a' as char(4) and 'a' as text are one category.
 * outfunc is the type's output function, used for types other than text,
 * varchar and char(n).
 */
char *
DatasetTextValue(Datum value, Oid typid, FmgrInfo *outfunc)
{
	char	   *str;

	switch (typid)
	{
		case TEXTOID:
		case VARCHAROID:
			return TextDatumGetCString(value);
		case BPCHAROID:
			{
				int			len;

				str = TextDatumGetCString(value);
				len = strlen(str);
				while (len > 0 && str[len - 1] == ' ')
					str[--len] = '\0';
				return str;
			}
		default:
			return OutputFunctionCall(outfunc, value);
	}
}

/* Per-column state while loading */
typedef struct LoadColumn
{
	int			att;			/* index in the query's result */
	Oid			base_typid;
	FmgrInfo	outfunc;
	HTAB	   *codes;
	int			code_cap;
	bool		byval;			/* label: by-value type */
	Datum		known[LRML_MAX_LABEL_VALUES];	/* label: value of each code */
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
	row_bytes += sizeof(double) * raw->n_columns;
	DatasetCheckMemory(add_size(mul_size(cap, row_bytes), raw->text_bytes));

	raw->values = repalloc_huge(raw->values,
								mul_size(mul_size(cap, raw->n_columns),
										 sizeof(double)));
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
	double	   *out = &raw->values[i * raw->n_columns + j];
	double		v;

	if (isnull)
		col->n_null++;
	if (col->kind == FEATURE_CATEGORICAL)
	{
		if (isnull)
			*out = -1.0;
		else
		{
			char	   *str = DatasetTextValue(value, lc->base_typid, &lc->outfunc);

			*out = CodeFor(lc->codes, str, &col->n_codes, &col->code_text,
						   &lc->code_cap, &raw->text_bytes);
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
		*out = get_float8_nan();
		return;
	}
	if (col->kind == FEATURE_BOOLEAN)
	{
		*out = DatumGetBool(value) ? 1.0 : 0.0;
		return;
	}
	v = FeatureDatumToDouble(value, lc->base_typid);
	if (unlikely(!(fabs(v) <= LRML_MAX_ABS_VALUE)))
		FeatureRejectNumber(col->name, v);
	*out = v;
}

/*
 * Return the text that identifies a classifier's label value: numbers by
 * value (1, 1.0 and 1.00 are one class), other types as DatasetTextValue.
 */
static char *
LabelText(Datum value, LoadColumn *lab, const char *label)
{
	if (lab->base_typid == FLOAT4OID)
	{
		char	   *buf = palloc(FLOAT_SHORTEST_DECIMAL_LEN);
		float		f = DatumGetFloat4(value);

		/* a real number as PostgreSQL shows it: 0.1, not 0.100000001 */
		if (isnan(f) || isinf(f))
			FeatureRejectNumber(label, f);
		float_to_shortest_decimal_buf(f, buf);
		return buf;
	}
	if (FeatureKindForType(lab->base_typid) == FEATURE_NUMERIC)
	{
		double		v = FeatureDatumToDouble(value, lab->base_typid);
		StringInfoData buf;

		if (isnan(v))
			FeatureRejectNumber(label, v);
		initStringInfo(&buf);
		LrmlAppendJsonNumber(&buf, v);
		return buf.data;
	}
	return DatasetTextValue(value, lab->base_typid, &lab->outfunc);
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

		if (!(fabs(v) <= LRML_MAX_ABS_VALUE))
			FeatureRejectNumber(raw->label, v);
		raw->y[i] = v;
	}
	else
	{
		char	   *str;
		CodeEntry  *entry;
		bool		found;

		/* a by-value label seen before needs no text conversion */
		if (lab->byval)
		{
			for (int c = 0; c < raw->n_label_values; c++)
			{
				if (lab->known[c] == value)
				{
					raw->y[i] = c;
					return true;
				}
			}
		}
		str = LabelText(value, lab, raw->label);
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
		if (lab->byval)
			lab->known[entry->code] = value;
		raw->y[i] = entry->code;
	}
	return true;
}

/*
 * Set up the load state of one column of the query's result.
 */
static void
SetupColumn(LoadColumn *lc, TupleDesc tupdesc, int att)
{
	Oid			typid = TupleDescAttr(tupdesc, att)->atttypid;
	Oid			outfn;
	bool		varlena;

	lc->att = att;
	lc->base_typid = getBaseType(typid);
	lc->byval = get_typbyval(typid);
	getTypeOutputInfo(typid, &outfn, &varlena);
	fmgr_info(outfn, &lc->outfunc);
	lc->codes = NULL;
	lc->code_cap = 16;
}

/*
 * A receiver that stores each row of the training query straight into the
 * column arrays, without copying the tuple first.  Text conversions of the
 * rows go to batch_cxt, reset every DATASET_BATCH_ROWS rows.
 */
typedef struct LoadReceiver
{
	DestReceiver pub;
	RawData    *raw;
	bool		numeric_label;
	LoadColumn *load;			/* one per feature column */
	LoadColumn	label_load;
	HTAB	   *label_codes;
	int64		capacity;		/* rows the arrays of raw can hold */
	MemoryContext data_cxt;		/* where raw and its arrays live */
	MemoryContext batch_cxt;
	int			batch_rows;
	ErrorContextCallback *outer_context;	/* the caller's error context */
} LoadReceiver;

/* Rows between resets of the load's scratch context */
#define DATASET_BATCH_ROWS 10000

static void
LoadStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	LoadReceiver *recv = (LoadReceiver *) self;
	RawData    *raw = recv->raw;
	MemoryContext old = MemoryContextSwitchTo(recv->data_cxt);

	recv->load = palloc0(sizeof(LoadColumn) * raw->n_columns);
	for (int j = 0; j < raw->n_columns; j++)
	{
		SetupColumn(&recv->load[j], typeinfo, j);
		if (raw->columns[j].kind == FEATURE_CATEGORICAL)
			recv->load[j].codes = CodeTableCreate("lrml categories");
	}
	SetupColumn(&recv->label_load, typeinfo, raw->n_columns);
	recv->label_codes = CodeTableCreate("lrml labels");
	MemoryContextSwitchTo(old);
}

/*
 * Store one row: skip it if its label is NULL, else store label and
 * features.
 */
static bool
LoadReceiveSlot(TupleTableSlot *slot, DestReceiver *self)
{
	LoadReceiver *recv = (LoadReceiver *) self;
	RawData    *raw = recv->raw;
	int			n_cols = raw->n_columns;
	int64		i = raw->n_rows;
	ErrorContextCallback *query_context = error_context_stack;
	MemoryContext old;

	CHECK_FOR_INTERRUPTS();

	/*
	 * Errors about the data name the column, not our query: report them in
	 * the caller's error context rather than the query's.
	 */
	error_context_stack = recv->outer_context;
	if (i >= recv->capacity)
	{
		old = MemoryContextSwitchTo(recv->data_cxt);
		GrowRows(raw, &recv->capacity, i + 1);
		MemoryContextSwitchTo(old);
	}
	slot_getallattrs(slot);

	old = MemoryContextSwitchTo(recv->batch_cxt);
	if (StoreLabel(raw, &recv->label_load, recv->numeric_label, i,
				   slot->tts_values[n_cols], slot->tts_isnull[n_cols],
				   recv->label_codes))
	{
		for (int j = 0; j < n_cols; j++)
			StoreValue(raw, &recv->load[j], j, i, slot->tts_values[j],
					   slot->tts_isnull[j]);
		raw->n_rows++;
	}
	else
		raw->n_null_label++;
	MemoryContextSwitchTo(old);

	if (++recv->batch_rows >= DATASET_BATCH_ROWS)
	{
		MemoryContextReset(recv->batch_cxt);
		recv->batch_rows = 0;
	}
	error_context_stack = query_context;
	return true;
}

static void
LoadShutdown(DestReceiver *self)
{
}

static void
LoadDestroy(DestReceiver *self)
{
}

/*
 * Return the planner's estimate of the rows a prepared read returns.
 */
double
DatasetEstimatedRows(SPIPlanPtr plan)
{
	CachedPlan *cplan = SPI_plan_get_cached_plan(plan);
	double		rows = 0;

	if (cplan == NULL)
		return 0;
	if (list_length(cplan->stmt_list) == 1)
	{
		PlannedStmt *stmt = linitial_node(PlannedStmt, cplan->stmt_list);

		if (stmt->planTree != NULL)
			rows = stmt->planTree->plan_rows;
	}
	/* an unsaved plan is fetched without a resource owner */
	ReleaseCachedPlan(cplan, NULL);
	return rows;
}

/*
 * Size the row arrays for the expected number of rows, with a margin.
 *
 * Growing by doubling copies every row again at each step; sizing from the
 * planner's estimate avoids that.  Memory that is reserved but never
 * written costs little, so the margin is generous; an estimate far beyond
 * the memory limit is ignored, and the arrays then grow as rows arrive.
 */
static void
ReserveRows(RawData *raw, int64 *capacity, double estimate)
{
	Size		row_bytes = sizeof(double) * (raw->n_columns + 1);
	double		want = estimate * 1.25 + 1024;

	if (want <= *capacity ||
		want * row_bytes / 1024 > (double) lrml_memory_limit_kb)
		return;
	*capacity = (int64) want;
	raw->values = repalloc_huge(raw->values,
								mul_size(mul_size(*capacity, raw->n_columns),
										 sizeof(double)));
	raw->y = repalloc_huge(raw->y, sizeof(double) * *capacity);
}

/*
 * Read the training rows of relation into memory.
 *
 * 1. Resolve the relation and describe its columns (no rows read).
 * 2. Check the label and feature names and types.
 * 3. Run one query over the needed columns; a receiver stores each row
 *	  as the executor produces it, skipping rows whose label is NULL.
 *
 * mode LABEL_NUMBER asks for a numeric label (linear model); with
 * LABEL_CLASSES labels are recorded as codes of their text (at most
 * LRML_MAX_LABEL_VALUES); LABEL_BY_TYPE (mlp) reads a label of a numeric
 * type as a number and any other as classes.  raw->numeric_label says
 * which was done.
 */
RawData *
DatasetLoad(const char *relation, const char *label, ArrayType *features,
			LabelMode mode)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	RawData    *raw = palloc0(sizeof(RawData));
	bool		is_query = DatasetIsQuery(relation);
	char	   *from = DatasetFromClause(relation);
	TupleDesc	tupdesc;
	List	   *names;
	ListCell   *lc;
	LoadReceiver recv;
	SPIPlanPtr	plan;
	SPIExecuteOptions spi_opts;
	StringInfoData sql;
	int64		capacity = 16384;
	int			label_att;
	int			j;
	bool		numeric_label;

	raw->relation = pstrdup(relation);
	/* the name as resolved once here, so it is the relation that was read */
	raw->source = is_query ? raw->relation : from;
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
	label_att = DatasetFindColumn(tupdesc, label);
	if (label_att < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("label column \"%s\" does not exist in relation \"%s\"",
						label, relation)));
	raw->label_typid = TupleDescAttr(tupdesc, label_att)->atttypid;
	numeric_label = mode == LABEL_NUMBER ||
		(mode == LABEL_BY_TYPE &&
		 FeatureKindForType(raw->label_typid) == FEATURE_NUMERIC);
	raw->numeric_label = numeric_label;
	if (mode == LABEL_NUMBER &&
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
		int			att = DatasetFindColumn(tupdesc, (char *) lfirst(lc));

		col->name = (char *) lfirst(lc);
		col->typid = TupleDescAttr(tupdesc, att)->atttypid;
		col->kind = FeatureKindForType(col->typid);
		if (col->kind == 0)
			ReportColumnType(relation, col->name, col->typid, "a feature",
							 "Features may be numeric, boolean, text or enum columns; cast or leave out the others.");
		if (col->kind == FEATURE_CATEGORICAL)
			col->code_text = palloc(sizeof(char *) * 16);
	}
	raw->values = palloc_extended(mul_size(mul_size(capacity,
													raw->n_columns),
										   sizeof(double)),
								  MCXT_ALLOC_HUGE);
	raw->y = palloc_extended(sizeof(double) * capacity, MCXT_ALLOC_HUGE);

	/* 3. stream the rows into the arrays */
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	foreach(lc, names)
		appendStringInfo(&sql, "%s, ", quote_identifier((char *) lfirst(lc)));
	appendStringInfo(&sql, "%s FROM %s", quote_identifier(label), from);

	memset(&recv, 0, sizeof(recv));
	recv.pub.receiveSlot = LoadReceiveSlot;
	recv.pub.rStartup = LoadStartup;
	recv.pub.rShutdown = LoadShutdown;
	recv.pub.rDestroy = LoadDestroy;
	recv.pub.mydest = DestNone;
	recv.raw = raw;
	recv.numeric_label = numeric_label;
	recv.capacity = capacity;
	recv.data_cxt = caller_cxt;
	recv.batch_cxt = AllocSetContextCreate(caller_cxt, "lrml load batch",
										   ALLOCSET_DEFAULT_SIZES);
	plan = SPI_prepare(sql.data, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not plan the read of relation \"%s\"", relation);
	ReserveRows(raw, &recv.capacity, DatasetEstimatedRows(plan));

	memset(&spi_opts, 0, sizeof(spi_opts));
	spi_opts.read_only = true;
	spi_opts.dest = &recv.pub;
	recv.outer_context = error_context_stack;
	/* rows go to the receiver, so SPI reports no SELECT result */
	if (SPI_execute_plan_extended(plan, &spi_opts) < 0)
		elog(ERROR, "could not read relation \"%s\"", relation);
	SPI_finish();
	MemoryContextSwitchTo(caller_cxt);
	MemoryContextDelete(recv.batch_cxt);
	return raw;
}
