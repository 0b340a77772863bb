/*
 * keygen.h — key types and key material generation (OpenSSL).
 *
 * Material is what gets sealed and stored: 32 raw bytes for aes256-gcm96, a DER
 * PKCS#8 private key for RSA and ECDSA types. Asymmetric types also yield the
 * public key as PEM (SubjectPublicKeyInfo). Symmetric material comes from the
 * injected random source; RSA/EC key generation uses OpenSSL's own DRBG (it
 * takes no external randomness).
 *
 * Material buffers are malloc'd; release them with codec_free_secret().
 */
#ifndef KEYMGMT_KEYGEN_H
#define KEYMGMT_KEYGEN_H

#include "keymgmt/rng.h"

#include <stdbool.h>
#include <stddef.h>

enum key_type {
    KEY_AES256_GCM96,
    KEY_RSA_2048,
    KEY_RSA_3072,
    KEY_RSA_4096,
    KEY_ECDSA_P256,
    KEY_ECDSA_P384,
    KEY_ECDSA_P521,
    KEY_TYPE_COUNT
};

#define KEYGEN_DEFAULT_TYPE KEY_RSA_2048

/* Parse a type name ("aes256-gcm96", "rsa-2048", ...). -1 when unsupported. */
int keygen_type_parse(const char *name, enum key_type *out);
const char *keygen_type_name(enum key_type t);
bool keygen_type_asymmetric(enum key_type t);

/*
 * Generate material for a type: `material` and `len` receive the secret,
 * `public_pem` (malloc'd, NULL for symmetric types) the public key. 0 on success.
 */
int keygen_generate(enum key_type t, const struct rng *rng, unsigned char **material, size_t *len,
                    char **public_pem);

/* Derive the public key PEM from stored asymmetric material (DER PKCS#8). */
char *keygen_public_from_material(const unsigned char *material, size_t len);

#endif
