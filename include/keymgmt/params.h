/*
 * params.h — request parameters, parsed the way Vault's framework does.
 *
 * An endpoint declares its parameters as a table of {name, type}. params_parse()
 * checks a request body (a JSON object) against it:
 *   PARAM_STRING        a JSON string
 *   PARAM_INT           a JSON integer (or integral number), or a string holding one
 *   PARAM_BOOL          a JSON boolean, or a string Go's ParseBool accepts
 *   PARAM_KVPAIRS       an object of strings, or a list of "k=v" strings (split at the first '=')
 *   PARAM_COMMA_SLICE   "a,b" or ["a","b"]; elements trimmed, empty ones dropped
 * Unknown body keys are not errors: they are returned (sorted) for the Vault
 * warning "Endpoint ignored these unrecognized parameters: [a b]".
 *
 * Pure: no I/O. Results borrow from the body (strings) or are new jansson
 * values owned by the param_value (kv, list); params_release() drops them.
 */
#ifndef KEYMGMT_PARAMS_H
#define KEYMGMT_PARAMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum param_type { PARAM_STRING, PARAM_INT, PARAM_BOOL, PARAM_KVPAIRS, PARAM_COMMA_SLICE };

struct param_spec {
    const char *name;
    enum param_type type;
};

struct param_value {
    bool present;
    const char *s; /* PARAM_STRING: borrowed from the body */
    long long i;   /* PARAM_INT */
    bool b;        /* PARAM_BOOL */
    json_t *kv;    /* PARAM_KVPAIRS: object of strings (owned) */
    json_t *list;  /* PARAM_COMMA_SLICE: array of strings (owned) */
};

/*
 * Parse `body` (a JSON object, or NULL for no parameters) against `specs`.
 * `out` has n entries, filled in spec order. On a bad value returns -1 with a
 * message in err naming the parameter. *unknown (if not NULL) receives a
 * sorted array of unrecognized names, or NULL when there are none.
 */
int params_parse(const struct param_spec *specs, size_t n, json_t *body, struct param_value *out,
                 json_t **unknown, char *err, size_t errlen);
void params_release(struct param_value *vals, size_t n);

/* The Vault warning text for a list of unknown names (malloc'd). */
char *params_unknown_warning(json_t *unknown);

#endif
