"""The keymgmt stack under test: real nginx, real PostgreSQL, the real keymgmtd pool.

A Stack is started with deploy/stack.sh (the same script as `make up`) in a private
state directory on a free port, so tests run exactly what operators run. No pytest
import here: conftest.py wraps it in fixtures.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("KEYMGMT_BUILD", os.path.join(ROOT, "build"))
PGBIN = "/usr/lib/postgresql/15/bin"
# Every secret value a test sends contains this (conftest.secret), so any log of any
# stack can be searched for all of them at once.
SECRET_MARK = "SeKr1tMarK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    """A raw HTTP response (for requests that `requests` would normalise)."""

    def __init__(self, status, headers, body):
        self.status_code = status
        self.headers = headers
        self.content = body

    def json(self):
        return json.loads(self.content)


class Stack:
    def __init__(self, extra_env=None, name="stack"):
        self.var = tempfile.mkdtemp(prefix="km-%s-" % name)
        os.chmod(self.var, 0o755)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.env = dict(os.environ)
        self.env.update({
            "KEYMGMT_VAR": self.var,
            "KEYMGMT_HTTP_PORT": str(self.port),
            "KEYMGMT_EMULATOR_PORT": "0",
            "KEYMGMT_BUILD": BUILD,
            "KEYMGMT_PG_FAST": "1",
        })
        self.env.pop("KEYMGMT_DATABASE_URL", None)
        self.env.update(extra_env or {})
        self.token = None

    # -- lifecycle ---------------------------------------------------------
    def script(self, *args, check=True):
        return subprocess.run([os.path.join(ROOT, "deploy", "stack.sh"), *args], env=self.env,
                              check=check, capture_output=True, text=True, timeout=180)

    def up(self):
        r = self.script("up", check=False)
        if r.returncode != 0:
            raise RuntimeError("stack up failed:\n%s\n%s" % (r.stderr, self.logs()))
        with open(os.path.join(self.var, "root-token")) as f:
            self.token = f.read().strip()
        return self

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()

    def down(self):
        self.script("down", check=False)
        reports = self.sanitizer_reports()
        leaks = [p for p in self.log_files() if self.token and self._contains(p)]
        if os.environ.get("KEYMGMT_KEEP_STACK") != "1":
            subprocess.run(["rm", "-rf", self.var], check=False)
        # under `make asan`, a sanitizer report from any keymgmtd process fails the run
        assert not reports, "sanitizer reports in keymgmtd.log:\n" + "\n".join(reports[:20])
        # no stack may ever log a credential value or its root token
        assert not leaks, "a secret reached these logs: %r" % leaks

    def _contains(self, path):
        with open(path, "rb") as f:
            text = f.read()
        return SECRET_MARK.encode() in text or self.token.encode() in text

    def sanitizer_reports(self):
        path = os.path.join(self.var, "log", "keymgmtd.log")
        if not os.path.exists(path):
            return []
        with open(path, errors="replace") as f:
            return [l.rstrip() for l in f
                    if "ERROR: AddressSanitizer" in l or "ERROR: LeakSanitizer" in l
                    or "runtime error:" in l]

    # -- processes ---------------------------------------------------------
    def pidfile(self, name):
        with open(os.path.join(self.var, "run", name)) as f:
            return int(f.read().strip())

    def master_pid(self):
        return self.pidfile("keymgmtd.pid")

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.master_pid())], capture_output=True,
                             text=True).stdout
        return sorted(int(p) for p in out.split())

    def signal_master(self, sig):
        os.kill(self.master_pid(), sig)

    def wait_workers(self, n, timeout=15, exclude=()):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pids = [p for p in self.worker_pids() if p not in exclude]
            if len(pids) >= n:
                return pids
            time.sleep(0.05)
        raise AssertionError("workers did not come back: %r" % self.worker_pids())

    # -- PostgreSQL ----------------------------------------------------------
    def _as_pg(self, argv):
        if os.getuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    @property
    def pgsock(self):
        return os.path.join(self.var, "pg", "run")

    def pg_stop(self):
        r = self._as_pg([PGBIN + "/pg_ctl", "-D", os.path.join(self.var, "pg", "data"), "-m",
                         "fast", "-w", "stop"])
        assert r.returncode == 0, r.stderr

    def pg_start(self):
        opts = "-k %s -c listen_addresses= -c fsync=off" % self.pgsock
        r = self._as_pg([PGBIN + "/pg_ctl", "-D", os.path.join(self.var, "pg", "data"), "-l",
                         os.path.join(self.var, "pg", "postgresql.log"), "-o", opts, "-w",
                         "start"])
        assert r.returncode == 0, r.stderr

    def psql(self, sql):
        r = self._as_pg(["psql", "-h", self.pgsock, "-U", "postgres", "-d", "keymgmt", "-tAX",
                         "-v", "ON_ERROR_STOP=1", "-c", sql])
        assert r.returncode == 0, r.stderr
        return r.stdout

    def pg_dump(self):
        r = self._as_pg(["pg_dump", "-h", self.pgsock, "-U", "postgres", "keymgmt"])
        assert r.returncode == 0, r.stderr
        return r.stdout

    def ctl(self, *args, check=True):
        return subprocess.run([os.path.join(BUILD, "keymgmtctl"), "-c",
                               os.path.join(self.var, "keymgmt.conf"), *args], env=self.env,
                              capture_output=True, text=True, timeout=120, check=check)

    # -- logs ----------------------------------------------------------------
    def log_files(self):
        for d in (os.path.join(self.var, "log"), os.path.join(self.var, "pg")):
            for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                if name.endswith(".log"):
                    yield os.path.join(d, name)

    def logs(self):
        out = []
        for path in self.log_files():
            with open(path, errors="replace") as f:
                out.append("==> %s\n%s" % (path, f.read()[-20000:]))
        return "\n".join(out)

    def keymgmtd_log_lines(self):
        with open(os.path.join(self.var, "log", "keymgmtd.log")) as f:
            return [json.loads(line) for line in f if line.startswith("{")]

    # -- HTTP ----------------------------------------------------------------
    def session(self, token=None):
        s = requests.Session()
        if token is not False:
            s.headers["X-Vault-Token"] = token or self.token
        return s

    def api(self, method, path, body=None, token=None, headers=None, data=None):
        """One request through nginx. `body` is JSON-encoded; `data` is sent raw."""
        h = {} if token is False else {"X-Vault-Token": token or self.token}
        h.update(headers or {})
        if body is not None:
            data = json.dumps(body)
        return requests.request(method, self.url + path, data=data, headers=h, timeout=60)

    def raw(self, method, path, body=b"", headers=None, token=None):
        """A request with the target sent byte for byte (no client normalisation)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = {"X-Vault-Token": token or self.token}
        h.update(headers or {})
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in h.items():
            conn.putheader(k, v)
        if body or method in ("POST", "PUT"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        r = conn.getresponse()
        resp = Response(r.status, dict(r.getheaders()), r.read())
        conn.close()
        return resp
