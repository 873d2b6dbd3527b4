"""Compile the market contracts with the pinned solc into the toolkit's ``p2pkit/artifacts/``.

Every part of the platform (backend, meter bridge, page, scripts, and Ape's contract tests and
deploy script) reads the ABI and bytecode from ``p2pkit/artifacts/<Name>.json``, which the
toolkit ships as package data; this script is the one place that writes them.

The compiler is chosen once, in this order:

1. a native ``solc`` of the pinned version in py-solc-x's install folder or on ``PATH``;
2. otherwise the npm ``solc`` package (solcjs, the same compiler built to wasm), behind
   ``scripts/solcjs-wrapper.js``, which is installed into py-solc-x's folder as
   ``solc-v<version>``.

Run by ``make setup``; safe to run again (it rewrites only what changed).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import solcx

ROOT = Path(__file__).resolve().parent.parent
SOLC_VERSION = "0.8.28"
# Paris: the newest EVM that a Geth 1.11 proof-of-work chain runs (no PUSH0).
EVM_VERSION = "paris"
CONTRACTS_DIR = ROOT / "contracts"
BUILD_DIR = ROOT / "p2pkit" / "artifacts"
WRAPPER_JS = ROOT / "scripts" / "solcjs-wrapper.js"
# Contracts that get an artifact: the deployable ones (libraries are inlined).
DEPLOYABLE = (
    "EnergyMarket",
    "ContinuousBook",
    "SisterLightClient",
    "SisterLock",
    "RetailPlans",
    "BilateralContracts",
    "StationDispatch",
)


def _reports_version(binary: Path | str) -> bool:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return f"Version: {SOLC_VERSION}+" in out.stdout


def _is_wrapper(binary: Path) -> bool:
    try:
        return str(WRAPPER_JS) in binary.read_text(errors="ignore")
    except (OSError, UnicodeDecodeError):
        return False


def find_or_install_solc() -> Path:
    """Return a solc binary of the pinned version, installing the solcjs wrapper if needed."""
    target = solcx.get_solcx_install_folder() / f"solc-v{SOLC_VERSION}"
    if target.exists() and not _is_wrapper(target) and _reports_version(target):
        return target
    on_path = shutil.which("solc")
    if on_path and _reports_version(on_path):
        return Path(on_path)
    script = f'#!/bin/sh\nexec node "{WRAPPER_JS}" "$@"\n'
    if not target.exists() or target.read_text(errors="ignore") != script:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(script)
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    if not _reports_version(target):
        sys.exit(f"solc {SOLC_VERSION} not usable: run `npm install` first ({target})")
    return target


def standard_input() -> dict:
    sources = {
        str(path.relative_to(ROOT)): {"content": path.read_text()} for path in sorted(CONTRACTS_DIR.rglob("*.sol"))
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }


def compile_all(solc: Path) -> dict[str, dict]:
    output = solcx.compile_standard(standard_input(), solc_binary=solc, base_path=ROOT, allow_paths=[ROOT])
    artifacts = {}
    for source, contracts in output["contracts"].items():
        for name, compiled in contracts.items():
            if name in DEPLOYABLE:
                artifacts[name] = {
                    "contractName": name,
                    "sourceName": source,
                    "compiler": f"solc {SOLC_VERSION}, evm {EVM_VERSION}, optimizer 200 runs",
                    "abi": compiled["abi"],
                    "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                    "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                }
    return artifacts


def main() -> None:
    solc = find_or_install_solc()
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    try:
        artifacts = compile_all(solc)
    except solcx.exceptions.SolcError as error:
        messages = json.loads(error.stdout_data).get("errors", []) if error.stdout_data else []
        details = "\n".join(m["formattedMessage"] for m in messages if m["severity"] == "error")
        sys.exit(f"compilation failed:\n{details or error}")
    for name, artifact in artifacts.items():
        path = BUILD_DIR / f"{name}.json"
        text = json.dumps(artifact, indent=1)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        print(f"compiled {name} -> {path.relative_to(ROOT)} ({solc})")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
