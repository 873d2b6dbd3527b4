"""scripts/dispatch_experiment.py at the smallest network size: its CSV, its agreement between
reruns, dispatch against random choice and the min-cost bound, and (slow) the same runs on the
contract on an embedded chain, equal to the reference."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dispatch_experiment.py"
COLUMNS = [
    "users",
    "stations",
    "run",
    "max_loss",
    "min_loss",
    "energy",
    "loss_dispatch",
    "loss_random",
    "loss_optimal",
    "ratio",
]


def run(out: Path, *options: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), "--sizes", "1", *options],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    return result


def rows(out: Path) -> list[dict]:
    with (out / "dispatch.csv").open() as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def test_the_smallest_size_writes_three_runs_that_reruns_repeat(tmp_path):
    run(tmp_path / "a", "--chain-sizes", "0")
    run(tmp_path / "b", "--chain-sizes", "0")
    first = rows(tmp_path / "a")
    assert [(r["users"], r["stations"], r["run"]) for r in first] == [("10", "2", str(n)) for n in (1, 2, 3)]
    assert (tmp_path / "a" / "dispatch.csv").read_text() == (tmp_path / "b" / "dispatch.csv").read_text()
    assert (tmp_path / "a" / "dispatch.png").stat().st_size > 0


def test_dispatch_loses_less_than_random_and_no_less_than_the_optimum(tmp_path):
    run(tmp_path, "--chain-sizes", "0")
    for row in rows(tmp_path):
        optimal, dispatch, random = (float(row[k]) for k in ("loss_optimal", "loss_dispatch", "loss_random"))
        assert float(row["min_loss"]) <= optimal <= dispatch < random <= float(row["max_loss"])
        assert float(row["ratio"]) == pytest.approx(dispatch / random, abs=1e-4)
        assert int(row["energy"]) > 0


def test_a_different_seed_gives_a_different_script(tmp_path):
    run(tmp_path / "a", "--chain-sizes", "0")
    run(tmp_path / "b", "--chain-sizes", "0", "--seed", "7")
    assert rows(tmp_path / "a") != rows(tmp_path / "b")


@pytest.mark.slow
def test_the_contract_moves_what_the_reference_moves(tmp_path):
    result = run(tmp_path, "--chain-sizes", "1", "--runs", "1")
    assert "equal: True" in result.stdout
    with (tmp_path / "dispatch_chain.csv").open() as handle:
        (chain,) = list(csv.DictReader(handle))
    (reference,) = rows(tmp_path)
    assert chain["equals_reference"] == "True"
    assert (chain["energy"], chain["loss_dispatch"]) == (reference["energy"], reference["loss_dispatch"])
