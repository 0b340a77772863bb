/*
 * reconcile.h — compare what keymgmt records with what AWS KMS holds, and repair.
 *
 * For one provider, keymgmt's records (aws_keys, distributions) are compared
 * with AWS: ListKeys, DescribeKey and ListResourceTags for every key, and
 * ListAliases. reconcile_compare() is pure: it turns both views into a list of
 * drifts. reconcile_provider() gathers the views, reports every drift and, with
 * repair, fixes what is safe to fix:
 *
 *   drift                              repair
 *   adoptable  a lost CreateKey's key  record its id (found by its nonce tag)
 *   disabled / enabled out of band     EnableKey / DisableKey back to keymgmt's state
 *   pending-deletion out of band       CancelKeyDeletion, then enable/disable as recorded
 *   not-pending-deletion (cancelled)   ScheduleKeyDeletion again
 *   not-imported (material gone)       import the version's material again
 *   alias-missing / alias-moved        CreateAlias / UpdateAlias to the newest version
 *   untracked  tagged key, no record   report only (it may belong to another keymgmt)
 *   alias-unknown  prefix, no record   report only
 *   missing    recorded key absent     report only (POST the distribution again)
 *
 * Repairs go through the distribution code under the pair's lock, so they
 * follow the same record-before-next-step rules as the API.
 */
#ifndef KEYMGMT_RECONCILE_H
#define KEYMGMT_RECONCILE_H

#include "keymgmt/distribute.h"
#include "keymgmt/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum drift_kind {
    DRIFT_ADOPTABLE,
    DRIFT_DISABLED,
    DRIFT_ENABLED,
    DRIFT_PENDING_DELETION,
    DRIFT_NOT_PENDING_DELETION,
    DRIFT_NOT_IMPORTED,
    DRIFT_ALIAS_MISSING,
    DRIFT_ALIAS_MOVED,
    DRIFT_UNTRACKED,
    DRIFT_ALIAS_UNKNOWN,
    DRIFT_MISSING,
};

/* One AWS key as observed. */
struct rec_observed {
    const char *key_id;
    const char *arn;
    const char *state; /* KeyState */
    const char *nonce; /* keymgmt:nonce tag, NULL when absent */
};

/* An alias: expected (from a live distribution) or observed. */
struct rec_alias {
    const char *name;
    const char *target;
    const char *key; /* expected only: the keymgmt key */
};

struct drift {
    enum drift_kind kind;
    const struct aws_key_row *record;    /* NULL for untracked keys and unknown aliases */
    const struct rec_observed *observed; /* NULL when AWS has nothing */
    const struct rec_alias *alias;       /* alias drifts */
};

const char *reconcile_kind_name(enum drift_kind k);
bool reconcile_repairable(enum drift_kind k);

/*
 * The drifts between records and observations (pure). `prefix` is the alias
 * prefix ("alias/keymgmt/"): observed aliases under it that no live distribution
 * expects are reported. Returns the number of drifts written (at most max).
 */
size_t reconcile_compare(const struct aws_key_row *records, size_t nrec,
                         const struct rec_observed *observed, size_t nobs,
                         const struct rec_alias *expected, size_t nexp,
                         const struct rec_alias *actual, size_t nact, const char *prefix,
                         struct drift *out, size_t max);

struct request;

struct reconcile_result {
    long drifts;    /* found */
    long repaired;  /* fixed (with repair) */
    long remaining; /* still there */
};

/* Reconcile one provider, writing one line per drift to `report`. */
enum km_status reconcile_provider(struct request *req, const char *provider, bool repair,
                                  FILE *report, struct reconcile_result *res);

#endif
