/*
 * test_kmswrap.c — RSAES_OAEP_SHA_256 wrapping, checked by unwrapping with
 * generated keys.
 */
#include "unit.h"

#include "keymgmt/kmswrap.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

static EVP_PKEY *rsa2048, *rsa4096;

static int setup(void **state)
{
    (void)state;
    rsa2048 = EVP_RSA_gen(2048);
    rsa4096 = EVP_RSA_gen(4096);
    return rsa2048 != NULL && rsa4096 != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(rsa2048);
    EVP_PKEY_free(rsa4096);
    return 0;
}

static unsigned char *spki_of(EVP_PKEY *k, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    assert_true(n > 0);
    *len = (size_t)n;
    return der;
}

/* Unwrap with OAEP using `md` for both the OAEP digest and MGF1. */
static int unwrap(EVP_PKEY *k, const EVP_MD *md, const unsigned char *in, size_t inlen,
                  unsigned char *out, size_t *outlen)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
    int ok = ctx != NULL && EVP_PKEY_decrypt_init(ctx) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1 &&
             EVP_PKEY_decrypt(ctx, out, outlen, in, inlen) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : -1;
}

static void roundtrip(EVP_PKEY *k, size_t keybytes)
{
    unsigned char material[32], out[1024];
    size_t spki_len = 0, wlen = 0, wlen2 = 0, outlen = sizeof(out);
    unsigned char *wrapped = NULL, *wrapped2 = NULL;
    char err[128];
    for (size_t i = 0; i < sizeof(material); i++)
        material[i] = (unsigned char)(i * 7 + 1);
    unsigned char *spki = spki_of(k, &spki_len);

    assert_int_equal(kmswrap_rsa_oaep_sha256(spki, spki_len, material, sizeof(material), &wrapped,
                                             &wlen, err, sizeof(err)),
                     KM_OK);
    assert_int_equal(wlen, keybytes);
    assert_int_equal(unwrap(k, EVP_sha256(), wrapped, wlen, out, &outlen), 0);
    assert_int_equal(outlen, sizeof(material));
    assert_memory_equal(out, material, sizeof(material));

    /* it really is SHA-256 OAEP: SHA-1 parameters do not unwrap it */
    outlen = sizeof(out);
    assert_int_equal(unwrap(k, EVP_sha1(), wrapped, wlen, out, &outlen), -1);

    /* OAEP is randomised */
    assert_int_equal(kmswrap_rsa_oaep_sha256(spki, spki_len, material, sizeof(material), &wrapped2,
                                             &wlen2, err, sizeof(err)),
                     KM_OK);
    assert_int_equal(wlen2, wlen);
    assert_memory_not_equal(wrapped, wrapped2, wlen);

    free(wrapped);
    free(wrapped2);
    OPENSSL_free(spki);
}

static void test_wrap_rsa2048(void **state)
{
    (void)state;
    roundtrip(rsa2048, 256);
}

static void test_wrap_rsa4096(void **state)
{
    (void)state;
    roundtrip(rsa4096, 512);
}

static void expect_refused(const unsigned char *spki, size_t len, const unsigned char *m,
                           size_t mlen, const char *why)
{
    unsigned char *out = (unsigned char *)"untouched";
    size_t outlen = 99;
    char err[128];
    assert_int_equal(kmswrap_rsa_oaep_sha256(spki, len, m, mlen, &out, &outlen, err, sizeof(err)),
                     KM_EINVAL);
    assert_null(out);
    assert_int_equal(outlen, 0);
    assert_string_equal(err, why);
}

static void test_refusals(void **state)
{
    (void)state;
    unsigned char m[512] = {1};
    size_t len = 0;
    unsigned char *spki = spki_of(rsa2048, &len);

    expect_refused(spki, len, m, 0, "key material does not fit the wrapping key");
    expect_refused(spki, len, m, 256 - 2 * 32 - 1, "key material does not fit the wrapping key");
    expect_refused(spki, len - 1, m, 32, "wrapping key is not a DER SubjectPublicKeyInfo");
    expect_refused((const unsigned char *)"junk", 4, m, 32,
                   "wrapping key is not a DER SubjectPublicKeyInfo");
    expect_refused(NULL, 0, m, 32, "wrapping key is not a DER SubjectPublicKeyInfo");

    unsigned char *longer = malloc(len + 1);
    memcpy(longer, spki, len);
    longer[len] = 0;
    expect_refused(longer, len + 1, m, 32, "wrapping key is not a DER SubjectPublicKeyInfo");
    free(longer);
    OPENSSL_free(spki);

    EVP_PKEY *ec = EVP_EC_gen("P-256");
    assert_non_null(ec);
    spki = spki_of(ec, &len);
    expect_refused(spki, len, m, 32, "wrapping key is not an RSA key");
    OPENSSL_free(spki);
    EVP_PKEY_free(ec);

    EVP_PKEY *small = EVP_RSA_gen(1024);
    assert_non_null(small);
    spki = spki_of(small, &len);
    expect_refused(spki, len, m, 32, "wrapping key is shorter than 2048 bits");
    OPENSSL_free(spki);
    EVP_PKEY_free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap_rsa2048),
        cmocka_unit_test(test_wrap_rsa4096),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
