/*
 * sigv4.h — AWS Signature Version 4 (header-based), pure.
 *
 * No I/O, no clock, no globals: the signing time is an input, so results are
 * exact and reproducible (the AWS SigV4 test suite and a differential test
 * against botocore run against this module).
 *
 * What is signed, following the AWS specification:
 *   - the method (upper-cased);
 *   - the path: unless `keep_path` is set (S3), dot segments are removed and
 *     runs of slashes collapsed (RFC 3986 5.2.4, as the AWS SDKs do it), then
 *     every byte outside the RFC 3986 unreserved set and '/' is
 *     percent-encoded. The path is given as it goes on the wire (already
 *     percent-encoded), so it ends up encoded twice, as AWS requires for every
 *     service except S3;
 *   - the query parameters: given decoded, each name and value is
 *     RFC 3986-encoded, then sorted by name, then by value;
 *   - the headers: names lower-cased and sorted; values trimmed with runs of
 *     whitespace folded to one space; repeated headers joined with commas in
 *     the order given. Headers that proxies rewrite (Authorization,
 *     User-Agent, Expect, X-Amzn-Trace-Id) are never signed, as in the SDKs.
 *     X-Amz-Date is always the signing time (a given one is replaced), and
 *     X-Amz-Security-Token is the credentials' session token when they have
 *     one (a given one is replaced);
 *   - the SHA-256 of the body.
 *
 * The caller sends the request with its own headers plus
 * `X-Amz-Date: <amz_date>`, `X-Amz-Security-Token: <session token>` when the
 * credentials have one, and `Authorization: <authorization>`.
 */
#ifndef KEYMGMT_SIGV4_H
#define KEYMGMT_SIGV4_H

#include "keymgmt/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGV4_MAX_HEADERS 64             /* headers given, before joining */
#define SIGV4_MAX_PARAMS 256             /* query parameters */
#define SIGV4_MAX_NAME 128               /* bytes of a header name */
#define SIGV4_MAX_SECRET 256             /* bytes of a secret access key */
#define SIGV4_MAX_CANONICAL (256 * 1024) /* bytes of the canonical request */
#define SIGV4_KEY_BYTES 32

struct sigv4_header {
    const char *name;
    const char *value;
};

struct sigv4_param {
    const char *name;  /* decoded */
    const char *value; /* decoded; "" for `?name` and `?name=` */
};

struct sigv4_request {
    const char *method;
    const char *path; /* wire form, starts with '/'; NULL or "" means "/" */
    const struct sigv4_param *params;
    size_t nparams;
    const struct sigv4_header *headers; /* must include Host */
    size_t nheaders;
    const void *body; /* may be NULL when body_len is 0 */
    size_t body_len;
};

struct sigv4_credentials {
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL or "" when the credentials have none */
};

enum sigv4_token_mode {
    SIGV4_TOKEN_SIGNED = 0, /* X-Amz-Security-Token is a signed header (SDKs, KMS) */
    SIGV4_TOKEN_UNSIGNED,   /* the token header is added after signing */
};

struct sigv4_params {
    const char *region;
    const char *service;
    int64_t time;   /* signing time, seconds since the Unix epoch */
    bool keep_path; /* S3 only: sign the path without normalising it */
    enum sigv4_token_mode token_mode;
};

/* The result. Strings are malloc'd and owned by the struct until
 * sigv4_signature_free(); the canonical request includes the session token, so
 * it is wiped on free and must not be logged. */
struct sigv4_signature {
    char amz_date[17]; /* X-Amz-Date value, YYYYMMDDTHHMMSSZ */
    char *canonical_request;
    char *string_to_sign;
    char *signed_headers;
    char *authorization; /* Authorization header value */
    const char *error;   /* static text saying what was wrong when sign fails */
};

/* Sign. KM_EINVAL for malformed input (out->error says what, never echoing
 * values), KM_EINTERNAL when OpenSSL fails. On failure `out` holds nothing to
 * free, but sigv4_signature_free() is safe to call either way. */
enum km_status sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *cred,
                          const struct sigv4_params *p, struct sigv4_signature *out);
void sigv4_signature_free(struct sigv4_signature *s);

/* The derived signing key HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date8), region),
 * service), "aws4_request"). */
enum km_status sigv4_signing_key(const char *secret, const char *date8, const char *region,
                                 const char *service, unsigned char key[SIGV4_KEY_BYTES]);

/* X-Amz-Date form of a time; -1 when out of the four-digit-year range. */
int sigv4_format_time(int64_t t, char out[17]);

#endif
