"""The station's own meter on the meter bridge: a simulated DL/T 645 meter on a real
pseudo-terminal whose registers follow what the station daemon's battery metered at its
terminals (exported: supplied to users; imported: taken in), read with the bridge's `read`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from station_support import battery

from meter_bridge.simulator import FollowedRegisters, launch
from p2pkit.stations import Direction

STATION_METER = "000000000901"
FORWARD, REVERSE = "00010000", "00020000"  # imported, exported active energy


@pytest.fixture
def station_meter(tmp_path):
    """The meter file the daemon writes, and the pty of a simulated meter following it."""
    meter_file = tmp_path / "station-meter.json"
    simulator, port = launch("--meter", f"{STATION_METER},follow={meter_file}")
    try:
        yield meter_file, port
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


def read_register(port: str, di: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "meter_bridge", "read", "--port", port, "--address", STATION_METER, "--di", di],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["value"]


def test_the_station_meter_reads_what_the_battery_supplied_and_took_in(grid, make_daemon, station_meter):
    meter_file, port = station_meter
    daemon = make_daemon(equipment=battery(), meter_file=meter_file)
    grid.user.request(Direction.SUPPLY, 2)
    daemon.step(720)  # 2 kWh out at 10 kW
    grid.user.request(Direction.ABSORB, 1)
    daemon.step(360)  # 1 kWh in

    assert (read_register(port, REVERSE), read_register(port, FORWARD)) == ("2.00", "1.00")


def test_a_station_meter_whose_file_is_not_written_yet_reads_no_energy(station_meter):
    assert read_register(station_meter[1], REVERSE) == "0.00"


@pytest.mark.parametrize(
    "text", ['{"imported_kwh": -1, "exported_kwh": 2}', '{"imported_kwh": "NaN", "exported_kwh": 1}', "not json", "[]"]
)
def test_a_meter_file_with_absurd_energy_reads_as_none(tmp_path, text):
    path = tmp_path / "meter.json"
    path.write_text(text)

    assert FollowedRegisters(str(path)).energy_kwh(0) == (0.0, 0.0)
