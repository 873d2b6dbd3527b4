"""Local JSON-RPC servers for the backend tests: anvil's location and dev account, free ports,
and waiting for a freshly started server to answer."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ANVIL = Path(__file__).resolve().parents[2] / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
# anvil's first dev account, the same on every anvil (from its default mnemonic).
ANVIL_FUNDED_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_CHAIN_ID = 31337


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_answering(url: str, node: subprocess.Popen, attempts: int = 200) -> None:
    """Return once a JSON-RPC request to `url` succeeds; fail the test if `node` dies first."""
    ask = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    for _ in range(attempts):
        if node.poll() is not None:
            pytest.fail(f"{node.args[0]} exited with code {node.returncode} before answering at {url}")
        try:
            requests.post(url, json=ask, timeout=1).raise_for_status()
            return
        except requests.RequestException:
            time.sleep(0.05)
    pytest.fail(f"nothing answered at {url}")
