/*
 * auth.h — tokens.
 *
 * Tokens are random strings ("kmt." + 64 hex chars) shown once, at creation.
 * The database keeps only a keyed hash of each (HMAC-SHA256 under the token
 * key, a random 32-byte secret stored sealed in the `secrets` table), so a
 * database dump does not yield usable tokens. Each token has a list of
 * policies; the built-in policy "root" grants every capability.
 *
 * struct auth_state caches the unsealed token key for a worker's lifetime.
 */
#ifndef KEYMGMT_AUTH_H
#define KEYMGMT_AUTH_H

#include "keymgmt/status.h"

#include <stdbool.h>
#include <stddef.h>

#define AUTH_TOKEN_LEN (4 + 64)

enum capability { CAP_NONE, CAP_READ, CAP_LIST, CAP_UPDATE, CAP_DELETE, CAP_SUDO };

struct auth_state;
struct km_ctx;
struct request;
struct rng;

struct auth_state *auth_state_new(void);
void auth_state_free(struct auth_state *st);

/* Create the token key if it does not exist yet (keymgmtctl init). */
enum km_status auth_init_key(struct km_ctx *ctx);

/* Look up req->token and check it grants `cap`. KM_EPERM when not. Sets req->accessor. */
enum km_status auth_check(struct request *req, enum capability cap);

/* Whether a comma-separated policy list grants a capability (pure). */
bool auth_policies_allow(const char *policies, enum capability cap);

/*
 * Create a token. `token` receives it (AUTH_TOKEN_LEN + 1 bytes), `accessor`
 * its public id (37 bytes). ttl_seconds 0 = no expiry.
 */
enum km_status auth_token_create(struct km_ctx *ctx, const char *policies, const char *display,
                                 long long ttl_seconds, char *token, char *accessor);
enum km_status auth_token_revoke(struct km_ctx *ctx, const char *accessor, bool *found);

#endif
