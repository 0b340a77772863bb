"""The Vault HTTP contract (DESIGN.md §3), through nginx → keymgmtd → PostgreSQL."""
import json
import uuid

import pytest

ENVELOPE_KEYS = {"request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info",
                 "warnings", "auth", "mount_type"}


def create_provider(stack, name, region="us-east-1"):
    r = stack.api("POST", "/v1/keymgmt/kms/" + name,
                  {"provider": "awskms", "key_collection": region})
    assert r.status_code == 204, r.text
    return r


def assert_error(r, status, contains=None):
    assert r.status_code == status, (r.status_code, r.content)
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert list(body) == ["errors"]
    assert isinstance(body["errors"], list)
    if contains is not None:
        assert any(contains in e for e in body["errors"]), body
    return body["errors"]


def test_envelope_has_every_key(stack, name):
    create_provider(stack, name)
    r = stack.api("GET", "/v1/keymgmt/kms/" + name)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert set(body) == ENVELOPE_KEYS
    uuid.UUID(body["request_id"])
    assert body["lease_id"] == "" and body["renewable"] is False
    assert body["lease_duration"] == 0 and body["wrap_info"] is None
    assert body["warnings"] is None and body["auth"] is None
    assert body["mount_type"] == "keymgmt"
    assert body["data"] == {"provider": "awskms", "key_collection": "us-east-1"}


def test_write_and_delete_answer_204_with_empty_body(stack, name):
    r = create_provider(stack, name)
    assert r.content == b""
    assert r.headers["Cache-Control"] == "no-store"
    r = stack.api("DELETE", "/v1/keymgmt/kms/" + name)
    assert r.status_code == 204 and r.content == b""
    # absent: still 204
    r = stack.api("DELETE", "/v1/keymgmt/kms/" + name)
    assert r.status_code == 204


def test_absent_read_is_404_with_empty_errors(stack, name):
    r = stack.api("GET", "/v1/keymgmt/kms/" + name)
    assert assert_error(r, 404) == []


def test_post_and_put_are_the_same(stack, name):
    r = stack.api("PUT", "/v1/keymgmt/kms/" + name,
                  {"provider": "awskms", "key_collection": "eu-west-1"})
    assert r.status_code == 204
    assert stack.api("GET", "/v1/keymgmt/kms/" + name).json()["data"]["key_collection"] == "eu-west-1"


@pytest.mark.parametrize("form", ["true", "1", "t", "T", "TRUE", "True"])
def test_get_list_true_forms(stack, name, form):
    create_provider(stack, name)
    r = stack.api("GET", "/v1/keymgmt/kms?list=" + form)
    assert r.status_code == 200
    assert name in r.json()["data"]["keys"]


def test_list_method_and_trailing_slash(stack, name):
    create_provider(stack, name)
    for path in ("/v1/keymgmt/kms", "/v1/keymgmt/kms/"):
        r = stack.api("LIST", path)
        assert r.status_code == 200, r.text
        assert name in r.json()["data"]["keys"]
    r = stack.api("GET", "/v1/keymgmt/kms/?list=true")
    assert r.status_code == 200


@pytest.mark.parametrize("form", ["false", "0", "f", "F", "FALSE", "False"])
def test_get_list_false_forms_are_reads(stack, form):
    # a read of the collection path is not an operation it supports
    r = stack.api("GET", "/v1/keymgmt/kms?list=" + form)
    assert_error(r, 405, "unsupported operation")


@pytest.mark.parametrize("value", ["yes", "2", "tru", "on", "%zz"])
def test_get_list_invalid_value(stack, value):
    r = stack.raw("GET", "/v1/keymgmt/kms?list=" + value)
    assert_error(r, 400)


def test_list_is_sorted(stack):
    prefix = "sort-" + uuid.uuid4().hex[:6]
    names = [prefix + s for s in ("-b", "-a", "-C", "-c", ".x")]
    for n in names:
        create_provider(stack, n)
    keys = [k for k in stack.api("LIST", "/v1/keymgmt/kms").json()["data"]["keys"]
            if k.startswith(prefix)]
    assert keys == sorted(names)


@pytest.mark.parametrize("method", ["PATCH", "OPTIONS", "FOO", "TRACE", "CONNECT"])
def test_unknown_methods_are_405(stack, name, method):
    # TRACE and CONNECT are refused by nginx itself, also in Vault's shape
    r = stack.raw(method, "/v1/keymgmt/kms/" + name)
    assert_error(r, 405, "unsupported operation")


def test_unsupported_operation_on_existing_path(stack):
    assert_error(stack.api("DELETE", "/v1/keymgmt/kms"), 405)
    assert_error(stack.api("LIST", "/v1/keymgmt/kms/x1/foo/bar"), 404, "unsupported path")


@pytest.mark.parametrize("path", ["/v1/keymgmt/nothing", "/v1/keymgmt", "/v1/other/kms/x",
                                  "/v1/", "/v1/sys/nope", "/elsewhere"])
def test_unknown_paths_are_404_with_message(stack, path):
    r = stack.raw("GET", path)
    errors = assert_error(r, 404)
    assert errors and errors[0]


def test_body_limit_keymgmtd(stack, name):
    # just over max_body_bytes (1 MiB): keymgmtd's Vault-shaped 413, body not read
    pad = "x" * (1024 * 1024)
    r = stack.api("POST", "/v1/keymgmt/kms/" + name, data=json.dumps({"pad": pad}))
    assert_error(r, 413, "too large")
    assert stack.api("GET", "/v1/keymgmt/kms/" + name).status_code == 404


def test_body_limit_nginx(stack, name):
    # far over: nginx's outer guard, still JSON
    r = stack.api("POST", "/v1/keymgmt/kms/" + name, data="x" * (3 * 1024 * 1024))
    assert_error(r, 413, "too large")


def test_body_at_limit_is_accepted(stack, name):
    body = {"provider": "awskms", "key_collection": "us-east-1"}
    text = json.dumps(body)
    text = text[:-1] + ', "pad": "' + "x" * (1024 * 1024 - len(text) - 12) + '"}'
    assert len(text) <= 1024 * 1024
    r = stack.api("POST", "/v1/keymgmt/kms/" + name, data=text)
    assert r.status_code == 200, r.text  # 200: the unknown "pad" parameter gives a warning


@pytest.mark.parametrize("body", ['{"provider":', "[1,2]", '"str"', "42", "null", "true",
                                  "{} {}", '{"a":1}x', "\xff\xfe", '{"a":"\\u0000"}'])
def test_bad_json_is_400(stack, name, body):
    r = stack.api("POST", "/v1/keymgmt/kms/" + name, data=body.encode("latin-1"))
    assert_error(r, 400, "failed to parse JSON input")
    assert stack.api("GET", "/v1/keymgmt/kms/" + name).status_code == 404


def test_empty_body_means_no_parameters(stack, name):
    r = stack.api("POST", "/v1/keymgmt/kms/" + name, data=b"")
    assert_error(r, 400, "required")
    create_provider(stack, name)
    r = stack.api("POST", "/v1/keymgmt/kms/" + name, data=b"")
    assert r.status_code == 204


def test_unknown_parameters_warn(stack, name):
    r = stack.api("POST", "/v1/keymgmt/kms/" + name,
                  {"provider": "awskms", "key_collection": "us-east-1", "zeta": 1, "alpha": "x"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["warnings"] == ["Endpoint ignored these unrecognized parameters: [alpha zeta]"]
    assert body["data"] is None


def test_token_headers(stack, name):
    create_provider(stack, name)
    path = "/v1/keymgmt/kms/" + name
    r = stack.api("GET", path, token=False, headers={"Authorization": "Bearer " + stack.token})
    assert r.status_code == 200
    for headers in ({}, {"X-Vault-Token": ""}, {"X-Vault-Token": "kmt." + "0" * 64},
                    {"X-Vault-Token": stack.token + "x"}, {"X-Vault-Token": stack.token[:-1]},
                    {"Authorization": "Basic " + stack.token},
                    {"Authorization": "Bearer kmt.nope"}):
        r = stack.api("GET", path, token=False, headers=headers)
        assert assert_error(r, 403) == ["permission denied"], headers


def test_no_token_reveals_nothing(stack):
    # without a token even unknown paths and bad bodies answer 403
    for method, path in (("GET", "/v1/keymgmt/nothing"), ("POST", "/v1/keymgmt/kms/a"),
                         ("LIST", "/v1/keymgmt/kms")):
        r = stack.api(method, path, token=False, data=b"[")
        assert_error(r, 403)


def test_expired_and_revoked_tokens(stack, name):
    create_provider(stack, name)
    path = "/v1/keymgmt/kms/" + name
    out = stack.ctl("token", "create", "--ttl", "1").stdout.strip()
    assert stack.api("GET", path, token=out).status_code == 200
    stack.psql("UPDATE tokens SET expires_at = now() - interval '1 second' "
               "WHERE expires_at IS NOT NULL")
    assert_error(stack.api("GET", path, token=out), 403)
    tok = stack.ctl("token", "create")
    accessor = tok.stderr.strip().split()[-1]
    assert stack.api("GET", path, token=tok.stdout.strip()).status_code == 200
    stack.ctl("token", "revoke", accessor)
    assert_error(stack.api("GET", path, token=tok.stdout.strip()), 403)


def test_non_root_policy_is_denied(stack, name):
    tok = stack.ctl("token", "create", "--policy", "default").stdout.strip()
    assert_error(stack.api("GET", "/v1/keymgmt/kms/" + name, token=tok), 403)


def test_health_unauthenticated(stack):
    r = stack.api("GET", "/v1/sys/health", token=False)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["initialized"] is True and body["sealed"] is False and body["standby"] is False
    assert isinstance(body["server_time_utc"], int) and body["server_time_utc"] > 1.7e9
    assert body["version"]
    r = stack.raw("HEAD", "/v1/sys/health", token="")
    assert r.status_code == 200 and r.content == b""


def test_lookup_self(stack):
    r = stack.api("GET", "/v1/auth/token/lookup-self")
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["policies"] == ["root"]
    assert stack.token not in r.text
    assert_error(stack.api("GET", "/v1/auth/token/lookup-self", token=False), 403)


def test_request_log_line(stack, name):
    stack.api("GET", "/v1/keymgmt/kms/" + name)
    lines = [l for l in stack.keymgmtd_log_lines() if l.get("event") == "request"
             and l.get("path") == "/v1/keymgmt/kms/" + name]
    assert lines
    line = lines[-1]
    for key in ("time", "request_id", "method", "path", "status", "duration_ms"):
        assert key in line
    assert line["status"] == 404 and line["method"] == "GET"
