"""Fixtures: one shared stack for the session; helpers for unique names and secrets.

Every secret value a test sends contains SECRET_MARK, so the last test of the
session (test_zz_no_leaks.py) can prove none of them reached the database in
plaintext or any log the stack wrote.
"""
import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from stack import SECRET_MARK, Stack  # noqa: E402


@pytest.fixture(scope="session")
def stack():
    s = Stack(name="main").up()
    yield s
    s.down()


@pytest.fixture
def name():
    """A fresh name for a provider or key."""
    return "t-" + uuid.uuid4().hex[:12]


def secret(label="s"):
    """A credential value that the leak check will look for."""
    return "%s-%s-%s" % (label, SECRET_MARK, uuid.uuid4().hex[:8])


@pytest.fixture
def mksecret():
    return secret
