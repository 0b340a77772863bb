/*
 * credsdrive — resolve the AWS credential chain from tests (test code).
 *
 *   credsdrive [--times N] [--advance-ms MS] [--margin-ms MS]
 *              [--access-key AK --secret-key SK [--session-token T]]
 *
 * Resolves the chain N times (default 1) in one process, with one resolver
 * (so its cache is exercised), from the process environment. Between two
 * resolutions the resolver's clock jumps ahead by MS. Prints one JSON line
 * per resolution:
 *   {"ok": true, "source": "...", "access_key": "...",
 *    "secret_key_sha256": "...", "session_token_sha256": "..." | null,
 *    "expiration_ms": N}
 *   {"ok": false, "status": "EINVAL" | "EPROVIDER", "error": "..."}
 * Secrets are printed only as SHA-256 digests.
 */
#include "keymgmt/awscreds.h"
#include "keymgmt/config.h"
#include "keymgmt/httpc.h"
#include "keymgmt/log.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

struct offset_clock {
    int64_t offset;
};

static int64_t offset_now(void *ctx)
{
    return clock_now_ms(&clock_system) + ((struct offset_clock *)ctx)->offset;
}

static json_t *digest(const char *s)
{
    unsigned char md[32];
    unsigned int n = 0;
    char hex[65];
    if (s == NULL)
        return json_null();
    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return json_string(hex);
}

int main(int argc, char **argv)
{
    long times = 1, advance = 0, margin = -1;
    struct awscreds_explicit ex = {NULL, NULL, NULL};
    struct offset_clock oc = {0};
    struct clock clk = {offset_now, &oc};
    struct httpc *http = NULL;
    struct awscreds_resolver r;
    struct config cfg;
    char err[2048];
    int failed = 0;

    log_init("credsdrive", 2);
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *v = argv[i + 1];
        if (strcmp(argv[i], "--times") == 0)
            times = atol(v);
        else if (strcmp(argv[i], "--advance-ms") == 0)
            advance = atol(v);
        else if (strcmp(argv[i], "--margin-ms") == 0)
            margin = atol(v);
        else if (strcmp(argv[i], "--access-key") == 0)
            ex.access_key = v;
        else if (strcmp(argv[i], "--secret-key") == 0)
            ex.secret_key = v;
        else if (strcmp(argv[i], "--session-token") == 0)
            ex.session_token = v;
        else {
            fprintf(stderr, "credsdrive: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (config_load(&cfg, NULL, environ, err, sizeof(err)) != 0) {
        fprintf(stderr, "credsdrive: %s\n", err);
        return 2;
    }
    struct httpc_options opts;
    httpc_options_from_config(&cfg, &opts);
    if (httpc_new(&opts, &http) != KM_OK)
        return 2;
    awscreds_resolver_init(&r, http, &clk);
    if (margin >= 0)
        r.refresh_margin_ms = margin;
    for (long t = 0; t < times; t++) {
        struct awscreds c;
        json_t *line = NULL;
        enum km_status rc = awscreds_resolve(&r, &ex, environ, &c, err, sizeof(err));
        if (rc == KM_OK)
            line = json_pack("{s:b, s:s, s:s, s:o, s:o, s:I}", "ok", 1, "source",
                             awscreds_source_name(c.source), "access_key", c.access_key,
                             "secret_key_sha256", digest(c.secret_key), "session_token_sha256",
                             digest(c.session_token), "expiration_ms", (json_int_t)c.expiration_ms);
        else
            line = json_pack("{s:b, s:s, s:s}", "ok", 0, "status",
                             rc == KM_EPROVIDER ? "EPROVIDER" : "EINVAL", "error", err);
        failed |= rc != KM_OK;
        char *text = json_dumps(line, JSON_COMPACT);
        printf("%s\n", text);
        fflush(stdout);
        free(text);
        json_decref(line);
        awscreds_clear(&c);
        oc.offset += advance;
    }
    awscreds_resolver_clear(&r);
    httpc_free(http);
    config_free(&cfg);
    return failed ? 1 : 0;
}
