/*
 * test_router.c — router_match against the product's table and a table of our own.
 */
#include "unit.h"

#include "keymgmt/provider.h"
#include "keymgmt/router.h"
#include "keymgmt/sys.h"

#define SEGS(...) ((char *const[]){__VA_ARGS__})
#define NSEGS(...) (sizeof((char *const[]){__VA_ARGS__}) / sizeof(char *))

struct match {
    enum route_result res;
    const struct route *found;
    const char *params[REQUEST_MAX_PARAMS];
    size_t nparams;
};

static struct match run(const struct route *table, size_t n, const char *mount, char *const *segs,
                        size_t nseg, enum op op)
{
    struct match m;
    memset(&m, 0, sizeof(m));
    m.res = router_match(table, n, mount, segs, nseg, op, &m.found, m.params, &m.nparams);
    return m;
}

/* router_match on the product table with mount "keymgmt". */
#define REAL(op, ...) run(real, nreal, "keymgmt", SEGS(__VA_ARGS__), NSEGS(__VA_ARGS__), op)

static const struct route *real;
static size_t nreal;

static int setup_real(void **state)
{
    (void)state;
    real = router_table(&nreal);
    return real != NULL && nreal > 0 ? 0 : -1;
}

/* ---- the product table ---- */

static void test_real_sys_health(void **state)
{
    (void)state;
    struct match m = REAL(OP_READ, "sys", "health");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found->handler, sys_health);
    assert_int_equal(m.found->scope, ROUTE_ROOT);
    assert_string_equal(m.found->pattern, "sys/health");
    assert_true(m.found->flags & ROUTE_NOAUTH);
    assert_int_equal(m.nparams, 0);
    /* other operations on an existing path */
    assert_int_equal(REAL(OP_WRITE, "sys", "health").res, ROUTE_NO_METHOD);
    assert_int_equal(REAL(OP_DELETE, "sys", "health").res, ROUTE_NO_METHOD);
    assert_int_equal(REAL(OP_LIST, "sys", "health").res, ROUTE_NO_METHOD);
    /* root scope: not under the mount, and no extra or missing segments */
    assert_int_equal(REAL(OP_READ, "keymgmt", "sys", "health").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "sys").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "sys", "health", "x").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "sys", "health", "").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "sys", "Health").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "sys", "healthz").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "sys", "healt").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "sys/health").res, ROUTE_NO_PATH);
    /* the root scope does not depend on the mount name */
    struct match o = run(real, nreal, "other", SEGS("sys", "health"), 2, OP_READ);
    assert_int_equal(o.res, ROUTE_FOUND);
    assert_ptr_equal(o.found->handler, sys_health);
}

static void test_real_lookup_self(void **state)
{
    (void)state;
    struct match m = REAL(OP_READ, "auth", "token", "lookup-self");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found->handler, sys_lookup_self);
    assert_int_equal(m.found->scope, ROUTE_ROOT);
    assert_false(m.found->flags & ROUTE_NOAUTH);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(REAL(OP_READ, "keymgmt", "auth", "token", "lookup-self").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "auth", "token").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "auth", "token", "lookup_self").res, ROUTE_NO_PATH);
}

static void test_real_provider_routes(void **state)
{
    (void)state;
    struct match m = REAL(OP_LIST, "keymgmt", "kms");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found->handler, provider_list);
    assert_int_equal(m.found->cap, CAP_LIST);
    assert_int_equal(m.found->scope, ROUTE_MOUNT);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(REAL(OP_READ, "keymgmt", "kms").res, ROUTE_NO_METHOD);
    assert_int_equal(REAL(OP_WRITE, "keymgmt", "kms").res, ROUTE_NO_METHOD);
    assert_int_equal(REAL(OP_DELETE, "keymgmt", "kms").res, ROUTE_NO_METHOD);

    static const struct {
        enum op op;
        route_handler h;
        enum capability cap;
    } rows[] = {
        {OP_WRITE, provider_write, CAP_UPDATE},
        {OP_READ, provider_read, CAP_READ},
        {OP_DELETE, provider_delete, CAP_DELETE},
    };
    char *segs[] = {"keymgmt", "kms", "aws-east_1.p"};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        m = run(real, nreal, "keymgmt", segs, 3, rows[i].op);
        assert_int_equal(m.res, ROUTE_FOUND);
        assert_ptr_equal(m.found->handler, rows[i].h);
        assert_int_equal(m.found->cap, rows[i].cap);
        assert_int_equal(m.found->flags & ROUTE_NOAUTH, 0);
        assert_int_equal(m.nparams, 1);
        /* the capture is borrowed from the segments */
        assert_ptr_equal(m.params[0], segs[2]);
    }
    assert_int_equal(REAL(OP_LIST, "keymgmt", "kms", "p").res, ROUTE_NO_METHOD);
    /* captures take any segment; names are validated later by the dispatcher */
    m = REAL(OP_READ, "keymgmt", "kms", "");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_string_equal(m.params[0], "");
    m = REAL(OP_READ, "keymgmt", "kms", "..");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_string_equal(m.params[0], "..");
}

static void test_real_mount_scope(void **state)
{
    (void)state;
    /* segment 0 must equal the mount */
    assert_int_equal(REAL(OP_LIST, "other", "kms").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_LIST, "Keymgmt", "kms").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_LIST, "keymgmt2", "kms").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_LIST, "keymgm", "kms").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_LIST, "kms").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "kms", "p").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_LIST, "keymgmt").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "keymgmt").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_LIST, "").res, ROUTE_NO_PATH);
    /* a different mount name works when passed */
    struct match m = run(real, nreal, "secrets-km", SEGS("secrets-km", "kms"), 2, OP_LIST);
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found->handler, provider_list);
    m = run(real, nreal, "secrets-km", SEGS("secrets-km", "kms", "p"), 3, OP_READ);
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found->handler, provider_read);
    assert_string_equal(m.params[0], "p");
    /* and then the default name no longer does */
    m = run(real, nreal, "secrets-km", SEGS("keymgmt", "kms"), 2, OP_LIST);
    assert_int_equal(m.res, ROUTE_NO_PATH);
    /* no segments at all */
    m = run(real, nreal, "keymgmt", NULL, 0, OP_READ);
    assert_int_equal(m.res, ROUTE_NO_PATH);
}

static void test_real_extra_missing_segments(void **state)
{
    (void)state;
    assert_int_equal(REAL(OP_READ, "keymgmt", "kms", "p", "extra-seg-x").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_WRITE, "keymgmt", "kms", "p", "").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_LIST, "keymgmt", "kms", "").res, ROUTE_NO_METHOD);
    assert_int_equal(REAL(OP_READ, "keymgmt", "nonexistent").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "keymgmt", "nonexistent", "p").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "keymgmt", "KMS", "p").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "keymgmt", ":name", "p").res, ROUTE_NO_PATH);
    assert_int_equal(REAL(OP_READ, "nonexistent").res, ROUTE_NO_PATH);
}

/* Every row of the product table is well-formed and reachable: a request built from its own
 * pattern finds that very row (an earlier row cannot shadow it). */
static void test_real_rows_reachable(void **state)
{
    (void)state;
    for (size_t i = 0; i < nreal; i++) {
        const struct route *r = &real[i];
        assert_non_null(r->pattern);
        assert_non_null(r->handler);
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", r->pattern);
        char *segs[REQUEST_MAX_SEGMENTS];
        size_t nseg = 0;
        char capture_vals[REQUEST_MAX_PARAMS][8];
        size_t ncap = 0;
        if (r->scope == ROUTE_MOUNT)
            segs[nseg++] = "keymgmt";
        char *save = NULL;
        for (char *p = strtok_r(buf, "/", &save); p != NULL; p = strtok_r(NULL, "/", &save)) {
            assert_true(nseg < REQUEST_MAX_SEGMENTS);
            if (p[0] == ':') {
                assert_true(p[1] != '\0'); /* capture has a name */
                assert_true(ncap < REQUEST_MAX_PARAMS);
                snprintf(capture_vals[ncap], sizeof(capture_vals[ncap]), "v%zu", ncap);
                segs[nseg++] = capture_vals[ncap++];
            } else {
                segs[nseg++] = p;
            }
        }
        /* no empty segments in a pattern (strtok would have hidden them) */
        assert_null(strstr(r->pattern, "//"));
        assert_true(r->pattern[0] != '/' && r->pattern[strlen(r->pattern) - 1] != '/');
        struct match m = run(real, nreal, "keymgmt", segs, nseg, r->op);
        if (m.res != ROUTE_FOUND || m.found != r)
            fail_msg("row %zu (%s) is not reachable", i, r->pattern);
        assert_int_equal(m.nparams, ncap);
        for (size_t c = 0; c < ncap; c++)
            assert_ptr_equal(m.params[c], capture_vals[c]);
    }
}

/* Security invariants of the table: only sys/health answers without a token; every mount
 * route requires the capability matching its operation. */
static void test_real_table_capabilities(void **state)
{
    (void)state;
    size_t noauth = 0;
    for (size_t i = 0; i < nreal; i++) {
        const struct route *r = &real[i];
        if (r->flags & ROUTE_NOAUTH) {
            noauth++;
            assert_string_equal(r->pattern, "sys/health");
            assert_int_equal(r->scope, ROUTE_ROOT);
            assert_int_equal(r->op, OP_READ);
        }
        if (r->scope != ROUTE_MOUNT)
            continue;
        enum capability want = r->op == OP_READ    ? CAP_READ
                               : r->op == OP_LIST  ? CAP_LIST
                               : r->op == OP_WRITE ? CAP_UPDATE
                                                   : CAP_DELETE;
        if (r->cap != want)
            fail_msg("mount route %s (op %d) has capability %d", r->pattern, (int)r->op,
                     (int)r->cap);
    }
    assert_int_equal(noauth, 1);
}

/* ---- a table of our own ---- */

static enum km_status h_a(struct request *q, struct response *r)
{
    (void)q;
    (void)r;
    return KM_OK;
}
static enum km_status h_b(struct request *q, struct response *r)
{
    (void)q;
    (void)r;
    return KM_EINVAL;
}

static const struct route mine[] = {
    /* 0 */ {OP_READ, ROUTE_MOUNT, "x/:name", h_a, CAP_READ, 0},
    /* 1 */ {OP_READ, ROUTE_MOUNT, "x/lit", h_b, CAP_READ, 0}, /* shadowed by row 0 */
    /* 2 */ {OP_READ, ROUTE_MOUNT, "y/lit", h_b, CAP_READ, 0},
    /* 3 */ {OP_READ, ROUTE_MOUNT, "y/:name", h_a, CAP_READ, 0},
    /* 4 */ {OP_WRITE, ROUTE_MOUNT, "z/:n", h_a, CAP_UPDATE, 0},
    /* 5 */ {OP_READ, ROUTE_MOUNT, "z/lit", h_b, CAP_READ, 0},
    /* 6 */ {OP_WRITE, ROUTE_MOUNT, "kms/:name/key/:key_name", h_a, CAP_UPDATE, 0},
    /* 7 */ {OP_READ, ROUTE_ROOT, "a/:p/b/:q/c/:r/d/:s", h_a, CAP_READ, 0},
    /* 8 */ {OP_READ, ROUTE_ROOT, "f/:p/:q/:r/:s/:t", h_a, CAP_READ, 0}, /* too many captures */
    /* 9 */ {OP_LIST, ROUTE_ROOT, "r", h_a, CAP_LIST, 0},
    /* 10 */ {OP_READ, ROUTE_MOUNT, "r", h_b, CAP_READ, 0},
    /* 11 */ {OP_DELETE, ROUTE_MOUNT, ":any", h_b, CAP_DELETE, 0},
};
#define NMINE (sizeof(mine) / sizeof(mine[0]))
#define MINE(mount, op, ...) run(mine, NMINE, mount, SEGS(__VA_ARGS__), NSEGS(__VA_ARGS__), op)

static void test_own_precedence(void **state)
{
    (void)state;
    /* table order decides between a capture and a literal */
    struct match m = MINE("m", OP_READ, "m", "x", "lit");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found, &mine[0]);
    assert_int_equal(m.nparams, 1);
    assert_string_equal(m.params[0], "lit");
    m = MINE("m", OP_READ, "m", "y", "lit");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found, &mine[2]);
    assert_int_equal(m.nparams, 0);
    m = MINE("m", OP_READ, "m", "y", "other");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found, &mine[3]);
    assert_int_equal(m.nparams, 1);
    assert_string_equal(m.params[0], "other");
}

static void test_own_method_vs_path(void **state)
{
    (void)state;
    /* an earlier row matching the path with another op does not stop a later exact row */
    struct match m = MINE("m", OP_READ, "m", "z", "lit");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found, &mine[5]);
    assert_int_equal(m.nparams, 0);
    m = MINE("m", OP_WRITE, "m", "z", "lit");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found, &mine[4]);
    assert_int_equal(m.nparams, 1);
    assert_string_equal(m.params[0], "lit");
    /* path known for other operations only */
    assert_int_equal(MINE("m", OP_READ, "m", "z", "other").res, ROUTE_NO_METHOD);
    assert_int_equal(MINE("m", OP_LIST, "m", "z", "lit").res, ROUTE_NO_METHOD);
    assert_int_equal(MINE("m", OP_DELETE, "m", "z", "lit").res, ROUTE_NO_METHOD);
    assert_int_equal(MINE("m", OP_READ, "m", "z", "lit", "x").res, ROUTE_NO_PATH);
    /* "z" alone is row 11's path (a DELETE-only capture) */
    assert_int_equal(MINE("m", OP_READ, "m", "z").res, ROUTE_NO_METHOD);
    /* root and mount rows with the same pattern are different paths */
    m = MINE("m", OP_LIST, "r");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found, &mine[9]);
    m = MINE("m", OP_READ, "m", "r");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found, &mine[10]);
    assert_int_equal(MINE("m", OP_READ, "r").res, ROUTE_NO_METHOD);
    assert_int_equal(MINE("m", OP_LIST, "m", "r").res, ROUTE_NO_METHOD);
    /* a single capture right under the mount */
    m = MINE("m", OP_DELETE, "m", "anything");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found, &mine[11]);
    assert_string_equal(m.params[0], "anything");
}

static void test_own_captures_in_order(void **state)
{
    (void)state;
    struct match m = MINE("keymgmt", OP_WRITE, "keymgmt", "kms", "prov", "key", "k1");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found, &mine[6]);
    assert_int_equal(m.nparams, 2);
    assert_string_equal(m.params[0], "prov");
    assert_string_equal(m.params[1], "k1");
    assert_int_equal(MINE("keymgmt", OP_READ, "keymgmt", "kms", "prov", "key", "k1").res,
                     ROUTE_NO_METHOD);
    assert_int_equal(MINE("keymgmt", OP_WRITE, "keymgmt", "kms", "prov", "keys", "k1").res,
                     ROUTE_NO_PATH);
    assert_int_equal(MINE("keymgmt", OP_WRITE, "keymgmt", "kms", "prov", "key").res, ROUTE_NO_PATH);
    assert_int_equal(MINE("keymgmt", OP_WRITE, "keymgmt", "kms", "prov", "key", "k1", "x").res,
                     ROUTE_NO_PATH);

    /* four captures (REQUEST_MAX_PARAMS) at root scope */
    m = MINE("keymgmt", OP_READ, "a", "1", "b", "2", "c", "3", "d", "4");
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found, &mine[7]);
    assert_int_equal(m.nparams, 4);
    assert_string_equal(m.params[0], "1");
    assert_string_equal(m.params[1], "2");
    assert_string_equal(m.params[2], "3");
    assert_string_equal(m.params[3], "4");
    /* a pattern with more captures than REQUEST_MAX_PARAMS never matches */
    assert_int_equal(MINE("keymgmt", OP_READ, "f", "1", "2", "3", "4", "5").res, ROUTE_NO_PATH);
}

/* Captures of a row that matched the path but not the op do not leak into the result. */
static void test_own_params_from_found_row(void **state)
{
    (void)state;
    static const struct route t[] = {
        {OP_WRITE, ROUTE_ROOT, ":a/:b", h_a, CAP_UPDATE, 0},
        {OP_READ, ROUTE_ROOT, "p/:c", h_b, CAP_READ, 0},
    };
    struct match m = run(t, 2, "m", SEGS("p", "q"), 2, OP_READ);
    assert_int_equal(m.res, ROUTE_FOUND);
    assert_ptr_equal(m.found, &t[1]);
    assert_int_equal(m.nparams, 1);
    assert_string_equal(m.params[0], "q");
    /* an empty table */
    m = run(t, 0, "m", SEGS("p", "q"), 2, OP_READ);
    assert_int_equal(m.res, ROUTE_NO_PATH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_sys_health),
        cmocka_unit_test(test_real_lookup_self),
        cmocka_unit_test(test_real_provider_routes),
        cmocka_unit_test(test_real_mount_scope),
        cmocka_unit_test(test_real_extra_missing_segments),
        cmocka_unit_test(test_real_rows_reachable),
        cmocka_unit_test(test_real_table_capabilities),
        cmocka_unit_test(test_own_precedence),
        cmocka_unit_test(test_own_method_vs_path),
        cmocka_unit_test(test_own_captures_in_order),
        cmocka_unit_test(test_own_params_from_found_row),
    };
    return cmocka_run_group_tests(tests, setup_real, NULL);
}
