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

    def address_of(self, account_id: int, block: BlockRef) -> str | None:
        info = self.accounts(block).get(account_id)
        return info.address if info else None

    def info_of(self, address: str, block: BlockRef) -> AccountInfo | None:
        return next((info for info in self.accounts(block).values() if info.address == address), None)
