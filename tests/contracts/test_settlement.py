"""Meter readings and settlement: the paper's checks at 14:00 and 18:30 reproduced through the
contracts, the reading rules, settlement without a reading, sale proceeds locked until their
period is settled, and every refusal of readings and settlement."""

from decimal import Decimal

import ape
import pytest
from conftest import ETHER, METER_NUMBERS, RATED_POWER_W, SCHEDULE, assert_conserved

from sim.reference import capacity_wh, settlement, unmetered_settlement

E12 = 10**12  # the paper quotes prices in 1e-3 ether/kWh = 1e15 wei/kWh; 0.757e-3 = 757 x 1e12
METER_NUMBER = 201907150001
CAPACITY_WH = capacity_wh(RATED_POWER_W, SCHEDULE.period_length)


def milli_ether(wei) -> Decimal:
    """Wei in 1e-3 ether rounded to the paper's 3 decimals."""
    return round(Decimal(int(wei)) / 10**15, 3)


@pytest.fixture
def load_meter(market, operator, prosumers, meter):
    """The ordinary load's meter, bound with the paper's meter number."""
    market.bindMeter(prosumers.load, meter, METER_NUMBER, RATED_POWER_W, sender=operator)
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
    receipt = settle_delivery_period_1(market, clock, keeper)
    event = settled_event(receipt, market, prosumers.load)
    assert market.accountOf(prosumers.load).wallet == load_before + event.walletChange
    changes = [e.walletChange for e in receipt.events.filter(market.Settled)]
    assert market.accountOf(grid).wallet == grid_before - sum(changes)
    assert_conserved(market)


def test_settlement_releases_the_margin(market, prosumers, at_14_00, clock, keeper):
    assert market.accountOf(prosumers.wind).openBids == 1
    settle_delivery_period_1(market, clock, keeper)
    record = market.accountOf(prosumers.wind)
    assert (record.openBids, record.freeBalance) == (0, record.wallet)


def test_producer_without_reading_is_settled_as_having_delivered_nothing(market, prosumers, at_14_00, clock, keeper):
    average = market.bookOf(1).averagePrice
    event = settled_event(settle_delivery_period_1(market, clock, keeper), market, prosumers.wind)
    balancing, reward = unmetered_settlement(True, 430, 430, CAPACITY_WH, average)
    assert (event.metered, event.actualWh, event.balancing, event.reward) == (False, 0, balancing, reward)
    assert milli_ether(event.balancing) == Decimal("-0.358")  # 0.43 kWh short x 0.757e-3 x 1.1
    assert event.walletChange == balancing + reward < 0


def test_consumer_without_reading_is_settled_as_having_used_its_meter_capacity(
    market, prosumers, at_14_00, clock, keeper
):
    average = market.bookOf(1).averagePrice
    event = settled_event(settle_delivery_period_1(market, clock, keeper), market, prosumers.ev)
    balancing, reward = unmetered_settlement(False, 250, 250, CAPACITY_WH, average)
    assert (event.metered, event.balancing, event.reward) == (False, balancing, reward)
    assert balancing == -((CAPACITY_WH - 250) * average * 11_000 // 10**7)
    assert_conserved(market)


def test_missing_reading_costs_more_than_any_reading(market, operator, prosumers, at_14_00, clock, keeper):
    """Wind with a 2 kW meter (500 Wh a period): every reading it could post, 0 to 500 Wh,
    settles at least as well as none."""
    market.bindMeter(prosumers.wind, prosumers.meters[prosumers.wind.address], 1001, 2_000, sender=operator)
    average = market.bookOf(1).averagePrice
    missing = settled_event(settle_delivery_period_1(market, clock, keeper), market, prosumers.wind)
    assert all(missing.walletChange <= sum(settlement(True, 430, 430, wh, average)) for wh in range(0, 501))


def test_reading_above_the_meter_capacity_is_refused(market, prosumers, load_meter, clock):
    clock.move_to(2, "commit")
    load_id = market.accountOf(prosumers.load).id
    with ape.reverts(market.ReadingAboveCapacity, energyWh=CAPACITY_WH + 1, capacityWh=CAPACITY_WH):
        market.submitReading(1, METER_NUMBER, CAPACITY_WH + 1, sender=load_meter)
    assert market.readingOf(load_id, 1) == (False, 0)
    market.submitReading(1, METER_NUMBER, CAPACITY_WH, sender=load_meter)
    assert market.readingOf(load_id, 1) == (True, CAPACITY_WH)


def test_sale_proceeds_stay_locked_until_their_period_is_settled(market, prosumers, at_14_00, clock, keeper):
    wind = prosumers.wind
    proceeds = sum(t.cost for t in at_14_00.events.filter(market.Trade) if t.sellerId == market.accountOf(wind).id)
    record = market.accountOf(wind)
    assert record.wallet == 10 * ETHER + proceeds
    assert record.lockedProceeds == proceeds
    assert record.freeBalance == 10 * ETHER - market.parameters().margin
    with ape.reverts(market.InsufficientFreeBalance, requested=record.freeBalance + 1, free=record.freeBalance):
        market.withdraw(record.freeBalance + 1, sender=wind)
    assert market.accountOf(wind).wallet == record.wallet
    clock.move_to(2, "commit")
    market.submitReading(1, METER_NUMBERS["wind"], 430, sender=prosumers.meters[wind.address])
    settle_delivery_period_1(market, clock, keeper)
    record = market.accountOf(wind)
    assert (record.lockedProceeds, record.freeBalance) == (0, record.wallet)


def test_what_a_producer_owes_is_taken_from_its_proceeds_first(market, enroll, auction, clock, keeper):
    """A producer with only the margin sells 100 kWh, withdraws what it may, and delivers nothing:
    its debt comes out of the locked proceeds, and it ends with less than it deposited."""
    margin = market.parameters().margin
    seller = enroll("seller", True, True, deposit=margin)
    buyer = enroll("buyer", False, True)
    auction.run_period([(seller, 100_000, 5 * 10**14), (buyer, 100_000, 7 * 10**14)])
    assert market.accountOf(seller).freeBalance == 0
    clock.move_to(2, "commit")
    market.submitReading(1, enroll.numbers[seller.address], 0, sender=enroll.meters[seller.address])
    market.submitReading(1, enroll.numbers[buyer.address], 100_000, sender=enroll.meters[buyer.address])
    clock.move_to(2, "settlement")
    receipt = market.settle(1, 10, sender=keeper)
    event = settled_event(receipt, market, seller)
    assert event.balancing + event.reward < -market.accountOf(seller).wallet  # it owed more than it kept
    assert market.accountOf(seller).wallet < margin
    assert_conserved(market)


def test_producer_cannot_bid_while_its_proceeds_place_is_unsettled(market, prosumers, auction, clock, keeper):
    """Four delivery periods share a producer's four proceeds places: a bid for period 5 waits
    for the settlement of period 1, which anyone may trigger."""
    wind = prosumers.wind
    auction.run_period([(wind, 430, 700 * E12), (prosumers.ev, 250, 786 * E12)], period=0)
    for period in (1, 2, 3):
        auction.run_period([(wind, 100, 700 * E12)], period=period)
    clock.move_to(4, "commit")
    with ape.reverts(market.ProceedsUnsettled, deliveryPeriod=1):
        auction.commit(wind, 100, 700 * E12)
    assert market.accountOf(wind).lastBidPeriod == 4
    market.settle(1, 10, sender=keeper)
    auction.commit(wind, 100, 700 * E12)
    assert market.accountOf(wind).lastBidPeriod == 5


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
    market.bindMeter(prosumers.wind, wind_meter, 77, RATED_POWER_W, sender=operator)
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
