"""Runs last: no credential value sent by any test is stored or logged in plaintext.

Every secret the suite sends contains conftest.SECRET_MARK (see conftest.secret),
so one search finds them all: in a pg_dump of the shared stack's database, in the
raw bytes of its data directory, and in every log file the stack wrote.
"""
import os

from conftest import SECRET_MARK


def test_secret_values_were_used(stack):
    # guard against a vacuous pass: the suite did store sealed credentials
    n = int(stack.psql("SELECT count(*) FROM providers WHERE credentials IS NOT NULL"))
    assert n > 0


def test_no_plaintext_secret_in_pg_dump(stack):
    dump = stack.pg_dump()
    assert "CREATE TABLE public.providers" in dump
    assert SECRET_MARK not in dump
    assert stack.token not in dump


def test_no_plaintext_secret_in_data_files(stack):
    stack.psql("CHECKPOINT")
    data = os.path.join(stack.var, "pg", "data")
    hits = []
    for root, _, files in os.walk(data):
        for f in files:
            path = os.path.join(root, f)
            try:
                with open(path, "rb") as fh:
                    if SECRET_MARK.encode() in fh.read():
                        hits.append(path)
            except OSError:
                pass
    assert not hits


def test_no_secret_in_logs(stack):
    files = list(stack.log_files())
    assert any(f.endswith("keymgmtd.log") for f in files)
    for path in files:
        with open(path, "rb") as f:
            text = f.read()
        assert SECRET_MARK.encode() not in text, path
        assert stack.token.encode() not in text, path
