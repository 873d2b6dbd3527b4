"""Where the gas of each measured operation goes, opcode by opcode.

    .venv/bin/python -m bench.gas_breakdown [--bids 50]

Runs the two gas benchmarks' own scenarios small on anvil with step tracing (two periods of
``bench/gas.py`` with ``--bids`` bids a side, and ``bench/continuous_gas.py`` crossing one and two
resting orders), then replays one transaction of each operation through ``debug_traceTransaction``
and sums its gas by what it paid for: the 21,000 of a transaction and its calldata, storage read
cold (2,100) or warm (100), storage written to a fresh slot (20,000), rewritten (2,900; 5,000
when the slot was not read first), or written again in the same transaction (100), events,
calls, hashing, and every other opcode. A batch (matching, settlement) is divided by what it did
(trades, prosumers). The cold reads and the writes are what the storage layout decides; the rest
is the code's own work. Prints a Markdown table and writes ``bench/results/gas_breakdown.md``
and ``gas_breakdown.csv``.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from bench import continuous_gas, gas
from bench.common import RESULTS, JsonRpc, machine, markdown_table, write_csv
from bench.senders import GasLog
from devnet.nodes import anvil

CALLS = ("CALL", "STATICCALL", "DELEGATECALL")
COLUMNS = [
    "transaction + calldata",
    "SLOAD cold",
    "SLOAD warm",
    "SSTORE new slot",
    "SSTORE rewrite",
    "SSTORE again",
    "LOG",
    "CALL",
    "KECCAK256",
    "other opcodes",
]


def opcode_class(op: str, cost: int) -> str:
    if op == "SLOAD":
        return "SLOAD cold" if cost >= 2100 else "SLOAD warm"
    if op == "SSTORE":
        return "SSTORE new slot" if cost >= 20_000 else "SSTORE rewrite" if cost >= 2900 else "SSTORE again"
    if op.startswith("LOG"):
        return "LOG"
    if op in CALLS:
        return "CALL"
    if op == "KECCAK256":
        return "KECCAK256"
    return "other opcodes"


def breakdown(rpc: JsonRpc, tx_hash: str) -> dict[str, int]:
    """Gas of one transaction by opcode class; a call counts only what it costs itself, the
    callee's opcodes count in their own classes."""
    options = {"disableStorage": True, "disableMemory": True, "disableStack": True}
    steps = rpc.call("debug_traceTransaction", tx_hash, options)["structLogs"]
    used = int(rpc.call("eth_getTransactionReceipt", tx_hash)["gasUsed"], 16)
    by_class: dict[str, int] = defaultdict(int)
    for i, step in enumerate(steps):
        cost = step["gasCost"]
        if step["op"] in CALLS and i + 1 < len(steps) and steps[i + 1]["depth"] > step["depth"]:
            end = i + 1
            while end < len(steps) and steps[end]["depth"] > step["depth"]:
                end += 1
            callee = steps[i + 1]["gas"] - (steps[end - 1]["gas"] - steps[end - 1]["gasCost"])
            cost = step["gas"] - steps[end]["gas"] - callee
        by_class[opcode_class(step["op"], cost)] += cost
    by_class["transaction + calldata"] = used - sum(by_class.values())
    return by_class


class HashLog(GasLog):
    """The gas log of ``bench/gas.py`` that also keeps each transaction's hash."""

    def __init__(self) -> None:
        super().__init__()
        self.hashes: dict[str, list[str]] = defaultdict(list)

    def add(self, transactions, receipts) -> None:
        super().add(transactions, receipts)
        for tx, receipt in zip(transactions, receipts):
            self.hashes[tx.name].append(receipt["transactionHash"])


class ContinuousBench(continuous_gas.Bench):
    """``bench/continuous_gas.py``'s scenario, keeping each measured transaction's hash."""

    def __init__(self, url: str):
        super().__init__(url)
        self.hashes: dict[str, str] = {}

    def measure(self, name: str, receipt) -> None:
        super().measure(name, receipt)
        self.hashes[name] = receipt["transactionHash"].to_0x_hex()


def auction_rows(url: str, bids: int) -> list[tuple[str, dict[str, int]]]:
    rpc = JsonRpc(url, timeout=600)
    bench = gas.Bench(url)
    first = gas.PeriodGas(bids, gas=HashLog())
    prosumers = bench.enroll(bids, first)
    bench.run_period(prosumers, first, seed=bids)
    steady = gas.PeriodGas(bids, gas=HashLog())
    bench.run_period(prosumers, steady, seed=bids + 1)
    hashes = steady.gas.hashes
    reveals = steady.by_function["reveal"]
    median = sorted(range(len(reveals)), key=reveals.__getitem__)[len(reveals) // 2]
    rows = [
        ("commit, producer (a later period)", breakdown(rpc, hashes["commit"][0])),
        ("commit, consumer (a later period)", breakdown(rpc, hashes["commit"][-1])),
        ("reveal, the median one (a later period)", breakdown(rpc, hashes["reveal"][median])),
    ]
    for name, count, unit in (("matchBids", steady.trades, "trade"), ("settle", 2 * bids, "prosumer settled")):
        total: dict[str, int] = defaultdict(int)
        for tx_hash in hashes[name]:
            for column, value in breakdown(rpc, tx_hash).items():
                total[column] += value
        label = f"{name}, per {unit} ({count} in {len(hashes[name])} txs)"
        rows.append((label, {column: value / count for column, value in total.items()}))
    return rows


def continuous_rows(url: str) -> list[tuple[str, dict[str, int]]]:
    rpc = JsonRpc(url, timeout=600)
    bench = ContinuousBench(url)
    bench.run([1, 2])
    names = ("limit order that rests", "cancel (an order behind another)", "re-price (no trade)")
    rows = [(name, breakdown(rpc, bench.hashes[name])) for name in names]
    one = breakdown(rpc, bench.hashes["limit sell crossing 1 resting bid"])
    two = breakdown(rpc, bench.hashes["limit sell crossing 2 resting bids"])
    rows.append(("each further order crossed (2 less 1)", {k: two.get(k, 0) - one.get(k, 0) for k in COLUMNS}))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bids", type=int, default=50, help="bids a side in the auction's periods")
    bids = parser.parse_args().bids
    flags = ("--auto-impersonate", "--accounts", "1", "--order", "fifo", "--base-fee", "0", "--steps-tracing")
    with anvil(*flags, gas_limit=gas.BLOCK_GAS) as url:
        rows = auction_rows(url, bids)
    with anvil("--steps-tracing") as url:
        rows += continuous_rows(url)
    table = [(name, f"{sum(c.values()):,.0f}", *(f"{c.get(k, 0):,.0f}" for k in COLUMNS)) for name, c in rows]
    text = "\n".join(
        [
            "# Where the gas goes",
            "",
            f"Machine: {machine()}. Chain: anvil with step tracing; {bids} bids a side in the auction's"
            " periods. Gas by opcode class, from `debug_traceTransaction`; a batch divided by what it did.",
            "",
            markdown_table(["operation", "gas", *COLUMNS], table),
            "",
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gas_breakdown.md").write_text(text)
    write_csv(
        RESULTS / "gas_breakdown.csv",
        ["operation", "gas", *COLUMNS],
        [(name, round(sum(c.values())), *(round(c.get(k, 0)) for k in COLUMNS)) for name, c in rows],
    )
    print(text)


if __name__ == "__main__":
    main()
