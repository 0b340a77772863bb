/*
 * kmsdrive — drive the AWS KMS client from tests (test code, not product).
 *
 *   kmsdrive [--region R] [--endpoint URL] [--access-key AK] [--secret-key SK]
 *            [--session-token T] [OP [ARGS-JSON]]
 *
 * Without OP, reads a JSON array of {"op": ..., args...} (or one object) on
 * stdin and runs them in order in one process (one client: one curl handle,
 * one credential cache). A string argument "$N.Field" is replaced by the
 * Field of the result of operation N (0-based) of the same run.
 * Configuration comes from KEYMGMT_* variables (e.g. KEYMGMT_AWS_TIMEOUT,
 * KEYMGMT_AWS_BACKOFF_UNIT, KEYMGMT_ALLOW_HTTP_ENDPOINTS); credentials not
 * given as options are resolved through the chain from the environment;
 * KMSDRIVE_REGION is the default region, KMSDRIVE_PAGE_LIMIT the listing page
 * size (default: the AWS maximum), KMSDRIVE_CLOCK_STEP_MS makes the clock
 * jump ahead by that much at every reading (so every signature has its own
 * X-Amz-Date).
 *
 * Prints one JSON line per operation:
 *   {"op", "ok": true, "attempts", "result": {...}}
 *   {"op", "ok": false, "status": "EPROVIDER", "code", "message",
 *    "http_status", "request_id", "attempts"}
 * Exit status 0 when every operation succeeded, 1 otherwise, 2 on usage errors.
 */
#include "keymgmt/awskms.h"
#include "keymgmt/codec.h"
#include "keymgmt/config.h"
#include "keymgmt/kmswrap.h"
#include "keymgmt/log.h"
#include "keymgmt/pool.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static const char *const status_names[] = {
    [KM_OK] = "OK",
    [KM_EINVAL] = "EINVAL",
    [KM_EPERM] = "EPERM",
    [KM_ENOTFOUND] = "ENOTFOUND",
    [KM_EMETHOD] = "EMETHOD",
    [KM_ETOOBIG] = "ETOOBIG",
    [KM_ERATE] = "ERATE",
    [KM_EINTERNAL] = "EINTERNAL",
    [KM_EPROVIDER] = "EPROVIDER",
    [KM_ESTORAGE] = "ESTORAGE",
};

/* The system clock, moved ahead by `step` ms more at every reading. */
struct step_clock {
    int64_t step;
    int64_t n;
};

static int64_t step_now_ms(void *ctx)
{
    struct step_clock *s = ctx;
    return clock_now_ms(&clock_system) + s->step * s->n++;
}

struct run {
    struct awskms_call call;
    json_t *args;
    json_t *result; /* set by the handler on success */
    char local_error[256];
};

static const char *arg(struct run *r, const char *key)
{
    return json_string_value(json_object_get(r->args, key));
}

static unsigned char *hex_arg(struct run *r, const char *key, size_t *len)
{
    const char *h = arg(r, key);
    size_t n = h != NULL ? strlen(h) : 0;
    if (h == NULL || n % 2 != 0)
        return NULL;
    unsigned char *out = pool_alloc(r->call.pool, n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v = 0;
        if (sscanf(h + 2 * i, "%2x", &v) != 1)
            return NULL;
        out[i] = (unsigned char)v;
    }
    *len = n / 2;
    return out;
}

static unsigned char *b64_arg(struct run *r, const char *key, size_t *len)
{
    const char *s = arg(r, key);
    unsigned char *raw = s != NULL ? codec_b64_decode(s, strlen(s), len) : NULL;
    if (raw == NULL)
        return NULL;
    unsigned char *out = pool_alloc(r->call.pool, *len + 1);
    memcpy(out, raw, *len);
    free(raw);
    return out;
}

/* {"k": "v", ...} to a tag array in the pool. */
static struct awskms_tag *tags_arg(struct run *r, const char *key, size_t *n)
{
    json_t *obj = json_object_get(r->args, key);
    const char *k = NULL;
    json_t *v = NULL;
    *n = 0;
    if (!json_is_object(obj))
        return NULL;
    struct awskms_tag *tags = pool_alloc(r->call.pool, (json_object_size(obj) + 1) * sizeof(*tags));
    json_object_foreach(obj, k, v)
    {
        tags[*n].key = pool_strdup(r->call.pool, k);
        tags[*n].value =
            pool_strdup(r->call.pool, json_string_value(v) ? json_string_value(v) : "");
        (*n)++;
    }
    return tags;
}

static json_t *jstr_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *b64_json(const unsigned char *p, size_t n)
{
    char *s = codec_b64_encode(p, n);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static json_t *hex_json(const unsigned char *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    codec_hex(p, n, s);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static json_t *metadata_json(const struct awskms_key_metadata *m)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:f, s:f}", "KeyId",
                     jstr_or_null(m->key_id), "Arn", jstr_or_null(m->arn), "KeyState",
                     jstr_or_null(m->key_state), "Origin", jstr_or_null(m->origin), "KeyUsage",
                     jstr_or_null(m->key_usage), "KeySpec", jstr_or_null(m->key_spec),
                     "Description", jstr_or_null(m->description), "ExpirationModel",
                     jstr_or_null(m->expiration_model), "Enabled", m->enabled, "CreationDate",
                     m->creation_date, "DeletionDate", m->deletion_date);
}

/* ---- operations ------------------------------------------------------- */

static enum km_status op_create_key(struct run *r)
{
    struct awskms_key_metadata md;
    struct awskms_create_key_input in = {
        arg(r, "description"), arg(r, "origin"), arg(r, "key_spec"), arg(r, "key_usage"), NULL, 0};
    in.tags = tags_arg(r, "tags", &in.ntags);
    enum km_status rc = awskms_create_key(&r->call, &in, &md);
    if (rc == KM_OK)
        r->result = metadata_json(&md);
    return rc;
}

static enum km_status op_describe_key(struct run *r)
{
    struct awskms_key_metadata md;
    enum km_status rc = awskms_describe_key(&r->call, arg(r, "key_id"), &md);
    if (rc == KM_OK)
        r->result = metadata_json(&md);
    return rc;
}

static enum km_status op_enable_key(struct run *r)
{
    return awskms_enable_key(&r->call, arg(r, "key_id"));
}

static enum km_status op_disable_key(struct run *r)
{
    return awskms_disable_key(&r->call, arg(r, "key_id"));
}

static enum km_status op_cancel_key_deletion(struct run *r)
{
    return awskms_cancel_key_deletion(&r->call, arg(r, "key_id"));
}

static enum km_status op_schedule_key_deletion(struct run *r)
{
    struct awskms_deletion d;
    int days = (int)json_integer_value(json_object_get(r->args, "days"));
    enum km_status rc = awskms_schedule_key_deletion(&r->call, arg(r, "key_id"), days, &d);
    if (rc == KM_OK)
        r->result = json_pack("{s:o, s:o, s:f, s:I}", "KeyId", jstr_or_null(d.key_id), "KeyState",
                              jstr_or_null(d.key_state), "DeletionDate", d.deletion_date,
                              "PendingWindowInDays", (json_int_t)d.pending_window_days);
    return rc;
}

static enum km_status op_get_parameters_for_import(struct run *r)
{
    struct awskms_import_params p;
    enum km_status rc = awskms_get_parameters_for_import(&r->call, arg(r, "key_id"),
                                                         arg(r, "algorithm"), arg(r, "spec"), &p);
    if (rc == KM_OK)
        r->result = json_pack("{s:o, s:s, s:s, s:f}", "KeyId", jstr_or_null(p.key_id),
                              "ImportToken", p.import_token, "PublicKey", p.public_key_b64,
                              "ParametersValidTo", p.parameters_valid_to);
    return rc;
}

static enum km_status op_wrap(struct run *r)
{
    size_t klen = 0, mlen = 0, wlen = 0;
    unsigned char *wrapped = NULL;
    unsigned char *spki = b64_arg(r, "public_key", &klen);
    unsigned char *material = hex_arg(r, "material_hex", &mlen);
    if (spki == NULL || material == NULL) {
        snprintf(r->local_error, sizeof(r->local_error),
                 "wrap: public_key and material_hex needed");
        return KM_EINVAL;
    }
    enum km_status rc = kmswrap_rsa_oaep_sha256(spki, klen, material, mlen, &wrapped, &wlen,
                                                r->local_error, sizeof(r->local_error));
    if (rc == KM_OK)
        r->result = json_pack("{s:o}", "EncryptedKeyMaterial", b64_json(wrapped, wlen));
    free(wrapped);
    return rc;
}

static enum km_status op_import_key_material(struct run *r)
{
    size_t len = 0;
    unsigned char *wrapped = b64_arg(r, "encrypted", &len);
    return awskms_import_key_material(&r->call, arg(r, "key_id"), arg(r, "import_token"), wrapped,
                                      wrapped != NULL ? len : 0);
}

static enum km_status op_import_material(struct run *r)
{
    size_t len = 0;
    unsigned char *material = hex_arg(r, "material_hex", &len);
    return awskms_import_material(&r->call, arg(r, "key_id"), material, material != NULL ? len : 0);
}

static enum km_status op_create_alias(struct run *r)
{
    return awskms_create_alias(&r->call, arg(r, "alias"), arg(r, "key_id"));
}

static enum km_status op_update_alias(struct run *r)
{
    return awskms_update_alias(&r->call, arg(r, "alias"), arg(r, "key_id"));
}

static enum km_status op_delete_alias(struct run *r)
{
    return awskms_delete_alias(&r->call, arg(r, "alias"));
}

static enum km_status op_list_aliases(struct run *r)
{
    struct awskms_alias_list l;
    enum km_status rc = awskms_list_aliases(&r->call, arg(r, "key_id"), &l);
    if (rc != KM_OK)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr,
                              json_pack("{s:s, s:o, s:o}", "AliasName", l.items[i].name, "AliasArn",
                                        jstr_or_null(l.items[i].arn), "TargetKeyId",
                                        jstr_or_null(l.items[i].target_key_id)));
    r->result = json_pack("{s:o, s:i}", "Aliases", arr, "pages", l.pages);
    return rc;
}

static enum km_status op_tag_resource(struct run *r)
{
    size_t n = 0;
    struct awskms_tag *tags = tags_arg(r, "tags", &n);
    return awskms_tag_resource(&r->call, arg(r, "key_id"), tags, n);
}

static enum km_status op_list_resource_tags(struct run *r)
{
    struct awskms_tag_list l;
    enum km_status rc = awskms_list_resource_tags(&r->call, arg(r, "key_id"), &l);
    if (rc != KM_OK)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:s}", "TagKey", l.items[i].key, "TagValue", l.items[i].value));
    r->result = json_pack("{s:o, s:i}", "Tags", arr, "pages", l.pages);
    return rc;
}

static enum km_status op_encrypt(struct run *r)
{
    size_t len = 0, nctx = 0;
    struct awskms_encrypt_result e;
    unsigned char *pt = hex_arg(r, "plaintext_hex", &len);
    struct awskms_tag *ctx = tags_arg(r, "context", &nctx);
    enum km_status rc =
        awskms_encrypt(&r->call, arg(r, "key_id"), pt, pt != NULL ? len : 0, ctx, nctx, &e);
    if (rc == KM_OK)
        r->result = json_pack(
            "{s:o, s:o, s:o}", "CiphertextBlob", b64_json(e.ciphertext, e.ciphertext_len), "KeyId",
            jstr_or_null(e.key_id), "EncryptionAlgorithm", jstr_or_null(e.algorithm));
    return rc;
}

static enum km_status op_decrypt(struct run *r)
{
    size_t len = 0, nctx = 0;
    struct awskms_decrypt_result d;
    unsigned char *ct = b64_arg(r, "ciphertext", &len);
    struct awskms_tag *ctx = tags_arg(r, "context", &nctx);
    enum km_status rc =
        awskms_decrypt(&r->call, arg(r, "key_id"), ct, ct != NULL ? len : 0, ctx, nctx, &d);
    if (rc == KM_OK) {
        r->result = json_pack("{s:o, s:o}", "PlaintextHex", hex_json(d.plaintext, d.plaintext_len),
                              "KeyId", jstr_or_null(d.key_id));
        codec_free_secret(d.plaintext, d.plaintext_len);
    }
    return rc;
}

static const struct {
    const char *name;
    enum km_status (*fn)(struct run *r);
} ops[] = {
    {"CreateKey", op_create_key},
    {"DescribeKey", op_describe_key},
    {"EnableKey", op_enable_key},
    {"DisableKey", op_disable_key},
    {"ScheduleKeyDeletion", op_schedule_key_deletion},
    {"CancelKeyDeletion", op_cancel_key_deletion},
    {"GetParametersForImport", op_get_parameters_for_import},
    {"Wrap", op_wrap},
    {"ImportKeyMaterial", op_import_key_material},
    {"ImportMaterial", op_import_material},
    {"CreateAlias", op_create_alias},
    {"UpdateAlias", op_update_alias},
    {"DeleteAlias", op_delete_alias},
    {"ListAliases", op_list_aliases},
    {"TagResource", op_tag_resource},
    {"ListResourceTags", op_list_resource_tags},
    {"Encrypt", op_encrypt},
    {"Decrypt", op_decrypt},
};

/* Replace "$N.Field" strings by earlier results. */
static void substitute(json_t *args, json_t *results)
{
    const char *k = NULL;
    json_t *v = NULL;
    json_object_foreach(args, k, v)
    {
        const char *s = json_string_value(v);
        char field[128];
        unsigned idx = 0;
        if (s == NULL || s[0] != '$' || sscanf(s, "$%u.%127s", &idx, field) != 2)
            continue;
        json_t *res = json_object_get(json_array_get(results, idx), "result");
        json_t *val = json_object_get(res, field);
        if (val != NULL)
            json_object_set(args, k, val);
    }
}

static json_t *run_one(struct awskms_client *client, const struct awskms_target *target,
                       json_t *spec, json_t *results)
{
    struct run r;
    struct pool *pool = pool_new();
    const char *op = json_string_value(json_object_get(spec, "op"));
    enum km_status rc = KM_EINVAL;
    json_t *out = NULL;

    memset(&r, 0, sizeof(r));
    awskms_call_init(&r.call, client, target, pool);
    r.args = spec;
    substitute(spec, results);
    snprintf(r.local_error, sizeof(r.local_error), "unknown op");
    for (size_t i = 0; op != NULL && i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(op, ops[i].name) == 0) {
            r.local_error[0] = '\0';
            rc = ops[i].fn(&r);
            break;
        }
    if (rc == KM_OK) {
        out = json_pack("{s:s, s:b, s:i, s:o}", "op", op, "ok", 1, "attempts", r.call.err.attempts,
                        "result", r.result != NULL ? r.result : json_object());
    } else {
        json_decref(r.result);
        const char *msg = r.call.err.message[0] != '\0' ? r.call.err.message : r.local_error;
        out = json_pack("{s:o, s:b, s:s, s:s, s:s, s:I, s:s, s:i}", "op", jstr_or_null(op), "ok", 0,
                        "status", status_names[rc], "code", r.call.err.code, "message", msg,
                        "http_status", (json_int_t)r.call.err.http_status, "request_id",
                        r.call.err.request_id, "attempts", r.call.err.attempts);
    }
    pool_free(pool);
    return out;
}

int main(int argc, char **argv)
{
    struct config cfg;
    char err[512];
    struct awskms_client *client = NULL;
    struct awskms_target target = {getenv("KMSDRIVE_REGION"), NULL, NULL, NULL, NULL};
    json_t *script = NULL, *results = json_array();
    json_error_t jerr;
    int i = 1, failed = 0;

    log_init("kmsdrive", 2);
    log_set_level(getenv("KMSDRIVE_LOG") != NULL ? log_level_parse(getenv("KMSDRIVE_LOG"))
                                                 : LOG_WARN);
    if (target.region == NULL)
        target.region = "us-east-1";
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *v = argv[i + 1];
        if (strcmp(argv[i], "--region") == 0)
            target.region = v;
        else if (strcmp(argv[i], "--endpoint") == 0)
            target.endpoint = v;
        else if (strcmp(argv[i], "--access-key") == 0)
            target.access_key = v;
        else if (strcmp(argv[i], "--secret-key") == 0)
            target.secret_key = v;
        else if (strcmp(argv[i], "--session-token") == 0)
            target.session_token = v;
        else {
            fprintf(stderr, "kmsdrive: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (i < argc) {
        json_t *args = i + 1 < argc ? json_loads(argv[i + 1], 0, &jerr) : json_object();
        if (!json_is_object(args)) {
            fprintf(stderr, "kmsdrive: arguments must be a JSON object\n");
            return 2;
        }
        json_object_set_new(args, "op", json_string(argv[i]));
        script = json_pack("[o]", args);
    } else {
        script = json_loadf(stdin, 0, &jerr);
        if (json_is_object(script))
            script = json_pack("[o]", script);
        if (!json_is_array(script)) {
            fprintf(stderr, "kmsdrive: stdin must hold a JSON array of operations\n");
            return 2;
        }
    }
    if (config_load(&cfg, NULL, environ, err, sizeof(err)) != 0) {
        fprintf(stderr, "kmsdrive: %s\n", err);
        return 2;
    }
    struct step_clock step = {0, 0};
    struct clock clk = {step_now_ms, &step};
    if (getenv("KMSDRIVE_CLOCK_STEP_MS") != NULL)
        step.step = atol(getenv("KMSDRIVE_CLOCK_STEP_MS"));
    if (awskms_client_new(&cfg, environ, &rng_system, &clk, &client) != KM_OK) {
        fprintf(stderr, "kmsdrive: cannot create the client\n");
        return 2;
    }
    if (getenv("KMSDRIVE_PAGE_LIMIT") != NULL)
        awskms_client_set_page_limit(client, atoi(getenv("KMSDRIVE_PAGE_LIMIT")));
    size_t k = 0;
    json_t *spec = NULL;
    json_array_foreach(script, k, spec)
    {
        json_t *res = run_one(client, &target, spec, results);
        failed |= !json_is_true(json_object_get(res, "ok"));
        char *line = json_dumps(res, JSON_COMPACT);
        printf("%s\n", line);
        fflush(stdout);
        free(line);
        json_array_append_new(results, res);
    }
    awskms_client_free(client);
    config_free(&cfg);
    json_decref(script);
    json_decref(results);
    return failed ? 1 : 0;
}
