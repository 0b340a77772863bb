/*
 * key.c — the key endpoints; see key.h.
 */
#include "keymgmt/key.h"
#include "keymgmt/codec.h"
#include "keymgmt/context.h"
#include "keymgmt/db.h"
#include "keymgmt/distribute.h"
#include "keymgmt/keygen.h"
#include "keymgmt/log.h"
#include "keymgmt/params.h"
#include "keymgmt/pool.h"
#include "keymgmt/seal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct db_stmt q_update =
    DB_STMT("key_update",
            "UPDATE keys SET min_enabled_version = COALESCE($2::integer, min_enabled_version), "
            "    deletion_allowed = COALESCE($3::boolean, deletion_allowed), updated_at = now() "
            "WHERE name = $1 AND ($4::text IS NULL OR type = $4::text) "
            "  AND ($2::integer IS NULL OR $2::integer <= latest_version) "
            "RETURNING latest_version");
static struct db_stmt q_get =
    DB_STMT("key_get", "SELECT type, latest_version, min_enabled_version, deletion_allowed "
                       "FROM keys WHERE name = $1");
static struct db_stmt q_insert =
    DB_STMT("key_insert", "INSERT INTO keys (name, type, deletion_allowed, min_enabled_version) "
                          "VALUES ($1, $2, COALESCE($3::boolean, false), COALESCE($4::integer, 0)) "
                          "ON CONFLICT (name) DO NOTHING RETURNING name");
static struct db_stmt q_insert_version = DB_STMT(
    "key_insert_version",
    "INSERT INTO key_versions (key_name, version, material, public_key) VALUES ($1, $2, $3, $4)");
static struct db_stmt q_bump =
    DB_STMT("key_bump", "UPDATE keys SET latest_version = latest_version + 1, updated_at = now() "
                        "WHERE name = $1 RETURNING latest_version");
static struct db_stmt q_read = DB_STMT(
    "key_read",
    "SELECT k.type, k.deletion_allowed, k.min_enabled_version, k.latest_version, v.version, "
    "       to_char(v.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "       v.public_key "
    "FROM keys k JOIN key_versions v ON v.key_name = k.name WHERE k.name = $1 ORDER BY v.version");
static struct db_stmt q_list =
    DB_STMT("key_list", "SELECT name FROM keys ORDER BY name COLLATE \"C\"");
static struct db_stmt q_delete =
    DB_STMT("key_delete", "DELETE FROM keys WHERE name = $1 AND deletion_allowed RETURNING name");
static struct db_stmt q_providers =
    DB_STMT("key_providers", "SELECT provider_name FROM distributions WHERE key_name = $1 ORDER BY "
                             "provider_name COLLATE \"C\"");
static struct db_stmt q_material = DB_STMT(
    "key_material", "SELECT material FROM key_versions WHERE key_name = $1 AND version = $2");

enum { K_TYPE, K_MIN_ENABLED, K_DELETION_ALLOWED, K_COUNT };
static const struct param_spec write_params[K_COUNT] = {
    [K_TYPE] = {"type", PARAM_STRING},
    [K_MIN_ENABLED] = {"min_enabled_version", PARAM_INT},
    [K_DELETION_ALLOWED] = {"deletion_allowed", PARAM_BOOL},
};

/* The parsed, validated write. */
struct key_write {
    const char *name;
    bool has_type;
    enum key_type type;
    const char *min; /* decimal text or NULL */
    const char *del; /* "true"/"false" or NULL */
    char minbuf[24];
};

char *key_seal_ad(struct pool *p, const char *name, long version)
{
    return pool_printf(p, "key:%s:%ld", name, version);
}

static const char *pg_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* Seal `material` for (name, version) and insert it; inside the caller's transaction. */
static enum km_status insert_version(struct request *req, const char *name, long version,
                                     const unsigned char *material, size_t len, const char *pem)
{
    unsigned char *blob = NULL;
    size_t bloblen = 0;
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc = KM_EINTERNAL;

    if (seal_encrypt(req->ctx->ring, req->ctx->rng, key_seal_ad(req->pool, name, version), material,
                     len, &blob, &bloblen) != SEAL_OK)
        goto out;
    db_arg_text(&a, name);
    db_arg_int(&a, version);
    db_arg_bytes(&a, blob, bloblen);
    db_arg_text(&a, pem);
    rc = db_exec(req->ctx->db, &q_insert_version, &a, &res);
out:
    PQclear(res);
    free(blob);
    return rc;
}

/* After a refused update: say why. KM_ENOTFOUND when the key does not exist. */
static enum km_status explain_update(struct request *req, struct response *resp,
                                     const struct key_write *w)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc;

    db_arg_text(&a, w->name);
    rc = db_exec(req->ctx->db, &q_get, &a, &res);
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) != 1)
        rc = KM_ENOTFOUND;
    else if (w->has_type && strcmp(PQgetvalue(res, 0, 0), keygen_type_name(w->type)) != 0)
        rc = response_error(resp, KM_EINVAL, "type cannot be changed after creation (it is \"%s\")",
                            PQgetvalue(res, 0, 0));
    else
        rc = response_error(resp, KM_EINVAL,
                            "min_enabled_version must be between 0 and the latest version (%s)",
                            PQgetvalue(res, 0, 1));
out:
    PQclear(res);
    return rc;
}

static enum km_status update(struct request *req, struct response *resp, const struct key_write *w)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc;

    db_arg_text(&a, w->name);
    db_arg_text(&a, w->min);
    db_arg_text(&a, w->del);
    db_arg_text(&a, w->has_type ? keygen_type_name(w->type) : NULL);
    rc = db_exec(req->ctx->db, &q_update, &a, &res);
    if (rc == KM_OK && PQntuples(res) != 1)
        rc = explain_update(req, resp, w);
    PQclear(res);
    if (rc == KM_OK && w->min != NULL)
        rc = distribute_sync_key(req, resp, w->name); /* enable/disable AWS keys to match */
    return rc;
}

/* Create the key with version 1. KM_ENOTFOUND (nothing done) if it appeared meanwhile. */
static enum km_status create(struct request *req, struct response *resp, const struct key_write *w)
{
    enum key_type type = w->has_type ? w->type : KEYGEN_DEFAULT_TYPE;
    unsigned char *material = NULL;
    char *pem = NULL;
    size_t len = 0;
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc = KM_EINTERNAL;

    if (keygen_generate(type, req->ctx->rng, &material, &len, &pem) != 0) {
        log_msg(LOG_ERROR, "keygen failed", "cannot generate %s material", keygen_type_name(type));
        goto out;
    }
    rc = db_begin(req->ctx->db);
    if (rc != KM_OK)
        goto out;
    db_arg_text(&a, w->name);
    db_arg_text(&a, keygen_type_name(type));
    db_arg_text(&a, w->del);
    db_arg_text(&a, w->min);
    rc = db_exec(req->ctx->db, &q_insert, &a, &res);
    if (rc == KM_EINTERNAL && strcmp(db_sqlstate(res), "23514") == 0) {
        rc = response_error(resp, KM_EINVAL,
                            "min_enabled_version must be between 0 and the latest version (1)");
        goto out;
    }
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) != 1) {
        rc = KM_ENOTFOUND; /* created concurrently: the caller updates instead */
        goto out;
    }
    rc = insert_version(req, w->name, 1, material, len, pem);
    if (rc == KM_OK)
        rc = db_commit(req->ctx->db);
out:
    db_rollback(req->ctx->db);
    PQclear(res);
    codec_free_secret(material, len);
    free(pem);
    return rc;
}

static enum km_status parse_write(struct request *req, struct response *resp,
                                  const struct param_value *v, struct key_write *w)
{
    w->name = req->params[0];
    if (v[K_TYPE].present) {
        if (keygen_type_parse(v[K_TYPE].s, &w->type) != 0)
            return response_error(resp, KM_EINVAL,
                                  "unsupported key type: must be one of aes256-gcm96, rsa-2048, "
                                  "rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384, ecdsa-p521");
        w->has_type = true;
    }
    if (v[K_MIN_ENABLED].present) {
        long long m = v[K_MIN_ENABLED].i;
        if (m < 0 || m > INT_MAX)
            return response_error(resp, KM_EINVAL,
                                  "min_enabled_version must be between 0 and the latest version");
        snprintf(w->minbuf, sizeof(w->minbuf), "%lld", m);
        w->min = w->minbuf;
    }
    if (v[K_DELETION_ALLOWED].present)
        w->del = v[K_DELETION_ALLOWED].b ? "true" : "false";
    return KM_OK;
}

enum km_status key_write(struct request *req, struct response *resp)
{
    struct param_value v[K_COUNT];
    struct key_write w;
    json_t *unknown = NULL;
    char err[512];
    enum km_status rc;

    memset(&w, 0, sizeof(w));
    if (params_parse(write_params, K_COUNT, req->body, v, &unknown, err, sizeof(err)) != 0)
        return response_error(resp, KM_EINVAL, "%s", err);
    rc = parse_write(req, resp, v, &w);
    if (rc != KM_OK)
        goto out;
    /* An existing key is updated; otherwise created. A concurrent create of the same
     * name makes our create a no-op, and we update what the other request made. */
    rc = update(req, resp, &w);
    if (rc == KM_ENOTFOUND) {
        rc = create(req, resp, &w);
        if (rc == KM_ENOTFOUND)
            rc = update(req, resp, &w);
    }
    if (rc == KM_ENOTFOUND)
        rc = response_error(resp, KM_EINVAL, "key \"%s\" was deleted concurrently; retry", w.name);
    if (rc == KM_OK && unknown != NULL) {
        char *msg = params_unknown_warning(unknown);
        response_warn(resp, msg);
        free(msg);
    }
out:
    json_decref(unknown);
    params_release(v, K_COUNT);
    return rc;
}

enum km_status key_read(struct request *req, struct response *resp)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    json_t *versions = NULL;
    enum km_status rc;

    db_arg_text(&a, req->params[0]);
    rc = db_exec(req->ctx->db, &q_read, &a, &res);
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) == 0) {
        rc = response_not_found(resp);
        goto out;
    }
    versions = json_object();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *ver = json_pack("{s:s}", "creation_time", PQgetvalue(res, i, 5));
        const char *pem = pg_text(res, i, 6);
        if (pem != NULL)
            json_object_set_new(ver, "public_key", json_string(pem));
        json_object_set_new(versions, PQgetvalue(res, i, 4), ver);
    }
    rc = response_data(resp,
                       json_pack("{s:s, s:s, s:b, s:I, s:I, s:O}", "name", req->params[0], "type",
                                 PQgetvalue(res, 0, 0), "deletion_allowed",
                                 strcmp(PQgetvalue(res, 0, 1), "t") == 0, "min_enabled_version",
                                 (json_int_t)atoll(PQgetvalue(res, 0, 2)), "latest_version",
                                 (json_int_t)atoll(PQgetvalue(res, 0, 3)), "keys", versions));
out:
    json_decref(versions);
    PQclear(res);
    return rc;
}

enum km_status key_list(struct request *req, struct response *resp)
{
    return db_list_keys(req->ctx->db, &q_list, NULL, resp);
}

enum km_status key_list_providers(struct request *req, struct response *resp)
{
    return db_list_keys(req->ctx->db, &q_providers, req->params[0], resp);
}

enum km_status key_delete(struct request *req, struct response *resp)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    const char *name = req->params[0];
    enum km_status rc;

    db_arg_text(&a, name);
    rc = db_exec(req->ctx->db, &q_delete, &a, &res);
    if (rc == KM_EINTERNAL && strcmp(db_sqlstate(res), "23503") == 0) {
        rc = response_error(resp, KM_EINVAL,
                            "cannot delete key \"%s\": it is distributed to KMS providers; remove "
                            "it from them first",
                            name);
        goto out;
    }
    if (rc != KM_OK || PQntuples(res) == 1)
        goto out;
    PQclear(res);
    res = NULL;
    rc = db_exec(req->ctx->db, &q_get, &a, &res);
    if (rc == KM_OK && PQntuples(res) == 1)
        rc = response_error(resp, KM_EINVAL,
                            "deletion is not allowed for key \"%s\": set deletion_allowed to true "
                            "first",
                            name);
out:
    PQclear(res);
    return rc;
}

enum km_status key_rotate(struct request *req, struct response *resp)
{
    const char *name = req->params[0];
    struct db_args a = {0};
    PGresult *res = NULL;
    unsigned char *material = NULL;
    char *pem = NULL;
    size_t len = 0;
    enum key_type type;
    enum km_status rc;

    db_arg_text(&a, name);
    rc = db_exec(req->ctx->db, &q_get, &a, &res);
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) != 1) {
        rc = response_error(resp, KM_EINVAL, "key \"%s\" not found", name);
        goto out;
    }
    rc = KM_EINTERNAL;
    if (keygen_type_parse(PQgetvalue(res, 0, 0), &type) != 0 ||
        keygen_generate(type, req->ctx->rng, &material, &len, &pem) != 0)
        goto out;
    PQclear(res);
    res = NULL;
    /* The row lock taken by the bump serialises concurrent rotations of one key. */
    rc = db_begin(req->ctx->db);
    if (rc != KM_OK)
        goto out;
    rc = db_exec(req->ctx->db, &q_bump, &a, &res);
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) != 1) {
        rc = response_error(resp, KM_EINVAL, "key \"%s\" not found", name);
        goto out;
    }
    long version = atol(PQgetvalue(res, 0, 0));
    rc = insert_version(req, name, version, material, len, pem);
    if (rc == KM_OK)
        rc = db_commit(req->ctx->db);
    if (rc == KM_OK)
        rc = distribute_sync_key(req, resp, name); /* the new version into every provider */
out:
    db_rollback(req->ctx->db);
    PQclear(res);
    codec_free_secret(material, len);
    free(pem);
    return rc;
}

enum km_status key_material(struct request *req, const char *name, long version,
                            unsigned char **material, size_t *len)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    unsigned char *blob = NULL;
    size_t bloblen = 0;
    enum km_status rc;

    *material = NULL;
    db_arg_text(&a, name);
    db_arg_int(&a, version);
    rc = db_exec(req->ctx->db, &q_material, &a, &res);
    if (rc != KM_OK)
        goto out;
    rc = KM_ENOTFOUND;
    if (PQntuples(res) != 1)
        goto out;
    rc = KM_EINTERNAL;
    blob = db_get_bytes(res, 0, 0, &bloblen);
    if (blob == NULL)
        goto out;
    enum seal_result sr = seal_decrypt(req->ctx->ring, key_seal_ad(req->pool, name, version), blob,
                                       bloblen, material, len);
    if (sr != SEAL_OK) {
        log_emit(LOG_ERROR, "unseal failed",
                 json_pack("{s:s, s:I, s:i}", "key", name, "version", (json_int_t)version,
                           "seal_result", (int)sr));
        goto out;
    }
    rc = KM_OK;
out:
    free(blob);
    PQclear(res);
    return rc;
}
