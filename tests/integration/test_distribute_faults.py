"""Fault injection at every AWS step of a distribution, and a worker killed while an AWS
call hangs: each request fails cleanly or succeeds after retries, retrying converges, and
at the end the AWS keys in the emulator are exactly the ones keymgmt records — no orphan,
no duplicate."""
import collections
import os
import signal
import threading
import time
import uuid

import pytest

from test_distribute import (Region, aws_stack, aws_keys, aliases, distribute,
                             new_key, read_dist, recorded)


@pytest.fixture(scope="module")
def fstack():
    with aws_stack("faults") as s:
        yield s


@pytest.fixture(scope="module")
def region():
    with Region("us-west-2") as r:
        yield r


@pytest.fixture(scope="module")
def provider(fstack, region):
    return region.add_provider(fstack, "faults-" + uuid.uuid4().hex[:6])


def rotate(stack, key):
    return stack.api("POST", "/v1/keymgmt/key/%s/rotate" % key)


def set_min(stack, key, v):
    return stack.api("POST", "/v1/keymgmt/key/" + key, {"min_enabled_version": v})


def remove(stack, provider, key):
    return stack.api("DELETE", "/v1/keymgmt/kms/%s/key/%s" % (provider, key))


# op → (prepare without faults, the request the fault hits, the request that finishes the job,
#       whether the distribution is gone at the end)
def _distribute(s, p, k):
    return distribute(s, p, k)


STEPS = {
    "CreateKey": (None, _distribute, _distribute, False),
    "GetParametersForImport": (None, _distribute, _distribute, False),
    "ImportKeyMaterial": (None, _distribute, _distribute, False),
    "CreateAlias": (None, _distribute, _distribute, False),
    # a failed propagation of a rotation is finished by posting the distribution again
    "UpdateAlias": (_distribute, lambda s, p, k: rotate(s, k), _distribute, False),
    "DisableKey": (lambda s, p, k: (_distribute(s, p, k), rotate(s, k)),
                   lambda s, p, k: set_min(s, k, 2), lambda s, p, k: set_min(s, k, 2), False),
    "EnableKey": (lambda s, p, k: (_distribute(s, p, k), rotate(s, k), set_min(s, k, 2)),
                  lambda s, p, k: set_min(s, k, 0), lambda s, p, k: set_min(s, k, 0), False),
    "DeleteAlias": (_distribute, remove, remove, True),
    "ScheduleKeyDeletion": (lambda s, p, k: (_distribute(s, p, k), rotate(s, k)), remove,
                            remove, True),
}

FAULTS = {
    "error": dict(action="error", code="KMSInternalException", status=500, count=3),
    "throttled-then-ok": dict(action="error", code="ThrottlingException", status=400, count=2),
    "throttled-out": dict(action="error", code="ThrottlingException", status=400, count=9),
    "timeout": dict(action="delay", delay_ms=1300, count=3),
    "dropped": dict(action="drop", count=6),
    "lost-answer": dict(action="drop_after", count=1),
}


def converged(stack, region, provider, key, gone):
    keys = aws_keys(region.emu, key)
    rows = recorded(stack, provider, key)
    # exactly the keys keymgmt records, each once
    assert sorted(r[1] for r in rows) == sorted(keys), (rows, sorted(keys))
    per_version = collections.Counter(int(k["tags"]["keymgmt:version"]) for k in keys.values())
    assert all(n == 1 for n in per_version.values()), per_version
    if gone:
        assert aliases(region.emu, key) == {}
        assert {k["KeyState"] for k in keys.values()} == {"PendingDeletion"}
        return
    latest = stack.api("GET", "/v1/keymgmt/key/" + key).json()["data"]
    live = {int(k["tags"]["keymgmt:version"]): k for k in keys.values()}
    assert sorted(live) == list(range(1, latest["latest_version"] + 1))
    m = latest["min_enabled_version"]
    for v, k in live.items():
        assert k["KeyState"] == ("Enabled" if m == 0 or v >= m else "Disabled"), (v, k["KeyState"])
        assert k["material_sha256"]
    data = read_dist(stack, provider, key)
    assert aliases(region.emu, key) == {
        "alias/keymgmt/" + data["name"]: live[latest["latest_version"]]["KeyId"]}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("op", list(STEPS))
def test_fault_at_every_step(fstack, region, provider, op, fault):
    prepare, act, finish, gone = STEPS[op]
    key = new_key(fstack)
    if prepare:
        prepare(fstack, provider, key)
    region.emu.clear_faults()
    region.emu.clear_requests()
    spec = FAULTS[fault]
    region.emu.inject(operation=op, **spec)
    r = act(fstack, provider, key)
    assert r.status_code in (204, 502), r.text
    if r.status_code == 502:
        assert r.json()["errors"][0].startswith(("aws kms: ", "key \"%s\" was changed" % key))
    if spec["action"] == "delay":
        time.sleep(spec["delay_ms"] / 1000.0 + 0.3)  # let the late AWS calls land (and log)
    hit = [q for q in region.emu.requests() if q["operation"] == op]
    assert hit and hit[0]["fault"] is not None, "the fault was not exercised"
    if fault == "throttled-then-ok":
        assert r.status_code == 204, r.text  # the SDK retry absorbs two throttles
    if fault in ("error", "throttled-out"):
        assert r.status_code == 502
    region.emu.clear_faults()
    r = finish(fstack, provider, key)
    assert r.status_code == 204, r.text
    converged(fstack, region, provider, key, gone)


def test_worker_killed_while_aws_call_hangs(fstack, region, provider):
    key = new_key(fstack)
    region.emu.clear_faults()
    region.emu.inject(operation="ImportKeyMaterial", action="delay", delay_ms=5000, count=3)
    result = {}

    def run():
        result["r"] = distribute(fstack, provider, key)

    t = threading.Thread(target=run)
    t.start()
    deadline = time.time() + 10
    while time.time() < deadline and not any(q["operation"] == "ImportKeyMaterial"
                                             for q in region.emu.requests()):
        time.sleep(0.02)
    time.sleep(0.2)  # inside the hanging call (each attempt waits up to aws_timeout, 800 ms)
    victims = fstack.worker_pids()
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    t.join(timeout=30)
    assert result["r"].status_code in (204, 502)
    fstack.wait_workers(3, exclude=victims)
    region.emu.clear_faults()
    r = distribute(fstack, provider, key)
    assert r.status_code == 204, r.text
    converged(fstack, region, provider, key, False)


def test_lost_create_key_answer_is_recovered_not_duplicated(fstack, region, provider):
    key = new_key(fstack)
    region.emu.clear_faults()
    region.emu.inject(operation="CreateKey", action="drop_after", count=1)
    r = distribute(fstack, provider, key)
    assert r.status_code == 502
    assert len(aws_keys(region.emu, key)) == 1  # AWS made it; keymgmt did not hear back
    assert recorded(fstack, provider, key)[0][1] == ""  # recorded as attempted, id unknown
    region.emu.clear_requests()
    assert distribute(fstack, provider, key).status_code == 204
    ops = [q["operation"] for q in region.emu.requests()]
    assert "CreateKey" not in ops and "ListKeys" in ops  # found by its nonce tag
    converged(fstack, region, provider, key, False)


def test_emulator_holds_exactly_what_keymgmt_records(fstack, region, provider):
    """After every scenario above: no orphan and no duplicate in the whole region."""
    time.sleep(1.5)  # delayed calls from the timeout scenarios have landed
    emu_keys = {k["KeyId"]: k for k in region.emu.state()["keys"]}
    rows = fstack.psql("SELECT aws_key_id, distribution_id, version FROM aws_keys "
                       "WHERE provider_name = '%s'" % provider).split()
    recorded_ids = [r.split("|")[0] for r in rows]
    assert len(recorded_ids) > 50
    assert "" not in recorded_ids
    assert sorted(recorded_ids) == sorted(emu_keys)
    per = collections.Counter((r.split("|")[1], r.split("|")[2]) for r in rows)
    assert max(per.values()) == 1
    assert all(q["signature_valid"] for q in region.emu.requests())
