"""What the station daemon's tests share besides fixtures: the chain's grid of roles, a battery
like the stations', and the units a user was confirmed."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from p2pkit.stations import DispatchClient
from sim.battery import SimulatedBattery

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


def battery(**overrides) -> SimulatedBattery:
    settings = {
        "capacity_kwh": CAPACITY,
        "stored_kwh": STORED,
        "max_discharge_kw": 50,
        "max_charge_kw": 50,
        "efficiency": 0.95,
    }
    return SimulatedBattery(**{**settings, **overrides})


def units_transferred(grid: Grid, user: str) -> int:
    return len(grid.dispatch.events.UnitTransferred.get_logs(from_block=0, argument_filters={"user": user}))
