"""``python -m meter_bridge run --config FILE`` as systemd starts it, against a chain over HTTP.

The backend (with its embedded chain) serves ``/rpc`` over HTTP in this process; a simulated
meter answers on a pseudo-terminal; the daemon runs in its own process on wall-clock time, so
the market period is short (5 s) and the test waits for readings to appear.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal

import pytest
from eth_account import Account
from web3 import Web3
from werkzeug.serving import make_server

from backend import create_app
from backend.upstreams import InProcessUpstream
from devnet.embedded import dev_accounts, start_embedded_chain
from meter_bridge.simulator import BusThread, PowerProfile, SimulatedBus, VirtualMeter
from p2pkit.market import attach, deploy_market
from p2pkit.schedule import Schedule
from p2pkit.transactions import send, transfer

PERIOD_SECONDS = 5
WAIT_FOR_READINGS = 45  # seconds; a few periods, generous for a loaded machine
WIND_NUMBER = 161
WIND_WH_PER_PERIOD = 500  # 360 kW exported for 5 s
# The daemon reads the register up to max_reading_delay (2 s) after each period's start, and the
# register counts in 10 Wh: at 100 Wh a second a period's energy is off by at most 200 + 10 Wh.
READING_TOLERANCE_WH = 210
PASSWORD_VARIABLE = "WIND_METER_KEYSTORE_PASSWORD"


@pytest.fixture(scope="module")
def running_bridge(tmp_path_factory):
    """Chain behind HTTP, a wind meter on a pty, and the daemon process posting its readings."""
    tmp_path = tmp_path_factory.mktemp("run")
    chain = start_embedded_chain()
    operator, grid, wind = dev_accounts(chain)[:3]
    meter = Account.create()
    market = deploy_market(chain, operator, grid.address, Schedule.scaled(PERIOD_SECONDS))
    send(chain, market.functions.register("wind", True, True), wind)
    send(chain, market.functions.bindMeter(wind.address, meter.address, WIND_NUMBER, 1_000_000), operator)  # 1 MW
    transfer(chain, operator, meter.address, 10**18)

    server = make_server("127.0.0.1", 0, create_app({"TESTING": True}, upstream=InProcessUpstream(chain)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rpc_url = f"http://127.0.0.1:{server.server_port}/rpc"

    keystore = tmp_path / "wind.json"
    keystore.write_text(json.dumps(Account.encrypt(meter.key, "secret", kdf="pbkdf2", iterations=2)))
    wind_meter = VirtualMeter("000000000161", reverse_kwh=Decimal("10.00"), profile=PowerProfile((-360.0,)))
    with BusThread(SimulatedBus([wind_meter], echo=True)) as line:
        config = tmp_path / "bridge.toml"
        config.write_text(
            f"""
[bus]
port = "{line.port}"
reply_timeout = 0.3
[chain]
rpc_url = "{rpc_url}"
market_address = "{market.address}"
[daemon]
database = "{tmp_path / "outbox.sqlite3"}"
tick = 0.3
max_reading_delay = 2
[[meters]]
name = "wind"
address = "000000000161"
meter_number = {WIND_NUMBER}
register = "reverse"
keystore = "{keystore}"
password_env = "{PASSWORD_VARIABLE}"
"""
        )
        log = tmp_path / "daemon.log"
        with log.open("w") as log_file:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "meter_bridge", "run", "--config", str(config)],
                env={**os.environ, PASSWORD_VARIABLE: "secret"},
                stderr=log_file,
            )
        market_over_http = attach(Web3(Web3.HTTPProvider(rpc_url)), market.address)
        wind_id = market.functions.accountOf(wind.address).call().id
        yield daemon, market_over_http, log, wind_id
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    server.shutdown()


def posted_readings(market) -> list:
    return market.events.ReadingPosted.get_logs(from_block=0)


def test_daemon_posts_each_periods_energy_for_the_meters_prosumer(running_bridge):
    daemon, market, log, wind_id = running_bridge
    deadline = time.monotonic() + WAIT_FOR_READINGS
    while len(posted_readings(market)) < 2 and daemon.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    readings = [event.args for event in posted_readings(market)]

    assert len(readings) >= 2, log.read_text()
    assert {(r.prosumerId, r.meterNumber) for r in readings} == {(wind_id, WIND_NUMBER)}
    assert all(abs(r.energyWh - WIND_WH_PER_PERIOD) <= READING_TOLERANCE_WH for r in readings), readings
    periods = [r.deliveryPeriod for r in readings]
    assert len(set(periods)) == len(periods), periods  # one reading a period


def test_daemon_stops_cleanly_on_sigterm(running_bridge):
    daemon, *_ = running_bridge
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0


def test_run_with_a_missing_config_exits_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "meter_bridge", "run", "--config", str(tmp_path / "absent.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "cannot read" in result.stderr
