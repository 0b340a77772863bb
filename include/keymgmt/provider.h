/*
 * provider.h — KMS providers: /v1/<mount>/kms[/:name].
 *
 * A provider is a name, a provider type (only "awskms"), a key collection (the
 * AWS region, immutable after creation) and optional credentials
 * (access_key, secret_key, session_token, endpoint). Credentials are stored
 * only sealed, with "provider:<name>" as associated data, and never returned.
 * Immutability is enforced by the database in the same statement as the write.
 */
#ifndef KEYMGMT_PROVIDER_H
#define KEYMGMT_PROVIDER_H

#include "keymgmt/request.h"
#include "keymgmt/response.h"

enum km_status provider_write(struct request *req, struct response *resp);
enum km_status provider_read(struct request *req, struct response *resp);
enum km_status provider_list(struct request *req, struct response *resp);
enum km_status provider_delete(struct request *req, struct response *resp);

/* A provider as the AWS code needs it. Strings are pool memory; the secret
 * ones are wiped by provider_info_wipe(). */
struct provider_info {
    const char *name;
    const char *region;
    char *access_key, *secret_key, *session_token, *endpoint; /* NULL when not set */
};

/* Load a provider with its unsealed credentials. KM_ENOTFOUND when absent. */
enum km_status provider_load(struct request *req, const char *name, struct provider_info *out);
void provider_info_wipe(struct provider_info *p);

/* Associated data for a provider's sealed credentials ("provider:<name>"). */
char *provider_seal_ad(struct pool *p, const char *name);

/* Validate a credentials object (pure). 0, or -1 with a message. */
int provider_check_credentials(json_t *creds, bool allow_http, char *err, size_t errlen);

#endif
