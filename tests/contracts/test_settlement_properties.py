"""On random books, readings and withdrawal orders, the contract admits, clears and settles
exactly like the plain-Python reference (``sim.reference``), and after every step:

* money is conserved to the wei;
* no seller takes out more than it held before its sale: its proceeds stay until settlement;
* the average price lies within the operator's bounds.

Readings may be missing or above what the meter can measure (refused, so missing); bids may lie
outside the price bounds or above the meter's capacity (refused at reveal, then forfeited); the
grid may withdraw part of its wallet, so that what it owes is capped.
"""

import ape
import pytest
from conftest import MILLI_ETHER, PARAMETERS, SCHEDULE, assert_conserved
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.reference import Factors, Ledger, Order, capacity_wh, clear, forfeit, refusal_at_reveal

ROLES = [(producer, green) for producer in (True, False) for green in (True, False)]
TRADERS_PER_ROLE = 2
RATED_POWERS_W = (4_000, 20_000)  # trader 0 of a role measures 1 kWh a period, trader 1 5 kWh
PRICES = [
    PARAMETERS.price_floor - 1,  # refused: below the floor
    PARAMETERS.price_floor,
    3 * 10**14,
    6 * 10**14,
    9 * 10**14,
    PARAMETERS.price_cap,
    PARAMETERS.price_cap + 1,  # refused: above the cap
]
FACTORS = Factors(
    PARAMETERS.shortfall_factor_bps,
    PARAMETERS.surplus_factor_bps,
    PARAMETERS.reward_factor_bps,
    PARAMETERS.penalty_factor_bps,
)
GRID_DEPOSIT = 2 * MILLI_ETHER


@pytest.fixture
def traders(enroll, market, grid):
    """Two traders of each role, with meters of RATED_POWERS_W; the grid holds GRID_DEPOSIT."""
    market.deposit(sender=grid, value=GRID_DEPOSIT)
    return {
        role: [
            enroll(
                f"{'p' if role[0] else 'c'}{'g' if role[1] else 'o'}{i}",
                *role,
                deposit=PARAMETERS.margin,
                rated_power_w=RATED_POWERS_W[i],
            )
            for i in range(TRADERS_PER_ROLE)
        ]
        for role in ROLES
    }


bids = st.lists(
    st.tuples(
        st.sampled_from(ROLES),
        st.integers(0, TRADERS_PER_ROLE - 1),
        st.integers(1, 6_000),  # Wh; above 1 kWh or 5 kWh it exceeds the trader's meter
        st.sampled_from(PRICES),
        st.booleans(),  # a consumer deposits what its bid may cost (else it may be refused)
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda bid: (bid[0], bid[1]),
)
# A reading per bid, as a share (per mille) of the meter's capacity: None is no reading,
# above 1000 is more than the meter can measure.
readings = st.lists(st.one_of(st.none(), st.integers(0, 1_100)), min_size=8, max_size=8)
# Who tries to withdraw, and how much, as a share (%) of what the reference says is free;
# index -1 is the grid. Above 100 % must be refused.
withdrawals = st.lists(st.tuples(st.integers(-1, 7), st.integers(1, 150)), max_size=6)


def try_withdraw(market, ledger, who, share, grid):
    """Withdraw `share` % of `who`'s free balance; the contract refuses exactly what the
    reference refuses, and a refusal changes nothing."""
    if who is None:
        amount = ledger.grid_wallet * share // 100
        allowed = 0 < amount <= ledger.grid_wallet
        account = grid
    else:
        amount = ledger.free_balance(who.address) * share // 100
        allowed = ledger.withdraw(who.address, amount)
        account = who
    before = market.accountOf(account).wallet
    if allowed:
        market.withdraw(amount, sender=account)
        if who is None:
            ledger.grid_wallet -= amount
    elif amount == 0:
        with ape.reverts(market.ZeroAmount):
            market.withdraw(amount, sender=account)
    else:
        with ape.reverts(market.InsufficientFreeBalance):
            market.withdraw(amount, sender=account)
    assert market.accountOf(account).wallet == before - (amount if allowed else 0)
    assert_conserved(market)
    return amount if allowed else 0


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    book=bids,
    metered=readings,
    early=withdrawals,
    late=withdrawals,
    match_batch=st.integers(1, 6),
    settle_batch=st.integers(1, 4),
)
def test_contract_settles_like_the_reference(
    chain, market, grid, traders, enroll, auction, book, metered, early, late, match_batch, settle_batch
):
    snapshot = chain.snapshot()
    try:
        period = auction.clock.period + 1
        delivery = period + 1
        auction.clock.move_to(period, "commit")
        accounts, capacity, orders = [], {}, {}
        for role, index, wh, price, affords in book:
            account = traders[role][index]
            if not role[0] and affords:
                market.deposit(sender=account, value=wh * price // 1000 + 1)
            auction.commit(account, wh, price)
            accounts.append(account)
            capacity[account.address] = capacity_wh(RATED_POWERS_W[index], SCHEDULE.period_length)
            orders[account.address] = Order(account.address, role[0], role[1], wh, price)

        # Reveal: the contract admits exactly the bids the reference admits.
        auction.clock.move_to(period, "reveal")
        admitted = []
        for account in accounts:
            order = orders[account.address]
            wallet = market.accountOf(account).wallet
            refusal = refusal_at_reveal(
                order,
                wallet,
                PARAMETERS.margin,
                PARAMETERS.price_floor,
                PARAMETERS.price_cap,
                capacity[account.address],
            )
            if refusal is None:
                auction.reveal(account)
                admitted.append(account)
            else:
                with ape.reverts(getattr(market, refusal)):
                    auction.reveal(account)
        auction.clock.move_to(period, "matching")
        for account in accounts:
            if account not in admitted:
                wallet = market.accountOf(account).wallet
                receipt = market.forfeitUnrevealed(account, sender=auction.keeper)
                (event,) = receipt.events.filter(market.BidForfeited)
                assert event.amount == forfeit(wallet, PARAMETERS.margin, PARAMETERS.forfeit_bps)

        # Matching: the reference's trades, wallets and average price, which stays in bounds.
        wallets = {a.address: market.accountOf(a).wallet for a in admitted}
        expected = clear([orders[a.address] for a in admitted], wallets, PARAMETERS.margin)
        trades = []
        while market.bookOf(delivery).stage != 2:
            receipt = market.matchBids(delivery, match_batch, sender=auction.keeper)
            trades += [(t.quantityWh, t.price, t.cost) for t in receipt.events.filter(market.Trade)]
            assert_conserved(market)
        assert trades == [(t.quantity_wh, t.price, t.cost) for t in expected.trades]
        average = market.bookOf(delivery).averagePrice
        assert average == expected.average_price(PARAMETERS.reference_price)
        assert PARAMETERS.price_floor <= average <= PARAMETERS.price_cap
        assert {a.address: market.accountOf(a).wallet for a in admitted} == expected.wallets

        ledger = Ledger.after_matching(expected, market.accountOf(grid).wallet, PARAMETERS.margin)
        held_before_sale = {a.address: wallets[a.address] - PARAMETERS.margin for a in admitted}
        withdrawn = {a.address: 0 for a in admitted}

        def withdraw_some(attempts):
            for index, share in attempts:
                if index == -1:
                    try_withdraw(market, ledger, None, share, grid)
                elif index < len(admitted):
                    withdrawn[admitted[index].address] += try_withdraw(market, ledger, admitted[index], share, grid)

        withdraw_some(early)

        # Readings: refused above the meter's capacity, and then missing.
        auction.clock.move_to(delivery + 1, "commit")
        actual = {}
        for account, per_mille in zip(admitted, metered):
            if per_mille is None:
                continue
            wh = capacity[account.address] * per_mille // 1000
            meter, number = enroll.meters[account.address], enroll.numbers[account.address]
            if wh > capacity[account.address]:
                with ape.reverts(market.ReadingAboveCapacity, energyWh=wh, capacityWh=capacity[account.address]):
                    market.submitReading(delivery, number, wh, sender=meter)
            else:
                market.submitReading(delivery, number, wh, sender=meter)
                actual[account.address] = wh

        # Settlement in batches once no reading can arrive, withdrawals in between.
        auction.clock.move_to(delivery + 2, "commit")
        settled = []
        while market.bookOf(delivery).settledCount < len(admitted):
            receipt = market.settle(delivery, settle_batch, sender=auction.keeper)
            for event in receipt.events.filter(market.Settled):
                owner = admitted[len(settled)].address
                order = orders[owner]
                # Until its own settlement, no seller got out more than it held before its sale.
                assert withdrawn[owner] <= held_before_sale[owner]
                want = ledger.settle(
                    order, expected.cleared_wh[owner], actual.get(owner), capacity[owner], average, FACTORS
                )
                got = (
                    event.declaredWh,
                    event.clearedWh,
                    event.actualWh,
                    event.metered,
                    event.balancing,
                    event.reward,
                    event.walletChange,
                )
                assert got == (
                    want.declared_wh,
                    want.cleared_wh,
                    want.actual_wh,
                    want.metered,
                    want.balancing,
                    want.reward,
                    want.wallet_change,
                )
                settled.append(owner)
            assert_conserved(market)
            withdraw_some(late[:2])
            late = late[2:]

        assert {a.address: market.accountOf(a).wallet for a in admitted} == ledger.wallets
        assert market.accountOf(grid).wallet == ledger.grid_wallet
        assert all(market.accountOf(a).lockedProceeds == 0 for a in admitted)
    finally:
        chain.restore(snapshot)
