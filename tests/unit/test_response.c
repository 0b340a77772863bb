/*
 * test_response.c — status → HTTP code, and rendering of the Vault envelope,
 * error bodies, empty responses and raw bodies.
 */
#include "unit.h"

#include "keymgmt/response.h"

static const char RID[] = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

struct rendered {
    int code;
    char *body;
};

static struct rendered render(struct response *r)
{
    struct rendered out = {-1, NULL};
    out.body = response_render(r, RID, "keymgmt", &out.code);
    return out;
}

static json_t *parse(const char *body)
{
    json_error_t e;
    json_t *v = json_loads(body, 0, &e);
    if (v == NULL)
        fail_msg("response body is not JSON: %s: %s", body, e.text);
    return v;
}

static void test_http_codes(void **state)
{
    (void)state;
    assert_int_equal(response_http_code(KM_OK), 200);
    assert_int_equal(response_http_code(KM_EINVAL), 400);
    assert_int_equal(response_http_code(KM_EPERM), 403);
    assert_int_equal(response_http_code(KM_ENOTFOUND), 404);
    assert_int_equal(response_http_code(KM_EMETHOD), 405);
    assert_int_equal(response_http_code(KM_ETOOBIG), 413);
    assert_int_equal(response_http_code(KM_ERATE), 429);
    assert_int_equal(response_http_code(KM_EINTERNAL), 500);
    assert_int_equal(response_http_code(KM_EPROVIDER), 502);
    assert_int_equal(response_http_code(KM_ESTORAGE), 503);
    /* an out-of-range status is an internal error, not a crash */
    assert_int_equal(response_http_code((enum km_status)(KM_ESTORAGE + 1)), 500);
    assert_int_equal(response_http_code((enum km_status)1000), 500);
}

static void test_reasons(void **state)
{
    (void)state;
    assert_string_equal(response_reason(200), "OK");
    assert_string_equal(response_reason(204), "No Content");
    assert_string_equal(response_reason(400), "Bad Request");
    assert_string_equal(response_reason(403), "Forbidden");
    assert_string_equal(response_reason(404), "Not Found");
    assert_string_equal(response_reason(405), "Method Not Allowed");
    assert_string_equal(response_reason(413), "Request Entity Too Large");
    assert_string_equal(response_reason(429), "Too Many Requests");
    assert_string_equal(response_reason(500), "Internal Server Error");
    assert_string_equal(response_reason(502), "Bad Gateway");
    assert_string_equal(response_reason(503), "Service Unavailable");
    assert_string_equal(response_reason(418), "Unknown");
}

static void test_envelope(void **state)
{
    (void)state;
    struct response r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(response_data(&r, json_pack("{s:s, s:i}", "provider", "awskms", "n", 2)),
                     KM_OK);
    struct rendered out = render(&r);
    assert_int_equal(out.code, 200);
    assert_non_null(out.body);
    /* every key, in Vault's order */
    assert_string_equal(
        out.body, "{\"request_id\":\"3f2504e0-4f89-41d3-9a0c-0305e82c3301\",\"lease_id\":\"\","
                  "\"renewable\":false,\"lease_duration\":0,"
                  "\"data\":{\"provider\":\"awskms\",\"n\":2},\"wrap_info\":null,"
                  "\"warnings\":null,\"auth\":null,\"mount_type\":\"keymgmt\"}");
    json_t *v = parse(out.body);
    assert_int_equal(json_object_size(v), 9);
    assert_string_equal(json_string_value(json_object_get(v, "request_id")), RID);
    assert_true(json_is_string(json_object_get(v, "lease_id")));
    assert_string_equal(json_string_value(json_object_get(v, "lease_id")), "");
    assert_true(json_is_false(json_object_get(v, "renewable")));
    assert_true(json_is_integer(json_object_get(v, "lease_duration")));
    assert_int_equal(json_integer_value(json_object_get(v, "lease_duration")), 0);
    assert_true(json_is_null(json_object_get(v, "wrap_info")));
    assert_true(json_is_null(json_object_get(v, "warnings")));
    assert_true(json_is_null(json_object_get(v, "auth")));
    assert_string_equal(json_string_value(json_object_get(v, "mount_type")), "keymgmt");
    json_t *data = json_object_get(v, "data");
    assert_string_equal(json_string_value(json_object_get(data, "provider")), "awskms");
    json_decref(v);
    free(out.body);

    /* the mount type is the caller's */
    int code = 0;
    char *b = response_render(&r, "rid", "other", &code);
    v = parse(b);
    assert_string_equal(json_string_value(json_object_get(v, "mount_type")), "other");
    assert_string_equal(json_string_value(json_object_get(v, "request_id")), "rid");
    json_decref(v);
    free(b);
    response_release(&r);
    assert_null(r.data);
}

static void test_envelope_with_warnings(void **state)
{
    (void)state;
    struct response r;
    memset(&r, 0, sizeof(r));
    response_data(&r, json_object());
    response_warn(&r, "Endpoint ignored these unrecognized parameters: [x]");
    response_warn(&r, "second \"quoted\" warning");
    struct rendered out = render(&r);
    assert_int_equal(out.code, 200);
    json_t *v = parse(out.body);
    json_t *w = json_object_get(v, "warnings");
    assert_true(json_is_array(w));
    assert_int_equal(json_array_size(w), 2);
    assert_string_equal(json_string_value(json_array_get(w, 0)),
                        "Endpoint ignored these unrecognized parameters: [x]");
    assert_string_equal(json_string_value(json_array_get(w, 1)), "second \"quoted\" warning");
    assert_int_equal(json_object_size(json_object_get(v, "data")), 0);
    json_decref(v);
    free(out.body);
    response_release(&r);
}

/* A write with only warnings answers 200 with the envelope and data null. */
static void test_warnings_only(void **state)
{
    (void)state;
    struct response r;
    memset(&r, 0, sizeof(r));
    response_warn(&r, "w");
    struct rendered out = render(&r);
    assert_int_equal(out.code, 200);
    assert_string_equal(
        out.body, "{\"request_id\":\"3f2504e0-4f89-41d3-9a0c-0305e82c3301\",\"lease_id\":\"\","
                  "\"renewable\":false,\"lease_duration\":0,\"data\":null,\"wrap_info\":null,"
                  "\"warnings\":[\"w\"],\"auth\":null,\"mount_type\":\"keymgmt\"}");
    free(out.body);
    response_release(&r);
    assert_null(r.warnings);
}

static void test_no_content(void **state)
{
    (void)state;
    struct response r;
    memset(&r, 0, sizeof(r));
    struct rendered out = render(&r);
    assert_int_equal(out.code, 204);
    assert_null(out.body);
    response_release(&r);
}

static void test_error_body(void **state)
{
    (void)state;
    struct response r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(response_error(&r, KM_EINVAL, "unsupported key type: %s", "rsa-1024"),
                     KM_EINVAL);
    assert_int_equal(r.status, KM_EINVAL);
    struct rendered out = render(&r);
    assert_int_equal(out.code, 400);
    assert_string_equal(out.body, "{\"errors\":[\"unsupported key type: rsa-1024\"]}");
    free(out.body);
    /* a second error replaces the first */
    response_error(&r, KM_EPERM, "permission denied");
    out = render(&r);
    assert_int_equal(out.code, 403);
    assert_string_equal(out.body, "{\"errors\":[\"permission denied\"]}");
    free(out.body);
    response_release(&r);

    /* each status renders its code; the message is escaped JSON */
    static const struct {
        enum km_status st;
        int code;
    } cases[] = {{KM_EINVAL, 400},    {KM_EPERM, 403},     {KM_ENOTFOUND, 404},
                 {KM_EMETHOD, 405},   {KM_ETOOBIG, 413},   {KM_ERATE, 429},
                 {KM_EINTERNAL, 500}, {KM_EPROVIDER, 502}, {KM_ESTORAGE, 503}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&r, 0, sizeof(r));
        response_error(&r, cases[i].st, "bad \"%s\"\n", "x");
        out = render(&r);
        assert_int_equal(out.code, cases[i].code);
        assert_string_equal(out.body, "{\"errors\":[\"bad \\\"x\\\"\\n\"]}");
        free(out.body);
        response_release(&r);
    }
}

/* An error wins over data and warnings set earlier. */
static void test_error_after_data(void **state)
{
    (void)state;
    struct response r;
    memset(&r, 0, sizeof(r));
    response_data(&r, json_pack("{s:s}", "a", "b"));
    response_warn(&r, "w");
    response_error(&r, KM_EPROVIDER, "AccessDeniedException: no");
    struct rendered out = render(&r);
    assert_int_equal(out.code, 502);
    assert_string_equal(out.body, "{\"errors\":[\"AccessDeniedException: no\"]}");
    free(out.body);
    response_release(&r);
}

static void test_not_found(void **state)
{
    (void)state;
    struct response r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(response_not_found(&r), KM_ENOTFOUND);
    struct rendered out = render(&r);
    assert_int_equal(out.code, 404);
    assert_string_equal(out.body, "{\"errors\":[]}");
    free(out.body);
    response_release(&r);

    /* a status set directly with no message: 404 → empty list */
    memset(&r, 0, sizeof(r));
    r.status = KM_ENOTFOUND;
    out = render(&r);
    assert_int_equal(out.code, 404);
    assert_string_equal(out.body, "{\"errors\":[]}");
    free(out.body);
    response_release(&r);
}

/* A handler that returns a status without a message gets the default message. */
static void test_default_messages(void **state)
{
    (void)state;
    static const struct {
        enum km_status st;
        int code;
        const char *body;
    } cases[] = {
        {KM_EINVAL, 400, "{\"errors\":[\"invalid request\"]}"},
        {KM_EPERM, 403, "{\"errors\":[\"permission denied\"]}"},
        {KM_EMETHOD, 405, "{\"errors\":[\"unsupported operation\"]}"},
        {KM_ETOOBIG, 413, "{\"errors\":[\"request body too large\"]}"},
        {KM_ERATE, 429, "{\"errors\":[\"rate limit exceeded\"]}"},
        {KM_EINTERNAL, 500, "{\"errors\":[\"internal error\"]}"},
        {KM_EPROVIDER, 502, "{\"errors\":[\"the KMS provider failed\"]}"},
        {KM_ESTORAGE, 503, "{\"errors\":[\"storage unavailable\"]}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct response r;
        memset(&r, 0, sizeof(r));
        r.status = cases[i].st;
        struct rendered out = render(&r);
        assert_int_equal(out.code, cases[i].code);
        assert_string_equal(out.body, cases[i].body);
        free(out.body);
        response_release(&r);
    }
}

static void test_long_error_message(void **state)
{
    (void)state;
    char big[3000];
    memset(big, 'e', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct response r;
    memset(&r, 0, sizeof(r));
    response_error(&r, KM_EINVAL, "%s", big);
    struct rendered out = render(&r);
    assert_int_equal(out.code, 400);
    json_t *v = parse(out.body);
    const char *msg = json_string_value(json_array_get(json_object_get(v, "errors"), 0));
    assert_non_null(msg);
    assert_true(strlen(msg) > 0 && strlen(msg) < sizeof(big));
    assert_memory_equal(msg, big, strlen(msg));
    json_decref(v);
    free(out.body);
    response_release(&r);
}

static void test_raw(void **state)
{
    (void)state;
    struct response r;
    memset(&r, 0, sizeof(r));
    r.raw = json_pack("{s:b, s:b, s:s}", "initialized", 1, "sealed", 0, "version", "0.1.0");
    r.raw_code = 429;
    struct rendered out = render(&r);
    assert_int_equal(out.code, 429);
    assert_string_equal(out.body, "{\"initialized\":true,\"sealed\":false,\"version\":\"0.1.0\"}");
    free(out.body);
    /* raw_code 0 means 200 */
    r.raw_code = 0;
    out = render(&r);
    assert_int_equal(out.code, 200);
    free(out.body);
    /* raw is not enveloped even with warnings */
    response_warn(&r, "w");
    r.raw_code = 503;
    out = render(&r);
    assert_int_equal(out.code, 503);
    assert_string_equal(out.body, "{\"initialized\":true,\"sealed\":false,\"version\":\"0.1.0\"}");
    free(out.body);
    /* rendering does not consume the response */
    out = render(&r);
    assert_int_equal(out.code, 503);
    free(out.body);
    response_release(&r);
    assert_null(r.raw);
    assert_null(r.warnings);
    response_release(&r); /* twice is harmless */
}

static void test_data_replaced(void **state)
{
    (void)state;
    struct response r;
    memset(&r, 0, sizeof(r));
    response_data(&r, json_pack("{s:i}", "old", 1));
    response_data(&r, json_pack("{s:i}", "new", 2));
    struct rendered out = render(&r);
    json_t *v = parse(out.body);
    json_t *d = json_object_get(v, "data");
    assert_null(json_object_get(d, "old"));
    assert_int_equal(json_integer_value(json_object_get(d, "new")), 2);
    json_decref(v);
    free(out.body);
    response_release(&r);
}

static void test_out_of_range_status(void **state)
{
    (void)state;
    /* Regression test. Expected: 500 and {"errors":["internal error"]}, consistent with
     * response_http_code(). */
    struct response r;
    memset(&r, 0, sizeof(r));
    r.status = (enum km_status)(KM_ESTORAGE + 1);
    struct rendered out = render(&r);
    assert_int_equal(out.code, 500);
    assert_string_equal(out.body, "{\"errors\":[\"internal error\"]}");
    free(out.body);
    response_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_codes),         cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_envelope),           cmocka_unit_test(test_envelope_with_warnings),
        cmocka_unit_test(test_warnings_only),      cmocka_unit_test(test_no_content),
        cmocka_unit_test(test_error_body),         cmocka_unit_test(test_error_after_data),
        cmocka_unit_test(test_not_found),          cmocka_unit_test(test_default_messages),
        cmocka_unit_test(test_long_error_message), cmocka_unit_test(test_raw),
        cmocka_unit_test(test_data_replaced),      cmocka_unit_test(test_out_of_range_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
