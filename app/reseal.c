/*
 * reseal.c — re-encrypt sealed secrets under the current seal key; see reseal.h.
 */
#include "keymgmt/reseal.h"
#include "keymgmt/codec.h"
#include "keymgmt/context.h"
#include "keymgmt/db.h"
#include "keymgmt/log.h"
#include "keymgmt/pool.h"
#include "keymgmt/seal.h"

#include <stdlib.h>
#include <string.h>

/*
 * Every place a sealed blob lives. Statements share one shape: rows are
 * (k1, k2, blob) where (k1, k2) identify the row and build its associated data.
 */
struct sealed_table {
    const char *what;
    const char *ad_format; /* printf format over k1 [, k2] */
    struct db_stmt batch;  /* $1 current key id, $2 limit */
    struct db_stmt update; /* $1 k1, $2 k2, $3 new blob, $4 old blob */
    struct db_stmt count;  /* $1 current key id → (current, other) */
    struct db_stmt all;
};

static struct sealed_table tables[] = {
    {"secrets", "secret:%s",
     DB_STMT("reseal_secrets_batch",
             "SELECT name, NULL, sealed FROM secrets WHERE substring(sealed from 2 for 8) <> $1 "
             "ORDER BY name LIMIT $2 FOR UPDATE SKIP LOCKED"),
     DB_STMT("reseal_secrets_update", "UPDATE secrets SET sealed = $3 "
                                      "WHERE name = $1 AND $2::text IS NULL AND sealed = $4"),
     DB_STMT("reseal_secrets_count",
             "SELECT count(*) FILTER (WHERE substring(sealed from 2 for 8) = $1), "
             "count(*) FILTER (WHERE substring(sealed from 2 for 8) <> $1) FROM secrets"),
     DB_STMT("reseal_secrets_all", "SELECT name, NULL, sealed FROM secrets ORDER BY name")},
    {"providers", "provider:%s",
     DB_STMT("reseal_providers_batch", "SELECT name, NULL, credentials FROM providers "
                                       "WHERE substring(credentials from 2 for 8) <> $1 "
                                       "ORDER BY name LIMIT $2 FOR UPDATE SKIP LOCKED"),
     DB_STMT("reseal_providers_update",
             "UPDATE providers SET credentials = $3 "
             "WHERE name = $1 AND $2::text IS NULL AND credentials = $4"),
     DB_STMT("reseal_providers_count",
             "SELECT count(*) FILTER (WHERE substring(credentials from 2 for 8) = $1), "
             "count(*) FILTER (WHERE substring(credentials from 2 for 8) <> $1) FROM providers"),
     DB_STMT("reseal_providers_all", "SELECT name, NULL, credentials FROM providers "
                                     "WHERE credentials IS NOT NULL ORDER BY name")},
    {"key_versions", "key:%s:%s",
     DB_STMT("reseal_versions_batch", "SELECT key_name, version::text, material FROM key_versions "
                                      "WHERE substring(material from 2 for 8) <> $1 "
                                      "ORDER BY key_name, version LIMIT $2 FOR UPDATE SKIP LOCKED"),
     DB_STMT("reseal_versions_update",
             "UPDATE key_versions SET material = $3 "
             "WHERE key_name = $1 AND version = $2::integer AND material = $4"),
     DB_STMT("reseal_versions_count",
             "SELECT count(*) FILTER (WHERE substring(material from 2 for 8) = $1), "
             "count(*) FILTER (WHERE substring(material from 2 for 8) <> $1) FROM key_versions"),
     DB_STMT("reseal_versions_all", "SELECT key_name, version::text, material FROM key_versions "
                                    "ORDER BY key_name, version")},
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

static char *row_ad(struct pool *p, const struct sealed_table *t, const PGresult *res, int row)
{
    return pool_printf(p, t->ad_format, PQgetvalue(res, row, 0), PQgetvalue(res, row, 1));
}

/* Re-encrypt one row; inside the batch transaction. */
static enum km_status reseal_row(struct km_ctx *ctx, struct pool *p, struct sealed_table *t,
                                 const PGresult *res, int row)
{
    unsigned char *old = NULL, *plain = NULL, *fresh = NULL;
    size_t oldlen = 0, plainlen = 0, freshlen = 0;
    struct db_args a = {0};
    PGresult *upd = NULL;
    enum km_status rc = KM_EINTERNAL;
    const char *ad = row_ad(p, t, res, row);

    old = db_get_bytes(res, row, 2, &oldlen);
    if (old == NULL)
        goto out;
    enum seal_result sr = seal_decrypt(ctx->ring, ad, old, oldlen, &plain, &plainlen);
    if (sr != SEAL_OK) {
        log_emit(LOG_ERROR, "reseal failed",
                 json_pack("{s:s, s:s, s:i}", "table", t->what, "row", ad, "seal_result", (int)sr));
        goto out;
    }
    if (seal_encrypt(ctx->ring, ctx->rng, ad, plain, plainlen, &fresh, &freshlen) != SEAL_OK)
        goto out;
    db_arg_text(&a, PQgetvalue(res, row, 0));
    db_arg_text(&a, PQgetisnull(res, row, 1) ? NULL : PQgetvalue(res, row, 1));
    db_arg_bytes(&a, fresh, freshlen);
    db_arg_bytes(&a, old, oldlen);
    rc = db_exec(ctx->db, &t->update, &a, &upd);
out:
    PQclear(upd);
    free(old);
    free(fresh);
    codec_free_secret(plain, plainlen);
    return rc;
}

/* One batch of one table: returns the number of rows resealed, or -1. */
static long reseal_batch(struct km_ctx *ctx, struct sealed_table *t, long batch)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    struct pool *p = pool_new();
    long n = -1;

    db_arg_bytes(&a, ctx->ring->keys[0].id, SEAL_ID_BYTES);
    db_arg_int(&a, batch);
    if (db_begin(ctx->db) != KM_OK || db_exec(ctx->db, &t->batch, &a, &res) != KM_OK)
        goto out;
    for (int i = 0; i < PQntuples(res); i++)
        if (reseal_row(ctx, p, t, res, i) != KM_OK)
            goto out;
    if (db_commit(ctx->db) != KM_OK)
        goto out;
    n = PQntuples(res);
out:
    db_rollback(ctx->db);
    PQclear(res);
    pool_free(p);
    return n;
}

enum km_status reseal_run(struct km_ctx *ctx, long batch, struct reseal_stats *st)
{
    memset(st, 0, sizeof(*st));
    for (size_t i = 0; i < NTABLES; i++) {
        for (;;) {
            long n = reseal_batch(ctx, &tables[i], batch);
            if (n < 0)
                return KM_EINTERNAL;
            if (n == 0)
                break;
            st->resealed += n;
            log_emit(LOG_INFO, "resealed",
                     json_pack("{s:s, s:I}", "table", tables[i].what, "rows", (json_int_t)n));
        }
    }
    return reseal_status(ctx, st);
}

enum km_status reseal_status(struct km_ctx *ctx, struct reseal_stats *st)
{
    struct db_args a = {0};
    st->current = st->other = 0;
    db_arg_bytes(&a, ctx->ring->keys[0].id, SEAL_ID_BYTES);
    for (size_t i = 0; i < NTABLES; i++) {
        PGresult *res = NULL;
        enum km_status rc = db_exec(ctx->db, &tables[i].count, &a, &res);
        if (rc != KM_OK) {
            PQclear(res);
            return rc;
        }
        st->current += atol(PQgetvalue(res, 0, 0));
        st->other += atol(PQgetvalue(res, 0, 1));
        PQclear(res);
    }
    return KM_OK;
}

enum km_status reseal_verify(struct km_ctx *ctx, struct reseal_stats *st)
{
    memset(st, 0, sizeof(*st));
    for (size_t i = 0; i < NTABLES; i++) {
        PGresult *res = NULL;
        struct pool *p = pool_new();
        enum km_status rc = db_exec(ctx->db, &tables[i].all, NULL, &res);
        for (int r = 0; rc == KM_OK && r < PQntuples(res); r++) {
            size_t bloblen = 0, plainlen = 0;
            unsigned char *plain = NULL, *blob = db_get_bytes(res, r, 2, &bloblen);
            const char *ad = row_ad(p, &tables[i], res, r);
            if (blob == NULL ||
                seal_decrypt(ctx->ring, ad, blob, bloblen, &plain, &plainlen) != SEAL_OK) {
                st->failed++;
                log_emit(LOG_ERROR, "sealed secret does not open",
                         json_pack("{s:s, s:s}", "table", tables[i].what, "row", ad));
            } else if (seal_is_current(ctx->ring, blob, bloblen)) {
                st->current++;
            } else {
                st->other++;
            }
            free(blob);
            codec_free_secret(plain, plainlen);
        }
        PQclear(res);
        pool_free(p);
        if (rc != KM_OK)
            return rc;
    }
    return KM_OK;
}
