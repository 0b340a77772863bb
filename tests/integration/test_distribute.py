"""Distribution of keys into AWS KMS, against the KMS emulator (which checks every
SigV4 signature like AWS): the whole lifecycle, the rules, concurrency and hvac."""
import hashlib
import re
import threading
import time
import uuid

import hvac
import pytest

from conftest import secret
from emulator import start_emulator
from stack import Stack
from test_http_contract import assert_error

AWS_ENV = {
    # the credential chain must find only what a test gives it
    "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
    "AWS_KMS_ENDPOINT": "", "AWS_PROFILE": "", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
    "AWS_EC2_METADATA_DISABLED": "true",
}
FAST_AWS = {
    "KEYMGMT_AWS_TIMEOUT": "800",
    "KEYMGMT_AWS_CONNECT_TIMEOUT": "500",
    "KEYMGMT_AWS_BACKOFF_UNIT": "5",
    "KEYMGMT_DELETION_WINDOW_DAYS": "7",
    "KEYMGMT_WORKERS": "3",
}


def aws_stack(name):
    """A stack whose credential chain finds only what a test gives it, with short AWS
    timeouts; use it as a context manager."""
    return Stack(name=name, extra_env=dict(AWS_ENV, **FAST_AWS))


@pytest.fixture(scope="module")
def dstack():
    with aws_stack("dist") as s:
        yield s


class Region:
    """An emulator for one region, and the provider pointing at it."""

    def __init__(self, region, session_token=None):
        self.region = region
        self.access_key = "AKID" + uuid.uuid4().hex[:12].upper()
        self.secret_key = secret("sk")
        self.session_token = session_token
        self.emu = start_emulator(self.access_key, self.secret_key, session_token=session_token,
                                  region=region)
        self.warm_up()

    def warm_up(self):
        """The emulator makes its RSA-4096 wrapping key on first use, which can take longer
        than the tests' short aws_timeout: make it now, then forget the key."""
        import botocore.session
        c = botocore.session.get_session().create_client(
            "kms", region_name=self.region, endpoint_url=self.emu.url,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            aws_session_token=self.session_token)
        kid = c.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        c.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                    WrappingKeySpec="RSA_4096")
        self.emu.reset()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.emu.stop()

    def credentials(self):
        c = {"access_key": self.access_key, "secret_key": self.secret_key,
             "endpoint": self.emu.url}
        if self.session_token:
            c["session_token"] = self.session_token
        return c

    def add_provider(self, stack, name):
        r = stack.api("POST", "/v1/keymgmt/kms/" + name,
                      {"provider": "awskms", "key_collection": self.region,
                       "credentials": self.credentials()})
        assert r.status_code == 204, r.text
        return name


@pytest.fixture(scope="module")
def regions():
    with Region("us-east-1") as a, Region("eu-west-1", session_token=secret("st")) as b:
        yield a, b


@pytest.fixture(autouse=True)
def clean_emulators(regions):
    for r in regions:
        r.emu.clear_faults()
        r.emu.reset()
    yield


def new_key(stack, name=None):
    name = name or "k" + uuid.uuid4().hex[:10]
    r = stack.api("POST", "/v1/keymgmt/key/" + name, {"type": "aes256-gcm96"})
    assert r.status_code == 204, r.text
    return name


def distribute(stack, provider, key, body=None):
    return stack.api("POST", "/v1/keymgmt/kms/%s/key/%s" % (provider, key),
                     body if body is not None else {"purpose": "encrypt,decrypt"})


def aws_keys(emu, key):
    """The emulator's keys of one keymgmt key: {KeyId: entry} with tags as a dict."""
    out = {}
    for k in emu.state()["keys"]:
        tags = {t["TagKey"]: t["TagValue"] for t in k.get("Tags") or []}
        if tags.get("keymgmt:key") == key:
            out[k["KeyId"]] = dict(k, tags=tags)
    return out


def aliases(emu, key):
    return {a["AliasName"]: a["TargetKeyId"] for a in emu.state()["aliases"]
            if re.match(r"^alias/keymgmt/%s-\d+$" % re.escape(key), a["AliasName"])}


def recorded(stack, provider, key):
    rows = stack.psql("SELECT version, aws_key_id, imported, enabled, deletion_scheduled "
                      "FROM aws_keys WHERE provider_name = '%s' AND key_name = '%s' "
                      "ORDER BY id" % (provider, key))
    return [r.split("|") for r in rows.split()]


def read_dist(stack, provider, key):
    r = stack.api("GET", "/v1/keymgmt/kms/%s/key/%s" % (provider, key))
    assert r.status_code == 200, r.text
    return r.json()["data"]


def check_state(stack, region, provider, key, versions, min_enabled=0, removed=()):
    """The emulator holds exactly what keymgmt records, in the states it should."""
    emu = region.emu
    keys = aws_keys(emu, key)
    rows = recorded(stack, provider, key)
    assert {r[1] for r in rows} == set(keys), (rows, keys)
    live = {k: v for k, v in keys.items() if k not in set(removed)}
    by_version = {}
    for kid, k in live.items():
        v = int(k["tags"]["keymgmt:version"])
        assert v not in by_version, "two AWS keys for version %d" % v
        by_version[v] = k
        assert k["Origin"] == "EXTERNAL" and k["material_sha256"]
        want = "Enabled" if min_enabled == 0 or v >= min_enabled else "Disabled"
        assert k["KeyState"] == want, (v, k["KeyState"])
        assert k["tags"]["keymgmt:distribution"].startswith(provider + "/" + key + "-")
    assert sorted(by_version) == list(range(1, versions + 1))
    data = read_dist(stack, provider, key)
    assert data["versions"] == {str(v): by_version[v]["KeyId"] for v in by_version}
    assert data["protection"] == "hsm"
    assert re.match(r"^%s-\d{10}$" % re.escape(key), data["name"])
    assert aliases(emu, key) == {"alias/keymgmt/" + data["name"]: by_version[versions]["KeyId"]}
    for k in removed:
        assert keys[k]["KeyState"] == "PendingDeletion"
    return {v: k["material_sha256"] for v, k in by_version.items()}


def all_signed(region):
    reqs = region.emu.requests()
    assert reqs, "no request reached the emulator"
    bad = [r for r in reqs if not r["signature_valid"]]
    assert not bad, bad[:3]
    if region.session_token:
        assert all(r["session_token_present"] for r in reqs)
    return reqs


def test_lifecycle(dstack, regions):
    east, west = regions
    p1 = east.add_provider(dstack, "use1-" + uuid.uuid4().hex[:6])
    p2 = west.add_provider(dstack, "euw1-" + uuid.uuid4().hex[:6])
    key = new_key(dstack)

    # distribute to two providers
    assert distribute(dstack, p1, key).status_code == 204
    d1 = check_state(dstack, east, p1, key, 1)
    assert distribute(dstack, p2, key, {"purpose": ["encrypt", "decrypt"]}).status_code == 204
    d2 = check_state(dstack, west, p2, key, 1)
    assert d1 == d2  # the same material in both regions
    data = read_dist(dstack, p1, key)
    assert data["purpose"] == ["encrypt", "decrypt"]
    r = dstack.api("LIST", "/v1/keymgmt/key/%s/kms" % key)
    assert r.json()["data"]["keys"] == sorted([p1, p2])
    assert dstack.api("LIST", "/v1/keymgmt/kms/%s/key" % p1).json()["data"]["keys"] == [key]

    # rotate twice: new AWS keys in both, alias moved
    for v in (2, 3):
        assert dstack.api("POST", "/v1/keymgmt/key/%s/rotate" % key).status_code == 204
        d1 = check_state(dstack, east, p1, key, v)
        d2 = check_state(dstack, west, p2, key, v)
        assert d1 == d2
        assert len(set(d1.values())) == v  # versions differ

    # raise min_enabled_version: older versions disabled in AWS; lower it: enabled again
    assert dstack.api("POST", "/v1/keymgmt/key/" + key, {"min_enabled_version": 3}).status_code == 204
    check_state(dstack, east, p1, key, 3, min_enabled=3)
    check_state(dstack, west, p2, key, 3, min_enabled=3)
    assert dstack.api("POST", "/v1/keymgmt/key/" + key, {"min_enabled_version": 2}).status_code == 204
    check_state(dstack, east, p1, key, 3, min_enabled=2)
    check_state(dstack, west, p2, key, 3, min_enabled=2)

    # the guards hold while distributed
    dstack.api("POST", "/v1/keymgmt/key/" + key, {"deletion_allowed": True})
    assert_error(dstack.api("DELETE", "/v1/keymgmt/key/" + key), 400, "distributed")
    assert_error(dstack.api("DELETE", "/v1/keymgmt/kms/" + p1), 400, "distributed")

    # remove from p1: alias deleted, every version's AWS key scheduled for deletion
    old = set(aws_keys(east.emu, key))
    assert dstack.api("DELETE", "/v1/keymgmt/kms/%s/key/%s" % (p1, key)).status_code == 204
    assert aliases(east.emu, key) == {}
    states = aws_keys(east.emu, key)
    assert {k["KeyState"] for k in states.values()} == {"PendingDeletion"}
    assert all(k.get("PendingWindowInDays") in (None, 7) for k in states.values())
    assert_error(dstack.api("GET", "/v1/keymgmt/kms/%s/key/%s" % (p1, key)), 404)
    assert dstack.api("LIST", "/v1/keymgmt/key/%s/kms" % key).json()["data"]["keys"] == [p2]
    assert dstack.api("DELETE", "/v1/keymgmt/kms/%s/key/%s" % (p1, key)).status_code == 204
    check_state(dstack, west, p2, key, 3, min_enabled=2)  # p2 untouched

    # distribute again: new AWS keys and a new alias (a new timestamp)
    time.sleep(1.1)
    assert distribute(dstack, p1, key).status_code == 204
    check_state(dstack, east, p1, key, 3, min_enabled=2, removed=old)

    # delete: remove everywhere, then the key
    for p in (p1, p2):
        assert dstack.api("DELETE", "/v1/keymgmt/kms/%s/key/%s" % (p, key)).status_code == 204
    assert dstack.api("DELETE", "/v1/keymgmt/key/" + key).status_code == 204
    for region in (east, west):
        assert {k["KeyState"] for k in aws_keys(region.emu, key).values()} == {"PendingDeletion"}
        assert aliases(region.emu, key) == {}
        all_signed(region)
    assert dstack.api("DELETE", "/v1/keymgmt/kms/" + p1).status_code == 204

    # the material imported into AWS is nowhere in the database in plaintext: no 32-byte
    # window of any bytea value in a dump hashes to an imported material's SHA-256
    digests = {k["material_sha256"] for r in (east, west) for k in aws_keys(r.emu, key).values()}
    assert len(digests) == 3
    dump = dstack.pg_dump()
    blobs = [bytes.fromhex(h) for h in re.findall(r"\\\\x([0-9a-f]{64,})", dump)]
    assert blobs
    for b in blobs:
        for i in range(len(b) - 31):
            assert hashlib.sha256(b[i:i + 32]).hexdigest() not in digests


def test_call_counts(dstack, regions):
    east, _ = regions
    p = east.add_provider(dstack, "calls-" + uuid.uuid4().hex[:6])
    key = new_key(dstack)
    east.emu.clear_requests()
    assert distribute(dstack, p, key).status_code == 204
    ops = [r["operation"] for r in all_signed(east)]
    assert ops == ["CreateKey", "GetParametersForImport", "ImportKeyMaterial", "CreateAlias"]
    # the same request again is an idempotent success that calls nothing
    east.emu.clear_requests()
    assert distribute(dstack, p, key).status_code == 204
    assert east.emu.requests() == []
    east.emu.clear_requests()
    assert dstack.api("POST", "/v1/keymgmt/key/%s/rotate" % key).status_code == 204
    ops = [r["operation"] for r in east.emu.requests()]
    assert ops == ["CreateKey", "GetParametersForImport", "ImportKeyMaterial", "UpdateAlias"]


@pytest.mark.parametrize("body,needle", [
    ({"purpose": "sign"}, "unsupported purpose"),
    ({"purpose": "encrypt,sign"}, "unsupported purpose"),
    ({"purpose": ""}, "purpose is required"),
    ({"purpose": []}, "purpose is required"),
    ({"purpose": " , "}, "purpose is required"),
    ({}, "purpose is required"),
    ({"purpose": 5}, "purpose"),
    ({"purpose": [1]}, "purpose"),
    ({"purpose": "encrypt", "protection": "software"}, "HSM"),
    ({"purpose": "encrypt", "protection": "HSM"}, "protection"),
    ({"purpose": "encrypt", "protection": 1}, "protection"),
])
def test_bad_distribution_requests(dstack, regions, body, needle):
    east, _ = regions
    p = east.add_provider(dstack, "bad-" + uuid.uuid4().hex[:6])
    key = new_key(dstack)
    assert_error(distribute(dstack, p, key, body), 400, needle)
    assert_error(dstack.api("GET", "/v1/keymgmt/kms/%s/key/%s" % (p, key)), 404)
    assert east.emu.requests() == []


def test_distribution_rules(dstack, regions):
    east, _ = regions
    p = east.add_provider(dstack, "rules-" + uuid.uuid4().hex[:6])
    key = new_key(dstack)
    # only aes256-gcm96 keys go to awskms
    rsa = "rsa-" + uuid.uuid4().hex[:6]
    dstack.api("POST", "/v1/keymgmt/key/" + rsa, {"type": "rsa-2048"})
    errors = assert_error(distribute(dstack, p, rsa), 400, "rsa-2048")
    assert "awskms" in errors[0]
    # unknown provider or key
    assert_error(distribute(dstack, "nope-" + uuid.uuid4().hex[:6], key), 400, "provider")
    assert_error(distribute(dstack, p, "nokey-" + uuid.uuid4().hex[:6]), 400, "key")
    # names that cannot become alias names
    dotted = new_key(dstack, "dot." + uuid.uuid4().hex[:6])
    assert_error(distribute(dstack, p, dotted), 400, "alias")
    # parameters cannot change after distribution; the same ones are idempotent
    assert distribute(dstack, p, key, {"purpose": "encrypt"}).status_code == 204
    assert_error(distribute(dstack, p, key, {"purpose": "encrypt,decrypt"}), 400,
                 "purpose cannot be changed")
    assert distribute(dstack, p, key, {"purpose": ["encrypt", " encrypt "]}).status_code == 204
    assert read_dist(dstack, p, key)["purpose"] == ["encrypt"]
    # bad names in the path
    for target in ("/v1/keymgmt/kms/%s/key/.." % p, "/v1/keymgmt/kms/%s/key/a%%2Fb" % p,
                   "/v1/keymgmt/kms/../key/%s" % key):
        assert_error(dstack.raw("POST", target, body=b'{"purpose":"encrypt"}'), 400, "invalid name")
    # reads of absent things
    assert assert_error(dstack.api("GET", "/v1/keymgmt/kms/%s/key/nothing" % p), 404) == []
    other = east.add_provider(dstack, "empty-" + uuid.uuid4().hex[:6])
    assert assert_error(dstack.api("LIST", "/v1/keymgmt/kms/%s/key" % other), 404) == []
    assert dstack.api("DELETE", "/v1/keymgmt/kms/%s/key/nothing" % p).status_code == 204


def test_aws_errors_are_502_without_secrets(dstack, regions):
    east, _ = regions
    p = "wrong-" + uuid.uuid4().hex[:6]
    wrong = secret("wrong")
    r = dstack.api("POST", "/v1/keymgmt/kms/" + p, {
        "provider": "awskms", "key_collection": "us-east-1",
        "credentials": {"access_key": east.access_key, "secret_key": wrong,
                        "endpoint": east.emu.url}})
    assert r.status_code == 204
    key = new_key(dstack)
    r = distribute(dstack, p, key)
    errors = assert_error(r, 502, "aws kms: InvalidSignatureException")
    assert wrong not in r.text and east.secret_key not in r.text
    assert errors[0].startswith("aws kms: InvalidSignatureException: ")
    # nothing was made, so nothing is left behind
    assert_error(dstack.api("GET", "/v1/keymgmt/kms/%s/key/%s" % (p, key)), 404)
    assert aws_keys(east.emu, key) == {}


def test_missing_credentials_explain_the_chain(dstack, regions):
    east, _ = regions
    p = "nocreds-" + uuid.uuid4().hex[:6]
    r = dstack.api("POST", "/v1/keymgmt/kms/" + p, {
        "provider": "awskms", "key_collection": "us-east-1",
        "credentials": {"endpoint": east.emu.url}})
    assert r.status_code == 204
    key = new_key(dstack)
    errors = assert_error(distribute(dstack, p, key), 400, "no aws credentials found")
    for source in ("environment", "shared credentials file", "instance metadata"):
        assert source in errors[0], errors[0]
    assert east.emu.requests() == []


def test_concurrent_distributes_and_rotations(dstack, regions):
    east, _ = regions
    p = east.add_provider(dstack, "race-" + uuid.uuid4().hex[:6])
    key = new_key(dstack)
    for _ in range(2):
        dstack.api("POST", "/v1/keymgmt/key/%s/rotate" % key)
    barrier = threading.Barrier(6)
    codes = []

    def run(action):
        barrier.wait()
        if action == "rotate":
            codes.append(dstack.api("POST", "/v1/keymgmt/key/%s/rotate" % key).status_code)
        else:
            codes.append(distribute(dstack, p, key).status_code)

    threads = [threading.Thread(target=run, args=(a,))
               for a in ["distribute"] * 4 + ["rotate"] * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(204) == 6, codes
    # whatever the interleaving: one AWS key per version, alias on the newest
    latest = dstack.api("GET", "/v1/keymgmt/key/" + key).json()["data"]["latest_version"]
    assert latest == 5
    assert distribute(dstack, p, key).status_code == 204
    check_state(dstack, east, p, key, 5)
    creates = [r for r in east.emu.requests() if r["operation"] == "CreateKey"]
    assert len(creates) == 5


def test_hvac_drives_the_main_flow(dstack, regions):
    east, _ = regions
    c = hvac.Client(url=dstack.url, token=dstack.token)
    p = "hvac-" + uuid.uuid4().hex[:6]
    key = "hk" + uuid.uuid4().hex[:6]
    c.write("keymgmt/kms/" + p, provider="awskms", key_collection="us-east-1",
            credentials=east.credentials())
    c.write("keymgmt/key/" + key, type="aes256-gcm96")
    c.write("keymgmt/kms/%s/key/%s" % (p, key), purpose=["encrypt", "decrypt"], protection="hsm")
    c.write("keymgmt/key/%s/rotate" % key)
    data = c.read("keymgmt/kms/%s/key/%s" % (p, key))["data"]
    assert sorted(data["versions"]) == ["1", "2"]
    assert c.list("keymgmt/kms/%s/key" % p)["data"]["keys"] == [key]
    assert c.list("keymgmt/key/%s/kms" % key)["data"]["keys"] == [p]
    c.delete("keymgmt/kms/%s/key/%s" % (p, key))
    assert c.read("keymgmt/kms/%s/key/%s" % (p, key)) is None
    c.write("keymgmt/key/" + key, deletion_allowed=True)
    c.delete("keymgmt/key/" + key)
    c.delete("keymgmt/kms/" + p)
    assert len(aws_keys(east.emu, key)) == 2


def test_interrupted_removal_is_finished_by_delete(dstack, regions):
    east, _ = regions
    p = east.add_provider(dstack, "rm-" + uuid.uuid4().hex[:6])
    key = new_key(dstack)
    assert distribute(dstack, p, key).status_code == 204
    # the removal fails at its first AWS step: wrong credentials
    good = east.credentials()
    bad = dict(good, secret_key=secret("bad"))
    assert dstack.api("POST", "/v1/keymgmt/kms/" + p, {"credentials": bad}).status_code == 204
    r = dstack.api("DELETE", "/v1/keymgmt/kms/%s/key/%s" % (p, key))
    assert_error(r, 502, "InvalidSignatureException")
    assert bad["secret_key"] not in r.text
    # half removed: still recorded (the guards hold), and nothing but DELETE may touch it
    assert_error(dstack.api("DELETE", "/v1/keymgmt/kms/" + p), 400, "distributed")
    assert_error(distribute(dstack, p, key), 400, "being removed")
    # fixed credentials: DELETE again finishes the job
    assert dstack.api("POST", "/v1/keymgmt/kms/" + p, {"credentials": good}).status_code == 204
    assert dstack.api("DELETE", "/v1/keymgmt/kms/%s/key/%s" % (p, key)).status_code == 204
    assert aliases(east.emu, key) == {}
    assert {k["KeyState"] for k in aws_keys(east.emu, key).values()} == {"PendingDeletion"}
    assert_error(dstack.api("GET", "/v1/keymgmt/kms/%s/key/%s" % (p, key)), 404)
    assert distribute(dstack, p, key).status_code == 204  # and it can be distributed again
