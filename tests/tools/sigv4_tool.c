/*
 * sigv4_tool — sign request descriptions read as JSON on stdin (test driver).
 *
 * Input: one object, or an array of objects:
 *   {"method":"GET", "path":"/x", "params":[["name","value"],...],
 *    "headers":[["Name","value"],...], "body_b64":"...",
 *    "access_key":"...", "secret_key":"...", "session_token":"..." (optional),
 *    "region":"us-east-1", "service":"kms", "time":1440938160,
 *    "keep_path":false, "token_mode":"signed"|"unsigned"}
 * Output: the same shape (object or array) of
 *   {"amz_date","canonical_request","string_to_sign","signed_headers","authorization"}
 * or {"error":"..."} for a request the signer refused.
 */
#include "keymgmt/codec.h"
#include "keymgmt/sigv4.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_or(json_t *o, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : def;
}

/* [["a","b"],...] into parallel name/value arrays (pointers into the JSON). */
static size_t pairs(json_t *arr, const char **names, const char **values, size_t max)
{
    size_t i = 0, n = 0;
    json_t *pair = NULL;
    json_array_foreach(arr, i, pair)
    {
        if (n >= max)
            break;
        names[n] = json_string_value(json_array_get(pair, 0));
        values[n] = json_string_value(json_array_get(pair, 1));
        if (names[n] == NULL)
            names[n] = "";
        if (values[n] == NULL)
            values[n] = "";
        n++;
    }
    return n;
}

static json_t *sign_one(json_t *in)
{
    json_t *out = NULL;
    unsigned char *body = NULL;
    size_t body_len = 0;
    const char *hn[SIGV4_MAX_HEADERS + 8], *hv[SIGV4_MAX_HEADERS + 8];
    const char *pn[SIGV4_MAX_PARAMS + 8], *pv[SIGV4_MAX_PARAMS + 8];
    struct sigv4_header headers[SIGV4_MAX_HEADERS + 8];
    struct sigv4_param params[SIGV4_MAX_PARAMS + 8];
    struct sigv4_signature sig = {0};

    const char *b64 = str_or(in, "body_b64", "");
    if (b64[0] != '\0') {
        body = codec_b64_decode(b64, strlen(b64), &body_len);
        if (body == NULL)
            return json_pack("{s:s}", "error", "bad body_b64");
    }
    size_t nh = pairs(json_object_get(in, "headers"), hn, hv, SIGV4_MAX_HEADERS + 8);
    size_t np = pairs(json_object_get(in, "params"), pn, pv, SIGV4_MAX_PARAMS + 8);
    for (size_t i = 0; i < nh; i++)
        headers[i] = (struct sigv4_header){hn[i], hv[i]};
    for (size_t i = 0; i < np; i++)
        params[i] = (struct sigv4_param){pn[i], pv[i]};

    struct sigv4_request req = {str_or(in, "method", "GET"),
                                str_or(in, "path", "/"),
                                params,
                                np,
                                headers,
                                nh,
                                body,
                                body_len};
    struct sigv4_credentials cred = {str_or(in, "access_key", ""), str_or(in, "secret_key", ""),
                                     str_or(in, "session_token", NULL)};
    struct sigv4_params p = {str_or(in, "region", "us-east-1"), str_or(in, "service", "kms"),
                             (int64_t)json_integer_value(json_object_get(in, "time")),
                             json_is_true(json_object_get(in, "keep_path")),
                             strcmp(str_or(in, "token_mode", "signed"), "unsigned") == 0
                                 ? SIGV4_TOKEN_UNSIGNED
                                 : SIGV4_TOKEN_SIGNED};
    if (sigv4_sign(&req, &cred, &p, &sig) != KM_OK)
        out = json_pack("{s:s}", "error", sig.error != NULL ? sig.error : "internal error");
    else
        out = json_pack("{s:s, s:s, s:s, s:s, s:s}", "amz_date", sig.amz_date, "canonical_request",
                        sig.canonical_request, "string_to_sign", sig.string_to_sign,
                        "signed_headers", sig.signed_headers, "authorization", sig.authorization);
    sigv4_signature_free(&sig);
    free(body);
    return out;
}

int main(void)
{
    json_error_t jerr;
    json_t *in = json_loadf(stdin, 0, &jerr);
    json_t *out = NULL;
    size_t i = 0;
    json_t *item = NULL;

    if (in == NULL) {
        fprintf(stderr, "sigv4_tool: invalid JSON on stdin: %s\n", jerr.text);
        return 2;
    }
    if (json_is_array(in)) {
        out = json_array();
        json_array_foreach(in, i, item) json_array_append_new(out, sign_one(item));
    } else {
        out = sign_one(in);
    }
    json_dumpf(out, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    fputc('\n', stdout);
    json_decref(out);
    json_decref(in);
    return 0;
}
