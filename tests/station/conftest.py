"""Fixtures for the station daemon's tests: an embedded scheduling chain with the dispatch
contract, two stations (one and two) of 100 kWh holding 40, a user with lines to both (5 % to
station one, 9 % to station two), and a daemon for a station with its simulated battery, its
state file in the test's folder, and a sender of raw transactions passed in."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from devnet.embedded import dev_accounts, start_embedded_chain
from p2pkit.stations import DispatchClient, deploy_dispatch, loss_ppm
from sim.battery import SimulatedBattery
from station.daemon import StationDaemon, send_raw
from station.state import StateFile

STORED = 40
CAPACITY = 100


@dataclass
class Grid:
    w3: Web3
    dispatch: Contract
    company: DispatchClient
    stations: dict[str, LocalAccount]
    ids: dict[str, int]
    user: DispatchClient
    other_user: DispatchClient


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


def battery(**overrides) -> SimulatedBattery:
    settings = {
        "capacity_kwh": CAPACITY,
        "stored_kwh": STORED,
        "max_discharge_kw": 50,
        "max_charge_kw": 50,
        "efficiency": 0.95,
    }
    return SimulatedBattery(**{**settings, **overrides})


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


def units_transferred(grid: Grid, user: str) -> int:
    return len(grid.dispatch.events.UnitTransferred.get_logs(from_block=0, argument_filters={"user": user}))
