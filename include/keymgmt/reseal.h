/*
 * reseal.h — seal key rotation: re-encrypt every sealed secret under the current seal key.
 *
 * Sealed secrets live in three places: secrets.sealed, providers.credentials and
 * key_versions.material. Each blob records the id of the key that sealed it, so
 * "not yet under the current key" is a query. reseal_run() works through them in
 * batches (one short transaction per batch, rows locked with SKIP LOCKED so
 * serving workers are not blocked for long); it can be stopped and run again at
 * any time. Rotation without downtime:
 *   1. keymgmtctl seal generate > new.key
 *   2. set seal_key_file = new.key and seal_previous_keys = old.key; SIGHUP keymgmtd
 *   3. keymgmtctl seal rotate            (repeat until it reports 0 remaining)
 *   4. drop old.key from seal_previous_keys; SIGHUP keymgmtd
 */
#ifndef KEYMGMT_RESEAL_H
#define KEYMGMT_RESEAL_H

#include "keymgmt/status.h"

#include <stddef.h>

struct km_ctx;

struct reseal_stats {
    long resealed; /* blobs re-encrypted under the current key */
    long current;  /* blobs already under the current key */
    long other;    /* blobs under another key (status) */
    long failed;   /* blobs that did not open with the keyring (verify) */
};

/* Re-encrypt everything not under the current key, `batch` rows at a time. */
enum km_status reseal_run(struct km_ctx *ctx, long batch, struct reseal_stats *st);
/* Count blobs under the current key and under others. */
enum km_status reseal_status(struct km_ctx *ctx, struct reseal_stats *st);
/* Open every blob with the keyring; count those that fail. */
enum km_status reseal_verify(struct km_ctx *ctx, struct reseal_stats *st);

#endif
