/*
 * seal.c — AES-256-GCM sealing of secrets at rest; see seal.h.
 */
#include "keymgmt/seal.h"
#include "keymgmt/codec.h"
#include "keymgmt/config.h"
#include "keymgmt/pool.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEAL_VERSION 0x01

static void derive_id(struct seal_key *k)
{
    static const char label[] = "keymgmt seal key id";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), k->key, SEAL_KEY_BYTES, (const unsigned char *)label, sizeof(label) - 1, mac,
         &maclen);
    memcpy(k->id, mac, SEAL_ID_BYTES);
    OPENSSL_cleanse(mac, sizeof(mac));
}

int seal_key_parse(struct seal_key *k, const char *text)
{
    int rc = -1;
    unsigned char *raw = NULL;
    size_t rawlen = 0;

    while (isspace((unsigned char)*text))
        text++;
    size_t len = strlen(text);
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    raw = codec_b64_decode(text, len, &rawlen);
    if (raw == NULL || rawlen != SEAL_KEY_BYTES)
        goto out;
    memcpy(k->key, raw, SEAL_KEY_BYTES);
    derive_id(k);
    rc = 0;
out:
    codec_free_secret(raw, rawlen);
    return rc;
}

static int load_key_file(struct seal_key *k, const char *path, char *err, size_t errlen)
{
    char buf[256];
    int rc = -1;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "seal key file %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    if (seal_key_parse(k, buf) != 0) {
        snprintf(err, errlen, "seal key file %s: not a base64-encoded 32-byte key", path);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    fclose(f);
    return rc;
}

int seal_keyring_add(struct seal_keyring *ring, const struct seal_key *k)
{
    if (ring->n >= SEAL_MAX_KEYS)
        return -1;
    for (size_t i = 0; i < ring->n; i++)
        if (memcmp(ring->keys[i].id, k->id, SEAL_ID_BYTES) == 0)
            return 0; /* already present */
    ring->keys[ring->n++] = *k;
    return 0;
}

int seal_keyring_load(struct seal_keyring *ring, const struct config *cfg, char *err, size_t errlen)
{
    struct seal_key k;
    int rc = -1;
    char *list = NULL;

    memset(ring, 0, sizeof(*ring));
    if (cfg->seal_key[0] != '\0') {
        if (seal_key_parse(&k, cfg->seal_key) != 0) {
            snprintf(err, errlen, "seal_key: not a base64-encoded 32-byte key");
            goto out;
        }
    } else if (cfg->seal_key_file[0] != '\0') {
        if (load_key_file(&k, cfg->seal_key_file, err, errlen) != 0)
            goto out;
    } else {
        snprintf(err, errlen, "no seal key: set seal_key_file (or KEYMGMT_SEAL_KEY)");
        goto out;
    }
    seal_keyring_add(ring, &k);
    list = xstrdup(cfg->seal_previous_keys);
    char *save = NULL;
    for (char *path = strtok_r(list, ",", &save); path != NULL; path = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*path))
            path++;
        size_t plen = strlen(path);
        while (plen > 0 && isspace((unsigned char)path[plen - 1]))
            path[--plen] = '\0';
        if (*path == '\0')
            continue;
        if (load_key_file(&k, path, err, errlen) != 0)
            goto out;
        if (seal_keyring_add(ring, &k) != 0) {
            snprintf(err, errlen, "seal_previous_keys: at most %d keys", SEAL_MAX_KEYS - 1);
            goto out;
        }
    }
    rc = 0;
out:
    OPENSSL_cleanse(&k, sizeof(k));
    free(list);
    if (rc != 0)
        seal_keyring_wipe(ring);
    return rc;
}

void seal_keyring_wipe(struct seal_keyring *ring)
{
    OPENSSL_cleanse(ring, sizeof(*ring));
    ring->n = 0;
}

int seal_key_generate(const struct rng *rng, char out[64])
{
    unsigned char raw[SEAL_KEY_BYTES];
    int rc = -1;
    if (rng_fill(rng, raw, sizeof(raw)) != 0)
        goto out;
    char *b64 = codec_b64_encode(raw, sizeof(raw));
    snprintf(out, 64, "%s", b64);
    codec_free_secret(b64, strlen(b64));
    rc = 0;
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    return rc;
}

void seal_current_id_hex(const struct seal_keyring *ring, char out[2 * SEAL_ID_BYTES + 1])
{
    codec_hex(ring->keys[0].id, SEAL_ID_BYTES, out);
}

/* AAD = header (version, key id, nonce) || caller's associated data. */
static int gcm_aad(EVP_CIPHER_CTX *ctx, const unsigned char *header, const char *ad)
{
    int n = 0;
    size_t adlen = strlen(ad);
    if (adlen > INT_MAX)
        return -1;
    if (EVP_CipherUpdate(ctx, NULL, &n, header, SEAL_HEADER_BYTES) != 1)
        return -1;
    if (adlen > 0 && EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)ad, (int)adlen) != 1)
        return -1;
    return 0;
}

enum seal_result seal_encrypt(const struct seal_keyring *ring, const struct rng *rng,
                              const char *ad, const unsigned char *pt, size_t ptlen,
                              unsigned char **out, size_t *outlen)
{
    enum seal_result rc = SEAL_EINTERNAL;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *blob = NULL;
    int n = 0;

    *out = NULL;
    if (ring->n == 0 || ptlen > INT_MAX - SEAL_OVERHEAD)
        goto out;
    blob = xmalloc(ptlen + SEAL_OVERHEAD);
    blob[0] = SEAL_VERSION;
    memcpy(blob + 1, ring->keys[0].id, SEAL_ID_BYTES);
    unsigned char *nonce = blob + 1 + SEAL_ID_BYTES;
    if (rng_fill(rng, nonce, SEAL_NONCE_BYTES) != 0)
        goto out;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL ||
        EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, ring->keys[0].key, nonce) != 1 ||
        gcm_aad(ctx, blob, ad) != 0)
        goto out;
    unsigned char *ct = blob + SEAL_HEADER_BYTES;
    if (ptlen > 0 && EVP_EncryptUpdate(ctx, ct, &n, pt, (int)ptlen) != 1)
        goto out;
    int fin = 0;
    if (EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_BYTES, ct + ptlen) != 1)
        goto out;
    *out = blob;
    *outlen = ptlen + SEAL_OVERHEAD;
    blob = NULL;
    rc = SEAL_OK;
out:
    free(blob);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

static const struct seal_key *find_key(const struct seal_keyring *ring, const unsigned char *id)
{
    for (size_t i = 0; i < ring->n; i++)
        if (CRYPTO_memcmp(ring->keys[i].id, id, SEAL_ID_BYTES) == 0)
            return &ring->keys[i];
    return NULL;
}

enum seal_result seal_decrypt(const struct seal_keyring *ring, const char *ad,
                              const unsigned char *blob, size_t bloblen, unsigned char **out,
                              size_t *outlen)
{
    enum seal_result rc = SEAL_EINTERNAL;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *pt = NULL;
    size_t ptlen = 0;
    int n = 0, fin = 0;

    *out = NULL;
    if (bloblen < SEAL_OVERHEAD || bloblen > INT_MAX || blob[0] != SEAL_VERSION) {
        rc = SEAL_EFORMAT;
        goto out;
    }
    const struct seal_key *k = find_key(ring, blob + 1);
    if (k == NULL) {
        rc = SEAL_EKEY;
        goto out;
    }
    ptlen = bloblen - SEAL_OVERHEAD;
    pt = xmalloc(ptlen + 1);
    const unsigned char *nonce = blob + 1 + SEAL_ID_BYTES;
    const unsigned char *ct = blob + SEAL_HEADER_BYTES;
    unsigned char tag[SEAL_TAG_BYTES];
    memcpy(tag, ct + ptlen, SEAL_TAG_BYTES);
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, nonce) != 1 ||
        gcm_aad(ctx, blob, ad) != 0)
        goto out;
    if (ptlen > 0 && EVP_DecryptUpdate(ctx, pt, &n, ct, (int)ptlen) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_BYTES, tag) != 1)
        goto out;
    if (EVP_DecryptFinal_ex(ctx, pt + n, &fin) != 1) {
        rc = SEAL_EAUTH;
        goto out;
    }
    pt[ptlen] = '\0';
    *out = pt;
    *outlen = ptlen;
    pt = NULL;
    rc = SEAL_OK;
out:
    codec_free_secret(pt, ptlen + 1);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

bool seal_is_current(const struct seal_keyring *ring, const unsigned char *blob, size_t bloblen)
{
    return ring->n > 0 && bloblen >= SEAL_OVERHEAD && blob[0] == SEAL_VERSION &&
           memcmp(blob + 1, ring->keys[0].id, SEAL_ID_BYTES) == 0;
}
