/*
 * capbuf.c — capped builder with a sticky error flag; see capbuf.h.
 */
#include "keymgmt/capbuf.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void capbuf_init(struct capbuf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->failed = false;
}

/* Make room for n more bytes plus the terminator. */
static bool reserve(struct capbuf *b, size_t n)
{
    if (b->failed)
        return false;
    if (n > b->max || b->len > b->max - n) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = malloc(cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    if (b->data != NULL) {
        memcpy(p, b->data, b->len + 1);
        /* buffers may hold secrets: never leave a stale copy behind */
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    } else {
        p[0] = '\0';
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void capbuf_append(struct capbuf *b, const void *p, size_t n)
{
    if (!reserve(b, n))
        return;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void capbuf_puts(struct capbuf *b, const char *s)
{
    capbuf_append(b, s, strlen(s));
}

void capbuf_putc(struct capbuf *b, char c)
{
    capbuf_append(b, &c, 1);
}

void capbuf_printf(struct capbuf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];

    if (b->failed)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        capbuf_append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void capbuf_reset(struct capbuf *b)
{
    if (b->data != NULL) {
        OPENSSL_cleanse(b->data, b->cap);
        b->data[0] = '\0';
    }
    b->len = 0;
    b->failed = false;
}

char *capbuf_take(struct capbuf *b, size_t *len)
{
    char *out = NULL;
    if (!b->failed) {
        if (!reserve(b, 0))
            goto out;
        out = b->data;
        if (len != NULL)
            *len = b->len;
        b->data = NULL;
        b->cap = 0;
    }
out:
    capbuf_free(b);
    return out;
}

void capbuf_free(struct capbuf *b)
{
    if (b->data != NULL)
        OPENSSL_cleanse(b->data, b->cap);
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
