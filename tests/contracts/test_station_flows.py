"""The stations' flows under Ape: rights deposited through the ledger's transferAndCall, held by a
request, paid per unit only when both meters confirm it, stations paying back the company once a
period; and the hostile cases, each refused with its custom error and changing nothing (or, for
a unit the meters do not confirm, paying nothing). Rights are conserved to the wei throughout:
the ledger's balance of the dispatch equals what the dispatch holds for its accounts."""

from __future__ import annotations

import ape
import pytest
from eth_abi import encode
from eth_utils import keccak
from station_flows_support import (
    ABSORB_PRICE,
    GRACE,
    RATED_POWER_W,
    RIGHTS_RESERVE,
    RIGHTS_SUPPLY,
    SUPPLY_PRICE,
    deploy_ledger,
    readings_open,
    terms,
    wait_until,
)
from test_station_dispatch import refused

SUPPLY, ABSORB = 0, 1
K = 10


@pytest.fixture(scope="session")
def station(accounts):
    return accounts[12]


@pytest.fixture(scope="session")
def user_meter(accounts):
    return accounts[14]


@pytest.fixture(scope="session")
def station_meter(accounts):
    return accounts[15]


@pytest.fixture(scope="session")
def unbound_meter(accounts):
    return accounts[16]


@pytest.fixture
def ledger(sister_light_client_contract, sister_lock_contract, operator, stranger):
    return deploy_ledger(sister_light_client_contract, sister_lock_contract, operator, stranger)


@pytest.fixture
def dispatch(station_dispatch_contract, ledger, operator, station, ev, load, user_meter, station_meter):
    """One station (40 of 100 units) with lines to `ev` (7 %) and `load` (3 %); meters bound to
    `ev` and to the station; `ev` and `load` hold 100,000 rights each on the ledger."""
    contract = station_dispatch_contract.deploy(K, 4, terms(ledger), sender=operator)
    contract.registerStation(station, 40, 100, 1, 1, sender=operator)
    contract.setLine(ev, 1, 70_000, 0, sender=operator)
    contract.setLine(load, 1, 30_000, 0, sender=operator)
    contract.bindMeter(ev, user_meter, RATED_POWER_W, sender=operator)
    contract.bindMeter(station, station_meter, RATED_POWER_W, sender=operator)
    for holder in (ev, load):
        ledger.transfer(holder, 100_000, sender=operator)
    return contract


@pytest.fixture
def assert_conserved(dispatch, ledger, operator, ev, load, stranger):
    """Rights to the wei: the ledger's balance of the dispatch is what the dispatch holds for its
    accounts and stations, and the ledger's accounts and reserve add up to its fixed supply."""

    def check():
        people = [operator, ev, load, stranger]
        held = sum(dispatch.rightsOf(a) + dispatch.heldOf(a) for a in people)
        held += sum(dispatch.earnedOf(s) for s in range(1, dispatch.stationCount() + 1))
        assert ledger.balanceOf(dispatch) == held
        in_accounts = sum(ledger.balanceOf(a) for a in [*people, dispatch])
        assert in_accounts + ledger.reserve() == RIGHTS_SUPPLY

    return check


def supply_three_units(dispatch, ledger, ev, station):
    ledger.transferAndCall(dispatch, 3 * SUPPLY_PRICE, sender=ev)
    dispatch.request(SUPPLY, 3, sender=ev)
    for _ in range(3):
        dispatch.transferUnit(ev, sender=station)


def test_a_deposit_through_the_ledger_is_credited_to_its_sender(dispatch, ledger, ev):
    receipt = ledger.transferAndCall(dispatch, 5_000, sender=ev)
    assert receipt.events == [ledger.Transfer(ev, dispatch, 5_000), dispatch.RightsDeposited(ev, 5_000)]
    assert (dispatch.rightsOf(ev), ledger.balanceOf(ev)) == (5_000, 95_000)


def test_supply_pays_the_station_per_confirmed_unit_and_the_station_pays_back(
    assert_conserved, dispatch, ledger, chain, operator, ev, station, user_meter, station_meter
):
    supply_three_units(dispatch, ledger, ev, station)
    period = dispatch.periodAt(chain.pending_timestamp)
    assert (dispatch.heldOf(ev), dispatch.claimedUnits(ev, 1, period, SUPPLY)) == (3 * SUPPLY_PRICE, 3)
    wait_until(chain, readings_open(dispatch, period))
    dispatch.submitReading(period, SUPPLY, 3_000, sender=user_meter)
    dispatch.submitReading(period, SUPPLY, 3_400, sender=station_meter)
    receipt = dispatch.confirm(ev, 1, period, SUPPLY, sender=operator)
    assert receipt.events == [dispatch.UnitsConfirmed(ev, 1, period, SUPPLY, 3, 3, 3 * SUPPLY_PRICE)]
    assert (dispatch.earnedOf(1), dispatch.heldOf(ev)) == (3 * SUPPLY_PRICE, 0)
    settled = dispatch.settle(1, sender=operator)
    assert settled.events[0] == dispatch.StationPaidBack(1, period + 1, 3 * SUPPLY_PRICE)
    assert (dispatch.earnedOf(1), dispatch.rightsOf(operator)) == (0, 3 * SUPPLY_PRICE)
    dispatch.withdrawRights(3 * SUPPLY_PRICE, sender=operator)
    assert ledger.balanceOf(operator) == RIGHTS_SUPPLY - RIGHTS_RESERVE - 200_000 + 3 * SUPPLY_PRICE
    assert_conserved()


def test_acquisition_pays_the_user_from_the_company_rights(
    assert_conserved, dispatch, ledger, chain, operator, ev, station, user_meter, station_meter
):
    ledger.transferAndCall(dispatch, 10 * ABSORB_PRICE, sender=operator)
    receipt = dispatch.request(ABSORB, 2, sender=ev)
    assert dispatch.RightsHeld(ev, operator, 2 * ABSORB_PRICE) in receipt.events
    dispatch.transferUnit(ev, sender=station)
    dispatch.transferUnit(ev, sender=station)
    period = dispatch.periodAt(chain.pending_timestamp)
    wait_until(chain, readings_open(dispatch, period))
    dispatch.submitReading(period, ABSORB, 2_000, sender=user_meter)
    dispatch.submitReading(period, ABSORB, 2_999, sender=station_meter)
    dispatch.confirm(ev, 1, period, ABSORB, sender=ev)
    assert (dispatch.rightsOf(ev), dispatch.rightsOf(operator), dispatch.heldOf(operator)) == (
        2 * ABSORB_PRICE,
        8 * ABSORB_PRICE,
        0,
    )
    dispatch.withdrawRights(2 * ABSORB_PRICE, sender=ev)
    assert ledger.balanceOf(ev) == 100_000 + 2 * ABSORB_PRICE
    assert_conserved()


def test_a_partial_reading_pays_the_least_both_confirm_and_returns_the_rest(
    assert_conserved, dispatch, ledger, chain, operator, ev, station, user_meter, station_meter
):
    supply_three_units(dispatch, ledger, ev, station)
    period = dispatch.periodAt(chain.pending_timestamp)
    wait_until(chain, readings_open(dispatch, period))
    dispatch.submitReading(period, SUPPLY, 2_999, sender=user_meter)  # 2 whole units
    dispatch.submitReading(period, SUPPLY, 25_000, sender=station_meter)
    receipt = dispatch.confirm(ev, 1, period, SUPPLY, sender=operator)
    assert receipt.events == [dispatch.UnitsConfirmed(ev, 1, period, SUPPLY, 3, 2, 2 * SUPPLY_PRICE)]
    assert (dispatch.earnedOf(1), dispatch.rightsOf(ev)) == (2 * SUPPLY_PRICE, SUPPLY_PRICE)
    assert_conserved()


def test_one_station_reading_confirms_no_unit_twice(
    assert_conserved, dispatch, ledger, chain, operator, ev, load, station, user_meter, station_meter, accounts
):
    load_meter = accounts[17]
    dispatch.bindMeter(load, load_meter, RATED_POWER_W, sender=operator)
    supply_three_units(dispatch, ledger, ev, station)
    ledger.transferAndCall(dispatch, 3 * SUPPLY_PRICE, sender=load)
    dispatch.request(SUPPLY, 3, sender=load)
    for _ in range(3):
        dispatch.transferUnit(load, sender=station)
    period = dispatch.periodAt(chain.pending_timestamp)
    wait_until(chain, readings_open(dispatch, period))
    dispatch.submitReading(period, SUPPLY, 3_000, sender=user_meter)
    dispatch.submitReading(period, SUPPLY, 3_000, sender=load_meter)
    dispatch.submitReading(period, SUPPLY, 4_000, sender=station_meter)  # 4 of the 6 claimed
    dispatch.confirm(ev, 1, period, SUPPLY, sender=operator)
    receipt = dispatch.confirm(load, 1, period, SUPPLY, sender=operator)
    assert receipt.events == [dispatch.UnitsConfirmed(load, 1, period, SUPPLY, 3, 1, SUPPLY_PRICE)]
    assert dispatch.earnedOf(1) == 4 * SUPPLY_PRICE
    assert dispatch.readingOf(station, period, SUPPLY).unitsLeft == 0
    assert_conserved()


# ---------------------------------------------------------------- hostile cases


def test_a_unit_claimed_without_readings_is_never_paid(
    assert_conserved, dispatch, ledger, chain, operator, ev, station
):
    supply_three_units(dispatch, ledger, ev, station)
    period = dispatch.periodAt(chain.pending_timestamp)
    deadline = readings_open(dispatch, period) + GRACE
    with refused(dispatch.ReadingsPending, user=ev.address, station=1, period=period, deadline=deadline):
        dispatch.confirm(ev, 1, period, SUPPLY, sender=station)
    wait_until(chain, deadline + 1)
    receipt = dispatch.confirm(ev, 1, period, SUPPLY, sender=station)
    assert receipt.events == [dispatch.UnitsConfirmed(ev, 1, period, SUPPLY, 3, 0, 0)]
    assert (dispatch.earnedOf(1), dispatch.rightsOf(ev), dispatch.heldOf(ev)) == (0, 3 * SUPPLY_PRICE, 0)
    assert_conserved()


def test_a_reading_from_an_unbound_meter_is_refused(dispatch, chain, unbound_meter):
    wait_until(chain, readings_open(dispatch, 0))
    with refused(dispatch.MeterNotBound, meter=unbound_meter.address):
        dispatch.submitReading(0, SUPPLY, 1_000, sender=unbound_meter)


def test_a_reading_twice_is_refused_and_a_confirmation_twice_finds_nothing(
    dispatch, ledger, chain, operator, ev, station, user_meter, station_meter
):
    supply_three_units(dispatch, ledger, ev, station)
    period = dispatch.periodAt(chain.pending_timestamp)
    wait_until(chain, readings_open(dispatch, period))
    dispatch.submitReading(period, SUPPLY, 3_000, sender=user_meter)
    with refused(dispatch.ReadingPostedBefore, account=ev.address, period=period, direction=SUPPLY):
        dispatch.submitReading(period, SUPPLY, 9_000, sender=user_meter)
    dispatch.submitReading(period, SUPPLY, 3_000, sender=station_meter)
    dispatch.confirm(ev, 1, period, SUPPLY, sender=operator)
    with refused(dispatch.NothingToConfirm, user=ev.address, station=1, period=period, direction=SUPPLY):
        dispatch.confirm(ev, 1, period, SUPPLY, sender=operator)
    assert dispatch.earnedOf(1) == 3 * SUPPLY_PRICE


def test_a_reading_early_late_or_above_the_meter_capacity_is_refused(dispatch, chain, user_meter):
    opens = readings_open(dispatch, 0)
    with refused(dispatch.ReadingTooEarly, period=0, periodEnds=opens):
        dispatch.submitReading(0, SUPPLY, 1_000, sender=user_meter)
    wait_until(chain, opens)
    with refused(dispatch.ReadingAboveCapacity, energyWh=25_001, capacityWh=25_000):
        dispatch.submitReading(0, SUPPLY, 25_001, sender=user_meter)
    wait_until(chain, opens + GRACE + 1)
    with refused(dispatch.ReadingTooLate, period=0, deadline=opens + GRACE):
        dispatch.submitReading(0, SUPPLY, 1_000, sender=user_meter)


def test_a_user_cannot_pay_with_rights_it_does_not_have(assert_conserved, dispatch, ledger, operator, ev, stranger):
    ledger.transferAndCall(dispatch, 2 * SUPPLY_PRICE, sender=ev)
    with refused(dispatch.InsufficientRights, account=ev.address, available=2 * SUPPLY_PRICE, needed=3 * SUPPLY_PRICE):
        dispatch.request(SUPPLY, 3, sender=ev)
    assert not dispatch.requestOf(ev).open
    with refused(dispatch.InsufficientRights, account=ev.address, available=2 * SUPPLY_PRICE, needed=5_000):
        dispatch.withdrawRights(5_000, sender=ev)
    with refused(ledger.InsufficientBalance, account=stranger.address, balance=0, needed=1):
        ledger.transferAndCall(dispatch, 1, sender=stranger)
    assert (dispatch.rightsOf(ev), dispatch.heldOf(ev)) == (2 * SUPPLY_PRICE, 0)
    assert_conserved()


def test_an_acquisition_the_company_cannot_pay_for_is_refused(dispatch, operator, ev):
    with refused(dispatch.InsufficientRights, account=operator.address, available=0, needed=2 * ABSORB_PRICE):
        dispatch.request(ABSORB, 2, sender=ev)


def test_a_station_settles_once_a_period(
    assert_conserved, dispatch, ledger, chain, operator, ev, station, user_meter, station_meter
):
    supply_three_units(dispatch, ledger, ev, station)
    period = dispatch.periodAt(chain.pending_timestamp)
    wait_until(chain, readings_open(dispatch, period))
    dispatch.submitReading(period, SUPPLY, 3_000, sender=user_meter)
    dispatch.submitReading(period, SUPPLY, 3_000, sender=station_meter)
    dispatch.confirm(ev, 1, period, SUPPLY, sender=operator)
    dispatch.settle(1, sender=operator)
    with refused(dispatch.AlreadySettled, station=1, period=period + 1):
        dispatch.settle(1, sender=operator)
    assert (dispatch.rightsOf(operator), dispatch.earnedOf(1)) == (3 * SUPPLY_PRICE, 0)
    assert_conserved()


def test_a_forged_deposit_is_refused(
    dispatch, ledger, sister_light_client_contract, sister_lock_contract, operator, ev, stranger
):
    with refused(dispatch.NotLedger, caller=stranger.address):
        dispatch.onValueReceived(stranger, 10**6, sender=stranger)
    other_ledger = deploy_ledger(sister_light_client_contract, sister_lock_contract, stranger, operator)
    with ape.reverts() as info:  # the dispatch's refusal, through a ledger whose ABI lacks it
        other_ledger.transferAndCall(dispatch, 1_000, sender=stranger)
    not_ledger = keccak(text="NotLedger(address)")[:4] + encode(["address"], [other_ledger.address])
    assert "0x" + not_ledger.hex() in repr(info.value)
    assert dispatch.rightsOf(stranger) == 0


def test_value_sent_with_a_call_to_an_account_that_cannot_receive_it_stays(dispatch, ledger, ev, stranger):
    with refused(ledger.NotAReceiver, to=stranger.address):
        ledger.transferAndCall(stranger, 1_000, sender=ev)
    with ape.reverts():
        ledger.transferAndCall(ledger, 1_000, sender=ev)  # a contract without the hook
    assert ledger.balanceOf(ev) == 100_000


def test_a_meter_binds_to_one_account_and_an_account_to_one_meter(dispatch, operator, load, ev, user_meter, stranger):
    with refused(dispatch.MeterTaken, meter=user_meter.address, account=ev.address):
        dispatch.bindMeter(load, user_meter, RATED_POWER_W, sender=operator)
    with refused(dispatch.AccountHasMeter, account=ev.address, meter=user_meter.address):
        dispatch.bindMeter(ev, stranger, RATED_POWER_W, sender=operator)
    with refused(dispatch.NotCompany, caller=stranger.address):
        dispatch.bindMeter(stranger, stranger, RATED_POWER_W, sender=stranger)


def test_a_price_without_a_ledger_is_refused(station_dispatch_contract, operator):
    with refused(station_dispatch_contract.InvalidSettings, setting="ledger"):
        station_dispatch_contract.deploy(K, 4, ("0x" + "00" * 20, 1, 0, 900, 300), sender=operator)
