/*
 * test_codec.c — base64 (RFC 4648 §4, strict) and hex.
 */
#include "unit.h"

#include "keymgmt/codec.h"

static const struct {
    const char *plain;
    const char *b64;
} rfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};
#define NRFC (sizeof(rfc4648) / sizeof(rfc4648[0]))

static void test_b64_encode_rfc4648(void **state)
{
    (void)state;
    for (size_t i = 0; i < NRFC; i++) {
        char *e =
            codec_b64_encode((const unsigned char *)rfc4648[i].plain, strlen(rfc4648[i].plain));
        assert_non_null(e);
        assert_string_equal(e, rfc4648[i].b64);
        free(e);
    }
}

static void test_b64_decode_rfc4648(void **state)
{
    (void)state;
    for (size_t i = 0; i < NRFC; i++) {
        size_t n = 12345;
        unsigned char *d = codec_b64_decode(rfc4648[i].b64, strlen(rfc4648[i].b64), &n);
        if (d == NULL)
            fail_msg("decode rejected \"%s\"", rfc4648[i].b64);
        assert_int_equal(n, strlen(rfc4648[i].plain));
        assert_memory_equal(d, rfc4648[i].plain, n);
        assert_int_equal(d[n], '\0'); /* terminated, not counted */
        codec_free_secret(d, n);
    }
}

static void test_b64_binary(void **state)
{
    (void)state;
    static const struct {
        unsigned char in[4];
        size_t len;
        const char *b64;
    } cases[] = {
        {{0xfb, 0xff}, 2, "+/8="},       {{0xfb, 0xef, 0xbe}, 3, "++++"},
        {{0xff, 0xff, 0xff}, 3, "////"}, {{0x00}, 1, "AA=="},
        {{0x00, 0x00}, 2, "AAA="},       {{0x00, 0x00, 0x00}, 3, "AAAA"},
        {{0x00, 0x10, 0x83}, 3, "ABCD"}, {{0x14, 0xfb, 0x9c, 0x03}, 4, "FPucAw=="},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *e = codec_b64_encode(cases[i].in, cases[i].len);
        assert_string_equal(e, cases[i].b64);
        free(e);
        size_t n = 0;
        unsigned char *d = codec_b64_decode(cases[i].b64, strlen(cases[i].b64), &n);
        assert_non_null(d);
        assert_int_equal(n, cases[i].len);
        assert_memory_equal(d, cases[i].in, n);
        free(d);
    }
}

/* Every length 0..200 and every byte value round-trips; output has the standard length and
 * no newlines (OpenSSL's BIO encoder would wrap at 64). */
static void test_b64_round_trip(void **state)
{
    (void)state;
    unsigned char buf[256];
    unsigned ctr = 0;
    for (size_t len = 0; len <= 200; len++) {
        unit_fake_fill(&ctr, buf, len);
        char *e = codec_b64_encode(buf, len);
        assert_int_equal(strlen(e), 4 * ((len + 2) / 3));
        assert_null(strchr(e, '\n'));
        size_t n = 0;
        unsigned char *d = codec_b64_decode(e, strlen(e), &n);
        assert_non_null(d);
        assert_int_equal(n, len);
        assert_memory_equal(d, buf, len);
        free(d);
        free(e);
    }
    for (unsigned i = 0; i < 256; i++)
        buf[i] = (unsigned char)i;
    char *e = codec_b64_encode(buf, 256);
    size_t n = 0;
    unsigned char *d = codec_b64_decode(e, strlen(e), &n);
    assert_int_equal(n, 256);
    assert_memory_equal(d, buf, 256);
    free(d);
    free(e);
}

static void test_b64_decode_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        /* wrong length */
        "Z",
        "Zg",
        "Zg=",
        "Zm9",
        "Zm9vY",
        "Zm9vYg",
        "Zm9vYg=",
        "Zm9vYmFy=",
        /* padding in the wrong place / too much */
        "=",
        "==",
        "===",
        "====",
        "Z===",
        "=Zg=",
        "Zg=a",
        "Z=g=",
        "Zm=v",
        "Zg==Zg==",
        "Zm9=vYmFy",
        "Zm9vY===",
        "Zm8=Zm8=",
        /* whitespace */
        " Zm9v",
        "Zm9v ",
        "Zm 9v",
        "Zm9v\n",
        "Zm9\nv",
        "\tZm9v",
        "Zm9v\r\n",
        "Zm9vYmFy    ",
        /* characters outside the standard alphabet */
        "Zm9-",
        "Zm9_",
        "Zm9.",
        "Zm9*",
        "Zm9!",
        "Zm9v:",
        "Zm\xc3\xa9",
        "Zm9@",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = 777;
        unsigned char *d = codec_b64_decode(bad[i], strlen(bad[i]), &n);
        if (d != NULL) {
            free(d);
            fail_msg("decode accepted \"%s\"", bad[i]);
        }
    }
    /* a NUL inside the counted length */
    static const char nul[] = "Zm9\0";
    size_t n = 0;
    assert_null(codec_b64_decode(nul, 4, &n));
    static const char nul2[] = "Zg\0=";
    assert_null(codec_b64_decode(nul2, 4, &n));
}

/* Only inlen bytes are read. */
static void test_b64_decode_uses_length(void **state)
{
    (void)state;
    size_t n = 0;
    unsigned char *d = codec_b64_decode("Zm9vYmFy", 4, &n);
    assert_non_null(d);
    assert_int_equal(n, 3);
    assert_memory_equal(d, "foo", 3);
    free(d);
    d = codec_b64_decode("Zm9vYmFy!!!", 8, &n);
    assert_non_null(d);
    assert_int_equal(n, 6);
    free(d);
    d = codec_b64_decode("garbage", 0, &n);
    assert_non_null(d);
    assert_int_equal(n, 0);
    assert_int_equal(d[0], '\0');
    free(d);
}

static void test_hex(void **state)
{
    (void)state;
    char out[64];
    static const unsigned char in[] = {0x00, 0x01, 0x0f, 0x10, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
    memset(out, 'X', sizeof(out));
    codec_hex(in, sizeof(in), out);
    assert_string_equal(out, "00010f107f80abcdefff");
    memset(out, 'X', sizeof(out));
    codec_hex(in, 0, out);
    assert_string_equal(out, "");
    memset(out, 'X', sizeof(out));
    codec_hex(in + 6, 1, out);
    assert_string_equal(out, "ab");
    assert_int_equal(out[3], 'X'); /* writes exactly 2*len+1 bytes */
    /* all byte values */
    unsigned char all[256];
    char hex[513];
    for (unsigned i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    codec_hex(all, 256, hex);
    assert_int_equal(strlen(hex), 512);
    for (unsigned i = 0; i < 256; i++) {
        char want[3];
        snprintf(want, sizeof(want), "%02x", i);
        assert_memory_equal(hex + 2 * i, want, 2);
    }
}

static void test_free_secret(void **state)
{
    (void)state;
    codec_free_secret(NULL, 0);
    codec_free_secret(NULL, 100);
    char *p = malloc(16);
    assert_non_null(p);
    memset(p, 'k', 16);
    codec_free_secret(p, 16);
    char *e = codec_b64_encode((const unsigned char *)"", 0);
    assert_string_equal(e, "");
    codec_free_secret(e, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_encode_rfc4648),
        cmocka_unit_test(test_b64_decode_rfc4648),
        cmocka_unit_test(test_b64_binary),
        cmocka_unit_test(test_b64_round_trip),
        cmocka_unit_test(test_b64_decode_rejects),
        cmocka_unit_test(test_b64_decode_uses_length),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_free_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
