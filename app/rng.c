/*
 * rng.c — the system random source (OpenSSL); see rng.h.
 */
#include "keymgmt/rng.h"

#include <limits.h>
#include <openssl/rand.h>
#include <stdint.h>

static int system_fill(void *ctx, unsigned char *buf, size_t n)
{
    (void)ctx;
    if (n > INT_MAX)
        return -1;
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

const struct rng rng_system = {system_fill, NULL};

double rng_unit(const struct rng *r)
{
    uint64_t v = 0;
    if (rng_fill(r, (unsigned char *)&v, sizeof(v)) != 0)
        return 0.5;
    return (double)(v >> 11) / (double)(UINT64_C(1) << 53);
}
