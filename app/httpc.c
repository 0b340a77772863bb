/*
 * httpc.c — per-worker curl client with SDK-style retries; see httpc.h.
 */
#include "keymgmt/httpc.h"
#include "keymgmt/capbuf.h"
#include "keymgmt/codec.h"
#include "keymgmt/config.h"
#include "keymgmt/log.h"
#include "keymgmt/pool.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifndef KEYMGMT_VERSION
#define KEYMGMT_VERSION "dev"
#endif

struct httpc {
    CURL *curl;
    long connect_timeout_ms;
    long timeout_ms;
    size_t max_response;
    char *ca_bundle; /* NULL for the system store */
    char *user_agent;
    char errbuf[CURL_ERROR_SIZE];
};

/* What one transfer collects. */
struct transfer {
    struct capbuf body;
    struct httpc_response *resp;
    size_t header_bytes;
    bool too_big;
};

static const char *const throttling_codes[] = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
};

static const char *const transient_codes[] = {
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
};

static const long retryable_statuses[] = {500, 502, 503, 504};

/* curl results and what they mean to us. */
static const struct {
    CURLcode code;
    enum httpc_transport transport;
} curl_results[] = {
    {CURLE_COULDNT_RESOLVE_HOST, HTTPC_TRANSPORT_CONNECT},
    {CURLE_COULDNT_RESOLVE_PROXY, HTTPC_TRANSPORT_CONNECT},
    {CURLE_COULDNT_CONNECT, HTTPC_TRANSPORT_CONNECT},
    {CURLE_OPERATION_TIMEDOUT, HTTPC_TRANSPORT_TIMEOUT},
    {CURLE_SEND_ERROR, HTTPC_TRANSPORT_LOST},
    {CURLE_RECV_ERROR, HTTPC_TRANSPORT_LOST},
    {CURLE_GOT_NOTHING, HTTPC_TRANSPORT_LOST},
    {CURLE_PARTIAL_FILE, HTTPC_TRANSPORT_LOST},
    {CURLE_HTTP2, HTTPC_TRANSPORT_LOST},
    {CURLE_HTTP2_STREAM, HTTPC_TRANSPORT_LOST},
    {CURLE_SSL_CONNECT_ERROR, HTTPC_TRANSPORT_LOST}, /* handshake cut short */
    {CURLE_PEER_FAILED_VERIFICATION, HTTPC_TRANSPORT_TLS},
    {CURLE_SSL_CACERT_BADFILE, HTTPC_TRANSPORT_TLS},
    {CURLE_SSL_CERTPROBLEM, HTTPC_TRANSPORT_TLS},
    {CURLE_SSL_CIPHER, HTTPC_TRANSPORT_TLS},
    {CURLE_SSL_ENGINE_NOTFOUND, HTTPC_TRANSPORT_TLS},
    {CURLE_SSL_ENGINE_SETFAILED, HTTPC_TRANSPORT_TLS},
    {CURLE_SSL_CRL_BADFILE, HTTPC_TRANSPORT_TLS},
    {CURLE_SSL_ISSUER_ERROR, HTTPC_TRANSPORT_TLS},
    {CURLE_SSL_PINNEDPUBKEYNOTMATCH, HTTPC_TRANSPORT_TLS},
    {CURLE_SSL_INVALIDCERTSTATUS, HTTPC_TRANSPORT_TLS},
};

static const char *const transport_names[] = {
    [HTTPC_TRANSPORT_OK] = "ok",
    [HTTPC_TRANSPORT_CONNECT] = "connection failed",
    [HTTPC_TRANSPORT_TIMEOUT] = "timed out",
    [HTTPC_TRANSPORT_LOST] = "connection lost",
    [HTTPC_TRANSPORT_TLS] = "tls error",
    [HTTPC_TRANSPORT_TOOBIG] = "response too large",
    [HTTPC_TRANSPORT_OTHER] = "request failed",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool in_list(const char *code, const char *const *list, size_t n)
{
    if (code == NULL || code[0] == '\0')
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(code, list[i]) == 0)
            return true;
    return false;
}

bool httpc_is_throttling_code(const char *code)
{
    return in_list(code, throttling_codes, COUNT(throttling_codes));
}

bool httpc_is_transient_code(const char *code)
{
    return in_list(code, transient_codes, COUNT(transient_codes));
}

bool httpc_is_retryable_status(long status)
{
    for (size_t i = 0; i < COUNT(retryable_statuses); i++)
        if (status == retryable_statuses[i])
            return true;
    return false;
}

bool httpc_is_retryable_transport(enum httpc_transport t)
{
    return t == HTTPC_TRANSPORT_CONNECT || t == HTTPC_TRANSPORT_TIMEOUT ||
           t == HTTPC_TRANSPORT_LOST;
}

bool httpc_should_retry(const struct httpc_response *resp, const char *code)
{
    if (resp->transport != HTTPC_TRANSPORT_OK)
        return httpc_is_retryable_transport(resp->transport);
    if (resp->status < 400)
        return false;
    return httpc_is_throttling_code(code) || httpc_is_transient_code(code) ||
           httpc_is_retryable_status(resp->status);
}

bool httpc_should_retry_unsafe(const struct httpc_response *resp, const char *code)
{
    if (resp->transport != HTTPC_TRANSPORT_OK)
        return resp->transport == HTTPC_TRANSPORT_CONNECT;
    return resp->status >= 400 && resp->status < 500 && httpc_is_throttling_code(code);
}

long httpc_backoff_ms(const struct rng *rng, int retry, long unit_ms)
{
    long cap = HTTPC_MAX_BACKOFF;
    if (retry < 0)
        retry = 0;
    if (retry < 5) /* 2^5 > 20 */
        cap = (1L << retry) < cap ? (1L << retry) : cap;
    double ms = rng_unit(rng) * (double)cap * (double)(unit_ms > 0 ? unit_ms : 0);
    return (long)ms;
}

const char *httpc_transport_name(enum httpc_transport t)
{
    if ((size_t)t >= COUNT(transport_names))
        return "request failed";
    return transport_names[t];
}

/* ---- client ----------------------------------------------------------- */

void httpc_options_from_config(const struct config *cfg, struct httpc_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->connect_timeout_ms = cfg->aws_connect_timeout;
    opts->timeout_ms = cfg->aws_timeout;
    opts->ca_bundle = cfg->aws_ca_bundle;
}

enum km_status httpc_new(const struct httpc_options *opts, struct httpc **out)
{
    static bool global_done = false;
    struct httpc *h = NULL;

    *out = NULL;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return KM_EINTERNAL;
        global_done = true;
    }
    h = xcalloc(1, sizeof(*h));
    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        free(h);
        return KM_EINTERNAL;
    }
    h->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
    h->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
    h->max_response = opts->max_response > 0 ? opts->max_response : HTTPC_MAX_RESPONSE;
    if (opts->ca_bundle != NULL && opts->ca_bundle[0] != '\0')
        h->ca_bundle = xstrdup(opts->ca_bundle);
    h->user_agent =
        xstrdup(opts->user_agent != NULL ? opts->user_agent : "keymgmt/" KEYMGMT_VERSION);
    *out = h;
    return KM_OK;
}

void httpc_free(struct httpc *h)
{
    if (h == NULL)
        return;
    curl_easy_cleanup(h->curl);
    free(h->ca_bundle);
    free(h->user_agent);
    free(h);
}

void httpc_response_free(struct httpc_response *resp)
{
    for (size_t i = 0; i < resp->nheaders; i++) {
        free((char *)resp->headers[i].name);
        free((char *)resp->headers[i].value);
    }
    free(resp->headers);
    /* responses carry credentials (instance metadata) and key material */
    codec_free_secret(resp->body, resp->body_len);
    memset(resp, 0, sizeof(*resp));
}

const char *httpc_response_header(const struct httpc_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->nheaders; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct transfer *t = userp;
    size_t n = size * nmemb;
    capbuf_append(&t->body, data, n);
    if (t->body.failed) {
        t->too_big = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

static void drop_headers(struct httpc_response *resp)
{
    for (size_t i = 0; i < resp->nheaders; i++) {
        free((char *)resp->headers[i].name);
        free((char *)resp->headers[i].value);
    }
    resp->nheaders = 0;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct transfer *t = userp;
    struct httpc_response *resp = t->resp;
    size_t n = size * nmemb;

    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        drop_headers(resp); /* a new response (after 100-continue): keep only the last */
        t->header_bytes = 0;
        return n;
    }
    t->header_bytes += n;
    if (t->header_bytes > HTTPC_MAX_HEADER_BYTES || resp->nheaders >= HTTPC_MAX_HEADERS)
        return n; /* keep the first ones, ignore the rest */
    const char *colon = memchr(data, ':', n);
    if (colon == NULL)
        return n;
    const char *v = colon + 1, *e = data + n;
    while (v < e && is_ows(*v))
        v++;
    while (e > v && is_ows(e[-1]))
        e--;
    if (resp->headers == NULL)
        resp->headers = xcalloc(HTTPC_MAX_HEADERS, sizeof(*resp->headers));
    char *name = xmalloc((size_t)(colon - data) + 1);
    memcpy(name, data, (size_t)(colon - data));
    name[colon - data] = '\0';
    char *value = xmalloc((size_t)(e - v) + 1);
    memcpy(value, v, (size_t)(e - v));
    value[e - v] = '\0';
    resp->headers[resp->nheaders].name = name;
    resp->headers[resp->nheaders].value = value;
    resp->nheaders++;
    return n;
}

static enum httpc_transport classify_curl(CURLcode rc, bool too_big)
{
    if (too_big)
        return HTTPC_TRANSPORT_TOOBIG;
    for (size_t i = 0; i < COUNT(curl_results); i++)
        if (curl_results[i].code == rc)
            return curl_results[i].transport;
    return HTTPC_TRANSPORT_OTHER;
}

/* Request headers as a curl list; NULL on a malformed header. */
static struct curl_slist *build_headers(const struct httpc_request *req, bool *bad)
{
    struct curl_slist *list = NULL, *next = NULL;
    struct capbuf line;
    bool has_ct = false;

    *bad = false;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *name = req->headers[i].name, *value = req->headers[i].value;
        if (name == NULL || value == NULL || name[0] == '\0' || strpbrk(name, ":\r\n ") ||
            strpbrk(value, "\r\n")) {
            *bad = true;
            goto fail;
        }
        has_ct = has_ct || strcasecmp(name, "Content-Type") == 0;
        capbuf_init(&line, 64 * 1024);
        /* curl reads "Name:" as "remove Name"; "Name;" sends it empty */
        capbuf_printf(&line, value[0] == '\0' ? "%s;" : "%s: %s", name, value);
        char *s = capbuf_take(&line, NULL);
        if (s == NULL) {
            *bad = true;
            goto fail;
        }
        next = curl_slist_append(list, s);
        free(s);
        if (next == NULL)
            goto fail;
        list = next;
    }
    /* no 100-continue round trip; no form content type curl would invent */
    next = curl_slist_append(list, "Expect:");
    if (next == NULL)
        goto fail;
    list = next;
    if (!has_ct) {
        next = curl_slist_append(list, "Content-Type:");
        if (next == NULL)
            goto fail;
        list = next;
    }
    return list;
fail:
    curl_slist_free_all(list);
    return NULL;
}

static bool setup(struct httpc *h, const struct httpc_request *req, struct curl_slist *headers,
                  struct transfer *t)
{
    CURL *c = h->curl;
    long cto = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : h->connect_timeout_ms;
    long to = req->timeout_ms > 0 ? req->timeout_ms : h->timeout_ms;
    static const char empty[1] = "";
    CURLcode e = CURLE_OK;

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (e == CURLE_OK)                                                                         \
            e = curl_easy_setopt(c, opt, val);                                                     \
    } while (0)
    curl_easy_reset(c); /* keeps the connection cache */
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FRESH_CONNECT, req->fresh_connect ? 1L : 0L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_bundle != NULL)
        SET(CURLOPT_CAINFO, h->ca_bundle);
    SET(CURLOPT_CONNECTTIMEOUT_MS, cto);
    SET(CURLOPT_TIMEOUT_MS, to);
    SET(CURLOPT_USERAGENT, h->user_agent);
    SET(CURLOPT_ERRORBUFFER, h->errbuf);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, t);
    if (req->no_proxy)
        SET(CURLOPT_NOPROXY, "*");
    if (strcmp(req->method, "GET") == 0 && req->body_len == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        SET(CURLOPT_POSTFIELDS, req->body_len > 0 ? req->body : (const void *)empty);
        if (strcmp(req->method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, req->method);
    }
#undef SET
    return e == CURLE_OK;
}

enum km_status httpc_perform(struct httpc *h, const struct httpc_request *req,
                             struct httpc_response *resp)
{
    enum km_status rc = KM_EINTERNAL;
    struct curl_slist *headers = NULL;
    struct transfer t;
    bool bad = false;

    memset(resp, 0, sizeof(*resp));
    memset(&t, 0, sizeof(t));
    capbuf_init(&t.body, h->max_response);
    t.resp = resp;

    if (req->method == NULL || req->url == NULL || (req->body == NULL && req->body_len > 0)) {
        rc = KM_EINVAL;
        goto out;
    }
    headers = build_headers(req, &bad);
    if (headers == NULL) {
        rc = bad ? KM_EINVAL : KM_EINTERNAL;
        goto out;
    }
    h->errbuf[0] = '\0';
    if (!setup(h, req, headers, &t))
        goto out;
    CURLcode cr = curl_easy_perform(h->curl);
    if (cr != CURLE_OK) {
        resp->transport = classify_curl(cr, t.too_big);
        snprintf(resp->error, sizeof(resp->error), "%s",
                 resp->transport == HTTPC_TRANSPORT_TOOBIG ? "response too large"
                 : h->errbuf[0] != '\0'                    ? h->errbuf
                                                           : curl_easy_strerror(cr));
        rc = KM_EPROVIDER;
        goto out;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    if (t.body.len > 0)
        resp->body = capbuf_take(&t.body, &resp->body_len);
    rc = KM_OK;
out:
    if (rc != KM_OK) {
        drop_headers(resp);
        free(resp->headers);
        resp->headers = NULL;
    }
    capbuf_free(&t.body);
    curl_slist_free_all(headers);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

enum km_status httpc_send(struct httpc *h, const struct httpc_retry_policy *policy,
                          httpc_prepare_fn prepare, httpc_error_code_fn error_code, void *ctx,
                          struct httpc_response *resp, int *attempts)
{
    enum km_status rc = KM_EINTERNAL;
    int max = policy->max_attempts > 0 ? policy->max_attempts : 1;
    char code[128];

    *attempts = 0;
    memset(resp, 0, sizeof(*resp));
    for (int attempt = 1; attempt <= max; attempt++) {
        struct httpc_request req;
        memset(&req, 0, sizeof(req));
        httpc_response_free(resp);
        rc = prepare(ctx, attempt, &req);
        if (rc != KM_OK)
            return rc;
        *attempts = attempt;
        rc = httpc_perform(h, &req, resp);
        if (rc != KM_OK && rc != KM_EPROVIDER)
            return rc;
        code[0] = '\0';
        const char *c = NULL;
        if (rc == KM_OK && resp->status >= 400 && error_code != NULL)
            c = error_code(ctx, resp, code, sizeof(code));
        bool again =
            policy->unsafe ? httpc_should_retry_unsafe(resp, c) : httpc_should_retry(resp, c);
        if (attempt == max || !again)
            return rc;
        long delay = httpc_backoff_ms(policy->rng, attempt - 1, policy->backoff_unit_ms);
        log_emit(LOG_WARN, "http retry",
                 json_pack("{s:s, s:i, s:I, s:s, s:s, s:I}", "call",
                           policy->label != NULL ? policy->label : "", "attempt", attempt, "status",
                           (json_int_t)resp->status, "transport",
                           httpc_transport_name(resp->transport), "code", c != NULL ? c : "",
                           "delay_ms", (json_int_t)delay));
        sleep_ms(delay);
    }
    return rc;
}
