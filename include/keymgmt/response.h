/*
 * response.h — building a Vault-shaped response.
 *
 * Handlers fill a struct response; the worker renders it once at the end:
 *   data set        → 200 with the full Vault envelope around it
 *   raw set         → raw_code with that JSON body (e.g. sys/health)
 *   error status    → {"errors":[...]} with the status's HTTP code
 *   nothing         → 204, empty body
 * The response owns every json_t in it; response_release() drops them.
 * The status → HTTP code mapping lives here and nowhere else.
 */
#ifndef KEYMGMT_RESPONSE_H
#define KEYMGMT_RESPONSE_H

#include "keymgmt/status.h"

#include <jansson.h>
#include <stddef.h>

struct response {
    enum km_status status;
    json_t *data; /* envelope "data" */
    json_t *raw;  /* unenveloped body */
    int raw_code;
    json_t *warnings; /* array of strings or NULL */
    json_t *errors;   /* array of strings or NULL */
};

int response_http_code(enum km_status st);
const char *response_reason(int code);

/* Set an error with a formatted message; returns st for `return response_error(...)`. */
enum km_status response_error(struct response *r, enum km_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 404 with an empty error list: what Vault answers for absent reads and empty lists. */
enum km_status response_not_found(struct response *r);
/* Take ownership of data (an object). */
enum km_status response_data(struct response *r, json_t *data);
void response_warn(struct response *r, const char *msg);
/* A list answer: 200 {"keys": [...]}, or 404 {"errors":[]} when empty. Steals keys. */
enum km_status response_keys(struct response *r, json_t *keys);

/*
 * Render: *code is the HTTP status; returns the body (malloc'd) or NULL for an
 * empty body. The envelope carries request_id and mount_type.
 */
char *response_render(struct response *r, const char *request_id, const char *mount_type,
                      int *code);
void response_release(struct response *r);

#endif
