"""Start and drive the local AWS KMS emulator from Python test suites.

    from emulator import start_emulator
    emu = start_emulator("AKIDEXAMPLE", "secret")
    ... point a client at emu.url ...
    emu.inject(operation="CreateKey", action="error",
               code="ThrottlingException", count=2)
    assert emu.state()["keys"] == []
    emu.stop()

Standard library only (no pytest import), for /usr/bin/python3.
"""

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

PYTHON = "/usr/bin/python3"
SERVER = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "kms_emulator",
    "kms_emulator.py"))
READY_PREFIX = "kms-emulator listening on http://127.0.0.1:"


class EmulatorError(RuntimeError):
    pass


class Emulator:
    """A running emulator subprocess and a client for its control API."""

    def __init__(self, proc, port, access_key, secret_key, session_token,
                 region, stderr_file):
        self.proc = proc
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token
        self.region = region
        self._stderr_file = stderr_file
        self._drainer = None

    # ------------------------------------------------------------- plumbing
    def _call(self, method, path, payload=None, timeout=10):
        data = None
        headers = {}
        if payload is not None:
            data = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + "/_emulator/" + path,
                                     data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            raise EmulatorError("%s /_emulator/%s: %d %s" % (
                method, path, e.code, e.read().decode("utf-8", "replace")))

    # ---------------------------------------------------------- control API
    def state(self):
        """{"keys": [...], "aliases": [...]} (see README.md)."""
        return self._call("GET", "state")

    def requests(self):
        """The log of every KMS request received, oldest first."""
        return self._call("GET", "requests")

    def clear_requests(self):
        self._call("DELETE", "requests")

    def reset(self):
        """Wipe keys, aliases, fault rules and the request log."""
        self._call("POST", "reset")

    def inject(self, operation="*", action="error", count=1, code=None,
               status=None, message=None, delay_ms=None):
        """Queue a fault rule: the next `count` calls of `operation` ("*" for
        any) fail with `code`/`status`/`message` (action "error"), sleep
        `delay_ms` first ("delay") or get their connection closed ("drop")."""
        rule = {"operation": operation, "action": action, "count": count}
        for name, value in (("code", code), ("status", status),
                            ("message", message), ("delay_ms", delay_ms)):
            if value is not None:
                rule[name] = value
        return self._call("POST", "faults", rule)

    def faults(self):
        """Fault rules still queued (with their remaining counts)."""
        return self._call("GET", "faults")

    def clear_faults(self):
        self._call("DELETE", "faults")

    # ------------------------------------------------------------ lifecycle
    def stderr_text(self):
        try:
            with open(self._stderr_file.name, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=10):
        """SIGTERM, wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._drainer is not None:
            self._drainer.join(timeout=5)
        try:
            self._stderr_file.close()
            os.unlink(self._stderr_file.name)
        except OSError:
            pass
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_emulator(access_key, secret_key, session_token=None,
                   region="us-east-1", extra_args=(), timeout=20):
    """Start the emulator on a free loopback port and wait until it is
    ready. The port is picked by the kernel (--port 0) and read back from the
    server's ready line, so two suites cannot race for the same port."""
    cmd = [PYTHON, SERVER, "--port", "0", "--access-key", access_key,
           "--secret-key", secret_key, "--region", region]
    if session_token is not None:
        cmd += ["--session-token", session_token]
    cmd += list(extra_args)
    stderr_file = tempfile.NamedTemporaryFile(
        prefix="kms-emulator-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=stderr_file)
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            break
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                break
            line += chunk
    text = line.decode("utf-8", "replace").strip()
    if not text.startswith(READY_PREFIX):
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        with open(stderr_file.name, "r", errors="replace") as f:
            err = f.read()
        stderr_file.close()
        os.unlink(stderr_file.name)
        raise EmulatorError("kms emulator did not start (got %r, exit %s):\n%s"
                            % (text, proc.returncode, err))
    port = int(text[len(READY_PREFIX):])

    # The server prints nothing else, but never let a full pipe block it. The
    # drainer owns the pipe and closes it at EOF (when the server exits).
    def drain():
        try:
            while os.read(proc.stdout.fileno(), 4096):
                pass
        except (OSError, ValueError):
            pass
        finally:
            proc.stdout.close()
    emu = Emulator(proc, port, access_key, secret_key, session_token, region,
                   stderr_file)
    emu._drainer = threading.Thread(target=drain, daemon=True)
    emu._drainer.start()
    return emu


if __name__ == "__main__":
    # Manual use: python3 emulator.py AK SK  -> runs until Ctrl-C.
    emu = start_emulator(sys.argv[1] if len(sys.argv) > 1 else "AK",
                         sys.argv[2] if len(sys.argv) > 2 else "SK")
    print(emu.url, flush=True)
    try:
        emu.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
