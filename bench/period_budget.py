"""Period budget: does a 15-minute period with N prosumers get all its work into the chain in time?

    .venv/bin/python -m bench.period_budget [--block-times 1,5,15] [--gas-limit 30000000]

The market's clock (the paper's 15-minute period) gives each kind of work a window: commits in
minutes 0-3, reveals in 3-5, matching in 5-10, settlement from minute 10 to the end of the
period; the meter readings of the period just delivered may come at any time in the period,
and are counted here against whatever the commit, reveal and matching windows leave over (they
must be in before settlement). A chain with blocks every B seconds and G gas per block offers a
window of W seconds floor(W / B) blocks of G gas. Work in gas, for N prosumers (half producers,
half consumers, one bid each):

* commit, reveal, reading: N x the mean gas of the function;
* matching: trades x gas per matched trade, trades = N/2 x the trades per bid a side measured;
* settlement: N x the gas per settled prosumer.

Matching and settlement go in batches each sized to fill a block, as the keeper's are. The gas
figures come from ``bench/results/gas_functions.csv`` and ``gas_scaling.csv`` (``bench/gas.py``)
where they are there, else from a period of ``--measure-bids`` bids a side run here on anvil. The
budget counts gas and blocks only; whether clients and node can carry that many transactions a
second is what ``bench/load.py`` measures. Writes ``bench/results/period_budget.md``,
``period_budget.csv`` and the gas figures it used, ``gas_figures.csv``.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from bench.common import RESULTS, machine, markdown_table, write_csv
from p2pkit.schedule import Schedule

SCHEDULE = Schedule()
# Rows of gas_functions.csv used here, and the names under which bench/gas.py writes the
# matching and settlement figures when it does.
CSV_ROWS = {
    "commit": "commit (every later period)",
    "reveal": "reveal",
    "reading": "submitReading",
    "trade": "matchBids, per trade",
    "settle": "settle, per prosumer",
}
LARGEST_N = 10_000_000


@dataclass(frozen=True)
class GasFigures:
    commit: float
    reveal: float
    reading: float
    trade: float  # matching gas per matched trade
    settle: float  # settlement gas per prosumer
    trades_per_bid: float  # trades per bid a side
    source: str


@dataclass(frozen=True)
class Window:
    name: str
    seconds: int
    gas: float  # work to fit


@dataclass(frozen=True)
class Budget:
    prosumers: int
    block_time: float
    gas_limit: int
    windows: list[Window]
    reading_gas: float

    def blocks(self, window: Window) -> int:
        return math.floor(window.seconds / self.block_time)

    def capacity(self, window: Window) -> float:
        return self.blocks(window) * self.gas_limit

    def use(self, window: Window) -> float:
        return window.gas / self.capacity(window) if self.capacity(window) else math.inf

    @property
    def spare_before_settlement(self) -> float:
        return sum(self.capacity(w) - w.gas for w in self.windows if w.name != "settlement")

    @property
    def reading_use(self) -> float:
        spare = sum(self.capacity(w) for w in self.windows if w.name != "settlement")
        used = sum(w.gas for w in self.windows if w.name != "settlement")
        return (used + self.reading_gas) / spare if spare else math.inf

    @property
    def fits(self) -> bool:
        return all(self.use(w) <= 1 for w in self.windows) and self.reading_gas <= self.spare_before_settlement

    @property
    def binding(self) -> str:
        """The tightest constraint: a window, or the readings sharing the windows before settlement."""
        tightest = max(self.windows, key=self.use)
        return "readings (with commit, reveal, matching)" if self.reading_use > self.use(tightest) else tightest.name


def budget(n: int, gas: GasFigures, block_time: float, gas_limit: int) -> Budget:
    windows = [
        Window("commit", SCHEDULE.commit_end, n * gas.commit),
        Window("reveal", SCHEDULE.reveal_end - SCHEDULE.commit_end, n * gas.reveal),
        Window("matching", SCHEDULE.settle_start - SCHEDULE.reveal_end, n / 2 * gas.trades_per_bid * gas.trade),
        Window("settlement", SCHEDULE.period_length - SCHEDULE.settle_start, n * gas.settle),
    ]
    return Budget(n, block_time, gas_limit, windows, n * gas.reading)


def largest_fitting(gas: GasFigures, block_time: float, gas_limit: int) -> int:
    """The most prosumers whose period fits (work grows with N, so bisect)."""
    low, high = 0, LARGEST_N
    while low < high:
        middle = (low + high + 1) // 2
        if budget(middle, gas, block_time, gas_limit).fits:
            low = middle
        else:
            high = middle - 1
    return low


def gas_from_results(folder: Path) -> tuple[dict[str, float], str]:
    """What bench/gas.py's last run wrote of the figures (any of CSV_ROWS and trades_per_bid),
    and where from."""
    figures: dict[str, float] = {}
    sources = []
    try:
        with open(folder / "gas_functions.csv") as f:
            means = {row["function"]: float(row["mean_gas"]) for row in csv.DictReader(f)}
        figures.update({key: means[name] for key, name in CSV_ROWS.items() if name in means})
        sources.append("gas_functions.csv")
    except (OSError, KeyError, ValueError):
        pass
    try:
        with open(folder / "gas_scaling.csv") as f:
            largest = max(csv.DictReader(f), key=lambda row: int(row["bids_per_side"]))
        figures["trades_per_bid"] = int(largest["trades"]) / int(largest["bids_per_side"])
        sources.append(f"gas_scaling.csv ({largest['bids_per_side']} bids a side)")
    except (OSError, KeyError, ValueError):
        pass
    return figures, "bench/results/" + " and ".join(sources) if sources else ""


def gas_figures(folder: Path, measure_bids: int) -> GasFigures:
    """bench/gas.py's figures, completed by a period measured here for those it did not write."""
    figures, source = gas_from_results(folder)
    missing = [name for name in (*CSV_ROWS, "trades_per_bid") if name not in figures]
    if missing:
        measured = measure_gas(measure_bids)
        figures.update({name: getattr(measured, name) for name in missing})
        found = sorted((set(CSV_ROWS) | {"trades_per_bid"}) - set(missing))
        source = (f"{source} ({', '.join(found)}) and " if source else "") + f"{measured.source} ({', '.join(missing)})"
    return GasFigures(**figures, source=source)


def measure_gas(bids_per_side: int) -> GasFigures:
    """Gas of one steady-state period of `bids_per_side` bids a side, run with bench/gas.py's
    market driver on anvil (30M-gas blocks)."""
    from bench.gas import BLOCK_GAS, Bench, PeriodGas
    from devnet.nodes import anvil

    with anvil(
        "--auto-impersonate", "--accounts", "1", "--order", "fifo", "--base-fee", "0", gas_limit=BLOCK_GAS
    ) as url:
        driver = Bench(url)
        first = PeriodGas(bids_per_side)
        prosumers = driver.enroll(bids_per_side, first)
        driver.run_period(prosumers, first, seed=bids_per_side)
        steady = PeriodGas(bids_per_side)
        driver.run_period(prosumers, steady, seed=bids_per_side + 1)
    return GasFigures(
        commit=statistics.mean(steady.by_function["commit"]),
        reveal=statistics.mean(steady.by_function["reveal"]),
        reading=statistics.mean(steady.by_function["submitReading"]),
        trade=steady.total("matchBids") / max(steady.trades, 1),
        settle=steady.total("settle") / (2 * bids_per_side),
        trades_per_bid=steady.trades / bids_per_side,
        source=f"a period of {bids_per_side} bids a side measured on anvil by this benchmark",
    )


def render(gas: GasFigures, block_times: list[float], gas_limit: int, sizes: list[int]) -> tuple[str, list[list]]:
    lines = [
        "# Period budget: a 15-minute period on a chain of given block time and gas limit",
        "",
        f"Machine: {machine()} (the budget is computed from gas, not timed).",
        "",
        f"Gas figures from {gas.source}: commit {gas.commit:,.0f}, reveal {gas.reveal:,.0f}, meter reading"
        f" {gas.reading:,.0f}, matching {gas.trade:,.0f} per trade ({gas.trades_per_bid:.2f} trades per bid a side),"
        f" settlement {gas.settle:,.0f} per prosumer.",
        "",
        f"Windows (the paper's schedule): commit {SCHEDULE.commit_end} s, reveal"
        f" {SCHEDULE.reveal_end - SCHEDULE.commit_end} s, matching {SCHEDULE.settle_start - SCHEDULE.reveal_end} s,"
        f" settlement {SCHEDULE.period_length - SCHEDULE.settle_start} s; readings share the time before settlement.",
        "",
    ]
    csv_rows = []
    summary = []
    for block_time in block_times:
        largest = largest_fitting(gas, block_time, gas_limit)
        limit = budget(largest + 1, gas, block_time, gas_limit)
        summary.append([f"{block_time:g} s", f"{gas_limit:,}", f"{largest:,}", limit.binding])
        for n in sizes:
            b = budget(n, gas, block_time, gas_limit)
            csv_rows.append(
                [
                    block_time,
                    gas_limit,
                    n,
                    int(b.fits),
                    largest,
                    b.binding,
                    *(f"{b.use(w):.3f}" for w in b.windows),
                    f"{b.reading_use:.3f}",
                ]
            )
    lines += [
        "## Largest N that completes every phase in time",
        "",
        markdown_table(["block time", "gas per block", "largest N (prosumers)", "first to run out"], summary),
        "",
    ]
    lines += ["## Share of each window's gas the work takes (above 100 %: does not fit)", ""]
    headers = ["block time", "N", "fits", "commit", "reveal", "matching", "settlement", "readings + commit..matching"]
    rows = [
        [f"{r[0]:g} s", f"{r[2]:,}", "yes" if r[3] else "no", *(f"{float(v):.0%}" for v in r[6:])] for r in csv_rows
    ]
    lines += [markdown_table(headers, rows, numeric_from=1), ""]
    ten_thousand = [(block_time, budget(10_000, gas, block_time, gas_limit)) for block_time in block_times]
    lines += [
        "10,000 prosumers commit, reveal, clear and settle inside one 15-minute period with"
        f" {gas_limit / 1e6:g}M-gas blocks: "
        + "; ".join(f"{'yes' if b.fits else 'no'} with {t:g} s blocks (tightest: {b.binding})" for t, b in ten_thousand)
        + ".",
        "",
    ]
    return "\n".join(lines), csv_rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--block-times", default="1,5,15", help="seconds, comma-separated")
    parser.add_argument("--gas-limit", type=int, default=30_000_000)
    parser.add_argument("--sizes", default="100,1000,10000", help="prosumer counts to show, comma-separated")
    parser.add_argument(
        "--measure-bids",
        type=int,
        default=200,
        help="bids a side of the period measured when bench/gas.py's results are missing",
    )
    args = parser.parse_args(argv)
    machine()  # the load average as the run starts
    gas = gas_figures(RESULTS, args.measure_bids)
    report, rows = render(
        gas, [float(b) for b in args.block_times.split(",")], args.gas_limit, [int(n) for n in args.sizes.split(",")]
    )
    print(report)
    write_csv(
        RESULTS / "period_budget.csv",
        [
            "block_time_s",
            "gas_limit",
            "prosumers",
            "fits",
            "largest_prosumers",
            "binding",
            "commit_use",
            "reveal_use",
            "matching_use",
            "settlement_use",
            "readings_use",
        ],
        rows,
    )
    write_csv(
        RESULTS / "gas_figures.csv",
        ["figure", "gas", "source"],
        [[name, f"{getattr(gas, name):.2f}", gas.source] for name in (*CSV_ROWS, "trades_per_bid")],
    )
    (RESULTS / "period_budget.md").write_text(report)
    print(f"written to {RESULTS}/period_budget.md, period_budget.csv, gas_figures.csv")


if __name__ == "__main__":
    main()
