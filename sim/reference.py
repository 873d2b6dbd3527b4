"""Plain-Python reference of the market rules: the green-first double auction and settlement.

The contract must produce exactly what this module produces (the property tests check it on
random books), so both follow the same written rules (``docs/mechanism.md``):

* Admission at reveal: quantity above zero, price within the operator's bounds, quantity within
  what the bidder's meter can measure in a period (rated power x period length); a producer's
  wallet covers the margin, a consumer's wallet less the margin covers quantity x price.
* Queues: green producers and other producers by price ascending; green consumers and other
  consumers by price descending; equal prices in reveal order (the order of ``orders``).
* Green pass: green asks against green bids while the best ask <= the best bid. Full pass: every
  remaining ask against every remaining bid, same rule, taking the better head of each pair of
  queues (lower ask / higher bid; equal prices: earlier reveal).
* A trade is for min(remaining ask, remaining bid) Wh at the midpoint price (rounded down);
  it costs floor(Wh x price / 1000) wei. If the buyer's spendable balance (wallet - margin)
  cannot pay, the trade is cut to the most it can pay and the buyer leaves the auction.
* Settlement of a prosumer values deviations at the period's average price A (the reference
  price when nothing traded): balancing D x A x W' paid by the short side or D x A x W'' paid by
  the grid; reward E' x A x M' from the grid and penalty E'' x A x M'' to the grid. Every
  amount is rounded down to the wei. Without a reading: the worst balancing any reading could
  give (producer: 0 Wh, consumer: its meter's capacity) plus the worst reward/penalty.
* Money (``Ledger``): a seller's proceeds stay locked in its wallet until its bid is settled;
  a debt is taken from the whole wallet, proceeds included, before they are released; every
  payment is capped by the payer's wallet.

Written for clarity, not speed; energy in Wh, prices in wei per kWh, money in wei.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

WH_PER_KWH = 1000
BPS = 10_000
SECONDS_PER_HOUR = 3600


def midpoint(ask: int, bid: int) -> int:
    return (ask + bid) // 2


def cost(wh: int, price: int) -> int:
    return wh * price // WH_PER_KWH


def affordable_wh(spendable: int, price: int) -> int:
    """Largest q with cost(q, price) <= spendable."""
    return (WH_PER_KWH * (spendable + 1) - 1) // price


def scaled_cost(wh: int, price: int, factor_bps: int) -> int:
    return wh * price * factor_bps // (WH_PER_KWH * BPS)


def capacity_wh(rated_power_w: int, period_seconds: int) -> int:
    """What a meter can measure in one period: floor(W x s / 3600) Wh."""
    return rated_power_w * period_seconds // SECONDS_PER_HOUR


def forfeit(wallet: int, margin: int, forfeit_bps: int) -> int:
    """What an unrevealed commit loses to the grid: the forfeit share of the margin, at most the wallet."""
    return min(margin * forfeit_bps // BPS, wallet)


@dataclass(frozen=True)
class Order:
    owner: str
    producer: bool
    green: bool
    quantity_wh: int
    price: int


@dataclass(frozen=True)
class Trade:
    seller: str
    buyer: str
    quantity_wh: int
    price: int
    cost: int


@dataclass
class Clearing:
    trades: list[Trade] = field(default_factory=list)
    wallets: dict[str, int] = field(default_factory=dict)
    cleared_wh: dict[str, int] = field(default_factory=dict)
    # What each order (by reveal index) leaves for the continuous phase; a cut buyer leaves nothing.
    leftover_wh: dict[int, int] = field(default_factory=dict)

    @property
    def traded_wh(self) -> int:
        return sum(t.quantity_wh for t in self.trades)

    def average_price(self, reference_price: int) -> int:
        """A = sum(Q x G) / sum(Q), rounded down; the reference price when nothing traded."""
        if not self.trades:
            return reference_price
        return sum(t.quantity_wh * t.price for t in self.trades) // self.traded_wh


def clear(orders: list[Order], wallets: dict[str, int], margin: int) -> Clearing:
    """Run the green-first double auction on ``orders`` (given in reveal order)."""
    result = Clearing(wallets=dict(wallets), cleared_wh={o.owner: 0 for o in orders})
    remaining = [o.quantity_wh for o in orders]

    def queue(producer: bool, green: bool) -> list[int]:
        members = [i for i, o in enumerate(orders) if o.producer == producer and o.green == green]
        sign = 1 if producer else -1
        return sorted(members, key=lambda i: (sign * orders[i].price, i))

    queues = {
        "green asks": queue(True, True),
        "other asks": queue(True, False),
        "green bids": queue(False, True),
        "other bids": queue(False, False),
    }

    def head(name: str) -> int | None:
        return queues[name][0] if queues[name] else None

    def better(first: str, second: str, ascending: bool) -> str | None:
        """The queue whose head goes first: lower ask / higher bid, then earlier reveal."""
        candidates = [name for name in (first, second) if queues[name]]

        def rank(name: str) -> tuple[int, int]:
            i = head(name)
            return (orders[i].price if ascending else -orders[i].price, i)

        return min(candidates, key=rank) if candidates else None

    def run(pick_ask, pick_bid) -> None:
        while True:
            ask_queue, bid_queue = pick_ask(), pick_bid()
            a = head(ask_queue) if ask_queue else None
            b = head(bid_queue) if bid_queue else None
            if a is None or b is None or orders[a].price > orders[b].price:
                return
            seller, buyer = orders[a].owner, orders[b].owner
            price = midpoint(orders[a].price, orders[b].price)
            wh = min(remaining[a], remaining[b])
            spendable = max(0, result.wallets[buyer] - margin)
            cut = cost(wh, price) > spendable
            if cut:
                wh = affordable_wh(spendable, price)
            if wh > 0:
                amount = cost(wh, price)
                result.wallets[buyer] -= amount
                result.wallets[seller] += amount
                remaining[a] -= wh
                remaining[b] -= wh
                result.cleared_wh[seller] += wh
                result.cleared_wh[buyer] += wh
                result.trades.append(Trade(seller, buyer, wh, price, amount))
            if remaining[a] == 0:
                queues[ask_queue].pop(0)
            if remaining[b] == 0 or cut:
                queues[bid_queue].pop(0)

    run(lambda: "green asks", lambda: "green bids")
    run(
        lambda: better("green asks", "other asks", ascending=True),
        lambda: better("green bids", "other bids", ascending=False),
    )
    result.leftover_wh = {i: remaining[i] for members in queues.values() for i in members if remaining[i]}
    return result


@dataclass(frozen=True)
class Factors:
    """W', W'', M', M'' in basis points; the paper's by default."""

    shortfall_bps: int = 11_000
    surplus_bps: int = 9_000
    reward_bps: int = 100
    penalty_bps: int = 500


def balancing(producer: bool, cleared_wh: int, actual_wh: int, average_price: int, factors: Factors = Factors()) -> int:
    """Wei to the prosumer (negative: to the grid) for the deviation of actual from cleared."""
    deviation = abs(cleared_wh - actual_wh)
    short = actual_wh < cleared_wh if producer else actual_wh > cleared_wh
    if short:
        return -scaled_cost(deviation, average_price, factors.shortfall_bps)
    return scaled_cost(deviation, average_price, factors.surplus_bps)


def reward(declared_wh: int, actual_wh: int, average_price: int, factors: Factors = Factors()) -> int:
    """E' x A x M' - E'' x A x M'' for the declaration against the actual energy."""
    consistent = min(declared_wh, actual_wh)
    inconsistent = abs(declared_wh - actual_wh)
    return scaled_cost(consistent, average_price, factors.reward_bps) - scaled_cost(
        inconsistent, average_price, factors.penalty_bps
    )


def settlement(
    producer: bool, declared_wh: int, cleared_wh: int, actual_wh: int, average_price: int, factors: Factors = Factors()
) -> tuple[int, int]:
    """(balancing, reward) in wei to the prosumer; negative amounts are paid to the grid."""
    return balancing(producer, cleared_wh, actual_wh, average_price, factors), reward(
        declared_wh, actual_wh, average_price, factors
    )


def unmetered_settlement(
    producer: bool, declared_wh: int, cleared_wh: int, capacity: int, average_price: int, factors: Factors = Factors()
) -> tuple[int, int]:
    """(balancing, reward) without a reading: each at its worst over the readings 0..capacity."""
    worst_reading = 0 if producer else capacity
    return balancing(producer, cleared_wh, worst_reading, average_price, factors), min(
        reward(declared_wh, 0, average_price, factors), reward(declared_wh, capacity, average_price, factors)
    )


def wallet_change(owed: int, prosumer_wallet: int, grid_wallet: int) -> int:
    """What actually moves for ``owed`` (signed, to the prosumer): capped by the payer's wallet."""
    return -min(-owed, prosumer_wallet) if owed < 0 else min(owed, grid_wallet)


def refusal_at_reveal(
    order: Order, wallet: int, margin: int, price_floor: int, price_cap: int, capacity: int
) -> str | None:
    """The contract's error for a bid refused at reveal, None when it is admitted."""
    if order.quantity_wh == 0:
        return "InvalidBid"
    if not price_floor <= order.price <= price_cap:
        return "PriceOutOfBounds"
    if order.quantity_wh > capacity:
        return "BidAboveCapacity"
    if order.producer:
        return "InsufficientMargin" if wallet < margin else None
    spendable = max(0, wallet - margin)
    return "InsufficientFunds" if spendable < cost(order.quantity_wh, order.price) else None


@dataclass(frozen=True)
class Settled:
    """One prosumer's settlement, as the contract's Settled event reports it."""

    owner: str
    declared_wh: int
    cleared_wh: int
    actual_wh: int
    metered: bool
    balancing: int
    reward: int
    wallet_change: int


@dataclass
class Ledger:
    """The wallets of one delivery period's prosumers and of the grid, from matching to settlement.

    A prosumer with a bid of the period has the margin locked until that bid is settled, and a
    seller its sale proceeds as well; what is not locked is its free balance, all it may withdraw.
    """

    wallets: dict[str, int]
    grid_wallet: int
    margin: int
    open_bids: set[str]
    locked_proceeds: Counter

    @classmethod
    def after_matching(cls, clearing: Clearing, grid_wallet: int, margin: int) -> Ledger:
        proceeds = Counter()
        for trade in clearing.trades:
            proceeds[trade.seller] += trade.cost
        return cls(dict(clearing.wallets), grid_wallet, margin, set(clearing.cleared_wh), proceeds)

    def free_balance(self, owner: str) -> int:
        locked = (self.margin if owner in self.open_bids else 0) + self.locked_proceeds[owner]
        return max(0, self.wallets[owner] - locked)

    def withdraw(self, owner: str, amount: int) -> bool:
        """Pay out `amount` if the free balance covers it (and it is above zero); False otherwise,
        and nothing changes."""
        if amount == 0 or amount > self.free_balance(owner):
            return False
        self.wallets[owner] -= amount
        return True

    def settle(
        self,
        order: Order,
        cleared_wh: int,
        actual_wh: int | None,
        capacity: int,
        average_price: int,
        factors: Factors = Factors(),
    ) -> Settled:
        """Settle `order`'s bid: with a reading, or as the worst reading when `actual_wh` is None;
        the debt comes out of the whole wallet, then the margin and proceeds are released."""
        owner = order.owner
        if actual_wh is None:
            owed = unmetered_settlement(order.producer, order.quantity_wh, cleared_wh, capacity, average_price, factors)
        else:
            owed = settlement(order.producer, order.quantity_wh, cleared_wh, actual_wh, average_price, factors)
        change = wallet_change(sum(owed), self.wallets[owner], self.grid_wallet)
        self.wallets[owner] += change
        self.grid_wallet -= change
        self.open_bids.discard(owner)
        del self.locked_proceeds[owner]
        return Settled(owner, order.quantity_wh, cleared_wh, actual_wh or 0, actual_wh is not None, *owed, change)
