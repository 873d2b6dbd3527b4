"""A part installed alone, as on its own machine: a wheel of a clean copy of the checkout (its
tracked files plus the compiled contracts, `make setup`, as a clean clone would have them, so
no leftover of an earlier build can end up in it) installed with one extra into a fresh virtual
environment. pip fetches the dependencies from PyPI."""

from __future__ import annotations

import json
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from p2pkit.artifacts import ARTIFACT_DIR

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 1800  # seconds: the dependencies come from PyPI


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


def install_alone(folder: Path, extra: str) -> Path:
    """The python of a fresh virtual environment in ``folder`` with the project installed with
    ``extra`` only; the source copy is removed afterwards, so nothing runs from a source tree."""
    if not list(ARTIFACT_DIR.glob("*.json")):
        pytest.fail("the contracts are not compiled: run `make setup`")
    source = clean_copy(folder / "source")
    venv.create(folder / "venv", with_pip=True)
    python = folder / "venv" / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"{source}[{extra}]"],
        cwd=folder,
        check=True,
        timeout=INSTALL_TIMEOUT,
    )
    shutil.rmtree(source)
    return python


def installed_packages(python: Path) -> set[str]:
    listing = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    ).stdout
    return {package["name"].lower() for package in json.loads(listing)}
