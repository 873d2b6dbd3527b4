"""Off-chain reference: time of the Python reference clearing (`sim.reference.clear`).

    .venv/bin/python -m bench.reference_clearing [--sizes 10,100,1000,10000]

The books are those `bench/gas.py` clears on-chain: for N bids a side, N producers and N
consumers, each green with probability 1/2 (`random.Random(N)`), asks of 100-5,000 Wh at 20-60
and bids at 40-80 tenths of a milli-ether per kWh (`random.Random(N)` again, in reveal order),
every wallet 100 ether, the default margin. The trade count is checked against gas.py's on-chain
run when its ``gas_scaling.csv`` is there. Each size is cleared ``--repeat`` times; the best time
is kept (the others are noise from other work on the machine). Writes
``bench/results/reference_clearing.md`` and ``reference_clearing.csv``.
"""

from __future__ import annotations

import argparse
import csv
import random
import time

from bench.common import RESULTS, machine, markdown_table, write_csv
from p2pkit.market import MarketParameters
from sim.reference import Order, clear

MILLI_ETHER = 10**15
WALLET = 10**20


def gas_bench_book(n: int) -> tuple[list[Order], dict[str, int]]:
    """The book of bench/gas.py's first period with `n` bids a side, in reveal order."""
    enrol = random.Random(n)
    greens = [enrol.random() < 0.5 for _ in range(2 * n)]
    bidding = random.Random(n)
    orders = []
    for i in range(2 * n):
        producer = i < n
        low, high = (20, 60) if producer else (40, 80)
        quantity = bidding.randint(100, 5_000)
        price = bidding.randint(low, high) * MILLI_ETHER // 10
        orders.append(Order(f"p{i}", producer, greens[i], quantity, price))
    return orders, {o.owner: WALLET for o in orders}


def on_chain_trades() -> dict[int, int]:
    """Trades per size from bench/gas.py's last run, if any."""
    try:
        with open(RESULTS / "gas_scaling.csv") as f:
            return {int(row["bids_per_side"]): int(row["trades"]) for row in csv.DictReader(f)}
    except (OSError, KeyError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000,10000", help="bids a side, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    machine()  # the load average as the run starts
    margin = MarketParameters().margin
    chain_trades = on_chain_trades()
    rows = []
    for n in (int(size) for size in args.sizes.split(",")):
        orders, wallets = gas_bench_book(n)
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = clear(orders, wallets, margin)
            best = min(best, time.perf_counter() - started)
        on_chain = chain_trades.get(n)
        agreement = "-" if on_chain is None else ("same" if on_chain == len(result.trades) else f"differs ({on_chain})")
        rows.append([n, len(result.trades), f"{best:.4f}", f"{best / (2 * n) * 1e6:.1f}", agreement])
        print(f"reference clearing, {n} bids a side: {best:.4f} s", flush=True)
    report = "\n".join(
        [
            "# Off-chain reference clearing (sim.reference.clear)",
            "",
            f"Machine: {machine()}. Pure Python, one thread; best of {args.repeat} runs.",
            "",
            markdown_table(
                ["bids a side", "trades", "clearing time (s)", "per bid (µs)", "trades on-chain (bench/gas.py)"], rows
            ),
            "",
        ]
    )
    print(report)
    (RESULTS / "reference_clearing.md").write_text(report)
    write_csv(
        RESULTS / "reference_clearing.csv",
        ["bids_per_side", "trades", "seconds", "us_per_bid", "on_chain_trades"],
        rows,
    )
    print(f"written to {RESULTS}/reference_clearing.md, reference_clearing.csv")


if __name__ == "__main__":
    main()
