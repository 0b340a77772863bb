/*
 * test_reconcile.c — reconcile_compare: every kind of drift, and none when in line.
 */
#include "unit.h"

#include "keymgmt/reconcile.h"

#define PREFIX "alias/keymgmt/"

static struct aws_key_row rec(long long id, const char *aws, long version, int enabled,
                              bool scheduled)
{
    struct aws_key_row r = {id, aws, "k", version, "nonce", true, true, enabled, scheduled};
    return r;
}

static size_t compare(const struct aws_key_row *r, size_t nr, const struct rec_observed *o,
                      size_t no, const struct rec_alias *e, size_t ne, const struct rec_alias *a,
                      size_t na, struct drift *out)
{
    return reconcile_compare(r, nr, o, no, e, ne, a, na, PREFIX, out, 16);
}

static void test_in_line(void **state)
{
    (void)state;
    struct aws_key_row r[] = {rec(1, "id1", 1, 0, false), rec(2, "id2", 2, 1, false),
                              rec(3, "id3", 1, 0, true)};
    struct rec_observed o[] = {{"id1", "arn1", "Disabled", "n1"},
                               {"id2", "arn2", "Enabled", "n2"},
                               {"id3", "arn3", "PendingDeletion", "n3"},
                               {"foreign", "arnf", "Enabled", NULL}};
    struct rec_alias e[] = {{PREFIX "k-1", "id2", "k"}};
    struct rec_alias a[] = {{PREFIX "k-1", "id2", NULL}, {"alias/other", "foreign", NULL}};
    struct drift d[16];
    assert_int_equal(compare(r, 3, o, 4, e, 1, a, 2, d), 0);
}

static void test_state_drifts(void **state)
{
    (void)state;
    struct aws_key_row r[] = {rec(1, "a", 1, 1, false), rec(2, "b", 2, 0, false),
                              rec(3, "c", 3, 1, false), rec(4, "d", 4, 1, true),
                              rec(5, "e", 5, 1, false), rec(6, "f", 6, 1, false),
                              rec(7, "g", 7, 1, true)};
    struct rec_observed o[] = {{"a", "", "Disabled", "n"},
                               {"b", "", "Enabled", "n"},
                               {"c", "", "PendingDeletion", "n"},
                               {"d", "", "Disabled", "n"},
                               {"e", "", "PendingImport", "n"}};
    struct drift d[16];
    size_t n = compare(r, 7, o, 5, NULL, 0, NULL, 0, d);
    assert_int_equal(n, 6);
    const enum drift_kind want[] = {DRIFT_DISABLED,         DRIFT_ENABLED,
                                    DRIFT_PENDING_DELETION, DRIFT_NOT_PENDING_DELETION,
                                    DRIFT_NOT_IMPORTED,     DRIFT_MISSING};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(d[i].kind, want[i]);
        assert_ptr_equal(d[i].record, &r[i]);
    }
    /* a scheduled key that AWS deleted after its window (g) is no drift */
    assert_true(reconcile_repairable(DRIFT_DISABLED));
    assert_false(reconcile_repairable(DRIFT_MISSING));
    assert_string_equal(reconcile_kind_name(DRIFT_NOT_PENDING_DELETION), "not-pending-deletion");
}

static void test_unknown_enabled_state_is_no_drift(void **state)
{
    (void)state;
    struct aws_key_row r[] = {rec(1, "a", 1, -1, false)};
    struct rec_observed o[] = {{"a", "", "Disabled", "n"}};
    struct drift d[16];
    assert_int_equal(compare(r, 1, o, 1, NULL, 0, NULL, 0, d), 0);
}

static void test_adoptable_and_untracked(void **state)
{
    (void)state;
    struct aws_key_row r[] = {{1, NULL, "k", 1, "lost", true, false, -1, false},
                              {2, NULL, "k", 2, "never", false, false, -1, false}};
    struct rec_observed o[] = {{"x", "arnx", "PendingImport", "lost"},
                               {"y", "arny", "PendingImport", "lost"}, /* a second one */
                               {"z", "arnz", "Enabled", "stranger"},
                               {"w", "arnw", "Enabled", "never"}};
    struct drift d[16];
    size_t n = compare(r, 2, o, 4, NULL, 0, NULL, 0, d);
    assert_int_equal(n, 4);
    assert_int_equal(d[0].kind, DRIFT_ADOPTABLE);
    assert_ptr_equal(d[0].record, &r[0]);
    assert_string_equal(d[0].observed->key_id, "x");
    /* the duplicate, a stranger, and a key for a row that never attempted CreateKey */
    assert_int_equal(d[1].kind, DRIFT_UNTRACKED);
    assert_string_equal(d[1].observed->key_id, "y");
    assert_int_equal(d[2].kind, DRIFT_UNTRACKED);
    assert_string_equal(d[2].observed->key_id, "z");
    assert_int_equal(d[3].kind, DRIFT_UNTRACKED);
    assert_string_equal(d[3].observed->key_id, "w");
}

static void test_aliases(void **state)
{
    (void)state;
    struct rec_alias e[] = {
        {PREFIX "a-1", "ka", "a"}, {PREFIX "b-1", "kb", "b"}, {PREFIX "c-1", "kc", "c"}};
    struct rec_alias a[] = {{PREFIX "a-1", "ka", NULL},
                            {PREFIX "b-1", "elsewhere", NULL},
                            {PREFIX "stray-1", "kq", NULL},
                            {"alias/someone-else", "kq", NULL}};
    struct drift d[16];
    size_t n = compare(NULL, 0, NULL, 0, e, 3, a, 4, d);
    assert_int_equal(n, 3);
    assert_int_equal(d[0].kind, DRIFT_ALIAS_MOVED);
    assert_string_equal(d[0].alias->name, PREFIX "b-1");
    assert_int_equal(d[1].kind, DRIFT_ALIAS_MISSING);
    assert_string_equal(d[1].alias->key, "c");
    assert_int_equal(d[2].kind, DRIFT_ALIAS_UNKNOWN);
    assert_string_equal(d[2].alias->name, PREFIX "stray-1");
}

static void test_output_capped(void **state)
{
    (void)state;
    struct aws_key_row r[] = {rec(1, "a", 1, 1, false), rec(2, "b", 2, 1, false)};
    struct drift d[1];
    /* both missing: the count is complete even when only one fits */
    assert_int_equal(reconcile_compare(r, 2, NULL, 0, NULL, 0, NULL, 0, PREFIX, d, 1), 2);
    assert_int_equal(d[0].kind, DRIFT_MISSING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_line),
        cmocka_unit_test(test_state_drifts),
        cmocka_unit_test(test_unknown_enabled_state_is_no_drift),
        cmocka_unit_test(test_adoptable_and_untracked),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_output_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
