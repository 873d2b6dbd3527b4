"""Local Ethereum node processes (anvil) for tests, benchmarks and demos.

The anvil binary comes from the npm package ``@foundry-rs/anvil-linux-amd64`` installed by
``make setup``; nodes listen on loopback only and stop with their context.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
ANVIL = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
# anvil's first dev account, the same on every anvil (from its default mnemonic).
ANVIL_FUNDED_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_CHAIN_ID = 31337


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_rpc(url: str, process: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    """Block until ``url`` answers eth_chainId; fail early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"node exited with code {process.returncode} before answering at {url}")
        with contextlib.suppress(requests.RequestException):
            requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1)
            return
        time.sleep(0.1)
    raise RuntimeError(f"node did not answer at {url} within {timeout:.0f} s")


def stop_processes(processes: list[subprocess.Popen], timeout: float = 10.0) -> None:
    """SIGTERM every process at once, then wait; one still running after ``timeout`` is killed."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def anvil(*extra_args: str, gas_limit: int = 30_000_000) -> Iterator[str]:
    """Run anvil on a free loopback port; yields its JSON-RPC URL."""
    if not ANVIL.exists():
        raise FileNotFoundError(f"anvil not found at {ANVIL}: run `make setup`")
    port = free_port()
    process = subprocess.Popen(
        [
            str(ANVIL),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--gas-limit",
            str(gas_limit),
            "--silent",
            *extra_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_rpc(url, process)
        yield url
    finally:
        stop_processes([process])


class AnvilTime:
    """Moves anvil's clock ahead by mining a block at the time asked for; time never goes back."""

    def __init__(self, w3) -> None:
        self.w3 = w3

    def wait_until(self, timestamp: int) -> None:
        """The latest block is at `timestamp` or later."""
        if timestamp > self.w3.eth.get_block("latest")["timestamp"]:
            self.w3.provider.make_request("evm_mine", [timestamp])
