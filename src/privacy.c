/*
 * privacy.c: the keyed hash behind pseudonyms and forgotten users
 * (DESIGN section 6), and the random key it is keyed with.
 *
 * HMAC-SHA-256 is PostgreSQL's own (common/hmac.h, which SCRAM uses); the
 * key's bytes come from pg_strong_random, the server's cryptographic source.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "port.h"
#include "utils/memutils.h"

/* the length of a pseudonym key, in bytes (a SHA-256 block is 64; 32 is its output) */
#define PSEUDONYM_KEY_BYTES 32

/* 32 random bytes from the server's cryptographic source */
PG_FUNCTION_INFO_V1(pseudonym_new_key);
Datum
pseudonym_new_key(PG_FUNCTION_ARGS)
{
	bytea	   *result = (bytea *) palloc(VARHDRSZ + PSEUDONYM_KEY_BYTES);

	SET_VARSIZE(result, VARHDRSZ + PSEUDONYM_KEY_BYTES);
	if (!pg_strong_random(VARDATA(result), PSEUDONYM_KEY_BYTES))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random pseudonym key")));
	PG_RETURN_BYTEA_P(result);
}

/* a bytea of a marker byte (or none, when marker < 0) and len bytes */
static bytea *
Bytes(int marker, const char *data, int len)
{
	int			m = marker < 0 ? 0 : 1;
	bytea	   *result = (bytea *) palloc(VARHDRSZ + m + len);

	SET_VARSIZE(result, VARHDRSZ + m + len);
	if (m)
		((unsigned char *) VARDATA(result))[0] = (unsigned char) marker;
	memcpy(VARDATA(result) + m, data, len);
	return result;
}

/*
 * The bytes a user id is hashed as, whatever the database's encoding: its
 * UTF-8 form, so that a hash is the same in every database; and for an id
 * that has none (an invalid byte in SQL_ASCII, one without a mapping in
 * WIN1252), its own bytes after 0xFF, which UTF-8 never holds.  Never an
 * error: an id the application could write must not stop a refresh.
 */
PG_FUNCTION_INFO_V1(pseudonym_id_bytes);
Datum
pseudonym_id_bytes(PG_FUNCTION_ARGS)
{
	text	   *id = PG_GETARG_TEXT_PP(0);
	const char *src = VARDATA_ANY(id);
	int			len = VARSIZE_ANY_EXHDR(id);
	int			enc = GetDatabaseEncoding();

	if (enc == PG_UTF8)
		PG_RETURN_BYTEA_P(Bytes(-1, src, len));
	if (enc == PG_SQL_ASCII)
		PG_RETURN_BYTEA_P(Bytes(pg_encoding_verifymbstr(PG_UTF8, src, len) == len ? -1 : 0xFF, src, len));
	if (len <= (int) ((MaxAllocSize - 1) / MAX_CONVERSION_GROWTH))
	{
		Oid			proc = FindDefaultConversionProc(enc, PG_UTF8);

		if (OidIsValid(proc))
		{
			int			destlen = len * MAX_CONVERSION_GROWTH + 1;
			unsigned char *dest = palloc(destlen);

			if (pg_do_encoding_conversion_buf(proc, enc, PG_UTF8, (unsigned char *) src, len,
											  dest, destlen, true) == len)
				PG_RETURN_BYTEA_P(Bytes(-1, (const char *) dest, (int) strlen((const char *) dest)));
		}
	}
	PG_RETURN_BYTEA_P(Bytes(0xFF, src, len));
}

/* HMAC-SHA-256 of message with key (RFC 2104), 32 bytes */
PG_FUNCTION_INFO_V1(pseudonym_hmac_sha256);
Datum
pseudonym_hmac_sha256(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	bytea	   *message = PG_GETARG_BYTEA_PP(1);
	bytea	   *result = (bytea *) palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	pg_hmac_ctx *ctx;

	/* a key of the right size only: a short or empty key is a weak pseudonym */
	if (VARSIZE_ANY_EXHDR(key) < 16)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pseudonym key must be at least 16 bytes, not %d", (int) VARSIZE_ANY_EXHDR(key))));
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (pg_hmac_init(ctx, (const uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) < 0
		|| pg_hmac_update(ctx, (const uint8 *) VARDATA_ANY(message), VARSIZE_ANY_EXHDR(message)) < 0
		|| pg_hmac_final(ctx, (uint8 *) VARDATA(result), PG_SHA256_DIGEST_LENGTH) < 0)
	{
		const char *why = pg_hmac_error(ctx);

		pg_hmac_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA-256: %s", why)));
	}
	pg_hmac_free(ctx);
	SET_VARSIZE(result, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	PG_RETURN_BYTEA_P(result);
}
