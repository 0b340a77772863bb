"""Process and storage failures on a private stack: workers killed, PostgreSQL restarted,
reload, drain, refusing bad configuration. Also what a fresh stack answers."""
import os
import signal
import subprocess
import threading
import time

import pytest

from stack import BUILD, Stack
from test_http_contract import assert_error, create_provider


@pytest.fixture(scope="module")
def own():
    s = Stack(name="res", extra_env={"KEYMGMT_WORKERS": "3",
                                     "KEYMGMT_ALLOW_HTTP_ENDPOINTS": "false",
                                     "KEYMGMT_SHUTDOWN_TIMEOUT": "10"}).up()
    yield s
    s.down()


def test_fresh_stack_lists_nothing(own):
    # an empty list answers 404 {"errors":[]}, as Vault does
    assert assert_error(own.api("LIST", "/v1/keymgmt/kms"), 404) == []


def test_http_endpoint_refused_by_default(own, name):
    create_provider(own, name)
    r = own.api("POST", "/v1/keymgmt/kms/" + name,
                {"credentials": {"endpoint": "http://127.0.0.1:1"}})
    assert_error(r, 400, "https://")
    r = own.api("POST", "/v1/keymgmt/kms/" + name,
                {"credentials": {"endpoint": "https://127.0.0.1:1"}})
    assert r.status_code == 204


def load(stack, stop, results):
    s = stack.session()
    while not stop.is_set():
        try:
            r = s.get(stack.url + "/v1/sys/health", timeout=10)
            results.append(r.status_code)
        except Exception as e:  # noqa: BLE001 - counted as a failure
            results.append(repr(e))


def test_killed_worker_is_replaced_under_load(own, name):
    create_provider(own, name)
    workers = own.wait_workers(3)
    stop, results = threading.Event(), []
    threads = [threading.Thread(target=load, args=(own, stop, results)) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)
    new = own.wait_workers(3, exclude=(victim,))
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert victim not in new
    ok = results.count(200)
    assert ok > 50, results[:20]
    # requests in flight on the killed worker may fail; the service keeps answering
    assert len(results) - ok <= 4, [r for r in results if r != 200]
    assert own.api("GET", "/v1/keymgmt/kms/" + name).status_code == 200
    exits = [l for l in own.keymgmtd_log_lines() if l.get("event") == "worker exited"
             and l.get("worker_pid") == victim]
    assert exits and exits[0]["signal"] == "Killed"


def test_postgres_restart(own, name):
    create_provider(own, name)
    own.pg_stop()
    try:
        for _ in range(6):  # every worker notices, none hangs
            t0 = time.time()
            r = own.api("GET", "/v1/keymgmt/kms/" + name)
            assert time.time() - t0 < 10
            assert r.status_code == 503, r.text
            assert r.json() == {"errors": ["storage unavailable"]}
        r = own.api("GET", "/v1/sys/health", token=False)
        assert r.status_code == 503
    finally:
        own.pg_start()
    for _ in range(10):  # every worker reconnects by itself
        r = own.api("GET", "/v1/keymgmt/kms/" + name)
        assert r.status_code == 200, r.text
    assert own.api("GET", "/v1/sys/health", token=False).status_code == 200


def test_sighup_reloads_config(own):
    before = own.wait_workers(3)
    conf = os.path.join(own.var, "keymgmt.conf")
    with open(conf) as f:
        original = f.read()
    try:
        with open(conf, "a") as f:
            f.write("workers = 2\n")
        # the environment (KEYMGMT_WORKERS=3) still wins over the file: nothing changes
        own.signal_master(signal.SIGHUP)
        time.sleep(1.5)
        after = own.wait_workers(3)
        assert not set(before) & set(after)  # a new generation of workers
        with open(conf, "a") as f:
            f.write("no_such_key = 1\n")
        own.signal_master(signal.SIGHUP)
        time.sleep(1)
        assert own.worker_pids() == after  # invalid config: reload refused, nothing restarted
        assert any(l.get("event") == "reload refused" and "no_such_key" in l.get("msg", "")
                   for l in own.keymgmtd_log_lines())
        assert own.api("GET", "/v1/sys/health", token=False).status_code == 200
    finally:
        with open(conf, "w") as f:
            f.write(original)


def run_keymgmtd(own, extra_env, args=()):
    env = dict(own.env)
    env.update(extra_env)
    return subprocess.run([os.path.join(BUILD, "keymgmtd"), *args], env=env,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("key,value", [("workers", "-1"), ("workers", "many"),
                                       ("max_body_bytes", "0"), ("listen_mode", "999"),
                                       ("allow_http_endpoints", "maybe"),
                                       ("deletion_window_days", "3"), ("mount", "a/b"),
                                       ("log_level", "loud")])
def test_invalid_config_refuses_to_start(own, key, value):
    r = run_keymgmtd(own, {"KEYMGMT_" + key.upper(): value,
                           "KEYMGMT_LISTEN": os.path.join(own.var, "run", "x.sock")},
                     ["-c", os.path.join(own.var, "keymgmt.conf")])
    assert r.returncode == 2
    assert key in r.stderr


def test_unknown_file_key_refuses_to_start(own, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("listen = %s/x.sock\nseal_key_file = %s/seal.key\nwrkers = 3\n"
                    % (tmp_path, own.var))
    r = run_keymgmtd(own, {}, ["-c", str(conf)])
    assert r.returncode == 2 and "wrkers" in r.stderr


def test_no_seal_key_refuses_to_start(own, tmp_path):
    conf = tmp_path / "noseal.conf"
    conf.write_text("listen = %s/x.sock\n" % tmp_path)
    r = run_keymgmtd(own, {}, ["-c", str(conf)])
    assert r.returncode == 2 and "seal" in r.stderr
    conf.write_text("listen = %s/x.sock\nseal_key_file = %s/missing\n" % (tmp_path, tmp_path))
    r = run_keymgmtd(own, {}, ["-c", str(conf)])
    assert r.returncode == 2 and "seal" in r.stderr
    bad = tmp_path / "short.key"
    bad.write_text("c2hvcnQ=\n")
    conf.write_text("listen = %s/x.sock\nseal_key_file = %s\n" % (tmp_path, bad))
    r = run_keymgmtd(own, {}, ["-c", str(conf)])
    assert r.returncode == 2 and "32-byte" in r.stderr


def test_second_instance_on_same_socket_refused(own):
    r = run_keymgmtd(own, {}, ["-c", os.path.join(own.var, "keymgmt.conf")])
    assert r.returncode == 2 and "in use" in r.stderr
    assert own.api("GET", "/v1/sys/health", token=False).status_code == 200


def test_migrate_is_idempotent_and_concurrent(own):
    procs = [subprocess.Popen([os.path.join(BUILD, "keymgmtctl"), "-c",
                               os.path.join(own.var, "keymgmt.conf"), "migrate"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert "0 migration(s) applied" in err
    files = sorted(f for f in os.listdir(os.path.join(os.path.dirname(BUILD), "sql"))
                   if f.endswith(".sql"))
    rows = own.psql("SELECT name FROM schema_migrations ORDER BY version").split()
    assert rows == files


def test_migrations_on_an_empty_database_concurrently(own):
    r = own._as_pg(["createdb", "-h", own.pgsock, "-U", "postgres", "migrate_race"])
    assert r.returncode == 0, r.stderr
    env = dict(own.env)
    env["KEYMGMT_DATABASE_URL"] = "host=%s dbname=migrate_race user=postgres" % own.pgsock
    procs = [subprocess.Popen([os.path.join(BUILD, "keymgmtctl"), "migrate"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    applied = []
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        applied.append(int(err.split("keymgmtctl: ")[-1].split()[0]))
    nfiles = len([f for f in os.listdir(os.path.join(os.path.dirname(BUILD), "sql"))
                  if f.endswith(".sql")])
    assert sorted(applied) == [0, 0, 0, nfiles]


def test_sigterm_drains_in_flight_requests(name):
    """Requests blocked in the database when SIGTERM arrives are answered, then the pool exits."""
    s = Stack(name="drain").up()
    try:
        # hold a lock so provider writes wait inside keymgmtd
        argv = ["psql", "-h", s.pgsock, "-U", "postgres", "-d", "keymgmt", "-c",
                "BEGIN; LOCK TABLE providers IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;"]
        if os.getuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        lock = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        results = []

        def write(i):
            r = s.api("POST", "/v1/keymgmt/kms/%s-%d" % (name, i),
                      {"provider": "awskms", "key_collection": "us-east-1"})
            results.append(r.status_code)

        ts = [threading.Thread(target=write, args=(i,)) for i in range(3)]
        for t in ts:
            t.start()
        time.sleep(0.7)
        master = s.master_pid()
        t0 = time.time()
        s.signal_master(signal.SIGTERM)
        for t in ts:
            t.join()
        lock.wait(timeout=30)
        assert results == [204, 204, 204]
        assert time.time() - t0 > 1  # they waited for the lock, after SIGTERM
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                os.kill(master, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("keymgmtd did not exit after SIGTERM")
        assert not os.path.exists(os.path.join(s.var, "run", "keymgmt.sock"))
        with open(os.path.join(s.var, "log", "keymgmtd.log")) as f:
            assert '"event":"stopped"' in f.read()
    finally:
        s.down()
