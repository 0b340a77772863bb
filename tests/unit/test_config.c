/*
 * test_config.c — defaults, the key = value file format, KEYMGMT_* environment,
 * validation, reload rules, worker count and loading from a file.
 */
#include "unit.h"

#include "keymgmt/config.h"

#include <unistd.h>

#define ERRLEN 512

struct fixture {
    struct config cfg;
    char err[ERRLEN];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    config_defaults(&f->cfg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    config_free(&f->cfg);
    free(f);
    return 0;
}

static int parse(struct fixture *f, const char *text)
{
    f->err[0] = '\0';
    return config_parse_text(&f->cfg, text, f->err, sizeof(f->err));
}

static void expect_parse_error(struct fixture *f, const char *text, const char *want)
{
    if (parse(f, text) != -1)
        fail_msg("config text accepted: %s", text);
    if (strcmp(f->err, want) != 0)
        fail_msg("config text %s\n  error: %s\n  want:  %s", text, f->err, want);
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
    struct fixture *f = *state;
    const struct config *c = &f->cfg;
    assert_string_equal(c->listen, "/run/keymgmt/keymgmt.sock");
    assert_int_equal(c->listen_mode, 0660);
    assert_int_equal(c->listen_backlog, 1024);
    assert_int_equal(c->workers, 0);
    assert_int_equal(c->shutdown_timeout, 30);
    assert_string_equal(c->pid_file, "");
    assert_string_equal(c->log_level, "info");
    assert_string_equal(c->database_url, "dbname=keymgmt");
    assert_int_equal(c->db_connect_timeout, 5);
    assert_int_equal(c->db_statement_timeout, 15000);
    assert_string_equal(c->seal_key, "");
    assert_string_equal(c->seal_key_file, "");
    assert_string_equal(c->seal_previous_keys, "");
    assert_string_equal(c->mount, "keymgmt");
    assert_int_equal(c->max_body_bytes, 1048576);
    assert_false(c->allow_http_endpoints);
    assert_int_equal(c->aws_connect_timeout, 5000);
    assert_int_equal(c->aws_timeout, 30000);
    assert_string_equal(c->aws_ca_bundle, "");
    assert_int_equal(c->aws_max_attempts, 3);
    assert_int_equal(c->aws_backoff_unit, 1000);
    assert_string_equal(c->alias_prefix, "keymgmt/");
    assert_int_equal(c->deletion_window_days, 30);
    assert_string_equal(c->migrations_dir, KEYMGMT_SQL_DIR);
    char err[ERRLEN];
    assert_int_equal(config_validate(c, err, sizeof(err)), 0);
}

static void test_def_table(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        bool reloadable;
    } want[] = {
        {"listen", false},
        {"listen_mode", false},
        {"listen_backlog", false},
        {"workers", true},
        {"shutdown_timeout", true},
        {"pid_file", false},
        {"log_level", true},
        {"database_url", true},
        {"db_connect_timeout", true},
        {"db_statement_timeout", true},
        {"seal_key", true},
        {"seal_key_file", true},
        {"seal_previous_keys", true},
        {"mount", true},
        {"max_body_bytes", true},
        {"allow_http_endpoints", true},
        {"aws_connect_timeout", true},
        {"aws_timeout", true},
        {"aws_ca_bundle", true},
        {"aws_max_attempts", true},
        {"aws_backoff_unit", true},
        {"alias_prefix", true},
        {"deletion_window_days", true},
        {"migrations_dir", true},
    };
    size_t n = sizeof(want) / sizeof(want[0]);
    assert_int_equal(config_def_count(), n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(config_def_key(i), want[i].key);
        if (config_def_reloadable(i) != want[i].reloadable)
            fail_msg("%s reloadable should be %d", want[i].key, (int)want[i].reloadable);
    }
    assert_null(config_def_key(n));
    assert_null(config_def_key((size_t)-1));
    assert_false(config_def_reloadable(n));
}

/* ---- the file format ---- */

static void test_parse_basic(void **state)
{
    struct fixture *f = *state;
    static const char text[] = "# keymgmt.conf\n"
                               "\n"
                               "   # an indented comment = with an equals sign\n"
                               "workers = 4\n"
                               "listen=unix:/tmp/km.sock\n"
                               "\t mount \t=\t other-mount \t\n"
                               "log_level = debug\n"
                               "allow_http_endpoints = yes\n"
                               "listen_mode = 0600\n"
                               "database_url = host=db port=5432 dbname=km\n"
                               "pid_file = \"/run/km/pid file\"\n"
                               "aws_ca_bundle = \"\"\n"
                               "alias_prefix = team/prod/\n"
                               "   \n"
                               "deletion_window_days = 7";
    assert_int_equal(parse(f, text), 0);
    assert_int_equal(f->cfg.workers, 4);
    assert_string_equal(f->cfg.listen, "unix:/tmp/km.sock");
    assert_string_equal(f->cfg.mount, "other-mount");
    assert_string_equal(f->cfg.log_level, "debug");
    assert_true(f->cfg.allow_http_endpoints);
    assert_int_equal(f->cfg.listen_mode, 0600);
    /* the value is everything after the first '=' */
    assert_string_equal(f->cfg.database_url, "host=db port=5432 dbname=km");
    /* quotes are removed, inner spaces kept */
    assert_string_equal(f->cfg.pid_file, "/run/km/pid file");
    assert_string_equal(f->cfg.aws_ca_bundle, "");
    assert_string_equal(f->cfg.alias_prefix, "team/prod/");
    assert_int_equal(f->cfg.deletion_window_days, 7);
    /* untouched keys keep their defaults */
    assert_int_equal(f->cfg.listen_backlog, 1024);
    assert_string_equal(f->cfg.seal_key, "");
}

static void test_parse_details(void **state)
{
    struct fixture *f = *state;
    /* empty text and comment-only text change nothing */
    assert_int_equal(parse(f, ""), 0);
    assert_int_equal(parse(f, "\n\n# x\n#workers = 9\n"), 0);
    assert_int_equal(f->cfg.workers, 0);
    /* CRLF line ends */
    assert_int_equal(parse(f, "workers = 5\r\nmount = m2\r\n"), 0);
    assert_int_equal(f->cfg.workers, 5);
    assert_string_equal(f->cfg.mount, "m2");
    /* a later line wins */
    assert_int_equal(parse(f, "workers = 1\nworkers = 2\n"), 0);
    assert_int_equal(f->cfg.workers, 2);
    /* quoted values keep inner quotes and surrounding spaces inside the quotes */
    assert_int_equal(parse(f, "pid_file = \"  a\"b  \""), 0);
    assert_string_equal(f->cfg.pid_file, "  a\"b  ");
    /* a lone quote is a value of its own */
    assert_int_equal(parse(f, "pid_file = \""), 0);
    assert_string_equal(f->cfg.pid_file, "\"");
    /* a quoted number */
    assert_int_equal(parse(f, "workers = \"7\""), 0);
    assert_int_equal(f->cfg.workers, 7);
    /* an empty string value */
    assert_int_equal(parse(f, "pid_file ="), 0);
    assert_string_equal(f->cfg.pid_file, "");
    /* booleans, case-insensitive */
    static const struct {
        const char *v;
        bool b;
    } bools[] = {{"1", true},  {"true", true},   {"TRUE", true}, {"yes", true},  {"On", true},
                 {"0", false}, {"false", false}, {"No", false},  {"off", false}, {"OFF", false}};
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), "allow_http_endpoints = %s", bools[i].v);
        f->cfg.allow_http_endpoints = !bools[i].b;
        assert_int_equal(parse(f, line), 0);
        assert_int_equal(f->cfg.allow_http_endpoints, bools[i].b);
    }
    /* octal */
    assert_int_equal(parse(f, "listen_mode = 0777"), 0);
    assert_int_equal(f->cfg.listen_mode, 0777);
    assert_int_equal(parse(f, "listen_mode = 0"), 0);
    assert_int_equal(f->cfg.listen_mode, 0);
    assert_int_equal(parse(f, "listen_mode = 644"), 0); /* octal without the leading 0 */
    assert_int_equal(f->cfg.listen_mode, 0644);
}

static void test_parse_boundaries(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "workers = 0"), 0);
    assert_int_equal(f->cfg.workers, 0);
    assert_int_equal(parse(f, "workers = 256"), 0);
    assert_int_equal(f->cfg.workers, 256);
    assert_int_equal(parse(f, "deletion_window_days = 7\n"), 0);
    assert_int_equal(parse(f, "deletion_window_days = 30\n"), 0);
    assert_int_equal(parse(f, "max_body_bytes = 67108864"), 0);
    assert_int_equal(f->cfg.max_body_bytes, 67108864);
    assert_int_equal(parse(f, "aws_backoff_unit = 0"), 0);
    assert_int_equal(f->cfg.aws_backoff_unit, 0);
    char line[256];
    char name[129];
    memset(name, 'm', 128);
    name[128] = '\0';
    snprintf(line, sizeof(line), "mount = %s", name);
    assert_int_equal(parse(f, line), 0);
    assert_string_equal(f->cfg.mount, name);
}

static void test_parse_errors(void **state)
{
    struct fixture *f = *state;
    expect_parse_error(f, "bogus = 1", "config line 1: unknown key \"bogus\"");
    expect_parse_error(f, "# c\n\nworkers = 2\nWorkers = 2",
                       "config line 4: unknown key \"Workers\"");
    expect_parse_error(f, "workers 4", "config line 1: expected key = value");
    expect_parse_error(f, "\n\n\njust text\n", "config line 4: expected key = value");
    expect_parse_error(f, "= 4", "config line 1: unknown key \"\"");
    /* bad values name the key and the line */
    expect_parse_error(f, "workers = four",
                       "config line 1: invalid value for workers: not an integer");
    expect_parse_error(f, "\nworkers = 4x",
                       "config line 2: invalid value for workers: not an integer");
    expect_parse_error(f, "workers = 4 4",
                       "config line 1: invalid value for workers: not an integer");
    expect_parse_error(f, "workers =", "config line 1: invalid value for workers: not an integer");
    expect_parse_error(f, "workers = 0x10",
                       "config line 1: invalid value for workers: not an integer");
    expect_parse_error(f, "workers = 1.5",
                       "config line 1: invalid value for workers: not an integer");
    expect_parse_error(f, "workers = 4 # four",
                       "config line 1: invalid value for workers: not an integer");
    expect_parse_error(f, "workers = 99999999999999999999999",
                       "config line 1: invalid value for workers: not an integer");
    expect_parse_error(f, "listen_mode = 0689",
                       "config line 1: invalid value for listen_mode: not an octal number");
    expect_parse_error(f, "listen_mode = rw",
                       "config line 1: invalid value for listen_mode: not an octal number");
    expect_parse_error(f, "allow_http_endpoints = maybe",
                       "config line 1: invalid value for allow_http_endpoints: not a boolean");
    expect_parse_error(f, "allow_http_endpoints = ",
                       "config line 1: invalid value for allow_http_endpoints: not a boolean");
    expect_parse_error(f, "allow_http_endpoints = 2",
                       "config line 1: invalid value for allow_http_endpoints: not a boolean");
    /* out of range */
    expect_parse_error(f, "workers = 257",
                       "config line 1: invalid value for workers: must be between 0 and 256");
    expect_parse_error(f, "workers = -1",
                       "config line 1: invalid value for workers: must be between 0 and 256");
    expect_parse_error(
        f, "\n\n\ndeletion_window_days = 6",
        "config line 4: invalid value for deletion_window_days: must be between 7 and 30");
    expect_parse_error(
        f, "deletion_window_days = 31",
        "config line 1: invalid value for deletion_window_days: must be between 7 and 30");
    expect_parse_error(f, "listen_mode = 01000",
                       "config line 1: invalid value for listen_mode: must be between 0 and 511");
    expect_parse_error(
        f, "max_body_bytes = 0",
        "config line 1: invalid value for max_body_bytes: must be between 1 and 67108864");
    expect_parse_error(
        f, "max_body_bytes = 67108865",
        "config line 1: invalid value for max_body_bytes: must be between 1 and 67108864");
    /* string lengths and checks */
    expect_parse_error(
        f, "listen = ", "config line 1: invalid value for listen: length must be 1..4096");
    expect_parse_error(f, "mount = \"\"",
                       "config line 1: invalid value for mount: length must be 1..128");
    char line[300];
    char name[130];
    memset(name, 'm', 129);
    name[129] = '\0';
    snprintf(line, sizeof(line), "mount = %s", name);
    expect_parse_error(f, line, "config line 1: invalid value for mount: length must be 1..128");
    expect_parse_error(f, "mount = a/b", "config line 1: invalid value for mount");
    expect_parse_error(f, "mount = -a", "config line 1: invalid value for mount");
    expect_parse_error(f, "log_level = verbose", "config line 1: invalid value for log_level");
    expect_parse_error(f, "log_level = INFO", "config line 1: invalid value for log_level");
    expect_parse_error(f, "alias_prefix = aws/x", "config line 1: invalid value for alias_prefix");
    expect_parse_error(f, "alias_prefix = a.b", "config line 1: invalid value for alias_prefix");
}

/* A failed parse leaves earlier lines applied but never a half-set value. */
static void test_parse_error_keeps_valid(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "workers = 3\nworkers = 300\n"), -1);
    assert_int_equal(f->cfg.workers, 3);
    assert_int_equal(parse(f, "mount = good\nmount = b/ad\n"), -1);
    assert_string_equal(f->cfg.mount, "good");
}

/* ---- environment ---- */

static void test_env(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(parse(f, "workers = 4\nmount = file-mount\n"), 0);
    char *env[] = {
        "PATH=/usr/bin",
        "KEYMGMT_WORKERS=8",
        "KEYMGMT_HTTP_PORT=8200", /* another tool's variable: ignored */
        "KEYMGMT_SEAL_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "KEYMGMT_DATABASE_URL=postgresql://u@h/db?sslmode=require",
        "KEYMGMT_ALLOW_HTTP_ENDPOINTS=true",
        "KEYMGMT_LISTEN_MODE=0640",
        "keymgmt_mount=lower-prefix-ignored",
        "KEYMGMT_NOEQUALS",
        "KEYMGMT_=x",
        "XKEYMGMT_WORKERS=1",
        NULL,
    };
    f->err[0] = '\0';
    assert_int_equal(config_apply_env(&f->cfg, env, f->err, sizeof(f->err)), 0);
    assert_int_equal(f->cfg.workers, 8);
    assert_string_equal(f->cfg.mount, "file-mount");
    assert_string_equal(f->cfg.seal_key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    assert_string_equal(f->cfg.database_url, "postgresql://u@h/db?sslmode=require");
    assert_true(f->cfg.allow_http_endpoints);
    assert_int_equal(f->cfg.listen_mode, 0640);

    /* no environment at all */
    assert_int_equal(config_apply_env(&f->cfg, NULL, f->err, sizeof(f->err)), 0);
    char *none[] = {NULL};
    assert_int_equal(config_apply_env(&f->cfg, none, f->err, sizeof(f->err)), 0);
    assert_int_equal(f->cfg.workers, 8);
    /* an empty value is applied (an empty string value) */
    char *empty[] = {"KEYMGMT_PID_FILE=", NULL};
    f->cfg.pid_file[0] = '\0';
    assert_int_equal(config_apply_env(&f->cfg, empty, f->err, sizeof(f->err)), 0);
    assert_string_equal(f->cfg.pid_file, "");
    /* a long unrelated name is ignored */
    char *longname[] = {
        "KEYMGMT_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=1", NULL};
    assert_int_equal(config_apply_env(&f->cfg, longname, f->err, sizeof(f->err)), 0);
}

static void test_env_errors(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *var;
        const char *want;
    } cases[] = {
        {"KEYMGMT_WORKERS=abc",
         "environment KEYMGMT_WORKERS: invalid value for workers: not an integer"},
        {"KEYMGMT_WORKERS= 3",
         "environment KEYMGMT_WORKERS: invalid value for workers: not an integer"},
        {"KEYMGMT_WORKERS=1000",
         "environment KEYMGMT_WORKERS: invalid value for workers: must be between 0 and 256"},
        {"KEYMGMT_ALLOW_HTTP_ENDPOINTS=sure",
         "environment KEYMGMT_ALLOW_HTTP_ENDPOINTS: invalid value for allow_http_endpoints: not a "
         "boolean"},
        {"KEYMGMT_MOUNT=a/b", "environment KEYMGMT_MOUNT: invalid value for mount"},
        {"KEYMGMT_LISTEN_MODE=9", "environment KEYMGMT_LISTEN_MODE: invalid value for listen_mode: "
                                  "not an octal number"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *env[] = {"KEYMGMT_SHUTDOWN_TIMEOUT=60", (char *)cases[i].var, NULL};
        f->err[0] = '\0';
        if (config_apply_env(&f->cfg, env, f->err, sizeof(f->err)) != -1)
            fail_msg("%s was accepted", cases[i].var);
        assert_string_equal(f->err, cases[i].want);
    }
}

/* ---- validation ---- */

static void test_validate(void **state)
{
    struct fixture *f = *state;
    char err[ERRLEN] = "";
    assert_int_equal(parse(f, "seal_key = AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="), 0);
    assert_int_equal(config_validate(&f->cfg, err, sizeof(err)), 0);
    assert_int_equal(parse(f, "seal_key_file = /etc/keymgmt/seal.key"), 0);
    assert_int_equal(config_validate(&f->cfg, err, sizeof(err)), -1);
    assert_string_equal(err, "config: seal_key and seal_key_file are both set; use one");
    assert_int_equal(parse(f, "seal_key ="), 0);
    assert_int_equal(config_validate(&f->cfg, err, sizeof(err)), 0);
}

/* ---- reload ---- */

static void test_keep_static(void **state)
{
    struct fixture *f = *state; /* f->cfg is the running configuration */
    struct config next;
    char err[ERRLEN];
    char changed[64];
    assert_int_equal(parse(f, "listen = /run/a.sock\nworkers = 2\n"), 0);

    config_defaults(&next);
    assert_int_equal(config_parse_text(&next,
                                       "listen = /run/b.sock\n"
                                       "listen_mode = 0600\n"
                                       "listen_backlog = 10\n"
                                       "pid_file = /run/new.pid\n"
                                       "workers = 6\n"
                                       "log_level = error\n"
                                       "mount = m2\n"
                                       "allow_http_endpoints = true\n",
                                       err, sizeof(err)),
                     0);
    memset(changed, 'X', sizeof(changed));
    config_keep_static(&next, &f->cfg, changed, sizeof(changed));
    /* the first non-reloadable key that changed, in table order */
    assert_string_equal(changed, "listen");
    /* non-reloadable keys keep the running value */
    assert_string_equal(next.listen, "/run/a.sock");
    assert_ptr_not_equal(next.listen, f->cfg.listen); /* a copy, owned by next */
    assert_int_equal(next.listen_mode, 0660);
    assert_int_equal(next.listen_backlog, 1024);
    assert_string_equal(next.pid_file, "");
    /* reloadable ones take the new value */
    assert_int_equal(next.workers, 6);
    assert_string_equal(next.log_level, "error");
    assert_string_equal(next.mount, "m2");
    assert_true(next.allow_http_endpoints);

    /* nothing non-reloadable changed: changed is "" */
    memset(changed, 'X', sizeof(changed));
    config_keep_static(&next, &f->cfg, changed, sizeof(changed));
    assert_string_equal(changed, "");
    assert_int_equal(next.workers, 6);
    config_free(&next);

    /* only a later non-reloadable key changed */
    config_defaults(&next);
    assert_int_equal(config_parse_text(&next, "listen = /run/a.sock\npid_file = /p\nworkers = 2",
                                       err, sizeof(err)),
                     0);
    config_keep_static(&next, &f->cfg, changed, sizeof(changed));
    assert_string_equal(changed, "pid_file");
    assert_string_equal(next.pid_file, "");
    /* a zero-length report buffer is allowed */
    assert_int_equal(config_parse_text(&next, "listen_mode = 0600", err, sizeof(err)), 0);
    config_keep_static(&next, &f->cfg, NULL, 0);
    assert_int_equal(next.listen_mode, 0660);
    /* a small buffer is truncated safely */
    assert_int_equal(config_parse_text(&next, "listen_backlog = 5", err, sizeof(err)), 0);
    char small[5];
    config_keep_static(&next, &f->cfg, small, sizeof(small));
    assert_string_equal(small, "list");
    assert_int_equal(next.listen_backlog, 1024);
    config_free(&next);
}

/* ---- workers ---- */

static void test_worker_count(void **state)
{
    struct fixture *f = *state;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_true(cpus > 0);
    f->cfg.workers = 0;
    assert_int_equal(config_worker_count(&f->cfg), 2 * cpus);
    f->cfg.workers = 1;
    assert_int_equal(config_worker_count(&f->cfg), 1);
    f->cfg.workers = 3;
    assert_int_equal(config_worker_count(&f->cfg), 3);
    f->cfg.workers = 256;
    assert_int_equal(config_worker_count(&f->cfg), 256);
}

/* ---- loading ---- */

static char *write_temp(const char *content)
{
    char *path = strdup("/tmp/keymgmt-test-config-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(content);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    close(fd);
    return path;
}

static void test_load(void **state)
{
    (void)state;
    struct config c;
    char err[ERRLEN] = "";
    char *path = write_temp("# test\nworkers = 4\nmount = from-file\nlog_level = warn\n");
    char *env[] = {"KEYMGMT_WORKERS=6", "KEYMGMT_HTTP_PORT=1", NULL};
    assert_int_equal(config_load(&c, path, env, err, sizeof(err)), 0);
    assert_int_equal(c.workers, 6);            /* environment wins */
    assert_string_equal(c.mount, "from-file"); /* file over default */
    assert_string_equal(c.log_level, "warn");
    assert_string_equal(c.listen, "/run/keymgmt/keymgmt.sock"); /* default */
    config_free(&c);
    config_free(&c); /* freeing twice is harmless: pointers are cleared */

    /* no file: defaults + environment */
    assert_int_equal(config_load(&c, NULL, env, err, sizeof(err)), 0);
    assert_int_equal(c.workers, 6);
    assert_string_equal(c.mount, "keymgmt");
    config_free(&c);
    assert_int_equal(config_load(&c, "", NULL, err, sizeof(err)), 0);
    assert_int_equal(c.workers, 0);
    config_free(&c);
    unlink(path);
    free(path);

    /* an empty file */
    path = write_temp("");
    assert_int_equal(config_load(&c, path, NULL, err, sizeof(err)), 0);
    assert_string_equal(c.mount, "keymgmt");
    config_free(&c);
    unlink(path);
    free(path);

    /* a bigger file (several read chunks) */
    size_t big = 20000;
    char *text = malloc(big + 64);
    assert_non_null(text);
    memset(text, '#', big);
    text[big - 1] = '\n';
    snprintf(text + big, 64, "workers = 9\n");
    path = write_temp(text);
    free(text);
    assert_int_equal(config_load(&c, path, NULL, err, sizeof(err)), 0);
    assert_int_equal(c.workers, 9);
    config_free(&c);
    unlink(path);
    free(path);
}

static void test_load_errors(void **state)
{
    (void)state;
    struct config c;
    char err[ERRLEN] = "";
    /* a missing file */
    assert_int_equal(config_load(&c, "/nonexistent/keymgmt-test.conf", NULL, err, sizeof(err)), -1);
    assert_string_equal(
        err, "config: cannot open /nonexistent/keymgmt-test.conf: No such file or directory");
    assert_null(c.listen); /* released on failure */
    assert_null(c.mount);
    config_free(&c);

    /* a bad line in the file */
    char *path = write_temp("workers = 4\nnope = 1\n");
    assert_int_equal(config_load(&c, path, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "config line 2: unknown key \"nope\"");
    assert_null(c.listen);
    unlink(path);
    free(path);

    /* a bad environment value */
    char *env[] = {"KEYMGMT_WORKERS=x", NULL};
    assert_int_equal(config_load(&c, NULL, env, err, sizeof(err)), -1);
    assert_string_equal(err,
                        "environment KEYMGMT_WORKERS: invalid value for workers: not an integer");
    assert_null(c.listen);

    /* cross-field validation across sources */
    path = write_temp("seal_key_file = /etc/keymgmt/seal.key\n");
    char *env2[] = {"KEYMGMT_SEAL_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", NULL};
    assert_int_equal(config_load(&c, path, env2, err, sizeof(err)), -1);
    assert_string_equal(err, "config: seal_key and seal_key_file are both set; use one");
    assert_null(c.listen);
    unlink(path);
    free(path);
}

static void test_load_directory(void **state)
{
    (void)state;
    struct config c;
    char err[ERRLEN] = "";
    int rc = config_load(&c, "/tmp", NULL, err, sizeof(err));
    if (rc == 0)
        config_free(&c);
    /* Regression test. Expected: -1 with an error naming the path (e.g. "config: cannot read /tmp:
     * Is a directory"). */
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "/tmp"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_def_table),
        T(test_parse_basic),
        T(test_parse_details),
        T(test_parse_boundaries),
        T(test_parse_errors),
        T(test_parse_error_keeps_valid),
        T(test_env),
        T(test_env_errors),
        T(test_validate),
        T(test_keep_static),
        T(test_worker_count),
        T(test_load),
        T(test_load_errors),
        T(test_load_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
