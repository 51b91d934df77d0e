-- The behavior type: text and binary round trips, canonical form, size,
-- and malformed input of either form.
SET TIME ZONE 'UTC';
SET search_path = segmentation, public;

-- A busy user: 90 events on 30 active days over about 3 months, 5 features,
-- revenue on a third of the events (each event's value is kept per feature
-- and day: this one is larger than the typical user below).
CREATE TABLE typical AS
SELECT 42 AS user_id,
       '2024-01-01 00:00+00'::timestamptz + (d * 3) * interval '1 day' + (h * interval '37 minutes') + interval '8 hours' AS ts,
       (d + h) % 5 + 10 AS feature,
       CASE WHEN h = 0 THEN 19.99 END AS amount
FROM generate_series(0, 29) d, generate_series(0, 2) h;

CREATE TABLE stored AS
SELECT user_id, behavior_agg(ts, feature, amount) AS b FROM typical GROUP BY user_id;

SELECT event_count(b), active_days(b), features(b), value_sum(b),
       first_seen(b), last_seen(b), pg_column_size(b) AS bytes,
       pg_column_size(b) < 400 AS under_400_bytes
FROM stored;

-- text round trip is exact
SELECT b::text::behavior::text = b::text AS text_round_trip FROM stored;
SELECT b::text FROM stored;

-- binary round trip through COPY (send and recv)
COPY stored TO '/tmp/segmentation_regress.bin' (FORMAT binary);
CREATE TABLE reloaded (LIKE stored);
COPY reloaded FROM '/tmp/segmentation_regress.bin' (FORMAT binary);
SELECT r.b::text = s.b::text AS binary_round_trip FROM reloaded r JOIN stored s USING (user_id);
SELECT behavior_send(b) = decode(substr(b::text, 3), 'hex') AS send_is_body FROM stored;

-- text COPY round trip
COPY stored TO '/tmp/segmentation_regress.txt';
TRUNCATE reloaded;
COPY reloaded FROM '/tmp/segmentation_regress.txt';
SELECT r.b::text = s.b::text AS copy_text_round_trip FROM reloaded r JOIN stored s USING (user_id);

-- a long sparse history stores its days as gaps, a dense one as a bitmap:
-- both round-trip, and each is smaller than the other form would be
SELECT pg_column_size(b) AS sparse_bytes, active_days(b), b::text::behavior::text = b::text AS ok
FROM (SELECT behavior_agg(ts) b FROM (VALUES ('2000-01-01 00:00+00'::timestamptz), ('2010-06-15 12:00+00'), ('2026-01-01 00:00+00')) v(ts)) s;
SELECT pg_column_size(b) AS dense_bytes, active_days(b), b::text::behavior::text = b::text AS ok
FROM (SELECT behavior_agg(ts) b FROM generate_series('2024-01-01 00:00+00'::timestamptz, '2024-12-31', '1 day') ts) s;

-- extreme timestamps and values survive
SELECT first_seen(b), last_seen(b), value_sum(b), b::text::behavior::text = b::text AS ok
FROM (SELECT behavior_agg(ts, 2147483647, v) b
      FROM (VALUES ('4713-11-24 00:00:00+00 BC'::timestamptz, -1e23::float8),
                   ('294276-12-31 23:59:59.999999+00', 2e23)) x(ts, v)) s;

-- malformed text: every one is a clean error
SELECT ''::behavior;
SELECT 'abc'::behavior;
SELECT '\x0'::behavior;
SELECT '\xzz'::behavior;
SELECT '\x'::behavior;
SELECT '\x02'::behavior;
SELECT '\x0104'::behavior;
-- PostgreSQL 15 has no pg_input_is_valid: catch exactly the input error
CREATE FUNCTION accepts(t text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM t::segmentation.behavior;
	RETURN true;
EXCEPTION WHEN invalid_text_representation THEN
	RETURN false;
END $$;
-- truncated: every proper prefix of a valid value is refused
SELECT count(*) AS prefixes, count(*) FILTER (WHERE ok) AS accepted
FROM (SELECT n, accepts(substr(t, 1, 2 + 2 * n)) AS ok
      FROM (SELECT b::text t FROM stored) s, generate_series(0, (length(t) - 2) / 2 - 1) n) x;
-- a value with a trailing byte
SELECT (b::text || '00')::behavior FROM stored;
-- zero events
SELECT '\x010000'::behavior;
-- a non-minimal varint (event count 1 written as 0x81 0x00)
SELECT '\x01008100'::behavior;
-- no feature id after 2147483647 (the fuzzer's finding: it wrapped to a negative id)
SELECT '\x01000280c0fba4dce5da02000102ffffffff0701000000010000'::behavior;

-- The typical user of the size budget: 90 days, 30 active, 5 features each
-- used on 10 of those days, revenue on the 6 days of one of them.
SELECT pg_column_size(b) AS typical_bytes, pg_column_size(b) < 300 AS under_300_bytes,
       event_count(b), active_days(b), features(b), value_sum(b),
       (SELECT array_agg(days_in(b, f, '2024-04-01')) FROM generate_series(0, 4) f) AS days_per_feature
FROM (SELECT behavior_agg(ts, f, v) b FROM (
        SELECT '2024-01-01 09:00+00'::timestamptz + d * interval '3 days' AS ts, d % 5 AS f,
               CASE WHEN d % 5 = 4 THEN 19.99 END AS v FROM generate_series(0, 29) d
        UNION ALL
        SELECT '2024-01-01 15:00+00'::timestamptz + d * interval '3 days', (d + 2) % 5, NULL
        FROM generate_series(0, 19) d) e) s;

-- Per feature and day, exactly: feature 3 on 03-01 (2.5) and 03-03, one
-- event without a feature on 03-03
CREATE TABLE small AS
SELECT behavior_agg(ts, f, v) AS b
FROM (VALUES ('2024-03-01 12:00+00'::timestamptz, 3, 2.5::float8), ('2024-03-03 12:00+00', 3, NULL),
             ('2024-03-03 13:00+00', NULL, NULL)) x(ts, f, v);
SELECT b::text FROM small;
SELECT f, events_in(b, f, '2024-03-03'), events_in(b, f, '2024-03-03', '1 day'),
       days_in(b, f, '2024-03-03'), days_in(b, f, '2024-03-02', '2 days'),
       value_in(b, f, '2024-03-03'), value_in(b, f, '2024-03-03', '2 days'),
       first_use(b, f), last_use(b, f), days_since(b, f, '2024-03-04'),
       periods_with(b, f, '2024-03-03', 1, '1 day', 3), periods_with(b, f, '2024-03-03', 2, '3 days', 1)
FROM small, (VALUES (-1), (3), (4)) v(f);

-- canonical form: what the encoder would not write is refused
-- the first day of a feature is the day of its first use: no gap before it
SELECT '\x02050380c0fba4dce5da0280c88992910580e497d0120580c889929105000000010300010580e497d0120880e0aef7a001'::behavior;
-- a feature's days do not repeat (a gap of 0 after its first day)
SELECT '\x02050380c0fba4dce5da0280c88992910580e497d0120580c889929105000000010300010180e497d0120080e0aef7a001'::behavior;
-- a zero value sum is not stored
SELECT '\x02050380c0fba4dce5da0280c88992910580e497d0120580c889929105000000010300010180e497d012090080e0aef7a001'::behavior;
-- the series add up to the event count
SELECT '\x02050480c0fba4dce5da0280c88992910580e497d0120580c889929105000000010300010180e497d0120880e0aef7a001'::behavior;
-- every active day has events of some series
SELECT '\x02050380c0fba4dce5da0280c88992910580e497d0120780c889929105000000010300010180e497d0120880e0aef7a001'::behavior;
-- a feature's last use is on its last day
SELECT '\x02050380c0fba4dce5da0280c88992910580e497d0120580c889929105000000010300010180e497d0120880c0fba4dce5da02'::behavior;
-- version 1 has no series of the events without a feature
SELECT '\x01040180c0fba4dce5da020001010300000000'::behavior;

-- Values stored by 0.1 (version 1 bytes, from the 0.1 build) still read:
-- feature 3 at 03-01 10:00 (19.99) and 11:00 and 03-09 12:00 (5), feature 5
-- at 03-04 09:00, an event without a feature at 03-09 13:00; and one without
-- features
CREATE TABLE old (id int, b behavior);
INSERT INTO old VALUES
  (1, '\x01010580a0c1d2a6e5da0280d8d793b714808ea998ba01090102030300809089dfa914010180f8c997b80700'),
  (2, '\x0102030080c0a1d7f0c8ba0103a13af80f00');
SELECT id, b::text::behavior::text = b::text AS round_trip, event_count(b), value_sum(b), active_days(b),
       active_days(b, '2024-03-09', '7 days'), features(b), feature_count(b, 3), feature_last_seen(b, 3),
       events_in(b, 3, '2024-03-09'), events_in(b, -1, '2024-03-09'), days_in(b, -1, '2024-03-09', '7 days'),
       value_in(b, -1, '2024-03-09'), first_use(b, 3), last_use(b, 5), days_since(b, 3, '2024-03-10')
FROM old ORDER BY id;
-- what needs per-feature days is an error that says what to do
SELECT events_in(b, 3, '2024-03-09', '7 days') FROM old WHERE id = 1;
SELECT days_in(b, 3, '2024-03-09') FROM old WHERE id = 1;
SELECT value_in(b, 3, '2024-03-09') FROM old WHERE id = 1;
SELECT value_in(b, -1, '2024-03-09', '7 days') FROM old WHERE id = 1;
SELECT periods_with(b, -1, '2024-03-09', 1, '7 days', 4) FROM old WHERE id = 1;
-- 0.1 with 0.1 merges (exact in what 0.1 kept, written as 0.1); with 0.2 it is an error
SELECT event_count(u), features(u), active_days(u), left(u::text, 4) = '\x01' AS version_1
FROM (SELECT behavior_union_agg(b) u FROM old) s;
SELECT behavior_merge(o.b, s.b) FROM old o, small s WHERE o.id = 1;
SELECT behavior_union_agg(b) FROM (SELECT b FROM small UNION ALL SELECT b FROM old) x;

-- arguments of the per-feature accessors
SELECT events_in(b, -2, '2024-03-03') FROM small;
SELECT events_in(b, 3, 'infinity') FROM small;
SELECT days_in(b, 3, '2024-03-03', '1 month') FROM small;
SELECT value_in(b, 3, '2024-03-03', '36 hours') FROM small;
SELECT periods_with(b, 3, '2024-03-03', 1, '0 days', 3) FROM small;
SELECT periods_with(b, 3, '2024-03-03', -1, '7 days', 3) FROM small;
SELECT periods_with(b, 3, '2024-03-03', 1, '7 days', 0) FROM small;
SELECT days_since(b, 3, '-infinity') FROM small;
SELECT first_use(b, -5) FROM small;

DROP TABLE typical, stored, reloaded, small, old;
DROP FUNCTION accepts(text);
