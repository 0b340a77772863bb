/*
 * keygen.c — key types and material generation; see keygen.h.
 */
#include "keymgmt/keygen.h"
#include "keymgmt/codec.h"
#include "keymgmt/pool.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

#define AES256_BYTES 32

static const struct {
    const char *name;
    int kind;  /* EVP_PKEY_RSA, EVP_PKEY_EC, or 0 for symmetric */
    int param; /* RSA bits or EC curve NID */
} types[KEY_TYPE_COUNT] = {
    [KEY_AES256_GCM96] = {"aes256-gcm96", 0, 0},
    [KEY_RSA_2048] = {"rsa-2048", EVP_PKEY_RSA, 2048},
    [KEY_RSA_3072] = {"rsa-3072", EVP_PKEY_RSA, 3072},
    [KEY_RSA_4096] = {"rsa-4096", EVP_PKEY_RSA, 4096},
    [KEY_ECDSA_P256] = {"ecdsa-p256", EVP_PKEY_EC, NID_X9_62_prime256v1},
    [KEY_ECDSA_P384] = {"ecdsa-p384", EVP_PKEY_EC, NID_secp384r1},
    [KEY_ECDSA_P521] = {"ecdsa-p521", EVP_PKEY_EC, NID_secp521r1},
};

int keygen_type_parse(const char *name, enum key_type *out)
{
    for (int i = 0; i < KEY_TYPE_COUNT; i++) {
        if (strcmp(types[i].name, name) == 0) {
            *out = (enum key_type)i;
            return 0;
        }
    }
    return -1;
}

const char *keygen_type_name(enum key_type t)
{
    return (unsigned)t < KEY_TYPE_COUNT ? types[t].name : "unknown";
}

bool keygen_type_asymmetric(enum key_type t)
{
    return (unsigned)t < KEY_TYPE_COUNT && types[t].kind != 0;
}

static char *public_pem(EVP_PKEY *pk)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL, *data = NULL;
    if (bio == NULL || PEM_write_bio_PUBKEY(bio, pk) != 1)
        goto out;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0)
        goto out;
    out = xmalloc((size_t)n + 1);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
out:
    BIO_free(bio);
    return out;
}

static EVP_PKEY *generate_pkey(enum key_type t)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(types[t].kind, NULL);
    EVP_PKEY *pk = NULL;
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1)
        goto out;
    if (types[t].kind == EVP_PKEY_RSA && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, types[t].param) != 1)
        goto out;
    if (types[t].kind == EVP_PKEY_EC &&
        EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, types[t].param) != 1)
        goto out;
    if (EVP_PKEY_keygen(ctx, &pk) != 1)
        pk = NULL;
out:
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

/* DER PKCS#8 of a private key, malloc'd. */
static unsigned char *pkcs8_der(EVP_PKEY *pk, size_t *len)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pk);
    unsigned char *tmp = NULL, *out = NULL;
    int n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &tmp) : -1;
    if (n > 0) {
        out = xmalloc((size_t)n);
        memcpy(out, tmp, (size_t)n);
        *len = (size_t)n;
        OPENSSL_clear_free(tmp, (size_t)n);
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    return out;
}

int keygen_generate(enum key_type t, const struct rng *rng, unsigned char **material, size_t *len,
                    char **pub)
{
    EVP_PKEY *pk = NULL;
    unsigned char *buf = NULL;
    size_t buflen = 0;
    int rc = -1;

    *material = NULL;
    *pub = NULL;
    if ((unsigned)t >= KEY_TYPE_COUNT)
        return -1;
    if (!keygen_type_asymmetric(t)) {
        buflen = AES256_BYTES;
        buf = xmalloc(buflen);
        if (rng_fill(rng, buf, buflen) != 0)
            goto out;
    } else {
        pk = generate_pkey(t);
        buf = pk ? pkcs8_der(pk, &buflen) : NULL;
        if (buf == NULL)
            goto out;
        *pub = public_pem(pk);
        if (*pub == NULL)
            goto out;
    }
    *material = buf;
    *len = buflen;
    buf = NULL;
    rc = 0;
out:
    codec_free_secret(buf, buflen);
    EVP_PKEY_free(pk);
    return rc;
}

char *keygen_public_from_material(const unsigned char *material, size_t len)
{
    const unsigned char *p = material;
    EVP_PKEY *pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
    char *out = pk ? public_pem(pk) : NULL;
    EVP_PKEY_free(pk);
    return out;
}
