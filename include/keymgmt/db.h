/*
 * db.h — the worker's PostgreSQL connection.
 *
 * One struct db per process, holding one libpq connection. Statements are
 * declared by the modules that use them as static struct db_stmt values and
 * prepared lazily, once per connection (a connection generation counter tells
 * when a reconnect has invalidated them).
 *
 * db_ensure() is called at the start of every request: it notices a
 * connection the server has closed and reconnects, so a restarted PostgreSQL is
 * picked up without restarting keymgmtd. Connection loss, server shutdown and
 * statement timeouts map to KM_ESTORAGE (HTTP 503); connect and statement
 * timeouts and TCP user timeouts bound every wait.
 *
 * Parameters go through struct db_args (text or binary); SQL is never built
 * from strings. Results are PGresult, freed by the caller with PQclear().
 */
#ifndef KEYMGMT_DB_H
#define KEYMGMT_DB_H

#include "keymgmt/status.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#define DB_MAX_ARGS 16

struct db;
struct pool;

struct db_stmt {
    const char *name; /* unique across the program */
    const char *sql;
    unsigned gen; /* connection generation it was prepared on */
};
#define DB_STMT(n, q)                                                                              \
    {                                                                                              \
        (n), (q), 0                                                                                \
    }

struct db_args {
    int n;
    const char *values[DB_MAX_ARGS];
    int lengths[DB_MAX_ARGS];
    int formats[DB_MAX_ARGS];
    char numbuf[DB_MAX_ARGS][24];
};

void db_arg_text(struct db_args *a, const char *s);            /* NULL → SQL NULL */
void db_arg_bytes(struct db_args *a, const void *p, size_t n); /* NULL → SQL NULL */
void db_arg_int(struct db_args *a, long long v);
void db_arg_bool(struct db_args *a, bool v);

struct db *db_new(const char *conninfo, long connect_timeout_s, long statement_timeout_ms,
                  const char *application_name);
void db_free(struct db *db);

/* Make sure the connection is usable, reconnecting if needed. */
enum km_status db_ensure(struct db *db);

/*
 * Execute a statement. KM_OK: *res holds the result. KM_ESTORAGE: the connection
 * is unusable (*res NULL). KM_EINTERNAL: the statement failed; *res holds the
 * error result so callers can look at db_sqlstate(*res).
 */
enum km_status db_exec(struct db *db, struct db_stmt *st, const struct db_args *args,
                       PGresult **res);
const char *db_sqlstate(const PGresult *res);
const char *db_constraint(const PGresult *res);

/* Transactions (constant SQL). db_rollback is safe to call when none is open. */
enum km_status db_begin(struct db *db);
enum km_status db_commit(struct db *db);
void db_rollback(struct db *db);
bool db_in_transaction(const struct db *db);

/*
 * Session advisory locks, named by a string: held on the connection outside any
 * transaction, so work spanning network calls can be serialised without an open
 * transaction; released by db_unlock(), or by PostgreSQL when the connection ends
 * (a killed worker never leaves one behind). db_lock waits up to timeout_ms:
 * KM_OK when taken, KM_ERATE when another session kept it that long.
 */
enum km_status db_lock(struct db *db, const char *name, long timeout_ms);
void db_unlock(struct db *db, const char *name);
/* Release every advisory lock this connection holds (end of request). */
void db_unlock_all(struct db *db);

/* One text column of every row, as a new JSON array of strings. */
json_t *db_column_array(const PGresult *res, int col);

struct response;
/* Answer a LIST: run `st` (one text parameter, or none when arg is NULL) and put its
 * first column in resp as Vault does: 200 {"keys": [...]}, 404 {"errors":[]} if empty. */
enum km_status db_list_keys(struct db *db, struct db_stmt *st, const char *arg,
                            struct response *resp);

/* Copy a bytea column out of a text-format result (malloc'd, free() it). */
unsigned char *db_get_bytes(const PGresult *res, int row, int col, size_t *len);

/* The raw connection (administration tools only). */
PGconn *db_conn(struct db *db);

#endif
