/*
 * pool.c — per-request bump allocator; see pool.h.
 */
#include "keymgmt/pool.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_CHUNK 8192

struct pool_chunk {
    struct pool_chunk *next;
    size_t size;
    size_t used;
    max_align_t data[];
};

struct pool {
    struct pool_chunk *head;
};

static void oom(void)
{
    static const char msg[] = "{\"level\":\"fatal\",\"event\":\"out of memory\"}\n";
    fwrite(msg, 1, sizeof(msg) - 1, stderr);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom();
    return p;
}

char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        oom();
    return d;
}

struct pool *pool_new(void)
{
    return xcalloc(1, sizeof(struct pool));
}

void pool_free(struct pool *p)
{
    if (p == NULL)
        return;
    struct pool_chunk *c = p->head;
    while (c != NULL) {
        struct pool_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(p);
}

void *pool_alloc(struct pool *p, size_t n)
{
    const size_t align = sizeof(max_align_t);
    size_t need = (n + align - 1) / align * align;
    if (need < n)
        oom();
    struct pool_chunk *c = p->head;
    if (c == NULL || c->size - c->used < need) {
        size_t size = need > POOL_CHUNK ? need : POOL_CHUNK;
        c = xmalloc(sizeof(*c) + size);
        c->size = size;
        c->used = 0;
        c->next = p->head;
        p->head = c;
    }
    void *out = (char *)c->data + c->used;
    c->used += need;
    memset(out, 0, n);
    return out;
}

char *pool_strndup(struct pool *p, const char *s, size_t n)
{
    char *d = pool_alloc(p, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *pool_strdup(struct pool *p, const char *s)
{
    return pool_strndup(p, s, strlen(s));
}

char *pool_vprintf(struct pool *p, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return pool_strdup(p, "");
    char *d = pool_alloc(p, (size_t)n + 1);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    return d;
}

char *pool_printf(struct pool *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *d = pool_vprintf(p, fmt, ap);
    va_end(ap);
    return d;
}
