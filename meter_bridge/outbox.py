"""The durable outbox (SQLite): readings wait here until the chain has them.

Three kinds of reading share it: a ``period`` reading (a market period's energy, for the
EnergyMarket), a ``monthly`` reading (the registers a meter froze at a billing month's start
and end, for the bilateral contracts), and a ``supply`` or ``absorb`` reading (a metering
period's energy in one direction, for the storage stations' dispatch; its meter's two registers
are kept as ``<meter>/forward`` and ``<meter>/reverse``). Either goes through these states::

    pending ──sign──► signed ──mined, status 1──► done
       │                 │
       └──refused────────┴──────────────────────► failed   (reason kept)

The signed raw transaction and its nonce are written *before* the transaction is sent, so that
after a crash the very same transaction is sent again: it can take effect at most once. The last
register value of every meter is kept here too, in the same database transaction as the reading
it produced, so that a restart computes the next period from where the last one ended.

An outbox that cannot be opened, read or written (a damaged file, a full disk, a read-only file
or file system) raises ``OutboxUnavailable`` from whichever method met the failure, and the
daemon stops on it. Nothing here ever deletes, truncates or recreates the file: a damaged outbox
still holds the readings queued before the damage, for the field engineer to recover. An outbox
written before monthly readings existed (schema version 0) is brought to the current schema
when opened, in one transaction that keeps every row.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import wraps
from pathlib import Path
from typing import TypeVar

from meter_bridge.errors import OutboxUnavailable
from meter_bridge.period_energy import RegisterReading
from p2pkit.retail.clock import BillingClock
from p2pkit.schedule import Schedule

PENDING = "pending"
SIGNED = "signed"
DONE = "done"
FAILED = "failed"

PERIOD = "period"
MONTHLY = "monthly"
SUPPLY = "supply"
ABSORB = "absorb"
DISPATCH_DIRECTIONS = {SUPPLY: 0, ABSORB: 1}  # the dispatch's Direction, by kind

SCHEMA_VERSION = 1
# ``period`` is the market period of a period reading and the billing month of a monthly one;
# ``energy_wh`` the energy of either; ``opening_wh`` and ``closing_wh`` the registers a monthly
# reading posts (NULL for period readings).
READINGS_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'period',
    meter TEXT NOT NULL,
    period INTEGER NOT NULL,
    energy_wh INTEGER NOT NULL,
    opening_wh INTEGER,
    closing_wh INTEGER,
    state TEXT NOT NULL,
    nonce INTEGER,
    raw_tx BLOB,
    tx_hash TEXT,
    reason TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    UNIQUE (meter, kind, period)
);
"""
SCHEMA = (
    READINGS_TABLE.format(name="readings")
    + """
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
CREATE TABLE IF NOT EXISTS billing_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    genesis_time INTEGER NOT NULL,
    month_length INTEGER NOT NULL,
    utc_offset INTEGER NOT NULL,
    reading_grace INTEGER NOT NULL
);
"""
)
# Version 0 had period readings only, unique by (meter, period).
MIGRATE_FROM_0 = (
    READINGS_TABLE.format(name="readings_v1")
    + """
INSERT INTO readings_v1 (id, meter, period, energy_wh, state, nonce, raw_tx, tx_hash, reason, updated_at)
    SELECT id, meter, period, energy_wh, state, nonce, raw_tx, tx_hash, reason, updated_at FROM readings;
DROP TABLE readings;
ALTER TABLE readings_v1 RENAME TO readings;
"""
)
COLUMNS = "id, kind, meter, period, energy_wh, opening_wh, closing_wh, state, nonce, raw_tx, tx_hash, reason"
SCHEDULE_FIELDS = ("genesis_time", "period_length", "commit_end", "reveal_end", "settle_start", "reading_grace")
BILLING_CLOCK_FIELDS = ("genesis_time", "month_length", "utc_offset", "reading_grace")


DAMAGED = (
    "The file is damaged: recover what it holds into a new file with `sqlite3 {path} .recover | "
    "sqlite3 {path}.recovered` (Debian package sqlite3), then move the damaged file aside and the "
    "recovered one in its place; if nothing can be recovered, move the damaged file aside alone "
    "and the bridge starts with an empty outbox."
)
NOT_WRITABLE = (
    "Check that the folder {folder} exists and that the bridge's user may write it and the file "
    "(SQLite keeps -wal and -shm files beside it), on a file system mounted read-write (one with "
    "disk errors may have been remounted read-only: see `dmesg`)."
)
LOCKED = "Another process holds it locked: run one bridge per outbox (`fuser {path}`)."
# What the field engineer does, by SQLite's primary result code (SQLITE_IOERR for SQLITE_IOERR_WRITE).
REMEDIES = {
    "SQLITE_CORRUPT": DAMAGED,
    "SQLITE_NOTADB": DAMAGED,
    "SQLITE_FULL": "Its file system is full: free space there (`df -h {folder}`).",
    "SQLITE_IOERR": "The disk failed a read or a write: check its free space (`df -h {folder}`) and `dmesg`.",
    "SQLITE_READONLY": NOT_WRITABLE,
    "SQLITE_CANTOPEN": NOT_WRITABLE,
    "SQLITE_PERM": NOT_WRITABLE,
    "SQLITE_BUSY": LOCKED,
    "SQLITE_LOCKED": LOCKED,
}
CHECK_IT = "Check it with `sqlite3 {path} 'PRAGMA integrity_check'`."

Method = TypeVar("Method", bound=Callable)
Record = TypeVar("Record")


def _reads(method: Method) -> Method:
    return _guarded(method, "read")


def _writes(method: Method) -> Method:
    return _guarded(method, "written")


def _guarded(method: Method, action: str) -> Method:
    """``method`` with SQLite's errors turned into OutboxUnavailable (``action``: read, written)."""

    @wraps(method)
    def guarded(self: Outbox, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            raise self._unavailable(action, error) from error

    return guarded  # type: ignore[return-value]


@dataclass(frozen=True)
class QueuedReading:
    """One row of the outbox; ``period`` is the billing month of a monthly reading."""

    id: int
    kind: str
    meter: str
    period: int
    energy_wh: int
    opening_wh: int | None
    closing_wh: int | None
    state: str
    nonce: int | None
    raw_tx: bytes | None
    tx_hash: str | None
    reason: str


def _connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        _migrate(db)
        # A file the bridge may read but not write fails here rather than at the first reading.
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    except BaseException:
        db.close()
        raise
    return db


def _migrate(db: sqlite3.Connection) -> None:
    """Create the tables of a new outbox, or bring an older one to the current schema."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version >= SCHEMA_VERSION:
        return
    existing = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'readings'").fetchone()
    script = MIGRATE_FROM_0 if existing else ""
    # executescript commits first; the BEGIN makes the whole change one transaction.
    db.executescript(f"BEGIN IMMEDIATE; {script} {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")


class Outbox:
    """The SQLite file at ``path``; every change is committed before the method returns."""

    def __init__(self, path: str):
        self.path = path
        self._refuse_damaged()
        try:
            self._db = _connect(path)
        except sqlite3.Error as error:
            raise self._unavailable("opened", error) from error

    def close(self) -> None:
        self._db.close()

    def _refuse_damaged(self) -> None:
        """Check an existing file through a read-only connection before anything may write to it.

        SQLite would otherwise write into a file it only partly understands (switching it to WAL
        mode rewrites its header; an insert may land on a damaged page).
        """
        file = Path(self.path)
        if not file.exists():
            return
        try:
            with closing(sqlite3.connect(f"{file.absolute().as_uri()}?mode=ro", uri=True)) as db:
                problems = [row[0] for row in db.execute("PRAGMA quick_check")]
        except sqlite3.Error as error:
            raise self._unavailable("opened", error) from error
        if problems != ["ok"]:  # the first problem, without its "*** in database main ***" line
            cause = f"SQLite's integrity check fails ({problems[0].splitlines()[-1]})"
            raise OutboxUnavailable(self.path, "opened", cause, self._remedy(DAMAGED))

    def _unavailable(self, action: str, error: sqlite3.Error) -> OutboxUnavailable:
        """The OutboxUnavailable for ``error``, with what to do about it."""
        name = getattr(error, "sqlite_errorname", None) or type(error).__name__  # none on a misuse
        code = "_".join(name.split("_")[:2])  # SQLITE_IOERR_SHMSIZE: SQLITE_IOERR
        cause = f"{error} ({name})"
        return OutboxUnavailable(self.path, action, cause, self._remedy(REMEDIES.get(code, CHECK_IT)))

    def _remedy(self, template: str) -> str:
        return template.format(path=self.path, folder=Path(self.path).absolute().parent)

    # ---------------------------------------------------------------- registers and readings

    @_reads
    def last_register(self, meter: str) -> RegisterReading | None:
        row = self._db.execute("SELECT address, period, kwh FROM registers WHERE meter = ?", (meter,)).fetchone()
        return RegisterReading(row[0], row[1], Decimal(row[2])) if row else None

    @_writes
    def record(
        self,
        meter: str,
        register: RegisterReading,
        energy_wh: int | None,
        period: int,
        *,
        kind: str = PERIOD,
        register_key: str | None = None,
    ) -> None:
        """Keep ``register`` as the last value of the meter's register (``register_key``, the
        meter's name by default) and, if known, queue the period's energy as a ``kind`` reading."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO registers (meter, address, period, kwh) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (meter) DO UPDATE SET address = excluded.address, period = excluded.period, "
                "kwh = excluded.kwh",
                (register_key or meter, register.address, register.period, str(register.kwh)),
            )
            if energy_wh is not None:
                self._db.execute(
                    "INSERT OR IGNORE INTO readings (kind, meter, period, energy_wh, state, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (kind, meter, period, energy_wh, PENDING, time.time()),
                )

    @_writes
    def record_monthly(
        self, meter: str, month: int, opening_wh: int, closing_wh: int, energy_wh: int, refused: str = ""
    ) -> None:
        """Queue a meter's registers frozen at a billing month's start and end; a month already
        queued for the meter keeps what it has. Registers ``refused`` (the reason) are kept as
        failed, never sent, so that the month is not read again."""
        self._db.execute(
            "INSERT OR IGNORE INTO readings "
            "(kind, meter, period, energy_wh, opening_wh, closing_wh, state, reason, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                MONTHLY,
                meter,
                month,
                energy_wh,
                opening_wh,
                closing_wh,
                FAILED if refused else PENDING,
                refused,
                time.time(),
            ),
        )

    @_reads
    def monthly(self, meter: str, month: int) -> QueuedReading | None:
        """The monthly reading queued for a meter and month, in whatever state."""
        rows = self._select("WHERE kind = ? AND meter = ? AND period = ?", (MONTHLY, meter, month))
        return rows[0] if rows else None

    @_reads
    def waiting(self) -> list[QueuedReading]:
        """Readings not yet done or failed, in the order they were queued."""
        return self._select("WHERE state IN (?, ?) ORDER BY id", (PENDING, SIGNED))

    @_reads
    def all(self) -> list[QueuedReading]:
        return self._select("ORDER BY id", ())

    @_reads
    def highest_nonce(self, meter: str) -> int | None:
        """The highest nonce of a transaction signed for ``meter`` and not yet settled."""
        row = self._db.execute(
            "SELECT MAX(nonce) FROM readings WHERE meter = ? AND state = ?", (meter, SIGNED)
        ).fetchone()
        return row[0]

    @_writes
    def mark_signed(self, reading_id: int, nonce: int, raw_tx: bytes, tx_hash: str) -> None:
        self._update(reading_id, state=SIGNED, nonce=nonce, raw_tx=raw_tx, tx_hash=tx_hash)

    @_writes
    def mark_unsigned(self, reading_id: int, reason: str) -> None:
        """Forget a signed transaction whose nonce was used by another one; sign it afresh."""
        self._update(reading_id, state=PENDING, nonce=None, raw_tx=None, tx_hash=None, reason=reason)

    @_writes
    def mark_done(self, reading_id: int, reason: str = "") -> None:
        self._update(reading_id, state=DONE, reason=reason)

    @_writes
    def mark_failed(self, reading_id: int, reason: str) -> None:
        self._update(reading_id, state=FAILED, reason=reason)

    # ---------------------------------------------------------------- clocks

    @_reads
    def saved_schedule(self) -> Schedule | None:
        """The market's clock last seen on the chain."""
        return self._saved_record("schedule", SCHEDULE_FIELDS, Schedule)

    @_writes
    def save_schedule(self, schedule: Schedule) -> None:
        self._save_record("schedule", SCHEDULE_FIELDS, schedule)

    @_reads
    def saved_billing_clock(self) -> BillingClock | None:
        """The bilateral contracts' billing clock last seen on the chain."""
        return self._saved_record("billing_clock", BILLING_CLOCK_FIELDS, BillingClock)

    @_writes
    def save_billing_clock(self, clock: BillingClock) -> None:
        self._save_record("billing_clock", BILLING_CLOCK_FIELDS, clock)

    # ---------------------------------------------------------------- plumbing

    def _saved_record(self, table: str, names: tuple[str, ...], kind: type[Record]) -> Record | None:
        """The one row of a clock's table, as the dataclass it was saved from."""
        row = self._db.execute(f"SELECT {', '.join(names)} FROM {table}").fetchone()
        return kind(**dict(zip(names, row))) if row else None

    def _save_record(self, table: str, names: tuple[str, ...], record: object) -> None:
        values = [getattr(record, name) for name in names]
        placeholders = ", ".join("?" for _ in names)
        self._db.execute(f"INSERT OR REPLACE INTO {table} (id, {', '.join(names)}) VALUES (1, {placeholders})", values)

    def _select(self, clause: str, parameters: tuple) -> list[QueuedReading]:
        rows = self._db.execute(f"SELECT {COLUMNS} FROM readings " + clause, parameters).fetchall()
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
            if self._db.in_transaction:  # SQLite rolls back by itself on a full disk or an I/O error
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
