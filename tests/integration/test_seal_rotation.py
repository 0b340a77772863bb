"""Seal key rotation while requests are served: every secret ends under the new key,
and every key and provider still reads and works."""
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import secret
from stack import BUILD, Stack
from test_distribute import Region, aws_keys


@pytest.fixture(scope="module")
def own():
    s = Stack(name="seal", extra_env={"KEYMGMT_WORKERS": "2"}).up()
    yield s
    s.down()


def set_config(stack, **kv):
    conf = os.path.join(stack.var, "keymgmt.conf")
    with open(conf) as f:
        lines = [l for l in f if l.split("=")[0].strip() not in kv]
    lines += ["%s = %s\n" % item for item in kv.items()]
    with open(conf, "w") as f:
        f.writelines(lines)


def reload(stack):
    before = set(stack.worker_pids())
    stack.signal_master(signal.SIGHUP)
    deadline = time.time() + 15
    while time.time() < deadline:
        now = set(stack.worker_pids())
        if len(now) == 2 and not now & before:
            return
        time.sleep(0.05)
    raise AssertionError("workers were not replaced after SIGHUP")


def key_ids(stack):
    rows = stack.psql(
        "SELECT encode(substring(sealed from 2 for 8), 'hex') FROM secrets UNION ALL "
        "SELECT encode(substring(credentials from 2 for 8), 'hex') FROM providers "
        "WHERE credentials IS NOT NULL UNION ALL "
        "SELECT encode(substring(material from 2 for 8), 'hex') FROM key_versions")
    return rows.split()


def test_rotation_under_load(own):
    with Region("us-east-2") as region:
        rotation_under_load(own, region)


def rotation_under_load(own, region):
    # some state under the first key, including a provider pointing at an emulator
    region.add_provider(own, "emu")
    for i in range(5):
        assert own.api("POST", "/v1/keymgmt/kms/p%d" % i, {
            "provider": "awskms", "key_collection": "us-east-1",
            "credentials": {"access_key": secret(), "secret_key": secret()}}).status_code == 204
        assert own.api("POST", "/v1/keymgmt/key/k%d" % i,
                       {"type": "aes256-gcm96"}).status_code == 204
        own.api("POST", "/v1/keymgmt/key/k%d/rotate" % i)
    old_ids = set(key_ids(own))
    assert len(old_ids) == 1

    new_key = os.path.join(own.var, "seal-2.key")
    with open(new_key, "w") as f:
        f.write(own.ctl("seal", "generate").stdout)
    old_key = os.path.join(own.var, "seal.key")

    stop, failures, writes = threading.Event(), [], [0]

    def load(n):
        i = 0
        while not stop.is_set():
            i += 1
            for method, path, body in (
                ("POST", "/v1/keymgmt/kms/load%d-%d" % (n, i % 7),
                 {"provider": "awskms", "key_collection": "eu-west-1",
                  "credentials": {"access_key": secret(), "secret_key": secret()}}),
                ("POST", "/v1/keymgmt/key/k%d/rotate" % (i % 5), None),
                ("GET", "/v1/keymgmt/kms/p%d" % (i % 5), None),
                ("GET", "/v1/keymgmt/key/k%d" % (i % 5), None),
            ):
                r = own.api(method, path, body)
                if r.status_code not in (200, 204):
                    failures.append((method, path, r.status_code, r.text))
                writes[0] += 1

    threads = [threading.Thread(target=load, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        # 1. serve with the new key, keep the old one for reading
        set_config(own, seal_key_file=new_key, seal_previous_keys=old_key)
        reload(own)
        time.sleep(0.3)
        # 2. re-encrypt in small batches while the load runs
        env = dict(own.env, KEYMGMT_SEAL_KEY_FILE=new_key, KEYMGMT_SEAL_PREVIOUS_KEYS=old_key)
        r = subprocess.run([os.path.join(BUILD, "keymgmtctl"), "-c",
                            os.path.join(own.var, "keymgmt.conf"), "seal", "rotate", "--batch",
                            "3"], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:5]
    assert writes[0] > 20
    # 3. resumable: a second run finds at most what slipped in, then nothing
    own.ctl("seal", "rotate")
    status = own.ctl("seal", "status").stdout
    assert "under other keys: 0" in status, status
    new_ids = set(key_ids(own))
    assert len(new_ids) == 1 and not new_ids & old_ids

    # 4. drop the old key: everything still opens with the new one alone
    set_config(own, seal_previous_keys="")
    reload(own)
    r = own.ctl("seal", "verify", check=False)
    assert r.returncode == 0 and ", 0 do not" in r.stdout, r.stdout + r.stderr
    for i in range(5):
        assert own.api("GET", "/v1/keymgmt/kms/p%d" % i).status_code == 200
        assert own.api("GET", "/v1/keymgmt/key/k%d" % i).status_code == 200
        assert own.api("POST", "/v1/keymgmt/key/k%d/rotate" % i).status_code == 204
    # tokens still work: the token key itself was resealed
    assert own.api("GET", "/v1/auth/token/lookup-self").status_code == 200
    # resealed credentials and material still work: distribute a key rotated across the change
    r = own.api("POST", "/v1/keymgmt/kms/emu/key/k0", {"purpose": "encrypt,decrypt"})
    assert r.status_code == 204, r.text
    versions = own.api("GET", "/v1/keymgmt/key/k0").json()["data"]["latest_version"]
    keys = aws_keys(region.emu, "k0")
    assert len(keys) == versions > 2
    assert len({k["material_sha256"] for k in keys.values()}) == versions


def test_verify_detects_a_missing_key(own, tmp_path):
    other = tmp_path / "other.key"
    other.write_text(own.ctl("seal", "generate").stdout)
    env = dict(own.env, KEYMGMT_SEAL_KEY_FILE=str(other), KEYMGMT_SEAL_PREVIOUS_KEYS="")
    r = subprocess.run([os.path.join(BUILD, "keymgmtctl"), "-c",
                        os.path.join(own.var, "keymgmt.conf"), "seal", "verify"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "0 secrets open" in r.stdout


def test_swapped_material_is_detected(own):
    """A version's sealed material copied onto another version fails to open."""
    own.psql("UPDATE key_versions SET material = (SELECT material FROM key_versions "
             "WHERE key_name = 'k0' AND version = 1) WHERE key_name = 'k0' AND version = 2")
    r = own.ctl("seal", "verify", check=False)
    assert r.returncode == 1 and ", 1 do not" in r.stdout
