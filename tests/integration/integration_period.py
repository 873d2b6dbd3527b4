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

import contextlib
import statistics
import time
from decimal import Decimal
from dataclasses import dataclass, field, replace

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import TransactionNotFound
from web3.logs import DISCARD
from web3.types import TxReceipt

from backend.chain import MarketParameters, MarketSchedule, SealedBid, account_record, deploy_market

ETHER = 10**18
E12 = 10**12  # prices: the paper's 0.700e-3 ether/kWh is 700 * E12 wei/kWh
DEPOSIT = ETHER // 10
GRID_DEPOSIT = ETHER
GAS_MONEY = ETHER // 10
# anvil's second dev account (from its default mnemonic) stands for the public grid there.
ANVIL_GRID_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
RECEIPT_TIMEOUT = 120  # seconds; generous for a PoW chain whose blocks come every few seconds

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
EXPECTED_TRADES = [("wind", "EV charger", 250), ("wind", "ordinary load", 180), ("controllable source", "ordinary load", 120)]


class ChainClock:
    """Block time of a node. On a real chain ``wait_until`` waits for a block that late; on
    anvil (``jump=True``) it mines one at that time."""

    def __init__(self, w3: Web3, jump: bool) -> None:
        self.w3 = w3
        self.jump = jump

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def wait_until(self, timestamp: int, timeout: float = 900) -> None:
        if self.now() >= timestamp:
            return
        if self.jump:
            self.w3.provider.make_request("evm_mine", [timestamp])
            return
        deadline = time.monotonic() + timeout
        while self.now() < timestamp:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no block at or after time {timestamp} within {timeout} s")
            time.sleep(0.5)


@dataclass
class Submitter:
    """Sends transactions in batches and records each one's submission-to-inclusion time."""

    w3: Web3
    latencies: list[float] = field(default_factory=list)
    next_nonce: dict[str, int] = field(default_factory=dict)

    def batch(self, calls: list[tuple[ContractFunction | dict, LocalAccount, int]]) -> list[TxReceipt]:
        """Send every (call or plain transfer, signer, value) now, then wait for all receipts.

        Gas is estimated before anything is sent, so each call must be valid on its own at the
        current head; a transaction that reverts anyway fails the batch.
        """
        pending = []
        for call, signer, value in calls:
            nonce = max(self.next_nonce.get(signer.address, 0), self.w3.eth.get_transaction_count(signer.address, "pending"))
            params = {"from": signer.address, "value": value, "nonce": nonce, "chainId": self.w3.eth.chain_id}
            if isinstance(call, dict):
                tx = {**params, **call, "gas": 21_000, "gasPrice": self.w3.eth.gas_price}
                del tx["from"]
            else:
                tx = call.build_transaction(params)
            self.next_nonce[signer.address] = nonce + 1
            raw = signer.sign_transaction(tx).raw_transaction
            pending.append((self.w3.eth.send_raw_transaction(raw), time.monotonic()))
        receipts: list[TxReceipt | None] = [None] * len(pending)
        deadline = time.monotonic() + RECEIPT_TIMEOUT
        while any(r is None for r in receipts):
            for index, (tx_hash, sent_at) in enumerate(pending):
                if receipts[index] is None:
                    with contextlib.suppress(TransactionNotFound):  # not in a block yet
                        receipts[index] = self.w3.eth.get_transaction_receipt(tx_hash)
                        self.latencies.append(time.monotonic() - sent_at)
            if time.monotonic() > deadline:
                raise TimeoutError(f"transactions not mined within {RECEIPT_TIMEOUT} s")
            time.sleep(0.2)
        failed = [r["transactionHash"].hex() for r in receipts if r["status"] != 1]
        assert not failed, f"reverted on chain: {failed}"
        return receipts

    def statistics(self) -> dict[str, float]:
        ordered = sorted(self.latencies)
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
    matching: TxReceipt
    settlement: TxReceipt
    stats: dict[str, float]
    seconds: float

    def trades(self) -> list[tuple[str, str, int]]:
        events = self.market.events.Trade().process_receipt(self.matching, errors=DISCARD)
        return [(self.names[e.args.sellerId], self.names[e.args.buyerId], e.args.quantityWh) for e in events]

    def settled(self) -> dict[str, dict]:
        events = self.market.events.Settled().process_receipt(self.settlement, errors=DISCARD)
        return {self.names[e.args.prosumerId]: dict(e.args) for e in events}


def run_trading_period(
    w3: Web3, operator: LocalAccount, grid: LocalAccount, clock: ChainClock, schedule: MarketSchedule, setup_seconds: int
) -> PeriodOutcome:
    """Deploy a market on ``schedule`` and run delivery period 1 from commit to settlement
    (module docstring); period 0 starts ``setup_seconds`` from now."""
    started = time.monotonic()
    submitter = Submitter(w3)
    prosumers = [Account.create() for _ in PROSUMERS]
    meters = [Account.create() for _ in PROSUMERS]
    submitter.batch([({"to": a.address}, operator, DEPOSIT + GAS_MONEY) for a in prosumers]
                    + [({"to": m.address}, operator, GAS_MONEY) for m in meters])

    schedule = replace(schedule, genesis_time=clock.now() + setup_seconds)
    market = deploy_market(w3, operator, grid.address, schedule, MarketParameters())
    functions = market.functions

    submitter.batch([(functions.register(name, producer, green), account, 0)
                     for account, (name, producer, green, *_) in zip(prosumers, PROSUMERS)]
                    + [(functions.deposit(), grid, GRID_DEPOSIT)])
    submitter.batch([(functions.setAuthorization(a.address, True), operator, 0) for a in prosumers]
                    + [(functions.bindMeter(a.address, m.address, spec[6], RATED_POWER_W), operator, 0)
                       for a, m, spec in zip(prosumers, meters, PROSUMERS)]
                    + [(functions.deposit(), a, DEPOSIT) for a in prosumers])
    names = {account_record(market, a.address)["id"]: spec[0] for a, spec in zip(prosumers, PROSUMERS)}

    genesis = schedule.genesis_time
    if clock.now() >= genesis + schedule.commit_end:
        raise AssertionError(f"setup outlasted period 0's commit phase; raise setup_seconds ({setup_seconds})")
    bids = [SealedBid(spec[3], spec[4]) for spec in PROSUMERS]
    submitter.batch([(functions.commit(bid.commitment(a.address)), a, 0) for a, bid in zip(prosumers, bids)])

    # Each prosumer's bid goes into a queue of its own (producer/consumer x green/grey), hence
    # hint 0: the head of an empty queue.
    clock.wait_until(genesis + schedule.commit_end)
    submitter.batch([(functions.reveal(bid.quantity_wh, bid.price, bid.salt, 0), a, 0) for a, bid in zip(prosumers, bids)])

    clock.wait_until(genesis + schedule.reveal_end)
    (matching,) = submitter.batch([(functions.matchBids(1, 1000), operator, 0)])

    period_2 = genesis + 2 * schedule.period_length
    clock.wait_until(period_2)
    submitter.batch([(functions.submitReading(1, spec[6], spec[5]), m, 0) for m, spec in zip(meters, PROSUMERS)])

    clock.wait_until(period_2 + schedule.settle_start)
    (settlement,) = submitter.batch([(functions.settle(1, 100), operator, 0)])
    return PeriodOutcome(market, names, matching, settlement, submitter.statistics(), time.monotonic() - started)


def assert_period_cleared_and_settled(w3: Web3, outcome: PeriodOutcome) -> None:
    """The paper's trades, every prosumer settled on its reading (the load, 0.85 kWh over its
    cleared 0.30 kWh, pays the paper's 0.708e-3 ether), and no money created or lost."""
    assert outcome.trades() == EXPECTED_TRADES
    settled = outcome.settled()
    assert sorted(settled) == sorted(spec[0] for spec in PROSUMERS)
    assert all(event["metered"] for event in settled.values())
    load = settled["ordinary load"]
    assert (load["clearedWh"], load["actualWh"]) == (300, 1150)
    assert round(Decimal(load["balancing"]) / 10**15, 3) == Decimal("-0.708")
    assert outcome.market.events.SettlementCompleted().process_receipt(outcome.settlement, errors=DISCARD)
    deposited, wallets, held = wallets_add_up(w3, outcome.market)
    assert deposited == wallets == held


def wallets_add_up(w3: Web3, market: Contract) -> tuple[int, int, int]:
    """(deposited - withdrawn, sum of all wallets, ether the contract holds): all three equal
    when no money was created or lost."""
    deposited, withdrawn = market.functions.totals().call()
    count = market.functions.accountCount().call()
    wallets = sum(account_record(market, market.functions.accountAddress(i).call())["wallet"] for i in range(1, count + 1))
    return deposited - withdrawn, wallets, w3.eth.get_balance(market.address)
