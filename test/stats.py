#!/usr/bin/python3
"""Statistics suite: every statistics function against references computed
here with mpmath at 60 significant digits (an independent implementation),
to 1e-9 relative, far tails and fractional degrees of freedom included.

Uses the libpq environment (PGHOST, PGPORT, PGUSER); its own database.
"""
import mpmath as mp
import psycopg2

from harness import Suite, drop_database, fresh_database

mp.mp.dps = 60
DB = "segmentation_stats"
REL = 1e-9
suite = Suite("statistics suite (each check: within 1e-9 of the mpmath reference)", stop_on_failure=False, quiet=True)


def close(got, want, rel=REL):
    if want is None or got is None:
        return got is None and want is None
    want = mp.mpf(want)
    if want == 0:
        return got == 0
    return abs(mp.mpf(got) - want) <= rel * abs(want)


def check(name, got, want, rel=REL):
    suite.check(name, close(got, want, rel),
                f"got {got!r}, want {mp.nstr(mp.mpf(want), 17) if want is not None else None}")


# ---------- references ----------

def ref_ncdf(x):
    return mp.ncdf(mp.mpf(x))


def invert(f, p, lo, hi):
    """x with f(x) = p for increasing f, by bisection in high precision."""
    p = mp.mpf(p)
    lo, hi = mp.mpf(lo), mp.mpf(hi)
    while f(lo) > p:
        lo *= 2
    while f(hi) < p:
        hi *= 2
    for _ in range(400):
        mid = (lo + hi) / 2
        if f(mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def ref_t_cdf(t, df):
    t, df = mp.mpf(t), mp.mpf(df)
    tail = mp.betainc(df / 2, mp.mpf(1) / 2, 0, df / (df + t * t), regularized=True) / 2
    return tail if t < 0 else 1 - tail


def ref_t_sf(t, df):
    return ref_t_cdf(-t, df)


def ref_chi2_cdf(x, k):
    return mp.gammainc(mp.mpf(k) / 2, 0, mp.mpf(x) / 2, regularized=True)


def ref_chi2_sf(x, k):
    return mp.gammainc(mp.mpf(k) / 2, mp.mpf(x) / 2, mp.inf, regularized=True)


def main():
    conn, cur = fresh_database(DB)

    def sql(q, *args):
        cur.execute(q, args)
        return cur.fetchone()

    for x in [-37.5, -30, -20, -10, -5, -1.959963984540054, -1, -1e-8, 0, 5e-324, 0.5, 1, 3, 8, 40, 1e300]:
        check(f"normal_cdf({x})", sql("SELECT segmentation.normal_cdf(%s)", x)[0], ref_ncdf(x))

    for p in [5e-324, 1e-320, 2.2e-308, 1e-301, 1e-300, 1e-200, 1e-50, 1e-10, 0.001, 0.025, 0.3, 0.5, 0.7, 0.975, 0.999, 1 - 1e-12]:
        want = 0 if p == 0.5 else invert(mp.ncdf, p, -1, 1)
        check(f"normal_quantile({p})", sql("SELECT segmentation.normal_quantile(%s)", p)[0], want)
    got = sql("SELECT segmentation.normal_quantile(0), segmentation.normal_quantile(1)")
    check("normal_quantile(0) is -Infinity", 1 if got[0] == float("-inf") else 0, 1)
    check("normal_quantile(1) is Infinity", 1 if got[1] == float("inf") else 0, 1)

    t_cases = [(-40, 3), (-10, 1), (-5, 2.5), (-3, 30), (-1, 7.3), (0, 4), (0.5, 1), (2, 10), (6, 100),
               (-200, 5), (-8, 0.5), (-1e6, 2), (-12, 1000), (1.5, 0.1), (25, 3),
               (1, 1e-300), (-30, 1e-300), (-1, 1e-10), (-30, 1e6), (-1, 1e6), (1, 1e6), (1e300, 1)]
    for t, df in t_cases:
        check(f"students_t_cdf({t}, {df})", sql("SELECT segmentation.students_t_cdf(%s, %s)", t, df)[0], ref_t_cdf(t, df))

    for p in [1e-100, 1e-10, 0.01, 0.3, 0.5, 0.8, 0.975, 0.9999]:
        for df in [1, 2.5, 10, 100]:
            want = 0 if p == 0.5 else invert(lambda x: ref_t_cdf(x, df), p, -1, 1)
            check(f"students_t_quantile({p}, {df})", sql("SELECT segmentation.students_t_quantile(%s, %s)", p, df)[0], want)

    for x, k in [(0.001, 1), (0.5, 2), (3, 3), (10, 4.5), (100, 50), (1e-5, 10), (200, 5), (0.3, 0.7), (40, 40),
                 (1e-300, 1e-300), (1, 1e-300), (1e5, 1e5), (1e6, 1e6), (1e300, 1), (1e300, 1e6)]:
        check(f"chi2_cdf({x}, {k})", sql("SELECT segmentation.chi2_cdf(%s, %s)", x, k)[0], ref_chi2_cdf(x, k))

    # degrees of freedom outside [1e-300, 1e6]: an error naming the argument, never NaN
    def error_code(q, *args):
        try:
            cur.execute(q, args)
            return "no error: %r" % (cur.fetchone(),)
        except psycopg2.Error as e:
            conn.rollback()
            return e.pgcode + " " + e.diag.message_primary
    for q, arg in [("SELECT segmentation.chi2_cdf(1e300, 1e300)", "k"), ("SELECT segmentation.chi2_cdf(1, 5e-324)", "k"),
                   ("SELECT segmentation.students_t_cdf(1, 5e-324)", "df"), ("SELECT segmentation.students_t_cdf(1, 1e300)", "df"),
                   ("SELECT segmentation.students_t_quantile(0.3, 1e7)", "df")]:
        got = error_code(q)
        suite.check(f"{q} is an error naming {arg}", got.startswith(f'22023 argument "{arg}"'), got)

    # two-proportion test, far tail included (p ~ 1e-204)
    for x1, n1, x2, n2 in [(100, 1000, 120, 1000), (5, 40, 11, 45), (100000, 1000000, 113500, 1000000),
                           (0, 50, 3, 50), (30, 30, 29, 31), (1, 7, 0, 9)]:
        row = sql("SELECT * FROM segmentation.two_proportion_test(%s, %s, %s, %s)", x1, n1, x2, n2)
        p1, p2 = mp.mpf(x1) / n1, mp.mpf(x2) / n2
        pooled = mp.mpf(x1 + x2) / (n1 + n2)
        se_pooled = mp.sqrt(pooled * (1 - pooled) * (mp.mpf(1) / n1 + mp.mpf(1) / n2))
        se = mp.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        z975 = invert(mp.ncdf, mp.mpf("0.975"), -1, 1)
        name = f"two_proportion_test({x1}, {n1}, {x2}, {n2})"
        check(name + ".control_rate", row[0], p1)
        check(name + ".treatment_rate", row[1], p2)
        check(name + ".abs_lift", row[2], p2 - p1)
        z = (p2 - p1) / se_pooled if se_pooled > 0 else None
        check(name + ".z", row[3], z)
        check(name + ".p_value", row[4], mp.erfc(abs(z) / mp.sqrt(2)) if z is not None else None)
        check(name + ".abs_ci_low", row[5], p2 - p1 - z975 * se, 1e-8)
        check(name + ".abs_ci_high", row[6], p2 - p1 + z975 * se, 1e-8)
        if p1 > 0:
            se_rel = mp.sqrt(p2 * (1 - p2) / (n2 * p1 ** 2) + p2 ** 2 * p1 * (1 - p1) / (n1 * p1 ** 4))
            check(name + ".rel_lift", row[7], p2 / p1 - 1)
            check(name + ".rel_ci_low", row[8], p2 / p1 - 1 - z975 * se_rel, 1e-8)
            check(name + ".rel_ci_high", row[9], p2 / p1 - 1 + z975 * se_rel, 1e-8)
        else:
            check(name + ".rel_lift is NULL", row[7], None)
    tail = sql("SELECT p_value FROM segmentation.two_proportion_test(100000, 1000000, 113500, 1000000)")[0]
    check("two_proportion_test far tail is not 0", 1 if 1e-220 < tail < 1e-190 else 0, 1)

    # Welch
    for n1, m1, v1, n2, m2, v2 in [(20, 5.0, 4.0, 25, 6.5, 9.0), (3, 1.0, 0.5, 1000, 1.1, 0.4),
                                   (50, 10.0, 1.0, 50, 11.5, 1.2), (2, 0, 1e-6, 2, 100, 1e-6)]:
        row = sql("SELECT * FROM segmentation.welch_test(%s, %s, %s, %s, %s, %s)", n1, m1, v1, n2, m2, v2)
        a, b = mp.mpf(v1) / n1, mp.mpf(v2) / n2
        se = mp.sqrt(a + b)
        t = (mp.mpf(m2) - m1) / se
        df = (a + b) ** 2 / (a ** 2 / (n1 - 1) + b ** 2 / (n2 - 1))
        q = invert(lambda x: ref_t_cdf(x, df), mp.mpf("0.975"), -1, 1)
        name = f"welch_test({n1}, {m1}, {v1}, {n2}, {m2}, {v2})"
        check(name + ".diff", row[0], mp.mpf(m2) - m1)
        check(name + ".t", row[1], t)
        check(name + ".df", row[2], df)
        check(name + ".p_value", row[3], 2 * ref_t_sf(abs(t), df))
        check(name + ".ci_low", row[4], mp.mpf(m2) - m1 - q * se, 1e-8)
        check(name + ".ci_high", row[5], mp.mpf(m2) - m1 + q * se, 1e-8)

    # SRM, a far tail included (p ~ 1e-202)
    for counts, weights in [([5050, 4950], [1, 1]), ([1000, 2100, 900], [1, 2, 1]), ([54800, 45200], [1, 1]),
                            ([300, 0, 310], [1, 1, 1]), ([500, 77, 520], [1, 0, 1]), ([700, 300], [0.7, 0.3])]:
        got = sql("SELECT segmentation.srm_test(%s::bigint[], %s::float8[])", counts, weights)[0]
        arms = [(c, w) for c, w in zip(counts, weights) if w > 0]
        total, wsum = sum(c for c, _ in arms), sum(w for _, w in arms)
        chi2 = sum((c - mp.mpf(total) * w / wsum) ** 2 / (mp.mpf(total) * w / wsum) for c, w in arms)
        check(f"srm_test({counts}, {weights})", got, ref_chi2_sf(chi2, len(arms) - 1))
    # huge and tiny weights, huge counts: a number, never NaN
    check("srm_test weights {1e308,1e308}", sql("SELECT segmentation.srm_test('{5050,4950}', '{1e308,1e308}')")[0],
          sql("SELECT segmentation.srm_test('{5050,4950}', '{1,1}')")[0])
    check("srm_test with a denormal weight", sql("SELECT segmentation.srm_test('{1,2}', '{5e-324,1}')")[0], 0)
    check("srm_test with bigint-max counts", sql("SELECT segmentation.srm_test('{9223372036854775807,9223372036854775807}', '{1,1}')")[0], 1)
    # Cochran's Q: inverse-variance weighted spread of k estimates, chi-square k - 1
    for effects, variances in [([0.05, 0.01, -0.02], [1e-4, 2e-4, 4e-4]),
                               ([0.3, 0.31], [1e-6, 1e-6]),
                               ([0.1, 0.0, 0.2, -0.1, 0.15], [1e-3, 5e-4, 2e-3, 1e-3, 7e-4]),
                               ([0.5, -0.5], [1e-8, 1e-8]),                # far tail
                               ([1e-3, 1e-3, 1e-3], [1e-300, 1e-300, 1e-300]),  # weights past a double
                               ([0.02, 0.05, None, 0.01], [1e-4, 0, 1e-4, 3e-4])]:  # left out: NULL, variance 0
        used = [(mp.mpf(e), mp.mpf(v)) for e, v in zip(effects, variances) if e is not None and v]
        w = [1 / v for _, v in used]
        mean = sum(wi * e for wi, (e, _) in zip(w, used)) / sum(w)
        q = sum(wi * (e - mean) ** 2 for wi, (e, _) in zip(w, used))
        got = sql("SELECT segmentation.cochran_q_test(%s::float8[], %s::float8[])", effects, variances)[0]
        check(f"cochran_q_test({effects}, {variances})", got, ref_chi2_sf(q, len(used) - 1) if q > 0 else 1)
    check("cochran_q_test with one usable estimate is NULL",
          sql("SELECT segmentation.cochran_q_test('{0.1,0.2}', '{1e-3,0}')")[0], None)
    far = sql("SELECT segmentation.srm_test('{54800,45200}', '{1,1}')")[0]
    check("srm_test far tail is not 0", 1 if 1e-215 < far < 1e-190 else 0, 1)

    # Benjamini-Hochberg against a plain implementation
    for ps in [[0.01, 0.04, 0.03, 0.2, None, 0.001], [0.5], [0.05, 0.05, 0.05], [1e-300, 0.9, 0.2, 0.04]]:
        got = sql("SELECT segmentation.bh_adjust(%s::float8[])", ps)[0]
        present = sorted((p, i) for i, p in enumerate(ps) if p is not None)
        m = len(present)
        want = [None] * len(ps)
        running = mp.mpf(1)
        for rank in range(m, 0, -1):
            p, i = present[rank - 1]
            running = min(running, mp.mpf(p) * m / rank)
            want[i] = running
        for i, (g, w) in enumerate(zip(got, want)):
            check(f"bh_adjust({ps})[{i}]", g, w)

    # sample size: the pooled two-sided formula
    for base, mde, alpha, power in [(0.10, 0.01, 0.05, 0.8), (0.5, -0.05, 0.01, 0.9), (0.02, 0.002, 0.05, 0.8),
                                    (0.3, 0.1, 0.1, 0.5)]:
        got = sql("SELECT segmentation.sample_size_two_proportions(%s, %s, %s, %s)", base, mde, alpha, power)[0]
        p1, p2 = mp.mpf(base), mp.mpf(base) + mp.mpf(mde)
        pbar = (p1 + p2) / 2
        za = -invert(mp.ncdf, mp.mpf(alpha) / 2, -1, 1)
        zb = invert(mp.ncdf, mp.mpf(power), -1, 1)
        want = (za * mp.sqrt(2 * pbar * (1 - pbar)) + zb * mp.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / mp.mpf(mde) ** 2
        check(f"sample_size_two_proportions({base}, {mde}, {alpha}, {power})", got, want)
    check("sample_size_two_proportions default alpha and power",
          sql("SELECT segmentation.sample_size_two_proportions(0.1, 0.01)")[0],
          sql("SELECT segmentation.sample_size_two_proportions(0.1, 0.01, 0.05, 0.8)")[0])

    conn.close()
    drop_database(DB)
    suite.finish()


if __name__ == "__main__":
    main()
