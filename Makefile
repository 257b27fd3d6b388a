# lrml: PGXS build

EXTENSION = lrml
MODULE_big = lrml
DATA = lrml--0.1.0.sql
OBJS = \
	src/lrml.o \
	src/schedule.o \
	src/schedule_sql.o \
	src/optimizer.o \
	src/options.o \
	src/linalg.o \
	src/dataset.o \
	src/features.o \
	src/logreg.o \
	src/mlp.o \
	src/train.o \
	src/lr_find.o \
	src/model_store.o \
	src/score.o \
	src/metrics.o \
	src/tune.o \
	src/tune_bayes.o \
	src/warm_start.o \
	src/ratings.o \
	src/mf.o \
	src/mf_store.o \
	src/mf_score.o \
	src/aggregates.o \
	src/mf_aggregate.o \
	src/full_batch.o

TESTS = $(wildcard sql/*.sql)
REGRESS = $(patsubst sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=. --load-extension=lrml

PG_CONFIG ?= pg_config

# OpenBLAS (Debian: libopenblas-dev) for vector and matrix work.
BLAS_LIBS ?= -lopenblas
SHLIB_LINK += $(BLAS_LIBS) -lm

PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
ifeq ($(LRML_WERROR),1)
PG_CFLAGS += -Werror
endif

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every object depends on the shared headers: PGXS tracks no header
# dependencies, and an object built against an older layout of a shared
# struct corrupts memory.
$(OBJS): $(wildcard src/*.h)

# The mlp's element-wise loops over a batch (bias, relu and its gradient)
# run at the speed of its matrix products only when vectorized; -O2 keeps
# GCC's vectorizer to its "very cheap" cost model, which skips them.
src/mlp.o: override CFLAGS += -fvect-cost-model=dynamic

# The optimizers' per-parameter updates (a square root and a division per
# weight) vectorize only when sqrt need not set errno; their arguments are
# never negative, and the results are the same bit for bit.  This is not
# -ffast-math: every IEEE rule and NaN check still holds.
src/optimizer.o: override CFLAGS += -fno-math-errno -fvect-cost-model=dynamic

# TAP tests (test/t/*.pl) against temporary clusters of their own; run as
# a user other than root (initdb refuses root).  test/run_tests.sh runs
# them as the server user.
PGXS_TOPDIR := $(dir $(PGXS))../..
prove:
	PATH="$(bindir):$$PATH" PG_REGRESS="$(PGXS_TOPDIR)/src/test/regress/pg_regress" \
	TESTDIR="$(CURDIR)" prove -I $(PGXS_TOPDIR)/src/test/perl -I test/t test/t/*.pl

.PHONY: prove
