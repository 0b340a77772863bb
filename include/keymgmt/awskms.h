/*
 * awskms.h — AWS KMS client (JSON 1.1 over HTTPS, SigV4 service "kms").
 *
 * Every operation is `POST /` with `X-Amz-Target: TrentService.<Op>` and
 * `Content-Type: application/x-amz-json-1.1`, signed per attempt (fresh
 * X-Amz-Date), with `X-Amz-Security-Token` (signed) when the credentials
 * carry a session token, and retried as described in httpc.h.
 *
 * Lifetimes and ownership
 *   struct awskms_client   one per worker, created after fork, freed at exit.
 *                          Owns the curl handle (httpc) and the credential
 *                          cache; borrows the config, environment, rng and
 *                          clock, which must outlive it. Not thread-safe.
 *   struct awskms_target   per call, borrowed: the provider's region and its
 *                          stored credentials (access_key, secret_key,
 *                          session_token, endpoint), NULL when unset.
 *                          Credentials are resolved at call time through the
 *                          chain of awscreds.h; the endpoint from the
 *                          provider, else AWS_KMS_ENDPOINT, else the
 *                          region's public endpoint.
 *   struct awskms_call     per request: client + target + a pool. Results of
 *                          the operations (strings, arrays, blobs) are
 *                          allocated from the pool and live until
 *                          pool_free(); the one exception is decrypted
 *                          plaintext, malloc'd and released with
 *                          codec_free_secret(). After a failure, call->err
 *                          says what happened.
 *
 * Errors: KM_EPROVIDER when AWS answered with an error or could not be
 * reached — err.message is "aws kms: <Code>: <message>" or
 * "aws kms: <transport failure>: <detail>"; KM_EINVAL when credentials
 * cannot be resolved (err.message explains the whole chain) or the region or
 * endpoint is unusable. Messages never contain secrets: AWS messages are cut
 * at the first line break (AWS appends canonical requests to signature
 * errors) and any credential value in them is redacted.
 */
#ifndef KEYMGMT_AWSKMS_H
#define KEYMGMT_AWSKMS_H

#include "keymgmt/awscreds.h"
#include "keymgmt/clock.h"
#include "keymgmt/rng.h"
#include "keymgmt/status.h"

#include <stdbool.h>
#include <stddef.h>

#define AWSKMS_SERVICE "kms"
#define AWSKMS_TARGET_PREFIX "TrentService."
#define AWSKMS_CONTENT_TYPE "application/x-amz-json-1.1"
#define AWSKMS_MAX_PAGES 1000       /* pagination guard */
#define AWSKMS_ALIAS_PAGE_LIMIT 100 /* ListAliases Limit (AWS maximum) */
#define AWSKMS_TAG_PAGE_LIMIT 50    /* ListResourceTags Limit (AWS maximum) */
#define AWSKMS_KEY_PAGE_LIMIT 1000  /* ListKeys Limit (AWS maximum) */
#define AWSKMS_MAX_URL 2048
#define AWSKMS_WRAPPING_SPEC "RSA_4096"

struct config;
struct pool;
struct awskms_client;

struct awskms_target {
    const char *region; /* the provider's key_collection, e.g. "eu-west-1" */
    const char *access_key;
    const char *secret_key;
    const char *session_token;
    const char *endpoint; /* e.g. "https://kms-fips.us-east-1.amazonaws.com" */
};

struct awskms_error {
    char code[128];       /* AWS error code ("NotFoundException"); "" when none */
    char message[1024];   /* the full text for operators and API responses */
    long http_status;     /* last HTTP status; 0 when there was no response */
    char request_id[128]; /* x-amzn-RequestId of the last response */
    int attempts;         /* HTTP attempts of the last operation (also on success) */
};

struct awskms_call {
    struct awskms_client *client;
    const struct awskms_target *target;
    struct pool *pool;
    struct awskms_error err;
};

struct awskms_tag {
    const char *key;
    const char *value;
};

struct awskms_key_metadata {
    const char *key_id;
    const char *arn;
    const char *key_state; /* PendingImport, Enabled, Disabled, PendingDeletion, ... */
    const char *origin;    /* AWS_KMS, EXTERNAL */
    const char *key_usage;
    const char *key_spec;
    const char *description;
    const char *expiration_model; /* NULL until material is imported */
    bool enabled;
    double creation_date; /* epoch seconds; 0 when absent */
    double deletion_date;
    double valid_to;
    long pending_deletion_window_days;
};

struct awskms_create_key_input {
    const char *description; /* NULL for none */
    const char *origin;      /* NULL for AWS_KMS; "EXTERNAL" for imported material */
    const char *key_spec;    /* NULL for SYMMETRIC_DEFAULT */
    const char *key_usage;   /* NULL for ENCRYPT_DECRYPT */
    const struct awskms_tag *tags;
    size_t ntags;
};

struct awskms_import_params {
    const char *key_id;        /* ARN, as AWS returns it */
    const char *import_token;  /* base64, passed back to ImportKeyMaterial */
    unsigned char *public_key; /* DER SubjectPublicKeyInfo */
    size_t public_key_len;
    const char *public_key_b64;
    double parameters_valid_to;
};

struct awskms_alias {
    const char *name;
    const char *arn;
    const char *target_key_id; /* NULL for AWS managed aliases without a key */
    double creation_date;
    double last_updated_date;
};

struct awskms_alias_list {
    struct awskms_alias *items;
    size_t n;
    int pages;
};

struct awskms_tag_list {
    struct awskms_tag *items;
    size_t n;
    int pages;
};

struct awskms_key_entry {
    const char *key_id;
    const char *arn;
};

struct awskms_key_list {
    struct awskms_key_entry *items;
    size_t n;
    int pages;
};

struct awskms_deletion {
    const char *key_id;
    const char *key_state;
    double deletion_date;
    long pending_window_days;
};

struct awskms_encrypt_result {
    unsigned char *ciphertext;
    size_t ciphertext_len;
    const char *key_id;
    const char *algorithm;
};

struct awskms_decrypt_result {
    unsigned char *plaintext; /* malloc'd: release with codec_free_secret(plaintext, len) */
    size_t plaintext_len;
    const char *key_id;
};

/* ---- client ----------------------------------------------------------- */

enum km_status awskms_client_new(const struct config *cfg, char *const *envp, const struct rng *rng,
                                 const struct clock *clock, struct awskms_client **out);
/* After a configuration reload: timeouts, attempts, backoff and
 * allow_http_endpoints take effect at once (a new aws_ca_bundle needs a new
 * client). */
void awskms_client_set_config(struct awskms_client *c, const struct config *cfg);
void awskms_client_free(struct awskms_client *c);
/* Ask for at most `limit` items per page of ListAliases/ListResourceTags
 * (0: the AWS maximum, the default). Listings always follow every page. */
void awskms_client_set_page_limit(struct awskms_client *c, int limit);
/* The client's credential resolver (tests, diagnostics). */
struct awscreds_resolver *awskms_client_creds(struct awskms_client *c);

void awskms_call_init(struct awskms_call *call, struct awskms_client *client,
                      const struct awskms_target *target, struct pool *pool);

/* ---- operations ------------------------------------------------------- */

/* CreateKey is not idempotent: it goes out on a fresh connection and is retried
 * only after throttling or a connection that was never made, so one call makes
 * at most one key. A lost answer is the caller's to recover (distribute.c finds
 * the key again by a nonce tag). */
enum km_status awskms_create_key(struct awskms_call *call, const struct awskms_create_key_input *in,
                                 struct awskms_key_metadata *out);
enum km_status awskms_describe_key(struct awskms_call *call, const char *key_id,
                                   struct awskms_key_metadata *out);
enum km_status awskms_enable_key(struct awskms_call *call, const char *key_id);
enum km_status awskms_disable_key(struct awskms_call *call, const char *key_id);
/* pending_window_days 0 lets AWS apply its default (30). */
enum km_status awskms_schedule_key_deletion(struct awskms_call *call, const char *key_id,
                                            int pending_window_days, struct awskms_deletion *out);
enum km_status awskms_cancel_key_deletion(struct awskms_call *call, const char *key_id);

enum km_status awskms_get_parameters_for_import(struct awskms_call *call, const char *key_id,
                                                const char *wrapping_algorithm,
                                                const char *wrapping_key_spec,
                                                struct awskms_import_params *out);
/* ExpirationModel KEY_MATERIAL_DOES_NOT_EXPIRE. */
enum km_status awskms_import_key_material(struct awskms_call *call, const char *key_id,
                                          const char *import_token, const unsigned char *wrapped,
                                          size_t wrapped_len);
/* The whole import of raw material: GetParametersForImport
 * (RSAES_OAEP_SHA_256, RSA_4096), wrap, ImportKeyMaterial. */
enum km_status awskms_import_material(struct awskms_call *call, const char *key_id,
                                      const unsigned char *material, size_t material_len);

enum km_status awskms_create_alias(struct awskms_call *call, const char *alias_name,
                                   const char *target_key_id);
enum km_status awskms_update_alias(struct awskms_call *call, const char *alias_name,
                                   const char *target_key_id);
enum km_status awskms_delete_alias(struct awskms_call *call, const char *alias_name);
/* Every alias (all pages), or those of key_id when not NULL. */
enum km_status awskms_list_aliases(struct awskms_call *call, const char *key_id,
                                   struct awskms_alias_list *out);

/* Every key of the account and region (all pages). */
enum km_status awskms_list_keys(struct awskms_call *call, struct awskms_key_list *out);

enum km_status awskms_tag_resource(struct awskms_call *call, const char *key_id,
                                   const struct awskms_tag *tags, size_t ntags);
/* Every tag (all pages). */
enum km_status awskms_list_resource_tags(struct awskms_call *call, const char *key_id,
                                         struct awskms_tag_list *out);

/* The encryption context is optional (NULL, 0). */
enum km_status awskms_encrypt(struct awskms_call *call, const char *key_id,
                              const unsigned char *plaintext, size_t len,
                              const struct awskms_tag *context, size_t ncontext,
                              struct awskms_encrypt_result *out);
/* key_id may be NULL (AWS finds the key from the blob). */
enum km_status awskms_decrypt(struct awskms_call *call, const char *key_id,
                              const unsigned char *ciphertext, size_t len,
                              const struct awskms_tag *context, size_t ncontext,
                              struct awskms_decrypt_result *out);

/* ---- pure parts, exposed for tests ----------------------------------- */

/* The KMS endpoint URL of a region: the override when given (http only when
 * allow_http), else https://kms.<region>.amazonaws.com (.com.cn for cn-*).
 * KM_EINVAL with a message when the region or override is unusable. */
enum km_status awskms_resolve_endpoint(const char *region, const char *override, bool allow_http,
                                       char *url, size_t urllen, char *err, size_t errlen);

/* Code and message of an error response: the code from `__type` (after the
 * last '#', before any ':'), else the x-amzn-ErrorType header value given in
 * `type_header`; the message from `message` or `Message`, cut at the first
 * line break. Empty strings when absent. */
void awskms_parse_error(const char *body, size_t len, const char *type_header, char *code,
                        size_t codelen, char *message, size_t msglen);

/* Replace every occurrence of each non-empty secret in msg with "[redacted]"
 * (in place, truncating to msglen). */
void awskms_redact(char *msg, size_t msglen, const char *const *secrets, size_t nsecrets);

#endif
