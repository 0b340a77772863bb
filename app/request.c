/*
 * request.c — method, target, token and body parsing; see request.h.
 */
#include "keymgmt/request.h"
#include "keymgmt/pool.h"
#include "keymgmt/validate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    enum op op;
} methods[] = {
    {"GET", OP_READ},  {"HEAD", OP_READ},     {"POST", OP_WRITE},
    {"PUT", OP_WRITE}, {"DELETE", OP_DELETE}, {"LIST", OP_LIST},
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..len) into pool memory; plus_space for query values.
 * NULL when an escape is malformed or decodes to NUL. */
static char *pct_decode(struct pool *p, const char *s, size_t len, bool plus_space)
{
    char *out = pool_alloc(p, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return NULL;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return NULL;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return out;
}

/* Find `key` in a query string; returns its decoded value ("" when present without
 * a value), NULL when absent; *bad set when an escape is malformed. */
static const char *query_get(struct pool *p, const char *q, const char *key, bool *bad)
{
    size_t klen = strlen(key);
    while (q != NULL && *q != '\0') {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        size_t nlen = eq ? (size_t)(eq - q) : len;
        char *name = pct_decode(p, q, nlen, true);
        if (name == NULL) {
            *bad = true;
            return NULL;
        }
        if (strlen(name) == klen && memcmp(name, key, klen) == 0) {
            if (eq == NULL)
                return "";
            char *v = pct_decode(p, eq + 1, len - nlen - 1, true);
            if (v == NULL)
                *bad = true;
            return v;
        }
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

enum km_status request_parse_target(struct request *req, const char *method, const char *uri,
                                    char *err, size_t errlen)
{
    static const char prefix[] = "/v1/";
    bool found = false, bad = false;

    req->method = method;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(method, methods[i].name) == 0) {
            req->op = methods[i].op;
            found = true;
        }
    }
    if (!found) {
        snprintf(err, errlen, "unsupported operation");
        return KM_EMETHOD;
    }

    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    req->path = pool_strndup(req->pool, uri, plen);
    if (q != NULL && req->op == OP_READ && strcmp(method, "GET") == 0) {
        const char *list = query_get(req->pool, q + 1, "list", &bad);
        bool is_list = false;
        if (bad) {
            snprintf(err, errlen, "invalid query string encoding");
            return KM_EINVAL;
        }
        if (list != NULL && list[0] != '\0') {
            if (validate_parse_bool(list, &is_list) != 0) {
                snprintf(err, errlen, "invalid value for \"list\": expected a boolean");
                return KM_EINVAL;
            }
            if (is_list)
                req->op = OP_LIST;
        }
    }

    if (plen < sizeof(prefix) - 1 || strncmp(req->path, prefix, sizeof(prefix) - 1) != 0) {
        snprintf(err, errlen, "unsupported path");
        return KM_ENOTFOUND;
    }
    /* "kms/" lists like "kms" (Vault clients send both). */
    if (req->op == OP_LIST && plen > sizeof(prefix) && req->path[plen - 1] == '/')
        req->path = pool_strndup(req->pool, req->path, --plen);
    const char *s = req->path + sizeof(prefix) - 1;
    req->nseg = 0;
    for (;;) {
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t)(slash - s) : strlen(s);
        if (req->nseg == REQUEST_MAX_SEGMENTS) {
            snprintf(err, errlen, "unsupported path");
            return KM_ENOTFOUND;
        }
        char *seg = pct_decode(req->pool, s, len, false);
        if (seg == NULL) {
            snprintf(err, errlen, "invalid path encoding");
            return KM_EINVAL;
        }
        req->segs[req->nseg++] = seg;
        if (slash == NULL)
            break;
        s = slash + 1;
    }
    return KM_OK;
}

const char *request_token(const char *x_vault_token, const char *authorization)
{
    static const char bearer[] = "Bearer ";
    if (x_vault_token != NULL && x_vault_token[0] != '\0')
        return x_vault_token;
    if (authorization != NULL && strncasecmp(authorization, bearer, sizeof(bearer) - 1) == 0) {
        const char *t = authorization + sizeof(bearer) - 1;
        while (*t == ' ')
            t++;
        return *t ? t : NULL;
    }
    return NULL;
}

enum km_status request_parse_body(struct request *req, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *v = NULL;

    size_t i = 0;
    while (i < req->body_len && strchr(" \t\r\n", req->body_raw[i]) != NULL && req->body_raw[i])
        i++;
    if (req->body_raw == NULL || i == req->body_len)
        return KM_OK; /* empty or only whitespace: no parameters, as Vault */
    v = json_loadb(req->body_raw, req->body_len, JSON_DECODE_ANY, &jerr);
    if (v == NULL) {
        snprintf(err, errlen, "failed to parse JSON input: %s", jerr.text);
        return KM_EINVAL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(err, errlen, "failed to parse JSON input: the body must be a JSON object");
        return KM_EINVAL;
    }
    req->body = v;
    return KM_OK;
}

void request_format_uuid(const unsigned char raw[16], char out[37])
{
    unsigned char b[16];
    memcpy(b, raw, 16);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void request_release(struct request *req)
{
    json_decref(req->body);
    req->body = NULL;
}
