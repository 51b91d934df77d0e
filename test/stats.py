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


TINY = mp.mpf(2) ** -1022   # the smallest normal double


def close_tiny(got, want, rel=REL):
    """close(), or for a want below the normal doubles: within 1e-9 relative
    plus two units of the last denormal place (what a double can hold)."""
    want = mp.mpf(want)
    if want >= TINY:
        return close(got, want, rel)
    return abs(mp.mpf(got) - want) <= rel * want + 2 * mp.mpf(2) ** -1074


def check_tiny(name, got, want, rel=REL):
    suite.check(name, close_tiny(got, want, rel), f"got {got!r}, want {mp.nstr(mp.mpf(want), 17)}")


def ref_chi2_quantile(p, df, start):
    """x with P(X <= x) = p, chi-square with df degrees of freedom: Newton on
    log P (log Q above the median) in log y, y = x / 2, from start, then the
    root is proved bracketed within 1e-12 on both sides (monotone function:
    a wrong start cannot give a wrong root)."""
    p, a = mp.mpf(p), mp.mpf(df) / 2
    upper = p > mp.mpf(1) / 2
    target = mp.log(1 - p) if upper else mp.log(p)

    def gap(u):
        y = mp.exp(u)
        if upper:
            return target - mp.log(mp.gammainc(a, y, mp.inf, regularized=True))
        return mp.log(mp.gammainc(a, 0, y, regularized=True)) - target

    u = mp.log(mp.mpf(start) / 2)
    for _ in range(100):
        y = mp.exp(u)
        side = mp.gammainc(a, y, mp.inf, regularized=True) if upper else mp.gammainc(a, 0, y, regularized=True)
        slope = mp.exp(a * u - y - mp.loggamma(a)) / side
        step = gap(u) / slope
        u -= step
        if abs(step) < mp.mpf(10) ** -40:
            break
    assert gap(u - mp.mpf(10) ** -12) < 0 < gap(u + mp.mpf(10) ** -12), (p, df)
    return 2 * mp.exp(u)


def ref_chi2_quantile_small(p, df):
    """the quantile where y = x / 2 is below 1e-17: P(a, y) = y^a / Gamma(a + 1)
    to 1e-17 relative, solved in logs (it underflows a double)"""
    a = mp.mpf(df) / 2
    return 2 * mp.exp((mp.log(mp.mpf(p)) + mp.loggamma(a + 1)) / a)


def ref_power(p1, p2, n, alpha):
    p1, p2, n, alpha = mp.mpf(p1), mp.mpf(p2), mp.mpf(n), mp.mpf(alpha)
    za = -invert(mp.ncdf, alpha / 2, -1, 1)
    pbar = (p1 + p2) / 2
    s0 = mp.sqrt(2 * pbar * (1 - pbar))
    s1 = mp.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    d = abs(p2 - p1)
    return mp.ncdf((d * mp.sqrt(n) - za * s0) / s1) + mp.ncdf((-d * mp.sqrt(n) - za * s0) / s1)


def ref_msprt(diff, sigma2, tau2, n):
    diff, sigma2, tau2, n = mp.mpf(diff), mp.mpf(sigma2), mp.mpf(tau2), mp.mpf(n)
    v = 2 * sigma2 / n
    lam = mp.sqrt(v / (v + tau2)) * mp.exp(tau2 * diff ** 2 / (2 * v * (v + tau2)))
    return min(mp.mpf(1), 1 / lam)


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
               (1, 1e-300), (-30, 1e-300), (-1, 1e-10), (-30, 1e6), (-1, 1e6), (1, 1e6), (1e300, 1),
               (-1e200, 1), (-1e160, 0.5), (-1e151, 2), (-1e150, 1), (-1e200, 1e-3)]
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
                           (0, 50, 3, 50), (30, 30, 29, 31), (1, 7, 0, 9), (0, 10, 10, 10)]:
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
        # (an interval whose standard error is 0 is undefined, NULL: not a width of 0)
        check(name + ".abs_ci_low", row[5], p2 - p1 - z975 * se if se > 0 else None, 1e-8)
        check(name + ".abs_ci_high", row[6], p2 - p1 + z975 * se if se > 0 else None, 1e-8)
        if p1 > 0:
            se_rel = mp.sqrt(p2 * (1 - p2) / (n2 * p1 ** 2) + p2 ** 2 * p1 * (1 - p1) / (n1 * p1 ** 4))
            check(name + ".rel_lift", row[7], p2 / p1 - 1)
            check(name + ".rel_ci_low", row[8], p2 / p1 - 1 - z975 * se_rel if se_rel > 0 else None, 1e-8)
            check(name + ".rel_ci_high", row[9], p2 / p1 - 1 + z975 * se_rel if se_rel > 0 else None, 1e-8)
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
                               ([0.5, -0.5], [1e-3, 1e-3]),                # far tail (p ~ 1e-110)
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

    # ---------- version 0.2 ----------

    # Holm against a plain implementation
    for ps in [[0.01, 0.04, 0.03, 0.2, None, 0.001], [0.5], [0.05, 0.05, 0.05], [1e-300, 0.9, 0.2, 0.04],
               [0.3, 0.3, 0.01, 0.6, 0.3], [None, 0.02], [0.9, 0.8, 0.7]]:
        got = sql("SELECT segmentation.holm_adjust(%s::float8[])", ps)[0]
        present = sorted((p, i) for i, p in enumerate(ps) if p is not None)
        m = len(present)
        want = [None] * len(ps)
        running = mp.mpf(0)
        for rank in range(1, m + 1):
            p, i = present[rank - 1]
            running = max(running, min(mp.mpf(1), mp.mpf(p) * (m - rank + 1)))
            want[i] = running
        suite.check(f"holm_adjust({ps}) keeps its length", len(got) == len(ps), repr(got))
        for i, (g, w) in enumerate(zip(got, want)):
            check(f"holm_adjust({ps})[{i}]", g, w)
    for ps in [[0.01, 0.04, 0.03, 0.2, 0.001], [0.5, 0.5], [1e-300, 0.9, 0.2, 0.04]]:
        holm = sql("SELECT segmentation.holm_adjust(%s::float8[])", ps)[0]
        bh = sql("SELECT segmentation.bh_adjust(%s::float8[])", ps)[0]
        suite.check(f"holm_adjust({ps}) >= bh_adjust (family-wise is stricter)", all(h >= b for h, b in zip(holm, bh)), f"{holm} {bh}")

    # chi-square quantile: far tails on both sides, df from 0.1 to 1e6
    ps = [5e-324, 1e-300, 1e-100, 1e-10, 0.001, 0.05, 0.3, 0.5, 0.7, 0.95, 0.999, 1 - 1e-10, 1 - 1e-15]
    dfs = [0.1, 0.5, 1, 2, 3, 7.5, 10, 100, 1000, 1e4, 1e5, 1e6]
    for df in dfs:
        for p in ps:
            got = sql("SELECT segmentation.chi2_quantile(%s, %s)", p, df)[0]
            small = ref_chi2_quantile_small(p, df)
            if small < mp.mpf(10) ** -16:
                want = small   # y below 1e-17: the first term is the answer
            else:
                want = ref_chi2_quantile(p, df, got if 0 < got < float("inf") else df)
            check_tiny(f"chi2_quantile({p}, {df})", got, want)
    # tiny degrees of freedom, where P is near 1 above a quantile that underflows
    for df in [1e-3, 1e-6, 1e-10, 1e-300]:
        for p in [0.3, 0.9, 1 - 1e-6, 1 - 1e-9, 1 - 1e-12, 1 - 1e-15]:
            got = sql("SELECT segmentation.chi2_quantile(%s, %s)", p, df)[0]
            small = ref_chi2_quantile_small(p, df)
            if small < mp.mpf(10) ** -16:
                want = small
            else:
                want = ref_chi2_quantile(p, df, got if 0 < got < float("inf") else 1)
            check_tiny(f"chi2_quantile({p}, {df})", got, want)
    # round trips through chi2_cdf (the lower side, where it is exact; quantiles that are normal doubles)
    for df in [0.1, 1, 4.5, 30, 1e6]:
        for p in [1e-200, 1e-5, 0.2, 0.5]:
            if sql("SELECT segmentation.chi2_quantile(%s, %s)", p, df)[0] < TINY:
                continue
            check(f"chi2_cdf(chi2_quantile({p}, {df}), {df})",
                  sql("SELECT segmentation.chi2_cdf(segmentation.chi2_quantile(%s, %s), %s)", p, df, df)[0], p)
    got = sql("SELECT segmentation.chi2_quantile(0, 3), segmentation.chi2_quantile(1, 3)")
    check("chi2_quantile(0, 3) is 0", got[0], 0)
    check("chi2_quantile(1, 3) is Infinity", 1 if got[1] == float("inf") else 0, 1)
    check("chi2_quantile(0.95, 1) is the square of z_0.975",
          sql("SELECT segmentation.chi2_quantile(0.95, 1)")[0], invert(mp.ncdf, mp.mpf("0.975"), -1, 1) ** 2)
    check("chi2_quantile(p, 2) is -2 log(1 - p)",
          sql("SELECT segmentation.chi2_quantile(0.99, 2)")[0], -2 * mp.log(1 - mp.mpf(0.99)))

    # power of the two-proportion test: the formula, both tails
    for p1, p2, n, alpha in [(0.1, 0.11, 14751, 0.05), (0.1, 0.11, 100, 0.05), (0.5, 0.45, 2966, 0.01),
                             (0.02, 0.022, 1e6, 0.05), (0.3, 0.4, 50, 0.1), (0.11, 0.1, 14751, 0.05),
                             (0.001, 0.5, 10, 0.05), (0.2, 0.9, 3, 1e-10), (0, 0.01, 1000, 0.05),
                             (1, 0.97, 200, 0.05), (0.4, 0.41, 1e-3, 0.5), (0.1, 0.2, 1e12, 0.05)]:
        check(f"power_two_proportions({p1}, {p2}, {n}, {alpha})",
              sql("SELECT segmentation.power_two_proportions(%s, %s, %s, %s)", p1, p2, n, alpha)[0],
              ref_power(p1, p2, n, alpha))
    # consistent with the sample size: at n = sample_size the power is reached
    for base, mde, alpha, power in [(0.10, 0.01, 0.05, 0.8), (0.5, -0.05, 0.01, 0.9), (0.02, 0.002, 0.05, 0.8),
                                    (0.3, 0.1, 0.1, 0.5), (0.9, 0.05, 0.05, 0.99), (0.01, 0.5, 0.2, 0.3)]:
        n, pw, pw_ceil = sql("""SELECT n, segmentation.power_two_proportions(%s, %s, n, %s),
                                       segmentation.power_two_proportions(%s, %s, ceil(n), %s)
                                FROM segmentation.sample_size_two_proportions(%s, %s, %s, %s) AS n""",
                             base, base + mde, alpha, base, base + mde, alpha, base, mde, alpha, power)
        suite.check(f"power at sample_size_two_proportions({base}, {mde}, {alpha}, {power}) = {n} reaches {power}",
                    pw >= power and pw_ceil >= pw, f"power {pw!r}, at ceil(n) {pw_ceil!r}")
    # degenerate: no difference is the size of the test, {0, 1} is certain
    check("power_two_proportions(0.3, 0.3, 100) is alpha", sql("SELECT segmentation.power_two_proportions(0.3, 0.3, 100)")[0], 0.05)
    check("power_two_proportions(0, 0, 100, 0.01) is alpha", sql("SELECT segmentation.power_two_proportions(0, 0, 100, 0.01)")[0], 0.01)
    check("power_two_proportions(0, 1, 2) is 1 (sqrt(2n) > z)", sql("SELECT segmentation.power_two_proportions(0, 1, 2)")[0], 1)
    check("power_two_proportions(1, 0, 1) is 0 (sqrt(2n) < z)", sql("SELECT segmentation.power_two_proportions(1, 0, 1)")[0], 0)
    check("power_two_proportions default alpha",
          sql("SELECT segmentation.power_two_proportions(0.1, 0.12, 500)")[0],
          sql("SELECT segmentation.power_two_proportions(0.1, 0.12, 500, 0.05)")[0])

    # sample size for a difference of means
    for sd, delta, alpha, power in [(1, 0.1, 0.05, 0.8), (12.5, -3, 0.01, 0.95), (1e-100, 1e-101, 0.05, 0.8),
                                    (1e100, 1e-50, 0.5, 0.6), (3, 0.2, 1e-12, 1 - 1e-9), (2, 1, 0.3, 0.31)]:
        got = sql("SELECT segmentation.sample_size_two_means(%s, %s, %s, %s)", sd, delta, alpha, power)[0]
        za = -invert(mp.ncdf, mp.mpf(alpha) / 2, -1, 1)
        zb = invert(mp.ncdf, mp.mpf(power), -1, 1)
        check(f"sample_size_two_means({sd}, {delta}, {alpha}, {power})", got,
              2 * mp.mpf(sd) ** 2 * (za + zb) ** 2 / mp.mpf(delta) ** 2)
    check("sample_size_two_means default alpha and power", sql("SELECT segmentation.sample_size_two_means(2, 0.5)")[0],
          sql("SELECT segmentation.sample_size_two_means(2, 0.5, 0.05, 0.8)")[0])
    check("sample_size_two_means(0, 1) is 0", sql("SELECT segmentation.sample_size_two_means(0, 1)")[0], 0)
    check("sample_size_two_means with z_(1-alpha/2) + z_power <= 0 is 0",
          sql("SELECT segmentation.sample_size_two_means(1, 1, 0.9, 0.1)")[0], 0)
    # the power of the z test at that n is the requested power (one tail; the other is < 1e-6 here)
    n = sql("SELECT segmentation.sample_size_two_means(1.5, 0.2, 0.05, 0.8)")[0]
    z975 = invert(mp.ncdf, mp.mpf("0.975"), -1, 1)
    check("sample_size_two_means: the power at n is 0.8",
          mp.ncdf(mp.mpf(0.2) / (mp.mpf(1.5) * mp.sqrt(2 / mp.mpf(n))) - z975), 0.8)

    # mSPRT: the formula, from no evidence (p = 1) to p below the denormals
    for diff, sigma2, tau2, n in [(0.1, 1, 0.01, 1000), (0.01, 1, 0.01, 1000), (0, 1, 1, 10), (-0.3, 2, 0.5, 400),
                                  (0.05, 0.25, 1e-4, 1e5), (1, 1, 1, 1), (0.5, 1, 1, 1000), (0.6, 1, 1, 1000),
                                  (1, 1, 1, 1000), (1.2, 1, 1, 1000), (2, 1, 1, 1000), (1, 1, 1, 1e6),
                                  (1e-3, 1e-300, 1, 1), (1e150, 1, 1e-300, 1e10), (1e-200, 1e-300, 1e300, 1e-300),
                                  (3, 1e300, 1e-300, 1e300), (0.02, 1, 1e300, 1e4), (0.2, 1, 1e-300, 1e4)]:
        got = sql("SELECT segmentation.msprt_p_value(%s, %s, %s, %s)", diff, sigma2, tau2, n)[0]
        check_tiny(f"msprt_p_value({diff}, {sigma2}, {tau2}, {n})", got, ref_msprt(diff, sigma2, tau2, n))
    tiny = sql("SELECT segmentation.msprt_p_value(1, 1, 1, 1000)")[0]
    check("msprt_p_value far tail is not 0", 1 if 1e-120 < tiny < 1e-100 else 0, 1)
    check("msprt_p_value(1, 0, 1, 10) is 0 (no noise)", sql("SELECT segmentation.msprt_p_value(1, 0, 1, 10)")[0], 0)
    check("msprt_p_value(0, 0, 1, 10) is 1 (no noise, no difference)", sql("SELECT segmentation.msprt_p_value(0, 0, 1, 10)")[0], 1)
    # always valid: never below the fixed-n z test's p-value at the same data
    for diff, n in [(0.05, 1000), (0.1, 1000), (0.2, 5000)]:
        seq = sql("SELECT segmentation.msprt_p_value(%s, 1, 0.01, %s)", diff, n)[0]
        fixed = mp.erfc(abs(mp.mpf(diff)) / mp.sqrt(2 / mp.mpf(n)) / mp.sqrt(2))
        suite.check(f"msprt_p_value({diff}, 1, 0.01, {n}) >= the z test's p", seq >= fixed, f"{seq} < {fixed}")

    # impossible input: an error naming the argument; never NaN
    for q, arg in [("SELECT segmentation.chi2_quantile(1.5, 3)", "p"), ("SELECT segmentation.chi2_quantile('NaN', 3)", "p"),
                   ("SELECT segmentation.chi2_quantile(0.5, 0)", "df"), ("SELECT segmentation.chi2_quantile(0.5, 1e7)", "df"),
                   ("SELECT segmentation.chi2_quantile(0.5, 'Infinity')", "df"),
                   ("SELECT segmentation.holm_adjust('{0.1,NaN}')", "p"), ("SELECT segmentation.holm_adjust('{{0.1},{0.2}}')", "p"),
                   ("SELECT segmentation.power_two_proportions('NaN', 0.1, 10)", "p1"),
                   ("SELECT segmentation.power_two_proportions(0.1, 1.1, 10)", "p2"),
                   ("SELECT segmentation.power_two_proportions(0.1, 0.2, 'Infinity')", "n_per_arm"),
                   ("SELECT segmentation.power_two_proportions(0.1, 0.2, 10, 0)", "alpha"),
                   ("SELECT segmentation.sample_size_two_means('Infinity', 1)", "sd"),
                   ("SELECT segmentation.sample_size_two_means(1, 'NaN')", "delta"),
                   ("SELECT segmentation.sample_size_two_means(1, 1, 0.05, 'NaN')", "power"),
                   ("SELECT segmentation.msprt_p_value('-Infinity', 1, 1, 1)", "mean_diff"),
                   ("SELECT segmentation.msprt_p_value(1, 'NaN', 1, 1)", "sigma2"),
                   ("SELECT segmentation.msprt_p_value(1, 1, 'Infinity', 1)", "tau2"),
                   ("SELECT segmentation.msprt_p_value(1, 1, 1, 'NaN')", "n_per_arm")]:
        got = error_code(q)
        suite.check(f"{q} is an error naming {arg}", got.startswith(f'22023 argument "{arg}"'), got)
    got = error_code("SELECT segmentation.sample_size_two_means(1e300, 1e-300)")
    suite.check("sample_size_two_means(1e300, 1e-300) is out of range", got.startswith("22003"), got)
    extremes = [0, 5e-324, 1e-300, 1e-10, 0.5, 1, 1e10, 1e300, 1.7976931348623157e308]
    bad = []
    for a in extremes:
        for b in extremes:
            for c in [5e-324, 1, 1e300]:
                for q, args in [("SELECT segmentation.msprt_p_value(%s, %s, %s, %s)", (a, b, c, a or 1)),
                                ("SELECT segmentation.msprt_p_value(%s, %s, %s, %s)", (-b, a, c, c)),
                                ("SELECT segmentation.sample_size_two_means(%s, %s)", (a, b or 1)),
                                ("SELECT segmentation.power_two_proportions(%s, %s, %s)", (min(a, 1), min(b, 1), c)),
                                ("SELECT segmentation.chi2_quantile(%s, %s)", (min(a, 1), min(max(b, 1e-300), 1e6)))]:
                    try:
                        cur.execute(q, args)
                        v = cur.fetchone()[0]
                        if v != v or ("msprt" in q or "power" in q) and not 0 <= v <= 1:
                            bad.append((q % args, v))
                    except psycopg2.Error as e:
                        if e.pgcode != "22003":
                            bad.append((q % args, e.pgcode + " " + e.diag.message_primary))
    suite.check("extreme arguments: a number (a probability where one is due) or an out-of-range error, never NaN",
                not bad, repr(bad[:5]))

    conn.close()
    drop_database(DB)
    suite.finish()


if __name__ == "__main__":
    main()
