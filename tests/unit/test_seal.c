/*
 * test_seal.c — seal key parsing, keyrings, sealing and opening blobs.
 */
#include "unit.h"

#include "keymgmt/codec.h"
#include "keymgmt/config.h"
#include "keymgmt/seal.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

/* base64 of bytes 0x00..0x1f */
#define KEY_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
/* base64 of 32 bytes of 0xff */
#define KEY_B "//////////////////////////////////////////8="

static int failing_fill(void *ctx, unsigned char *buf, size_t n)
{
    (void)ctx;
    (void)buf;
    (void)n;
    return -1;
}

static struct seal_key parse_ok(const char *text)
{
    struct seal_key k;
    memset(&k, 0, sizeof(k));
    if (seal_key_parse(&k, text) != 0)
        fail_msg("seal_key_parse rejected \"%s\"", text);
    return k;
}

static struct seal_keyring ring_of(const char *const *texts, size_t n)
{
    struct seal_keyring r;
    memset(&r, 0, sizeof(r));
    for (size_t i = 0; i < n; i++) {
        struct seal_key k = parse_ok(texts[i]);
        assert_int_equal(seal_keyring_add(&r, &k), 0);
    }
    return r;
}

/* The key id is the first 8 bytes of HMAC-SHA256(key, "keymgmt seal key id"). */
static void expected_id(const unsigned char key[32], unsigned char id[8])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    assert_non_null(
        HMAC(EVP_sha256(), key, 32, (const unsigned char *)"keymgmt seal key id", 19, mac, &len));
    memcpy(id, mac, 8);
}

/* ---- keys ---- */

static void test_key_parse(void **state)
{
    (void)state;
    struct seal_key k = parse_ok(KEY_A);
    for (unsigned i = 0; i < 32; i++)
        assert_int_equal(k.key[i], i);
    unsigned char id[8];
    expected_id(k.key, id);
    assert_memory_equal(k.id, id, 8);

    /* surrounding whitespace is ignored and gives the same key */
    static const char *const spaced[] = {
        "  AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "\t\r\n AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= \r\n\t",
    };
    for (size_t i = 0; i < sizeof(spaced) / sizeof(spaced[0]); i++) {
        struct seal_key s = parse_ok(spaced[i]);
        assert_memory_equal(s.key, k.key, 32);
        assert_memory_equal(s.id, k.id, 8);
    }
    /* a different key has a different id */
    struct seal_key b = parse_ok(KEY_B);
    unsigned char ones[32];
    memset(ones, 0xff, sizeof(ones));
    assert_memory_equal(b.key, ones, 32);
    expected_id(b.key, id);
    assert_memory_equal(b.id, id, 8);
    assert_memory_not_equal(b.id, k.id, 8);
}

static void test_key_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "   ",
        "\n",
        /* 31 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
        /* 33 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",
        /* 48 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v",
        /* 16 bytes */
        "AAECAwQFBgcICQoLDA0ODw==",
        /* missing padding */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        /* inner whitespace */
        "AAECAwQFBgcICQoLDA0ODxAR EhMUFRYXGBkaGxwdHh8=",
        "AAECAwQFBgcICQoLDA0ODxAR\nEhMUFRYXGBkaGxwdHh8=",
        /* bad characters */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8!",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd-h8=",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd_h8=",
        /* hex of 32 bytes is not base64 of 32 bytes */
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "not a key",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct seal_key k;
        memset(&k, 0x5a, sizeof(k));
        if (seal_key_parse(&k, bad[i]) != -1)
            fail_msg("seal_key_parse accepted \"%s\"", bad[i]);
    }
}

static void test_key_generate(void **state)
{
    (void)state;
    unsigned ctr = 0;
    struct rng fake = {unit_fake_fill, &ctr};
    char text[64];
    memset(text, 'X', sizeof(text));
    assert_int_equal(seal_key_generate(&fake, text), 0);
    assert_int_equal(strlen(text), 44);
    assert_int_equal(text[43], '=');
    struct seal_key k = parse_ok(text);
    /* the material is exactly what the rng produced */
    unsigned again = 0;
    unsigned char want[32];
    unit_fake_fill(&again, want, sizeof(want));
    assert_memory_equal(k.key, want, 32);
    /* the next key differs */
    char text2[64];
    assert_int_equal(seal_key_generate(&fake, text2), 0);
    assert_string_not_equal(text, text2);
    parse_ok(text2);
    /* the system rng works too */
    assert_int_equal(seal_key_generate(&rng_system, text2), 0);
    assert_int_equal(strlen(text2), 44);
    parse_ok(text2);
    /* an rng failure is reported */
    struct rng broken = {failing_fill, NULL};
    assert_int_equal(seal_key_generate(&broken, text2), -1);
}

static void test_keyring_add(void **state)
{
    (void)state;
    struct seal_keyring r;
    memset(&r, 0, sizeof(r));
    struct seal_key a = parse_ok(KEY_A);
    struct seal_key b = parse_ok(KEY_B);
    assert_int_equal(seal_keyring_add(&r, &a), 0);
    assert_int_equal(r.n, 1);
    /* the same key twice is stored once */
    assert_int_equal(seal_keyring_add(&r, &a), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(seal_keyring_add(&r, &b), 0);
    assert_int_equal(r.n, 2);
    assert_memory_equal(r.keys[0].id, a.id, 8); /* the first added is current */
    assert_memory_equal(r.keys[1].id, b.id, 8);

    char hex[17];
    seal_current_id_hex(&r, hex);
    char want[17];
    codec_hex(a.id, 8, want);
    assert_string_equal(hex, want);

    /* at most SEAL_MAX_KEYS */
    unsigned ctr = 100;
    struct rng fake = {unit_fake_fill, &ctr};
    while (r.n < SEAL_MAX_KEYS) {
        char text[64];
        assert_int_equal(seal_key_generate(&fake, text), 0);
        struct seal_key k = parse_ok(text);
        assert_int_equal(seal_keyring_add(&r, &k), 0);
    }
    char text[64];
    assert_int_equal(seal_key_generate(&fake, text), 0);
    struct seal_key extra = parse_ok(text);
    assert_int_equal(seal_keyring_add(&r, &extra), -1);
    assert_int_equal(r.n, SEAL_MAX_KEYS);

    seal_keyring_wipe(&r);
    assert_int_equal(r.n, 0);
    static const unsigned char zero[sizeof(r.keys)];
    assert_memory_equal(r.keys, zero, sizeof(r.keys));
}

/* ---- sealing ---- */

static const char AD[] = "provider:aws-east";

static void seal_ok(const struct seal_keyring *r, unsigned *ctr, const char *ad, const void *pt,
                    size_t ptlen, unsigned char **blob, size_t *bloblen)
{
    struct rng fake = {unit_fake_fill, ctr};
    *blob = NULL;
    assert_int_equal(seal_encrypt(r, &fake, ad, pt, ptlen, blob, bloblen), SEAL_OK);
    assert_non_null(*blob);
    assert_int_equal(*bloblen, ptlen + SEAL_OVERHEAD);
}

static enum seal_result open_blob(const struct seal_keyring *r, const char *ad,
                                  const unsigned char *blob, size_t len, unsigned char **out,
                                  size_t *outlen)
{
    *out = (unsigned char *)1;
    *outlen = 12345;
    enum seal_result res = seal_decrypt(r, ad, blob, len, out, outlen);
    if (res != SEAL_OK)
        assert_null(*out);
    return res;
}

/* Decrypt a blob independently with OpenSSL, following the documented layout. */
static void independent_open(const unsigned char key[32], const char *ad, const unsigned char *blob,
                             size_t len, unsigned char *pt)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;
    size_t ctlen = len - SEAL_OVERHEAD;
    assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL), 1);
    assert_int_equal(EVP_DecryptInit_ex(c, NULL, NULL, key, blob + 9), 1);
    assert_int_equal(EVP_DecryptUpdate(c, NULL, &n, blob, 21), 1);
    if (ad[0] != '\0')
        assert_int_equal(EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)ad, (int)strlen(ad)),
                         1);
    if (ctlen > 0)
        assert_int_equal(EVP_DecryptUpdate(c, pt, &n, blob + 21, (int)ctlen), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)(blob + 21 + ctlen)),
                     1);
    assert_int_equal(EVP_DecryptFinal_ex(c, pt + n, &n), 1);
    EVP_CIPHER_CTX_free(c);
}

static void test_round_trip_and_layout(void **state)
{
    (void)state;
    const char *keys[] = {KEY_A};
    struct seal_keyring r = ring_of(keys, 1);
    static const char pt[] = "{\"secret_key\":\"wJalrXUtnFEMI/K7MDENG\"}";
    unsigned ctr = 7;
    unsigned char *blob;
    size_t len;
    seal_ok(&r, &ctr, AD, pt, strlen(pt), &blob, &len);

    assert_int_equal(SEAL_HEADER_BYTES, 21);
    assert_int_equal(SEAL_OVERHEAD, 37);
    assert_int_equal(blob[0], 0x01);
    assert_memory_equal(blob + 1, r.keys[0].id, 8);
    /* the nonce is the next 12 bytes of the rng */
    unsigned c2 = 7;
    unsigned char nonce[12];
    unit_fake_fill(&c2, nonce, sizeof(nonce));
    assert_memory_equal(blob + 9, nonce, 12);
    assert_int_equal(ctr, 7 + 12);
    /* the plaintext does not appear in the blob */
    assert_memory_not_equal(blob + 21, pt, 16);

    unsigned char *out;
    size_t outlen;
    assert_int_equal(open_blob(&r, AD, blob, len, &out, &outlen), SEAL_OK);
    assert_int_equal(outlen, strlen(pt));
    assert_memory_equal(out, pt, outlen);
    assert_int_equal(out[outlen], '\0'); /* NUL-terminated for convenience */
    codec_free_secret(out, outlen);

    /* AES-256-GCM with AAD = header || ad, checked with OpenSSL directly */
    unsigned char indep[sizeof(pt)];
    independent_open(r.keys[0].key, AD, blob, len, indep);
    assert_memory_equal(indep, pt, strlen(pt));

    free(blob);
    seal_keyring_wipe(&r);
}

static void test_binary_and_sizes(void **state)
{
    (void)state;
    const char *keys[] = {KEY_B};
    struct seal_keyring r = ring_of(keys, 1);
    unsigned ctr = 0;
    static const size_t sizes[] = {1, 15, 16, 17, 31, 32, 33, 255, 256, 4096};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        unsigned char *pt = malloc(sizes[s]);
        assert_non_null(pt);
        for (size_t i = 0; i < sizes[s]; i++)
            pt[i] = (unsigned char)(i * 7); /* includes NUL bytes */
        unsigned char *blob, *out;
        size_t len, outlen;
        seal_ok(&r, &ctr, "key:k:1", pt, sizes[s], &blob, &len);
        assert_int_equal(open_blob(&r, "key:k:1", blob, len, &out, &outlen), SEAL_OK);
        assert_int_equal(outlen, sizes[s]);
        assert_memory_equal(out, pt, sizes[s]);
        codec_free_secret(out, outlen);
        free(blob);
        free(pt);
    }
    seal_keyring_wipe(&r);
}

static void test_empty_plaintext_and_ad(void **state)
{
    (void)state;
    const char *keys[] = {KEY_A};
    struct seal_keyring r = ring_of(keys, 1);
    unsigned ctr = 0;
    unsigned char *blob, *out;
    size_t len, outlen;
    seal_ok(&r, &ctr, AD, "", 0, &blob, &len);
    assert_int_equal(len, SEAL_OVERHEAD);
    assert_int_equal(open_blob(&r, AD, blob, len, &out, &outlen), SEAL_OK);
    assert_int_equal(outlen, 0);
    assert_non_null(out);
    assert_int_equal(out[0], '\0');
    codec_free_secret(out, outlen);
    /* even an empty plaintext is authenticated */
    assert_int_equal(open_blob(&r, "provider:other", blob, len, &out, &outlen), SEAL_EAUTH);
    blob[len - 1] ^= 1;
    assert_int_equal(open_blob(&r, AD, blob, len, &out, &outlen), SEAL_EAUTH);
    free(blob);

    /* empty associated data round-trips, and differs from non-empty */
    seal_ok(&r, &ctr, "", "x", 1, &blob, &len);
    assert_int_equal(open_blob(&r, "", blob, len, &out, &outlen), SEAL_OK);
    assert_int_equal(outlen, 1);
    assert_int_equal(out[0], 'x');
    codec_free_secret(out, outlen);
    assert_int_equal(open_blob(&r, "x", blob, len, &out, &outlen), SEAL_EAUTH);
    free(blob);
    seal_keyring_wipe(&r);
}

static void test_wrong_ad(void **state)
{
    (void)state;
    const char *keys[] = {KEY_A};
    struct seal_keyring r = ring_of(keys, 1);
    unsigned ctr = 0;
    unsigned char *blob, *out;
    size_t len, outlen;
    seal_ok(&r, &ctr, "provider:a", "secret", 6, &blob, &len);
    static const char *const wrong[] = {"provider:b", "provider:", "provider:aa", "Provider:a",
                                        "key:a",      "",          "provider:a ", "provider"};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        if (open_blob(&r, wrong[i], blob, len, &out, &outlen) != SEAL_EAUTH)
            fail_msg("opened with associated data \"%s\"", wrong[i]);
    }
    assert_int_equal(open_blob(&r, "provider:a", blob, len, &out, &outlen), SEAL_OK);
    codec_free_secret(out, outlen);
    free(blob);
    seal_keyring_wipe(&r);
}

/* Flip each bit position of each byte in turn: never opens. */
static void test_tamper_every_byte(void **state)
{
    (void)state;
    const char *keys[] = {KEY_A};
    struct seal_keyring r = ring_of(keys, 1);
    unsigned ctr = 3;
    unsigned char *blob, *out;
    size_t len, outlen;
    seal_ok(&r, &ctr, AD, "tamper me", 9, &blob, &len);
    for (size_t i = 0; i < len; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            blob[i] ^= (unsigned char)(1u << bit);
            enum seal_result res = open_blob(&r, AD, blob, len, &out, &outlen);
            enum seal_result want = i == 0 ? SEAL_EFORMAT : i < 9 ? SEAL_EKEY : SEAL_EAUTH;
            if (res != want)
                fail_msg("byte %zu bit %u: result %d, want %d", i, bit, (int)res, (int)want);
            blob[i] ^= (unsigned char)(1u << bit);
        }
    }
    /* the untouched blob still opens */
    assert_int_equal(open_blob(&r, AD, blob, len, &out, &outlen), SEAL_OK);
    codec_free_secret(out, outlen);
    free(blob);
    seal_keyring_wipe(&r);
}

static void test_truncated_and_extended(void **state)
{
    (void)state;
    const char *keys[] = {KEY_A};
    struct seal_keyring r = ring_of(keys, 1);
    unsigned ctr = 0;
    unsigned char *blob, *out;
    size_t len, outlen;
    seal_ok(&r, &ctr, AD, "0123456789", 10, &blob, &len);
    for (size_t n = 0; n < SEAL_OVERHEAD; n++) {
        if (open_blob(&r, AD, blob, n, &out, &outlen) != SEAL_EFORMAT)
            fail_msg("a %zu-byte blob was not SEAL_EFORMAT", n);
    }
    for (size_t n = SEAL_OVERHEAD; n < len; n++) {
        if (open_blob(&r, AD, blob, n, &out, &outlen) != SEAL_EAUTH)
            fail_msg("a blob truncated to %zu bytes was not SEAL_EAUTH", n);
    }
    unsigned char *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, blob, len);
    longer[len] = 0;
    assert_int_equal(open_blob(&r, AD, longer, len + 1, &out, &outlen), SEAL_EAUTH);
    free(longer);
    /* an unknown version byte */
    blob[0] = 0x02;
    assert_int_equal(open_blob(&r, AD, blob, len, &out, &outlen), SEAL_EFORMAT);
    blob[0] = 0x00;
    assert_int_equal(open_blob(&r, AD, blob, len, &out, &outlen), SEAL_EFORMAT);
    free(blob);
    seal_keyring_wipe(&r);
}

static void test_rotation(void **state)
{
    (void)state;
    const char *only_a[] = {KEY_A};
    const char *b_then_a[] = {KEY_B, KEY_A};
    const char *only_b[] = {KEY_B};
    struct seal_keyring ra = ring_of(only_a, 1);
    struct seal_keyring rba = ring_of(b_then_a, 2);
    struct seal_keyring rb = ring_of(only_b, 1);
    unsigned ctr = 0;
    unsigned char *blob_a, *blob_b, *out;
    size_t len_a, len_b, outlen;

    seal_ok(&ra, &ctr, AD, "old", 3, &blob_a, &len_a);
    assert_true(seal_is_current(&ra, blob_a, len_a));
    /* after rotation to B, the old blob still opens with the previous key */
    assert_false(seal_is_current(&rba, blob_a, len_a));
    assert_int_equal(open_blob(&rba, AD, blob_a, len_a, &out, &outlen), SEAL_OK);
    assert_int_equal(outlen, 3);
    assert_memory_equal(out, "old", 3);
    codec_free_secret(out, outlen);
    /* a keyring without A does not hold its key */
    assert_int_equal(open_blob(&rb, AD, blob_a, len_a, &out, &outlen), SEAL_EKEY);
    assert_false(seal_is_current(&rb, blob_a, len_a));

    /* new seals use the current key B */
    seal_ok(&rba, &ctr, AD, "new", 3, &blob_b, &len_b);
    assert_memory_equal(blob_b + 1, rb.keys[0].id, 8);
    assert_true(seal_is_current(&rba, blob_b, len_b));
    assert_true(seal_is_current(&rb, blob_b, len_b));
    assert_false(seal_is_current(&ra, blob_b, len_b));
    assert_int_equal(open_blob(&ra, AD, blob_b, len_b, &out, &outlen), SEAL_EKEY);
    assert_int_equal(open_blob(&rb, AD, blob_b, len_b, &out, &outlen), SEAL_OK);
    codec_free_secret(out, outlen);

    /* a blob whose key id is replaced by another known key's id fails authentication */
    memcpy(blob_a + 1, rb.keys[0].id, 8);
    assert_int_equal(open_blob(&rba, AD, blob_a, len_a, &out, &outlen), SEAL_EAUTH);

    /* seal_is_current on malformed input */
    assert_false(seal_is_current(&rba, blob_b, SEAL_OVERHEAD - 1));
    assert_false(seal_is_current(&rba, blob_b, 0));
    blob_b[0] = 0x02;
    assert_false(seal_is_current(&rba, blob_b, len_b));
    blob_b[0] = 0x01;
    struct seal_keyring empty;
    memset(&empty, 0, sizeof(empty));
    assert_false(seal_is_current(&empty, blob_b, len_b));
    assert_int_equal(open_blob(&empty, AD, blob_b, len_b, &out, &outlen), SEAL_EKEY);

    free(blob_a);
    free(blob_b);
    seal_keyring_wipe(&ra);
    seal_keyring_wipe(&rba);
    seal_keyring_wipe(&rb);
}

static void test_distinct_nonces(void **state)
{
    (void)state;
    const char *keys[] = {KEY_A};
    struct seal_keyring r = ring_of(keys, 1);
    unsigned ctr = 0;
    unsigned char *b1, *b2, *out;
    size_t l1, l2, outlen;
    seal_ok(&r, &ctr, AD, "same", 4, &b1, &l1);
    seal_ok(&r, &ctr, AD, "same", 4, &b2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_not_equal(b1 + 9, b2 + 9, 12);
    assert_memory_not_equal(b1 + 21, b2 + 21, l1 - 21);
    assert_int_equal(open_blob(&r, AD, b1, l1, &out, &outlen), SEAL_OK);
    codec_free_secret(out, outlen);
    assert_int_equal(open_blob(&r, AD, b2, l2, &out, &outlen), SEAL_OK);
    codec_free_secret(out, outlen);
    free(b1);
    free(b2);
    /* with the system rng too */
    seal_ok(&r, &ctr, AD, "same", 4, &b1, &l1); /* fake */
    assert_int_equal(seal_encrypt(&r, &rng_system, AD, (const unsigned char *)"same", 4, &b2, &l2),
                     SEAL_OK);
    assert_memory_not_equal(b1 + 9, b2 + 9, 12);
    assert_int_equal(open_blob(&r, AD, b2, l2, &out, &outlen), SEAL_OK);
    codec_free_secret(out, outlen);
    free(b1);
    free(b2);
    seal_keyring_wipe(&r);
}

static void test_encrypt_failures(void **state)
{
    (void)state;
    struct seal_keyring empty;
    memset(&empty, 0, sizeof(empty));
    unsigned ctr = 0;
    struct rng fake = {unit_fake_fill, &ctr};
    unsigned char *blob = (unsigned char *)1;
    size_t len = 0;
    assert_int_equal(seal_encrypt(&empty, &fake, AD, (const unsigned char *)"x", 1, &blob, &len),
                     SEAL_EINTERNAL);
    assert_null(blob);

    const char *keys[] = {KEY_A};
    struct seal_keyring r = ring_of(keys, 1);
    struct rng broken = {failing_fill, NULL};
    blob = (unsigned char *)1;
    assert_int_equal(seal_encrypt(&r, &broken, AD, (const unsigned char *)"x", 1, &blob, &len),
                     SEAL_EINTERNAL);
    assert_null(blob);
    seal_keyring_wipe(&r);
}

/* ---- seal_keyring_load ---- */

static char *write_temp(const char *content)
{
    char *path = strdup("/tmp/keymgmt-test-seal-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(content);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    close(fd);
    return path;
}

static void set_str(char **field, const char *v)
{
    free(*field);
    *field = strdup(v);
    assert_non_null(*field);
}

static void test_keyring_load(void **state)
{
    (void)state;
    struct config cfg;
    struct seal_keyring r;
    char err[512];
    struct seal_key a = parse_ok(KEY_A), b = parse_ok(KEY_B);

    config_defaults(&cfg);
    /* no key at all */
    err[0] = '\0';
    assert_int_equal(seal_keyring_load(&r, &cfg, err, sizeof(err)), -1);
    assert_int_equal(r.n, 0);
    assert_string_equal(err, "no seal key: set seal_key_file (or KEYMGMT_SEAL_KEY)");

    /* an inline key */
    set_str(&cfg.seal_key, KEY_A);
    assert_int_equal(seal_keyring_load(&r, &cfg, err, sizeof(err)), 0);
    assert_int_equal(r.n, 1);
    assert_memory_equal(r.keys[0].id, a.id, 8);
    seal_keyring_wipe(&r);

    set_str(&cfg.seal_key, "bad");
    assert_int_equal(seal_keyring_load(&r, &cfg, err, sizeof(err)), -1);
    assert_string_equal(err, "seal_key: not a base64-encoded 32-byte key");
    assert_int_equal(r.n, 0);

    /* a key file plus previous keys (spaces and empty entries ignored, duplicates once) */
    char *fb = write_temp(KEY_B "\n");
    char *fa = write_temp("  " KEY_A "  \n");
    set_str(&cfg.seal_key, "");
    set_str(&cfg.seal_key_file, fb);
    char list[512];
    snprintf(list, sizeof(list), " %s,,\t%s,%s,", fa, fb, fa);
    set_str(&cfg.seal_previous_keys, list);
    assert_int_equal(seal_keyring_load(&r, &cfg, err, sizeof(err)), 0);
    assert_int_equal(r.n, 2);
    assert_memory_equal(r.keys[0].id, b.id, 8);
    assert_memory_equal(r.keys[1].id, a.id, 8);
    seal_keyring_wipe(&r);

    /* a missing previous key file fails the whole load */
    snprintf(list, sizeof(list), "%s,/nonexistent/keymgmt-seal-key", fa);
    set_str(&cfg.seal_previous_keys, list);
    assert_int_equal(seal_keyring_load(&r, &cfg, err, sizeof(err)), -1);
    assert_int_equal(r.n, 0);
    assert_non_null(strstr(err, "/nonexistent/keymgmt-seal-key"));

    /* a key file with bad content */
    char *fbad = write_temp("not a key\n");
    set_str(&cfg.seal_previous_keys, "");
    set_str(&cfg.seal_key_file, fbad);
    assert_int_equal(seal_keyring_load(&r, &cfg, err, sizeof(err)), -1);
    char want[600];
    snprintf(want, sizeof(want), "seal key file %s: not a base64-encoded 32-byte key", fbad);
    assert_string_equal(err, want);

    unlink(fa);
    unlink(fb);
    unlink(fbad);
    free(fa);
    free(fb);
    free(fbad);
    config_free(&cfg);
}

static void test_keyring_load_trailing_space(void **state)
{
    (void)state;
    struct config cfg;
    struct seal_keyring r;
    char err[512] = "";
    config_defaults(&cfg);
    char *fa = write_temp(KEY_A);
    char *fb = write_temp(KEY_B);
    set_str(&cfg.seal_key_file, fb);
    char list[512];
    snprintf(list, sizeof(list), "%s , %s", fa, fb);
    set_str(&cfg.seal_previous_keys, list);
    int rc = seal_keyring_load(&r, &cfg, err, sizeof(err));
    unlink(fa);
    unlink(fb);
    free(fa);
    free(fb);
    config_free(&cfg);
    /* Regression test. Expected: entries trimmed on both sides, load succeeds with 2 keys. */
    assert_int_equal(rc, 0);
    assert_int_equal(r.n, 2);
    seal_keyring_wipe(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_parse),
        cmocka_unit_test(test_key_parse_rejects),
        cmocka_unit_test(test_key_generate),
        cmocka_unit_test(test_keyring_add),
        cmocka_unit_test(test_round_trip_and_layout),
        cmocka_unit_test(test_binary_and_sizes),
        cmocka_unit_test(test_empty_plaintext_and_ad),
        cmocka_unit_test(test_wrong_ad),
        cmocka_unit_test(test_tamper_every_byte),
        cmocka_unit_test(test_truncated_and_extended),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_distinct_nonces),
        cmocka_unit_test(test_encrypt_failures),
        cmocka_unit_test(test_keyring_load),
        cmocka_unit_test(test_keyring_load_trailing_space),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
