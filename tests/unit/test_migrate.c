/*
 * test_migrate.c — migrate_file_name: which files are migrations, and their versions.
 */
#include "unit.h"

#include "keymgmt/migrate.h"

static void test_accepts(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int version;
    } good[] = {
        {"001_init.sql", 1},        {"002_keys.sql", 2}, {"010_x.sql", 10},
        {"099_a.sql", 99},          {"100_b.sql", 100},  {"999_last.sql", 999},
        {"003_add_index_2.sql", 3}, {"004_9.sql", 4},    {"005_a_b_c.sql", 5},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int v = -1;
        if (!migrate_file_name(good[i].name, &v))
            fail_msg("rejected %s", good[i].name);
        assert_int_equal(v, good[i].version);
    }
    /* the longest accepted name (200 chars) */
    char name[256];
    memcpy(name, "007_", 4);
    memset(name + 4, 'a', 192);
    memcpy(name + 196, ".sql", 5);
    assert_int_equal(strlen(name), 200);
    int v = 0;
    assert_true(migrate_file_name(name, &v));
    assert_int_equal(v, 7);
}

static void test_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "000_x.sql", /* version 0 */
        "000_init.sql",
        "1_init.sql", /* not three digits */
        "01_init.sql",
        "0001_init.sql",
        "001-init.sql", /* separator */
        "001.init.sql",
        "001init.sql",
        "001_Init.sql", /* upper case */
        "001_INIT.sql",
        "001_init.SQL",
        "001_init.txt", /* extension */
        "001_init.sql~",
        "001_init.sql.bak",
        "001_init.sqlx",
        "001_init",
        "001_.sql",       /* empty name */
        "001_init-x.sql", /* characters outside [a-z0-9_] */
        "001_init x.sql",
        "001_in.it.sql",
        "001_caf\xc3\xa9.sql",
        "00a_init.sql",
        "a01_init.sql",
        "-01_init.sql",
        "+01_init.sql",
        " 001_init.sql",
        "001_init.sql ",
        ".sql",
        "init.sql",
        "",
        ".",
        "..",
        "001_",
        "001",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int v = 12345;
        if (migrate_file_name(bad[i], &v))
            fail_msg("accepted \"%s\" (version %d)", bad[i], v);
    }
    /* 201 chars is too long */
    char name[256];
    memcpy(name, "007_", 4);
    memset(name + 4, 'a', 193);
    memcpy(name + 197, ".sql", 5);
    assert_int_equal(strlen(name), 201);
    int v = 0;
    assert_false(migrate_file_name(name, &v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
