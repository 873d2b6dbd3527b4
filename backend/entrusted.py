"""The store of sealed bids prosumers entrusted to the keeper, in SQLite.

Entrusting a bid gives up its secrecy toward the operator: the server knows the quantity and
price before the auction closes. The bids are kept in SQLite so that a restarted keeper still
reveals them.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from enum import Enum
from typing import Any

from p2pkit.bids import EntrustedBid


class EntrustOutcome(str, Enum):
    """What became of an entrusted bid once the keeper tried it."""

    REVEALED = "revealed"
    REFUSED = "refused"  # the values do not open the bidder's commitment, or the bid is not admissible
    NOT_NEEDED = "not needed"  # the bid was revealed already


class TooManyEntrusted(Exception):
    """The bidder already entrusted the most bids one auction may hold."""


class EntrustedBids:
    """The bids prosumers entrusted to the keeper, in a SQLite database (`":memory:"` or a file).

    Several bids may be entrusted for one bidder and auction, up to `MAX_PER_AUCTION`; the
    keeper tries them in the order they came. A mistyped one therefore cannot replace the right
    one (nor can anyone who merely knows the bidder's address): the contract only refuses it.
    Each bid gets an `EntrustOutcome` once the keeper has tried it.
    """

    MAX_PER_AUCTION = 8

    def __init__(self, path: str, market_address: str) -> None:
        # Used by request threads and the keeper's thread, one at a time under the lock.
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._lock = threading.Lock()
        self._market = market_address
        with self._lock, self._db:
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS entrusted_bids (
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
                    UNIQUE (market, bidder, delivery_period, quantity_wh, price, salt)
                )"""
            )

    def add(self, bid: EntrustedBid) -> bool:
        """Keep `bid`; False if the very same bid was already entrusted."""
        with self._lock, self._db:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM entrusted_bids WHERE market = ? AND bidder = ? AND delivery_period = ?",
                (self._market, bid.bidder, bid.delivery_period),
            ).fetchone()
            if count >= self.MAX_PER_AUCTION:
                raise TooManyEntrusted(
                    f"{bid.bidder} already entrusted {count} bids for delivery period {bid.delivery_period}"
                )
            cursor = self._db.execute(
                """INSERT OR IGNORE INTO entrusted_bids
                   (market, bidder, delivery_period, quantity_wh, price, salt, entrusted_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (self._market, bid.bidder, bid.delivery_period, bid.quantity_wh, str(bid.price), bid.salt, time.time()),
            )
            return cursor.rowcount == 1

    def untried(self, delivery_period: int) -> list[EntrustedBid]:
        """The bids for `delivery_period` the keeper has not tried yet, in the order they came."""
        with self._lock:
            rows = self._db.execute(
                """SELECT bidder, delivery_period, quantity_wh, price, salt, id FROM entrusted_bids
                   WHERE market = ? AND delivery_period = ? AND outcome IS NULL ORDER BY id""",
                (self._market, delivery_period),
            ).fetchall()
        return [
            EntrustedBid(bidder, period, wh, int(price), bytes(salt), row)
            for bidder, period, wh, price, salt, row in rows
        ]

    def record_outcome(self, bid: EntrustedBid, outcome: EntrustOutcome, detail: str) -> None:
        with self._lock, self._db:
            self._db.execute(
                "UPDATE entrusted_bids SET outcome = ?, detail = ? WHERE id = ?", (outcome.value, detail, bid.id)
            )

    def outcomes(self, bidder: str) -> list[dict[str, Any]]:
        """What became of each bid `bidder` entrusted, oldest first, without the bid's values
        (which stay secret until the auction closes): delivery period, when, outcome (None
        while untried) and its detail (the reveal's transaction, or the refusal)."""
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
