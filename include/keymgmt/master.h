/*
 * master.h — the prefork master of keymgmtd.
 *
 * Opens the listening socket (a unix socket path, "unix:PATH", or
 * "HOST:PORT"), forks the workers and keeps their number: a worker that dies is
 * replaced (its exit status logged; repeated quick crashes back off up to 30 s).
 * SIGTERM/SIGINT: workers drain and exit (SIGKILL after shutdown_timeout), the
 * socket and pid file are removed. SIGHUP: the configuration and seal keys are
 * read again; if valid, new workers start with them and the old ones drain.
 * Signals are taken synchronously with sigtimedwait(), so no handler runs in
 * the master.
 */
#ifndef KEYMGMT_MASTER_H
#define KEYMGMT_MASTER_H

#include <stddef.h>

/* Run until shut down. `config_path` may be NULL. Returns the exit code. */
int master_run(const char *config_path, char *const *envp);

/* Open the listening socket described by `spec`; -1 with a message on error. */
int master_listen(const char *spec, long mode, long backlog, char *err, size_t errlen);

#endif
