"""The credential chain (app/awscreds.c via build/tools/credsdrive) against
fake container-credential and EC2 instance-metadata (IMDSv2) endpoints on
loopback: sources, order, authorization tokens, caching and refresh before
Expiration, and the failure message."""
import datetime
import hashlib
import http.server
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("KEYMGMT_BUILD", os.path.join(REPO, "build"))
TOOL = os.path.join(BUILD, "tools", "credsdrive")


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeServer:
    """A loopback HTTP/1.1 server; `route(handler, method)` answers."""

    def __init__(self):
        fake = self
        self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                n = int(self.headers.get("Content-Length", "0") or 0)
                if n:
                    self.rfile.read(n)
                fake.hits.append((self.command, self.path, dict(self.headers.items())))
                status, body = fake.route(self)
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = _any

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def route(self, h):
        return 404, ""

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class ContainerServer(FakeServer):
    def __init__(self, lifetime=3600, token=None):
        super().__init__()
        self.lifetime = lifetime
        self.token = token
        self.fail = None  # (status, body) to answer instead
        self.fetches = 0

    def route(self, h):
        if h.path != "/creds":
            return 404, "no"
        if self.token is not None and h.headers.get("Authorization") != self.token:
            return 403, "bad token"
        if self.fail:
            return self.fail
        self.fetches += 1
        return 200, json.dumps({
            "AccessKeyId": "ASIACONTAINER%d" % self.fetches,
            "SecretAccessKey": "container-secret-%d" % self.fetches,
            "Token": "container-token-%d" % self.fetches,
            "Expiration": iso(time.time() + self.lifetime)})


class ImdsServer(FakeServer):
    def __init__(self, role="keymgmt-role", lifetime=3600):
        super().__init__()
        self.role = role
        self.lifetime = lifetime
        self.tokens = set()
        self.fetches = 0

    def route(self, h):
        if h.command == "PUT" and h.path == "/latest/api/token":
            ttl = h.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if not ttl or not ttl.isdigit():
                return 400, "missing ttl"
            tok = "imds-token-%d" % len(self.tokens)
            self.tokens.add(tok)
            return 200, tok
        if h.headers.get("X-aws-ec2-metadata-token") not in self.tokens:
            return 401, "IMDSv2 only"
        base = "/latest/meta-data/iam/security-credentials/"
        if h.command == "GET" and h.path == base:
            return (200, self.role + "\n") if self.role else (404, "")
        if h.command == "GET" and self.role and h.path == base + self.role:
            self.fetches += 1
            return 200, json.dumps({
                "Code": "Success", "Type": "AWS-HMAC", "LastUpdated": iso(time.time()),
                "AccessKeyId": "ASIAIMDS%d" % self.fetches,
                "SecretAccessKey": "imds-secret-%d" % self.fetches,
                "Token": "imds-token-value-%d" % self.fetches,
                "Expiration": iso(time.time() + self.lifetime)})
        return 404, ""


@pytest.fixture(autouse=True)
def _tool():
    if not os.access(TOOL, os.X_OK):
        pytest.skip(f"{TOOL} is not built (make tools)")


@pytest.fixture
def home():
    with tempfile.TemporaryDirectory(prefix="credsdrive-") as d:
        yield d


@pytest.fixture
def servers():
    made = []

    def make(cls, *a, **kw):
        s = cls(*a, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(env, home, *args, times=1, advance_ms=0):
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home,
            "AWS_EC2_METADATA_DISABLED": "true"}
    full.update(env)
    full = {k: v for k, v in full.items() if v is not None}
    p = subprocess.run([TOOL, "--times", str(times), "--advance-ms", str(advance_ms), *args],
                       capture_output=True, env=full, timeout=30)
    lines = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert len(lines) == times, p.stderr.decode()
    return lines, p.stderr.decode()


# ------------------------------------------------------------------ container

def test_container_full_uri_with_token(home, servers):
    c = servers(ContainerServer, token="Bearer abc")
    out, _ = run({"AWS_CONTAINER_CREDENTIALS_FULL_URI": c.url + "/creds",
                  "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Bearer abc"}, home)
    r = out[0]
    assert r["ok"] and r["source"] == "container credentials"
    assert r["access_key"] == "ASIACONTAINER1"
    assert r["secret_key_sha256"] == sha("container-secret-1")
    assert r["session_token_sha256"] == sha("container-token-1")
    assert abs(r["expiration_ms"] / 1000 - (time.time() + 3600)) < 10
    assert c.hits[0][2].get("Authorization") == "Bearer abc"


def test_container_token_file_wins(home, servers):
    c = servers(ContainerServer, token="from-file")
    path = os.path.join(home, "token")
    with open(path, "w") as f:
        f.write("from-file\n")
    out, _ = run({"AWS_CONTAINER_CREDENTIALS_FULL_URI": c.url + "/creds",
                  "AWS_CONTAINER_AUTHORIZATION_TOKEN": "from-env",
                  "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": path}, home)
    assert out[0]["ok"], out


def test_container_cached_until_refresh_window(home, servers):
    c = servers(ContainerServer, lifetime=3600)
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": c.url + "/creds"}
    out, _ = run(env, home, times=3)
    assert [r["access_key"] for r in out] == ["ASIACONTAINER1"] * 3
    assert c.fetches == 1
    # 56 minutes later the credentials are 4 minutes from expiry: refreshed
    out, _ = run(env, home, times=3, advance_ms=56 * 60 * 1000)
    assert [r["access_key"] for r in out] == ["ASIACONTAINER2", "ASIACONTAINER3", "ASIACONTAINER4"]


def test_container_short_lived_always_refreshed(home, servers):
    c = servers(ContainerServer, lifetime=240)  # inside the 5-minute margin
    out, _ = run({"AWS_CONTAINER_CREDENTIALS_FULL_URI": c.url + "/creds"}, home, times=3)
    assert [r["access_key"] for r in out] == ["ASIACONTAINER1", "ASIACONTAINER2", "ASIACONTAINER3"]
    assert c.fetches == 3


def test_container_refresh_failure_uses_unexpired_cache(home, servers):
    c = servers(ContainerServer, lifetime=600)
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": c.url + "/creds"}
    # resolution 1 fetches; then the endpoint breaks. Every resolution is 6
    # minutes later: #2 is due for refresh (4 min left) but still valid, #3 is
    # past expiry.
    orig = c.route

    def route(h):
        if c.fetches >= 1:
            return 500, "down"
        return orig(h)
    c.route = route
    out, err = run(env, home, times=3, advance_ms=6 * 60 * 1000)
    assert out[0]["ok"] and out[1]["ok"]
    assert out[1]["access_key"] == "ASIACONTAINER1"
    assert "using cached credentials" in err
    assert not out[2]["ok"] and out[2]["status"] == "EPROVIDER"
    assert out[2]["error"] == "aws credentials: container credentials: http status 500"


def test_container_errors(home, servers):
    c = servers(ContainerServer)
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": c.url + "/creds"}
    c.fail = (200, '{"AccessKeyId": "A", "SecretAccessKey": "leaked-secret", "Expiration": "x"}')
    out, err = run(env, home)
    assert out[0] == {"ok": False, "status": "EPROVIDER",
                      "error": "aws credentials: container credentials: credentials document "
                               "has an invalid Expiration"}
    assert "leaked-secret" not in err
    out, _ = run({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:%d/creds"
                  % closed_port()}, home)
    assert out[0]["status"] == "EPROVIDER"
    assert out[0]["error"].startswith("aws credentials: container credentials: connection failed: ")
    out, _ = run({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://10.1.2.3/creds"}, home)
    assert out[0]["status"] == "EINVAL"
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI must be an https URL" in out[0]["error"]


# ------------------------------------------------------------------ IMDSv2

def test_imds_v2_flow_and_cache(home, servers):
    m = servers(ImdsServer)
    env = {"AWS_EC2_METADATA_DISABLED": None, "AWS_EC2_METADATA_SERVICE_ENDPOINT": m.url}
    out, _ = run(env, home, times=3)
    assert all(r["ok"] and r["source"] == "ec2 instance metadata" for r in out)
    assert [r["access_key"] for r in out] == ["ASIAIMDS1"] * 3
    assert out[0]["secret_key_sha256"] == sha("imds-secret-1")
    assert out[0]["session_token_sha256"] == sha("imds-token-value-1")
    assert [(h[0], h[1]) for h in m.hits] == [
        ("PUT", "/latest/api/token"),
        ("GET", "/latest/meta-data/iam/security-credentials/"),
        ("GET", "/latest/meta-data/iam/security-credentials/keymgmt-role")]
    assert m.hits[0][2]["X-aws-ec2-metadata-token-ttl-seconds"] == "21600"
    assert m.hits[1][2]["X-aws-ec2-metadata-token"] == "imds-token-0"
    # an hour later: refreshed
    out, _ = run(env, home, times=2, advance_ms=58 * 60 * 1000)
    assert [r["access_key"] for r in out] == ["ASIAIMDS2", "ASIAIMDS3"]


def test_imds_without_role(home, servers):
    m = servers(ImdsServer, role=None)
    out, _ = run({"AWS_EC2_METADATA_DISABLED": None, "AWS_EC2_METADATA_SERVICE_ENDPOINT": m.url},
                 home)
    assert out[0]["status"] == "EINVAL"
    assert out[0]["error"].endswith("ec2 instance metadata: no instance role attached (%s)" % m.url)


def test_imds_disabled_is_not_contacted(home, servers):
    m = servers(ImdsServer)
    out, _ = run({"AWS_EC2_METADATA_DISABLED": "TRUE", "AWS_EC2_METADATA_SERVICE_ENDPOINT": m.url},
                 home)
    assert not out[0]["ok"]
    assert out[0]["error"].endswith("ec2 instance metadata: disabled by AWS_EC2_METADATA_DISABLED")
    assert m.hits == []


def test_imds_unreachable_fails_fast(home):
    started = time.monotonic()
    out, _ = run({"AWS_EC2_METADATA_DISABLED": None,
                  "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:%d" % closed_port()}, home)
    assert time.monotonic() - started < 3
    assert out[0]["status"] == "EINVAL"
    assert "ec2 instance metadata: connection failed: " in out[0]["error"]


# ------------------------------------------------------------------ order

def test_chain_order(home, servers):
    c = servers(ContainerServer)
    m = servers(ImdsServer)
    cfile = os.path.join(home, "creds.ini")
    with open(cfile, "w") as f:
        f.write("[default]\naws_access_key_id = AKFILE\naws_secret_access_key = SKFILE\n"
                "[ops]\naws_access_key_id = AKOPS\naws_secret_access_key = SKOPS\n"
                "aws_session_token = TOKOPS\n")
    everything = {"AWS_ACCESS_KEY_ID": "AKENV", "AWS_SECRET_ACCESS_KEY": "SKENV",
                  "AWS_SHARED_CREDENTIALS_FILE": cfile,
                  "AWS_CONTAINER_CREDENTIALS_FULL_URI": c.url + "/creds",
                  "AWS_EC2_METADATA_DISABLED": None, "AWS_EC2_METADATA_SERVICE_ENDPOINT": m.url}

    out, _ = run(everything, home, "--access-key", "AKEXP", "--secret-key", "SKEXP")
    assert (out[0]["source"], out[0]["access_key"]) == ("provider credentials", "AKEXP")
    out, _ = run(everything, home)
    assert (out[0]["source"], out[0]["access_key"]) == ("environment", "AKENV")
    out, _ = run(dict(everything, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None), home)
    assert (out[0]["source"], out[0]["access_key"]) == ("shared credentials file", "AKFILE")
    out, _ = run(dict(everything, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                      AWS_PROFILE="ops"), home)
    assert out[0]["access_key"] == "AKOPS" and out[0]["session_token_sha256"] == sha("TOKOPS")
    out, _ = run(dict(everything, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                      AWS_PROFILE="missing"), home)
    assert out[0]["source"] == "container credentials"
    assert c.hits and not m.hits
    out, _ = run(dict(everything, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                      AWS_SHARED_CREDENTIALS_FILE=None, AWS_CONTAINER_CREDENTIALS_FULL_URI=None),
                 home)
    assert out[0]["source"] == "ec2 instance metadata"


def test_failure_names_every_source(home):
    out, _ = run({"AWS_EC2_METADATA_DISABLED": None,
                  "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:%d" % closed_port()},
                 home)
    r = out[0]
    assert r["ok"] is False and r["status"] == "EINVAL"
    parts = r["error"].split(": ", 1)[1].split("; ")
    assert parts[0] == "provider credentials: not set"
    assert parts[1] == "environment: AWS_ACCESS_KEY_ID not set"
    assert parts[2] == "shared credentials file: %s/.aws/credentials not found" % home
    assert parts[3] == ("container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI not set")
    assert parts[4].startswith("ec2 instance metadata: connection failed: ")
    assert r["error"].startswith("no aws credentials found: ")
