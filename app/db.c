/*
 * db.c — one PostgreSQL connection, lazily prepared statements; see db.h.
 */
#include "keymgmt/db.h"
#include "keymgmt/log.h"
#include "keymgmt/pool.h"
#include "keymgmt/response.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

struct db {
    PGconn *conn;
    char *conninfo;
    char timeout[16];
    char options[64];
    char *app;
    unsigned gen; /* bumped on every successful connect */
    bool down;    /* last connect failed (log once per outage) */
    int locks;    /* advisory locks held */
    int used;     /* statements run since the last db_ensure() (the request's start) */
};

static struct db_stmt q_try_lock =
    DB_STMT("db_try_lock", "SELECT pg_try_advisory_lock(hashtextextended($1, 0))");
static struct db_stmt q_unlock =
    DB_STMT("db_unlock", "SELECT pg_advisory_unlock(hashtextextended($1, 0))");
static struct db_stmt q_unlock_all = DB_STMT("db_unlock_all", "SELECT pg_advisory_unlock_all()");

void db_arg_text(struct db_args *a, const char *s)
{
    a->values[a->n] = s;
    a->lengths[a->n] = 0;
    a->formats[a->n] = 0;
    a->n++;
}

void db_arg_bytes(struct db_args *a, const void *p, size_t n)
{
    a->values[a->n] = p;
    a->lengths[a->n] = (int)n;
    a->formats[a->n] = 1;
    a->n++;
}

void db_arg_int(struct db_args *a, long long v)
{
    snprintf(a->numbuf[a->n], sizeof(a->numbuf[0]), "%lld", v);
    db_arg_text(a, a->numbuf[a->n]);
}

void db_arg_bool(struct db_args *a, bool v)
{
    db_arg_text(a, v ? "true" : "false");
}

struct db *db_new(const char *conninfo, long connect_timeout_s, long statement_timeout_ms,
                  const char *application_name)
{
    struct db *db = xcalloc(1, sizeof(*db));
    db->conninfo = xstrdup(conninfo);
    db->app = xstrdup(application_name);
    snprintf(db->timeout, sizeof(db->timeout), "%ld", connect_timeout_s);
    snprintf(db->options, sizeof(db->options), "-c statement_timeout=%ld", statement_timeout_ms);
    return db;
}

void db_free(struct db *db)
{
    if (db == NULL)
        return;
    PQfinish(db->conn);
    free(db->conninfo);
    free(db->app);
    free(db);
}

/* Server notices ("relation already exists, skipping") are not for operators. */
static void drop_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static enum km_status db_connect(struct db *db)
{
    /* Later keywords win over the connection string's, except dbname which expands it. */
    const char *keys[] = {"dbname",     "connect_timeout", "options",          "application_name",
                          "keepalives", "keepalives_idle", "tcp_user_timeout", NULL};
    const char *vals[] = {db->conninfo, db->timeout, db->options, db->app,
                          "1",          "30",        "30000",     NULL};

    PQfinish(db->conn);
    db->conn = PQconnectdbParams(keys, vals, 1);
    if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
        if (!db->down) {
            const char *m = db->conn ? PQerrorMessage(db->conn) : "out of memory";
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", m);
            msg[strcspn(msg, "\n")] = '\0';
            log_emit(LOG_ERROR, "storage unavailable", json_pack("{s:s}", "error", msg));
        }
        db->down = true;
        PQfinish(db->conn);
        db->conn = NULL;
        return KM_ESTORAGE;
    }
    PQsetNoticeProcessor(db->conn, drop_notice, NULL);
    if (db->down)
        log_emit(LOG_INFO, "storage reconnected", NULL);
    db->down = false;
    db->locks = 0; /* a new session holds none */
    db->gen++;
    return KM_OK;
}

enum km_status db_ensure(struct db *db)
{
    db->used = 0;
    if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK) {
        /* Read anything the server sent while we were idle: a terminated
         * connection shows up here as an error and CONNECTION_BAD. */
        if (PQconsumeInput(db->conn) == 1 && PQstatus(db->conn) == CONNECTION_OK)
            return KM_OK;
    }
    return db_connect(db);
}

/* Whether a failure means the storage is unavailable rather than a bad statement. */
static bool storage_failure(struct db *db, const PGresult *res)
{
    if (PQstatus(db->conn) != CONNECTION_OK)
        return true;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state == NULL)
        return true;
    return strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 ||
           strncmp(state, "53", 2) == 0 || strcmp(state, "40001") == 0 ||
           strcmp(state, "40P01") == 0;
}

static enum km_status check(struct db *db, const char *what, PGresult *res)
{
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return KM_OK;
    bool storage = storage_failure(db, res);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    log_emit(storage ? LOG_ERROR : LOG_WARN, storage ? "storage unavailable" : "statement failed",
             json_pack("{s:s, s:s, s:s}", "statement", what, "sqlstate", state ? state : "",
                       "error", primary ? primary : PQerrorMessage(db->conn)));
    return storage ? KM_ESTORAGE : KM_EINTERNAL;
}

static enum km_status exec_once(struct db *db, struct db_stmt *st, const struct db_args *args,
                                PGresult **res)
{
    enum km_status rc;
    PGresult *r = NULL;

    if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
        return KM_ESTORAGE;
    if (st->gen != db->gen) {
        r = PQprepare(db->conn, st->name, st->sql, 0, NULL);
        rc = check(db, st->name, r);
        PQclear(r);
        r = NULL;
        if (rc != KM_OK)
            return rc;
        st->gen = db->gen;
    }
    r = PQexecPrepared(db->conn, st->name, args->n, args->values, args->lengths, args->formats, 0);
    rc = check(db, st->name, r);
    if (rc == KM_ESTORAGE) {
        PQclear(r);
        return rc;
    }
    *res = r;
    return rc;
}

enum km_status db_exec(struct db *db, struct db_stmt *st, const struct db_args *args,
                       PGresult **res)
{
    static const struct db_args none;
    bool first = db->used++ == 0;

    *res = NULL;
    if (args == NULL)
        args = &none;
    enum km_status rc = exec_once(db, st, args, res);
    if (rc == KM_ESTORAGE && first && db->conn != NULL && PQstatus(db->conn) == CONNECTION_BAD) {
        /* The first statement of a request found the idle connection dead (the server
         * restarted; db_ensure cannot always tell without a round trip). It never ran:
         * connect again and run it once more. */
        if (db_connect(db) == KM_OK)
            rc = exec_once(db, st, args, res);
    }
    return rc;
}

const char *db_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

const char *db_constraint(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    return s ? s : "";
}

static enum km_status simple(struct db *db, const char *sql)
{
    if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
        return KM_ESTORAGE;
    PGresult *r = PQexec(db->conn, sql);
    enum km_status rc = check(db, sql, r);
    PQclear(r);
    return rc;
}

enum km_status db_begin(struct db *db)
{
    return simple(db, "BEGIN");
}

enum km_status db_commit(struct db *db)
{
    return simple(db, "COMMIT");
}

void db_rollback(struct db *db)
{
    if (db_in_transaction(db))
        simple(db, "ROLLBACK");
}

bool db_in_transaction(const struct db *db)
{
    if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
        return false;
    PGTransactionStatusType t = PQtransactionStatus(db->conn);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

enum km_status db_lock(struct db *db, const char *name, long timeout_ms)
{
    const struct timespec pause = {0, 50 * 1000000L};
    int64_t waited = 0;
    struct db_args a = {0};
    db_arg_text(&a, name);
    for (;;) {
        PGresult *res = NULL;
        enum km_status rc = db_exec(db, &q_try_lock, &a, &res);
        bool got = rc == KM_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (rc != KM_OK)
            return rc;
        if (got) {
            db->locks++;
            return KM_OK;
        }
        if (waited >= timeout_ms)
            return KM_ERATE;
        nanosleep(&pause, NULL);
        waited += 50;
    }
}

void db_unlock(struct db *db, const char *name)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    db_arg_text(&a, name);
    if (db_exec(db, &q_unlock, &a, &res) == KM_OK && db->locks > 0)
        db->locks--;
    PQclear(res);
}

void db_unlock_all(struct db *db)
{
    PGresult *res = NULL;
    if (db->locks == 0)
        return;
    db_exec(db, &q_unlock_all, NULL, &res);
    PQclear(res);
    db->locks = 0;
}

json_t *db_column_array(const PGresult *res, int col)
{
    json_t *out = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(out, json_string(PQgetvalue(res, i, col)));
    return out;
}

enum km_status db_list_keys(struct db *db, struct db_stmt *st, const char *arg,
                            struct response *resp)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    if (arg != NULL)
        db_arg_text(&a, arg);
    enum km_status rc = db_exec(db, st, &a, &res);
    if (rc == KM_OK)
        rc = response_keys(resp, db_column_array(res, 0));
    PQclear(res);
    return rc;
}

unsigned char *db_get_bytes(const PGresult *res, int row, int col, size_t *len)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    size_t n = 0;
    unsigned char *tmp = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), &n);
    if (tmp == NULL)
        return NULL;
    unsigned char *out = xmalloc(n + 1);
    memcpy(out, tmp, n);
    out[n] = '\0';
    /* PQunescapeBytea's buffer may hold sealed data only; wipe it anyway. */
    memset(tmp, 0, n);
    PQfreemem(tmp);
    *len = n;
    return out;
}

PGconn *db_conn(struct db *db)
{
    return db->conn;
}
