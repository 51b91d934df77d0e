-- The behavior type: text and binary round trips, canonical form, size,
-- and malformed input of either form.
SET TIME ZONE 'UTC';
SET search_path = segmentation, public;

-- A typical user: 30 active days over about 3 months, 5 features, revenue.
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
       pg_column_size(b) < 200 AS under_200_bytes
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

DROP TABLE typical, stored, reloaded;
DROP FUNCTION accepts(text);
