"""The README's walkthrough runs as written (against a test stack and the emulator)."""
import os
import re
import subprocess

import pytest

from emulator import start_emulator
from stack import BUILD, ROOT, Stack
from test_distribute import AWS_ENV, aws_keys


@pytest.fixture(scope="module")
def setup():
    s = Stack(name="readme", extra_env=dict(AWS_ENV)).up()
    emu = start_emulator("AKIDKEYMGMTLOCAL", "keymgmt-local-emulator-secret", region="us-east-1")
    yield s, emu
    emu.stop()
    s.down()


def walkthrough():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    block = text.split("<!-- walkthrough:start -->")[1].split("<!-- walkthrough:end -->")[0]
    return re.search(r"```sh\n(.*?)```", block, re.S).group(1)


def test_walkthrough(setup):
    stack, emu = setup
    env = {k: v for k, v in stack.env.items() if not (k.startswith("AWS_") and v == "")}
    env.update(VAULT_ADDR=stack.url, VAULT_TOKEN=stack.token, EMULATOR=emu.url,
               KEYMGMT_CONFIG=os.path.join(stack.var, "keymgmt.conf"), KEYMGMT_BUILD=BUILD)
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", walkthrough()], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"errors"' not in r.stdout, r.stdout
    keys = aws_keys(emu, "payments")
    assert len(keys) == 2
    assert {k["KeyState"] for k in keys.values()} == {"PendingDeletion"}
    v2 = [k for k in keys.values() if k["tags"]["keymgmt:version"] == "2"][0]
    assert v2["Arn"] in r.stdout  # aws kms encrypt through the alias used version 2
    assert "0 drift(s) repaired, 0 remaining" in r.stdout
    assert '"keys":["payments"]' in r.stdout
