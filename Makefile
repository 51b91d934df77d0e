EXTENSION = segmentation
EXTVERSION = 0.2

MODULE_big = segmentation
OBJS = src/behavior.o src/aggregates.o src/scores.o src/predicate.o src/stats.o src/funnels.o src/operations.o src/guard.o src/privacy.o src/analyses.o src/capture.o src/node.o
# The install script is built from one hand-edited file per concern, in the
# order of their names; sql/segmentation--0.1.sql is the 0.1 release, kept for
# the upgrade chain.  The upgrade script from 0.1 is the same pieces between
# sql/upgrade-0.1--0.2-begin.sql (which moves 0.1's objects aside) and
# sql/upgrade-0.1--0.2-end.sql (which carries their rows over and drops
# them), without what 0.1 made already (the schema, the behavior type:
# between '-- >>>' and '-- <<<' lines).
PIECES = $(sort $(wildcard sql/[0-9]*.sql))
UPGRADE = $(EXTENSION)--0.1--$(EXTVERSION).sql
DATA_built = $(EXTENSION)--$(EXTVERSION).sql $(UPGRADE)
DATA = sql/segmentation--0.1.sql

TESTS = $(sort $(wildcard test/sql/*.sql))
REGRESS = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION)

EXTRA_CLEAN = results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The library's calls of its own functions bind to its own copy: a session
# that has the library loaded when a new file is installed loads the new one
# beside it (capture's library name, sql/60-capture.sql), and without this
# the new copy's calls went to the old copy's functions, the first of the
# name in the process (its _PG_init chained the old copy's utility hook to
# itself: test/operations.py, library_replaced_while_running).
# (GNU ld, gold and lld; not Apple's)
ifneq ($(PORTNAME),darwin)
SHLIB_LINK += -Wl,-Bsymbolic
endif

# pg_regress reads ./sql/T.sql before test/sql/T.sql: a test named like an
# install script would silently run that script instead.
$(foreach t,$(REGRESS),$(if $(wildcard sql/$(t).sql),$(error test/sql/$(t).sql is shadowed by sql/$(t).sql: rename the test)))

.PHONY: test demo bench
test:
	bash scripts/test.sh
demo:
	bash scripts/demo.sh

$(OBJS): src/behavior.h

$(EXTENSION)--$(EXTVERSION).sql: $(PIECES) Makefile
	( echo '-- $(EXTENSION) $(EXTVERSION): built by make from $(PIECES)'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; \
	  for f in $(PIECES); do echo; echo "-- ---- $$f"; cat $$f; done ) > $@

$(UPGRADE): sql/upgrade-0.1--0.2-begin.sql $(PIECES) sql/upgrade-0.1--0.2-end.sql Makefile
	( echo '-- $(EXTENSION) 0.1 to $(EXTVERSION): built by make from sql/upgrade-0.1--0.2-begin.sql, $(PIECES), sql/upgrade-0.1--0.2-end.sql'; \
	  printf '%s\n' '\echo Use "ALTER EXTENSION $(EXTENSION) UPDATE" to load this file. \quit'; \
	  for f in sql/upgrade-0.1--0.2-begin.sql $(PIECES) sql/upgrade-0.1--0.2-end.sql; do \
	    echo; echo "-- ---- $$f"; sed '/^-- >>>/,/^-- <<</d' $$f; done ) > $@
