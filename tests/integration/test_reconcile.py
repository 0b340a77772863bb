"""keymgmtctl reconcile: drift made behind keymgmt's back in the emulator is reported,
and --repair fixes what is safe to fix."""
import os
import subprocess
import uuid

import botocore.session
import pytest

from stack import BUILD
from test_distribute import Region, aws_stack, aws_keys, aliases, distribute, new_key


@pytest.fixture(scope="module")
def rstack():
    with aws_stack("rec") as s:
        yield s


@pytest.fixture(scope="module")
def region():
    with Region("ap-southeast-4") as r:
        yield r


def kms(region):
    return botocore.session.get_session().create_client(
        "kms", region_name=region.region, endpoint_url=region.emu.url,
        aws_access_key_id=region.access_key, aws_secret_access_key=region.secret_key)


def reconcile(stack, *args):
    env = dict(stack.env)
    return subprocess.run([os.path.join(BUILD, "keymgmtctl"), "-c",
                           os.path.join(stack.var, "keymgmt.conf"), "reconcile", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def by_version(region, key):
    return {int(k["tags"]["keymgmt:version"]): k for k in aws_keys(region.emu, key).values()}


def test_reconcile_reports_and_repairs(rstack, region):
    p = region.add_provider(rstack, "rec-" + uuid.uuid4().hex[:6])
    k1, k2, k3 = new_key(rstack), new_key(rstack), new_key(rstack)
    assert distribute(rstack, p, k1).status_code == 204
    for _ in range(2):
        assert rstack.api("POST", "/v1/keymgmt/key/%s/rotate" % k1).status_code == 204
    assert rstack.api("POST", "/v1/keymgmt/key/" + k1, {"min_enabled_version": 2}).status_code == 204
    assert distribute(rstack, p, k2).status_code == 204
    assert rstack.api("DELETE", "/v1/keymgmt/kms/%s/key/%s" % (p, k2)).status_code == 204

    r = reconcile(rstack, p)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 drift(s) repaired, 0 remaining" in r.stdout

    # drift behind keymgmt's back
    c = kms(region)
    v = by_version(region, k1)
    c.disable_key(KeyId=v[3]["KeyId"])
    c.enable_key(KeyId=v[1]["KeyId"])
    c.schedule_key_deletion(KeyId=v[2]["KeyId"], PendingWindowInDays=7)
    c.cancel_key_deletion(KeyId=by_version(region, k2)[1]["KeyId"])
    alias = list(aliases(region.emu, k1))[0]
    c.update_alias(AliasName=alias, TargetKeyId=v[1]["KeyId"])
    stray = c.create_key(Origin="EXTERNAL", Tags=[
        {"TagKey": "keymgmt:key", "TagValue": "ghost"},
        {"TagKey": "keymgmt:nonce", "TagValue": "f" * 32}])["KeyMetadata"]["KeyId"]
    c.create_alias(AliasName="alias/keymgmt/ghost-1", TargetKeyId=stray)
    # a CreateKey whose answer is lost
    region.emu.inject(operation="CreateKey", action="drop_after", count=1)
    assert distribute(rstack, p, k3).status_code == 502
    region.emu.clear_faults()

    r = reconcile(rstack, p)
    assert r.returncode == 1
    out = r.stdout
    for kind, needle in (("disabled", k1 + " version 3"), ("enabled", k1 + " version 1"),
                         ("pending-deletion", k1 + " version 2"),
                         ("not-pending-deletion", k2 + " version 1"),
                         ("alias-moved", alias), ("untracked", stray),
                         ("alias-unknown", "alias/keymgmt/ghost-1"),
                         ("adoptable", k3 + " version 1")):
        lines = [l for l in out.splitlines() if ": %s: " % kind in l]
        assert lines and needle in lines[0], (kind, out)
    assert "8 remaining" in out
    # reporting changed nothing
    assert by_version(region, k1)[3]["KeyState"] == "Disabled"

    r = reconcile(rstack, p, "--repair")
    assert r.returncode == 1, r.stdout + r.stderr  # the two report-only drifts remain
    assert "6 drift(s) repaired, 2 remaining" in r.stdout, r.stdout
    v = by_version(region, k1)
    assert [v[i]["KeyState"] for i in (1, 2, 3)] == ["Disabled", "Enabled", "Enabled"]
    assert aliases(region.emu, k1) == {alias: v[3]["KeyId"]}
    assert by_version(region, k2)[1]["KeyState"] == "PendingDeletion"
    k3v = by_version(region, k3)
    assert len(k3v) == 1 and k3v[1]["KeyState"] == "Enabled"  # adopted and finished, not duplicated
    assert rstack.api("GET", "/v1/keymgmt/kms/%s/key/%s" % (p, k3)).json()["data"]["versions"] == \
        {"1": k3v[1]["KeyId"]}

    r = reconcile(rstack)  # all providers
    assert r.returncode == 1
    assert "0 drift(s) repaired, 2 remaining" in r.stdout
    assert ": untracked: " in r.stdout and ": alias-unknown: " in r.stdout


def test_reconcile_unknown_provider(rstack):
    r = reconcile(rstack, "nope-" + uuid.uuid4().hex[:6])
    assert r.returncode == 2 and "not found" in r.stdout
