/*
 * fuzz_params.c — libFuzzer target: Vault-style parameter parsing of a JSON body.
 */
#include "keymgmt/params.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

static const struct param_spec specs[] = {
    {"s", PARAM_STRING}, {"i", PARAM_INT}, {"b", PARAM_BOOL},
    {"kv", PARAM_KVPAIRS}, {"list", PARAM_COMMA_SLICE},
};
#define N (sizeof(specs) / sizeof(specs[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct param_value v[N];
    json_t *unknown = NULL;
    char err[256];
    json_t *body = json_loadb((const char *)data, size, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    if (params_parse(specs, N, body, v, &unknown, err, sizeof(err)) == 0) {
        if (unknown != NULL)
            free(params_unknown_warning(unknown));
        params_release(v, N);
    }
    json_decref(unknown);
    json_decref(body);
    return 0;
}
