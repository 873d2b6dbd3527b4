"""The station list and its dispatch under Ape: registration, lines kept in order of loss,
passive state reports, assignment by least loss, connections of k units, dropped connections and
re-assignment, waiting requests, settlement; each refusal with its custom error, and nothing
changed by a refusal."""

from __future__ import annotations

from contextlib import contextmanager

import ape
import pytest

K = 10
MAX_LINES = 4
SUPPLY, ABSORB = 0, 1
PERIOD = 900
# No rights ledger, both prices 0: the dispatch alone (the flows are tested in test_station_flows.py).
NO_RIGHTS = ("0x" + "00" * 20, 0, 0, PERIOD, 300)


@pytest.fixture
def dispatch(station_dispatch_contract, operator):
    return station_dispatch_contract.deploy(K, MAX_LINES, NO_RIGHTS, sender=operator)


@pytest.fixture(scope="session")
def station_p(accounts):
    return accounts[12]


@pytest.fixture(scope="session")
def station_q(accounts):
    return accounts[13]


@pytest.fixture(scope="session")
def user(ev):
    return ev


@pytest.fixture
def two_stations(dispatch, operator, station_p, station_q, user, load):
    """P (id 1) and Q (id 2), 40 of 100 units stored, thresholds 5 and 5; `user` has 12 % loss to
    P and 7 % to Q, `load` 3 % to P only."""
    for account in (station_p, station_q):
        dispatch.registerStation(account, 40, 100, 5, 5, sender=operator)
    dispatch.setLine(user, 1, 120_000, 0, sender=operator)
    dispatch.setLine(user, 2, 70_000, 0, sender=operator)
    dispatch.setLine(load, 1, 30_000, 0, sender=operator)
    return dispatch


@contextmanager
def refused(error, **inputs):
    """Like `ape.reverts`, and the revert must be decoded as the custom error `error` itself."""
    with ape.reverts(error, **inputs) as info:
        yield
    assert type(info.value).__name__ == error.__name__, repr(info.value)


def snapshot(dispatch, users):
    stations = [tuple(dispatch.stationOf(i)) for i in range(1, dispatch.stationCount() + 1)]
    ledgers = [tuple(dispatch.ledgerOf(i)) for i in range(1, dispatch.stationCount() + 1)]
    return stations, ledgers, [tuple(dispatch.requestOf(u)) for u in users], [dispatch.linesOf(u) for u in users]


def test_deployment_refuses_unusable_settings(station_dispatch_contract, operator):
    with refused(station_dispatch_contract.InvalidSettings, setting="unitsPerConnection"):
        station_dispatch_contract.deploy(0, MAX_LINES, NO_RIGHTS, sender=operator)
    with refused(station_dispatch_contract.InvalidSettings, setting="maxLinesPerUser"):
        station_dispatch_contract.deploy(K, 257, NO_RIGHTS, sender=operator)


def test_registration_records_the_station_and_its_availability(dispatch, operator, station_p):
    receipt = dispatch.registerStation(station_p, 3, 100, 5, 10, sender=operator)
    assert receipt.events == [
        dispatch.StationRegistered(1, station_p, 3, 100, 5, 10),
        dispatch.StationStateChanged(1, 3, 100, True, False, True),
    ]
    assert dispatch.stationIdOf(station_p) == 1
    station = dispatch.stationOf(1)
    assert (station.account, station.stored, station.capacity, station.online) == (station_p.address, 3, 100, True)


def test_registration_is_the_company_s_alone(dispatch, stranger, station_p):
    with refused(dispatch.NotCompany, caller=stranger.address):
        dispatch.registerStation(station_p, 3, 100, 5, 10, sender=stranger)


@pytest.mark.parametrize(
    "stored, capacity, error",
    [(101, 100, "InvalidStationState"), (0, 0, "InvalidStationState"), (0, 10**12 + 1, "InvalidStationState")],
)
def test_registration_refuses_an_absurd_state(dispatch, operator, station_p, stored, capacity, error):
    with refused(getattr(dispatch, error), stored=stored, capacity=capacity):
        dispatch.registerStation(station_p, stored, capacity, 1, 1, sender=operator)
    assert dispatch.stationCount() == 0


@pytest.mark.parametrize("supply, absorb", [(0, 5), (5, 0), (101, 5), (5, 101)])
def test_registration_refuses_thresholds_outside_1_to_capacity(dispatch, operator, station_p, supply, absorb):
    with refused(dispatch.InvalidThresholds, supplyThreshold=supply, absorbThreshold=absorb, capacity=100):
        dispatch.registerStation(station_p, 40, 100, supply, absorb, sender=operator)


def test_an_account_is_one_station_at_most(dispatch, operator, station_p):
    dispatch.registerStation(station_p, 40, 100, 5, 5, sender=operator)
    with refused(dispatch.StationAccountTaken, account=station_p.address, station=1):
        dispatch.registerStation(station_p, 40, 100, 5, 5, sender=operator)


def test_lines_are_kept_in_order_of_loss_whatever_the_hints(dispatch, operator, accounts, user):
    for account in accounts[12:16]:
        dispatch.registerStation(account, 40, 100, 5, 5, sender=operator)
    for station, loss, hint in ((1, 50_000, 0), (2, 20_000, 1), (3, 50_000, 0), (4, 10_000, 3)):
        dispatch.setLine(user, station, loss, hint, sender=operator)
    assert dispatch.linesOf(user) == ([4, 2, 1, 3], [10_000, 20_000, 50_000, 50_000])
    assert dispatch.insertHint(user, 2, 60_000) == 3
    dispatch.setLine(user, 2, 60_000, dispatch.insertHint(user, 2, 60_000), sender=operator)
    assert dispatch.linesOf(user) == ([4, 1, 3, 2], [10_000, 50_000, 50_000, 60_000])
    assert dispatch.removeLine(user, 1, sender=operator).events == [dispatch.LineRemoved(user, 1)]
    assert dispatch.linesOf(user) == ([4, 3, 2], [10_000, 50_000, 60_000])


def test_line_refusals(two_stations, operator, stranger, station_p, user, accounts):
    dispatch = two_stations
    before = snapshot(dispatch, [user])
    with refused(dispatch.UnknownStation, station=3):
        dispatch.setLine(user, 3, 1, 0, sender=operator)
    with refused(dispatch.UnknownStation, station=0):
        dispatch.setLine(user, 0, 1, 0, sender=operator)
    with refused(dispatch.InvalidLossRate, lossPpm=1_000_000):
        dispatch.setLine(user, 1, 1_000_000, 0, sender=operator)
    with refused(dispatch.InvalidUser, user=station_p.address):
        dispatch.setLine(station_p, 2, 1, 0, sender=operator)
    with refused(dispatch.NotCompany, caller=stranger.address):
        dispatch.setLine(user, 1, 1, 0, sender=stranger)
    with refused(dispatch.NoLine, user=stranger.address, station=1):
        dispatch.removeLine(stranger, 1, sender=operator)
    assert snapshot(dispatch, [user]) == before


def test_a_user_has_at_most_max_lines(dispatch, operator, accounts, user):
    for account in accounts[12:17]:
        dispatch.registerStation(account, 40, 100, 5, 5, sender=operator)
    for station in range(1, MAX_LINES + 1):
        dispatch.setLine(user, station, 1000 * station, 0, sender=operator)
    with refused(dispatch.TooManyLines, user=user.address, maximum=MAX_LINES):
        dispatch.setLine(user, MAX_LINES + 1, 1, 0, sender=operator)
    dispatch.setLine(user, 1, 99_000, 0, sender=operator)  # an existing line may change


def test_a_request_goes_to_the_available_station_with_least_loss(two_stations, user):
    receipt = two_stations.request(SUPPLY, 15, sender=user)
    assert receipt.events == [
        two_stations.RequestOpened(user, SUPPLY, 15),
        two_stations.Assigned(user, 2, SUPPLY, 70_000, 15),
    ]
    assert two_stations.connected(user)
    assert two_stations.ledgerOf(2).supplyConnections == 1


def test_without_a_line_a_request_is_refused_and_nothing_recorded(two_stations, stranger):
    with refused(two_stations.NoStationAvailable, user=stranger.address, direction=SUPPLY, lines=0):
        two_stations.request(SUPPLY, 5, sender=stranger)
    assert not two_stations.requestOf(stranger).open


@pytest.mark.parametrize("units", [0, 10**6 + 1])
def test_a_request_of_absurd_size_is_refused(two_stations, user, units):
    with refused(two_stations.InvalidUnits, units=units):
        two_stations.request(SUPPLY, units, sender=user)


def test_a_station_cannot_request(two_stations, station_p):
    with refused(two_stations.InvalidUser, user=station_p.address):
        two_stations.request(SUPPLY, 5, sender=station_p)


def test_one_open_request_per_user_and_cancel_closes_it(two_stations, user):
    two_stations.request(SUPPLY, 15, sender=user)
    with refused(two_stations.RequestAlreadyOpen, user=user.address):
        two_stations.request(ABSORB, 5, sender=user)
    assert two_stations.cancel(sender=user).events == [two_stations.RequestClosed(user, SUPPLY, 15)]
    assert two_stations.ledgerOf(2).supplyConnections == 0
    with refused(two_stations.NoOpenRequest, user=user.address):
        two_stations.cancel(sender=user)


def test_worked_example_user_stays_on_p_until_its_kth_unit(two_stations, station_p, station_q, user):
    """Q unavailable: U goes to P (12 %); Q comes back after 4 units; U moves at unit k = 10."""
    dispatch = two_stations
    dispatch.reportState(40, 100, False, sender=station_q)
    assert dispatch.request(SUPPLY, 25, sender=user).events[-1] == dispatch.Assigned(user, 1, SUPPLY, 120_000, 25)
    for _ in range(4):
        dispatch.transferUnit(user, sender=station_p)
    dispatch.reportState(40, 100, True, sender=station_q)
    for _ in range(5):
        receipt = dispatch.transferUnit(user, sender=station_p)
        assert receipt.events[-1].event_name == "UnitTransferred"
    receipt = dispatch.transferUnit(user, sender=station_p)
    assert receipt.events == [
        dispatch.UnitTransferred(user, 1, SUPPLY, 120_000, 15),
        dispatch.Assigned(user, 2, SUPPLY, 70_000, 15),
    ]
    assert dispatch.stationOf(1).stored == 30
    assert dispatch.ledgerOf(1).supplied == 10
    assert dispatch.ledgerOf(1).lossPpmUnits == 10 * 120_000
    assert (dispatch.ledgerOf(1).supplyConnections, dispatch.ledgerOf(2).supplyConnections) == (0, 1)


def test_after_k_units_the_same_station_is_kept_when_still_best(two_stations, station_q, user):
    two_stations.request(SUPPLY, 12, sender=user)
    for _ in range(K - 1):
        two_stations.transferUnit(user, sender=station_q)
    receipt = two_stations.transferUnit(user, sender=station_q)
    assert receipt.events[-1] == two_stations.Assigned(user, 2, SUPPLY, 70_000, 2)
    two_stations.transferUnit(user, sender=station_q)
    receipt = two_stations.transferUnit(user, sender=station_q)
    assert receipt.events[-1] == two_stations.RequestClosed(user, SUPPLY, 0)
    assert not two_stations.requestOf(user).open
    assert two_stations.ledgerOf(2).supplyConnections == 0


def test_a_station_going_offline_drops_all_its_connections(two_stations, station_p, station_q, user, load, stranger):
    dispatch = two_stations
    dispatch.reportState(40, 100, False, sender=station_q)
    dispatch.request(SUPPLY, 20, sender=user)
    dispatch.request(SUPPLY, 20, sender=load)
    dispatch.reportState(40, 100, True, sender=station_q)
    receipt = dispatch.reportState(40, 100, False, sender=station_p)
    assert receipt.events == [
        dispatch.StationStateChanged(1, 40, 100, False, False, False),
        dispatch.ConnectionsDropped(1, SUPPLY, 1, 2),
        dispatch.ConnectionsDropped(1, ABSORB, 1, 0),
    ]
    assert not dispatch.connected(user) and not dispatch.connected(load)
    with refused(dispatch.NotConnected, user=user.address, station=1):
        dispatch.transferUnit(user, sender=station_p)
    assert dispatch.reassign(user, sender=stranger).events == [dispatch.Assigned(user, 2, SUPPLY, 70_000, 20)]
    with refused(dispatch.ConnectionInForce, user=user.address, station=2):
        dispatch.reassign(user, sender=stranger)
    with refused(dispatch.NoStationAvailable, user=load.address, direction=SUPPLY, lines=1):
        dispatch.reassign(load, sender=stranger)  # its only line is to P
    dispatch.reportState(40, 100, True, sender=station_p)
    assert dispatch.reassign(load, sender=stranger).events == [dispatch.Assigned(load, 1, SUPPLY, 30_000, 20)]
    assert dispatch.ledgerOf(1).supplyConnections == 1


def test_a_station_drained_below_its_threshold_hands_its_user_on(two_stations, station_p, station_q, user):
    dispatch = two_stations
    dispatch.reportState(6, 100, True, sender=station_q)
    dispatch.request(SUPPLY, 5, sender=user)
    dispatch.transferUnit(user, sender=station_q)
    receipt = dispatch.transferUnit(user, sender=station_q)  # stored 6 -> 4 < threshold 5
    assert receipt.events == [
        dispatch.UnitTransferred(user, 2, SUPPLY, 70_000, 3),
        dispatch.StationStateChanged(2, 4, 100, True, False, True),
        dispatch.ConnectionsDropped(2, SUPPLY, 1, 1),
        dispatch.Assigned(user, 1, SUPPLY, 120_000, 3),
    ]


def test_a_request_nobody_can_serve_any_more_waits(two_stations, station_p, station_q, load, stranger):
    dispatch = two_stations
    dispatch.reportState(5, 100, True, sender=station_p)
    dispatch.request(SUPPLY, 5, sender=load)
    receipt = dispatch.transferUnit(load, sender=station_p)
    assert receipt.events[-1] == dispatch.RequestWaiting(load, SUPPLY, 4)
    assert dispatch.requestOf(load).open and dispatch.requestOf(load).station == 0
    with refused(dispatch.NoStationAvailable, user=load.address, direction=SUPPLY, lines=1):
        dispatch.reassign(load, sender=stranger)
    dispatch.reportState(50, 100, True, sender=station_p)
    assert dispatch.reassign(load, sender=stranger).events == [dispatch.Assigned(load, 1, SUPPLY, 30_000, 4)]


def test_absorbing_fills_the_station(two_stations, station_q, user):
    two_stations.request(ABSORB, 3, sender=user)
    for _ in range(3):
        two_stations.transferUnit(user, sender=station_q)
    assert two_stations.stationOf(2).stored == 43
    assert two_stations.ledgerOf(2).absorbed == 3


def test_only_the_connected_station_confirms_units(two_stations, station_p, station_q, stranger, user):
    dispatch = two_stations
    dispatch.request(SUPPLY, 5, sender=user)
    before = snapshot(dispatch, [user])
    with refused(dispatch.NotAStation, caller=stranger.address):
        dispatch.transferUnit(user, sender=stranger)
    with refused(dispatch.NotConnected, user=user.address, station=1):
        dispatch.transferUnit(user, sender=station_p)
    with refused(dispatch.NotConnected, user=stranger.address, station=2):
        dispatch.transferUnit(stranger, sender=station_q)
    assert snapshot(dispatch, [user]) == before


def test_reports_refusals_change_nothing(two_stations, station_p, stranger, user):
    dispatch = two_stations
    before = snapshot(dispatch, [user])
    with refused(dispatch.NotAStation, caller=stranger.address):
        dispatch.reportState(1, 100, True, sender=stranger)
    with refused(dispatch.InvalidStationState, stored=101, capacity=100):
        dispatch.reportState(101, 100, True, sender=station_p)
    with refused(dispatch.InvalidThresholds, supplyThreshold=5, absorbThreshold=5, capacity=4):
        dispatch.reportState(1, 4, True, sender=station_p)
    assert snapshot(dispatch, [user]) == before


def test_settlement_reports_the_period_and_starts_afresh(two_stations, chain, operator, stranger, station_q, user):
    dispatch = two_stations
    dispatch.request(SUPPLY, 3, sender=user)
    for _ in range(3):
        dispatch.transferUnit(user, sender=station_q)
    period = dispatch.periodAt(chain.pending_timestamp)
    assert dispatch.settle(2, sender=operator).events == [
        dispatch.StationPaidBack(2, period, 0),
        dispatch.StationSettled(2, 1, 3, 0, 3 * 70_000),
    ]
    with refused(dispatch.AlreadySettled, station=2, period=period):
        dispatch.settle(2, sender=operator)
    chain.pending_timestamp = dispatch.genesis() + (period + 1) * PERIOD
    assert dispatch.settle(2, sender=operator).events == [
        dispatch.StationPaidBack(2, period + 1, 0),
        dispatch.StationSettled(2, 2, 0, 0, 0),
    ]
    with refused(dispatch.NotCompany, caller=stranger.address):
        dispatch.settle(2, sender=stranger)
    with refused(dispatch.UnknownStation, station=9):
        dispatch.settle(9, sender=operator)
