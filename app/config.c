/*
 * config.c — table-driven configuration; see config.h.
 */
#include "keymgmt/config.h"
#include "keymgmt/log.h"
#include "keymgmt/pool.h"
#include "keymgmt/validate.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum cfg_type { CFG_STRING, CFG_INT, CFG_OCTAL, CFG_BOOL };

typedef int (*cfg_check)(const char *value);

struct config_def {
    const char *key;
    enum cfg_type type;
    size_t offset;
    const char *def;
    long min, max;
    bool reloadable;
    cfg_check check; /* extra check of a string value; 0 when fine */
};

static int check_log_level(const char *v)
{
    return log_level_parse(v) < 0 ? -1 : 0;
}

static int check_mount(const char *v)
{
    return validate_name(v) ? 0 : -1;
}

static int check_alias_prefix(const char *v)
{
    return validate_alias_prefix(v) ? 0 : -1;
}

#define F(field) offsetof(struct config, field)
static const struct config_def defs[] = {
    {"listen", CFG_STRING, F(listen), "/run/keymgmt/keymgmt.sock", 1, 4096, false, NULL},
    {"listen_mode", CFG_OCTAL, F(listen_mode), "0660", 0, 0777, false, NULL},
    {"listen_backlog", CFG_INT, F(listen_backlog), "1024", 1, 65535, false, NULL},
    {"workers", CFG_INT, F(workers), "0", 0, 256, true, NULL},
    {"shutdown_timeout", CFG_INT, F(shutdown_timeout), "30", 1, 3600, true, NULL},
    {"pid_file", CFG_STRING, F(pid_file), "", 0, 4096, false, NULL},
    {"log_level", CFG_STRING, F(log_level), "info", 1, 16, true, check_log_level},
    {"database_url", CFG_STRING, F(database_url), "dbname=keymgmt", 1, 4096, true, NULL},
    {"db_connect_timeout", CFG_INT, F(db_connect_timeout), "5", 1, 120, true, NULL},
    {"db_statement_timeout", CFG_INT, F(db_statement_timeout), "15000", 100, 3600000, true, NULL},
    {"seal_key", CFG_STRING, F(seal_key), "", 0, 256, true, NULL},
    {"seal_key_file", CFG_STRING, F(seal_key_file), "", 0, 4096, true, NULL},
    {"seal_previous_keys", CFG_STRING, F(seal_previous_keys), "", 0, 16384, true, NULL},
    {"mount", CFG_STRING, F(mount), "keymgmt", 1, 128, true, check_mount},
    {"max_body_bytes", CFG_INT, F(max_body_bytes), "1048576", 1, 67108864, true, NULL},
    {"allow_http_endpoints", CFG_BOOL, F(allow_http_endpoints), "false", 0, 0, true, NULL},
    {"aws_connect_timeout", CFG_INT, F(aws_connect_timeout), "5000", 10, 120000, true, NULL},
    {"aws_timeout", CFG_INT, F(aws_timeout), "30000", 10, 600000, true, NULL},
    {"aws_ca_bundle", CFG_STRING, F(aws_ca_bundle), "", 0, 4096, true, NULL},
    {"aws_max_attempts", CFG_INT, F(aws_max_attempts), "3", 1, 10, true, NULL},
    {"aws_backoff_unit", CFG_INT, F(aws_backoff_unit), "1000", 0, 60000, true, NULL},
    {"alias_prefix", CFG_STRING, F(alias_prefix), "keymgmt/", 0, 128, true, check_alias_prefix},
    {"deletion_window_days", CFG_INT, F(deletion_window_days), "30", 7, 30, true, NULL},
    {"migrations_dir", CFG_STRING, F(migrations_dir), KEYMGMT_SQL_DIR, 1, 4096, true, NULL},
};
#undef F
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

size_t config_def_count(void)
{
    return NDEFS;
}

const char *config_def_key(size_t i)
{
    return i < NDEFS ? defs[i].key : NULL;
}

bool config_def_reloadable(size_t i)
{
    return i < NDEFS && defs[i].reloadable;
}

static const struct config_def *find_def(const char *key, size_t len)
{
    for (size_t i = 0; i < NDEFS; i++)
        if (strlen(defs[i].key) == len && strncmp(defs[i].key, key, len) == 0)
            return &defs[i];
    return NULL;
}

static int parse_long(const char *s, int base, long *out)
{
    char *end = NULL;
    if (*s == '\0' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    long v = strtol(s, &end, base);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Set one value; on error writes a message naming the key. */
static int set_value(struct config *cfg, const struct config_def *d, const char *value,
                     const char *source, char *err, size_t errlen)
{
    void *target = (char *)cfg + d->offset;
    long n = 0;

    switch (d->type) {
    case CFG_STRING: {
        size_t len = strlen(value);
        if ((long)len < d->min || (long)len > d->max) {
            snprintf(err, errlen, "%s: invalid value for %s: length must be %ld..%ld", source,
                     d->key, d->min, d->max);
            return -1;
        }
        if (d->check != NULL && len > 0 && d->check(value) != 0) {
            snprintf(err, errlen, "%s: invalid value for %s", source, d->key);
            return -1;
        }
        char **s = target;
        free(*s);
        *s = xstrdup(value);
        return 0;
    }
    case CFG_INT:
    case CFG_OCTAL:
        if (parse_long(value, d->type == CFG_OCTAL ? 8 : 10, &n) != 0) {
            snprintf(err, errlen, "%s: invalid value for %s: not %s", source, d->key,
                     d->type == CFG_OCTAL ? "an octal number" : "an integer");
            return -1;
        }
        if (n < d->min || n > d->max) {
            snprintf(err, errlen, "%s: invalid value for %s: must be between %ld and %ld", source,
                     d->key, d->min, d->max);
            return -1;
        }
        *(long *)target = n;
        return 0;
    case CFG_BOOL:
        if (parse_bool(value, (bool *)target) != 0) {
            snprintf(err, errlen, "%s: invalid value for %s: not a boolean", source, d->key);
            return -1;
        }
        return 0;
    }
    return -1;
}

void config_defaults(struct config *cfg)
{
    char err[256];
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NDEFS; i++)
        if (set_value(cfg, &defs[i], defs[i].def, "default", err, sizeof(err)) != 0)
            abort(); /* a bad default is a programming error */
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int config_parse_text(struct config *cfg, const char *text, char *err, size_t errlen)
{
    int rc = -1;
    char *copy = xstrdup(text);
    char *save = NULL;
    int lineno = 0;
    char source[64];

    for (char *line = copy; line != NULL; line = save) {
        save = strchr(line, '\n');
        if (save != NULL)
            *save++ = '\0';
        lineno++;
        snprintf(source, sizeof(source), "config line %d", lineno);
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s: expected key = value", source);
            goto out;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
            value[vlen - 1] = '\0';
            value++;
        }
        const struct config_def *d = find_def(key, strlen(key));
        if (d == NULL) {
            snprintf(err, errlen, "%s: unknown key \"%.64s\"", source, key);
            goto out;
        }
        if (set_value(cfg, d, value, source, err, errlen) != 0)
            goto out;
    }
    rc = 0;
out:
    free(copy);
    return rc;
}

int config_apply_env(struct config *cfg, char *const *envp, char *err, size_t errlen)
{
    static const char prefix[] = "KEYMGMT_";
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        const char *e = envp[i];
        if (strncmp(e, prefix, sizeof(prefix) - 1) != 0)
            continue;
        const char *name = e + sizeof(prefix) - 1;
        const char *eq = strchr(name, '=');
        if (eq == NULL)
            continue;
        char lower[64];
        size_t len = (size_t)(eq - name);
        if (len >= sizeof(lower))
            continue;
        for (size_t j = 0; j < len; j++)
            lower[j] = (char)tolower((unsigned char)name[j]);
        lower[len] = '\0';
        const struct config_def *d = find_def(lower, len);
        if (d == NULL)
            continue; /* other tools share the prefix (KEYMGMT_HTTP_PORT, ...) */
        char source[96];
        snprintf(source, sizeof(source), "environment KEYMGMT_%.*s", (int)len, name);
        if (set_value(cfg, d, eq + 1, source, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int config_validate(const struct config *cfg, char *err, size_t errlen)
{
    if (cfg->seal_key[0] != '\0' && cfg->seal_key_file[0] != '\0') {
        snprintf(err, errlen, "config: seal_key and seal_key_file are both set; use one");
        return -1;
    }
    return 0;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "config: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 20)) {
                snprintf(err, errlen, "config: %s is too large", path);
                free(buf);
                buf = NULL;
                break;
            }
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0 && ferror(f)) {
            snprintf(err, errlen, "config: cannot read %s: %s", path, strerror(errno));
            free(buf);
            buf = NULL;
            break;
        }
        if (n == 0) {
            buf[len] = '\0';
            break;
        }
    }
    fclose(f);
    return buf;
}

int config_load(struct config *cfg, const char *path, char *const *envp, char *err, size_t errlen)
{
    int rc = -1;
    char *text = NULL;

    config_defaults(cfg);
    if (path != NULL && path[0] != '\0') {
        text = read_file(path, err, errlen);
        if (text == NULL)
            goto out;
        if (config_parse_text(cfg, text, err, errlen) != 0)
            goto out;
    }
    if (config_apply_env(cfg, envp, err, errlen) != 0)
        goto out;
    if (config_validate(cfg, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    free(text);
    if (rc != 0)
        config_free(cfg);
    return rc;
}

static bool value_equal(const struct config_def *d, const struct config *a, const struct config *b)
{
    const void *x = (const char *)a + d->offset;
    const void *y = (const char *)b + d->offset;
    switch (d->type) {
    case CFG_STRING:
        return strcmp(*(char *const *)x, *(char *const *)y) == 0;
    case CFG_INT:
    case CFG_OCTAL:
        return *(const long *)x == *(const long *)y;
    case CFG_BOOL:
        return *(const bool *)x == *(const bool *)y;
    }
    return true;
}

void config_keep_static(struct config *next, const struct config *cur, char *changed, size_t len)
{
    if (len > 0)
        changed[0] = '\0';
    for (size_t i = 0; i < NDEFS; i++) {
        const struct config_def *d = &defs[i];
        if (d->reloadable || value_equal(d, next, cur))
            continue;
        if (len > 0 && changed[0] == '\0')
            snprintf(changed, len, "%s", d->key);
        void *dst = (char *)next + d->offset;
        const void *src = (const char *)cur + d->offset;
        if (d->type == CFG_STRING) {
            free(*(char **)dst);
            *(char **)dst = xstrdup(*(char *const *)src);
        } else if (d->type == CFG_BOOL) {
            *(bool *)dst = *(const bool *)src;
        } else {
            *(long *)dst = *(const long *)src;
        }
    }
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < NDEFS; i++) {
        if (defs[i].type != CFG_STRING)
            continue;
        char **s = (char **)((char *)cfg + defs[i].offset);
        free(*s);
        *s = NULL;
    }
}

long config_worker_count(const struct config *cfg)
{
    if (cfg->workers > 0)
        return cfg->workers;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 ? 2 * cpus : 2;
}
