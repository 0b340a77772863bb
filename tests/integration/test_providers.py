"""The KMS provider endpoints: rules, good paths and bad ones."""
import threading

import pytest

from conftest import secret
from test_http_contract import assert_error, create_provider

GOOD_REGIONS = ["us-east-1", "us-gov-west-1", "cn-north-1", "eu-central-2", "ap-southeast-4",
                "me-central-1", "il-central-1", "ca-west-1", "us-iso-east-1", "us-isob-east-1",
                "eusc-de-east-1", "zz-northwest-9", "ap-south-12"]
BAD_REGIONS = ["", "us-east", "US-EAST-1", "us_east_1", "useast1", "us-east-1a", "us-east-01",
               "us-east-0", "us-foo-1", "u-east-1", "us-east-123", "a-b-c-d-1", " us-east-1",
               "us-east-1 ", "us--east-1", "us-east-1-", "ab-cdefgh-east-1", "x" * 40]


def path(n):
    return "/v1/keymgmt/kms/" + n


def db_credentials(stack, name):
    return stack.psql("SELECT encode(credentials, 'hex') FROM providers WHERE name = '%s'"
                      % name).strip()


@pytest.mark.parametrize("region", GOOD_REGIONS)
def test_well_formed_regions_accepted(stack, name, region):
    create_provider(stack, name, region)
    assert stack.api("GET", path(name)).json()["data"] == {"provider": "awskms",
                                                           "key_collection": region}


@pytest.mark.parametrize("region", BAD_REGIONS)
def test_malformed_regions_rejected(stack, name, region):
    r = stack.api("POST", path(name), {"provider": "awskms", "key_collection": region})
    assert_error(r, 400, "key_collection")
    assert stack.api("GET", path(name)).status_code == 404


@pytest.mark.parametrize("body,needle", [
    ({"key_collection": "us-east-1"}, "required"),
    ({"provider": "awskms"}, "required"),
    ({}, "required"),
    ({"provider": "gcpckms", "key_collection": "us-east-1"}, "awskms"),
    ({"provider": "AWSKMS", "key_collection": "us-east-1"}, "awskms"),
    ({"provider": 1, "key_collection": "us-east-1"}, "provider"),
    ({"provider": "awskms", "key_collection": ["us-east-1"]}, "key_collection"),
    ({"provider": "awskms", "key_collection": {"a": 1}}, "key_collection"),
    ({"provider": "awskms", "key_collection": True}, "key_collection"),
    ({"provider": "awskms", "key_collection": "us-east-1", "credentials": "x"}, "credentials"),
    ({"provider": "awskms", "key_collection": "us-east-1", "credentials": 5}, "credentials"),
    ({"provider": "awskms", "key_collection": "us-east-1", "credentials": {"access_key": 5}},
     "credentials"),
    ({"provider": "awskms", "key_collection": "us-east-1", "credentials": ["access_key"]},
     "credentials"),
    ({"provider": "awskms", "key_collection": "us-east-1", "credentials": ["=x"]},
     "credentials"),
])
def test_bad_create_bodies(stack, name, body, needle):
    r = stack.api("POST", path(name), body)
    assert_error(r, 400, needle)
    assert stack.api("GET", path(name)).status_code == 404


def test_update_may_omit_immutable_fields(stack, name):
    create_provider(stack, name, "eu-west-1")
    for body in ({}, {"provider": "awskms"}, {"key_collection": "eu-west-1"},
                 {"credentials": {"access_key": secret(), "secret_key": secret()}}):
        r = stack.api("POST", path(name), body)
        assert r.status_code == 204, (body, r.text)
    assert stack.api("GET", path(name)).json()["data"]["key_collection"] == "eu-west-1"


def test_immutable_fields(stack, name):
    create_provider(stack, name, "eu-west-1")
    r = stack.api("POST", path(name), {"key_collection": "eu-west-2"})
    assert_error(r, 400, "key_collection cannot be changed")
    r = stack.api("POST", path(name), {"provider": "awskms", "key_collection": "us-east-1"})
    assert_error(r, 400, "key_collection")
    r = stack.api("POST", path(name), {"provider": "other"})
    assert_error(r, 400, "awskms")
    # nothing was half-written: credentials in the refused request were not stored
    r = stack.api("POST", path(name), {"key_collection": "eu-west-2",
                                       "credentials": {"access_key": secret(),
                                                       "secret_key": secret()}})
    assert_error(r, 400, "key_collection")
    assert db_credentials(stack, name) == ""
    assert stack.api("GET", path(name)).json()["data"]["key_collection"] == "eu-west-1"


def test_concurrent_conflicting_creates(stack):
    import uuid
    outcomes = []
    for _ in range(15):
        n = "race-" + uuid.uuid4().hex[:10]
        barrier = threading.Barrier(2)
        results = {}

        def create(region):
            barrier.wait()
            results[region] = stack.api("POST", path(n), {"provider": "awskms",
                                                          "key_collection": region})

        threads = [threading.Thread(target=create, args=(r,)) for r in ("us-east-1", "eu-west-1")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status_code for r in results.values())
        assert codes == [204, 400], {k: (v.status_code, v.text) for k, v in results.items()}
        loser = [r for r in results.values() if r.status_code == 400][0]
        assert "key_collection" in loser.json()["errors"][0]
        winner = [k for k, v in results.items() if v.status_code == 204][0]
        assert stack.api("GET", path(n)).json()["data"]["key_collection"] == winner
        outcomes.append(winner)


def test_credentials_forms(stack, name):
    create_provider(stack, name)
    ak, sk, st = secret("ak"), secret("sk"), secret("st")
    r = stack.api("POST", path(name), {"credentials": {"access_key": ak, "secret_key": sk,
                                                        "session_token": st,
                                                        "endpoint": "https://kms.example.com"}})
    assert r.status_code == 204, r.text
    first = db_credentials(stack, name)
    assert first
    # list of k=v strings, split at the first '='
    r = stack.api("POST", path(name), {"credentials": ["access_key=" + ak,
                                                        "secret_key=" + sk + "=tail=="]})
    assert r.status_code == 204, r.text
    second = db_credentials(stack, name)
    assert second and second != first
    # omitted credentials keep the stored set
    assert stack.api("POST", path(name), {}).status_code == 204
    assert db_credentials(stack, name) == second
    # an empty set replaces (clears) it
    assert stack.api("POST", path(name), {"credentials": {}}).status_code == 204
    assert db_credentials(stack, name) == ""
    # read never returns credentials
    r = stack.api("GET", path(name))
    assert r.json()["data"] == {"provider": "awskms", "key_collection": "us-east-1"}


@pytest.mark.parametrize("creds,needle", [
    ({"access_key": "AK"}, "together"),
    ({"secret_key": "SK"}, "together"),
    ({"session_token": "T"}, "session_token"),
    ({"access_key": "AK", "secret_key": "SK", "region": "x"}, "unknown credential \"region\""),
    ({"token": "x"}, "unknown credential"),
    ({"access_key": "", "secret_key": "SK"}, "empty"),
    ({"endpoint": "kms.example.com"}, "endpoint"),
    ({"endpoint": "ftp://kms.example.com"}, "endpoint"),
    ({"endpoint": "https://"}, "endpoint"),
    ({"endpoint": "https://user:pw@kms.example.com"}, "endpoint"),
    ({"endpoint": "https://kms.example.com/?a=b"}, "endpoint"),
    ({"endpoint": "/relative"}, "endpoint"),
    (["access_key"], "credentials"),
    (["access_key=AK", 5], "credentials"),
])
def test_bad_credentials(stack, name, creds, needle):
    create_provider(stack, name)
    r = stack.api("POST", path(name), {"credentials": creds})
    assert_error(r, 400, needle)
    for e in r.json()["errors"]:
        assert "SK" not in e and "pw" not in e
    assert db_credentials(stack, name) == ""


def test_http_endpoint_allowed_by_config(stack, name):
    # the test stack sets allow_http_endpoints = true (see test_resilience for the default)
    create_provider(stack, name)
    r = stack.api("POST", path(name), {"credentials": {"endpoint": "http://127.0.0.1:1"}})
    assert r.status_code == 204


BAD_NAME_PATHS = [
    ("/v1/keymgmt/kms/..", 400),
    ("/v1/keymgmt/kms/%2e%2e", 400),
    ("/v1/keymgmt/kms/.hidden", 400),
    ("/v1/keymgmt/kms/trailing-", 400),
    ("/v1/keymgmt/kms/a%2Fb", 400),
    ("/v1/keymgmt/kms/a%20b", 400),
    ("/v1/keymgmt/kms/" + "a" * 129, 400),
    ("/v1/keymgmt/kms/", 400),
    ("/v1/keymgmt/kms/%C3%A9t%C3%A9", 400),
    ("/v1/keymgmt/kms/a%00b", 400),  # nginx refuses these two itself, in JSON
    ("/v1/keymgmt/kms/a%zzb", 400),
    ("/v1/keymgmt/kms/a/b", 404),
]


@pytest.mark.parametrize("target,status", BAD_NAME_PATHS)
@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
def test_bad_names(stack, target, status, method):
    body = b'{"provider":"awskms","key_collection":"us-east-1"}' if method == "POST" else b""
    r = stack.raw(method, target, body=body)
    assert_error(r, status)
    if status == 400 and "%00" not in target and "%zz" not in target:
        assert "invalid name" in r.json()["errors"][0]


def test_name_limits(stack):
    import uuid
    longest = "n" + uuid.uuid4().hex[:10] + "a" * 117
    assert len(longest) == 128
    create_provider(stack, longest)
    assert stack.api("GET", path(longest)).status_code == 200
    for ok in ("a", "A.b_c-D", "0-9"):
        create_provider(stack, ok + uuid.uuid4().hex[:4])


def test_delete_refused_while_distributed(stack, name):
    create_provider(stack, name)
    assert stack.api("POST", "/v1/keymgmt/key/k-" + name, {"type": "aes256-gcm96"}).status_code == 204
    # record a distribution row directly; the distribution API is tested on its own
    stack.psql("INSERT INTO distributions (provider_name, key_name, purpose, protection) "
               "VALUES ('%s', 'k-%s', '{encrypt}', 'hsm')" % (name, name))
    r = stack.api("DELETE", path(name))
    assert_error(r, 400, "distributed")
    assert stack.api("GET", path(name)).status_code == 200
    stack.psql("DELETE FROM distributions WHERE provider_name = '%s'" % name)
    assert stack.api("DELETE", path(name)).status_code == 204
    assert stack.api("GET", path(name)).status_code == 404
