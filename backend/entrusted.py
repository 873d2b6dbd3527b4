"""The store of sealed bids prosumers entrusted to the keeper, in SQLite.

Entrusting a bid gives up its secrecy toward the operator: the server knows the quantity and
price from the moment it is entrusted. The bids are kept in SQLite, a file only its owner may
read (it holds the bids' salts), so that a restarted keeper still reveals them.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from enum import Enum
from typing import Any

from p2pkit.bids import EntrustedBid


class EntrustOutcome(str, Enum):
    """What became of an entrusted bid once the keeper tried it."""

    REVEALED = "revealed"
    REFUSED = "refused"  # the values do not open the bidder's commitment, or there is none
    NOT_NEEDED = "not needed"  # the bid was revealed already


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
    one. Each bid gets an `EntrustOutcome` once the keeper has tried it.

    A file written when several bids per auction were kept is converted on opening: of each
    bidder's bids for an auction the first entrusted stays.
    """

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
