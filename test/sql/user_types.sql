-- The user id keeps the source's type: bigint (pipeline.sql), uuid and text.
SET TIME ZONE 'UTC';
SET client_min_messages = warning;

CREATE TABLE uuid_events (user_id uuid, ts timestamptz, event text);
INSERT INTO uuid_events
SELECT md5('u' || (i % 5))::uuid, '2024-03-01'::timestamptz + i * interval '7 hours', CASE WHEN i % 3 = 0 THEN 'buy' ELSE 'view' END
FROM generate_series(1, 40) i;
SELECT segmentation.track('uuid_events', 'user_id', 'ts', 'event');
SELECT segmentation.define_segment('s', 'busy', 'frequency >= 8');
SELECT segmentation.refresh(as_of => '2024-03-15') IS NOT NULL AS ran;
SELECT user_id, frequency, s FROM segmentation.user_scores ORDER BY user_id;
INSERT INTO uuid_events VALUES (md5('u0')::uuid, '2024-03-14', 'view'), ('00000000-0000-0000-0000-000000000001', '2024-03-14', 'view');
SELECT segmentation.refresh(as_of => '2024-03-15') IS NOT NULL AS ran;
SELECT user_id, frequency, s FROM segmentation.user_scores ORDER BY user_id;
SELECT table_name, data_type FROM information_schema.columns
WHERE table_schema = 'segmentation' AND column_name = 'user_id' AND table_name IN ('user_scores', 'profiles', 'memberships', 'membership_history', 'transitions')
ORDER BY 1;

-- the state keeps the first source's type: with nothing tracked, a source
-- of another type is refused, and the error says what keeps the type and
-- how to change it
\set VERBOSITY default
SELECT segmentation.untrack('uuid_events');
CREATE TABLE int_events (uid bigint, ts timestamptz, event text);
SELECT segmentation.track('int_events', 'uid', 'ts', 'event');
\set VERBOSITY terse
DROP TABLE int_events;

-- start over with text ids
DROP EXTENSION segmentation CASCADE;
CREATE EXTENSION segmentation;
CREATE TABLE text_events (who text, ts timestamptz, what varchar(20));
INSERT INTO text_events VALUES ('alice', '2024-03-01', 'view'), ('alice', '2024-03-02', 'view'), ('Bob', '2024-03-01', 'view'), ('bob', '2024-03-03', 'view');
SELECT segmentation.track('text_events', 'who', 'ts', 'what');
SELECT segmentation.define_segment('s', 'returning', 'active_days >= 2');
SELECT segmentation.refresh(as_of => '2024-03-04') IS NOT NULL AS ran;
SELECT user_id, frequency, active_days, s FROM segmentation.user_scores ORDER BY user_id COLLATE "C";
SELECT data_type FROM information_schema.columns WHERE table_schema = 'segmentation' AND table_name = 'user_scores' AND column_name = 'user_id';

-- a second source is unioned by user id; the refresh after track() is full
CREATE TABLE more_events (account text, happened timestamptz, kind text, amount numeric);
INSERT INTO more_events VALUES ('alice', '2024-03-03', 'purchase', 12.5), ('carol', '2024-03-03', 'purchase', 3);
SELECT segmentation.track('more_events', 'account', 'happened', 'kind', 'amount');
SELECT segmentation.refresh(as_of => '2024-03-04') IS NOT NULL AS ran;
SELECT mode FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT user_id, frequency, monetary, active_days, s FROM segmentation.user_scores ORDER BY user_id COLLATE "C";
INSERT INTO more_events VALUES ('bob', '2024-03-04', 'purchase', 1);
SELECT segmentation.refresh(as_of => '2024-03-04') IS NOT NULL AS ran;
SELECT mode, events_read FROM segmentation.refresh_runs ORDER BY id DESC LIMIT 1;
SELECT user_id, frequency, monetary FROM segmentation.user_scores WHERE user_id = 'bob';

-- DROP EXTENSION ... CASCADE removes the capture triggers too
DROP EXTENSION segmentation CASCADE;
SELECT tgname FROM pg_trigger WHERE tgrelid IN ('text_events'::regclass, 'more_events'::regclass);
INSERT INTO text_events VALUES ('dave', '2024-03-05', 'view');
CREATE EXTENSION segmentation;
DROP TABLE uuid_events, text_events, more_events;
