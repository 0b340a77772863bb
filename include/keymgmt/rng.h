/*
 * rng.h — the random source, injected.
 *
 * Code that needs randomness takes a `const struct rng *` so tests can pass a
 * deterministic one; production passes rng_system (OpenSSL's RAND_bytes).
 */
#ifndef KEYMGMT_RNG_H
#define KEYMGMT_RNG_H

#include <stddef.h>

struct rng {
    /* Fill buf with n random bytes; 0 on success, -1 on failure. */
    int (*fill)(void *ctx, unsigned char *buf, size_t n);
    void *ctx;
};

extern const struct rng rng_system;

static inline int rng_fill(const struct rng *r, unsigned char *buf, size_t n)
{
    return r->fill(r->ctx, buf, n);
}

/* A uniformly random double in [0, 1). */
double rng_unit(const struct rng *r);

#endif
