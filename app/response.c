/*
 * response.c — Vault response envelope and error bodies; see response.h.
 */
#include "keymgmt/response.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const struct {
    int code;
    const char *reason;
    const char *message; /* default message when a handler set none */
} statuses[] = {
    [KM_OK] = {200, "OK", NULL},
    [KM_EINVAL] = {400, "Bad Request", "invalid request"},
    [KM_EPERM] = {403, "Forbidden", "permission denied"},
    [KM_ENOTFOUND] = {404, "Not Found", NULL},
    [KM_EMETHOD] = {405, "Method Not Allowed", "unsupported operation"},
    [KM_ETOOBIG] = {413, "Request Entity Too Large", "request body too large"},
    [KM_ERATE] = {429, "Too Many Requests", "rate limit exceeded"},
    [KM_EINTERNAL] = {500, "Internal Server Error", "internal error"},
    [KM_EPROVIDER] = {502, "Bad Gateway", "the KMS provider failed"},
    [KM_ESTORAGE] = {503, "Service Unavailable", "storage unavailable"},
};

int response_http_code(enum km_status st)
{
    if ((size_t)st >= sizeof(statuses) / sizeof(statuses[0]))
        return 500;
    return statuses[st].code;
}

const char *response_reason(int code)
{
    if (code == 204)
        return "No Content";
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        if (statuses[i].code == code)
            return statuses[i].reason;
    return "Unknown";
}

enum km_status response_error(struct response *r, enum km_status st, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->status = st;
    json_decref(r->errors);
    r->errors = json_pack("[s]", msg);
    return st;
}

enum km_status response_not_found(struct response *r)
{
    r->status = KM_ENOTFOUND;
    json_decref(r->errors);
    r->errors = json_array();
    return KM_ENOTFOUND;
}

enum km_status response_data(struct response *r, json_t *data)
{
    json_decref(r->data);
    r->data = data;
    r->status = KM_OK;
    return KM_OK;
}

enum km_status response_keys(struct response *r, json_t *keys)
{
    if (json_array_size(keys) == 0) {
        json_decref(keys);
        return response_not_found(r);
    }
    return response_data(r, json_pack("{s:o}", "keys", keys));
}

void response_warn(struct response *r, const char *msg)
{
    if (r->warnings == NULL)
        r->warnings = json_array();
    json_array_append_new(r->warnings, json_string(msg));
}

static char *dump(json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

char *response_render(struct response *r, const char *request_id, const char *mount_type, int *code)
{
    char *out = NULL;
    json_t *body = NULL;

    if (r->status != KM_OK) {
        if ((size_t)r->status >= sizeof(statuses) / sizeof(statuses[0]))
            r->status = KM_EINTERNAL;
        *code = response_http_code(r->status);
        if (r->errors == NULL) {
            const char *m = statuses[r->status].message;
            r->errors = m ? json_pack("[s]", m) : json_array();
        }
        body = json_pack("{s:O}", "errors", r->errors);
    } else if (r->raw != NULL) {
        *code = r->raw_code ? r->raw_code : 200;
        body = json_incref(r->raw);
    } else if (r->data != NULL || r->warnings != NULL) {
        /* A write that only has warnings still answers 200 with the envelope, like Vault. */
        *code = 200;
        body = json_pack("{s:s, s:s, s:b, s:i, s:O, s:n, s:O, s:n, s:s}", "request_id", request_id,
                         "lease_id", "", "renewable", 0, "lease_duration", 0, "data",
                         r->data ? r->data : json_null(), "wrap_info", "warnings",
                         r->warnings ? r->warnings : json_null(), "auth", "mount_type", mount_type);
    } else {
        *code = 204;
        return NULL;
    }
    if (body == NULL) {
        *code = 500;
        return NULL;
    }
    out = dump(body);
    json_decref(body);
    return out;
}

void response_release(struct response *r)
{
    json_decref(r->data);
    json_decref(r->raw);
    json_decref(r->warnings);
    json_decref(r->errors);
    r->data = r->raw = r->warnings = r->errors = NULL;
}
