/*
 * test_request.c — request_parse_target, request_token, request_parse_body,
 * request_format_uuid.
 */
#include "unit.h"

#include "keymgmt/pool.h"
#include "keymgmt/request.h"

#define ERRLEN 256

struct fixture {
    struct request req;
    char err[ERRLEN];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->req.pool = pool_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    request_release(&f->req);
    pool_free(f->req.pool);
    free(f);
    return 0;
}

/* Reset the request between sub-cases, keeping its pool. */
static struct request *fresh(struct fixture *f)
{
    struct pool *p = f->req.pool;
    request_release(&f->req);
    memset(&f->req, 0, sizeof(f->req));
    f->req.pool = p;
    f->err[0] = '\0';
    return &f->req;
}

static enum km_status target(struct fixture *f, const char *method, const char *uri)
{
    return request_parse_target(fresh(f), method, uri, f->err, sizeof(f->err));
}

/* Assert the segments equal the NULL-terminated list. */
static void expect_segs(const struct request *r, const char *const *want)
{
    size_t n = 0;
    while (want[n] != NULL)
        n++;
    if (r->nseg != n)
        fail_msg("got %zu segments, want %zu (path %s)", r->nseg, n, r->path);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(r->segs[i], want[i]) != 0)
            fail_msg("segment %zu is \"%s\", want \"%s\"", i, r->segs[i], want[i]);
    }
}

#define SEGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- methods ---- */

static void test_methods(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *m;
        enum op op;
    } cases[] = {
        {"GET", OP_READ},  {"HEAD", OP_READ},     {"POST", OP_WRITE},
        {"PUT", OP_WRITE}, {"DELETE", OP_DELETE}, {"LIST", OP_LIST},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(target(f, cases[i].m, "/v1/keymgmt/kms/p"), KM_OK);
        assert_int_equal(f->req.op, cases[i].op);
        assert_string_equal(f->req.method, cases[i].m);
        assert_string_equal(f->req.path, "/v1/keymgmt/kms/p");
        expect_segs(&f->req, SEGS("keymgmt", "kms", "p"));
    }
}

static void test_unknown_methods(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {"get",     "Get", "post", "list", "PATCH", "OPTIONS", "TRACE",
                                      "CONNECT", "",    "GET ", " GET", "GETX",  "DELETE\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (target(f, bad[i], "/v1/keymgmt/kms") != KM_EMETHOD)
            fail_msg("method \"%s\" was not KM_EMETHOD", bad[i]);
        assert_string_equal(f->err, "unsupported operation");
    }
}

/* ---- ?list ---- */

static void test_list_query_true_forms(void **state)
{
    struct fixture *f = *state;
    static const char *const uris[] = {
        "/v1/keymgmt/kms?list=true",
        "/v1/keymgmt/kms?list=1",
        "/v1/keymgmt/kms?list=t",
        "/v1/keymgmt/kms?list=T",
        "/v1/keymgmt/kms?list=TRUE",
        "/v1/keymgmt/kms?list=True",
        "/v1/keymgmt/kms?a=b&list=true",
        "/v1/keymgmt/kms?list=true&a=b",
        "/v1/keymgmt/kms?a=1&list=true&b=2",
        "/v1/keymgmt/kms?%6cist=true",
        "/v1/keymgmt/kms?list=%74rue",
        "/v1/keymgmt/kms?%6C%69%73%74=%54%52%55%45",
        "/v1/keymgmt/kms?listx=1&list=true",
        "/v1/keymgmt/kms?&&list=true",
        "/v1/keymgmt/kms?list=true&list=false", /* the first value counts, like Go */
    };
    for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
        if (target(f, "GET", uris[i]) != KM_OK)
            fail_msg("%s: %s", uris[i], f->err);
        if (f->req.op != OP_LIST)
            fail_msg("%s did not become a list", uris[i]);
        assert_string_equal(f->req.path, "/v1/keymgmt/kms");
        assert_string_equal(f->req.method, "GET");
        expect_segs(&f->req, SEGS("keymgmt", "kms"));
    }
}

static void test_list_query_stays_read(void **state)
{
    struct fixture *f = *state;
    static const char *const uris[] = {
        "/v1/keymgmt/kms?list=false", "/v1/keymgmt/kms?list=0",
        "/v1/keymgmt/kms?list=f",     "/v1/keymgmt/kms?list=F",
        "/v1/keymgmt/kms?list=FALSE", "/v1/keymgmt/kms?list=False",
        "/v1/keymgmt/kms?list=",      "/v1/keymgmt/kms?list",
        "/v1/keymgmt/kms?",           "/v1/keymgmt/kms?listx=true",
        "/v1/keymgmt/kms?xlist=true", "/v1/keymgmt/kms?List=true",
        "/v1/keymgmt/kms?a=list",     "/v1/keymgmt/kms?list=false&list=true",
        "/v1/keymgmt/kms?lis=true",
    };
    for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
        if (target(f, "GET", uris[i]) != KM_OK)
            fail_msg("%s: %s", uris[i], f->err);
        if (f->req.op != OP_READ)
            fail_msg("%s is not a read", uris[i]);
        assert_string_equal(f->req.path, "/v1/keymgmt/kms");
    }
}

static void test_list_query_only_on_get(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(target(f, "HEAD", "/v1/keymgmt/kms?list=true"), KM_OK);
    assert_int_equal(f->req.op, OP_READ);
    assert_int_equal(target(f, "POST", "/v1/keymgmt/kms?list=true"), KM_OK);
    assert_int_equal(f->req.op, OP_WRITE);
    assert_int_equal(target(f, "PUT", "/v1/keymgmt/kms?list=true"), KM_OK);
    assert_int_equal(f->req.op, OP_WRITE);
    assert_int_equal(target(f, "DELETE", "/v1/keymgmt/kms?list=true"), KM_OK);
    assert_int_equal(f->req.op, OP_DELETE);
    /* only GET looks at the value at all */
    assert_int_equal(target(f, "POST", "/v1/keymgmt/kms?list=bogus"), KM_OK);
    assert_int_equal(f->req.op, OP_WRITE);
    assert_int_equal(target(f, "LIST", "/v1/keymgmt/kms?list=false"), KM_OK);
    assert_int_equal(f->req.op, OP_LIST);
    assert_int_equal(target(f, "LIST", "/v1/keymgmt/kms?list=bogus"), KM_OK);
    assert_int_equal(f->req.op, OP_LIST);
}

static void test_list_query_invalid(void **state)
{
    struct fixture *f = *state;
    static const char *const bad_value[] = {
        "/v1/keymgmt/kms?list=yes",     "/v1/keymgmt/kms?list=tRuE",    "/v1/keymgmt/kms?list=2",
        "/v1/keymgmt/kms?list=+true", /* '+' is a space in a query */
        "/v1/keymgmt/kms?list=%20true", "/v1/keymgmt/kms?list=true%20", "/v1/keymgmt/kms?list=on",
        "/v1/keymgmt/kms?a=b&list=no",
    };
    for (size_t i = 0; i < sizeof(bad_value) / sizeof(bad_value[0]); i++) {
        if (target(f, "GET", bad_value[i]) != KM_EINVAL)
            fail_msg("%s was not KM_EINVAL", bad_value[i]);
        assert_string_equal(f->err, "invalid value for \"list\": expected a boolean");
    }
    static const char *const bad_encoding[] = {
        "/v1/keymgmt/kms?list=%zz", "/v1/keymgmt/kms?list=%",    "/v1/keymgmt/kms?list=tru%6",
        "/v1/keymgmt/kms?list=%00", "/v1/keymgmt/kms?li%zzst=1", "/v1/keymgmt/kms?%=1",
    };
    for (size_t i = 0; i < sizeof(bad_encoding) / sizeof(bad_encoding[0]); i++) {
        if (target(f, "GET", bad_encoding[i]) != KM_EINVAL)
            fail_msg("%s was not KM_EINVAL", bad_encoding[i]);
        assert_string_equal(f->err, "invalid query string encoding");
    }
}

/* ---- path ---- */

static void test_path_prefix(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "",
        "/",
        "/v1",
        "v1/keymgmt",
        "/v2/keymgmt",
        "/V1/keymgmt",
        "//v1/keymgmt",
        "/v1keymgmt",
        "/v10/keymgmt",
        "/x/v1/keymgmt",
        "?/v1/a",
        "/v1?list=true",
        "/%761/keymgmt",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (target(f, "GET", bad[i]) != KM_ENOTFOUND)
            fail_msg("\"%s\" was not KM_ENOTFOUND", bad[i]);
        assert_string_equal(f->err, "unsupported path");
    }
    /* "/v1/" alone is one empty segment */
    assert_int_equal(target(f, "GET", "/v1/"), KM_OK);
    expect_segs(&f->req, SEGS(""));
    assert_int_equal(target(f, "GET", "/v1/sys/health"), KM_OK);
    expect_segs(&f->req, SEGS("sys", "health"));
}

static void test_path_decoding(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(target(f, "GET", "/v1/keymgmt/kms/my%2Dprovider"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", "my-provider"));
    /* the raw path is kept for logs */
    assert_string_equal(f->req.path, "/v1/keymgmt/kms/my%2Dprovider");

    assert_int_equal(target(f, "GET", "/v1/keymgmt/kms/%2e%2e"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", ".."));
    assert_int_equal(target(f, "GET", "/v1/keymgmt/kms/%2E%2E/x"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", "..", "x"));

    /* an encoded slash stays inside its segment */
    assert_int_equal(target(f, "GET", "/v1/keymgmt/kms/a%2Fb"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", "a/b"));
    assert_int_equal(target(f, "GET", "/v1/keymgmt/kms/a%2fb"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", "a/b"));

    /* '+' is literal in a path, '%2B' is '+', spaces decode */
    assert_int_equal(target(f, "GET", "/v1/keymgmt/kms/a+b%2Bc%20d"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", "a+b+c d"));
    /* high bytes decode as bytes */
    assert_int_equal(target(f, "GET", "/v1/keymgmt/kms/caf%C3%A9"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", "caf\xc3\xa9"));
    /* an escape at the very end of a segment */
    assert_int_equal(target(f, "GET", "/v1/keymgmt/kms/%41/b%42"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", "A", "bB"));
    /* "%25" is a literal percent and is not decoded twice */
    assert_int_equal(target(f, "GET", "/v1/keymgmt/kms/%2541"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", "%41"));
    /* empty inner segments are kept */
    assert_int_equal(target(f, "GET", "/v1/a//b"), KM_OK);
    expect_segs(&f->req, SEGS("a", "", "b"));
}

static void test_path_bad_encoding(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "/v1/keymgmt/kms/%zz",
        "/v1/keymgmt/kms/%",
        "/v1/keymgmt/kms/%4",
        "/v1/keymgmt/kms/a%",
        "/v1/keymgmt/kms/%4/b",
        "/v1/keymgmt/kms/%g0",
        "/v1/keymgmt/kms/%0g",
        "/v1/keymgmt/kms/%00",
        "/v1/keymgmt/%00kms",
        "/v1/keymgmt/kms/a%00b",
        "/v1/%/kms",
        "/v1/keymgmt/kms/%%41",
        "/v1/keymgmt/kms/% 41",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (target(f, "GET", bad[i]) != KM_EINVAL)
            fail_msg("\"%s\" was not KM_EINVAL", bad[i]);
        assert_string_equal(f->err, "invalid path encoding");
    }
}

static void test_trailing_slash(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(target(f, "LIST", "/v1/keymgmt/kms/"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms"));
    assert_int_equal(target(f, "GET", "/v1/keymgmt/kms/?list=true"), KM_OK);
    assert_int_equal(f->req.op, OP_LIST);
    expect_segs(&f->req, SEGS("keymgmt", "kms"));
    /* only the last empty segment is dropped */
    assert_int_equal(target(f, "LIST", "/v1/keymgmt/kms//"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", ""));
    /* a read keeps it (the empty name is refused later by validation) */
    assert_int_equal(target(f, "GET", "/v1/keymgmt/kms/"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", ""));
    assert_int_equal(target(f, "GET", "/v1/keymgmt/kms/?list=false"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", ""));
    assert_int_equal(target(f, "POST", "/v1/keymgmt/kms/"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", ""));
    assert_int_equal(target(f, "DELETE", "/v1/keymgmt/kms/"), KM_OK);
    expect_segs(&f->req, SEGS("keymgmt", "kms", ""));
    /* "/v1/" as a list keeps its only segment */
    assert_int_equal(target(f, "LIST", "/v1/"), KM_OK);
    expect_segs(&f->req, SEGS(""));
}

/* Build "/v1/s1/s2/.../sn" plus a suffix. */
static const char *many_segments(char *buf, size_t len, size_t n, const char *suffix)
{
    size_t o = (size_t)snprintf(buf, len, "/v1");
    for (size_t i = 1; i <= n; i++)
        o += (size_t)snprintf(buf + o, len - o, "/s%zu", i);
    snprintf(buf + o, len - o, "%s", suffix);
    return buf;
}

static void test_max_segments(void **state)
{
    struct fixture *f = *state;
    char uri[512];
    assert_int_equal(REQUEST_MAX_SEGMENTS, 16);
    assert_int_equal(target(f, "GET", many_segments(uri, sizeof(uri), 16, "")), KM_OK);
    assert_int_equal(f->req.nseg, 16);
    assert_string_equal(f->req.segs[0], "s1");
    assert_string_equal(f->req.segs[15], "s16");
    assert_int_equal(target(f, "GET", many_segments(uri, sizeof(uri), 17, "")), KM_ENOTFOUND);
    assert_string_equal(f->err, "unsupported path");
    assert_int_equal(target(f, "GET", many_segments(uri, sizeof(uri), 40, "")), KM_ENOTFOUND);
    /* 15 + a trailing slash = 16 segments, the last empty */
    assert_int_equal(target(f, "GET", many_segments(uri, sizeof(uri), 15, "/")), KM_OK);
    assert_int_equal(f->req.nseg, 16);
    assert_string_equal(f->req.segs[15], "");
    /* 16 + trailing slash on a read is 17 segments */
    assert_int_equal(target(f, "GET", many_segments(uri, sizeof(uri), 16, "/")), KM_ENOTFOUND);
    /* the query does not count */
    assert_int_equal(target(f, "GET", many_segments(uri, sizeof(uri), 16, "?a/b/c")), KM_OK);
    assert_int_equal(f->req.nseg, 16);
}

static void test_max_segments_list_trailing_slash(void **state)
{
    struct fixture *f = *state;
    char uri[512];
    /* Regression test. Expected: LIST /v1/s1/.../s16/ is the same as LIST /v1/s1/.../s16 (KM_OK, 16
     * segments), as the trailing slash is documented to be ignored for lists. */
    assert_int_equal(target(f, "LIST", many_segments(uri, sizeof(uri), 16, "")), KM_OK);
    assert_int_equal(f->req.nseg, 16);
    assert_int_equal(target(f, "LIST", many_segments(uri, sizeof(uri), 16, "/")), KM_OK);
    assert_int_equal(f->req.nseg, 16);
}

/* ---- token ---- */

static void test_token(void **state)
{
    (void)state;
    assert_null(request_token(NULL, NULL));
    assert_null(request_token("", NULL));
    assert_null(request_token("", ""));
    assert_null(request_token(NULL, ""));
    assert_string_equal(request_token("hvs.abc", NULL), "hvs.abc");
    /* X-Vault-Token wins over Authorization */
    assert_string_equal(request_token("xvt", "Bearer bt"), "xvt");
    /* an empty X-Vault-Token falls back to Authorization */
    assert_string_equal(request_token("", "Bearer bt"), "bt");
    assert_string_equal(request_token(NULL, "Bearer t"), "t");
    assert_string_equal(request_token(NULL, "bearer t"), "t");
    assert_string_equal(request_token(NULL, "BEARER t"), "t");
    assert_string_equal(request_token(NULL, "bEaReR t"), "t");
    assert_string_equal(request_token(NULL, "Bearer   t"), "t");
    assert_string_equal(request_token(NULL, "Bearer hvs.CAES.x-y_z="), "hvs.CAES.x-y_z=");
    /* the result points into the header */
    const char *h = "Bearer tok";
    assert_ptr_equal(request_token(NULL, h), h + 7);
    assert_null(request_token(NULL, "Basic dXNlcjpwYXNz"));
    assert_null(request_token(NULL, "Bearer"));
    assert_null(request_token(NULL, "Bearer "));
    assert_null(request_token(NULL, "Bearer    "));
    assert_null(request_token(NULL, "Bearertok"));
    assert_null(request_token(NULL, "Bear tok"));
    assert_null(request_token(NULL, " Bearer tok"));
    assert_null(request_token(NULL, "tok"));
}

/* ---- body ---- */

static enum km_status body(struct fixture *f, const char *raw, size_t len)
{
    struct request *r = fresh(f);
    r->body_raw = raw;
    r->body_len = len;
    return request_parse_body(r, f->err, sizeof(f->err));
}

static void expect_body_error(struct fixture *f, const char *raw, size_t len)
{
    if (body(f, raw, len) != KM_EINVAL)
        fail_msg("body \"%.*s\" was not KM_EINVAL", (int)len, raw);
    if (strncmp(f->err, "failed to parse JSON input: ", 28) != 0)
        fail_msg("body \"%.*s\": message \"%s\"", (int)len, raw, f->err);
    assert_true(strlen(f->err) > 28); /* a reason follows */
    assert_null(f->req.body);
}

static void test_body_empty(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(body(f, NULL, 0), KM_OK);
    assert_null(f->req.body);
    assert_int_equal(body(f, "", 0), KM_OK);
    assert_null(f->req.body);
    /* body_len governs: a non-empty buffer with length 0 is no body */
    assert_int_equal(body(f, "{\"a\":1}", 0), KM_OK);
    assert_null(f->req.body);
}

static void test_body_whitespace_only(void **state)
{
    struct fixture *f = *state;
    /* Regression test. Expected: (Vault): no parameters, KM_OK, req->body NULL — Vault's
     * parseJSONRequest ignores io.EOF, which Go's json.Decoder returns for whitespace-only input.
     */
    assert_int_equal(body(f, "\n", 1), KM_OK);
    assert_null(f->req.body);
    assert_int_equal(body(f, " \r\n\t", 4), KM_OK);
    assert_null(f->req.body);
}

static void test_body_object(void **state)
{
    struct fixture *f = *state;
    static const char obj[] = "{\"type\":\"aes256-gcm96\",\"n\":2,\"nested\":{\"x\":[1]}}";
    assert_int_equal(body(f, obj, strlen(obj)), KM_OK);
    assert_non_null(f->req.body);
    assert_true(json_is_object(f->req.body));
    assert_string_equal(json_string_value(json_object_get(f->req.body, "type")), "aes256-gcm96");
    assert_int_equal(json_integer_value(json_object_get(f->req.body, "n")), 2);

    assert_int_equal(body(f, "{}", 2), KM_OK);
    assert_int_equal(json_object_size(f->req.body), 0);
    /* surrounding whitespace is fine */
    assert_int_equal(body(f, " \n{\"a\":1}\n ", 11), KM_OK);
    assert_int_equal(json_integer_value(json_object_get(f->req.body, "a")), 1);
    /* only body_len bytes are read */
    static const char longer[] = "{\"a\":1}garbage";
    assert_int_equal(body(f, longer, 7), KM_OK);
    assert_int_equal(json_integer_value(json_object_get(f->req.body, "a")), 1);
    request_release(&f->req);
    assert_null(f->req.body);
    request_release(&f->req); /* twice is harmless */
}

static void test_body_rejects(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "[]",
        "[1,2]",
        "\"s\"",
        "1",
        "true",
        "null",
        "{",
        "{\"a\":",
        "{\"a\"}",
        "{a:1}",
        "{'a':1}",
        "{\"a\":1,}",
        "{}x",
        "{} {}",
        "{}]",
        "x",
        "{\"a\":1}}",
        "{\"a\":nan}",
        "\xef\xbb\xbf{}",
        "{\"a\":\"\xff\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_body_error(f, bad[i], strlen(bad[i]));
    /* the non-object message */
    assert_int_equal(body(f, "[]", 2), KM_EINVAL);
    assert_string_equal(f->err, "failed to parse JSON input: the body must be a JSON object");
    /* an embedded NUL byte */
    static const char nul[] = "{\"a\":1}\0";
    expect_body_error(f, nul, sizeof(nul) - 1);
}

/* ---- uuid ---- */

static void test_uuid(void **state)
{
    (void)state;
    char out[37];
    unsigned char raw[16];

    memset(raw, 0, sizeof(raw));
    request_format_uuid(raw, out);
    assert_string_equal(out, "00000000-0000-4000-8000-000000000000");

    memset(raw, 0xff, sizeof(raw));
    request_format_uuid(raw, out);
    assert_string_equal(out, "ffffffff-ffff-4fff-bfff-ffffffffffff");

    for (unsigned i = 0; i < 16; i++)
        raw[i] = (unsigned char)i;
    request_format_uuid(raw, out);
    assert_string_equal(out, "00010203-0405-4607-8809-0a0b0c0d0e0f");

    for (unsigned i = 0; i < 16; i++)
        raw[i] = (unsigned char)(0xf0 + i);
    request_format_uuid(raw, out);
    assert_string_equal(out, "f0f1f2f3-f4f5-46f7-b8f9-fafbfcfdfeff");
    /* the input is not modified */
    assert_int_equal(raw[6], 0xf6);
    assert_int_equal(raw[8], 0xf8);
}

/* Every byte value in the version and variant positions gives a v4, RFC 4122 variant uuid. */
static void test_uuid_bits(void **state)
{
    (void)state;
    unsigned fake = 1;
    for (unsigned v = 0; v < 256; v++) {
        unsigned char raw[16];
        char out[37];
        unit_fake_fill(&fake, raw, sizeof(raw));
        raw[6] = (unsigned char)v;
        raw[8] = (unsigned char)(255 - v);
        memset(out, 'X', sizeof(out));
        request_format_uuid(raw, out);
        assert_int_equal(strlen(out), 36);
        for (size_t i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                assert_int_equal(out[i], '-');
            } else if (!((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f'))) {
                fail_msg("uuid %s has a bad character at %zu", out, i);
            }
        }
        assert_int_equal(out[14], '4');
        assert_true(out[19] == '8' || out[19] == '9' || out[19] == 'a' || out[19] == 'b');
        /* the low nibble of byte 6 and the low 6 bits of byte 8 survive */
        char want[3];
        snprintf(want, sizeof(want), "%x", v & 0x0f);
        assert_int_equal(out[15], want[0]);
        unsigned b8 = (unsigned)((255 - v) & 0x3f) | 0x80;
        snprintf(want, sizeof(want), "%02x", b8);
        assert_memory_equal(out + 19, want, 2);
        /* byte 0 is unchanged */
        snprintf(want, sizeof(want), "%02x", raw[0]);
        assert_memory_equal(out, want, 2);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_methods),
        T(test_unknown_methods),
        T(test_list_query_true_forms),
        T(test_list_query_stays_read),
        T(test_list_query_only_on_get),
        T(test_list_query_invalid),
        T(test_path_prefix),
        T(test_path_decoding),
        T(test_path_bad_encoding),
        T(test_trailing_slash),
        T(test_max_segments),
        T(test_max_segments_list_trailing_slash),
        T(test_token),
        T(test_body_empty),
        T(test_body_whitespace_only),
        T(test_body_object),
        T(test_body_rejects),
        T(test_uuid),
        T(test_uuid_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
