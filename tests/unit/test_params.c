/*
 * test_params.c — params_parse for every parameter type, unknown keys, the
 * warning text, error messages and ownership.
 */
#include "unit.h"

#include "keymgmt/params.h"

#include <limits.h>

#define ERRLEN 256

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    if (v == NULL)
        fail_msg("test JSON does not parse: %s: %s", text, e.text);
    return v;
}

/* Parse {"p": <value>} against a single spec of type t. Returns params_parse's rc. */
static int parse_one(enum param_type t, const char *value_json, struct param_value *out, char *err)
{
    char body_text[512];
    snprintf(body_text, sizeof(body_text), "{\"p\": %s}", value_json);
    json_t *body = load(body_text);
    struct param_spec spec = {"p", t};
    json_t *unknown = (json_t *)1;
    err[0] = '\0';
    int rc = params_parse(&spec, 1, body, out, &unknown, err, ERRLEN);
    assert_null(unknown);
    json_decref(body);
    return rc;
}

static void expect_reject(enum param_type t, const char *value_json, const char *expected)
{
    struct param_value v;
    char err[ERRLEN];
    if (parse_one(t, value_json, &v, err) != -1)
        fail_msg("type %d accepted %s", (int)t, value_json);
    /* the message names the parameter and the expected type */
    char want[200];
    snprintf(want, sizeof(want), "invalid value for \"p\": expected %s", expected);
    assert_string_equal(err, want);
    assert_null(v.kv);
    assert_null(v.list);
}

/* ---- PARAM_STRING ---- */

static void test_string(void **state)
{
    (void)state;
    struct param_value v;
    char err[ERRLEN];
    json_t *body = load("{\"p\": \"hello world\", \"e\": \"\"}");
    struct param_spec specs[] = {
        {"p", PARAM_STRING}, {"e", PARAM_STRING}, {"absent", PARAM_STRING}};
    struct param_value out[3];
    assert_int_equal(params_parse(specs, 3, body, out, NULL, err, sizeof(err)), 0);
    assert_true(out[0].present);
    assert_string_equal(out[0].s, "hello world");
    /* borrowed from the body */
    assert_ptr_equal(out[0].s, json_string_value(json_object_get(body, "p")));
    assert_true(out[1].present);
    assert_string_equal(out[1].s, "");
    assert_false(out[2].present);
    assert_null(out[2].s);
    params_release(out, 3);
    json_decref(body);

    /* JSON escapes arrive decoded (UTF-8) */
    body = load("{\"p\": \"caf\\u00e9\"}");
    assert_int_equal(params_parse(specs, 1, body, &v, NULL, err, sizeof(err)), 0);
    assert_string_equal(v.s, "caf\xc3\xa9");
    params_release(&v, 1);
    json_decref(body);
}

static void test_string_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {"1",  "1.5",     "true", "false",
                                      "[]", "[\"a\"]", "{}",   "{\"a\":\"b\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_reject(PARAM_STRING, bad[i], "a string");
}

/* ---- PARAM_INT ---- */

static void test_int_accepts(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        long long want;
    } cases[] = {
        {"0", 0},
        {"2", 2},
        {"-3", -3},
        {"2.0", 2},
        {"-7.0", -7},
        {"1e3", 1000},
        {"0.0", 0},
        {"-0.0", 0},
        {"\"2\"", 2},
        {"\"-3\"", -3},
        {"\"0\"", 0},
        {"\"007\"", 7},
        {"9223372036854775807", LLONG_MAX},
        {"-9223372036854775808", LLONG_MIN},
        {"\"9223372036854775807\"", LLONG_MAX},
        {"\"-9223372036854775808\"", LLONG_MIN},
        {"-9223372036854775808.0", LLONG_MIN},
        {"4611686018427387904.0", 4611686018427387904LL}, /* 2^62, exact as a double */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct param_value v;
        char err[ERRLEN];
        if (parse_one(PARAM_INT, cases[i].json, &v, err) != 0)
            fail_msg("PARAM_INT rejected %s: %s", cases[i].json, err);
        assert_true(v.present);
        if (v.i != cases[i].want)
            fail_msg("PARAM_INT %s gave %lld, want %lld", cases[i].json, v.i, cases[i].want);
        params_release(&v, 1);
    }
}

static void test_int_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "2.5",
        "-0.5",
        "1e-1",
        "1e300",
        "-1e300",
        "1e19",
        "-1e19",
        "true",
        "false",
        "\"\"",
        "\"2x\"",
        "\" 2\"",
        "\"2 \"",
        "\"\\t2\"",
        "\"2.0\"",
        "\"2.5\"",
        "\"x\"",
        "\"--3\"",
        "\"- 3\"",
        "\"0x10\"",
        "\"1e3\"",
        "\"9223372036854775808\"",
        "\"-9223372036854775809\"",
        "\"99999999999999999999\"",
        "[]",
        "[1]",
        "{}",
        "{\"a\":1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_reject(PARAM_INT, bad[i], "an integer");
}

static void test_int_real_overflow_boundary(void **state)
{
    (void)state;
    /* Regression test. Expected: rejected with "invalid value for \"p\": expected an integer". */
    expect_reject(PARAM_INT, "9223372036854775808.0", "an integer");
    expect_reject(PARAM_INT, "9.223372036854775807e18", "an integer"); /* also rounds to 2^63 */
}

/* ---- PARAM_BOOL ---- */

static void test_bool_accepts(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        bool want;
    } cases[] = {
        {"true", true},       {"false", false},     {"\"1\"", true},    {"\"t\"", true},
        {"\"T\"", true},      {"\"TRUE\"", true},   {"\"true\"", true}, {"\"True\"", true},
        {"\"0\"", false},     {"\"f\"", false},     {"\"F\"", false},   {"\"FALSE\"", false},
        {"\"false\"", false}, {"\"False\"", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct param_value v;
        char err[ERRLEN];
        if (parse_one(PARAM_BOOL, cases[i].json, &v, err) != 0)
            fail_msg("PARAM_BOOL rejected %s: %s", cases[i].json, err);
        assert_true(v.present);
        if (v.b != cases[i].want)
            fail_msg("PARAM_BOOL %s gave %d", cases[i].json, (int)v.b);
        params_release(&v, 1);
    }
}

static void test_bool_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "1",    "0",         "1.0",       "\"yes\"", "\"no\"", "\"on\"", "\"tRuE\"",
        "\"\"", "\" true\"", "\"true \"", "\"2\"",   "[]",     "[true]", "{}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_reject(PARAM_BOOL, bad[i], "a boolean");
}

/* ---- PARAM_KVPAIRS ---- */

static void expect_kv(const char *value_json, const char *want_json)
{
    struct param_value v;
    char err[ERRLEN];
    if (parse_one(PARAM_KVPAIRS, value_json, &v, err) != 0)
        fail_msg("PARAM_KVPAIRS rejected %s: %s", value_json, err);
    assert_true(v.present);
    assert_non_null(v.kv);
    assert_true(json_is_object(v.kv));
    json_t *want = load(want_json);
    if (!json_equal(v.kv, want)) {
        char *got = json_dumps(v.kv, JSON_SORT_KEYS | JSON_COMPACT);
        char msg[512];
        snprintf(msg, sizeof(msg), "PARAM_KVPAIRS %s gave %s, want %s", value_json, got, want_json);
        free(got);
        json_decref(want);
        params_release(&v, 1);
        fail_msg("%s", msg);
    }
    json_decref(want);
    params_release(&v, 1);
    assert_null(v.kv);
}

static void test_kvpairs_accepts(void **state)
{
    (void)state;
    expect_kv("{}", "{}");
    expect_kv("{\"access_key\":\"AK\",\"secret_key\":\"SK\"}",
              "{\"access_key\":\"AK\",\"secret_key\":\"SK\"}");
    expect_kv("{\"k\":\"\"}", "{\"k\":\"\"}");
    expect_kv("[]", "{}");
    expect_kv("[\"access_key=AK\",\"secret_key=SK\"]",
              "{\"access_key\":\"AK\",\"secret_key\":\"SK\"}");
    /* split at the FIRST '=' */
    expect_kv("[\"k=a=b\"]", "{\"k\":\"a=b\"}");
    expect_kv("[\"k==\"]", "{\"k\":\"=\"}");
    expect_kv("[\"k=\"]", "{\"k\":\"\"}");
    /* keys and values are not trimmed */
    expect_kv("[\" k = v \"]", "{\" k \":\" v \"}");
    /* a later pair for the same key wins */
    expect_kv("[\"k=1\",\"k=2\"]", "{\"k\":\"2\"}");
    expect_kv("[\"endpoint=http://h:1/?a=b\"]", "{\"endpoint\":\"http://h:1/?a=b\"}");
}

/* The object form yields a new object owned by the param, not the body's own. */
static void test_kvpairs_owned(void **state)
{
    (void)state;
    json_t *body = load("{\"c\": {\"a\":\"1\"}}");
    struct param_spec spec = {"c", PARAM_KVPAIRS};
    struct param_value v;
    char err[ERRLEN];
    assert_int_equal(params_parse(&spec, 1, body, &v, NULL, err, sizeof(err)), 0);
    json_t *orig = json_object_get(body, "c");
    assert_ptr_not_equal(v.kv, orig);
    json_decref(body); /* the parsed value outlives the body */
    assert_string_equal(json_string_value(json_object_get(v.kv, "a")), "1");
    params_release(&v, 1);
    assert_null(v.kv);
}

static void test_kvpairs_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[\"=v\"]",
        "[\"novalue\"]",
        "[\"\"]",
        "[\"a=b\",\"novalue\"]",
        "[\"a=b\", 1]",
        "[1]",
        "[true]",
        "[null]",
        "[[\"a=b\"]]",
        "[{\"a\":\"b\"}]",
        "{\"a\":1}",
        "{\"a\":\"b\",\"c\":2}",
        "{\"a\":true}",
        "{\"a\":null}",
        "{\"a\":[\"b\"]}",
        "{\"a\":{\"b\":\"c\"}}",
        "\"a=b\"",
        "\"\"",
        "1",
        "true",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_reject(PARAM_KVPAIRS, bad[i],
                      "an object of strings or a list of \"key=value\" strings");
}

/* ---- PARAM_COMMA_SLICE ---- */

static void expect_slice(const char *value_json, const char *want_json)
{
    struct param_value v;
    char err[ERRLEN];
    if (parse_one(PARAM_COMMA_SLICE, value_json, &v, err) != 0)
        fail_msg("PARAM_COMMA_SLICE rejected %s: %s", value_json, err);
    assert_true(v.present);
    assert_non_null(v.list);
    json_t *want = load(want_json);
    if (!json_equal(v.list, want)) {
        char *got = json_dumps(v.list, JSON_COMPACT);
        char msg[512];
        snprintf(msg, sizeof(msg), "PARAM_COMMA_SLICE %s gave %s, want %s", value_json, got,
                 want_json);
        free(got);
        json_decref(want);
        params_release(&v, 1);
        fail_msg("%s", msg);
    }
    json_decref(want);
    params_release(&v, 1);
    assert_null(v.list);
}

static void test_comma_slice_accepts(void **state)
{
    (void)state;
    expect_slice("\"a, b ,c\"", "[\"a\",\"b\",\"c\"]");
    expect_slice("\"encrypt,decrypt\"", "[\"encrypt\",\"decrypt\"]");
    expect_slice("\"encrypt\"", "[\"encrypt\"]");
    expect_slice("\"\"", "[]");
    expect_slice("\" \"", "[]");
    expect_slice("\",\"", "[]");
    expect_slice("\"a,,b\"", "[\"a\",\"b\"]");
    expect_slice("\",a, ,b,\"", "[\"a\",\"b\"]");
    expect_slice("\"\\ta\\n,\\r b\"", "[\"a\",\"b\"]");
    expect_slice("\"a b, c\"", "[\"a b\",\"c\"]"); /* inner spaces kept */
    expect_slice("\"a,a\"", "[\"a\",\"a\"]");      /* order and duplicates kept */
    expect_slice("[]", "[]");
    expect_slice("[\"encrypt\",\"decrypt\"]", "[\"encrypt\",\"decrypt\"]");
    expect_slice("[\" a \",\"b \",\"\",\"  \",\"c\"]", "[\"a\",\"b\",\"c\"]");
    /* the list form does not split on commas */
    expect_slice("[\"a,b\"]", "[\"a,b\"]");
}

static void test_comma_slice_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "1",          "1.5",    "true",   "{}",        "{\"a\":\"b\"}", "[1]",
        "[\"a\", 2]", "[true]", "[null]", "[[\"a\"]]", "[{}]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_reject(PARAM_COMMA_SLICE, bad[i], "a comma-separated string or a list of strings");
}

/* ---- the whole parse ---- */

static const struct param_spec all_specs[] = {
    {"provider", PARAM_STRING},       {"min_enabled_version", PARAM_INT},
    {"deletion_allowed", PARAM_BOOL}, {"credentials", PARAM_KVPAIRS},
    {"purpose", PARAM_COMMA_SLICE},
};
#define NALL (sizeof(all_specs) / sizeof(all_specs[0]))

static void test_all_types_together(void **state)
{
    (void)state;
    json_t *body = load("{\"purpose\":\"encrypt, decrypt\",\"provider\":\"awskms\","
                        "\"credentials\":[\"access_key=AK\"],\"deletion_allowed\":\"true\","
                        "\"min_enabled_version\":\"2\"}");
    struct param_value out[NALL];
    json_t *unknown = NULL;
    char err[ERRLEN] = "";
    assert_int_equal(params_parse(all_specs, NALL, body, out, &unknown, err, sizeof(err)), 0);
    assert_null(unknown);
    for (size_t i = 0; i < NALL; i++)
        assert_true(out[i].present);
    assert_string_equal(out[0].s, "awskms");
    assert_int_equal(out[1].i, 2);
    assert_true(out[2].b);
    assert_string_equal(json_string_value(json_object_get(out[3].kv, "access_key")), "AK");
    assert_int_equal(json_object_size(out[3].kv), 1);
    assert_int_equal(json_array_size(out[4].list), 2);
    assert_string_equal(json_string_value(json_array_get(out[4].list, 0)), "encrypt");
    assert_string_equal(json_string_value(json_array_get(out[4].list, 1)), "decrypt");
    params_release(out, NALL);
    for (size_t i = 0; i < NALL; i++) {
        assert_null(out[i].kv);
        assert_null(out[i].list);
    }
    json_decref(body);
}

static void test_null_is_absent(void **state)
{
    (void)state;
    json_t *body = load("{\"provider\":null,\"min_enabled_version\":null,"
                        "\"deletion_allowed\":null,\"credentials\":null,\"purpose\":null}");
    struct param_value out[NALL];
    json_t *unknown = NULL;
    char err[ERRLEN];
    assert_int_equal(params_parse(all_specs, NALL, body, out, &unknown, err, sizeof(err)), 0);
    assert_null(unknown); /* known keys with null are not "unknown" */
    for (size_t i = 0; i < NALL; i++) {
        assert_false(out[i].present);
        assert_null(out[i].s);
        assert_int_equal(out[i].i, 0);
        assert_false(out[i].b);
        assert_null(out[i].kv);
        assert_null(out[i].list);
    }
    params_release(out, NALL);
    json_decref(body);
}

static void test_null_body(void **state)
{
    (void)state;
    struct param_value out[NALL];
    memset(out, 0xa5, sizeof(out)); /* params_parse must clear every entry */
    json_t *unknown = (json_t *)1;
    char err[ERRLEN];
    assert_int_equal(params_parse(all_specs, NALL, NULL, out, &unknown, err, sizeof(err)), 0);
    assert_null(unknown);
    for (size_t i = 0; i < NALL; i++) {
        assert_false(out[i].present);
        assert_null(out[i].s);
        assert_null(out[i].kv);
        assert_null(out[i].list);
    }
    params_release(out, NALL);
    /* zero specs: every key is unknown */
    json_t *body = load("{\"b\":1,\"a\":2}");
    struct param_value none[1];
    assert_int_equal(params_parse(all_specs, 0, body, none, &unknown, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(unknown), 2);
    assert_string_equal(json_string_value(json_array_get(unknown, 0)), "a");
    json_decref(unknown);
    json_decref(body);
}

/* An endpoint without parameters still parses the body for the unknown-key warning. */
static void test_no_specs_null_out(void **state)
{
    (void)state;
    /* Regression test. Expected: n == 0 with out == NULL is fine (guard the memset with n > 0). */
    json_t *body = load("{\"x\":1}");
    json_t *unknown = NULL;
    char err[ERRLEN];
    assert_int_equal(params_parse(NULL, 0, body, NULL, &unknown, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(unknown), 1);
    json_decref(unknown);
    json_decref(body);
}

static void test_unknown_sorted(void **state)
{
    (void)state;
    json_t *body = load("{\"zeta\":1,\"provider\":\"awskms\",\"b\":null,\"alpha\":[1],"
                        "\"Provider\":\"x\",\"a\":{},\"purposes\":\"x\"}");
    struct param_value out[NALL];
    json_t *unknown = NULL;
    char err[ERRLEN];
    assert_int_equal(params_parse(all_specs, NALL, body, out, &unknown, err, sizeof(err)), 0);
    assert_string_equal(out[0].s, "awskms");
    assert_non_null(unknown);
    json_t *want = load("[\"Provider\",\"a\",\"alpha\",\"b\",\"purposes\",\"zeta\"]");
    assert_true(json_equal(unknown, want));
    char *w = params_unknown_warning(unknown);
    assert_string_equal(
        w, "Endpoint ignored these unrecognized parameters: [Provider a alpha b purposes zeta]");
    free(w);
    json_decref(want);
    json_decref(unknown);
    params_release(out, NALL);
    json_decref(body);

    /* unknown may be NULL when the caller does not want the list */
    body = load("{\"x\":1}");
    assert_int_equal(params_parse(all_specs, NALL, body, out, NULL, err, sizeof(err)), 0);
    params_release(out, NALL);
    json_decref(body);
}

static void test_unknown_warning_text(void **state)
{
    (void)state;
    json_t *u = load("[\"a\",\"b\"]");
    char *w = params_unknown_warning(u);
    assert_string_equal(w, "Endpoint ignored these unrecognized parameters: [a b]");
    free(w);
    json_decref(u);

    u = load("[\"x\"]");
    w = params_unknown_warning(u);
    assert_string_equal(w, "Endpoint ignored these unrecognized parameters: [x]");
    free(w);
    json_decref(u);

    /* long names are not truncated */
    char name[300];
    memset(name, 'n', 299);
    name[299] = '\0';
    u = json_pack("[s,s]", name, name);
    w = params_unknown_warning(u);
    char want[700];
    snprintf(want, sizeof(want), "Endpoint ignored these unrecognized parameters: [%s %s]", name,
             name);
    assert_string_equal(w, want);
    free(w);
    json_decref(u);
}

/* A bad value fails the whole parse, names that parameter, and releases what was parsed. */
static void test_error_names_param_and_releases(void **state)
{
    (void)state;
    json_t *body = load("{\"credentials\":{\"a\":\"b\"},\"purpose\":[\"x\"],"
                        "\"min_enabled_version\":\"two\",\"zzz\":1}");
    const struct param_spec specs[] = {
        {"credentials", PARAM_KVPAIRS},
        {"purpose", PARAM_COMMA_SLICE},
        {"min_enabled_version", PARAM_INT},
    };
    struct param_value out[3];
    json_t *unknown = (json_t *)1;
    char err[ERRLEN] = "";
    assert_int_equal(params_parse(specs, 3, body, out, &unknown, err, sizeof(err)), -1);
    assert_string_equal(err, "invalid value for \"min_enabled_version\": expected an integer");
    assert_null(unknown);
    for (size_t i = 0; i < 3; i++) {
        assert_null(out[i].kv);
        assert_null(out[i].list);
    }
    params_release(out, 3); /* harmless after a failed parse */
    json_decref(body);
}

static void test_error_message_truncated_safely(void **state)
{
    (void)state;
    json_t *body = load("{\"deletion_allowed\":\"yes\"}");
    const struct param_spec spec = {"deletion_allowed", PARAM_BOOL};
    struct param_value v;
    char err[16];
    memset(err, 'X', sizeof(err));
    assert_int_equal(params_parse(&spec, 1, body, &v, NULL, err, sizeof(err)), -1);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_memory_equal(err, "invalid value f", 15);
    json_decref(body);
}

static void test_release_idempotent(void **state)
{
    (void)state;
    struct param_value v;
    char err[ERRLEN];
    assert_int_equal(parse_one(PARAM_COMMA_SLICE, "\"a,b\"", &v, err), 0);
    params_release(&v, 1);
    params_release(&v, 1);
    assert_null(v.list);
    params_release(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_string_rejects),
        cmocka_unit_test(test_int_accepts),
        cmocka_unit_test(test_int_rejects),
        cmocka_unit_test(test_int_real_overflow_boundary),
        cmocka_unit_test(test_bool_accepts),
        cmocka_unit_test(test_bool_rejects),
        cmocka_unit_test(test_kvpairs_accepts),
        cmocka_unit_test(test_kvpairs_owned),
        cmocka_unit_test(test_kvpairs_rejects),
        cmocka_unit_test(test_comma_slice_accepts),
        cmocka_unit_test(test_comma_slice_rejects),
        cmocka_unit_test(test_all_types_together),
        cmocka_unit_test(test_null_is_absent),
        cmocka_unit_test(test_null_body),
        cmocka_unit_test(test_no_specs_null_out),
        cmocka_unit_test(test_unknown_sorted),
        cmocka_unit_test(test_unknown_warning_text),
        cmocka_unit_test(test_error_names_param_and_releases),
        cmocka_unit_test(test_error_message_truncated_safely),
        cmocka_unit_test(test_release_idempotent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
