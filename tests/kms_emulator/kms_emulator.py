#!/usr/bin/python3
"""Local AWS KMS emulator for keymgmt's tests.

Speaks the KMS JSON 1.1 protocol (``POST /`` with ``X-Amz-Target:
TrentService.<Op>``), verifies the SigV4 signature of every request with
botocore's signer, keeps key state like AWS (PendingImport -> Enabled <->
Disabled -> PendingDeletion), unwraps imported key material with its own RSA
wrapping keys, really encrypts/decrypts with the key material (AES-256-GCM) and
can inject faults (errors, delays, dropped connections) through an unsigned
control API under ``/_emulator/``.

Runs under Debian 12's /usr/bin/python3 with the standard library plus
python3-botocore and python3-cryptography. See README.md next to this file.
"""

import argparse
import base64
import binascii
import datetime
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "TrentService."
MAX_CLOCK_SKEW = 300  # seconds, like AWS
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"

ALIAS_RE = re.compile(r"^alias/[a-zA-Z0-9/_-]+$")
UUID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ARN_RE = re.compile(
    r"^arn:(aws[a-zA-Z-]*):kms:([a-z0-9-]+):(\d{12}):(key|alias)/(.+)$")
TAG_KEY_RE = re.compile(r"^[\w\s+=.:/@-]*$", re.UNICODE)

WRAPPING_ALGORITHMS = ("RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1",
                       "RSAES_PKCS1_V1_5")
WRAPPING_KEY_SPECS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
EXPIRATION_MODELS = ("KEY_MATERIAL_EXPIRES", "KEY_MATERIAL_DOES_NOT_EXPIRE")

# Blob formats (opaque to clients; documented in README.md).
CIPHERTEXT_MAGIC = b"kEmU\x01"
IMPORT_TOKEN_MAGIC = b"kEiT\x01"

# Predefined AWS managed aliases, listed by ListAliases only with
# --aws-managed-aliases (AWS lists them even though they have no target).
AWS_MANAGED_ALIASES = ("alias/aws/ebs", "alias/aws/rds", "alias/aws/s3")

# Default HTTP status of an injected error, by code.
FAULT_STATUS = {
    "KMSInternalException": 500,
    "InternalFailure": 500,
    "KeyUnavailableException": 500,
    "ServiceUnavailableException": 503,
    "ServiceUnavailable": 503,
    "DependencyTimeoutException": 503,
}


class KMSError(Exception):
    """An AWS-style error response."""

    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def validation_error(value, member, constraint):
    shown = "null" if value is None else repr(value) if not isinstance(
        value, str) else "'%s'" % value
    return KMSError(
        "ValidationException",
        "1 validation error detected: Value %s at '%s' failed to satisfy "
        "constraint: %s" % (shown, member, constraint))


def lower_first(name):
    return name[:1].lower() + name[1:]


def now():
    return time.time()


class Timestamp:
    """An epoch-seconds timestamp in a KMS response. AWS's JSON protocol
    writes these like Java's Double.toString: 1.655753311082E9."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = round(value, 3)

    def java(self):
        int_part, frac = ("%.3f" % self.value).split(".")
        sign = ""
        if int_part.startswith("-"):
            sign, int_part = "-", int_part[1:]
        mantissa = (int_part[1:] + frac).rstrip("0") or "0"
        return "%s%s.%sE%d" % (sign, int_part[0], mantissa, len(int_part) - 1)


def epoch(t):
    """Timestamps go out as epoch seconds with millisecond precision."""
    return Timestamp(t)


def plain(t):
    """Timestamps in the control API: plain JSON numbers (or null)."""
    return None if t is None else round(t, 3)


_TS_SENTINEL = "__kms_emulator_ts_%s__" % os.urandom(8).hex()
_TS_RE = re.compile('"%s([^"]+)"' % _TS_SENTINEL)


def kms_json(payload):
    """Compact JSON like AWS, timestamps as Java-style doubles."""
    def default(o):
        if isinstance(o, Timestamp):
            return _TS_SENTINEL + o.java()
        raise TypeError("not JSON serializable: %r" % (o,))
    text = json.dumps(payload, separators=(",", ":"), default=default)
    return _TS_RE.sub(lambda m: m.group(1), text).encode("utf-8")


# --------------------------------------------------------------------------
# Request parameter access with AWS-like validation
# --------------------------------------------------------------------------

class Params:
    def __init__(self, body):
        self.body = body

    def _get(self, name, required):
        value = self.body.get(name)
        if value is None and required:
            raise validation_error(None, lower_first(name),
                                   "Member must not be null")
        return value

    def str(self, name, required=False, min_len=1, max_len=None, enum=None):
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise KMSError("SerializationException",
                           "Unexpected value type for member '%s'; expected "
                           "a string" % name)
        member = lower_first(name)
        if len(value) < min_len:
            raise validation_error(value, member, "Member must have length "
                                   "greater than or equal to %d" % min_len)
        if max_len is not None and len(value) > max_len:
            raise validation_error(value, member, "Member must have length "
                                   "less than or equal to %d" % max_len)
        if enum is not None and value not in enum:
            raise validation_error(value, member, "Member must satisfy enum "
                                   "value set: [%s]" % ", ".join(enum))
        return value

    def int(self, name, required=False, lo=None, hi=None):
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise KMSError("SerializationException",
                           "Unexpected value type for member '%s'; expected "
                           "an integer" % name)
        member = lower_first(name)
        if lo is not None and value < lo:
            raise validation_error(value, member, "Member must have value "
                                   "greater than or equal to %d" % lo)
        if hi is not None and value > hi:
            raise validation_error(value, member, "Member must have value "
                                   "less than or equal to %d" % hi)
        return value

    def bool(self, name):
        value = self._get(name, False)
        if value is not None and not isinstance(value, bool):
            raise KMSError("SerializationException",
                           "Unexpected value type for member '%s'; expected "
                           "a boolean" % name)
        return value

    def blob(self, name, required=False, min_len=1, max_len=None):
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise KMSError("SerializationException",
                           "Unexpected value type for member '%s'; expected "
                           "base64 text" % name)
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise KMSError("SerializationException",
                           "Member '%s' is not valid base64" % name) from None
        member = lower_first(name)
        if len(data) < min_len:
            raise validation_error("java.nio.HeapByteBuffer", member,
                                   "Member must have length greater than or "
                                   "equal to %d" % min_len)
        if max_len is not None and len(data) > max_len:
            raise validation_error("java.nio.HeapByteBuffer", member,
                                   "Member must have length less than or "
                                   "equal to %d" % max_len)
        return data

    def timestamp(self, name):
        value = self._get(name, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise KMSError("SerializationException",
                           "Unexpected value type for member '%s'; expected "
                           "epoch seconds" % name)
        return float(value)

    def str_list(self, name, required=False):
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, list) or not all(
                isinstance(v, str) for v in value):
            raise KMSError("SerializationException",
                           "Member '%s' must be a list of strings" % name)
        return value

    def str_map(self, name):
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, dict) or not all(
                isinstance(v, str) for v in value.values()):
            raise KMSError("SerializationException",
                           "Member '%s' must be a map of strings" % name)
        return value

    def tags(self, name, required=False):
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, list):
            raise KMSError("SerializationException",
                           "Member '%s' must be a list of tags" % name)
        tags = []
        for i, tag in enumerate(value):
            if not isinstance(tag, dict):
                raise KMSError("SerializationException",
                               "Tag %d is not a structure" % i)
            p = Params(tag)
            key = p.str("TagKey", required=True, max_len=128)
            val = p.str("TagValue", required=True, min_len=0, max_len=256)
            if not TAG_KEY_RE.match(key) or not TAG_KEY_RE.match(val):
                raise KMSError("TagException",
                               "Tag %r contains invalid characters" % key)
            if key.lower().startswith("aws:"):
                raise KMSError("TagException",
                               "Tag keys beginning with 'aws:' are reserved")
            tags.append((key, val))
        return tags


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------

class Key:
    def __init__(self, key_id, arn, origin, description, usage, tags):
        self.key_id = key_id
        self.arn = arn
        self.origin = origin
        self.description = description
        self.usage = usage
        self.tags = dict(tags)
        self.creation_date = now()
        self.state = "PendingImport" if origin == "EXTERNAL" else "Enabled"
        self.material = None if origin == "EXTERNAL" else os.urandom(32)
        # sha256 of the first material ever imported: AWS binds a key to it.
        self.fingerprint = None
        self.expiration_model = None
        self.valid_to = None
        self.deletion_date = None
        self.pending_window = None


class Alias:
    def __init__(self, name, target):
        self.name = name
        self.target = target
        self.creation_date = now()
        self.last_updated = self.creation_date


class Emulator:
    def __init__(self, access_key, secret_key, session_token=None,
                 region="us-east-1", account_id="111122223333",
                 import_token_ttl=86400, aws_managed_aliases=False,
                 verbose=False):
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token
        self.region = region
        self.account_id = account_id
        self.import_token_ttl = import_token_ttl
        self.aws_managed_aliases = aws_managed_aliases
        self.verbose = verbose
        self.partition = "aws-cn" if region.startswith("cn-") else "aws"
        self.lock = threading.Lock()
        self.token_secret = os.urandom(32)
        self.rsa_keys = {}
        self.rsa_locks = {spec: threading.Lock()
                          for spec in WRAPPING_KEY_SPECS}
        self.keys = {}
        self.aliases = {}
        self.faults = []
        self.request_log = []

    # ---------------------------------------------------------------- helpers
    def arn_prefix(self):
        return "arn:%s:kms:%s:%s:" % (self.partition, self.region,
                                       self.account_id)

    def key_arn(self, key_id):
        return self.arn_prefix() + "key/" + key_id

    def alias_arn(self, name):
        return self.arn_prefix() + name

    def reset(self):
        with self.lock:
            self.keys.clear()
            self.aliases.clear()
            self.faults.clear()
            self.request_log.clear()

    def rsa_key(self, spec):
        """One wrapping key pair per WrappingKeySpec, generated lazily (slow
        for RSA_4096) without holding the state lock."""
        with self.rsa_locks[spec]:
            key = self.rsa_keys.get(spec)
            if key is None:
                key = rsa.generate_private_key(
                    public_exponent=65537, key_size=WRAPPING_KEY_SPECS[spec])
                self.rsa_keys[spec] = key
            return key

    def _refresh(self, key):
        """Expire imported material whose ValidTo has passed (AWS deletes it
        and the key goes back to PendingImport)."""
        if (key.material is not None and key.valid_to is not None
                and key.expiration_model == "KEY_MATERIAL_EXPIRES"
                and key.valid_to <= now()):
            key.material = None
            if key.state in ("Enabled", "Disabled"):
                key.state = "PendingImport"

    def _resolve(self, key_id, allow_alias=False):
        """Find a key by key id or key ARN (and alias name/ARN when the
        operation allows it). Caller holds the lock."""
        name = key_id
        if key_id.startswith("arn:"):
            m = ARN_RE.match(key_id)
            if not m:
                raise KMSError("InvalidArnException",
                               "Invalid ARN: %s" % key_id)
            _, region, account, kind, rest = m.groups()
            if region != self.region or account != self.account_id:
                raise KMSError("NotFoundException",
                               "%s does not exist" % key_id)
            name = rest if kind == "key" else "alias/" + rest
        if name.startswith("alias/"):
            if not allow_alias:
                raise KMSError("NotFoundException",
                               "Invalid keyId '%s'" % key_id)
            alias = self.aliases.get(name)
            if alias is None:
                raise KMSError("NotFoundException", "Alias %s is not found."
                               % self.alias_arn(name))
            key = self.keys[alias.target]
        else:
            if not UUID_RE.match(name):
                raise KMSError("NotFoundException",
                               "Invalid keyId '%s'" % key_id)
            key = self.keys.get(name)
            if key is None:
                raise KMSError("NotFoundException", "Key '%s' does not exist"
                               % self.key_arn(name))
        self._refresh(key)
        return key

    def _invalid_state(self, key):
        words = {"PendingDeletion": "pending deletion",
                 "PendingImport": "pending import",
                 "Enabled": "enabled", "Disabled": "disabled"}
        return KMSError("KMSInvalidStateException", "%s is %s." % (
            key.arn, words.get(key.state, key.state)))

    def _require_state(self, key, *states):
        if key.state not in states:
            raise self._invalid_state(key)

    def _metadata(self, key):
        md = {
            "AWSAccountId": self.account_id,
            "KeyId": key.key_id,
            "Arn": key.arn,
            "CreationDate": epoch(key.creation_date),
            "Enabled": key.state == "Enabled",
            "Description": key.description,
            "KeyUsage": key.usage,
            "KeyState": key.state,
            "Origin": key.origin,
            "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": False,
        }
        if key.state == "PendingDeletion":
            md["DeletionDate"] = epoch(key.deletion_date)
            md["PendingDeletionWindowInDays"] = key.pending_window
        if key.origin == "EXTERNAL" and key.expiration_model is not None:
            md["ExpirationModel"] = key.expiration_model
            if (key.expiration_model == "KEY_MATERIAL_EXPIRES"
                    and key.material is not None):
                md["ValidTo"] = epoch(key.valid_to)
        return md

    def _check_alias_name(self, name, member="aliasName"):
        if len(name) > 256:
            raise validation_error(name, member, "Member must have length "
                                   "less than or equal to 256")
        if not ALIAS_RE.match(name):
            raise validation_error(name, member,
                                   "Member must satisfy regular expression "
                                   "pattern: ^alias/[a-zA-Z0-9/_-]+$")
        if name.startswith("alias/aws/"):
            raise KMSError("NotAuthorizedException",
                           "The alias/aws/ prefix is reserved for AWS managed "
                           "keys: %s" % name)

    def _alias_target(self, target_id):
        if target_id.startswith("alias/") or (
                target_id.startswith("arn:") and ":alias/" in target_id):
            raise KMSError("ValidationException",
                           "Aliases must refer to keys. Not aliases")
        key = self._resolve(target_id)
        if key.state == "PendingDeletion":
            raise self._invalid_state(key)
        return key

    @staticmethod
    def _page(items, limit, marker, sort_key):
        """Marker-based pagination over items sorted by sort_key; the marker
        is an opaque encoding of the last returned item's sort key."""
        if marker is not None:
            try:
                after = json.loads(base64.urlsafe_b64decode(
                    marker.encode("ascii")).decode("utf-8"))
                if not isinstance(after, list):
                    raise ValueError("bad marker")
            except (ValueError, UnicodeError, binascii.Error):
                raise KMSError("InvalidMarkerException",
                               "Invalid marker: %s" % marker) from None
            try:
                items = [i for i in items if list(sort_key(i)) > after]
            except TypeError:  # a marker from another listing
                raise KMSError("InvalidMarkerException",
                               "Invalid marker: %s" % marker) from None
        page, rest = items[:limit], items[limit:]
        out = {"Truncated": bool(rest)}
        if rest:
            out["NextMarker"] = base64.urlsafe_b64encode(json.dumps(
                list(sort_key(page[-1]))).encode("utf-8")).decode("ascii")
        return page, out

    # ------------------------------------------------------------ operations
    def op_CreateKey(self, p):
        description = p.str("Description", min_len=0, max_len=8192) or ""
        usage = p.str("KeyUsage", enum=("ENCRYPT_DECRYPT", "SIGN_VERIFY",
                                        "GENERATE_VERIFY_MAC"))
        spec = p.str("KeySpec")
        cmk_spec = p.str("CustomerMasterKeySpec")
        origin = p.str("Origin", enum=("AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM",
                                       "EXTERNAL_KEY_STORE")) or "AWS_KMS"
        p.str("Policy", max_len=32768)
        p.str("CustomKeyStoreId")
        p.bool("BypassPolicyLockoutSafetyCheck")
        multi_region = p.bool("MultiRegion")
        tags = p.tags("Tags") or []
        if spec is not None and cmk_spec is not None:
            raise KMSError("ValidationException",
                           "You cannot specify KeySpec and "
                           "CustomerMasterKeySpec in the same request.")
        spec = spec or cmk_spec or "SYMMETRIC_DEFAULT"
        if spec != "SYMMETRIC_DEFAULT":
            raise KMSError("ValidationException",
                           "KeySpec %s is not supported by the KMS emulator "
                           "(only SYMMETRIC_DEFAULT)" % spec)
        if usage not in (None, "ENCRYPT_DECRYPT"):
            raise KMSError("ValidationException",
                           "KeyUsage %s is not supported by the KMS emulator "
                           "(only ENCRYPT_DECRYPT)" % usage)
        if origin not in ("AWS_KMS", "EXTERNAL"):
            raise KMSError("UnsupportedOperationException",
                           "Origin %s is not supported by the KMS emulator"
                           % origin)
        if multi_region:
            raise KMSError("UnsupportedOperationException",
                           "Multi-Region keys are not supported by the KMS "
                           "emulator")
        if len(tags) > 50:
            raise KMSError("TagException", "Too many tags (at most 50)")
        if len({k for k, _ in tags}) != len(tags):
            raise KMSError("TagException", "Duplicate tag keys")
        key_id = str(uuid.uuid4())
        key = Key(key_id, self.key_arn(key_id), origin, description,
                  "ENCRYPT_DECRYPT", tags)
        with self.lock:
            self.keys[key_id] = key
            return {"KeyMetadata": self._metadata(key)}

    def op_DescribeKey(self, p):
        key_id = p.str("KeyId", required=True, max_len=2048)
        p.str_list("GrantTokens")
        with self.lock:
            key = self._resolve(key_id, allow_alias=True)
            return {"KeyMetadata": self._metadata(key)}

    def op_EnableKey(self, p):
        key_id = p.str("KeyId", required=True, max_len=2048)
        with self.lock:
            key = self._resolve(key_id)
            self._require_state(key, "Enabled", "Disabled")
            key.state = "Enabled"
        return None

    def op_DisableKey(self, p):
        key_id = p.str("KeyId", required=True, max_len=2048)
        with self.lock:
            key = self._resolve(key_id)
            self._require_state(key, "Enabled", "Disabled")
            key.state = "Disabled"
        return None

    def op_ScheduleKeyDeletion(self, p):
        key_id = p.str("KeyId", required=True, max_len=2048)
        window = p.int("PendingWindowInDays", lo=1, hi=365)
        if window is None:
            window = 30
        if not 7 <= window <= 30:
            raise KMSError("ValidationException",
                           "PendingWindowInDays must be between 7 and 30.")
        with self.lock:
            key = self._resolve(key_id)
            self._require_state(key, "Enabled", "Disabled", "PendingImport")
            key.state = "PendingDeletion"
            key.pending_window = window
            key.deletion_date = now() + window * 86400
            return {"KeyId": key.arn,
                    "DeletionDate": epoch(key.deletion_date),
                    "KeyState": key.state,
                    "PendingWindowInDays": window}

    def op_CancelKeyDeletion(self, p):
        key_id = p.str("KeyId", required=True, max_len=2048)
        with self.lock:
            key = self._resolve(key_id)
            self._require_state(key, "PendingDeletion")
            key.state = "Disabled" if key.material is not None \
                else "PendingImport"
            key.deletion_date = None
            key.pending_window = None
            return {"KeyId": key.arn}

    def op_GetParametersForImport(self, p):
        key_id = p.str("KeyId", required=True, max_len=2048)
        algorithm = p.str("WrappingAlgorithm", required=True, enum=(
            "RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256",
            "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256",
            "SM2PKE"))
        spec = p.str("WrappingKeySpec", required=True,
                     enum=("RSA_2048", "RSA_3072", "RSA_4096", "SM2"))
        if algorithm not in WRAPPING_ALGORITHMS:
            raise KMSError("ValidationException",
                           "WrappingAlgorithm %s is not supported by the KMS "
                           "emulator" % algorithm)
        if spec not in WRAPPING_KEY_SPECS:
            raise KMSError("ValidationException",
                           "WrappingKeySpec %s is not supported by the KMS "
                           "emulator" % spec)
        with self.lock:
            key = self._resolve(key_id)
            self._check_importable(key)
            arn = key.arn
            real_id = key.key_id
        private_key = self.rsa_key(spec)  # may take a while, lock released
        valid_to = now() + self.import_token_ttl
        token = self._make_import_token(real_id, algorithm, spec, valid_to)
        public_der = private_key.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"KeyId": arn,
                "ImportToken": base64.b64encode(token).decode("ascii"),
                "PublicKey": base64.b64encode(public_der).decode("ascii"),
                "ParametersValidTo": epoch(valid_to)}

    def _check_importable(self, key):
        if key.origin != "EXTERNAL":
            raise KMSError("UnsupportedOperationException",
                           "%s origin is %s which is not valid for this "
                           "operation." % (key.arn, key.origin))
        self._require_state(key, "PendingImport", "Enabled", "Disabled")

    def _make_import_token(self, key_id, algorithm, spec, valid_to):
        payload = json.dumps({"k": key_id, "a": algorithm, "s": spec,
                              "e": valid_to, "n": os.urandom(16).hex()},
                             separators=(",", ":")).encode("utf-8")
        mac = hmac.new(self.token_secret, IMPORT_TOKEN_MAGIC + payload,
                       hashlib.sha256).digest()
        return IMPORT_TOKEN_MAGIC + struct.pack(">H", len(payload)) + \
            payload + mac

    def _parse_import_token(self, token):
        bad = KMSError("InvalidImportTokenException",
                       "The import token is invalid for the specified key.")
        n = len(IMPORT_TOKEN_MAGIC)
        if len(token) < n + 2 + 32 or token[:n] != IMPORT_TOKEN_MAGIC:
            raise bad
        (length,) = struct.unpack(">H", token[n:n + 2])
        payload = token[n + 2:n + 2 + length]
        mac = token[n + 2 + length:]
        if len(payload) != length or len(mac) != 32:
            raise bad
        expected = hmac.new(self.token_secret, IMPORT_TOKEN_MAGIC + payload,
                            hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise bad
        return json.loads(payload.decode("utf-8"))

    def op_ImportKeyMaterial(self, p):
        key_id = p.str("KeyId", required=True, max_len=2048)
        token = p.blob("ImportToken", required=True, max_len=6144)
        wrapped = p.blob("EncryptedKeyMaterial", required=True, max_len=6144)
        model = p.str("ExpirationModel", enum=EXPIRATION_MODELS)
        valid_to = p.timestamp("ValidTo")
        if model is None:
            model = "KEY_MATERIAL_EXPIRES"  # AWS's default
        if model == "KEY_MATERIAL_EXPIRES":
            if valid_to is None:
                raise KMSError("ValidationException",
                               "A ValidTo date must be set if the "
                               "ExpirationModel is KEY_MATERIAL_EXPIRES")
            if valid_to <= now():
                raise KMSError("ValidationException",
                               "ValidTo must be in the future")
            if valid_to > now() + 365 * 86400:
                raise KMSError("ValidationException",
                               "ValidTo must be at most 365 days from now")
        elif valid_to is not None:
            raise KMSError("ValidationException",
                           "A ValidTo date must not be set if the "
                           "ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE")
        with self.lock:
            key = self._resolve(key_id)
            self._check_importable(key)
            info = self._parse_import_token(token)
            if info.get("k") != key.key_id:
                raise KMSError("InvalidImportTokenException",
                               "The import token is invalid for the "
                               "specified key.")
            if info["e"] <= now():
                raise KMSError("ExpiredImportTokenException",
                               "The import token has expired.")
        private_key = self.rsa_key(info["s"])
        material = self._unwrap(private_key, info["a"], wrapped)
        digest = hashlib.sha256(material).digest()
        with self.lock:
            key = self._resolve(key_id)
            self._check_importable(key)
            if key.fingerprint is not None and not hmac.compare_digest(
                    key.fingerprint, digest):
                raise KMSError("IncorrectKeyMaterialException",
                               "The key material is not the key material "
                               "previously imported into this key.")
            key.fingerprint = digest
            key.material = material
            key.expiration_model = model
            key.valid_to = valid_to
            if key.state == "PendingImport":
                key.state = "Enabled"
        return None

    @staticmethod
    def _unwrap(private_key, algorithm, wrapped):
        if algorithm == "RSAES_PKCS1_V1_5":
            pad = padding.PKCS1v15()
        else:
            h = hashes.SHA256() if algorithm == "RSAES_OAEP_SHA_256" \
                else hashes.SHA1()
            pad = padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h,
                               label=None)
        try:
            material = private_key.decrypt(wrapped, pad)
        except Exception:
            raise KMSError("InvalidCiphertextException",
                           "The encrypted key material could not be "
                           "decrypted with the import token's wrapping key "
                           "and algorithm.") from None
        if len(material) != 32:
            raise KMSError("InvalidCiphertextException",
                           "Key material must be 32 bytes (256-bit) for "
                           "SYMMETRIC_DEFAULT keys, got %d" % len(material))
        return material

    def op_CreateAlias(self, p):
        name = p.str("AliasName", required=True, max_len=None)
        target = p.str("TargetKeyId", required=True, max_len=2048)
        self._check_alias_name(name)
        with self.lock:
            if name in self.aliases:
                raise KMSError("AlreadyExistsException",
                               "An alias with the name %s already exists"
                               % self.alias_arn(name))
            key = self._alias_target(target)
            self.aliases[name] = Alias(name, key.key_id)
        return None

    def op_UpdateAlias(self, p):
        name = p.str("AliasName", required=True)
        target = p.str("TargetKeyId", required=True, max_len=2048)
        self._check_alias_name(name)
        with self.lock:
            alias = self.aliases.get(name)
            if alias is None:
                raise KMSError("NotFoundException", "Alias %s is not found."
                               % self.alias_arn(name))
            key = self._alias_target(target)
            alias.target = key.key_id
            alias.last_updated = now()
        return None

    def op_DeleteAlias(self, p):
        name = p.str("AliasName", required=True)
        self._check_alias_name(name)
        with self.lock:
            if self.aliases.pop(name, None) is None:
                raise KMSError("NotFoundException", "Alias %s is not found."
                               % self.alias_arn(name))
        return None

    def op_ListAliases(self, p):
        key_id = p.str("KeyId", max_len=2048)
        limit = p.int("Limit", lo=1, hi=100) or 50
        marker = p.str("Marker", max_len=1024)
        with self.lock:
            entries = []
            target = None
            if key_id is not None:
                target = self._resolve(key_id).key_id
            elif self.aws_managed_aliases:
                for name in AWS_MANAGED_ALIASES:
                    entries.append({"AliasName": name,
                                    "AliasArn": self.alias_arn(name)})
            for alias in self.aliases.values():
                if target is not None and alias.target != target:
                    continue
                entries.append({
                    "AliasName": alias.name,
                    "AliasArn": self.alias_arn(alias.name),
                    "TargetKeyId": alias.target,
                    "CreationDate": epoch(alias.creation_date),
                    "LastUpdatedDate": epoch(alias.last_updated),
                })
        entries.sort(key=lambda e: e["AliasName"])
        page, out = self._page(entries, limit, marker,
                               lambda e: (e["AliasName"],))
        out["Aliases"] = page
        return out

    def op_ListKeys(self, p):
        limit = p.int("Limit", lo=1, hi=1000) or 100
        marker = p.str("Marker", max_len=1024)
        with self.lock:
            keys = sorted(self.keys.values(),
                          key=lambda k: (k.creation_date, k.key_id))
            entries = [{"KeyId": k.key_id, "KeyArn": k.arn,
                        "_sort": (k.creation_date, k.key_id)} for k in keys]
        page, out = self._page(entries, limit, marker, lambda e: e["_sort"])
        for e in page:
            del e["_sort"]
        out["Keys"] = page
        return out

    def op_TagResource(self, p):
        key_id = p.str("KeyId", required=True, max_len=2048)
        tags = p.tags("Tags", required=True)
        with self.lock:
            key = self._resolve(key_id)
            self._require_state(key, "Enabled", "Disabled", "PendingImport")
            merged = dict(key.tags)
            merged.update(tags)
            if len(merged) > 50:
                raise KMSError("LimitExceededException",
                               "A KMS key can have at most 50 tags")
            key.tags = merged
        return None

    def op_UntagResource(self, p):
        key_id = p.str("KeyId", required=True, max_len=2048)
        tag_keys = p.str_list("TagKeys", required=True)
        with self.lock:
            key = self._resolve(key_id)
            self._require_state(key, "Enabled", "Disabled", "PendingImport")
            for tag_key in tag_keys:
                key.tags.pop(tag_key, None)
        return None

    def op_ListResourceTags(self, p):
        key_id = p.str("KeyId", required=True, max_len=2048)
        limit = p.int("Limit", lo=1, hi=50) or 50
        marker = p.str("Marker", max_len=1024)
        with self.lock:
            key = self._resolve(key_id)
            tags = [{"TagKey": k, "TagValue": v}
                    for k, v in sorted(key.tags.items())]
        page, out = self._page(tags, limit, marker, lambda t: (t["TagKey"],))
        out["Tags"] = page
        return out

    @staticmethod
    def _aad(raw_key_id, context):
        items = sorted((context or {}).items())
        return b"kms-emulator-v1" + raw_key_id + json.dumps(
            items, separators=(",", ":")).encode("utf-8")

    def _usable_for_crypto(self, key):
        if key.state == "Disabled":
            raise KMSError("DisabledException", "%s is disabled." % key.arn)
        self._require_state(key, "Enabled")

    def op_Encrypt(self, p):
        key_id = p.str("KeyId", required=True, max_len=2048)
        plaintext = p.blob("Plaintext", required=True, max_len=4096)
        context = p.str_map("EncryptionContext")
        p.str_list("GrantTokens")
        algorithm = p.str("EncryptionAlgorithm", enum=(
            "SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256",
            "SM2PKE"))
        if algorithm not in (None, "SYMMETRIC_DEFAULT"):
            raise KMSError("InvalidKeyUsageException",
                           "EncryptionAlgorithm %s is not valid for a "
                           "SYMMETRIC_DEFAULT key" % algorithm)
        with self.lock:
            key = self._resolve(key_id, allow_alias=True)
            self._usable_for_crypto(key)
            material, arn = key.material, key.arn
            raw_id = uuid.UUID(key.key_id).bytes
        nonce = os.urandom(12)
        ct = AESGCM(material).encrypt(nonce, plaintext,
                                      self._aad(raw_id, context))
        blob = CIPHERTEXT_MAGIC + raw_id + nonce + ct
        return {"CiphertextBlob": base64.b64encode(blob).decode("ascii"),
                "KeyId": arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    def op_Decrypt(self, p):
        blob = p.blob("CiphertextBlob", required=True, max_len=6144)
        context = p.str_map("EncryptionContext")
        p.str_list("GrantTokens")
        key_id = p.str("KeyId", max_len=2048)
        algorithm = p.str("EncryptionAlgorithm", enum=(
            "SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256",
            "SM2PKE"))
        if algorithm not in (None, "SYMMETRIC_DEFAULT"):
            raise KMSError("InvalidKeyUsageException",
                           "EncryptionAlgorithm %s is not valid for a "
                           "SYMMETRIC_DEFAULT key" % algorithm)
        n = len(CIPHERTEXT_MAGIC)
        if len(blob) < n + 16 + 12 + 16 or blob[:n] != CIPHERTEXT_MAGIC:
            raise KMSError("InvalidCiphertextException",
                           "The ciphertext is invalid.")
        raw_id = blob[n:n + 16]
        nonce = blob[n + 16:n + 28]
        ct = blob[n + 28:]
        embedded = str(uuid.UUID(bytes=raw_id))
        with self.lock:
            if key_id is not None:
                wanted = self._resolve(key_id, allow_alias=True)
                if wanted.key_id != embedded:
                    raise KMSError("IncorrectKeyException",
                                   "The key ID in the request does not "
                                   "identify a KMS key that can perform "
                                   "this operation.")
            key = self.keys.get(embedded)
            if key is None:
                raise KMSError("NotFoundException", "Key '%s' does not exist"
                               % self.key_arn(embedded))
            self._refresh(key)
            self._usable_for_crypto(key)
            material, arn = key.material, key.arn
        try:
            plaintext = AESGCM(material).decrypt(nonce, ct,
                                                 self._aad(raw_id, context))
        except Exception:
            raise KMSError("InvalidCiphertextException",
                           "The ciphertext is invalid.") from None
        return {"KeyId": arn,
                "Plaintext": base64.b64encode(plaintext).decode("ascii"),
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    # ---------------------------------------------------------- control API
    def state(self):
        with self.lock:
            keys = sorted(self.keys.values(),
                          key=lambda k: (k.creation_date, k.key_id))
            out_keys = []
            for k in keys:
                self._refresh(k)
                out_keys.append({
                    "KeyId": k.key_id,
                    "Arn": k.arn,
                    "KeyState": k.state,
                    "Enabled": k.state == "Enabled",
                    "Origin": k.origin,
                    "Description": k.description,
                    "Tags": [{"TagKey": t, "TagValue": v}
                             for t, v in sorted(k.tags.items())],
                    "CreationDate": plain(k.creation_date),
                    "DeletionDate": plain(k.deletion_date),
                    "PendingWindowInDays": k.pending_window,
                    "material_sha256": hashlib.sha256(k.material).hexdigest()
                    if k.material is not None else None,
                    "ExpirationModel": k.expiration_model,
                    "ValidTo": plain(k.valid_to),
                })
            aliases = [{"AliasName": a.name, "TargetKeyId": a.target}
                       for a in sorted(self.aliases.values(),
                                       key=lambda a: a.name)]
        return {"keys": out_keys, "aliases": aliases}

    def add_faults(self, spec):
        rules = spec if isinstance(spec, list) else [spec]
        parsed = []
        for rule in rules:
            if not isinstance(rule, dict):
                raise ValueError("a fault rule must be a JSON object")
            operation = rule.get("operation", "*")
            action = rule.get("action", "error")
            count = rule.get("count", 1)
            if not isinstance(operation, str) or not operation:
                raise ValueError("operation must be a non-empty string")
            if action not in ("error", "delay", "drop", "drop_after"):
                raise ValueError("action must be error, delay, drop or "
                                 "drop_after")
            if isinstance(count, bool) or not isinstance(count, int) \
                    or count < 1:
                raise ValueError("count must be a positive integer")
            r = {"operation": operation, "action": action, "count": count}
            if action == "error":
                code = rule.get("code", "ThrottlingException")
                if not isinstance(code, str) or not code:
                    raise ValueError("code must be a non-empty string")
                status = rule.get("status", FAULT_STATUS.get(code, 400))
                if isinstance(status, bool) or not isinstance(status, int) \
                        or not 400 <= status <= 599:
                    raise ValueError("status must be an HTTP error status")
                message = rule.get("message", "Injected %s" % code
                                   if code != "ThrottlingException"
                                   else "Rate exceeded")
                if not isinstance(message, str):
                    raise ValueError("message must be a string")
                r.update(code=code, status=status, message=message)
            elif action == "delay":
                delay = rule.get("delay_ms")
                if isinstance(delay, bool) or not isinstance(
                        delay, (int, float)) or delay < 0:
                    raise ValueError("delay needs a non-negative delay_ms")
                r["delay_ms"] = delay
            parsed.append(r)
        with self.lock:
            self.faults.extend(parsed)
            return len(self.faults)

    def take_fault(self, operation):
        with self.lock:
            for rule in self.faults:
                if rule["operation"] in ("*", operation):
                    rule["count"] -= 1
                    if rule["count"] <= 0:
                        self.faults.remove(rule)
                    return dict(rule)
        return None


# --------------------------------------------------------------------------
# SigV4 verification (with botocore's signer)
# --------------------------------------------------------------------------

class _VerifyingSigV4(SigV4Auth):
    """botocore's SigV4 signer, made to sign exactly the headers the client
    listed in SignedHeaders (including ones botocore itself never signs)."""

    def __init__(self, credentials, service, region, signed_names):
        super().__init__(credentials, service, region)
        self._signed_names = signed_names

    def headers_to_sign(self, request):
        header_map = HTTPHeaders()
        for name in self._signed_names:
            for value in request.headers.get_all(name) or ():
                header_map[name] = value
        return header_map


class AuthResult:
    def __init__(self):
        self.valid = False
        self.access_key = None
        self.token_present = False
        self.error = None


def _auth_fail(result, code, message, status=400):
    result.error = KMSError(code, message, status)
    return result


def verify_sigv4(emu, method, raw_path, headers, body):
    """Check the request's SigV4 signature against the emulator's
    credentials. Returns an AuthResult (error set when invalid)."""
    res = AuthResult()
    res.token_present = headers.get("X-Amz-Security-Token") is not None
    auth = headers.get("Authorization")
    if auth is None:
        return _auth_fail(res, "MissingAuthenticationToken",
                          "Missing Authentication Token", 403)
    auth = auth.strip()
    algorithm, _, rest = auth.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return _auth_fail(res, "IncompleteSignature",
                          "Unsupported AWS 'algorithm': '%s'" % algorithm)
    parts = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts[name.strip()] = value.strip()
    missing = [n for n in ("Credential", "SignedHeaders", "Signature")
               if not parts.get(n)]
    amz_date = headers.get("X-Amz-Date")
    problems = ["Authorization header requires '%s' parameter." % n
                for n in missing]
    if amz_date is None:
        problems.append("Authorization header requires existence of either "
                        "a 'X-Amz-Date' or a 'Date' header.")
    scope = parts.get("Credential", "").split("/")
    if parts.get("Credential"):
        res.access_key = scope[0]
    if problems:
        return _auth_fail(res, "IncompleteSignature", " ".join(problems) +
                          " Authorization=" + auth)
    if len(scope) != 5 or not all(scope):
        return _auth_fail(res, "IncompleteSignature",
                          "Credential should be of the form "
                          "'<key>/<date>/<region>/<service>/aws4_request'.")
    access_key, scope_date, scope_region, scope_service, terminator = scope
    if not hmac.compare_digest(access_key.encode(), emu.access_key.encode()):
        return _auth_fail(res, "UnrecognizedClientException",
                          "The security token included in the request is "
                          "invalid.")
    signed_names = parts["SignedHeaders"].split(";")
    token = headers.get("X-Amz-Security-Token")
    if emu.session_token is None:
        if token is not None:
            return _auth_fail(res, "UnrecognizedClientException",
                              "The security token included in the request "
                              "is invalid.")
    elif (token is None or "x-amz-security-token" not in signed_names
          or not hmac.compare_digest(token.encode(),
                                     emu.session_token.encode())):
        return _auth_fail(res, "UnrecognizedClientException",
                          "The security token included in the request is "
                          "invalid.")
    try:
        request_time = datetime.datetime.strptime(
            amz_date, SIGV4_TIMESTAMP).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return _auth_fail(res, "IncompleteSignature",
                          "Date must be in ISO-8601 'basic format'. Got '%s'."
                          % amz_date)
    if scope_date != amz_date[:8]:
        return _auth_fail(res, "InvalidSignatureException",
                          "Date in Credential scope does not match YYYYMMDD "
                          "from ISO-8601 version of date from HTTP: '%s' != "
                          "'%s', from '%s'." % (scope_date, amz_date[:8],
                                                amz_date))
    if scope_region != emu.region:
        return _auth_fail(res, "InvalidSignatureException",
                          "Credential should be scoped to a valid region, "
                          "not '%s'." % scope_region)
    if scope_service != "kms":
        return _auth_fail(res, "InvalidSignatureException",
                          "Credential should be scoped to correct service: "
                          "'kms'.")
    if terminator != "aws4_request":
        return _auth_fail(res, "InvalidSignatureException",
                          "Credential should be scoped with a valid "
                          "terminator: 'aws4_request', not '%s'."
                          % terminator)
    if "host" not in signed_names:
        return _auth_fail(res, "InvalidSignatureException",
                          "'Host' or ':authority' must be a 'SignedHeader' "
                          "in the AWS Authorization.")
    server_time = datetime.datetime.now(datetime.timezone.utc)
    skew = (request_time - server_time).total_seconds()
    fmt = lambda t: t.strftime(SIGV4_TIMESTAMP)  # noqa: E731
    if skew < -MAX_CLOCK_SKEW:
        return _auth_fail(res, "InvalidSignatureException",
                          "Signature expired: %s is now earlier than %s (%s - "
                          "5 min.)" % (amz_date, fmt(server_time - datetime.
                                                    timedelta(seconds=300)),
                                       fmt(server_time)))
    if skew > MAX_CLOCK_SKEW:
        return _auth_fail(res, "InvalidSignatureException",
                          "Signature not yet current: %s is still later than "
                          "%s (%s + 5 min.)" % (amz_date, fmt(
                              server_time + datetime.timedelta(seconds=300)),
                              fmt(server_time)))
    content_sha = headers.get("X-Amz-Content-SHA256")
    if (content_sha is not None and "x-amz-content-sha256" in signed_names
            and content_sha != hashlib.sha256(body).hexdigest()):
        return _auth_fail(res, "InvalidSignatureException",
                          "The provided 'x-amz-content-sha256' header does "
                          "not match what was computed.")

    # Recompute with botocore: a request holding exactly the signed headers,
    # the raw path and query, the body, and the client's timestamp.
    request = AWSRequest(method=method, url="http://kms-emulator" + raw_path,
                         data=body)
    request.headers = HTTPHeaders()
    for name in signed_names:
        for value in headers.get_all(name) or ():
            request.headers[name] = value
    request.context["timestamp"] = amz_date
    signer = _VerifyingSigV4(
        Credentials(emu.access_key, emu.secret_key, emu.session_token),
        "kms", emu.region, signed_names)
    canonical_request = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical_request)
    expected = signer.signature(string_to_sign, request)
    if not hmac.compare_digest(expected.encode(),
                               parts["Signature"].encode()):
        if emu.verbose:
            sys.stderr.write("kms-emulator: signature mismatch\n"
                             "CanonicalRequest:\n%s\nStringToSign:\n%s\n"
                             % (canonical_request, string_to_sign))
        return _auth_fail(res, "InvalidSignatureException",
                          "The request signature we calculated does not "
                          "match the signature you provided. Check your AWS "
                          "Secret Access Key and signing method. Consult the "
                          "service documentation for details.")
    res.valid = True
    return res


# --------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kms-emulator/1.0"

    def setup(self):
        super().setup()
        # Small request/response exchanges on a kept-alive connection: do not
        # let Nagle + delayed ACKs add 40 ms to every call.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY,
                                       1)
        except OSError:
            pass

    def version_string(self):
        return self.server_version

    @property
    def emu(self):
        return self.server.emulator

    def log_message(self, fmt, *args):
        if self.emu.verbose:
            sys.stderr.write("kms-emulator: %s - %s\n"
                             % (self.address_string(), fmt % args))

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n",
                                                             b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _send(self, status, body, content_type=CONTENT_TYPE, request_id=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", request_id or str(uuid.uuid4()))
        # Headers and body in one write.
        self._headers_buffer.append(b"\r\n" + body)
        self.flush_headers()

    def _handle(self):
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send_error(400, "Bad request body")
            return
        path = urlsplit(self.path).path
        if path == "/_emulator" or path.startswith("/_emulator/"):
            self._control(path, body)
        else:
            self._kms(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    # ------------------------------------------------------------ KMS calls
    def _kms(self, body):
        emu = self.emu
        request_id = str(uuid.uuid4())
        target = self.headers.get("X-Amz-Target") or ""
        operation = target[len(TARGET_PREFIX):] \
            if target.startswith(TARGET_PREFIX) else (target or None)
        entry = {"operation": operation, "status": None,
                 "signature_valid": False, "error_code": None,
                 "access_key": None, "session_token_present": False,
                 "fault": None, "request_id": request_id,
                 "time": plain(now())}
        try:
            auth = verify_sigv4(emu, self.command, self.path, self.headers,
                                body)
        except Exception:
            traceback.print_exc()
            auth = AuthResult()
            auth.error = KMSError("IncompleteSignature",
                                  "Malformed authorization data")
        entry["signature_valid"] = auth.valid
        entry["access_key"] = auth.access_key
        entry["session_token_present"] = auth.token_present
        status, payload = 200, None
        fault = None
        if auth.error is not None:
            err = auth.error
        else:
            err = None
            fault = emu.take_fault(operation or "")
            if fault is not None:
                entry["fault"] = fault["action"]
        if fault is not None and fault["action"] == "drop":
            return self._drop(entry)
        if fault is not None and fault["action"] == "error":
            err = KMSError(fault["code"], fault["message"], fault["status"])
        if fault is not None and fault["action"] == "delay":
            time.sleep(fault["delay_ms"] / 1000.0)
        if err is None:
            try:
                payload = self._dispatch(operation, target, body)
            except KMSError as e:
                err = e
            except Exception:
                traceback.print_exc()
                err = KMSError("KMSInternalException",
                               "The request processing has failed because of "
                               "an unknown error, exception or failure.", 500)
        if err is not None:
            status = err.status
            payload = {"__type": err.code, "message": err.message}
            entry["error_code"] = err.code
        entry["status"] = status
        if fault is not None and fault["action"] == "drop_after":
            return self._drop(entry)
        with emu.lock:
            emu.request_log.append(entry)
        if emu.verbose:
            sys.stderr.write("kms-emulator: %s -> %d %s\n" % (
                operation, status, entry["error_code"] or ""))
        self._send(status, b"" if payload is None else kms_json(payload),
                   request_id=request_id)

    def _drop(self, entry):
        """Close the connection without sending a single byte."""
        with self.emu.lock:
            self.emu.request_log.append(entry)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, operation, target, body):
        if self.command != "POST":
            raise KMSError("UnknownOperationException",
                           "KMS only accepts POST requests")
        if not target.startswith(TARGET_PREFIX):
            raise KMSError("UnknownOperationException",
                           "Missing or invalid X-Amz-Target header")
        handler = getattr(self.emu, "op_" + operation, None)
        if handler is None or not operation.isalnum():
            raise KMSError("UnknownOperationException",
                           "Unknown operation %s" % operation)
        try:
            params = json.loads(body.decode("utf-8")) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise KMSError("SerializationException",
                           "Malformed JSON request body") from None
        if not isinstance(params, dict):
            raise KMSError("SerializationException",
                           "The request body must be a JSON object")
        return handler(Params(params))

    # ----------------------------------------------------------- control API
    def _control(self, path, body):
        emu = self.emu
        method = self.command
        try:
            if path == "/_emulator/state" and method == "GET":
                return self._send(200, emu.state(), "application/json")
            if path == "/_emulator/requests":
                if method == "GET":
                    with emu.lock:
                        log = [dict(e) for e in emu.request_log]
                    return self._send(200, log, "application/json")
                if method == "DELETE":
                    with emu.lock:
                        emu.request_log.clear()
                    return self._send(200, {"ok": True}, "application/json")
            if path == "/_emulator/faults":
                if method == "POST":
                    try:
                        spec = json.loads(body.decode("utf-8"))
                        queued = emu.add_faults(spec)
                    except (ValueError, UnicodeDecodeError) as e:
                        return self._send(400, {"error": str(e)},
                                          "application/json")
                    return self._send(200, {"ok": True, "queued": queued},
                                      "application/json")
                if method == "GET":
                    with emu.lock:
                        rules = [dict(r) for r in emu.faults]
                    return self._send(200, rules, "application/json")
                if method == "DELETE":
                    with emu.lock:
                        emu.faults.clear()
                    return self._send(200, {"ok": True}, "application/json")
            if path == "/_emulator/reset" and method == "POST":
                emu.reset()
                return self._send(200, {"ok": True}, "application/json")
            if path == "/_emulator/health" and method == "GET":
                return self._send(200, {"ok": True}, "application/json")
            return self._send(404, {"error": "no such control endpoint: %s %s"
                                    % (method, path)}, "application/json")
        except Exception as e:
            traceback.print_exc()
            return self._send(500, {"error": repr(e)}, "application/json")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        # A client going away mid-request is not worth a traceback.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Local AWS KMS emulator")
    ap.add_argument("--port", type=int, required=True,
                    help="TCP port on 127.0.0.1 (0 picks a free one)")
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--session-token", default=None)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--account-id", default="111122223333")
    ap.add_argument("--import-token-ttl", type=float, default=86400,
                    help="lifetime of import tokens in seconds")
    ap.add_argument("--aws-managed-aliases", action="store_true",
                    help="list alias/aws/* entries (no target) in "
                    "ListAliases like AWS does")
    ap.add_argument("--verbose", action="store_true",
                    help="log every request to stderr")
    args = ap.parse_args(argv)
    if not re.match(r"^\d{12}$", args.account_id):
        ap.error("--account-id must be 12 digits")

    emu = Emulator(args.access_key, args.secret_key, args.session_token,
                   args.region, args.account_id, args.import_token_ttl,
                   args.aws_managed_aliases, args.verbose)
    server = Server(("127.0.0.1", args.port), Handler)
    server.emulator = emu

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = server.server_address[1]
    sys.stdout.write("kms-emulator listening on http://127.0.0.1:%d\n" % port)
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
