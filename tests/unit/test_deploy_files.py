"""The shipped configuration files are valid for the programs that read them."""
import os
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("KEYMGMT_BUILD", os.path.join(ROOT, "build"))


def test_config_example_is_valid(tmp_path):
    key = tmp_path / "seal.key"
    key.write_text(subprocess.run([os.path.join(BUILD, "keymgmtctl"), "seal", "generate"],
                                  capture_output=True, text=True, check=True).stdout)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYMGMT_")}
    env["KEYMGMT_SEAL_KEY_FILE"] = str(key)
    r = subprocess.run([os.path.join(BUILD, "keymgmtd"), "-t", "-c",
                        os.path.join(ROOT, "deploy", "keymgmt.conf.example")],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_config_example_documents_every_key():
    # every key the server knows appears in the example (keymgmtd -t rejects unknown ones)
    with open(os.path.join(ROOT, "app", "config.c")) as f:
        src = f.read()
    table = src[src.index("static const struct config_def defs[]"):]
    table = table[:table.index("};")]
    keys = [line.split('"')[1] for line in table.splitlines() if line.strip().startswith('{"')]
    assert len(keys) > 20
    with open(os.path.join(ROOT, "deploy", "keymgmt.conf.example")) as f:
        example = f.read()
    missing = [k for k in keys if "\n%s =" % k not in example and "\n# %s =" % k not in example]
    assert not missing


@pytest.mark.skipif(os.getuid() != 0, reason="nginx -t of a production config needs root")
def test_nginx_example_is_valid():
    r = subprocess.run(["nginx", "-t", "-q", "-c", os.path.join(ROOT, "nginx.conf.example")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
