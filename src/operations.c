/*
 * operations.c: what makes refresh() safe to run unattended.
 *
 * _log_failed_run writes the refresh_runs row of a failed refresh from a
 * dynamic background worker, in a transaction of its own, so the row stays
 * when the failing transaction is rolled back (the caller then re-raises
 * its error).  The row travels in a DSM segment; the worker connects to the
 * caller's database as the caller's current user (refresh is SECURITY
 * DEFINER: the extension's owner), inserts it, commits and says so in the
 * segment.  The caller holds no lock the worker needs: refresh_runs takes
 * the row under an id nobody else inserted (the failing refresh writes its
 * own row only when it succeeds), and the worker bounds its own waits.
 *
 * _refresh_timeout_begin / _end arm the statement timeout for the running
 * refresh: statement_timeout set inside a function arms nothing for the
 * statement already running (postgres.c arms it at each top-level
 * statement), so the timer is set here, and put back as it was after.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

PGDLLEXPORT void segmentation_log_worker_main(Datum main_arg);

/* the failed run, as the worker reads it from the DSM segment */
#define FAILED_RUN_TEXTS 4		/* mode, error, error_source, error_user_id */

typedef struct FailedRun
{
	Oid			database;
	Oid			role;
	bool		written;		/* set by the worker once its row is committed */
	int64		run;
	TimestampTz started_at;
	TimestampTz as_of;
	bool		has_event_time;
	TimestampTz event_time;
	int32		text_offset[FAILED_RUN_TEXTS];	/* into text[], -1 for NULL */
	char		text[FLEXIBLE_ARRAY_MEMBER];
} FailedRun;

#define LOG_ROW_SQL \
	"INSERT INTO segmentation.refresh_runs (id, started_at, finished_at, mode, as_of, error, " \
	"error_source, error_user_id, error_event_time) " \
	"VALUES ($1, $2, pg_catalog.clock_timestamp(), $3, $4, $5, $6, $7, $8)"

/* the worker: one INSERT, committed */
void
segmentation_log_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	FailedRun  *fr;
	Oid			types[8] = {INT8OID, TIMESTAMPTZOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[8];
	char		nulls[8];
	int			i;

	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("segmentation refresh log worker: the failed run's segment is gone")));
	fr = (FailedRun *) dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(fr->database, fr->role, 0);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* nothing but pg_catalog resolves; bounded waits */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("lock_timeout", "10s", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("statement_timeout", "30s", PGC_USERSET, PGC_S_SESSION);
	pgstat_report_activity(STATE_RUNNING, "segmentation: logging a failed refresh");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());

	values[0] = Int64GetDatum(fr->run);
	values[1] = TimestampTzGetDatum(fr->started_at);
	values[3] = TimestampTzGetDatum(fr->as_of);
	values[7] = TimestampTzGetDatum(fr->event_time);
	memset(nulls, ' ', sizeof(nulls));
	if (!fr->has_event_time)
		nulls[7] = 'n';
	for (i = 0; i < FAILED_RUN_TEXTS; i++)
	{
		int			arg = (i == 0) ? 2 : 3 + i;	/* mode is $3; error, source, user are $5..$7 */

		if (fr->text_offset[i] < 0)
		{
			nulls[arg] = 'n';
			values[arg] = (Datum) 0;
		}
		else
			values[arg] = CStringGetTextDatum(fr->text + fr->text_offset[i]);
	}
	if (SPI_execute_with_args(LOG_ROW_SQL, 8, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert the refresh_runs row");

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	fr->written = true;
	dsm_detach(seg);
	proc_exit(0);
}

/* Write the refresh_runs row of a failed refresh in a transaction of its own; true when it was written */
PG_FUNCTION_INFO_V1(log_failed_run);
Datum
log_failed_run(PG_FUNCTION_ARGS)
{
	text	   *texts[FAILED_RUN_TEXTS];
	int			argno[FAILED_RUN_TEXTS] = {2, 4, 5, 6};
	Size		size = offsetof(FailedRun, text);
	dsm_segment *seg;
	FailedRun  *fr;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	Size		pos = 0;
	bool		written;
	int			i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments \"run\", \"started_at\", \"mode\", \"as_of\" and \"error\" must not be NULL")));
	for (i = 0; i < FAILED_RUN_TEXTS; i++)
	{
		texts[i] = PG_ARGISNULL(argno[i]) ? NULL : PG_GETARG_TEXT_PP(argno[i]);
		if (texts[i])
			size += VARSIZE_ANY_EXHDR(texts[i]) + 1;
	}

	seg = dsm_create(size, 0);
	fr = (FailedRun *) dsm_segment_address(seg);
	fr->database = MyDatabaseId;
	fr->role = GetUserId();
	fr->written = false;
	fr->run = PG_GETARG_INT64(0);
	fr->started_at = PG_GETARG_TIMESTAMPTZ(1);
	fr->as_of = PG_GETARG_TIMESTAMPTZ(3);
	fr->has_event_time = !PG_ARGISNULL(7);
	fr->event_time = fr->has_event_time ? PG_GETARG_TIMESTAMPTZ(7) : 0;
	for (i = 0; i < FAILED_RUN_TEXTS; i++)
	{
		if (texts[i] == NULL)
		{
			fr->text_offset[i] = -1;
			continue;
		}
		fr->text_offset[i] = pos;
		memcpy(fr->text + pos, VARDATA_ANY(texts[i]), VARSIZE_ANY_EXHDR(texts[i]));
		pos += VARSIZE_ANY_EXHDR(texts[i]);
		fr->text[pos++] = '\0';
	}

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "segmentation");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "segmentation_log_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "segmentation refresh log for PID %d", MyProcPid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "segmentation refresh log");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		dsm_detach(seg);
		ereport(WARNING,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start a background worker to log the failed refresh"),
				 errhint("Raise max_worker_processes.")));
		PG_RETURN_BOOL(false);
	}
	status = WaitForBackgroundWorkerShutdown(handle);
	written = (status == BGWH_STOPPED) && fr->written;
	dsm_detach(seg);
	PG_RETURN_BOOL(written);
}

/* the statement timeout as it was before refresh armed its own */
static bool timeout_armed = false;
static bool timeout_was_active = false;
static TimestampTz timeout_was_due = 0;

/* Arm the statement timeout for the running refresh, unless an earlier one is due */
PG_FUNCTION_INFO_V1(refresh_timeout_begin);
Datum
refresh_timeout_begin(PG_FUNCTION_ARGS)
{
	int64		ms = PG_GETARG_INT64(0);
	TimestampTz due;

	if (ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"milliseconds\" must not be negative")));
	timeout_armed = false;
	if (ms == 0)
		PG_RETURN_VOID();
	due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
	timeout_was_active = get_timeout_active(STATEMENT_TIMEOUT);
	timeout_was_due = timeout_was_active ? get_timeout_finish_time(STATEMENT_TIMEOUT) : 0;
	if (timeout_was_active && timeout_was_due <= due)
		PG_RETURN_VOID();
	enable_timeout_at(STATEMENT_TIMEOUT, due);
	timeout_armed = true;
	PG_RETURN_VOID();
}

/* Put the statement timeout back as it was before refresh_timeout_begin */
PG_FUNCTION_INFO_V1(refresh_timeout_end);
Datum
refresh_timeout_end(PG_FUNCTION_ARGS)
{
	if (timeout_armed)
	{
		if (timeout_was_active)
			enable_timeout_at(STATEMENT_TIMEOUT, timeout_was_due);
		else
			disable_timeout(STATEMENT_TIMEOUT, false);
		timeout_armed = false;
	}
	PG_RETURN_VOID();
}
