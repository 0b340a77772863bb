/*
 * sigv4.c — AWS Signature Version 4, pure; see sigv4.h.
 */
#include "keymgmt/sigv4.h"
#include "keymgmt/capbuf.h"
#include "keymgmt/codec.h"
#include "keymgmt/pool.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define TERMINATOR "aws4_request"

/* Headers the SDKs never sign: intermediaries add or rewrite them. */
static const char *const unsigned_headers[] = {
    "authorization",
    "expect",
    "user-agent",
    "x-amzn-trace-id",
};

/* One header as it enters the canonical form. */
struct canon_header {
    char lname[SIGV4_MAX_NAME + 1];
    const char *value;
    size_t order; /* position in the request, to keep repeated values in order */
};

/* RFC 3986 unreserved characters are never encoded. */
static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* RFC 7230 tchar: what a method or header name may contain. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!is_tchar((unsigned char)*s))
            return false;
    return true;
}

/* Whitespace folded inside header values (CR and LF are refused earlier). */
static bool is_fold_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

/* Printable ASCII without the separators of the credential scope. */
static bool is_scope_part(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f || c == '/' || c == ',' || c == '=')
            return false;
    }
    return true;
}

static void uri_encode(struct capbuf *b, const char *s, size_t n, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            capbuf_putc(b, (char)c);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            capbuf_append(b, esc, sizeof(esc));
        }
    }
}

/* Remove dot segments and empty segments, keeping a leading slash and (when
 * anything is left) a trailing one — the SDKs' reading of RFC 3986 5.2.4. */
static enum km_status normalize_path(const char *path, struct capbuf *out)
{
    enum km_status rc = KM_EINTERNAL;
    size_t len = strlen(path);
    size_t nseg = 0;
    struct {
        const char *p;
        size_t n;
    } *seg = xcalloc(len / 2 + 1, sizeof(*seg));

    for (const char *s = path; *s != '\0';) {
        const char *e = strchr(s, '/');
        size_t n = e != NULL ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (nseg > 0)
                nseg--;
        } else if (n > 0 && !(n == 1 && s[0] == '.')) {
            seg[nseg].p = s;
            seg[nseg].n = n;
            nseg++;
        }
        s += n;
        if (*s == '/')
            s++;
    }
    capbuf_putc(out, '/');
    for (size_t i = 0; i < nseg; i++) {
        if (i > 0)
            capbuf_putc(out, '/');
        capbuf_append(out, seg[i].p, seg[i].n);
    }
    if (nseg > 0 && path[len - 1] == '/')
        capbuf_putc(out, '/');
    rc = out->failed ? KM_EINVAL : KM_OK;
    free(seg);
    return rc;
}

static void put_canonical_path(struct capbuf *b, const struct sigv4_request *req,
                               const struct sigv4_params *p, struct capbuf *scratch)
{
    const char *path = (req->path == NULL || req->path[0] == '\0') ? "/" : req->path;
    if (p->keep_path) {
        capbuf_puts(b, path);
        return;
    }
    if (normalize_path(path, scratch) != KM_OK) {
        b->failed = true;
        return;
    }
    uri_encode(b, scratch->data, scratch->len, true);
}

/* An encoded query parameter, sorted by name then value. */
struct enc_param {
    char *name;
    char *value;
};

static int cmp_param(const void *a, const void *b)
{
    const struct enc_param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->value, y->value);
}

static char *encode_alloc(const char *s)
{
    struct capbuf b;
    capbuf_init(&b, 3 * strlen(s) + 1);
    uri_encode(&b, s, strlen(s), false);
    return capbuf_take(&b, NULL);
}

static enum km_status put_canonical_query(struct capbuf *b, const struct sigv4_request *req)
{
    enum km_status rc = KM_EINTERNAL;
    struct enc_param *enc = NULL;
    size_t n = 0;

    if (req->nparams == 0)
        return KM_OK;
    enc = xcalloc(req->nparams, sizeof(*enc));
    for (; n < req->nparams; n++) {
        const char *value = req->params[n].value != NULL ? req->params[n].value : "";
        if (req->params[n].name == NULL) {
            rc = KM_EINVAL;
            goto out;
        }
        enc[n].name = encode_alloc(req->params[n].name);
        enc[n].value = encode_alloc(value);
        if (enc[n].name == NULL || enc[n].value == NULL) {
            n++;
            goto out;
        }
    }
    qsort(enc, n, sizeof(*enc), cmp_param);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            capbuf_putc(b, '&');
        capbuf_puts(b, enc[i].name);
        capbuf_putc(b, '=');
        capbuf_puts(b, enc[i].value);
    }
    rc = KM_OK;
out:
    for (size_t i = 0; i < n; i++) {
        free(enc[i].name);
        free(enc[i].value);
    }
    free(enc);
    return rc;
}

static int cmp_header(const void *a, const void *b)
{
    const struct canon_header *x = a, *y = b;
    int c = strcmp(x->lname, y->lname);
    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static bool is_unsigned_header(const char *lname)
{
    for (size_t i = 0; i < sizeof(unsigned_headers) / sizeof(unsigned_headers[0]); i++)
        if (strcmp(lname, unsigned_headers[i]) == 0)
            return true;
    return false;
}

/* Trim and fold whitespace runs into one space. */
static void put_header_value(struct capbuf *b, const char *v)
{
    bool pending_space = false;
    while (is_fold_space((unsigned char)*v))
        v++;
    for (; *v != '\0'; v++) {
        if (is_fold_space((unsigned char)*v)) {
            pending_space = true;
            continue;
        }
        if (pending_space)
            capbuf_putc(b, ' ');
        pending_space = false;
        capbuf_putc(b, *v);
    }
}

static bool has_token(const struct sigv4_credentials *cred)
{
    return cred->session_token != NULL && cred->session_token[0] != '\0';
}

/* Collect the headers to sign; *n receives how many. */
static enum km_status collect_headers(const struct sigv4_request *req,
                                      const struct sigv4_credentials *cred,
                                      const struct sigv4_params *p, const char *amz_date,
                                      struct canon_header *h, size_t *n, const char **why)
{
    size_t k = 0;
    bool host = false;
    bool token_ours = has_token(cred) || p->token_mode == SIGV4_TOKEN_UNSIGNED;

    for (size_t i = 0; i < req->nheaders; i++) {
        const char *name = req->headers[i].name;
        const char *value = req->headers[i].value;
        if (!is_token(name) || strlen(name) > SIGV4_MAX_NAME) {
            *why = "invalid header name";
            return KM_EINVAL;
        }
        if (value == NULL || strpbrk(value, "\r\n") != NULL) {
            *why = "invalid header value";
            return KM_EINVAL;
        }
        size_t j = 0;
        for (; name[j] != '\0'; j++)
            h[k].lname[j] = (char)(name[j] >= 'A' && name[j] <= 'Z' ? name[j] + 32 : name[j]);
        h[k].lname[j] = '\0';
        if (is_unsigned_header(h[k].lname) || strcmp(h[k].lname, "x-amz-date") == 0)
            continue;
        if (token_ours && strcmp(h[k].lname, "x-amz-security-token") == 0)
            continue;
        host = host || strcmp(h[k].lname, "host") == 0;
        h[k].value = value;
        h[k].order = i;
        k++;
    }
    if (!host) {
        *why = "missing host header";
        return KM_EINVAL;
    }
    snprintf(h[k].lname, sizeof(h[k].lname), "x-amz-date");
    h[k].value = amz_date;
    h[k].order = req->nheaders;
    k++;
    if (has_token(cred) && p->token_mode == SIGV4_TOKEN_SIGNED) {
        snprintf(h[k].lname, sizeof(h[k].lname), "x-amz-security-token");
        h[k].value = cred->session_token;
        h[k].order = req->nheaders + 1;
        k++;
    }
    qsort(h, k, sizeof(*h), cmp_header);
    *n = k;
    return KM_OK;
}

/* "name:v1,v2\n" lines into `b`, the signed-header list into `sh`. */
static void put_canonical_headers(struct capbuf *b, struct capbuf *sh, const struct canon_header *h,
                                  size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool first = i == 0 || strcmp(h[i].lname, h[i - 1].lname) != 0;
        bool last = i + 1 == n || strcmp(h[i].lname, h[i + 1].lname) != 0;
        if (first) {
            if (sh->len > 0)
                capbuf_putc(sh, ';');
            capbuf_puts(sh, h[i].lname);
            capbuf_puts(b, h[i].lname);
            capbuf_putc(b, ':');
        } else {
            capbuf_putc(b, ',');
        }
        put_header_value(b, h[i].value);
        if (last)
            capbuf_putc(b, '\n');
    }
}

static enum km_status sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const unsigned char empty[1] = {0};
    if (EVP_Digest(data != NULL ? data : empty, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != 32)
        return KM_EINTERNAL;
    codec_hex(md, 32, out);
    return KM_OK;
}

static bool hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                        unsigned char out[SIGV4_KEY_BYTES])
{
    unsigned int outlen = 0;
    return HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &outlen) != NULL &&
           outlen == SIGV4_KEY_BYTES;
}

enum km_status sigv4_signing_key(const char *secret, const char *date8, const char *region,
                                 const char *service, unsigned char key[SIGV4_KEY_BYTES])
{
    enum km_status rc = KM_EINTERNAL;
    char ksecret[4 + SIGV4_MAX_SECRET + 1];
    unsigned char k[SIGV4_KEY_BYTES];
    size_t slen = strlen(secret);

    if (slen > SIGV4_MAX_SECRET) {
        rc = KM_EINVAL;
        goto out;
    }
    memcpy(ksecret, "AWS4", 4);
    memcpy(ksecret + 4, secret, slen);
    if (!hmac_sha256(ksecret, 4 + slen, date8, strlen(date8), k))
        goto out;
    if (!hmac_sha256(k, sizeof(k), region, strlen(region), k))
        goto out;
    if (!hmac_sha256(k, sizeof(k), service, strlen(service), k))
        goto out;
    if (!hmac_sha256(k, sizeof(k), TERMINATOR, strlen(TERMINATOR), key))
        goto out;
    rc = KM_OK;
out:
    OPENSSL_cleanse(ksecret, sizeof(ksecret));
    OPENSSL_cleanse(k, sizeof(k));
    return rc;
}

int sigv4_format_time(int64_t t, char out[17])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t < 0 || t > INT64_C(253402300799) || gmtime_r(&tt, &tm) == NULL) /* 9999-12-31 */
        return -1;
    return strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) == 16 ? 0 : -1;
}

static enum km_status check_input(const struct sigv4_request *req,
                                  const struct sigv4_credentials *cred,
                                  const struct sigv4_params *p, const char **why)
{
    *why = NULL;
    if (!is_token(req->method))
        *why = "invalid method";
    else if (req->path != NULL && req->path[0] != '\0' && req->path[0] != '/')
        *why = "path must start with /";
    else if (req->nheaders > SIGV4_MAX_HEADERS)
        *why = "too many headers";
    else if (req->nparams > SIGV4_MAX_PARAMS)
        *why = "too many query parameters";
    else if (req->body == NULL && req->body_len > 0)
        *why = "missing body";
    else if (!is_scope_part(cred->access_key))
        *why = "invalid access key id";
    else if (cred->secret_key == NULL || cred->secret_key[0] == '\0' ||
             strlen(cred->secret_key) > SIGV4_MAX_SECRET)
        *why = "invalid secret access key";
    else if (has_token(cred) && strpbrk(cred->session_token, "\r\n") != NULL)
        *why = "invalid session token";
    else if (!is_scope_part(p->region))
        *why = "invalid region";
    else if (!is_scope_part(p->service))
        *why = "invalid service";
    return *why == NULL ? KM_OK : KM_EINVAL;
}

void sigv4_signature_free(struct sigv4_signature *s)
{
    if (s->canonical_request != NULL)
        codec_free_secret(s->canonical_request, strlen(s->canonical_request));
    free(s->string_to_sign);
    free(s->signed_headers);
    free(s->authorization);
    s->canonical_request = NULL;
    s->string_to_sign = NULL;
    s->signed_headers = NULL;
    s->authorization = NULL;
}

enum km_status sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *cred,
                          const struct sigv4_params *p, struct sigv4_signature *out)
{
    enum km_status rc = KM_EINTERNAL;
    struct canon_header *h = NULL;
    size_t nh = 0;
    struct capbuf creq, sts, sh, scratch, authz;
    char payload_hash[65], creq_hash[65], date8[9], sig_hex[65];
    unsigned char key[SIGV4_KEY_BYTES], sig[SIGV4_KEY_BYTES];

    memset(out, 0, sizeof(*out));
    capbuf_init(&creq, SIGV4_MAX_CANONICAL);
    capbuf_init(&sts, 1024);
    capbuf_init(&sh, SIGV4_MAX_HEADERS * (SIGV4_MAX_NAME + 1) + 64);
    capbuf_init(&scratch, SIGV4_MAX_CANONICAL);
    capbuf_init(&authz, 4096);

    rc = check_input(req, cred, p, &out->error);
    if (rc != KM_OK)
        goto out;
    if (sigv4_format_time(p->time, out->amz_date) != 0) {
        out->error = "signing time out of range";
        rc = KM_EINVAL;
        goto out;
    }
    memcpy(date8, out->amz_date, 8);
    date8[8] = '\0';

    h = xcalloc(req->nheaders + 2, sizeof(*h));
    rc = collect_headers(req, cred, p, out->amz_date, h, &nh, &out->error);
    if (rc != KM_OK)
        goto out;
    rc = sha256_hex(req->body, req->body_len, payload_hash);
    if (rc != KM_OK)
        goto out;

    for (const char *m = req->method; *m != '\0'; m++)
        capbuf_putc(&creq, (char)(*m >= 'a' && *m <= 'z' ? *m - 32 : *m));
    capbuf_putc(&creq, '\n');
    put_canonical_path(&creq, req, p, &scratch);
    capbuf_putc(&creq, '\n');
    rc = put_canonical_query(&creq, req);
    if (rc != KM_OK) {
        out->error = "invalid query parameter";
        goto out;
    }
    capbuf_putc(&creq, '\n');
    put_canonical_headers(&creq, &sh, h, nh);
    capbuf_putc(&creq, '\n');
    capbuf_append(&creq, sh.data, sh.len);
    capbuf_putc(&creq, '\n');
    capbuf_puts(&creq, payload_hash);
    if (creq.failed || sh.failed) {
        out->error = "request too large to sign";
        rc = KM_EINVAL;
        goto out;
    }

    rc = sha256_hex(creq.data, creq.len, creq_hash);
    if (rc != KM_OK)
        goto out;
    capbuf_printf(&sts, ALGORITHM "\n%s\n%s/%s/%s/" TERMINATOR "\n%s", out->amz_date, date8,
                  p->region, p->service, creq_hash);

    rc = sigv4_signing_key(cred->secret_key, date8, p->region, p->service, key);
    if (rc != KM_OK)
        goto out;
    rc = KM_EINTERNAL;
    if (sts.failed || !hmac_sha256(key, sizeof(key), sts.data, sts.len, sig))
        goto out;
    codec_hex(sig, sizeof(sig), sig_hex);
    capbuf_printf(
        &authz, ALGORITHM " Credential=%s/%s/%s/%s/" TERMINATOR ", SignedHeaders=%s, Signature=%s",
        cred->access_key, date8, p->region, p->service, sh.data, sig_hex);
    if (authz.failed) {
        out->error = "request too large to sign";
        rc = KM_EINVAL;
        goto out;
    }
    out->canonical_request = capbuf_take(&creq, NULL);
    out->string_to_sign = capbuf_take(&sts, NULL);
    out->signed_headers = capbuf_take(&sh, NULL);
    out->authorization = capbuf_take(&authz, NULL);
    if (out->canonical_request == NULL || out->string_to_sign == NULL ||
        out->signed_headers == NULL || out->authorization == NULL)
        goto out;
    rc = KM_OK;
out:
    if (rc != KM_OK)
        sigv4_signature_free(out);
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(sig, sizeof(sig));
    capbuf_free(&creq);
    capbuf_free(&sts);
    capbuf_free(&sh);
    capbuf_free(&scratch);
    capbuf_free(&authz);
    free(h);
    return rc;
}
