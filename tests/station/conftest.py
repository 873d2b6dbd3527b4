"""Fixtures for the station daemon's tests: an embedded scheduling chain with the dispatch
contract, two stations (one and two) of 100 kWh holding 40, a user with lines to both (5 % to
station one, 9 % to station two), and a daemon for a station with its simulated battery, its
state file in the test's folder, and a sender of raw transactions passed in."""

from __future__ import annotations

import pytest
from station_support import CAPACITY, STORED, Grid, battery

from devnet.embedded import dev_accounts, start_embedded_chain
from p2pkit.stations import DispatchClient, deploy_dispatch, loss_ppm
from station.daemon import StationDaemon, send_raw
from station.state import StateFile


@pytest.fixture
def grid() -> Grid:
    w3 = start_embedded_chain()
    company, one, two, user, other = dev_accounts(w3)[:5]
    dispatch = deploy_dispatch(w3, company)
    client = DispatchClient(w3, dispatch, company)
    ids = {
        name: client.register_station(account.address, STORED, CAPACITY, 1, 1)
        for name, account in (("one", one), ("two", two))
    }
    client.set_line(user.address, ids["one"], loss_ppm(0.05))
    client.set_line(user.address, ids["two"], loss_ppm(0.09))
    client.set_line(other.address, ids["two"], loss_ppm(0.04))
    return Grid(
        w3,
        dispatch,
        client,
        {"one": one, "two": two},
        ids,
        DispatchClient(w3, dispatch, user),
        DispatchClient(w3, dispatch, other),
    )


@pytest.fixture
def make_daemon(grid, tmp_path):
    """A daemon for station ``name`` (default one) on ``equipment`` (default a battery like the
    chain's), 10 kW a connection; the same state file for every daemon of a test, as after a
    restart."""

    def make(name="one", equipment=None, broadcast=send_raw, **settings) -> StationDaemon:
        return StationDaemon(
            grid.w3,
            grid.dispatch,
            grid.stations[name],
            equipment or battery(),
            StateFile(tmp_path / f"{name}.json"),
            connection_kw=10.0,
            broadcast=broadcast,
            **settings,
        )

    return make
