/*
 * ctl.c — keymgmtctl: administration from the command line.
 *
 *   keymgmtctl [-c CONFIG] init                 migrate, then create the token key
 *   keymgmtctl [-c CONFIG] migrate              apply pending migrations
 *   keymgmtctl [-c CONFIG] token create [--policy P] [--ttl SECONDS] [--display-name N]
 *   keymgmtctl [-c CONFIG] token revoke ACCESSOR
 *   keymgmtctl seal generate                    print a new random seal key
 *   keymgmtctl [-c CONFIG] seal rotate [--batch N]   re-encrypt secrets under the current key
 *   keymgmtctl [-c CONFIG] seal status          count secrets per seal key
 *   keymgmtctl [-c CONFIG] seal verify          open every secret with the configured keys
 *   keymgmtctl [-c CONFIG] reconcile [PROVIDER] [--repair]
 *                                               compare records with AWS KMS, fix what is safe
 *
 * It reads the same configuration as keymgmtd and talks to PostgreSQL
 * directly. Commands are rows of a table; each returns an exit code.
 */
#include "keymgmt/auth.h"
#include "keymgmt/awskms.h"
#include "keymgmt/clock.h"
#include "keymgmt/config.h"
#include "keymgmt/context.h"
#include "keymgmt/db.h"
#include "keymgmt/log.h"
#include "keymgmt/migrate.h"
#include "keymgmt/pool.h"
#include "keymgmt/reconcile.h"
#include "keymgmt/request.h"
#include "keymgmt/reseal.h"
#include "keymgmt/rng.h"
#include "keymgmt/seal.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

struct ctl {
    const char *config_path;
    struct config cfg;
    bool cfg_loaded;
    struct seal_keyring ring;
    bool ring_loaded;
    struct km_ctx ctx;
};

typedef int (*ctl_fn)(struct ctl *c, int argc, char **argv);

static int need_config(struct ctl *c)
{
    char err[512];
    if (c->cfg_loaded)
        return 0;
    if (config_load(&c->cfg, c->config_path, environ, err, sizeof(err)) != 0) {
        fprintf(stderr, "keymgmtctl: %s\n", err);
        return -1;
    }
    c->cfg_loaded = true;
    c->ctx.cfg = &c->cfg;
    c->ctx.rng = &rng_system;
    c->ctx.clock = &clock_system;
    return 0;
}

static int need_db(struct ctl *c)
{
    if (need_config(c) != 0)
        return -1;
    if (c->ctx.db != NULL)
        return 0;
    c->ctx.db = db_new(c->cfg.database_url, c->cfg.db_connect_timeout, 0, "keymgmtctl");
    if (db_ensure(c->ctx.db) != KM_OK) {
        fprintf(stderr, "keymgmtctl: cannot connect to the database\n");
        return -1;
    }
    return 0;
}

static int need_seal(struct ctl *c)
{
    char err[512];
    if (need_config(c) != 0)
        return -1;
    if (c->ring_loaded)
        return 0;
    if (seal_keyring_load(&c->ring, &c->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "keymgmtctl: %s\n", err);
        return -1;
    }
    c->ring_loaded = true;
    c->ctx.ring = &c->ring;
    c->ctx.auth = auth_state_new();
    return 0;
}

static int cmd_migrate(struct ctl *c, int argc, char **argv)
{
    char err[512];
    (void)argc;
    (void)argv;
    if (need_db(c) != 0)
        return 1;
    int n = migrate_run(db_conn(c->ctx.db), c->cfg.migrations_dir, err, sizeof(err));
    if (n < 0) {
        fprintf(stderr, "keymgmtctl: %s\n", err);
        return 1;
    }
    fprintf(stderr, "keymgmtctl: %d migration(s) applied\n", n);
    return 0;
}

static int cmd_init(struct ctl *c, int argc, char **argv)
{
    if (cmd_migrate(c, argc, argv) != 0 || need_seal(c) != 0)
        return 1;
    if (auth_init_key(&c->ctx) != KM_OK) {
        fprintf(stderr, "keymgmtctl: cannot create or read the token key (wrong seal key?)\n");
        return 1;
    }
    fprintf(stderr, "keymgmtctl: initialised\n");
    return 0;
}

static int cmd_token_create(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {{"policy", required_argument, NULL, 'p'},
                                         {"ttl", required_argument, NULL, 't'},
                                         {"display-name", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    const char *policy = "root", *display = "";
    long long ttl = 0;
    char token[AUTH_TOKEN_LEN + 1], accessor[37];
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            policy = optarg;
            break;
        case 't':
            ttl = atoll(optarg);
            if (ttl < 0) {
                fprintf(stderr, "keymgmtctl: --ttl must be >= 0\n");
                return 2;
            }
            break;
        case 'd':
            display = optarg;
            break;
        default:
            return 2;
        }
    }
    if (need_db(c) != 0 || need_seal(c) != 0)
        return 1;
    if (auth_token_create(&c->ctx, policy, display, ttl, token, accessor) != KM_OK) {
        fprintf(stderr, "keymgmtctl: cannot create the token (did you run init?)\n");
        return 1;
    }
    printf("%s\n", token);
    fprintf(stderr, "keymgmtctl: token created, accessor %s\n", accessor);
    memset(token, 0, sizeof(token));
    return 0;
}

static int cmd_token_revoke(struct ctl *c, int argc, char **argv)
{
    bool found = false;
    if (argc != 2) {
        fprintf(stderr, "usage: keymgmtctl token revoke ACCESSOR\n");
        return 2;
    }
    if (need_db(c) != 0)
        return 1;
    if (auth_token_revoke(&c->ctx, argv[1], &found) != KM_OK)
        return 1;
    fprintf(stderr, "keymgmtctl: %s\n", found ? "revoked" : "no such token");
    return found ? 0 : 1;
}

static int cmd_seal_generate(struct ctl *c, int argc, char **argv)
{
    char key[64];
    (void)c;
    (void)argc;
    (void)argv;
    if (seal_key_generate(&rng_system, key) != 0)
        return 1;
    printf("%s\n", key);
    memset(key, 0, sizeof(key));
    return 0;
}

static void print_seal_stats(const struct ctl *c, const struct reseal_stats *st)
{
    char id[2 * SEAL_ID_BYTES + 1];
    seal_current_id_hex(&c->ring, id);
    printf("current seal key %s: %ld secrets; under other keys: %ld; resealed now: %ld\n", id,
           st->current, st->other, st->resealed);
}

static int cmd_seal_rotate(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {{"batch", required_argument, NULL, 'b'},
                                         {NULL, 0, NULL, 0}};
    struct reseal_stats st;
    long batch = 100;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 'b' || (batch = atol(optarg)) < 1 || batch > 100000) {
            fprintf(stderr, "usage: keymgmtctl seal rotate [--batch 1..100000]\n");
            return 2;
        }
    }
    if (need_db(c) != 0 || need_seal(c) != 0)
        return 1;
    if (reseal_run(&c->ctx, batch, &st) != KM_OK) {
        fprintf(stderr,
                "keymgmtctl: seal rotation stopped (see the log); run it again to resume\n");
        return 1;
    }
    print_seal_stats(c, &st);
    return 0;
}

static int cmd_seal_status(struct ctl *c, int argc, char **argv)
{
    struct reseal_stats st = {0};
    (void)argc;
    (void)argv;
    if (need_db(c) != 0 || need_seal(c) != 0 || reseal_status(&c->ctx, &st) != KM_OK)
        return 1;
    print_seal_stats(c, &st);
    return 0;
}

static int cmd_seal_verify(struct ctl *c, int argc, char **argv)
{
    struct reseal_stats st;
    (void)argc;
    (void)argv;
    if (need_db(c) != 0 || need_seal(c) != 0 || reseal_verify(&c->ctx, &st) != KM_OK)
        return 1;
    printf("%ld secrets open (%ld under the current key), %ld do not\n", st.current + st.other,
           st.current, st.failed);
    return st.failed == 0 ? 0 : 1;
}

static struct db_stmt q_providers =
    DB_STMT("ctl_providers", "SELECT name FROM providers ORDER BY name COLLATE \"C\"");

static int cmd_reconcile(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {{"repair", no_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};
    struct request req;
    struct reconcile_result res;
    PGresult *names = NULL;
    bool repair = false;
    long remaining = 0, repaired = 0;
    int opt, rc = 2;

    memset(&req, 0, sizeof(req));
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 'r') {
            fprintf(stderr, "usage: keymgmtctl reconcile [PROVIDER] [--repair]\n");
            return 2;
        }
        repair = true;
    }
    if (need_db(c) != 0 || need_seal(c) != 0)
        return 2;
    if (c->ctx.kms == NULL &&
        awskms_client_new(&c->cfg, environ, c->ctx.rng, c->ctx.clock, &c->ctx.kms) != KM_OK)
        return 2;
    req.ctx = &c->ctx;
    req.pool = pool_new();
    if (optind < argc) {
        if (reconcile_provider(&req, argv[optind], repair, stdout, &res) != KM_OK)
            goto out;
        remaining = res.remaining;
        repaired = res.repaired;
    } else {
        if (db_exec(c->ctx.db, &q_providers, NULL, &names) != KM_OK)
            goto out;
        for (int i = 0; i < PQntuples(names); i++) {
            if (reconcile_provider(&req, PQgetvalue(names, i, 0), repair, stdout, &res) != KM_OK)
                goto out;
            remaining += res.remaining;
            repaired += res.repaired;
        }
    }
    printf("%ld drift(s) repaired, %ld remaining\n", repaired, remaining);
    rc = remaining == 0 ? 0 : 1;
out:
    PQclear(names);
    pool_free(req.pool);
    return rc;
}

static const struct {
    const char *name, *sub;
    ctl_fn fn;
    const char *usage;
} commands[] = {
    {"init", NULL, cmd_init, "init                      apply migrations, create the token key"},
    {"migrate", NULL, cmd_migrate, "migrate                   apply pending migrations"},
    {"token", "create", cmd_token_create,
     "token create [--policy P] [--ttl SECONDS] [--display-name N]"},
    {"token", "revoke", cmd_token_revoke, "token revoke ACCESSOR"},
    {"seal", "generate", cmd_seal_generate, "seal generate             print a new seal key"},
    {"seal", "rotate", cmd_seal_rotate,
     "seal rotate [--batch N]   re-encrypt secrets under the current key"},
    {"seal", "status", cmd_seal_status, "seal status               count secrets per seal key"},
    {"reconcile", NULL, cmd_reconcile,
     "reconcile [PROVIDER] [--repair]  compare records with AWS KMS, fix what is safe"},
    {"seal", "verify", cmd_seal_verify,
     "seal verify               open every secret with the configured keys"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static int usage(void)
{
    fprintf(stderr, "usage: keymgmtctl [-c CONFIG] COMMAND\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(stderr, "  %s\n", commands[i].usage);
    return 2;
}

int main(int argc, char **argv)
{
    struct ctl c;
    int rc = 2;

    memset(&c, 0, sizeof(c));
    c.config_path = getenv("KEYMGMT_CONFIG");
    log_init("keymgmtctl", 2);
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
        c.config_path = argv[i + 1];
        i += 2;
    }
    if (i >= argc)
        return usage();
    for (size_t k = 0; k < NCOMMANDS; k++) {
        if (strcmp(argv[i], commands[k].name) != 0)
            continue;
        if (commands[k].sub == NULL) {
            rc = commands[k].fn(&c, argc - i, argv + i);
            goto out;
        }
        if (i + 1 < argc && strcmp(argv[i + 1], commands[k].sub) == 0) {
            rc = commands[k].fn(&c, argc - i - 1, argv + i + 1);
            goto out;
        }
    }
    rc = usage();
out:
    awskms_client_free(c.ctx.kms);
    db_free(c.ctx.db);
    auth_state_free(c.ctx.auth);
    if (c.ring_loaded)
        seal_keyring_wipe(&c.ring);
    if (c.cfg_loaded)
        config_free(&c.cfg);
    return rc;
}
