/*
 * router.c — the route table and dispatcher; see router.h.
 */
#include "keymgmt/router.h"
#include "keymgmt/config.h"
#include "keymgmt/context.h"
#include "keymgmt/db.h"
#include "keymgmt/distribute.h"
#include "keymgmt/key.h"
#include "keymgmt/params.h"
#include "keymgmt/provider.h"
#include "keymgmt/sys.h"
#include "keymgmt/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct route routes[] = {
    /* op         scope        pattern                    handler          capability */
    {OP_READ, ROUTE_ROOT, "sys/health", sys_health, CAP_NONE, ROUTE_NOAUTH},
    {OP_READ, ROUTE_ROOT, "auth/token/lookup-self", sys_lookup_self, CAP_NONE, 0},
    {OP_LIST, ROUTE_MOUNT, "kms", provider_list, CAP_LIST, 0},
    {OP_WRITE, ROUTE_MOUNT, "kms/:name", provider_write, CAP_UPDATE, 0},
    {OP_READ, ROUTE_MOUNT, "kms/:name", provider_read, CAP_READ, 0},
    {OP_DELETE, ROUTE_MOUNT, "kms/:name", provider_delete, CAP_DELETE, 0},
    {OP_LIST, ROUTE_MOUNT, "kms/:name/key", distribute_list, CAP_LIST, 0},
    {OP_WRITE, ROUTE_MOUNT, "kms/:name/key/:key_name", distribute_write, CAP_UPDATE, 0},
    {OP_READ, ROUTE_MOUNT, "kms/:name/key/:key_name", distribute_read, CAP_READ, 0},
    {OP_DELETE, ROUTE_MOUNT, "kms/:name/key/:key_name", distribute_delete, CAP_DELETE, 0},
    {OP_LIST, ROUTE_MOUNT, "key", key_list, CAP_LIST, 0},
    {OP_WRITE, ROUTE_MOUNT, "key/:name", key_write, CAP_UPDATE, 0},
    {OP_READ, ROUTE_MOUNT, "key/:name", key_read, CAP_READ, 0},
    {OP_DELETE, ROUTE_MOUNT, "key/:name", key_delete, CAP_DELETE, 0},
    {OP_WRITE, ROUTE_MOUNT, "key/:name/rotate", key_rotate, CAP_UPDATE, 0},
    {OP_LIST, ROUTE_MOUNT, "key/:name/kms", key_list_providers, CAP_LIST, 0},
};

const struct route *router_table(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}

/* Match one pattern against segments; captures into params. */
static bool pattern_match(const char *pattern, char *const *segs, size_t nseg, const char **params,
                          size_t *nparams)
{
    size_t i = 0;
    const char *p = pattern;
    *nparams = 0;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (i >= nseg)
            return false;
        if (p[0] == ':') {
            if (*nparams == REQUEST_MAX_PARAMS)
                return false;
            params[(*nparams)++] = segs[i];
        } else if (strlen(segs[i]) != len || strncmp(segs[i], p, len) != 0) {
            return false;
        }
        i++;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    return i == nseg;
}

enum route_result router_match(const struct route *table, size_t n, const char *mount,
                               char *const *segs, size_t nseg, enum op op,
                               const struct route **found, const char **params, size_t *nparams)
{
    enum route_result result = ROUTE_NO_PATH;
    const char *caps[REQUEST_MAX_PARAMS];
    size_t ncaps = 0;
    bool in_mount = nseg > 0 && strcmp(segs[0], mount) == 0;

    for (size_t i = 0; i < n; i++) {
        const struct route *r = &table[i];
        char *const *s = segs;
        size_t ns = nseg;
        if (r->scope == ROUTE_MOUNT) {
            if (!in_mount)
                continue;
            s++;
            ns--;
        }
        if (!pattern_match(r->pattern, s, ns, caps, &ncaps))
            continue;
        if (r->op != op) {
            result = ROUTE_NO_METHOD;
            continue;
        }
        *found = r;
        memcpy(params, caps, ncaps * sizeof(caps[0]));
        *nparams = ncaps;
        return ROUTE_FOUND;
    }
    return result;
}

void router_dispatch(struct request *req, struct response *resp)
{
    const struct config *cfg = req->ctx->cfg;
    const struct route *route = NULL;
    size_t n = 0;
    char err[512];
    enum km_status rc;
    const struct route *table = router_table(&n);
    enum route_result m = router_match(table, n, cfg->mount, req->segs, req->nseg, req->op, &route,
                                       req->params, &req->nparams);
    bool public = m == ROUTE_FOUND && (route->flags & ROUTE_NOAUTH);

    if (!public) {
        /* Like Vault: without a valid token nothing, not even a path's existence, is revealed. */
        rc = db_ensure(req->ctx->db);
        if (rc == KM_OK)
            rc = auth_check(req, m == ROUTE_FOUND ? route->cap : CAP_NONE);
        if (rc != KM_OK) {
            response_error(resp, rc, "%s",
                           rc == KM_EPERM ? "permission denied" : "storage unavailable");
            return;
        }
    }
    if (m == ROUTE_NO_PATH) {
        response_error(resp, KM_ENOTFOUND, "unsupported path");
        return;
    }
    if (m == ROUTE_NO_METHOD) {
        response_error(resp, KM_EMETHOD, "unsupported operation");
        return;
    }
    if (req->body_too_large) {
        response_error(resp, KM_ETOOBIG, "request body too large: the limit is %ld bytes",
                       cfg->max_body_bytes);
        return;
    }
    for (size_t i = 0; i < req->nparams; i++) {
        if (!validate_name(req->params[i])) {
            response_error(resp, KM_EINVAL,
                           "invalid name: names are 1 to %d characters of letters, digits, '.', "
                           "'_' and '-', starting and ending with a letter or digit",
                           NAME_MAX_LEN);
            return;
        }
    }
    if (req->op == OP_WRITE || req->op == OP_DELETE) {
        rc = request_parse_body(req, err, sizeof(err));
        if (rc != KM_OK) {
            response_error(resp, rc, "%s", err);
            return;
        }
    }
    rc = route->handler(req, resp);
    if (rc != KM_OK && resp->status == KM_OK)
        resp->status = rc;
}
