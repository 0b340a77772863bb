/*
 * auth.c — token creation, hashing and lookup; see auth.h.
 */
#include "keymgmt/auth.h"
#include "keymgmt/codec.h"
#include "keymgmt/context.h"
#include "keymgmt/db.h"
#include "keymgmt/log.h"
#include "keymgmt/pool.h"
#include "keymgmt/request.h"
#include "keymgmt/rng.h"
#include "keymgmt/seal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_KEY_NAME "token_hmac_key"
#define TOKEN_KEY_AD "secret:" TOKEN_KEY_NAME
#define TOKEN_PREFIX "kmt."

struct auth_state {
    bool loaded;
    unsigned char key[32];
};

static struct db_stmt q_key_get =
    DB_STMT("auth_key_get", "SELECT sealed FROM secrets WHERE name = $1");
static struct db_stmt q_key_put = DB_STMT(
    "auth_key_put", "INSERT INTO secrets (name, sealed) VALUES ($1, $2) ON CONFLICT DO NOTHING");
static struct db_stmt q_lookup =
    DB_STMT("auth_lookup", "SELECT accessor, array_to_string(policies, ',') FROM tokens "
                           "WHERE hash = $1 AND (expires_at IS NULL OR expires_at > now())");
static struct db_stmt q_create = DB_STMT(
    "auth_create", "INSERT INTO tokens (accessor, hash, policies, display_name, expires_at) "
                   "VALUES ($1, $2, string_to_array($3, ','), $4, "
                   "CASE WHEN $5::bigint > 0 THEN now() + make_interval(secs => $5::bigint) END)");
static struct db_stmt q_revoke = DB_STMT("auth_revoke", "DELETE FROM tokens WHERE accessor = $1");

struct auth_state *auth_state_new(void)
{
    return xcalloc(1, sizeof(struct auth_state));
}

void auth_state_free(struct auth_state *st)
{
    if (st == NULL)
        return;
    OPENSSL_cleanse(st, sizeof(*st));
    free(st);
}

/* Read and unseal the token key into ctx->auth. KM_ENOTFOUND when absent. */
static enum km_status load_key(struct km_ctx *ctx)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    unsigned char *blob = NULL, *key = NULL;
    size_t bloblen = 0, keylen = 0;
    enum km_status rc;

    if (ctx->auth->loaded)
        return KM_OK;
    db_arg_text(&a, TOKEN_KEY_NAME);
    rc = db_exec(ctx->db, &q_key_get, &a, &res);
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) != 1) {
        rc = KM_ENOTFOUND;
        goto out;
    }
    blob = db_get_bytes(res, 0, 0, &bloblen);
    rc = KM_EINTERNAL;
    if (blob == NULL)
        goto out;
    enum seal_result sr = seal_decrypt(ctx->ring, TOKEN_KEY_AD, blob, bloblen, &key, &keylen);
    if (sr != SEAL_OK || keylen != sizeof(ctx->auth->key)) {
        log_msg(LOG_ERROR, "token key unreadable",
                "the token key cannot be unsealed with the configured seal keys (%d)", (int)sr);
        goto out;
    }
    memcpy(ctx->auth->key, key, keylen);
    ctx->auth->loaded = true;
    rc = KM_OK;
out:
    codec_free_secret(key, keylen);
    free(blob);
    PQclear(res);
    return rc;
}

enum km_status auth_init_key(struct km_ctx *ctx)
{
    unsigned char raw[32];
    unsigned char *blob = NULL;
    size_t bloblen = 0;
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc = load_key(ctx);

    if (rc != KM_ENOTFOUND)
        goto out;
    rc = KM_EINTERNAL;
    if (rng_fill(ctx->rng, raw, sizeof(raw)) != 0 ||
        seal_encrypt(ctx->ring, ctx->rng, TOKEN_KEY_AD, raw, sizeof(raw), &blob, &bloblen) !=
            SEAL_OK)
        goto out;
    db_arg_text(&a, TOKEN_KEY_NAME);
    db_arg_bytes(&a, blob, bloblen);
    rc = db_exec(ctx->db, &q_key_put, &a, &res);
    if (rc != KM_OK)
        goto out;
    rc = load_key(ctx); /* whichever writer won */
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    free(blob);
    PQclear(res);
    return rc;
}

static void token_hash(const struct auth_state *st, const char *token, unsigned char out[32])
{
    unsigned int len = 0;
    HMAC(EVP_sha256(), st->key, sizeof(st->key), (const unsigned char *)token, strlen(token), out,
         &len);
}

static const char *const root_policy = "root";

bool auth_policies_allow(const char *policies, enum capability cap)
{
    (void)cap;
    /* Only the built-in root policy exists so far: it grants everything. */
    const char *p = policies;
    size_t n = strlen(root_policy);
    while (p != NULL && *p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, root_policy, n) == 0)
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

enum km_status auth_check(struct request *req, enum capability cap)
{
    struct km_ctx *ctx = req->ctx;
    unsigned char hash[32];
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc = KM_EPERM;

    if (req->token == NULL || strncmp(req->token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0 ||
        strlen(req->token) != AUTH_TOKEN_LEN)
        goto out;
    rc = load_key(ctx);
    if (rc == KM_ENOTFOUND) {
        log_msg(LOG_ERROR, "token key missing", "run keymgmtctl init");
        rc = KM_EPERM;
    }
    if (rc != KM_OK)
        goto out;
    token_hash(ctx->auth, req->token, hash);
    db_arg_bytes(&a, hash, sizeof(hash));
    rc = db_exec(ctx->db, &q_lookup, &a, &res);
    if (rc != KM_OK)
        goto out;
    rc = KM_EPERM;
    if (PQntuples(res) != 1 || !auth_policies_allow(PQgetvalue(res, 0, 1), cap))
        goto out;
    req->accessor = pool_strdup(req->pool, PQgetvalue(res, 0, 0));
    rc = KM_OK;
out:
    PQclear(res);
    return rc;
}

enum km_status auth_token_create(struct km_ctx *ctx, const char *policies, const char *display,
                                 long long ttl_seconds, char *token, char *accessor)
{
    unsigned char raw[32], acc[16], hash[32];
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc = load_key(ctx);
    char hex[65];

    if (rc != KM_OK)
        goto out;
    rc = KM_EINTERNAL;
    if (rng_fill(ctx->rng, raw, sizeof(raw)) != 0 || rng_fill(ctx->rng, acc, sizeof(acc)) != 0)
        goto out;
    codec_hex(raw, sizeof(raw), hex);
    snprintf(token, AUTH_TOKEN_LEN + 1, "%s%s", TOKEN_PREFIX, hex);
    request_format_uuid(acc, accessor);
    token_hash(ctx->auth, token, hash);
    db_arg_text(&a, accessor);
    db_arg_bytes(&a, hash, sizeof(hash));
    db_arg_text(&a, policies);
    db_arg_text(&a, display);
    db_arg_int(&a, ttl_seconds);
    rc = db_exec(ctx->db, &q_create, &a, &res);
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(hex, sizeof(hex));
    PQclear(res);
    return rc;
}

enum km_status auth_token_revoke(struct km_ctx *ctx, const char *accessor, bool *found)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    db_arg_text(&a, accessor);
    enum km_status rc = db_exec(ctx->db, &q_revoke, &a, &res);
    if (rc == KM_OK)
        *found = atoi(PQcmdTuples(res)) > 0;
    PQclear(res);
    return rc;
}
