"""The read model behind `/api`: the market as of one block, cached until the next block.

Account facts that never change (id, name, kind) are kept once read; everything else is read
from the chain or the event log at the block an answer is built at, so nothing is kept that the
chain could contradict.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from p2pkit.events import MarketEventLog
from p2pkit.market import MarketHandle
from p2pkit.schedule import Schedule

CACHE_ENTRIES = 256
# Event arguments naming the account whose record (accountOf) the event changes.
ACCOUNT_ADDRESS_ARGS = ("account", "prosumer")
ACCOUNT_ID_ARGS = ("sellerId", "buyerId", "prosumerId")


@dataclass(frozen=True)
class BlockRef:
    """The block an answer is built at."""

    number: int
    hash: bytes
    time: int


@dataclass(frozen=True)
class AccountInfo:
    """What never changes about a registered account."""

    id: int
    address: str
    name: str
    producer: bool
    green: bool
    is_grid: bool


class MarketReader:
    """Reads the market for the API, each answer at one block, cached until the next block."""

    def __init__(self, market: MarketHandle, events: MarketEventLog) -> None:
        self.market = market
        self.events = events
        self._schedule: Schedule | None = None
        self._accounts: dict[int, AccountInfo] = {}
        self._account_count: tuple[bytes | None, int] = (None, 0)  # (block hash, count there)
        self._records: dict[int, Any] = {}  # account id -> accountOf, as of _records_at
        self._records_at: BlockRef | None = None
        self._cache: OrderedDict[tuple, tuple[bytes, Any]] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def schedule(self) -> Schedule:
        """The market's clock, fixed at deployment: read once."""
        if self._schedule is None:
            with self.market.lock:
                self._schedule = Schedule.of(self.market.contract)
        return self._schedule

    def latest(self) -> BlockRef:
        with self.market.lock:
            block = self.market.w3.eth.get_block("latest")
        return BlockRef(block["number"], bytes(block["hash"]), block["timestamp"])

    def cached(self, key: tuple, block: BlockRef, build: Callable[[BlockRef], Any]) -> Any:
        """`build(block)`, or what it gave for `key` at this very block (same hash)."""
        with self._cache_lock:
            cached_at, value = self._cache.get(key, (None, None))
            if cached_at == block.hash:
                self._cache.move_to_end(key)
                return value
        self.events.sync(block.number)
        value = build(block)
        with self._cache_lock:
            self._cache[key] = (block.hash, value)
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return value

    def call(self, function: str, *arguments: Any, block: BlockRef) -> Any:
        with self.market.lock:
            return getattr(self.market.contract.functions, function)(*arguments).call(block_identifier=block.number)

    def accounts(self, block: BlockRef) -> dict[int, AccountInfo]:
        """Every account registered by `block`, by id (ids and these facts never change)."""
        with self.market.lock:
            counted_at, count = self._account_count
            if counted_at != block.hash:
                count = self.call("accountCount", block=block)
                self._account_count = (block.hash, count)
            for account_id in range(len(self._accounts) + 1, count + 1):
                address = self.call("accountAddress", account_id, block=block)
                record = self.call("accountOf", address, block=block)
                self._accounts[account_id] = AccountInfo(
                    account_id, address, record.name, record.producer, record.green, record.isGrid
                )
            return {account_id: info for account_id, info in self._accounts.items() if account_id <= count}

    def records(self, block: BlockRef) -> dict[int, Any]:
        """`accountOf` of every account at `block`, by id (each an `AccountRecord`, by name).

        A record is read again only if an event since the last reading names its account (by
        address or id), or names none (new parameters, a period matched or settled), which has
        them all read again; the grid's whenever there is any event, since it takes the other
        side of settlements and forfeits. Every change to an account's record comes with an
        event, so this is what the chain says, at a cost that follows the market's activity
        instead of the number of accounts times the blocks.
        """
        with self.market.lock:
            infos = self.accounts(block)
            for account_id in self._stale_records(block, infos):
                self._records[account_id] = self.call("accountOf", infos[account_id].address, block=block)
            self._records_at = block
            return {account_id: self._records[account_id] for account_id in infos}

    def _stale_records(self, block: BlockRef, infos: dict[int, AccountInfo]) -> set[int]:
        last = self._records_at
        if last is None or block.number < last.number or self._hash_at(last.number) != last.hash:
            return set(infos)  # nothing read yet, or not on this chain any more
        stale = {account_id for account_id in infos if account_id not in self._records}
        ids_by_address = {info.address: account_id for account_id, info in infos.items()}
        events = self.events.events(upto=block.number, after=last.number)
        for event in events:
            named = [ids_by_address.get(event.args[name]) for name in ACCOUNT_ADDRESS_ARGS if name in event.args]
            named += [event.args[name] for name in ACCOUNT_ID_ARGS if name in event.args]
            if not named:
                return set(infos)
            stale.update(account_id for account_id in named if account_id in infos)
        if events:
            stale.update(account_id for account_id, info in infos.items() if info.is_grid)
        return stale

    def _hash_at(self, number: int) -> bytes:
        return bytes(self.market.w3.eth.get_block(number)["hash"])

    def address_of(self, account_id: int, block: BlockRef) -> str | None:
        info = self.accounts(block).get(account_id)
        return info.address if info else None

    def info_of(self, address: str, block: BlockRef) -> AccountInfo | None:
        return next((info for info in self.accounts(block).values() if info.address == address), None)
