/*
 * kmswrap.c — RSAES_OAEP_SHA_256 wrapping for KMS import; see kmswrap.h.
 */
#include "keymgmt/kmswrap.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>

enum km_status kmswrap_rsa_oaep_sha256(const unsigned char *spki_der, size_t spki_len,
                                       const unsigned char *material, size_t material_len,
                                       unsigned char **out, size_t *outlen, char *err,
                                       size_t errlen)
{
    enum km_status rc = KM_EINVAL;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    unsigned char *buf = NULL;
    const unsigned char *p = spki_der;
    size_t len = 0;

    *out = NULL;
    *outlen = 0;
    if (spki_der == NULL || spki_len == 0 || spki_len > 16384 ||
        (pkey = d2i_PUBKEY(NULL, &p, (long)spki_len)) == NULL || p != spki_der + spki_len) {
        snprintf(err, errlen, "wrapping key is not a DER SubjectPublicKeyInfo");
        goto out;
    }
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        snprintf(err, errlen, "wrapping key is not an RSA key");
        goto out;
    }
    if (EVP_PKEY_get_bits(pkey) < KMSWRAP_MIN_RSA_BITS) {
        snprintf(err, errlen, "wrapping key is shorter than %d bits", KMSWRAP_MIN_RSA_BITS);
        goto out;
    }
    /* OAEP with SHA-256 carries at most k - 2*32 - 2 bytes */
    size_t k = (size_t)EVP_PKEY_get_size(pkey);
    if (material == NULL || material_len == 0 || material_len > k - 2 * 32 - 2) {
        snprintf(err, errlen, "key material does not fit the wrapping key");
        goto out;
    }
    rc = KM_EINTERNAL;
    ctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_encrypt(ctx, NULL, &len, material, material_len) != 1) {
        snprintf(err, errlen, "cannot set up RSA-OAEP-SHA256");
        goto out;
    }
    buf = malloc(len);
    if (buf == NULL || EVP_PKEY_encrypt(ctx, buf, &len, material, material_len) != 1) {
        snprintf(err, errlen, "RSA-OAEP-SHA256 encryption failed");
        goto out;
    }
    *out = buf;
    *outlen = len;
    buf = NULL;
    rc = KM_OK;
out:
    free(buf);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return rc;
}
