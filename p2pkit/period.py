"""The period driver: every step the market's periods take, from enrolment to settlement.

A prosumer is enrolled once: it registers, the operator authorizes it and binds its meter (with
the meter's rated power), and it deposits. Each delivery period d then goes the same way
(``p2pkit.schedule``): during period d - 1 every bidder commits a sealed bid and, in the reveal
window, reveals it with the hint of where it goes in its queue; once the auction has closed
anyone matches the book, in batches until it is done; once d is over each meter posts its
reading; from the settlement phase of period d + 1 anyone settles the book, in batches, as the
readings allow.

``PeriodDriver`` does these steps for one market. How transactions go out is its ``Sender``'s
business: one at a time, each mined before the next is built (``SendEach``), all at once
(``SendTogether``, for a chain whose blocks come seconds apart), or a caller's own (a benchmark's
impersonated accounts). How time moves is its ``wait_until``: waiting for blocks on a node
(``BlockTime``), or jumping ahead on a development chain (``devnet``). The keeper builds on the
single calls (``match_call``, ``settle_call``, ``reveal_for_call``, ``forfeit_call``) and reads
(``book``, ``next_reading_due``); the tools and tests on the whole steps and ``run``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from p2pkit.bids import EntrustedBid, QueuedBid, SealedBid, reveal_order_hints
from p2pkit.market import Stage
from p2pkit.schedule import Schedule
from p2pkit.transactions import TRANSFER_GAS, TransactionReverted, build, send, transfer

DEFAULT_BATCH = 200  # auction steps per matchBids, prosumers per settle
RECEIPT_TIMEOUT = 120.0  # seconds; generous for a proof-of-work chain's blocks


@dataclass(frozen=True)
class Prosumer:
    """An account to enrol: its key, its meter's key, number and rated power, and what it
    deposits. Only a prosumer with a meter may bid, and no bid or reading of it may exceed what
    the meter can measure in a period (``Schedule.meter_capacity_wh``)."""

    name: str
    producer: bool
    green: bool
    key: LocalAccount
    meter: LocalAccount | None = None
    meter_number: int = 0
    deposit: int = 0  # wei into the market wallet at enrolment
    rated_power_w: int = 0  # of its meter; above zero when it has one

    @property
    def address(self) -> str:
        return self.key.address


@dataclass(frozen=True)
class Bid:
    """A prosumer's sealed bid in one auction."""

    prosumer: Prosumer
    sealed: SealedBid


@dataclass(frozen=True)
class Reading:
    """A meter's reading of one delivery period (Wh), signed with the meter's key."""

    meter: LocalAccount
    meter_number: int
    energy_wh: int


@dataclass(frozen=True)
class Transaction:
    """One transaction to send: a contract call (or a deployment), or with ``call`` None plain
    ether to ``to``."""

    signer: LocalAccount
    call: ContractFunction | ContractConstructor | None = None
    value: int = 0
    to: str | None = None

    @property
    def name(self) -> str:
        if self.call is None:
            return "transfer"
        return "constructor" if isinstance(self.call, ContractConstructor) else self.call.fn_name

    def fields(self) -> dict[str, Any]:
        """``to``, ``data`` and ``value`` of the transaction, nothing estimated or signed."""
        if self.call is None:
            return {"to": self.to, "data": "0x", "value": self.value}
        if isinstance(self.call, ContractConstructor):
            return {"data": self.call.data_in_transaction, "value": self.value}
        return {"to": self.call.address, "data": self.call._encode_transaction_data(), "value": self.value}


class Sender(Protocol):
    """Sends transactions and returns their receipts, in order; raises ``ContractRefused`` for a
    call the contract refuses and ``TransactionReverted`` for one mined with status 0.

    ``in_order``: each transaction is mined before the next is built, so each may depend on
    the ones before (a reveal's hint on the reveals before it).
    """

    in_order: bool

    def __call__(self, transactions: Sequence[Transaction]) -> list[TxReceipt]: ...


class SendEach:
    """One transaction at a time with ``p2pkit.transactions.send``, each awaited; under ``lock``
    when given (an embedded chain shared by threads)."""

    in_order = True

    def __init__(self, w3: Web3, *, lock: contextlib.AbstractContextManager | None = None, gas: int | None = None):
        self.w3 = w3
        self.lock = lock or contextlib.nullcontext()
        self.gas = gas

    def __call__(self, transactions: Sequence[Transaction]) -> list[TxReceipt]:
        receipts = []
        for tx in transactions:
            with self.lock:
                if tx.call is None:
                    receipt = transfer(self.w3, tx.signer, tx.to, tx.value)
                else:
                    receipt = send(self.w3, tx.call, tx.signer, value=tx.value, gas=self.gas)
            if receipt["status"] != 1:
                tx_hash = receipt["transactionHash"].to_0x_hex()
                raise TransactionReverted(f"{tx.name} by {tx.signer.address}: transaction {tx_hash} reverted")
            receipts.append(receipt)
        return receipts


class SendTogether:
    """Every transaction of a call signed (nonces counted here) and sent at once, then all their
    receipts awaited, so that a step costs a few blocks rather than one block per transaction.

    Gas is estimated for each before anything is sent: each must be valid on its own at the
    current head. Each one's time from submission to inclusion is kept in ``latencies``.
    """

    in_order = False

    def __init__(self, w3: Web3, timeout: float = RECEIPT_TIMEOUT) -> None:
        self.w3 = w3
        self.timeout = timeout
        self.latencies: list[float] = []
        self._next_nonce: dict[str, int] = {}

    def __call__(self, transactions: Sequence[Transaction]) -> list[TxReceipt]:
        pending = []
        for tx in transactions:
            signer = tx.signer.address
            nonce = max(self._next_nonce.get(signer, 0), self.w3.eth.get_transaction_count(signer, "pending"))
            params = {"from": signer, "value": tx.value, "nonce": nonce, "chainId": self.w3.eth.chain_id}
            if tx.call is None:
                fields = {**params, "to": tx.to, "gas": TRANSFER_GAS, "gasPrice": self.w3.eth.gas_price}
                del fields["from"]
            else:
                fields = build(tx.call, params)
            self._next_nonce[signer] = nonce + 1
            raw = tx.signer.sign_transaction(fields).raw_transaction
            pending.append((tx, self.w3.eth.send_raw_transaction(raw), time.monotonic()))
        receipts: list[TxReceipt | None] = [None] * len(pending)
        deadline = time.monotonic() + self.timeout
        while any(receipt is None for receipt in receipts):
            for index, (_, tx_hash, sent_at) in enumerate(pending):
                if receipts[index] is None:
                    with contextlib.suppress(TransactionNotFound):  # not in a block yet
                        receipts[index] = self.w3.eth.get_transaction_receipt(tx_hash)
                        self.latencies.append(time.monotonic() - sent_at)
            if time.monotonic() > deadline:
                raise TimeoutError(f"transactions not mined within {self.timeout:g} s")
            time.sleep(0.2)
        failed = [
            f"{tx.name}: {receipt['transactionHash'].to_0x_hex()}"
            for (tx, _, _), receipt in zip(pending, receipts)
            if receipt["status"] != 1
        ]
        if failed:
            raise TransactionReverted(f"reverted on chain: {failed}")
        return receipts


class BlockTime:
    """Time on a chain whose blocks follow the wall clock (a node): waiting is all one can do."""

    def __init__(self, w3: Web3, poll: float = 0.5, timeout: float = 900.0) -> None:
        self.w3 = w3
        self.poll = poll
        self.timeout = timeout

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def wait_until(self, timestamp: int) -> None:
        """Return once the latest block is at `timestamp` or later."""
        deadline = time.monotonic() + self.timeout
        while self.now() < timestamp:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no block at or after time {timestamp} within {self.timeout:g} s")
            time.sleep(self.poll)


@dataclass(frozen=True)
class Ledger:
    """The market's money: what was deposited and withdrawn, what the wallets hold, and the
    ether the contract holds. Conserved when wallets + withdrawn = deposited and the contract
    holds exactly the wallets."""

    deposited: int
    withdrawn: int
    wallets: int
    held: int

    @property
    def conserved(self) -> bool:
        return self.wallets + self.withdrawn == self.deposited and self.held == self.wallets


@dataclass
class PeriodOutcome:
    """The receipts of one delivery period's matching and settlement."""

    delivery_period: int
    matching: list[TxReceipt] = field(default_factory=list)
    settlement: list[TxReceipt] = field(default_factory=list)


class PeriodDriver:
    """The steps of the market's periods on `contract` (attached with ``p2pkit.market.attach``).

    `operator` signs authorizations, meter bindings, matching and settlement (anyone may match
    and settle; the operator is who pays for it here). `wait_until(timestamp)` returns once the
    chain's latest block is at `timestamp` or later. `batch` bounds the auction steps of one
    ``matchBids`` and the prosumers of one ``settle``.
    """

    def __init__(
        self,
        contract: Contract,
        operator: LocalAccount,
        *,
        sender: Sender | None = None,
        wait_until: Callable[[int], None] | None = None,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        self.contract = contract
        self.w3 = contract.w3
        self.operator = operator
        self.send = sender or SendEach(self.w3)
        self.wait_until = wait_until or BlockTime(self.w3).wait_until
        self.batch = batch

    @cached_property
    def schedule(self) -> Schedule:
        return Schedule.of(self.contract)

    # ---------------------------------------------------------------- reads

    def book(self, delivery_period: int, block: int | str = "latest") -> Any:
        """The contract's ``BookSummary`` of `delivery_period`, by name (``.stage``, ``.settledCount``)."""
        return self.contract.functions.bookOf(delivery_period).call(block_identifier=block)

    def account(self, address: str, block: int | str = "latest") -> Any:
        """The contract's ``AccountRecord`` of `address`, by name (``.id`` 0: not registered)."""
        return self.contract.functions.accountOf(address).call(block_identifier=block)

    def ledger(self) -> Ledger:
        """Every wallet summed, beside the totals the contract keeps (one call per account)."""
        functions = self.contract.functions
        count = functions.accountCount().call()
        wallets = sum(
            functions.accountOf(functions.accountAddress(i).call()).call().wallet for i in range(1, count + 1)
        )
        totals = functions.totals().call()
        return Ledger(totals.deposited, totals.withdrawn, wallets, self.w3.eth.get_balance(self.contract.address))

    def auction_delivery_period(self) -> int:
        """The delivery period whose auction runs in the current period."""
        return self.contract.functions.currentPeriod().call() + 1

    def next_reading_due(self, delivery_period: int, block: int | str = "latest") -> bool:
        """Whether the next bid to settle has its reading, or no bid is left to settle.

        ``settle`` stops at the first bid whose reading is missing (until readings close), so
        sending it before would only pay gas to settle nothing.
        """
        functions = self.contract.functions
        book = self.book(delivery_period, block)
        if book.settledCount >= book.bidCount:
            return True  # settle will say SettlementComplete
        owner = functions.bidOf(delivery_period, book.settledCount + 1).call(block_identifier=block).owner
        return functions.readingOf(owner, delivery_period).call(block_identifier=block).present

    # ---------------------------------------------------------------- single calls

    def hint(self, delivery_period: int, producer: bool, green: bool, price: int) -> int:
        return self.contract.functions.insertionHint(delivery_period, producer, green, price).call()

    def reveal_call(self, bid: Bid, hint: int) -> ContractFunction:
        sealed = bid.sealed
        return self.contract.functions.reveal(sealed.quantity_wh, sealed.price, sealed.salt, hint)

    def reveal_for_call(self, bid: EntrustedBid) -> ContractFunction:
        """``revealFor`` of an entrusted bid, with the hint read from the chain now."""
        record = self.account(bid.bidder)
        hint = self.hint(bid.delivery_period, record.producer, record.green, bid.price)
        return self.contract.functions.revealFor(bid.bidder, bid.quantity_wh, bid.price, bid.salt, hint)

    def forfeit_call(self, account: str) -> ContractFunction:
        return self.contract.functions.forfeitUnrevealed(account)

    def match_call(self, delivery_period: int, batch: int | None = None) -> ContractFunction:
        return self.contract.functions.matchBids(delivery_period, batch or self.batch)

    def settle_call(self, delivery_period: int, batch: int | None = None) -> ContractFunction:
        return self.contract.functions.settle(delivery_period, batch or self.batch)

    # ---------------------------------------------------------------- enrolment

    def fund(self, funder: LocalAccount, amounts: Sequence[tuple[str, int]]) -> list[TxReceipt]:
        """Plain ether from `funder` to each (address, wei): gas money."""
        return self.send([Transaction(funder, to=address, value=value) for address, value in amounts])

    def enrol(self, prosumers: Sequence[Prosumer]) -> None:
        """Register each prosumer, authorize it, bind its meter (if it has one) and make its
        deposit (if any). Each prosumer needs gas money already."""
        functions = self.contract.functions
        self.send([Transaction(p.key, functions.register(p.name, p.producer, p.green)) for p in prosumers])
        self.send(
            [Transaction(self.operator, functions.setAuthorization(p.address, True)) for p in prosumers]
            + [
                Transaction(
                    self.operator, functions.bindMeter(p.address, p.meter.address, p.meter_number, p.rated_power_w)
                )
                for p in prosumers
                if p.meter is not None
            ]
            + [Transaction(p.key, functions.deposit(), value=p.deposit) for p in prosumers if p.deposit]
        )

    def account_ids(self, prosumers: Sequence[Prosumer]) -> list[int]:
        return [self.account(p.address).id for p in prosumers]

    # ---------------------------------------------------------------- one delivery period

    def next_auction(self) -> int:
        """Wait for the start of the next period; returns the delivery period bid for in it."""
        period = self.contract.functions.currentPeriod().call() + 1
        self.wait_until(self.schedule.start(period))
        return period + 1

    def commit(self, bids: Sequence[Bid]) -> list[TxReceipt]:
        functions = self.contract.functions
        return self.send(
            [Transaction(b.prosumer.key, functions.commit(b.sealed.commitment(b.prosumer.address))) for b in bids]
        )

    def reveal(self, bids: Sequence[Bid], delivery_period: int, *, hints: str = "chain") -> list[TxReceipt]:
        """Reveal `bids` for `delivery_period`, each with the hint of its place in its queue.

        ``hints="chain"`` asks ``insertionHint``: for each bid just before it is sent when the
        sender sends in order, else for all before any is sent (a hint then may lie before the
        bid's place, and the contract walks on from it). ``hints="reveal order"`` computes them
        here for a book with no bid yet, as the chain would answer if the reveals are mined in
        this order (``p2pkit.bids.reveal_order_hints``): many reveals at once, without walks.
        """
        if hints == "reveal order":
            if self.book(delivery_period).bidCount:
                raise ValueError(f"delivery period {delivery_period} has bids already; reveal order hints need none")
            queued = [QueuedBid(b.prosumer.producer, b.prosumer.green, b.sealed.price) for b in bids]
            return self.send([self._reveal(b, h) for b, h in zip(bids, reveal_order_hints(queued))])
        if hints != "chain":
            raise ValueError(f'hints must be "chain" or "reveal order", not {hints!r}')
        if self.send.in_order:
            return [
                receipt
                for bid in bids
                for receipt in self.send([self._reveal(bid, self._hint_of(bid, delivery_period))])
            ]
        return self.send([self._reveal(bid, self._hint_of(bid, delivery_period)) for bid in bids])

    def _hint_of(self, bid: Bid, delivery_period: int) -> int:
        return self.hint(delivery_period, bid.prosumer.producer, bid.prosumer.green, bid.sealed.price)

    def _reveal(self, bid: Bid, hint: int) -> Transaction:
        return Transaction(bid.prosumer.key, self.reveal_call(bid, hint))

    def match(self, delivery_period: int, batch: int | None = None) -> list[TxReceipt]:
        """``matchBids`` in batches (of `batch` auction steps, else the driver's) until the book
        is done; the receipts."""
        receipts = []
        while self.book(delivery_period).stage != Stage.DONE:
            receipts += self.send([Transaction(self.operator, self.match_call(delivery_period, batch))])
        return receipts

    def post_readings(self, readings: Sequence[Reading], delivery_period: int) -> list[TxReceipt]:
        functions = self.contract.functions
        return self.send(
            [
                Transaction(r.meter, functions.submitReading(delivery_period, r.meter_number, r.energy_wh))
                for r in readings
            ]
        )

    def settle(self, delivery_period: int, batch: int | None = None) -> list[TxReceipt]:
        """``settle`` in batches (of `batch` prosumers, else the driver's) until every bid is
        settled, or a batch settles nothing (it waits for a missing reading); the receipts."""
        receipts = []
        book = self.book(delivery_period)
        while book.settledCount < book.bidCount:
            receipts += self.send([Transaction(self.operator, self.settle_call(delivery_period, batch))])
            settled_before, book = book.settledCount, self.book(delivery_period)
            if book.settledCount == settled_before:
                break
        return receipts

    def run(
        self, bids: Sequence[Bid], readings: Sequence[Reading] = (), *, auction_open: bool = False
    ) -> PeriodOutcome:
        """A whole delivery period: the commits and reveals of the next auction (of the one open
        now, in its commit window, with `auction_open`), matching, the meters' readings once the
        period is over, and settlement."""
        schedule = self.schedule
        delivery_period = self.auction_delivery_period() if auction_open else self.next_auction()
        self.commit(bids)
        self.wait_until(schedule.reveal_opens(delivery_period))
        self.reveal(bids, delivery_period)
        self.wait_until(schedule.auction_closes(delivery_period))
        outcome = PeriodOutcome(delivery_period, matching=self.match(delivery_period))
        self.wait_until(schedule.delivery_ends(delivery_period))
        self.post_readings(readings, delivery_period)
        self.wait_until(schedule.settlement_opens(delivery_period))
        outcome.settlement = self.settle(delivery_period)
        return outcome
