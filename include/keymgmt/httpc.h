/*
 * httpc.h — the HTTP client of a worker: one reused curl handle, retries.
 *
 * Lifetimes: a worker creates one `struct httpc` after fork (httpc_new) and
 * keeps it for its whole life, so connections to AWS stay alive between
 * requests; httpc_free() at exit. It is not shared between processes or
 * threads. Nothing from one request survives into the next except the
 * connection cache.
 *
 * TLS peer and host verification are always on; the CA bundle is the
 * configured one or the system's. Only http and https are spoken, redirects
 * are not followed, responses are capped in size.
 *
 * Retries follow the AWS SDKs' "standard" mode: at most `max_attempts`
 * attempts; only throttling and transient error codes, HTTP 500/502/503/504
 * and connection failures/timeouts are retried, never another 4xx; between
 * attempts a full-jitter backoff rand(0,1) * min(2^i, 20) "seconds" (i = 0 for
 * the first retry), where one second lasts `backoff_unit_ms`. The caller's
 * prepare callback builds the request anew for every attempt (a fresh
 * signature and X-Amz-Date). The classification and the backoff are pure
 * functions, exposed for tests.
 */
#ifndef KEYMGMT_HTTPC_H
#define KEYMGMT_HTTPC_H

#include "keymgmt/rng.h"
#include "keymgmt/status.h"

#include <stdbool.h>
#include <stddef.h>

#define HTTPC_MAX_RESPONSE (4 * 1024 * 1024) /* default cap of a response body */
#define HTTPC_MAX_HEADERS 100                /* response headers kept */
#define HTTPC_MAX_HEADER_BYTES (64 * 1024)   /* bytes of response headers kept */
#define HTTPC_MAX_BACKOFF 20                 /* "seconds" */

struct httpc;
struct config;

struct httpc_options {
    long connect_timeout_ms; /* default for requests that do not set their own */
    long timeout_ms;         /* whole request, default */
    const char *ca_bundle;   /* NULL or "" for the system store; copied */
    size_t max_response;     /* 0 for HTTPC_MAX_RESPONSE */
    const char *user_agent;  /* NULL for "keymgmt"; copied */
};

struct httpc_field {
    const char *name;
    const char *value;
};

struct httpc_request {
    const char *method; /* GET, PUT, POST, ... */
    const char *url;
    const struct httpc_field *headers; /* sent as given; none may contain CR or LF */
    size_t nheaders;
    const void *body;
    size_t body_len;
    long connect_timeout_ms; /* 0: the client's default */
    long timeout_ms;         /* 0: the client's default */
    bool no_proxy;           /* never go through a proxy (instance metadata) */
    bool fresh_connect;      /* a new connection: libcurl silently resends a request whose
                                reused connection died, which must not happen to a
                                request that is not safe to repeat */
};

/* Why a request got no HTTP response. */
enum httpc_transport {
    HTTPC_TRANSPORT_OK = 0,
    HTTPC_TRANSPORT_CONNECT, /* resolve or connect failed */
    HTTPC_TRANSPORT_TIMEOUT, /* connect or total timeout */
    HTTPC_TRANSPORT_LOST,    /* connection dropped while sending or receiving */
    HTTPC_TRANSPORT_TLS,     /* certificate or TLS configuration problem */
    HTTPC_TRANSPORT_TOOBIG,  /* response larger than the cap */
    HTTPC_TRANSPORT_OTHER,
};

/* A response. Owned by the caller's struct, released by httpc_response_free(). */
struct httpc_response {
    long status; /* 0 when there was no response */
    enum httpc_transport transport;
    char error[256];             /* transport failure text, "" otherwise */
    struct httpc_field *headers; /* of the final response; strings owned here */
    size_t nheaders;
    char *body; /* NUL-terminated (not counted in body_len); NULL when empty */
    size_t body_len;
};

/* Build the per-worker client. KM_EINTERNAL when curl cannot be set up. */
enum km_status httpc_new(const struct httpc_options *opts, struct httpc **out);
/* The options a worker uses for AWS: timeouts and CA bundle from config. */
void httpc_options_from_config(const struct config *cfg, struct httpc_options *opts);
void httpc_free(struct httpc *h);

/* One attempt. KM_OK when an HTTP response arrived (whatever its status),
 * KM_EPROVIDER when it did not (resp->transport and resp->error say why),
 * KM_EINVAL for a malformed request. `resp` is reset first. */
enum km_status httpc_perform(struct httpc *h, const struct httpc_request *req,
                             struct httpc_response *resp);
void httpc_response_free(struct httpc_response *resp);
/* Value of a response header (case-insensitive name), or NULL. */
const char *httpc_response_header(const struct httpc_response *resp, const char *name);

/* ---- retries ---------------------------------------------------------- */

struct httpc_retry_policy {
    int max_attempts;      /* >= 1 */
    long backoff_unit_ms;  /* length of one backoff "second" */
    const struct rng *rng; /* jitter source */
    const char *label;     /* for log lines, e.g. "kms DescribeKey" */
    bool unsafe;           /* not idempotent (e.g. CreateKey): retry only what surely did
                              not reach the service: throttling answers and connections
                              never made */
};

/* Fill `req` for attempt number `attempt` (1-based). What it points to must
 * stay valid until the next call or the end of httpc_send(); the callback
 * owns it (typically in ctx). */
typedef enum km_status (*httpc_prepare_fn)(void *ctx, int attempt, struct httpc_request *req);
/* The service's error code in an error response ("" or NULL when none); used
 * only to decide whether to retry. */
typedef const char *(*httpc_error_code_fn)(void *ctx, const struct httpc_response *resp, char *buf,
                                           size_t len);

/* Send with retries. Returns KM_OK when a response arrived and is final (the
 * caller interprets its status), KM_EPROVIDER when the last attempt failed at
 * transport level, or the prepare callback's error. *attempts counts the
 * attempts made. */
enum km_status httpc_send(struct httpc *h, const struct httpc_retry_policy *policy,
                          httpc_prepare_fn prepare, httpc_error_code_fn error_code, void *ctx,
                          struct httpc_response *resp, int *attempts);

/* Pure classification. */
bool httpc_is_throttling_code(const char *code);
bool httpc_is_transient_code(const char *code);
bool httpc_is_retryable_status(long status);
bool httpc_is_retryable_transport(enum httpc_transport t);
/* Whether a finished attempt should be retried (ignores the attempt budget). */
bool httpc_should_retry(const struct httpc_response *resp, const char *code);
/* The same for a request that is not safe to repeat. */
bool httpc_should_retry_unsafe(const struct httpc_response *resp, const char *code);
/* Backoff before retry number `retry` (0 for the first retry), in ms:
 * rand(0,1) * min(2^retry, 20) * unit_ms. */
long httpc_backoff_ms(const struct rng *rng, int retry, long unit_ms);
/* Short name of a transport failure ("connection failed", "timed out", ...). */
const char *httpc_transport_name(enum httpc_transport t);

#endif
