"""The station daemon on an embedded chain: dispatch's connections become set-points for the
battery, metered energy becomes units confirmed once each, and the station's state is reported
only when it matters; hostile cases: another station's user, a battery that cannot deliver, an
event read again, a crash around a unit's transaction."""

from __future__ import annotations

import pytest
from station_support import CAPACITY, STORED, battery, units_transferred
from web3.exceptions import TimeExhausted

from p2pkit.stations import Direction
from station.daemon import StationDaemon
from station.errors import NotThisStation
from station.state import StateFile

# At 10 kW a connection, 360 s move 1 kWh: one unit.
ONE_UNIT = 360


class Crash(Exception):
    """The daemon's process dies here."""


def test_a_supply_connection_discharges_the_battery_and_confirms_every_unit(grid, make_daemon):
    grid.user.request(Direction.SUPPLY, 3)
    equipment = battery()
    daemon = make_daemon(equipment=equipment)

    result = daemon.step(3 * ONE_UNIT)

    assert (result.set_point_kw, result.terminal_kwh, result.units) == (
        10.0,
        pytest.approx(3.0),
        [grid.user.signer.address] * 3,
    )
    assert not grid.dispatch.functions.requestOf(grid.user.signer.address).call().open
    assert equipment.stored_kwh == pytest.approx(STORED - 3 / 0.95)


def test_an_absorb_connection_charges_the_battery(grid, make_daemon):
    grid.user.request(Direction.ABSORB, 2)
    equipment = battery()

    result = make_daemon(equipment=equipment).step(2 * ONE_UNIT)

    assert (result.set_point_kw, len(result.units)) == (-10.0, 2)
    assert equipment.stored_kwh == pytest.approx(STORED + 2 * 0.95)


def test_a_connection_gets_only_the_power_that_finishes_its_request(grid, make_daemon):
    grid.user.request(Direction.SUPPLY, 1)

    result = make_daemon().step(2 * ONE_UNIT)

    assert (result.set_point_kw, result.terminal_kwh) == (5.0, pytest.approx(1.0))


def test_a_user_of_another_station_moves_nothing_here(grid, make_daemon):
    grid.other_user.request(Direction.SUPPLY, 3)  # its one line is to station two
    equipment = battery()

    result = make_daemon("one", equipment=equipment).step(3 * ONE_UNIT)

    assert (result.set_point_kw, result.units, equipment.stored_kwh) == (0.0, [], STORED)
    assert grid.dispatch.functions.requestOf(grid.other_user.signer.address).call().remaining == 3


def test_an_empty_battery_confirms_no_unit_and_reports_it_cannot_supply(grid, make_daemon):
    grid.user.request(Direction.SUPPLY, 3)
    daemon = make_daemon(equipment=battery(stored_kwh=0))

    result = daemon.step(3 * ONE_UNIT)

    assert (result.terminal_kwh, result.units, result.reported) == (0.0, [], (0, CAPACITY, True))
    assert not grid.dispatch.functions.connected(grid.user.signer.address).call()
    assert units_transferred(grid, grid.user.signer.address) == 0


def test_a_power_limit_slows_the_units_down(grid, make_daemon):
    grid.user.request(Direction.SUPPLY, 3)
    daemon = make_daemon(equipment=battery(max_discharge_kw=5))

    first, second = daemon.step(ONE_UNIT), daemon.step(ONE_UNIT)

    assert (first.set_point_kw, first.units, len(second.units)) == (5.0, [], 1)


def test_an_assignment_read_again_sends_no_unit_twice(grid, make_daemon):
    grid.user.request(Direction.SUPPLY, 2)
    daemon = make_daemon()
    daemon.step(2 * ONE_UNIT)
    daemon.state.cursor = 0  # every event of the chain read again

    again = daemon.step(2 * ONE_UNIT)

    assert (again.units, units_transferred(grid, grid.user.signer.address)) == ([], 2)


def test_a_crash_after_sending_a_unit_does_not_send_it_again(grid, make_daemon):
    grid.user.request(Direction.SUPPLY, 3)

    def send_then_crash(w3, raw):
        w3.eth.send_raw_transaction(raw)
        raise Crash

    with pytest.raises(Crash):
        make_daemon(broadcast=send_then_crash).step(ONE_UNIT)
    restarted = make_daemon()
    restarted.step(0)

    assert (units_transferred(grid, grid.user.signer.address), restarted.state.pending) == (1, None)
    assert grid.dispatch.functions.requestOf(grid.user.signer.address).call().remaining == 2


def test_a_crash_before_sending_a_unit_sends_it_once_after_restart(grid, make_daemon):
    grid.user.request(Direction.SUPPLY, 3)

    def crash(w3, raw):
        raise Crash

    with pytest.raises(Crash):
        make_daemon(broadcast=crash).step(ONE_UNIT)
    make_daemon().step(0)

    assert grid.dispatch.functions.requestOf(grid.user.signer.address).call().remaining == 2


def test_a_restart_carries_on_with_the_battery_and_a_part_of_a_unit(grid, make_daemon):
    grid.user.request(Direction.SUPPLY, 3)
    make_daemon().step(ONE_UNIT / 2)

    result = make_daemon(equipment=battery()).step(ONE_UNIT / 2)

    assert (len(result.units), result.terminal_kwh) == (1, pytest.approx(0.5))


def test_no_report_while_the_chain_holds_what_dispatch_needs(grid, make_daemon):
    assert make_daemon().step(60).reported is None


def test_a_drift_of_report_step_units_is_reported(grid, make_daemon):
    result = make_daemon(equipment=battery(stored_kwh=STORED - 5), report_step=5).step(0)

    assert result.reported == (STORED - 5, CAPACITY, True)
    assert grid.dispatch.functions.stationOf(grid.ids["one"]).call().stored == STORED - 5


def test_going_offline_drops_the_stations_connections(grid, make_daemon):
    grid.user.request(Direction.SUPPLY, 3)
    daemon = make_daemon()

    daemon.go_offline()

    assert not grid.dispatch.functions.connected(grid.user.signer.address).call()
    assert not grid.dispatch.functions.stationOf(grid.ids["one"]).call().online


def test_a_key_that_is_no_station_is_refused(grid, tmp_path):
    with pytest.raises(NotThisStation):
        StationDaemon(grid.w3, grid.dispatch, grid.user.signer, battery(), StateFile(tmp_path / "state.json"))


def test_no_unit_is_sent_while_one_is_still_in_flight(grid, make_daemon):
    grid.user.request(Direction.SUPPLY, 3)
    held = []

    def hold(w3, raw):  # the node takes the transaction but does not mine it
        held.append(bytes(raw))

    daemon = make_daemon(broadcast=hold, receipt_wait=0.1)
    with pytest.raises(TimeExhausted):
        daemon.step(ONE_UNIT)

    again = daemon.step(2 * ONE_UNIT)  # two more units' energy, while the first is in flight

    assert (again.units, set(held) == {held[0]}, daemon.state.pending is not None) == ([], True, True)
    assert units_transferred(grid, grid.user.signer.address) == 0
