"""test/readme.py: README.md's SQL runs as written on a database made like the demo's.

* The set-up block (the one that calls segmentation.track) runs, through psql,
  on a fresh database holding the demo's generated history (small, fixed
  seeds) and nothing tracked yet: it must track, refresh and segment.
* Then scripts/demo.sh --here sets a small demo up in the cluster's
  cron.database_name (pg_cron runs only there), and every other ```sql block
  of README.md runs through psql, in order, with ON_ERROR_STOP: none may
  fail, none may change the demo's experiment readout or its tracked sources
  (README must not replace the demo's state), and every refresh succeeds.
* README.md's "Install and run" names exactly two commands, and both exist.

Runs in the cluster of PGHOST/PGPORT (scripts/test.sh's); PGBIN names the
PostgreSQL bin directory (psql). Leaves nothing behind.
"""
import datetime
import os
import re
import subprocess
import sys

from harness import Suite, connect, drop_database, fresh_database

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
PSQL = os.path.join(PGBIN, "psql")
USERS = 2000

suite = Suite("readme")
check = suite.check


def psql(db, sql=None, args=()):
    """Run psql as a user would (no psqlrc, stop at the first error); (ok, output)."""
    cmd = [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, *args]
    p = subprocess.run(cmd, input=sql, capture_output=True, text=True, env=dict(os.environ, PGTZ="UTC"))
    return p.returncode == 0, p.stdout + p.stderr


def one(cur, sql):
    cur.execute(sql)
    return cur.fetchone()[0]


def blocks():
    text = open(os.path.join(ROOT, "README.md")).read()
    return text, re.findall(r"```sql\n(.*?)```", text, re.S)


def install_commands(text):
    section = text.split("## Install and run", 1)[1].split("\n## ", 1)[0]
    sh = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [line.split("#")[0].strip() for b in sh for line in b.splitlines() if line.split("#")[0].strip()]


def cleanup(db):
    conn = connect(db)
    cur = conn.cursor()
    cur.execute("DROP EXTENSION IF EXISTS segmentation CASCADE")
    cur.execute("DROP EXTENSION IF EXISTS pg_cron")
    cur.execute("DROP TABLE IF EXISTS app_events, demo_users, demo_features, ab_assignments")
    cur.execute("DROP FUNCTION IF EXISTS demo_uniform(bigint, bigint, bigint)")
    for role in ("metabase", "data_engineer"):
        cur.execute(f"DROP ROLE IF EXISTS {role}")
    conn.close()


def main():
    text, sqls = blocks()
    setup = [s for s in sqls if "segmentation.track(" in s]
    rest = [s for s in sqls if "segmentation.track(" not in s]
    check("README.md has one set-up block (the one that tracks) and other SQL blocks", len(setup) == 1 and rest,
          (len(setup), len(rest)))

    commands = install_commands(text)
    check("README's 'Install and run' names exactly two commands, demo and tests",
          commands == ["bash scripts/demo.sh", "bash scripts/test.sh"], commands)
    check("both commands' scripts exist", all(os.path.exists(os.path.join(ROOT, c.split()[1])) for c in commands))

    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()

    # 1. the set-up block, on the demo's history with nothing tracked yet
    conn, cur = fresh_database("readme_setup", extension=True)
    conn.close()
    ok, out = psql("readme_setup", args=["-v", "stage=history", "-v", f"users={USERS}", "-v", f"today={today}",
                                         "-f", os.path.join(ROOT, "scripts", "demo_data.sql")])
    check("the demo's history generates", ok, out)
    ok, out = psql("readme_setup", setup[0])
    check("README's set-up block runs as written on an untracked demo database", ok, out)
    conn = connect("readme_setup")
    cur = conn.cursor()
    check("... and segments every user with events in lifecycle and rfm",
          one(cur, "SELECT count(DISTINCT scheme) FROM segmentation.segment_summary") == 2
          and one(cur, "SELECT sum(users) FROM segmentation.segment_summary WHERE scheme = 'lifecycle'")
          == one(cur, "SELECT count(DISTINCT user_id) FROM app_events"))
    conn.close()
    drop_database("readme_setup")

    # 2. a small demo in the cron database, then every other block, in order
    db = one(connect("postgres").cursor(), "SHOW cron.database_name")
    cleanup(db)
    env = dict(os.environ, PGDATABASE=db, PGBIN=PGBIN)
    p = subprocess.run(["bash", os.path.join(ROOT, "scripts", "demo.sh"), "--here", "--users", str(USERS)],
                       capture_output=True, text=True, env=env)
    check(f"scripts/demo.sh --here --users {USERS} sets the demo up", p.returncode == 0, p.stdout + p.stderr)
    check("the demo prints its bars and its forest plot", "█" in p.stdout and "●" in p.stdout, p.stdout)
    check("no step took (0.0 s) for want of a timer: the data step took time",
          re.search(r"generating.*\n    \((?!0\.0)[0-9.]+ s\)", p.stderr) is not None, p.stderr)

    conn = connect(db)
    cur = conn.cursor()
    state = ("SELECT array_agg(row(scheme, segment, variant, users, conversions, abs_lift, q_value, enough_data, heterogeneity_p_value)::text"
             " ORDER BY scheme, segment, variant)"
             " FROM segmentation.experiment_lift WHERE experiment = 'checkout_v2' AND scheme IN ('lifecycle', 'rfm')")
    sources = "SELECT array_agg(row(source, user_column, time_column, event_column, value_column)::text) FROM segmentation.sources"
    lift_before, sources_before = one(cur, state), one(cur, sources)
    runs_before = one(cur, "SELECT count(*) FROM segmentation.refresh_runs")
    for sql in rest:
        ok, out = psql(db, sql)
        check(f"README block runs as written on the demo: {sql.strip().splitlines()[0][:70]}", ok, out)
    lift_after = one(cur, state)
    check("README's blocks leave the demo's experiment readout as it was (lifecycle and rfm)",
          lift_after == lift_before and lift_before, (lift_before, lift_after))
    check("README's blocks leave the demo's tracked sources as they were", one(cur, sources) == sources_before)
    check("README's refreshes ran and none failed",
          one(cur, "SELECT count(*) FROM segmentation.refresh_runs") > runs_before
          and one(cur, "SELECT count(*) FROM segmentation.refresh_runs WHERE error IS NOT NULL") == 0)
    check("one pg_cron job refreshes", one(cur, "SELECT count(*) FROM cron.job WHERE command LIKE '%segmentation.refresh%'") == 1)
    conn.close()
    cleanup(db)
    suite.finish()


if __name__ == "__main__":
    main()
