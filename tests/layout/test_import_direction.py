"""Imports run one way: contracts <- p2pkit <- {backend, meter_bridge, relayer, station}; devnet and sim
use p2pkit; scripts, bench and tests sit on top (docs/layout.md).

Every import statement of every module is read with `ast`, those inside functions too, so a
lazy import cannot slip by; and the modules a part loads at run time are checked in a fresh
interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"p2pkit", "backend", "meter_bridge", "relayer", "station", "devnet", "sim", "scripts", "bench", "tests"}
TEST_CHAIN = {"eth_tester", "eth"}  # eth-tester and py-evm
SERVER = {"flask", "werkzeug", "gunicorn"}
TOOLS = {"ape", "ape_accounts", "ethpm_types", "solcx", "pytest", "hypothesis", "matplotlib", "playwright"}

# What each part must never import, by top-level name (and, for devnet, by module).
FORBIDDEN = {
    "p2pkit": OURS - {"p2pkit"} | TEST_CHAIN | SERVER | TOOLS,
    "meter_bridge": OURS - {"p2pkit", "meter_bridge"} | TEST_CHAIN | SERVER | TOOLS,
    "relayer": OURS - {"p2pkit", "relayer"} | SERVER | TOOLS,
    # A station's daemon drives the simulated battery of sim/ (the demo's and the tests' equipment).
    "station": OURS - {"p2pkit", "sim", "station"} | TEST_CHAIN | SERVER | TOOLS,
    "backend": OURS - {"p2pkit", "backend", "devnet"} | TOOLS,
    "devnet": OURS - {"p2pkit", "devnet"} | SERVER | TOOLS,
    "sim": OURS - {"p2pkit", "sim"} | TEST_CHAIN | SERVER | TOOLS,
    "scripts": {"tests"},
    "bench": {"tests"},
}


def modules_of(package: str) -> list[Path]:
    """The part's Python modules (not those of npm packages installed inside it, as Caliper's are)."""
    return sorted(path for path in (ROOT / package).rglob("*.py") if "node_modules" not in path.parts)


def imports_in(path: Path) -> list[tuple[str, int, bool]]:
    """(module imported, line, at module level) for every import in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno, id(node) in top_level))
    return found


def violations(package: str, forbidden: set[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in modules_of(package)
        for module, line, _ in imports_in(path)
        if module.split(".")[0] in forbidden
    ]


@pytest.mark.parametrize("package", [p for p in FORBIDDEN if (ROOT / p).is_dir()])
def test_part_imports_only_what_lies_below_it(package):
    assert violations(package, FORBIDDEN[package]) == []


def test_backend_uses_only_the_embedded_chain_of_devnet():
    """The server runs on a node or, for a first run, on the embedded chain (and the deadline
    its VM keeps for calls); anvil and Geth are development tools it never starts."""
    used = {
        module
        for path in modules_of("backend")
        for module, _, _ in imports_in(path)
        if module.split(".")[0] == "devnet"
    }
    assert used <= {"devnet.embedded", "devnet.evm_deadline"}


def test_backend_imports_the_test_chain_only_where_it_runs_one():
    at_module_level = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in modules_of("backend")
        for module, line, top in imports_in(path)
        if top and module.split(".")[0] in TEST_CHAIN
    ]
    assert at_module_level == []


def loaded_by(statement: str) -> set[str]:
    """The top-level names of the modules a fresh interpreter has loaded after `statement`."""
    probe = f"import sys; {statement}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(result.stdout.split())


def test_meter_bridge_daemon_loads_neither_the_server_nor_the_test_chain():
    assert loaded_by("import meter_bridge.daemon") & (SERVER | TEST_CHAIN | {"backend", "devnet"}) == set()


def test_relayer_loads_neither_the_server_nor_the_test_chain():
    assert loaded_by("import relayer.cli") & (SERVER | TEST_CHAIN | {"backend", "devnet"}) == set()


def test_station_daemon_loads_neither_the_server_nor_the_test_chain():
    assert loaded_by("import station.cli") & (SERVER | TEST_CHAIN | {"backend", "devnet"}) == set()


def test_toolkit_loads_neither_the_server_nor_the_test_chain():
    assert loaded_by("import p2pkit.period, p2pkit.events") & (SERVER | TEST_CHAIN) == set()


def test_server_on_a_node_does_not_load_the_test_chain():
    assert loaded_by("import backend, backend.__main__") & TEST_CHAIN == set()
