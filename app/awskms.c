/*
 * awskms.c — AWS KMS JSON 1.1 client; see awskms.h.
 */
#include "keymgmt/awskms.h"
#include "keymgmt/codec.h"
#include "keymgmt/config.h"
#include "keymgmt/httpc.h"
#include "keymgmt/kmswrap.h"
#include "keymgmt/log.h"
#include "keymgmt/pool.h"
#include "keymgmt/sigv4.h"
#include "keymgmt/validate.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct awskms_client {
    const struct config *cfg; /* borrowed */
    char *const *envp;        /* borrowed */
    const struct rng *rng;    /* borrowed */
    const struct clock *clock;
    struct httpc *http; /* owned */
    struct awscreds_resolver creds;
    int page_limit; /* 0: the largest page each listing allows */
};

/* One KMS exchange, signed anew for every attempt. */
struct exchange {
    struct awskms_client *client;
    const char *region;
    const char *url;
    const char *host; /* Host header value */
    const char *path; /* request path */
    char target[96];  /* X-Amz-Target */
    const char *body;
    size_t body_len;
    const struct awscreds *creds;
    struct sigv4_signature sig;
    struct httpc_field headers[6];
    const char *sign_error;
    bool unsafe; /* not idempotent: see httpc_retry_policy */
};

/* ---- client ----------------------------------------------------------- */

enum km_status awskms_client_new(const struct config *cfg, char *const *envp, const struct rng *rng,
                                 const struct clock *clock, struct awskms_client **out)
{
    struct httpc_options opts;
    struct awskms_client *c = xcalloc(1, sizeof(*c));

    *out = NULL;
    httpc_options_from_config(cfg, &opts);
    if (httpc_new(&opts, &c->http) != KM_OK) {
        free(c);
        return KM_EINTERNAL;
    }
    c->cfg = cfg;
    c->envp = envp;
    c->rng = rng;
    c->clock = clock;
    awscreds_resolver_init(&c->creds, c->http, clock);
    *out = c;
    return KM_OK;
}

void awskms_client_set_config(struct awskms_client *c, const struct config *cfg)
{
    c->cfg = cfg;
}

void awskms_client_free(struct awskms_client *c)
{
    if (c == NULL)
        return;
    awscreds_resolver_clear(&c->creds);
    httpc_free(c->http);
    free(c);
}

void awskms_client_set_page_limit(struct awskms_client *c, int limit)
{
    c->page_limit = limit > 0 ? limit : 0;
}

struct awscreds_resolver *awskms_client_creds(struct awskms_client *c)
{
    return &c->creds;
}

void awskms_call_init(struct awskms_call *call, struct awskms_client *client,
                      const struct awskms_target *target, struct pool *pool)
{
    memset(call, 0, sizeof(*call));
    call->client = client;
    call->target = target;
    call->pool = pool;
}

static void call_begin(struct awskms_call *call)
{
    memset(&call->err, 0, sizeof(call->err));
}

static enum km_status fail(struct awskms_call *call, enum km_status rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum km_status fail(struct awskms_call *call, enum km_status rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->err.message, sizeof(call->err.message), fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- pure parts ------------------------------------------------------- */

static enum km_status check_override(const char *override, bool allow_http, char *err,
                                     size_t errlen)
{
    enum km_status rc = KM_EINVAL;
    char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL, *fragment = NULL;
    CURLU *u = curl_url();

    if (u == NULL || curl_url_set(u, CURLUPART_URL, override, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
        snprintf(err, errlen, "invalid endpoint: not a URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_OK) {
        snprintf(err, errlen, "invalid endpoint: credentials, query or fragment in the URL");
        goto out;
    }
    if (strcasecmp(scheme, "http") == 0 && !allow_http) {
        snprintf(err, errlen,
                 "invalid endpoint: http:// endpoints are not allowed "
                 "(allow_http_endpoints is off)");
        goto out;
    }
    if (strcasecmp(scheme, "https") != 0 && strcasecmp(scheme, "http") != 0) {
        snprintf(err, errlen, "invalid endpoint: the scheme must be https");
        goto out;
    }
    rc = KM_OK;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(query);
    curl_free(fragment);
    curl_url_cleanup(u);
    return rc;
}

enum km_status awskms_resolve_endpoint(const char *region, const char *override, bool allow_http,
                                       char *url, size_t urllen, char *err, size_t errlen)
{
    int n = 0;
    if (region == NULL || !validate_region(region)) {
        snprintf(err, errlen, "invalid region");
        return KM_EINVAL;
    }
    if (override != NULL && override[0] != '\0') {
        if (strpbrk(override, " \t\r\n") != NULL) {
            snprintf(err, errlen, "invalid endpoint: not a URL");
            return KM_EINVAL;
        }
        if (check_override(override, allow_http, err, errlen) != KM_OK)
            return KM_EINVAL;
        n = snprintf(url, urllen, "%s", override);
    } else {
        n = snprintf(url, urllen, "https://kms.%s.amazonaws.com%s", region,
                     strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
    }
    if (n < 0 || (size_t)n >= urllen) {
        snprintf(err, errlen, "invalid endpoint: too long");
        return KM_EINVAL;
    }
    return KM_OK;
}

static void copy_trunc(char *dst, size_t cap, const char *s, size_t n)
{
    if (cap == 0)
        return;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Code from "ns#Code", "Code:http://...", or "Code". */
static void error_code_from(const char *type, char *code, size_t codelen)
{
    const char *hash = strrchr(type, '#');
    const char *s = hash != NULL ? hash + 1 : type;
    copy_trunc(code, codelen, s, strcspn(s, ":"));
}

void awskms_parse_error(const char *body, size_t len, const char *type_header, char *code,
                        size_t codelen, char *message, size_t msglen)
{
    json_t *doc = NULL;
    json_error_t jerr;

    if (codelen > 0)
        code[0] = '\0';
    if (msglen > 0)
        message[0] = '\0';
    if (body != NULL && len > 0)
        doc = json_loadb(body, len, 0, &jerr);
    if (json_is_object(doc)) {
        const char *type = json_string_value(json_object_get(doc, "__type"));
        const char *msg = json_string_value(json_object_get(doc, "message"));
        if (msg == NULL)
            msg = json_string_value(json_object_get(doc, "Message"));
        if (type != NULL)
            error_code_from(type, code, codelen);
        if (msg != NULL)
            copy_trunc(message, msglen, msg, strcspn(msg, "\r\n"));
    }
    if (codelen > 0 && code[0] == '\0' && type_header != NULL)
        error_code_from(type_header, code, codelen);
    /* operators read these in logs: no control characters */
    for (char *p = message; msglen > 0 && *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    for (char *p = code; codelen > 0 && *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            *p = '_';
    json_decref(doc);
}

void awskms_redact(char *msg, size_t msglen, const char *const *secrets, size_t nsecrets)
{
    static const char mark[] = "[redacted]";
    for (size_t i = 0; i < nsecrets; i++) {
        const char *s = secrets[i];
        size_t n = s != NULL ? strlen(s) : 0;
        if (n == 0)
            continue;
        char *hit = NULL;
        while ((hit = strstr(msg, s)) != NULL) {
            size_t tail = strlen(hit + n);
            size_t head = (size_t)(hit - msg);
            if (head + sizeof(mark) - 1 + tail + 1 > msglen)
                tail = msglen > head + sizeof(mark) ? msglen - head - sizeof(mark) : 0;
            memmove(hit + sizeof(mark) - 1, hit + n, tail);
            memcpy(hit, mark, sizeof(mark) - 1);
            hit[sizeof(mark) - 1 + tail] = '\0';
        }
    }
}

/* ---- the exchange ----------------------------------------------------- */

static enum km_status prepare_attempt(void *ctx, int attempt, struct httpc_request *req)
{
    struct exchange *ex = ctx;
    const struct config *cfg = ex->client->cfg;
    size_t n = 0;
    (void)attempt;

    sigv4_signature_free(&ex->sig);
    struct sigv4_header sh[] = {
        {"Host", ex->host},
        {"Content-Type", AWSKMS_CONTENT_TYPE},
        {"X-Amz-Target", ex->target},
    };
    struct sigv4_request sr = {"POST", ex->path, NULL, 0, sh, 3, ex->body, ex->body_len};
    struct sigv4_credentials sc = {ex->creds->access_key, ex->creds->secret_key,
                                   ex->creds->session_token};
    struct sigv4_params sp = {ex->region, AWSKMS_SERVICE, clock_now_ms(ex->client->clock) / 1000,
                              false, SIGV4_TOKEN_SIGNED};
    enum km_status rc = sigv4_sign(&sr, &sc, &sp, &ex->sig);
    if (rc != KM_OK) {
        ex->sign_error = ex->sig.error;
        return rc;
    }
    ex->headers[n++] = (struct httpc_field){"Host", ex->host};
    ex->headers[n++] = (struct httpc_field){"Content-Type", AWSKMS_CONTENT_TYPE};
    ex->headers[n++] = (struct httpc_field){"X-Amz-Target", ex->target};
    ex->headers[n++] = (struct httpc_field){"X-Amz-Date", ex->sig.amz_date};
    if (ex->creds->session_token != NULL)
        ex->headers[n++] = (struct httpc_field){"X-Amz-Security-Token", ex->creds->session_token};
    ex->headers[n++] = (struct httpc_field){"Authorization", ex->sig.authorization};

    memset(req, 0, sizeof(*req));
    req->method = "POST";
    req->url = ex->url;
    req->headers = ex->headers;
    req->nheaders = n;
    req->body = ex->body;
    req->body_len = ex->body_len;
    req->fresh_connect = ex->unsafe;
    req->connect_timeout_ms = cfg->aws_connect_timeout;
    req->timeout_ms = cfg->aws_timeout;
    return KM_OK;
}

static const char *error_code_of(void *ctx, const struct httpc_response *resp, char *buf,
                                 size_t len)
{
    char msg[8];
    (void)ctx;
    awskms_parse_error(resp->body, resp->body_len, httpc_response_header(resp, "x-amzn-ErrorType"),
                       buf, len, msg, sizeof(msg));
    return buf;
}

/* Host header value and path of a URL. */
static enum km_status split_url(const char *url, char *host, size_t hostlen, char *path,
                                size_t pathlen)
{
    enum km_status rc = KM_EINVAL;
    char *h = NULL, *port = NULL, *p = NULL;
    CURLU *u = curl_url();

    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &p, 0) != CURLUE_OK)
        goto out;
    curl_url_get(u, CURLUPART_PORT, &port, 0); /* only when the URL names one */
    int n =
        port != NULL ? snprintf(host, hostlen, "%s:%s", h, port) : snprintf(host, hostlen, "%s", h);
    int m = snprintf(path, pathlen, "%s", p[0] != '\0' ? p : "/");
    if (n < 0 || (size_t)n >= hostlen || m < 0 || (size_t)m >= pathlen)
        goto out;
    rc = KM_OK;
out:
    curl_free(h);
    curl_free(port);
    curl_free(p);
    curl_url_cleanup(u);
    return rc;
}

static void log_call(const struct awskms_call *call, const char *op, enum km_status rc,
                     int64_t started)
{
    log_emit(rc == KM_OK ? LOG_DEBUG : LOG_WARN, "aws kms call",
             json_pack("{s:s, s:s, s:b, s:I, s:s, s:i, s:s, s:I}", "op", op, "region",
                       call->target->region != NULL ? call->target->region : "", "ok", rc == KM_OK,
                       "http_status", (json_int_t)call->err.http_status, "code", call->err.code,
                       "attempts", call->err.attempts, "request_id", call->err.request_id, "ms",
                       (json_int_t)(clock_monotonic_ms() - started)));
}

/* Finish a response: *output on 2xx, call->err otherwise. */
static enum km_status read_response(struct awskms_call *call, const char *op,
                                    const struct httpc_response *resp, const struct awscreds *creds,
                                    json_t **output)
{
    json_error_t jerr;
    const char *rid = httpc_response_header(resp, "x-amzn-RequestId");
    char msg[700];

    call->err.http_status = resp->status;
    copy_trunc(call->err.request_id, sizeof(call->err.request_id), rid != NULL ? rid : "",
               rid != NULL ? strlen(rid) : 0);
    if (resp->status >= 200 && resp->status < 300) {
        *output =
            resp->body_len == 0 ? json_object() : json_loadb(resp->body, resp->body_len, 0, &jerr);
        if (!json_is_object(*output)) {
            json_decref(*output);
            *output = NULL;
            return fail(call, KM_EPROVIDER, "aws kms: %s: invalid response from kms", op);
        }
        return KM_OK;
    }
    awskms_parse_error(resp->body, resp->body_len, httpc_response_header(resp, "x-amzn-ErrorType"),
                       call->err.code, sizeof(call->err.code), msg, sizeof(msg));
    const char *secrets[] = {creds->secret_key, creds->session_token};
    awskms_redact(msg, sizeof(msg), secrets, 2);
    if (call->err.code[0] != '\0' && msg[0] != '\0')
        return fail(call, KM_EPROVIDER, "aws kms: %s: %s", call->err.code, msg);
    if (call->err.code[0] != '\0')
        return fail(call, KM_EPROVIDER, "aws kms: %s", call->err.code);
    return fail(call, KM_EPROVIDER, "aws kms: %s: unexpected http status %ld", op, resp->status);
}

/* Run one KMS operation: `input` is consumed; *output (on KM_OK) is the
 * response object, owned by the caller. `unsafe`: the operation is not
 * idempotent (CreateKey), so it is never repeated once it may have arrived. */
static enum km_status kms_call_mode(struct awskms_call *call, const char *op, json_t *input,
                                    json_t **output, bool unsafe)
{
    enum km_status rc = KM_EINVAL;
    struct awskms_client *client = call->client;
    const struct awskms_target *t = call->target;
    const struct config *cfg = client->cfg;
    char url[AWSKMS_MAX_URL], host[512], path[1024], why[512];
    struct awscreds creds = {0};
    struct exchange ex;
    struct httpc_response resp = {0};
    char *body = NULL;
    int attempts = 0;
    int64_t started = clock_monotonic_ms();

    *output = NULL;
    memset(&ex, 0, sizeof(ex));
    call->err.code[0] = '\0';
    call->err.http_status = 0;
    call->err.request_id[0] = '\0';
    if (input == NULL) {
        rc = fail(call, KM_EINVAL, "aws kms: %s: missing or invalid parameters", op);
        goto out;
    }
    const char *override = t->endpoint != NULL && t->endpoint[0] != '\0'
                               ? t->endpoint
                               : awscreds_getenv(client->envp, "AWS_KMS_ENDPOINT");
    if (awskms_resolve_endpoint(t->region, override, cfg->allow_http_endpoints, url, sizeof(url),
                                why, sizeof(why)) != KM_OK ||
        split_url(url, host, sizeof(host), path, sizeof(path)) != KM_OK) {
        rc = fail(call, KM_EINVAL, "aws kms: %s", why[0] != '\0' ? why : "invalid endpoint");
        goto out;
    }
    struct awscreds_explicit exp = {t->access_key, t->secret_key, t->session_token};
    rc = awscreds_resolve(&client->creds, &exp, client->envp, &creds, call->err.message,
                          sizeof(call->err.message));
    if (rc != KM_OK)
        goto out;
    body = json_dumps(input, JSON_COMPACT);
    if (body == NULL) {
        rc = fail(call, KM_EINTERNAL, "aws kms: %s: cannot encode request", op);
        goto out;
    }
    ex.client = client;
    ex.region = t->region;
    ex.url = url;
    ex.host = host;
    ex.path = path;
    snprintf(ex.target, sizeof(ex.target), AWSKMS_TARGET_PREFIX "%s", op);
    ex.body = body;
    ex.body_len = strlen(body);
    ex.creds = &creds;
    ex.unsafe = unsafe;
    char label[80];
    snprintf(label, sizeof(label), "kms %s", op);
    struct httpc_retry_policy policy = {(int)cfg->aws_max_attempts, cfg->aws_backoff_unit,
                                        client->rng, label, unsafe};
    rc = httpc_send(client->http, &policy, prepare_attempt, error_code_of, &ex, &resp, &attempts);
    call->err.attempts += attempts;
    if (rc == KM_EPROVIDER) {
        rc = fail(call, KM_EPROVIDER, "aws kms: %s: %s", httpc_transport_name(resp.transport),
                  resp.error);
        goto out;
    }
    if (rc != KM_OK) {
        rc = fail(call, rc, "aws kms: %s: cannot sign request: %s", op,
                  ex.sign_error != NULL ? ex.sign_error : "internal error");
        goto out;
    }
    rc = read_response(call, op, &resp, &creds, output);
out:
    log_call(call, op, rc, started);
    if (body != NULL)
        codec_free_secret(body, strlen(body));
    sigv4_signature_free(&ex.sig);
    httpc_response_free(&resp);
    awscreds_clear(&creds);
    json_decref(input);
    return rc;
}

static enum km_status kms_call(struct awskms_call *call, const char *op, json_t *input,
                               json_t **output)
{
    return kms_call_mode(call, op, input, output, false);
}

/* ---- JSON helpers ----------------------------------------------------- */

static const char *jstr(struct pool *p, json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? pool_strdup(p, s) : NULL;
}

static double jnum(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* Decode a base64 member into the pool; NULL when absent or malformed. */
static unsigned char *jblob(struct pool *p, json_t *o, const char *key, size_t *len)
{
    const char *s = json_string_value(json_object_get(o, key));
    size_t n = 0;
    unsigned char *raw = s != NULL ? codec_b64_decode(s, strlen(s), &n) : NULL;
    if (raw == NULL)
        return NULL;
    unsigned char *out = pool_alloc(p, n + 1);
    memcpy(out, raw, n);
    codec_free_secret(raw, n + 1);
    *len = n;
    return out;
}

static json_t *tags_json(const struct awskms_tag *tags, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *t = json_pack("{s:s, s:s}", "TagKey", tags[i].key, "TagValue", tags[i].value);
        if (t == NULL || json_array_append_new(arr, t) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *context_json(const struct awskms_tag *ctx, size_t n)
{
    json_t *obj = json_object();
    for (size_t i = 0; obj != NULL && i < n; i++) {
        if (ctx[i].key == NULL || ctx[i].value == NULL ||
            json_object_set_new(obj, ctx[i].key, json_string(ctx[i].value)) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

/* Add a member when the value is not NULL; drop the object on failure. */
static json_t *with(json_t *obj, const char *key, json_t *value)
{
    if (obj == NULL) {
        json_decref(value);
        return NULL;
    }
    if (value != NULL && json_object_set_new(obj, key, value) == 0)
        return obj;
    json_decref(obj);
    return NULL;
}

static void read_metadata(struct pool *p, json_t *md, struct awskms_key_metadata *out)
{
    memset(out, 0, sizeof(*out));
    out->key_id = jstr(p, md, "KeyId");
    out->arn = jstr(p, md, "Arn");
    out->key_state = jstr(p, md, "KeyState");
    out->origin = jstr(p, md, "Origin");
    out->key_usage = jstr(p, md, "KeyUsage");
    out->key_spec = jstr(p, md, "KeySpec");
    if (out->key_spec == NULL)
        out->key_spec = jstr(p, md, "CustomerMasterKeySpec");
    out->description = jstr(p, md, "Description");
    out->expiration_model = jstr(p, md, "ExpirationModel");
    out->enabled = json_is_true(json_object_get(md, "Enabled"));
    out->creation_date = jnum(md, "CreationDate");
    out->deletion_date = jnum(md, "DeletionDate");
    out->valid_to = jnum(md, "ValidTo");
    out->pending_deletion_window_days =
        (long)json_integer_value(json_object_get(md, "PendingDeletionWindowInDays"));
}

static enum km_status need(struct awskms_call *call, const char *op, const char *what,
                           const void *value)
{
    if (value != NULL && (what == NULL || ((const char *)value)[0] != '\0'))
        return KM_OK;
    return fail(call, KM_EINVAL, "aws kms: %s: %s is required", op, what != NULL ? what : "input");
}

static enum km_status bad_response(struct awskms_call *call, const char *op, const char *member)
{
    return fail(call, KM_EPROVIDER, "aws kms: %s: response lacks a valid %s", op, member);
}

/* ---- operations ------------------------------------------------------- */

static enum km_status key_metadata_op(struct awskms_call *call, const char *op, json_t *input,
                                      struct awskms_key_metadata *out)
{
    json_t *res = NULL;
    /* CreateKey is the one operation that must never run twice by accident */
    enum km_status rc = kms_call_mode(call, op, input, &res, strcmp(op, "CreateKey") == 0);
    if (rc != KM_OK)
        goto out;
    json_t *md = json_object_get(res, "KeyMetadata");
    if (!json_is_object(md) || !json_is_string(json_object_get(md, "KeyId"))) {
        rc = bad_response(call, op, "KeyMetadata");
        goto out;
    }
    read_metadata(call->pool, md, out);
out:
    json_decref(res);
    return rc;
}

enum km_status awskms_create_key(struct awskms_call *call, const struct awskms_create_key_input *in,
                                 struct awskms_key_metadata *out)
{
    call_begin(call);
    json_t *input = json_pack("{s:s, s:s, s:s}", "KeySpec",
                              in->key_spec != NULL ? in->key_spec : "SYMMETRIC_DEFAULT", "KeyUsage",
                              in->key_usage != NULL ? in->key_usage : "ENCRYPT_DECRYPT", "Origin",
                              in->origin != NULL ? in->origin : "AWS_KMS");
    if (in->description != NULL)
        input = with(input, "Description", json_string(in->description));
    if (in->ntags > 0)
        input = with(input, "Tags", tags_json(in->tags, in->ntags));
    return key_metadata_op(call, "CreateKey", input, out);
}

enum km_status awskms_describe_key(struct awskms_call *call, const char *key_id,
                                   struct awskms_key_metadata *out)
{
    call_begin(call);
    if (need(call, "DescribeKey", "key id", key_id) != KM_OK)
        return KM_EINVAL;
    return key_metadata_op(call, "DescribeKey", json_pack("{s:s}", "KeyId", key_id), out);
}

/* An operation whose only input is KeyId and whose output is ignored. */
static enum km_status key_op(struct awskms_call *call, const char *op, const char *key_id)
{
    json_t *res = NULL;
    call_begin(call);
    if (need(call, op, "key id", key_id) != KM_OK)
        return KM_EINVAL;
    enum km_status rc = kms_call(call, op, json_pack("{s:s}", "KeyId", key_id), &res);
    json_decref(res);
    return rc;
}

enum km_status awskms_enable_key(struct awskms_call *call, const char *key_id)
{
    return key_op(call, "EnableKey", key_id);
}

enum km_status awskms_disable_key(struct awskms_call *call, const char *key_id)
{
    return key_op(call, "DisableKey", key_id);
}

enum km_status awskms_cancel_key_deletion(struct awskms_call *call, const char *key_id)
{
    return key_op(call, "CancelKeyDeletion", key_id);
}

enum km_status awskms_schedule_key_deletion(struct awskms_call *call, const char *key_id,
                                            int pending_window_days, struct awskms_deletion *out)
{
    static const char op[] = "ScheduleKeyDeletion";
    json_t *res = NULL;
    call_begin(call);
    if (need(call, op, "key id", key_id) != KM_OK)
        return KM_EINVAL;
    json_t *input = json_pack("{s:s}", "KeyId", key_id);
    if (pending_window_days > 0)
        input = with(input, "PendingWindowInDays", json_integer(pending_window_days));
    enum km_status rc = kms_call(call, op, input, &res);
    if (rc == KM_OK) {
        memset(out, 0, sizeof(*out));
        out->key_id = jstr(call->pool, res, "KeyId");
        out->key_state = jstr(call->pool, res, "KeyState");
        out->deletion_date = jnum(res, "DeletionDate");
        out->pending_window_days =
            (long)json_integer_value(json_object_get(res, "PendingWindowInDays"));
    }
    json_decref(res);
    return rc;
}

enum km_status awskms_get_parameters_for_import(struct awskms_call *call, const char *key_id,
                                                const char *wrapping_algorithm,
                                                const char *wrapping_key_spec,
                                                struct awskms_import_params *out)
{
    static const char op[] = "GetParametersForImport";
    json_t *res = NULL;
    enum km_status rc = KM_EINVAL;

    call_begin(call);
    memset(out, 0, sizeof(*out));
    if (need(call, op, "key id", key_id) != KM_OK)
        return KM_EINVAL;
    rc = kms_call(call, op,
                  json_pack("{s:s, s:s, s:s}", "KeyId", key_id, "WrappingAlgorithm",
                            wrapping_algorithm != NULL ? wrapping_algorithm : KMSWRAP_ALGORITHM,
                            "WrappingKeySpec",
                            wrapping_key_spec != NULL ? wrapping_key_spec : AWSKMS_WRAPPING_SPEC),
                  &res);
    if (rc != KM_OK)
        goto out;
    out->key_id = jstr(call->pool, res, "KeyId");
    out->import_token = jstr(call->pool, res, "ImportToken");
    out->public_key_b64 = jstr(call->pool, res, "PublicKey");
    out->public_key = jblob(call->pool, res, "PublicKey", &out->public_key_len);
    out->parameters_valid_to = jnum(res, "ParametersValidTo");
    if (out->import_token == NULL || out->public_key == NULL) {
        rc = bad_response(call, op, "ImportToken or PublicKey");
        goto out;
    }
out:
    json_decref(res);
    return rc;
}

enum km_status awskms_import_key_material(struct awskms_call *call, const char *key_id,
                                          const char *import_token, const unsigned char *wrapped,
                                          size_t wrapped_len)
{
    static const char op[] = "ImportKeyMaterial";
    json_t *res = NULL;
    char *b64 = NULL;

    call_begin(call);
    if (need(call, op, "key id", key_id) != KM_OK ||
        need(call, op, "import token", import_token) != KM_OK ||
        need(call, op, NULL, wrapped_len > 0 ? wrapped : NULL) != KM_OK)
        return KM_EINVAL;
    b64 = codec_b64_encode(wrapped, wrapped_len);
    if (b64 == NULL)
        return fail(call, KM_EINVAL, "aws kms: %s: wrapped material too large", op);
    enum km_status rc = kms_call(call, op,
                                 json_pack("{s:s, s:s, s:s, s:s}", "KeyId", key_id, "ImportToken",
                                           import_token, "EncryptedKeyMaterial", b64,
                                           "ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE"),
                                 &res);
    json_decref(res);
    free(b64);
    return rc;
}

enum km_status awskms_import_material(struct awskms_call *call, const char *key_id,
                                      const unsigned char *material, size_t material_len)
{
    struct awskms_import_params params;
    unsigned char *wrapped = NULL;
    size_t wrapped_len = 0;
    char why[128];

    enum km_status rc = awskms_get_parameters_for_import(call, key_id, KMSWRAP_ALGORITHM,
                                                         AWSKMS_WRAPPING_SPEC, &params);
    if (rc != KM_OK)
        goto out;
    int attempts = call->err.attempts;
    rc = kmswrap_rsa_oaep_sha256(params.public_key, params.public_key_len, material, material_len,
                                 &wrapped, &wrapped_len, why, sizeof(why));
    if (rc != KM_OK) {
        rc = fail(call, rc == KM_EINVAL ? KM_EPROVIDER : rc,
                  "aws kms: cannot wrap key material: %s", why);
        goto out;
    }
    rc = awskms_import_key_material(call, key_id, params.import_token, wrapped, wrapped_len);
    call->err.attempts += attempts;
out:
    free(wrapped);
    return rc;
}

static enum km_status alias_op(struct awskms_call *call, const char *op, const char *alias,
                               const char *target)
{
    json_t *res = NULL;
    call_begin(call);
    if (need(call, op, "alias name", alias) != KM_OK ||
        (target != NULL && need(call, op, "target key id", target) != KM_OK))
        return KM_EINVAL;
    json_t *input = json_pack("{s:s}", "AliasName", alias);
    if (target != NULL)
        input = with(input, "TargetKeyId", json_string(target));
    enum km_status rc = kms_call(call, op, input, &res);
    json_decref(res);
    return rc;
}

enum km_status awskms_create_alias(struct awskms_call *call, const char *alias_name,
                                   const char *target_key_id)
{
    if (target_key_id == NULL) {
        call_begin(call);
        return need(call, "CreateAlias", "target key id", target_key_id);
    }
    return alias_op(call, "CreateAlias", alias_name, target_key_id);
}

enum km_status awskms_update_alias(struct awskms_call *call, const char *alias_name,
                                   const char *target_key_id)
{
    if (target_key_id == NULL) {
        call_begin(call);
        return need(call, "UpdateAlias", "target key id", target_key_id);
    }
    return alias_op(call, "UpdateAlias", alias_name, target_key_id);
}

enum km_status awskms_delete_alias(struct awskms_call *call, const char *alias_name)
{
    return alias_op(call, "DeleteAlias", alias_name, NULL);
}

/* Grow a pool array of `size`-byte items to hold `want`. */
static void *grow(struct pool *p, void *items, size_t n, size_t *cap, size_t want, size_t size)
{
    if (want <= *cap)
        return items;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < want)
        nc *= 2;
    void *ni = pool_alloc(p, nc * size);
    if (n > 0)
        memcpy(ni, items, n * size);
    *cap = nc;
    return ni;
}

/* Drive a Marker/NextMarker pagination; `page` consumes one response. */
typedef enum km_status (*page_fn)(struct awskms_call *call, json_t *res, void *acc);

static enum km_status paginate(struct awskms_call *call, const char *op, json_t *base, int limit,
                               page_fn page, void *acc, int *pages)
{
    enum km_status rc = KM_OK;
    char *marker = NULL;

    *pages = 0;
    if (call->client->page_limit > 0 && call->client->page_limit < limit)
        limit = call->client->page_limit;
    for (;;) {
        json_t *res = NULL;
        if (*pages >= AWSKMS_MAX_PAGES) {
            rc = fail(call, KM_EPROVIDER, "aws kms: %s: more than %d pages", op, AWSKMS_MAX_PAGES);
            break;
        }
        json_t *input = json_deep_copy(base);
        input = with(input, "Limit", json_integer(limit));
        if (marker != NULL)
            input = with(input, "Marker", json_string(marker));
        rc = kms_call(call, op, input, &res);
        if (rc == KM_OK)
            rc = page(call, res, acc);
        (*pages)++;
        const char *next = json_string_value(json_object_get(res, "NextMarker"));
        bool more = rc == KM_OK && json_is_true(json_object_get(res, "Truncated")) &&
                    next != NULL && next[0] != '\0';
        if (more && marker != NULL && strcmp(next, marker) == 0) {
            rc = fail(call, KM_EPROVIDER, "aws kms: %s: pagination does not advance", op);
            more = false;
        }
        if (more)
            marker = pool_strdup(call->pool, next);
        json_decref(res);
        if (!more)
            break;
    }
    json_decref(base);
    return rc;
}

/* How the items of one listing are read: the response member holding them and a
 * reader for one item (false when a required member is missing). */
struct listing {
    const char *op, *member;
    size_t item_size;
    bool (*read)(struct pool *p, json_t *e, void *item);
};

struct list_acc {
    const struct listing *l;
    void **items;
    size_t *n;
    size_t cap;
};

static enum km_status list_page(struct awskms_call *call, json_t *res, void *acc)
{
    struct list_acc *a = acc;
    json_t *arr = json_object_get(res, a->l->member);
    size_t i = 0;
    json_t *e = NULL;
    if (arr != NULL && !json_is_array(arr))
        return bad_response(call, a->l->op, a->l->member);
    *a->items =
        grow(call->pool, *a->items, *a->n, &a->cap, *a->n + json_array_size(arr), a->l->item_size);
    json_array_foreach(arr, i, e)
    {
        if (!a->l->read(call->pool, e, (char *)*a->items + *a->n * a->l->item_size))
            return bad_response(call, a->l->op, a->l->member);
        (*a->n)++;
    }
    return KM_OK;
}

static bool read_alias(struct pool *p, json_t *e, void *item)
{
    struct awskms_alias *al = item;
    al->name = jstr(p, e, "AliasName");
    al->arn = jstr(p, e, "AliasArn");
    al->target_key_id = jstr(p, e, "TargetKeyId");
    al->creation_date = jnum(e, "CreationDate");
    al->last_updated_date = jnum(e, "LastUpdatedDate");
    return al->name != NULL;
}

static bool read_key(struct pool *p, json_t *e, void *item)
{
    struct awskms_key_entry *k = item;
    k->key_id = jstr(p, e, "KeyId");
    k->arn = jstr(p, e, "KeyArn");
    return k->key_id != NULL;
}

static bool read_tag(struct pool *p, json_t *e, void *item)
{
    struct awskms_tag *t = item;
    t->key = jstr(p, e, "TagKey");
    t->value = jstr(p, e, "TagValue");
    return t->key != NULL && t->value != NULL;
}

static const struct listing aliases_listing = {"ListAliases", "Aliases",
                                               sizeof(struct awskms_alias), read_alias};
static const struct listing keys_listing = {"ListKeys", "Keys", sizeof(struct awskms_key_entry),
                                            read_key};
static const struct listing tags_listing = {"ListResourceTags", "Tags", sizeof(struct awskms_tag),
                                            read_tag};

enum km_status awskms_list_aliases(struct awskms_call *call, const char *key_id,
                                   struct awskms_alias_list *out)
{
    struct list_acc acc = {&aliases_listing, (void **)&out->items, &out->n, 0};
    call_begin(call);
    memset(out, 0, sizeof(*out));
    json_t *base = json_object();
    if (key_id != NULL)
        base = with(base, "KeyId", json_string(key_id));
    if (base == NULL)
        return fail(call, KM_EINVAL, "aws kms: ListAliases: invalid key id");
    return paginate(call, "ListAliases", base, AWSKMS_ALIAS_PAGE_LIMIT, list_page, &acc,
                    &out->pages);
}

enum km_status awskms_list_keys(struct awskms_call *call, struct awskms_key_list *out)
{
    struct list_acc acc = {&keys_listing, (void **)&out->items, &out->n, 0};
    call_begin(call);
    memset(out, 0, sizeof(*out));
    return paginate(call, "ListKeys", json_object(), AWSKMS_KEY_PAGE_LIMIT, list_page, &acc,
                    &out->pages);
}

enum km_status awskms_tag_resource(struct awskms_call *call, const char *key_id,
                                   const struct awskms_tag *tags, size_t ntags)
{
    json_t *res = NULL;
    call_begin(call);
    if (need(call, "TagResource", "key id", key_id) != KM_OK ||
        need(call, "TagResource", NULL, ntags > 0 ? tags : NULL) != KM_OK)
        return KM_EINVAL;
    json_t *input = with(json_pack("{s:s}", "KeyId", key_id), "Tags", tags_json(tags, ntags));
    enum km_status rc = kms_call(call, "TagResource", input, &res);
    json_decref(res);
    return rc;
}

enum km_status awskms_list_resource_tags(struct awskms_call *call, const char *key_id,
                                         struct awskms_tag_list *out)
{
    struct list_acc acc = {&tags_listing, (void **)&out->items, &out->n, 0};
    call_begin(call);
    memset(out, 0, sizeof(*out));
    if (need(call, "ListResourceTags", "key id", key_id) != KM_OK)
        return KM_EINVAL;
    return paginate(call, "ListResourceTags", json_pack("{s:s}", "KeyId", key_id),
                    AWSKMS_TAG_PAGE_LIMIT, list_page, &acc, &out->pages);
}

enum km_status awskms_encrypt(struct awskms_call *call, const char *key_id,
                              const unsigned char *plaintext, size_t len,
                              const struct awskms_tag *context, size_t ncontext,
                              struct awskms_encrypt_result *out)
{
    static const char op[] = "Encrypt";
    json_t *res = NULL;
    char *b64 = NULL;
    enum km_status rc = KM_EINVAL;

    call_begin(call);
    memset(out, 0, sizeof(*out));
    if (need(call, op, "key id", key_id) != KM_OK ||
        need(call, op, NULL, len > 0 ? plaintext : NULL) != KM_OK)
        return KM_EINVAL;
    b64 = codec_b64_encode(plaintext, len);
    if (b64 == NULL)
        return fail(call, KM_EINVAL, "aws kms: %s: plaintext too large", op);
    json_t *input = json_pack("{s:s, s:s}", "KeyId", key_id, "Plaintext", b64);
    if (ncontext > 0)
        input = with(input, "EncryptionContext", context_json(context, ncontext));
    rc = kms_call(call, op, input, &res);
    if (rc != KM_OK)
        goto out;
    out->ciphertext = jblob(call->pool, res, "CiphertextBlob", &out->ciphertext_len);
    out->key_id = jstr(call->pool, res, "KeyId");
    out->algorithm = jstr(call->pool, res, "EncryptionAlgorithm");
    if (out->ciphertext == NULL)
        rc = bad_response(call, op, "CiphertextBlob");
out:
    json_decref(res);
    codec_free_secret(b64, strlen(b64));
    return rc;
}

enum km_status awskms_decrypt(struct awskms_call *call, const char *key_id,
                              const unsigned char *ciphertext, size_t len,
                              const struct awskms_tag *context, size_t ncontext,
                              struct awskms_decrypt_result *out)
{
    static const char op[] = "Decrypt";
    json_t *res = NULL;
    char *b64 = NULL;
    enum km_status rc = KM_EINVAL;

    call_begin(call);
    memset(out, 0, sizeof(*out));
    if (need(call, op, NULL, len > 0 ? ciphertext : NULL) != KM_OK)
        return KM_EINVAL;
    b64 = codec_b64_encode(ciphertext, len);
    if (b64 == NULL)
        return fail(call, KM_EINVAL, "aws kms: %s: ciphertext too large", op);
    json_t *input = json_pack("{s:s}", "CiphertextBlob", b64);
    if (key_id != NULL)
        input = with(input, "KeyId", json_string(key_id));
    if (ncontext > 0)
        input = with(input, "EncryptionContext", context_json(context, ncontext));
    rc = kms_call(call, op, input, &res);
    if (rc != KM_OK)
        goto out;
    const char *pt = json_string_value(json_object_get(res, "Plaintext"));
    out->plaintext = pt != NULL ? codec_b64_decode(pt, strlen(pt), &out->plaintext_len) : NULL;
    out->key_id = jstr(call->pool, res, "KeyId");
    if (out->plaintext == NULL)
        rc = bad_response(call, op, "Plaintext");
out:
    json_decref(res);
    free(b64);
    return rc;
}
