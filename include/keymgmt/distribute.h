/*
 * distribute.h — keys distributed into AWS KMS providers:
 * /v1/<mount>/kms/:name/key[/:key_name], and propagation of key changes.
 *
 * Each version of a distributed key becomes one AWS KMS key (CreateKey with
 * Origin EXTERNAL, then GetParametersForImport, the RSAES_OAEP_SHA_256 wrap and
 * ImportKeyMaterial), tagged with the keymgmt key, version and distribution.
 * An alias alias/<prefix><key>-<unix time> points at the newest version's key;
 * versions below min_enabled_version are disabled in AWS.
 *
 * Every AWS step is recorded in PostgreSQL (table aws_keys) before the next
 * begins, and work on one (provider, key) pair is serialised by a session
 * advisory lock (no transaction stays open across network calls), so a crash,
 * timeout or AWS error anywhere leaves a state that the same request, retried,
 * completes — without a duplicate AWS key for a version or an AWS key keymgmt
 * does not know about. A CreateKey whose answer was lost is found again by
 * its nonce tag.
 */
#ifndef KEYMGMT_DISTRIBUTE_H
#define KEYMGMT_DISTRIBUTE_H

#include "keymgmt/request.h"
#include "keymgmt/response.h"

#include <stdbool.h>
#include <stddef.h>

/* One AWS key keymgmt made: a row of aws_keys. Strings are pool memory. */
struct aws_key_row {
    long long id;
    const char *aws_key_id; /* NULL until CreateKey answered */
    const char *key;
    long version;
    const char *nonce; /* also the keymgmt:nonce tag on the AWS key */
    bool attempted;    /* a CreateKey was (maybe) sent */
    bool imported;
    int enabled; /* last EnableKey/DisableKey applied: -1 unknown, 0, 1 */
    bool deletion_scheduled;
};

/* Every aws_keys row of a provider, past distributions included, by key and version. */
enum km_status distribute_provider_rows(struct request *req, const char *provider,
                                        struct aws_key_row **rows, size_t *n);

enum km_status distribute_write(struct request *req, struct response *resp);
enum km_status distribute_read(struct request *req, struct response *resp);
enum km_status distribute_list(struct request *req, struct response *resp);
enum km_status distribute_delete(struct request *req, struct response *resp);

/* Bring every provider holding `key_name` in line with the key (after a rotation
 * or a min_enabled_version change). KM_EPROVIDER with a message naming the
 * provider when one fails; the others are still brought in line. */
enum km_status distribute_sync_key(struct request *req, struct response *resp,
                                   const char *key_name);

/* Lock one (provider, key) pair, bring it in line with its key, unlock. A pair that
 * does not exist (any more) is fine. Also used by reconciliation after a repair. */
enum km_status distribute_sync_pair(struct request *req, struct response *resp,
                                    const char *provider, const char *key);

/* Name of the advisory lock that serialises work on one pair (pool memory). */
char *distribute_lock_name(struct pool *p, const char *provider, const char *key);

/* Names of the tags keymgmt puts on AWS keys. */
#define DISTRIBUTE_TAG_KEY "keymgmt:key"
#define DISTRIBUTE_TAG_VERSION "keymgmt:version"
#define DISTRIBUTE_TAG_DISTRIBUTION "keymgmt:distribution"
#define DISTRIBUTE_TAG_NONCE "keymgmt:nonce"

#endif
