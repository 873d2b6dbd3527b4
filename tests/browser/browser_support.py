"""What the browser tests share: Debian's Chromium, the backend serving the embedded market over
HTTP with the operator's key it made, and a known key of the embedded chain's dev accounts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

from devnet.nodes import free_port
from p2pkit.market import attach
from p2pkit.transactions import send, transfer

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Long enough for a person-paced page to seal a bid in the commit window (18 s of it), and for
# the keeper to reveal an entrusted bid in the reveal window (12 s) on a loaded machine.
PERIOD_LENGTH = 90
# Retail billing months of the test market, and the time their readings are accepted after.
MONTH_LENGTH = 90
READING_GRACE = 60
# eth-tester's dev accounts have the private keys 1, 2, 3, ...; they hold ether but no role in the
# market (whose operator and grid keys the backend makes), and the third funds the test's accounts.
FUNDER_KEY = "0x" + "3".rjust(64, "0")


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class MarketServer:
    """The backend as the pages reach it, and the operator's key it wrote out."""

    url: str
    operator_key: str

    def json(self, path: str) -> dict:
        reply = requests.get(self.url + path, timeout=10)
        reply.raise_for_status()
        return reply.json()

    def web3(self) -> Web3:
        return Web3(HTTPProvider(self.url + "/rpc", request_kwargs={"timeout": 10}))

    def send_gas_money(self, address: str, ether: int = 5) -> None:
        """Ether for gas (and deposits) to a new account, signed here and sent raw through /rpc."""
        receipt = transfer(self.web3(), Account.from_key(FUNDER_KEY), Web3.to_checksum_address(address), ether * 10**18)
        assert receipt["status"] == 1

    def transact(self, call_of, signer: LocalAccount) -> None:
        """``call_of(market functions)`` signed by ``signer`` and sent raw through /rpc."""
        w3 = self.web3()
        market = attach(w3, self.json("/api/contract")["address"])
        assert send(w3, call_of(market.functions), signer)["status"] == 1

    def authorize(self, address: str) -> None:
        """What the operator does from its page (the first test does it there)."""
        self.transact(lambda f: f.setAuthorization(address, True), Account.from_key(self.operator_key))

    def bind_meter(self, address: str, meter: str, meter_number: int, rated_power_w: int) -> None:
        """What the operator does from its page (the first test does it there)."""
        self.transact(
            lambda f: f.bindMeter(address, meter, meter_number, rated_power_w), Account.from_key(self.operator_key)
        )

    def post_reading(self, meter: LocalAccount, meter_number: int, delivery_period: int, energy_wh: int) -> None:
        """What a smart meter's bridge does: its reading of a delivery period, signed with the
        meter's own key."""
        self.transact(lambda f: f.submitReading(delivery_period, meter_number, energy_wh), meter)

    def wait_for_period(self, period: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.json("/api/status")["period"] < period:
            if time.monotonic() > deadline:
                pytest.fail(f"period {period} did not start within {seconds:g} s")
            time.sleep(0.5)

    def wait_for(self, path: str, done, seconds: float) -> dict:
        """The read API's answer at `path` once `done(answer)` holds."""
        deadline = time.monotonic() + seconds
        while not done(answer := self.json(path)):
            if time.monotonic() > deadline:
                pytest.fail(f"{path} did not get there within {seconds:g} s: {answer}")
            time.sleep(0.5)
        return answer


@contextmanager
def serving_embedded_market(
    log: Path, environment: dict[str, str] | None = None, start_seconds: float = 120
) -> Iterator[MarketServer]:
    """`python -m backend serve --chain embedded` on a free port, with a short period and short
    billing months (and the backend's other settings in ``environment``), once it serves within
    ``start_seconds`` (on a loaded machine, importing, deploying and booting take a minute)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "P2P_PERIOD_LENGTH": str(PERIOD_LENGTH),
        "P2P_RETAIL_MONTH_LENGTH": str(MONTH_LENGTH),
        "P2P_RETAIL_READING_GRACE": str(READING_GRACE),
        **(environment or {}),
    }
    with tempfile.TemporaryDirectory(prefix="p2p-browser-keys-") as keys, log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve", "--chain", "embedded", "--port", str(port), "--keys-out", keys],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_serving(url, server, log, start_seconds)
            yield MarketServer(url, (Path(keys) / "operator.key").read_text().strip())
        finally:
            server.terminate()
            server.wait(timeout=20)


def wait_until_serving(url: str, server: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the backend exited with code {server.returncode}:\n{log.read_text()}")
        try:
            if requests.get(url + "/api/contract", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"the backend did not serve /api/contract within {seconds:g} s:\n{log.read_text()}")
