/*
 * capbuf.h — a growable text/byte builder with a size cap and a sticky error.
 *
 * Appending past the cap (or failing to allocate) sets `failed` and every
 * later append is a no-op, so callers append freely and check once at the
 * end. The contents are always NUL-terminated when data != NULL (the
 * terminator is not counted in len).
 *
 * Ownership: the builder owns `data` until capbuf_take() hands it to the
 * caller (who frees it with free(), or codec_free_secret() for secrets), or
 * capbuf_free() releases it. Builders often hold secrets (signed requests,
 * credential documents), so every buffer the builder lets go of is wiped
 * first.
 */
#ifndef KEYMGMT_CAPBUF_H
#define KEYMGMT_CAPBUF_H

#include <stdbool.h>
#include <stddef.h>

struct capbuf {
    char *data;
    size_t len;
    size_t cap; /* allocated bytes */
    size_t max; /* largest allowed len */
    bool failed;
};

/* An empty builder that refuses to grow beyond `max` bytes of content. */
void capbuf_init(struct capbuf *b, size_t max);
void capbuf_append(struct capbuf *b, const void *p, size_t n);
void capbuf_puts(struct capbuf *b, const char *s);
void capbuf_putc(struct capbuf *b, char c);
void capbuf_printf(struct capbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the contents, keep the allocation and cap; clears the error flag. */
void capbuf_reset(struct capbuf *b);
/* The contents (NUL-terminated, caller frees), or NULL when the builder
 * failed; either way the builder is left empty. */
char *capbuf_take(struct capbuf *b, size_t *len);
/* Wipe and release the contents. */
void capbuf_free(struct capbuf *b);

#endif
