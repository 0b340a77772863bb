/*
 * test_validate.c — validate_name, validate_region, validate_alias_prefix,
 * validate_parse_bool.
 */
#include "unit.h"

#include "keymgmt/validate.h"

/* A string of n copies of c followed by an optional tail (buf must hold n+strlen(tail)+1). */
static char *fill(char *buf, char c, size_t n, const char *tail)
{
    memset(buf, c, n);
    size_t t = strlen(tail);
    memcpy(buf + n, tail, t + 1);
    return buf;
}

/* ---- validate_name ---- */

static void test_name_accepts(void **state)
{
    (void)state;
    static const char *const good[] = {
        "a",       "Z",
        "0",       "9",
        "ab",      "a1",
        "1a",      "my-key",
        "my_key",  "my.key",
        "a.b-c_d", "A-._-z",
        "key1",    "AWS2",
        "a--b",    "a..b",
        "a__b",    "0.0.0",
        "x-1.2_3", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!validate_name(good[i]))
            fail_msg("validate_name rejected \"%s\"", good[i]);
    }
}

static void test_name_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        ".",
        "-",
        "_",
        "..",
        "...",
        ".a",
        "a.",
        "-a",
        "a-",
        "_a",
        "a_",
        "/",
        "a/b",
        "a b",
        " a",
        "a ",
        "a\tb",
        "a\nb",
        "a:b",
        "a@b",
        "a+b",
        "a%2eb",
        "a*",
        "a?b",
        "a\\b",
        "a,b",
        "a=b",
        "a~b",
        "a!b",
        "a'b",
        "a\"b",
        "../a",
        "a/..",
        "caf\xc3\xa9",       /* é in UTF-8 */
        "\xc3\xa9t\xc3\xa9", /* é at both ends */
        "a\xe2\x80\x8b"
        "b", /* zero-width space */
        "a\x7f"
        "b",
        "a\x01"
        "b",
        "\xff",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (validate_name(bad[i]))
            fail_msg("validate_name accepted \"%s\" (index %zu)", bad[i], i);
    }
}

static void test_name_length_boundary(void **state)
{
    (void)state;
    char buf[300];
    assert_int_equal(NAME_MAX_LEN, 128);
    assert_true(validate_name(fill(buf, 'a', 127, "")));
    assert_true(validate_name(fill(buf, 'a', 128, "")));
    assert_false(validate_name(fill(buf, 'a', 129, "")));
    assert_false(validate_name(fill(buf, 'a', 256, "")));
    /* 128 with inner punctuation, alphanumeric at both ends */
    fill(buf, '-', 128, "");
    buf[0] = 'a';
    buf[127] = 'z';
    assert_true(validate_name(buf));
    buf[127] = '-';
    assert_false(validate_name(buf));
    /* 129: a valid-looking name one char too long */
    fill(buf, '.', 129, "");
    buf[0] = 'a';
    buf[128] = 'z';
    assert_false(validate_name(buf));
}

/* The whole string counts: a name is judged up to its NUL and not beyond. */
static void test_name_stops_at_nul(void **state)
{
    (void)state;
    static const char s[] = "ab\0/..";
    assert_true(validate_name(s));
    static const char t[] = "a.\0b";
    assert_false(validate_name(t));
}

/* ---- validate_region ---- */

static void test_region_accepts(void **state)
{
    (void)state;
    static const char *const good[] = {
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "us-gov-west-1",
        "us-gov-east-1",
        "cn-north-1",
        "cn-northwest-1",
        "eu-central-1",
        "eu-central-2",
        "eu-west-3",
        "eu-south-2",
        "eu-north-1",
        "ap-southeast-4",
        "ap-northeast-3",
        "ap-south-1",
        "ap-east-1",
        "sa-east-1",
        "ca-central-1",
        "me-south-1",
        "af-south-1",
        "il-central-1",
        "mx-central-1",
        "us-iso-east-1",
        "us-isob-east-1",
        "us-isof-south-1",
        "eusc-de-east-1",
        "zz-northwest-9",
        "us-east-10",
        "us-east-99",
        "abcd-abcde-southwest-99",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!validate_region(good[i]))
            fail_msg("validate_region rejected \"%s\"", good[i]);
    }
}

static void test_region_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "US-EAST-1",
        "Us-east-1",
        "us-East-1",
        "us-east",
        "us-east-1a",
        "us-east-01",
        "us-east-0",
        "us-east-00",
        "us-east-100",
        "us-east-a",
        "us-east--1",
        "us-foo-1",
        "us-up-1",
        "us-eastt-1",
        "us-eas-1",
        "u-east-1",
        "usaaa-east-1",
        "us1-east-1",
        "us--east-1",
        "-us-east-1",
        "us-east-1-",
        "us-east-1--",
        "us-g-east-1",
        "us-govwest-east-1",
        "us-GOV-west-1",
        "us-gov-west-1-x",
        "us-gov-x-west-1",
        "us_east_1",
        "us.east.1",
        "us east 1",
        " us-east-1",
        "us-east-1 ",
        "us-east-1\n",
        "east-1",
        "1",
        "us",
        "us-east-1/",
        "us-east-\xd9\xa1",                   /* Arabic-Indic digit one */
        "aaaa-aaaaa-northwest-99-extra-long", /* > 32 chars */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (validate_region(bad[i]))
            fail_msg("validate_region accepted \"%s\"", bad[i]);
    }
}

static void test_region_length_cap(void **state)
{
    (void)state;
    char buf[64];
    /* 33 characters, otherwise grammatical shapes are impossible; a long string is rejected
     * before any parsing. */
    fill(buf, 'a', 33, "");
    assert_false(validate_region(buf));
    fill(buf, 'a', 20, "-east-1"); /* area too long anyway */
    assert_false(validate_region(buf));
    /* the longest grammatical region (23 chars) is accepted */
    assert_int_equal(strlen("abcd-abcde-southwest-99"), 23);
    assert_true(validate_region("abcd-abcde-southwest-99"));
}

/* ---- validate_alias_prefix ---- */

static void test_alias_prefix(void **state)
{
    (void)state;
    static const char *const good[] = {
        "", "keymgmt/", "a", "A-z_0/9", "team/prod/", "aws", "awsx/", "x/aws/", "-", "_", "/",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!validate_alias_prefix(good[i]))
            fail_msg("validate_alias_prefix rejected \"%s\"", good[i]);
    }
    static const char *const bad[] = {
        "aws/", "aws/x", "aws/keymgmt/", "a.b", "a b", "a:b",
        "a@b",  "a\\b",  "caf\xc3\xa9",  " ",   "a\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (validate_alias_prefix(bad[i]))
            fail_msg("validate_alias_prefix accepted \"%s\"", bad[i]);
    }
    char buf[200];
    assert_true(validate_alias_prefix(fill(buf, 'p', 128, "")));
    assert_false(validate_alias_prefix(fill(buf, 'p', 129, "")));
    assert_true(validate_alias_prefix(fill(buf, '/', 128, "")));
}

/* ---- validate_parse_bool ---- */

static void test_parse_bool_true(void **state)
{
    (void)state;
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        bool b = false;
        if (validate_parse_bool(yes[i], &b) != 0 || b != true)
            fail_msg("validate_parse_bool(\"%s\") did not give true", yes[i]);
    }
}

static void test_parse_bool_false(void **state)
{
    (void)state;
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        bool b = true;
        if (validate_parse_bool(no[i], &b) != 0 || b != false)
            fail_msg("validate_parse_bool(\"%s\") did not give false", no[i]);
    }
}

static void test_parse_bool_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",      "yes",   "no",     "on",     "off", "y",  "n",  "tRuE", "TRue", "fALSE", "FaLsE",
        " true", "true ", "true\n", "2",      "-1",  "01", "10", "00",   "1.0",  "tr",    "tru",
        "truee", "ttrue", "fals",   "falsee", "Y",   "t ", " 1", "\t0",  "null", "nil",   "TRUE\r",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool b = true;
        if (validate_parse_bool(bad[i], &b) != -1)
            fail_msg("validate_parse_bool accepted \"%s\"", bad[i]);
        /* *out is left alone on failure */
        assert_true(b);
        b = false;
        assert_int_equal(validate_parse_bool(bad[i], &b), -1);
        assert_false(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_accepts),         cmocka_unit_test(test_name_rejects),
        cmocka_unit_test(test_name_length_boundary), cmocka_unit_test(test_name_stops_at_nul),
        cmocka_unit_test(test_region_accepts),       cmocka_unit_test(test_region_rejects),
        cmocka_unit_test(test_region_length_cap),    cmocka_unit_test(test_alias_prefix),
        cmocka_unit_test(test_parse_bool_true),      cmocka_unit_test(test_parse_bool_false),
        cmocka_unit_test(test_parse_bool_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
