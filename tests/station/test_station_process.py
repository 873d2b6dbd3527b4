"""`python -m station run` as a process on a real node (anvil), killed with SIGKILL twice while
it supplies a request and started again: every unit the battery delivered is confirmed once, none
is lost and none sent twice. The request closes after its 20th unit, so the station's meter,
which the daemon keeps in the same state file, must then read 20 kWh supplied and less than a
21st (a unit sent twice would close it short of 20 kWh; one lost would run it past 21)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from eth_account import Account
from web3 import Web3

from devnet.nodes import anvil
from p2pkit.keyfiles import create_keystore, write_private_file
from p2pkit.stations import Direction, DispatchClient, deploy_dispatch, loss_ppm
from p2pkit.transactions import transfer

UNITS = 20
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


def anvil_account(index: int):
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def units_transferred(dispatch, user: str) -> int:
    return len(dispatch.events.UnitTransferred.get_logs(from_block=0, argument_filters={"user": user}))


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {seconds:g} s")
        time.sleep(0.2)


@pytest.mark.slow
def test_a_daemon_killed_twice_mid_request_confirms_every_delivered_unit_once(tmp_path):
    with anvil() as url:
        w3 = Web3(Web3.HTTPProvider(url))
        company, user = anvil_account(0), anvil_account(1)
        password = tmp_path / "password"
        write_private_file(password, "station")
        station = create_keystore(str(tmp_path / "station.json"), str(password))
        transfer(w3, company, station.address, 10**18)
        dispatch = deploy_dispatch(w3, company)
        client = DispatchClient(w3, dispatch, company)
        client.register_station(station.address, 50, 100, 1, 1)
        client.set_line(user.address, 1, loss_ppm(0.05))
        DispatchClient(w3, dispatch, user).request(Direction.SUPPLY, UNITS)
        state_file = tmp_path / "state.json"
        environment = {
            **os.environ,
            "STATION_CHAIN_RPC_URL": url,
            "STATION_CHAIN_DISPATCH": dispatch.address,
            "STATION_STATION_KEYSTORE": str(tmp_path / "station.json"),
            "STATION_STATION_PASSWORD_FILE": str(password),
            "STATION_BATTERY_STORED_KWH": "50",
            "STATION_DAEMON_STATE_FILE": str(state_file),
            "STATION_DAEMON_TICK": "0.2",
            "STATION_DAEMON_SPEED": "100",  # 10 kW: a unit every 3.6 s of the battery's, 36 ms here
        }

        def start() -> subprocess.Popen:
            return subprocess.Popen(
                [sys.executable, "-m", "station", "run"], env=environment, stderr=subprocess.DEVNULL
            )

        for kill_after in (4, 12):
            daemon = start()
            try:
                wait_for(
                    lambda n=kill_after: units_transferred(dispatch, user.address) >= n, 120, f"{kill_after} units"
                )
            finally:
                daemon.kill()
                daemon.wait()
        daemon = start()
        try:
            wait_for(lambda: not dispatch.functions.requestOf(user.address).call().open, 120, "the request complete")
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)

        exported = json.loads(state_file.read_text())["meter_exported_kwh"]
        assert units_transferred(dispatch, user.address) == UNITS
        assert UNITS - 1e-6 <= exported < UNITS + 1
