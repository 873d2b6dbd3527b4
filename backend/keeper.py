"""The keeper: the operator's background worker that moves every period along.

The market's phases follow block time and anyone may trigger matching and settlement once a
phase allows it; the keeper is the operator's account doing so, so no period waits for a
prosumer to pay the gas. Each `Keeper.step` looks at the chain and sends at most one
transaction, the first of:

1. in the reveal window, reveal a bid a prosumer entrusted to it (`revealFor`), oldest first:
   there is at most one per bidder and auction, and one from a bidder without a commitment on
   the chain is passed over without asking the chain, so no crowd of bids can delay a real one;
2. for each delivery period, oldest first, once its auction has closed: forfeit the margin of a
   commit that was never revealed (`forfeitUnrevealed`), then match the book (`matchBids`, in
   batches) until it is done; once its settlement is open, settle it (`settle`, in batches) as
   the meter readings arrive, or without them once no more can arrive.

What is left to do is read from the chain on every step (the market's events, the book's
settled count, the readings), never remembered, so a keeper stopped at any point, even between
sending a transaction and seeing it mined, resumes from the chain without doing anything twice.
A refusal saying the work is already done (`MatchingComplete`, `SettlementComplete`, ...) is
then expected and harmless.

Entrusting a bid gives up its secrecy toward the operator: the server knows the quantity and
price from the moment it is entrusted, and once revealed (when the reveal window opens) they are
in the chain's logs for everyone. The bids are kept in SQLite (`EntrustedBids`, a file only its
owner may read) so a restarted keeper still reveals them.

What the keeper reports (`status`, the outcomes of entrusted bids) is public: a refusal is given
by its name only, never its arguments, which can carry a bid's values; the details go to the
server's log.

The keeper signs only with the operator's key, through `backend.chain.send`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import deque
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

from web3.contract.contract import ContractFunction

from backend.chain import ContractRefused, MarketHandle, send
from backend.chain_access import MarketClock, MarketEventLog, Phase, is_embedded

# Refusals that mean someone (this keeper before a restart, another keeper, a prosumer) has
# already done the work.
WORK_ALREADY_DONE = frozenset({"MatchingComplete", "SettlementComplete", "NothingToForfeit", "AlreadyRevealed"})
# Longest wait between attempts while the node is down or transactions keep failing.
MAX_RETRY_DELAY = 60.0
# How many of its last actions and failures the keeper reports.
HISTORY = 20

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntrustedBid:
    """A sealed bid's opening values, handed to the keeper so it reveals them for the bidder."""

    bidder: str
    delivery_period: int
    quantity_wh: int
    price: int  # wei per kWh
    salt: bytes
    id: int | None = None  # row in the store


def entrust_message(market: str, chain_id: int, bid: EntrustedBid) -> str:
    """The text a bidder signs as an EIP-191 personal message to entrust `bid` to the keeper of
    `market`, so that nobody else can fill the bidder's entrusted slots. The page builds the very
    same text (`entrustMessage` in frontend/market.js); addresses are checksummed."""
    return (
        "Entrust my sealed bid to the market's keeper, to be revealed for me.\n"
        f"Market: {market} (chain {chain_id})\n"
        f"Bidder: {bid.bidder}\n"
        f"Delivery period: {bid.delivery_period}\n"
        f"Quantity: {bid.quantity_wh} Wh\n"
        f"Price: {bid.price} wei/kWh\n"
        f"Salt: 0x{bid.salt.hex()}"
    )


class AlreadyEntrusted(Exception):
    """The bidder already entrusted another bid for this delivery period."""


ENTRUSTED_BIDS_TABLE = """CREATE TABLE entrusted_bids (
    id INTEGER PRIMARY KEY,
    market TEXT NOT NULL,
    bidder TEXT NOT NULL,
    delivery_period INTEGER NOT NULL,
    quantity_wh INTEGER NOT NULL,
    price TEXT NOT NULL, -- up to 2**64 - 1, beyond SQLite's integers
    salt BLOB NOT NULL,
    entrusted_at REAL NOT NULL,
    outcome TEXT, -- NULL until the keeper has tried it
    detail TEXT,
    UNIQUE (market, bidder, delivery_period)
)"""


class EntrustedBids:
    """The bids prosumers entrusted to the keeper, in a SQLite database (`":memory:"` or a file,
    created readable by its owner only: it holds the bids' salts).

    One bid per bidder and auction: the first entrusted stays, the same one sent again is
    accepted as already there, and a different one is refused (`AlreadyEntrusted`), so nobody,
    the bidder included, can push in bids for the keeper to try in turn. A mistyped bid is then
    refused by the contract when the keeper reveals it, and the bidder can still reveal the right
    one. Each bid gets an outcome once the keeper has tried it: revealed, refused, or not needed
    because the bid was already revealed.

    A file written when several bids per auction were kept is converted on opening: of each
    bidder's bids for an auction the first entrusted stays.
    """

    REVEALED = "revealed"
    REFUSED = "refused"
    NOT_NEEDED = "not needed"

    def __init__(self, path: str, market_address: str) -> None:
        if path != ":memory:":
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            os.chmod(path, 0o600)  # also a file an earlier version made world-readable
        # Used by request threads and the keeper's thread, one at a time under the lock.
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._lock = threading.Lock()
        self._market = market_address
        with self._lock:
            self._create_or_convert()

    def _create_or_convert(self) -> None:
        # One transaction that writes from the start: the server's processes open the same
        # file at the same time, and only one of them may create or convert the table.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            existing = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entrusted_bids'")
            if existing.fetchone() is None:
                self._db.execute(ENTRUSTED_BIDS_TABLE)
            elif ["market", "bidder", "delivery_period"] not in self._unique_columns():
                self._db.execute("ALTER TABLE entrusted_bids RENAME TO entrusted_bids_several")
                self._db.execute(ENTRUSTED_BIDS_TABLE)
                self._db.execute(
                    """INSERT INTO entrusted_bids SELECT * FROM entrusted_bids_several WHERE id IN
                       (SELECT MIN(id) FROM entrusted_bids_several GROUP BY market, bidder, delivery_period)"""
                )
                self._db.execute("DROP TABLE entrusted_bids_several")
        except BaseException:
            self._db.rollback()
            raise
        self._db.commit()

    def _unique_columns(self) -> list[list[str]]:
        indexes = self._db.execute("PRAGMA index_list(entrusted_bids)").fetchall()
        return [
            [column[2] for column in self._db.execute(f"PRAGMA index_info('{name}')")]
            for _, name, unique, *_ in indexes
            if unique
        ]

    def add(self, bid: EntrustedBid) -> bool:
        """Keep `bid`; False if this very bid was entrusted already. Raises `AlreadyEntrusted`
        if the bidder entrusted another one for this delivery period."""
        with self._lock, self._db:
            kept = self._db.execute(
                """SELECT quantity_wh, price, salt FROM entrusted_bids
                   WHERE market = ? AND bidder = ? AND delivery_period = ?""",
                (self._market, bid.bidder, bid.delivery_period),
            ).fetchone()
            if kept is not None:
                if kept == (bid.quantity_wh, str(bid.price), bid.salt):
                    return False
                raise AlreadyEntrusted(
                    f"{bid.bidder} already entrusted another bid for delivery period {bid.delivery_period}; "
                    "the keeper tries that one (reveal this one yourself if it is the right one)"
                )
            self._db.execute(
                """INSERT INTO entrusted_bids
                   (market, bidder, delivery_period, quantity_wh, price, salt, entrusted_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (self._market, bid.bidder, bid.delivery_period, bid.quantity_wh, str(bid.price), bid.salt, time.time()),
            )
            return True

    def untried(self, delivery_period: int) -> list[EntrustedBid]:
        """The bids for `delivery_period` the keeper has not tried yet, in the order they came."""
        with self._lock:
            rows = self._db.execute(
                """SELECT bidder, delivery_period, quantity_wh, price, salt, id FROM entrusted_bids
                   WHERE market = ? AND delivery_period = ? AND outcome IS NULL ORDER BY id""",
                (self._market, delivery_period),
            ).fetchall()
        return [EntrustedBid(bidder, period, wh, int(price), bytes(salt), row) for bidder, period, wh, price, salt, row in rows]

    def record_outcome(self, bid: EntrustedBid, outcome: str, detail: str) -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE entrusted_bids SET outcome = ?, detail = ? WHERE id = ?", (outcome, detail, bid.id))

    def outcomes(self, bidder: str) -> list[dict[str, Any]]:
        """What became of each bid `bidder` entrusted, oldest first, without the bid's values:
        delivery period, when, outcome (None while untried) and its detail (the reveal's
        transaction, or the name of the refusal)."""
        with self._lock:
            rows = self._db.execute(
                """SELECT delivery_period, entrusted_at, outcome, detail FROM entrusted_bids
                   WHERE market = ? AND bidder = ? ORDER BY id""",
                (self._market, bidder),
            ).fetchall()
        return [
            {"delivery_period": period, "entrusted_at": at, "outcome": outcome, "detail": detail}
            for period, at, outcome, detail in rows
        ]


@dataclass(frozen=True)
class KeeperAction:
    """A transaction the keeper sent, or the refusal that stopped it."""

    SENT = "sent"
    ALREADY_DONE = "already done"  # refused because the work was done (detail: the refusal)
    REFUSED = "refused"  # an entrusted bid the contract refused to reveal (detail: the refusal)

    action: str  # the contract function
    delivery_period: int
    outcome: str
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
    """Drives the market's periods with the operator's key (see the module's description).

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
        events: MarketEventLog | None = None,
        max_log_block_range: int = 10_000,
        poll_interval: float = 1.0,
    ) -> None:
        if market.operator is None:
            raise ValueError("the keeper needs the operator's key")
        self._market = market
        self._entrusted = entrusted
        self._batch = batch
        self._events = events or MarketEventLog(market, max_log_block_range)
        self._poll_interval = poll_interval
        # A node serves requests from several threads; holding the lock while one of the
        # keeper's transactions is mined would stall the read API for that long, or for the
        # whole receipt timeout if the node is down.
        self._sending_lock: AbstractContextManager = market.lock if is_embedded(market.w3) else nullcontext()
        self._clock: MarketClock | None = None
        self._finished_periods: set[int] = set()
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
                progressed = action is not None and action.outcome != KeeperAction.ALREADY_DONE
                delay = 0.0 if progressed else self._poll_interval

    def _retry_delay(self) -> float:
        with self._status_lock:
            return min(self._poll_interval * 2**self._consecutive_failures, MAX_RETRY_DELAY)

    # ------------------------------------------------------------------ one step

    def step(self) -> KeeperAction | None:
        """Send the first transaction the chain calls for; None when there is none yet.

        On an embedded chain the whole step holds the chain: the keeper waits for its turn once
        per step, behind whatever was asked before it, instead of once per call.
        """
        with self._sending_lock:
            now = self._look()
            with self._status_lock:
                self._last_step_at = time.time()
            action = self._reveal_entrusted(now)
            if action:
                return action
            for period in self._events.delivery_periods(now.block):
                if period not in self._finished_periods:
                    action = self._advance(period, now)
                    if action:
                        return action
            return None

    def _look(self) -> _ChainNow:
        w3, contract = self._market.w3, self._market.contract
        with self._market.lock:
            if self._clock is None:
                if w3.eth.chain_id != self._market.deployment.chain_id:
                    raise self._failure(
                        "step",
                        None,
                        f"the node's chain id {w3.eth.chain_id} is not the deployment's {self._market.deployment.chain_id}",
                    )
                self._clock = MarketClock.of(self._market)
            block = w3.eth.get_block("latest")
            self._events.sync(block["number"])
            period, phase, _ = contract.functions.currentPhase().call(block_identifier=block["number"])
        return _ChainNow(block["number"], block["timestamp"], period, Phase(phase))

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
                self._entrusted.record_outcome(bid, EntrustedBids.REFUSED, "NoCommitment")
                continue
            if bid.bidder in revealed:
                self._entrusted.record_outcome(bid, EntrustedBids.NOT_NEEDED, "AlreadyRevealed")
                continue
            contract = self._market.contract
            with self._market.lock:
                record = contract.functions.accountOf(bid.bidder).call()
                hint = contract.functions.insertionHint(period, record[2], record[3], bid.price).call()
            call = contract.functions.revealFor(bid.bidder, bid.quantity_wh, bid.price, bid.salt, hint)
            try:
                action = self._transact("revealFor", period, call, account=bid.bidder)
            except ContractRefused as refusal:
                # The values do not open the bidder's commitment (or the bid is not admissible):
                # nothing changed on the chain, and trying again cannot change that.
                self._entrusted.record_outcome(bid, EntrustedBids.REFUSED, refusal.name)
                self._record_failure("revealFor", period, refusal, account=bid.bidder)
                return self._record(
                    KeeperAction("revealFor", period, KeeperAction.REFUSED, refusal.name, account=bid.bidder)
                )
            if action.outcome == KeeperAction.SENT:
                self._entrusted.record_outcome(bid, EntrustedBids.REVEALED, action.tx)
            else:
                self._entrusted.record_outcome(bid, EntrustedBids.NOT_NEEDED, action.detail)
            return action
        return None

    def _advance(self, period: int, now: _ChainNow) -> KeeperAction | None:
        """The next transaction delivery period `period` needs, if any is possible yet."""
        if now.time < self._clock.auction_closes(period):
            return None
        events = self._events.events(upto=now.block, delivery_period=period)
        names = {event.name for event in events}
        committed = [event.args["account"] for event in events if event.name == "BidCommitted"]
        opened = {event.args["account"] for event in events if event.name in ("BidRevealed", "BidForfeited")}
        unrevealed = [account for account in committed if account not in opened]
        if unrevealed:
            call = self._market.contract.functions.forfeitUnrevealed(unrevealed[0])
            return self._transact("forfeitUnrevealed", period, call, account=unrevealed[0])
        if "BidRevealed" not in names or "SettlementCompleted" in names:
            self._finished_periods.add(period)
            return None
        if "MatchingCompleted" not in names:
            return self._transact("matchBids", period, self._market.contract.functions.matchBids(period, self._batch))
        if now.time < self._clock.settlement_opens(period) or not self._next_reading_due(period, now):
            return None
        return self._transact("settle", period, self._market.contract.functions.settle(period, self._batch))

    def _next_reading_due(self, period: int, now: _ChainNow) -> bool:
        """Whether settling can go on: the next bid's reading is in, or none can come any more.

        `settle` stops at the first bid whose reading is missing, so sending it before would
        only pay gas to settle nothing.
        """
        if now.time >= self._clock.readings_close(period):
            return True
        functions = self._market.contract.functions
        with self._market.lock:
            book = functions.bookOf(period).call(block_identifier=now.block)
            bid_count, settled_count = book[0], book[2]
            if settled_count >= bid_count:
                return True  # settle will say SettlementComplete
            owner = functions.bidOf(period, settled_count + 1).call(block_identifier=now.block)[4]
            present, _ = functions.readingOf(owner, period).call(block_identifier=now.block)
        return present

    def _transact(self, name: str, period: int, call: ContractFunction, account: str | None = None) -> KeeperAction:
        """Send `call` signed by the operator. A refusal meaning the work is done is an action
        with that outcome; other refusals are raised as `ContractRefused` for revealFor (the
        caller deals with the entrusted bid) and recorded as failures otherwise."""
        try:
            with self._sending_lock:
                receipt = send(self._market.w3, call, self._market.operator)
        except ContractRefused as refusal:
            if refusal.name in WORK_ALREADY_DONE:
                return self._record(KeeperAction(name, period, KeeperAction.ALREADY_DONE, refusal.name, account=account))
            if name == "revealFor":
                raise
            raise self._failure(name, period, refusal, account=account) from None
        except Exception as error:
            raise self._failure(name, period, error, account=account) from error
        tx = receipt["transactionHash"].to_0x_hex()
        if receipt["status"] != 1:
            raise self._failure(name, period, f"transaction {tx} reverted", account=account)
        return self._record(KeeperAction(name, period, KeeperAction.SENT, None, tx, receipt["blockNumber"], account))

    # ------------------------------------------------------------------ status

    def _record(self, action: KeeperAction) -> KeeperAction:
        with self._status_lock:
            self._actions.append(action)
        return action

    def _failure(self, name: str, period: int | None, error: Exception | str, account: str | None = None) -> KeeperFailure:
        self._record_failure(name, period, error, account)
        return KeeperFailure(f"{name}: {error}")

    def _record_failure(self, name: str, period: int | None, error: Exception | str, account: str | None = None) -> None:
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
                "operator": self._market.operator.address,
                "batch": self._batch,
                "last_step_at": self._last_step_at,
                "actions": [asdict(action) for action in self._actions],
                "failures": list(self._failures),
                "last_error_at": self._failures[-1]["at"] if self._failures else None,
                "consecutive_failures": self._consecutive_failures,
            }
