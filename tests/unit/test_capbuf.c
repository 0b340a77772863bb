/*
 * test_capbuf.c — the capped builder: cap, sticky error, ownership.
 */
#include "unit.h"

#include "keymgmt/capbuf.h"

static void test_append_and_take(void **state)
{
    (void)state;
    struct capbuf b;
    size_t len = 0;
    capbuf_init(&b, 64);
    capbuf_puts(&b, "abc");
    capbuf_putc(&b, '-');
    capbuf_printf(&b, "%d:%s", 42, "x");
    capbuf_append(&b, "\0z", 2);
    assert_false(b.failed);
    assert_int_equal(b.len, 10);
    char *s = capbuf_take(&b, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(s, "abc-42:x\0z", 11);
    assert_null(b.data);
    free(s);
}

static void test_empty_take_is_a_string(void **state)
{
    (void)state;
    struct capbuf b;
    capbuf_init(&b, 0);
    char *s = capbuf_take(&b, NULL);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
}

static void test_cap_is_exact_and_sticky(void **state)
{
    (void)state;
    struct capbuf b;
    capbuf_init(&b, 5);
    capbuf_puts(&b, "12345");
    assert_false(b.failed);
    capbuf_putc(&b, '6');
    assert_true(b.failed);
    assert_int_equal(b.len, 5);
    capbuf_puts(&b, ""); /* still failed */
    assert_true(b.failed);
    assert_null(capbuf_take(&b, NULL));
    assert_null(b.data);
}

static void test_printf_long_and_over_cap(void **state)
{
    (void)state;
    struct capbuf b;
    char big[1000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    capbuf_init(&b, 2000);
    capbuf_printf(&b, "<%s>", big);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[1000], '>');
    capbuf_printf(&b, "%s!", big); /* 1001 + 1000 > 2000 */
    assert_true(b.failed);
    capbuf_reset(&b);
    assert_false(b.failed);
    assert_int_equal(b.len, 0);
    capbuf_puts(&b, "again");
    assert_string_equal(b.data, "again");
    capbuf_free(&b);
    assert_null(b.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_take),
        cmocka_unit_test(test_empty_take_is_a_string),
        cmocka_unit_test(test_cap_is_exact_and_sticky),
        cmocka_unit_test(test_printf_long_and_over_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
