"""keymgmt benchmarks; see run.sh. Bounded in time, loopback only, stops by itself."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))

from emulator import start_emulator  # noqa: E402
from stack import Stack  # noqa: E402

DURATION = os.environ.get("BENCH_DURATION", "5s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "16")


def wrk(url, headers=(), script=None):
    cmd = ["wrk", "-t", "2", "-c", CONNECTIONS, "-d", DURATION, "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99, int(non2xx.group(1)) if non2xx else 0


def http_bench(stack):
    token = "X-Vault-Token: " + stack.token
    stack.api("POST", "/v1/keymgmt/kms/bench", {"provider": "awskms",
                                                 "key_collection": "us-east-1"})
    for i in range(20):
        stack.api("POST", "/v1/keymgmt/key/bench%02d" % i, {"type": "aes256-gcm96"})
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\n'
                'wrk.body = \'{"provider":"awskms","key_collection":"us-east-1"}\'\n'
                'wrk.headers["Content-Type"] = "application/json"\n')
        post = f.name
    cases = [
        ("nginx alone (404 from nginx)", stack.url + "/elsewhere", (), None),
        ("GET sys/health (1 query)", stack.url + "/v1/sys/health", (), None),
        ("GET kms/:name (token + read)", stack.url + "/v1/keymgmt/kms/bench", (token,), None),
        ("LIST key (token + 20 rows)", stack.url + "/v1/keymgmt/key?list=true", (token,), None),
        ("POST kms/:name (token + upsert)", stack.url + "/v1/keymgmt/kms/bench", (token,), post),
        ("no token (403)", stack.url + "/v1/keymgmt/kms/bench", (), None),
    ]
    results = [(name,) + wrk(url, headers, script) for name, url, headers, script in cases]
    os.unlink(post)
    base = results[0][1]
    print("\nHTTP through nginx → keymgmtd → PostgreSQL (wrk, %s connections, %s each)"
          % (CONNECTIONS, DURATION))
    print("%-34s %10s %8s %9s %7s" % ("endpoint", "req/s", "p99", "vs nginx", "errors"))
    for name, rps, p99, non2xx in results:
        expected_errors = "404" in name or "403" in name
        print("%-34s %10.0f %8s %8.2fx %7s" % (name, rps, p99, rps / base,
                                               "-" if expected_errors else non2xx))


def distribution_bench(stack):
    emu = start_emulator("AKIDBENCH", "bench-secret", region="us-east-1")
    try:
        stack.api("POST", "/v1/keymgmt/kms/emu", {
            "provider": "awskms", "key_collection": "us-east-1",
            "credentials": {"access_key": "AKIDBENCH", "secret_key": "bench-secret",
                            "endpoint": emu.url}})
        # warm up (the emulator makes its RSA wrapping keys lazily)
        warm = "warm" + uuid.uuid4().hex[:6]
        stack.api("POST", "/v1/keymgmt/key/" + warm, {"type": "aes256-gcm96"})
        stack.api("POST", "/v1/keymgmt/kms/emu/key/" + warm, {"purpose": "encrypt"})
        rows = []
        for n in (1, 10, 50):
            key = "bench%d-%s" % (n, uuid.uuid4().hex[:6])
            stack.api("POST", "/v1/keymgmt/key/" + key, {"type": "aes256-gcm96"})
            for _ in range(n - 1):
                stack.api("POST", "/v1/keymgmt/key/%s/rotate" % key)
            emu.clear_requests()
            t0 = time.perf_counter()
            r = stack.api("POST", "/v1/keymgmt/kms/emu/key/" + key, {"purpose": "encrypt,decrypt"})
            elapsed = time.perf_counter() - t0
            assert r.status_code == 204, r.text
            ops = {}
            for q in emu.requests():
                ops[q["operation"]] = ops.get(q["operation"], 0) + 1
            rows.append((n, elapsed, sum(ops.values()), ops))
        base = rows[0][1]
        print("\nDistribution into the KMS emulator (one POST kms/:name/key/:key_name)")
        print("%-9s %10s %10s %12s %10s  %s" % ("versions", "ms", "KMS calls", "ms/version",
                                               "vs 1 ver", "calls by operation"))
        for n, elapsed, calls, ops in rows:
            print("%-9d %10.1f %10d %12.1f %9.2fx  %s" % (
                n, elapsed * 1000, calls, elapsed * 1000 / n, elapsed / base,
                json.dumps(ops, sort_keys=True)))
    finally:
        emu.stop()


def main():
    env = {"KEYMGMT_LOG_LEVEL": "warn", "AWS_EC2_METADATA_DISABLED": "true"}
    stack = Stack(name="bench", extra_env=env).up()
    try:
        print("keymgmt benchmark: %d CPUs, workers = 2 x CPUs" % os.cpu_count())
        http_bench(stack)
        distribution_bench(stack)
    finally:
        stack.down()


if __name__ == "__main__":
    main()
