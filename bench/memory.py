"""Resident memory of the backend (on its embedded chain, and in front of a node) and of one meter
bridge daemon, idle and under the load test's largest step.

    .venv/bin/python -m bench.memory [--transactions 10000] [--rate 4000]

Each server is started as it is deployed, ``python -m backend serve`` with its default settings
(gunicorn, one process of 16 threads; in front of anvil with the keeper off, as in
``bench/load.py``), and the meter bridge as systemd starts it, ``python -m meter_bridge run``,
reading one simulated DL/T 645 meter on a pseudo-terminal and posting to the embedded backend's
``/rpc``, its meter bound to a prosumer of that market. Memory is the resident set (VmRSS) of
the process and all its children (gunicorn's arbiter and worker), sampled every 0.2 s: idle is
the largest sample over ``IDLE_SECONDS`` once the process is up; under load, the largest while
``--transactions`` signed transactions (the size of ``bench/load.py``'s largest step) are sent
to ``/rpc`` at its largest rate, in its batches of 100 from 8 clients, and until the last is
answered. The meter bridge's load row is taken while its backend carries that load. Writes
``bench/results/memory.md`` and ``memory.csv``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from web3 import Web3

from bench.common import RESULTS, JsonRpc, machine, markdown_table, write_csv
from bench.load import send_paced
from bench.market_txs import Signer, deploy
from bench.senders import ImpersonatedSender
from devnet.nodes import ANVIL_CHAIN_ID, ANVIL_FUNDED_KEY, anvil, free_port, stop_processes, wait_for_rpc
from meter_bridge.simulator import launch
from p2pkit.keyfiles import write_private_file
from p2pkit.market import Deployment, attach
from p2pkit.schedule import Schedule
from p2pkit.transactions import send, transfer

ROOT = Path(__file__).resolve().parent.parent
IDLE_SECONDS = 5.0
# The bridge decrypts its meters' keystores as it starts (scrypt, about 256 MiB for a moment);
# idle is measured after this long.
BRIDGE_START_SECONDS = 15.0
SAMPLE_SECONDS = 0.2
MIB = 2**20
# The load test's largest step: bench/load.py's top rate, its cohort capped at 10,000 prosumers.
LARGEST_RATE = 4000.0
LARGEST_STEP = 10_000
METER_ADDRESS = "000000000161"
METER_NUMBER = 161
CALL_GAS = 500_000  # fixed: an estimate can outlast the embedded chain's time for a request on a loaded machine


def tree_rss(pid: int) -> int:
    """Resident bytes of process `pid` and every descendant (0 for a process that is gone)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


class Sampler:
    """The largest resident size of a process tree seen since the last `reset`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(SAMPLE_SECONDS)

    def reset(self) -> None:
        self.peak = tree_rss(self.pid)

    def window(self, seconds: float) -> int:
        """The peak over the next `seconds`."""
        self.reset()
        time.sleep(seconds)
        return self.peak


@dataclass
class Row:
    process: str
    mode: str
    idle: int
    loaded: int
    note: str

    def cells(self) -> list:
        return [self.process, self.mode, f"{self.idle / MIB:.0f}", f"{self.loaded / MIB:.0f}", self.note]


@contextlib.contextmanager
def backend(chain: str, folder: Path, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """`python -m backend serve` on a free loopback port; yields the process and the base URL."""
    port = free_port()
    command = [sys.executable, "-m", "backend", "serve", "--chain", chain, "--port", str(port)]
    if chain == "embedded":
        command += ["--keys-out", str(folder / "keys"), "--deployment-out", str(folder / "deployment.json")]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("P2P_")}
    with open(folder / f"backend-{port}.log", "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env={**clean, **(env or {})}, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_rpc(f"{url}/rpc", process, timeout=120)
        yield process, url
    finally:
        stop_processes([process], timeout=15)


def load_step(rpc_url: str, key: str, chain_id: int, transactions: int, rate: float) -> str:
    """`transactions` signed transfers from `key`, sent to `rpc_url` as bench/load.py sends a step;
    how many were accepted."""
    rpc = JsonRpc(rpc_url)
    account = Account.from_key(key)
    nonce = int(rpc.call("eth_getTransactionCount", account.address, "pending"), 16)
    gas_price = 2 * int(rpc.call("eth_gasPrice"), 16) + 10**9
    signer = Signer(chain_id, gas_price, account.address)
    sink = Account.create().address
    txs = [signer.sign(account, nonce + i, "0x", 21_000, "transfer", to=sink, value=1) for i in range(transactions)]
    sent = send_paced(rpc_url, txs, rate, clients=8)
    accepted = sum(s.error is None for s in sent)
    window = max(s.answered for s in sent) - min(s.started for s in sent)
    refused = Counter(s.error for s in sent if s.error is not None)
    why = "".join(f"; {count:,} refused: {error}" for error, count in refused.most_common(2))
    return f"{accepted:,} of {transactions:,} accepted in {window:.0f} s{why}"


@contextlib.contextmanager
def meter_bridge(folder: Path, base_url: str) -> Iterator[subprocess.Popen]:
    """One bridge daemon posting a simulated meter's readings to the embedded backend at
    `base_url`, its meter bound to a new prosumer by the market's operator."""
    w3 = Web3(Web3.HTTPProvider(f"{base_url}/rpc", request_kwargs={"timeout": 60}))
    deployment = Deployment.load(folder / "deployment.json")
    market = attach(w3, deployment.market)
    operator = Account.from_key((folder / "keys" / "operator.key").read_text().strip())
    prosumer, meter = Account.create(), Account.create()
    transfer(w3, operator, prosumer.address, 10**18)
    transfer(w3, operator, meter.address, 10**17)
    send(w3, market.functions.register("bench-meter", True, True), prosumer, gas=CALL_GAS)
    send(w3, market.functions.setAuthorization(prosumer.address, True), operator, gas=CALL_GAS)
    send(
        w3, market.functions.bindMeter(prosumer.address, meter.address, METER_NUMBER, 1_000_000), operator, gas=CALL_GAS
    )
    write_private_file(folder / "meter.password", "bench\n")
    keystore = folder / "meter.json"
    write_private_file(keystore, json.dumps(Account.encrypt(meter.key, "bench")))
    simulator, port = launch("--echo", "--meter", f"{METER_ADDRESS},power=-50")
    config = folder / "bridge.toml"
    config.write_text(
        f"""
[bus]
port = "{port}"
[chain]
rpc_url = "{base_url}/rpc"
market_address = "{deployment.market}"
[daemon]
database = "{folder / "outbox.sqlite3"}"
[[meters]]
name = "bench"
address = "{METER_ADDRESS}"
meter_number = {METER_NUMBER}
register = "reverse"
keystore = "{keystore}"
password_file = "{folder / "meter.password"}"
"""
    )
    with open(folder / "bridge.log", "wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "meter_bridge", "run", "--config", str(config)], cwd=ROOT, stdout=log, stderr=log
        )
    try:
        yield daemon
        if daemon.poll() is not None:
            raise RuntimeError(f"the meter bridge exited: {(folder / 'bridge.log').read_text()[-2000:]}")
    finally:
        stop_processes([daemon, simulator])


def embedded_rows(folder: Path, transactions: int, rate: float) -> list[Row]:
    with backend("embedded", folder) as (server, url), Sampler(server.pid) as server_memory:
        time.sleep(IDLE_SECONDS)
        with meter_bridge(folder, url) as daemon, Sampler(daemon.pid) as bridge_memory:
            time.sleep(BRIDGE_START_SECONDS)
            bridge_start = bridge_memory.peak
            server_idle = server_memory.window(IDLE_SECONDS)
            bridge_idle = bridge_memory.window(IDLE_SECONDS)
            server_memory.reset()
            bridge_memory.reset()
            rpc = JsonRpc(f"{url}/rpc")
            chain_id = int(rpc.call("eth_chainId"), 16)
            dev_key = "0x" + (1).to_bytes(32, "big").hex()  # eth-tester's first funded account
            note = load_step(f"{url}/rpc", dev_key, chain_id, transactions, rate)
            return [
                Row("backend", "embedded chain (python -m backend serve)", server_idle, server_memory.peak, note),
                Row(
                    "meter bridge",
                    "one daemon, one meter, posting to the embedded backend",
                    bridge_idle,
                    bridge_memory.peak,
                    f"while its backend carried the load; {bridge_start / MIB:.0f} MiB at most in its first"
                    f" {BRIDGE_START_SECONDS:g} s (the keystore's scrypt decryption)",
                ),
            ]


def node_rows(folder: Path, transactions: int, rate: float) -> list[Row]:
    with anvil("--no-mining", "--order", "fifo", "--auto-impersonate") as node_url:
        rpc = JsonRpc(node_url)
        w3 = Web3(Web3.HTTPProvider(node_url))
        operator = Account.from_key(ANVIL_FUNDED_KEY)
        market = deploy(w3, ImpersonatedSender(rpc), operator, Account.create().address, Schedule())
        rpc.call("evm_setIntervalMining", 1)
        deployment = Deployment(ANVIL_CHAIN_ID, market, operator.address, operator.address, 0)
        deployment.save(folder / "node-deployment.json")
        env = {"P2P_DEPLOYMENT": str(folder / "node-deployment.json"), "P2P_KEEPER": "0"}
        with backend(node_url, folder, env) as (server, url), Sampler(server.pid) as memory:
            time.sleep(IDLE_SECONDS)
            idle = memory.window(IDLE_SECONDS)
            memory.reset()
            note = load_step(f"{url}/rpc", ANVIL_FUNDED_KEY, ANVIL_CHAIN_ID, transactions, rate)
            return [Row("backend", "in front of anvil, 1 s blocks (keeper off)", idle, memory.peak, note)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=LARGEST_STEP, help="transactions of the load")
    parser.add_argument("--rate", type=float, default=LARGEST_RATE, help="their target send rate, tx/s")
    args = parser.parse_args(argv)
    machine()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        rows = embedded_rows(Path(folder), args.transactions, args.rate)
        rows += node_rows(Path(folder), args.transactions, args.rate)
    headers = ["process", "mode", "idle RSS (MiB)", "under load, peak RSS (MiB)", "load"]
    report = "\n".join(
        [
            "# Memory: resident set of the backend and of a meter bridge daemon",
            "",
            f"Machine: {machine()}.",
            "",
            f"Load: {args.transactions:,} signed transactions sent to the backend's /rpc at a target of"
            f" {args.rate:,.0f} tx/s (bench/load.py's largest step: its top rate and largest cohort), batches"
            " of 100 from 8 clients. RSS of the process and its children (gunicorn's arbiter and worker),"
            f" sampled every {SAMPLE_SECONDS} s; idle: the largest sample over {IDLE_SECONDS:g} s.",
            "",
            markdown_table(headers, [r.cells() for r in rows], numeric_from=2),
            "",
        ]
    )
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "memory.md").write_text(report)
    write_csv(
        RESULTS / "memory.csv",
        ["process", "mode", "idle_rss_mib", "loaded_peak_rss_mib", "load"],
        [r.cells() for r in rows],
    )
    print(f"written to {RESULTS}/memory.md, memory.csv")


if __name__ == "__main__":
    main()
