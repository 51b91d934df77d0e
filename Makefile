EXTENSION = segmentation
EXTVERSION = 0.1

MODULE_big = segmentation
OBJS = src/behavior.o src/aggregates.o src/scores.o src/predicate.o src/stats.o
DATA = $(wildcard sql/segmentation--*.sql)

TESTS = $(sort $(wildcard test/sql/*.sql))
REGRESS = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION)

EXTRA_CLEAN = results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# pg_regress reads ./sql/T.sql before test/sql/T.sql: a test named like an
# install script would silently run that script instead.
$(foreach t,$(REGRESS),$(if $(wildcard sql/$(t).sql),$(error test/sql/$(t).sql is shadowed by sql/$(t).sql: rename the test)))

.PHONY: test demo bench
test:
	bash scripts/test.sh
demo:
	bash scripts/demo.sh

$(OBJS): src/behavior.h
