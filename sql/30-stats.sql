-- Statistics functions (src/stats.c).

-- ===================================================================
-- Statistics (src/stats.c)
-- ===================================================================

CREATE FUNCTION normal_cdf(x double precision) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION normal_quantile(p double precision) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION students_t_cdf(t double precision, df double precision) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION students_t_quantile(p double precision, df double precision) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION chi2_cdf(x double precision, k double precision) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION chi2_quantile(p double precision, df double precision) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION two_proportion_test(x1 bigint, n1 bigint, x2 bigint, n2 bigint,
	OUT control_rate double precision, OUT treatment_rate double precision, OUT abs_lift double precision,
	OUT z double precision, OUT p_value double precision,
	OUT abs_ci_low double precision, OUT abs_ci_high double precision,
	OUT rel_lift double precision, OUT rel_ci_low double precision, OUT rel_ci_high double precision)
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION welch_test(n1 bigint, mean1 double precision, var1 double precision,
	n2 bigint, mean2 double precision, var2 double precision,
	OUT diff double precision, OUT t double precision, OUT df double precision, OUT p_value double precision,
	OUT ci_low double precision, OUT ci_high double precision)
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION srm_test(counts bigint[], weights double precision[]) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cochran_q_test(effects double precision[], variances double precision[]) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bh_adjust(p double precision[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION holm_adjust(p double precision[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sample_size_two_proportions(baseline double precision, mde double precision,
	alpha double precision DEFAULT 0.05, power double precision DEFAULT 0.8) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION power_two_proportions(p1 double precision, p2 double precision, n_per_arm double precision,
	alpha double precision DEFAULT 0.05) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sample_size_two_means(sd double precision, delta double precision,
	alpha double precision DEFAULT 0.05, power double precision DEFAULT 0.8) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION msprt_p_value(mean_diff double precision, sigma2 double precision, tau2 double precision,
	n_per_arm double precision) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION normal_cdf(double precision) IS 'P(Z <= x) for the standard normal';
COMMENT ON FUNCTION normal_quantile(double precision) IS 'x with P(Z <= x) = p for the standard normal; -Infinity at 0, Infinity at 1';
COMMENT ON FUNCTION students_t_cdf(double precision, double precision) IS 'P(T <= t) for Student''s t with df > 0 (real) degrees of freedom';
COMMENT ON FUNCTION students_t_quantile(double precision, double precision) IS 't with P(T <= t) = p for Student''s t with df degrees of freedom';
COMMENT ON FUNCTION chi2_cdf(double precision, double precision) IS 'P(X <= x) for the chi-square distribution with k degrees of freedom';
COMMENT ON FUNCTION two_proportion_test(bigint, bigint, bigint, bigint) IS 'Two-proportion z test, group 1 = control: rates, abs_lift = p2 - p1 with unpooled Wald 95% CI, pooled z and two-sided p, rel_lift = p2/p1 - 1 with delta-method 95% CI; NULL where undefined';
COMMENT ON FUNCTION welch_test(bigint, double precision, double precision, bigint, double precision, double precision) IS 'Welch''s t test of mean2 - mean1: t, Welch-Satterthwaite df, two-sided p, 95% CI; NULL when a group has n < 2 or both variances are 0';
COMMENT ON FUNCTION srm_test(bigint[], double precision[]) IS 'Sample ratio mismatch: p-value of Pearson''s chi-square of arm sizes against design weights (weight-0 arms left out)';
COMMENT ON FUNCTION cochran_q_test(double precision[], double precision[]) IS 'Heterogeneity: p-value of Cochran''s Q (inverse-variance weights, chi-square with k - 1 df) that k estimates of one effect differ; pairs with a NULL or a variance of 0 or infinity left out; NULL for fewer than two';
COMMENT ON FUNCTION bh_adjust(double precision[]) IS 'Benjamini-Hochberg adjusted p-values (q-values), in input order; NULLs kept and not counted';
COMMENT ON FUNCTION sample_size_two_proportions(double precision, double precision, double precision, double precision) IS 'Users per arm to detect baseline -> baseline + mde (two-sided, pooled variance, no continuity correction); round up';
COMMENT ON FUNCTION chi2_quantile(double precision, double precision) IS 'x with P(X <= x) = p for the chi-square distribution with df degrees of freedom; 0 at p = 0, Infinity at 1';
COMMENT ON FUNCTION holm_adjust(double precision[]) IS 'Holm step-down adjusted p-values (family-wise error), in input order; NULLs kept and not counted';
COMMENT ON FUNCTION power_two_proportions(double precision, double precision, double precision, double precision) IS 'Power of the two-sided two-proportion z test with n_per_arm users per arm (pooled variance under H0, unpooled under H1, no continuity correction, both tails); alpha when p1 = p2';
COMMENT ON FUNCTION sample_size_two_means(double precision, double precision, double precision, double precision) IS 'Users per arm to detect a difference delta in means of common sd, two-sided z test: 2 sd^2 (z_{1-alpha/2} + z_power)^2 / delta^2 (normal approximation); round up';
COMMENT ON FUNCTION msprt_p_value(double precision, double precision, double precision, double precision) IS 'Always-valid p-value of the normal-mixture SPRT (Johari, Pekelis, Walsh) for a difference of two means: V = 2 sigma2 / n_per_arm, Lambda = sqrt(V / (V + tau2)) exp(tau2 mean_diff^2 / (2 V (V + tau2))), p = min(1, 1 / Lambda)';

-- internal: validate_segments' test of homogeneity (not part of the public
-- statistics: its arguments are the analysis' own counts)
CREATE FUNCTION _chi2_homogeneity(x bigint[], n bigint[]) RETURNS double precision
	AS 'MODULE_PATHNAME', 'chi2_homogeneity' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION _chi2_homogeneity(bigint[], bigint[]) IS 'Internal: p-value (upper tail) of Pearson''s chi-square test that groups of n[i] members, x[i] with the outcome, share one rate; NULL with fewer than two groups or when no one or everyone has the outcome';
