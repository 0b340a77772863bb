/*
 * worker.h — a worker process: accept FastCGI requests and serve them.
 *
 * Runs in a child of the master, after fork. It builds its own context (one
 * PostgreSQL connection, one AWS client), then loops on FCGX_Accept_r. For
 * every request it creates a pool, parses the request, reads the body (only
 * when within max_body_bytes), dispatches, writes the response, logs one line
 * and frees the pool. SIGTERM while idle exits at once; while serving, the
 * request is finished first (graceful drain): the signal is only let in while
 * the worker waits for a connection.
 */
#ifndef KEYMGMT_WORKER_H
#define KEYMGMT_WORKER_H

struct config;
struct seal_keyring;

/* Never returns; exits the process with 0 after a drain, 1 on a fatal error. */
void worker_run(const struct config *cfg, const struct seal_keyring *ring, int listen_fd)
    __attribute__((noreturn));

#endif
