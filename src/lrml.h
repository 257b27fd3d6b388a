/*-------------------------------------------------------------------------
 *
 * lrml.h
 *	  Shared types, limits and cross-file prototypes of lrml.
 *
 * Each .c file owns one concern (see the file headers); this header is the
 * only place where their interfaces meet.  Model families never include
 * cblas.h or call SPI themselves: they go through linalg.c and dataset.c.
 *
 * src/lrml.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LRML_H
#define LRML_H

#include "postgres.h"

#include <math.h>

#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "access/tupdesc.h"
#include "nodes/execnodes.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/jsonb.h"

/* Version of the stored model payload; the loader refuses others. */
#define LRML_FORMAT_VERSION		1

/* Largest number of encoded inputs a model may have. */
#define LRML_MAX_INPUTS			100000

/* Largest number of distinct categories of one text feature. */
#define LRML_MAX_CATEGORIES		10000

/*
 * Largest magnitude of a feature or numeric label.  Squares and sums of
 * values up to this bound stay finite in double precision.
 */
#define LRML_MAX_ABS_VALUE		1e150

/* Longest model name, in bytes */
#define LRML_MAX_NAME_BYTES		1000

/*
 * Least eps of the adaptive optimizers: far above sqrt(DBL_MIN), so that
 * a second moment below DBL_MIN, taken as 0 (optimizer.c), does not
 * change a step.
 */
#define LRML_MIN_EPS			1e-150

/* Most latent factors of a recommender (option factors) */
#define LRML_MAX_FACTORS		1024

/*
 * Largest magnitude of a recommender's stored factor and of its
 * biases.  A dot product of two factor rows then stays below 1024 * 1e32,
 * far inside float4's range (scoring sums it in single precision), and a
 * score (mean + biases + dot product) stays finite in double.  Training
 * refuses to store, and the payload reader to load, anything larger.
 */
#define LRML_MF_MAX_ABS_FACTOR	1e16
#define LRML_MF_MAX_ABS_BIAS	1e300

/*
 * Recommender defaults, chosen by measurement on MovieLens 100k (README,
 * "Recommenders"): plain sgd with the cosine schedule over the run.
 */
#define LRML_MF_DEFAULT_LR			0.01
#define LRML_MF_DEFAULT_EPOCHS		100
#define LRML_MF_DEFAULT_VALIDATION	0.0
#define LRML_MF_DEFAULT_FACTORS		100
#define LRML_MF_DEFAULT_REG			0.08
#define LRML_BPR_DEFAULT_LR			0.1
#define LRML_BPR_DEFAULT_EPOCHS		50
#define LRML_BPR_DEFAULT_FACTORS	64
#define LRML_BPR_DEFAULT_REG		0.01

/* Most steps of a learning-rate range test (option num_steps) */
#define LRML_MAX_LR_FIND_STEPS	100000

/* Most hidden layers of a multilayer perceptron, and units per layer */
#define LRML_MLP_MAX_LAYERS		8
#define LRML_MLP_MAX_UNITS		4096

/* Settings and shared helpers (lrml.c) */
extern int	lrml_memory_limit_kb;
extern int	lrml_blas_threads;
extern void LrmlAppendJsonNumber(StringInfo buf, double v);

/*
 * Model kinds.  The numeric values are stored in payloads: never renumber.
 */
typedef enum ModelKind
{
	MODEL_LOGISTIC = 1,
	MODEL_LINEAR = 2,
	MODEL_MLP = 3,
	MODEL_MF = 4,				/* recommenders: mf.c */
	MODEL_BPR = 5
} ModelKind;

/* Is the kind a recommender (lrml.train_recommender)? */
#define MODEL_IS_RECOMMENDER(kind) \
	((kind) == MODEL_MF || (kind) == MODEL_BPR)

/*
 * Hidden-layer activations of a multilayer perceptron.  The numeric values
 * are stored in payloads: never renumber.
 */
typedef enum MlpActivation
{
	MLP_RELU = 1,
	MLP_TANH = 2
} MlpActivation;

/*
 * The shape of a multilayer perceptron (mlp.c): n_hidden hidden layers of
 * hidden[] units after the encoded inputs, then one output unit, sigmoid
 * for a classifier and identity otherwise.
 */
typedef struct MlpShape
{
	int			n_hidden;
	int			hidden[LRML_MLP_MAX_LAYERS];
	MlpActivation activation;
} MlpShape;

/*
 * Learning-rate schedules.  A schedule is a pure function of the step t
 * (counted from 0 in the schedule's unit); see schedule.c.
 */
typedef enum ScheduleKind
{
	SCHEDULE_CONSTANT = 1,
	SCHEDULE_STEP,
	SCHEDULE_EXPONENTIAL,
	SCHEDULE_COSINE,
	SCHEDULE_MULTISTEP,
	SCHEDULE_INVERSE_TIME,
	SCHEDULE_POLYNOMIAL,
	SCHEDULE_COSINE_RESTARTS,
	SCHEDULE_CYCLIC,
	SCHEDULE_ONE_CYCLE,
	SCHEDULE_PLATEAU			/* driven by the loss: not in schedule.c */
} ScheduleKind;

/* Policies of the cyclic schedule (Smith 2017) */
typedef enum CyclicMode
{
	CYCLIC_TRIANGULAR = 1,
	CYCLIC_TRIANGULAR2,
	CYCLIC_EXP_RANGE
} CyclicMode;

typedef struct LearningSchedule
{
	ScheduleKind kind;
	double		base_lr;		/* option learning_rate */
	double		rate_scale;		/* lr_scaling factor applied to every rate */
	bool		unit_step;		/* schedule_unit: false = epoch, true = step */
	/* warm-up: as given, and resolved to units of the schedule */
	int			warmup_epochs;
	int64		warmup_steps;
	int64		warmup;
	/* step, cyclic (half-cycle) */
	int			step_size;
	/* step, exponential, multistep, cyclic (exp_range) */
	double		gamma;
	/* cosine, polynomial, one_cycle: total units (0 until resolved) */
	int64		total;
	/* cosine, cosine_restarts: floor */
	double		min_lr;
	/* multistep: strictly increasing milestones */
	int			n_milestones;
	int64	   *milestones;
	/* inverse_time: decay; inverse_time, polynomial: power */
	double		decay;
	double		power;
	/* polynomial: final rate */
	double		end_lr;
	/* cosine_restarts: first period and its growth factor */
	int64		period;
	int			mult;
	/* cyclic: bounds and policy; cyclic, one_cycle: peak */
	double		cyclic_base_lr;
	double		max_lr;
	CyclicMode	cyclic_mode;
	/* one_cycle */
	double		pct_start;
	double		div_factor;
	double		final_div_factor;
	/* plateau: cut by factor after more than patience flat epochs */
	double		plateau_factor;
	int			plateau_patience;
	double		plateau_threshold;
	int			plateau_cooldown;
} LearningSchedule;

/*
 * Optimizers.  An optimizer knows nothing about models or tables: it turns
 * a gradient into an update of a double vector; see optimizer.c.
 */
typedef enum OptimizerKind
{
	OPTIMIZER_SGD = 1,
	OPTIMIZER_ADAM = 2,
	OPTIMIZER_ADAGRAD = 3,
	OPTIMIZER_RMSPROP = 4,
	OPTIMIZER_ADAMW = 5
} OptimizerKind;

typedef struct OptimizerConfig
{
	OptimizerKind kind;
	double		momentum;		/* sgd */
	bool		nesterov;		/* sgd */
	double		beta1;			/* adam, adamw */
	double		beta2;			/* adam, adamw */
	double		eps;			/* adagrad, rmsprop, adam, adamw */
	double		rho;			/* rmsprop */
	double		weight_decay;	/* adamw */
} OptimizerConfig;

typedef struct OptimizerState
{
	OptimizerConfig config;
	int			n;				/* length of the parameter vector */
	int64		t;				/* updates taken so far */
	double	   *m;				/* sgd: velocity; adam, adamw: first moment */
	double	   *v;				/* adam, adamw, rmsprop: second moment;
								 * adagrad: sum of squares; NULL otherwise */
} OptimizerState;

/* Scaling of the rate with the batch size (option lr_scaling) */
typedef enum LrScaling
{
	LR_SCALING_NONE = 0,
	LR_SCALING_LINEAR,
	LR_SCALING_SQRT
} LrScaling;

/* "warm_start": true, i.e. the deployed version */
#define WARM_START_DEPLOYED		(-1)

/*
 * Every option of a training call, defaults filled in (options.c).
 */
typedef struct TrainOptions
{
	ModelKind	model;
	OptimizerConfig optimizer;
	MlpShape	mlp;			/* mlp: hidden, activation */
	double		dropout;		/* mlp: probability of dropping a unit */
	LearningSchedule schedule;
	int			epochs;
	int			batch_size;
	LrScaling	lr_scaling;
	int			base_batch_size;	/* lr_scaling: batch size of the rate */
	double		l2;
	double		l1;				/* proximal L1 on weights (0: none) */
	double		validation_fraction;
	int64		seed;
	bool		class_weight_balanced;
	double		class_weight;	/* weight of a positive row, if not balanced */
	char	   *positive_class; /* NULL when not given */
	bool		verbose;		/* report each epoch at INFO */
	bool		early_stopping;
	int			es_patience;	/* epochs without improvement */
	double		es_min_delta;	/* least decrease that counts */
	bool		divergence_error;	/* divergence "error"; else back off */
	bool		quiet;			/* not an option: per-run notices at DEBUG1
								 * (the trials of lrml.tune) */
	bool		model_given;	/* "model" was given, not defaulted */
	int32		warm_start;		/* 0: none; a version, or WARM_START_DEPLOYED */
	bool		reset_optimizer;	/* warm start: fresh optimizer state */
	bool		extend_categories;	/* warm start: add new categories */
	bool		full_batch;		/* mode "full_batch"; else "minibatch" */
	bool		aggregate;		/* parsed for an aggregate (lrml.fit...) */
	bool		recommender;	/* parsed for a recommender call */
	bool		group_error_fail;	/* on_group_error "error"; else NULL */
	/* set by TrainPrepare: logistic, or mlp on a two-class label */
	bool		classifier;
	/* the range test (lrml.lr_find) only */
	bool		lr_find;		/* parsed for a range test */
	double		start_lr;		/* rate of the first step */
	double		end_lr;			/* rate of the last step */
	int			num_steps;		/* steps, at least 2 */
	/* recommenders (mf.c) only */
	int			factors;		/* latent dimensions k */
	double		reg;			/* L2 on the factors */
	double		reg_bias;		/* L2 on the biases */
	bool		biases;			/* learn user and item biases */
	int			negatives;		/* bpr: sampled negatives per positive */
	double		positive_threshold; /* bpr: NaN, or least positive rating */
} TrainOptions;

/*
 * Feature encoding, learned from the training rows and replayed when
 * scoring.  Each source column becomes one or more encoded inputs; input j
 * is scaled as (raw_j - center[j]) / scale[j].
 */
typedef enum FeatureKind
{
	FEATURE_NUMERIC = 1,		/* integer, floating point, numeric */
	FEATURE_BOOLEAN = 2,		/* 0/1, not scaled */
	FEATURE_CATEGORICAL = 3		/* text, varchar, char, enum: one-hot */
} FeatureKind;

typedef struct FeatureColumn
{
	char	   *name;
	FeatureKind kind;
	int			offset;			/* first encoded input of this column */
	int			width;			/* encoded inputs: 1, or n_categories */
	double		fill;			/* numeric, boolean: raw value for NULL */
	int			n_categories;	/* categorical: sorted, NULL category last */
	char	  **categories;		/* categories[i] is NULL for the NULL one */
	int64		n_null;			/* NULLs among the training rows */
} FeatureColumn;

typedef struct FeatureEncoding
{
	int			n_columns;
	FeatureColumn *columns;
	int			n_inputs;
	double	   *center;			/* per input */
	double	   *scale;			/* per input, never 0 */
} FeatureEncoding;

/*
 * A trained model, as decoded for scoring.
 *
 * Linear and logistic: score = bias + sum_j w[j] * (raw_j - center[j]) /
 * scale[j].  mlp: score is the output unit of the network (mlp.c) over the
 * inputs (raw_j - center[j]) / scale[j], with all its parameters in w.  A
 * classifier returns sigmoid(score), a regression y_center + y_scale *
 * score.
 */
typedef struct LrmlModel
{
	ModelKind	kind;
	bool		classifier;		/* logistic, or mlp on a two-class label */
	FeatureEncoding *encoding;
	int			n_weights;		/* length of w */
	double	   *w;				/* linear: one weight per encoded input;
								 * mlp: every parameter (mlp.c) */
	double		bias;			/* linear only; 0 for mlp */
	MlpShape	mlp;			/* mlp only */
	double		y_center;		/* linear: target standardization */
	double		y_scale;
	char	   *label;			/* label column name */
	char	   *positive_label; /* logistic: text of the positive class */
	char	   *negative_label;
	struct MfModel *mf;			/* recommenders: all of the model (mf.h) */
} LrmlModel;

/*
 * A stored model version as read from lrml.models (model_store.c).
 */
typedef struct StoredModel
{
	int64		id;
	char	   *name;
	int32		version;
	char	   *source;			/* relation or query text trained on */
	LrmlModel  *model;
} StoredModel;

/*
 * One epoch of a training curve (one row of lrml.train's result).
 */
#define LRML_EVENT_LEN 64

typedef struct EpochRecord
{
	int			epoch;
	double		lr;
	double		train_loss;
	double		valid_loss;		/* NaN when there is no validation split */
	double		valid_metric;	/* NaN when there is no validation split */
	char		event[LRML_EVENT_LEN];	/* "" for none */
} EpochRecord;

/*
 * Raw training data as read by dataset.c, before encoding (features.c).
 * values is row-major, one double per column: numeric and boolean columns
 * hold the value, NaN for NULL (NaN input is rejected while loading, so NaN
 * is free to mark NULL); categorical columns hold a code, -1 for NULL,
 * with the text of each code in code_text.  Raw values are kept in double
 * so that tiny or offset values keep their precision until standardized;
 * the training matrix built from them is float4.
 */
typedef struct RawColumn
{
	char	   *name;
	Oid			typid;
	FeatureKind kind;
	int64		n_null;			/* NULLs among the rows read */
	int			n_codes;		/* categorical */
	char	  **code_text;
} RawColumn;

#define LRML_MAX_LABEL_VALUES 10

/* How DatasetLoad reads the label */
typedef enum LabelMode
{
	LABEL_CLASSES,				/* as classes, by text */
	LABEL_NUMBER,				/* as a number: must be numeric */
	LABEL_BY_TYPE				/* a number if numeric, else classes */
} LabelMode;

typedef struct RawData
{
	char	   *relation;		/* as given by the caller */
	char	   *source;			/* query text as given, or the resolved
								 * schema-qualified name */
	char	   *label;			/* label column name */
	Oid			label_typid;
	bool		numeric_label;	/* y holds values, not class codes */
	int			n_columns;
	RawColumn  *columns;
	int64		n_rows;			/* rows with a non-NULL label */
	int64		n_null_label;	/* rows skipped for a NULL label */
	Size		text_bytes;		/* memory held by distinct category texts */
	double	   *values;			/* n_rows x n_columns, row-major */
	bool		values_shared;	/* values belong to another RawData */
	double	   *y;				/* linear: the value; else a label code */
	int			n_label_values; /* logistic: distinct labels (capped) */
	char	   *label_text[LRML_MAX_LABEL_VALUES + 1];
} RawData;

/*
 * Encoded training data: rows 0 .. n_train - 1 train, in an order shuffled
 * once by the seed, and the next n_valid rows validate.  y is 0/1 for
 * classifiers and the standardized target for linear models; a
 * classifier's row of class y weighs class_weight[y].
 */
typedef struct TrainSet
{
	int64		n_train;
	int64		n_valid;
	int			d;				/* encoded inputs per row */
	float	   *X;				/* (n_train + n_valid) x d, row-major */
	double	   *y;
	double		class_weight[2];	/* classifiers: weight of a row by class */
} TrainSet;

/*
 * What the shared training loop (train.c) needs from a model family: the
 * length of its parameter vector, the mean loss and its gradient over a
 * mini-batch, and the loss and metric on the validation rows.  The loop
 * owns schedules, optimizers, shuffling, interrupts and the curve.
 */
/* A run of a parameter vector: theta[start .. start + len - 1] */
typedef struct ParamRange
{
	int64		start;
	int64		len;
} ParamRange;

/* Most runs of weights a Learner has (an mlp: one per layer) */
#define LRML_MAX_WEIGHT_RANGES		16

typedef struct Learner
{
	int			n_params;

	/*
	 * The runs of theta that are weights rather than biases, and the L1
	 * penalty that shrinks them after every update (0: none; see
	 * TrainStep).
	 */
	int			n_weight_ranges;
	ParamRange	weight_ranges[LRML_MAX_WEIGHT_RANGES];
	double		l1;
	/* fill the starting parameters; NULL starts from zeros */
	void		(*init) (void *arg, double *theta);
	/* mean loss of rows first .. first + n - 1; gradient into grad */
	double		(*batch_gradient) (void *arg, int64 first, int n,
								   const double *theta, double *grad);
	/* loss and metric over the validation rows */
	void		(*validate) (void *arg, const double *theta, double *loss,
							 double *metric);

	/*
	 * Optional, for families whose rows each touch a few parameters (mf.c):
	 * apply the family's own sparse updates for rows first .. first + n - 1
	 * at rate lr, through OptimizerSparseStep, and return their mean loss.
	 * When set, batch_gradient is not called.
	 */
	double		(*run_batch) (void *arg, int64 first, int n, double *theta,
							  OptimizerState *optimizer, double lr);
	void	   *arg;
} Learner;

/* schedule.c */
extern void ScheduleResolve(LearningSchedule *s, int epochs,
							int64 steps_per_epoch);
extern double ScheduleRate(const LearningSchedule *s, int64 t);
extern const char *ScheduleName(ScheduleKind kind);
extern bool ScheduleFromName(const char *name, ScheduleKind *kind);

/* optimizer.c */
extern OptimizerState *OptimizerCreate(const OptimizerConfig *config, int n);
extern void OptimizerStep(OptimizerState *state, double *w, const double *grad,
						  double lr);
extern void OptimizerSparseStep(OptimizerState *state, int64 slot, double *w,
								const double *grad, int n, double lr);
extern void OptimizerShrink(const OptimizerState *state, double *w,
							int64 start, int64 len, double lr, double l1);
extern bool OptimizerHasSparseStep(const OptimizerConfig *config);
extern void OptimizerCopy(OptimizerState *dst, const OptimizerState *src);
extern void OptimizerWrite(StringInfo buf, const OptimizerState *state);
extern OptimizerState *OptimizerRead(StringInfo buf);
extern const char *OptimizerName(OptimizerKind kind);
extern bool OptimizerFromName(const char *name, OptimizerKind *kind);

/* options.c */
extern void OptionsDefaults(TrainOptions *opts);
extern void OptionsParse(Jsonb *options, TrainOptions *opts);
extern void OptionsParseLrFind(Jsonb *options, TrainOptions *opts);
extern void OptionsParseRecommender(Jsonb *options, TrainOptions *opts);
extern void OptionsParseAggregate(Jsonb *options, TrainOptions *opts);
extern void AggregateCheckOptions(Jsonb *first, Jsonb *options,
								  const char *aggregate);
extern void OptionsParseAggregateRecommender(Jsonb *options,
											 TrainOptions *opts);
extern Jsonb *OptionsToJsonb(const TrainOptions *opts);
extern const char *ModelKindName(ModelKind kind);
extern char *OptionsDescribeValue(JsonbValue *v);

/* features.c */
extern FeatureKind FeatureKindForType(Oid typid);
extern double FeatureNumericToDouble(Datum value);
extern void FeatureRejectNumber(const char *column, double v)
			pg_attribute_noreturn();
extern int	FeatureCategoryIndex(const FeatureColumn *col, const char *value);
extern int	FeatureCategoryIndexLen(const FeatureColumn *col,
									const char *value, int len);
extern void FeatureCheckType(const FeatureColumn *col, Oid typid);
extern void FeatureEncodingWrite(StringInfo buf, const FeatureEncoding *enc);
extern FeatureEncoding *FeatureEncodingRead(StringInfo buf);
extern Jsonb *FeatureEncodingToJsonb(const FeatureEncoding *enc);
extern void FeatureEncodingSetInputs(FeatureEncoding *enc, int n_inputs);
extern FeatureEncoding *FeatureEncodingBuild(const RawData *raw,
											 const bool *is_train);
extern float *FeatureMatrixBuild(const RawData *raw,
								 const FeatureEncoding *enc,
								 const int64 *rows, int64 n_rows);

/* dataset.c */
extern char *DatasetFromClause(const char *relation);
extern bool DatasetIsQuery(const char *relation);
extern const char *DatasetLabelDisplay(const char *text, bool is_bool);
extern int	DatasetFindColumn(TupleDesc tupdesc, const char *name);
extern char *DatasetTextValue(Datum value, Oid typid, FmgrInfo *outfunc);
extern RawData *DatasetLoad(const char *relation, const char *label,
							ArrayType *features, LabelMode mode);
extern void DatasetCheckMemory(Size bytes);
struct _SPI_plan;
extern double DatasetEstimatedRows(struct _SPI_plan *plan);

/* model_store.c */
extern bytea *ModelStoreSerialize(const LrmlModel *model);
extern LrmlModel *ModelStoreDeserialize(bytea *payload);
extern int32 ModelStoreSave(const char *name, const char *source,
							const LrmlModel *model, Jsonb *options,
							Jsonb *metrics, bytea *optimizer_state,
							const EpochRecord *curve, int n_epochs,
							int32 parent_version);
extern void ModelStoreReadRow(const char *name, int32 *version,
							  bytea **payload, Jsonb **options,
							  Jsonb **metrics);
extern StoredModel *ModelStoreLoadVersion(const char *name, int32 version,
										  bytea **optimizer_state);
extern void ModelStoreReportCorrupt(const char *name, int32 version,
									const char *detail) pg_attribute_noreturn();
extern bool ModelStoreVersionKind(const char *name, int32 version,
								  ModelKind *kind);
extern void ModelStoreCheckWritable(const char *name);
extern int64 ModelStoreLookup(const char *name, int32 *version,
							  Oid *store_relid);
extern StoredModel *ModelStoreLoadById(int64 id, MemoryContext mcxt);
extern Oid	ModelStoreTrainedBy(int64 id);

/* aggregates.c: the lrml.model value type; the source of a saved value */
#define LRML_SAVE_SOURCE		"lrml.save"

/* Train one group of an aggregate into an lrml.model value (or fail) */
typedef bytea *(*AggregateTrainer) (const void *state, TrainOptions *opts,
									MemoryContext result_cxt);
extern bytea *AggregateTrainGroup(FunctionCallInfo fcinfo,
								  const char *aggname,
								  AggregateTrainer train, const void *state,
								  TrainOptions *opts);
extern bytea *ModelValueBuild(const LrmlModel *model, Jsonb *options,
							  Jsonb *metrics);
extern LrmlModel *ModelValueDecode(bytea *value, Jsonb **options,
								   Jsonb **metrics);

/* One trial of a search, as stored in lrml.trials (tune.c) */
typedef struct TrialRecord
{
	int			trial;
	Jsonb	   *params;
	bool		ok;
	char	   *reason;			/* NULL unless failed */
	double		valid_loss;		/* NaN when failed */
	double		valid_metric;
	bool		best;
	double		seconds;
} TrialRecord;

extern void ModelStoreSaveTrials(const char *name, int32 version,
								 const TrialRecord *trials, int n);

/* logreg.c */
extern Learner *LogregLearner(const TrainSet *data, ModelKind kind,
							  double l2, double y_scale, int batch_size);

/* mlp.c */
extern int64 MlpParamCount(int n_inputs, const MlpShape *shape);
extern Learner *MlpLearner(const TrainSet *data, const TrainOptions *opts,
						   double y_scale);
extern double MlpForward(const LrmlModel *model, const double *x,
						 double *scratch);
extern int	MlpScratchSize(const LrmlModel *model);
extern const char *MlpActivationName(MlpActivation activation);

/*
 * The stored version a warm start begins from (warm_start.c): its model
 * and, unless reset, its optimizer state.
 */
typedef struct WarmStart
{
	int32		version;
	StoredModel *stored;
	OptimizerState *optimizer;	/* NULL: start from a fresh state */
	bytea	   *state_bytes;	/* the stored optimizer state, or NULL */
} WarmStart;

/*
 * The data of a training run, prepared from a relation by TrainPrepare:
 * the rows as read (their double-precision values already freed), the
 * model being fitted (label, classes and encoding set, no weights yet),
 * the encoded split and the model family's Learner over it.
 */
typedef struct TrainInput
{
	RawData    *raw;
	LrmlModel  *model;
	TrainSet	data;
	Learner    *learner;
	/* a warm start: the version, and where the run starts (else NULL) */
	const WarmStart *warm;
	int		   *input_map;		/* stored input -> input of this run */
	double	   *init_theta;
	OptimizerState *init_optimizer;
} TrainInput;

/* A trained run: weights, optimizer state and curve (TrainFit) */
typedef struct TrainFitResult
{
	double	   *theta;
	OptimizerState *optimizer;
	EpochRecord *curve;
	int			n_epochs;
} TrainFitResult;

/* train.c */
extern char *TrainRequiredText(FunctionCallInfo fcinfo, int argno,
							   const char *argname);
extern Jsonb *TrainOptionsArg(FunctionCallInfo fcinfo, int argno);
extern void TrainPrepare(const char *relation, const char *label,
						 ArrayType *features, TrainOptions *opts,
						 const WarmStart *warm, TrainInput *in);
extern LabelMode TrainLabelMode(const TrainOptions *opts,
								const WarmStart *warm);
extern RawData *TrainLoad(const char *relation, const char *label,
						  ArrayType *features, const TrainOptions *opts,
						  const WarmStart *warm);
extern void TrainPrepareLoaded(RawData *raw, bool shared, TrainOptions *opts,
							   const WarmStart *warm, TrainInput *in);
extern void TrainCheckStorable(const char *name, const char *what);
extern void TrainTooFewRows(const char *relation, int64 n_valid,
							const char *detail) pg_attribute_noreturn();
extern void TrainFit(const char *name, TrainOptions *opts, TrainInput *in,
					 TrainFitResult *fit);
extern Jsonb *TrainMetrics(const TrainInput *in, const TrainFitResult *fit);
extern int32 TrainStore(const char *name, const TrainOptions *opts,
						const TrainInput *in, const TrainFitResult *fit,
						Jsonb *extra_metrics);
extern void TrainResolveLabels(RawData *raw, const TrainOptions *opts,
							   LrmlModel *model);
extern void TrainReturnCurve(ReturnSetInfo *rsinfo, const EpochRecord *curve,
							 int n_epochs);
extern void TrainAppendSparsity(StringInfo buf, const Learner *learner,
								const double *theta);
extern void TrainStep(const Learner *learner, OptimizerState *optimizer,
					  double *theta, const double *grad, double lr);
extern int	TrainLoop(const char *model_name, const TrainOptions *opts,
					  const Learner *learner, int64 n_train, double *theta,
					  OptimizerState *optimizer, uint64 seed,
					  EpochRecord *curve);

/* full_batch.c */
extern void FullBatchTrain(ReturnSetInfo *rsinfo, const char *name,
						   const char *relation, const char *label,
						   ArrayType *features, TrainOptions *opts);

/* warm_start.c */
extern Jsonb *WarmStartOptions(const char *name, Jsonb *options);
extern WarmStart *WarmStartLoad(const char *name, Jsonb *options,
								TrainOptions *opts);
extern WarmStart *WarmStartPeek(const char *name, const TrainOptions *opts);
extern WarmStart *WarmStartCheck(const WarmStart *version, Jsonb *options,
								 TrainOptions *opts);
extern ArrayType *WarmStartFeatures(const WarmStart *ws, ArrayType *features);
extern FeatureEncoding *WarmStartEncoding(const WarmStart *ws,
										  const RawData *raw,
										  const bool *is_train, bool extend,
										  bool quiet, int **input_map);
extern void WarmStartParams(const WarmStart *ws, const TrainOptions *opts,
							const int *input_map, int d_new, int n_params,
							double **theta, OptimizerState **optimizer);

/* Options of lrml.evaluate (score.c) */
typedef struct EvaluateOptions
{
	int			k;				/* recommenders: metrics at k, default 10 */
	bool		has_threshold;	/* threshold was given */
	double		threshold;		/* classifiers: probability of a positive;
								 * recommenders: least relevant rating */
} EvaluateOptions;

extern void ScoreEvaluateOptions(Jsonb *options, bool recommender,
								 EvaluateOptions *eo);

/* linalg.c */
extern void LinalgSetThreads(int n);
extern void LinalgGemvF4(int m, int n, const float *A, bool transpose,
						 const float *x, float *y);
extern bool LinalgCholesky(int n, double *A);
extern void LinalgCholeskySolve(int n, const double *L, int nrhs, double *B);
extern void LinalgGemvF8(int m, int n, const double *A, bool transpose,
						 const double *x, double *y);
extern void LinalgGemmF4(bool trans_a, bool trans_b, int m, int n, int k,
						 const float *A, const float *B, float beta,
						 float *C);

/* metrics.c */
extern double MetricAuc(const double *score, const double *y, int64 n);
extern double MetricLogLoss(const double *p, const double *y,
							const double *weight, int64 n);

/* Confusion matrix of a classifier at one threshold */
typedef struct MetricCounts
{
	int64		tp;
	int64		fp;
	int64		tn;
	int64		fn;
} MetricCounts;

extern void MetricConfusion(const double *p, const double *y, int64 n,
							double threshold, MetricCounts *counts);
extern double MetricAccuracy(const MetricCounts *c);
extern double MetricPrecision(const MetricCounts *c);
extern double MetricRecall(const MetricCounts *c);
extern double MetricF1(const MetricCounts *c);
extern double MetricRmse(const double *pred, const double *y, int64 n);
extern double MetricMae(const double *pred, const double *y, int64 n);
extern double MetricR2(const double *pred, const double *y, int64 n);

/*
 * Convert a value of a numeric or boolean base type to double.  The common
 * types convert inline, since loading and scoring do it for every value;
 * a NaN, an infinity or a number beyond LRML_MAX_ABS_VALUE is the
 * caller's to refuse (FeatureRejectNumber).
 */
static inline double
FeatureDatumToDouble(Datum value, Oid typid)
{
	switch (typid)
	{
		case FLOAT8OID:
			return DatumGetFloat8(value);
		case FLOAT4OID:
			return (double) DatumGetFloat4(value);
		case INT2OID:
			return (double) DatumGetInt16(value);
		case INT4OID:
			return (double) DatumGetInt32(value);
		case INT8OID:
			return (double) DatumGetInt64(value);
		case BOOLOID:
			return DatumGetBool(value) ? 1.0 : 0.0;
		case NUMERICOID:
			return FeatureNumericToDouble(value);
		default:
			elog(ERROR, "unexpected numeric feature type: %u", typid);
	}
	return 0.0;					/* keep compiler quiet */
}

/* Numerically stable logistic function. */
static inline double
LrmlSigmoid(double z)
{
	if (z >= 0)
		return 1.0 / (1.0 + exp(-z));
	else
	{
		double		e = exp(z);

		return e / (1.0 + e);
	}
}

#endif							/* LRML_H */
