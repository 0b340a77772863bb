/*
 * seal.h — at-rest encryption of secrets (AES-256-GCM under a seal key).
 *
 * A sealed blob is:  0x01 | key id (8) | nonce (12) | ciphertext | tag (16)
 * The version byte and key id are authenticated together with the caller's
 * associated data, which names the row the secret belongs to (for example
 * "provider:<name>" or "key:<name>:<version>"), so a blob copied to another row
 * fails to open.
 *
 * A keyring holds the current seal key (used to seal) and older keys (used only
 * to open blobs sealed before a rotation). The key id recorded in each blob says
 * which key sealed it. Keys never leave this module except as ids.
 */
#ifndef KEYMGMT_SEAL_H
#define KEYMGMT_SEAL_H

#include "keymgmt/rng.h"

#include <stdbool.h>
#include <stddef.h>

#define SEAL_KEY_BYTES 32
#define SEAL_ID_BYTES 8
#define SEAL_NONCE_BYTES 12
#define SEAL_TAG_BYTES 16
#define SEAL_HEADER_BYTES (1 + SEAL_ID_BYTES + SEAL_NONCE_BYTES)
#define SEAL_OVERHEAD (SEAL_HEADER_BYTES + SEAL_TAG_BYTES)
#define SEAL_MAX_KEYS 8

enum seal_result {
    SEAL_OK = 0,
    SEAL_EFORMAT, /* not a sealed blob */
    SEAL_EKEY,    /* sealed under a key this keyring does not hold */
    SEAL_EAUTH,   /* authentication failed: tampered, or wrong associated data */
    SEAL_EINTERNAL,
};

struct seal_key {
    unsigned char key[SEAL_KEY_BYTES];
    unsigned char id[SEAL_ID_BYTES];
};

struct seal_keyring {
    struct seal_key keys[SEAL_MAX_KEYS]; /* keys[0] is the current key */
    size_t n;
};

struct config;

/* Parse a key from its text form: base64 of 32 bytes, surrounding whitespace ignored. */
int seal_key_parse(struct seal_key *k, const char *text);
/* Build the keyring from seal_key / seal_key_file and seal_previous_keys. */
int seal_keyring_load(struct seal_keyring *ring, const struct config *cfg, char *err,
                      size_t errlen);
/* Add a key to a keyring (the first added is current). */
int seal_keyring_add(struct seal_keyring *ring, const struct seal_key *k);
/* Wipe a keyring. */
void seal_keyring_wipe(struct seal_keyring *ring);
/* A new random key in text form (base64, 44 chars + NUL). */
int seal_key_generate(const struct rng *rng, char out[64]);
/* Hex id of the current key (17 bytes). */
void seal_current_id_hex(const struct seal_keyring *ring, char out[2 * SEAL_ID_BYTES + 1]);

/* Seal under the current key. *out is malloc'd (free with free()). */
enum seal_result seal_encrypt(const struct seal_keyring *ring, const struct rng *rng,
                              const char *ad, const unsigned char *pt, size_t ptlen,
                              unsigned char **out, size_t *outlen);
/* Open a blob. *out is malloc'd; release it with codec_free_secret(*out, *outlen). */
enum seal_result seal_decrypt(const struct seal_keyring *ring, const char *ad,
                              const unsigned char *blob, size_t bloblen, unsigned char **out,
                              size_t *outlen);
/* Whether a blob is sealed under the current key. */
bool seal_is_current(const struct seal_keyring *ring, const unsigned char *blob, size_t bloblen);

#endif
