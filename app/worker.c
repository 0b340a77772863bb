/*
 * worker.c — the FastCGI accept loop; see worker.h.
 */
#include "keymgmt/worker.h"
#include "keymgmt/auth.h"
#include "keymgmt/awskms.h"
#include "keymgmt/clock.h"
#include "keymgmt/config.h"
#include "keymgmt/context.h"
#include "keymgmt/db.h"
#include "keymgmt/log.h"
#include "keymgmt/pool.h"
#include "keymgmt/request.h"
#include "keymgmt/response.h"
#include "keymgmt/rng.h"
#include "keymgmt/router.h"
#include "keymgmt/seal.h"

#include <errno.h>
#include <fcgiapp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static volatile sig_atomic_t worker_stop;

/* SIGTERM/SIGINT only mark the worker for exit. They are blocked except while the
 * worker waits in ppoll() for a connection, so they never interrupt libfcgi half-way
 * through accepting one: a request is either never taken or served to the end. */
static void on_term(int sig)
{
    (void)sig;
    worker_stop = 1;
}

static void install_signals(sigset_t *wait_mask)
{
    struct sigaction sa;
    sigset_t term;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);
    sigprocmask(SIG_SETMASK, &term, NULL);
    sigemptyset(wait_mask);
}

/* Wait until the listening socket has a connection (1) or the worker must stop (0). */
static int wait_for_connection(int listen_fd, const sigset_t *wait_mask)
{
    while (!worker_stop) {
        struct pollfd p = {listen_fd, POLLIN, 0};
        int n = ppoll(&p, 1, NULL, wait_mask);
        if (n > 0 && (p.revents & POLLIN))
            return 1;
        if (n < 0 && errno != EINTR) {
            log_msg(LOG_ERROR, "poll failed", "%s", strerror(errno));
            return 0;
        }
    }
    return 0;
}

/* Read the body when it is within the limit; otherwise leave it unread. */
static enum km_status read_body(FCGX_Request *fr, struct request *req, long max)
{
    const char *cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
    char *end = NULL;
    if (cl == NULL || cl[0] == '\0')
        return KM_OK;
    long long n = strtoll(cl, &end, 10);
    if (*end != '\0' || n < 0)
        return KM_EINVAL;
    if (n > max) {
        req->body_too_large = true;
        return KM_OK;
    }
    char *buf = pool_alloc(req->pool, (size_t)n + 1);
    int got = n > 0 ? FCGX_GetStr(buf, (int)n, fr->in) : 0;
    if (got != n)
        return KM_EINVAL;
    req->body_raw = buf;
    req->body_len = (size_t)n;
    return KM_OK;
}

/* Headers are formatted with snprintf: libfcgi's own printf knows few conversions. */
static void write_response(FCGX_Request *fr, int code, const char *body, bool head)
{
    char hdr[256];
    size_t len = body ? strlen(body) : 0;
    int n;
    if (body != NULL)
        n = snprintf(hdr, sizeof(hdr),
                     "Status: %d %s\r\nCache-Control: no-store\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     code, response_reason(code), len);
    else
        n = snprintf(hdr, sizeof(hdr), "Status: %d %s\r\nCache-Control: no-store\r\n\r\n", code,
                     response_reason(code));
    FCGX_PutStr(hdr, n, fr->out);
    if (body != NULL && !head)
        FCGX_PutStr(body, (int)len, fr->out);
}

static void serve(FCGX_Request *fr, struct km_ctx *ctx)
{
    struct request req;
    struct response resp;
    char err[512];
    unsigned char raw[16];
    int64_t started = clock_monotonic_ms();
    int code = 500;
    char *body = NULL;

    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    req.pool = pool_new();
    req.ctx = ctx;
    if (rng_fill(ctx->rng, raw, sizeof(raw)) != 0)
        memset(raw, 0, sizeof(raw));
    request_format_uuid(raw, req.id);

    const char *method = FCGX_GetParam("REQUEST_METHOD", fr->envp);
    const char *uri = FCGX_GetParam("REQUEST_URI", fr->envp);
    enum km_status rc =
        request_parse_target(&req, method ? method : "", uri ? uri : "", err, sizeof(err));
    if (rc != KM_OK) {
        response_error(&resp, rc, "%s", err);
        goto render;
    }
    req.token = request_token(FCGX_GetParam("HTTP_X_VAULT_TOKEN", fr->envp),
                              FCGX_GetParam("HTTP_AUTHORIZATION", fr->envp));
    if (read_body(fr, &req, ctx->cfg->max_body_bytes) != KM_OK) {
        response_error(&resp, KM_EINVAL, "failed to read the request body");
        goto render;
    }
    router_dispatch(&req, &resp);

render:
    db_rollback(ctx->db);   /* a handler never leaves a transaction open ... */
    db_unlock_all(ctx->db); /* ... nor a lock held */
    body = response_render(&resp, req.id, "keymgmt", &code);
    write_response(fr, code, body, method != NULL && strcmp(method, "HEAD") == 0);
    log_emit(LOG_INFO, "request",
             json_pack("{s:s, s:s, s:s, s:i, s:I}", "request_id", req.id, "method",
                       method ? method : "", "path", req.path ? req.path : "", "status", code,
                       "duration_ms", (json_int_t)(clock_monotonic_ms() - started)));
    free(body);
    response_release(&resp);
    request_release(&req);
    pool_free(req.pool);
}

void worker_run(const struct config *cfg, const struct seal_keyring *ring, int listen_fd)
{
    FCGX_Request fr;
    struct km_ctx ctx = {0};
    sigset_t wait_mask;
    int status = 1;

    install_signals(&wait_mask);
    log_emit(LOG_INFO, "worker started", NULL);
    ctx.cfg = cfg;
    ctx.ring = ring;
    ctx.rng = &rng_system;
    ctx.clock = &clock_system;
    ctx.auth = auth_state_new();
    ctx.db =
        db_new(cfg->database_url, cfg->db_connect_timeout, cfg->db_statement_timeout, "keymgmtd");
    if (awskms_client_new(cfg, environ, ctx.rng, ctx.clock, &ctx.kms) != KM_OK) {
        log_msg(LOG_ERROR, "worker failed", "cannot initialise the AWS KMS client");
        goto out;
    }
    db_ensure(ctx.db);

    if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, listen_fd, 0) != 0) {
        log_msg(LOG_ERROR, "worker failed", "cannot initialise FastCGI");
        goto out;
    }
    /* The listening socket is non-blocking (master.c): when several workers wake for
     * one connection, the ones that lose the race get EAGAIN and wait again. */
    while (wait_for_connection(listen_fd, &wait_mask)) {
        int r = FCGX_Accept_r(&fr);
        if (r < 0) {
            if (r != -EAGAIN && r != -EWOULDBLOCK) {
                const struct timespec pause = {0, 10 * 1000000L};
                log_msg(LOG_WARN, "accept failed", "%s", strerror(-r));
                nanosleep(&pause, NULL);
            }
            continue;
        }
        serve(&fr, &ctx);
        FCGX_Finish_r(&fr);
    }
    status = 0;
out:
    awskms_client_free(ctx.kms);
    db_free(ctx.db);
    auth_state_free(ctx.auth);
    log_emit(LOG_INFO, "worker exiting", json_pack("{s:i}", "status", status));
    exit(status);
}
