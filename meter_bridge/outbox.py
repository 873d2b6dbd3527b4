"""The durable outbox (SQLite): readings wait here until the chain has them.

A reading goes through these states::

    pending ──sign──► signed ──mined, status 1──► done
       │                 │
       └──refused────────┴──────────────────────► failed   (reason kept)

The signed raw transaction and its nonce are written *before* the transaction is sent, so that
after a crash the very same transaction is sent again: it can take effect at most once. The last
register value of every meter is kept here too, in the same database transaction as the reading
it produced, so that a restart computes the next period from where the last one ended.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from meter_bridge.period_energy import RegisterReading
from p2pkit.schedule import Schedule

PENDING = "pending"
SIGNED = "signed"
DONE = "done"
FAILED = "failed"

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    meter TEXT NOT NULL,
    period INTEGER NOT NULL,
    energy_wh INTEGER NOT NULL,
    state TEXT NOT NULL,
    nonce INTEGER,
    raw_tx BLOB,
    tx_hash TEXT,
    reason TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    UNIQUE (meter, period)
);
CREATE TABLE IF NOT EXISTS registers (
    meter TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    period INTEGER NOT NULL,
    kwh TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schedule (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    genesis_time INTEGER NOT NULL,
    period_length INTEGER NOT NULL,
    commit_end INTEGER NOT NULL,
    reveal_end INTEGER NOT NULL,
    settle_start INTEGER NOT NULL,
    reading_grace INTEGER NOT NULL
);
"""
SCHEDULE_FIELDS = ("genesis_time", "period_length", "commit_end", "reveal_end", "settle_start", "reading_grace")


@dataclass(frozen=True)
class QueuedReading:
    """One row of the outbox."""

    id: int
    meter: str
    period: int
    energy_wh: int
    state: str
    nonce: int | None
    raw_tx: bytes | None
    tx_hash: str | None
    reason: str


class Outbox:
    """The SQLite file at ``path``; every change is committed before the method returns."""

    def __init__(self, path: str):
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    # ---------------------------------------------------------------- registers and readings

    def last_register(self, meter: str) -> RegisterReading | None:
        row = self._db.execute("SELECT address, period, kwh FROM registers WHERE meter = ?", (meter,)).fetchone()
        return RegisterReading(row[0], row[1], Decimal(row[2])) if row else None

    def record(self, meter: str, register: RegisterReading, energy_wh: int | None, period: int) -> None:
        """Keep ``register`` as the meter's last value and, if known, queue the period's energy."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO registers (meter, address, period, kwh) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (meter) DO UPDATE SET address = excluded.address, period = excluded.period, "
                "kwh = excluded.kwh",
                (meter, register.address, register.period, str(register.kwh)),
            )
            if energy_wh is not None:
                self._db.execute(
                    "INSERT OR IGNORE INTO readings (meter, period, energy_wh, state, updated_at) VALUES (?, ?, ?, ?, ?)",
                    (meter, period, energy_wh, PENDING, time.time()),
                )

    def waiting(self) -> list[QueuedReading]:
        """Readings not yet done or failed, oldest first."""
        return self._select("WHERE state IN (?, ?) ORDER BY period, id", (PENDING, SIGNED))

    def all(self) -> list[QueuedReading]:
        return self._select("ORDER BY period, id", ())

    def highest_nonce(self, meter: str) -> int | None:
        """The highest nonce of a transaction signed for ``meter`` and not yet settled."""
        row = self._db.execute(
            "SELECT MAX(nonce) FROM readings WHERE meter = ? AND state = ?", (meter, SIGNED)
        ).fetchone()
        return row[0]

    def mark_signed(self, reading_id: int, nonce: int, raw_tx: bytes, tx_hash: str) -> None:
        self._update(reading_id, state=SIGNED, nonce=nonce, raw_tx=raw_tx, tx_hash=tx_hash)

    def mark_unsigned(self, reading_id: int, reason: str) -> None:
        """Forget a signed transaction whose nonce was used by another one; sign it afresh."""
        self._update(reading_id, state=PENDING, nonce=None, raw_tx=None, tx_hash=None, reason=reason)

    def mark_done(self, reading_id: int, reason: str = "") -> None:
        self._update(reading_id, state=DONE, reason=reason)

    def mark_failed(self, reading_id: int, reason: str) -> None:
        self._update(reading_id, state=FAILED, reason=reason)

    # ---------------------------------------------------------------- market clock

    def saved_schedule(self) -> Schedule | None:
        """The market's clock last seen on the chain."""
        row = self._db.execute(f"SELECT {', '.join(SCHEDULE_FIELDS)} FROM schedule").fetchone()
        return Schedule(**dict(zip(SCHEDULE_FIELDS, row))) if row else None

    def save_schedule(self, schedule: Schedule) -> None:
        values = [getattr(schedule, name) for name in SCHEDULE_FIELDS]
        self._db.execute(
            f"INSERT OR REPLACE INTO schedule (id, {', '.join(SCHEDULE_FIELDS)}) VALUES (1, ?, ?, ?, ?, ?, ?)", values
        )

    # ---------------------------------------------------------------- plumbing

    def _select(self, clause: str, parameters: tuple) -> list[QueuedReading]:
        rows = self._db.execute(
            "SELECT id, meter, period, energy_wh, state, nonce, raw_tx, tx_hash, reason FROM readings " + clause,
            parameters,
        ).fetchall()
        return [QueuedReading(*row) for row in rows]

    def _update(self, reading_id: int, **columns: object) -> None:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self._db.execute(
            f"UPDATE readings SET {assignments}, updated_at = ? WHERE id = ?",
            (*columns.values(), time.time(), reading_id),
        )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One atomic change (the connection otherwise commits every statement on its own)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
