"""The continuous book on a chain: deploying it beside a market, attaching to it, and the orders
a prosumer sends (limit, market, re-price, cancel), each with the hints the book needs read just
before it is sent.

The book (``contracts/continuous/ContinuousBook.sol``) holds one delivery period from the
completion of its call auction to its gate closure; its structs are decoded by name
(``p2pkit.contracts.contract_at``). An order's id is its owner's account id.
"""

from __future__ import annotations

from collections.abc import Callable

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from p2pkit.contracts import contract_at, deploy
from p2pkit.transactions import send

BOOK = "ContinuousBook"
# The book brings in the auction's leftovers in batches of this many per transaction.
OPEN_BATCH = 100


def deploy_book(w3: Web3, operator: LocalAccount, market: Contract, gate_lead: int = 0) -> Contract:
    """Deploy a continuous book for ``market`` and have its operator name it (once per market)."""
    book = deploy(w3, operator, BOOK, market.address, gate_lead)
    send(w3, market.functions.setContinuousBook(book.address), operator)
    return book


def book_at(w3: Web3, address: str) -> Contract:
    return contract_at(w3, BOOK, address)


def book_of(w3: Web3, market: Contract) -> Contract | None:
    """The book ``market`` names, or None before its operator has named one."""
    address = market.functions.continuousBook().call()
    return None if int(address, 16) == 0 else book_at(w3, address)


class Trader:
    """One prosumer's orders in the book of a delivery period; refusals raise ``ContractRefused``.

    Each order goes out through ``sender(call, signer)`` (default: ``p2pkit.transactions.send``),
    so a caller may count or batch them as it does its other transactions."""

    def __init__(
        self,
        w3: Web3,
        book: Contract,
        signer: LocalAccount,
        sender: Callable[[ContractFunction, LocalAccount], TxReceipt] | None = None,
    ) -> None:
        self.w3, self.book, self.signer = w3, book, signer
        self._sender = sender or (lambda call, signer: send(w3, call, signer))

    def _send(self, call) -> TxReceipt:
        return self._sender(call, self.signer)

    @property
    def order_id(self) -> int:
        return self.book.functions.orderIdOf(self.signer.address).call()

    def limit(self, delivery_period: int, quantity_wh: int, price: int, *, producer: bool) -> TxReceipt:
        hint = self.book.functions.insertionHint(producer, price).call()
        return self._send(self.book.functions.placeLimit(delivery_period, quantity_wh, price, hint))

    def market(self, delivery_period: int, quantity_wh: int) -> TxReceipt:
        return self._send(self.book.functions.placeMarket(delivery_period, quantity_wh))

    def reprice(self, delivery_period: int, price: int) -> TxReceipt:
        order_id = self.order_id
        producer = self.book.functions.orderOf(order_id).call().producer
        prev = self.book.functions.previousOf(order_id).call()
        hint = self.book.functions.insertionHint(producer, price).call()
        if hint == order_id:  # the order itself leaves its place: go after the one before it
            hint = prev
        return self._send(self.book.functions.reprice(delivery_period, order_id, price, prev, hint))

    def cancel(self, delivery_period: int) -> TxReceipt:
        order_id = self.order_id
        prev = self.book.functions.previousOf(order_id).call()
        return self._send(self.book.functions.cancel(delivery_period, order_id, prev))

    def send_to_market(self, delivery_period: int) -> TxReceipt:
        order_id = self.order_id
        prev = self.book.functions.previousOf(order_id).call()
        return self._send(self.book.functions.sendToMarket(delivery_period, order_id, prev))

    def concede(self, delivery_period: int, *, producer: bool, market_wh: int | None) -> TxReceipt | None:
        """What a simulated prosumer does in the window (the demo, the day's replay): re-price what
        rests of its order to the best price on the other side, so that it trades at once; with
        nothing resting, a market order of ``market_wh`` (None: nothing). Nothing is sent when the
        other side is empty."""
        functions = self.book.functions
        best = functions.book().call()
        other = best.bestBid if producer else best.bestAsk
        if not other:
            return None
        own = functions.orderOf(self.order_id).call() if self.order_id else None
        if own is not None and own.deliveryPeriod == delivery_period and own.remainingWh > 0:
            return self.reprice(delivery_period, functions.orderOf(other).call().price)
        return self.market(delivery_period, market_wh) if market_wh else None


def open_book(w3: Web3, book: Contract, keeper: LocalAccount, delivery_period: int, batch: int = OPEN_BATCH) -> None:
    """Bring every leftover of the auction of ``delivery_period`` into the book (once it is matched)."""
    state = book.functions.book().call()
    while not (state.deliveryPeriod == delivery_period and state.open):
        send(w3, book.functions.openBook(delivery_period, batch), keeper)
        state = book.functions.book().call()


def resting_orders(
    book: Contract, producer: bool, page: int = 100, block: int | str = "latest"
) -> list[tuple[int, object]]:
    """Every resting order of one side at ``block``, best first, as (order id, Order)."""
    result: list[tuple[int, object]] = []
    start = 0
    while True:
        ids, orders = book.functions.restingOrders(producer, start, page).call(block_identifier=block)
        result.extend(zip(ids, orders))
        if len(ids) < page or orders[-1].next == 0:
            return result
        start = orders[-1].next
