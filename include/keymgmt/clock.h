/*
 * clock.h — the wall clock, injected.
 *
 * Code that needs the time takes a `const struct clock *` so tests can pass a
 * fixed one; production passes clock_system.
 */
#ifndef KEYMGMT_CLOCK_H
#define KEYMGMT_CLOCK_H

#include <stdint.h>

struct clock {
    /* Milliseconds since the Unix epoch. */
    int64_t (*now_ms)(void *ctx);
    void *ctx;
};

extern const struct clock clock_system;

static inline int64_t clock_now_ms(const struct clock *c)
{
    return c->now_ms(c->ctx);
}

/* Milliseconds from a monotonic clock, for durations. */
int64_t clock_monotonic_ms(void);

#endif
