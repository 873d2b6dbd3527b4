"""On random auction books followed by random limit / market / re-price / cancel / send-to-market
sequences, the continuous book trades exactly like the plain-Python reference, wallet for
wallet, refuses what the reference refuses, and money is conserved after every step."""

import pytest
from ape.exceptions import ContractLogicError
from conftest import MILLI_ETHER, PARAMETERS, assert_conserved
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.continuous_reference import ContinuousBook, Refused
from sim.reference import Order, Trade, clear

PRODUCERS, CONSUMERS = 3, 3
PRICES = [p * MILLI_ETHER // 10 for p in range(1, 7)]
ACTIONS = ["limit", "market", "reprice", "cancel", "send_to_market"]


@pytest.fixture
def traders(enroll):
    """(account, producer) for three producers and three consumers, the consumers' deposits
    small enough that affordability cuts happen."""
    return [(enroll(f"p{i}", True, i % 2 == 0, deposit=PARAMETERS.margin), True) for i in range(PRODUCERS)] + [
        (enroll(f"c{i}", False, i % 2 == 0, deposit=PARAMETERS.margin), False) for i in range(CONSUMERS)
    ]


auction_bids = st.lists(
    st.tuples(st.integers(0, PRODUCERS + CONSUMERS - 1), st.integers(1, 3_000), st.sampled_from(PRICES)),
    max_size=5,
    unique_by=lambda bid: bid[0],
)
actions = st.lists(
    st.tuples(
        st.sampled_from(ACTIONS),
        st.integers(0, PRODUCERS + CONSUMERS - 1),
        st.integers(1, 3_000),  # Wh
        st.sampled_from(PRICES),
    ),
    min_size=1,
    max_size=8,
)
deposits = st.lists(st.integers(0, 3 * MILLI_ETHER), min_size=PRODUCERS + CONSUMERS, max_size=PRODUCERS + CONSUMERS)


def call(book, action, d, account, producer, quantity_wh, price):
    """The contract call for one action, with the hints read just before it is sent."""
    order_id = book.orderIdOf(account)
    if action == "limit":
        return book.placeLimit(d, quantity_wh, price, book.insertionHint(producer, price), sender=account)
    if action == "market":
        return book.placeMarket(d, quantity_wh, sender=account)
    prev = book.previousOf(order_id)
    if action == "cancel":
        return book.cancel(d, order_id, prev, sender=account)
    if action == "send_to_market":
        return book.sendToMarket(d, order_id, prev, sender=account)
    hint = book.insertionHint(producer, price)
    return book.reprice(d, order_id, price, prev, prev if hint == order_id else hint, sender=account)


def book_sides(book, address_of):
    def side(producer):
        ids, orders = book.restingOrders(producer, 0, 100)
        return [(address_of[int(i)], int(price), int(remaining)) for i, (price, remaining, *_) in zip(ids, orders)]

    return side(True), side(False)


def reference_sides(reference):
    def side(orders):
        return [(r.owner, r.price, r.remaining_wh) for r in orders]

    return side(reference.asks), side(reference.bids)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bids=auction_bids, steps=actions, top_ups=deposits)
def test_book_trades_like_the_reference(chain, market, book, traders, auction, keeper, bids, steps, top_ups):
    snapshot = chain.snapshot()
    try:
        period = auction.clock.period + 1
        d = period + 1
        auction.clock.move_to(period, "commit")
        for (account, _), top_up in zip(traders, top_ups):
            if top_up:
                market.deposit(sender=account, value=top_up)
        for index, wh, price in bids:
            account, producer = traders[index]
            if not producer:
                market.deposit(sender=account, value=wh * price // 1000)
            auction.commit(account, wh, price)
        auction.clock.move_to(period, "reveal")
        for index, _, _ in bids:
            auction.reveal(traders[index][0])
        wallets = {a.address: market.accountOf(a).wallet for a, _ in traders}
        orders = [
            Order(traders[i][0].address, traders[i][1], market.accountOf(traders[i][0]).green, wh, price)
            for i, wh, price in bids
        ]
        auction.clock.move_to(period, "matching")
        market.matchBids(d, 1000, sender=keeper)
        book.openBook(d, 100, sender=keeper)
        reference = ContinuousBook.after(orders, clear(orders, wallets, PARAMETERS.margin), PARAMETERS.margin)
        address_of = {market.accountOf(a).id: a.address for a, _ in traders}
        assert book_sides(book, address_of) == reference_sides(reference)

        for action, index, wh, price in steps:
            account, producer = traders[index]
            try:
                expected = reference.apply(action, account.address, producer, wh, price)
            except Refused as refusal:
                with pytest.raises(ContractLogicError) as raised:
                    call(book, action, d, account, producer, wh, price)
                assert refusal.name in repr(raised.value)
            else:
                receipt = call(book, action, d, account, producer, wh, price)
                made = [
                    Trade(address_of[t.sellerId], address_of[t.buyerId], t.quantityWh, t.price, t.cost)
                    for t in receipt.events.filter(book.ContinuousTrade)
                ]
                assert made == expected
            assert book_sides(book, address_of) == reference_sides(reference)
            assert {a.address: market.accountOf(a).wallet for a, _ in traders} == reference.wallets
            assert_conserved(market)
    finally:
        chain.restore(snapshot)
