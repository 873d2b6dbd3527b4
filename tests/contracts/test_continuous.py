"""Continuous trading after the call auction: the spec's worked example, price-time priority,
the walk limit, re-price and cancel, the market's hooks, settlement of both phases, and every
refusal with the book and the wallets unchanged."""

from types import SimpleNamespace

import ape
import pytest
from conftest import GATE_LEAD, MILLI_ETHER, PARAMETERS, SCHEDULE, assert_conserved

from p2pkit.artifacts import load_artifact

KWH = 1000  # Wh
EIP_170_LIMIT = 24_576
MAX_WALK = 16


def trades_of(receipt, book):
    return [
        (int(t.sellerId), int(t.buyerId), int(t.quantityWh), int(t.price))
        for t in receipt.events.filter(book.ContinuousTrade)
    ]


def resting(book, producer):
    """(id, remaining Wh, price) of one side, best first (orders come back as tuples in `Order` order)."""
    ids, orders = book.restingOrders(producer, 0, 100)
    return [(int(i), int(remaining), int(price)) for i, (price, remaining, *_) in zip(ids, orders)]


def snapshot(market, book, accounts):
    """What a refusal must leave as it was: both sides of the book and the wallets."""
    return (resting(book, True), resting(book, False), [market.accountOf(a).wallet for a in accounts])


def ask_at_20(book, d, seller):
    """A 1 kWh ask at 20e-3 ether/kWh, behind every ask at that price."""
    return book.placeLimit(d, 1 * KWH, 20 * MILLI_ETHER, book.insertionHint(True, 20 * MILLI_ETHER), sender=seller)


def id_of(market, account):
    return market.accountOf(account).id


def auction_then_open(auction, book, keeper, bids):
    """Run the call auction of delivery period 1 on `bids`, then bring its leftovers in."""
    auction.run_period(bids, period=0)
    book.openBook(1, 100, sender=keeper)
    return 1


@pytest.fixture
def example(market, book, enroll, auction, keeper):
    """The spec's worked example up to the continuous phase: ask S2 50 kWh @ 30 and bid B2 40 kWh
    @ 20 rest after the auction."""
    s1, s2 = enroll("S1", True, False), enroll("S2", True, False)
    b1, b2 = enroll("B1", False, False), enroll("B2", False, False)
    b3 = enroll("B3", False, False)
    d = auction_then_open(
        auction,
        book,
        keeper,
        [
            (s1, 100 * KWH, 10 * MILLI_ETHER),
            (s2, 50 * KWH, 30 * MILLI_ETHER),
            (b1, 80 * KWH, 40 * MILLI_ETHER),
            (b2, 60 * KWH, 20 * MILLI_ETHER),
        ],
    )
    ids = {name: id_of(market, a) for name, a in (("s1", s1), ("s2", s2), ("b1", b1), ("b2", b2), ("b3", b3))}
    return SimpleNamespace(s1=s1, s2=s2, b1=b1, b2=b2, b3=b3, d=d, ids=ids, accounts=[s1, s2, b1, b2, b3])


@pytest.fixture
def sellers(enroll):
    return [enroll(f"seller{i}", True, False) for i in range(MAX_WALK + 2)]


@pytest.fixture
def empty_book(market, book, prosumers, auction, keeper):
    """An auction without bids, so the book of delivery period 1 opens empty."""
    return auction_then_open(auction, book, keeper, [])


# ------------------------------------------------------------------ the worked example


def test_leftovers_rest_at_their_sealed_prices(book, example):
    assert resting(book, True) == [(example.ids["s2"], 50 * KWH, 30 * MILLI_ETHER)]
    assert resting(book, False) == [(example.ids["b2"], 40 * KWH, 20 * MILLI_ETHER)]
    assert book.book().open


def test_worked_example_reprice_crosses_at_the_midpoint(market, book, example):
    ids = example.ids
    receipt = book.reprice(example.d, ids["s2"], 18 * MILLI_ETHER, 0, 0, sender=example.s2)
    assert trades_of(receipt, book) == [(ids["s2"], ids["b2"], 40 * KWH, 19 * MILLI_ETHER)]
    assert resting(book, True) == [(ids["s2"], 10 * KWH, 18 * MILLI_ETHER)]
    assert resting(book, False) == []


def test_worked_example_market_buy_trades_at_the_resting_price(market, book, example):
    ids = example.ids
    book.reprice(example.d, ids["s2"], 18 * MILLI_ETHER, 0, 0, sender=example.s2)
    receipt = book.placeMarket(example.d, 15 * KWH, sender=example.b3)
    assert trades_of(receipt, book) == [(ids["s2"], ids["b3"], 10 * KWH, 18 * MILLI_ETHER)]
    (unfilled,) = receipt.events.filter(book.Unfilled)
    assert (unfilled.orderId, unfilled.quantityWh) == (ids["b3"], 5 * KWH)
    assert resting(book, True) == resting(book, False) == []
    with ape.reverts(book.NoRestingOrder, deliveryPeriod=example.d, orderId=ids["s2"]):
        book.cancel(example.d, ids["s2"], 0, sender=example.s2)


def test_worked_example_money_and_totals(market, book, example):
    ids = example.ids
    before = {name: market.accountOf(getattr(example, name)).wallet for name in ids}
    book.reprice(example.d, ids["s2"], 18 * MILLI_ETHER, 0, 0, sender=example.s2)
    book.placeMarket(example.d, 15 * KWH, sender=example.b3)
    after = {name: market.accountOf(getattr(example, name)).wallet for name in ids}
    assert after["b2"] - before["b2"] == -40 * 19 * MILLI_ETHER
    assert after["b3"] - before["b3"] == -10 * 18 * MILLI_ETHER
    assert after["s2"] - before["s2"] == 40 * 19 * MILLI_ETHER + 10 * 18 * MILLI_ETHER
    summary = market.bookOf(example.d)
    assert summary.tradedWh == (80 + 20 + 40 + 10) * KWH
    value = 80 * 25 + 20 * 15 + 40 * 19 + 10 * 18  # kWh x milli-ether
    assert summary.averagePrice == value * MILLI_ETHER // 150
    assert_conserved(market)


def test_settlement_counts_both_phases(market, book, example, clock, keeper):
    book.reprice(example.d, example.ids["s2"], 18 * MILLI_ETHER, 0, 0, sender=example.s2)
    book.placeMarket(example.d, 15 * KWH, sender=example.b3)
    clock.move_to(example.d + 2, "commit")  # no more readings: everyone settles unmetered
    receipt = market.settle(example.d, 100, sender=keeper)
    cleared = {int(e.prosumerId): (int(e.declaredWh), int(e.clearedWh)) for e in receipt.events.filter(market.Settled)}
    ids = example.ids
    assert cleared[ids["s2"]] == (50 * KWH, 50 * KWH)
    assert cleared[ids["b2"]] == (60 * KWH, 60 * KWH)
    assert cleared[ids["b3"]] == (15 * KWH, 10 * KWH)  # a market order declares its quantity
    assert market.accountOf(example.b3).openBids == 0
    assert_conserved(market)


# ------------------------------------------------------------------ limit orders


def test_limit_order_that_does_not_cross_rests(book, example):
    receipt = book.placeLimit(example.d, 5 * KWH, 15 * MILLI_ETHER, 0, sender=example.b3)
    assert trades_of(receipt, book) == []
    (rested,) = receipt.events.filter(book.OrderRested)
    assert (rested.orderId, rested.quantityWh, rested.price) == (example.ids["b3"], 5 * KWH, 15 * MILLI_ETHER)
    # below B2's 20: it rests behind it
    assert [i for i, _, _ in resting(book, False)] == [example.ids["b2"], example.ids["b3"]]


def test_limit_order_that_crosses_trades_then_rests_the_rest(book, example):
    receipt = book.placeLimit(example.d, 60 * KWH, 34 * MILLI_ETHER, 0, sender=example.b3)
    assert trades_of(receipt, book) == [(example.ids["s2"], example.ids["b3"], 50 * KWH, 32 * MILLI_ETHER)]
    assert resting(book, True) == []
    assert resting(book, False)[0] == (example.ids["b3"], 10 * KWH, 34 * MILLI_ETHER)


def test_equal_prices_trade_earlier_order_first(market, book, empty_book, sellers, enroll):
    first, second = sellers[0], sellers[1]
    book.placeLimit(empty_book, 1 * KWH, 20 * MILLI_ETHER, 0, sender=first)
    book.placeLimit(empty_book, 1 * KWH, 20 * MILLI_ETHER, book.insertionHint(True, 20 * MILLI_ETHER), sender=second)
    buyer = enroll("buyer", False, False)
    receipt = book.placeMarket(empty_book, 1 * KWH, sender=buyer)
    assert [t[0] for t in trades_of(receipt, book)] == [id_of(market, first)]


def test_better_price_trades_first(market, book, empty_book, sellers, enroll):
    book.placeLimit(empty_book, 1 * KWH, 25 * MILLI_ETHER, 0, sender=sellers[0])
    book.placeLimit(empty_book, 1 * KWH, 20 * MILLI_ETHER, 0, sender=sellers[1])
    buyer = enroll("buyer", False, False)
    receipt = book.placeLimit(empty_book, 2 * KWH, 30 * MILLI_ETHER, 0, sender=buyer)
    assert trades_of(receipt, book) == [
        (id_of(market, sellers[1]), id_of(market, buyer), 1 * KWH, 25 * MILLI_ETHER),
        (id_of(market, sellers[0]), id_of(market, buyer), 1 * KWH, 27_500 * MILLI_ETHER // 1000),
    ]


def test_limit_order_still_crossing_after_the_walk_limit_does_not_rest(book, empty_book, sellers, enroll):
    for seller in sellers:
        ask_at_20(book, empty_book, seller)
    buyer = enroll("buyer", False, False)
    receipt = book.placeLimit(empty_book, 30 * KWH, 20 * MILLI_ETHER, 0, sender=buyer)
    assert len(trades_of(receipt, book)) == MAX_WALK
    (unfilled,) = receipt.events.filter(book.Unfilled)
    assert unfilled.quantityWh == (30 - MAX_WALK) * KWH
    assert resting(book, False) == []
    assert len(resting(book, True)) == len(sellers) - MAX_WALK


# ------------------------------------------------------------------ market orders


def test_market_order_walks_at_most_the_walk_limit(book, empty_book, sellers, enroll):
    for seller in sellers:
        ask_at_20(book, empty_book, seller)
    buyer = enroll("buyer", False, False)
    receipt = book.placeMarket(empty_book, 30 * KWH, sender=buyer)
    assert len(trades_of(receipt, book)) == MAX_WALK
    (unfilled,) = receipt.events.filter(book.Unfilled)
    assert unfilled.quantityWh == (30 - MAX_WALK) * KWH


def test_market_buy_is_cut_to_what_the_buyer_can_pay(market, book, example, enroll):
    poor = enroll("poor", False, False, deposit=PARAMETERS.margin + 5 * 30 * MILLI_ETHER)
    receipt = book.placeMarket(example.d, 50 * KWH, sender=poor)
    assert trades_of(receipt, book) == [(example.ids["s2"], id_of(market, poor), 5 * KWH, 30 * MILLI_ETHER)]
    assert market.accountOf(poor).wallet == PARAMETERS.margin
    assert_conserved(market)


def test_market_sell_into_resting_bids(market, book, example, enroll):
    seller = enroll("seller", True, False)
    receipt = book.placeMarket(example.d, 10 * KWH, sender=seller)
    assert trades_of(receipt, book) == [(id_of(market, seller), example.ids["b2"], 10 * KWH, 20 * MILLI_ETHER)]
    assert resting(book, False) == [(example.ids["b2"], 30 * KWH, 20 * MILLI_ETHER)]


def test_send_to_market_trades_what_rests(market, book, example):
    receipt = book.sendToMarket(example.d, example.ids["b2"], 0, sender=example.b2)
    assert trades_of(receipt, book) == [(example.ids["s2"], example.ids["b2"], 40 * KWH, 30 * MILLI_ETHER)]
    assert resting(book, False) == []
    assert resting(book, True) == [(example.ids["s2"], 10 * KWH, 30 * MILLI_ETHER)]


# ------------------------------------------------------------------ re-price and cancel


def test_reprice_loses_time_priority(market, book, empty_book, sellers):
    a, b = sellers[0], sellers[1]
    book.placeLimit(empty_book, 1 * KWH, 20 * MILLI_ETHER, 0, sender=a)
    book.placeLimit(empty_book, 1 * KWH, 20 * MILLI_ETHER, book.insertionHint(True, 20 * MILLI_ETHER), sender=b)
    receipt = book.reprice(
        empty_book, id_of(market, a), 20 * MILLI_ETHER, 0, book.insertionHint(True, 20 * MILLI_ETHER), sender=a
    )
    (event,) = receipt.events.filter(book.OrderRepriced)
    assert (event.oldPrice, event.newPrice) == (20 * MILLI_ETHER, 20 * MILLI_ETHER)
    assert [i for i, _, _ in resting(book, True)] == [id_of(market, b), id_of(market, a)]


def test_cancel_removes_the_rest(market, book, empty_book, sellers):
    for seller in sellers[:3]:
        ask_at_20(book, empty_book, seller)
    middle = id_of(market, sellers[1])
    receipt = book.cancel(empty_book, middle, book.previousOf(middle), sender=sellers[1])
    (event,) = receipt.events.filter(book.OrderCancelled)
    assert (event.orderId, event.remainingWh) == (middle, 1 * KWH)
    assert [i for i, _, _ in resting(book, True)] == [id_of(market, sellers[0]), id_of(market, sellers[2])]


def test_resting_bid_that_cannot_pay_is_cut(market, book, example, enroll):
    free = market.accountOf(example.b2).freeBalance
    market.withdraw(free - 10 * 30 * MILLI_ETHER, sender=example.b2)  # pays 10 kWh at 30 now
    seller = enroll("seller", True, False)
    receipt = book.placeLimit(example.d, 40 * KWH, 20 * MILLI_ETHER, 0, sender=seller)
    assert trades_of(receipt, book) == [(id_of(market, seller), example.ids["b2"], 15 * KWH, 20 * MILLI_ETHER)]
    (cut,) = receipt.events.filter(book.OrderCut)
    assert cut.orderId == example.ids["b2"]
    assert resting(book, False) == []
    assert resting(book, True) == [
        (id_of(market, seller), 25 * KWH, 20 * MILLI_ETHER),
        (example.ids["s2"], 50 * KWH, 30 * MILLI_ETHER),
    ]
    assert_conserved(market)


def test_continuous_sale_proceeds_stay_locked_until_settlement(market, book, example):
    before = market.accountOf(example.s2).freeBalance
    book.reprice(example.d, example.ids["s2"], 18 * MILLI_ETHER, 0, 0, sender=example.s2)
    record = market.accountOf(example.s2)
    assert record.freeBalance == before
    assert record.lockedProceeds == 40 * 19 * MILLI_ETHER


# ------------------------------------------------------------------ refusals, state unchanged


def test_orders_refused_before_the_book_opens(market, book, example, auction, clock):
    with ape.reverts(book.OutsideWindow, deliveryPeriod=example.d + 1):
        book.placeLimit(example.d + 1, 1 * KWH, 20 * MILLI_ETHER, 0, sender=example.b3)


def test_open_refused_before_the_auction_completes(book, prosumers, clock, keeper):
    clock.move_to(0, "reveal")
    with ape.reverts(book.AuctionNotComplete, deliveryPeriod=1):
        book.openBook(1, 10, sender=keeper)


def test_open_refused_once_open(book, example, keeper):
    with ape.reverts(book.BookAlreadyOpen, deliveryPeriod=example.d):
        book.openBook(example.d, 10, sender=keeper)


def test_orders_refused_after_gate_closure(market, book, example, chain, clock):
    closure = book.gateClosure(example.d)
    assert closure == clock.start_of(example.d) - GATE_LEAD
    chain.mine(timestamp=closure)
    before = snapshot(market, book, example.accounts)
    with ape.reverts(book.OutsideWindow, deliveryPeriod=example.d, gateClosure=closure):
        book.reprice(example.d, example.ids["s2"], 18 * MILLI_ETHER, 0, 0, sender=example.s2)
    with ape.reverts(book.OutsideWindow):
        book.placeMarket(example.d, 1 * KWH, sender=example.b3)
    assert snapshot(market, book, example.accounts) == before


def test_cancel_refused_to_another_account(market, book, example):
    before = snapshot(market, book, example.accounts)
    with ape.reverts(book.NotOwner, orderId=example.ids["s2"]):
        book.cancel(example.d, example.ids["s2"], 0, sender=example.b2)
    assert snapshot(market, book, example.accounts) == before


def test_reprice_refused_to_another_account(market, book, example):
    before = snapshot(market, book, example.accounts)
    with ape.reverts(book.NotOwner, orderId=example.ids["b2"]):
        book.reprice(example.d, example.ids["b2"], 25 * MILLI_ETHER, 0, 0, sender=example.s2)
    assert snapshot(market, book, example.accounts) == before


def test_cancel_refused_without_a_resting_order(market, book, example):
    before = snapshot(market, book, example.accounts)
    with ape.reverts(book.NoRestingOrder, deliveryPeriod=example.d, orderId=example.ids["b1"]):
        book.cancel(example.d, example.ids["b1"], 0, sender=example.b1)  # B1 was filled
    assert snapshot(market, book, example.accounts) == before


def test_limit_order_refused_outside_the_price_bounds(market, book, example):
    before = snapshot(market, book, example.accounts)
    above = PARAMETERS.price_cap + 1
    with ape.reverts(book.PriceOutOfBounds, price=above):
        book.placeLimit(example.d, 1 * KWH, above, 0, sender=example.b3)
    with ape.reverts(book.PriceOutOfBounds, price=PARAMETERS.price_floor - 1):
        book.reprice(example.d, example.ids["s2"], PARAMETERS.price_floor - 1, 0, 0, sender=example.s2)
    assert snapshot(market, book, example.accounts) == before


def test_limit_bid_refused_when_the_buyer_cannot_pay(market, book, example, enroll):
    poor = enroll("poor", False, False, deposit=PARAMETERS.margin + 1)
    before = snapshot(market, book, [*example.accounts, poor])
    with ape.reverts(book.InsufficientFunds, spendable=1, required=10 * 20 * MILLI_ETHER):
        book.placeLimit(example.d, 10 * KWH, 20 * MILLI_ETHER, 0, sender=poor)
    assert snapshot(market, book, [*example.accounts, poor]) == before
    assert market.accountOf(poor).openBids == 0


def test_market_buy_refused_when_the_buyer_cannot_pay_one_wh(market, book, example, enroll):
    poor = enroll("poor", False, False, deposit=PARAMETERS.margin)
    before = snapshot(market, book, [*example.accounts, poor])
    with ape.reverts(book.InsufficientFunds, spendable=0):
        book.placeMarket(example.d, 10 * KWH, sender=poor)
    assert snapshot(market, book, [*example.accounts, poor]) == before


def test_market_order_refused_into_an_empty_side(market, book, empty_book, sellers):
    with ape.reverts(book.NothingToTrade, deliveryPeriod=empty_book):
        book.placeMarket(empty_book, 1 * KWH, sender=sellers[0])
    assert market.accountOf(sellers[0]).openBids == 0


def test_second_order_refused_while_one_rests(market, book, example):
    before = snapshot(market, book, example.accounts)
    with ape.reverts(book.OrderAlreadyResting, orderId=example.ids["b2"]):
        book.placeLimit(example.d, 1 * KWH, 10 * MILLI_ETHER, 0, sender=example.b2)
    assert snapshot(market, book, example.accounts) == before


def test_order_refused_to_an_unauthorized_account(market, book, example, operator):
    market.setAuthorization(example.b3, False, sender=operator)
    with ape.reverts(book.NotAuthorized):
        book.placeLimit(example.d, 1 * KWH, 10 * MILLI_ETHER, 0, sender=example.b3)


def test_order_refused_above_the_meters_capacity(market, book, example, enroll):
    small = enroll("small", False, False, rated_power_w=4_000)  # 1 kWh in 15 minutes
    with ape.reverts(book.BidAboveCapacity, quantityWh=2 * KWH, capacityWh=1 * KWH):
        book.placeLimit(example.d, 2 * KWH, 10 * MILLI_ETHER, 0, sender=small)


def test_stale_removal_hint_refused(market, book, empty_book, sellers):
    for seller in sellers[:2]:
        ask_at_20(book, empty_book, seller)
    second = id_of(market, sellers[1])
    with ape.reverts(book.InvalidHint, hintId=0):
        book.cancel(empty_book, second, 0, sender=sellers[1])


# ------------------------------------------------------------------ the market's hooks


def test_hooks_refused_to_anyone_but_the_book(market, book, example, stranger):
    with ape.reverts(market.NotContinuousBook, caller=stranger.address):
        market.recordContinuousTrade(example.d, example.ids["s2"], example.ids["b2"], 1, 1, sender=stranger)
    with ape.reverts(market.NotContinuousBook, caller=stranger.address):
        market.admitContinuous(stranger, example.d, 1, 1, 1, sender=stranger)


def test_book_named_once_by_the_operator_only(market, book, operator, stranger):
    with ape.reverts(market.NotOperator):
        market.setContinuousBook(stranger, sender=stranger)
    with ape.reverts(market.ContinuousBookAlreadySet, book=book.address):
        market.setContinuousBook(stranger, sender=operator)


def test_gate_lead_must_leave_a_window(market, continuous_book_contract, operator):
    lead = SCHEDULE.period_length - SCHEDULE.reveal_end
    with ape.reverts(continuous_book_contract.InvalidGateLead, gateLead=lead):
        continuous_book_contract.deploy(market, lead, sender=operator)


@pytest.mark.parametrize("name", ["EnergyMarket", "ContinuousBook"])
def test_deployed_code_fits_the_eip_170_limit(name):
    assert len(bytes.fromhex(load_artifact(name)["deployedBytecode"][2:])) < EIP_170_LIMIT
