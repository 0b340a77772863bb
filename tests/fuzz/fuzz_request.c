/*
 * fuzz_request.c — libFuzzer target: method/target parsing and body parsing.
 * Input: "METHOD\nTARGET\nBODY".
 */
#include "keymgmt/pool.h"
#include "keymgmt/request.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    struct request req;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *method = buf, *target = "", *body = "";
    char *nl = strchr(method, '\n');
    if (nl != NULL) {
        *nl = '\0';
        target = nl + 1;
        nl = strchr(target, '\n');
        if (nl != NULL) {
            *nl = '\0';
            body = nl + 1;
        }
    }
    memset(&req, 0, sizeof(req));
    req.pool = pool_new();
    if (request_parse_target(&req, method, target, err, sizeof(err)) == KM_OK) {
        req.body_raw = body;
        req.body_len = strlen(body);
        request_parse_body(&req, err, sizeof(err));
    }
    request_token(method, target);
    request_release(&req);
    pool_free(req.pool);
    free(buf);
    return 0;
}
