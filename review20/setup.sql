-- common setup: an events table tracked, an owner, an admin, an analyst
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS segmentation CASCADE;
DROP SCHEMA IF EXISTS r20 CASCADE;
DROP TABLE IF EXISTS ev;
DROP ROLE IF EXISTS r20_admin2; DROP ROLE IF EXISTS r20_writer; DROP ROLE IF EXISTS r20_owner; DROP ROLE IF EXISTS r20_admin; DROP ROLE IF EXISTS r20_analyst;
CREATE EXTENSION segmentation;
CREATE ROLE r20_owner LOGIN;
CREATE ROLE r20_admin LOGIN IN ROLE segmentation_admin;
CREATE ROLE r20_analyst LOGIN IN ROLE segmentation_analyst;
CREATE SCHEMA r20 AUTHORIZATION r20_owner;
GRANT USAGE ON SCHEMA r20 TO r20_admin, r20_analyst;
CREATE TABLE ev (uid bigint, at timestamptz, name text, amount numeric);
SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount');
INSERT INTO ev SELECT u, '2024-05-10 12:00'::timestamptz - k * interval '1 day', 'view', 1
FROM generate_series(1, 8) u, generate_series(0, u - 1) k;
SET ROLE r20_owner;
CREATE TABLE r20.acct (id bigint PRIMARY KEY, plan text, salary int);
INSERT INTO r20.acct SELECT u, CASE WHEN u % 2 = 0 THEN 'pro' ELSE 'free' END, u * 1000 FROM generate_series(1, 8) u;
GRANT SELECT, TRIGGER ON r20.acct TO r20_admin;
RESET ROLE;
SET ROLE r20_admin;
SELECT segmentation.track_users('r20.acct', 'id');
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 12:00') IS NOT NULL AS refreshed;
-- a second admin, with no privilege on r20.acct, an analyst, a plain application writer
DROP ROLE IF EXISTS r20_admin2; DROP ROLE IF EXISTS r20_writer;
CREATE ROLE r20_admin2 LOGIN IN ROLE segmentation_admin;
CREATE ROLE r20_writer LOGIN;
GRANT USAGE ON SCHEMA r20 TO r20_admin2, r20_writer;
SET ROLE r20_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON r20.acct TO r20_writer;
RESET ROLE;
