"""The C AWS KMS client (app/awskms.c via build/tools/kmsdrive) against the
local KMS emulator: every operation, the BYOK import, session tokens,
retries (throttling, 5xx, dropped connections, timeouts), no retries on 4xx,
signature failures, credential and endpoint errors.

Needs the emulator (tests/kms_emulator/kms_emulator.py and
tests/integration/emulator.py) and the built tools (make tools); binaries are
found through KEYMGMT_BUILD (default <repo>/build). Backoff is scaled down
(KEYMGMT_AWS_BACKOFF_UNIT) so the whole file runs in seconds.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from emulator import start_emulator  # noqa: E402

BUILD = os.environ.get("KEYMGMT_BUILD", os.path.join(REPO, "build"))
KMSDRIVE = os.path.join(BUILD, "tools", "kmsdrive")

AK = "AKIDKMSCLIENTTEST"
SK = "kms-client-secret/Key+1234567890abcdefghij"
TOKEN = "FwoGZXIvYXdzEXAMPLE//session+token=="
BACKOFF_UNIT_MS = "5"


@pytest.fixture(scope="module", autouse=True)
def _tools():
    if not os.access(KMSDRIVE, os.X_OK):
        pytest.skip(f"{KMSDRIVE} is not built (make tools)")


@pytest.fixture(scope="module")
def emu():
    e = start_emulator(AK, SK)
    yield e
    e.stop()


@pytest.fixture(scope="module")
def emu_token():
    e = start_emulator(AK, SK, session_token=TOKEN)
    yield e
    e.stop()


@pytest.fixture(autouse=True)
def _clean(request):
    """Every test starts with no keys, aliases, faults or logged requests."""
    for name in ("emu", "emu_token"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()
    yield


@pytest.fixture(scope="module")
def home():
    with tempfile.TemporaryDirectory(prefix="kmsdrive-home-") as d:
        yield d


def base_env(home, **extra):
    """A clean environment: no AWS variables from the outside, no instance
    metadata, a HOME without ~/.aws, small backoff."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "AWS_EC2_METADATA_DISABLED": "true",
        "KEYMGMT_ALLOW_HTTP_ENDPOINTS": "true",
        "KEYMGMT_AWS_BACKOFF_UNIT": BACKOFF_UNIT_MS,
        "KEYMGMT_AWS_CONNECT_TIMEOUT": "1000",
        "KEYMGMT_AWS_TIMEOUT": "5000",
    }
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def drive(emu, ops, home, creds=True, token=None, secret=SK, env=None, endpoint=True,
          region="us-east-1"):
    """Run kmsdrive with a script of operations; returns (results, stderr)."""
    args = [KMSDRIVE, "--region", region]
    if endpoint:
        args += ["--endpoint", emu.url]
    if creds:
        args += ["--access-key", AK, "--secret-key", secret]
    if token:
        args += ["--session-token", token]
    if isinstance(ops, dict):
        ops = [ops]
    p = subprocess.run(args, input=json.dumps(ops).encode(), capture_output=True,
                       env=env if env is not None else base_env(home), timeout=60)
    assert p.returncode in (0, 1), p.stderr.decode()
    lines = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert len(lines) == len(ops), (lines, p.stderr.decode())
    return lines, p.stderr.decode()


def ok(results):
    for r in results:
        assert r["ok"], r
    return [r["result"] for r in results]


def log_for(emu, operation):
    return [e for e in emu.requests() if e["operation"] == operation]


def key_state(emu, key_id):
    for k in emu.state()["keys"]:
        if k["KeyId"] == key_id:
            return k
    raise AssertionError(f"key {key_id} not in the emulator")


# ----------------------------------------------------------------- operations

def test_every_operation(emu, home):
    ops = [
        {"op": "CreateKey", "description": "first", "tags": {"keymgmt:key": "k1", "v": "1"}},  # 0
        {"op": "CreateKey", "description": "second"},                                          # 1
        {"op": "DescribeKey", "key_id": "$0.KeyId"},                                           # 2
        {"op": "DisableKey", "key_id": "$0.KeyId"},                                            # 3
        {"op": "DescribeKey", "key_id": "$0.KeyId"},                                           # 4
        {"op": "EnableKey", "key_id": "$0.KeyId"},                                             # 5
        {"op": "TagResource", "key_id": "$0.KeyId", "tags": {"extra": "yes"}},                  # 6
        {"op": "ListResourceTags", "key_id": "$0.KeyId"},                                      # 7
        {"op": "CreateAlias", "alias": "alias/kc-every", "key_id": "$0.KeyId"},               # 8
        {"op": "ListAliases", "key_id": "$0.KeyId"},                                           # 9
        {"op": "UpdateAlias", "alias": "alias/kc-every", "key_id": "$1.KeyId"},               # 10
        {"op": "ListAliases", "key_id": "$1.KeyId"},                                           # 11
        {"op": "Encrypt", "key_id": "alias/kc-every", "plaintext_hex": "00ff10",
         "context": {"purpose": "test"}},                                                      # 12
        {"op": "Decrypt", "ciphertext": "$12.CiphertextBlob", "context": {"purpose": "test"}},  # 13
        {"op": "DeleteAlias", "alias": "alias/kc-every"},                                      # 14
        {"op": "ListAliases"},                                                                 # 15
        {"op": "ScheduleKeyDeletion", "key_id": "$0.KeyId", "days": 7},                        # 16
        {"op": "DescribeKey", "key_id": "$0.KeyId"},                                           # 17
        {"op": "CancelKeyDeletion", "key_id": "$0.KeyId"},                                     # 18
    ]
    res = ok(drive(emu, ops, home)[0])
    k0, k1 = res[0]["KeyId"], res[1]["KeyId"]
    assert res[0]["KeyState"] == "Enabled" and res[0]["Origin"] == "AWS_KMS"
    assert res[0]["Arn"].endswith(":key/" + k0)
    assert res[2]["Description"] == "first" and res[2]["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert res[4]["KeyState"] == "Disabled" and res[4]["Enabled"] is False
    assert {t["TagKey"]: t["TagValue"] for t in res[7]["Tags"]} == {
        "keymgmt:key": "k1", "v": "1", "extra": "yes"}
    assert [a["AliasName"] for a in res[9]["Aliases"]] == ["alias/kc-every"]
    assert res[11]["Aliases"][0]["TargetKeyId"] == k1
    assert res[12]["KeyId"].endswith(k1) and res[12]["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert res[13]["PlaintextHex"] == "00ff10" and res[13]["KeyId"].endswith(k1)
    assert "alias/kc-every" not in [a["AliasName"] for a in res[15]["Aliases"]]
    assert res[16]["KeyState"] == "PendingDeletion" and res[16]["PendingWindowInDays"] == 7
    assert res[16]["DeletionDate"] > time.time() + 6 * 86400
    assert res[17]["KeyState"] == "PendingDeletion"
    assert key_state(emu, k0)["KeyState"] == "Disabled"  # CancelKeyDeletion leaves it disabled
    log = emu.requests()
    assert len(log) == len(ops) and all(e["signature_valid"] and e["status"] == 200 for e in log)
    assert [e["operation"] for e in log] == [o["op"] for o in ops]


def test_pagination_follows_every_page(emu, home):
    ops = [{"op": "CreateKey", "tags": {"t%d" % i: str(i) for i in range(7)}}]
    ops += [{"op": "CreateAlias", "alias": "alias/kc-page-%02d" % i, "key_id": "$0.KeyId"}
            for i in range(9)]
    ops += [{"op": "ListAliases"}, {"op": "ListAliases", "key_id": "$0.KeyId"},
            {"op": "ListResourceTags", "key_id": "$0.KeyId"}]
    env = base_env(home, KMSDRIVE_PAGE_LIMIT="2")
    res = ok(drive(emu, ops, home, env=env)[0])
    names = ["alias/kc-page-%02d" % i for i in range(9)]
    assert [a["AliasName"] for a in res[-3]["Aliases"]] == names
    assert res[-3]["pages"] == 5
    assert [a["AliasName"] for a in res[-2]["Aliases"]] == names
    assert len(res[-1]["Tags"]) == 7 and res[-1]["pages"] == 4
    assert len(log_for(emu, "ListAliases")) == 10
    assert len(log_for(emu, "ListResourceTags")) == 4


def test_pagination_with_aws_page_size(emu, home):
    ops = [{"op": "CreateKey"}]
    ops += [{"op": "CreateAlias", "alias": "alias/kc-big-%03d" % i, "key_id": "$0.KeyId"}
            for i in range(105)]
    ops += [{"op": "ListAliases"}]
    res = ok(drive(emu, ops, home)[0])
    assert len(res[-1]["Aliases"]) == 105 and res[-1]["pages"] == 2


# ----------------------------------------------------------------- BYOK import

def _import_and_roundtrip(emu, home, material, steps):
    res = ok(drive(emu, steps, home)[0])
    key_id = res[0]["KeyId"]
    st = key_state(emu, key_id)
    assert st["KeyState"] == "Enabled"
    assert st["Origin"] == "EXTERNAL"
    assert st["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert st["material_sha256"] == hashlib.sha256(material).hexdigest()
    # Round trip through the emulator with the imported key, both directions
    # between our client and botocore.
    plaintext = b"imported material works"
    enc = ok(drive(emu, [{"op": "Encrypt", "key_id": key_id, "plaintext_hex": plaintext.hex()},
                         {"op": "Decrypt", "ciphertext": "$0.CiphertextBlob"}], home)[0])
    assert bytes.fromhex(enc[1]["PlaintextHex"]) == plaintext
    import botocore.session
    kms = botocore.session.get_session().create_client(
        "kms", region_name="us-east-1", endpoint_url=emu.url,
        aws_access_key_id=AK, aws_secret_access_key=SK)
    blob = base64.b64decode(enc[0]["CiphertextBlob"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext
    theirs = kms.encrypt(KeyId=key_id, Plaintext=b"from botocore")["CiphertextBlob"]
    back = ok(drive(emu, {"op": "Decrypt", "ciphertext": base64.b64encode(theirs).decode()}, home)[0])
    assert bytes.fromhex(back[0]["PlaintextHex"]) == b"from botocore"
    return res


def test_byok_import_step_by_step(emu, home):
    material = os.urandom(32)
    steps = [
        {"op": "CreateKey", "origin": "EXTERNAL", "description": "byok",
         "tags": {"keymgmt:key": "k", "keymgmt:version": "1"}},
        {"op": "GetParametersForImport", "key_id": "$0.KeyId",
         "algorithm": "RSAES_OAEP_SHA_256", "spec": "RSA_4096"},
        {"op": "Wrap", "public_key": "$1.PublicKey", "material_hex": material.hex()},
        {"op": "ImportKeyMaterial", "key_id": "$0.KeyId", "import_token": "$1.ImportToken",
         "encrypted": "$2.EncryptedKeyMaterial"},
    ]
    res = _import_and_roundtrip(emu, home, material, steps)
    assert res[0]["KeyState"] == "PendingImport"
    # the wrapping key really is RSA-4096 and the wrapped blob is one RSA block
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    pub = load_der_public_key(base64.b64decode(res[1]["PublicKey"]))
    assert pub.key_size == 4096
    assert len(base64.b64decode(res[2]["EncryptedKeyMaterial"])) == 512


def test_byok_import_in_one_call(emu, home):
    material = os.urandom(32)
    steps = [{"op": "CreateKey", "origin": "EXTERNAL"},
             {"op": "ImportMaterial", "key_id": "$0.KeyId", "material_hex": material.hex()}]
    res = _import_and_roundtrip(emu, home, material, steps)
    assert [e["operation"] for e in emu.requests()][:3] == [
        "CreateKey", "GetParametersForImport", "ImportKeyMaterial"]
    assert res[1] == {}


def test_reimport_of_different_material_is_refused(emu, home):
    steps = [{"op": "CreateKey", "origin": "EXTERNAL"},
             {"op": "ImportMaterial", "key_id": "$0.KeyId", "material_hex": "11" * 32},
             {"op": "ImportMaterial", "key_id": "$0.KeyId", "material_hex": "22" * 32}]
    res, _ = drive(emu, steps, home)
    assert res[1]["ok"] and not res[2]["ok"]
    assert res[2]["code"] == "IncorrectKeyMaterialException"
    assert res[2]["attempts"] == 2  # GetParametersForImport + one ImportKeyMaterial, no retry


# ----------------------------------------------------------------- signing

def test_session_token_is_signed(emu_token, home):
    res = ok(drive(emu_token, [{"op": "CreateKey"}, {"op": "DescribeKey", "key_id": "$0.KeyId"}],
                   home, token=TOKEN)[0])
    assert res[1]["KeyState"] == "Enabled"
    log = emu_token.requests()
    assert len(log) == 2 and all(e["signature_valid"] and e["session_token_present"] for e in log)


def test_missing_or_wrong_session_token_rejected(emu_token, home):
    for token in (None, TOKEN + "x"):
        res, err = drive(emu_token, {"op": "ListAliases"}, home, token=token)
        assert not res[0]["ok"]
        assert res[0]["code"] == "UnrecognizedClientException"
        assert res[0]["attempts"] == 1
        if token:
            assert token not in json.dumps(res) and token not in err


def test_wrong_secret_rejected_clearly(emu, home):
    wrong = "not-the-secret-" + "x" * 20
    res, err = drive(emu, {"op": "DescribeKey", "key_id": "alias/whatever"}, home, secret=wrong)
    r = res[0]
    assert not r["ok"] and r["status"] == "EPROVIDER"
    assert r["code"] == "InvalidSignatureException" and r["http_status"] == 400
    assert r["message"].startswith("aws kms: InvalidSignatureException: The request signature "
                                   "we calculated does not match")
    assert r["attempts"] == 1  # a 4xx is never retried
    assert r["request_id"] and r["request_id"] == emu.requests()[0]["request_id"]
    for text in (json.dumps(res), err):
        assert wrong not in text and SK not in text
    assert emu.requests()[0]["signature_valid"] is False


def test_credentials_and_endpoint_from_environment(emu, home):
    env = base_env(home, AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SK, AWS_KMS_ENDPOINT=emu.url)
    res = ok(drive(emu, {"op": "ListAliases"}, home, creds=False, endpoint=False, env=env)[0])
    assert "Aliases" in res[0]
    assert emu.requests()[0]["access_key"] == AK


def test_missing_credentials_explain_the_chain(emu, home):
    res, err = drive(emu, {"op": "ListAliases"}, home, creds=False)
    r = res[0]
    assert not r["ok"] and r["status"] == "EINVAL" and r["attempts"] == 0
    msg = r["message"]
    assert msg.startswith("no aws credentials found: ")
    for part in ("provider credentials: not set", "environment: AWS_ACCESS_KEY_ID not set",
                 "shared credentials file: %s/.aws/credentials not found" % home,
                 "container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI not set",
                 "ec2 instance metadata: disabled by AWS_EC2_METADATA_DISABLED"):
        assert part in msg, msg
    assert emu.requests() == []


def test_http_endpoint_needs_allow_http(emu, home):
    env = base_env(home, KEYMGMT_ALLOW_HTTP_ENDPOINTS="false")
    res, _ = drive(emu, {"op": "ListAliases"}, home, env=env)
    assert res[0]["status"] == "EINVAL"
    assert "http:// endpoints are not allowed" in res[0]["message"]
    assert emu.requests() == []


# ----------------------------------------------------------------- retries

def test_throttling_retried_until_success(emu, home):
    emu.inject(operation="ListAliases", action="error", code="ThrottlingException", count=2)
    res, err = drive(emu, {"op": "ListAliases"}, home)
    assert res[0]["ok"] and res[0]["attempts"] == 3
    log = log_for(emu, "ListAliases")
    assert [e["fault"] for e in log] == ["error", "error", None]
    assert [e["status"] for e in log] == [400, 400, 200]
    assert all(e["signature_valid"] for e in log)
    assert err.count('"event":"http retry"') == 2


@pytest.mark.parametrize("code", ["ThrottlingException", "RequestLimitExceeded",
                                  "TooManyRequestsException", "RequestTimeoutException"])
def test_retryable_codes_bounded_to_three_attempts(emu, home, code):
    emu.inject(operation="DescribeKey", action="error", code=code, status=400, count=5)
    started = time.monotonic()
    res, _ = drive(emu, {"op": "DescribeKey", "key_id": "alias/x"}, home)
    r = res[0]
    assert not r["ok"] and r["code"] == code and r["attempts"] == 3
    assert r["message"].startswith("aws kms: %s: " % code)
    assert len(log_for(emu, "DescribeKey")) == 3
    # backoff: at most (1 + 2) units of 5 ms, plus process and request time
    assert time.monotonic() - started < 3
    assert emu.faults()[0]["count"] == 2


@pytest.mark.parametrize("code,status", [("KMSInternalException", 500),
                                         ("ServiceUnavailableException", 503),
                                         ("InternalFailure", 502), ("GatewayTimeout", 504)])
def test_server_errors_retried(emu, home, code, status):
    emu.inject(operation="ListAliases", action="error", code=code, status=status, count=1)
    res, _ = drive(emu, {"op": "ListAliases"}, home)
    assert res[0]["ok"] and res[0]["attempts"] == 2
    assert [e["status"] for e in log_for(emu, "ListAliases")] == [status, 200]


@pytest.mark.parametrize("code,status", [("ValidationException", 400),
                                         ("AccessDeniedException", 400),
                                         ("KMSInvalidStateException", 400),
                                         ("UnrecognizedClientException", 403),
                                         ("SomethingElse", 429),
                                         ("NotImplemented", 501)])
def test_other_errors_not_retried(emu, home, code, status):
    emu.inject(operation="ListAliases", action="error", code=code, status=status,
               message="nope", count=3)
    res, _ = drive(emu, {"op": "ListAliases"}, home)
    r = res[0]
    assert not r["ok"] and r["attempts"] == 1
    assert r["code"] == code and r["http_status"] == status
    assert r["message"] == "aws kms: %s: nope" % code
    assert len(log_for(emu, "ListAliases")) == 1


def test_throttling_code_retried_whatever_the_status(emu, home):
    emu.inject(operation="ListAliases", action="error", code="LimitExceededException",
               status=401, count=1)
    res, _ = drive(emu, {"op": "ListAliases"}, home)
    assert res[0]["ok"] and res[0]["attempts"] == 2


def test_not_found_not_retried(emu, home):
    res, _ = drive(emu, {"op": "DescribeKey", "key_id": "00000000-0000-0000-0000-000000000000"},
                   home)
    r = res[0]
    assert r["code"] == "NotFoundException" and r["attempts"] == 1 and r["http_status"] == 400
    assert r["message"].startswith("aws kms: NotFoundException: ")
    assert len(log_for(emu, "DescribeKey")) == 1


def test_dropped_connections_retried(emu, home):
    # First request of a fresh process: a fresh connection, so libcurl's own
    # silent retry of a dead keep-alive connection does not come into play.
    emu.inject(operation="ListAliases", action="drop", count=2)
    res, _ = drive(emu, {"op": "ListAliases"}, home)
    assert res[0]["ok"] and res[0]["attempts"] == 3
    assert [e["fault"] for e in log_for(emu, "ListAliases")] == ["drop", "drop", None]


def test_dropped_connections_bounded(emu, home):
    emu.inject(operation="ListAliases", action="drop", count=3)
    res, _ = drive(emu, {"op": "ListAliases"}, home)
    r = res[0]
    assert not r["ok"] and r["status"] == "EPROVIDER" and r["attempts"] == 3
    assert r["message"].startswith("aws kms: connection lost: ")
    assert r["http_status"] == 0
    assert len(log_for(emu, "ListAliases")) == 3


def _wait_for_log(emu, operation, n, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = log_for(emu, operation)
        if len(entries) >= n:
            return entries
        time.sleep(0.05)
    return log_for(emu, operation)


def test_timeout_retried_then_success(emu, home):
    emu.inject(operation="ListAliases", action="delay", delay_ms=800, count=1)
    env = base_env(home, KEYMGMT_AWS_TIMEOUT="250")
    res, _ = drive(emu, {"op": "ListAliases"}, home, env=env)
    assert res[0]["ok"] and res[0]["attempts"] == 2
    assert len(_wait_for_log(emu, "ListAliases", 2)) == 2


def test_timeout_bounded(emu, home):
    emu.inject(operation="ListAliases", action="delay", delay_ms=800, count=4)
    env = base_env(home, KEYMGMT_AWS_TIMEOUT="250")
    started = time.monotonic()
    res, _ = drive(emu, {"op": "ListAliases"}, home, env=env)
    elapsed = time.monotonic() - started
    r = res[0]
    assert not r["ok"] and r["attempts"] == 3 and r["status"] == "EPROVIDER"
    assert r["message"].startswith("aws kms: timed out: ")
    assert 0.7 < elapsed < 2.5  # three 250 ms attempts plus tiny backoff
    assert len(_wait_for_log(emu, "ListAliases", 3)) == 3
    time.sleep(0.9)
    assert len(log_for(emu, "ListAliases")) == 3  # no fourth attempt ever arrives
    emu.clear_faults()


def test_connection_refused_retried_and_reported(home):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now

    class Closed:
        url = "http://127.0.0.1:%d" % port
    res, err = drive(Closed, {"op": "ListAliases"}, home)
    r = res[0]
    assert not r["ok"] and r["status"] == "EPROVIDER" and r["attempts"] == 3
    assert r["message"].startswith("aws kms: connection failed: ")
    assert err.count('"event":"http retry"') == 2


class _Capture:
    """A loopback HTTP/1.1 server that records requests and plays back
    canned replies (for what the emulator does not expose: exact headers,
    connection reuse)."""

    def __init__(self, replies=(), tls=None):
        import http.server
        import threading
        cap = self
        self.seen = []
        self.replies = list(replies)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                cap.seen.append({"headers": list(self.headers.items()), "body": body,
                                 "client": self.client_address, "path": self.path})
                status, payload = cap.replies.pop(0) if cap.replies else (200, b"{}")
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amzn-RequestId", "rid-%d" % len(cap.seen))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:  # (certfile, keyfile)
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def header(self, i, name):
        values = [v for k, v in self.seen[i]["headers"] if k.lower() == name.lower()]
        assert len(values) <= 1
        return values[0] if values else None


def test_request_shape_and_fresh_signature_per_attempt(home):
    cap = _Capture([(500, b'{"__type":"com.amazonaws.kms#KMSInternalException","message":"x"}'),
                    (200, b'{"KeyMetadata":{"KeyId":"k-1","KeyState":"Enabled","Enabled":true,'
                          b'"CreationDate":1.655753311082E9}}')])
    try:
        env = base_env(home, KMSDRIVE_CLOCK_STEP_MS="1000")
        res, _ = drive(cap, {"op": "DescribeKey", "key_id": "k-1"}, home, token="tok/en+=",
                       env=env)
    finally:
        cap.close()
    r = res[0]
    assert r["ok"] and r["attempts"] == 2 and r["result"]["KeyId"] == "k-1"
    assert r["result"]["CreationDate"] == pytest.approx(1655753311.082)
    assert len(cap.seen) == 2
    port = cap.url.rsplit(":", 1)[1]
    for i in range(2):
        assert cap.seen[i]["path"] == "/"
        assert cap.header(i, "Host") == "127.0.0.1:" + port
        assert cap.header(i, "Content-Type") == "application/x-amz-json-1.1"
        assert cap.header(i, "X-Amz-Target") == "TrentService.DescribeKey"
        assert cap.header(i, "X-Amz-Security-Token") == "tok/en+="
        assert cap.header(i, "Expect") is None
        auth = cap.header(i, "Authorization")
        assert auth.startswith("AWS4-HMAC-SHA256 Credential=%s/" % AK)
        assert "/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;" \
               "x-amz-security-token;x-amz-target, Signature=" in auth
        assert json.loads(cap.seen[i]["body"]) == {"KeyId": "k-1"}
    # signed anew: a later X-Amz-Date and a different signature
    assert cap.header(1, "X-Amz-Date") > cap.header(0, "X-Amz-Date")
    assert cap.header(1, "Authorization") != cap.header(0, "Authorization")


def test_connection_kept_alive_between_calls(home):
    cap = _Capture()
    try:
        res, _ = drive(cap, [{"op": "EnableKey", "key_id": "a"}, {"op": "DisableKey", "key_id": "a"},
                             {"op": "CancelKeyDeletion", "key_id": "a"}], home)
    finally:
        cap.close()
    ok(res)
    assert len({s["client"] for s in cap.seen}) == 1  # one TCP connection for all three


def test_error_parsing_variants(home):
    cap = _Capture([(400, b'{"__type":"com.amazon.coral.service#AccessDeniedException",'
                          b'"Message":"User is not authorized\\nCanonical request: secret"}'),
                    (400, b'not json'),
                    (200, b'not json either')])
    try:
        res, _ = drive(cap, [{"op": "EnableKey", "key_id": "a"}, {"op": "EnableKey", "key_id": "b"},
                             {"op": "EnableKey", "key_id": "c"}], home)
    finally:
        cap.close()
    assert res[0]["code"] == "AccessDeniedException"
    assert res[0]["message"] == "aws kms: AccessDeniedException: User is not authorized"
    assert res[0]["request_id"] == "rid-1" and res[0]["attempts"] == 1
    assert res[1]["code"] == "" and res[1]["attempts"] == 1
    assert res[1]["message"] == "aws kms: EnableKey: unexpected http status 400"
    assert res[2]["message"] == "aws kms: EnableKey: invalid response from kms"


def _self_signed(directory):
    """A throwaway certificate for 127.0.0.1 (and its key), as PEM files."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kms-test")])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    certfile = os.path.join(directory, "cert.pem")
    keyfile = os.path.join(directory, "key.pem")
    with open(certfile, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(keyfile, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return certfile, keyfile


def test_tls_verified_with_configured_ca_bundle(home):
    certfile, keyfile = _self_signed(home)
    cap = _Capture(tls=(certfile, keyfile))
    try:
        # an unknown certificate is refused, and not retried
        res, _ = drive(cap, {"op": "EnableKey", "key_id": "a"}, home,
                       env=base_env(home, KEYMGMT_ALLOW_HTTP_ENDPOINTS="false"))
        r = res[0]
        assert not r["ok"] and r["status"] == "EPROVIDER" and r["attempts"] == 1
        assert r["message"].startswith("aws kms: tls error: ")
        assert cap.seen == []
        # trusted through aws_ca_bundle
        res, _ = drive(cap, {"op": "EnableKey", "key_id": "a"}, home,
                       env=base_env(home, KEYMGMT_ALLOW_HTTP_ENDPOINTS="false",
                                    KEYMGMT_AWS_CA_BUNDLE=certfile))
        assert res[0]["ok"], res
        assert len(cap.seen) == 1
    finally:
        cap.close()
