/*
 * config.h — configuration, table-driven.
 *
 * Every setting is one row of a table {key, type, target, default, min, max,
 * reloadable, secret}. Values come from the defaults, then a file of
 * `key = value` lines, then environment variables KEYMGMT_<KEY> (upper case),
 * later sources winning. Invalid values or unknown keys in the file refuse the
 * whole configuration with a message naming the key.
 *
 * A struct config owns its strings; config_free() releases them. Parsing is
 * pure (text and environment are passed in); config_load() does the file I/O.
 */
#ifndef KEYMGMT_CONFIG_H
#define KEYMGMT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct config {
    char *listen;     /* unix socket path, "unix:PATH" or "HOST:PORT" */
    long listen_mode; /* permissions of a unix socket */
    long listen_backlog;
    long workers;          /* 0 = two per CPU */
    long shutdown_timeout; /* seconds a draining worker may take */
    char *pid_file;
    char *log_level;
    char *database_url;        /* libpq connection string or URI */
    long db_connect_timeout;   /* seconds */
    long db_statement_timeout; /* milliseconds */
    char *seal_key;            /* base64 of 32 bytes; usually from KEYMGMT_SEAL_KEY */
    char *seal_key_file;       /* file holding the base64 seal key */
    char *seal_previous_keys;  /* comma-separated files of older seal keys (rotation) */
    char *mount;
    long max_body_bytes;
    bool allow_http_endpoints; /* allow plain http:// provider endpoints (local stacks) */
    long aws_connect_timeout;  /* milliseconds */
    long aws_timeout;          /* milliseconds, whole call */
    char *aws_ca_bundle;
    long aws_max_attempts;
    long aws_backoff_unit; /* milliseconds that one "second" of SDK backoff lasts */
    char *alias_prefix;
    long deletion_window_days;
    char *migrations_dir; /* keymgmtctl migrate */
};

/* The table, for documentation and tests. */
struct config_def;
size_t config_def_count(void);
const char *config_def_key(size_t i);
bool config_def_reloadable(size_t i);

/* Fill `cfg` with the defaults. */
void config_defaults(struct config *cfg);
/* Apply `key = value` text. On error returns -1 and writes a message to err. */
int config_parse_text(struct config *cfg, const char *text, char *err, size_t errlen);
/* Apply KEYMGMT_* variables from a NULL-terminated environment. */
int config_apply_env(struct config *cfg, char *const *envp, char *err, size_t errlen);
/* Cross-field checks after all sources are applied. */
int config_validate(const struct config *cfg, char *err, size_t errlen);
/* Defaults + file (may be NULL) + environment + validation. */
int config_load(struct config *cfg, const char *path, char *const *envp, char *err, size_t errlen);
/* Keep the old value of every non-reloadable key that `next` changed; report the
 * first such key in `changed` (or "" when none). */
void config_keep_static(struct config *next, const struct config *cur, char *changed, size_t len);
void config_free(struct config *cfg);

/* Workers to start: cfg->workers, or two per online CPU when 0. */
long config_worker_count(const struct config *cfg);

#endif
