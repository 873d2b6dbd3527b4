"""The meter box installs only what it runs: `pip install '.[bridge]'` into a fresh virtual
environment, then the daemon imports without the server, and finds the market's ABI inside the
installed toolkit, far from any source checkout.

The wheel is built from a copy of the checkout's tracked files plus the compiled contracts
(`make setup`), as a clean clone would have them, so no leftover of an earlier build in the
checkout can end up in it. pip fetches the dependencies from PyPI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from p2pkit.artifacts import ARTIFACT_DIR

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 1800  # seconds: the dependencies come from PyPI
# What the box must not get: the server, the test chain, the development tools.
NOT_ON_THE_BOX = ("flask", "gunicorn", "eth-tester", "py-evm", "eth-ape", "pytest", "matplotlib", "playwright")

PROBE = """
import json, resource, sys
import meter_bridge.daemon
from p2pkit.artifacts import load_artifact
abi = load_artifact()["abi"]
print(json.dumps({
    "flask_loaded": "flask" in sys.modules,
    "test_chain_loaded": "eth_tester" in sys.modules,
    "modules": len(sys.modules),
    "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "daemon_file": meter_bridge.daemon.__file__,
    "functions": sorted(entry["name"] for entry in abi if entry["type"] == "function"),
}))
"""


def clean_copy(destination: Path) -> Path:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    artifacts = destination / ARTIFACT_DIR.relative_to(ROOT)
    for artifact in ARTIFACT_DIR.glob("*.json"):
        shutil.copy2(artifact, artifacts / artifact.name)
    return destination


@pytest.fixture(scope="module")
def meter_box(tmp_path_factory) -> Path:
    """The python of a fresh virtual environment with the bridge installed in it."""
    if not list(ARTIFACT_DIR.glob("*.json")):
        pytest.fail("the contracts are not compiled: run `make setup`")
    folder = tmp_path_factory.mktemp("meter-box")
    source = clean_copy(folder / "source")
    venv.create(folder / "venv", with_pip=True)
    python = folder / "venv" / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"{source}[bridge]"],
        cwd=folder,
        check=True,
        timeout=INSTALL_TIMEOUT,
    )
    shutil.rmtree(source)  # nothing the box runs may come from a source tree
    return python


def test_bridge_installs_without_the_server_or_the_development_tools(meter_box):
    installed = subprocess.run(
        [str(meter_box), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    ).stdout
    names = {package["name"].lower() for package in json.loads(installed)}

    assert names & set(NOT_ON_THE_BOX) == set()


def test_installed_daemon_loads_without_flask_and_finds_the_markets_abi(meter_box, tmp_path):
    result = subprocess.run([str(meter_box), "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, check=True)
    probe = json.loads(result.stdout)
    print(f"\nimport meter_bridge.daemon in the installed box: {probe['modules']} modules, {probe['max_rss_mb']} MB")

    assert (probe["flask_loaded"], probe["test_chain_loaded"]) == (False, False)
    assert Path(probe["daemon_file"]).is_relative_to(meter_box.parents[1])
    assert {"submitReading", "meterOf", "readingOf", "schedule"} <= set(probe["functions"])


def test_installed_command_line_runs(meter_box, tmp_path):
    result = subprocess.run(
        [str(meter_box), "-m", "meter_bridge", "encode-read", "000000000161", "00010000"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "68610100000000681104333334331416"
