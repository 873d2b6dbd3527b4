"""The integrity rules hold in the plain-Python reference on random inputs (the contract tests
check that the contract computes the same figures): a missing reading is never better than any
reading the meter could have posted, the average price stays within the bounds, and no order of
withdrawals takes a seller's proceeds out before its bid is settled; money is conserved."""

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.reference import (
    Factors,
    Ledger,
    Order,
    clear,
    settlement,
    unmetered_settlement,
    wallet_change,
)

factors = st.builds(Factors, *[st.integers(0, 2**16 - 1)] * 4)  # any factors the contract accepts
prices = st.integers(1, 2**64 - 1)


@settings(max_examples=300)
@given(
    producer=st.booleans(),
    declared=st.integers(1, 2_000),
    cleared_share=st.integers(0, 100),
    capacity=st.integers(0, 2_000),
    average=prices,
    factors=factors,
    wallet=st.integers(0, 10**22),
    grid=st.integers(0, 10**22),
)
def test_missing_reading_is_no_better_than_any_reading(
    producer, declared, cleared_share, capacity, average, factors, wallet, grid
):
    cleared = declared * cleared_share // 100
    missing = wallet_change(
        sum(unmetered_settlement(producer, declared, cleared, capacity, average, factors)), wallet, grid
    )
    for reading in range(capacity + 1):
        posted = sum(settlement(producer, declared, cleared, reading, average, factors))
        assert missing <= wallet_change(posted, wallet, grid), reading


@st.composite
def books(draw, floor, cap):
    orders = []
    for i in range(draw(st.integers(1, 10))):
        producer, green = draw(st.booleans()), draw(st.booleans())
        orders.append(Order(f"p{i}", producer, green, draw(st.integers(1, 10_000)), draw(st.integers(floor, cap))))
    wallets = {o.owner: draw(st.integers(0, 10**20)) for o in orders}
    return orders, wallets


@settings(max_examples=300)
@given(data=st.data(), floor=prices)
def test_average_price_stays_within_the_price_bounds(data, floor):
    cap = data.draw(st.integers(floor, 2**64 - 1))
    orders, wallets = data.draw(books(floor, cap))
    result = clear(orders, wallets, margin=data.draw(st.integers(0, 10**18)))
    assert floor <= result.average_price(reference_price=floor) <= cap
    assert all(floor <= trade.price <= cap for trade in result.trades)


@settings(max_examples=300)
@given(
    data=st.data(),
    margin=st.integers(0, 10**16),
    steps=st.lists(
        st.tuples(st.sampled_from(["withdraw", "settle"]), st.integers(0, 9), st.integers(0, 150)), max_size=25
    ),
)
def test_no_withdrawal_order_takes_proceeds_out_before_settlement(data, margin, steps):
    orders, wallets = data.draw(books(10**13, 10**16))
    wallets = {owner: wallet + margin for owner, wallet in wallets.items()}
    deposited = sum(wallets.values()) + 10**18
    clearing = clear(orders, wallets, margin)
    ledger = Ledger.after_matching(clearing, grid_wallet=10**18, margin=margin)
    held_before_sale = {owner: wallet - margin for owner, wallet in wallets.items()}
    withdrawn = dict.fromkeys(wallets, 0)
    unsettled = list(orders)
    for action, index, share in steps:
        if action == "withdraw":
            owner = orders[index % len(orders)].owner
            amount = ledger.free_balance(owner) * share // 100
            before = dict(ledger.wallets)
            if ledger.withdraw(owner, amount):
                withdrawn[owner] += amount
            else:
                assert ledger.wallets == before
        elif unsettled:
            order = unsettled.pop(0)
            reading = None if share > 100 else order.quantity_wh * share // 100
            ledger.settle(order, clearing.cleared_wh[order.owner], reading, 2 * order.quantity_wh, 7 * 10**14)
        for order in unsettled:
            assert withdrawn[order.owner] <= held_before_sale[order.owner]
        assert sum(ledger.wallets.values()) + ledger.grid_wallet + sum(withdrawn.values()) == deposited
