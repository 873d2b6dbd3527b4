"""The meter box installs only what it runs: `pip install '.[bridge]'` into a fresh virtual
environment, then the daemon imports without the server, and finds the market's ABI inside the
installed toolkit, far from any source checkout.
(The installation: `install_support.py`.)
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from install_support import install_alone, installed_packages

pytestmark = pytest.mark.slow

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


@pytest.fixture(scope="module")
def meter_box(tmp_path_factory) -> Path:
    """The python of a fresh virtual environment with the bridge installed in it."""
    return install_alone(tmp_path_factory.mktemp("meter-box"), "bridge")


def test_bridge_installs_without_the_server_or_the_development_tools(meter_box):
    assert installed_packages(meter_box) & set(NOT_ON_THE_BOX) == set()


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
