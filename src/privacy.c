/*
 * privacy.c: the keyed hash behind pseudonyms and forgotten users
 * (DESIGN section 6), and the random key it is keyed with.
 *
 * HMAC-SHA-256 is PostgreSQL's own (common/hmac.h, which SCRAM uses); the
 * key's bytes come from pg_strong_random, the server's cryptographic source.
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "port.h"

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
