#!/bin/bash
# F10: the owner holds a lock on the attribute table in an idle transaction: refresh waits (no lock_timeout)
P=/tmp/review18-psql
( $P -U r18_owner -c "BEGIN; LOCK TABLE r18.acct IN SHARE UPDATE EXCLUSIVE MODE; SELECT pg_sleep(8); COMMIT;" >/dev/null 2>&1 & )
sleep 1
$P -c "SET statement_timeout = '4s'" -c "SELECT clock_timestamp()" -c "SELECT segmentation.refresh(as_of => '2024-05-10 16:00') IS NOT NULL AS refreshed" -c "SELECT clock_timestamp()" 2>&1 | grep -v "line 7"
sleep 8
