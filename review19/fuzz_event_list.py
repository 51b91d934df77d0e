import psycopg2, random, struct, time, sys, os
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 19)
DUR = float(sys.argv[2]) if len(sys.argv) > 2 else 120
def conn():
    c = psycopg2.connect(host=os.environ['PGHOST'], port=os.environ['PGPORT'], user='mallory', dbname='postgres')
    c.autocommit = True
    cur = c.cursor(); cur.execute("set search_path=public,segmentation; set statement_timeout='5s'")
    return c, cur
c, cur = conn()
# seeds: real states
seeds = []
cur.execute("""select wf_state(t, array[random()<.5, random()<.5, random()<.4], '2 days', m)::text
  from generate_series(1,30) g, lateral (select '2020-01-01'::timestamptz + (random()*10||' days')::interval t from generate_series(1,1+g%7)) x,
  (values (''),('strict_order'),('strict_once'),('strict_order,allow_reentry'),('strict_increase,strict_deduplication')) mm(m) group by g, m""")
seeds += [r[0] for r in cur.fetchall()]
cur.execute("""select sq_state(t, array[random()<.5, random()<.5], p)::text
  from generate_series(1,30) g, lateral (select '2020-01-01'::timestamptz + (random()*10||' days')::interval t from generate_series(1,1+g%7)) x,
  (values ('(?1)(?2)'),('(?1).*(?2)'),('(?1)(?t<3600)(?2)')) pp(p) group by g, p""")
seeds += [r[0] for r in cur.fetchall()]
cur.execute("""select nn_state(t, 'v'||(random()*5)::int, random()<.7, array[random()<.5, random()<.5], d, b)::text
  from generate_series(1,30) g, lateral (select '2020-01-01'::timestamptz + (random()*10||' days')::interval t from generate_series(1,1+g%7)) x,
  (values ('forward','head'),('backward','tail'),('forward','first_match'),('backward','last_match')) dd(d,b) group by g, d, b""")
seeds += [r[0] for r in cur.fetchall()]
print(len(seeds), 'seeds', flush=True)
def mutate(b):
    b = bytearray(b)
    for _ in range(random.randint(1, 4)):
        op = random.random()
        if op < 0.3 and b:
            i = random.randrange(len(b)); b[i] ^= 1 << random.randrange(8)
        elif op < 0.5 and b:
            i = random.randrange(len(b)); b[i] = random.choice([0, 1, 0x7f, 0x80, 0xff, random.randrange(256)])
        elif op < 0.6 and len(b) > 4:
            i = random.randrange(len(b) - 4); b[i:i+4] = struct.pack('>i', random.choice([-1, 0, 1, 32, 33, 2**31-1, -2**31, random.randrange(-100, 100)]))
        elif op < 0.7 and len(b) > 8:
            i = random.randrange(len(b) - 8); b[i:i+8] = struct.pack('>q', random.choice([-1, 0, 1, 2**63-1, -2**63, 2**62, random.randrange(-10**6, 10**6)]))
        elif op < 0.8 and b:
            i = random.randrange(len(b)); del b[i:i+random.randint(1, 12)]
        elif op < 0.9:
            i = random.randrange(len(b)+1); b[i:i] = bytes(random.randrange(256) for _ in range(random.randint(1, 17)))
        else:
            o = bytes.fromhex(random.choice(seeds)[2:]); i = random.randrange(len(b)+1); j = random.randrange(len(o)+1); b = b[:i] + o[j:]
    return bytes(b)
t0 = time.time(); n = acc = errs = 0; slow = []
while time.time() - t0 < DUR:
    a = mutate(bytes.fromhex(random.choice(seeds)[2:]))
    bb = bytes.fromhex(random.choice(seeds)[2:])
    if random.random() < .5: bb = mutate(bb)
    fin = random.choice([{1:'el_comb_wf',2:'el_comb_sc',3:'el_comb_nn'}.get(a[1] if len(a)>1 else 0, 'el_comb'), 'el_comb'])
    q = f"select {fin}(x::event_list)::text from (values (%s),(%s)) v(x)"
    n += 1
    t1 = time.time()
    try:
        cur.execute(q, ('\\x' + a.hex(), '\\x' + bb.hex())); acc += 1
        cur.execute("select %s::event_list::text = %s", ('\\x' + a.hex(), '\\x' + a.hex()))
    except psycopg2.errors.QueryCanceled as e:
        print('TIMEOUT', fin, a.hex(), bb.hex(), flush=True)
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
        print('CRASH', fin, a.hex(), bb.hex(), e, flush=True)
        with open('/tmp/review19-w/crash-%d' % n, 'w') as f: f.write(f"{fin}\n{a.hex()}\n{bb.hex()}\n")
        time.sleep(3); c, cur = conn()
    except psycopg2.Error as e:
        errs += 1
        if e.pgcode in ('XX000', None) or (e.pgcode or '')[:2] in ('XX',):
            print('INTERNAL', e.pgcode, str(e).splitlines()[0], fin, a.hex()[:200], flush=True)
    dt = time.time() - t1
    if dt > 0.5: print('SLOW', dt, fin, a.hex()[:200], flush=True)
print('done', n, 'accepted', acc, 'errors', errs, flush=True)
