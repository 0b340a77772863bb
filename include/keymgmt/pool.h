/*
 * pool.h — per-request memory.
 *
 * A pool is a bump allocator: everything allocated from it lives until
 * pool_free(), which releases it all at once. Each request gets its own pool,
 * so nothing allocated while serving one request survives into the next.
 *
 * Allocation failure is fatal (the process aborts and the master replaces the
 * worker), so callers never check for NULL.
 */
#ifndef KEYMGMT_POOL_H
#define KEYMGMT_POOL_H

#include <stdarg.h>
#include <stddef.h>

struct pool;

struct pool *pool_new(void);
void pool_free(struct pool *p);

/* Zeroed memory, aligned for any type. */
void *pool_alloc(struct pool *p, size_t n);
char *pool_strdup(struct pool *p, const char *s);
char *pool_strndup(struct pool *p, const char *s, size_t n);
char *pool_printf(struct pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *pool_vprintf(struct pool *p, const char *fmt, va_list ap);

/* Abort with a message on allocation failure (also used outside pools). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);

#endif
