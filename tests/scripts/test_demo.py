"""make demo's script: the platform comes up on its own, under keys of its own, and trades, with
meters reporting, converts tokens to energy rights through the sister chains' relayer, and runs
two storage stations that supply and take in the prosumers' energy."""

import json
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from devnet.nodes import free_port
from p2pkit.sister.lock import attach
from p2pkit.transactions import send

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"
PERIOD = 30
MONTH = 60  # the retail contracts' billing month
# The demo waits for each prosumer's bid in flight (up to 30 s each), then stops its processes.
STOP_SECONDS = 180
BANNER_LINES = 12  # what the demo prints before it says Ctrl-C stops it


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@dataclass
class Demo:
    process: subprocess.Popen
    port: int
    banner: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo running, once for the module; the last test stops it with Ctrl-C."""
    port = free_port()
    with open(tmp_path_factory.mktemp("demo") / "demo.err", "w") as errors:
        process = subprocess.Popen(
            [
                sys.executable,
                str(SCRIPT),
                "--port",
                str(port),
                "--period-length",
                str(PERIOD),
                "--month-length",
                str(MONTH),
            ],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    banner = []
    while len(banner) < BANNER_LINES and not any("Ctrl-C" in line for line in banner):
        banner.append(process.stdout.readline())
    yield Demo(process, port, "".join(banner))
    if process.poll() is None:  # a test failed before Ctrl-C: stop it as Ctrl-C does, with its children
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_demo_prints_an_operator_key_of_its_own_readable_by_its_owner_only(demo):
    [key_file] = re.findall(r"(\S+/operator\.key)", demo.banner)

    operator = get(f"http://127.0.0.1:{demo.port}/api/contract")["operator"]
    assert (
        Account.from_key(Path(key_file).read_text().strip()).address,
        stat.S_IMODE(Path(key_file).stat().st_mode),
    ) == (
        operator,
        0o600,
    )


def poll(url: str, done, seconds: float):
    """``url``'s answer once ``done(answer)``, asking every 2 s; a busy chain's 503, or an answer
    slower than ``get`` waits, is asked again."""
    deadline = time.monotonic() + seconds
    answer = None
    while time.monotonic() < deadline:
        try:
            answer = get(url)
        except urllib.error.HTTPError as error:
            if error.code != 503:
                raise
        except TimeoutError:  # the machine is slower than the poll
            pass
        else:
            if done(answer):
                return answer
        time.sleep(2)
    pytest.fail(f"{url} did not answer as expected within {seconds:g} s (last: {answer})")


def test_demo_converts_a_prosumers_tokens_to_rights_through_the_relayer(demo):
    [key_file] = re.findall(r"(\S+/)operator\.key", demo.banner)
    wind = Account.from_key(Path(key_file, "wind.key").read_text().strip())
    backend = f"http://127.0.0.1:{demo.port}"
    account = f"{backend}/api/sister/accounts/{wind.address}"
    poll(account, lambda answer: answer["balances"]["trading"]["balance"] == "1000", 180)
    w3 = Web3(Web3.HTTPProvider(f"{backend}/rpc"))
    trading = attach("trading", w3, get(f"{backend}/api/sister")["trading"]["lock"])
    send(w3, trading.lock.functions.lock(30, wind.address), wind)
    done = poll(account, lambda answer: answer["transfers"] and answer["transfers"][0]["state"] == "unlocked", 600)
    assert (done["balances"]["trading"]["balance"], done["balances"]["scheduling"]["balance"]) == ("970", "30")


def test_demo_settles_a_bilateral_month_from_both_meters_monthly_readings(demo):
    assert re.search(r"publishes plans 1, 2, 3; contract 1: wind sells EV charger", demo.banner), demo.banner
    poll(f"http://127.0.0.1:{demo.port}/api/retail/plans", lambda answer: len(answer["plans"]) == 3, 60)

    def metered_month(answer) -> bool:
        return any(m["buyer_metered"] and m["seller_metered"] for c in answer["contracts"] for m in c["settled"])

    poll(f"http://127.0.0.1:{demo.port}/api/retail/contracts", metered_month, 6 * MONTH)


def test_demo_prosumers_trade_in_the_continuous_phase(demo):
    """What the auction left is re-priced (or met by a market order) in the continuous window."""
    base = f"http://127.0.0.1:{demo.port}/api"
    current = poll(f"{base}/status", lambda answer: True, 60)["period"]
    # Any period from a few back to the one being bid for now has traded in its window.
    poll(
        f"{base}/periods?from={max(0, current - 4)}&to={current + 8}",
        lambda answer: any(t["phase"] == "continuous" for p in answer["periods"] for t in p["trades"]),
        8 * PERIOD,
    )


def test_demo_runs_two_storage_stations_that_move_energy_for_the_prosumers(demo):
    assert re.search(r"Storage stations: north \(#1, .*south \(#2, ", demo.banner), demo.banner

    def moved(answer) -> bool:
        return len(answer["stations"]) == 2 and any(s["supplied"] + s["absorbed"] for s in answer["stations"])

    answer = poll(f"http://127.0.0.1:{demo.port}/api/stations", moved, 8 * PERIOD)
    assert [(s["id"], s["online"], s["capacity"]) for s in answer["stations"]] == [(1, True, 100), (2, True, 80)]
    # The station's own meter is read over its serial line, and its readings logged.
    [folder] = re.findall(r"(\S+/)operator\.key", demo.banner)
    meter_log = Path(folder, "station-north.meter.log")
    deadline = time.monotonic() + 6 * PERIOD
    while time.monotonic() < deadline and not (meter_log.exists() and '"exported_kwh": "' in meter_log.read_text()):
        time.sleep(2)
    assert '"exported_kwh": "' in meter_log.read_text()


def test_demo_trades_and_settles_with_meter_readings_and_stops_on_ctrl_c(demo):
    assert f"http://127.0.0.1:{demo.port}/" in demo.banner
    assert "<title>" in urllib.request.urlopen(f"http://127.0.0.1:{demo.port}/", timeout=10).read().decode()
    deadline = time.monotonic() + 8 * PERIOD
    settled = []
    while not settled and time.monotonic() < deadline:
        time.sleep(2)
        periods = get(f"http://127.0.0.1:{demo.port}/api/periods")["periods"]  # the last 96
        settled = [p for p in periods if p["trades"] and any(s["metered"] for s in p["settlements"])]
    demo.process.send_signal(signal.SIGINT)
    demo.process.wait(timeout=STOP_SECONDS)
    assert settled, "no period was matched and settled with meter readings"
    assert (demo.process.returncode, "stopped" in demo.process.stdout.read()) == (0, True)
