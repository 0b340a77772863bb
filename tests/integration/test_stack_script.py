"""deploy/stack.sh (what make up / make down / make run use): up twice is harmless, down
stops only what up started, an external database is left alone, run stops on Ctrl-C."""
import os
import signal
import subprocess
import time

import requests

from stack import ROOT, Stack


def pid(stack, name):
    with open(os.path.join(stack.var, "run", name)) as f:
        return int(f.read())


def alive(p):
    try:
        os.kill(p, 0)
        return True
    except ProcessLookupError:
        return False


def test_up_twice_and_down():
    s = Stack(name="twice").up()
    try:
        before = (pid(s, "keymgmtd.pid"), pid(s, "nginx.pid"))
        token = s.token
        s.up()  # again: nothing restarted, same token
        assert (pid(s, "keymgmtd.pid"), pid(s, "nginx.pid")) == before
        assert s.token == token
        assert requests.get(s.url + "/v1/sys/health").status_code == 200
    finally:
        s.down()
    assert not any(alive(p) for p in before)


def test_external_database_is_left_running():
    owner = Stack(name="dbowner").up()
    try:
        url = "host=%s dbname=keymgmt user=postgres" % owner.pgsock
        guest = Stack(name="guest", extra_env={"KEYMGMT_DATABASE_URL": url})
        # one database, one seal key: the guest gets the owner's
        with open(os.path.join(owner.var, "seal.key")) as f, \
                open(os.path.join(guest.var, "seal.key"), "w") as g:
            g.write(f.read())
        guest.up()
        # the guest serves the owner's data: same database, same token key
        r = requests.post(owner.url + "/v1/keymgmt/kms/shared",
                          json={"provider": "awskms", "key_collection": "us-east-1"},
                          headers={"X-Vault-Token": owner.token})
        assert r.status_code == 204
        assert not os.path.exists(os.path.join(guest.var, "pg"))
        guest.down()
        # the owner's PostgreSQL still runs
        r = requests.get(owner.url + "/v1/keymgmt/kms/shared",
                         headers={"X-Vault-Token": owner.token})
        assert r.status_code == 200
    finally:
        owner.down()


def test_run_stays_in_foreground_until_interrupted():
    s = Stack(name="run")
    proc = subprocess.Popen([os.path.join(ROOT, "deploy", "stack.sh"), "run"], env=s.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = ""
        deadline = time.time() + 120
        while "Ctrl-C" not in out and time.time() < deadline:
            out += proc.stdout.readline()
        assert "VAULT_ADDR=http://127.0.0.1:%d" % s.port in out
        assert "VAULT_TOKEN=kmt." in out
        assert requests.get(s.url + "/v1/sys/health").status_code == 200
        keymgmtd = pid(s, "keymgmtd.pid")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        assert not alive(keymgmtd)
        assert not os.path.exists(os.path.join(s.var, "run", "pg.started"))
    finally:
        if proc.poll() is None:
            proc.kill()
        s.down()
