"""scripts/replay_day.py: a few periods of the paper's day on the embedded chain."""

import csv
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "replay_day.py"


def test_replay_clears_every_period_and_writes_its_outputs(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--periods", "3", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "periods cleared and settled: 3 of 3" in result.stdout
    assert "money conserved (wallets + withdrawn == deposited): yes" in result.stdout
    with open(tmp_path / "periods.csv") as f:
        periods = list(csv.DictReader(f))
    assert [p["time"] for p in periods] == ["00:00", "00:15", "00:30"]
    assert all(p["txs_failed"] == "0" for p in periods)
    # What the auctions left traded on in the continuous phase, and the period's average covers both.
    assert sum(int(p["continuous_trades"]) for p in periods) > 0
    assert all(p["auction_kwh"] and p["continuous_kwh"] for p in periods)
    with open(tmp_path / "trades.csv") as f:
        assert {t["phase"] for t in csv.DictReader(f)} == {"auction", "continuous"}
    for chart in (
        "fig3_load_cleared_vs_actual.png",
        "fig4_load_declared_vs_actual.png",
        "appendix_a_declared_cleared_actual.png",
        "average_price.png",
        "phases.png",
    ):
        assert (tmp_path / chart).stat().st_size > 0
    with open(tmp_path / "transactions.csv") as f:
        assert next(csv.DictReader(f))["failed"] == "0"
