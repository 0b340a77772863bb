/*
 * awscreds.h — the AWS credential chain.
 *
 * Sources, in order; the first that yields wins:
 *   1. explicit   the provider's stored access_key / secret_key / session_token
 *   2. environment AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   3. shared credentials file  AWS_SHARED_CREDENTIALS_FILE (default
 *                 $HOME/.aws/credentials), profile AWS_PROFILE (default "default")
 *   4. container  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (against
 *                 http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI
 *                 (https, or http to a loopback/ECS/EKS host only), with an
 *                 Authorization header from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 *                 or AWS_CONTAINER_AUTHORIZATION_TOKEN
 *   5. EC2 instance metadata, IMDSv2 only (token, role name, credentials);
 *                 AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the address,
 *                 AWS_EC2_METADATA_DISABLED=true skips it; short timeouts.
 * A source that is absent is skipped (the reason is remembered). A source
 * that is configured but broken — half a key pair, an unparsable file, a
 * container endpoint that fails — stops the chain with an error, as the AWS
 * SDKs do, so a misconfiguration never silently falls through to other
 * credentials. When nothing yields, the error names every source tried and
 * why it did not yield. Messages never contain secrets.
 *
 * The environment is passed in (a NULL-terminated envp array), so callers
 * and tests control it exactly; empty variables count as unset.
 *
 * Lifetimes: a worker owns one resolver (awscreds_resolver_init after its
 * httpc exists, awscreds_resolver_clear at exit). The resolver caches
 * temporary credentials (container, instance metadata) for the life of the
 * process and fetches new ones `refresh_margin_ms` before they expire; if a
 * refresh fails while the cached ones are still valid, those are used.
 * Resolved credentials are copies owned by the caller (awscreds_clear wipes
 * and frees them).
 */
#ifndef KEYMGMT_AWSCREDS_H
#define KEYMGMT_AWSCREDS_H

#include "keymgmt/clock.h"
#include "keymgmt/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AWSCREDS_REFRESH_MARGIN_MS (5 * 60 * 1000)
#define AWSCREDS_MAX_FILE (1024 * 1024) /* shared credentials file */
#define AWSCREDS_MAX_VALUE 8192         /* one INI value (session tokens are long) */
#define AWSCREDS_MAX_DOC (64 * 1024)    /* a credentials document from an endpoint */
#define AWSCREDS_CONTAINER_HOST "http://169.254.170.2"
#define AWSCREDS_IMDS_ENDPOINT "http://169.254.169.254"
#define AWSCREDS_IMDS_ENDPOINT_V6 "http://[fd00:ec2::254]"
#define AWSCREDS_IMDS_TOKEN_TTL "21600"
#define AWSCREDS_METADATA_CONNECT_MS 1000
#define AWSCREDS_METADATA_TIMEOUT_MS 2000

struct httpc;

enum awscreds_source {
    AWSCREDS_NONE = 0,
    AWSCREDS_EXPLICIT,
    AWSCREDS_ENV,
    AWSCREDS_SHARED_FILE,
    AWSCREDS_CONTAINER,
    AWSCREDS_IMDS,
};

/* Resolved credentials; strings malloc'd, session_token NULL when none. */
struct awscreds {
    char *access_key;
    char *secret_key;
    char *session_token;
    int64_t expiration_ms; /* ms since the epoch; 0 when they do not expire */
    enum awscreds_source source;
};

/* A provider's own credentials (borrowed strings; NULL or "" when unset). */
struct awscreds_explicit {
    const char *access_key;
    const char *secret_key;
    const char *session_token;
};

struct awscreds_cache_entry {
    char *key; /* source and endpoint the credentials came from */
    struct awscreds creds;
};

struct awscreds_resolver {
    struct httpc *http;        /* borrowed, for container and instance metadata */
    const struct clock *clock; /* borrowed */
    int64_t refresh_margin_ms;
    struct awscreds_cache_entry cache[2]; /* container, instance metadata */
};

void awscreds_resolver_init(struct awscreds_resolver *r, struct httpc *http,
                            const struct clock *clock);
/* Forget (and wipe) cached credentials. */
void awscreds_resolver_clear(struct awscreds_resolver *r);

/* Resolve the chain. On success `out` holds a copy the caller owns. On
 * failure KM_EINVAL (nothing found, or a source misconfigured) or
 * KM_EPROVIDER (a credential endpoint failed), with the explanation in err. */
enum km_status awscreds_resolve(struct awscreds_resolver *r, const struct awscreds_explicit *ex,
                                char *const *envp, struct awscreds *out, char *err, size_t errlen);
void awscreds_clear(struct awscreds *c);
const char *awscreds_source_name(enum awscreds_source s);

/* ---- pure parts, exposed for tests ----------------------------------- */

/* A variable of a NULL-terminated environment; NULL when unset or empty. */
const char *awscreds_getenv(char *const *envp, const char *name);

/* INI parsing as the AWS shared files use it: [section] headers, `key = value`
 * or `key: value` (keys lower-cased, both sides trimmed), # and ; comment
 * lines, CRLF and a UTF-8 BOM tolerated; lines indented deeper than the
 * previous option continue it (nested settings) and are skipped, and an
 * option whose value is only such lines is not reported. Calls fn for every
 * option; fn returns nonzero to stop. Returns 0, or -1 with *bad_line set to
 * the first malformed line (1-based). */
typedef int (*awscreds_ini_fn)(void *ctx, const char *section, const char *key, const char *value);
int awscreds_ini_parse(const char *text, size_t len, awscreds_ini_fn fn, void *ctx, int *bad_line);

/* The profile's keys from a shared credentials file's text. *found is false
 * when the profile is absent or has no aws_access_key_id. KM_EINVAL (with
 * why) for a malformed file or half a key pair. */
enum km_status awscreds_ini_profile(const char *text, size_t len, const char *profile,
                                    struct awscreds *out, bool *found, char *why, size_t whylen);

/* A credentials document (container or instance metadata JSON). */
enum km_status awscreds_parse_document(const char *body, size_t len, struct awscreds *out,
                                       char *why, size_t whylen);

/* RFC 3339 time (e.g. 2024-01-01T00:00:00Z, fractions and offsets allowed)
 * to ms since the epoch; -1 when malformed. */
int awscreds_parse_time(const char *s, int64_t *ms);

/* The container credentials URL from the environment. KM_OK with the URL,
 * KM_ENOTFOUND when neither variable is set, KM_EINVAL (with why) when
 * FULL_URI is not https and not a loopback, ECS or EKS host. */
enum km_status awscreds_container_url(char *const *envp, char *url, size_t urllen, char *why,
                                      size_t whylen);

/* The instance metadata endpoint (no trailing slash); false when disabled. */
bool awscreds_imds_endpoint(char *const *envp, char *url, size_t urllen);

#endif
