"""The continuous phase in plain Python: what ``ContinuousBook`` must do, trade for trade and wei
for wei (the property test holds the contract to it).

The book starts from what the call auction left over (``ContinuousBook.after``), asks by
ascending price and bids by descending price, reveal order at equal prices. Then, in the order
sent: limit orders trade with the orders they cross at the midpoint of the two limit prices
and rest what is left; market orders trade at the resting prices; a re-price loses its place
and may trade at once; a cancel removes what rests. One order walks at most ``MAX_WALK``
resting orders. A buyer pays at most its wallet less the margin: a resting bid that cannot pay
is cut and leaves the book, a market buy that cannot pay stops. A refused action changes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from sim.reference import Clearing, Order, Trade, affordable_wh, cost, midpoint

MAX_WALK = 16


class Refused(Exception):
    """An action the book refuses, named as the contract's custom error."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass
class Resting:
    owner: str
    producer: bool
    price: int
    remaining_wh: int


@dataclass
class ContinuousBook:
    margin: int
    wallets: dict[str, int]
    positions: set[str]  # owners with a bid for the period (auction or continuous)
    asks: list[Resting] = field(default_factory=list)  # best first
    bids: list[Resting] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    unfilled: list[tuple[str, int]] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)

    @classmethod
    def after(cls, orders: list[Order], clearing: Clearing, margin: int) -> ContinuousBook:
        """The book once the auction of ``orders`` (in reveal order) cleared as ``clearing``."""
        book = cls(margin, dict(clearing.wallets), {o.owner for o in orders})
        left = [(i, o, clearing.leftover_wh[i]) for i, o in enumerate(orders) if clearing.leftover_wh.get(i)]
        for producer, sign in ((True, 1), (False, -1)):
            ranked = sorted((e for e in left if e[1].producer == producer), key=lambda e: (sign * e[1].price, e[0]))
            book.side(producer).extend(Resting(o.owner, producer, o.price, wh) for _, o, wh in ranked)
        return book

    def side(self, producer: bool) -> list[Resting]:
        return self.asks if producer else self.bids

    def resting(self, owner: str) -> Resting | None:
        return next((r for r in self.asks + self.bids if r.owner == owner), None)

    def apply(self, action: str, owner: str, producer: bool, quantity_wh: int = 0, price: int = 0) -> list[Trade]:
        """Run one action; returns its trades, or raises ``Refused`` with nothing changed."""
        before = copy.deepcopy(self.__dict__)
        first = len(self.trades)
        try:
            getattr(self, action)(owner, producer, quantity_wh, price)
        except Refused:
            self.__dict__.update(before)
            raise
        return self.trades[first:]

    # ------------------------------------------------------------------ actions

    def limit(self, owner: str, producer: bool, quantity_wh: int, price: int) -> None:
        self._admit(owner, producer, quantity_wh, price)
        if self.resting(owner):
            raise Refused("OrderAlreadyResting")
        self._arrive(owner, producer, price, quantity_wh)

    def market(self, owner: str, producer: bool, quantity_wh: int, _price: int = 0) -> None:
        self._admit(owner, producer, quantity_wh, 0)
        if self.resting(owner):
            raise Refused("OrderAlreadyResting")
        self._send_market(owner, producer, quantity_wh)

    def reprice(self, owner: str, producer: bool, _quantity_wh: int, price: int) -> None:
        order = self._own_resting(owner)
        self._admit(owner, producer, order.remaining_wh, price)
        self.side(producer).remove(order)
        self._arrive(owner, producer, price, order.remaining_wh)

    def cancel(self, owner: str, producer: bool, _quantity_wh: int = 0, _price: int = 0) -> None:
        self.side(producer).remove(self._own_resting(owner))

    def send_to_market(self, owner: str, producer: bool, _quantity_wh: int = 0, _price: int = 0) -> None:
        order = self._own_resting(owner)
        self.side(producer).remove(order)
        self._send_market(owner, producer, order.remaining_wh)

    # ------------------------------------------------------------------ rules

    def _own_resting(self, owner: str) -> Resting:
        order = self.resting(owner)
        if order is None:
            raise Refused("NoRestingOrder")
        return order

    def _spendable(self, owner: str) -> int:
        return max(0, self.wallets[owner] - self.margin)

    def _admit(self, owner: str, producer: bool, cover_wh: int, price: int) -> None:
        """Admission as at reveal: a position keeps the margin; a limit bid can pay its price."""
        if owner not in self.positions:
            if self.wallets[owner] < self.margin:
                raise Refused("InsufficientMargin")
            self.positions.add(owner)
        if not price:
            return
        if producer and self.wallets[owner] < self.margin:
            raise Refused("InsufficientMargin")
        if not producer and self._spendable(owner) < cost(cover_wh, price):
            raise Refused("InsufficientFunds")

    def _arrive(self, owner: str, producer: bool, price: int, quantity_wh: int) -> None:
        left, stopped = self._take(owner, producer, price, quantity_wh)
        if left and stopped:
            self.unfilled.append((owner, left))
        elif left:
            side = self.side(producer)
            after = [i for i, r in enumerate(side) if (r.price <= price if producer else r.price >= price)]
            side.insert(after[-1] + 1 if after else 0, Resting(owner, producer, price, left))

    def _send_market(self, owner: str, producer: bool, quantity_wh: int) -> None:
        if not self.side(not producer):
            raise Refused("NothingToTrade")
        left, _ = self._take(owner, producer, None, quantity_wh)
        if left:
            self.unfilled.append((owner, left))

    def _take(self, taker: str, sells: bool, limit: int | None, quantity_wh: int) -> tuple[int, bool]:
        """Trades against the best resting orders; (what is left, whether it may not rest)."""
        left = quantity_wh
        other = self.side(not sells)
        for walked in range(MAX_WALK + 1):
            if not left or not other:
                break
            r = other[0]
            if limit is not None and (r.price < limit if sells else r.price > limit):
                break
            if walked == MAX_WALK:
                return left, True
            if limit is None:
                price = r.price
            else:
                price = midpoint(limit, r.price) if sells else midpoint(r.price, limit)
            wanted = min(left, r.remaining_wh)
            seller, buyer = (taker, r.owner) if sells else (r.owner, taker)
            spendable = self._spendable(buyer)
            traded = wanted if cost(wanted, price) <= spendable else affordable_wh(spendable, price)
            if traded:
                amount = cost(traded, price)
                self.wallets[buyer] -= amount
                self.wallets[seller] += amount
                self.trades.append(Trade(seller, buyer, traded, price, amount))
            left -= traded
            r.remaining_wh -= traded
            cut = traded < wanted
            if cut and not sells:
                if left == quantity_wh:
                    raise Refused("InsufficientFunds")
                return left, True
            if cut:
                self.cut.append(r.owner)
            if r.remaining_wh == 0 or cut:
                other.pop(0)
        return left, False
