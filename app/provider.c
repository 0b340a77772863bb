/*
 * provider.c — the KMS provider endpoints; see provider.h.
 */
#include "keymgmt/provider.h"
#include "keymgmt/codec.h"
#include "keymgmt/config.h"
#include "keymgmt/context.h"
#include "keymgmt/db.h"
#include "keymgmt/log.h"
#include "keymgmt/params.h"
#include "keymgmt/pool.h"
#include "keymgmt/seal.h"
#include "keymgmt/validate.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROVIDER_AWSKMS "awskms"

static struct db_stmt q_upsert = DB_STMT(
    "provider_upsert",
    "INSERT INTO providers AS p (name, provider, key_collection, credentials) "
    "VALUES ($1, COALESCE($2, (SELECT provider FROM providers WHERE name = $1)), "
    "        COALESCE($3, (SELECT key_collection FROM providers WHERE name = $1)), $4) "
    "ON CONFLICT (name) DO UPDATE "
    "SET credentials = CASE WHEN $5::boolean THEN EXCLUDED.credentials ELSE p.credentials END, "
    "    updated_at = now() "
    "WHERE ($2::text IS NULL OR p.provider = $2::text) "
    "  AND ($3::text IS NULL OR p.key_collection = $3::text) "
    "RETURNING name");
static struct db_stmt q_get = DB_STMT(
    "provider_get", "SELECT provider, key_collection, credentials FROM providers WHERE name = $1");
static struct db_stmt q_list =
    DB_STMT("provider_list", "SELECT name FROM providers ORDER BY name COLLATE \"C\"");
static struct db_stmt q_delete =
    DB_STMT("provider_delete", "DELETE FROM providers WHERE name = $1");

enum { P_PROVIDER, P_KEY_COLLECTION, P_CREDENTIALS, P_COUNT };
static const struct param_spec write_params[P_COUNT] = {
    [P_PROVIDER] = {"provider", PARAM_STRING},
    [P_KEY_COLLECTION] = {"key_collection", PARAM_STRING},
    [P_CREDENTIALS] = {"credentials", PARAM_KVPAIRS},
};

/* The credential keys an awskms provider accepts. */
static const char *const credential_keys[] = {"access_key", "secret_key", "session_token",
                                              "endpoint"};

char *provider_seal_ad(struct pool *p, const char *name)
{
    return pool_printf(p, "provider:%s", name);
}

static bool known_credential(const char *k)
{
    for (size_t i = 0; i < sizeof(credential_keys) / sizeof(credential_keys[0]); i++)
        if (strcmp(k, credential_keys[i]) == 0)
            return true;
    return false;
}

/* An endpoint must be an absolute https:// URL (http:// only when allowed) with a
 * host, and nothing that could carry secrets or confuse signing. */
static int check_endpoint(const char *url, bool allow_http, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL, *frag = NULL;
    int rc = -1;

    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
        snprintf(err, errlen, "invalid credential \"endpoint\": not an absolute URL");
        goto out;
    }
    if (strcmp(scheme, "https") != 0 && !(allow_http && strcmp(scheme, "http") == 0)) {
        snprintf(err, errlen, "invalid credential \"endpoint\": the URL must use https://");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK) {
        snprintf(err, errlen,
                 "invalid credential \"endpoint\": user info, query and fragment are not allowed");
        goto out;
    }
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(query);
    curl_free(frag);
    curl_url_cleanup(u);
    return rc;
}

int provider_check_credentials(json_t *creds, bool allow_http, char *err, size_t errlen)
{
    const char *k;
    json_t *v;

    json_object_foreach(creds, k, v)
    {
        if (!known_credential(k)) {
            snprintf(err, errlen,
                     "unknown credential \"%.64s\": awskms accepts access_key, secret_key, "
                     "session_token and endpoint",
                     k);
            return -1;
        }
        if (json_string_length(v) == 0) {
            snprintf(err, errlen, "invalid credential \"%s\": empty value", k);
            return -1;
        }
    }
    bool ak = json_object_get(creds, "access_key") != NULL;
    bool sk = json_object_get(creds, "secret_key") != NULL;
    if (ak != sk) {
        snprintf(err, errlen, "credentials: access_key and secret_key must be given together");
        return -1;
    }
    if (json_object_get(creds, "session_token") != NULL && !ak) {
        snprintf(err, errlen, "credentials: session_token requires access_key and secret_key");
        return -1;
    }
    json_t *ep = json_object_get(creds, "endpoint");
    if (ep != NULL && check_endpoint(json_string_value(ep), allow_http, err, errlen) != 0)
        return -1;
    return 0;
}

/* Seal the credentials object; *blob is malloc'd. */
static enum km_status seal_credentials(struct request *req, const char *name, json_t *creds,
                                       unsigned char **blob, size_t *bloblen)
{
    char *text = json_dumps(creds, JSON_COMPACT | JSON_SORT_KEYS);
    enum km_status rc = KM_EINTERNAL;
    if (text == NULL)
        return rc;
    size_t len = strlen(text);
    if (seal_encrypt(req->ctx->ring, req->ctx->rng, provider_seal_ad(req->pool, name),
                     (const unsigned char *)text, len, blob, bloblen) == SEAL_OK)
        rc = KM_OK;
    codec_free_secret(text, len);
    return rc;
}

/* After a refused upsert: name the immutable field that differs. */
static enum km_status explain_conflict(struct request *req, struct response *resp,
                                       const struct param_value *v)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc;

    db_arg_text(&a, req->params[0]);
    rc = db_exec(req->ctx->db, &q_get, &a, &res);
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) == 1 && v[P_PROVIDER].present &&
        strcmp(PQgetvalue(res, 0, 0), v[P_PROVIDER].s) != 0)
        rc = response_error(resp, KM_EINVAL,
                            "provider cannot be changed after creation (it is \"%s\")",
                            PQgetvalue(res, 0, 0));
    else if (PQntuples(res) == 1)
        rc = response_error(resp, KM_EINVAL,
                            "key_collection cannot be changed after creation (it is \"%s\")",
                            PQgetvalue(res, 0, 1));
    else
        rc = response_error(resp, KM_EINVAL, "provider \"%s\" changed concurrently; retry",
                            req->params[0]);
out:
    PQclear(res);
    return rc;
}

enum km_status provider_write(struct request *req, struct response *resp)
{
    struct param_value v[P_COUNT];
    json_t *unknown = NULL;
    unsigned char *blob = NULL;
    size_t bloblen = 0;
    struct db_args a = {0};
    PGresult *res = NULL;
    char err[512];
    const char *name = req->params[0];
    enum km_status rc;

    if (params_parse(write_params, P_COUNT, req->body, v, &unknown, err, sizeof(err)) != 0)
        return response_error(resp, KM_EINVAL, "%s", err);
    if (v[P_PROVIDER].present && strcmp(v[P_PROVIDER].s, PROVIDER_AWSKMS) != 0) {
        rc = response_error(resp, KM_EINVAL, "unsupported provider: only \"awskms\" is supported");
        goto out;
    }
    if (v[P_KEY_COLLECTION].present && !validate_region(v[P_KEY_COLLECTION].s)) {
        rc = response_error(resp, KM_EINVAL,
                            "invalid key_collection: must be an AWS region name such as us-east-1");
        goto out;
    }
    if (v[P_CREDENTIALS].present) {
        if (provider_check_credentials(v[P_CREDENTIALS].kv, req->ctx->cfg->allow_http_endpoints,
                                       err, sizeof(err)) != 0) {
            rc = response_error(resp, KM_EINVAL, "%s", err);
            goto out;
        }
        if (json_object_size(v[P_CREDENTIALS].kv) > 0) {
            rc = seal_credentials(req, name, v[P_CREDENTIALS].kv, &blob, &bloblen);
            if (rc != KM_OK)
                goto out;
        }
    }
    db_arg_text(&a, name);
    db_arg_text(&a, v[P_PROVIDER].present ? v[P_PROVIDER].s : NULL);
    db_arg_text(&a, v[P_KEY_COLLECTION].present ? v[P_KEY_COLLECTION].s : NULL);
    db_arg_bytes(&a, blob, bloblen);
    db_arg_bool(&a, v[P_CREDENTIALS].present);
    rc = db_exec(req->ctx->db, &q_upsert, &a, &res);
    if (rc == KM_EINTERNAL && strcmp(db_sqlstate(res), "23502") == 0) {
        rc = response_error(resp, KM_EINVAL,
                            "provider and key_collection are required to create a provider");
        goto out;
    }
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) != 1) {
        rc = explain_conflict(req, resp, v);
        goto out;
    }
    if (unknown != NULL) {
        char *w = params_unknown_warning(unknown);
        response_warn(resp, w);
        free(w);
    }
out:
    if (blob != NULL)
        OPENSSL_cleanse(blob, bloblen);
    free(blob);
    PQclear(res);
    json_decref(unknown);
    params_release(v, P_COUNT);
    return rc;
}

enum km_status provider_read(struct request *req, struct response *resp)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc;

    db_arg_text(&a, req->params[0]);
    rc = db_exec(req->ctx->db, &q_get, &a, &res);
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) != 1) {
        rc = response_not_found(resp);
        goto out;
    }
    rc = response_data(resp, json_pack("{s:s, s:s}", "provider", PQgetvalue(res, 0, 0),
                                       "key_collection", PQgetvalue(res, 0, 1)));
out:
    PQclear(res);
    return rc;
}

enum km_status provider_list(struct request *req, struct response *resp)
{
    return db_list_keys(req->ctx->db, &q_list, NULL, resp);
}

enum km_status provider_delete(struct request *req, struct response *resp)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc;

    db_arg_text(&a, req->params[0]);
    rc = db_exec(req->ctx->db, &q_delete, &a, &res);
    if (rc == KM_EINTERNAL && strcmp(db_sqlstate(res), "23503") == 0)
        rc = response_error(resp, KM_EINVAL,
                            "cannot delete provider \"%s\": keys are distributed to it; remove "
                            "them from the provider first",
                            req->params[0]);
    PQclear(res);
    return rc;
}

static char *pool_json_string(struct pool *p, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? pool_strdup(p, json_string_value(v)) : NULL;
}

enum km_status provider_load(struct request *req, const char *name, struct provider_info *out)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    unsigned char *blob = NULL, *plain = NULL;
    size_t bloblen = 0, plainlen = 0;
    json_t *creds = NULL;
    enum km_status rc;

    memset(out, 0, sizeof(*out));
    db_arg_text(&a, name);
    rc = db_exec(req->ctx->db, &q_get, &a, &res);
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) != 1) {
        rc = KM_ENOTFOUND;
        goto out;
    }
    out->name = pool_strdup(req->pool, name);
    out->region = pool_strdup(req->pool, PQgetvalue(res, 0, 1));
    blob = db_get_bytes(res, 0, 2, &bloblen);
    if (blob == NULL)
        goto out; /* no stored credentials: the chain falls through to the environment */
    rc = KM_EINTERNAL;
    enum seal_result sr = seal_decrypt(req->ctx->ring, provider_seal_ad(req->pool, name), blob,
                                       bloblen, &plain, &plainlen);
    if (sr != SEAL_OK) {
        log_emit(LOG_ERROR, "unseal failed",
                 json_pack("{s:s, s:i}", "provider", name, "seal_result", (int)sr));
        goto out;
    }
    creds = json_loadb((const char *)plain, plainlen, 0, NULL);
    if (!json_is_object(creds))
        goto out;
    out->access_key = pool_json_string(req->pool, creds, "access_key");
    out->secret_key = pool_json_string(req->pool, creds, "secret_key");
    out->session_token = pool_json_string(req->pool, creds, "session_token");
    out->endpoint = pool_json_string(req->pool, creds, "endpoint");
    rc = KM_OK;
out:
    json_decref(creds);
    codec_free_secret(plain, plainlen);
    free(blob);
    PQclear(res);
    return rc;
}

void provider_info_wipe(struct provider_info *p)
{
    char *secrets[] = {p->access_key, p->secret_key, p->session_token};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (secrets[i] != NULL)
            OPENSSL_cleanse(secrets[i], strlen(secrets[i]));
}
