"""Tests of the local AWS KMS emulator (tests/kms_emulator/kms_emulator.py).

Run with:  /usr/bin/python3 -m pytest -q tests/integration/test_kms_emulator.py

Drives the emulator with botocore's KMS client, with hand-signed raw requests
(botocore's SigV4 signer, then tampering), and with the real AWS CLI v2
(/usr/bin/aws) plus openssl, as keymgmt's C client will.
"""

import base64
import datetime
import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid

import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError, \
    EndpointConnectionError, HTTPClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator import EmulatorError, start_emulator  # noqa: E402

AK = "AKIAEMULATORTEST0001"
SK = "emulator/Secret+Key/0123456789abcdefghijkl"
REGION = "us-east-1"
ACCOUNT = "111122223333"
AWS_CLI = "/usr/bin/aws"


# --------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    emu = start_emulator(AK, SK, region=REGION)
    yield emu
    errors = emu.stderr_text()
    assert emu.stop() == 0, errors
    assert "Traceback" not in errors, errors


@pytest.fixture
def emu(server):
    server.reset()
    yield server
    server.clear_faults()


def make_client(emu, ak=AK, sk=SK, token=None, region=REGION,
                validate=True):
    cfg = Config(retries={"total_max_attempts": 1}, connect_timeout=5,
                 read_timeout=20, parameter_validation=validate)
    return botocore.session.get_session().create_client(
        "kms", endpoint_url=emu.url, region_name=region,
        aws_access_key_id=ak, aws_secret_access_key=sk,
        aws_session_token=token, config=cfg)


@pytest.fixture
def kms(emu):
    return make_client(emu)


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


def fails(code, fn, *args, **kwargs):
    with pytest.raises(ClientError) as ei:
        fn(*args, **kwargs)
    assert code_of(ei) == code, ei.value.response
    return ei.value.response


def wrap(public_der, material, algorithm="RSAES_OAEP_SHA_256"):
    pub = serialization.load_der_public_key(public_der)
    if algorithm == "RSAES_PKCS1_V1_5":
        pad = padding.PKCS1v15()
    else:
        h = hashes.SHA256() if algorithm.endswith("256") else hashes.SHA1()
        pad = padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h,
                           label=None)
    return pub.encrypt(material, pad)


def external_key(kms, **kw):
    return kms.create_key(Origin="EXTERNAL", **kw)["KeyMetadata"]["KeyId"]


def import_material(kms, key_id, material, algorithm="RSAES_OAEP_SHA_256",
                    spec="RSA_2048", **kw):
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)
    kw.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    return kms.import_key_material(
        KeyId=key_id, ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], material, algorithm),
        **kw)


def key_state(emu, key_id):
    for k in emu.state()["keys"]:
        if k["KeyId"] == key_id:
            return k
    raise KeyError(key_id)


class FixedTimeSigner(SigV4Auth):
    """botocore's signer with a chosen timestamp and, optionally, a chosen
    set of signed headers."""

    def __init__(self, credentials, service, region, timestamp=None,
                 sign_names=None):
        super().__init__(credentials, service, region)
        self._timestamp = timestamp
        self._sign_names = sign_names

    def headers_to_sign(self, request):
        if self._sign_names is None:
            return super().headers_to_sign(request)
        hm = HTTPHeaders()
        for name, value in request.headers.items():
            if name.lower() in self._sign_names:
                hm[name.lower()] = value
        return hm

    def add_auth(self, request):
        ts = self._timestamp or datetime.datetime.utcnow()
        request.context["timestamp"] = ts.strftime("%Y%m%dT%H%M%SZ")
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        sts = self.string_to_sign(request, canonical)
        self._inject_signature_to_request(request,
                                          self.signature(sts, request))


def signed_request(emu, operation, payload, ak=AK, sk=SK, token=None,
                   region=REGION, service="kms", when=None, sign_names=None,
                   extra_headers=None):
    """Build a signed KMS request: returns (headers dict, body bytes)."""
    body = payload if isinstance(payload, bytes) else \
        json.dumps(payload).encode()
    headers = {"Host": "127.0.0.1:%d" % emu.port,
               "X-Amz-Target": "TrentService." + operation,
               "Content-Type": "application/x-amz-json-1.1",
               "User-Agent": "kms-emulator-test"}
    headers.update(extra_headers or {})
    req = AWSRequest(method="POST", url=emu.url + "/", data=body,
                     headers=headers)
    FixedTimeSigner(Credentials(ak, sk, token), service, region, when,
                    sign_names).add_auth(req)
    return dict(req.headers.items()), body


def send(emu, headers, body):
    return requests.post(emu.url + "/", data=body, headers=headers,
                         timeout=20)


def raw_call(emu, operation, payload, **kw):
    return send(emu, *signed_request(emu, operation, payload, **kw))


def error_of(resp):
    assert resp.headers["Content-Type"] == "application/x-amz-json-1.1"
    return resp.json()["__type"]


# --------------------------------------------------------------------------
# 1. KMS behaviour through botocore
# --------------------------------------------------------------------------

def test_create_and_describe_external_key(emu, kms):
    meta = kms.create_key(Origin="EXTERNAL", Description="keymgmt test",
                          KeySpec="SYMMETRIC_DEFAULT",
                          KeyUsage="ENCRYPT_DECRYPT",
                          Tags=[{"TagKey": "keymgmt:key",
                                 "TagValue": "k1"}])["KeyMetadata"]
    key_id = meta["KeyId"]
    assert uuid.UUID(key_id)
    assert meta["Arn"] == "arn:aws:kms:%s:%s:key/%s" % (REGION, ACCOUNT,
                                                        key_id)
    assert meta["AWSAccountId"] == ACCOUNT
    assert meta["KeyState"] == "PendingImport" and meta["Enabled"] is False
    assert meta["Origin"] == "EXTERNAL"
    assert meta["KeyManager"] == "CUSTOMER"
    assert meta["KeySpec"] == meta["CustomerMasterKeySpec"] == \
        "SYMMETRIC_DEFAULT"
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert meta["MultiRegion"] is False
    assert "ExpirationModel" not in meta and "DeletionDate" not in meta
    assert abs(meta["CreationDate"].timestamp() - time.time()) < 60

    for ident in (key_id, meta["Arn"]):
        assert kms.describe_key(KeyId=ident)["KeyMetadata"] == meta

    st = key_state(emu, key_id)
    assert st["KeyState"] == "PendingImport"
    assert st["material_sha256"] is None
    assert st["Description"] == "keymgmt test"
    assert st["Tags"] == [{"TagKey": "keymgmt:key", "TagValue": "k1"}]
    assert st["ExpirationModel"] is None and st["DeletionDate"] is None

    fails("KMSInvalidStateException", kms.encrypt, KeyId=key_id,
          Plaintext=b"x")
    fails("NotFoundException", kms.describe_key, KeyId=str(uuid.uuid4()))
    fails("NotFoundException", kms.describe_key, KeyId="not-a-key")
    fails("NotFoundException", kms.describe_key,
          KeyId="arn:aws:kms:eu-west-1:%s:key/%s" % (ACCOUNT, key_id))


def test_aws_kms_origin_key_and_unsupported_specs(emu, kms):
    meta = kms.create_key()["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and meta["Origin"] == "AWS_KMS"
    assert "ExpirationModel" not in meta
    assert len(key_state(emu, meta["KeyId"])["material_sha256"]) == 64
    fails("UnsupportedOperationException", kms.get_parameters_for_import,
          KeyId=meta["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
          WrappingKeySpec="RSA_2048")
    fails("ValidationException", kms.create_key, KeySpec="RSA_2048")
    fails("ValidationException", kms.create_key, KeyUsage="SIGN_VERIFY")
    fails("UnsupportedOperationException", kms.create_key,
          Origin="AWS_CLOUDHSM")
    assert len(emu.state()["keys"]) == 1


def test_import_encrypt_decrypt_roundtrip(emu, kms):
    key_id = external_key(kms)
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048")
    assert params["KeyId"].endswith(":key/" + key_id)
    valid_to = params["ParametersValidTo"].timestamp()
    assert abs(valid_to - (time.time() + 86400)) < 120
    pub = serialization.load_der_public_key(params["PublicKey"])
    assert pub.key_size == 2048
    # Tokens are distinct, the wrapping key pair is shared per spec.
    again = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048")
    assert again["ImportToken"] != params["ImportToken"]
    assert again["PublicKey"] == params["PublicKey"]
    assert key_state(emu, key_id)["KeyState"] == "PendingImport"

    material = os.urandom(32)
    kms.import_key_material(
        KeyId=key_id, ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], material),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    st = key_state(emu, key_id)
    assert st["KeyState"] == "Enabled"
    assert st["material_sha256"] == hashlib.sha256(material).hexdigest()
    assert st["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["Enabled"] is True
    assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert "ValidTo" not in meta

    ctx = {"purpose": "test", "tenant": "a"}
    enc = kms.encrypt(KeyId=key_id, Plaintext=b"secret data",
                      EncryptionContext=ctx)
    assert enc["KeyId"] == meta["Arn"]
    assert enc["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = enc["CiphertextBlob"]
    dec = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    assert dec["Plaintext"] == b"secret data"
    assert dec["KeyId"] == meta["Arn"]
    assert dec["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx,
                       KeyId=key_id)["Plaintext"] == b"secret data"

    # The blob really is AES-256-GCM under the imported material (format
    # documented in README.md).
    raw_id = uuid.UUID(key_id).bytes
    assert blob[:5] == b"kEmU\x01" and blob[5:21] == raw_id
    aad = b"kms-emulator-v1" + raw_id + json.dumps(
        sorted(ctx.items()), separators=(",", ":")).encode()
    assert AESGCM(material).decrypt(blob[21:33], blob[33:], aad) == \
        b"secret data"

    fails("InvalidCiphertextException", kms.decrypt, CiphertextBlob=blob)
    fails("InvalidCiphertextException", kms.decrypt, CiphertextBlob=blob,
          EncryptionContext={"purpose": "other", "tenant": "a"})
    tampered = bytearray(blob)
    tampered[-5] ^= 1
    fails("InvalidCiphertextException", kms.decrypt,
          CiphertextBlob=bytes(tampered), EncryptionContext=ctx)
    fails("InvalidCiphertextException", kms.decrypt,
          CiphertextBlob=b"garbage-garbage-garbage")
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    fails("IncorrectKeyException", kms.decrypt, CiphertextBlob=blob,
          EncryptionContext=ctx, KeyId=other)
    fails("ValidationException", make_client(emu, validate=False).encrypt,
          KeyId=key_id, Plaintext=b"x" * 4097)


@pytest.mark.parametrize("algorithm,spec", [
    ("RSAES_OAEP_SHA_1", "RSA_3072"),
    ("RSAES_PKCS1_V1_5", "RSA_2048"),
])
def test_import_other_wrapping_algorithms(emu, kms, algorithm, spec):
    key_id = external_key(kms)
    material = os.urandom(32)
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)
    pub = serialization.load_der_public_key(params["PublicKey"])
    assert pub.key_size == int(spec[4:])
    kms.import_key_material(
        KeyId=key_id, ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], material, algorithm),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert key_state(emu, key_id)["material_sha256"] == \
        hashlib.sha256(material).hexdigest()
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"


def test_import_errors(emu, kms):
    key_id = external_key(kms)
    other_id = external_key(kms)
    material = os.urandom(32)
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048")
    token, pub = params["ImportToken"], params["PublicKey"]

    def imp(tok=token, wrapped=None, kid=key_id, **kw):
        kw.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
        return kms.import_key_material(
            KeyId=kid, ImportToken=tok,
            EncryptedKeyMaterial=wrapped or wrap(pub, material), **kw)

    # wrapped with the wrong algorithm (token says OAEP SHA-256)
    fails("InvalidCiphertextException", imp,
          wrapped=wrap(pub, material, "RSAES_OAEP_SHA_1"))
    # not 32 bytes
    fails("InvalidCiphertextException", imp,
          wrapped=wrap(pub, os.urandom(16)))
    # garbage instead of wrapped material
    fails("InvalidCiphertextException", imp, wrapped=os.urandom(256))
    # garbled / truncated tokens
    bad = bytearray(token)
    bad[len(bad) // 2] ^= 0x40
    fails("InvalidImportTokenException", imp, tok=bytes(bad))
    fails("InvalidImportTokenException", imp, tok=token[:20])
    # token issued for another key
    fails("InvalidImportTokenException", imp, kid=other_id)
    # expiration model rules
    fails("ValidationException", imp, ExpirationModel="KEY_MATERIAL_EXPIRES")
    fails("ValidationException", imp,
          ValidTo=datetime.datetime.now() + datetime.timedelta(days=1))
    assert key_state(emu, key_id)["KeyState"] == "PendingImport"

    imp()
    assert key_state(emu, key_id)["KeyState"] == "Enabled"
    # the same material again (e.g. to change the expiration): fine,
    # and a Disabled key stays Disabled
    kms.disable_key(KeyId=key_id)
    valid_to = datetime.datetime.now(datetime.timezone.utc) + \
        datetime.timedelta(days=30)
    import_material(kms, key_id, material, ExpirationModel=
                    "KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    st = key_state(emu, key_id)
    assert st["KeyState"] == "Disabled"
    assert st["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert abs(st["ValidTo"] - valid_to.timestamp()) < 1
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert abs(meta["ValidTo"].timestamp() - valid_to.timestamp()) < 1
    # different material: refused, state unchanged
    fails("IncorrectKeyMaterialException", import_material, kms, key_id,
          os.urandom(32))
    assert key_state(emu, key_id)["material_sha256"] == \
        hashlib.sha256(material).hexdigest()
    # not while pending deletion
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    fails("KMSInvalidStateException", kms.get_parameters_for_import,
          KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
          WrappingKeySpec="RSA_2048")
    fails("KMSInvalidStateException", imp)
    fails("NotFoundException", kms.get_parameters_for_import,
          KeyId=str(uuid.uuid4()), WrappingAlgorithm="RSAES_OAEP_SHA_256",
          WrappingKeySpec="RSA_2048")


def test_expired_import_token_and_expiring_material():
    emu = start_emulator(AK, SK, extra_args=["--import-token-ttl", "1"])
    try:
        kms = make_client(emu)
        # material that expires: key returns to PendingImport afterwards
        expiring = external_key(kms)
        material = os.urandom(32)
        # whole seconds: botocore sends ValidTo as integer epoch seconds
        valid_to = int(time.time()) + 2
        import_material(kms, expiring, material,
                        ExpirationModel="KEY_MATERIAL_EXPIRES",
                        ValidTo=valid_to)
        st = key_state(emu, expiring)
        assert st["KeyState"] == "Enabled" and st["ValidTo"] == valid_to
        # a token that expires before it is used
        key_id = external_key(kms)
        params = kms.get_parameters_for_import(
            KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
            WrappingKeySpec="RSA_2048")
        token_valid_to = params["ParametersValidTo"].timestamp()
        assert token_valid_to - time.time() < 2
        time.sleep(max(0, max(valid_to, token_valid_to) + 0.1 - time.time()))
        fails("ExpiredImportTokenException", kms.import_key_material,
              KeyId=key_id, ImportToken=params["ImportToken"],
              EncryptedKeyMaterial=wrap(params["PublicKey"], os.urandom(32)),
              ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        assert key_state(emu, key_id)["KeyState"] == "PendingImport"

        st = key_state(emu, expiring)
        assert st["KeyState"] == "PendingImport"
        assert st["material_sha256"] is None
        fails("KMSInvalidStateException", kms.encrypt, KeyId=expiring,
              Plaintext=b"x")
        # only the original material can come back
        fails("IncorrectKeyMaterialException", import_material, kms,
              expiring, os.urandom(32))
        import_material(kms, expiring, material)
        assert key_state(emu, expiring)["KeyState"] == "Enabled"
    finally:
        assert emu.stop() == 0


def test_aliases(emu, kms):
    k1 = kms.create_key()["KeyMetadata"]["KeyId"]
    k2 = external_key(kms)
    kms.create_alias(AliasName="alias/keymgmt/app-1", TargetKeyId=k1)
    kms.create_alias(AliasName="alias/keymgmt/app-2",
                     TargetKeyId="arn:aws:kms:%s:%s:key/%s"
                     % (REGION, ACCOUNT, k2))
    kms.create_alias(AliasName="alias/zz_last", TargetKeyId=k1)

    fails("AlreadyExistsException", kms.create_alias,
          AliasName="alias/keymgmt/app-1", TargetKeyId=k2)
    fails("NotAuthorizedException", kms.create_alias,
          AliasName="alias/aws/mine", TargetKeyId=k1)
    for bad in ("alias/has space", "alias/bad:colon", "noprefix/x",
                "alias/", "alias/" + "a" * 251):
        fails("ValidationException", kms.create_alias, AliasName=bad,
              TargetKeyId=k1)
    kms.create_alias(AliasName="alias/" + "a" * 250, TargetKeyId=k1)
    kms.delete_alias(AliasName="alias/" + "a" * 250)
    fails("NotFoundException", kms.create_alias, AliasName="alias/nokey",
          TargetKeyId=str(uuid.uuid4()))
    fails("ValidationException", kms.create_alias, AliasName="alias/indir",
          TargetKeyId="alias/zz_last")

    # an alias identifies the key for DescribeKey/Encrypt, by name or ARN
    alias_arn = "arn:aws:kms:%s:%s:alias/keymgmt/app-1" % (REGION, ACCOUNT)
    assert kms.describe_key(KeyId="alias/keymgmt/app-1")["KeyMetadata"][
        "KeyId"] == k1
    assert kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["KeyId"] == k1
    blob = kms.encrypt(KeyId="alias/keymgmt/app-1",
                       Plaintext=b"via alias")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, KeyId=alias_arn)["Plaintext"] \
        == b"via alias"
    # ... but not where AWS wants a key id or key ARN
    fails("NotFoundException", kms.disable_key, KeyId="alias/keymgmt/app-1")
    fails("NotFoundException", kms.describe_key, KeyId="alias/missing")

    # list with pagination
    names, marker, pages = [], None, 0
    while True:
        kw = {"Limit": 1}
        if marker:
            kw["Marker"] = marker
        resp = kms.list_aliases(**kw)
        pages += 1
        assert len(resp["Aliases"]) == 1
        entry = resp["Aliases"][0]
        assert entry["AliasArn"].endswith(":" + entry["AliasName"])
        assert entry["TargetKeyId"] in (k1, k2)
        assert entry["CreationDate"] and entry["LastUpdatedDate"]
        names.append(entry["AliasName"])
        if not resp["Truncated"]:
            assert "NextMarker" not in resp
            break
        marker = resp["NextMarker"]
    assert names == ["alias/keymgmt/app-1", "alias/keymgmt/app-2",
                     "alias/zz_last"]
    assert pages == 3
    fails("InvalidMarkerException", kms.list_aliases, Marker="bogus!")
    by_key = kms.list_aliases(KeyId=k1)["Aliases"]
    assert [a["AliasName"] for a in by_key] == ["alias/keymgmt/app-1",
                                                "alias/zz_last"]

    # update moves it, delete removes it
    kms.update_alias(AliasName="alias/keymgmt/app-1", TargetKeyId=k2)
    assert kms.describe_key(KeyId="alias/keymgmt/app-1")["KeyMetadata"][
        "KeyId"] == k2
    fails("NotFoundException", kms.update_alias, AliasName="alias/nope",
          TargetKeyId=k2)
    kms.delete_alias(AliasName="alias/zz_last")
    fails("NotFoundException", kms.delete_alias, AliasName="alias/zz_last")
    assert emu.state()["aliases"] == [
        {"AliasName": "alias/keymgmt/app-1", "TargetKeyId": k2},
        {"AliasName": "alias/keymgmt/app-2", "TargetKeyId": k2},
    ]
    # aliases cannot point at a key pending deletion
    kms.schedule_key_deletion(KeyId=k1, PendingWindowInDays=7)
    fails("KMSInvalidStateException", kms.create_alias,
          AliasName="alias/late", TargetKeyId=k1)
    fails("KMSInvalidStateException", kms.update_alias,
          AliasName="alias/keymgmt/app-2", TargetKeyId=k1)


def test_state_transitions(emu, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"data")["CiphertextBlob"]

    kms.disable_key(KeyId=key_id)
    kms.disable_key(KeyId=key_id)  # idempotent, like AWS
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and meta["Enabled"] is False
    fails("DisabledException", kms.encrypt, KeyId=key_id, Plaintext=b"x")
    fails("DisabledException", kms.decrypt, CiphertextBlob=blob)
    kms.enable_key(KeyId=key_id)
    assert key_state(emu, key_id)["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"data"

    fails("ValidationException", kms.schedule_key_deletion, KeyId=key_id,
          PendingWindowInDays=6)
    fails("ValidationException", kms.schedule_key_deletion, KeyId=key_id,
          PendingWindowInDays=31)
    resp = kms.schedule_key_deletion(KeyId=key_id)
    assert resp["KeyId"].endswith(":key/" + key_id)
    assert resp["KeyState"] == "PendingDeletion"
    assert resp["PendingWindowInDays"] == 30
    assert abs(resp["DeletionDate"].timestamp() -
               (time.time() + 30 * 86400)) < 120
    st = key_state(emu, key_id)
    assert st["KeyState"] == "PendingDeletion"
    assert abs(st["DeletionDate"] - resp["DeletionDate"].timestamp()) < 1
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    assert meta["PendingDeletionWindowInDays"] == 30
    assert "DeletionDate" in meta

    for op, kw in ((kms.enable_key, {}), (kms.disable_key, {}),
                   (kms.schedule_key_deletion, {}),
                   (kms.encrypt, {"Plaintext": b"x"}),
                   (kms.tag_resource, {"Tags": [{"TagKey": "a",
                                                 "TagValue": "b"}]}),
                   (kms.untag_resource, {"TagKeys": ["a"]})):
        fails("KMSInvalidStateException", op, KeyId=key_id, **kw)
    fails("KMSInvalidStateException", kms.decrypt, CiphertextBlob=blob)

    resp = kms.cancel_key_deletion(KeyId=key_id)
    assert resp["KeyId"].endswith(":key/" + key_id)
    st = key_state(emu, key_id)
    assert st["KeyState"] == "Disabled" and st["DeletionDate"] is None
    fails("KMSInvalidStateException", kms.cancel_key_deletion, KeyId=key_id)
    kms.enable_key(KeyId=key_id)

    # a key waiting for its material
    ext = external_key(kms)
    fails("KMSInvalidStateException", kms.enable_key, KeyId=ext)
    fails("KMSInvalidStateException", kms.disable_key, KeyId=ext)
    fails("KMSInvalidStateException", kms.cancel_key_deletion, KeyId=ext)
    resp = kms.schedule_key_deletion(KeyId=ext, PendingWindowInDays=7)
    assert resp["PendingWindowInDays"] == 7
    kms.cancel_key_deletion(KeyId=ext)
    assert key_state(emu, ext)["KeyState"] == "PendingImport"
    fails("NotFoundException", kms.enable_key, KeyId=str(uuid.uuid4()))


def test_tags(emu, kms):
    key_id = external_key(kms, Tags=[{"TagKey": "a", "TagValue": "1"}])
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "b", "TagValue": "2"},
                                         {"TagKey": "a", "TagValue": "3"}])
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [
        {"TagKey": "a", "TagValue": "3"}, {"TagKey": "b", "TagValue": "2"}]
    page = kms.list_resource_tags(KeyId=key_id, Limit=1)
    assert page["Truncated"] is True and len(page["Tags"]) == 1
    rest = kms.list_resource_tags(KeyId=key_id, Marker=page["NextMarker"])
    assert rest["Tags"] == [{"TagKey": "b", "TagValue": "2"}]
    assert rest["Truncated"] is False
    kms.untag_resource(KeyId=key_id, TagKeys=["a", "not-there"])
    assert key_state(emu, key_id)["Tags"] == [{"TagKey": "b",
                                               "TagValue": "2"}]
    fails("TagException", kms.tag_resource, KeyId=key_id,
          Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}])
    fails("NotFoundException", kms.list_resource_tags,
          KeyId=str(uuid.uuid4()))


def test_list_keys_pagination(emu, kms):
    created = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)]
    first = kms.list_keys(Limit=2)
    assert first["Truncated"] is True and len(first["Keys"]) == 2
    second = kms.list_keys(Limit=2, Marker=first["NextMarker"])
    assert second["Truncated"] is False and "NextMarker" not in second
    listed = first["Keys"] + second["Keys"]
    assert [k["KeyId"] for k in listed] == created
    assert all(k["KeyArn"].endswith(":key/" + k["KeyId"]) for k in listed)
    assert [k["KeyId"] for k in emu.state()["keys"]] == created
    fails("InvalidMarkerException", kms.list_keys, Marker="nope")
    kms.create_alias(AliasName="alias/a", TargetKeyId=created[0])
    kms.create_alias(AliasName="alias/b", TargetKeyId=created[0])
    alias_marker = kms.list_aliases(Limit=1)["NextMarker"]
    fails("InvalidMarkerException", kms.list_keys, Marker=alias_marker)


def test_concurrent_calls_are_consistent(emu, kms):
    errors = []

    def worker():
        try:
            c = make_client(emu)
            for _ in range(5):
                kid = c.create_key()["KeyMetadata"]["KeyId"]
                c.disable_key(KeyId=kid)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    keys = emu.state()["keys"]
    assert len(keys) == 30 and all(k["KeyState"] == "Disabled" for k in keys)
    assert len(emu.requests()) == 60


# --------------------------------------------------------------------------
# protocol details
# --------------------------------------------------------------------------

def test_protocol_shapes(emu):
    resp = raw_call(emu, "CreateKey", {"Description": "raw"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert uuid.UUID(resp.headers["x-amzn-RequestId"])
    key_id = resp.json()["KeyMetadata"]["KeyId"]
    # timestamps are written like AWS does (Java doubles): 1.655753311082E9
    created = resp.json()["KeyMetadata"]["CreationDate"]
    assert isinstance(created, float) and abs(created - time.time()) < 60
    assert re.search(r'"CreationDate":1\.\d+E9[,}]', resp.text), resp.text
    # operations without output members answer 200 with an empty body
    resp = raw_call(emu, "DisableKey", {"KeyId": key_id})
    assert resp.status_code == 200 and resp.content == b""
    assert resp.headers["Content-Length"] == "0"
    assert uuid.UUID(resp.headers["x-amzn-RequestId"])

    resp = raw_call(emu, "FrobnicateKey", {})
    assert resp.status_code == 400
    assert error_of(resp) == "UnknownOperationException"
    resp = raw_call(emu, "DescribeKey", b"{not json")
    assert resp.status_code == 400 and error_of(resp) == \
        "SerializationException"
    resp = raw_call(emu, "DescribeKey", b"[1, 2]")
    assert error_of(resp) == "SerializationException"
    resp = raw_call(emu, "DescribeKey", {})
    assert error_of(resp) == "ValidationException"
    assert "keyId" in resp.json()["message"]
    resp = raw_call(emu, "DescribeKey", {"KeyId": 42})
    assert error_of(resp) == "SerializationException"
    resp = raw_call(emu, "Encrypt", {"KeyId": key_id, "Plaintext": "!!!"})
    assert error_of(resp) == "SerializationException"
    resp = raw_call(emu, "GetParametersForImport", {
        "KeyId": key_id, "WrappingAlgorithm": "RSAES_OAEP_SHA_512",
        "WrappingKeySpec": "RSA_2048"})
    assert error_of(resp) == "ValidationException"
    resp = raw_call(emu, "ImportKeyMaterial", {"KeyId": key_id})
    assert error_of(resp) == "ValidationException"
    resp = raw_call(emu, "ListAliases", {"Limit": 0})
    assert error_of(resp) == "ValidationException"
    # an empty body counts as {}
    resp = raw_call(emu, "ListKeys", b"")
    assert resp.status_code == 200 and len(resp.json()["Keys"]) == 1


def test_garbage_never_kills_the_server(emu):
    key_id = make_client(emu).create_key()["KeyMetadata"]["KeyId"]
    junk_values = [None, 0, -1, 1.5, True, "", "x" * 3000, [], [1], {},
                   {"a": 1}, [{"TagKey": 1}], "alias/", "arn:aws:kms:x",
                   key_id, "AAAA", "=="]
    members = ["KeyId", "Plaintext", "CiphertextBlob", "Tags", "TagKeys",
               "AliasName", "TargetKeyId", "Limit", "Marker",
               "EncryptionContext", "ImportToken", "EncryptedKeyMaterial",
               "ExpirationModel", "ValidTo", "WrappingAlgorithm",
               "WrappingKeySpec", "PendingWindowInDays", "Origin",
               "KeySpec", "Description"]
    operations = ["CreateKey", "DescribeKey", "GetParametersForImport",
                  "ImportKeyMaterial", "CreateAlias", "UpdateAlias",
                  "DeleteAlias", "ListAliases", "EnableKey", "DisableKey",
                  "ScheduleKeyDeletion", "CancelKeyDeletion", "TagResource",
                  "UntagResource", "ListResourceTags", "ListKeys", "Encrypt",
                  "Decrypt"]
    session = requests.Session()
    n = 0
    for i, op in enumerate(operations):
        for j, value in enumerate(junk_values):
            body = {m: value for m in members[(i + j) % 5::3]}
            body["KeyId"] = junk_values[(i * 7 + j) % len(junk_values)]
            headers, data = signed_request(emu, op, body)
            resp = session.post(emu.url + "/", data=data, headers=headers,
                                timeout=20)
            n += 1
            assert resp.status_code in (200, 400), (op, body, resp.text)
            if resp.status_code == 400:
                assert error_of(resp) != "KMSInternalException"
    log = emu.requests()
    assert len(log) == n + 1
    assert all(e["signature_valid"] for e in log)
    assert make_client(emu).describe_key(KeyId=key_id)


def test_keep_alive_connection_reuse(emu):
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    try:
        sockets = set()
        for op, payload in (("CreateKey", {}), ("DescribeKey", {}),
                            ("ListKeys", {}), ("EnableKey",
                                               {"KeyId": "nope"}),
                            ("ListAliases", {})):
            headers, body = signed_request(emu, op, payload)
            conn.request("POST", "/", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            assert resp.getheader("Content-Length") == str(len(data))
            assert resp.getheader("Connection") in (None, "keep-alive")
            sockets.add(id(conn.sock))
        assert len(sockets) == 1, "the connection was not reused"
        # a chunked request body works too
        headers, body = signed_request(emu, "ListKeys", {})
        conn.request("POST", "/", body=iter([body[:3], body[3:]]),
                     headers=headers, encode_chunked=True)
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["Keys"]
    finally:
        conn.close()


# --------------------------------------------------------------------------
# 2. signatures
# --------------------------------------------------------------------------

def test_signature_checks(emu):
    now = datetime.datetime.utcnow()
    cases = [
        # (description, kwargs for signed_request, mutate, code, status)
        ("valid", {}, None, None, 200),
        ("wrong secret", {"sk": SK + "x"}, None,
         "InvalidSignatureException", 400),
        ("unknown access key", {"ak": "AKIAUNKNOWN000000000"}, None,
         "UnrecognizedClientException", 400),
        ("wrong region in scope", {"region": "eu-west-1"}, None,
         "InvalidSignatureException", 400),
        ("wrong service in scope", {"service": "s3"}, None,
         "InvalidSignatureException", 400),
        ("clock skew 10 min", {"when": now - datetime.timedelta(minutes=10)},
         None, "InvalidSignatureException", 400),
        ("clock ahead 10 min", {"when": now + datetime.timedelta(minutes=10)},
         None, "InvalidSignatureException", 400),
        ("clock skew 4 min", {"when": now - datetime.timedelta(minutes=4)},
         None, None, 200),
        ("body tampered after signing", {},
         lambda h, b: (h, b.replace(b'"Limit": 5', b'"Limit": 6')),
         "InvalidSignatureException", 400),
        ("signed header tampered", {},
         lambda h, b: (dict(h, **{"X-Amz-Target":
                                  "TrentService.ListAliases"}), b),
         "InvalidSignatureException", 400),
        ("no Authorization", {},
         lambda h, b: ({k: v for k, v in h.items()
                        if k != "Authorization"}, b),
         "MissingAuthenticationToken", 403),
        ("no X-Amz-Date", {},
         lambda h, b: ({k: v for k, v in h.items() if k != "X-Amz-Date"}, b),
         "IncompleteSignature", 400),
        ("no Signature part", {},
         lambda h, b: (dict(h, Authorization=h["Authorization"].rsplit(
             ", Signature=", 1)[0]), b),
         "IncompleteSignature", 400),
        ("not SigV4", {},
         lambda h, b: (dict(h, Authorization="Bearer abc"), b),
         "IncompleteSignature", 400),
        ("host not signed", {"sign_names": {"x-amz-date", "x-amz-target",
                                            "content-type"}}, None,
         "InvalidSignatureException", 400),
        ("extra headers signed (user-agent too)",
         {"sign_names": {"host", "x-amz-date", "x-amz-target",
                         "content-type", "user-agent"}}, None, None, 200),
        ("unexpected session token", {"token": "some-token"}, None,
         "UnrecognizedClientException", 400),
    ]
    for desc, kw, mutate, code, status in cases:
        headers, body = signed_request(emu, "ListKeys", {"Limit": 5}, **kw)
        if mutate:
            headers, body = mutate(headers, body)
        resp = send(emu, headers, body)
        assert resp.status_code == status, (desc, resp.text)
        if code:
            assert error_of(resp) == code, desc
            assert resp.json()["message"], desc

    log = emu.requests()
    assert len(log) == len(cases)
    for (desc, kw, mutate, code, status), entry in zip(cases, log):
        assert entry["status"] == status, desc
        assert entry["error_code"] == code, desc
        assert entry["signature_valid"] is (code is None), desc
        assert entry["operation"] == ("ListAliases" if desc ==
                                      "signed header tampered"
                                      else "ListKeys"), desc
        assert entry["fault"] is None
        assert entry["session_token_present"] is ("token" in kw), desc
    assert log[0]["access_key"] == AK
    assert log[2]["access_key"] == "AKIAUNKNOWN000000000"
    assert emu.state()["keys"] == []


def test_signature_errors_through_botocore(emu):
    fails("InvalidSignatureException",
          make_client(emu, sk="wrong-secret").list_keys)
    fails("UnrecognizedClientException",
          make_client(emu, ak="AKIAWRONG").list_keys)
    fails("InvalidSignatureException",
          make_client(emu, region="us-west-2").list_keys)
    fails("UnrecognizedClientException",
          make_client(emu, token="unexpected").list_keys)
    make_client(emu).list_keys()
    log = emu.requests()
    assert [e["error_code"] for e in log] == [
        "InvalidSignatureException", "UnrecognizedClientException",
        "InvalidSignatureException", "UnrecognizedClientException", None]
    assert [e["signature_valid"] for e in log] == [False] * 4 + [True]
    assert log[3]["session_token_present"] is True


def test_session_token():
    emu = start_emulator(AK, SK, session_token="FwoGZXIvYXdzEXAMPLETOKEN==")
    try:
        ok = make_client(emu, token="FwoGZXIvYXdzEXAMPLETOKEN==")
        key_id = ok.create_key()["KeyMetadata"]["KeyId"]
        fails("UnrecognizedClientException", make_client(emu).describe_key,
              KeyId=key_id)
        fails("UnrecognizedClientException",
              make_client(emu, token="other-token").describe_key,
              KeyId=key_id)
        # the token must be signed, not added afterwards
        headers, body = signed_request(emu, "ListKeys", {})
        headers["X-Amz-Security-Token"] = "FwoGZXIvYXdzEXAMPLETOKEN=="
        resp = send(emu, headers, body)
        assert error_of(resp) == "UnrecognizedClientException"
        resp = raw_call(emu, "ListKeys", {},
                        token="FwoGZXIvYXdzEXAMPLETOKEN==")
        assert resp.status_code == 200
        log = emu.requests()
        assert [e["error_code"] for e in log] == [
            None, "UnrecognizedClientException",
            "UnrecognizedClientException", "UnrecognizedClientException",
            None]
        assert [e["session_token_present"] for e in log] == [
            True, False, True, True, True]
        assert [e["signature_valid"] for e in log] == [
            True, False, False, False, True]
    finally:
        assert emu.stop() == 0


# --------------------------------------------------------------------------
# 3. fault injection
# --------------------------------------------------------------------------

def test_fault_error_injection(emu, kms):
    emu.inject(operation="CreateKey", action="error",
               code="ThrottlingException", count=2)
    assert emu.faults()[0]["count"] == 2
    for _ in range(2):
        resp = fails("ThrottlingException", kms.create_key)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 400
        kms.list_keys()  # other operations are not affected
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert [k["KeyId"] for k in emu.state()["keys"]] == [key_id]
    assert emu.faults() == []

    emu.inject(operation="Encrypt", code="KMSInternalException")
    emu.inject(operation="Encrypt", code="ServiceUnavailableException",
               status=503, message="try later")
    resp = fails("KMSInternalException", kms.encrypt, KeyId=key_id,
                 Plaintext=b"x")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 500
    resp = fails("ServiceUnavailableException", kms.encrypt, KeyId=key_id,
                 Plaintext=b"x")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert resp["Error"]["Message"] == "try later"
    kms.encrypt(KeyId=key_id, Plaintext=b"x")

    log = emu.requests()
    assert [(e["operation"], e["fault"], e["error_code"], e["status"])
            for e in log] == [
        ("CreateKey", "error", "ThrottlingException", 400),
        ("ListKeys", None, None, 200),
        ("CreateKey", "error", "ThrottlingException", 400),
        ("ListKeys", None, None, 200),
        ("CreateKey", None, None, 200),
        ("Encrypt", "error", "KMSInternalException", 500),
        ("Encrypt", "error", "ServiceUnavailableException", 503),
        ("Encrypt", None, None, 200),
    ]
    assert all(e["signature_valid"] for e in log)


def test_fault_needs_valid_signature_and_can_be_cleared(emu, kms):
    emu.inject(operation="ListKeys", count=1)
    fails("InvalidSignatureException", make_client(emu, sk="bad").list_keys)
    assert emu.faults()[0]["count"] == 1  # not consumed
    emu.clear_faults()
    kms.list_keys()
    assert [e["fault"] for e in emu.requests()] == [None, None]
    with pytest.raises(EmulatorError):
        emu.inject(action="explode")
    with pytest.raises(EmulatorError):
        emu.inject(action="delay")  # no delay_ms
    with pytest.raises(EmulatorError):
        emu.inject(count=0)


def test_fault_delay(emu, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    emu.inject(operation="DescribeKey", action="delay", delay_ms=800)
    result = {}
    other = make_client(emu)

    def slow():
        t0 = time.monotonic()
        result["meta"] = other.describe_key(KeyId=key_id)
        result["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=slow)
    t.start()
    deadline = time.monotonic() + 5
    while emu.faults() and time.monotonic() < deadline:  # wait for pickup
        time.sleep(0.01)
    # other calls (even the same operation) are not blocked meanwhile
    kms.describe_key(KeyId=key_id)
    kms.list_keys()
    assert t.is_alive()
    t.join()
    assert result["elapsed"] >= 0.8
    assert result["meta"]["KeyMetadata"]["KeyId"] == key_id
    log = emu.requests()
    assert [(e["operation"], e["fault"]) for e in log[1:]] == [
        ("DescribeKey", None), ("ListKeys", None), ("DescribeKey", "delay")]
    assert log[-1]["status"] == 200


def test_fault_drop(emu, kms):
    kms.list_keys()  # open a kept-alive connection first
    emu.inject(operation="ListKeys", action="drop")
    with pytest.raises((ConnectionClosedError, EndpointConnectionError,
                        HTTPClientError)):
        kms.list_keys()
    assert kms.list_keys()["Keys"] == []
    # raw socket view: the connection is closed without a single byte
    emu.inject(operation="ListKeys", action="drop")
    headers, body = signed_request(emu, "ListKeys", {})
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    conn.request("POST", "/", body=body, headers=headers)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        conn.getresponse()
    conn.close()
    log = emu.requests()
    assert [(e["fault"], e["status"]) for e in log] == [
        (None, 200), ("drop", None), (None, 200), ("drop", None)]


def test_fault_drop_after_processing(emu, kms):
    # The call takes effect but its response is lost: what a client sees
    # when the network fails after AWS acted.
    emu.inject(operation="CreateKey", action="drop_after")
    with pytest.raises((ConnectionClosedError, EndpointConnectionError,
                        HTTPClientError)):
        kms.create_key(Origin="EXTERNAL", Tags=[{"TagKey": "keymgmt:key",
                                                 "TagValue": "lost"}])
    keys = emu.state()["keys"]
    assert len(keys) == 1 and keys[0]["KeyState"] == "PendingImport"
    assert keys[0]["Tags"] == [{"TagKey": "keymgmt:key", "TagValue": "lost"}]
    log = emu.requests()
    assert (log[0]["fault"], log[0]["status"]) == ("drop_after", 200)


def test_curl_sigv4_keep_alive_and_drop_retry(emu):
    """curl's own SigV4 signer (a third implementation) is accepted, a
    kept-alive connection is reused, and - worth knowing for the C client -
    libcurl transparently retries a request whose reused connection was
    closed before any response byte, so a single "drop" on a reused
    connection is invisible to libcurl users (inject count >= 2)."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")

    def req(op):
        return ["--aws-sigv4", "aws:amz:%s:kms" % REGION,
                "--user", "%s:%s" % (AK, SK),
                "-H", "Content-Type: application/x-amz-json-1.1",
                "-H", "X-Amz-Target: TrentService." + op, "-d", "{}",
                "-w", "\n%{http_code} %{num_connects}\n", emu.url + "/"]

    emu.inject(operation="ListKeys", action="drop", count=1)
    proc = subprocess.run([curl, "-sS", *req("ListAliases"), "--next",
                           *req("ListKeys"), "--next", *req("ListKeys")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert [ln.split()[0] for ln in lines[1::2]] == ["200"] * 3, proc.stdout
    assert json.loads(lines[2]) == {"Truncated": False, "Keys": []}
    log = emu.requests()
    assert [(e["operation"], e["fault"], e["signature_valid"])
            for e in log] == [("ListAliases", None, True),
                              ("ListKeys", "drop", True),
                              ("ListKeys", None, True),
                              ("ListKeys", None, True)]
    # the connection was reused for the 2nd and 3rd transfers (0 new
    # connects), the dropped one cost one reconnect
    assert [ln.split()[1] for ln in lines[1::2]] == ["1", "1", "0"], \
        proc.stdout


def test_fault_wildcard(emu, kms):
    emu.inject(operation="*", action="error", code="ThrottlingException",
               count=3)
    fails("ThrottlingException", kms.list_keys)
    fails("ThrottlingException", kms.create_key)
    fails("ThrottlingException", kms.list_aliases)
    kms.list_aliases()
    # rules are consumed in order; the first matching one applies
    emu.inject(operation="ListKeys", code="DependencyTimeoutException")
    emu.inject(operation="*", code="LimitExceededException")
    fails("LimitExceededException", kms.list_aliases)
    resp = fails("DependencyTimeoutException", kms.list_keys)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 503
    kms.list_keys()
    assert [e["fault"] for e in emu.requests()] == [
        "error", "error", "error", None, "error", "error", None]


def test_control_api_errors(emu):
    for method, path in (("GET", "nope"), ("POST", "state"),
                         ("PUT", "faults")):
        resp = requests.request(method, emu.url + "/_emulator/" + path,
                                timeout=10)
        assert resp.status_code == 404 and "error" in resp.json()
    resp = requests.post(emu.url + "/_emulator/faults", data=b"{bad",
                         timeout=10)
    assert resp.status_code == 400
    assert emu.requests() == []  # control calls are not KMS requests


def test_reset_wipes_everything(emu, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/x", TargetKeyId=key_id)
    emu.inject(count=5)
    emu.reset()
    assert emu.state() == {"keys": [], "aliases": []}
    assert emu.requests() == [] and emu.faults() == []
    kms.list_keys()
    assert len(emu.requests()) == 1


# --------------------------------------------------------------------------
# 4. the real AWS CLI v2
# --------------------------------------------------------------------------

def test_aws_cli_import_flow(emu, tmp_path):
    if not os.path.exists(AWS_CLI):
        pytest.skip("%s (Debian's awscli) is not installed" % AWS_CLI)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
        "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": "",
        "AWS_EC2_METADATA_DISABLED": "true", "HOME": str(tmp_path),
    })

    def aws(*args):
        proc = subprocess.run(
            [AWS_CLI, "kms", *args, "--endpoint-url", emu.url,
             "--output", "json"], env=env, capture_output=True, text=True,
            timeout=120, cwd=str(tmp_path))
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    meta = aws("create-key", "--origin", "EXTERNAL", "--description",
               "awscli", "--tags", "TagKey=keymgmt,TagValue=cli")[
                   "KeyMetadata"]
    key_id = meta["KeyId"]
    st = key_state(emu, key_id)
    assert st["KeyState"] == "PendingImport" and st["Origin"] == "EXTERNAL"
    assert st["Tags"] == [{"TagKey": "keymgmt", "TagValue": "cli"}]

    params = aws("get-parameters-for-import", "--key-id", key_id,
                 "--wrapping-algorithm", "RSAES_OAEP_SHA_256",
                 "--wrapping-key-spec", "RSA_4096")
    assert params["KeyId"] == meta["Arn"]
    pub_der = tmp_path / "pub.der"
    pub_der.write_bytes(base64.b64decode(params["PublicKey"]))
    token = tmp_path / "token.bin"
    token.write_bytes(base64.b64decode(params["ImportToken"]))
    assert serialization.load_der_public_key(
        pub_der.read_bytes()).key_size == 4096
    assert key_state(emu, key_id)["KeyState"] == "PendingImport"

    material = os.urandom(32)
    (tmp_path / "material.bin").write_bytes(material)
    wrapped = tmp_path / "wrapped.bin"
    if shutil.which("openssl"):
        subprocess.run(
            ["openssl", "pkeyutl", "-encrypt", "-pubin", "-keyform", "DER",
             "-inkey", str(pub_der), "-in", str(tmp_path / "material.bin"),
             "-out", str(wrapped), "-pkeyopt", "rsa_padding_mode:oaep",
             "-pkeyopt", "rsa_oaep_md:sha256",
             "-pkeyopt", "rsa_mgf1_md:sha256"], check=True, timeout=60)
    else:
        wrapped.write_bytes(wrap(pub_der.read_bytes(), material))
    assert aws("import-key-material", "--key-id", key_id,
               "--encrypted-key-material", "fileb://" + str(wrapped),
               "--import-token", "fileb://" + str(token),
               "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE") is None
    st = key_state(emu, key_id)
    assert st["KeyState"] == "Enabled"
    assert st["material_sha256"] == hashlib.sha256(material).hexdigest()
    assert st["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"

    plaintext = os.urandom(100)
    (tmp_path / "plain.bin").write_bytes(plaintext)
    enc = aws("encrypt", "--key-id", key_id, "--plaintext",
              "fileb://" + str(tmp_path / "plain.bin"))
    assert enc["KeyId"] == meta["Arn"]
    (tmp_path / "ct.bin").write_bytes(base64.b64decode(enc["CiphertextBlob"]))
    dec = aws("decrypt", "--ciphertext-blob",
              "fileb://" + str(tmp_path / "ct.bin"))
    assert base64.b64decode(dec["Plaintext"]) == plaintext
    assert dec["KeyId"] == meta["Arn"]

    assert aws("create-alias", "--alias-name", "alias/keymgmt/cli-1",
               "--target-key-id", key_id) is None
    assert emu.state()["aliases"] == [{"AliasName": "alias/keymgmt/cli-1",
                                       "TargetKeyId": key_id}]
    listed = aws("list-aliases")["Aliases"]
    assert [(a["AliasName"], a["TargetKeyId"]) for a in listed] == [
        ("alias/keymgmt/cli-1", key_id)]

    assert aws("disable-key", "--key-id", key_id) is None
    assert key_state(emu, key_id)["KeyState"] == "Disabled"

    sched = aws("schedule-key-deletion", "--key-id", key_id,
                "--pending-window-in-days", "7")
    assert sched["KeyState"] == "PendingDeletion"
    assert sched["PendingWindowInDays"] == 7
    st = key_state(emu, key_id)
    assert st["KeyState"] == "PendingDeletion"
    assert abs(st["DeletionDate"] - (time.time() + 7 * 86400)) < 300

    log = emu.requests()
    assert [e["operation"] for e in log] == [
        "CreateKey", "GetParametersForImport", "ImportKeyMaterial",
        "Encrypt", "Decrypt", "CreateAlias", "ListAliases", "DisableKey",
        "ScheduleKeyDeletion"]
    for e in log:
        assert e["signature_valid"] is True, e
        assert e["status"] == 200 and e["error_code"] is None, e
        assert e["access_key"] == AK and e["session_token_present"] is False
