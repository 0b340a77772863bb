/*
 * test_httpc.c — retry classification and backoff (pure), and the client
 * against a one-shot loopback server.
 */
#include "unit.h"

#include "keymgmt/log.h"
#include "keymgmt/httpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- pure ------------------------------------------------------------- */

static void test_codes(void **state)
{
    (void)state;
    static const char *const throttling[] = {"ThrottlingException",
                                             "Throttling",
                                             "ThrottledException",
                                             "RequestThrottledException",
                                             "TooManyRequestsException",
                                             "ProvisionedThroughputExceededException",
                                             "TransactionInProgressException",
                                             "RequestLimitExceeded",
                                             "BandwidthLimitExceeded",
                                             "LimitExceededException",
                                             "RequestThrottled",
                                             "SlowDown",
                                             "PriorRequestNotComplete",
                                             "EC2ThrottledException"};
    for (size_t i = 0; i < sizeof(throttling) / sizeof(throttling[0]); i++)
        assert_true(httpc_is_throttling_code(throttling[i]));
    assert_true(httpc_is_transient_code("RequestTimeout"));
    assert_true(httpc_is_transient_code("RequestTimeoutException"));
    assert_true(httpc_is_transient_code("PriorRequestNotComplete"));
    static const char *const other[] = {"ValidationException",
                                        "NotFoundException",
                                        "AccessDeniedException",
                                        "throttlingexception",
                                        "Throttling ",
                                        "",
                                        NULL};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        assert_false(httpc_is_throttling_code(other[i]));
        assert_false(httpc_is_transient_code(other[i]));
    }
}

static void test_statuses_and_transport(void **state)
{
    (void)state;
    long yes[] = {500, 502, 503, 504};
    long no[] = {200, 301, 400, 401, 403, 404, 409, 429, 501, 505};
    for (size_t i = 0; i < 4; i++)
        assert_true(httpc_is_retryable_status(yes[i]));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(httpc_is_retryable_status(no[i]));
    assert_true(httpc_is_retryable_transport(HTTPC_TRANSPORT_CONNECT));
    assert_true(httpc_is_retryable_transport(HTTPC_TRANSPORT_TIMEOUT));
    assert_true(httpc_is_retryable_transport(HTTPC_TRANSPORT_LOST));
    assert_false(httpc_is_retryable_transport(HTTPC_TRANSPORT_TLS));
    assert_false(httpc_is_retryable_transport(HTTPC_TRANSPORT_TOOBIG));
    assert_false(httpc_is_retryable_transport(HTTPC_TRANSPORT_OTHER));
    assert_false(httpc_is_retryable_transport(HTTPC_TRANSPORT_OK));
}

static void test_should_retry(void **state)
{
    (void)state;
    struct httpc_response r = {0};
    r.transport = HTTPC_TRANSPORT_TIMEOUT;
    assert_true(httpc_should_retry(&r, NULL));
    r.transport = HTTPC_TRANSPORT_TLS;
    assert_false(httpc_should_retry(&r, "ThrottlingException"));
    r.transport = HTTPC_TRANSPORT_OK;
    r.status = 400;
    assert_true(httpc_should_retry(&r, "ThrottlingException"));
    assert_true(httpc_should_retry(&r, "RequestTimeout"));
    assert_false(httpc_should_retry(&r, "ValidationException"));
    assert_false(httpc_should_retry(&r, NULL));
    r.status = 429;
    assert_false(httpc_should_retry(&r, ""));
    assert_true(httpc_should_retry(&r, "TooManyRequestsException"));
    r.status = 503;
    assert_true(httpc_should_retry(&r, "ValidationException")); /* 5xx whatever the code */
    r.status = 200;
    assert_false(httpc_should_retry(&r, "ThrottlingException"));
}

/* Requests that are not safe to repeat (CreateKey): only what surely never arrived. */
static void test_should_retry_unsafe(void **state)
{
    (void)state;
    struct httpc_response r = {0};
    r.transport = HTTPC_TRANSPORT_CONNECT;
    assert_true(httpc_should_retry_unsafe(&r, NULL));
    r.transport = HTTPC_TRANSPORT_TIMEOUT; /* may have arrived */
    assert_false(httpc_should_retry_unsafe(&r, NULL));
    r.transport = HTTPC_TRANSPORT_LOST;
    assert_false(httpc_should_retry_unsafe(&r, NULL));
    r.transport = HTTPC_TRANSPORT_OK;
    r.status = 400;
    assert_true(httpc_should_retry_unsafe(&r, "ThrottlingException"));
    assert_false(httpc_should_retry_unsafe(&r, "RequestTimeout"));
    assert_false(httpc_should_retry_unsafe(&r, "ValidationException"));
    r.status = 500; /* the service may have acted */
    assert_false(httpc_should_retry_unsafe(&r, "KMSInternalException"));
    r.status = 503;
    assert_false(httpc_should_retry_unsafe(&r, "ThrottlingException"));
}

/* A random source that always yields the given byte. */
static int const_fill(void *ctx, unsigned char *buf, size_t n)
{
    memset(buf, *(unsigned char *)ctx, n);
    return 0;
}

static void test_backoff_bounds(void **state)
{
    (void)state;
    unsigned char zero = 0x00, ones = 0xff;
    struct rng lo = {const_fill, &zero}, hi = {const_fill, &ones};
    long caps[] = {1, 2, 4, 8, 16, 20, 20, 20};

    for (int retry = 0; retry < 8; retry++) {
        assert_int_equal(httpc_backoff_ms(&lo, retry, 1000), 0);
        long top = httpc_backoff_ms(&hi, retry, 1000);
        assert_true(top < caps[retry] * 1000);
        assert_true(top >= caps[retry] * 1000 - 1); /* rand close to 1 gives the cap */
    }
    assert_true(httpc_backoff_ms(&hi, 1000, 1000) < 20000);
    assert_true(httpc_backoff_ms(&hi, -3, 1000) < 1000);
    assert_int_equal(httpc_backoff_ms(&hi, 3, 0), 0);

    /* a spread of random values stays in [0, cap) */
    unsigned counter = 1;
    struct rng fake = {unit_fake_fill, &counter};
    for (int i = 0; i < 1000; i++) {
        int retry = i % 7;
        long d = httpc_backoff_ms(&fake, retry, 10);
        assert_true(d >= 0 && d < caps[retry] * 10);
    }
}

/* ---- a one-shot loopback server --------------------------------------- */

struct server {
    pid_t pid;
    int port;
};

/* Answer one connection with `response`, then exit. */
static void serve_once(struct server *s, const char *response)
{
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        int c = accept(fd, NULL, NULL);
        char buf[8192];
        size_t got = 0;
        while (got < sizeof(buf) - 1) { /* read up to the end of the headers */
            ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n") != NULL)
                break;
        }
        ssize_t w = write(c, response, strlen(response));
        (void)w;
        close(c);
        _exit(0);
    }
    close(fd);
}

static void server_wait(struct server *s)
{
    int st = 0;
    waitpid(s->pid, &st, 0);
}

static struct httpc *client(size_t max_response)
{
    struct httpc *h = NULL;
    struct httpc_options o = {1000, 3000, NULL, max_response, "test"};
    assert_int_equal(httpc_new(&o, &h), KM_OK);
    return h;
}

static void test_response(void **state)
{
    (void)state;
    struct server s;
    char url[64];
    struct httpc_response r;
    struct httpc *h = client(0);
    serve_once(&s, "HTTP/1.1 201 Created\r\nX-Amzn-RequestId: abc-123\r\n"
                   "X-Spaced:   a  b   \r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    struct httpc_field hdr[] = {{"X-Test", "1"}, {"X-Empty", ""}};
    struct httpc_request req = {"POST", url, hdr, 2, "{}", 2, 0, 0, true, false};
    assert_int_equal(httpc_perform(h, &req, &r), KM_OK);
    server_wait(&s);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.transport, HTTPC_TRANSPORT_OK);
    assert_int_equal(r.body_len, 5);
    assert_string_equal(r.body, "hello");
    assert_string_equal(httpc_response_header(&r, "x-amzn-requestid"), "abc-123");
    assert_string_equal(httpc_response_header(&r, "X-SPACED"), "a  b");
    assert_null(httpc_response_header(&r, "X-Missing"));
    httpc_response_free(&r);
    assert_null(r.body);
    httpc_free(h);
}

static void test_response_cap(void **state)
{
    (void)state;
    struct server s;
    char url[64];
    struct httpc_response r;
    struct httpc *h = client(16);
    serve_once(&s, "HTTP/1.1 200 OK\r\nContent-Length: 40\r\nConnection: close\r\n\r\n"
                   "0123456789012345678901234567890123456789");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    struct httpc_request req = {"GET", url, NULL, 0, NULL, 0, 0, 0, false, false};
    assert_int_equal(httpc_perform(h, &req, &r), KM_EPROVIDER);
    server_wait(&s);
    assert_int_equal(r.transport, HTTPC_TRANSPORT_TOOBIG);
    assert_string_equal(r.error, "response too large");
    assert_null(r.body);
    assert_int_equal(r.nheaders, 0);
    assert_false(httpc_should_retry(&r, NULL));
    httpc_response_free(&r);
    httpc_free(h);
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
    close(fd); /* bound but never listening: connections are refused */
    return ntohs(a.sin_port);
}

static void test_refused_and_bad_requests(void **state)
{
    (void)state;
    char url[64];
    struct httpc_response r;
    struct httpc *h = client(0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", closed_port());
    struct httpc_request req = {"GET", url, NULL, 0, NULL, 0, 0, 0, false, false};
    assert_int_equal(httpc_perform(h, &req, &r), KM_EPROVIDER);
    assert_int_equal(r.transport, HTTPC_TRANSPORT_CONNECT);
    assert_int_equal(r.status, 0);
    assert_true(strlen(r.error) > 0);
    httpc_response_free(&r);

    struct httpc_field bad[] = {{"X-A", "v\r\nInjected: 1"}};
    req.headers = bad;
    req.nheaders = 1;
    assert_int_equal(httpc_perform(h, &req, &r), KM_EINVAL);
    struct httpc_field badname[] = {{"X A", "v"}};
    req.headers = badname;
    assert_int_equal(httpc_perform(h, &req, &r), KM_EINVAL);

    struct httpc_request ftp = {"GET", "ftp://127.0.0.1/", NULL, 0, NULL, 0, 0, 0, false, false};
    assert_int_equal(httpc_perform(h, &ftp, &r), KM_EPROVIDER);
    assert_int_equal(r.transport, HTTPC_TRANSPORT_OTHER); /* protocol not allowed */
    httpc_response_free(&r);
    httpc_free(h);
}

struct attempt_log {
    char url[64];
    int calls;
    int seen[8];
};

static enum km_status prepare(void *ctx, int attempt, struct httpc_request *req)
{
    struct attempt_log *l = ctx;
    l->seen[l->calls++] = attempt;
    memset(req, 0, sizeof(*req));
    req->method = "GET";
    req->url = l->url;
    return KM_OK;
}

static void test_send_retries_connection_failures(void **state)
{
    (void)state;
    struct attempt_log l = {0};
    struct httpc_response r;
    int attempts = 0;
    unsigned counter = 0;
    struct rng fake = {unit_fake_fill, &counter};
    struct httpc *h = client(0);
    struct httpc_retry_policy p = {3, 1, &fake, "test", false};
    snprintf(l.url, sizeof(l.url), "http://127.0.0.1:%d/", closed_port());
    assert_int_equal(httpc_send(h, &p, prepare, NULL, &l, &r, &attempts), KM_EPROVIDER);
    assert_int_equal(attempts, 3);
    assert_int_equal(l.calls, 3);
    assert_int_equal(l.seen[0], 1);
    assert_int_equal(l.seen[2], 3);
    assert_int_equal(r.transport, HTTPC_TRANSPORT_CONNECT);
    httpc_response_free(&r);

    p.max_attempts = 1;
    l.calls = 0;
    assert_int_equal(httpc_send(h, &p, prepare, NULL, &l, &r, &attempts), KM_EPROVIDER);
    assert_int_equal(attempts, 1);
    httpc_response_free(&r);
    httpc_free(h);
}

int main(void)
{
    log_set_level(LOG_ERROR); /* failures are expected here: keep the output readable */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_statuses_and_transport),
        cmocka_unit_test(test_should_retry),
        cmocka_unit_test(test_should_retry_unsafe),
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_response_cap),
        cmocka_unit_test(test_refused_and_bad_requests),
        cmocka_unit_test(test_send_retries_connection_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
