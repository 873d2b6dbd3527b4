"""On random books the contract clears exactly like the plain-Python reference, and money is
conserved to the wei after every step."""

import pytest
from conftest import MILLI_ETHER, PARAMETERS, assert_conserved
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.reference import Order, clear

ROLES = [(producer, green) for producer in (True, False) for green in (True, False)]
TRADERS_PER_ROLE = 3
# Few distinct prices so that ties are common; a milli-ether of deposit buys ~1-10 kWh.
PRICES = [p * MILLI_ETHER // 10 for p in range(1, 7)]


@pytest.fixture
def traders(enroll):
    """Three traders of each role (green producer, producer, green consumer, consumer)."""
    return {
        (producer, green): [
            enroll(f"{'p' if producer else 'c'}{'g' if green else 'o'}{i}", producer, green, deposit=PARAMETERS.margin)
            for i in range(TRADERS_PER_ROLE)
        ]
        for producer, green in ROLES
    }


bids = st.lists(
    st.tuples(
        st.sampled_from(ROLES),
        st.integers(0, TRADERS_PER_ROLE - 1),
        st.integers(1, 5_000),  # Wh
        st.sampled_from(PRICES),
        st.integers(0, 5 * MILLI_ETHER),  # deposit on top of the margin
        st.integers(0, 100),  # % of the free balance a consumer withdraws after revealing
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda bid: (bid[0], bid[1]),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(book=bids, batch=st.integers(1, 6))
def test_contract_clears_like_the_reference(chain, market, traders, auction, book, batch):
    snapshot = chain.snapshot()
    try:
        # A whole period of its own: block time follows the wall clock between examples.
        period = auction.clock.period + 1
        delivery = period + 1
        auction.clock.move_to(period, "commit")
        accounts = []
        for role, index, wh, price, top_up, _ in book:
            account = traders[role][index]
            if not role[0]:  # a consumer must be able to pay its bid at reveal
                top_up += wh * price // 1000
            if top_up:
                market.deposit(sender=account, value=top_up)
            auction.commit(account, wh, price)
            accounts.append(account)
        auction.clock.move_to(period, "reveal")
        for account in accounts:
            auction.reveal(account)
        auction.clock.move_to(period, "matching")
        for account, (role, _, _, _, _, withdraw_pct) in zip(accounts, book):
            free = market.accountOf(account).freeBalance
            if not role[0] and free * withdraw_pct // 100:
                market.withdraw(free * withdraw_pct // 100, sender=account)
        assert_conserved(market)

        wallets_before = {a.address: market.accountOf(a).wallet for a in accounts}
        orders = [
            Order(a.address, role[0], role[1], wh, price) for a, (role, _, wh, price, _, _) in zip(accounts, book)
        ]
        expected = clear(orders, wallets_before, PARAMETERS.margin)

        address_of = {market.accountOf(a).id: a.address for a in accounts}
        trades, done = [], False
        while not done:
            receipt = market.matchBids(delivery, batch, sender=auction.keeper)
            trades += [
                (address_of[t.sellerId], address_of[t.buyerId], t.quantityWh, t.price, t.cost)
                for t in receipt.events.filter(market.Trade)
            ]
            done = market.bookOf(delivery).stage == 2
            assert_conserved(market)

        assert trades == [(t.seller, t.buyer, t.quantity_wh, t.price, t.cost) for t in expected.trades]
        assert {a.address: market.accountOf(a).wallet for a in accounts} == expected.wallets
        assert market.bookOf(delivery).averagePrice == expected.average_price(PARAMETERS.reference_price)
    finally:
        chain.restore(snapshot)
