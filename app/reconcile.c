/*
 * reconcile.c — drift between keymgmt's records and AWS KMS; see reconcile.h.
 */
#include "keymgmt/reconcile.h"
#include "keymgmt/awskms.h"
#include "keymgmt/config.h"
#include "keymgmt/context.h"
#include "keymgmt/db.h"
#include "keymgmt/distribute.h"
#include "keymgmt/pool.h"
#include "keymgmt/provider.h"
#include "keymgmt/request.h"
#include "keymgmt/response.h"

#include <stdlib.h>
#include <string.h>

static struct db_stmt q_aliases = DB_STMT(
    "rec_aliases", "SELECT alias_name, alias_target, key_name FROM distributions "
                   "WHERE provider_name = $1 AND NOT removing AND alias_target IS NOT NULL");
static struct db_stmt q_adopt = DB_STMT(
    "rec_adopt", "UPDATE aws_keys SET aws_key_id = $2, aws_key_arn = $3, updated_at = now() "
                 "WHERE id = $1 AND aws_key_id IS NULL");
static struct db_stmt q_forget_enabled = DB_STMT(
    "rec_forget_enabled", "UPDATE aws_keys SET enabled = NULL, updated_at = now() WHERE id = $1");
static struct db_stmt q_forget_imported =
    DB_STMT("rec_forget_imported", "UPDATE aws_keys SET imported = false, enabled = NULL, "
                                   "updated_at = now() WHERE id = $1");
static struct db_stmt q_forget_alias =
    DB_STMT("rec_forget_alias", "UPDATE distributions SET alias_target = NULL "
                                "WHERE provider_name = $1 AND key_name = $2");

static const struct {
    const char *name;
    bool repairable;
    const char *what;
} kinds[] = {
    [DRIFT_ADOPTABLE] = {"adoptable", true,
                         "CreateKey's answer was lost; the key is found by its tag"},
    [DRIFT_DISABLED] = {"disabled", true, "disabled outside keymgmt"},
    [DRIFT_ENABLED] = {"enabled", true, "enabled outside keymgmt"},
    [DRIFT_PENDING_DELETION] = {"pending-deletion", true, "scheduled for deletion outside keymgmt"},
    [DRIFT_NOT_PENDING_DELETION] = {"not-pending-deletion", true,
                                    "removed by keymgmt, but its deletion was cancelled"},
    [DRIFT_NOT_IMPORTED] = {"not-imported", true, "its key material is gone (PendingImport)"},
    [DRIFT_ALIAS_MISSING] = {"alias-missing", true, "the alias does not exist"},
    [DRIFT_ALIAS_MOVED] = {"alias-moved", true, "the alias points at another key"},
    [DRIFT_UNTRACKED] = {"untracked", false, "tagged by keymgmt but not recorded"},
    [DRIFT_ALIAS_UNKNOWN] = {"alias-unknown", false, "under keymgmt's prefix but not recorded"},
    [DRIFT_MISSING] = {"missing", false, "recorded but not in AWS; POST the distribution again"},
};

const char *reconcile_kind_name(enum drift_kind k)
{
    return kinds[k].name;
}

bool reconcile_repairable(enum drift_kind k)
{
    return kinds[k].repairable;
}

static const struct rec_observed *observed_by_id(const struct rec_observed *o, size_t n,
                                                 const char *id)
{
    for (size_t i = 0; id != NULL && i < n; i++)
        if (strcmp(o[i].key_id, id) == 0)
            return &o[i];
    return NULL;
}

static const struct rec_observed *observed_by_nonce(const struct rec_observed *o, size_t n,
                                                    const char *nonce)
{
    for (size_t i = 0; i < n; i++)
        if (o[i].nonce != NULL && strcmp(o[i].nonce, nonce) == 0)
            return &o[i];
    return NULL;
}

static bool recorded_id(const struct aws_key_row *r, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].aws_key_id != NULL && strcmp(r[i].aws_key_id, id) == 0)
            return true;
    return false;
}

/* The drift of one recorded key whose AWS key exists, or -1. */
static int state_drift(const struct aws_key_row *r, const char *state)
{
    bool pending = strcmp(state, "PendingDeletion") == 0;
    if (r->deletion_scheduled)
        return pending ? -1 : DRIFT_NOT_PENDING_DELETION;
    if (pending)
        return DRIFT_PENDING_DELETION;
    if (r->imported && strcmp(state, "PendingImport") == 0)
        return DRIFT_NOT_IMPORTED;
    if (r->enabled == 1 && strcmp(state, "Disabled") == 0)
        return DRIFT_DISABLED;
    if (r->enabled == 0 && strcmp(state, "Enabled") == 0)
        return DRIFT_ENABLED;
    return -1;
}

static void add(struct drift *out, size_t max, size_t *n, enum drift_kind k,
                const struct aws_key_row *r, const struct rec_observed *o,
                const struct rec_alias *a)
{
    if (*n < max)
        out[*n] = (struct drift){k, r, o, a};
    (*n)++;
}

size_t reconcile_compare(const struct aws_key_row *records, size_t nrec,
                         const struct rec_observed *observed, size_t nobs,
                         const struct rec_alias *expected, size_t nexp,
                         const struct rec_alias *actual, size_t nact, const char *prefix,
                         struct drift *out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < nrec; i++) {
        const struct aws_key_row *r = &records[i];
        if (r->aws_key_id == NULL) {
            const struct rec_observed *o =
                r->attempted ? observed_by_nonce(observed, nobs, r->nonce) : NULL;
            if (o != NULL && !recorded_id(records, nrec, o->key_id))
                add(out, max, &n, DRIFT_ADOPTABLE, r, o, NULL);
            continue;
        }
        const struct rec_observed *o = observed_by_id(observed, nobs, r->aws_key_id);
        if (o == NULL) {
            if (!r->deletion_scheduled) /* scheduled keys disappear after their window */
                add(out, max, &n, DRIFT_MISSING, r, NULL, NULL);
            continue;
        }
        int k = state_drift(r, o->state);
        if (k >= 0)
            add(out, max, &n, (enum drift_kind)k, r, o, NULL);
    }
    for (size_t i = 0; i < nobs; i++) {
        const struct rec_observed *o = &observed[i];
        if (o->nonce == NULL || recorded_id(records, nrec, o->key_id))
            continue;
        bool adoptable = false;
        for (size_t j = 0; j < nrec; j++)
            adoptable |= records[j].aws_key_id == NULL && records[j].attempted &&
                         strcmp(records[j].nonce, o->nonce) == 0 &&
                         observed_by_nonce(observed, nobs, o->nonce) == o;
        if (!adoptable)
            add(out, max, &n, DRIFT_UNTRACKED, NULL, o, NULL);
    }
    for (size_t i = 0; i < nexp; i++) {
        const struct rec_alias *e = &expected[i];
        const struct rec_alias *a = NULL;
        for (size_t j = 0; j < nact && a == NULL; j++)
            if (strcmp(actual[j].name, e->name) == 0)
                a = &actual[j];
        if (a == NULL)
            add(out, max, &n, DRIFT_ALIAS_MISSING, NULL, NULL, e);
        else if (a->target == NULL || strcmp(a->target, e->target) != 0)
            add(out, max, &n, DRIFT_ALIAS_MOVED, NULL, NULL, e);
    }
    for (size_t j = 0; j < nact; j++) {
        if (strncmp(actual[j].name, prefix, strlen(prefix)) != 0)
            continue;
        bool known = false;
        for (size_t i = 0; i < nexp && !known; i++)
            known = strcmp(actual[j].name, expected[i].name) == 0;
        if (!known)
            add(out, max, &n, DRIFT_ALIAS_UNKNOWN, NULL, NULL, &actual[j]);
    }
    return n;
}

/* ---- gathering ----------------------------------------------------------- */

struct views {
    struct aws_key_row *records;
    size_t nrec;
    struct rec_observed *observed;
    size_t nobs;
    struct rec_alias *expected, *actual;
    size_t nexp, nact;
};

static const char *pcol(struct pool *p, const PGresult *res, int row, int c)
{
    return PQgetisnull(res, row, c) ? NULL : pool_strdup(p, PQgetvalue(res, row, c));
}

static enum km_status load_records(struct request *req, const char *provider, struct views *v)
{
    struct db_args a = {0};
    PGresult *res = NULL;
    enum km_status rc = distribute_provider_rows(req, provider, &v->records, &v->nrec);

    db_arg_text(&a, provider);
    if (rc == KM_OK)
        rc = db_exec(req->ctx->db, &q_aliases, &a, &res);
    if (rc != KM_OK)
        goto out;
    v->nexp = (size_t)PQntuples(res);
    v->expected = pool_alloc(req->pool, (v->nexp + 1) * sizeof(*v->expected));
    for (size_t i = 0; i < v->nexp; i++) {
        v->expected[i].name = pcol(req->pool, res, (int)i, 0);
        v->expected[i].target = pcol(req->pool, res, (int)i, 1);
        v->expected[i].key = pcol(req->pool, res, (int)i, 2);
    }
out:
    PQclear(res);
    return rc;
}

/* Every AWS key that is recorded or carries keymgmt's nonce tag, with its state. */
static enum km_status observe(struct awskms_call *call, struct views *v)
{
    struct awskms_key_list keys;
    struct awskms_alias_list al;
    enum km_status rc = awskms_list_keys(call, &keys);
    if (rc != KM_OK)
        return rc;
    v->observed = pool_alloc(call->pool, (keys.n + 1) * sizeof(*v->observed));
    for (size_t i = 0; i < keys.n; i++) {
        struct awskms_tag_list tags;
        struct awskms_key_metadata md;
        const char *nonce = NULL;
        rc = awskms_list_resource_tags(call, keys.items[i].key_id, &tags);
        if (rc != KM_OK)
            return rc;
        for (size_t t = 0; t < tags.n; t++)
            if (strcmp(tags.items[t].key, DISTRIBUTE_TAG_NONCE) == 0)
                nonce = tags.items[t].value;
        if (nonce == NULL && !recorded_id(v->records, v->nrec, keys.items[i].key_id))
            continue; /* not ours */
        rc = awskms_describe_key(call, keys.items[i].key_id, &md);
        if (rc != KM_OK)
            return rc;
        v->observed[v->nobs++] =
            (struct rec_observed){keys.items[i].key_id, keys.items[i].arn, md.key_state, nonce};
    }
    rc = awskms_list_aliases(call, NULL, &al);
    if (rc != KM_OK)
        return rc;
    v->actual = pool_alloc(call->pool, (al.n + 1) * sizeof(*v->actual));
    for (size_t i = 0; i < al.n; i++)
        v->actual[v->nact++] =
            (struct rec_alias){al.items[i].name, al.items[i].target_key_id, NULL};
    return KM_OK;
}

/* ---- repair -------------------------------------------------------------- */

static enum km_status exec_one(struct request *req, struct db_stmt *st, const struct db_args *a)
{
    PGresult *res = NULL;
    enum km_status rc = db_exec(req->ctx->db, st, a, &res);
    PQclear(res);
    return rc;
}

/* Fix one drift's records (and AWS where sync cannot); *sync_key names the pair to sync. */
static enum km_status repair_one(struct request *req, struct awskms_call *call,
                                 const char *provider, const struct drift *d, const char **sync_key)
{
    struct db_args a = {0};
    enum km_status rc = KM_OK;

    *sync_key = d->record ? d->record->key : d->alias ? d->alias->key : NULL;
    switch (d->kind) {
    case DRIFT_ADOPTABLE:
        db_arg_int(&a, d->record->id);
        db_arg_text(&a, d->observed->key_id);
        db_arg_text(&a, d->observed->arn);
        return exec_one(req, &q_adopt, &a);
    case DRIFT_PENDING_DELETION:
        rc = awskms_cancel_key_deletion(call, d->record->aws_key_id);
        if (rc != KM_OK)
            return rc;
        /* the key is Disabled now: enable or disable it as recorded */
        __attribute__((fallthrough));
    case DRIFT_DISABLED:
    case DRIFT_ENABLED:
        db_arg_int(&a, d->record->id);
        return exec_one(req, &q_forget_enabled, &a);
    case DRIFT_NOT_IMPORTED:
        db_arg_int(&a, d->record->id);
        return exec_one(req, &q_forget_imported, &a);
    case DRIFT_NOT_PENDING_DELETION: {
        struct awskms_deletion del;
        *sync_key = NULL;
        return awskms_schedule_key_deletion(call, d->record->aws_key_id,
                                            (int)req->ctx->cfg->deletion_window_days, &del);
    }
    case DRIFT_ALIAS_MISSING:
    case DRIFT_ALIAS_MOVED:
        db_arg_text(&a, provider);
        db_arg_text(&a, d->alias->key);
        return exec_one(req, &q_forget_alias, &a);
    default:
        *sync_key = NULL;
        return KM_EINVAL; /* report only */
    }
}

static void report_line(FILE *f, const char *provider, const struct drift *d, const char *outcome)
{
    fprintf(f, "provider %s: %s: ", provider, kinds[d->kind].name);
    if (d->record != NULL)
        fprintf(f, "key %s version %ld ", d->record->key, d->record->version);
    if (d->observed != NULL)
        fprintf(f, "aws key %s (%s) ", d->observed->key_id, d->observed->state);
    else if (d->record != NULL && d->record->aws_key_id != NULL)
        fprintf(f, "aws key %s ", d->record->aws_key_id);
    if (d->alias != NULL)
        fprintf(f, "%s ", d->alias->name);
    fprintf(f, "— %s%s%s\n", kinds[d->kind].what, outcome ? "; " : "", outcome ? outcome : "");
}

enum km_status reconcile_provider(struct request *req, const char *provider, bool repair,
                                  FILE *report, struct reconcile_result *res)
{
    struct provider_info prov;
    struct views v;
    struct awskms_call call;
    struct awskms_target target;
    struct drift *drifts = NULL;
    enum km_status rc;

    memset(&v, 0, sizeof(v));
    memset(res, 0, sizeof(*res));
    rc = provider_load(req, provider, &prov);
    if (rc != KM_OK) {
        fprintf(report, "provider %s: %s\n", provider,
                rc == KM_ENOTFOUND ? "not found" : "cannot be read");
        return rc;
    }
    target = (struct awskms_target){prov.region, prov.access_key, prov.secret_key,
                                    prov.session_token, prov.endpoint};
    awskms_call_init(&call, req->ctx->kms, &target, req->pool);
    rc = load_records(req, provider, &v);
    if (rc == KM_OK)
        rc = observe(&call, &v);
    if (rc != KM_OK) {
        fprintf(report, "provider %s: %s\n", provider,
                call.err.message[0] ? call.err.message : "storage unavailable");
        goto out;
    }
    const char *prefix = pool_printf(req->pool, "alias/%s", req->ctx->cfg->alias_prefix);
    size_t max = v.nrec + v.nobs + v.nexp + v.nact + 1;
    drifts = pool_alloc(req->pool, max * sizeof(*drifts));
    size_t n = reconcile_compare(v.records, v.nrec, v.observed, v.nobs, v.expected, v.nexp,
                                 v.actual, v.nact, prefix, drifts, max);
    res->drifts = (long)n;
    for (size_t i = 0; i < n; i++) {
        const char *sync_key = NULL, *outcome = NULL;
        if (repair && reconcile_repairable(drifts[i].kind)) {
            enum km_status r = repair_one(req, &call, provider, &drifts[i], &sync_key);
            if (r == KM_OK && sync_key != NULL) {
                struct response one = {0};
                r = distribute_sync_pair(req, &one, provider, sync_key);
                if (r != KM_OK && one.errors != NULL && json_array_size(one.errors) > 0)
                    outcome = pool_printf(req->pool, "repair failed: %s",
                                          json_string_value(json_array_get(one.errors, 0)));
                response_release(&one);
            } else if (r != KM_OK) {
                outcome = pool_printf(req->pool, "repair failed: %s",
                                      call.err.message[0] ? call.err.message : "storage error");
            }
            if (r == KM_OK) {
                outcome = "repaired";
                res->repaired++;
            }
        }
        report_line(report, provider, &drifts[i], outcome);
    }
    res->remaining = res->drifts - res->repaired;
out:
    provider_info_wipe(&prov);
    return rc;
}
