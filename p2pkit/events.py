"""The market's event log: every event it emitted, read from the chain in bounded ranges.

The read API and the keeper build what they show and do from it; it is never more than a copy
of the chain (a reorganisation makes it read everything again).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from eth_utils import event_abi_to_log_topic
from web3.contract import Contract
from web3.exceptions import BlockNotFound

from p2pkit.market import MarketHandle


@dataclass(frozen=True)
class MarketEvent:
    """One event the market emitted, with where it is on the chain."""

    name: str
    args: dict[str, Any]
    block: int
    log_index: int
    tx: str

    @property
    def delivery_period(self) -> int | None:
        return self.args.get("deliveryPeriod")


class MarketEventLog:
    """Every event the market has emitted since its deployment, kept in memory.

    `sync` reads the blocks not seen yet, in ranges of at most `max_block_range` blocks (what
    a node, or this backend's own proxy, allows one eth_getLogs to cover). If the last block
    read is no longer on the chain (a reorganisation), everything is read again, so the log is
    never more than a copy of the chain. Events are indexed by delivery period for the
    per-period views.
    """

    def __init__(self, market: MarketHandle, max_block_range: int, contract: Contract | None = None) -> None:
        """The events of the market, or of ``contract`` beside it on the same chain (deployed
        after it, with the market's lock: the retail contracts)."""
        self._market = market
        self._contract = contract or market.contract
        self._max_block_range = max_block_range
        self._event_by_topic = {event_abi_to_log_topic(event.abi): event for event in self._contract.all_events()}
        self._forget()

    def _forget(self) -> None:
        self._events: list[MarketEvent] = []
        self._by_period: dict[int, list[MarketEvent]] = defaultdict(list)
        self._next_block = self._market.deployment.block
        self._last_block_hash: bytes | None = None

    def sync(self, block_number: int) -> None:
        """Read the market's events up to `block_number`."""
        w3, address = self._market.w3, self._contract.address
        with self._market.lock:
            if self._last_block_hash is not None and self._last_block_hash != self._hash_of(self._next_block - 1):
                self._forget()
            if self._next_block > block_number:
                return
            while self._next_block <= block_number:
                to_block = min(block_number, self._next_block + self._max_block_range - 1)
                logs = w3.eth.get_logs({"address": address, "fromBlock": self._next_block, "toBlock": to_block})
                for log in logs:
                    self._add(log)
                self._next_block = to_block + 1
            self._last_block_hash = w3.eth.get_block(block_number)["hash"]

    def _hash_of(self, block_number: int) -> bytes | None:
        try:
            return self._market.w3.eth.get_block(block_number)["hash"]
        except BlockNotFound:  # a chain restarted from scratch is shorter than what was read
            return None

    def _add(self, log: Any) -> None:
        event_type = self._event_by_topic.get(bytes(log["topics"][0]))
        if event_type is None:
            return
        decoded = event_type.process_log(log)
        event = MarketEvent(
            name=decoded["event"],
            args=dict(decoded["args"]),
            block=decoded["blockNumber"],
            log_index=decoded["logIndex"],
            tx=decoded["transactionHash"].to_0x_hex(),
        )
        self._events.append(event)
        if event.delivery_period is not None:
            self._by_period[event.delivery_period].append(event)

    def events(self, *names: str, upto: int, delivery_period: int | None = None, after: int = -1) -> list[MarketEvent]:
        """Events named `names` (all, without names) in the blocks after `after` up to `upto`,
        in chain order; only those of `delivery_period` when given."""
        with self._market.lock:
            source = self._events if delivery_period is None else self._by_period.get(delivery_period, [])
            first = bisect.bisect_right(source, after, key=lambda event: event.block)
            return [event for event in source[first:] if event.block <= upto and (not names or event.name in names)]

    def delivery_periods(self, upto: int) -> list[int]:
        """Every delivery period some event up to block `upto` belongs to, ascending."""
        with self._market.lock:
            return sorted(period for period, events in self._by_period.items() if events and events[0].block <= upto)
