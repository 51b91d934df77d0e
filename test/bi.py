#!/usr/bin/python3
"""BI readiness and documentation suite.

* Reads every aggregate view through psycopg2 over TCP as a
  segmentation_reader role, the way a dashboard does (and user_scores, one
  row per user, as a segmentation_analyst role: a reader is refused it), and
  checks that every column arrives with a standard type (no custom type a BI
  tool could not read).
* Runs every SQL example of doc/bi.md as that reader.
* Checks that every public function, aggregate, view and table of the
  extension is named in doc/ and has a COMMENT, so the docs cannot silently
  fall behind.

Uses the libpq environment (PGHOST, PGPORT, PGUSER).
"""
import datetime
import os
import re

import psycopg2

from harness import Suite, connect, drop_database, fresh_database

DB = "segmentation_bi"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# bool, int8, int4, text, float8, timestamptz (and the user id's bigint)
STANDARD_OIDS = {16: "boolean", 20: "bigint", 23: "integer", 25: "text", 701: "double precision", 1184: "timestamptz"}
VIEWS = ["user_scores", "segment_summary", "segment_migration", "experiment_lift"]
PER_USER = {"user_scores"}   # read by an analyst; a reader is refused
suite = Suite("bi suite", stop_on_failure=False)
check = suite.check


SETUP = """
SET client_min_messages = warning;
CREATE EXTENSION segmentation;
CREATE TABLE ev (uid bigint, at timestamptz, name text, amount numeric);
INSERT INTO ev SELECT u, '2024-03-01'::timestamptz + (u * 13 + i * 7) % 40 * interval '1 day', (ARRAY['view','buy','search'])[1 + (u + i) % 3],
                      CASE WHEN (u + i) % 3 = 1 THEN 9.5 END
FROM generate_series(1, 300) u, generate_series(1, 1 + u % 9) i;
SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount');
SELECT segmentation.define_feature('search', '{search}');
SELECT segmentation.use_preset('engagement_ladder', signup_event => 'view', activation_event => 'search');
SELECT segmentation.use_preset('rfm');
SELECT segmentation.refresh(as_of => '2024-04-01');
CREATE TABLE ab (uid bigint, variant text, at timestamptz);
INSERT INTO ab SELECT u, CASE WHEN u % 2 = 0 THEN 'control' ELSE 'treatment' END, '2024-04-01 12:00+00' FROM generate_series(1, 300) u;
INSERT INTO ev SELECT uid, at + interval '2 days', 'buy', 20 FROM ab WHERE uid % 5 = 0;
SELECT segmentation.define_experiment('checkout_v2', 'ab', 'uid', 'variant', 'at', 'control', 'buy');
SELECT segmentation.refresh(as_of => '2024-04-10');
DROP ROLE IF EXISTS regress_bi_reader;
CREATE ROLE regress_bi_reader LOGIN IN ROLE segmentation_reader;
DROP ROLE IF EXISTS regress_bi_analyst;
CREATE ROLE regress_bi_analyst LOGIN IN ROLE segmentation_analyst;
"""


def main():
    conn, cur = fresh_database(DB, extension=False)
    cur.execute(SETUP)

    # a BI tool's connection: TCP, a reader role
    bi = connect(DB, host="127.0.0.1", port=os.environ.get("PGPORT", "5432"), user="regress_bi_reader")
    bcur = bi.cursor()
    analyst = connect(DB, host="127.0.0.1", port=os.environ.get("PGPORT", "5432"), user="regress_bi_analyst")
    for view in VIEWS:
        if view in PER_USER:
            try:
                bcur.execute(f"SELECT * FROM segmentation.{view} LIMIT 1")
                check(f"{view}: a reader is refused it", False)
            except psycopg2.errors.InsufficientPrivilege:
                check(f"{view}: a reader is refused it", True)
        vcur = analyst.cursor() if view in PER_USER else bcur
        vcur.execute(f"SELECT * FROM segmentation.{view} LIMIT 200")
        rows = vcur.fetchall()
        odd = [(d.name, d.type_code) for d in vcur.description if d.type_code not in STANDARD_OIDS]
        check(f"{view}: {len(vcur.description)} columns, all of standard types, read by psycopg2 as {len(rows)} rows",
              not odd and rows, odd)
        types = {type(v) for r in rows for v in r if v is not None}
        check(f"{view}: values arrive as plain Python values",
              types <= {int, float, str, bool, datetime.datetime}, types)

    # every SQL example of doc/bi.md runs, as the reader
    text = open(os.path.join(ROOT, "doc", "bi.md")).read()
    examples = re.findall(r"```sql\n(.*?)```", text, re.S)
    for sql in examples:
        if sql.lstrip().upper().startswith("CREATE ROLE"):
            continue
        # (per-user examples as the analyst, the others as the reader)
        ecur = analyst.cursor() if "user_scores" in sql else bcur
        try:
            ecur.execute(sql)
            ecur.fetchall()
            check(f"doc/bi.md example runs: {sql.strip().splitlines()[0][:70]}", True)
        except psycopg2.Error as e:
            check(f"doc/bi.md example runs: {sql.strip().splitlines()[0][:70]}", False, e)
    bi.close()
    analyst.close()

    # every public object is documented in doc/ and commented
    docs = "\n".join(open(os.path.join(ROOT, "doc", f)).read() for f in os.listdir(os.path.join(ROOT, "doc")) if f.endswith(".md"))
    cur.execute("""
        SELECT p.proname, 'function', obj_description(p.oid, 'pg_proc') IS NOT NULL
        FROM pg_proc p WHERE p.pronamespace = 'segmentation'::regnamespace AND p.proname NOT LIKE '\\_%'
        UNION ALL
        SELECT c.relname, CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END, obj_description(c.oid, 'pg_class') IS NOT NULL
        FROM pg_class c WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind IN ('r', 'v') AND c.relname NOT LIKE '\\_%'
        UNION ALL
        SELECT t.typname, 'type', obj_description(t.oid, 'pg_type') IS NOT NULL
        FROM pg_type t WHERE t.typnamespace = 'segmentation'::regnamespace AND t.typtype = 'b' AND t.typname NOT LIKE '\\_%'
        ORDER BY 1""")
    objects = cur.fetchall()
    undocumented = sorted({name for name, _, _ in objects if not re.search(r"\b" + re.escape(name) + r"\b", docs)})
    uncommented = sorted({f"{kind} {name}" for name, kind, commented in objects if not commented})
    check(f"all {len(objects)} public functions, views, tables and types are named in doc/", not undocumented, undocumented)
    check("all of them have a COMMENT", not uncommented, uncommented)
    cur.execute("""SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
                   WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind = 'v' AND c.relname = ANY (%s)
                     AND col_description(c.oid, a.attnum) IS NULL""", (VIEWS,))
    missing = cur.fetchall()
    check("every column of the BI views has a COMMENT", not missing, missing)

    conn.close()
    drop_database(DB)
    connect("postgres").cursor().execute("DROP ROLE regress_bi_reader, regress_bi_analyst")
    suite.finish()


if __name__ == "__main__":
    main()
