/*
 * codec.c — base64 and hex over OpenSSL; see codec.h.
 */
#include "keymgmt/codec.h"
#include "keymgmt/pool.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

char *codec_b64_encode(const unsigned char *in, size_t len)
{
    if (len > INT_MAX / 2)
        return NULL;
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

unsigned char *codec_b64_decode(const char *in, size_t inlen, size_t *outlen)
{
    if (inlen % 4 != 0 || inlen > INT_MAX / 2)
        return NULL;
    for (size_t i = 0; i < inlen; i++) {
        char c = in[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '+' || c == '/' || (c == '=' && i >= inlen - 2);
        if (!ok)
            return NULL;
    }
    size_t pad = 0;
    if (inlen >= 1 && in[inlen - 1] == '=')
        pad++;
    if (inlen >= 2 && in[inlen - 2] == '=')
        pad++;
    if (pad == 1 && inlen >= 2 && in[inlen - 2] == '=')
        return NULL;
    unsigned char *out = xmalloc(inlen / 4 * 3 + 1);
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)inlen);
    if (n < 0 || (size_t)n < pad) {
        codec_free_secret(out, inlen / 4 * 3 + 1);
        return NULL;
    }
    *outlen = (size_t)n - pad;
    out[*outlen] = '\0';
    return out;
}

void codec_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void codec_free_secret(void *p, size_t len)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}
