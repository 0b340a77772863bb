/*
 * sys.c — sys/health and auth/token/lookup-self; see sys.h.
 */
#include "keymgmt/sys.h"
#include "keymgmt/clock.h"
#include "keymgmt/context.h"
#include "keymgmt/db.h"

#include <stdlib.h>
#include <string.h>

static struct db_stmt q_ping = DB_STMT("sys_ping", "SELECT 1");
static struct db_stmt q_self =
    DB_STMT("sys_self", "SELECT accessor, array_to_string(policies, ','), display_name, "
                        "extract(epoch FROM created_at)::bigint, "
                        "COALESCE(to_char(expires_at AT TIME ZONE 'UTC', "
                        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), ''), "
                        "COALESCE(greatest(0, extract(epoch FROM expires_at - now()))::bigint, 0) "
                        "FROM tokens WHERE accessor = $1");

/* Vault's health body; 200 when storage answers, 503 when it does not. */
enum km_status sys_health(struct request *req, struct response *resp)
{
    PGresult *res = NULL;
    enum km_status st = db_ensure(req->ctx->db);
    if (st == KM_OK)
        st = db_exec(req->ctx->db, &q_ping, NULL, &res);
    PQclear(res);
    resp->raw_code = st == KM_OK ? 200 : 503;
    resp->raw =
        json_pack("{s:b, s:b, s:b, s:b, s:s, s:s, s:I, s:s, s:s, s:s}", "initialized", 1, "sealed",
                  0, "standby", 0, "performance_standby", 0, "replication_performance_mode",
                  "disabled", "replication_dr_mode", "disabled", "server_time_utc",
                  (json_int_t)(clock_now_ms(req->ctx->clock) / 1000), "version", KEYMGMT_VERSION,
                  "cluster_name", "keymgmt", "storage", st == KM_OK ? "available" : "unavailable");
    return KM_OK;
}

/* What hvac's is_authenticated() and Terraform call; never echoes the token. */
enum km_status sys_lookup_self(struct request *req, struct response *resp)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    json_t *policies = NULL;
    enum km_status rc;

    db_arg_text(&a, req->accessor);
    rc = db_exec(req->ctx->db, &q_self, &a, &res);
    if (rc != KM_OK)
        goto out;
    if (PQntuples(res) != 1) {
        rc = response_error(resp, KM_EPERM, "permission denied");
        goto out;
    }
    policies = json_array();
    const char *p = PQgetvalue(res, 0, 1);
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        json_array_append_new(policies, json_stringn(p, len));
        p = comma ? comma + 1 : p + len;
    }
    const char *expire = PQgetvalue(res, 0, 4);
    rc = response_data(
        resp,
        json_pack("{s:s, s:O, s:s, s:I, s:o, s:I, s:s, s:b, s:b, s:i, s:s, s:n}", "accessor",
                  PQgetvalue(res, 0, 0), "policies", policies, "display_name",
                  PQgetvalue(res, 0, 2), "creation_time", (json_int_t)atoll(PQgetvalue(res, 0, 3)),
                  "expire_time", expire[0] ? json_string(expire) : json_null(), "ttl",
                  (json_int_t)atoll(PQgetvalue(res, 0, 5)), "type", "service", "orphan", 1,
                  "renewable", 0, "num_uses", 0, "path", "auth/token/create", "meta"));
out:
    json_decref(policies);
    PQclear(res);
    return rc;
}
