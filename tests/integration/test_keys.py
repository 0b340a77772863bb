"""Keys: create, read, list, update, rotate, delete; material sealed at rest."""
import base64
import re
import subprocess
import threading
import uuid

import hvac
import pytest
from hvac import exceptions

from test_http_contract import assert_error, create_provider

TYPES = {
    "aes256-gcm96": None,
    "rsa-2048": "Public-Key: (2048 bit)",
    "rsa-3072": "Public-Key: (3072 bit)",
    "rsa-4096": "Public-Key: (4096 bit)",
    "ecdsa-p256": "NIST CURVE: P-256",
    "ecdsa-p384": "NIST CURVE: P-384",
    "ecdsa-p521": "NIST CURVE: P-521",
}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z$")


def path(n, suffix=""):
    return "/v1/keymgmt/key/" + n + suffix


def create_key(stack, name, **body):
    r = stack.api("POST", path(name), body)
    assert r.status_code == 204, r.text
    return read_key(stack, name)


def read_key(stack, name):
    r = stack.api("GET", path(name))
    assert r.status_code == 200, r.text
    return r.json()["data"]


def openssl_text(pem):
    r = subprocess.run(["openssl", "pkey", "-pubin", "-noout", "-text"], input=pem,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def public_der_hex(pem):
    b64 = "".join(l for l in pem.splitlines() if not l.startswith("-----"))
    return base64.b64decode(b64).hex()


@pytest.mark.parametrize("ktype", sorted(TYPES))
def test_every_type_creates_and_reads_back(stack, name, ktype):
    data = create_key(stack, name, type=ktype)
    assert set(data) == {"name", "type", "deletion_allowed", "min_enabled_version",
                         "latest_version", "keys"}
    assert data["name"] == name and data["type"] == ktype
    assert data["deletion_allowed"] is False
    assert data["min_enabled_version"] == 0 and data["latest_version"] == 1
    assert list(data["keys"]) == ["1"]
    v1 = data["keys"]["1"]
    assert RFC3339.match(v1["creation_time"]), v1["creation_time"]
    if TYPES[ktype] is None:
        assert set(v1) == {"creation_time"}
    else:
        assert set(v1) == {"creation_time", "public_key"}
        assert v1["public_key"].startswith("-----BEGIN PUBLIC KEY-----\n")
        assert TYPES[ktype] in openssl_text(v1["public_key"])


def test_default_type_is_rsa_2048(stack, name):
    assert create_key(stack, name)["type"] == "rsa-2048"


def test_rotate(stack, name):
    create_key(stack, name, type="ecdsa-p256")
    for expected in (2, 3):
        r = stack.api("POST", path(name, "/rotate"))
        assert r.status_code == 204, r.text
        data = read_key(stack, name)
        assert data["latest_version"] == expected
        assert sorted(data["keys"], key=int) == [str(v) for v in range(1, expected + 1)]
    pems = {v["public_key"] for v in data["keys"].values()}
    assert len(pems) == 3  # new material each time
    times = [data["keys"][str(v)]["creation_time"] for v in (1, 2, 3)]
    assert times == sorted(times)


def test_rotate_aes_creates_new_sealed_material(stack, name):
    create_key(stack, name, type="aes256-gcm96")
    stack.api("POST", path(name, "/rotate"))
    rows = stack.psql("SELECT version, encode(material, 'hex') FROM key_versions "
                      "WHERE key_name = '%s' ORDER BY version" % name).split()
    assert len(rows) == 2
    blobs = [r.split("|")[1] for r in rows]
    assert blobs[0] != blobs[1]
    # 1 version byte + 8 key id + 12 nonce + 32 material + 16 tag
    assert all(len(b) == 2 * (1 + 8 + 12 + 32 + 16) for b in blobs)


def test_rotate_absent_key(stack, name):
    assert_error(stack.api("POST", path(name, "/rotate")), 400, "not found")


def test_update_after_create(stack, name):
    create_key(stack, name, type="aes256-gcm96")
    r = stack.api("POST", path(name), {"deletion_allowed": True})
    assert r.status_code == 204
    data = read_key(stack, name)
    assert data["deletion_allowed"] is True and data["latest_version"] == 1
    assert data["type"] == "aes256-gcm96"
    for _ in range(3):
        stack.api("POST", path(name, "/rotate"))
    for value, expected in ((2, 2), ("3", 3), (0, 0), ("4", 4), (4.0, 4)):
        r = stack.api("POST", path(name), {"min_enabled_version": value})
        assert r.status_code == 204, r.text
        assert read_key(stack, name)["min_enabled_version"] == expected
    for value, expected in (("false", False), ("1", True), ("F", False), (True, True)):
        assert stack.api("POST", path(name), {"deletion_allowed": value}).status_code == 204
        assert read_key(stack, name)["deletion_allowed"] is expected
    # same type again is fine; a different type is refused
    assert stack.api("POST", path(name), {"type": "aes256-gcm96"}).status_code == 204
    assert_error(stack.api("POST", path(name), {"type": "rsa-2048"}), 400, "type cannot be changed")
    assert read_key(stack, name)["type"] == "aes256-gcm96"


def test_create_with_settings(stack, name):
    data = create_key(stack, name, type="aes256-gcm96", deletion_allowed="true",
                      min_enabled_version=1)
    assert data["deletion_allowed"] is True and data["min_enabled_version"] == 1


@pytest.mark.parametrize("body,needle", [
    ({"type": "aes128-gcm96"}, "unsupported key type"),
    ({"type": "RSA-2048"}, "unsupported key type"),
    ({"type": ""}, "unsupported key type"),
    ({"type": 2048}, "type"),
    ({"type": ["rsa-2048"]}, "type"),
    ({"min_enabled_version": -1}, "min_enabled_version"),
    ({"min_enabled_version": 2}, "min_enabled_version"),
    ({"min_enabled_version": 2 ** 31}, "min_enabled_version"),
    ({"min_enabled_version": 2 ** 70}, "integer"),  # beyond JSON's exact integers
    ({"min_enabled_version": 1.5}, "min_enabled_version"),
    ({"min_enabled_version": "abc"}, "min_enabled_version"),
    ({"min_enabled_version": "1 "}, "min_enabled_version"),
    ({"min_enabled_version": True}, "min_enabled_version"),
    ({"deletion_allowed": "yes"}, "deletion_allowed"),
    ({"deletion_allowed": 2}, "deletion_allowed"),
    ({"deletion_allowed": []}, "deletion_allowed"),
    ({"deletion_allowed": "tRuE"}, "deletion_allowed"),
])
def test_bad_inputs_on_create(stack, name, body, needle):
    body.setdefault("type", "aes256-gcm96")
    r = stack.api("POST", path(name), body)
    assert_error(r, 400, needle)
    assert stack.api("GET", path(name)).status_code == 404


@pytest.mark.parametrize("body,needle", [
    ({"min_enabled_version": -1}, "min_enabled_version"),
    ({"min_enabled_version": 3}, "latest version (2)"),
    ({"min_enabled_version": "x"}, "min_enabled_version"),
    ({"deletion_allowed": "maybe"}, "deletion_allowed"),
    ({"type": "ecdsa-p256"}, "type cannot be changed"),
])
def test_bad_inputs_on_update(stack, name, body, needle):
    create_key(stack, name, type="aes256-gcm96")
    stack.api("POST", path(name, "/rotate"))
    before = read_key(stack, name)
    body = dict(body, deletion_allowed=body.get("deletion_allowed", True))
    assert_error(stack.api("POST", path(name), body), 400, needle)
    assert read_key(stack, name) == before  # nothing half-written


@pytest.mark.parametrize("target", ["/v1/keymgmt/key/..", "/v1/keymgmt/key/%2e%2e",
                                    "/v1/keymgmt/key/" + "k" * 129, "/v1/keymgmt/key/-k",
                                    "/v1/keymgmt/key/k%2Fx", "/v1/keymgmt/key/%E2%82%AC",
                                    "/v1/keymgmt/key/../rotate", "/v1/keymgmt/key/a%20/rotate"])
def test_bad_names(stack, target):
    r = stack.raw("POST", target, body=b'{"type":"aes256-gcm96"}')
    assert_error(r, 400, "invalid name")


def test_concurrent_rotations(stack, name):
    create_key(stack, name, type="aes256-gcm96")
    barrier = threading.Barrier(10)
    codes = []

    def rotate():
        barrier.wait()
        codes.append(stack.api("POST", path(name, "/rotate")).status_code)

    threads = [threading.Thread(target=rotate) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [204] * 10
    data = read_key(stack, name)
    assert data["latest_version"] == 11
    assert sorted(map(int, data["keys"])) == list(range(1, 12))
    rows = stack.psql("SELECT version FROM key_versions WHERE key_name = '%s' ORDER BY 1" % name)
    assert [int(v) for v in rows.split()] == list(range(1, 12))


def test_database_refuses_gaps_and_duplicates(stack, name):
    create_key(stack, name, type="aes256-gcm96")
    blob = stack.psql("SELECT encode(material, 'hex') FROM key_versions WHERE key_name = '%s'"
                      % name).strip()
    for sql in (
        # a gap: version 3 while latest is 1
        "INSERT INTO key_versions (key_name, version, material) VALUES ('%s', 3, '\\x%s')",
        # a duplicate
        "INSERT INTO key_versions (key_name, version, material) VALUES ('%s', 1, '\\x%s')",
        # latest_version jumping by two
        "UPDATE keys SET latest_version = 3 WHERE name = '%s' AND '%s' <> ''",
        # latest_version without material at commit
        "UPDATE keys SET latest_version = 2 WHERE name = '%s' AND '%s' <> ''",
    ):
        with pytest.raises(AssertionError):
            stack.psql(sql % (name, blob))
    assert read_key(stack, name)["latest_version"] == 1


def test_list_keys_sorted(stack):
    prefix = "lk-" + uuid.uuid4().hex[:6]
    names = [prefix + s for s in ("-b", "-a", "-B", ".c")]
    for n in names:
        create_key(stack, n, type="aes256-gcm96")
    r = stack.api("LIST", "/v1/keymgmt/key")
    assert r.status_code == 200
    assert [k for k in r.json()["data"]["keys"] if k.startswith(prefix)] == sorted(names)
    assert stack.api("GET", "/v1/keymgmt/key?list=true").json()["data"]["keys"] == \
        r.json()["data"]["keys"]


def test_delete_guards(stack, name):
    create_key(stack, name, type="aes256-gcm96")
    assert_error(stack.api("DELETE", path(name)), 400, "deletion is not allowed")
    assert stack.api("GET", path(name)).status_code == 200
    stack.api("POST", path(name), {"deletion_allowed": True})
    provider = "p-" + name
    create_provider(stack, provider)
    stack.psql("INSERT INTO distributions (provider_name, key_name, purpose, protection) "
               "VALUES ('%s', '%s', '{encrypt}', 'hsm')" % (provider, name))
    assert_error(stack.api("DELETE", path(name)), 400, "distributed")
    r = stack.api("LIST", path(name, "/kms"))
    assert r.status_code == 200 and r.json()["data"]["keys"] == [provider]
    stack.psql("DELETE FROM distributions WHERE key_name = '%s'" % name)
    assert assert_error(stack.api("LIST", path(name, "/kms")), 404) == []
    assert stack.api("DELETE", path(name)).status_code == 204
    assert stack.api("GET", path(name)).status_code == 404
    assert stack.psql("SELECT count(*) FROM key_versions WHERE key_name = '%s'" % name).strip() == "0"
    assert stack.api("DELETE", path(name)).status_code == 204  # absent


def test_kms_list_of_absent_key_is_404(stack, name):
    assert assert_error(stack.api("LIST", path(name, "/kms")), 404) == []


def test_unsupported_operations(stack, name):
    create_key(stack, name, type="aes256-gcm96")
    assert_error(stack.api("GET", path(name, "/rotate")), 405)
    assert_error(stack.api("DELETE", path(name, "/kms")), 405)
    assert_error(stack.api("LIST", path(name)), 405)


def test_hvac_key_flow(stack, name):
    c = hvac.Client(url=stack.url, token=stack.token)
    c.write("keymgmt/key/" + name, type="ecdsa-p384")
    c.write("keymgmt/key/" + name + "/rotate")
    c.write("keymgmt/key/" + name, min_enabled_version=2, deletion_allowed=True)
    data = c.read("keymgmt/key/" + name)["data"]
    assert data["latest_version"] == 2 and data["min_enabled_version"] == 2
    assert name in c.list("keymgmt/key")["data"]["keys"]
    assert c.list("keymgmt/key/" + name + "/kms") is None
    with pytest.raises(exceptions.InvalidRequest):
        c.write("keymgmt/key/" + name, type="rsa-2048")
    c.delete("keymgmt/key/" + name)
    assert c.read("keymgmt/key/" + name) is None


def test_private_material_not_in_dump(stack, name):
    """The public part of each private key is inside its DER material: if material were
    stored in plaintext, these bytes would show in the dump's bytea columns."""
    markers = []
    for ktype in ("rsa-2048", "ecdsa-p256", "ecdsa-p521"):
        data = create_key(stack, name + ktype, type=ktype)
        stack.api("POST", path(name + ktype, "/rotate"))
        for v in read_key(stack, name + ktype)["keys"].values():
            der = public_der_hex(v["public_key"])
            markers.append(der[-64:])  # the tail: the modulus / the public point
    dump = stack.pg_dump()
    assert "COPY public.key_versions" in dump
    for m in markers:
        assert m not in dump
    # the positive control: the same bytes are found when they are there in plaintext
    assert public_der_hex(data["keys"]["1"]["public_key"])[-64:] in \
        stack.psql("SELECT encode(decode(replace(replace(replace(public_key, "
                   "'-----BEGIN PUBLIC KEY-----', ''), '-----END PUBLIC KEY-----', ''), "
                   "E'\\n', ''), 'base64'), 'hex') FROM key_versions WHERE key_name = '%s' "
                   "AND version = 1" % (name + "ecdsa-p521"))
