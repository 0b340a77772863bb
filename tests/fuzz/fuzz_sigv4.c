/*
 * fuzz_sigv4.c — libFuzzer target: the SigV4 signer on arbitrary paths, query
 * parameters, headers and bodies. Input lines: method, path, then "name: value"
 * headers and "?name=value" parameters; a blank line starts the body.
 */
#include "keymgmt/sigv4.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sigv4_header headers[MAX_ITEMS + 1];
    struct sigv4_param params[MAX_ITEMS];
    size_t nh = 0, np = 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *save = NULL, *body = strstr(buf, "\n\n");
    if (body != NULL) {
        *body = '\0';
        body += 2;
    }
    char *method = strtok_r(buf, "\n", &save);
    char *path = method ? strtok_r(NULL, "\n", &save) : NULL;
    headers[nh++] = (struct sigv4_header){"Host", "kms.us-east-1.amazonaws.com"};
    for (char *line = path ? strtok_r(NULL, "\n", &save) : NULL; line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *sep = line[0] == '?' ? strchr(line, '=') : strchr(line, ':');
        if (sep == NULL)
            continue;
        *sep = '\0';
        if (line[0] == '?' && np < MAX_ITEMS)
            params[np++] = (struct sigv4_param){line + 1, sep + 1};
        else if (line[0] != '?' && nh <= MAX_ITEMS)
            headers[nh++] = (struct sigv4_header){line, sep + 1};
    }
    struct sigv4_request req = {method ? method : "GET", path, params, np, headers, nh, body,
                                body ? strlen(body) : 0};
    struct sigv4_credentials cred = {"AKIDEXAMPLE", "secret", size % 2 ? "token" : NULL};
    struct sigv4_params p = {"us-east-1", "kms", 1440938160, size % 3 == 0, SIGV4_TOKEN_SIGNED};
    struct sigv4_signature sig;
    memset(&sig, 0, sizeof(sig));
    sigv4_sign(&req, &cred, &p, &sig);
    sigv4_signature_free(&sig);
    free(buf);
    return 0;
}
