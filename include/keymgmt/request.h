/*
 * request.h — the request object handlers receive.
 *
 * A request is built from the FastCGI parameters by request_init() and lives
 * in its own pool: every string in it is pool memory, freed with the pool when
 * the request ends. The parsing here is pure (method, target, query, token
 * headers); the worker does the I/O.
 */
#ifndef KEYMGMT_REQUEST_H
#define KEYMGMT_REQUEST_H

#include "keymgmt/status.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define REQUEST_MAX_SEGMENTS 16
#define REQUEST_MAX_PARAMS 4

enum op { OP_READ, OP_LIST, OP_WRITE, OP_DELETE };

struct pool;
struct km_ctx;

struct request {
    struct pool *pool;
    struct km_ctx *ctx;
    char id[37];        /* request id (uuid) */
    const char *method; /* as received */
    enum op op;
    const char *path;                 /* raw path, for logs */
    char *segs[REQUEST_MAX_SEGMENTS]; /* decoded segments after /v1/ */
    size_t nseg;
    const char *token;    /* client token or NULL */
    const char *body_raw; /* body bytes (NUL-terminated) or NULL */
    size_t body_len;
    bool body_too_large;
    json_t *body;                           /* parsed body object or NULL (owned) */
    const char *params[REQUEST_MAX_PARAMS]; /* route captures, in pattern order */
    size_t nparams;
    const char *accessor; /* accessor of the authenticated token */
};

/*
 * Parse method and request target ("/v1/a/b?list=true") into req.
 * Returns KM_OK, or an error status with a message in err:
 * KM_EMETHOD for an unknown method, KM_EINVAL for bad encoding or a bad list
 * value, KM_ENOTFOUND for a path outside /v1/ or with too many segments.
 */
enum km_status request_parse_target(struct request *req, const char *method, const char *uri,
                                    char *err, size_t errlen);

/* Token from "X-Vault-Token: t" or "Authorization: Bearer t" (either may be NULL). */
const char *request_token(const char *x_vault_token, const char *authorization);

/* Parse req->body_raw into req->body. Empty body = no parameters. */
enum km_status request_parse_body(struct request *req, char *err, size_t errlen);

/* Format a random (v4) uuid from 16 bytes. */
void request_format_uuid(const unsigned char raw[16], char out[37]);

/* Release what the request owns outside its pool (the parsed body). */
void request_release(struct request *req);

#endif
