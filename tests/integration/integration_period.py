"""One full trading period of the market on a real node, as the integration tests run it.

The paper's four prosumers (wind, controllable source, EV charger, ordinary load) and their
meters are fresh accounts funded by the operator. They trade the paper's 14:00 book: the market
is deployed with its period 0 starting a little later (``setup_seconds``), the accounts are set
up meanwhile, bids are committed in period 0 for delivery period 1, revealed and matched, the
meters post their readings at the start of period 2 and settlement runs in period 2's
settlement phase.

Every transaction is signed locally and sent raw; transactions that do not depend on each other
go out together, so one phase costs a few blocks, not one block per transaction. Each one's time
from submission to inclusion is recorded.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace
from decimal import Decimal

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from p2pkit.bids import SealedBid
from p2pkit.market import MarketParameters, deploy_market
from p2pkit.period import Bid, Ledger, PeriodDriver, Prosumer, Reading, SendTogether, Transaction
from p2pkit.schedule import Schedule

ETHER = 10**18
E12 = 10**12  # prices: the paper's 0.700e-3 ether/kWh is 700 * E12 wei/kWh
DEPOSIT = ETHER // 10
GRID_DEPOSIT = ETHER
GAS_MONEY = ETHER // 10
# anvil's second dev account (from its default mnemonic) stands for the public grid there.
ANVIL_GRID_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
MATCHING_BATCH = 1000

# (name, producer, green, declared Wh, price, metered Wh, meter number); the paper's 14:00 book
PROSUMERS = [
    ("wind", True, True, 430, 700 * E12, 430, 161),
    ("controllable source", True, False, 120, 734 * E12, 120, 162),
    ("EV charger", False, True, 250, 786 * E12, 250, 163),
    ("ordinary load", False, False, 1020, 824 * E12, 1150, 164),
]
# Every meter: 1 MW, so that a quarter hour's energy fits the tests' periods of 40 to 120 s.
RATED_POWER_W = 1_000_000
# The paper's table 1, trades 4-6: (seller, buyer, Wh)
EXPECTED_TRADES = [
    ("wind", "EV charger", 250),
    ("wind", "ordinary load", 180),
    ("controllable source", "ordinary load", 120),
]


def paper_prosumers(deposit: int = DEPOSIT) -> list[Prosumer]:
    """The four prosumers of the paper's book, with fresh keys for them and their meters."""
    return [
        Prosumer(
            name,
            producer,
            green,
            Account.create(),
            Account.create(),
            number,
            deposit=deposit,
            rated_power_w=RATED_POWER_W,
        )
        for name, producer, green, *_, number in PROSUMERS
    ]


def paper_bids(prosumers: list[Prosumer]) -> list[Bid]:
    return [Bid(p, SealedBid(spec[3], spec[4])) for p, spec in zip(prosumers, PROSUMERS)]


def paper_readings(prosumers: list[Prosumer]) -> list[Reading]:
    return [Reading(p.meter, p.meter_number, spec[5]) for p, spec in zip(prosumers, PROSUMERS)]


def statistics_of(latencies: list[float]) -> dict[str, float]:
    """Submission-to-inclusion times: count, mean, 95th percentile and maximum."""
    ordered = sorted(latencies)
    return {
        "transactions": len(ordered),
        "mean_s": round(statistics.fmean(ordered), 2),
        "p95_s": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 2),
        "max_s": round(ordered[-1], 2),
    }


@dataclass
class PeriodOutcome:
    market: Contract
    names: dict[int, str]  # account id -> prosumer name
    matching: list[TxReceipt]
    settlement: list[TxReceipt]
    ledger: Ledger
    stats: dict[str, float]
    seconds: float

    def trades(self) -> list[tuple[str, str, int]]:
        events = [e for r in self.matching for e in self.market.events.Trade().process_receipt(r, errors=DISCARD)]
        return [(self.names[e.args.sellerId], self.names[e.args.buyerId], e.args.quantityWh) for e in events]

    def settled(self) -> dict[str, dict]:
        events = [e for r in self.settlement for e in self.market.events.Settled().process_receipt(r, errors=DISCARD)]
        return {self.names[e.args.prosumerId]: dict(e.args) for e in events}


def run_trading_period(
    w3: Web3, operator: LocalAccount, grid: LocalAccount, wait_until, schedule: Schedule, setup_seconds: int
) -> PeriodOutcome:
    """Deploy a market on ``schedule`` and run delivery period 1 from commit to settlement
    (module docstring); period 0 starts ``setup_seconds`` from now."""
    started = time.monotonic()
    sender = SendTogether(w3)
    prosumers = paper_prosumers()
    schedule = replace(schedule, genesis_time=w3.eth.get_block("latest")["timestamp"] + setup_seconds)
    market = deploy_market(w3, operator, grid.address, schedule, MarketParameters())
    driver = PeriodDriver(market, operator, sender=sender, wait_until=wait_until, batch=MATCHING_BATCH)
    driver.send(
        [Transaction(operator, to=p.address, value=DEPOSIT + GAS_MONEY) for p in prosumers]
        + [Transaction(operator, to=p.meter.address, value=GAS_MONEY) for p in prosumers]
        + [Transaction(grid, market.functions.deposit(), GRID_DEPOSIT)]
    )
    driver.enrol(prosumers)
    ids = driver.account_ids(prosumers)

    if w3.eth.get_block("latest")["timestamp"] >= schedule.genesis_time + schedule.commit_end:
        raise AssertionError(f"setup outlasted period 0's commit phase; raise setup_seconds ({setup_seconds})")
    period = driver.run(paper_bids(prosumers), paper_readings(prosumers), auction_open=True)
    names = {account_id: spec[0] for account_id, spec in zip(ids, PROSUMERS)}
    return PeriodOutcome(
        market,
        names,
        period.matching,
        period.settlement,
        driver.ledger(),
        statistics_of(sender.latencies),
        time.monotonic() - started,
    )


def assert_period_cleared_and_settled(outcome: PeriodOutcome) -> None:
    """The paper's trades, every prosumer settled on its reading (the load, 0.85 kWh over its
    cleared 0.30 kWh, pays the paper's 0.708e-3 ether), and no money created or lost."""
    assert outcome.trades() == EXPECTED_TRADES
    settled = outcome.settled()
    assert sorted(settled) == sorted(spec[0] for spec in PROSUMERS)
    assert all(event["metered"] for event in settled.values())
    load = settled["ordinary load"]
    assert (load["clearedWh"], load["actualWh"]) == (300, 1150)
    assert round(Decimal(load["balancing"]) / 10**15, 3) == Decimal("-0.708")
    assert any(
        outcome.market.events.SettlementCompleted().process_receipt(r, errors=DISCARD) for r in outcome.settlement
    )
    assert outcome.ledger.conserved, outcome.ledger
