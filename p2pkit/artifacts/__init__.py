"""The compiled contracts, shipped inside the package.

``scripts/compile_contracts.py`` (run by ``make setup``) writes one ``<Name>.json`` per deployable
contract into this folder: ``abi``, ``bytecode``, ``deployedBytecode`` and the compiler used. The
files are not committed; they are package data, so an installed toolkit (the meter box's
``pip install '.[bridge]'``) carries them and finds them without a source checkout. Ape's contract
tests and deploy script read the same files (``ape_contract_type``), so there is one build.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

ARTIFACT_DIR = Path(__file__).resolve().parent
MARKET = "EnergyMarket"


class ArtifactMissing(FileNotFoundError):
    """A contract has not been compiled; the message says where it was looked for."""


def artifact_path(name: str = MARKET, directory: Path | None = None) -> Path:
    return Path(directory or ARTIFACT_DIR) / f"{name}.json"


def load_artifact(name: str = MARKET, directory: Path | None = None) -> dict:
    """ABI and bytecode of contract `name`, from this package or from `directory`."""
    return _read(artifact_path(name, directory))


@cache
def _read(path: Path) -> dict:
    if not path.exists():
        raise ArtifactMissing(f"{path} is missing: run `make setup` to compile the contracts")
    return json.loads(path.read_text())


def ape_contract_type(name: str = MARKET) -> dict:
    """The artifact as the fields of an Ape ``ContractType`` (``ContractType.model_validate``)."""
    artifact = load_artifact(name)
    return {
        "contractName": name,
        "sourceId": artifact.get("sourceName"),
        "abi": artifact["abi"],
        "deploymentBytecode": {"bytecode": artifact["bytecode"]},
        "runtimeBytecode": {"bytecode": artifact["deployedBytecode"]},
    }
