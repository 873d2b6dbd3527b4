"""Storage stations beside a development backend that serves a dispatch contract
(`STATIONS_DISPATCH=embedded`): stations registered by the energy company (the operator), lines
from the users to each, a station daemon (`python -m station run`) with a simulated battery for
each, reaching the scheduling chain through the backend's `/rpc/scheduling` like any client, the
station's own meter simulated on a pseudo-terminal following the battery; and users asking the
stations for energy now and then. What `make demo` runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import Web3Exception

from p2pkit.keyfiles import create_keystore, write_private_file
from p2pkit.stations import Direction, DispatchClient, dispatch_at, loss_ppm
from p2pkit.transactions import ContractRefused, TransactionReverted, transfer

STATION_PASSWORD = "development station"
STATION_ETHER = 10 * 10**18
THRESHOLD_UNITS = 5  # available to supply (absorb) while holding (having room for) this much
# Seconds between a station daemon's steps: each is a handful of calls on the embedded chain,
# which answers one request at a time among the prosumers', meter boxes', keeper's and relayer's.
STATION_TICK = 5.0


@dataclass(frozen=True)
class StationPlan:
    name: str
    capacity_kwh: int
    stored_kwh: int
    max_kw: float


DEMO_STATIONS = (StationPlan("north", 100, 60, 40.0), StationPlan("south", 80, 20, 25.0))


@dataclass
class RunningStation:
    name: str
    station_id: int
    address: str
    meter_port: str
    log: Path

    @property
    def meter_address(self) -> str:
        return f"{900 + self.station_id:012d}"

    @property
    def meter_log(self) -> Path:
        return self.log.with_suffix(".meter.log")


def start_stations(
    backend_url: str, operator: LocalAccount, folder: Path, users: list[str], speed: float
) -> tuple[list[subprocess.Popen], list[RunningStation]]:
    """The demo's stations registered, each user given a line to each (a different loss rate
    per pair, so that dispatch has a choice), and each station's daemon and meter started. The
    batteries run ``speed`` simulated seconds per second."""
    overview = requests.get(f"{backend_url}/api/stations", timeout=30).json()
    w3 = Web3(Web3.HTTPProvider(backend_url + overview["rpc"]))
    dispatch = dispatch_at(w3, overview["dispatch"])
    company = DispatchClient(w3, dispatch, operator)
    processes, running = [], []
    for index, plan in enumerate(DEMO_STATIONS):
        keystore, password = folder / f"station-{plan.name}.json", folder / f"station-{plan.name}.password"
        write_private_file(password, STATION_PASSWORD)
        account = create_keystore(str(keystore), str(password))
        transfer(w3, operator, account.address, STATION_ETHER)
        station_id = company.register_station(
            account.address, plan.stored_kwh, plan.capacity_kwh, THRESHOLD_UNITS, THRESHOLD_UNITS
        )
        for number, user in enumerate(users):
            # 3 % to 11 %: the wind turbine (user 0) is nearest the first station, the EV
            # charger (user 2) the second, and each station is the nearer one for half the users.
            company.set_line(user, station_id, loss_ppm(0.03 + 0.02 * ((number + 3 * index) % 5)))
        meter_file = folder / f"station-{plan.name}.meter.json"
        meter, port = start_station_meter(900 + station_id, meter_file)  # RunningStation.meter_address
        log = folder / f"station-{plan.name}.log"
        environment = {
            **os.environ,
            "STATION_CHAIN_RPC_URL": backend_url + overview["rpc"],
            "STATION_CHAIN_DISPATCH": dispatch.address,
            "STATION_CHAIN_RPC_TIMEOUT": "30",
            "STATION_STATION_KEYSTORE": str(keystore),
            "STATION_STATION_PASSWORD_FILE": str(password),
            "STATION_BATTERY_CAPACITY_KWH": str(plan.capacity_kwh),
            "STATION_BATTERY_STORED_KWH": str(plan.stored_kwh),
            "STATION_BATTERY_MAX_DISCHARGE_KW": str(plan.max_kw),
            "STATION_BATTERY_MAX_CHARGE_KW": str(plan.max_kw),
            "STATION_DAEMON_STATE_FILE": str(folder / f"station-{plan.name}.state.json"),
            "STATION_DAEMON_METER_FILE": str(meter_file),
            "STATION_DAEMON_TICK": str(STATION_TICK),
            "STATION_DAEMON_SPEED": str(speed),
        }
        with open(log, "w") as output:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "station", "run"], env=environment, stdout=output, stderr=subprocess.STDOUT
            )
        processes += [meter, daemon]
        running.append(RunningStation(plan.name, station_id, account.address, port, log))
    return processes, running


def start_station_meter(number: int, meter_file: Path) -> tuple[subprocess.Popen, str]:
    """The station's meter simulated on its own pty (``meter_bridge simulate``), its registers
    following ``meter_file``; and the pty's path, where ``python -m meter_bridge read`` reads it."""
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meter_bridge",
            "simulate",
            "--create-pty",
            "--meter",
            f"{number:012d},follow={meter_file}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return simulator, simulator.stdout.readline().strip()


# DL/T 645 identifiers of the active energy a station meter reads: taken in, supplied.
STATION_REGISTERS = {"imported_kwh": "00010000", "exported_kwh": "00020000"}


def log_station_meters(running: list[RunningStation], stop: threading.Event, every: float) -> None:
    """Read each station's meter over its serial line every ``every`` seconds, as a field
    engineer would (``python -m meter_bridge read``), one JSON line a reading in
    ``station-<name>.meter.log``: what the station metered, beside the units it confirmed."""
    while not stop.wait(every):
        for station in running:
            reading = {"at": round(time.time())}
            for register, di in STATION_REGISTERS.items():
                command = [
                    "-m",
                    "meter_bridge",
                    "read",
                    "--port",
                    station.meter_port,
                    "--address",
                    station.meter_address,
                ]
                try:
                    result = subprocess.run(
                        [sys.executable, *command, "--di", di], capture_output=True, text=True, timeout=60
                    )
                    reading[register] = json.loads(result.stdout)["value"] if result.returncode == 0 else None
                except (subprocess.TimeoutExpired, ValueError, KeyError):  # a meter that does not answer
                    reading[register] = None
            with open(station.meter_log, "a") as log:
                log.write(json.dumps(reading) + "\n")


def ask_now_and_then(
    w3: Web3,
    dispatch_address: str,
    asks: list[tuple[LocalAccount, Direction, int]],
    stop: threading.Event,
    every: float,
) -> None:
    """Each of ``asks`` (a user, a direction, units) opens its request again whenever it has
    none open, looking every ``every`` seconds; a refusal (no station available) is tried later."""
    dispatch = dispatch_at(w3, dispatch_address)
    while not stop.wait(every):
        for account, direction, units in asks:
            try:
                if not dispatch.functions.requestOf(account.address).call().open:
                    DispatchClient(w3, dispatch, account).request(direction, units)
            except (ContractRefused, TransactionReverted) as refusal:
                print(f"station request of {account.address}: {refusal}", file=sys.stderr)
            except (requests.RequestException, Web3Exception) as error:
                print(f"station request of {account.address}: the chain did not take it ({error})", file=sys.stderr)


# What a backend on an embedded chain with embedded sister chains needs to serve the stations.
BACKEND_ENVIRONMENT = {"P2P_STATIONS_DISPATCH": "embedded"}
