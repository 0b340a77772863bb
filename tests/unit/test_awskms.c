/*
 * test_awskms.c — endpoint resolution, error parsing, redaction, and the
 * failures a call reports before it reaches the network.
 */
#include "unit.h"

#include "keymgmt/log.h"
#include "keymgmt/awskms.h"
#include "keymgmt/config.h"
#include "keymgmt/pool.h"

static void expect_endpoint(const char *region, const char *override, bool allow_http,
                            const char *want)
{
    char url[AWSKMS_MAX_URL], err[256] = "";
    enum km_status rc =
        awskms_resolve_endpoint(region, override, allow_http, url, sizeof(url), err, sizeof(err));
    if (rc != KM_OK)
        fail_msg("%s / %s: %s", region, override ? override : "-", err);
    assert_string_equal(url, want);
}

static void expect_endpoint_error(const char *region, const char *override, bool allow_http,
                                  const char *why)
{
    char url[AWSKMS_MAX_URL], err[256] = "";
    assert_int_equal(
        awskms_resolve_endpoint(region, override, allow_http, url, sizeof(url), err, sizeof(err)),
        KM_EINVAL);
    assert_string_equal(err, why);
}

static void test_endpoints(void **state)
{
    (void)state;
    expect_endpoint("us-east-1", NULL, false, "https://kms.us-east-1.amazonaws.com");
    expect_endpoint("eu-central-2", "", false, "https://kms.eu-central-2.amazonaws.com");
    expect_endpoint("us-gov-west-1", NULL, false, "https://kms.us-gov-west-1.amazonaws.com");
    expect_endpoint("cn-north-1", NULL, false, "https://kms.cn-north-1.amazonaws.com.cn");
    expect_endpoint("cn-northwest-1", NULL, false, "https://kms.cn-northwest-1.amazonaws.com.cn");
    expect_endpoint("us-east-1", "https://kms-fips.us-east-1.amazonaws.com", false,
                    "https://kms-fips.us-east-1.amazonaws.com");
    expect_endpoint("us-east-1", "https://vpce-1.kms.us-east-1.vpce.amazonaws.com:8443/", false,
                    "https://vpce-1.kms.us-east-1.vpce.amazonaws.com:8443/");
    expect_endpoint("us-east-1", "http://127.0.0.1:4566", true, "http://127.0.0.1:4566");

    expect_endpoint_error("US_EAST_1", NULL, false, "invalid region");
    expect_endpoint_error("", NULL, false, "invalid region");
    expect_endpoint_error(NULL, "https://x", false, "invalid region");
    expect_endpoint_error("us-east-1", "http://127.0.0.1:4566", false,
                          "invalid endpoint: http:// endpoints are not allowed "
                          "(allow_http_endpoints is off)");
    expect_endpoint_error("us-east-1", "ftp://host/", true,
                          "invalid endpoint: the scheme must be https");
    expect_endpoint_error("us-east-1", "https://user:pw@host/", false,
                          "invalid endpoint: credentials, query or fragment in the URL");
    expect_endpoint_error("us-east-1", "https://host/?a=b", false,
                          "invalid endpoint: credentials, query or fragment in the URL");
    expect_endpoint_error("us-east-1", "https://host/#f", false,
                          "invalid endpoint: credentials, query or fragment in the URL");
    expect_endpoint_error("us-east-1", "kms.example.com", false, "invalid endpoint: not a URL");
    expect_endpoint_error("us-east-1", "https://ho st/", false, "invalid endpoint: not a URL");
}

static void expect_error(const char *body, const char *header, const char *code,
                         const char *message)
{
    char c[64], m[256];
    awskms_parse_error(body, body != NULL ? strlen(body) : 0, header, c, sizeof(c), m, sizeof(m));
    assert_string_equal(c, code);
    assert_string_equal(m, message);
}

static void test_parse_error(void **state)
{
    (void)state;
    expect_error("{\"__type\":\"com.amazonaws.kms#NotFoundException\",\"message\":\"gone\"}", NULL,
                 "NotFoundException", "gone");
    expect_error("{\"__type\":\"ThrottlingException\",\"Message\":\"Rate exceeded\"}", NULL,
                 "ThrottlingException", "Rate exceeded");
    expect_error("{\"__type\":\"a#b#InvalidSignatureException\",\"message\":\"The request "
                 "signature we calculated does not match\\n\\nThe Canonical String for this "
                 "request should have been\\n'POST\\n/\\n...x-amz-security-token:SECRET'\"}",
                 NULL, "InvalidSignatureException",
                 "The request signature we calculated does not match");
    expect_error("<html>bad gateway</html>", "ThrottlingException:http://internal.amazon.com/x",
                 "ThrottlingException", "");
    expect_error("{\"message\":\"no type\"}", NULL, "", "no type");
    expect_error("{\"__type\":\"X\",\"message\":\"tab\\there\\u0001\"}", NULL, "X", "tab here ");
    expect_error("", NULL, "", "");
    expect_error(NULL, NULL, "", "");
    expect_error("{\"__type\":\"ns#Weird Code\"}", NULL, "Weird_Code", "");
    /* long values are cut, never overflow */
    char big[600];
    memset(big, 'A', sizeof(big));
    memcpy(big, "{\"__type\":\"", 11);
    memcpy(big + sizeof(big) - 3, "\"}", 3);
    char c[64], m[16];
    awskms_parse_error(big, strlen(big), NULL, c, sizeof(c), m, sizeof(m));
    assert_int_equal(strlen(c), 63);
}

static void test_redact(void **state)
{
    (void)state;
    char msg[128];
    const char *secrets[] = {"s3cr3t", "", NULL, "TOKEN"};
    snprintf(msg, sizeof(msg), "a s3cr3t b s3cr3t TOKEN c");
    awskms_redact(msg, sizeof(msg), secrets, 4);
    assert_string_equal(msg, "a [redacted] b [redacted] [redacted] c");

    char small[16];
    snprintf(small, sizeof(small), "x TOKEN y z w");
    awskms_redact(small, sizeof(small), secrets, 4);
    assert_string_equal(small, "x [redacted] y ");
    assert_null(strstr(small, "TOKEN"));
}

/* ---- calls that fail before the network ------------------------------- */

struct fixture {
    struct config cfg;
    struct awskms_client *client;
    struct pool *pool;
};

static char *no_creds_env[] = {"HOME=/nonexistent-keymgmt-test", "AWS_EC2_METADATA_DISABLED=true",
                               NULL};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    config_defaults(&f->cfg);
    if (awskms_client_new(&f->cfg, no_creds_env, &rng_system, &clock_system, &f->client) != KM_OK)
        return -1;
    f->pool = pool_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    awskms_client_free(f->client);
    config_free(&f->cfg);
    pool_free(f->pool);
    free(f);
    return 0;
}

static void test_call_failures_before_network(void **state)
{
    struct fixture *f = *state;
    struct awskms_call call;
    struct awskms_key_metadata md;
    struct awskms_alias_list aliases;

    struct awskms_target nocreds = {"eu-west-1", NULL, NULL, NULL, NULL};
    awskms_call_init(&call, f->client, &nocreds, f->pool);
    assert_int_equal(awskms_list_aliases(&call, NULL, &aliases), KM_EINVAL);
    assert_non_null(strstr(call.err.message, "no aws credentials found: provider credentials: "
                                             "not set; environment: AWS_ACCESS_KEY_ID not set;"));
    assert_int_equal(call.err.attempts, 0);
    assert_int_equal(call.err.http_status, 0);

    struct awskms_target badregion = {"moon-1", "AK", "SK", NULL, NULL};
    awskms_call_init(&call, f->client, &badregion, f->pool);
    assert_int_equal(awskms_describe_key(&call, "k", &md), KM_EINVAL);
    assert_string_equal(call.err.message, "aws kms: invalid region");

    struct awskms_target http = {"us-east-1", "AK", "SK", NULL, "http://127.0.0.1:1"};
    awskms_call_init(&call, f->client, &http, f->pool);
    assert_int_equal(awskms_describe_key(&call, "k", &md), KM_EINVAL);
    assert_string_equal(call.err.message, "aws kms: invalid endpoint: http:// endpoints are not "
                                          "allowed (allow_http_endpoints is off)");

    struct awskms_target ok = {"us-east-1", "AK", "SK", NULL, NULL};
    awskms_call_init(&call, f->client, &ok, f->pool);
    assert_int_equal(awskms_describe_key(&call, NULL, &md), KM_EINVAL);
    assert_string_equal(call.err.message, "aws kms: DescribeKey: key id is required");
    assert_int_equal(awskms_create_alias(&call, "alias/x", NULL), KM_EINVAL);
    assert_string_equal(call.err.message, "aws kms: CreateAlias: target key id is required");
    assert_int_equal(awskms_tag_resource(&call, "k", NULL, 0), KM_EINVAL);
    assert_int_equal(awskms_import_key_material(&call, "k", "tok", NULL, 0), KM_EINVAL);

    /* an access key the signer refuses is reported, never sent */
    struct awskms_target badak = {"us-east-1", "AK/X", "SK", NULL, "https://127.0.0.1:1"};
    awskms_call_init(&call, f->client, &badak, f->pool);
    assert_int_equal(awskms_describe_key(&call, "k", &md), KM_EINVAL);
    assert_string_equal(call.err.message,
                        "aws kms: DescribeKey: cannot sign request: invalid access key id");
    assert_int_equal(call.err.attempts, 0);
}

int main(void)
{
    log_set_level(LOG_ERROR); /* failures are expected here: keep the output readable */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_parse_error),
        cmocka_unit_test(test_redact),
        cmocka_unit_test_setup_teardown(test_call_failures_before_network, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
