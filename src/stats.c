/*
 * stats.c
 *		The statistics behind experiment lift: normal and Student t
 *		distributions, chi-square and its quantile, the two-proportion z test,
 *		Welch's t test, the sample ratio mismatch test, Pearson's chi-square
 *		test of homogeneity (validate_segments), Cochran's Q test of
 *		heterogeneity, Benjamini-Hochberg and Holm adjustment, power and sample
 *		sizes, and the always-valid p-value of the mixture sequential
 *		probability ratio test.
 *
 * Tails are computed directly (erfc, the incomplete beta and gamma functions
 * on the tail side), never as 1 - cdf, so a p-value of 1e-200 comes out as
 * 1e-200.  Impossible input is an error naming the argument; a legal but
 * degenerate case (an arm with no conversions, a group of one) gives NULL
 * for what is undefined, so one small segment never breaks a view.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#define Z975	1.959963984540054	/* normal quantile of 0.975 */

static void pg_attribute_noreturn()
BadArg(const char *arg, const char *rule)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("argument \"%s\" %s", arg, rule)));
}

/* ---------- distributions ---------- */

/* P(Z <= x) */
static double
NormalCdf(double x)
{
	return 0.5 * erfc(-x / M_SQRT2);
}

/*
 * Quantile of the standard normal for 0 < p <= 0.5: Acklam's rational
 * approximation (relative error ~1e-9) polished by Halley steps on erfc.
 */
static double
NormalQuantileLower(double p)
{
	static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
	1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
	static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
	6.680131188771972e+01, -1.328068155288572e+01};
	static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
	-2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
	static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
	3.754408661907416e+00};
	double		x;
	int			i;

	if (p < 0.02425)
	{
		double		q = sqrt(-2 * log(p));

		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
			((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	}
	else
	{
		double		q = p - 0.5;
		double		r = q * q;

		x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
			(((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
	}
	for (i = 0; i < 3; i++)
	{
		/* Halley's method on cdf(x) - p; relative to p, so the far tail stays exact */
		double		e = NormalCdf(x) - p;
		double		u = e * sqrt(2 * M_PI) * exp(x * x / 2);

		x = x - u / (1 + x * u / 2);
	}
	return x;
}

/*
 * log P(Z <= x) for x <= -20, from the asymptotic series of Mills' ratio
 * (its terms fall below 1e-17 long before they would grow again): where
 * P(Z <= x) itself is a denormal with few digits, or 0.
 */
static double
LogNormalCdfTail(double x)
{
	double		sum = 1,
				term = 1;
	int			k;

	for (k = 1; k < 30 && fabs(term) > 1e-17; k++)
	{
		term *= -(2 * k - 1) / (x * x);
		sum += term;
	}
	return -x * x / 2 - log(-x) - 0.5 * log(2 * M_PI) + log(sum);
}

static double
NormalQuantile(double p)
{
	if (p == 0)
		return -INFINITY;
	if (p == 1)
		return INFINITY;
	if (p > 0.5)
		return -NormalQuantileLower(1 - p);	/* 1 - p is exact here */
	if (p < 1e-300)
	{
		/*
		 * Past 1e-300 the steps below would overflow exp(x^2 / 2) and the
		 * cdf is a denormal: Newton on log(cdf) instead, from x = -37.
		 */
		double		x = -37.5,
					lp = log(p);
		int			i;

		for (i = 0; i < 50; i++)
		{
			double		lc = LogNormalCdfTail(x);
			double		step = (lc - lp) / exp(-x * x / 2 - 0.5 * log(2 * M_PI) - lc);

			x -= step;
			if (fabs(step) <= 1e-16 * fabs(x))
				break;
		}
		return x;
	}
	return NormalQuantileLower(p);
}

/* one step of the modified Lentz algorithm: returns the factor for h */
static inline double
LentzStep(double aa, double bb, double *c, double *d)
{
	const double tiny = 1e-300;

	*d = bb + aa * *d;
	if (fabs(*d) < tiny)
		*d = tiny;
	*c = bb + aa / *c;
	if (fabs(*c) < tiny)
		*c = tiny;
	*d = 1 / *d;
	return *d * *c;
}

/* continued fraction of the incomplete beta function (modified Lentz) */
static double
BetaContinuedFraction(double a, double b, double x)
{
	double		c = 1,
				d = 1 - (a + b) * x / (a + 1),
				h;
	int			m;

	if (fabs(d) < 1e-300)
		d = 1e-300;
	d = 1 / d;
	h = d;
	for (m = 1; m <= 10000; m++)
	{
		int			m2 = 2 * m;
		double		del;

		h *= LentzStep(m * (b - m) * x / ((a - 1 + m2) * (a + m2)), 1, &c, &d);
		del = LentzStep(-(a + m) * (a + b + m) * x / ((a + m2) * (a + 1 + m2)), 1, &c, &d);
		h *= del;
		if (fabs(del - 1) < 1e-16)
			break;
	}
	return h;
}

/*
 * Regularized incomplete beta I_x(a, b), given x and y = 1 - x (passed
 * separately so that a y computed without cancellation keeps its digits).
 * Computes the side where the continued fraction converges and complements
 * only when the wanted side is the large one.
 */
static double
IncompleteBeta(double a, double b, double x, double y)
{
	double		lfront;

	if (x <= 0)
		return 0;
	if (y <= 0)
		return 1;
	lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(y);
	if (x < (a + 1) / (a + b + 2))
		return exp(lfront) * BetaContinuedFraction(a, b, x) / a;
	return 1 - exp(lfront) * BetaContinuedFraction(b, a, y) / b;
}

/* P(T > t) for Student's t with df degrees of freedom (df > 0, real) */
static double
StudentSf(double t, double df)
{
	double		t2 = t * t;
	double		tail;

	if (isinf(t))
		return t > 0 ? 0 : 1;
	/* P(|T| > |t|) / 2 = I_x(df/2, 1/2) / 2, x = df / (df + t^2) */
	if (df / t2 < 1e-300)
	{
		/*
		 * x is past what a double holds (t^2 may be infinite), the tail not
		 * always: the leading term of I_x(a, 1/2) as x -> 0, x^a / (a B(a,
		 * 1/2)), relative error O(x), with log x = log df - 2 log |t|.
		 */
		double		a = df / 2;

		tail = 0.5 * exp(lgamma(a + 0.5) - lgamma(a) - lgamma(0.5) + a * (log(df) - 2 * log(fabs(t))) - log(a));
	}
	else
		tail = 0.5 * IncompleteBeta(df / 2, 0.5, df / (df + t2), t2 / (df + t2));
	return t > 0 ? tail : 1 - tail;
}

static double
StudentCdf(double t, double df)
{
	return StudentSf(-t, df);
}

/* density of Student's t */
static double
StudentPdf(double t, double df)
{
	return exp(lgamma((df + 1) / 2) - lgamma(df / 2) - 0.5 * log(df * M_PI)
			   - (df + 1) / 2 * log1p(t * t / df));
}

/*
 * Quantile of Student's t for 0 < p <= 0.5 (the lower side): safeguarded
 * Newton on log(cdf), which keeps relative precision in the far tail.
 */
static double
StudentQuantileLower(double p, double df)
{
	double		lo,
				hi = 0,
				t;
	int			i;

	/* bracket: cdf(lo) <= p <= cdf(hi) */
	lo = Min(NormalQuantile(p), -1);
	while (StudentCdf(lo, df) > p)
	{
		hi = lo;
		lo *= 2;
		if (lo < -1e300)
			return -INFINITY;
	}
	t = (StudentCdf(hi, df) >= p && hi < 0) ? hi : 0.5 * (lo + hi);
	for (i = 0; i < 200; i++)
	{
		double		cdf = StudentCdf(t, df);
		double		g = log(cdf) - log(p);
		double		step = g * cdf / StudentPdf(t, df);
		double		next = t - step;

		if (cdf > p)
			hi = t;
		else
			lo = t;
		if (!(next > lo && next < hi))
			next = 0.5 * (lo + hi);
		if (fabs(next - t) <= 1e-15 * fabs(t) || hi - lo <= 1e-15 * fabs(t))
			return next;
		t = next;
	}
	return t;
}

static double
StudentQuantile(double p, double df)
{
	if (p == 0)
		return -INFINITY;
	if (p == 1)
		return INFINITY;
	if (p == 0.5)
		return 0;
	if (p > 0.5)
		return -StudentQuantileLower(1 - p, df);
	return StudentQuantileLower(p, df);
}

/*
 * log Gamma(1 + a) for a > 0, also where 1 + a rounds to 1: there the first
 * terms of -gamma a + sum_k (-1)^k zeta(k)/k a^k (the next is 1e-18 relative
 * below a = 1e-3).
 */
static double
LogGamma1p(double a)
{
	if (a < 1e-3)
		return a * (-0.5772156649015329 + a * (0.8224670334241132 + a * (-0.4006856343865314
				+ a * (0.2705808084277845 + a * (-0.2073855510286740 + a * 0.1695571769974082)))));
	return lgamma(1 + a);
}

/*
 * log of the regularized incomplete gamma function at x > 0 (lx = log x,
 * passed separately so that an x that underflows keeps its logarithm), on the
 * side that converges: the lower P by its series when x < a + 1 (*upper set
 * to false), the upper Q by its continued fraction otherwise (*upper true).
 */
static double
LogGammaSide(double a, double x, double lx, bool *upper)
{
	double		lfront = a * lx - x - lgamma(a);

	if (x < a + 1)
	{
		/* series for P */
		double		ap = a,
					sum = 1 / a,
					del = sum;
		int			n;

		for (n = 0; n < 100000; n++)
		{
			ap += 1;
			del *= x / ap;
			sum += del;
			if (fabs(del) < fabs(sum) * 1e-17)
				break;
		}
		*upper = false;
		return lfront + log(sum);
	}
	else
	{
		/* continued fraction for Q (modified Lentz) */
		double		b = x + 1 - a,
					c = 1e300,
					d = 1 / b,
					h = d;
		int			i;

		for (i = 1; i < 100000; i++)
		{
			double		del;

			b += 2;
			del = LentzStep(-i * (i - a), b, &c, &d);
			h *= del;
			if (fabs(del - 1) < 1e-16)
				break;
		}
		*upper = true;
		return lfront + log(h);
	}
}

/*
 * Q(a, x) for a < 0.5 and x < a + 1, where P is within a few a of 1 and
 * 1 - P would cancel: Q = -expm1(log(x^a / Gamma(a + 1)))
 * - x^a / Gamma(a) * sum_{n >= 1} (-x)^n / (n! (a + n)).
 */
static double
GammaUpperSmallA(double a, double x, double lx)
{
	double		lxa = a * lx - LogGamma1p(a),
				sum = 0,
				term = 1;
	int			n;

	for (n = 1; n < 1000; n++)
	{
		double		t;

		term *= -x / n;
		t = term / (a + n);
		sum += t;
		if (fabs(t) <= 1e-17 * fabs(sum))
			break;
	}
	return -expm1(lxa) - a * exp(lxa) * sum;
}

/* regularized lower (P) and upper (Q) incomplete gamma functions */
static void
IncompleteGamma(double a, double x, double *P, double *Q)
{
	double		l;
	bool		upper;

	if (x <= 0)
	{
		*P = 0;
		*Q = 1;
		return;
	}
	l = LogGammaSide(a, x, log(x), &upper);
	if (upper)
	{
		*Q = exp(l);
		*P = 1 - *Q;
	}
	else
	{
		*P = exp(l);
		*Q = 1 - *P;	/* chi2_cdf reads P; srm_test's a >= 0.5 keeps Q */
	}
}

/* log P(a, e^lx), or log Q(a, e^lx) when upper, each without cancellation */
static double
LogIncompleteGamma(double a, double lx, bool upper)
{
	double		x = exp(lx),
				l;
	bool		side;

	if (isinf(x))
		return upper ? -INFINITY : 0;
	l = LogGammaSide(a, x, lx, &side);
	if (side == upper)
		return l;
	if (upper && a < 0.5)
		return log(GammaUpperSmallA(a, x, lx));
	/* the complement of a side that is below 0.5 or so: no cancellation */
	return log1p(-exp(l));
}

/*
 * What chi2_quantile solves for u = log y: log P(a, e^u) - log p, or log(1 - p)
 * - log Q(a, e^u) on the upper side; increasing in u either way.
 */
static double
Chi2QuantileGap(double a, double u, bool upper, double target)
{
	return upper ? target - LogIncompleteGamma(a, u, true) : LogIncompleteGamma(a, u, false) - target;
}

/*
 * Quantile of the chi-square distribution with df degrees of freedom, for
 * 0 < p < 1: y = x / 2 solves P(df/2, y) = p, or Q(df/2, y) = 1 - p when p >
 * 0.5 (1 - p is exact there, and the upper side keeps its digits near 1).
 * Safeguarded Newton on the log of that side as a function of log y, from
 * the Wilson-Hilferty approximation.
 */
static double
Chi2Quantile(double p, double df)
{
	double		a = df / 2,
				lga = lgamma(a),
				base = 1 - 2 / (9 * df) + NormalQuantile(p) * sqrt(2 / (9 * df)),
				small,
				target,
				lo,
				hi,
				u,
				step;
	bool		upper = p > 0.5;
	int			i;

	/*
	 * Where y is below 1e-17, P(a, y) = y^a / Gamma(a + 1) * (1 - O(y)):
	 * solved exactly, down to an x that underflows to 0 (a tiny df).
	 */
	small = (log(p) + LogGamma1p(a)) / a;
	if (small < -40)
		return 2 * exp(small);

	target = upper ? log1p(-p) : log(p);
	u = base > 0 ? log(df / 2) + 3 * log(base) : small;

	/* bracket the root */
	lo = hi = u;
	for (step = 1, i = 0; Chi2QuantileGap(a, lo, upper, target) > 0 && i < 2000; i++, step *= 2)
		lo -= step;
	for (step = 1, i = 0; Chi2QuantileGap(a, hi, upper, target) < 0 && i < 2000; i++, step *= 2)
		hi += step;
	for (i = 0; i < 200; i++)
	{
		double		f = Chi2QuantileGap(a, u, upper, target),
					l = upper ? target - f : f + target,
					slope = exp(a * u - exp(u) - lga - l),	/* d f / du */
					next;

		if (f == 0)
			break;
		if (f < 0)
			lo = u;
		else
			hi = u;
		next = u - f / slope;
		if (!(next > lo && next < hi))
			next = 0.5 * (lo + hi);
		if (fabs(next - u) <= 1e-15 * Max(1, fabs(u)))
		{
			u = next;
			break;
		}
		u = next;
	}
	return 2 * exp(u);
}

/* ---------- SQL: distributions ---------- */

static double
GetFinite(FunctionCallInfo fcinfo, int n, const char *arg)
{
	double		v = PG_GETARG_FLOAT8(n);

	if (isnan(v))
		BadArg(arg, "must not be NaN");
	return v;
}

/*
 * Degrees of freedom where the incomplete beta and gamma functions above
 * keep 1e-9 relative precision (checked against mpmath in test/stats.py):
 * past 1e6 the cancellation between their lgamma terms eats the digits;
 * below 1e-300 half of df underflows.
 */
#define DF_MIN 1e-300
#define DF_MAX 1e6

static double
GetDf(FunctionCallInfo fcinfo, int n, const char *arg)
{
	double		df = GetFinite(fcinfo, n, arg);

	if (!(df >= DF_MIN && df <= DF_MAX))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be a number of degrees of freedom between 1e-300 and 1e6", arg),
				 errdetail("Got %g.", df),
				 errhint("Past 1e6 degrees of freedom the normal distribution is the limit: use normal_cdf.")));
	return df;
}

static double
GetProbability(FunctionCallInfo fcinfo, int n, const char *arg)
{
	double		p = GetFinite(fcinfo, n, arg);

	if (p < 0 || p > 1)
		BadArg(arg, "must be a probability between 0 and 1");
	return p;
}

PG_FUNCTION_INFO_V1(normal_cdf);
Datum
normal_cdf(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(NormalCdf(GetFinite(fcinfo, 0, "x")));
}

PG_FUNCTION_INFO_V1(normal_quantile);
Datum
normal_quantile(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(NormalQuantile(GetProbability(fcinfo, 0, "p")));
}

PG_FUNCTION_INFO_V1(students_t_cdf);
Datum
students_t_cdf(PG_FUNCTION_ARGS)
{
	double		t = GetFinite(fcinfo, 0, "t");

	PG_RETURN_FLOAT8(StudentCdf(t, GetDf(fcinfo, 1, "df")));
}

PG_FUNCTION_INFO_V1(students_t_quantile);
Datum
students_t_quantile(PG_FUNCTION_ARGS)
{
	double		p = GetProbability(fcinfo, 0, "p");

	PG_RETURN_FLOAT8(StudentQuantile(p, GetDf(fcinfo, 1, "df")));
}

PG_FUNCTION_INFO_V1(chi2_cdf);
Datum
chi2_cdf(PG_FUNCTION_ARGS)
{
	double		x = GetFinite(fcinfo, 0, "x");
	double		k = GetDf(fcinfo, 1, "k");
	double		P,
				Q;

	if (isinf(x))
		PG_RETURN_FLOAT8(x > 0 ? 1 : 0);
	IncompleteGamma(k / 2, x / 2, &P, &Q);
	PG_RETURN_FLOAT8(P);
}

PG_FUNCTION_INFO_V1(chi2_quantile);
Datum
chi2_quantile(PG_FUNCTION_ARGS)
{
	double		p = GetProbability(fcinfo, 0, "p");
	double		df = GetDf(fcinfo, 1, "df");

	if (p == 0)
		PG_RETURN_FLOAT8(0);
	if (p == 1)
		PG_RETURN_FLOAT8(INFINITY);
	PG_RETURN_FLOAT8(Chi2Quantile(p, df));
}

/* ---------- SQL: tests ---------- */

static TupleDesc
ResultDesc(FunctionCallInfo fcinfo)
{
	TupleDesc	tupdesc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "function returning a record called in a context that cannot accept one");
	return BlessTupleDesc(tupdesc);
}

static void
SetValue(Datum *values, bool *nulls, int i, double v, bool defined)
{
	values[i] = Float8GetDatum(v);
	nulls[i] = !defined || isnan(v);
}

/*
 * two_proportion_test(x1, n1, x2, n2): group 1 is control.  Pooled z test,
 * two-sided p, unpooled Wald 95% CI of p2 - p1, rel_lift = p2/p1 - 1 with a
 * delta-method 95% CI.  Where a standard error is 0 (each arm at 0% or
 * 100%) its interval is undefined (NULL), not a width of 0: ten users who
 * all did not convert do not make a lift of exactly 0 certain.
 */
PG_FUNCTION_INFO_V1(two_proportion_test);
Datum
two_proportion_test(PG_FUNCTION_ARGS)
{
	int64		x1 = PG_GETARG_INT64(0),
				n1 = PG_GETARG_INT64(1),
				x2 = PG_GETARG_INT64(2),
				n2 = PG_GETARG_INT64(3);
	TupleDesc	tupdesc = ResultDesc(fcinfo);
	Datum		values[10];
	bool		nulls[10];
	double		p1,
				p2,
				pooled,
				se_pooled,
				se,
				z,
				rel,
				se_rel;

	if (n1 <= 0)
		BadArg("n1", "must be positive");
	if (n2 <= 0)
		BadArg("n2", "must be positive");
	if (x1 < 0 || x1 > n1)
		BadArg("x1", "must be between 0 and n1");
	if (x2 < 0 || x2 > n2)
		BadArg("x2", "must be between 0 and n2");

	p1 = (double) x1 / n1;
	p2 = (double) x2 / n2;
	pooled = ((double) x1 + x2) / ((double) n1 + n2);
	se_pooled = sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2));
	se = sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2);
	z = (p2 - p1) / se_pooled;
	rel = p2 / p1 - 1;
	se_rel = sqrt(p2 * (1 - p2) / (n2 * p1 * p1) + p2 * p2 * p1 * (1 - p1) / (n1 * pow(p1, 4)));

	SetValue(values, nulls, 0, p1, true);
	SetValue(values, nulls, 1, p2, true);
	SetValue(values, nulls, 2, p2 - p1, true);
	SetValue(values, nulls, 3, z, se_pooled > 0);
	SetValue(values, nulls, 4, erfc(fabs(z) / M_SQRT2), se_pooled > 0);	/* two-sided, from the tail */
	SetValue(values, nulls, 5, p2 - p1 - Z975 * se, se > 0);
	SetValue(values, nulls, 6, p2 - p1 + Z975 * se, se > 0);
	SetValue(values, nulls, 7, rel, p1 > 0);
	SetValue(values, nulls, 8, rel - Z975 * se_rel, p1 > 0 && se_rel > 0);
	SetValue(values, nulls, 9, rel + Z975 * se_rel, p1 > 0 && se_rel > 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * welch_test(n1, mean1, var1, n2, mean2, var2): difference mean2 - mean1,
 * Welch's t with Welch-Satterthwaite df, two-sided p and 95% CI.  Undefined
 * (NULL) when a group has fewer than 2 members or both variances are 0.
 */
PG_FUNCTION_INFO_V1(welch_test);
Datum
welch_test(PG_FUNCTION_ARGS)
{
	int64		n1 = PG_GETARG_INT64(0),
				n2 = PG_GETARG_INT64(3);
	double		m1 = GetFinite(fcinfo, 1, "mean1"),
				v1 = GetFinite(fcinfo, 2, "var1"),
				m2 = GetFinite(fcinfo, 4, "mean2"),
				v2 = GetFinite(fcinfo, 5, "var2");
	TupleDesc	tupdesc = ResultDesc(fcinfo);
	Datum		values[6];
	bool		nulls[6];
	double		a,
				b,
				se,
				t,
				df,
				q;
	bool		defined;

	if (n1 <= 0)
		BadArg("n1", "must be positive");
	if (n2 <= 0)
		BadArg("n2", "must be positive");
	if (v1 < 0 || isinf(v1))
		BadArg("var1", "must be a finite variance >= 0");
	if (v2 < 0 || isinf(v2))
		BadArg("var2", "must be a finite variance >= 0");
	if (isinf(m1) || isinf(m2))
		BadArg(isinf(m1) ? "mean1" : "mean2", "must be finite");

	a = v1 / n1;
	b = v2 / n2;
	se = sqrt(a + b);
	defined = n1 >= 2 && n2 >= 2 && se > 0;
	t = defined ? (m2 - m1) / se : 0;
	df = defined ? (a + b) * (a + b) / (a * a / (n1 - 1) + b * b / (n2 - 1)) : 0;
	q = defined ? StudentQuantile(0.975, df) : 0;

	SetValue(values, nulls, 0, m2 - m1, true);
	SetValue(values, nulls, 1, t, defined);
	SetValue(values, nulls, 2, df, defined);
	SetValue(values, nulls, 3, defined ? 2 * StudentSf(fabs(t), df) : 0, defined);
	SetValue(values, nulls, 4, m2 - m1 - q * se, defined);
	SetValue(values, nulls, 5, m2 - m1 + q * se, defined);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* the elements of a one-dimensional array without NULLs */
static int
ArrayValues(ArrayType *arr, Oid type, const char *arg, Datum **values)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	bool	   *nulls;
	int			n,
				i;

	if (ARR_NDIM(arr) > 1)
		BadArg(arg, "must be a one-dimensional array");
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, type, typlen, typbyval, typalign, values, &nulls, &n);
	for (i = 0; i < n; i++)
		if (nulls[i])
			BadArg(arg, "must not contain NULL");
	return n;
}

/*
 * srm_test(counts, weights): p-value of Pearson's chi-square of the observed
 * arm sizes against the design weights, from the upper tail.  Arms of weight
 * 0 are left out; arms of positive weight and no users stay in.  NULL when
 * fewer than two arms have weight or nobody is in them.
 */
PG_FUNCTION_INFO_V1(srm_test);
Datum
srm_test(PG_FUNCTION_ARGS)
{
	Datum	   *counts,
			   *weights;
	int			nc = ArrayValues(PG_GETARG_ARRAYTYPE_P(0), INT8OID, "counts", &counts);
	int			nw = ArrayValues(PG_GETARG_ARRAYTYPE_P(1), FLOAT8OID, "weights", &weights);
	double		total = 0,
				wsum = 0,
				wmax = 0,
				chi2 = 0,
				P,
				Q;
	int			arms = 0,
				i;

	if (nc != nw)
		BadArg("weights", "must have one element per element of counts");
	for (i = 0; i < nc; i++)
	{
		double		w = DatumGetFloat8(weights[i]);

		if (DatumGetInt64(counts[i]) < 0)
			BadArg("counts", "must not be negative");
		if (!(w >= 0) || isinf(w))
			BadArg("weights", "must be finite and >= 0");
		wmax = Max(wmax, w);
	}
	/* weights relative to the largest: their sum stays finite */
	for (i = 0; i < nc; i++)
	{
		double		w = DatumGetFloat8(weights[i]);

		if (w > 0)
		{
			arms++;
			wsum += w / wmax;
			total += DatumGetInt64(counts[i]);
		}
	}
	if (arms < 2 || total == 0)
		PG_RETURN_NULL();
	for (i = 0; i < nc; i++)
	{
		double		w = DatumGetFloat8(weights[i]);

		if (w > 0)
		{
			double		expected = total * (w / wmax / wsum);
			double		diff = DatumGetInt64(counts[i]) - expected;

			chi2 += diff * diff / expected;
		}
	}
	/* an arm of tiny weight with users: a mismatch past what a double holds */
	if (isinf(chi2))
		PG_RETURN_FLOAT8(0);
	IncompleteGamma((arms - 1) / 2.0, chi2 / 2, &P, &Q);
	PG_RETURN_FLOAT8(Q);
}

/*
 * _chi2_homogeneity(x, n): p-value of Pearson's chi-square test that groups
 * of n[i] members, x[i] of whom had the outcome, share one rate (a k x 2
 * table, k - 1 degrees of freedom), from the upper tail.  NULL when it is
 * undefined: fewer than two groups with members, or no one (or everyone)
 * with the outcome.
 */
PG_FUNCTION_INFO_V1(chi2_homogeneity);
Datum
chi2_homogeneity(PG_FUNCTION_ARGS)
{
	Datum	   *xs,
			   *ns;
	int			k = ArrayValues(PG_GETARG_ARRAYTYPE_P(0), INT8OID, "x", &xs);
	int			kn = ArrayValues(PG_GETARG_ARRAYTYPE_P(1), INT8OID, "n", &ns);
	double		total = 0,
				outcomes = 0,
				chi2 = 0,
				P,
				Q;
	int			groups = 0,
				i;

	if (k != kn)
		BadArg("n", "must have one element per element of x");
	for (i = 0; i < k; i++)
	{
		int64		x = DatumGetInt64(xs[i]),
					n = DatumGetInt64(ns[i]);

		if (n < 0)
			BadArg("n", "must not be negative");
		if (x < 0 || x > n)
			BadArg("x", "must be between 0 and n");
		if (n > 0)
			groups++;
		total += n;
		outcomes += x;
	}
	if (groups < 2 || outcomes == 0 || outcomes == total)
		PG_RETURN_NULL();
	for (i = 0; i < k; i++)
	{
		double		n = DatumGetInt64(ns[i]),
					x = DatumGetInt64(xs[i]),
					e1 = n * (outcomes / total),
					e0 = n * ((total - outcomes) / total);

		if (n > 0)
			chi2 += (x - e1) * (x - e1) / e1 + (n - x - e0) * (n - x - e0) / e0;
	}
	IncompleteGamma((groups - 1) / 2.0, chi2 / 2, &P, &Q);
	PG_RETURN_FLOAT8(Q);
}

/*
 * cochran_q_test(effects, variances): do k estimates of one effect differ
 * more than their variances allow?  Cochran's Q = sum w_i (d_i - mean)^2
 * with inverse-variance weights w_i = 1 / v_i and the weighted mean, against
 * chi-square with k - 1 degrees of freedom (upper tail).  Pairs with a NULL,
 * a variance of 0 (no spread to weigh by) or an infinite one (no
 * information) are left out; NULL when fewer than two remain.
 */
PG_FUNCTION_INFO_V1(cochran_q_test);
Datum
cochran_q_test(PG_FUNCTION_ARGS)
{
	ArrayType  *ea = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *va = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *ev,
			   *vv;
	bool	   *en,
			   *vn;
	int			ne,
				nv,
				k = 0,
				i;
	double		vmin = 0,
				wsum = 0,
				wdsum = 0,
				mean,
				q = 0,
				P,
				Q;

	if (ARR_NDIM(ea) > 1)
		BadArg("effects", "must be a one-dimensional array");
	if (ARR_NDIM(va) > 1)
		BadArg("variances", "must be a one-dimensional array");
	deconstruct_array(ea, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ev, &en, &ne);
	deconstruct_array(va, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &vv, &vn, &nv);
	if (ne != nv)
		BadArg("variances", "must have one element per element of effects");
	for (i = 0; i < ne; i++)
	{
		if (!en[i] && !isfinite(DatumGetFloat8(ev[i])))
			BadArg("effects", "must be finite");
		if (!vn[i] && !(DatumGetFloat8(vv[i]) >= 0))
			BadArg("variances", "must be >= 0");
		if (en[i] || vn[i] || DatumGetFloat8(vv[i]) == 0 || isinf(DatumGetFloat8(vv[i])))
			continue;
		vmin = (k == 0) ? DatumGetFloat8(vv[i]) : Min(vmin, DatumGetFloat8(vv[i]));
		k++;
	}
	if (k < 2)
		PG_RETURN_NULL();
	/* weights relative to the largest (vmin / v <= 1): their sums stay finite */
	for (i = 0; i < ne; i++)
	{
		double		v = vn[i] ? 0 : DatumGetFloat8(vv[i]);

		if (en[i] || v == 0 || isinf(v))
			continue;
		wsum += vmin / v;
		wdsum += vmin / v * DatumGetFloat8(ev[i]);
	}
	mean = wdsum / wsum;
	for (i = 0; i < ne; i++)
	{
		double		v = vn[i] ? 0 : DatumGetFloat8(vv[i]);
		double		d;

		if (en[i] || v == 0 || isinf(v))
			continue;
		d = DatumGetFloat8(ev[i]) - mean;
		q += vmin / v * d * d;
	}
	q /= vmin;
	/* effects near the limits of a double: the weighted mean overflows */
	if (isnan(mean) || isnan(q))
		PG_RETURN_NULL();
	if (isinf(q))
		PG_RETURN_FLOAT8(0);
	IncompleteGamma((k - 1) / 2.0, q / 2, &P, &Q);
	PG_RETURN_FLOAT8(Q);
}

typedef struct RankedP
{
	double		p;
	int			index;
} RankedP;

static int
CompareRankedP(const void *a, const void *b)
{
	double		x = ((const RankedP *) a)->p;
	double		y = ((const RankedP *) b)->p;

	return (x > y) - (x < y);
}

/*
 * The non-NULL p-values of a one-dimensional float8[] in ascending order,
 * with their positions; *elems and *nulls receive the whole array, for the
 * result.  Returns how many there are.
 */
static int
RankPValues(ArrayType *arr, Datum **elems, bool **nulls, int *n, RankedP **ranked)
{
	int			m = 0,
				i;

	if (ARR_NDIM(arr) > 1)
		BadArg("p", "must be a one-dimensional array");
	deconstruct_array(arr, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, elems, nulls, n);
	*ranked = palloc(Max(*n, 1) * sizeof(RankedP));
	for (i = 0; i < *n; i++)
	{
		double		p;

		if ((*nulls)[i])
			continue;
		p = DatumGetFloat8((*elems)[i]);
		if (!(p >= 0 && p <= 1))
			BadArg("p", "must contain probabilities between 0 and 1");
		(*ranked)[m].p = p;
		(*ranked)[m].index = i;
		m++;
	}
	qsort(*ranked, m, sizeof(RankedP), CompareRankedP);
	return m;
}

static ArrayType *
PValueArray(Datum *elems, bool *nulls, int n)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};

	return construct_md_array(elems, nulls, n > 0 ? 1 : 0, dims, lbs,
							  FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * bh_adjust(p): Benjamini-Hochberg q-values in the input order; NULLs stay
 * NULL and are not counted.
 */
PG_FUNCTION_INFO_V1(bh_adjust);
Datum
bh_adjust(PG_FUNCTION_ARGS)
{
	Datum	   *elems;
	bool	   *nulls;
	RankedP    *ranked;
	int			n,
				m = RankPValues(PG_GETARG_ARRAYTYPE_P(0), &elems, &nulls, &n, &ranked),
				i;
	double		running = 1;

	for (i = m - 1; i >= 0; i--)
	{
		running = Min(running, ranked[i].p * m / (i + 1));
		elems[ranked[i].index] = Float8GetDatum(running);
	}
	PG_RETURN_ARRAYTYPE_P(PValueArray(elems, nulls, n));
}

/*
 * holm_adjust(p): Holm's step-down adjusted p-values in the input order
 * (the i-th smallest of m times m - i + 1, made non-decreasing, at most 1);
 * NULLs stay NULL and are not counted.  Tied p-values get the same value.
 */
PG_FUNCTION_INFO_V1(holm_adjust);
Datum
holm_adjust(PG_FUNCTION_ARGS)
{
	Datum	   *elems;
	bool	   *nulls;
	RankedP    *ranked;
	int			n,
				m = RankPValues(PG_GETARG_ARRAYTYPE_P(0), &elems, &nulls, &n, &ranked),
				i;
	double		running = 0;

	for (i = 0; i < m; i++)
	{
		running = Max(running, Min(1, ranked[i].p * (m - i)));
		elems[ranked[i].index] = Float8GetDatum(running);
	}
	PG_RETURN_ARRAYTYPE_P(PValueArray(elems, nulls, n));
}

/*
 * sample_size_two_proportions(baseline, mde, alpha, power): users per arm to
 * detect baseline -> baseline + mde with a two-sided test, pooled variance
 * under the null, no continuity correction; not rounded (round it up).
 */
PG_FUNCTION_INFO_V1(sample_size_two_proportions);
Datum
sample_size_two_proportions(PG_FUNCTION_ARGS)
{
	double		p1 = GetFinite(fcinfo, 0, "baseline"),
				mde = GetFinite(fcinfo, 1, "mde"),
				alpha = GetFinite(fcinfo, 2, "alpha"),
				power = GetFinite(fcinfo, 3, "power");
	double		p2 = p1 + mde,
				pbar = (p1 + p2) / 2,
				za,
				zb,
				num;

	if (!(p1 > 0 && p1 < 1))
		BadArg("baseline", "must be a rate strictly between 0 and 1");
	if (mde == 0 || !(p2 > 0 && p2 < 1))
		BadArg("mde", "must be a non-zero difference that keeps baseline + mde strictly between 0 and 1");
	if (!(alpha > 0 && alpha < 1))
		BadArg("alpha", "must be strictly between 0 and 1");
	if (!(power > 0 && power < 1))
		BadArg("power", "must be strictly between 0 and 1");
	za = -NormalQuantile(alpha / 2);
	zb = NormalQuantile(power);
	num = za * sqrt(2 * pbar * (1 - pbar)) + zb * sqrt(p1 * (1 - p1) + p2 * (1 - p2));
	/* a power so low that no user is needed (squaring would make it a size) */
	if (num <= 0)
		PG_RETURN_FLOAT8(0);
	PG_RETURN_FLOAT8(num * num / (mde * mde));
}

/*
 * power_two_proportions(p1, p2, n_per_arm, alpha): power of the two-sided
 * two-proportion z test with n_per_arm users in each arm, in the formula
 * family of sample_size_two_proportions (pooled variance under the null,
 * unpooled under the alternative, no continuity correction), both tails:
 * Phi((d sqrt(n) - z s0) / s1) + Phi((-d sqrt(n) - z s0) / s1), d = |p2 - p1|,
 * z = z_{1 - alpha/2}, s0 = sqrt(2 pbar (1 - pbar)), s1 = sqrt(p1 (1 - p1) +
 * p2 (1 - p2)).  With p1 = p2 it is alpha (the test's size; also the limit
 * at 0 and 1); with {p1, p2} = {0, 1} the test's outcome is certain: 1 when
 * sqrt(2 n) > z, else 0.
 */
PG_FUNCTION_INFO_V1(power_two_proportions);
Datum
power_two_proportions(PG_FUNCTION_ARGS)
{
	double		p1 = GetFinite(fcinfo, 0, "p1"),
				p2 = GetFinite(fcinfo, 1, "p2"),
				n = GetFinite(fcinfo, 2, "n_per_arm"),
				alpha = GetFinite(fcinfo, 3, "alpha");
	double		d,
				pbar,
				za,
				s0,
				s1,
				shift;

	if (p1 < 0 || p1 > 1)
		BadArg("p1", "must be a rate between 0 and 1");
	if (p2 < 0 || p2 > 1)
		BadArg("p2", "must be a rate between 0 and 1");
	if (!(n > 0) || isinf(n))
		BadArg("n_per_arm", "must be finite and positive");
	if (!(alpha > 0 && alpha < 1))
		BadArg("alpha", "must be strictly between 0 and 1");
	if (p1 == p2)
		PG_RETURN_FLOAT8(alpha);
	d = fabs(p2 - p1);
	pbar = (p1 + p2) / 2;
	za = -NormalQuantile(alpha / 2);
	s0 = sqrt(2 * pbar * (1 - pbar));
	s1 = sqrt(p1 * (1 - p1) + p2 * (1 - p2));
	shift = d * sqrt(n);
	if (s1 == 0)
		PG_RETURN_FLOAT8(shift > za * s0 ? 1 : 0);
	PG_RETURN_FLOAT8(NormalCdf((shift - za * s0) / s1) + NormalCdf((-shift - za * s0) / s1));
}

/*
 * sample_size_two_means(sd, delta, alpha, power): users per arm for a
 * two-sided z test of a difference delta between two means of common
 * standard deviation sd, 2 sd^2 (z_{1-alpha/2} + z_power)^2 / delta^2
 * (normal approximation); not rounded (round it up).  0 when sd is 0, or
 * when power is so low that z_{1-alpha/2} + z_power <= 0 (any n reaches it).
 */
PG_FUNCTION_INFO_V1(sample_size_two_means);
Datum
sample_size_two_means(PG_FUNCTION_ARGS)
{
	double		sd = GetFinite(fcinfo, 0, "sd"),
				delta = GetFinite(fcinfo, 1, "delta"),
				alpha = GetFinite(fcinfo, 2, "alpha"),
				power = GetFinite(fcinfo, 3, "power");
	double		z,
				ratio,
				n;

	if (sd < 0 || isinf(sd))
		BadArg("sd", "must be a finite standard deviation >= 0");
	if (delta == 0 || isinf(delta))
		BadArg("delta", "must be a finite non-zero difference");
	if (!(alpha > 0 && alpha < 1))
		BadArg("alpha", "must be strictly between 0 and 1");
	if (!(power > 0 && power < 1))
		BadArg("power", "must be strictly between 0 and 1");
	z = -NormalQuantile(alpha / 2) + NormalQuantile(power);
	if (z <= 0)
		PG_RETURN_FLOAT8(0);
	ratio = sd / fabs(delta) * z;	/* sd / delta first: no overflow on the way */
	n = 2 * ratio * ratio;
	if (isinf(n))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("sample size out of range"),
				 errdetail("2 (sd / delta)^2 (z_{1-alpha/2} + z_power)^2 is past the largest double precision value.")));
	PG_RETURN_FLOAT8(n);
}

/* log(1 + e^t), without overflow for large t */
static double
Log1pExp(double t)
{
	return t > 0 ? t + log1p(exp(-t)) : log1p(exp(t));
}

/*
 * msprt_p_value(mean_diff, sigma2, tau2, n_per_arm): always-valid p-value of
 * the mixture sequential probability ratio test (Johari, Pekelis, Walsh,
 * "Always valid inference"), normal mixture of variance tau2 over the
 * difference of two means, each arm's observations of variance sigma2:
 * with V = 2 sigma2 / n, Lambda = sqrt(V / (V + tau2))
 * exp(tau2 mean_diff^2 / (2 V (V + tau2))) and p = min(1, 1 / Lambda).
 * On the log scale, so a huge statistic gives a tiny p (down to 0), never
 * an overflow.  sigma2 = 0 (no noise) gives the limits: 0 when mean_diff
 * differs from 0, else 1.
 */
PG_FUNCTION_INFO_V1(msprt_p_value);
Datum
msprt_p_value(PG_FUNCTION_ARGS)
{
	double		diff = GetFinite(fcinfo, 0, "mean_diff"),
				sigma2 = GetFinite(fcinfo, 1, "sigma2"),
				tau2 = GetFinite(fcinfo, 2, "tau2"),
				n = GetFinite(fcinfo, 3, "n_per_arm");
	double		lv,
				ltau,
				log_lambda;

	if (isinf(diff))
		BadArg("mean_diff", "must be finite");
	if (sigma2 < 0 || isinf(sigma2))
		BadArg("sigma2", "must be a finite variance >= 0");
	if (!(tau2 > 0) || isinf(tau2))
		BadArg("tau2", "must be a finite variance > 0");
	if (!(n > 0) || isinf(n))
		BadArg("n_per_arm", "must be finite and positive");

	/* no noise: the limits, certain evidence or none */
	if (sigma2 == 0)
		PG_RETURN_FLOAT8(diff == 0 ? 1 : 0);
	lv = M_LN2 + log(sigma2) - log(n);
	ltau = log(tau2);
	/* log Lambda = -log(1 + tau2 / V) / 2 + mean_diff^2 / (2 V (1 + V / tau2)) */
	log_lambda = -0.5 * Log1pExp(ltau - lv)
		+ exp(2 * log(fabs(diff)) - M_LN2 - lv - Log1pExp(lv - ltau));
	PG_RETURN_FLOAT8(log_lambda <= 0 ? 1 : exp(-log_lambda));
}
