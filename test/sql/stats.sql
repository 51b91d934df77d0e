-- Statistics: a few exact values, the edges, degenerate cases (NULL, never
-- an error) and impossible input (an error naming the argument).
-- Accuracy against a high-precision reference: test/stats.py.
SET search_path = segmentation, public;
SET extra_float_digits = 0;

SELECT normal_cdf(0) AS half, normal_cdf(1.959963984540054) AS p975, normal_quantile(0.975) AS z975,
       normal_quantile(0) AS minus_inf, normal_quantile(1) AS plus_inf, normal_quantile(0.5) AS zero;
SELECT students_t_cdf(0, 3) AS half, students_t_cdf(1, 1) AS cauchy_at_1, students_t_quantile(0.975, 1e6) AS near_z,
       students_t_quantile(0.5, 2.5) AS zero, students_t_quantile(0, 4) AS minus_inf;
SELECT chi2_cdf(0, 3) AS zero, chi2_cdf(2, 2) AS one_minus_exp_minus_1, chi2_cdf('Infinity', 2) AS one;

-- far tails come from the tail itself, not 1 - cdf
SELECT normal_cdf(-30) > 0 AS normal_tail, students_t_cdf(-1e5, 3) > 0 AS t_tail,
       (SELECT p_value FROM two_proportion_test(100000, 1000000, 113500, 1000000)) BETWEEN 1e-220 AND 1e-190 AS z_tail,
       srm_test('{54800,45200}', '{1,1}') BETWEEN 1e-215 AND 1e-190 AS srm_tail;

-- two-proportion test: control first
SELECT round(control_rate::numeric, 4) AS c, round(treatment_rate::numeric, 4) AS t, round(abs_lift::numeric, 4) AS lift,
       round(z::numeric, 4) AS z, round(p_value::numeric, 6) AS p, round(abs_ci_low::numeric, 5) AS lo, round(abs_ci_high::numeric, 5) AS hi,
       round(rel_lift::numeric, 4) AS rel, round(rel_ci_low::numeric, 4) AS rel_lo, round(rel_ci_high::numeric, 4) AS rel_hi
FROM two_proportion_test(100, 1000, 120, 1000);
-- degenerate but legal: NULL where undefined, never an error
SELECT z IS NULL AS z_null, p_value IS NULL AS p_null, abs_lift, rel_lift,
       abs_ci_low IS NULL AND abs_ci_high IS NULL AS abs_ci_null FROM two_proportion_test(0, 10, 0, 12);
SELECT z IS NULL AS z_null, p_value IS NULL AS p_null, abs_lift, rel_lift,
       abs_ci_low IS NULL AND abs_ci_high IS NULL AND rel_ci_low IS NULL AND rel_ci_high IS NULL AS cis_null
FROM two_proportion_test(10, 10, 12, 12);
-- (each arm at 0% or 100%: no standard error, so no interval of width 0
-- either; one arm inside: the interval is defined)
SELECT z, abs_lift, abs_ci_low IS NULL AS abs_ci_null FROM two_proportion_test(0, 10, 10, 10);
SELECT abs_ci_low < 0 AND abs_ci_high > 0 AS abs_ci_around_0 FROM two_proportion_test(0, 10, 1, 10);
SELECT z IS NOT NULL AS z_defined, rel_lift IS NULL AS rel_null, rel_ci_low IS NULL AS ci_null FROM two_proportion_test(0, 10, 3, 12);
-- impossible input
SELECT * FROM two_proportion_test(11, 10, 1, 10);
SELECT * FROM two_proportion_test(1, 10, -1, 10);
SELECT * FROM two_proportion_test(0, 0, 1, 10);

-- Welch
SELECT round(diff::numeric, 4) AS diff, round(t::numeric, 4) AS t, round(df::numeric, 4) AS df, round(p_value::numeric, 6) AS p
FROM welch_test(20, 5.0, 4.0, 25, 6.5, 9.0);
SELECT diff, t, df, p_value, ci_low FROM welch_test(1, 5, 0, 10, 6, 1);
SELECT diff, t, df, p_value FROM welch_test(5, 5, 0, 10, 6, 0);
SELECT * FROM welch_test(5, 5, -1, 10, 6, 1);
SELECT * FROM welch_test(0, 5, 1, 10, 6, 1);
SELECT * FROM welch_test(5, 'NaN', 1, 10, 6, 1);

-- SRM
SELECT round(srm_test('{5050,4950}', '{1,1}')::numeric, 6) AS balanced, srm_test('{500,0,520}', '{1,0,1}') = srm_test('{500,520}', '{1,1}') AS weight_zero_left_out,
       srm_test('{300,0,310}', '{1,1,1}') < 1e-50 AS empty_arm_counts, srm_test('{10}', '{1}') IS NULL AS one_arm, srm_test('{0,0}', '{1,1}') IS NULL AS nobody;
SELECT srm_test('{1,2}', '{1}');
SELECT srm_test('{1,2}', '{1,-1}');
SELECT srm_test('{1,-2}', '{1,1}');
SELECT srm_test('{1,NULL}', '{1,1}');

-- Cochran's Q: heterogeneity of k estimates
SELECT round(cochran_q_test('{0.05,0.01,-0.02}', '{1e-4,2e-4,4e-4}')::numeric, 6) AS three,
       cochran_q_test('{0.1,0.1}', '{1e-3,2e-3}') AS equal_estimates,
       cochran_q_test('{0.1,NULL,0.2}', '{1e-3,1e-3,0}') IS NULL AS one_left,
       cochran_q_test('{}', '{}') IS NULL AS none;
SELECT cochran_q_test(ARRAY[1e308, -1e308, 0], ARRAY[4.9e-324, 1e308, 1e308]) IS NULL AS overflow_is_null;
SELECT cochran_q_test('{0.1,0.2}', '{1e-3}');
SELECT cochran_q_test('{0.1,NaN}', '{1e-3,1e-3}');
SELECT cochran_q_test('{0.1,0.2}', '{1e-3,-1}');
SELECT cochran_q_test('{{0.1},{0.2}}', '{1e-3,1e-3}');

-- Benjamini-Hochberg keeps order and NULLs
SELECT bh_adjust('{0.01,0.04,0.03,0.2,NULL,0.001}') AS q, bh_adjust('{}') AS empty, bh_adjust('{NULL}') AS only_null;
SELECT bh_adjust('{0.5,1.5}');
SELECT bh_adjust('{0.5,NaN}');

-- sample size per arm
SELECT ceil(sample_size_two_proportions(0.10, 0.01)) AS n_10_to_11, ceil(sample_size_two_proportions(0.5, -0.05, 0.01, 0.9)) AS n_other;
SELECT sample_size_two_proportions(0.1, 0.01, 0.05, 0.01) AS needs_nobody_for_power_1_percent;
SELECT sample_size_two_proportions(0, 0.01);
SELECT sample_size_two_proportions(0.1, 0);
SELECT sample_size_two_proportions(0.95, 0.1);
SELECT sample_size_two_proportions(0.1, 0.01, 1.5);
SELECT sample_size_two_proportions(0.1, 0.01, 0.05, 1);

-- distribution arguments
SELECT normal_quantile(1.5);
SELECT normal_quantile('NaN');
SELECT students_t_cdf(1, 0);
SELECT students_t_quantile(0.5, -1);
SELECT chi2_cdf(1, 0);

-- version 0.2
-- chi-square quantile: the inverse of chi2_cdf
SELECT round(chi2_quantile(0.95, 1)::numeric, 6) AS chi2_95_1, round(chi2_quantile(0.5, 2)::numeric, 6) AS two_log_2,
       chi2_quantile(0, 3) AS zero, chi2_quantile(1, 3) AS plus_inf,
       chi2_quantile(1e-300, 0.1) AS underflows_to_0, chi2_quantile(1 - 1e-15, 1e6) > 1e6 AS far_upper,
       round(chi2_cdf(chi2_quantile(0.3, 4.5), 4.5)::numeric, 12) AS round_trip;
SELECT chi2_quantile(1.5, 3);
SELECT chi2_quantile(-0.1, 3);
SELECT chi2_quantile('NaN', 3);
SELECT chi2_quantile(0.5, 0);
SELECT chi2_quantile(0.5, 'Infinity');

-- Holm keeps order and NULLs
SELECT holm_adjust('{0.01,0.04,0.03,0.2,NULL,0.001}') AS adjusted, holm_adjust('{}') AS empty, holm_adjust('{NULL}') AS only_null,
       holm_adjust('{0.5,0.5}') AS capped_at_1;
SELECT holm_adjust('{0.5,1.5}');
SELECT holm_adjust('{0.5,NaN}');
SELECT holm_adjust('{-0.1}');
SELECT holm_adjust('{{0.1},{0.2}}');

-- power of the two-proportion test, consistent with the sample size
SELECT round(power_two_proportions(0.1, 0.11, 14751)::numeric, 4) AS power_at_n,
       power_two_proportions(0.1, 0.11, ceil(sample_size_two_proportions(0.10, 0.01))) >= 0.8 AS reaches_80,
       power_two_proportions(0.3, 0.3, 100) AS same_rate_is_alpha, power_two_proportions(0, 0, 100, 0.01) AS zero_rates_is_alpha,
       power_two_proportions(0, 1, 2) AS certain, power_two_proportions(0, 1, 1) AS never;
SELECT power_two_proportions(-0.1, 0.1, 100);
SELECT power_two_proportions(0.1, 1.1, 100);
SELECT power_two_proportions(0.1, 'NaN', 100);
SELECT power_two_proportions(0.1, 0.2, 0);
SELECT power_two_proportions(0.1, 0.2, 'Infinity');
SELECT power_two_proportions(0.1, 0.2, 100, 1);
SELECT power_two_proportions(0.1, 0.2, 100, 0);

-- sample size for a difference of means
SELECT ceil(sample_size_two_means(1, 0.1)) AS n_sd1_delta01, ceil(sample_size_two_means(12.5, -3, 0.01, 0.95)) AS n_other,
       sample_size_two_means(0, 1) AS no_noise, sample_size_two_means(1, 1, 0.9, 0.1) AS power_below_size;
SELECT sample_size_two_means(-1, 0.1);
SELECT sample_size_two_means('Infinity', 0.1);
SELECT sample_size_two_means(1, 0);
SELECT sample_size_two_means(1, 'NaN');
SELECT sample_size_two_means(1, 0.1, 0);
SELECT sample_size_two_means(1, 0.1, 0.05, 1);
SELECT sample_size_two_means(1e300, 1e-300);

-- mSPRT always-valid p-value
SELECT round(msprt_p_value(0.1, 1, 0.01, 1000)::numeric, 6) AS p, msprt_p_value(0, 1, 1, 10) AS no_difference,
       msprt_p_value(1, 1, 1, 1000) BETWEEN 1e-120 AND 1e-100 AS far_tail, msprt_p_value(1e150, 1, 1e-300, 1e10) AS underflows_to_0,
       msprt_p_value(1, 0, 1, 10) AS no_noise, msprt_p_value(0, 0, 1, 10) AS no_noise_no_difference;
SELECT msprt_p_value('Infinity', 1, 1, 10);
SELECT msprt_p_value(0.1, -1, 1, 10);
SELECT msprt_p_value(0.1, 1, 0, 10);
SELECT msprt_p_value(0.1, 1, 'NaN', 10);
SELECT msprt_p_value(0.1, 1, 1, 0);
SELECT msprt_p_value(0.1, 1, 1, 'Infinity');
