/*
 * awscreds.c — the AWS credential chain; see awscreds.h.
 */
#include "keymgmt/awscreds.h"
#include "keymgmt/capbuf.h"
#include "keymgmt/codec.h"
#include "keymgmt/httpc.h"
#include "keymgmt/log.h"
#include "keymgmt/pool.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stddef.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CACHE_CONTAINER 0
#define CACHE_IMDS 1
#define MAX_TOKEN_FILE 16384
#define MAX_ROLE 256

static const char *const source_names[] = {
    [AWSCREDS_NONE] = "none",
    [AWSCREDS_EXPLICIT] = "provider credentials",
    [AWSCREDS_ENV] = "environment",
    [AWSCREDS_SHARED_FILE] = "shared credentials file",
    [AWSCREDS_CONTAINER] = "container credentials",
    [AWSCREDS_IMDS] = "ec2 instance metadata",
};

/* Hosts FULL_URI may name over plain http: ECS, EKS Pod Identity, loopback
 * (any 127.0.0.0/8 address is checked separately). */
static const char *const container_http_hosts[] = {
    "localhost", "[::1]", "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]",
};

const char *awscreds_source_name(enum awscreds_source s)
{
    if ((size_t)s >= sizeof(source_names) / sizeof(source_names[0]))
        return "unknown";
    return source_names[s];
}

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? xstrdup(s) : NULL;
}

static void free_secret_str(char *s)
{
    if (s != NULL)
        codec_free_secret(s, strlen(s));
}

void awscreds_clear(struct awscreds *c)
{
    free(c->access_key);
    free_secret_str(c->secret_key);
    free_secret_str(c->session_token);
    memset(c, 0, sizeof(*c));
}

static void copy_creds(struct awscreds *dst, const struct awscreds *src)
{
    dst->access_key = dup_or_null(src->access_key);
    dst->secret_key = dup_or_null(src->secret_key);
    dst->session_token = dup_or_null(src->session_token);
    dst->expiration_ms = src->expiration_ms;
    dst->source = src->source;
}

const char *awscreds_getenv(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return envp[i][n + 1] != '\0' ? envp[i] + n + 1 : NULL;
    return NULL;
}

/* ---- INI -------------------------------------------------------------- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Trim [*s, *e). */
static void trim_span(const char **s, const char **e)
{
    while (*s < *e && is_blank(**s))
        (*s)++;
    while (*e > *s && is_blank((*e)[-1]))
        (*e)--;
}

static bool copy_span(char *dst, size_t cap, const char *s, const char *e)
{
    size_t n = (size_t)(e - s);
    if (n >= cap || memchr(s, '\0', n) != NULL)
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

struct ini_state {
    char section[256];
    bool in_section;
    bool have_opt;
    size_t opt_indent;
    bool pending; /* an option with an empty value, emitted unless nested lines follow */
    char key[128];
    char value[AWSCREDS_MAX_VALUE + 1];
};

static int flush_pending(struct ini_state *st, awscreds_ini_fn fn, void *ctx)
{
    if (!st->pending)
        return 0;
    st->pending = false;
    return fn(ctx, st->section, st->key, "");
}

/* One line; 1 to stop, -1 malformed, 0 to go on. */
static int ini_line(struct ini_state *st, const char *s, const char *e, awscreds_ini_fn fn,
                    void *ctx)
{
    const char *ls = s;
    size_t indent = 0;
    while (ls < e && is_blank(*ls)) {
        ls++;
        indent++;
    }
    const char *te = e;
    trim_span(&ls, &te);
    if (ls == te || *ls == '#' || *ls == ';')
        return 0;
    if (indent > 0 && st->have_opt && indent > st->opt_indent) {
        st->pending = false; /* nested settings: the option is not a plain value */
        return 0;
    }
    if (flush_pending(st, fn, ctx) != 0)
        return 1;
    if (*ls == '[') {
        const char *close = te - 1;
        if (*close != ']' || close == ls + 1 ||
            !copy_span(st->section, sizeof(st->section), ls + 1, close))
            return -1;
        st->in_section = true;
        st->have_opt = false;
        return 0;
    }
    if (!st->in_section)
        return -1;
    const char *d = ls;
    while (d < te && *d != '=' && *d != ':')
        d++;
    if (d == te)
        return -1;
    const char *ks = ls, *ke = d, *vs = d + 1, *ve = te;
    trim_span(&ks, &ke);
    trim_span(&vs, &ve);
    if (ks == ke || !copy_span(st->key, sizeof(st->key), ks, ke) ||
        !copy_span(st->value, sizeof(st->value), vs, ve))
        return -1;
    for (char *k = st->key; *k != '\0'; k++)
        *k = (char)tolower((unsigned char)*k);
    st->have_opt = true;
    st->opt_indent = indent;
    if (st->value[0] == '\0') {
        st->pending = true;
        return 0;
    }
    return fn(ctx, st->section, st->key, st->value) != 0 ? 1 : 0;
}

int awscreds_ini_parse(const char *text, size_t len, awscreds_ini_fn fn, void *ctx, int *bad_line)
{
    int rc = -1;
    struct ini_state *st = xcalloc(1, sizeof(*st));
    const char *p = text, *end = text + len;
    int line = 0;

    *bad_line = 0;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl != NULL ? nl : end;
        line++;
        int r = ini_line(st, p, e, fn, ctx);
        if (r < 0) {
            *bad_line = line;
            goto out;
        }
        if (r > 0) {
            rc = 0;
            goto out;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    flush_pending(st, fn, ctx);
    rc = 0;
out:
    OPENSSL_cleanse(st, sizeof(*st));
    free(st);
    return rc;
}

struct profile_ctx {
    const char *profile;
    bool seen;
    struct awscreds *out;
};

static void set_secret(char **slot, const char *value)
{
    free_secret_str(*slot);
    *slot = dup_or_null(value);
}

/* The keys of a shared credentials profile and where they go. */
static const struct {
    const char *key;
    size_t offset;
    bool legacy; /* used only when the current name is absent */
} profile_keys[] = {
    {"aws_access_key_id", offsetof(struct awscreds, access_key), false},
    {"aws_secret_access_key", offsetof(struct awscreds, secret_key), false},
    {"aws_session_token", offsetof(struct awscreds, session_token), false},
    {"aws_security_token", offsetof(struct awscreds, session_token), true},
};

static int on_profile_option(void *ctx, const char *section, const char *key, const char *value)
{
    struct profile_ctx *pc = ctx;
    if (strcmp(section, pc->profile) != 0)
        return 0;
    pc->seen = true;
    for (size_t i = 0; i < sizeof(profile_keys) / sizeof(profile_keys[0]); i++) {
        char **slot = (char **)((char *)pc->out + profile_keys[i].offset);
        if (strcmp(key, profile_keys[i].key) != 0 || (profile_keys[i].legacy && *slot != NULL))
            continue;
        set_secret(slot, value);
        break;
    }
    return 0;
}

enum km_status awscreds_ini_profile(const char *text, size_t len, const char *profile,
                                    struct awscreds *out, bool *found, char *why, size_t whylen)
{
    struct profile_ctx pc = {profile, false, out};
    int bad = 0;

    memset(out, 0, sizeof(*out));
    *found = false;
    if (awscreds_ini_parse(text, len, on_profile_option, &pc, &bad) != 0) {
        snprintf(why, whylen, "malformed at line %d", bad);
        awscreds_clear(out);
        return KM_EINVAL;
    }
    if (!pc.seen) {
        snprintf(why, whylen, "no profile \"%.64s\"", profile);
        awscreds_clear(out);
        return KM_OK;
    }
    if (out->access_key == NULL && out->secret_key == NULL) {
        snprintf(why, whylen, "profile \"%.64s\" has no aws_access_key_id", profile);
        awscreds_clear(out);
        return KM_OK;
    }
    if (out->access_key == NULL || out->secret_key == NULL) {
        snprintf(why, whylen, "profile \"%.64s\" sets %s without %s", profile,
                 out->access_key != NULL ? "aws_access_key_id" : "aws_secret_access_key",
                 out->access_key != NULL ? "aws_secret_access_key" : "aws_access_key_id");
        awscreds_clear(out);
        return KM_EINVAL;
    }
    out->source = AWSCREDS_SHARED_FILE;
    *found = true;
    return KM_OK;
}

/* ---- documents and times ---------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

int awscreds_parse_time(const char *s, int64_t *ms)
{
    struct tm tm;
    int64_t frac_ms = 0, offset_s = 0;

    /* YYYY-MM-DDTHH:MM:SS */
    if (strlen(s) < 20 || !all_digits(s, 4) || s[4] != '-' || !all_digits(s + 5, 2) ||
        s[7] != '-' || !all_digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') ||
        !all_digits(s + 11, 2) || s[13] != ':' || !all_digits(s + 14, 2) || s[16] != ':' ||
        !all_digits(s + 17, 2))
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = num(s, 4) - 1900;
    tm.tm_mon = num(s + 5, 2) - 1;
    tm.tm_mday = num(s + 8, 2);
    tm.tm_hour = num(s + 11, 2);
    tm.tm_min = num(s + 14, 2);
    tm.tm_sec = num(s + 17, 2);
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        offset_s = 0;
    } else if ((*p == '+' || *p == '-') && all_digits(p + 1, 2) && p[3] == ':' &&
               all_digits(p + 4, 2) && p[6] == '\0') {
        offset_s = (int64_t)num(p + 1, 2) * 3600 + num(p + 4, 2) * 60;
        if (*p == '-')
            offset_s = -offset_s;
    } else {
        return -1;
    }
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *ms = ((int64_t)t - offset_s) * 1000 + frac_ms;
    return 0;
}

enum km_status awscreds_parse_document(const char *body, size_t len, struct awscreds *out,
                                       char *why, size_t whylen)
{
    enum km_status rc = KM_EINVAL;
    json_error_t jerr;
    json_t *doc = NULL;

    memset(out, 0, sizeof(*out));
    if (body == NULL || len == 0 || len > AWSCREDS_MAX_DOC) {
        snprintf(why, whylen, "empty or oversized credentials document");
        goto out;
    }
    doc = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(doc)) {
        snprintf(why, whylen, "credentials document is not a JSON object");
        goto out;
    }
    const char *code = json_string_value(json_object_get(doc, "Code"));
    if (code != NULL && strcmp(code, "Success") != 0) {
        snprintf(why, whylen, "credentials document has status %.64s", code);
        goto out;
    }
    const char *ak = json_string_value(json_object_get(doc, "AccessKeyId"));
    const char *sk = json_string_value(json_object_get(doc, "SecretAccessKey"));
    const char *tok = json_string_value(json_object_get(doc, "Token"));
    json_t *exp = json_object_get(doc, "Expiration");
    if (ak == NULL || ak[0] == '\0' || sk == NULL || sk[0] == '\0') {
        snprintf(why, whylen, "credentials document lacks AccessKeyId or SecretAccessKey");
        goto out;
    }
    if (exp != NULL && (!json_is_string(exp) ||
                        awscreds_parse_time(json_string_value(exp), &out->expiration_ms) != 0)) {
        snprintf(why, whylen, "credentials document has an invalid Expiration");
        goto out;
    }
    out->access_key = xstrdup(ak);
    out->secret_key = xstrdup(sk);
    out->session_token = dup_or_null(tok);
    rc = KM_OK;
out:
    json_decref(doc); /* jansson does not wipe; the response buffer is wiped by the caller */
    if (rc != KM_OK)
        awscreds_clear(out);
    return rc;
}

/* ---- endpoints -------------------------------------------------------- */

static bool is_loopback_v4(const char *host)
{
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

static bool full_uri_allowed(const char *uri)
{
    bool ok = false;
    char *scheme = NULL, *host = NULL;
    CURLU *u = curl_url();

    if (u == NULL || curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (strcasecmp(scheme, "https") == 0) {
        ok = true;
        goto out;
    }
    if (strcasecmp(scheme, "http") != 0)
        goto out;
    ok = is_loopback_v4(host);
    for (size_t i = 0; !ok && i < sizeof(container_http_hosts) / sizeof(container_http_hosts[0]);
         i++)
        ok = strcasecmp(host, container_http_hosts[i]) == 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

enum km_status awscreds_container_url(char *const *envp, char *url, size_t urllen, char *why,
                                      size_t whylen)
{
    const char *rel = awscreds_getenv(envp, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = awscreds_getenv(envp, "AWS_CONTAINER_CREDENTIALS_FULL_URI");

    if (rel != NULL) {
        if (rel[0] != '/' || strpbrk(rel, " \t\r\n") != NULL ||
            snprintf(url, urllen, "%s%s", AWSCREDS_CONTAINER_HOST, rel) >= (int)urllen) {
            snprintf(why, whylen, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is not a valid path");
            return KM_EINVAL;
        }
        return KM_OK;
    }
    if (full != NULL) {
        if (!full_uri_allowed(full) || strpbrk(full, " \t\r\n") != NULL ||
            snprintf(url, urllen, "%s", full) >= (int)urllen) {
            snprintf(why, whylen,
                     "AWS_CONTAINER_CREDENTIALS_FULL_URI must be an https URL or an "
                     "http URL of a loopback, ECS or EKS host");
            return KM_EINVAL;
        }
        return KM_OK;
    }
    snprintf(why, whylen,
             "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
             "AWS_CONTAINER_CREDENTIALS_FULL_URI not set");
    return KM_ENOTFOUND;
}

bool awscreds_imds_endpoint(char *const *envp, char *url, size_t urllen)
{
    const char *disabled = awscreds_getenv(envp, "AWS_EC2_METADATA_DISABLED");
    const char *ep = awscreds_getenv(envp, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *mode = awscreds_getenv(envp, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");

    if (disabled != NULL && strcasecmp(disabled, "true") == 0)
        return false;
    if (ep == NULL)
        ep = mode != NULL && strcasecmp(mode, "IPv6") == 0 ? AWSCREDS_IMDS_ENDPOINT_V6
                                                           : AWSCREDS_IMDS_ENDPOINT;
    size_t n = strlen(ep);
    while (n > 0 && ep[n - 1] == '/')
        n--;
    if (n + 1 > urllen)
        return false;
    memcpy(url, ep, n);
    url[n] = '\0';
    return true;
}

/* ---- I/O helpers ------------------------------------------------------ */

/* Read a whole small file. Returns 0, or the errno (EFBIG when too large). */
static int read_file(const char *path, size_t max, char **out, size_t *len)
{
    struct capbuf b;
    char chunk[4096];
    int err = 0;
    FILE *f = fopen(path, "rb");

    *out = NULL;
    *len = 0;
    if (f == NULL)
        return errno;
    capbuf_init(&b, max);
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        capbuf_append(&b, chunk, n);
        if (n < sizeof(chunk)) {
            if (ferror(f))
                err = EIO;
            break;
        }
    }
    OPENSSL_cleanse(chunk, sizeof(chunk));
    fclose(f);
    if (b.failed && err == 0)
        err = EFBIG;
    if (err != 0) {
        capbuf_free(&b);
        return err;
    }
    *out = capbuf_take(&b, len);
    return *out != NULL ? 0 : ENOMEM;
}

static void add_reason(struct capbuf *reasons, enum awscreds_source s, const char *why)
{
    if (reasons->len > 0)
        capbuf_puts(reasons, "; ");
    capbuf_printf(reasons, "%s: %s", awscreds_source_name(s), why);
}

/* Outcome of one source. */
enum step { STEP_FOUND, STEP_SKIP, STEP_FAIL };

struct chain {
    struct awscreds_resolver *r;
    const struct awscreds_explicit *ex;
    char *const *envp;
    struct awscreds *out;
    struct capbuf reasons;
    enum km_status fail_status;
    char why[512];
};

static enum step from_explicit(struct chain *c)
{
    const struct awscreds_explicit *ex = c->ex;
    bool ak = ex != NULL && ex->access_key != NULL && ex->access_key[0] != '\0';
    bool sk = ex != NULL && ex->secret_key != NULL && ex->secret_key[0] != '\0';
    if (!ak && !sk) {
        snprintf(c->why, sizeof(c->why), "not set");
        return STEP_SKIP;
    }
    if (!ak || !sk) {
        snprintf(c->why, sizeof(c->why), "%s is set but %s is not",
                 ak ? "access_key" : "secret_key", ak ? "secret_key" : "access_key");
        c->fail_status = KM_EINVAL;
        return STEP_FAIL;
    }
    c->out->access_key = xstrdup(ex->access_key);
    c->out->secret_key = xstrdup(ex->secret_key);
    c->out->session_token = dup_or_null(ex->session_token);
    return STEP_FOUND;
}

static enum step from_env(struct chain *c)
{
    const char *ak = awscreds_getenv(c->envp, "AWS_ACCESS_KEY_ID");
    const char *sk = awscreds_getenv(c->envp, "AWS_SECRET_ACCESS_KEY");
    if (ak == NULL && sk == NULL) {
        snprintf(c->why, sizeof(c->why), "AWS_ACCESS_KEY_ID not set");
        return STEP_SKIP;
    }
    if (ak == NULL || sk == NULL) {
        snprintf(c->why, sizeof(c->why), "%s is set but %s is not",
                 ak != NULL ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                 ak != NULL ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        c->fail_status = KM_EINVAL;
        return STEP_FAIL;
    }
    c->out->access_key = xstrdup(ak);
    c->out->secret_key = xstrdup(sk);
    c->out->session_token = dup_or_null(awscreds_getenv(c->envp, "AWS_SESSION_TOKEN"));
    return STEP_FOUND;
}

static enum step from_shared_file(struct chain *c)
{
    enum step st = STEP_FAIL;
    const char *file = awscreds_getenv(c->envp, "AWS_SHARED_CREDENTIALS_FILE");
    const char *home = awscreds_getenv(c->envp, "HOME");
    const char *profile = awscreds_getenv(c->envp, "AWS_PROFILE");
    char path[4096], why[256];
    char *text = NULL;
    size_t len = 0;
    bool found = false;

    if (profile == NULL)
        profile = "default";
    if (file == NULL && home == NULL) {
        snprintf(c->why, sizeof(c->why), "HOME and AWS_SHARED_CREDENTIALS_FILE not set");
        return STEP_SKIP;
    }
    int n = file == NULL ? snprintf(path, sizeof(path), "%s/.aws/credentials", home)
            : (strncmp(file, "~/", 2) == 0 && home != NULL)
                ? snprintf(path, sizeof(path), "%s%s", home, file + 1)
                : snprintf(path, sizeof(path), "%s", file);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        snprintf(c->why, sizeof(c->why), "path too long");
        c->fail_status = KM_EINVAL;
        return STEP_FAIL;
    }
    int err = read_file(path, AWSCREDS_MAX_FILE, &text, &len);
    if (err == ENOENT || err == ENOTDIR) {
        snprintf(c->why, sizeof(c->why), "%.300s not found", path);
        return STEP_SKIP;
    }
    if (err != 0) {
        snprintf(c->why, sizeof(c->why), "cannot read %.300s: %s", path,
                 err == EFBIG ? "file too large" : strerror(err));
        c->fail_status = KM_EINVAL;
        goto out;
    }
    if (awscreds_ini_profile(text, len, profile, c->out, &found, why, sizeof(why)) != KM_OK) {
        snprintf(c->why, sizeof(c->why), "%.300s: %.200s", path, why);
        c->fail_status = KM_EINVAL;
        goto out;
    }
    if (!found) {
        snprintf(c->why, sizeof(c->why), "%.300s: %.200s", path, why);
        st = STEP_SKIP;
        goto out;
    }
    st = STEP_FOUND;
out:
    if (text != NULL)
        codec_free_secret(text, len);
    return st;
}

/* Cached credentials under `key` that are usable at `now` (fresh: not due
 * for refresh; otherwise merely unexpired). */
static struct awscreds_cache_entry *cache_get(struct awscreds_resolver *r, int slot,
                                              const char *key)
{
    struct awscreds_cache_entry *e = &r->cache[slot];
    return e->key != NULL && strcmp(e->key, key) == 0 ? e : NULL;
}

static void cache_put(struct awscreds_resolver *r, int slot, const char *key,
                      const struct awscreds *creds)
{
    struct awscreds_cache_entry *e = &r->cache[slot];
    free(e->key);
    awscreds_clear(&e->creds);
    e->key = NULL;
    if (creds->expiration_ms == 0)
        return; /* nothing says how long they last: fetch again next time */
    e->key = xstrdup(key);
    copy_creds(&e->creds, creds);
}

static int64_t now_ms(const struct awscreds_resolver *r)
{
    return clock_now_ms(r->clock);
}

/* GET/PUT against a metadata endpoint; KM_OK with a 200 response. */
static enum km_status metadata_call(struct awscreds_resolver *r, const char *method,
                                    const char *url, const struct httpc_field *headers,
                                    size_t nheaders, int attempts, struct httpc_response *resp,
                                    char *why, size_t whylen)
{
    enum km_status rc = KM_EPROVIDER;
    struct httpc_request req = {method,
                                url,
                                headers,
                                nheaders,
                                NULL,
                                0,
                                AWSCREDS_METADATA_CONNECT_MS,
                                AWSCREDS_METADATA_TIMEOUT_MS,
                                true,
                                false};
    for (int i = 0; i < attempts; i++) {
        httpc_response_free(resp);
        rc = httpc_perform(r->http, &req, resp);
        if (rc == KM_OK && resp->status == 200)
            return KM_OK;
        if (rc == KM_OK) {
            snprintf(why, whylen, "http status %ld", resp->status);
            rc = KM_EPROVIDER;
            if (resp->status < 500)
                break;
        } else if (rc == KM_EPROVIDER) {
            snprintf(why, whylen, "%s: %.200s", httpc_transport_name(resp->transport), resp->error);
            if (!httpc_is_retryable_transport(resp->transport))
                break;
        } else {
            snprintf(why, whylen, "invalid request");
            break;
        }
    }
    return rc;
}

static bool has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

/* Container authorization token: the file wins over the variable. */
static enum km_status container_token(struct chain *c, char **token)
{
    const char *file = awscreds_getenv(c->envp, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *var = awscreds_getenv(c->envp, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    size_t len = 0;

    *token = NULL;
    if (file != NULL) {
        int err = read_file(file, MAX_TOKEN_FILE, token, &len);
        if (err != 0) {
            snprintf(c->why, sizeof(c->why),
                     "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE "
                     "%.300s: %s",
                     file, err == EFBIG ? "file too large" : strerror(err));
            return KM_EINVAL;
        }
        while (len > 0 &&
               ((*token)[len - 1] == '\n' || (*token)[len - 1] == '\r' || (*token)[len - 1] == ' '))
            (*token)[--len] = '\0';
    } else if (var != NULL) {
        *token = xstrdup(var);
    }
    if (*token != NULL && (has_crlf(*token) || (*token)[0] == '\0')) {
        snprintf(c->why, sizeof(c->why), "the container authorization token is malformed");
        free_secret_str(*token);
        *token = NULL;
        return KM_EINVAL;
    }
    return KM_OK;
}

/* Use the cache if fresh; returns true when `out` was filled from it. */
static bool use_cache(struct chain *c, int slot, const char *key, bool stale_ok)
{
    struct awscreds_cache_entry *e = cache_get(c->r, slot, key);
    int64_t now = now_ms(c->r);
    if (e == NULL)
        return false;
    int64_t limit =
        stale_ok ? e->creds.expiration_ms : e->creds.expiration_ms - c->r->refresh_margin_ms;
    if (now >= limit)
        return false;
    copy_creds(c->out, &e->creds);
    return true;
}

static enum step from_container(struct chain *c)
{
    enum step st = STEP_FAIL;
    char url[2048], key[2100], why[256];
    char *token = NULL;
    struct httpc_response resp = {0};
    struct httpc_field auth[1];

    enum km_status rc = awscreds_container_url(c->envp, url, sizeof(url), c->why, sizeof(c->why));
    if (rc == KM_ENOTFOUND)
        return STEP_SKIP;
    if (rc != KM_OK) {
        c->fail_status = KM_EINVAL;
        return STEP_FAIL;
    }
    snprintf(key, sizeof(key), "container %s", url);
    if (use_cache(c, CACHE_CONTAINER, key, false))
        return STEP_FOUND;
    if (container_token(c, &token) != KM_OK) {
        c->fail_status = KM_EINVAL;
        goto out;
    }
    auth[0] = (struct httpc_field){"Authorization", token};
    rc = metadata_call(c->r, "GET", url, auth, token != NULL ? 1 : 0, 2, &resp, why, sizeof(why));
    if (rc == KM_OK)
        rc = awscreds_parse_document(resp.body, resp.body_len, c->out, why, sizeof(why));
    if (rc != KM_OK) {
        if (use_cache(c, CACHE_CONTAINER, key, true)) {
            log_msg(LOG_WARN, "aws credentials refresh failed",
                    "container credentials: %s; using cached credentials until they expire", why);
            st = STEP_FOUND;
            goto out;
        }
        snprintf(c->why, sizeof(c->why), "%s", why);
        c->fail_status = KM_EPROVIDER;
        goto out;
    }
    c->out->source = AWSCREDS_CONTAINER;
    cache_put(c->r, CACHE_CONTAINER, key, c->out);
    st = STEP_FOUND;
out:
    free_secret_str(token);
    httpc_response_free(&resp);
    return st;
}

/* IMDSv2: session token, role name, credentials. */
static enum km_status imds_fetch(struct chain *c, const char *base, char *why, size_t whylen)
{
    enum km_status rc = KM_EPROVIDER;
    struct httpc_response resp = {0};
    char url[2048 + MAX_ROLE], role[MAX_ROLE + 1];
    char *token = NULL;

    struct httpc_field ttl[] = {{"X-aws-ec2-metadata-token-ttl-seconds", AWSCREDS_IMDS_TOKEN_TTL}};
    snprintf(url, sizeof(url), "%s/latest/api/token", base);
    rc = metadata_call(c->r, "PUT", url, ttl, 1, 1, &resp, why, whylen);
    if (rc != KM_OK)
        goto out;
    if (resp.body == NULL || has_crlf(resp.body) || resp.body_len > 4096) {
        snprintf(why, whylen, "invalid session token response");
        rc = KM_EPROVIDER;
        goto out;
    }
    token = xstrdup(resp.body);
    struct httpc_field auth[] = {{"X-aws-ec2-metadata-token", token}};

    snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/", base);
    rc = metadata_call(c->r, "GET", url, auth, 1, 1, &resp, why, whylen);
    if (rc != KM_OK) {
        if (resp.status == 404)
            snprintf(why, whylen, "no instance role attached");
        goto out;
    }
    size_t n = resp.body != NULL ? strcspn(resp.body, "\r\n") : 0;
    if (n == 0 || n > MAX_ROLE) {
        snprintf(why, whylen, "no instance role attached");
        rc = KM_EPROVIDER;
        goto out;
    }
    memcpy(role, resp.body, n);
    role[n] = '\0';
    if (strpbrk(role, "/?#% ") != NULL) {
        snprintf(why, whylen, "invalid instance role name");
        rc = KM_EPROVIDER;
        goto out;
    }
    if (snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/%s", base, role) >=
        (int)sizeof(url)) {
        snprintf(why, whylen, "instance metadata endpoint too long");
        rc = KM_EPROVIDER;
        goto out;
    }
    rc = metadata_call(c->r, "GET", url, auth, 1, 1, &resp, why, whylen);
    if (rc != KM_OK)
        goto out;
    rc = awscreds_parse_document(resp.body, resp.body_len, c->out, why, whylen);
out:
    free_secret_str(token);
    httpc_response_free(&resp);
    return rc;
}

static enum step from_imds(struct chain *c)
{
    char base[2048], key[2100], why[256];

    if (!awscreds_imds_endpoint(c->envp, base, sizeof(base))) {
        snprintf(c->why, sizeof(c->why), "disabled by AWS_EC2_METADATA_DISABLED");
        return STEP_SKIP;
    }
    snprintf(key, sizeof(key), "imds %s", base);
    if (use_cache(c, CACHE_IMDS, key, false))
        return STEP_FOUND;
    if (imds_fetch(c, base, why, sizeof(why)) != KM_OK) {
        if (use_cache(c, CACHE_IMDS, key, true)) {
            log_msg(LOG_WARN, "aws credentials refresh failed",
                    "ec2 instance metadata: %s; using cached credentials until they expire", why);
            return STEP_FOUND;
        }
        /* the last source, and often simply absent: a reason, not a failure */
        snprintf(c->why, sizeof(c->why), "%.200s (%.200s)", why, base);
        return STEP_SKIP;
    }
    c->out->source = AWSCREDS_IMDS;
    cache_put(c->r, CACHE_IMDS, key, c->out);
    return STEP_FOUND;
}

static const struct {
    enum awscreds_source source;
    enum step (*resolve)(struct chain *c);
} chain_steps[] = {
    {AWSCREDS_EXPLICIT, from_explicit},
    {AWSCREDS_ENV, from_env},
    {AWSCREDS_SHARED_FILE, from_shared_file},
    {AWSCREDS_CONTAINER, from_container},
    {AWSCREDS_IMDS, from_imds},
};

void awscreds_resolver_init(struct awscreds_resolver *r, struct httpc *http,
                            const struct clock *clock)
{
    memset(r, 0, sizeof(*r));
    r->http = http;
    r->clock = clock;
    r->refresh_margin_ms = AWSCREDS_REFRESH_MARGIN_MS;
}

void awscreds_resolver_clear(struct awscreds_resolver *r)
{
    for (size_t i = 0; i < sizeof(r->cache) / sizeof(r->cache[0]); i++) {
        free(r->cache[i].key);
        r->cache[i].key = NULL;
        awscreds_clear(&r->cache[i].creds);
    }
}

enum km_status awscreds_resolve(struct awscreds_resolver *r, const struct awscreds_explicit *ex,
                                char *const *envp, struct awscreds *out, char *err, size_t errlen)
{
    enum km_status rc = KM_EINVAL;
    struct chain c;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    c.r = r;
    c.ex = ex;
    c.envp = envp;
    c.out = out;
    capbuf_init(&c.reasons, 4096);
    for (size_t i = 0; i < sizeof(chain_steps) / sizeof(chain_steps[0]); i++) {
        c.why[0] = '\0';
        enum step st = chain_steps[i].resolve(&c);
        if (st == STEP_FOUND) {
            if (out->source == AWSCREDS_NONE)
                out->source = chain_steps[i].source;
            rc = KM_OK;
            goto out;
        }
        if (st == STEP_FAIL) {
            awscreds_clear(out);
            snprintf(err, errlen, "aws credentials: %s: %s",
                     awscreds_source_name(chain_steps[i].source), c.why);
            rc = c.fail_status != KM_OK ? c.fail_status : KM_EINVAL;
            goto out;
        }
        add_reason(&c.reasons, chain_steps[i].source, c.why);
    }
    snprintf(err, errlen, "no aws credentials found: %s",
             c.reasons.data != NULL ? c.reasons.data : "");
    rc = KM_EINVAL;
out:
    capbuf_free(&c.reasons);
    return rc;
}
