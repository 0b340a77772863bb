/*
 * params.c — Vault-style parameter parsing; see params.h.
 */
#include "keymgmt/params.h"
#include "keymgmt/pool.h"
#include "keymgmt/validate.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*param_parser)(json_t *v, struct param_value *out);

static int parse_string(json_t *v, struct param_value *out)
{
    if (!json_is_string(v))
        return -1;
    out->s = json_string_value(v);
    return 0;
}

static int int_from_string(const char *s, long long *out)
{
    char *end = NULL;
    if (*s == '\0' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_int(json_t *v, struct param_value *out)
{
    if (json_is_integer(v)) {
        out->i = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* 2^63 is exact as a double; LLONG_MAX is not (it rounds up to 2^63) */
        if (d != floor(d) || d < -0x1p63 || d >= 0x1p63)
            return -1;
        out->i = (long long)d;
        return 0;
    }
    if (json_is_string(v))
        return int_from_string(json_string_value(v), &out->i);
    return -1;
}

static int parse_bool(json_t *v, struct param_value *out)
{
    if (json_is_boolean(v)) {
        out->b = json_is_true(v);
        return 0;
    }
    if (json_is_string(v))
        return validate_parse_bool(json_string_value(v), &out->b);
    return -1;
}

static int parse_kvpairs(json_t *v, struct param_value *out)
{
    json_t *kv = json_object();
    const char *k;
    json_t *e;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(v, k, e)
        {
            if (!json_is_string(e))
                goto fail;
            json_object_set(kv, k, e);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e))
                goto fail;
            const char *s = json_string_value(e);
            const char *eq = strchr(s, '=');
            if (eq == NULL || eq == s)
                goto fail;
            char *key = xstrdup(s);
            key[eq - s] = '\0';
            json_object_set_new(kv, key, json_string(eq + 1));
            free(key);
        }
    } else {
        goto fail;
    }
    out->kv = kv;
    return 0;
fail:
    json_decref(kv);
    return -1;
}

/* Append s[0..len) trimmed to list unless empty. */
static void append_trimmed(json_t *list, const char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (len > 0)
        json_array_append_new(list, json_stringn(s, len));
}

static int parse_comma_slice(json_t *v, struct param_value *out)
{
    json_t *list = json_array();
    json_t *e;
    size_t i;

    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        for (;;) {
            const char *comma = strchr(s, ',');
            size_t len = comma ? (size_t)(comma - s) : strlen(s);
            append_trimmed(list, s, len);
            if (comma == NULL)
                break;
            s = comma + 1;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e)) {
                json_decref(list);
                return -1;
            }
            append_trimmed(list, json_string_value(e), json_string_length(e));
        }
    } else {
        json_decref(list);
        return -1;
    }
    out->list = list;
    return 0;
}

static const struct {
    param_parser parse;
    const char *expected;
} parsers[] = {
    [PARAM_STRING] = {parse_string, "a string"},
    [PARAM_INT] = {parse_int, "an integer"},
    [PARAM_BOOL] = {parse_bool, "a boolean"},
    [PARAM_KVPAIRS] = {parse_kvpairs, "an object of strings or a list of \"key=value\" strings"},
    [PARAM_COMMA_SLICE] = {parse_comma_slice, "a comma-separated string or a list of strings"},
};

static const struct param_spec *find_spec(const struct param_spec *specs, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(specs[i].name, k) == 0)
            return &specs[i];
    return NULL;
}

static int cmp_json_str(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

static json_t *sorted_names(json_t *names)
{
    size_t n = json_array_size(names);
    json_t **items = xcalloc(n, sizeof(*items));
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(names, i);
    qsort(items, n, sizeof(*items), cmp_json_str);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(out, items[i]);
    free(items);
    return out;
}

int params_parse(const struct param_spec *specs, size_t n, json_t *body, struct param_value *out,
                 json_t **unknown, char *err, size_t errlen)
{
    json_t *names = NULL;
    const char *k;
    json_t *v;
    int rc = -1;

    if (n > 0)
        memset(out, 0, n * sizeof(*out));
    if (unknown != NULL)
        *unknown = NULL;
    for (size_t i = 0; i < n && body != NULL; i++) {
        v = json_object_get(body, specs[i].name);
        if (v == NULL || json_is_null(v))
            continue;
        if (parsers[specs[i].type].parse(v, &out[i]) != 0) {
            snprintf(err, errlen, "invalid value for \"%s\": expected %s", specs[i].name,
                     parsers[specs[i].type].expected);
            goto out;
        }
        out[i].present = true;
    }
    names = json_array();
    if (body != NULL) {
        json_object_foreach(body, k, v)
        {
            if (find_spec(specs, n, k) == NULL)
                json_array_append_new(names, json_string(k));
        }
    }
    if (unknown != NULL && json_array_size(names) > 0)
        *unknown = sorted_names(names);
    rc = 0;
out:
    json_decref(names);
    if (rc != 0)
        params_release(out, n);
    return rc;
}

void params_release(struct param_value *vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(vals[i].kv);
        json_decref(vals[i].list);
        vals[i].kv = NULL;
        vals[i].list = NULL;
    }
}

char *params_unknown_warning(json_t *unknown)
{
    size_t cap = 64;
    size_t i;
    json_t *e;
    json_array_foreach(unknown, i, e) cap += json_string_length(e) + 1;
    char *buf = xmalloc(cap);
    size_t len = (size_t)snprintf(buf, cap, "Endpoint ignored these unrecognized parameters: [");
    json_array_foreach(unknown, i, e)
    {
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? " " : "", json_string_value(e));
    }
    snprintf(buf + len, cap - len, "]");
    return buf;
}
