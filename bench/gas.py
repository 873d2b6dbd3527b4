"""Gas of the market contract: per function, and per period as the book grows.

    .venv/bin/python -m bench.gas [--sizes 10,100,1000,10000]

Runs anvil (30M-gas blocks) and, for each size N, a full period with N producers and N consumers:
registration, authorization, deposit, meter binding, commit, reveal (hints computed the way a
client does), matching in batches that fit a block, meter readings and settlement in batches.
Gas is read from receipts. Prints Markdown tables and writes ``bench/results/gas.md``,
``gas_scaling.csv`` (bids_per_side,total_gas,blocks) and ``gas_functions.csv``.

``blocks`` counts 30M-gas blocks for the period's own work (commit, reveal, matching, readings,
settlement) with transactions packed in order; every matching or settlement batch is one block.
Transactions come from anvil's auto-impersonated accounts: gas does not depend on who signs.
"""
from __future__ import annotations

import argparse
import bisect
import csv
import math
import os
import random
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from eth_account import Account
from web3 import Web3

from backend.chain import MarketParameters, MarketSchedule, commitment, load_artifact
from devnet.nodes import anvil
from bench.common import PUBLISHED, RESULTS, JsonRpc, RpcError, machine

BLOCK_GAS = 30_000_000
SCHEDULE = MarketSchedule.scaled(86_400)
POOL_CHUNK = 1000
MATCH_STEPS = 800
SETTLE_BATCH = 1500
MILLI_ETHER = 10**15


class Rpc(JsonRpc):
    """Batched JSON-RPC to an anvil that mines only when asked, with nonces counted here."""

    def __init__(self, url: str):
        super().__init__(url, timeout=600)
        self.nonces: dict[str, int] = {}
        self.call("evm_setAutomine", False)

    def transact(self, txs: list[dict], in_order: bool = False) -> list[dict]:
        """Send transactions, mine them, and return their receipts, a chunk at a time: anvil
        slows down as its pool fills, and requests stay small.
        A batch is served concurrently; `in_order` sends one request per transaction so that
        they are mined in list order (anvil runs with a first-in-first-out pool)."""
        receipts = []
        for start in range(0, len(txs), POOL_CHUNK):
            receipts += self._transact_chunk(txs[start:start + POOL_CHUNK], in_order)
        return receipts

    def _transact_chunk(self, txs: list[dict], in_order: bool) -> list[dict]:
        senders = sorted({tx["from"] for tx in txs} - set(self.nonces))
        counts = self.batch([("eth_getTransactionCount", [s, "pending"]) for s in senders])
        self.nonces.update({s: int(c, 16) for s, c in zip(senders, counts)})
        for tx in txs:  # a batch is served concurrently: number each sender's transactions
            tx["nonce"] = hex(self.nonces[tx["from"]])
            self.nonces[tx["from"]] += 1
        sends = [("eth_sendTransaction", [tx]) for tx in txs]
        hashes = [self.call(*send[:1], *send[1]) for send in sends] if in_order else self.batch(sends)
        while True:  # blocks fill up to the gas limit in nonce order until the pool is empty
            self.call("evm_mine")
            pool = self.call("txpool_status")
            if int(pool["pending"], 16) == int(pool["queued"], 16) == 0:
                break
        receipts = self.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        dropped = sum(r is None for r in receipts)
        if dropped:
            raise RuntimeError(f"anvil dropped {dropped} of {len(txs)} transactions from its pool unmined")
        failed = [r for r in receipts if int(r["status"], 16) != 1]
        if failed:
            first = next(tx for tx, r in zip(txs, receipts) if r in failed)
            try:
                self.call("eth_call", {k: v for k, v in first.items() if k != "nonce"}, hex(int(failed[0]["blockNumber"], 16) - 1))
                reason = "no error when replayed"
            except RpcError as error:
                reason = str(error)
            raise RuntimeError(f"{len(failed)} of {len(txs)} transactions failed; the first: {reason}")
        return receipts

    def travel(self, timestamp: int) -> None:
        self.call("evm_mine", hex(timestamp))


@dataclass
class PeriodGas:
    bids_per_side: int
    by_function: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    trades: int = 0
    match_txs: int = 0
    settle_txs: int = 0

    def add(self, name: str, receipts: list[dict]) -> None:
        self.by_function[name] += [int(r["gasUsed"], 16) for r in receipts]

    def total(self, *names: str) -> int:
        return sum(sum(self.by_function[n]) for n in names)

    @property
    def period_gas(self) -> int:
        return self.total("commit", "reveal", "matchBids", "submitReading", "settle")

    @property
    def blocks(self) -> int:
        packed = sum(math.ceil(self.total(n) / BLOCK_GAS) for n in ("commit", "reveal", "submitReading"))
        return packed + self.match_txs + self.settle_txs


class Bench:
    def __init__(self, rpc: Rpc):
        self.rpc = rpc
        artifact = load_artifact()
        self.market = Web3().eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        self.operator = rpc.call("eth_accounts")[0]
        grid = Account.create().address
        ctor = self.market.constructor(grid, SCHEDULE.as_abi(), MarketParameters().as_abi())
        receipt = rpc.transact([{"from": self.operator, "data": ctor.data_in_transaction}])[0]
        self.address = receipt["contractAddress"]
        self.trade_topic = "0x" + Web3.keccak(text="Trade(uint32,uint32,uint32,uint40,uint64,uint256)").hex().removeprefix("0x")
        self.genesis = int(self.rpc.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)

    def tx(self, sender: str, function: str, *args, value: int = 0, gas: int = 1_000_000) -> dict:
        """A call with a fixed gas limit: estimates against the last block would not see the
        transactions queued before it. Gas used, which is what is measured, does not depend on it."""
        data = self.market.encode_abi(function, args=list(args))
        return {"from": sender, "to": self.address, "data": data, "value": hex(value), "gas": hex(gas)}

    def view(self, function: str, *args):
        data = self.market.encode_abi(function, args=list(args))
        raw = self.rpc.call("eth_call", {"to": self.address, "data": data}, "latest")
        fn = self.market.get_function_by_name(function)
        types = [o["type"] if o["type"] != "tuple" else _tuple_type(o) for o in fn.abi["outputs"]]
        return Web3().codec.decode(types, bytes.fromhex(raw[2:]))

    def start_of(self, period: int) -> int:
        return self.genesis + period * SCHEDULE.period_length

    def current_period(self) -> int:
        return self.view("currentPeriod")[0]

    def enroll(self, n: int, gas: PeriodGas) -> list[dict]:
        rng = random.Random(n)
        prosumers = []
        for i in range(2 * n):
            producer = i < n
            prosumers.append({
                "address": Account.create().address,
                "meter": Account.create().address,
                "producer": producer,
                "green": rng.random() < 0.5,
            })
        self.rpc.batch([("anvil_setBalance", [p[k], hex(10**21)]) for p in prosumers for k in ("address", "meter")])
        gas.add("register", self.rpc.transact(
            [self.tx(p["address"], "register", f"p{i}", p["producer"], p["green"]) for i, p in enumerate(prosumers)]))
        gas.add("setAuthorization", self.rpc.transact(
            [self.tx(self.operator, "setAuthorization", p["address"], True) for p in prosumers]))
        gas.add("deposit", self.rpc.transact(
            [self.tx(p["address"], "deposit", value=10**20) for p in prosumers]))
        gas.add("bindMeter", self.rpc.transact(
            [self.tx(self.operator, "bindMeter", p["address"], p["meter"], i + 1) for i, p in enumerate(prosumers)]))
        return prosumers

    def run_period(self, prosumers: list[dict], gas: PeriodGas, seed: int) -> None:
        rng = random.Random(seed)
        period = self.current_period() + 1
        delivery = period + 1
        for p in prosumers:
            # Asks around 20-60, bids around 40-80 milli-ether/kWh: most of the book crosses.
            low, high = (20, 60) if p["producer"] else (40, 80)
            p["bid"] = (rng.randint(100, 5_000), rng.randint(low, high) * MILLI_ETHER // 10, os.urandom(32))
        self.rpc.travel(self.start_of(period) + 1)
        gas.add("commit", self.rpc.transact([
            self.tx(p["address"], "commit", commitment(*p["bid"][:2], p["bid"][2], p["address"])) for p in prosumers]))
        self.rpc.travel(self.start_of(period) + SCHEDULE.commit_end)
        gas.add("reveal", self.rpc.transact([
            self.tx(p["address"], "reveal", *p["bid"], hint) for p, hint in zip(prosumers, client_hints(prosumers))],
            in_order=True))
        self.rpc.travel(self.start_of(period) + SCHEDULE.reveal_end)
        while self.view("bookOf", delivery)[0][1] != 2:
            (receipt,) = self.rpc.transact([self.tx(self.operator, "matchBids", delivery, MATCH_STEPS, gas=BLOCK_GAS)])
            gas.add("matchBids", [receipt])
            gas.match_txs += 1
            gas.trades += sum(1 for log in receipt["logs"] if log["topics"][0] == self.trade_topic)
        self.rpc.travel(self.start_of(delivery + 1) + 1)
        gas.add("submitReading", self.rpc.transact([
            self.tx(p["meter"], "submitReading", delivery, i + 1, p["bid"][0] + rng.randint(-50, 50))
            for i, p in enumerate(prosumers)]))
        self.rpc.travel(self.start_of(delivery + 1) + SCHEDULE.settle_start)
        while self.view("bookOf", delivery)[0][2] < len(prosumers):
            gas.add("settle", self.rpc.transact([self.tx(self.operator, "settle", delivery, SETTLE_BATCH, gas=BLOCK_GAS)]))
            gas.settle_txs += 1


def _tuple_type(output: dict) -> str:
    return "(" + ",".join(c["type"] if c["type"] != "tuple" else _tuple_type(c) for c in output["components"]) + ")"


def client_hints(prosumers: list[dict]) -> list[int]:
    """The `hintPrevId` each reveal would get from `insertionHint` just before it is sent:
    bids revealed in list order get ids 1, 2, ...; asks ascending, bids descending, ties in order."""
    queues: dict[tuple[bool, bool], list[tuple[int, int]]] = defaultdict(list)
    hints = []
    for bid_id, p in enumerate(prosumers, start=1):
        price = p["bid"][1]
        key = price if p["producer"] else -price
        queue = queues[(p["producer"], p["green"])]
        position = bisect.bisect_right(queue, (key, bid_id))
        hints.append(queue[position - 1][1] if position else 0)
        queue.insert(position, (key, bid_id))
    return hints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000,10000", help="bids per side, comma-separated")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]

    results: list[PeriodGas] = []
    steady: PeriodGas | None = None
    # Base fee 0: a period fills block after block, and the base fee, rising 12.5 % with each full
    # block, would overtake the fee cap anvil gave a queued transaction, which it then drops.
    with anvil("--auto-impersonate", "--accounts", "1", "--order", "fifo", "--base-fee", "0",
               gas_limit=BLOCK_GAS) as url:
        for n in sizes:
            bench = Bench(Rpc(url))
            gas = PeriodGas(n)
            prosumers = bench.enroll(n, gas)
            bench.run_period(prosumers, gas, seed=n)
            results.append(gas)
            print(f"{n} bids a side: {gas.period_gas:,} gas, {gas.blocks} blocks, {gas.trades} trades", flush=True)
            if steady is None:  # a second period: commits now rewrite the slot made at registration
                steady = PeriodGas(n)
                bench.run_period(prosumers, steady, seed=n + 1)

    report = render(results, steady, sizes)
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gas.md").write_text(report)
    with open(RESULTS / "gas_scaling.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["bids_per_side", "total_gas", "blocks", "trades", "match_txs", "settle_txs"])
        for g in results:
            writer.writerow([g.bids_per_side, g.period_gas, g.blocks, g.trades, g.match_txs, g.settle_txs])
    with open(RESULTS / "gas_functions.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["function", "calls", "mean_gas", "min_gas", "max_gas"])
        for name, values in function_rows(results, steady):
            writer.writerow([name, len(values), round(statistics.mean(values)), min(values), max(values)])
    print(f"written to {RESULTS}/gas.md, gas_scaling.csv, gas_functions.csv")


def function_rows(results: list[PeriodGas], steady: PeriodGas) -> list[tuple[str, list[int]]]:
    largest = results[-1]
    rows = [(name, largest.by_function[name]) for name in ("register", "setAuthorization", "deposit", "bindMeter")]
    rows += [("commit (first bid of an account)", largest.by_function["commit"])]
    rows += [("commit (every later period)", steady.by_function["commit"])]
    rows += [(name, largest.by_function[name]) for name in ("reveal", "submitReading")]
    return rows


def render(results: list[PeriodGas], steady: PeriodGas, sizes: list[int]) -> str:
    largest = results[-1]
    lines = [
        "# Gas of the energy market",
        "",
        f"Machine: {machine()}. Chain: anvil, {BLOCK_GAS:,}-gas blocks; contract compiled with solc 0.8.28,"
        " optimizer 200 runs, EVM paris.",
        "",
        f"## Per function (largest run, {largest.bids_per_side} bids a side)",
        "",
        "| function | calls | mean gas | min | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in function_rows(results, steady):
        lines.append(f"| {name} | {len(values)} | {statistics.mean(values):,.0f} | {min(values):,} | {max(values):,} |")
    per_trade = largest.total("matchBids") / max(largest.trades, 1)
    per_settled = largest.total("settle") / (2 * largest.bids_per_side)
    commit_reveal = (statistics.mean(steady.by_function["commit"]) + statistics.mean(largest.by_function["reveal"]))
    lines += [
        f"| matchBids, per trade | {largest.trades} trades | {per_trade:,.0f} | | |",
        f"| settle, per prosumer | {2 * largest.bids_per_side} | {per_settled:,.0f} | | |",
        "",
        f"Commit + reveal per bid (steady state): {commit_reveal:,.0f} gas (target <= 120,000).",
        f"Matching per trade: {per_trade:,.0f} gas (target <= 50,000).",
        "",
        "## Per period as the book grows",
        "",
        "| bids a side | trades | matching gas | gas per trade | matching txs | period gas (commit..settle) | 30M blocks |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for g in results:
        lines.append(
            f"| {g.bids_per_side:,} | {g.trades:,} | {g.total('matchBids'):,} | {g.total('matchBids') / max(g.trades, 1):,.0f}"
            f" | {g.match_txs} | {g.period_gas:,} | {g.blocks} |"
        )
    by_size = {g.bids_per_side: g for g in results}
    if 1000 in by_size and 10000 in by_size:
        ratio = by_size[10000].period_gas / by_size[1000].period_gas
        lines += ["", f"gas(10,000) / gas(1,000) = {ratio:.2f} (linear growth is 10; target <= 10.5)."]
    lines += ["", "## Published on-chain auctions, for comparison", ""]
    lines += [f"- {p['system']}: {p['figure']} ({p['source']})." for p in PUBLISHED if "gas" in p["figure"]]
    lines.append(f"- This market: {per_trade:,.0f} gas per matched trade, {commit_reveal:,.0f} gas per bid sealed and opened.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
