"""The station daemon asks the meters to confirm each unit it claimed: once both readings of the
period are posted, or after the reading deadline (a missing reading then pays nothing); a
confirmation done before a restart is not asked again."""

from __future__ import annotations

from station_support import battery

from devnet.embedded import TimeTravel, dev_accounts
from p2pkit.stations import Direction, DispatchClient

ONE_UNIT = 360  # at 10 kW a connection, 360 s move 1 kWh
RATED_W = 100_000


def bind_meters(grid):
    """Meters for the user and station one; their clients, which post readings."""
    user_meter, station_meter = dev_accounts(grid.w3)[6:8]
    grid.company.bind_meter(grid.user.signer.address, user_meter.address, RATED_W)
    grid.company.bind_meter(grid.stations["one"].address, station_meter.address, RATED_W)
    return DispatchClient(grid.w3, grid.dispatch, user_meter), DispatchClient(grid.w3, grid.dispatch, station_meter)


def period_end(grid, period):
    functions = grid.dispatch.functions
    return functions.genesis().call() + (period + 1) * functions.periodLength().call()


def confirmations(grid):
    return [event["args"] for event in grid.dispatch.events.UnitsConfirmed.get_logs(from_block=0)]


def test_a_claim_is_confirmed_once_both_readings_are_in(grid, make_daemon):
    user_meter, station_meter = bind_meters(grid)
    grid.user.request(Direction.SUPPLY, 2)
    daemon = make_daemon(equipment=battery())
    daemon.step(2 * ONE_UNIT)
    [[user, period, _]] = daemon.state.claims
    TimeTravel(grid.w3).wait_until(period_end(grid, period))
    user_meter.submit_reading(period, Direction.SUPPLY, 2_000)
    station_meter.submit_reading(period, Direction.SUPPLY, 2_100)

    result = daemon.step(0)

    assert result.confirmed == [(grid.user.signer.address, period, int(Direction.SUPPLY))]
    [event] = confirmations(grid)
    assert (event.user, event.station, event.claimed, event.paid) == (user, grid.ids["one"], 2, 2)
    assert make_daemon().state.claims == []


def one_unit_with_the_users_reading_only(grid, make_daemon):
    """A daemon that claimed one unit, after the period in which only the user's meter posted."""
    user_meter, _ = bind_meters(grid)
    grid.user.request(Direction.SUPPLY, 1)
    daemon = make_daemon(equipment=battery())
    daemon.step(ONE_UNIT)
    [[_, period, _]] = daemon.state.claims
    TimeTravel(grid.w3).wait_until(period_end(grid, period))
    user_meter.submit_reading(period, Direction.SUPPLY, 1_000)
    return daemon, period


def test_no_claim_is_confirmed_while_a_reading_may_still_come(grid, make_daemon):
    daemon, _ = one_unit_with_the_users_reading_only(grid, make_daemon)

    assert daemon.step(0).confirmed == []
    assert confirmations(grid) == []


def test_after_the_deadline_a_missing_reading_confirms_nothing_paid(grid, make_daemon):
    daemon, period = one_unit_with_the_users_reading_only(grid, make_daemon)
    TimeTravel(grid.w3).wait_until(period_end(grid, period) + grid.dispatch.functions.readingGrace().call())

    assert len(daemon.step(0).confirmed) == 1
    [event] = confirmations(grid)
    assert (event.claimed, event.paid) == (1, 0)


def test_a_claim_confirmed_before_a_restart_is_dropped_not_sent_again(grid, make_daemon):
    bind_meters(grid)
    grid.user.request(Direction.SUPPLY, 1)
    daemon = make_daemon(equipment=battery())
    daemon.step(ONE_UNIT)
    [[user, period, direction]] = daemon.state.claims
    TimeTravel(grid.w3).wait_until(period_end(grid, period) + grid.dispatch.functions.readingGrace().call())
    grid.user.confirm(user, grid.ids["one"], period, Direction(direction))  # anyone may; the state file still holds it

    assert make_daemon().step(0).confirmed == [(user, period, direction)]
    assert len(confirmations(grid)) == 1
    assert make_daemon().state.claims == []


def test_at_most_confirm_batch_claims_are_confirmed_per_step(grid, make_daemon):
    bind_meters(grid)
    daemon = make_daemon(equipment=battery(), confirm_batch=1)
    for _ in range(2):  # one unit in each of two periods
        grid.user.request(Direction.SUPPLY, 1)
        daemon.step(ONE_UNIT)
        TimeTravel(grid.w3).wait_until(period_end(grid, daemon.state.claims[-1][1]))
    assert len(daemon.state.claims) == 2
    last_period = daemon.state.claims[-1][1]
    TimeTravel(grid.w3).wait_until(period_end(grid, last_period) + grid.dispatch.functions.readingGrace().call())

    assert len(daemon.step(0).confirmed) == 1
    assert len(daemon.step(0).confirmed) == 1
    assert daemon.state.claims == []
