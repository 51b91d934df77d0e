-- common setup: an events table tracked, an owner, an admin, an analyst
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS segmentation CASCADE;
DROP SCHEMA IF EXISTS r18 CASCADE;
DROP TABLE IF EXISTS ev;
DROP ROLE IF EXISTS r18_owner; DROP ROLE IF EXISTS r18_admin; DROP ROLE IF EXISTS r18_analyst;
CREATE EXTENSION segmentation;
CREATE ROLE r18_owner LOGIN;
CREATE ROLE r18_admin LOGIN IN ROLE segmentation_admin;
CREATE ROLE r18_analyst LOGIN IN ROLE segmentation_analyst;
CREATE SCHEMA r18 AUTHORIZATION r18_owner;
GRANT USAGE ON SCHEMA r18 TO r18_admin, r18_analyst;
CREATE TABLE ev (uid text, at timestamptz, name text, amount numeric);
SELECT segmentation.track('ev', 'uid', 'at', 'name', 'amount');
INSERT INTO ev SELECT u::text, '2024-05-10 12:00'::timestamptz - k * interval '1 day', 'view', 1
FROM generate_series(1, 8) u, generate_series(0, u - 1) k;
SET ROLE r18_owner;
CREATE TABLE r18.acct (id text PRIMARY KEY, plan text, salary int);
INSERT INTO r18.acct SELECT u::text, CASE WHEN u % 2 = 0 THEN 'pro' ELSE 'free' END, u * 1000 FROM generate_series(1, 8) u;
GRANT SELECT, TRIGGER ON r18.acct TO r18_admin;
RESET ROLE;
SET ROLE r18_admin;
SELECT segmentation.track_users('r18.acct', 'id');
RESET ROLE;
SELECT segmentation.refresh(as_of => '2024-05-10 12:00') IS NOT NULL AS refreshed;
