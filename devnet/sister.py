"""The sister chains beside a development backend (`SISTER_SCHEDULING_CHAIN=embedded`): the
relayer daemon reaching both chains through the backend's proxies, and an account's first
tokens and gas there. What `make demo` and the browser test run.

The relayer's key is made first (`new_relayer_key`), because both light clients are deployed
trusting it: its address goes to the backend as `P2P_SISTER_RELAYERS` (`backend_environment`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3

from p2pkit.keyfiles import create_keystore, write_private_file
from p2pkit.sister.lock import SCHEDULING, TRADING, attach
from p2pkit.transactions import send, transfer

RELAYER_PASSWORD = "development relayer"
# Batches small enough for a submission's gas to be estimated within the embedded chain's time per
# request, large enough to keep up with a block a second.
HEADER_BATCH = 16
RELAYER_POLL_SECONDS = 5.0


def new_relayer_key(folder: Path) -> tuple[Path, Path, str]:
    """A relayer keystore and its password file in ``folder`` (0600); and its address."""
    keystore, password = folder / "relayer.json", folder / "relayer.password"
    write_private_file(password, RELAYER_PASSWORD)
    return keystore, password, create_keystore(str(keystore), str(password)).address


# Seconds a request to an embedded chain may wait for its turn (and run): the relayer's steps
# are many requests, among the prosumers', the meter boxes' and the keeper's.
EMBEDDED_RPC_TIME_LIMIT = 10


def backend_environment(relayer: str) -> dict[str, str]:
    """What a backend on an embedded chain needs to serve the embedded pair relayed by ``relayer``."""
    return {
        "P2P_SISTER_SCHEDULING_CHAIN": "embedded",
        "P2P_SISTER_RELAYERS": relayer,
        "P2P_EMBEDDED_RPC_TIME_LIMIT": str(EMBEDDED_RPC_TIME_LIMIT),
    }


def start_relayer(backend_url: str, keystore: Path, password: Path, log: Path) -> subprocess.Popen:
    """``python -m relayer run`` between the backend's /rpc (trading) and /rpc/scheduling."""
    overview = requests.get(f"{backend_url}/api/sister", timeout=30).json()
    environment = {
        **os.environ,
        "RELAYER_RELAYER_KEYSTORE": str(keystore),
        "RELAYER_RELAYER_PASSWORD_FILE": str(password),
        "RELAYER_RELAYER_HEADER_BATCH": str(HEADER_BATCH),
        # A step every 5 s relays 5 headers of a chain mined every second, in one batch, and
        # leaves the embedded chains to the prosumers', meter boxes' and keeper's requests between.
        "RELAYER_RELAYER_POLL_INTERVAL": str(RELAYER_POLL_SECONDS),
        "RELAYER_TRADING_RPC_TIMEOUT": str(3 * EMBEDDED_RPC_TIME_LIMIT),
        "RELAYER_SCHEDULING_RPC_TIMEOUT": str(3 * EMBEDDED_RPC_TIME_LIMIT),
        "RELAYER_TRADING_RPC_URL": f"{backend_url}/rpc",
        "RELAYER_TRADING_LOCK": overview[TRADING]["lock"],
        "RELAYER_SCHEDULING_RPC_URL": f"{backend_url}/rpc/scheduling",
        "RELAYER_SCHEDULING_LOCK": overview[SCHEDULING]["lock"],
    }
    with open(log, "w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "relayer", "run"], env=environment, stdout=output, stderr=subprocess.STDOUT
        )


def give_sister_funds(backend_url: str, operator: LocalAccount, address: str, tokens: int, ether: int) -> None:
    """``tokens`` of the operator's on the trading chain and ``ether`` wei for gas on the
    scheduling chain to ``address``, signed here and sent raw through the backend's proxies."""
    overview = requests.get(f"{backend_url}/api/sister", timeout=30).json()
    trading_w3 = Web3(Web3.HTTPProvider(f"{backend_url}/rpc"))
    scheduling_w3 = Web3(Web3.HTTPProvider(f"{backend_url}/rpc/scheduling"))
    trading = attach(TRADING, trading_w3, overview[TRADING]["lock"])
    send(trading_w3, trading.lock.functions.transfer(address, tokens), operator)
    transfer(scheduling_w3, operator, address, ether)
