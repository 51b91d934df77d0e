#!/bin/bash
# drop and recreate the database state for a repro: DROP EXTENSION, roles, table; run setup.sql
source "${R17ENV:-/tmp/review17-env}"
$PGBIN/psql -X -q -d postgres <<'SQL' >/dev/null 2>&1
DROP EXTENSION IF EXISTS segmentation CASCADE;
DROP TABLE IF EXISTS public.ev CASCADE;
DROP TABLE IF EXISTS public.ev2 CASCADE;
DROP SCHEMA IF EXISTS r17 CASCADE;
DO $$ DECLARE r text; BEGIN FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'r17_%' LOOP
  EXECUTE format('DROP OWNED BY %I CASCADE', r); EXECUTE format('DROP ROLE %I', r); END LOOP; END $$;
SQL
$PGBIN/psql -X -q -v ON_ERROR_STOP=1 -d postgres -f "$(dirname "$0")/setup.sql"
