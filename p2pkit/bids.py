"""Sealed bids: the commitment sent at commit, the values opened at reveal, where a revealed bid
goes in its queue, and the message a bidder signs to entrust a bid to the keeper."""

from __future__ import annotations

import bisect
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_abi import encode
from eth_utils import keccak


def commitment(quantity_wh: int, price: int, salt: bytes, bidder: str) -> bytes:
    """The sealed bid: keccak256(abi.encode(uint40 quantity, uint64 price, bytes32 salt, address bidder))."""
    return keccak(encode(["uint40", "uint64", "bytes32", "address"], [quantity_wh, price, salt, bidder]))


def new_salt() -> bytes:
    return os.urandom(32)


@dataclass(frozen=True)
class SealedBid:
    """A bid as its owner keeps it between commit and reveal: Wh, wei per kWh and the salt."""

    quantity_wh: int
    price: int
    salt: bytes = field(default_factory=new_salt)

    def commitment(self, bidder: str) -> bytes:
        return commitment(self.quantity_wh, self.price, self.salt, bidder)


@dataclass(frozen=True)
class EntrustedBid:
    """A sealed bid's opening values, handed to the keeper so it reveals them for the bidder."""

    bidder: str
    delivery_period: int
    quantity_wh: int
    price: int  # wei per kWh
    salt: bytes
    id: int | None = None  # row in the keeper's store


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


@dataclass(frozen=True)
class QueuedBid:
    """What decides a revealed bid's place: its queue and its price."""

    producer: bool
    green: bool
    price: int


def reveal_order_hints(bids: Sequence[QueuedBid], first_id: int = 1) -> list[int]:
    """The ``hintPrevId`` each bid gets from ``insertionHint`` just before it is revealed, when
    `bids` are revealed in this order into a book with no bid yet: they get ids `first_id`,
    `first_id` + 1, ...; asks rank by price ascending, bids descending, equal prices in reveal
    order. For sending many reveals at once without asking the chain for each."""
    queues: dict[tuple[bool, bool], list[tuple[int, int]]] = defaultdict(list)
    hints = []
    for bid_id, bid in enumerate(bids, start=first_id):
        key = bid.price if bid.producer else -bid.price
        queue = queues[(bid.producer, bid.green)]
        position = bisect.bisect_right(queue, (key, bid_id))
        hints.append(queue[position - 1][1] if position else 0)
        queue.insert(position, (key, bid_id))
    return hints
