/*
 * log.c — JSON line logging; see log.h.
 */
#include "keymgmt/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_component = "keymgmt";
static int log_fd = 2;
static enum log_level log_min = LOG_INFO;

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug",
    [LOG_INFO] = "info",
    [LOG_WARN] = "warn",
    [LOG_ERROR] = "error",
};

void log_init(const char *component, int fd)
{
    log_component = component;
    log_fd = fd;
}

void log_set_level(enum log_level min)
{
    log_min = min;
}

int log_level_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(s, level_names[i]) == 0)
            return (int)i;
    return -1;
}

static void format_now(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%.24s.%03dZ", base, (int)((ts.tv_nsec / 1000000L) % 1000));
}

void log_emit(enum log_level level, const char *event, json_t *fields)
{
    json_t *line = NULL;
    char *text = NULL;
    char now[48];

    if (level < log_min)
        goto out;
    format_now(now, sizeof(now));
    line = json_pack("{s:s, s:s, s:s, s:s, s:I}", "time", now, "level", level_names[level],
                     "component", log_component, "event", event, "pid", (json_int_t)getpid());
    if (line == NULL)
        goto out;
    if (fields != NULL)
        json_object_update(line, fields);
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
        goto out;
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the terminator; length is tracked explicitly */
    ssize_t w = write(log_fd, text, n + 1);
    (void)w;
out:
    free(text);
    json_decref(line);
    json_decref(fields);
}

void log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (level < log_min)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_emit(level, event, json_pack("{s:s}", "msg", msg));
}
