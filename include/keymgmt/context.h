/*
 * context.h — what a worker owns and lends to every request it serves.
 *
 * One struct km_ctx per worker process, created after fork and living until
 * the worker exits. Requests borrow it (req->ctx); nothing in it is
 * request-specific, so nothing leaks from one request to the next.
 */
#ifndef KEYMGMT_CONTEXT_H
#define KEYMGMT_CONTEXT_H

struct config;
struct db;
struct seal_keyring;
struct rng;
struct clock;
struct auth_state;
struct awskms_client;

struct km_ctx {
    const struct config *cfg;
    struct db *db;                   /* the worker's PostgreSQL connection */
    const struct seal_keyring *ring; /* seal keys */
    const struct rng *rng;
    const struct clock *clock;
    struct auth_state *auth;   /* cached token hashing key */
    struct awskms_client *kms; /* the worker's AWS KMS client */
};

#endif
