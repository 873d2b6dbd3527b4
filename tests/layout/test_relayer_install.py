"""The relayer installs alone: `pip install '.[relayer]'` into a fresh virtual environment,
then the daemon and the proofs it builds import without the server or the test chain, find the
sister contracts' ABIs inside the installed toolkit, and its command line creates a key."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from install_support import install_alone, installed_packages

pytestmark = pytest.mark.slow

NOT_ON_THE_RELAYER = ("flask", "gunicorn", "eth-tester", "py-evm", "eth-ape", "pytest", "pyserial", "playwright")

PROBE = """
import json, sys
import relayer.cli, relayer.relayer
import p2pkit.sister.proofs
from p2pkit.artifacts import load_artifact
print(json.dumps({
    "flask_loaded": "flask" in sys.modules,
    "test_chain_loaded": "eth_tester" in sys.modules,
    "trie_loaded": "trie" in sys.modules,
    "relayer_file": relayer.relayer.__file__,
    "lock_functions": sorted(e["name"] for e in load_artifact("SisterLock")["abi"] if e["type"] == "function"),
    "client_functions": sorted(
        e["name"] for e in load_artifact("SisterLightClient")["abi"] if e["type"] == "function"
    ),
}))
"""


@pytest.fixture(scope="module")
def relayer_box(tmp_path_factory) -> Path:
    """The python of a fresh virtual environment with the relayer installed in it."""
    return install_alone(tmp_path_factory.mktemp("relayer-box"), "relayer")


def test_relayer_installs_without_the_server_or_the_development_tools(relayer_box):
    packages = installed_packages(relayer_box)
    assert packages & set(NOT_ON_THE_RELAYER) == set()
    assert {"trie", "eth-bloom", "web3"} <= packages


def test_installed_relayer_loads_without_flask_and_finds_the_sister_abis(relayer_box, tmp_path):
    result = subprocess.run([str(relayer_box), "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, check=True)
    probe = json.loads(result.stdout)

    assert (probe["flask_loaded"], probe["test_chain_loaded"], probe["trie_loaded"]) == (False, False, True)
    assert Path(probe["relayer_file"]).is_relative_to(relayer_box.parents[1])
    assert {"lock", "unlock", "isUnlocked"} <= set(probe["lock_functions"])
    assert {"submitHeaders", "bestHeader"} <= set(probe["client_functions"])


def test_installed_command_line_creates_a_key(relayer_box, tmp_path):
    password = tmp_path / "password"
    password.write_text("relayer password\n")
    os.chmod(password, 0o600)
    keystore = tmp_path / "relayer.json"
    result = subprocess.run(
        [str(relayer_box), "-m", "relayer", "new-key", "--keystore", str(keystore), "--password-file", str(password)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    address = result.stdout.strip().split()[-1]
    assert address.startswith("0x") and len(address) == 42
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    assert json.loads(keystore.read_text())["address"].lower() == address[2:].lower()
