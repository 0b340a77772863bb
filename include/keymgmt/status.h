/*
 * status.h — the status codes every keymgmt function returns.
 *
 * Functions that can fail return an `enum km_status` (KM_OK on success). The
 * mapping from status to HTTP code lives in one place: response_http_code()
 * in response.c. Messages travel separately (see response.h).
 */
#ifndef KEYMGMT_STATUS_H
#define KEYMGMT_STATUS_H

enum km_status {
    KM_OK = 0,
    KM_EINVAL,    /* invalid input: 400 */
    KM_EPERM,     /* permission denied: 403 */
    KM_ENOTFOUND, /* not found: 404 */
    KM_EMETHOD,   /* unsupported operation: 405 */
    KM_ETOOBIG,   /* request body too large: 413 */
    KM_ERATE,     /* rate limited: 429 */
    KM_EINTERNAL, /* internal error: 500 */
    KM_EPROVIDER, /* the KMS provider failed: 502 */
    KM_ESTORAGE,  /* storage unavailable: 503 */
};

#endif
