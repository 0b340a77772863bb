/*
 * main.c — keymgmtd: the FastCGI worker pool.
 *
 *   keymgmtd [-c CONFIG] [-t]
 *
 * -c names the configuration file (default: $KEYMGMT_CONFIG, else none: the
 * defaults and KEYMGMT_* environment variables). -t checks the configuration
 * and the seal key, then exits.
 */
#include "keymgmt/config.h"
#include "keymgmt/log.h"
#include "keymgmt/master.h"
#include "keymgmt/seal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static int check_only(const char *path)
{
    struct config cfg;
    struct seal_keyring ring;
    char err[512];
    if (config_load(&cfg, path, environ, err, sizeof(err)) != 0) {
        fprintf(stderr, "keymgmtd: %s\n", err);
        return 2;
    }
    int rc = seal_keyring_load(&ring, &cfg, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "keymgmtd: %s\n", err);
    else
        fprintf(stderr, "keymgmtd: configuration ok\n");
    seal_keyring_wipe(&ring);
    config_free(&cfg);
    return rc == 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
    const char *path = getenv("KEYMGMT_CONFIG");
    bool check = false;
    int opt;

    while ((opt = getopt(argc, argv, "c:th")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 't':
            check = true;
            break;
        default:
            fprintf(stderr, "usage: keymgmtd [-c CONFIG] [-t]\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    log_init("keymgmtd", 2);
    if (check)
        return check_only(path);
    return master_run(path, environ);
}
