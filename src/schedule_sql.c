/*-------------------------------------------------------------------------
 *
 * schedule_sql.c
 *	  lrml.schedule: preview the learning rates of a set of options.
 *
 * lrml.schedule(options, epochs, steps_per_epoch) parses options exactly as
 * a training call does (OptionsParse, so unrecognized keys and bad values
 * fail in the same way), resolves the schedule for a run of epochs epochs
 * of steps_per_epoch updates each (ScheduleResolve), and returns one row
 * per update: (epoch, step, lr), step being the update's position in its
 * epoch.  The rate of a row is ScheduleRate at
 *
 *	  t = epoch * steps_per_epoch + step   with schedule_unit "step"
 *	  t = epoch                            with schedule_unit "epoch"
 *
 * which is the rate the training loop uses for that update, so the
 * preview and a training run agree exactly; that includes the factor of
 * lr_scaling, computed from the options' batch_size and base_batch_size.
 * With steps_per_epoch 1 there is one row per epoch, step 0.  The "epochs"
 * key of options, if any, is checked like any other key but the epochs
 * argument sets the length.
 *
 * This file reads no tables; the rates themselves live in schedule.c.  A
 * schedule that depends on the loss (plateau) has no preview.
 *
 * src/schedule_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/jsonb.h"

#include "lrml.h"

/* Most rows a preview may return */
#define SCHEDULE_MAX_ROWS	1000000

PG_FUNCTION_INFO_V1(lrml_schedule);

/*
 * lrml.schedule(options jsonb, epochs int, steps_per_epoch int DEFAULT 1)
 *	  RETURNS TABLE (epoch int, step int, lr float8)
 *
 * 1. Check the run's length: epochs and steps_per_epoch at least 1, and
 *	  at most SCHEDULE_MAX_ROWS updates in all.
 * 2. Parse the options, refuse plateau, and resolve the schedule for the
 *	  run.
 * 3. Emit one row per update, in order.
 */
Datum
lrml_schedule(PG_FUNCTION_ARGS)
{
	Jsonb	   *options = PG_GETARG_JSONB_P(0);
	int32		epochs = PG_GETARG_INT32(1);
	int32		steps_per_epoch = PG_GETARG_INT32(2);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TrainOptions opts;

	/* 1. */
	if (epochs < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"epochs\" must be greater than zero"),
				 errdetail("The value given was %d.", epochs)));
	if (steps_per_epoch < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"steps_per_epoch\" must be greater than zero"),
				 errdetail("The value given was %d.", steps_per_epoch)));
	if ((int64) epochs * steps_per_epoch > SCHEDULE_MAX_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("schedule preview would have more than %d rows",
						SCHEDULE_MAX_ROWS),
				 errdetail("%d epochs of %d steps each make " INT64_FORMAT " rows.",
						   epochs, steps_per_epoch,
						   (int64) epochs * steps_per_epoch),
				 errhint("Preview fewer epochs, or fewer steps per epoch.")));

	/* 2. */
	OptionsParse(options, &opts);
	if (opts.schedule.kind == SCHEDULE_PLATEAU)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot preview learning rate schedule \"plateau\""),
				 errdetail("Its rate depends on the validation loss of each epoch."),
				 errhint("Train the model and read the \"lr\" column of the result.")));
	ScheduleResolve(&opts.schedule, epochs, steps_per_epoch);

	/* 3. */
	InitMaterializedSRF(fcinfo, 0);
	for (int32 epoch = 0; epoch < epochs; epoch++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int32 step = 0; step < steps_per_epoch; step++)
		{
			int64		t = opts.schedule.unit_step ?
				(int64) epoch * steps_per_epoch + step : epoch;
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			values[0] = Int32GetDatum(epoch);
			values[1] = Int32GetDatum(step);
			values[2] = Float8GetDatum(ScheduleRate(&opts.schedule, t));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
								 values, nulls);
		}
	}

	return (Datum) 0;
}
