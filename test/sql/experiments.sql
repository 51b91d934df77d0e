-- Experiments per segment, on data with a known truth: the treatment lifts
-- conversion in the heavy segment only, moves light users into heavy after
-- assignment (their readout segment must not move), and the split is broken
-- in the vip segment only. (Fixed seed; at seed 0.42 the light segment shows a
-- chance q < 0.05, the 1-in-20 false positive any 5% threshold allows.)
SET TIME ZONE 'UTC';
SET client_min_messages = warning;
SELECT setseed(0.1);

CREATE TABLE ev (uid bigint, at timestamptz, name text, amount numeric);
CREATE TABLE ab (uid bigint, arm text, at timestamptz);
SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount');

-- defining an experiment: errors name the problem
SELECT segmentation.define_experiment('x', 'ab', 'nope', 'arm', 'at', 'control', 'purchase');
SELECT segmentation.define_experiment('x', 'ab', 'uid', 'arm', 'arm', 'control', 'purchase');
SELECT segmentation.define_experiment('x', 'ab', 'uid', 'arm', 'at', 'control', 'purchase', '-1 day');
SELECT segmentation.define_experiment('x', 'ab', 'uid', 'arm', 'at', 'control', 'purchase', '14 days', '{a,b}', '{1,1}');
SELECT segmentation.define_experiment('x', 'ab', 'uid', 'arm', 'at', 'control', 'purchase', '14 days', '{control,treatment}', '{1}');
SELECT segmentation.define_experiment('x', 'ab', 'uid', 'arm', 'at', 'control', 'purchase', '14 days', '{control,treatment}', '{0,0}');
SELECT segmentation.define_experiment('x', 'ab', 'uid', 'arm', 'at', 'control', 'purchase', '14 days',
                                      array_append(array_fill('v'::text, ARRAY[100]), 'control'), array_fill(1::float8, ARRAY[101]));
SELECT segmentation.define_experiment('x', 'ab', 'uid', 'arm', 'at', 'control', 'purchase', '14 days',
                                      ARRAY['control', repeat('v', 201)], '{1,1}');

-- 6000 users: every 4th is heavy (30 events in March), every 10th (of the others) vip, the rest light
INSERT INTO ev
SELECT u, '2024-03-01'::timestamptz + (random() * 30) * interval '1 day', 'view', NULL
FROM generate_series(1, 6000) u, generate_series(1, CASE WHEN u % 4 = 0 THEN 30 WHEN u % 10 = 1 THEN 12 ELSE 3 END);
SELECT segmentation.define_segment('tier', 'heavy', 'frequency >= 20', 3);
SELECT segmentation.define_segment('tier', 'vip', 'frequency >= 10', 2);
SELECT segmentation.define_segment('tier', 'light', 'true', 1);
SELECT segmentation.refresh(as_of => '2024-04-01') IS NOT NULL AS ran;
SELECT segment, users FROM segmentation.segment_summary ORDER BY 1;

-- assignment on 2 April, 50/50 at random
INSERT INTO ab SELECT u, CASE WHEN random() < 0.5 THEN 'control' ELSE 'treatment' END, '2024-04-02 10:00+00'
FROM generate_series(1, 6000) u;
-- the broken split: 40% of treatment assignments of vip users were lost
DELETE FROM ab WHERE arm = 'treatment' AND uid % 4 <> 0 AND uid % 10 = 1 AND random() < 0.4;
-- conversions within 14 days: 10% everywhere, 25% for treated heavy users
INSERT INTO ev
SELECT ab.uid, ab.at + random() * interval '13 days', 'purchase', 20
FROM ab
WHERE random() < CASE WHEN ab.arm = 'treatment' AND ab.uid % 4 = 0 THEN 0.25 ELSE 0.10 END;
-- a late purchase, outside the window, does not count
INSERT INTO ev VALUES (8, '2024-04-20', 'purchase', 20);
-- the treatment makes light users busy: by 20 April they are heavy
INSERT INTO ev
SELECT ab.uid, '2024-04-03'::timestamptz + g * interval '10 hours', 'view', NULL
FROM ab, generate_series(1, 25) g
WHERE ab.arm = 'treatment' AND ab.uid % 4 <> 0 AND ab.uid % 10 <> 1;
SELECT segmentation.refresh(as_of => '2024-04-20') IS NOT NULL AS ran;
SELECT segment, users FROM segmentation.segment_summary ORDER BY 1;

SELECT segmentation.define_experiment('checkout_v2', 'ab', 'uid', 'arm', 'at', 'control', 'purchase', '14 days',
                                      '{control,treatment}', '{0.5,0.5}');

-- the readout: users are counted in the segment they were in when assigned
SELECT segment, variant, users, conversions, round(conversion_rate::numeric, 3) AS rate,
       round(control_rate::numeric, 3) AS control, round(abs_lift::numeric, 3) AS lift,
       q_value < 0.05 AS significant, srm_flag, enough_data
FROM segmentation.experiment_lift ORDER BY scheme, segment, variant;
-- where the lift is real it is found, elsewhere not; the broken split is flagged only where it is
SELECT segment, bool_or(q_value < 0.05) AS lift_found, bool_or(srm_flag) AS srm_flagged
FROM segmentation.experiment_lift WHERE variant = 'treatment' AND segment <> '(all)' GROUP BY 1 ORDER BY 1;
-- treated light users are heavy now, yet still read out as light
SELECT count(*) AS treated_light_users_now_heavy
FROM ab JOIN segmentation.memberships m ON m.user_id = ab.uid AND m.scheme = 'tier'
WHERE ab.arm = 'treatment' AND ab.uid % 4 <> 0 AND ab.uid % 10 <> 1 AND m.segment = 'heavy';
SELECT users AS treated_light_in_readout FROM segmentation.experiment_lift WHERE segment = 'light' AND variant = 'treatment';

-- the statistics in the view are the functions' own
SELECT bool_and(abs(l.p_value - t.p_value) < 1e-15 AND abs(l.rel_lift_ci_low - t.rel_ci_low) < 1e-15) AS same
FROM segmentation.experiment_lift l
JOIN segmentation.experiment_lift c ON c.scheme = l.scheme AND c.segment = l.segment AND c.variant = 'control',
     LATERAL segmentation.two_proportion_test(c.conversions, c.users, l.conversions, l.users) t
WHERE l.variant = 'treatment';

-- heterogeneity: Cochran's Q over the segments' lifts, recomputed from the
-- rows (the lift is real in heavy only: the segments differ)
SELECT round(h.p::numeric, 12) = round(max(l.heterogeneity_p_value)::numeric, 12) AS heterogeneity_is_cochran,
       max(l.heterogeneity_p_value) < 0.05 AS segments_differ,
       count(DISTINCT l.heterogeneity_p_value) = 1 AS same_on_every_row
FROM segmentation.experiment_lift l,
     LATERAL (SELECT segmentation.cochran_q_test(array_agg(t.abs_lift),
                  array_agg(c.control_rate * (1 - c.control_rate) / c.users + t.conversion_rate * (1 - t.conversion_rate) / t.users)) AS p
              FROM segmentation.experiment_lift t
              JOIN segmentation.experiment_lift c ON c.scheme = t.scheme AND c.segment = t.segment AND c.variant = 'control'
              WHERE t.variant = 'treatment' AND t.segment NOT IN ('(all)', '(unknown)')) h
WHERE l.variant = 'treatment' GROUP BY h.p;
-- revenue: Welch's CI recomputed from the raw events, for everyone; q >= p
WITH ass AS (SELECT DISTINCT ON (uid) uid, arm, at FROM ab ORDER BY uid, at),
     r AS (SELECT a.arm, coalesce(sum(e.amount), 0)::float8 AS rev FROM ass a
           LEFT JOIN ev e ON e.uid = a.uid AND e.at >= a.at AND e.at < a.at + interval '14 days' GROUP BY a.uid, a.arm),
     s AS (SELECT arm, count(*) AS n, avg(rev) AS m, var_samp(rev) AS v FROM r GROUP BY arm),
     w AS (SELECT t.* FROM s c, s x, LATERAL segmentation.welch_test(c.n, c.m, c.v, x.n, x.m, x.v) t
           WHERE c.arm = 'control' AND x.arm = 'treatment')
SELECT abs(l.revenue_ci_low - w.ci_low) < 1e-9 AND abs(l.revenue_ci_high - w.ci_high) < 1e-9 AS revenue_ci_is_welch
FROM segmentation.experiment_lift l, w WHERE l.scheme = 'tier' AND l.segment = '(all)' AND l.variant = 'treatment';
SELECT bool_and(revenue_q_value >= revenue_p_value) AS revenue_q_at_least_p, count(revenue_q_value) AS revenue_q_values
FROM segmentation.experiment_lift WHERE variant = 'treatment' AND segment <> '(all)';
-- chance to win and the always-valid p-value, from their formulas
SELECT bool_and(abs(l.chance_to_win - segmentation.normal_cdf(l.abs_lift / sqrt(v.var))) < 1e-12) AS chance_to_win_ok,
       bool_and(abs(l.sequential_p_value - least(1, 1 / (sqrt(v.big_v / (v.big_v + v.tau2))
                    * exp(v.tau2 * l.abs_lift ^ 2 / (2 * v.big_v * (v.big_v + v.tau2)))))) <= 1e-9 * l.sequential_p_value) AS msprt_ok,
       bool_and(l.sequential_p_value >= l.p_value) AS sequential_is_the_more_careful
FROM segmentation.experiment_lift l
JOIN segmentation.experiment_lift c ON c.scheme = l.scheme AND c.segment = l.segment AND c.variant = 'control',
     LATERAL (SELECT c.control_rate * (1 - c.control_rate) / c.users + l.conversion_rate * (1 - l.conversion_rate) / l.users AS var,
                     (c.conversions + l.conversions)::float8 / (c.users + l.users)
                       * (1 - (c.conversions + l.conversions)::float8 / (c.users + l.users)) * (1.0 / c.users + 1.0 / l.users) AS big_v,
                     (0.1 * c.control_rate) ^ 2 AS tau2) v
WHERE l.variant = 'treatment';
-- targetable: who is in the segment now (treated light users moved to heavy)
SELECT bool_and(l.targetable_users IS NOT DISTINCT FROM
                CASE WHEN l.segment = '(unknown)' THEN NULL
                     WHEN l.segment = '(all)' THEN (SELECT count(*) FROM segmentation.memberships m WHERE m.scheme = l.scheme)
                     ELSE (SELECT count(*) FROM segmentation.memberships m WHERE m.scheme = l.scheme AND m.segment = l.segment) END)
       AS targetable_is_now
FROM segmentation.experiment_lift l;
SELECT segment, targetable_users FROM segmentation.experiment_lift WHERE variant = 'control' ORDER BY segment;
-- enough data follows the mde: a 10% change needs ~15,000 users per arm, a 50% one ~700
SELECT bool_or(enough_data) AS enough_for_10_percent FROM segmentation.experiment_lift;
SELECT segmentation.define_experiment('checkout_v2', 'ab', 'uid', 'arm', 'at', 'control', 'purchase', '14 days',
                                      '{control,treatment}', '{0.5,0.5}', mde => 0.5);
SELECT segment, variant, enough_data FROM segmentation.experiment_lift ORDER BY segment, variant;
SELECT segmentation.define_experiment('x', 'ab', 'uid', 'arm', 'at', 'control', 'purchase', mde => 0);
SELECT segmentation.define_experiment('x', 'ab', 'uid', 'arm', 'at', 'control', 'purchase', mde => 'NaN');

-- CUPED. Here no feature holds 'purchase', so the covariate is any event in
-- the 28 days before assignment, which nearly everyone has: the adjustment
-- is never wider than the plain interval
SELECT bool_and(cuped_abs_lift_ci_high - cuped_abs_lift_ci_low <= (abs_lift_ci_high - abs_lift_ci_low) * (1 + 1e-12))
         AS cuped_never_wider,
       count(cuped_abs_lift) = count(abs_lift) AS cuped_wherever_abs_lift,
       count(*) FILTER (WHERE cuped_abs_lift = abs_lift AND cuped_abs_lift_ci_low = abs_lift_ci_low) AS plain_kept,
       count(*) FILTER (WHERE cuped_abs_lift <> abs_lift) AS adjusted
FROM segmentation.experiment_lift WHERE experiment = 'checkout_v2';
-- a covariate that predicts: buyers (every third user) bought in March and
-- buy again after assignment; the treatment adds 5 points for everyone
SELECT segmentation.define_feature('buy', '{buy}');
INSERT INTO ev
SELECT u, '2024-03-20'::timestamptz + random() * interval '15 days', 'buy', 10
FROM generate_series(10001, 16000) u WHERE random() < CASE WHEN u % 3 = 0 THEN 0.8 ELSE 0.1 END;
CREATE TABLE ab2 (uid bigint, arm text, at timestamptz);
INSERT INTO ab2 SELECT u, CASE WHEN random() < 0.5 THEN 'control' ELSE 'treatment' END, '2024-04-05 12:00+00'
FROM generate_series(10001, 16000) u;
INSERT INTO ev
SELECT ab2.uid, ab2.at + random() * interval '13 days', 'buy', 10
FROM ab2 WHERE random() < CASE WHEN uid % 3 = 0 THEN 0.6 ELSE 0.05 END + CASE WHEN arm = 'treatment' THEN 0.05 ELSE 0 END;
SELECT segmentation.refresh(full => true, as_of => '2024-04-25') IS NOT NULL AS ran;
SELECT segmentation.define_experiment('cuped_x', 'ab2', 'uid', 'arm', 'at', 'control', 'buy', cuped_window => '28 days');
SELECT segmentation.define_experiment('x', 'ab2', 'uid', 'arm', 'at', 'control', 'buy', cuped_window => '1 month');
SELECT segmentation.define_experiment('x', 'ab2', 'uid', 'arm', 'at', 'control', 'buy', cuped_window => '36 hours');
-- recomputed from the raw events: the covariate is a buy in the 28 whole days
-- before the day of assignment, theta = cov(pre, y) / var(pre) pooled over the
-- arms, the lift each arm's mean of y - theta * pre, its variance the sum of
-- the arms' variances of that over their sizes
WITH u AS (SELECT a.arm,
                  (count(e.*) FILTER (WHERE e.at >= date_trunc('day', a.at) - interval '28 days' AND e.at < date_trunc('day', a.at)) > 0)::int::float8 AS pre,
                  (count(e.*) FILTER (WHERE e.at >= a.at AND e.at < a.at + interval '14 days') > 0)::int::float8 AS y
           FROM ab2 a LEFT JOIN ev e ON e.uid = a.uid AND e.name = 'buy' GROUP BY a.uid, a.arm, a.at),
     th AS (SELECT covar_samp(pre, y) / var_samp(pre) AS theta FROM u),
     arm AS (SELECT u.arm, count(*) AS n, avg(u.y - th.theta * u.pre) AS m, var_samp(u.y - th.theta * u.pre) AS v
             FROM u, th GROUP BY u.arm, th.theta),
     ref AS (SELECT t.m - c.m AS lift, sqrt(t.v / t.n + c.v / c.n) AS se FROM arm t, arm c
             WHERE t.arm = 'treatment' AND c.arm = 'control')
SELECT abs(l.cuped_abs_lift - ref.lift) < 1e-9 AS cuped_lift_ok,
       abs(l.cuped_abs_lift_ci_low - (ref.lift - 1.959963984540054 * ref.se)) < 1e-9
         AND abs(l.cuped_abs_lift_ci_high - (ref.lift + 1.959963984540054 * ref.se)) < 1e-9 AS cuped_ci_ok,
       abs(l.cuped_p_value - 2 * segmentation.normal_cdf(-abs(ref.lift) / ref.se)) < 1e-9 AS cuped_p_ok,
       round(((l.cuped_abs_lift_ci_high - l.cuped_abs_lift_ci_low) / (l.abs_lift_ci_high - l.abs_lift_ci_low))::numeric, 2)
         AS width_ratio,
       l.p_value < 0.05 AS plain_significant, l.cuped_p_value < 0.05 AS cuped_significant
FROM segmentation.experiment_lift l, ref
WHERE l.experiment = 'cuped_x' AND l.scheme = 'tier' AND l.segment = '(all)' AND l.variant = 'treatment';
SELECT segment, round(((cuped_abs_lift_ci_high - cuped_abs_lift_ci_low) / (abs_lift_ci_high - abs_lift_ci_low))::numeric, 2)
         AS width_ratio
FROM segmentation.experiment_lift WHERE experiment = 'cuped_x' AND variant = 'treatment' ORDER BY segment;
-- flat standard types only
SELECT column_name, data_type FROM information_schema.columns
WHERE table_schema = 'segmentation' AND table_name = 'experiment_lift'
  AND data_type NOT IN ('bigint', 'integer', 'double precision', 'text', 'timestamp with time zone', 'boolean');

DROP EXTENSION segmentation CASCADE;
CREATE EXTENSION segmentation;
DROP TABLE ev, ab, ab2;

-- a covariate that predicts the conversion exactly (the users who bought
-- before assignment buy after it, and no one else): the adjusted metric has
-- no variance, so its interval is one point and its p-value undefined (it
-- came out as a variance of about 1e-18, or 0, or -1e-18 by the data and the
-- rows' order: an interval of +-1e-9 and p = 1, or NULL, or the readout left
-- out for the square root of a negative number)
CREATE TABLE ev3 (uid bigint NOT NULL, at timestamptz, name text, amount float8);
INSERT INTO ev3 SELECT u, '2024-01-10', 'view', 1 FROM generate_series(1, 300) u;
INSERT INTO ev3 SELECT u, '2024-01-10', 'buy', 1 FROM generate_series(1, 300) u WHERE u % 7 IN (0, 1);
INSERT INTO ev3 SELECT u, '2024-01-25', 'buy', 1 FROM generate_series(1, 300) u WHERE u % 7 IN (0, 1);
CREATE TABLE ab3 (uid bigint, arm text, at timestamptz);
INSERT INTO ab3 SELECT u, CASE WHEN u % 2 = 0 THEN 'control' ELSE 'treatment' END, '2024-01-20' FROM generate_series(1, 300) u;
SELECT segmentation.track('ev3', 'uid', 'at', 'name', 'amount');
SELECT segmentation.define_feature('buying', '{buy}');
SELECT segmentation.define_segment('s', 'all', 'true');
SELECT segmentation.refresh(as_of => '2024-03-01') IS NOT NULL AS ran;
SELECT segmentation.define_experiment('cuped_exact', 'ab3', 'uid', 'arm', 'at', 'control', 'buy');
SELECT segment, conversions, abs_lift_ci_low < abs_lift_ci_high AS plain_interval,
       cuped_abs_lift_ci_low = cuped_abs_lift_ci_high AS cuped_one_point, cuped_p_value
FROM segmentation.experiment_lift WHERE experiment = 'cuped_exact' AND variant = 'treatment' ORDER BY segment;
-- the same revenue for every assigned user: no difference to test (the
-- variance of rounding, 1e-34, made welch_test find one); and one user's
-- revenue of 1e-300 among zeros: read out (the (all) rows' variance,
-- combined from the segments', underflowed, which SQL refuses: the
-- experiment was left out; review of session 33)
CREATE TABLE ab4 (uid bigint, arm text, at timestamptz);
INSERT INTO ab4 SELECT u, CASE WHEN u % 2 = 0 THEN 'control' ELSE 'treatment' END, '2024-03-02 06:00' FROM generate_series(1, 300) u;
CREATE TABLE ab5 (LIKE ab4);
INSERT INTO ab5 SELECT uid, arm, '2024-03-02 12:00' FROM ab4;
SELECT segmentation.define_segment('s', 'three', 'frequency >= 3', 200);
SELECT segmentation.refresh(as_of => '2024-03-02') IS NOT NULL AS ran;
INSERT INTO ev3 SELECT u, '2024-03-02 06:30', 'view', 0.1 FROM generate_series(1, 300) u;
INSERT INTO ev3 VALUES (7, '2024-03-02 12:30', 'view', 1e-300);
SELECT segmentation.define_experiment('same_revenue', 'ab4', 'uid', 'arm', 'at', 'control', 'view', '1 hour');
SELECT segmentation.define_experiment('tiny_revenue', 'ab5', 'uid', 'arm', 'at', 'control', 'view', '1 hour');
SELECT experiment, segment, variant, users, round(revenue_per_user::numeric, 6) AS revenue,
       revenue_per_user > 0 AS some_revenue, revenue_p_value
FROM segmentation.experiment_lift WHERE experiment IN ('same_revenue', 'tiny_revenue') ORDER BY 1, 2, 3;
DROP EXTENSION segmentation CASCADE;
CREATE EXTENSION segmentation;
DROP TABLE ev3, ab3, ab4, ab5;
