"""The bridge daemon as systemd starts it (``python -m meter_bridge run --config FILE``), for the
attacks on its outbox: one wind meter, a chain that nobody answers, the outbox where it is told."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account

from devnet.nodes import free_port

REPOSITORY = Path(__file__).resolve().parents[3]
KEYSTORE_PASSWORD = "meter box"
WIND_ADDRESS = "000000000161"


@dataclass(frozen=True)
class BridgeRun:
    status: int | None  # None: still running when the time was up, then killed
    stderr: str


def write_config(folder: Path, database: Path, port: str, max_reading_delay: float = 60) -> Path:
    """The configuration file, with the wind meter's keystore and password file beside it."""
    keystore, password = folder / "wind.json", folder / "wind.password"
    encrypted = Account.encrypt(Account.create().key, KEYSTORE_PASSWORD, kdf="pbkdf2", iterations=2)
    keystore.write_text(json.dumps(encrypted))
    password.write_text(KEYSTORE_PASSWORD)
    config = folder / "bridge.toml"
    config.write_text(
        f"""
[bus]
port = "{port}"
reply_timeout = 0.3
[chain]
rpc_url = "http://127.0.0.1:{free_port()}/rpc"
market_address = "0x{"11" * 20}"
rpc_timeout = 1
[daemon]
database = "{database}"
tick = 0.2
max_reading_delay = {max_reading_delay}
[[meters]]
name = "wind"
address = "{WIND_ADDRESS}"
meter_number = 161
register = "reverse"
keystore = "{keystore}"
password_file = "{password}"
"""
    )
    return config


def run_bridge(config: Path, timeout: float = 60) -> BridgeRun:
    """Run the daemon until it exits by itself, or at most ``timeout`` seconds."""
    command = [sys.executable, "-m", "meter_bridge", "run", "--config", str(config)]
    try:
        result = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        stderr = expired.stderr or b""
        return BridgeRun(None, stderr.decode() if isinstance(stderr, bytes) else stderr)
    return BridgeRun(result.returncode, result.stderr)
