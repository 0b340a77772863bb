/*
 * test_sigv4.c — the signer against the AWS SigV4 test suite, plus edge cases.
 *
 * The suite lives in $KEYMGMT_TESTDATA/sigv4/ (see README.txt there): every
 * <case>/<case>.req is parsed here (test code), signed, and the canonical
 * request, string to sign and Authorization compared byte for byte with the
 * .creq, .sts and .authz files.
 */
#include "unit.h"

#include "keymgmt/sigv4.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>

#define SUITE_CASES 31
#define SUITE_TIME INT64_C(1440938160) /* 2015-08-30T12:36:00Z */

static const struct sigv4_credentials suite_cred = {
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};

/* ---- helpers ---------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
        if (cap - n < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* In-place percent-decoding of a query component. */
static void pct_decode(char *s)
{
    char *o = s;
    for (; *s != '\0'; s++) {
        if (s[0] == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* A parsed .req file; every string points into `text`. */
struct parsed_req {
    char *text;
    char *method;
    char *path;
    struct sigv4_param params[32];
    size_t nparams;
    struct sigv4_header headers[32];
    size_t nheaders;
    char *body;
    size_t body_len;
};

/* Parse the suite's raw request: request line, headers (a line starting with
 * whitespace continues the previous header and is read as one more value of
 * it, which is how the suite's get-header-value-multiline case is meant),
 * blank line, body. */
static int parse_req(const char *path, struct parsed_req *r)
{
    size_t len = 0;
    memset(r, 0, sizeof(*r));
    r->text = slurp(path, &len);
    if (r->text == NULL)
        return -1;
    char *body = strstr(r->text, "\n\n");
    if (body != NULL) {
        *body = '\0';
        r->body = body + 2;
        r->body_len = len - (size_t)(r->body - r->text);
    }
    char *save = NULL;
    char *line = strtok_r(r->text, "\n", &save);
    if (line == NULL)
        return -1;
    /* METHOD SP target SP HTTP/1.1 — the target may hold spaces */
    char *sp1 = strchr(line, ' ');
    char *sp2 = strrchr(line, ' ');
    if (sp1 == NULL || sp2 == sp1)
        return -1;
    *sp1 = '\0';
    *sp2 = '\0';
    r->method = line;
    r->path = sp1 + 1;
    char *q = strchr(r->path, '?');
    if (q != NULL) {
        *q++ = '\0';
        char *qs = NULL;
        for (char *pair = strtok_r(q, "&", &qs); pair != NULL; pair = strtok_r(NULL, "&", &qs)) {
            char *eq = strchr(pair, '=');
            if (eq != NULL)
                *eq++ = '\0';
            pct_decode(pair);
            if (eq != NULL)
                pct_decode(eq);
            r->params[r->nparams].name = pair;
            r->params[r->nparams].value = eq != NULL ? eq : "";
            r->nparams++;
        }
    }
    const char *last_name = NULL;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        if ((line[0] == ' ' || line[0] == '\t') && last_name != NULL) {
            r->headers[r->nheaders].name = last_name;
            r->headers[r->nheaders].value = line;
            r->nheaders++;
            continue;
        }
        char *colon = strchr(line, ':');
        if (colon == NULL || r->nheaders >= 32)
            return -1;
        *colon = '\0';
        r->headers[r->nheaders].name = line;
        r->headers[r->nheaders].value = colon + 1;
        last_name = line;
        r->nheaders++;
    }
    return 0;
}

/* ---- the suite -------------------------------------------------------- */

static char *case_paths[128];
static size_t ncases;

static int collect(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    size_t n = strlen(path);
    if (type == FTW_F && n > 4 && strcmp(path + n - 4, ".req") == 0 && ncases < 128)
        case_paths[ncases++] = strndup(path, n - 4);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The session token the post-sts-token cases use: the last line of their readme. */
static char *suite_token(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/post-sts-token/readme.txt", dir) >= (int)sizeof(path))
        return NULL;
    char *text = slurp(path, NULL);
    if (text == NULL)
        return NULL;
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    char *last = strrchr(text, '\n');
    char *tok = strdup(last != NULL ? last + 1 : text);
    free(text);
    return tok;
}

static int compare_file(const char *base, const char *ext, const char *got)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s%s", base, ext) >= (int)sizeof(path))
        return 1;
    char *want = slurp(path, NULL);
    int ok = want != NULL && got != NULL && strcmp(want, got) == 0;
    if (!ok)
        printf("  MISMATCH %s%s\n--- want\n%s\n--- got\n%s\n", base, ext, want ? want : "(none)",
               got ? got : "(null)");
    free(want);
    return ok ? 0 : 1;
}

static int run_case(const char *base, const char *token)
{
    struct parsed_req r;
    struct sigv4_signature sig = {0};
    char path[4096];
    int fails = 0;
    bool sts_case = strstr(base, "post-sts-token") != NULL;
    bool after = strstr(base, "post-sts-header-after") != NULL;
    struct sigv4_credentials cred = suite_cred;
    struct sigv4_params p = {"us-east-1", "service", SUITE_TIME, false, SIGV4_TOKEN_SIGNED};

    if (sts_case) {
        cred.session_token = token;
        p.token_mode = after ? SIGV4_TOKEN_UNSIGNED : SIGV4_TOKEN_SIGNED;
    }
    if (snprintf(path, sizeof(path), "%s.req", base) >= (int)sizeof(path) ||
        parse_req(path, &r) != 0) {
        printf("  cannot parse %s\n", path);
        free(r.text);
        return 1;
    }
    struct sigv4_request req = {r.method,  r.path,     r.params, r.nparams,
                                r.headers, r.nheaders, r.body,   r.body_len};
    enum km_status rc = sigv4_sign(&req, &cred, &p, &sig);
    if (rc != KM_OK) {
        printf("  %s: sign failed: %s\n", base, sig.error ? sig.error : "?");
        fails++;
    } else {
        fails += compare_file(base, ".creq", sig.canonical_request);
        fails += compare_file(base, ".sts", sig.string_to_sign);
        fails += compare_file(base, ".authz", sig.authorization);
    }
    sigv4_signature_free(&sig);
    free(r.text);
    return fails;
}

static void test_suite(void **state)
{
    (void)state;
    const char *td = getenv("KEYMGMT_TESTDATA");
    char dir[4096];
    struct stat st;

    if (td == NULL || td[0] == '\0') {
        printf("sigv4 suite skipped: KEYMGMT_TESTDATA is not set\n");
        skip();
    }
    if (snprintf(dir, sizeof(dir), "%s/sigv4", td) >= (int)sizeof(dir))
        fail_msg("KEYMGMT_TESTDATA is too long");
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("sigv4 suite skipped: %s is absent\n", dir);
        skip();
    }
    ncases = 0;
    assert_int_equal(nftw(dir, collect, 16, FTW_PHYS), 0);
    qsort(case_paths, ncases, sizeof(case_paths[0]), cmp_str);
    char *token = suite_token(dir);
    assert_non_null(token);

    size_t passed = 0;
    for (size_t i = 0; i < ncases; i++) {
        if (run_case(case_paths[i], token) == 0)
            passed++;
        else
            printf("  FAILED %s\n", case_paths[i]);
        free(case_paths[i]);
    }
    free(token);
    printf("sigv4 suite: %zu/%zu cases passed\n", passed, ncases);
    assert_true(ncases >= SUITE_CASES);
    assert_int_equal(passed, ncases);
}

/* ---- edge cases ------------------------------------------------------- */

static const struct sigv4_params kms_params = {"us-east-1", "kms", SUITE_TIME, false,
                                               SIGV4_TOKEN_SIGNED};

static enum km_status sign_path(const char *path, struct sigv4_signature *sig, bool keep)
{
    struct sigv4_header h[] = {{"Host", "example.amazonaws.com"}};
    struct sigv4_request req = {"GET", path, NULL, 0, h, 1, NULL, 0};
    struct sigv4_params p = kms_params;
    p.keep_path = keep;
    return sigv4_sign(&req, &suite_cred, &p, sig);
}

/* The canonical path is the second line of the canonical request. */
static void assert_canonical_path(const char *path, const char *want, bool keep)
{
    struct sigv4_signature sig;
    assert_int_equal(sign_path(path, &sig, keep), KM_OK);
    const char *l2 = strchr(sig.canonical_request, '\n') + 1;
    size_t n = (size_t)(strchr(l2, '\n') - l2);
    if (strlen(want) != n || strncmp(l2, want, n) != 0)
        fail_msg("path %s: want %s got %.*s", path, want, (int)n, l2);
    sigv4_signature_free(&sig);
}

static void test_paths(void **state)
{
    (void)state;
    assert_canonical_path("", "/", false);
    assert_canonical_path("/", "/", false);
    assert_canonical_path("/a/b/../c", "/a/c", false);
    assert_canonical_path("/a/./b/", "/a/b/", false);
    assert_canonical_path("/../../x", "/x", false);
    assert_canonical_path("//a///b//", "/a/b/", false);
    assert_canonical_path("/a/b/..", "/a",
                          false); /* the SDKs' reading, see the differential test */
    assert_canonical_path("/%2F%20x", "/%252F%2520x", false);
    assert_canonical_path("/a b+c*", "/a%20b%2Bc%2A", false);
    assert_canonical_path("/a//b/../c%20d", "/a//b/../c%20d", true);
}

static void test_query_order_and_encoding(void **state)
{
    (void)state;
    struct sigv4_header h[] = {{"Host", "h"}};
    struct sigv4_param q[] = {{"b", "2"}, {"a", "z"}, {"a", "y"},
                              {"", "e"},  {"k", ""},  {"sp ace", "x/y"}};
    struct sigv4_request req = {"get", "/", q, 6, h, 1, NULL, 0};
    struct sigv4_signature sig;
    assert_int_equal(sigv4_sign(&req, &suite_cred, &kms_params, &sig), KM_OK);
    assert_non_null(strstr(sig.canonical_request, "GET\n/\n=e&a=y&a=z&b=2&k=&sp%20ace=x%2Fy\n"));
    sigv4_signature_free(&sig);
}

static void test_headers_and_token(void **state)
{
    (void)state;
    struct sigv4_header h[] = {{"Host", "kms.us-east-1.amazonaws.com"},
                               {"X-Amz-Target", "  TrentService.CreateKey "},
                               {"x-amz-target", "a \t  b"},
                               {"User-Agent", "curl"},
                               {"X-Amz-Date", "19990101T000000Z"},
                               {"X-Amz-Security-Token", "stale"},
                               {"Content-Type", "application/x-amz-json-1.1"}};
    struct sigv4_request req = {"POST", "/", NULL, 0, h, 7, "{}", 2};
    struct sigv4_credentials cred = {"AKID", "secret", "TOKEN"};
    struct sigv4_signature sig;
    assert_int_equal(sigv4_sign(&req, &cred, &kms_params, &sig), KM_OK);
    assert_string_equal(sig.amz_date, "20150830T123600Z");
    assert_string_equal(sig.signed_headers,
                        "content-type;host;x-amz-date;x-amz-security-token;x-amz-target");
    assert_non_null(strstr(sig.canonical_request, "x-amz-target:TrentService.CreateKey,a b\n"));
    assert_non_null(strstr(sig.canonical_request, "x-amz-date:20150830T123600Z\n"));
    assert_non_null(strstr(sig.canonical_request, "x-amz-security-token:TOKEN\n"));
    assert_null(strstr(sig.canonical_request, "stale"));
    assert_non_null(strstr(sig.authorization,
                           "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request, "
                           "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
                           "x-amz-target, Signature="));
    /* {} hashes to this */
    assert_non_null(strstr(sig.canonical_request,
                           "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"));
    sigv4_signature_free(&sig);

    struct sigv4_params unsigned_token = kms_params;
    unsigned_token.token_mode = SIGV4_TOKEN_UNSIGNED;
    assert_int_equal(sigv4_sign(&req, &cred, &unsigned_token, &sig), KM_OK);
    assert_string_equal(sig.signed_headers, "content-type;host;x-amz-date;x-amz-target");
    sigv4_signature_free(&sig);
}

static void test_signing_key(void **state)
{
    (void)state;
    /* The derivation example of the AWS General Reference. */
    unsigned char key[SIGV4_KEY_BYTES];
    char hex[65];
    assert_int_equal(sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215",
                                       "us-east-1", "iam", key),
                     KM_OK);
    for (size_t i = 0; i < sizeof(key); i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    assert_string_equal(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

static void test_format_time(void **state)
{
    (void)state;
    char out[17];
    assert_int_equal(sigv4_format_time(0, out), 0);
    assert_string_equal(out, "19700101T000000Z");
    assert_int_equal(sigv4_format_time(SUITE_TIME, out), 0);
    assert_string_equal(out, "20150830T123600Z");
    assert_int_equal(sigv4_format_time(-1, out), -1);
    assert_int_equal(sigv4_format_time(INT64_C(253402300800), out), -1);
}

static void expect_invalid(const struct sigv4_request *req, const struct sigv4_credentials *cred,
                           const char *why)
{
    struct sigv4_signature sig;
    assert_int_equal(sigv4_sign(req, cred, &kms_params, &sig), KM_EINVAL);
    assert_string_equal(sig.error, why);
    assert_null(sig.authorization);
    assert_null(sig.canonical_request);
    sigv4_signature_free(&sig);
}

static void test_invalid(void **state)
{
    (void)state;
    struct sigv4_header host[] = {{"Host", "h"}};
    struct sigv4_header badname[] = {{"Host", "h"}, {"Bad Name", "v"}};
    struct sigv4_header crlf[] = {{"Host", "h"}, {"X-A", "v\r\nX-Injected: 1"}};
    struct sigv4_header nohost[] = {{"X-A", "v"}};
    struct sigv4_request r = {"GET", "/", NULL, 0, host, 1, NULL, 0};
    struct sigv4_credentials nosecret = {"AKID", "", NULL};
    struct sigv4_credentials badak = {"AK/ID", "s", NULL};

    r.headers = badname;
    r.nheaders = 2;
    expect_invalid(&r, &suite_cred, "invalid header name");
    r.headers = crlf;
    expect_invalid(&r, &suite_cred, "invalid header value");
    r.headers = nohost;
    r.nheaders = 1;
    expect_invalid(&r, &suite_cred, "missing host header");
    r.headers = host;
    expect_invalid(&r, &nosecret, "invalid secret access key");
    expect_invalid(&r, &badak, "invalid access key id");
    r.path = "relative";
    expect_invalid(&r, &suite_cred, "path must start with /");
    r.path = "/";
    r.method = "GE T";
    expect_invalid(&r, &suite_cred, "invalid method");
    r.method = "GET";
    r.nheaders = SIGV4_MAX_HEADERS + 1;
    expect_invalid(&r, &suite_cred, "too many headers");
}

static void test_size_cap(void **state)
{
    (void)state;
    size_t n = SIGV4_MAX_CANONICAL + 10;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    struct sigv4_header h[] = {{"Host", "h"}, {"X-Big", big}};
    struct sigv4_request r = {"GET", "/", NULL, 0, h, 2, NULL, 0};
    expect_invalid(&r, &suite_cred, "request too large to sign");
    h[1].value = "small";
    r.path = big;
    big[0] = '/';
    expect_invalid(&r, &suite_cred, "request too large to sign");
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_query_order_and_encoding),
        cmocka_unit_test(test_headers_and_token),
        cmocka_unit_test(test_signing_key),
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_size_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
