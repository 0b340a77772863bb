/*
 * migrate.c — ordered, once-only, concurrency-safe migrations; see migrate.h.
 */
#include "keymgmt/migrate.h"
#include "keymgmt/codec.h"
#include "keymgmt/log.h"
#include "keymgmt/pool.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_LOCK "7270013301" /* arbitrary constant: pg_advisory_lock key */
#define MAX_MIGRATIONS 512

struct migration {
    int version;
    char name[256];
};

bool migrate_file_name(const char *name, int *version)
{
    size_t n = strlen(name);
    if (n < 9 || n > 200 || strcmp(name + n - 4, ".sql") != 0 || name[3] != '_')
        return false;
    for (size_t i = 0; i < 3; i++)
        if (!isdigit((unsigned char)name[i]))
            return false;
    for (size_t i = 4; i < n - 4; i++)
        if (!islower((unsigned char)name[i]) && !isdigit((unsigned char)name[i]) && name[i] != '_')
            return false;
    *version = (name[0] - '0') * 100 + (name[1] - '0') * 10 + (name[2] - '0');
    return *version > 0;
}

static int cmp_migration(const void *a, const void *b)
{
    return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

static int list_migrations(const char *dir, struct migration *out, size_t *n, char *err,
                           size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    *n = 0;
    if (d == NULL) {
        snprintf(err, errlen, "migrations: %s: %s", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        int v = 0;
        if (!migrate_file_name(e->d_name, &v))
            continue;
        if (*n == MAX_MIGRATIONS)
            break;
        out[*n].version = v;
        snprintf(out[*n].name, sizeof(out[*n].name), "%s", e->d_name);
        (*n)++;
    }
    closedir(d);
    qsort(out, *n, sizeof(*out), cmp_migration);
    for (size_t i = 1; i < *n; i++) {
        if (out[i].version == out[i - 1].version) {
            snprintf(err, errlen, "migrations: %s and %s share a version", out[i - 1].name,
                     out[i].name);
            return -1;
        }
    }
    return 0;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && n < (1L << 24) && fseek(f, 0, SEEK_SET) == 0) {
            buf = xmalloc((size_t)n + 1);
            *len = fread(buf, 1, (size_t)n, f);
            buf[*len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static int exec_ok(PGconn *conn, PGresult *r, const char *what, char *err, size_t errlen)
{
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return 0;
    snprintf(err, errlen, "%s: %s", what, PQerrorMessage(conn));
    err[strcspn(err, "\n")] = '\0';
    return -1;
}

static void rollback(PGconn *conn)
{
    PQclear(PQexec(conn, "ROLLBACK"));
}

static int simple(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, sql);
    int rc = exec_ok(conn, r, sql, err, errlen);
    PQclear(r);
    return rc;
}

/* Apply one migration unless already applied. 1 applied, 0 skipped, -1 error. */
static int apply_one(PGconn *conn, const char *dir, const struct migration *mg, char *err,
                     size_t errlen)
{
    char path[4096], vbuf[16], hex[65];
    unsigned char digest[32];
    size_t len = 0;
    char *sql = NULL;
    PGresult *r = NULL;
    int rc = -1;

    snprintf(path, sizeof(path), "%s/%s", dir, mg->name);
    sql = read_all(path, &len);
    if (sql == NULL) {
        snprintf(err, errlen, "migrations: cannot read %s", path);
        goto out;
    }
    EVP_Digest(sql, len, digest, NULL, EVP_sha256(), NULL);
    codec_hex(digest, sizeof(digest), hex);
    snprintf(vbuf, sizeof(vbuf), "%d", mg->version);
    const char *params[3] = {vbuf, mg->name, hex};

    r = PQexecParams(conn, "SELECT sha256 FROM schema_migrations WHERE version = $1", 1, NULL,
                     params, NULL, NULL, 0);
    if (exec_ok(conn, r, "migrations", err, errlen) != 0)
        goto out;
    if (PQntuples(r) == 1) {
        if (strcmp(PQgetvalue(r, 0, 0), hex) != 0) {
            snprintf(err, errlen, "migrations: %s was changed after it was applied", mg->name);
            goto out;
        }
        rc = 0;
        goto out;
    }
    PQclear(r);
    r = NULL;
    if (simple(conn, "BEGIN", err, errlen) != 0)
        goto out;
    r = PQexec(conn, sql);
    if (exec_ok(conn, r, mg->name, err, errlen) != 0) {
        rollback(conn);
        goto out;
    }
    PQclear(r);
    r = PQexecParams(conn,
                     "INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)", 3,
                     NULL, params, NULL, NULL, 0);
    if (exec_ok(conn, r, "migrations", err, errlen) != 0 ||
        simple(conn, "COMMIT", err, errlen) != 0) {
        rollback(conn);
        goto out;
    }
    log_emit(LOG_INFO, "migration applied", json_pack("{s:s}", "migration", mg->name));
    rc = 1;
out:
    PQclear(r);
    free(sql);
    return rc;
}

int migrate_run(PGconn *conn, const char *dir, char *err, size_t errlen)
{
    static struct migration list[MAX_MIGRATIONS];
    size_t n = 0;
    int applied = 0, rc = -1;
    bool locked = false;

    if (list_migrations(dir, list, &n, err, errlen) != 0)
        return -1;
    if (simple(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", err, errlen) != 0)
        return -1;
    locked = true;
    if (simple(conn,
               "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
               "name text NOT NULL, sha256 text NOT NULL, "
               "applied_at timestamptz NOT NULL DEFAULT now())",
               err, errlen) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        int r = apply_one(conn, dir, &list[i], err, errlen);
        if (r < 0)
            goto out;
        applied += r;
    }
    rc = applied;
out:
    if (locked) {
        char ignored[8];
        simple(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", ignored, sizeof(ignored));
    }
    return rc;
}
