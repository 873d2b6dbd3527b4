"""scripts/replay_contracts.py at a small scale on the embedded chain: a week of contracts, some
of which default, all ending as the reference says, without a failed transaction."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "replay_contracts.py"
SEED_WITH_DEFAULTS = "2032"  # 21 contracts, two of which cannot pay, one meter silent for a month


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    out = tmp_path_factory.mktemp("replay")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--scale", "0.003", "--seed", SEED_WITH_DEFAULTS, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    return result, out


def rows(out: Path, name: str) -> list[dict]:
    with open(out / name) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_replay_succeeds(replay):
    result, _ = replay
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_no_transaction_fails(replay):
    _, out = replay
    assert {row["failed"] for row in rows(out, "days.csv") + rows(out, "months.csv")} == {"0"}


@pytest.mark.slow
def test_a_week_of_days_with_counts_varying_like_a_week(replay):
    _, out = replay
    days = rows(out, "days.csv")
    assert [d["weekday"] for d in days] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert int(days[0]["signed"]) > int(days[6]["signed"])


@pytest.mark.slow
def test_some_contracts_default_and_all_end_as_the_reference_says(replay):
    _, out = replay
    contracts = rows(out, "contracts.csv")
    assert sum(c["state"] == "defaulted" for c in contracts) >= 1
    assert all(c["same_as_reference"] == "True" for c in contracts)


@pytest.mark.slow
def test_money_is_conserved(replay):
    result, _ = replay
    assert "money conserved (wallets + held + withdrawn == deposited): yes" in result.stdout


@pytest.mark.slow
def test_chart_is_drawn(replay):
    _, out = replay
    assert (out / "contracts.png").stat().st_size > 0


@pytest.mark.slow
def test_days_table_is_written_beside_the_csvs(replay):
    _, out = replay
    table = (out / "days.md").read_text()
    assert [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ") and "Mon" in line] == [
        "1 Mon"
    ]
    assert "failed transactions: 0" in table
