"""Meter readings and settlement: the paper's checks at 14:00 and 18:30 reproduced through the
contracts, the reading rules, and every refusal of readings and settlement."""

from decimal import Decimal

import ape
import pytest
from conftest import assert_conserved

E12 = 10**12  # the paper quotes prices in 1e-3 ether/kWh = 1e15 wei/kWh; 0.757e-3 = 757 x 1e12
METER_NUMBER = 201907150001


def milli_ether(wei) -> Decimal:
    """Wei in 1e-3 ether rounded to the paper's 3 decimals."""
    return round(Decimal(int(wei)) / 10**15, 3)


@pytest.fixture
def load_meter(market, operator, prosumers, meter):
    market.bindMeter(prosumers.load, meter, METER_NUMBER, sender=operator)
    return meter


@pytest.fixture
def at_14_00(market, prosumers, auction):
    """The paper's 14:00 book (table 1, trades 4-6): wind 0.43 kWh, controllable 0.12 kWh,
    EV 0.25 kWh, ordinary load declares 1.02 kWh. Returns the matching receipt."""
    p = prosumers
    return auction.run_period(
        [
            (p.wind, 430, 700 * E12),
            (p.controllable, 120, 734 * E12),
            (p.ev, 250, 786 * E12),
            (p.load, 1020, 824 * E12),
        ]
    )


def settle_delivery_period_1(market, clock, keeper):
    """Settle period 1 once no more readings can arrive (unmetered prosumers settle as such)."""
    clock.move_to(3, "commit")
    return market.settle(1, 100, sender=keeper)


def settled_event(receipt, market, prosumer):
    prosumer_id = market.accountOf(prosumer).id
    (event,) = [e for e in receipt.events.filter(market.Settled) if e.prosumerId == prosumer_id]
    return event


def test_paper_14_00_trades_match_table_1(market, prosumers, at_14_00):
    names = {market.accountOf(a).id: n for n, a in zip(("wind", "controllable", "ev", "load"), prosumers.all())}
    trades = [
        (names[t.sellerId], names[t.buyerId], Decimal(t.quantityWh) / 1000, milli_ether(t.price * 1000) / 1000)
        for t in at_14_00.events.filter(market.Trade)
    ]
    assert trades == [
        ("wind", "ev", Decimal("0.25"), Decimal("0.743")),
        ("wind", "load", Decimal("0.18"), Decimal("0.762")),
        ("controllable", "load", Decimal("0.12"), Decimal("0.779")),
    ]
    assert milli_ether(market.bookOf(1).averagePrice) == Decimal("0.757")


def test_paper_14_00_balancing(market, prosumers, at_14_00, load_meter, clock, keeper):
    clock.move_to(2, "commit")
    market.submitReading(1, METER_NUMBER, 1150, sender=load_meter)  # 0.85 kWh above 0.30 cleared
    event = settled_event(settle_delivery_period_1(market, clock, keeper), market, prosumers.load)
    assert (event.clearedWh, event.actualWh) == (300, 1150)
    assert milli_ether(event.balancing) == Decimal("-0.708")


def test_paper_14_00_reward_and_penalty(market, prosumers, at_14_00, load_meter, clock, keeper):
    clock.move_to(2, "commit")
    market.submitReading(1, METER_NUMBER, 1150, sender=load_meter)
    event = settled_event(settle_delivery_period_1(market, clock, keeper), market, prosumers.load)
    assert milli_ether(event.reward) == Decimal("0.003")
    assert event.walletChange == event.balancing + event.reward


def test_paper_18_30_balancing(market, prosumers, auction, load_meter, clock, keeper):
    p = prosumers
    auction.run_period([(p.controllable, 2000, 700 * E12), (p.load, 1000, 746 * E12)])
    assert milli_ether(market.bookOf(1).averagePrice) == Decimal("0.723")
    clock.move_to(2, "commit")
    market.submitReading(1, METER_NUMBER, 920, sender=load_meter)  # 0.08 kWh less than cleared
    event = settled_event(settle_delivery_period_1(market, clock, keeper), market, p.load)
    assert milli_ether(event.balancing) == Decimal("0.052")


def test_settlement_moves_money_between_prosumer_and_grid_only(
    market, prosumers, grid, at_14_00, load_meter, clock, keeper
):
    clock.move_to(2, "commit")
    market.submitReading(1, METER_NUMBER, 1150, sender=load_meter)
    load_before, grid_before = market.accountOf(prosumers.load).wallet, market.accountOf(grid).wallet
    event = settled_event(settle_delivery_period_1(market, clock, keeper), market, prosumers.load)
    assert market.accountOf(prosumers.load).wallet == load_before + event.walletChange
    assert market.accountOf(grid).wallet == grid_before - event.walletChange
    assert_conserved(market)


def test_settlement_releases_the_margin(market, prosumers, at_14_00, clock, keeper):
    assert market.accountOf(prosumers.wind).openBids == 1
    settle_delivery_period_1(market, clock, keeper)
    record = market.accountOf(prosumers.wind)
    assert (record.openBids, record.freeBalance) == (0, record.wallet)


def test_prosumer_without_reading_settles_unmetered_after_the_deadline(market, prosumers, at_14_00, clock, keeper):
    event = settled_event(settle_delivery_period_1(market, clock, keeper), market, prosumers.wind)
    assert (event.metered, event.balancing, event.reward, event.walletChange) == (False, 0, 0, 0)


def test_settlement_waits_for_a_missing_reading_until_the_deadline(market, prosumers, at_14_00, clock, keeper):
    clock.move_to(2, "settlement")
    receipt = market.settle(1, 100, sender=keeper)
    assert not receipt.events.filter(market.Settled)
    assert market.bookOf(1).settledCount == 0


def test_settlement_in_batches_resumes_from_its_cursor(market, prosumers, at_14_00, clock, keeper):
    clock.move_to(3, "commit")
    settled = []
    for _ in range(4):
        receipt = market.settle(1, 1, sender=keeper)
        settled += [e.prosumerId for e in receipt.events.filter(market.Settled)]
    assert sorted(settled) == sorted(market.accountOf(a).id for a in prosumers.all())
    assert market.bookOf(1).settledCount == 4


def test_settlement_run_twice_is_refused(market, prosumers, at_14_00, clock, keeper):
    settle_delivery_period_1(market, clock, keeper)
    wallets = [market.accountOf(a).wallet for a in prosumers.all()]
    with ape.reverts(market.SettlementComplete, deliveryPeriod=1):
        market.settle(1, 100, sender=keeper)
    assert [market.accountOf(a).wallet for a in prosumers.all()] == wallets


def test_settlement_before_its_window_is_refused(market, prosumers, at_14_00, clock, keeper):
    clock.move_to(2, "matching")
    with ape.reverts(market.SettlementNotOpen, deliveryPeriod=1):
        market.settle(1, 100, sender=keeper)


def test_settlement_before_matching_is_refused(market, clock, keeper):
    clock.move_to(2, "settlement")
    with ape.reverts(market.MatchingNotComplete, deliveryPeriod=1):
        market.settle(1, 100, sender=keeper)


def test_reading_is_stored_for_the_bound_prosumer(market, prosumers, load_meter, clock):
    clock.move_to(2, "commit")
    receipt = market.submitReading(1, METER_NUMBER, 1150, sender=load_meter)
    load_id = market.accountOf(prosumers.load).id
    assert receipt.events == [market.ReadingPosted(1, load_id, load_meter, METER_NUMBER, 1150)]
    assert market.readingOf(load_id, 1) == (True, 1150)


def test_reading_from_an_unbound_account_is_refused(market, prosumers, stranger, clock):
    clock.move_to(2, "commit")
    with ape.reverts(market.MeterNotBound, meter=stranger.address):
        market.submitReading(1, METER_NUMBER, 1150, sender=stranger)


def test_reading_with_a_foreign_meter_number_is_refused(market, operator, prosumers, load_meter, wind_meter, clock):
    market.bindMeter(prosumers.wind, wind_meter, 77, sender=operator)
    clock.move_to(2, "commit")
    with ape.reverts(market.MeterNumberMismatch, expected=77, given=METER_NUMBER):
        market.submitReading(1, METER_NUMBER, 1150, sender=wind_meter)
    assert market.readingOf(market.accountOf(prosumers.wind).id, 1) == (False, 0)


def test_second_reading_for_a_period_is_refused(market, prosumers, load_meter, clock):
    clock.move_to(2, "commit")
    market.submitReading(1, METER_NUMBER, 1150, sender=load_meter)
    load_id = market.accountOf(prosumers.load).id
    with ape.reverts(market.ReadingAlreadyPosted, deliveryPeriod=1, prosumerId=load_id):
        market.submitReading(1, METER_NUMBER, 999, sender=load_meter)
    assert market.readingOf(load_id, 1) == (True, 1150)


def test_reading_before_the_period_ends_is_refused(market, prosumers, load_meter, clock):
    clock.move_to(1, "settlement")
    with ape.reverts(market.ReadingTooEarly, deliveryPeriod=1):
        market.submitReading(1, METER_NUMBER, 1150, sender=load_meter)


def test_reading_after_its_deadline_is_refused(market, prosumers, load_meter, clock):
    clock.move_to(3, "commit")
    with ape.reverts(market.ReadingTooLate, deliveryPeriod=1):
        market.submitReading(1, METER_NUMBER, 1150, sender=load_meter)
