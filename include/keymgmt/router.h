/*
 * router.h — the route table and the dispatcher.
 *
 * Every endpoint is one row of a static table {op, scope, pattern, handler,
 * capability, flags}. Patterns are '/'-separated; ":x" segments capture a name
 * (validated as a provider/key name before any handler runs). MOUNT routes live
 * under /v1/<mount>/, ROOT routes under /v1/.
 *
 * router_dispatch() does, once for every request: route lookup, token check,
 * 404/405, body size limit, name validation and JSON body parsing; the handler
 * only does its own work. router_match() is pure.
 */
#ifndef KEYMGMT_ROUTER_H
#define KEYMGMT_ROUTER_H

#include "keymgmt/auth.h"
#include "keymgmt/request.h"
#include "keymgmt/response.h"

typedef enum km_status (*route_handler)(struct request *req, struct response *resp);

enum route_scope { ROUTE_MOUNT, ROUTE_ROOT };

enum route_flags {
    ROUTE_NOAUTH = 1 << 0, /* answers without a token (sys/health) */
};

struct route {
    enum op op;
    enum route_scope scope;
    const char *pattern;
    route_handler handler;
    enum capability cap;
    unsigned flags;
};

enum route_result { ROUTE_FOUND, ROUTE_NO_METHOD, ROUTE_NO_PATH };

/* The product's table. */
const struct route *router_table(size_t *n);

/*
 * Find the route for (segments, op). On ROUTE_FOUND, *found is the row and
 * params[] the captured segments (borrowed from segs). ROUTE_NO_METHOD when the
 * path exists for other operations only.
 */
enum route_result router_match(const struct route *table, size_t n, const char *mount,
                               char *const *segs, size_t nseg, enum op op,
                               const struct route **found, const char **params, size_t *nparams);

/* Serve one parsed request against router_table(). */
void router_dispatch(struct request *req, struct response *resp);

#endif
