/*
 * distribute.c — distribution of keys into AWS KMS; see distribute.h.
 */
#include "keymgmt/distribute.h"
#include "keymgmt/awskms.h"
#include "keymgmt/codec.h"
#include "keymgmt/config.h"
#include "keymgmt/context.h"
#include "keymgmt/db.h"
#include "keymgmt/key.h"
#include "keymgmt/log.h"
#include "keymgmt/params.h"
#include "keymgmt/pool.h"
#include "keymgmt/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_WAIT_MS 120000 /* how long a request waits for another one on the same pair */
#define AWS_KEY_TYPE "aes256-gcm96"

static struct db_stmt q_get = DB_STMT(
    "dist_get", "SELECT id, alias_name, alias_target, removing, array_to_string(purpose, ','), "
                "protection, alias_ts FROM distributions "
                "WHERE provider_name = $1 AND key_name = $2");
static struct db_stmt q_insert = DB_STMT(
    "dist_insert",
    "INSERT INTO distributions (provider_name, key_name, purpose, protection, alias_name, "
    "alias_ts) "
    "VALUES ($1, $2, string_to_array($3, ','), $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id");
static struct db_stmt q_set_alias =
    DB_STMT("dist_set_alias", "UPDATE distributions SET alias_target = $2 WHERE id = $1");
static struct db_stmt q_set_removing =
    DB_STMT("dist_set_removing", "UPDATE distributions SET removing = true WHERE id = $1");
static struct db_stmt q_delete = DB_STMT("dist_delete", "DELETE FROM distributions WHERE id = $1");
/* A distribution that never got as far as an AWS call, with its rows: atomically, and only if so.
 */
static struct db_stmt q_drop_empty =
    DB_STMT("dist_drop_empty",
            "WITH gone AS (DELETE FROM distributions WHERE id = $1 AND alias_target IS NULL "
            "  AND NOT EXISTS (SELECT 1 FROM aws_keys WHERE distribution_id = $1 "
            "                  AND (create_attempted OR aws_key_id IS NOT NULL)) RETURNING id) "
            "DELETE FROM aws_keys WHERE distribution_id IN (SELECT id FROM gone)");
static struct db_stmt q_list =
    DB_STMT("dist_list", "SELECT key_name FROM distributions WHERE provider_name = $1 "
                         "ORDER BY key_name COLLATE \"C\"");
static struct db_stmt q_of_key =
    DB_STMT("dist_of_key", "SELECT provider_name FROM distributions WHERE key_name = $1 "
                           "ORDER BY provider_name COLLATE \"C\"");
static struct db_stmt q_key_state = DB_STMT(
    "dist_key_state", "SELECT type, latest_version, min_enabled_version FROM keys WHERE name = $1");
#define ROW_COLUMNS                                                                                \
    "SELECT id, aws_key_id, key_name, version, nonce, create_attempted, imported, enabled::text, " \
    "deletion_scheduled FROM aws_keys "
static struct db_stmt q_rows =
    DB_STMT("dist_rows", ROW_COLUMNS "WHERE distribution_id = $1 ORDER BY version");
static struct db_stmt q_provider_rows = DB_STMT(
    "dist_provider_rows", ROW_COLUMNS "WHERE provider_name = $1 ORDER BY key_name, version, id");
static struct db_stmt q_row_insert = DB_STMT(
    "dist_row_insert",
    "INSERT INTO aws_keys (distribution_id, provider_name, key_name, version, region, nonce) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (distribution_id, version) DO NOTHING");
static struct db_stmt q_row_attempt =
    DB_STMT("dist_row_attempt",
            "UPDATE aws_keys SET create_attempted = true, updated_at = now() WHERE id = $1");
static struct db_stmt q_row_unattempt =
    DB_STMT("dist_row_unattempt",
            "UPDATE aws_keys SET create_attempted = false, updated_at = now() WHERE id = $1");
static struct db_stmt q_row_created = DB_STMT(
    "dist_row_created",
    "UPDATE aws_keys SET aws_key_id = $2, aws_key_arn = $3, updated_at = now() WHERE id = $1");
static struct db_stmt q_row_imported = DB_STMT(
    "dist_row_imported",
    "UPDATE aws_keys SET imported = true, enabled = true, updated_at = now() WHERE id = $1");
static struct db_stmt q_row_enabled = DB_STMT(
    "dist_row_enabled", "UPDATE aws_keys SET enabled = $2, updated_at = now() WHERE id = $1");
static struct db_stmt q_row_deleted =
    DB_STMT("dist_row_deleted", "UPDATE aws_keys SET deletion_scheduled = true, deletion_date = "
                                "to_timestamp($2::double precision), "
                                "updated_at = now() WHERE id = $1");
static struct db_stmt q_row_forget =
    DB_STMT("dist_row_forget", "DELETE FROM aws_keys WHERE id = $1");
static struct db_stmt q_versions = DB_STMT(
    "dist_versions", "SELECT version, aws_key_id FROM aws_keys "
                     "WHERE distribution_id = $1 AND aws_key_id IS NOT NULL ORDER BY version");

/* A distribution being worked on. */
struct dist {
    long long id;
    const char *provider, *key;
    const char *alias_name, *alias_target;
    long alias_ts;
    bool removing;
    const char *purpose, *protection;
    struct provider_info prov;
    struct awskms_target target;
    struct awskms_call call;
    const char *lock; /* the pair's advisory lock, while held */
};

static const char *col(const PGresult *res, int row, int c)
{
    return PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
}

static const char *pool_col(struct pool *p, const PGresult *res, int row, int c)
{
    const char *v = col(res, row, c);
    return v ? pool_strdup(p, v) : NULL;
}

/* Run one statement whose result is not needed. */
static enum km_status exec_only(struct request *req, struct db_stmt *st, const struct db_args *a)
{
    PGresult *res = NULL;
    enum km_status rc = db_exec(req->ctx->db, st, a, &res);
    PQclear(res);
    return rc;
}

char *distribute_lock_name(struct pool *p, const char *provider, const char *key)
{
    return pool_printf(p, "keymgmt distribution %s/%s", provider, key);
}

/* An AWS failure as the API answers it: 502 with AWS's code and message, or 400
 * when credentials could not be found (the message explains the chain). */
static enum km_status aws_failure(struct response *resp, struct dist *d, enum km_status rc,
                                  const char *step)
{
    log_emit(LOG_WARN, "aws kms call failed",
             json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:i}", "provider", d->provider, "key",
                       d->key, "step", step, "error", d->call.err.message, "http_status",
                       (json_int_t)d->call.err.http_status, "aws_request_id",
                       d->call.err.request_id, "attempts", d->call.err.attempts));
    if (rc == KM_EINVAL)
        return response_error(resp, KM_EINVAL, "%s", d->call.err.message);
    return response_error(resp, KM_EPROVIDER, "%s",
                          d->call.err.message[0] ? d->call.err.message : "aws kms: request failed");
}

static bool aws_code_is(const struct dist *d, const char *code)
{
    return strcmp(d->call.err.code, code) == 0;
}

/* ---- loading ------------------------------------------------------------ */

/* Load the distribution row; KM_ENOTFOUND when absent. */
static enum km_status load_dist(struct request *req, const char *provider, const char *key,
                                struct dist *d)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc;

    memset(d, 0, sizeof(*d));
    d->provider = provider;
    d->key = key;
    db_arg_text(&a, provider);
    db_arg_text(&a, key);
    rc = db_exec(req->ctx->db, &q_get, &a, &res);
    if (rc == KM_OK && PQntuples(res) != 1)
        rc = KM_ENOTFOUND;
    if (rc == KM_OK) {
        d->id = atoll(PQgetvalue(res, 0, 0));
        d->alias_name = pool_col(req->pool, res, 0, 1);
        d->alias_target = pool_col(req->pool, res, 0, 2);
        d->removing = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
        d->purpose = pool_col(req->pool, res, 0, 4);
        d->protection = pool_col(req->pool, res, 0, 5);
        d->alias_ts = atol(PQgetvalue(res, 0, 6));
    }
    PQclear(res);
    return rc;
}

/* Load the provider's region and credentials and prepare the AWS call. */
static enum km_status open_provider(struct request *req, struct response *resp, struct dist *d)
{
    enum km_status rc = provider_load(req, d->provider, &d->prov);
    if (rc == KM_ENOTFOUND)
        return response_error(resp, KM_EINVAL, "provider \"%s\" not found", d->provider);
    if (rc != KM_OK)
        return rc;
    d->target.region = d->prov.region;
    d->target.access_key = d->prov.access_key;
    d->target.secret_key = d->prov.secret_key;
    d->target.session_token = d->prov.session_token;
    d->target.endpoint = d->prov.endpoint;
    awskms_call_init(&d->call, req->ctx->kms, &d->target, req->pool);
    return KM_OK;
}

static enum km_status rows_from(struct request *req, struct db_stmt *st, const struct db_args *a,
                                struct aws_key_row **rows, size_t *n)
{
    PGresult *res = NULL;
    enum km_status rc = db_exec(req->ctx->db, st, a, &res);

    *n = 0;
    if (rc != KM_OK)
        goto out;
    *rows = pool_alloc(req->pool, (size_t)(PQntuples(res) + 1) * sizeof(**rows));
    for (int i = 0; i < PQntuples(res); i++) {
        struct aws_key_row *r = &(*rows)[(*n)++];
        const char *en = col(res, i, 7);
        r->id = atoll(PQgetvalue(res, i, 0));
        r->aws_key_id = pool_col(req->pool, res, i, 1);
        r->key = pool_col(req->pool, res, i, 2);
        r->version = atol(PQgetvalue(res, i, 3));
        r->nonce = pool_col(req->pool, res, i, 4);
        r->attempted = strcmp(PQgetvalue(res, i, 5), "t") == 0;
        r->imported = strcmp(PQgetvalue(res, i, 6), "t") == 0;
        r->enabled = en == NULL ? -1 : strcmp(en, "true") == 0;
        r->deletion_scheduled = strcmp(PQgetvalue(res, i, 8), "t") == 0;
    }
out:
    PQclear(res);
    return rc;
}

/* The rows of one distribution, in version order. */
static enum km_status load_rows(struct request *req, struct dist *d, struct aws_key_row **rows,
                                size_t *n)
{
    struct db_args a = {0};
    db_arg_int(&a, d->id);
    return rows_from(req, &q_rows, &a, rows, n);
}

enum km_status distribute_provider_rows(struct request *req, const char *provider,
                                        struct aws_key_row **rows, size_t *n)
{
    struct db_args a = {0};
    db_arg_text(&a, provider);
    return rows_from(req, &q_provider_rows, &a, rows, n);
}

/* Lock a pair and load its distribution. On KM_OK, and on KM_ENOTFOUND (no
 * distribution), the lock is held: release it with unlock_pair(). */
static enum km_status lock_pair(struct request *req, struct response *resp, const char *provider,
                                const char *key, struct dist *d)
{
    char *lock = distribute_lock_name(req->pool, provider, key);
    enum km_status rc = db_lock(req->ctx->db, lock, LOCK_WAIT_MS);

    memset(d, 0, sizeof(*d));
    if (rc == KM_ERATE)
        return response_error(resp, KM_ERATE,
                              "another request is working on key \"%s\" in provider \"%s\"; retry",
                              key, provider);
    if (rc != KM_OK)
        return rc;
    rc = load_dist(req, provider, key, d);
    d->lock = lock;
    if (rc != KM_OK && rc != KM_ENOTFOUND) {
        db_unlock(req->ctx->db, lock);
        d->lock = NULL;
    }
    return rc;
}

static void unlock_pair(struct request *req, struct dist *d)
{
    provider_info_wipe(&d->prov);
    if (d->lock != NULL)
        db_unlock(req->ctx->db, d->lock);
    d->lock = NULL;
}

/* ---- single steps, each recorded before the next ------------------------- */

static enum km_status record_created(struct request *req, struct aws_key_row *r, const char *key_id,
                                     const char *arn)
{
    struct db_args a = {0};
    db_arg_int(&a, r->id);
    db_arg_text(&a, key_id);
    db_arg_text(&a, arn);
    enum km_status rc = exec_only(req, &q_row_created, &a);
    if (rc == KM_OK)
        r->aws_key_id = pool_strdup(req->pool, key_id);
    return rc;
}

/* Find the AWS key a lost CreateKey made, by its nonce tag. *found stays NULL when none. */
static enum km_status find_by_nonce(struct response *resp, struct dist *d, const char *nonce,
                                    const char **found, const char **arn)
{
    struct awskms_key_list keys;
    enum km_status rc = awskms_list_keys(&d->call, &keys);
    *found = NULL;
    if (rc != KM_OK)
        return aws_failure(resp, d, rc, "ListKeys");
    for (size_t i = 0; i < keys.n && *found == NULL; i++) {
        struct awskms_tag_list tags;
        rc = awskms_list_resource_tags(&d->call, keys.items[i].key_id, &tags);
        if (rc != KM_OK && aws_code_is(d, "NotFoundException"))
            continue;
        if (rc != KM_OK)
            return aws_failure(resp, d, rc, "ListResourceTags");
        for (size_t t = 0; t < tags.n; t++) {
            if (strcmp(tags.items[t].key, DISTRIBUTE_TAG_NONCE) == 0 &&
                strcmp(tags.items[t].value, nonce) == 0) {
                *found = keys.items[i].key_id;
                *arn = keys.items[i].arn;
            }
        }
    }
    if (*found != NULL)
        log_emit(LOG_INFO, "aws key recovered by tag",
                 json_pack("{s:s, s:s, s:s}", "provider", d->provider, "key", d->key, "aws_key_id",
                           *found));
    return KM_OK;
}

/* Make sure version r has an AWS key: recover a lost one, or create it. */
static enum km_status ensure_created(struct request *req, struct response *resp, struct dist *d,
                                     struct aws_key_row *r)
{
    struct db_args a = {0};
    const char *found = NULL, *arn = NULL;
    enum km_status rc;

    if (r->aws_key_id != NULL)
        return KM_OK;
    if (r->attempted) {
        rc = find_by_nonce(resp, d, r->nonce, &found, &arn);
        if (rc != KM_OK)
            return rc;
        if (found != NULL)
            return record_created(req, r, found, arn);
    }
    /* Record the attempt first: if the answer is lost, the next run looks for the key. */
    db_arg_int(&a, r->id);
    rc = exec_only(req, &q_row_attempt, &a);
    if (rc != KM_OK)
        return rc;
    r->attempted = true;
    char *version = pool_printf(req->pool, "%ld", r->version);
    char *dist = pool_printf(req->pool, "%s/%s-%ld", d->provider, d->key, d->alias_ts);
    const struct awskms_tag tags[] = {
        {DISTRIBUTE_TAG_KEY, d->key},
        {DISTRIBUTE_TAG_VERSION, version},
        {DISTRIBUTE_TAG_DISTRIBUTION, dist},
        {DISTRIBUTE_TAG_NONCE, r->nonce},
    };
    struct awskms_create_key_input in = {
        .description = pool_printf(req->pool, "keymgmt key %s version %ld", d->key, r->version),
        .origin = "EXTERNAL",
        .tags = tags,
        .ntags = sizeof(tags) / sizeof(tags[0]),
    };
    struct awskms_key_metadata md;
    rc = awskms_create_key(&d->call, &in, &md);
    if (rc != KM_OK) {
        /* Refused by AWS (4xx; CreateKey is only retried after throttling), or never sent:
         * certainly no key was made, so the next run need not search for one. */
        long st = d->call.err.http_status;
        if (rc == KM_EINVAL || (st >= 400 && st < 500)) {
            if (exec_only(req, &q_row_unattempt, &a) == KM_OK)
                r->attempted = false;
        }
        return aws_failure(resp, d, rc, "CreateKey");
    }
    return record_created(req, r, md.key_id, md.arn);
}

static enum km_status ensure_imported(struct request *req, struct response *resp, struct dist *d,
                                      struct aws_key_row *r)
{
    unsigned char *material = NULL;
    size_t len = 0;
    struct db_args a = {0};
    enum km_status rc;

    if (r->imported)
        return KM_OK;
    rc = key_material(req, d->key, r->version, &material, &len);
    if (rc != KM_OK)
        goto out;
    rc = awskms_import_material(&d->call, r->aws_key_id, material, len);
    if (rc != KM_OK) {
        rc = aws_failure(resp, d, rc, "ImportKeyMaterial");
        goto out;
    }
    db_arg_int(&a, r->id);
    rc = exec_only(req, &q_row_imported, &a);
    if (rc == KM_OK) {
        r->imported = true;
        r->enabled = 1;
    }
out:
    codec_free_secret(material, len);
    return rc;
}

static enum km_status ensure_enabled(struct request *req, struct response *resp, struct dist *d,
                                     struct aws_key_row *r, bool want)
{
    struct db_args a = {0};
    enum km_status rc;

    if (r->enabled == (int)want)
        return KM_OK;
    rc = want ? awskms_enable_key(&d->call, r->aws_key_id)
              : awskms_disable_key(&d->call, r->aws_key_id);
    if (rc != KM_OK)
        return aws_failure(resp, d, rc, want ? "EnableKey" : "DisableKey");
    db_arg_int(&a, r->id);
    db_arg_bool(&a, want);
    rc = exec_only(req, &q_row_enabled, &a);
    if (rc == KM_OK)
        r->enabled = want;
    return rc;
}

static enum km_status record_alias(struct request *req, struct dist *d, const char *target)
{
    struct db_args a = {0};
    db_arg_int(&a, d->id);
    db_arg_text(&a, target);
    enum km_status rc = exec_only(req, &q_set_alias, &a);
    if (rc == KM_OK)
        d->alias_target = target ? pool_strdup(req->pool, target) : NULL;
    return rc;
}

/* Point the alias at `target`: create it, or move it (also when a lost CreateAlias made it). */
static enum km_status ensure_alias(struct request *req, struct response *resp, struct dist *d,
                                   const char *target)
{
    enum km_status rc;

    if (d->alias_target != NULL && strcmp(d->alias_target, target) == 0)
        return KM_OK;
    if (d->alias_target == NULL) {
        rc = awskms_create_alias(&d->call, d->alias_name, target);
        if (rc != KM_OK && aws_code_is(d, "AlreadyExistsException"))
            rc = awskms_update_alias(&d->call, d->alias_name, target);
    } else {
        rc = awskms_update_alias(&d->call, d->alias_name, target);
        if (rc != KM_OK && aws_code_is(d, "NotFoundException"))
            rc = awskms_create_alias(&d->call, d->alias_name, target);
    }
    if (rc != KM_OK)
        return aws_failure(resp, d, rc, "CreateAlias/UpdateAlias");
    return record_alias(req, d, target);
}

/* ---- the whole job ------------------------------------------------------- */

/* Bring one distribution in line with its key. The caller holds the pair's lock. */
static enum km_status sync_dist(struct request *req, struct response *resp, struct dist *d)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    struct aws_key_row *rows = NULL;
    size_t n = 0;
    long latest, min;
    enum km_status rc;

    db_arg_text(&a, d->key);
    rc = db_exec(req->ctx->db, &q_key_state, &a, &res);
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) != 1) {
        rc = response_error(resp, KM_EINVAL, "key \"%s\" not found", d->key);
        goto out;
    }
    latest = atol(PQgetvalue(res, 0, 1));
    min = atol(PQgetvalue(res, 0, 2));
    /* One aws_keys row per version, each with its own nonce, before any AWS call. */
    for (long v = 1; rc == KM_OK && v <= latest; v++) {
        unsigned char raw[16];
        char nonce[33];
        struct db_args ia = {0};
        if (rng_fill(req->ctx->rng, raw, sizeof(raw)) != 0) {
            rc = KM_EINTERNAL;
            break;
        }
        codec_hex(raw, sizeof(raw), nonce);
        db_arg_int(&ia, d->id);
        db_arg_text(&ia, d->provider);
        db_arg_text(&ia, d->key);
        db_arg_int(&ia, v);
        db_arg_text(&ia, d->prov.region);
        db_arg_text(&ia, nonce);
        rc = exec_only(req, &q_row_insert, &ia); /* no-op for versions already recorded */
    }
    if (rc == KM_OK)
        rc = load_rows(req, d, &rows, &n);
    if (rc == KM_OK && (long)n != latest) {
        log_msg(LOG_ERROR, "distribution inconsistent", "%s/%s: %zu AWS key rows for %ld versions",
                d->provider, d->key, n, latest);
        rc = KM_EINTERNAL;
    }
    for (size_t i = 0; rc == KM_OK && i < n; i++) {
        rc = ensure_created(req, resp, d, &rows[i]);
        if (rc == KM_OK)
            rc = ensure_imported(req, resp, d, &rows[i]);
        if (rc == KM_OK)
            rc = ensure_enabled(req, resp, d, &rows[i], min == 0 || rows[i].version >= min);
    }
    if (rc == KM_OK)
        rc = ensure_alias(req, resp, d, rows[n - 1].aws_key_id);
out:
    PQclear(res);
    return rc;
}

/* Lock the pair, load it and its provider, sync it, unlock. */
enum km_status distribute_sync_pair(struct request *req, struct response *resp,
                                    const char *provider, const char *key)
{
    struct dist d;
    enum km_status rc = lock_pair(req, resp, provider, key, &d);

    if (rc == KM_ENOTFOUND) {
        rc = KM_OK; /* removed meanwhile: nothing to do */
        goto out;
    }
    if (rc != KM_OK)
        goto out;
    if (d.removing) {
        rc = response_error(resp, KM_EINVAL,
                            "key \"%s\" is being removed from provider \"%s\"; DELETE it again to "
                            "finish the removal",
                            key, provider);
        goto out;
    }
    rc = open_provider(req, resp, &d);
    if (rc == KM_OK)
        rc = sync_dist(req, resp, &d);
out:
    unlock_pair(req, &d);
    return rc;
}

enum km_status distribute_sync_key(struct request *req, struct response *resp, const char *key)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc, first = KM_OK;
    char failed[1024] = "";

    db_arg_text(&a, key);
    rc = db_exec(req->ctx->db, &q_of_key, &a, &res);
    if (rc != KM_OK)
        goto out;
    for (int i = 0; i < PQntuples(res); i++) {
        struct response one = {0};
        const char *provider = PQgetvalue(res, i, 0);
        enum km_status r = distribute_sync_pair(req, &one, provider, key);
        if (r != KM_OK) {
            const char *msg = one.errors && json_array_size(one.errors) > 0
                                  ? json_string_value(json_array_get(one.errors, 0))
                                  : "storage unavailable";
            size_t used = strlen(failed);
            snprintf(failed + used, sizeof(failed) - used, "%sprovider \"%s\": %s",
                     used ? "; " : "", provider, msg);
            if (first == KM_OK)
                first = r;
        }
        response_release(&one);
    }
    if (first != KM_OK)
        rc = response_error(resp, first,
                            "key \"%s\" was changed, but bringing its providers in line failed "
                            "(POST the distribution again to finish): %s",
                            key, failed);
out:
    PQclear(res);
    return rc;
}

/* ---- endpoints ----------------------------------------------------------- */

enum { D_PURPOSE, D_PROTECTION, D_COUNT };
static const struct param_spec write_params[D_COUNT] = {
    [D_PURPOSE] = {"purpose", PARAM_COMMA_SLICE},
    [D_PROTECTION] = {"protection", PARAM_STRING},
};

static const char *const purposes[] = {"encrypt", "decrypt"};

/* Validate purposes; *out is the canonical comma list ("encrypt,decrypt" order). */
static enum km_status check_purpose(struct request *req, struct response *resp, json_t *list,
                                    const char **out)
{
    bool seen[2] = {false, false};
    size_t i;
    json_t *e;

    if (json_array_size(list) == 0)
        return response_error(resp, KM_EINVAL, "purpose is required: encrypt, decrypt or both");
    json_array_foreach(list, i, e)
    {
        const char *p = json_string_value(e);
        size_t k = 0;
        while (k < 2 && strcmp(p, purposes[k]) != 0)
            k++;
        if (k == 2)
            return response_error(resp, KM_EINVAL,
                                  "unsupported purpose \"%.32s\": awskms keys can only encrypt and "
                                  "decrypt",
                                  p);
        seen[k] = true;
    }
    *out = pool_printf(req->pool, "%s%s%s", seen[0] ? purposes[0] : "",
                       seen[0] && seen[1] ? "," : "", seen[1] ? purposes[1] : "");
    return KM_OK;
}

/* The key may go to awskms: it exists, is aes256-gcm96 and its name makes a valid alias. */
static enum km_status check_key(struct request *req, struct response *resp, const char *key)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc;

    db_arg_text(&a, key);
    rc = db_exec(req->ctx->db, &q_key_state, &a, &res);
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) != 1)
        rc = response_error(resp, KM_EINVAL, "key \"%s\" not found", key);
    else if (strcmp(PQgetvalue(res, 0, 0), AWS_KEY_TYPE) != 0)
        rc = response_error(resp, KM_EINVAL,
                            "key type \"%s\" cannot be distributed to provider type \"awskms\": "
                            "only %s keys can",
                            PQgetvalue(res, 0, 0), AWS_KEY_TYPE);
    else if (strchr(key, '.') != NULL)
        rc = response_error(resp, KM_EINVAL,
                            "key \"%s\" cannot be distributed to awskms: AWS alias names do not "
                            "allow '.'",
                            key);
out:
    PQclear(res);
    return rc;
}

/* Create the distribution row, or check the parameters of the existing one. */
static enum km_status upsert_dist(struct request *req, struct response *resp, const char *purpose,
                                  const char *protection, bool *created)
{
    const char *provider = req->params[0], *key = req->params[1];
    long ts = (long)(clock_now_ms(req->ctx->clock) / 1000);
    struct db_args a = {0};
    PGresult *res = NULL;
    struct dist d;
    enum km_status rc;

    *created = false;
    db_arg_text(&a, provider);
    db_arg_text(&a, key);
    db_arg_text(&a, purpose);
    db_arg_text(&a, protection);
    db_arg_text(&a, pool_printf(req->pool, "alias/%s%s-%ld", req->ctx->cfg->alias_prefix, key, ts));
    db_arg_int(&a, ts);
    rc = db_exec(req->ctx->db, &q_insert, &a, &res);
    if (rc == KM_EINTERNAL && strcmp(db_sqlstate(res), "23503") == 0)
        rc = response_error(resp, KM_EINVAL, "provider or key removed concurrently; retry");
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) == 1) {
        *created = true;
        goto out;
    }
    rc = load_dist(req, provider, key, &d);
    if (rc == KM_ENOTFOUND)
        rc = response_error(resp, KM_EINVAL, "distribution removed concurrently; retry");
    else if (rc == KM_OK && strcmp(d.purpose, purpose) != 0)
        rc = response_error(resp, KM_EINVAL,
                            "purpose cannot be changed after distribution (it is \"%s\")",
                            d.purpose);
    else if (rc == KM_OK && strcmp(d.protection, protection) != 0)
        rc = response_error(resp, KM_EINVAL,
                            "protection cannot be changed after distribution (it is \"%s\")",
                            d.protection);
out:
    PQclear(res);
    return rc;
}

/* A new distribution whose first run failed before any AWS key could exist leaves nothing. */
static void drop_if_empty(struct request *req, const char *provider, const char *key)
{
    struct dist d;
    struct db_args a = {0};
    if (load_dist(req, provider, key, &d) != KM_OK)
        return;
    db_arg_int(&a, d.id);
    exec_only(req, &q_drop_empty, &a);
}

enum km_status distribute_write(struct request *req, struct response *resp)
{
    struct param_value v[D_COUNT];
    json_t *unknown = NULL;
    const char *purpose = NULL, *protection = "hsm";
    char err[512];
    bool created = false;
    enum km_status rc;

    if (params_parse(write_params, D_COUNT, req->body, v, &unknown, err, sizeof(err)) != 0)
        return response_error(resp, KM_EINVAL, "%s", err);
    rc = check_purpose(req, resp, v[D_PURPOSE].present ? v[D_PURPOSE].list : NULL, &purpose);
    if (rc != KM_OK)
        goto out;
    if (v[D_PROTECTION].present)
        protection = v[D_PROTECTION].s;
    if (strcmp(protection, "software") == 0) {
        rc = response_error(resp, KM_EINVAL,
                            "protection \"software\" is not supported by awskms: AWS KMS keys are "
                            "always HSM-backed; use \"hsm\"");
        goto out;
    }
    if (strcmp(protection, "hsm") != 0) {
        rc = response_error(resp, KM_EINVAL, "unsupported protection: must be \"hsm\"");
        goto out;
    }
    struct provider_info prov;
    rc = provider_load(req, req->params[0], &prov);
    provider_info_wipe(&prov);
    if (rc == KM_ENOTFOUND)
        rc = response_error(resp, KM_EINVAL, "provider \"%s\" not found", req->params[0]);
    if (rc == KM_OK)
        rc = check_key(req, resp, req->params[1]);
    if (rc == KM_OK)
        rc = upsert_dist(req, resp, purpose, protection, &created);
    if (rc == KM_OK)
        rc = distribute_sync_pair(req, resp, req->params[0], req->params[1]);
    if (rc != KM_OK && created)
        drop_if_empty(req, req->params[0], req->params[1]);
    if (rc == KM_OK && unknown != NULL) {
        char *w = params_unknown_warning(unknown);
        response_warn(resp, w);
        free(w);
    }
out:
    json_decref(unknown);
    params_release(v, D_COUNT);
    return rc;
}

enum km_status distribute_read(struct request *req, struct response *resp)
{
    struct dist d;
    struct db_args a = {0};
    PGresult *res = NULL;
    json_t *purpose = NULL, *versions = NULL;
    enum km_status rc = load_dist(req, req->params[0], req->params[1], &d);

    if (rc == KM_ENOTFOUND)
        return response_not_found(resp);
    if (rc != KM_OK)
        return rc;
    db_arg_int(&a, d.id);
    rc = db_exec(req->ctx->db, &q_versions, &a, &res);
    if (rc != KM_OK)
        goto out;
    versions = json_object();
    for (int i = 0; i < PQntuples(res); i++)
        json_object_set_new(versions, PQgetvalue(res, i, 0), json_string(PQgetvalue(res, i, 1)));
    purpose = json_array();
    for (const char *s = d.purpose; s && *s;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        json_array_append_new(purpose, json_stringn(s, len));
        s = comma ? comma + 1 : NULL;
    }
    rc = response_data(resp,
                       json_pack("{s:s, s:O, s:s, s:O}", "name",
                                 pool_printf(req->pool, "%s-%ld", d.key, d.alias_ts), "purpose",
                                 purpose, "protection", d.protection, "versions", versions));
out:
    json_decref(purpose);
    json_decref(versions);
    PQclear(res);
    return rc;
}

enum km_status distribute_list(struct request *req, struct response *resp)
{
    return db_list_keys(req->ctx->db, &q_list, req->params[0], resp);
}

/* Schedule deletion of one version's AWS key (recovering a lost CreateKey first). */
static enum km_status retire_row(struct request *req, struct response *resp, struct dist *d,
                                 struct aws_key_row *r)
{
    struct db_args a = {0};
    struct awskms_deletion del;
    const char *found = NULL, *arn = NULL;
    enum km_status rc;

    if (r->deletion_scheduled)
        return KM_OK;
    if (r->aws_key_id == NULL && r->attempted) {
        rc = find_by_nonce(resp, d, r->nonce, &found, &arn);
        if (rc == KM_OK && found != NULL)
            rc = record_created(req, r, found, arn);
        if (rc != KM_OK)
            return rc;
    }
    db_arg_int(&a, r->id);
    if (r->aws_key_id == NULL) /* no AWS key was ever made for it */
        return exec_only(req, &q_row_forget, &a);
    memset(&del, 0, sizeof(del));
    rc = awskms_schedule_key_deletion(&d->call, r->aws_key_id,
                                      (int)req->ctx->cfg->deletion_window_days, &del);
    if (rc != KM_OK && aws_code_is(d, "KMSInvalidStateException")) {
        /* already pending deletion (a lost answer): confirm and record it */
        struct awskms_key_metadata md;
        enum km_status drc = awskms_describe_key(&d->call, r->aws_key_id, &md);
        if (drc == KM_OK && strcmp(md.key_state, "PendingDeletion") == 0) {
            rc = KM_OK;
            del.deletion_date = md.deletion_date;
        }
    }
    if (rc != KM_OK)
        return aws_failure(resp, d, rc, "ScheduleKeyDeletion");
    db_arg_text(&a, pool_printf(req->pool, "%.3f", del.deletion_date));
    rc = exec_only(req, &q_row_deleted, &a);
    if (rc == KM_OK)
        r->deletion_scheduled = true;
    return rc;
}

enum km_status distribute_delete(struct request *req, struct response *resp)
{
    struct aws_key_row *rows = NULL;
    size_t n = 0;
    struct db_args a = {0};
    struct dist d;
    enum km_status rc = lock_pair(req, resp, req->params[0], req->params[1], &d);

    if (rc != KM_OK) {
        if (rc == KM_ENOTFOUND)
            rc = KM_OK; /* absent: nothing to remove */
        goto out;
    }
    db_arg_int(&a, d.id);
    if (!d.removing)
        rc = exec_only(req, &q_set_removing, &a);
    if (rc == KM_OK)
        rc = open_provider(req, resp, &d);
    if (rc != KM_OK)
        goto out;
    /* The alias may exist even when unrecorded (a lost CreateAlias): always delete it. */
    rc = awskms_delete_alias(&d.call, d.alias_name);
    if (rc != KM_OK && aws_code_is(&d, "NotFoundException"))
        rc = KM_OK;
    if (rc != KM_OK) {
        rc = aws_failure(resp, &d, rc, "DeleteAlias");
        goto out;
    }
    rc = record_alias(req, &d, NULL);
    if (rc == KM_OK)
        rc = load_rows(req, &d, &rows, &n);
    for (size_t i = 0; rc == KM_OK && i < n; i++)
        rc = retire_row(req, resp, &d, &rows[i]);
    if (rc == KM_OK)
        rc = exec_only(req, &q_delete, &a);
out:
    unlock_pair(req, &d);
    return rc;
}
