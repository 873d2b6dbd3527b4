"""Replay the paper's trading day: 96 periods of the five-user case on a real chain.

    .venv/bin/python scripts/replay_day.py [--chain embedded|URL] [--period-length S] [--out DIR]

Deploys the market, registers the paper's users (wind, controllable source, EV charger, ordinary
load; the public grid balances), binds a meter account to each prosumer, and runs every period of
the day: each prosumer commits and reveals its bid from its profile (``sim.profiles``),
anyone's matching and settlement calls clear the book, and each meter posts the energy actually
metered. After each auction the continuous book opens until gate closure: each prosumer re-prices
what the auction left of its bid to the other side's best price, and one period in
``MARKET_ORDER_EVERY`` one with nothing left sends a small market order. All transactions are
signed locally and sent raw.

Time: on the embedded chain and on anvil the clock jumps from phase to phase, so a day of
15-minute periods replays in minutes; on any other node (Geth) the replay waits for real block
time, so pass a short ``--period-length`` there (e.g. 60 for a 96-minute day).

Writes to ``--out`` (default ``replay-output/``): ``periods.csv`` (one row a period: per user
declared, cleared and actual kWh, balancing and reward in ether (cleared and declared count both
phases); trades, kWh and average price of the auction and of the continuous phase, the period's
average price over both, transactions sent, failed and retried, and mean submission-to-inclusion
latency), ``trades.csv`` (each trade with its phase), ``transactions.csv`` (success per four-hour
block, like the paper's table A2) and PNG charts like the paper's figures 3 and 4 and appendix A,
and both phases' volumes and prices (``phases.png``). Prints a summary: periods cleared, transactions,
failures, mean and p95 latency, and the money-conservation check.

On a node, the account paying for the replay comes from ``REPLAY_FUNDER_KEY`` (hex) or
``REPLAY_FUNDER_KEY_FILE``; on anvil its first dev account is used when neither is set.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from devnet import chain_time
from devnet.embedded import dev_accounts, start_embedded_chain
from devnet.nodes import ANVIL_CHAIN_ID, ANVIL_FUNDED_KEY
from p2pkit.bids import SealedBid
from p2pkit.continuous import OPEN_BATCH, Trader, deploy_book
from p2pkit.market import Stage, deploy_market
from p2pkit.period import Bid, PeriodDriver, Prosumer, Reading, SendEach, Transaction
from p2pkit.schedule import Schedule
from p2pkit.transactions import ContractRefused, TransactionReverted
from sim.profiles import PAPER_PROSUMERS, PERIODS_PER_DAY, day, rated_power_for_period

ETHER = 10**18
MILLI_ETHER = 10**15
PROSUMER_DEPOSIT = 50 * ETHER
GRID_DEPOSIT = 500 * ETHER
GAS_MONEY = 5 * ETHER
BATCH = 200
RETRIES = 3
HOURS_PER_BLOCK = 4
SETUP = -1  # the quarter transactions before the day are counted in
# In the continuous window a prosumer with nothing resting sends a market order of this many Wh
# one period in this many.
MARKET_ORDER_EVERY = 3
MARKET_ORDER_WH = 50
AUCTION, CONTINUOUS = "auction", "continuous"


class Chain:
    """A web3 connection, the account paying for the replay, and how block time moves."""

    def __init__(self, target: str):
        if target == "embedded":
            self.w3 = start_embedded_chain()
            self.kind = "embedded"
        else:
            self.w3 = Web3(Web3.HTTPProvider(target, request_kwargs={"timeout": 60}))
            self.kind = "anvil" if self.w3.eth.chain_id == ANVIL_CHAIN_ID else "node"
        self.wait_until = chain_time(self.w3)

    def funder(self) -> LocalAccount:
        if self.kind == "embedded":
            return dev_accounts(self.w3)[0]
        key = os.environ.get("REPLAY_FUNDER_KEY")
        if not key and os.environ.get("REPLAY_FUNDER_KEY_FILE"):
            key = Path(os.environ["REPLAY_FUNDER_KEY_FILE"]).read_text().strip()
        if not key and self.kind == "anvil":
            key = ANVIL_FUNDED_KEY
        if not key:
            sys.exit("set REPLAY_FUNDER_KEY or REPLAY_FUNDER_KEY_FILE to a funded account's key")
        return Account.from_key(key)


@dataclass
class Sent:
    quarter: int
    ok: bool
    retries: int
    latency_s: float


class NotSent(Exception):
    """A transaction failed every retry; the replay goes on with the next step."""


class RecordingSender:
    """The period driver's sender for the replay: each transaction alone, retried after
    transient failures (node unreachable, nonce or fee races), every attempt scored under the
    quarter being replayed (``quarter``). A refusal or a revert is scored and raised."""

    in_order = True

    def __init__(self, w3: Web3) -> None:
        self.send_each = SendEach(w3)
        self.quarter = SETUP
        self.log: list[Sent] = []

    def __call__(self, transactions):
        return [self._send(tx) for tx in transactions]

    def _send(self, tx: Transaction):
        for attempt in range(RETRIES + 1):
            started = time.monotonic()
            try:
                (receipt,) = self.send_each([tx])
            except (ContractRefused, TransactionReverted) as failure:
                print(f"  {tx.name} failed: {failure}", file=sys.stderr)
                self.log.append(Sent(self.quarter, False, attempt, time.monotonic() - started))
                raise
            except (OSError, ValueError) as error:
                print(f"  retrying after: {error}", file=sys.stderr)
                time.sleep(2**attempt)
                continue
            self.log.append(Sent(self.quarter, True, attempt, time.monotonic() - started))
            return receipt
        self.log.append(Sent(self.quarter, False, RETRIES, 0.0))
        raise NotSent(f"{tx.name} by {tx.signer.address}")


STEP_FAILED = (ContractRefused, TransactionReverted, NotSent)


def set_up(chain: Chain, schedule: Schedule, sender: RecordingSender) -> tuple[PeriodDriver, Contract, list[Prosumer]]:
    """The market and its continuous book deployed and the paper's four prosumers enrolled, each
    with a meter."""
    w3, funder = chain.w3, chain.funder()
    grid = Account.create()
    market = deploy_market(w3, funder, grid.address, schedule)
    book = deploy_book(w3, funder, market)
    driver = PeriodDriver(market, funder, sender=sender, wait_until=chain.wait_until, batch=BATCH)
    prosumers = [
        Prosumer(
            profile.name,
            profile.producer,
            profile.green,
            Account.create(),
            Account.create(),
            number,
            deposit=PROSUMER_DEPOSIT,
            # A quarter hour's energy fits one period, however short.
            rated_power_w=rated_power_for_period(profile, schedule.period_length),
        )
        for number, profile in enumerate(PAPER_PROSUMERS, start=1001)
    ]
    driver.fund(
        funder,
        [(grid.address, GRID_DEPOSIT + GAS_MONEY)]
        + [(p.address, PROSUMER_DEPOSIT + GAS_MONEY) for p in prosumers]
        + [(p.meter.address, GAS_MONEY) for p in prosumers],
    )
    driver.send([Transaction(grid, market.functions.deposit(), GRID_DEPOSIT)])
    driver.enrol(prosumers)
    return driver, book, prosumers


def each(step, items) -> None:
    """`step([item])` for each item; one that fails does not stop the others."""
    for item in items:
        try:
            step([item])
        except STEP_FAILED:
            pass


def trade_continuously(driver: PeriodDriver, book: Contract, prosumers: list[Prosumer], delivery_period: int):
    """Open the book of ``delivery_period`` (the auction is matched) and let each prosumer trade
    once in it (``Trader.concede``); returns the receipts of the trades' transactions."""
    state = book.functions.book().call()
    while not (state.deliveryPeriod == delivery_period and state.open):
        driver.send([Transaction(driver.operator, book.functions.openBook(delivery_period, OPEN_BATCH))])
        state = book.functions.book().call()
    receipts = []
    for p in prosumers:
        trader = Trader(driver.w3, book, p.key, sender=lambda call, signer: driver.send([Transaction(signer, call)])[0])
        market_turn = (delivery_period + p.meter_number) % MARKET_ORDER_EVERY == 0
        try:
            receipt = trader.concede(
                delivery_period, producer=p.producer, market_wh=MARKET_ORDER_WH if market_turn else None
            )
        except STEP_FAILED:
            continue
        if receipt is not None:
            receipts.append(receipt)
    return receipts


def replay(chain: Chain, schedule: Schedule, periods: int, seed: int):
    sender = RecordingSender(chain.w3)
    driver, book, prosumers = set_up(chain, schedule, sender)
    market, schedule = driver.contract, driver.schedule
    ids = dict(zip((p.address for p in prosumers), driver.account_ids(prosumers)))
    profiles = {p.name: day(PAPER_PROSUMERS[i], seed) for i, p in enumerate(prosumers)}
    first = market.functions.currentPeriod().call() + 1
    rows, trades = [], []

    def delivery(quarter: int) -> int:
        return first + 1 + quarter

    for k in range(periods + 2):
        begin = schedule.start(first + k)
        bidding, settling = k if k < periods else None, k - 2 if k >= 2 else None
        chain.wait_until(begin)
        if settling is not None:
            sender.quarter = settling
            readings = [Reading(p.meter, p.meter_number, profiles[p.name][settling].actual_wh) for p in prosumers]
            each(partial(driver.post_readings, delivery_period=delivery(settling)), readings)
        bids = []
        if bidding is not None:
            sender.quarter = bidding
            for p in prosumers:
                quarter = profiles[p.name][bidding]
                bids.append(Bid(p, SealedBid(quarter.declared_wh, quarter.price_wei_per_kwh)))
            each(driver.commit, bids)
        chain.wait_until(begin + schedule.commit_end)
        if bids:
            each(partial(driver.reveal, delivery_period=delivery(bidding)), bids)
        chain.wait_until(begin + schedule.reveal_end)
        if bidding is not None:
            try:
                receipts = driver.match(delivery(bidding))
            except STEP_FAILED:
                receipts = []
            trades += [
                (bidding, AUCTION, log.args)
                for r in receipts
                for log in market.events.Trade().process_receipt(r, errors=DISCARD)
            ]
            try:
                receipts = trade_continuously(driver, book, prosumers, delivery(bidding))
            except STEP_FAILED:
                receipts = []
            trades += [
                (bidding, CONTINUOUS, log.args)
                for r in receipts
                for log in book.events.ContinuousTrade().process_receipt(r, errors=DISCARD)
            ]
        chain.wait_until(begin + schedule.settle_start)
        if settling is not None:
            sender.quarter = settling
            try:
                receipts = driver.settle(delivery(settling))
            except STEP_FAILED:
                receipts = []
            settled = [log.args for r in receipts for log in market.events.Settled().process_receipt(r, errors=DISCARD)]
            rows.append((settling, driver.book(delivery(settling)), {args.prosumerId: args for args in settled}))
        print(f"period {k + 1}/{periods + 2} done", file=sys.stderr, flush=True)
    return driver, prosumers, ids, rows, trades, sender.log


def clock(quarter: int) -> str:
    return f"{quarter // 4:02d}:{quarter % 4 * 15:02d}"


def write_outputs(
    out: Path, users: list[Prosumer], ids: dict[str, int], rows, trades, log: list[Sent], charts: bool
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    names = {ids[u.address]: u.name for u in users}
    sent_by_quarter: dict[int, list[Sent]] = {}
    for s in log:
        sent_by_quarter.setdefault(s.quarter, []).append(s)
    phases = phase_totals(rows, trades)
    header = [
        "quarter",
        "time",
        "trades",
        "auction_kwh",
        "auction_average_price_milli_ether_per_kwh",
        "continuous_trades",
        "continuous_kwh",
        "continuous_average_price_milli_ether_per_kwh",
        "average_price_milli_ether_per_kwh",
        "txs_sent",
        "txs_failed",
        "txs_retried",
        "mean_latency_s",
    ]
    for u in users:
        slug = u.name.replace(" ", "_")
        header += [
            f"{slug}_{c}"
            for c in ("declared_kwh", "cleared_kwh", "actual_kwh", "balancing_milli_ether", "reward_milli_ether")
        ]
    with open(out / "periods.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for quarter, book, settled in rows:
            sent = sent_by_quarter.get(quarter, [])
            auction, continuous = phases[quarter][AUCTION], phases[quarter][CONTINUOUS]
            row = [
                quarter,
                clock(quarter),
                auction.count,
                auction.kwh,
                auction.average_price_text,
                continuous.count,
                continuous.kwh,
                continuous.average_price_text,
                round(book.averagePrice / MILLI_ETHER, 6) if auction.count + continuous.count else "",
                len(sent),
                sum(not s.ok for s in sent),
                sum(s.retries for s in sent),
                round(statistics.mean(s.latency_s for s in sent), 3) if sent else "",
            ]
            for u in users:
                s = settled.get(ids[u.address])
                row += (
                    [
                        s.declaredWh / 1000,
                        s.clearedWh / 1000,
                        s.actualWh / 1000,
                        round(s.balancing / MILLI_ETHER, 6),
                        round(s.reward / MILLI_ETHER, 6),
                    ]
                    if s
                    else [""] * 5
                )
            writer.writerow(row)
    with open(out / "trades.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["quarter", "time", "phase", "seller", "buyer", "kwh", "price_milli_ether_per_kwh"])
        for quarter, phase, t in trades:
            writer.writerow(
                [
                    quarter,
                    clock(quarter),
                    phase,
                    names[t.sellerId],
                    names[t.buyerId],
                    t.quantityWh / 1000,
                    t.price / MILLI_ETHER,
                ]
            )
    with open(out / "transactions.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["hours", "sent", "succeeded", "failed", "retried"])
        for block in range(24 // HOURS_PER_BLOCK):
            quarters = range(block * 16, (block + 1) * 16)
            sent = [s for s in log if s.quarter in quarters]
            writer.writerow(
                [
                    f"{block * 4:02d}:00-{block * 4 + 4:02d}:00",
                    len(sent),
                    sum(s.ok for s in sent),
                    sum(not s.ok for s in sent),
                    sum(s.retries for s in sent),
                ]
            )
    if charts:
        draw_charts(out, users, ids, rows, phases)


@dataclass
class PhaseTotal:
    """One phase's trades in one period: how many, kWh, and the value at their prices (wei)."""

    count: int = 0
    wh: int = 0
    value: int = 0  # sum of Wh x price (wei per kWh), as the contract's average takes it

    @property
    def kwh(self) -> float:
        return self.wh / 1000

    @property
    def average_price(self) -> float:
        """Milli-ether per kWh, rounded down to the wei as the contract's average; nan without trades."""
        return (self.value // self.wh) / MILLI_ETHER if self.wh else float("nan")

    @property
    def average_price_text(self) -> float | str:
        return round(self.average_price, 6) if self.wh else ""


def phase_totals(rows, trades) -> dict[int, dict[str, PhaseTotal]]:
    totals = {quarter: {AUCTION: PhaseTotal(), CONTINUOUS: PhaseTotal()} for quarter, _, _ in rows}
    for quarter, phase, t in trades:
        if quarter in totals:
            total = totals[quarter][phase]
            total.count += 1
            total.wh += t.quantityWh
            total.value += t.quantityWh * t.price
    return totals


def draw_charts(out: Path, users: list[Prosumer], ids: dict[str, int], rows, phases) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    quarters = [q for q, _, _ in rows]
    hours = [q / 4 for q in quarters]

    def series(user, field_name):
        account = ids[user.address]
        return [(s[account][field_name] / 1000 if account in s else float("nan")) for _, _, s in rows]

    load = next(u for u in users if u.name == "ordinary load")
    for name, (first, second), title in (
        ("fig3_load_cleared_vs_actual.png", ("clearedWh", "actualWh"), "Ordinary load: cleared vs actual (fig. 3)"),
        ("fig4_load_declared_vs_actual.png", ("declaredWh", "actualWh"), "Ordinary load: declared vs actual (fig. 4)"),
    ):
        fig, ax = plt.subplots(figsize=(9, 3.5))
        ax.step(hours, series(load, first), where="post", label=first.removesuffix("Wh"))
        ax.step(hours, series(load, second), where="post", label=second.removesuffix("Wh"))
        ax.set(xlabel="hour", ylabel="kWh per 15 min", title=title, xlim=(0, 24))
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)

    fig, axes = plt.subplots(len(users), 1, figsize=(9, 2.6 * len(users)), sharex=True)
    for ax, u in zip(axes, users):
        for field_name in ("declaredWh", "clearedWh", "actualWh"):
            ax.step(hours, series(u, field_name), where="post", label=field_name.removesuffix("Wh"))
        ax.set(ylabel="kWh", title=u.name)
    axes[0].legend(ncol=3)
    axes[-1].set(xlabel="hour", xlim=(0, 24))
    fig.tight_layout()
    fig.savefig(out / "appendix_a_declared_cleared_actual.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.5))
    prices = [(book.averagePrice / MILLI_ETHER if book.tradedWh else float("nan")) for _, book, _ in rows]
    ax.step(hours, prices, where="post")
    ax.set(xlabel="hour", ylabel="1e-3 ether / kWh", title="Market average price (both phases)", xlim=(0, 24))
    fig.tight_layout()
    fig.savefig(out / "average_price.png", dpi=110)
    plt.close(fig)

    fig, (volume, price) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    auction = [phases[q][AUCTION] for q in quarters]
    continuous = [phases[q][CONTINUOUS] for q in quarters]
    volume.bar(hours, [t.kwh for t in auction], width=0.25, align="edge", label=AUCTION)
    volume.bar(
        hours, [t.kwh for t in continuous], width=0.25, align="edge", bottom=[t.kwh for t in auction], label=CONTINUOUS
    )
    volume.set(ylabel="kWh traded", title="Both phases: volume and average price")
    volume.legend()
    for name, totals in ((AUCTION, auction), (CONTINUOUS, continuous)):
        price.step(hours, [t.average_price for t in totals], where="post", label=name)
    price.set(xlabel="hour", ylabel="1e-3 ether / kWh", xlim=(0, 24))
    price.legend()
    fig.tight_layout()
    fig.savefig(out / "phases.png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chain", default="embedded", help='"embedded" or a node\'s JSON-RPC URL')
    parser.add_argument("--period-length", type=int, default=900, help="seconds (default 900)")
    parser.add_argument("--periods", type=int, default=PERIODS_PER_DAY, help="periods to replay (default 96)")
    parser.add_argument("--seed", type=int, default=2019, help="seed of the forecast errors")
    parser.add_argument("--out", type=Path, default=Path("replay-output"), help="output folder")
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    args = parser.parse_args(argv)

    chain = Chain(args.chain)
    schedule = Schedule.scaled(args.period_length)
    driver, users, ids, rows, trades, log = replay(chain, schedule, args.periods, args.seed)
    write_outputs(args.out, users, ids, rows, trades, log, not args.no_charts)

    latencies = sorted(s.latency_s for s in log if s.ok)
    cleared = sum(1 for _, book, _ in rows if book.stage == Stage.DONE and book.settledCount == book.bidCount)
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)] if latencies else 0.0
    print(f"chain: {chain.kind}; period length {args.period_length} s; output in {args.out}/")
    print(f"periods cleared and settled: {cleared} of {args.periods}")
    print(f"transactions: {len(log)} sent, {sum(not s.ok for s in log)} failed, {sum(s.retries for s in log)} retried")
    if latencies:
        print(f"submission to inclusion: mean {statistics.mean(latencies):.3f} s, p95 {p95:.3f} s")
    ok = driver.ledger().conserved
    print(f"money conserved (wallets + withdrawn == deposited): {'yes' if ok else 'NO'}")
    return 0 if ok and cleared == args.periods else 1


if __name__ == "__main__":
    sys.exit(main())
