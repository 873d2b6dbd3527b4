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
import csv
import math
import os
import random
import statistics
from dataclasses import dataclass, field

from eth_account import Account
from web3 import Web3

from bench.common import PUBLISHED, RATED_POWER_W, RESULTS, JsonRpc, machine
from bench.senders import GasLog, ImpersonatedSender
from devnet.nodes import ANVIL_FUNDED_KEY, AnvilTime, anvil
from p2pkit.bids import SealedBid
from p2pkit.market import MarketParameters, attach, market_constructor
from p2pkit.period import Bid, PeriodDriver, Prosumer, Reading, Transaction
from p2pkit.schedule import Schedule

BLOCK_GAS = 30_000_000
SCHEDULE = Schedule.scaled(86_400)
MATCH_STEPS = 800
SETTLE_BATCH = 1200  # x ~21k gas per prosumer (producers release their proceeds): fits a 30M block
MILLI_ETHER = 10**15
WALLET = 10**20
TRADE_TOPIC = Web3.keccak(text="Trade(uint32,uint32,uint32,uint40,uint64,uint256)")


@dataclass
class PeriodGas:
    """Gas of one period's work, by function, and how it was batched."""

    bids_per_side: int
    gas: GasLog = field(default_factory=GasLog)
    trades: int = 0
    match_txs: int = 0
    settle_txs: int = 0

    @property
    def by_function(self) -> dict[str, list[int]]:
        return self.gas.by_function

    def total(self, *names: str) -> int:
        return self.gas.total(*names)

    @property
    def period_gas(self) -> int:
        return self.total("commit", "reveal", "matchBids", "submitReading", "settle")

    @property
    def blocks(self) -> int:
        packed = sum(math.ceil(self.total(n) / BLOCK_GAS) for n in ("commit", "reveal", "submitReading"))
        return packed + self.match_txs + self.settle_txs


class Bench:
    """A market on anvil (mining only when asked, first-in-first-out pool) driven through its
    periods by the period driver, every transaction from the account itself (impersonated)."""

    def __init__(self, url: str):
        rpc = JsonRpc(url, timeout=600)
        rpc.call("evm_setAutomine", False)
        self.sender = ImpersonatedSender(rpc, batch_gas=BLOCK_GAS)
        self.rpc = rpc
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 600}))
        operator = Account.from_key(ANVIL_FUNDED_KEY)
        constructor = market_constructor(w3, Account.create().address, SCHEDULE, MarketParameters())
        (receipt,) = self.sender([Transaction(operator, constructor)])
        self.driver = PeriodDriver(
            attach(w3, receipt["contractAddress"]), operator, sender=self.sender, wait_until=AnvilTime(w3).wait_until
        )

    def measured(self, gas: PeriodGas) -> None:
        """What the sender sends from now on counts toward `gas`."""
        self.sender.gas = gas.gas

    def enroll(self, n: int, gas: PeriodGas) -> list[Prosumer]:
        rng = random.Random(n)
        prosumers = [
            Prosumer(
                f"p{i}",
                i < n,
                rng.random() < 0.5,
                Account.create(),
                Account.create(),
                i + 1,
                deposit=WALLET,
                rated_power_w=RATED_POWER_W,
            )
            for i in range(2 * n)
        ]
        self.rpc.batch(
            [("anvil_setBalance", [a, hex(10**21)]) for p in prosumers for a in (p.address, p.meter.address)]
        )
        self.measured(gas)
        self.driver.enrol(prosumers)
        return prosumers

    def run_period(self, prosumers: list[Prosumer], gas: PeriodGas, seed: int) -> None:
        rng = random.Random(seed)
        driver = self.driver
        self.measured(gas)
        # Asks around 20-60, bids around 40-80 milli-ether/kWh: most of the book crosses.
        bids = []
        for p in prosumers:
            low, high = (20, 60) if p.producer else (40, 80)
            bids.append(
                Bid(p, SealedBid(rng.randint(100, 5_000), rng.randint(low, high) * MILLI_ETHER // 10, os.urandom(32)))
            )
        delivery = driver.next_auction()
        driver.commit(bids)
        driver.wait_until(driver.schedule.reveal_opens(delivery))
        # Hints as a client reads them just before each reveal, with no walk: the gas measured.
        with self.sender.in_list_order():
            driver.reveal(bids, delivery, hints="reveal order")
        driver.wait_until(driver.schedule.auction_closes(delivery))
        matching = driver.match(delivery, MATCH_STEPS)
        gas.match_txs += len(matching)
        gas.trades += sum(
            1 for receipt in matching for log in receipt["logs"] if bytes.fromhex(log["topics"][0][2:]) == TRADE_TOPIC
        )
        driver.wait_until(driver.schedule.delivery_ends(delivery))
        driver.post_readings(
            [
                Reading(bid.prosumer.meter, bid.prosumer.meter_number, bid.sealed.quantity_wh + rng.randint(-50, 50))
                for bid in bids
            ],
            delivery,
        )
        driver.wait_until(driver.schedule.settlement_opens(delivery))
        gas.settle_txs += len(driver.settle(delivery, SETTLE_BATCH))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000,10000", help="bids per side, comma-separated")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]

    results: list[PeriodGas] = []
    steady: PeriodGas | None = None
    # Base fee 0: a period fills block after block, and the base fee, rising 12.5 % with each full
    # block, would overtake the fee cap anvil gave a queued transaction, which it then drops.
    with anvil(
        "--auto-impersonate", "--accounts", "1", "--order", "fifo", "--base-fee", "0", gas_limit=BLOCK_GAS
    ) as url:
        for n in sizes:
            bench = Bench(url)
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
    commit_reveal = statistics.mean(steady.by_function["commit"]) + statistics.mean(largest.by_function["reveal"])
    lines += [
        f"| matchBids, per trade | {largest.trades} trades | {per_trade:,.0f} | | |",
        f"| settle, per prosumer | {2 * largest.bids_per_side} | {per_settled:,.0f} | | |",
        "",
        f"Commit + reveal per bid (steady state): {commit_reveal:,.0f} gas (target <= 70,000).",
        f"Matching per trade: {per_trade:,.0f} gas (target <= 15,000).",
        f"Settlement per prosumer: {per_settled:,.0f} gas (target <= 15,000).",
        "Where each one's gas goes, opcode by opcode: `.venv/bin/python -m bench.gas_breakdown`.",
        "",
        "## Per period as the book grows",
        "",
        "| bids a side | trades | matching gas | gas per trade | matching txs"
        " | period gas (commit..settle) | 30M blocks |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for g in results:
        lines.append(
            f"| {g.bids_per_side:,} | {g.trades:,} | {g.total('matchBids'):,}"
            f" | {g.total('matchBids') / max(g.trades, 1):,.0f} | {g.match_txs} | {g.period_gas:,} | {g.blocks} |"
        )
    by_size = {g.bids_per_side: g for g in results}
    if 1000 in by_size and 10000 in by_size:
        ratio = by_size[10000].period_gas / by_size[1000].period_gas
        lines += ["", f"gas(10,000) / gas(1,000) = {ratio:.2f} (linear growth is 10; target <= 10.5)."]
    lines += ["", "## Published on-chain auctions, for comparison", ""]
    lines += [f"- {p['system']}: {p['figure']} ({p['source']})." for p in PUBLISHED if "gas" in p["figure"]]
    lines.append(
        f"- This market: {per_trade:,.0f} gas per matched trade, {commit_reveal:,.0f} gas per bid sealed and opened."
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
