"""`python -m relayer run` as an operator runs it, between two anvil nodes with their own chain
ids and 1 s blocks: a transfer each way, then a clean stop on SIGTERM. The key is a keystore
made by `python -m relayer new-key`; the settings are RELAYER_* variables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account
from sister_support import CONFIRMATIONS, RESERVE, SUPPLY, lock
from web3 import Web3

from devnet.nodes import ANVIL_FUNDED_KEY, anvil
from p2pkit.market import WEI_PER_ETHER
from p2pkit.sister.lock import LockTerms, deploy_pair
from p2pkit.transactions import send, transfer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TRANSFER_TIMEOUT = 90.0


def wait_until(condition, what: str, process: subprocess.Popen, log: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < TRANSFER_TIMEOUT:
        if condition():
            return time.monotonic() - started
        assert process.poll() is None, f"the relayer exited:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {TRANSFER_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")


def test_the_relayer_daemon_carries_a_transfer_each_way(tmp_path):
    password = tmp_path / "password"
    password.write_text("relayer password\n")
    password.chmod(0o600)
    keystore = tmp_path / "relayer.json"
    made = subprocess.run(
        [sys.executable, "-m", "relayer", "new-key", "--keystore", str(keystore), "--password-file", str(password)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    relayer_address = made.stdout.strip()
    with (
        anvil("--chain-id", "46611", "--block-time", "1") as trading_url,
        anvil("--chain-id", "46612", "--block-time", "1") as scheduling_url,
    ):
        trading_w3, scheduling_w3 = Web3(Web3.HTTPProvider(trading_url)), Web3(Web3.HTTPProvider(scheduling_url))
        operator = Account.from_key(ANVIL_FUNDED_KEY)
        user = Account.create()
        terms = LockTerms(SUPPLY, RESERVE, confirmations=CONFIRMATIONS)
        trading, scheduling = deploy_pair(
            (trading_w3, operator, terms), (scheduling_w3, operator, terms), [relayer_address]
        )
        for w3, chain in ((trading_w3, trading), (scheduling_w3, scheduling)):
            transfer(w3, operator, relayer_address, 10 * WEI_PER_ETHER)
            transfer(w3, operator, user.address, WEI_PER_ETHER)
            send(w3, chain.lock.functions.transfer(user.address, 1000), operator)
        environment = {
            **os.environ,
            "RELAYER_RELAYER_KEYSTORE": str(keystore),
            "RELAYER_RELAYER_PASSWORD_FILE": str(password),
            "RELAYER_RELAYER_POLL_INTERVAL": "0.5",
            "RELAYER_TRADING_RPC_URL": trading_url,
            "RELAYER_TRADING_LOCK": trading.lock.address,
            "RELAYER_SCHEDULING_RPC_URL": scheduling_url,
            "RELAYER_SCHEDULING_LOCK": scheduling.lock.address,
        }
        log = tmp_path / "relayer.log"
        with open(log, "w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "relayer", "run"],
                cwd=ROOT,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            there = lock(trading, user, 100)
            wait_until(
                lambda: scheduling.lock.functions.isUnlocked(there.lock_id).call(),
                "the unlock on the scheduling chain",
                process,
                log,
            )
            back = lock(scheduling, user, 30)
            wait_until(
                lambda: trading.lock.functions.isUnlocked(back.lock_id).call(),
                "the unlock on the trading chain",
                process,
                log,
            )
        finally:
            process.send_signal(signal.SIGTERM)
            returncode = process.wait(timeout=30)
        assert returncode == 0, log.read_text()[-3000:]
        assert trading.lock.functions.balanceOf(user.address).call() == 1000 - 100 + 30
        assert scheduling.lock.functions.balanceOf(user.address).call() == 1000 + 100 - 30
        assert "unlock trading -> scheduling: sent" in log.read_text()
