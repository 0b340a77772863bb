/*
 * log.h — one JSON object per line on stderr (or a configured fd).
 *
 * Every line carries "time" (RFC 3339, UTC, milliseconds), "level", "event",
 * "pid" and the component name, plus the fields given. Each line is written
 * with a single write(2), so lines from several workers sharing one file do
 * not interleave. Callers must never pass tokens, credentials, key material
 * or request bodies: log lines are for operators.
 */
#ifndef KEYMGMT_LOG_H
#define KEYMGMT_LOG_H

#include <jansson.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_init(const char *component, int fd);
void log_set_level(enum log_level min);
/* Parse "debug", "info", "warn", "error"; -1 when unknown. */
int log_level_parse(const char *s);

/* Emit one line. `fields` is stolen (may be NULL). */
void log_emit(enum log_level level, const char *event, json_t *fields);
/* Emit one line with a formatted "msg" field. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
