"""Plain-Python reference of the market rules: the green-first double auction and settlement.

The contract must produce exactly what this module produces (the property tests check it on
random books), so both follow the same written rules (``docs/mechanism.md``):

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
  amount is rounded down to the wei.

Written for clarity, not speed; energy in Wh, prices in wei per kWh, money in wei.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WH_PER_KWH = 1000
BPS = 10_000


def midpoint(ask: int, bid: int) -> int:
    return (ask + bid) // 2


def cost(wh: int, price: int) -> int:
    return wh * price // WH_PER_KWH


def affordable_wh(spendable: int, price: int) -> int:
    """Largest q with cost(q, price) <= spendable."""
    return (WH_PER_KWH * (spendable + 1) - 1) // price


def scaled_cost(wh: int, price: int, factor_bps: int) -> int:
    return wh * price * factor_bps // (WH_PER_KWH * BPS)


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
    return result


def settlement(
    producer: bool,
    declared_wh: int,
    cleared_wh: int,
    actual_wh: int,
    average_price: int,
    shortfall_bps: int = 11_000,
    surplus_bps: int = 9_000,
    reward_bps: int = 100,
    penalty_bps: int = 500,
) -> tuple[int, int]:
    """(balancing, reward) in wei to the prosumer; negative amounts are paid to the grid."""
    deviation = abs(cleared_wh - actual_wh)
    short = actual_wh < cleared_wh if producer else actual_wh > cleared_wh
    if short:
        balancing = -scaled_cost(deviation, average_price, shortfall_bps)
    else:
        balancing = scaled_cost(deviation, average_price, surplus_bps)
    consistent = min(declared_wh, actual_wh)
    inconsistent = abs(declared_wh - actual_wh)
    reward = scaled_cost(consistent, average_price, reward_bps) - scaled_cost(inconsistent, average_price, penalty_bps)
    return balancing, reward


def wallet_change(owed: int, prosumer_wallet: int, grid_wallet: int) -> int:
    """What actually moves for ``owed`` (signed, to the prosumer): capped by the payer's wallet."""
    return -min(-owed, prosumer_wallet) if owed < 0 else min(owed, grid_wallet)
