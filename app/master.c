/*
 * master.c — prefork master: listen, fork, supervise, reload, drain; see master.h.
 */
#include "keymgmt/master.h"
#include "keymgmt/clock.h"
#include "keymgmt/config.h"
#include "keymgmt/log.h"
#include "keymgmt/seal.h"
#include "keymgmt/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WORKERS 256
#define MAX_RETIRING 1024
#define QUICK_EXIT_MS 10000
#define MAX_BACKOFF_MS 30000

struct slot {
    pid_t pid;          /* 0 when not running */
    int64_t started;    /* monotonic ms */
    int64_t respawn_at; /* monotonic ms; 0 = now */
    int crashes;        /* consecutive quick abnormal exits */
};

struct master {
    const char *config_path;
    char *const *envp;
    struct config cfg;
    struct seal_keyring ring;
    int listen_fd;
    long nworkers;
    struct slot slots[MAX_WORKERS];
    pid_t retiring[MAX_RETIRING]; /* draining workers of an older configuration */
    size_t nretiring;
};

static bool unix_spec(const char *spec, const char **path)
{
    if (strncmp(spec, "unix:", 5) == 0) {
        *path = spec + 5;
        return true;
    }
    if (spec[0] == '/' || spec[0] == '.') {
        *path = spec;
        return true;
    }
    return false;
}

static int listen_unix(const char *path, long mode, long backlog, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    int fd = -1;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "listen: socket path too long");
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    /* A socket file left by a dead keymgmtd is removed; a live one refuses the start. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        snprintf(err, errlen, "listen: %s is in use by a running server", path);
        close(fd);
        return -1;
    }
    close(fd);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        chmod(path, (mode_t)mode) != 0 || listen(fd, (int)backlog) != 0)
        goto fail;
    return fd;
fail:
    snprintf(err, errlen, "listen: %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static int listen_tcp(const char *spec, long backlog, char *err, size_t errlen)
{
    char host[256];
    struct addrinfo hints, *ai = NULL;
    int fd = -1, one = 1;
    const char *colon = strrchr(spec, ':');

    if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
        snprintf(err, errlen, "listen: expected a socket path or HOST:PORT");
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "listen: %s: %s", spec, gai_strerror(gai));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, (int)backlog) != 0) {
        snprintf(err, errlen, "listen: %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int master_listen(const char *spec, long mode, long backlog, char *err, size_t errlen)
{
    const char *path = NULL;
    if (unix_spec(spec, &path))
        return listen_unix(path, mode, backlog, err, errlen);
    return listen_tcp(spec, backlog, err, errlen);
}

static void log_exit(pid_t pid, int status, const char *what)
{
    json_t *f = json_pack("{s:I, s:s}", "worker_pid", (json_int_t)pid, "role", what);
    if (WIFEXITED(status))
        json_object_set_new(f, "exit_status", json_integer(WEXITSTATUS(status)));
    if (WIFSIGNALED(status))
        json_object_set_new(f, "signal", json_string(strsignal(WTERMSIG(status))));
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    log_emit(clean ? LOG_INFO : LOG_WARN, "worker exited", f);
}

static void spawn(struct master *m, struct slot *s)
{
    pid_t pid = fork();
    if (pid < 0) {
        log_msg(LOG_ERROR, "fork failed", "%s", strerror(errno));
        s->respawn_at = clock_monotonic_ms() + 1000;
        return;
    }
    if (pid == 0) {
        log_init("keymgmtd-worker", 2);
        worker_run(&m->cfg, &m->ring, m->listen_fd);
    }
    s->pid = pid;
    s->started = clock_monotonic_ms();
    s->respawn_at = 0;
    log_emit(LOG_INFO, "worker spawned",
             json_pack("{s:I, s:i}", "worker_pid", (json_int_t)pid, "crashes", s->crashes));
}

/* Decide when a slot whose worker exited is refilled. */
static void schedule(struct slot *s, int status, int64_t now)
{
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (clean || now - s->started >= QUICK_EXIT_MS)
        s->crashes = 0;
    else
        s->crashes++;
    int64_t delay = 0;
    if (s->crashes > 1) {
        delay = 250;
        for (int i = 2; i < s->crashes && delay < MAX_BACKOFF_MS; i++)
            delay *= 2;
        if (delay > MAX_BACKOFF_MS)
            delay = MAX_BACKOFF_MS;
    }
    s->pid = 0;
    s->respawn_at = now + delay;
}

static bool take_retiring(struct master *m, pid_t pid)
{
    for (size_t i = 0; i < m->nretiring; i++) {
        if (m->retiring[i] == pid) {
            m->retiring[i] = m->retiring[--m->nretiring];
            return true;
        }
    }
    return false;
}

static void reap(struct master *m, bool respawn)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (take_retiring(m, pid)) {
            log_exit(pid, status, "retired");
            continue;
        }
        log_exit(pid, status, "worker");
        for (long i = 0; i < MAX_WORKERS; i++) {
            if (m->slots[i].pid != pid)
                continue;
            schedule(&m->slots[i], status, clock_monotonic_ms());
            if (!respawn || i >= m->nworkers)
                m->slots[i].pid = 0;
        }
    }
}

static void retire(struct master *m, struct slot *s)
{
    if (s->pid == 0)
        return;
    kill(s->pid, SIGTERM);
    if (m->nretiring < MAX_RETIRING)
        m->retiring[m->nretiring++] = s->pid;
    s->pid = 0;
    s->respawn_at = 0;
    s->crashes = 0;
}

static void reload(struct master *m)
{
    struct config next;
    struct seal_keyring ring;
    char err[512], changed[64];

    if (config_load(&next, m->config_path, m->envp, err, sizeof(err)) != 0) {
        log_msg(LOG_ERROR, "reload refused", "%s", err);
        return;
    }
    if (seal_keyring_load(&ring, &next, err, sizeof(err)) != 0) {
        log_msg(LOG_ERROR, "reload refused", "%s", err);
        config_free(&next);
        return;
    }
    config_keep_static(&next, &m->cfg, changed, sizeof(changed));
    if (changed[0] != '\0')
        log_msg(LOG_WARN, "reload", "%s changed but only takes effect after a restart", changed);
    config_free(&m->cfg);
    m->cfg = next;
    seal_keyring_wipe(&m->ring);
    m->ring = ring;
    log_set_level((enum log_level)log_level_parse(m->cfg.log_level));
    long old = m->nworkers;
    m->nworkers = config_worker_count(&m->cfg);
    for (long i = 0; i < MAX_WORKERS; i++) {
        retire(m, &m->slots[i]);
        if (i < m->nworkers)
            spawn(m, &m->slots[i]);
    }
    log_emit(LOG_INFO, "reloaded",
             json_pack("{s:i, s:i}", "workers", (int)m->nworkers, "previous_workers", (int)old));
}

static size_t live_children(const struct master *m)
{
    size_t n = m->nretiring;
    for (long i = 0; i < MAX_WORKERS; i++)
        n += m->slots[i].pid != 0;
    return n;
}

static void signal_all(struct master *m, int sig)
{
    for (long i = 0; i < MAX_WORKERS; i++)
        if (m->slots[i].pid != 0)
            kill(m->slots[i].pid, sig);
    for (size_t i = 0; i < m->nretiring; i++)
        kill(m->retiring[i], sig);
}

static void drain(struct master *m, const sigset_t *set)
{
    int64_t deadline = clock_monotonic_ms() + m->cfg.shutdown_timeout * 1000;
    log_emit(LOG_INFO, "shutting down", json_pack("{s:i}", "workers", (int)live_children(m)));
    signal_all(m, SIGTERM);
    while (live_children(m) > 0) {
        reap(m, false);
        int64_t left = deadline - clock_monotonic_ms();
        if (live_children(m) == 0)
            break;
        if (left <= 0) {
            log_msg(LOG_WARN, "drain timeout", "killing workers still busy after %lds",
                    m->cfg.shutdown_timeout);
            signal_all(m, SIGKILL);
            deadline = clock_monotonic_ms() + 5000;
            continue;
        }
        struct timespec ts = {left / 1000, (left % 1000) * 1000000L};
        sigtimedwait(set, NULL, &ts);
    }
}

static void cleanup_files(const struct master *m)
{
    const char *path = NULL;
    if (unix_spec(m->cfg.listen, &path))
        unlink(path);
    if (m->cfg.pid_file[0] != '\0')
        unlink(m->cfg.pid_file);
}

static int write_pid_file(const char *path, char *err, size_t errlen)
{
    if (path[0] == '\0')
        return 0;
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(err, errlen, "pid_file %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    return 0;
}

static int64_t next_wakeup(const struct master *m, int64_t now)
{
    int64_t wake = now + 1000;
    for (long i = 0; i < m->nworkers; i++)
        if (m->slots[i].pid == 0 && m->slots[i].respawn_at < wake)
            wake = m->slots[i].respawn_at;
    return wake;
}

int master_run(const char *config_path, char *const *envp)
{
    static struct master m; /* large; one per process */
    char err[512];
    sigset_t set;
    int rc = 2;

    m.config_path = config_path;
    m.envp = envp;
    m.listen_fd = -1;
    if (config_load(&m.cfg, config_path, envp, err, sizeof(err)) != 0) {
        log_msg(LOG_ERROR, "invalid configuration", "%s", err);
        return 2;
    }
    log_set_level((enum log_level)log_level_parse(m.cfg.log_level));
    if (seal_keyring_load(&m.ring, &m.cfg, err, sizeof(err)) != 0) {
        log_msg(LOG_ERROR, "refusing to start", "%s", err);
        goto out;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    m.listen_fd =
        master_listen(m.cfg.listen, m.cfg.listen_mode, m.cfg.listen_backlog, err, sizeof(err));
    /* non-blocking: workers poll it and several may wake for one connection (worker.c) */
    if (m.listen_fd >= 0)
        fcntl(m.listen_fd, F_SETFL, fcntl(m.listen_fd, F_GETFL) | O_NONBLOCK);
    if (m.listen_fd < 0) {
        log_msg(LOG_ERROR, "refusing to start", "%s", err);
        goto out;
    }
    if (write_pid_file(m.cfg.pid_file, err, sizeof(err)) != 0) {
        log_msg(LOG_ERROR, "refusing to start", "%s", err);
        goto out;
    }
    m.nworkers = config_worker_count(&m.cfg);
    log_emit(LOG_INFO, "started",
             json_pack("{s:s, s:i, s:s}", "listen", m.cfg.listen, "workers", (int)m.nworkers,
                       "version", KEYMGMT_VERSION));
    for (long i = 0; i < m.nworkers; i++)
        spawn(&m, &m.slots[i]);

    for (;;) {
        reap(&m, true);
        int64_t now = clock_monotonic_ms();
        for (long i = 0; i < m.nworkers; i++)
            if (m.slots[i].pid == 0 && m.slots[i].respawn_at <= now)
                spawn(&m, &m.slots[i]);
        int64_t wait = next_wakeup(&m, now) - now;
        if (wait < 1)
            wait = 1;
        struct timespec ts = {wait / 1000, (wait % 1000) * 1000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGHUP)
            reload(&m);
        else if (sig == SIGTERM || sig == SIGINT)
            break;
    }
    drain(&m, &set);
    rc = 0;
out:
    if (m.listen_fd >= 0) {
        close(m.listen_fd);
        cleanup_files(&m);
    }
    log_emit(LOG_INFO, "stopped", json_pack("{s:i}", "status", rc));
    seal_keyring_wipe(&m.ring);
    config_free(&m.cfg);
    return rc;
}
