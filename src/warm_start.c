/*-------------------------------------------------------------------------
 *
 * warm_start.c
 *	  Start a training run from a stored version: "warm_start".
 *
 * A warm start keeps the starting version's feature encoding (means,
 * scales, categories), so new rows are encoded exactly as that version
 * encodes them, and starts from its parameters and, unless
 * "reset_optimizer", its optimizer state (momentum, accumulators, Adam's
 * moments and step count), so adaptive rates continue where they were.
 * The run's schedule, epochs and other options are its own.
 *
 * A category of a text column that the starting version never saw scores
 * as unseen (all its indicators 0), and is reported in one NOTICE with its
 * row count; with "extend_categories" each such category of the training
 * rows gets an input of its own with weight 0 (and zero optimizer
 * moments), in the sorted place the encoding keeps.
 *
 * This file decides what to start from and maps stored vectors onto the
 * new run's inputs; reading the rows stays in dataset.c and the training
 * in train.c.  Results are allocated in the current memory context.
 *
 * src/warm_start.c
 *
 *-------------------------------------------------------------------------
 */
#include "lrml.h"

#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/json.h"

/* Unseen categories named in the NOTICE's detail */
#define WARM_MAX_SHOWN 5

/*
 * Return the options of a call with the model kind of the version a warm
 * start begins from added, when "warm_start" asks for one and "model" is
 * left out; otherwise options as given.  The options can then be read as
 * usual, and keys of that kind (an mlp's "dropout", say) are accepted.
 * Values OptionsParse would refuse are left for it to refuse.
 */
Jsonb *
WarmStartOptions(const char *name, Jsonb *options)
{
	JsonbValue	buf;
	JsonbValue *v;
	int32		version;
	ModelKind	kind;
	Datum		given;

	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options) ||
		getKeyJsonValueFromContainer(&options->root, "model", 5,
									 &buf) != NULL)
		return options;
	v = getKeyJsonValueFromContainer(&options->root, "warm_start", 10, &buf);
	if (v == NULL)
		return options;
	if (v->type == jbvBool && v->val.boolean)
		version = WARM_START_DEPLOYED;
	else if (v->type == jbvNumeric)
	{
		double		x = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
														   NumericGetDatum(v->val.numeric)));

		if (x != floor(x) || x < 1 || x > PG_INT32_MAX)
			return options;
		version = (int32) x;
	}
	else
		return options;

	/* a version that does not exist is reported once the options are read */
	if (!ModelStoreVersionKind(name, version, &kind))
		return options;
	given = DirectFunctionCall1(jsonb_in,
								CStringGetDatum(psprintf("{\"model\": \"%s\"}",
														 ModelKindName(kind))));
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  JsonbPGetDatum(options), given));
}

/* "a" or "an" before a model kind's name */
static const char *
KindArticle(ModelKind kind)
{
	return kind == MODEL_MLP || kind == MODEL_MF ? "an" : "a";
}

/*
 * An mlp continues with its version's layers: "hidden" and "activation"
 * left out of the options are the version's; given, they must be.
 */
static void
WarmShape(const WarmStart *ws, Jsonb *options, TrainOptions *opts)
{
	const MlpShape *old = &ws->stored->model->mlp;
	JsonbValue	buf;
	bool		same = opts->mlp.n_hidden == old->n_hidden &&
		opts->mlp.activation == old->activation;

	for (int i = 0; i < old->n_hidden && same; i++)
		same = opts->mlp.hidden[i] == old->hidden[i];
	if (!same &&
		(getKeyJsonValueFromContainer(&options->root, "hidden", 6,
									  &buf) != NULL ||
		 getKeyJsonValueFromContainer(&options->root, "activation", 10,
									  &buf) != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot warm-start an mlp of other layers from version %d of model \"%s\"",
						ws->version, ws->stored->name),
				 errhint("Remove \"hidden\" and \"activation\" from the options: a warm start keeps the layers of its version.")));
	opts->mlp = *old;
}

/*
 * Load the version a warm start of model name begins from (NULL when opts
 * ask for no warm start), without checking the options against it: what
 * a search needs once, before each trial checks its own options
 * (WarmStartCheck).
 */
WarmStart *
WarmStartPeek(const char *name, const TrainOptions *opts)
{
	WarmStart  *ws;

	if (opts->warm_start == 0)
		return NULL;
	ws = palloc0(sizeof(WarmStart));
	ws->stored = ModelStoreLoadVersion(name, opts->warm_start,
									   &ws->state_bytes);
	ws->version = ws->stored->version;
	return ws;
}

/*
 * Check that opts can continue version (WarmStartPeek), and return the
 * warm start they make of it (NULL for none): the version, and its
 * optimizer state unless reset.
 *
 * 1. The model kind must be the version's (WarmStartOptions fills it in
 *	  when the options leave it out); a regression has no classes.  An
 *	  mlp keeps the version's layers (WarmShape).
 * 2. The optimizer: continuing the state needs the same optimizer.
 */
WarmStart *
WarmStartCheck(const WarmStart *version, Jsonb *options, TrainOptions *opts)
{
	WarmStart  *ws;
	const char *name;

	if (version == NULL)
		return NULL;
	ws = palloc(sizeof(WarmStart));
	*ws = *version;
	ws->optimizer = NULL;
	name = ws->stored->name;

	/* 1. */
	if (opts->model != ws->stored->model->kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot warm-start %s %s model from version %d of model \"%s\"",
						KindArticle(opts->model), ModelKindName(opts->model),
						ws->version, name),
				 errdetail("Version %d is %s %s model.", ws->version,
						   KindArticle(ws->stored->model->kind),
						   ModelKindName(ws->stored->model->kind)),
				 errhint("Remove \"model\" from the options, or train a new model name.")));
	if (!ws->stored->model->classifier &&
		(opts->positive_class != NULL || opts->class_weight_balanced ||
		 opts->class_weight != 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" applies only to classifiers",
						opts->positive_class ? "positive_class" :
						"class_weight"),
				 errdetail("Version %d of model \"%s\" is a regression.",
						   ws->version, name)));
	opts->warm_start = ws->version;
	if (ws->stored->model->kind == MODEL_MLP)
		WarmShape(ws, options, opts);

	/* 2. */
	if (!opts->reset_optimizer && ws->state_bytes != NULL)
	{
		StringInfoData buf;

		buf.data = VARDATA_ANY(ws->state_bytes);
		buf.len = VARSIZE_ANY_EXHDR(ws->state_bytes);
		buf.maxlen = buf.len;
		buf.cursor = 0;
		ws->optimizer = OptimizerRead(&buf);
		if (ws->optimizer->config.kind != opts->optimizer.kind)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("optimizer \"%s\" cannot continue the state of optimizer \"%s\" stored with version %d of model \"%s\"",
							OptimizerName(opts->optimizer.kind),
							OptimizerName(ws->optimizer->config.kind),
							ws->version, name),
					 errhint("Set \"optimizer\" to \"%s\", or set \"reset_optimizer\" to true.",
							 OptimizerName(ws->optimizer->config.kind))));
	}
	return ws;
}

/*
 * Load the version a warm start of model name begins from and check that
 * the options can continue it (WarmStartPeek, WarmStartCheck); NULL when
 * opts ask for no warm start.
 */
WarmStart *
WarmStartLoad(const char *name, Jsonb *options, TrainOptions *opts)
{
	return WarmStartCheck(WarmStartPeek(name, opts), options, opts);
}

/*
 * Return the feature columns of the starting version as a text[], for a
 * warm start whose features argument is NULL; or check that the given
 * features name the same columns (in any order) and return them in the
 * version's order.
 */
ArrayType *
WarmStartFeatures(const WarmStart *ws, ArrayType *features)
{
	const FeatureEncoding *enc = ws->stored->model->encoding;
	Datum	   *names = palloc(sizeof(Datum) * Max(enc->n_columns, 1));

	if (features != NULL)
	{
		Datum	   *given;
		bool	   *nulls;
		int			n;

		deconstruct_array(features, TEXTOID, -1, false, TYPALIGN_INT,
						  &given, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			bool		found = false;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("argument \"features\" must not contain NULL")));
			for (int k = 0; k < i; k++)
				if (strcmp(TextDatumGetCString(given[i]),
						   TextDatumGetCString(given[k])) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_DUPLICATE_COLUMN),
							 errmsg("column \"%s\" is listed twice in \"features\"",
									TextDatumGetCString(given[i]))));
			for (int j = 0; j < enc->n_columns && !found; j++)
				found = strcmp(TextDatumGetCString(given[i]),
							   enc->columns[j].name) == 0;
			if (!found)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature \"%s\" is not a feature of version %d of model \"%s\"",
								TextDatumGetCString(given[i]), ws->version,
								ws->stored->name),
						 errhint("A warm start trains on the features of the version it starts from; pass NULL for them.")));
		}
		for (int j = 0; j < enc->n_columns; j++)
		{
			bool		found = false;

			for (int i = 0; i < n && !found; i++)
				found = !nulls[i] &&
					strcmp(TextDatumGetCString(given[i]),
						   enc->columns[j].name) == 0;
			if (!found)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("features lack column \"%s\" of version %d of model \"%s\"",
								enc->columns[j].name, ws->version,
								ws->stored->name),
						 errhint("A warm start trains on the features of the version it starts from; pass NULL for them.")));
		}
	}
	for (int j = 0; j < enc->n_columns; j++)
		names[j] = CStringGetTextDatum(enc->columns[j].name);
	return construct_array(names, enc->n_columns, TEXTOID, -1, false,
						   TYPALIGN_INT);
}

/* One category of a text column that the starting version has not seen */
typedef struct UnseenCategory
{
	const char *text;			/* NULL for the NULL category */
	int64		rows;			/* rows of the new data */
	bool		in_train;		/* seen among the training rows */
} UnseenCategory;

/*
 * Sort the categories of one column as the encoding keeps them: bytewise,
 * the NULL category last.
 */
static int
CompareCategories(const void *a, const void *b)
{
	const char *x = *(const char *const *) a;
	const char *y = *(const char *const *) b;

	if (x == NULL || y == NULL)
		return (x == NULL) - (y == NULL);
	return strcmp(x, y);
}

/*
 * Tell once about the rows whose categories the starting version has not
 * seen (NOTICE, or DEBUG1 for quiet runs); rows counts each such row once.
 */
static void
ReportUnseen(const WarmStart *ws, const RawData *raw, UnseenCategory **unseen,
			 const int *n_unseen, int64 rows, bool extend, bool quiet)
{
	StringInfoData buf;
	int			shown = 0;

	initStringInfo(&buf);
	for (int j = 0; j < raw->n_columns; j++)
		for (int u = 0; u < n_unseen[j]; u++)
		{
			if (shown++ >= WARM_MAX_SHOWN)
				continue;
			appendStringInfo(&buf, "%scolumn \"%s\" ", shown > 1 ? ", " : "",
							 raw->columns[j].name);
			if (unseen[j][u].text == NULL)
				appendStringInfoString(&buf, "NULL");
			else
				escape_json(&buf, unseen[j][u].text);
			appendStringInfo(&buf, " (" INT64_FORMAT " %s)",
							 unseen[j][u].rows,
							 unseen[j][u].rows == 1 ? "row" : "rows");
		}
	if (rows == 0)
		return;
	ereport(quiet ? DEBUG1 : NOTICE,
			(errmsg_plural(INT64_FORMAT " row has a category that version %d of model \"%s\" has not seen",
						   INT64_FORMAT " rows have categories that version %d of model \"%s\" has not seen",
						   rows, rows, ws->version, ws->stored->name),
			 errdetail("%s: %s%s.",
					   shown == 1 ? "The category is" : "The categories are",
					   buf.data,
					   shown > WARM_MAX_SHOWN ?
					   psprintf(" and %d more", shown - WARM_MAX_SHOWN) : ""),
			 extend ?
			 errhint("Those of the training rows were added with weight 0; the others score as unseen.") :
			 errhint("They score as unseen; set \"extend_categories\" to true to give them inputs of their own.")));
}

/*
 * Return the encoding of a warm-started run: the starting version's, with
 * each text column's unseen categories of the training rows added when
 * extend.  Sets *input_map (old input -> new input) for WarmStartParams.
 *
 * 1. Check each column's type against the stored encoding.
 * 2. Count the rows of each category the version has not seen (a NULL
 *	  where it had no NULL category counts as one).
 * 3. Build the new columns and offsets; numeric and boolean inputs keep
 *	  their centers and scales, indicators are not scaled.
 */
FeatureEncoding *
WarmStartEncoding(const WarmStart *ws, const RawData *raw,
				  const bool *is_train, bool extend, bool quiet,
				  int **input_map)
{
	const FeatureEncoding *old = ws->stored->model->encoding;
	FeatureEncoding *enc = palloc0(sizeof(FeatureEncoding));
	UnseenCategory **unseen = palloc0(sizeof(UnseenCategory *) *
									  Max(raw->n_columns, 1));
	int		   *n_unseen = palloc0(sizeof(int) * Max(raw->n_columns, 1));
	int		   *map = palloc(sizeof(int) * Max(old->n_inputs, 1));
	bool	   *row_unseen = palloc_extended(sizeof(bool) *
											 Max(raw->n_rows, 1),
											 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	int64		n_rows_unseen = 0;
	int			offset = 0;

	if (raw->n_columns != old->n_columns)
		elog(ERROR, "warm start read %d columns for %d features",
			 raw->n_columns, old->n_columns);

	/* 1. and 2. */
	for (int j = 0; j < raw->n_columns; j++)
	{
		const RawColumn *rc = &raw->columns[j];
		const FeatureColumn *col = &old->columns[j];
		int		   *slot;
		bool		has_null = col->n_categories > 0 &&
			col->categories[col->n_categories - 1] == NULL;

		FeatureCheckType(col, rc->typid);
		if (col->kind != FEATURE_CATEGORICAL)
			continue;
		/* slot per load-time code, and one more for NULL */
		slot = palloc(sizeof(int) * (rc->n_codes + 1));
		unseen[j] = palloc(sizeof(UnseenCategory) * (rc->n_codes + 1));
		for (int c = 0; c <= rc->n_codes; c++)
		{
			bool		known = c < rc->n_codes ?
				FeatureCategoryIndex(col, rc->code_text[c]) >= 0 : has_null;

			slot[c] = -1;
			if (known)
				continue;
			slot[c] = n_unseen[j];
			unseen[j][n_unseen[j]].text = c < rc->n_codes ?
				rc->code_text[c] : NULL;
			unseen[j][n_unseen[j]].rows = 0;
			unseen[j][n_unseen[j]].in_train = false;
			n_unseen[j]++;
		}
		for (int64 r = 0; r < raw->n_rows; r++)
		{
			double		v = raw->values[r * raw->n_columns + j];
			int			s = slot[v < 0 ? rc->n_codes : (int) v];

			if (s < 0)
				continue;
			unseen[j][s].rows++;
			unseen[j][s].in_train |= is_train[r];
			row_unseen[r] = true;
		}
		/* only the categories that occur */
		{
			int			k = 0;

			for (int u = 0; u < n_unseen[j]; u++)
				if (unseen[j][u].rows > 0)
					unseen[j][k++] = unseen[j][u];
			n_unseen[j] = k;
		}
	}
	for (int64 r = 0; r < raw->n_rows; r++)
		n_rows_unseen += row_unseen[r];
	ReportUnseen(ws, raw, unseen, n_unseen, n_rows_unseen, extend, quiet);

	/* 3. */
	enc->n_columns = old->n_columns;
	enc->columns = palloc0(sizeof(FeatureColumn) * Max(old->n_columns, 1));
	for (int j = 0; j < old->n_columns; j++)
	{
		const FeatureColumn *oc = &old->columns[j];
		FeatureColumn *nc = &enc->columns[j];
		int			n = oc->n_categories;

		*nc = *oc;
		nc->offset = offset;
		nc->n_null = raw->columns[j].n_null;
		if (oc->kind == FEATURE_CATEGORICAL && extend)
		{
			nc->categories = palloc(sizeof(char *) *
									(oc->n_categories + n_unseen[j] + 1));
			memcpy(nc->categories, oc->categories,
				   sizeof(char *) * oc->n_categories);
			for (int u = 0; u < n_unseen[j]; u++)
				if (unseen[j][u].in_train)
					nc->categories[n++] = unseen[j][u].text == NULL ? NULL :
						pstrdup(unseen[j][u].text);
			if (n > LRML_MAX_CATEGORIES)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("column \"%s\" would have more than %d categories",
								nc->name, LRML_MAX_CATEGORIES),
						 errdetail("Version %d has %d, and the new rows add %d.",
								   ws->version, oc->n_categories,
								   n - oc->n_categories),
						 errhint("Group rare values, or train a new model.")));
			qsort(nc->categories, n, sizeof(char *), CompareCategories);
			nc->n_categories = n;
			nc->width = n;
		}
		for (int c = 0; c < oc->width; c++)
		{
			int			k = c;

			if (oc->kind == FEATURE_CATEGORICAL && extend)
				for (k = 0; k < nc->n_categories; k++)
					if (CompareCategories(&nc->categories[k],
										  &oc->categories[c]) == 0)
						break;
			map[oc->offset + c] = offset + k;
		}
		offset += nc->width;
	}
	FeatureEncodingSetInputs(enc, offset);
	for (int k = 0; k < old->n_inputs; k++)
	{
		enc->center[map[k]] = old->center[k];
		enc->scale[map[k]] = old->scale[k];
	}
	*input_map = map;
	return enc;
}

/*
 * Map a parameter vector over d_old inputs onto d_new inputs.  Both
 * families start with one block of stride entries per input (a linear
 * model's weight, an mlp's row of W_1), followed by tail entries that do
 * not depend on the inputs (the bias; b_1 and the later layers); a new
 * input's block is 0.
 */
static void
RemapVector(const double *src, const int *input_map, int d_old, int d_new,
			int stride, int tail, double *dst)
{
	memset(dst, 0, sizeof(double) * ((Size) d_new * stride + tail));
	for (int k = 0; k < d_old; k++)
		memcpy(dst + (Size) input_map[k] * stride, src + (Size) k * stride,
			   sizeof(double) * stride);
	memcpy(dst + (Size) d_new * stride, src + (Size) d_old * stride,
		   sizeof(double) * tail);
}

/*
 * Set the starting parameters (and optimizer state, unless reset) of a
 * warm-started run of n_params parameters over d_new inputs into
 * *theta and *optimizer (NULL when the run starts from a fresh state).
 */
void
WarmStartParams(const WarmStart *ws, const TrainOptions *opts,
				const int *input_map, int d_new, int n_params,
				double **theta, OptimizerState **optimizer)
{
	const LrmlModel *m = ws->stored->model;
	int			d_old = m->encoding->n_inputs;
	bool		mlp = m->kind == MODEL_MLP;
	int			stride = mlp ? m->mlp.hidden[0] : 1;
	int			n_old = mlp ? m->n_weights : d_old + 1;
	int			tail = n_old - d_old * stride;
	double	   *old = palloc(sizeof(double) * n_old);
	OptimizerState *o;

	if (tail < 0 || n_params != d_new * stride + tail)
		elog(ERROR, "warm start of %d parameters over %d inputs from %d over %d",
			 n_params, d_new, n_old, d_old);
	memcpy(old, m->w, sizeof(double) * (mlp ? n_old : d_old));
	if (!mlp)
		old[d_old] = m->bias;
	*theta = palloc(sizeof(double) * n_params);
	RemapVector(old, input_map, d_old, d_new, stride, tail, *theta);

	*optimizer = NULL;
	if (ws->optimizer == NULL)
		return;
	if (ws->optimizer->n != n_old)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("version %d of model \"%s\" is corrupt",
						ws->version, ws->stored->name),
				 errdetail("Its optimizer state has %d entries for %d parameters.",
						   ws->optimizer->n, n_old)));
	o = OptimizerCreate(&opts->optimizer, n_params);
	o->t = ws->optimizer->t;
	if (o->m != NULL && ws->optimizer->m != NULL)
		RemapVector(ws->optimizer->m, input_map, d_old, d_new, stride, tail,
					o->m);
	if (o->v != NULL && ws->optimizer->v != NULL)
		RemapVector(ws->optimizer->v, input_map, d_old, d_new, stride, tail,
					o->v);
	*optimizer = o;
}
