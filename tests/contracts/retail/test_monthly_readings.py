"""Monthly readings: only the bound meter, once per account and month, inside the reading
window, within the meter's capacity, continuing the previous month's register; and the billing
clock, calendar months included."""

import ape
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pkit.retail.clock import BillingClock
from retail.conftest import BUYER_NUMBER, GRACE, RATED_POWER_W
from retail.support import KWH

OPENING = 500_000 * KWH


def post(bilateral, meter, month, opening=OPENING, closing=OPENING + 1000 * KWH, number=BUYER_NUMBER):
    return bilateral.submitMonthlyReading(month, number, opening, closing, sender=meter)


@pytest.fixture
def after_month_1(clock):
    clock.at(2, 10)


def test_bound_meter_posts_the_months_registers(bilateral, parties, buyer, buyer_meter, after_month_1):
    receipt = post(bilateral, buyer_meter, 1)
    assert receipt.events == [
        bilateral.MonthlyReadingPosted(
            month=1,
            account=buyer,
            meter=buyer_meter,
            meterNumber=BUYER_NUMBER,
            openingWh=OPENING,
            closingWh=OPENING + 10**6,
        )
    ]
    assert bilateral.monthlyReadingOf(buyer, 1) == (True, BUYER_NUMBER, OPENING, OPENING + 10**6)


def test_unbound_meter_is_refused(bilateral, parties, stranger, after_month_1):
    with ape.reverts(bilateral.MeterNotBound, meter=stranger):
        post(bilateral, stranger, 1)


def test_wrong_meter_number_is_refused(bilateral, parties, buyer_meter, after_month_1):
    with ape.reverts(bilateral.MeterNumberMismatch, expected=BUYER_NUMBER, given=99):
        post(bilateral, buyer_meter, 1, number=99)


def test_reading_before_the_month_ends_is_refused(bilateral, parties, buyer_meter, clock):
    clock.at(1, 100)
    with ape.reverts(bilateral.ReadingTooEarly, month=1, monthEnds=clock.billing.month_end(1)):
        post(bilateral, buyer_meter, 1)


def test_reading_after_the_grace_is_refused(bilateral, parties, buyer_meter, clock):
    clock.after_deadline(1)
    with ape.reverts(bilateral.ReadingTooLate, month=1, deadline=clock.billing.month_end(1) + GRACE):
        post(bilateral, buyer_meter, 1)


def test_second_reading_of_a_month_is_refused(bilateral, parties, buyer, buyer_meter, after_month_1):
    post(bilateral, buyer_meter, 1)
    with ape.reverts(bilateral.ReadingAlreadyPosted, month=1, account=buyer):
        post(bilateral, buyer_meter, 1, closing=OPENING)


def test_energy_above_the_meters_capacity_is_refused(bilateral, parties, buyer_meter, after_month_1):
    capacity = RATED_POWER_W * 30 * 24
    with ape.reverts(bilateral.ReadingAboveCapacity, energyWh=capacity + 10, capacityWh=capacity):
        post(bilateral, buyer_meter, 1, closing=OPENING + capacity + 10)


def test_register_beyond_its_digits_is_refused(bilateral, parties, buyer_meter, after_month_1):
    with ape.reverts(bilateral.RegisterOutOfRange, registerWh=10**9):
        post(bilateral, buyer_meter, 1, closing=10**9)


def test_register_that_rolled_over_gives_the_energy_across_the_wrap(
    bilateral, parties, buyer, buyer_meter, after_month_1
):
    post(bilateral, buyer_meter, 1, opening=999_999_000, closing=500)
    reading = bilateral.monthlyReadingOf(buyer, 1)
    assert (reading.openingWh, reading.closingWh) == (999_999_000, 500)


def test_register_going_down_by_more_than_the_capacity_is_refused(bilateral, parties, buyer_meter, after_month_1):
    with ape.reverts(bilateral.ReadingAboveCapacity):
        post(bilateral, buyer_meter, 1, opening=OPENING, closing=OPENING - 10)


def test_opening_register_must_continue_the_previous_closing(bilateral, parties, buyer_meter, clock):
    clock.at(2, 10)
    post(bilateral, buyer_meter, 1)
    clock.at(3, 10)
    with ape.reverts(bilateral.RegisterDiscontinuity, month=2, previousClosingWh=OPENING + 10**6, openingWh=OPENING):
        post(bilateral, buyer_meter, 2)


def test_replaced_meter_starts_its_own_registers(bilateral, market, parties, operator, buyer, accounts, clock):
    clock.at(2, 10)
    post(bilateral, accounts[19], 1)
    new_meter = accounts[22]
    market.bindMeter(buyer, new_meter, 4001, RATED_POWER_W, sender=operator)
    clock.at(3, 10)
    post(bilateral, new_meter, 2, opening=0, closing=900 * KWH, number=4001)
    assert bilateral.monthlyReadingOf(buyer, 2).meterNumber == 4001


# ---------------------------------------------------------------- the billing clock

UTC_PLUS_8 = BillingClock.calendar(8 * 3600, GRACE)


@pytest.fixture(scope="module")
def calendar(bilateral_contracts, accounts):
    """Calendar months in UTC+8 (the market address is not asked by the clock's views)."""
    return bilateral_contracts.deploy(accounts[0], accounts[0], UTC_PLUS_8.as_abi(), sender=accounts[0])


@settings(max_examples=60, deadline=None)
@given(month=st.integers(0, 96_000))
def test_calendar_months_start_at_local_midnight_of_the_first(calendar, month):
    assert calendar.monthStart(month) == UTC_PLUS_8.month_start(month)


def test_calendar_month_now_is_the_local_civil_month(calendar, chain):
    assert calendar.currentMonth() == UTC_PLUS_8.month_at(chain.blocks.head.timestamp)


def test_october_2024_is_month_657_and_starts_at_16_00_utc_on_30_september(calendar):
    assert calendar.monthStart(657) == 1727712000  # 2024-09-30T16:00:00Z


@pytest.mark.parametrize(
    "clock",
    [
        BillingClock.calendar(15 * 3600, GRACE),  # more than 14 h from UTC
        BillingClock.fixed(30, GRACE),  # months shorter than a minute
        BillingClock.fixed(3600, 0),  # no reading grace
        BillingClock(1, 0, 0, GRACE),  # a calendar clock with a genesis
    ],
)
def test_unusable_billing_clock_is_refused(bilateral_contracts, accounts, clock):
    with ape.reverts(bilateral_contracts.InvalidBillingClock):
        bilateral_contracts.deploy(accounts[0], accounts[0], clock.as_abi(), sender=accounts[0])
