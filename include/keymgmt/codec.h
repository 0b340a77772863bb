/*
 * codec.h — base64 and hex, via OpenSSL.
 *
 * Results are malloc'd and NUL-terminated (decoded buffers too, for
 * convenience; the terminator is not counted in *outlen). The caller frees
 * them; secrets are released with codec_free_secret(), which wipes first.
 */
#ifndef KEYMGMT_CODEC_H
#define KEYMGMT_CODEC_H

#include <stddef.h>

/* Standard base64 with padding, no newlines. */
char *codec_b64_encode(const unsigned char *in, size_t len);
/* Strict standard base64 (padding required, no whitespace). NULL when malformed. */
unsigned char *codec_b64_decode(const char *in, size_t inlen, size_t *outlen);
/* Lower-case hex. `out` must hold 2*len+1 bytes. */
void codec_hex(const unsigned char *in, size_t len, char *out);
/* Wipe and free. */
void codec_free_secret(void *p, size_t len);

#endif
