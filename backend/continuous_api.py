"""`/api/continuous`: the continuous book of the delivery period it holds, its trades, one's order.

Built like `/api` (`backend.market_api`): every answer is read from the chain as of one block and
cached until the next; wei are decimal strings, energy (Wh), ids and times plain numbers.

    GET /api/continuous                     the book now: its delivery period, whether it is open,
                                            gate closure, and each side's price levels (price,
                                            depth in Wh, number of orders), best first, never
                                            the owners; the book's address and ABI
    GET /api/continuous/trades/<d>          the continuous trades of delivery period d, in order
    GET /api/continuous/orders/<address>    the order an address has in the book, if any rests
                                            (its id is the address's account id)

The book is the one the market names (`setContinuousBook`); until it names one every answer is
503. Levels are built from every resting order (at most one per account), read in pages.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from web3.contract import Contract
from werkzeug.exceptions import HTTPException

from backend.market_api import (
    READER_EXTENSION,
    chain_unreachable,
    ethereum_address,
    http_error,
    require_market,
    trade_json,
    whole_number,
)
from backend.read_model import BlockRef, MarketReader
from p2pkit.continuous import resting_orders
from p2pkit.events import MarketEventLog
from p2pkit.market import MAX_UINT32

CONTINUOUS_EXTENSION = "p2p_continuous_reader"  # made at the first request once the market names a book

bp = Blueprint("continuous_api", __name__, url_prefix="/api/continuous")
bp.register_error_handler(HTTPException, http_error)
bp.register_error_handler(requests.RequestException, chain_unreachable)
_reader_lock = threading.Lock()


class ContinuousReader:
    """The book and its event log, read at the blocks the market's reader answers at."""

    def __init__(self, market: MarketReader, book: Contract, max_block_range: int) -> None:
        self.market = market
        self.book = book
        self.events = MarketEventLog(market.market, max_block_range, contract=book)

    def call(self, function: str, *arguments: Any, block: BlockRef) -> Any:
        with self.market.market.lock:
            return getattr(self.book.functions, function)(*arguments).call(block_identifier=block.number)

    def levels(self, producer: bool, block: BlockRef) -> list[dict[str, Any]]:
        """One side's price levels, best first: price, depth (Wh) and how many orders rest there."""
        with self.market.market.lock:
            orders = resting_orders(self.book, producer, block=block.number)
        levels: list[dict[str, Any]] = []
        for _, order in orders:
            if levels and levels[-1]["price_wei"] == str(order.price):
                levels[-1]["quantity_wh"] += order.remainingWh
                levels[-1]["orders"] += 1
            else:
                levels.append({"price_wei": str(order.price), "quantity_wh": order.remainingWh, "orders": 1})
        return levels


def reader() -> ContinuousReader | None:
    """The reader of the book the market names, None while it names none."""
    extensions = current_app.extensions
    if extensions.get(CONTINUOUS_EXTENSION) is None:
        market_reader: MarketReader = extensions[READER_EXTENSION]
        book = market_reader.market.continuous_book()
        if book is None:
            return None
        with _reader_lock:
            if extensions.get(CONTINUOUS_EXTENSION) is None:
                extensions[CONTINUOUS_EXTENSION] = ContinuousReader(
                    market_reader, book, current_app.config["MAX_LOG_BLOCK_RANGE"]
                )
    return extensions[CONTINUOUS_EXTENSION]


@bp.before_request
def require_book() -> ResponseReturnValue | None:
    missing_market = require_market()
    if missing_market is not None:
        return missing_market
    if reader() is None:
        return jsonify(error="no continuous book: the market names none (deploy one beside it)"), 503
    return None


def cached(key: tuple, build) -> Any:
    continuous = reader()
    market = continuous.market
    block = market.latest()
    continuous.events.sync(block.number)
    return market.cached(("continuous", *key), block, build)


@bp.get("")
def book() -> ResponseReturnValue:
    return jsonify(cached(("book",), book_json))


def book_json(block: BlockRef) -> dict[str, Any]:
    continuous = reader()
    state = continuous.call("book", block=block)
    gate = continuous.call("gateClosure", state.deliveryPeriod, block=block)
    return {
        "address": continuous.book.address,
        "abi": continuous.book.abi,
        "max_walk": continuous.call("MAX_WALK", block=block),
        "delivery_period": state.deliveryPeriod,
        "open": state.open,
        "gate_closes_at": gate,
        # Orders are taken now: the book is open for its period and the gate has not closed.
        "trading": state.open and block.time < gate,
        "block": block.number,
        "block_time": block.time,
        "asks": continuous.levels(True, block),
        "bids": continuous.levels(False, block),
    }


@bp.get("/trades/<delivery_period>")
def trades(delivery_period: str) -> ResponseReturnValue:
    number = whole_number(delivery_period, "delivery period", 0, MAX_UINT32)
    return jsonify(cached(("trades", number), lambda block: trades_json(number, block)))


def trades_json(delivery_period: int, block: BlockRef) -> dict[str, Any]:
    events = reader().events.events("ContinuousTrade", upto=block.number, delivery_period=delivery_period)
    return {"delivery_period": delivery_period, "trades": [trade_json(trade, block) for trade in events]}


@bp.get("/orders/<address>")
def order(address: str) -> ResponseReturnValue:
    owner = ethereum_address(address, "address")
    return jsonify(cached(("order", owner), lambda block: order_json(owner, block)))


def order_json(owner: str, block: BlockRef) -> dict[str, Any]:
    """What rests of `owner`'s order in the book's period (``resting`` false when nothing does)."""
    continuous = reader()
    order_id = continuous.market.call("accountOf", owner, block=block).id  # an order's id is its owner's
    state = continuous.call("book", block=block)
    answer: dict[str, Any] = {"address": owner, "order_id": order_id or None, "resting": False}
    if order_id == 0:
        return answer
    record = continuous.call("orderOf", order_id, block=block)
    if record.remainingWh == 0 or record.deliveryPeriod != state.deliveryPeriod:
        return answer
    answer.update(
        resting=True,
        delivery_period=record.deliveryPeriod,
        producer=record.producer,
        remaining_wh=record.remainingWh,
        price_wei=str(record.price),
    )
    return answer
