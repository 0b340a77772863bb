/*
 * test_awscreds.c — the INI parser, documents, times, endpoints, and the
 * order of the credential chain (with files in a temporary HOME; container
 * and instance metadata endpoints are exercised by test_awscreds.py).
 */
#include "unit.h"

#include "keymgmt/awscreds.h"
#include "keymgmt/httpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- INI -------------------------------------------------------------- */

struct seen {
    char text[2048];
};

static int record(void *ctx, const char *section, const char *key, const char *value)
{
    struct seen *s = ctx;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof(s->text) - n, "[%s]%s=%s|", section, key, value);
    return 0;
}

static void assert_ini(const char *text, const char *want)
{
    struct seen s = {{0}};
    int bad = -1;
    assert_int_equal(awscreds_ini_parse(text, strlen(text), record, &s, &bad), 0);
    assert_int_equal(bad, 0);
    assert_string_equal(s.text, want);
}

static void assert_ini_bad(const char *text, int line)
{
    struct seen s = {{0}};
    int bad = 0;
    assert_int_equal(awscreds_ini_parse(text, strlen(text), record, &s, &bad), -1);
    assert_int_equal(bad, line);
}

static void test_ini_parse(void **state)
{
    (void)state;
    assert_ini("", "");
    assert_ini("[default]\naws_access_key_id = AK\naws_secret_access_key=SK\n",
               "[default]aws_access_key_id=AK|[default]aws_secret_access_key=SK|");
    assert_ini("\xEF\xBB\xBF# comment\r\n; other\r\n\r\n[p 1]\r\n  Key : v = w ; not a comment\r\n",
               "[p 1]key=v = w ; not a comment|");
    /* nested settings: the option with only indented lines is not a value */
    assert_ini("[a]\ns3 =\n    max_concurrent_requests = 20\n    x = y\nregion = eu\n",
               "[a]region=eu|");
    /* an empty value is still a value when nothing is nested under it */
    assert_ini("[a]\nk =\nl = 1\n[b]\nm=\n", "[a]k=|[a]l=1|[b]m=|");
    /* continuation of a plain value is skipped */
    assert_ini("[a]\nk = first\n  second\nl=2", "[a]k=first|[a]l=2|");
    /* consistently indented options are options */
    assert_ini("[a]\n  k = 1\n  l = 2\n", "[a]k=1|[a]l=2|");

    assert_ini_bad("k = v\n", 1);            /* no section */
    assert_ini_bad("[a]\nk = v\njunk\n", 3); /* no delimiter */
    assert_ini_bad("[a\n", 1);
    assert_ini_bad("[]\n", 1);
    assert_ini_bad("[a]\n = v\n", 2); /* empty key */
}

static void test_ini_profile(void **state)
{
    (void)state;
    struct awscreds c;
    bool found = true;
    char why[256];
    const char *text = "[default]\naws_access_key_id=AKD\naws_secret_access_key=SKD\n"
                       "[prod]\nAWS_ACCESS_KEY_ID = AKP\naws_secret_access_key = SKP\n"
                       "aws_security_token = OLD\naws_session_token = TOK\n"
                       "[legacy]\naws_access_key_id=AKL\naws_secret_access_key=SKL\n"
                       "aws_security_token=LEG\n"
                       "[region-only]\nregion=eu-west-1\n"
                       "[half]\naws_access_key_id=AKH\n"
                       "[default]\naws_secret_access_key=SKD2\n";

    assert_int_equal(awscreds_ini_profile(text, strlen(text), "default", &c, &found, why, 256),
                     KM_OK);
    assert_true(found);
    assert_string_equal(c.access_key, "AKD");
    assert_string_equal(c.secret_key, "SKD2"); /* the last value wins */
    assert_null(c.session_token);
    assert_int_equal(c.source, AWSCREDS_SHARED_FILE);
    awscreds_clear(&c);

    assert_int_equal(awscreds_ini_profile(text, strlen(text), "prod", &c, &found, why, 256), KM_OK);
    assert_true(found);
    assert_string_equal(c.access_key, "AKP");
    assert_string_equal(c.session_token, "TOK");
    awscreds_clear(&c);

    assert_int_equal(awscreds_ini_profile(text, strlen(text), "legacy", &c, &found, why, 256),
                     KM_OK);
    assert_string_equal(c.session_token, "LEG");
    awscreds_clear(&c);

    assert_int_equal(awscreds_ini_profile(text, strlen(text), "nope", &c, &found, why, 256), KM_OK);
    assert_false(found);
    assert_string_equal(why, "no profile \"nope\"");
    assert_null(c.access_key);

    assert_int_equal(awscreds_ini_profile(text, strlen(text), "region-only", &c, &found, why, 256),
                     KM_OK);
    assert_false(found);
    assert_string_equal(why, "profile \"region-only\" has no aws_access_key_id");

    assert_int_equal(awscreds_ini_profile(text, strlen(text), "half", &c, &found, why, 256),
                     KM_EINVAL);
    assert_string_equal(why,
                        "profile \"half\" sets aws_access_key_id without aws_secret_access_key");
    assert_null(c.access_key);

    assert_int_equal(awscreds_ini_profile("[a]\nbroken", 11, "a", &c, &found, why, 256), KM_EINVAL);
    assert_string_equal(why, "malformed at line 2");
}

/* ---- times and documents ---------------------------------------------- */

static void test_parse_time(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(awscreds_parse_time("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(awscreds_parse_time("2024-02-29T12:34:56Z", &ms), 0);
    assert_int_equal(ms, INT64_C(1709210096000));
    assert_int_equal(awscreds_parse_time("2024-02-29T12:34:56.789123Z", &ms), 0);
    assert_int_equal(ms, INT64_C(1709210096789));
    assert_int_equal(awscreds_parse_time("2024-02-29T12:34:56.5Z", &ms), 0);
    assert_int_equal(ms, INT64_C(1709210096500));
    assert_int_equal(awscreds_parse_time("2024-02-29T14:34:56+02:00", &ms), 0);
    assert_int_equal(ms, INT64_C(1709210096000));
    assert_int_equal(awscreds_parse_time("2024-02-29t10:34:56-02:00", &ms), 0);
    assert_int_equal(ms, INT64_C(1709210096000));
    const char *bad[] = {"",
                         "2024-02-29",
                         "2024-02-29T12:34:56",
                         "2024-02-29 12:34:56Z",
                         "2024-13-01T00:00:00Z",
                         "2024-02-29T12:34:56.Z",
                         "2024-02-29T12:34:56ZZ",
                         "2024-02-29T12:34:56+0200",
                         "24-02-29T12:34:56Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(awscreds_parse_time(bad[i], &ms), -1);
}

static void test_parse_document(void **state)
{
    (void)state;
    struct awscreds c;
    char why[256];
    const char *ok = "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIA1\",\"SecretAccessKey\":\"S\","
                     "\"Token\":\"T\",\"Expiration\":\"2030-01-01T00:00:00Z\"}";
    assert_int_equal(awscreds_parse_document(ok, strlen(ok), &c, why, sizeof(why)), KM_OK);
    assert_string_equal(c.access_key, "ASIA1");
    assert_string_equal(c.secret_key, "S");
    assert_string_equal(c.session_token, "T");
    assert_int_equal(c.expiration_ms, INT64_C(1893456000000));
    awscreds_clear(&c);

    const char *noexp = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}";
    assert_int_equal(awscreds_parse_document(noexp, strlen(noexp), &c, why, sizeof(why)), KM_OK);
    assert_null(c.session_token);
    assert_int_equal(c.expiration_ms, 0);
    awscreds_clear(&c);

    struct {
        const char *doc, *why;
    } bad[] = {
        {"", "empty or oversized credentials document"},
        {"[1]", "credentials document is not a JSON object"},
        {"not json", "credentials document is not a JSON object"},
        {"{\"AccessKeyId\":\"A\"}", "credentials document lacks AccessKeyId or SecretAccessKey"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"\"}",
         "credentials document lacks AccessKeyId or SecretAccessKey"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"soon\"}",
         "credentials document has an invalid Expiration"},
        {"{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"AccessKeyId\":\"A\"}",
         "credentials document has status AssumeRoleUnauthorizedAccess"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            awscreds_parse_document(bad[i].doc, strlen(bad[i].doc), &c, why, sizeof(why)),
            KM_EINVAL);
        assert_string_equal(why, bad[i].why);
        assert_null(c.access_key);
        assert_null(c.secret_key);
    }
}

/* ---- environment and endpoints ---------------------------------------- */

static void test_getenv(void **state)
{
    (void)state;
    char *env[] = {"AWS_PROFILEX=no", "AWS_PROFILE=prod", "EMPTY=", "EQ=a=b", NULL};
    assert_string_equal(awscreds_getenv(env, "AWS_PROFILE"), "prod");
    assert_null(awscreds_getenv(env, "AWS_PROF"));
    assert_null(awscreds_getenv(env, "EMPTY"));
    assert_string_equal(awscreds_getenv(env, "EQ"), "a=b");
    assert_null(awscreds_getenv(NULL, "X"));
}

static void expect_container(char **env, enum km_status rc, const char *url)
{
    char out[512], why[256];
    assert_int_equal(awscreds_container_url(env, out, sizeof(out), why, sizeof(why)), rc);
    if (rc == KM_OK)
        assert_string_equal(out, url);
}

static void test_container_url(void **state)
{
    (void)state;
    char *rel[] = {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/abc",
                   "AWS_CONTAINER_CREDENTIALS_FULL_URI=https://elsewhere/", NULL};
    expect_container(rel, KM_OK, "http://169.254.170.2/v2/credentials/abc");
    char *none[] = {NULL};
    expect_container(none, KM_ENOTFOUND, NULL);
    char *badrel[] = {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=v2/x", NULL};
    expect_container(badrel, KM_EINVAL, NULL);

    const char *allowed[] = {
        "https://creds.example.com/x",    "http://127.0.0.1:8080/creds", "http://127.200.3.4/c",
        "http://localhost:9/c",           "http://[::1]:80/c",           "http://169.254.170.2/c",
        "http://169.254.170.23/v1/creds", "http://[fd00:ec2::23]/c"};
    const char *refused[] = {"http://example.com/c",      "http://10.0.0.1/c",
                             "http://127.0.0.1.nip.io/c", "ftp://127.0.0.1/c",
                             "http://169.254.169.254/c",  "not a url",
                             "file:///etc/passwd"};
    char var[256];
    char *env[] = {var, NULL};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        snprintf(var, sizeof(var), "AWS_CONTAINER_CREDENTIALS_FULL_URI=%s", allowed[i]);
        expect_container(env, KM_OK, allowed[i]);
    }
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        snprintf(var, sizeof(var), "AWS_CONTAINER_CREDENTIALS_FULL_URI=%s", refused[i]);
        expect_container(env, KM_EINVAL, NULL);
    }
}

static void test_imds_endpoint(void **state)
{
    (void)state;
    char url[256];
    char *none[] = {NULL};
    assert_true(awscreds_imds_endpoint(none, url, sizeof(url)));
    assert_string_equal(url, "http://169.254.169.254");
    char *v6[] = {"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6", NULL};
    assert_true(awscreds_imds_endpoint(v6, url, sizeof(url)));
    assert_string_equal(url, "http://[fd00:ec2::254]");
    char *over[] = {"AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9999//", NULL};
    assert_true(awscreds_imds_endpoint(over, url, sizeof(url)));
    assert_string_equal(url, "http://127.0.0.1:9999");
    char *off[] = {"AWS_EC2_METADATA_DISABLED=TRUE", NULL};
    assert_false(awscreds_imds_endpoint(off, url, sizeof(url)));
    char *on[] = {"AWS_EC2_METADATA_DISABLED=false", NULL};
    assert_true(awscreds_imds_endpoint(on, url, sizeof(url)));
}

/* ---- the chain -------------------------------------------------------- */

struct chain_fixture {
    char home[64];
    char file[128];
    struct httpc *http;
    struct awscreds_resolver r;
};

static int chain_setup(void **state)
{
    struct chain_fixture *f = calloc(1, sizeof(*f));
    struct httpc_options o = {500, 1000, NULL, 0, NULL};
    snprintf(f->home, sizeof(f->home), "/tmp/awscreds-test-XXXXXX");
    if (mkdtemp(f->home) == NULL || httpc_new(&o, &f->http) != KM_OK)
        return -1;
    snprintf(f->file, sizeof(f->file), "%s/.aws", f->home);
    mkdir(f->file, 0700);
    snprintf(f->file, sizeof(f->file), "%s/.aws/credentials", f->home);
    awscreds_resolver_init(&f->r, f->http, &clock_system);
    *state = f;
    return 0;
}

static int chain_teardown(void **state)
{
    struct chain_fixture *f = *state;
    char dir[160];
    unlink(f->file);
    snprintf(dir, sizeof(dir), "%s/.aws", f->home);
    rmdir(dir);
    rmdir(f->home);
    awscreds_resolver_clear(&f->r);
    httpc_free(f->http);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static enum km_status resolve(struct chain_fixture *f, const struct awscreds_explicit *ex,
                              char **env, struct awscreds *c, char *err, size_t errlen)
{
    return awscreds_resolve(&f->r, ex, env, c, err, errlen);
}

static void test_chain_order(void **state)
{
    struct chain_fixture *f = *state;
    struct awscreds c;
    char err[1024], home[96];
    snprintf(home, sizeof(home), "HOME=%s", f->home);
    write_file(f->file, "[default]\naws_access_key_id=AKFILE\naws_secret_access_key=SKFILE\n"
                        "[other]\naws_access_key_id=AKOTHER\naws_secret_access_key=SKOTHER\n");
    char *env_all[] = {home,
                       "AWS_ACCESS_KEY_ID=AKENV",
                       "AWS_SECRET_ACCESS_KEY=SKENV",
                       "AWS_SESSION_TOKEN=TOKENV",
                       "AWS_EC2_METADATA_DISABLED=true",
                       NULL};
    struct awscreds_explicit ex = {"AKEXP", "SKEXP", NULL};

    /* explicit first */
    assert_int_equal(resolve(f, &ex, env_all, &c, err, sizeof(err)), KM_OK);
    assert_int_equal(c.source, AWSCREDS_EXPLICIT);
    assert_string_equal(c.access_key, "AKEXP");
    assert_null(c.session_token);
    awscreds_clear(&c);

    /* then the environment */
    struct awscreds_explicit empty = {"", NULL, ""};
    assert_int_equal(resolve(f, &empty, env_all, &c, err, sizeof(err)), KM_OK);
    assert_int_equal(c.source, AWSCREDS_ENV);
    assert_string_equal(c.access_key, "AKENV");
    assert_string_equal(c.session_token, "TOKENV");
    awscreds_clear(&c);

    /* then the shared file, default profile or AWS_PROFILE */
    char *env_file[] = {home, "AWS_EC2_METADATA_DISABLED=true", NULL};
    assert_int_equal(resolve(f, NULL, env_file, &c, err, sizeof(err)), KM_OK);
    assert_int_equal(c.source, AWSCREDS_SHARED_FILE);
    assert_string_equal(c.access_key, "AKFILE");
    awscreds_clear(&c);
    char *env_profile[] = {home, "AWS_PROFILE=other", "AWS_EC2_METADATA_DISABLED=true", NULL};
    assert_int_equal(resolve(f, NULL, env_profile, &c, err, sizeof(err)), KM_OK);
    assert_string_equal(c.access_key, "AKOTHER");
    awscreds_clear(&c);

    /* AWS_SHARED_CREDENTIALS_FILE, with ~ */
    char alt[128], var[160];
    snprintf(alt, sizeof(alt), "%s/alt", f->home);
    write_file(alt, "[default]\naws_access_key_id=AKALT\naws_secret_access_key=SKALT\n");
    snprintf(var, sizeof(var), "AWS_SHARED_CREDENTIALS_FILE=~/alt");
    char *env_alt[] = {home, var, "AWS_EC2_METADATA_DISABLED=true", NULL};
    assert_int_equal(resolve(f, NULL, env_alt, &c, err, sizeof(err)), KM_OK);
    assert_string_equal(c.access_key, "AKALT");
    awscreds_clear(&c);
    unlink(alt);

    /* the file wins over a configured container endpoint (never contacted) */
    char *env_cont[] = {home, "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:1/x",
                        "AWS_EC2_METADATA_DISABLED=true", NULL};
    assert_int_equal(resolve(f, NULL, env_cont, &c, err, sizeof(err)), KM_OK);
    assert_int_equal(c.source, AWSCREDS_SHARED_FILE);
    awscreds_clear(&c);
}

static void test_chain_misconfiguration_stops(void **state)
{
    struct chain_fixture *f = *state;
    struct awscreds c;
    char err[1024], home[96];
    snprintf(home, sizeof(home), "HOME=%s", f->home);
    write_file(f->file, "[default]\naws_access_key_id=AKFILE\naws_secret_access_key=SKFILE\n");
    char *env[] = {home, "AWS_ACCESS_KEY_ID=AKENV", "AWS_SECRET_ACCESS_KEY=SKENV",
                   "AWS_EC2_METADATA_DISABLED=true", NULL};

    struct awscreds_explicit half = {"AKEXP", "", NULL};
    assert_int_equal(resolve(f, &half, env, &c, err, sizeof(err)), KM_EINVAL);
    assert_string_equal(err, "aws credentials: provider credentials: access_key is set but "
                             "secret_key is not");
    assert_null(c.access_key);

    char *env_half[] = {home, "AWS_SECRET_ACCESS_KEY=SKENV", "AWS_EC2_METADATA_DISABLED=true",
                        NULL};
    assert_int_equal(resolve(f, NULL, env_half, &c, err, sizeof(err)), KM_EINVAL);
    assert_string_equal(err, "aws credentials: environment: AWS_SECRET_ACCESS_KEY is set but "
                             "AWS_ACCESS_KEY_ID is not");

    write_file(f->file, "[default]\naws_access_key_id=AK\nthis is not ini\n");
    char *env_file[] = {home, "AWS_EC2_METADATA_DISABLED=true", NULL};
    assert_int_equal(resolve(f, NULL, env_file, &c, err, sizeof(err)), KM_EINVAL);
    assert_non_null(strstr(err, "aws credentials: shared credentials file: "));
    assert_non_null(strstr(err, "/.aws/credentials: malformed at line 3"));

    unlink(f->file);
    char *env_full[] = {home, "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://example.com/creds",
                        "AWS_EC2_METADATA_DISABLED=true", NULL};
    assert_int_equal(resolve(f, NULL, env_full, &c, err, sizeof(err)), KM_EINVAL);
    assert_non_null(strstr(err, "aws credentials: container credentials: "
                                "AWS_CONTAINER_CREDENTIALS_FULL_URI must be an https URL"));
}

static int closed_port(void)
{
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_chain_nothing_found(void **state)
{
    struct chain_fixture *f = *state;
    struct awscreds c;
    char err[2048], home[96], imds[96], want[512];
    unlink(f->file);
    snprintf(home, sizeof(home), "HOME=%s", f->home);

    char *env[] = {home, "AWS_EC2_METADATA_DISABLED=true", NULL};
    assert_int_equal(resolve(f, NULL, env, &c, err, sizeof(err)), KM_EINVAL);
    snprintf(want, sizeof(want),
             "no aws credentials found: provider credentials: not set; environment: "
             "AWS_ACCESS_KEY_ID not set; shared credentials file: %s/.aws/credentials not "
             "found; container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
             "AWS_CONTAINER_CREDENTIALS_FULL_URI not set; ec2 instance metadata: disabled by "
             "AWS_EC2_METADATA_DISABLED",
             f->home);
    assert_string_equal(err, want);
    assert_null(c.access_key);

    /* no HOME at all, and instance metadata that does not answer */
    snprintf(imds, sizeof(imds), "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:%d",
             closed_port());
    char *env2[] = {imds, NULL};
    assert_int_equal(resolve(f, NULL, env2, &c, err, sizeof(err)), KM_EINVAL);
    assert_non_null(strstr(err, "shared credentials file: HOME and AWS_SHARED_CREDENTIALS_FILE "
                                "not set; "));
    assert_non_null(strstr(err, "; ec2 instance metadata: connection failed: "));
}

static void test_container_endpoint_down(void **state)
{
    struct chain_fixture *f = *state;
    struct awscreds c;
    char err[1024], var[128];
    snprintf(var, sizeof(var), "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:%d/creds",
             closed_port());
    char *env[] = {var, "AWS_EC2_METADATA_DISABLED=true", NULL};
    assert_int_equal(resolve(f, NULL, env, &c, err, sizeof(err)), KM_EPROVIDER);
    assert_non_null(strstr(err, "aws credentials: container credentials: connection failed: "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ini_parse),
        cmocka_unit_test(test_ini_profile),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_parse_document),
        cmocka_unit_test(test_getenv),
        cmocka_unit_test(test_container_url),
        cmocka_unit_test(test_imds_endpoint),
        cmocka_unit_test_setup_teardown(test_chain_order, chain_setup, chain_teardown),
        cmocka_unit_test_setup_teardown(test_chain_misconfiguration_stops, chain_setup,
                                        chain_teardown),
        cmocka_unit_test_setup_teardown(test_chain_nothing_found, chain_setup, chain_teardown),
        cmocka_unit_test_setup_teardown(test_container_endpoint_down, chain_setup, chain_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
