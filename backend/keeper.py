"""The keeper: the operator's background worker that moves every period along.

The market's phases follow block time and anyone may trigger matching and settlement once a
phase allows it; the keeper is the operator's worker doing so, so no period waits for a
prosumer to pay the gas. Each `Keeper.step` looks at the chain and sends at most one
transaction, the first of:

1. in the reveal window, reveal a bid a prosumer entrusted to it (`revealFor`), oldest first:
   there is at most one per bidder and auction, and one from a bidder without a commitment on
   the chain is passed over without asking the chain, so no crowd of bids can delay a real one;
2. once the auction being held has closed, complete its matching (`matchBids`, even with no bid
   revealed) and open its continuous book (`openBook`, in batches) before its gate closure, so
   the continuous window opens as soon as it can, every period, when the market names a book;
3. for each delivery period, oldest first, once its auction has closed: forfeit the margin of a
   commit that was never revealed (`forfeitUnrevealed`), then match the book (`matchBids`, in
   batches) until it is done; once its settlement is open, settle it (`settle`, in batches) as
   the meter readings arrive, or without them once no more can arrive.

What is left to do is read from the chain on every step (the market's events, the book's
settled count, the readings), never remembered, so a keeper stopped at any point, even between
sending a transaction and seeing it mined, resumes from the chain without doing anything twice.
A refusal saying the work is already done (`MatchingComplete`, `SettlementComplete`, ...) is
then expected and harmless. The retail scan is not kept either: the contract settles each month
of a contract once (its settled count), so a restarted keeper scans from the first contract and
sends nothing for months already settled.

Entrusting a bid gives up its secrecy toward the operator: the server knows the quantity and
price from the moment it is entrusted, and once revealed (when the reveal window opens) they are
in the chain's logs for everyone. The bids are kept in SQLite (`backend.entrusted`, a file only
its owner may read) so a restarted keeper still reveals them.

What the keeper reports (`status`, the outcomes of entrusted bids) is public: a refusal is given
by its name only, never its arguments, which can carry a bid's values; the details go to the
server's log.

Its calls and reads of the market are the period driver's (`p2pkit.period.PeriodDriver`); it
signs with the keeper's key (`MarketHandle.keeper`: a key of its own, else the operator's).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from web3.contract.contract import ContractFunction

from backend.entrusted import EntrustedBids, EntrustOutcome
from p2pkit.continuous import OPEN_BATCH
from p2pkit.events import MarketEventLog
from p2pkit.market import MarketHandle, Stage
from p2pkit.period import PeriodDriver, SendEach, Transaction
from p2pkit.retail.clock import BillingClock
from p2pkit.schedule import Phase, Schedule
from p2pkit.transactions import ContractRefused, TransactionReverted

# Refusals that mean someone (this keeper before a restart, another keeper, a prosumer) has
# already done the work.
WORK_ALREADY_DONE = frozenset(
    {"MatchingComplete", "SettlementComplete", "NothingToForfeit", "AlreadyRevealed", "BookAlreadyOpen"}
)
# Longest wait between attempts while the node is down or transactions keep failing.
MAX_RETRY_DELAY = 60.0
# How many of its last actions and failures the keeper reports.
HISTORY = 20

log = logging.getLogger(__name__)


class KeeperOutcome(str, Enum):
    """What came of a transaction the keeper sent."""

    SENT = "sent"
    ALREADY_DONE = "already done"  # refused because the work was done (detail: the refusal's name)
    REFUSED = "refused"  # an entrusted bid the contract refused to reveal (detail: the refusal's name)


@dataclass(frozen=True)
class KeeperAction:
    """A transaction the keeper sent, or the refusal that stopped it."""

    action: str  # the contract function
    delivery_period: int | None  # None for the retail contracts' settleBatch
    outcome: KeeperOutcome
    detail: str | None = None
    tx: str | None = None
    block: int | None = None
    account: str | None = None  # whose bid, for revealFor and forfeitUnrevealed
    at: float = field(default_factory=time.time)  # wall-clock time (Unix seconds)


class KeeperFailure(Exception):
    """A step failed; the failure is already in the keeper's status."""


@dataclass(frozen=True)
class _ChainNow:
    block: int
    time: int
    period: int
    phase: Phase


class Keeper:
    """Drives the market's periods with the keeper's key (see the module's description).

    `step` does one thing and returns it (None when there is nothing to do yet); `start` runs
    steps on a background thread, waiting `poll_interval` seconds when idle and retrying with a
    growing delay after failures (node down, nonce taken by another sender, transaction
    reverted).
    """

    def __init__(
        self,
        market: MarketHandle,
        entrusted: EntrustedBids,
        *,
        batch: int = 200,
        retail_batch: int = 100,
        events: MarketEventLog | None = None,
        max_log_block_range: int = 10_000,
        poll_interval: float = 1.0,
    ) -> None:
        if market.keeper is None:
            raise ValueError("the keeper needs a key: its own or the operator's")
        self._market = market
        self._entrusted = entrusted
        self._batch = batch
        self._events = events or MarketEventLog(market, max_log_block_range)
        self._poll_interval = poll_interval
        # The market's lock is held to read, never while one of the keeper's transactions is
        # mined: that takes up to a block interval (or the whole receipt timeout if the node is
        # down), and would stall the read API as long. An embedded chain's provider serves the
        # keeper's requests one at a time among the others'.
        self._driver = PeriodDriver(market.contract, market.keeper, sender=SendEach(market.w3), batch=batch)
        self._retail_batch = retail_batch
        self._retail_events = (
            MarketEventLog(market, max_log_block_range, contract=market.retail.contracts) if market.retail else None
        )
        self._billing_clock: BillingClock | None = None
        self._retail_seen: tuple[int, int] | None = None  # what the last scan of the contracts started on
        self._retail_cursor: int | None = None  # the next window of a scan under way
        self._schedule: Schedule | None = None
        self._finished_periods: set[int] = set()
        self._windows_open: set[int] = set()  # delivery periods whose continuous book was seen open
        self._gate_lead: int | None = None  # the book's, fixed when it was deployed
        self._status_lock = threading.Lock()
        self._actions: deque[KeeperAction] = deque(maxlen=HISTORY)
        self._failures: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self._last_step_at: float | None = None
        self._consecutive_failures = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="p2p-keeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        delay = 0.0
        while not self._stopping.wait(delay):
            try:
                action = self.step()
            except KeeperFailure:
                delay = self._retry_delay()
            except Exception as error:  # the node down, a timeout...: report, wait, try again
                self._record_failure("step", None, error)
                delay = self._retry_delay()
            else:
                with self._status_lock:
                    self._consecutive_failures = 0
                # Right on after progress; after "already done", wait like when idle, so that a
                # view of the chain that lags behind cannot make the keeper spin.
                progressed = action is not None and action.outcome != KeeperOutcome.ALREADY_DONE
                delay = 0.0 if progressed else self._poll_interval

    def _retry_delay(self) -> float:
        with self._status_lock:
            return min(self._poll_interval * 2**self._consecutive_failures, MAX_RETRY_DELAY)

    # ------------------------------------------------------------------ one step

    def step(self) -> KeeperAction | None:
        """Send the first transaction the chain calls for; None when there is none yet."""
        now = self._look()
        with self._status_lock:
            self._last_step_at = time.time()
        action = self._reveal_entrusted(now) or self._open_window(now)
        if action:
            return action
        for period in self._events.delivery_periods(now.block):
            if period not in self._finished_periods:
                action = self._advance(period, now)
                if action:
                    return action
        return self._settle_retail(now)

    def _look(self) -> _ChainNow:
        w3, contract = self._market.w3, self._market.contract
        with self._market.lock:
            if self._schedule is None:
                if w3.eth.chain_id != self._market.deployment.chain_id:
                    raise self._failure(
                        "step",
                        None,
                        f"the node's chain id {w3.eth.chain_id} is not the deployment's "
                        f"{self._market.deployment.chain_id}",
                    )
                self._schedule = self._driver.schedule
            block = w3.eth.get_block("latest")
            self._events.sync(block["number"])
            now = contract.functions.currentPhase().call(block_identifier=block["number"])
        return _ChainNow(block["number"], block["timestamp"], now.period, Phase(now.phase))

    def _reveal_entrusted(self, now: _ChainNow) -> KeeperAction | None:
        if now.phase != Phase.REVEAL:
            return None
        period = now.period + 1
        # The commit window is over: every commitment of this auction is in these events.
        events = self._events.events("BidCommitted", "BidRevealed", upto=now.block, delivery_period=period)
        committed = {event.args["account"] for event in events if event.name == "BidCommitted"}
        revealed = {event.args["account"] for event in events if event.name == "BidRevealed"}
        for bid in self._entrusted.untried(period):
            if bid.bidder not in committed:
                self._entrusted.record_outcome(bid, EntrustOutcome.REFUSED, "NoCommitment")
                continue
            if bid.bidder in revealed:
                self._entrusted.record_outcome(bid, EntrustOutcome.NOT_NEEDED, "AlreadyRevealed")
                continue
            with self._market.lock:
                call = self._driver.reveal_for_call(bid)
            try:
                action = self._transact("revealFor", period, call, account=bid.bidder)
            except ContractRefused as refusal:
                # The values do not open the bidder's commitment (or the bid is not admissible):
                # nothing changed on the chain, and trying again cannot change that.
                self._entrusted.record_outcome(bid, EntrustOutcome.REFUSED, refusal.name)
                self._record_failure("revealFor", period, refusal, account=bid.bidder)
                return self._record(
                    KeeperAction("revealFor", period, KeeperOutcome.REFUSED, refusal.name, account=bid.bidder)
                )
            if action.outcome == KeeperOutcome.SENT:
                self._entrusted.record_outcome(bid, EntrustOutcome.REVEALED, action.tx)
            else:
                self._entrusted.record_outcome(bid, EntrustOutcome.NOT_NEEDED, action.detail)
            return action
        return None

    def _open_window(self, now: _ChainNow) -> KeeperAction | None:
        """Match the auction held in this period and open its continuous book, between the
        auction's close and the book's gate closure (the window of that delivery period). A
        period found open is not asked about again."""
        book = self._market.continuous_book()
        period = now.period + 1
        if book is None or period in self._windows_open or now.time < self._schedule.auction_closes(period):
            return None
        with self._market.lock:
            if self._gate_lead is None:
                self._gate_lead = book.functions.gateLead().call()
            state = book.functions.book().call(block_identifier=now.block)
            matched = self._driver.book(period, block=now.block).stage == Stage.DONE
        if state.deliveryPeriod == period and state.open:
            self._windows_open.add(period)
            return None
        if now.time >= self._schedule.start(period) - self._gate_lead:
            return None
        if not matched:
            return self._transact("matchBids", period, self._driver.match_call(period))
        call = book.functions.openBook(period, min(self._batch, OPEN_BATCH))
        return self._transact("openBook", period, call)

    def _advance(self, period: int, now: _ChainNow) -> KeeperAction | None:
        """The next transaction delivery period `period` needs, if any is possible yet."""
        if now.time < self._schedule.auction_closes(period):
            return None
        events = self._events.events(upto=now.block, delivery_period=period)
        names = {event.name for event in events}
        committed = [event.args["account"] for event in events if event.name == "BidCommitted"]
        opened = {event.args["account"] for event in events if event.name in ("BidRevealed", "BidForfeited")}
        unrevealed = [account for account in committed if account not in opened]
        if unrevealed:
            call = self._driver.forfeit_call(unrevealed[0])
            return self._transact("forfeitUnrevealed", period, call, account=unrevealed[0])
        if "BidRevealed" not in names or "SettlementCompleted" in names:
            self._finished_periods.add(period)
            return None
        if "MatchingCompleted" not in names:
            return self._transact("matchBids", period, self._driver.match_call(period))
        if now.time < self._schedule.settlement_opens(period) or not self._settling_can_go_on(period, now):
            return None
        return self._transact("settle", period, self._driver.settle_call(period))

    def _settling_can_go_on(self, period: int, now: _ChainNow) -> bool:
        """The next bid's reading is in, or none can come any more (`settle` stops at the first
        bid whose reading is missing, so sending it before would only pay gas to settle nothing)."""
        if now.time >= self._schedule.readings_close(period):
            return True
        with self._market.lock:
            return self._driver.next_reading_due(period, block=now.block)

    def _settle_retail(self, now: _ChainNow) -> KeeperAction | None:
        """The next `settleBatch` of a scan of the bilateral contracts, if its window has a month due.

        A month becomes due when its last reading is posted or its reading deadline passes, so a
        scan (every window of contract ids, from the first) starts only when a reading or a new
        contract has appeared, or a month's deadline has passed, since the last scan began. A
        window is asked again until it settles nothing (a contract behind by several months
        settles one per batch), then the scan moves on.
        """
        retail, log = self._market.retail, self._retail_events
        if retail is None or log is None:
            return None
        with self._market.lock:
            log.sync(now.block)
            if self._billing_clock is None:
                self._billing_clock = BillingClock.of(retail.contracts)
        grace = self._billing_clock.reading_grace
        seen = (
            len(log.events("MonthlyReadingPosted", "ContractActivated", upto=now.block)),
            self._billing_clock.month_at(max(0, now.time - grace)),
        )
        if self._retail_cursor is None:
            if seen == self._retail_seen:
                return None
            self._retail_seen, self._retail_cursor = seen, 1
        contracts, first = retail.contracts.functions, self._retail_cursor
        with self._market.lock:
            count = contracts.contractCount().call(block_identifier=now.block)
            call = contracts.settleBatch(first, self._retail_batch)
            next_id, settled = (
                call.call({"from": self._market.keeper.address}, block_identifier=now.block) if count else (1, 0)
            )
        if settled == 0:
            self._retail_cursor = next_id if next_id <= count else None
            return None
        return self._transact("settleBatch", None, call, detail=f"contracts {first} to {next_id - 1}: {settled} due")

    def _transact(
        self,
        name: str,
        period: int | None,
        call: ContractFunction,
        account: str | None = None,
        detail: str | None = None,
    ) -> KeeperAction:
        """Send `call` signed by the keeper. A refusal meaning the work is done is an action
        with that outcome; other refusals are raised as `ContractRefused` for revealFor (the
        caller deals with the entrusted bid) and recorded as failures otherwise."""
        try:
            (receipt,) = self._driver.send([Transaction(self._market.keeper, call)])
        except ContractRefused as refusal:
            if refusal.name in WORK_ALREADY_DONE:
                return self._record(
                    KeeperAction(name, period, KeeperOutcome.ALREADY_DONE, refusal.name, account=account)
                )
            if name == "revealFor":
                raise
            raise self._failure(name, period, refusal, account=account) from None
        except TransactionReverted as reverted:
            raise self._failure(name, period, reverted, account=account) from None
        except Exception as error:
            raise self._failure(name, period, error, account=account) from error
        tx = receipt["transactionHash"].to_0x_hex()
        return self._record(KeeperAction(name, period, KeeperOutcome.SENT, detail, tx, receipt["blockNumber"], account))

    # ------------------------------------------------------------------ status

    def _record(self, action: KeeperAction) -> KeeperAction:
        with self._status_lock:
            self._actions.append(action)
        return action

    def _failure(
        self, name: str, period: int | None, error: Exception | str, account: str | None = None
    ) -> KeeperFailure:
        self._record_failure(name, period, error, account)
        return KeeperFailure(f"{name}: {error}")

    def _record_failure(
        self, name: str, period: int | None, error: Exception | str, account: str | None = None
    ) -> None:
        """Keep the failure for `status` by its name alone (a refusal's arguments can hold a
        bid's values, an exception's text the node's URL); the whole of it goes to the log."""
        log.warning("keeper %s for delivery period %s (account %s) failed: %s", name, period, account, error)
        if isinstance(error, ContractRefused):
            kind, message = error.name, f"refused by the contract: {error.name}"
        elif isinstance(error, Exception):
            kind, message = type(error).__name__, f"{type(error).__name__} (details in the server's log)"
        else:
            kind, message = "Failed", error
        failure = {"action": name, "delivery_period": period, "account": account, "error": kind, "message": message}
        failure["at"] = time.time()
        with self._status_lock:
            self._failures.append(failure)
            self._consecutive_failures += 1

    def status(self) -> dict[str, Any]:
        """What the keeper did and what failed lately, for `/api/status` (JSON-ready)."""
        with self._status_lock:
            return {
                "enabled": True,
                "running": self._thread is not None and self._thread.is_alive(),
                "account": self._market.keeper.address,
                "batch": self._batch,
                "last_step_at": self._last_step_at,
                "actions": [asdict(action) for action in self._actions],
                "failures": list(self._failures),
                "last_error_at": self._failures[-1]["at"] if self._failures else None,
                "consecutive_failures": self._consecutive_failures,
            }
