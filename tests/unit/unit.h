/*
 * unit.h — common includes for the cmocka unit tests.
 *
 * Each tests/unit/test_<module>.c is one binary linked with libkeymgmt.a.
 */
#ifndef KEYMGMT_UNIT_H
#define KEYMGMT_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A deterministic random source for tests: a counter-driven byte stream. */
#include "keymgmt/rng.h"

static inline int unit_fake_fill(void *ctx, unsigned char *buf, size_t n)
{
    unsigned *state = ctx;
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)((*state)++ * 131u + 7u);
    return 0;
}

#endif
