"""Load test of the market in the style of Hyperledger Caliper: send rate, latency, throughput.

    .venv/bin/python -m bench.load [--rates 100,250,500,1000,2000,4000] [--chains anvil:1:30M]

Many prosumers, each committing a sealed bid, revealing it and later receiving its meter's
reading, as raw transactions signed beforehand with eth-account (nonces counted locally), sent
by concurrent clients in JSON-RPC batches (a) straight to the node and (b) through the backend's
``/rpc`` running under gunicorn with workers. Every step of target send rate is one market
period: the cohort's commits are sent at that rate, then (chain time moved to the reveal phase)
its reveals, then (moved past the delivery period) its readings. A cohort is as many prosumers as
the rate sends in ``--phase-seconds`` (at least 100, at most ``--max-prosumers``). Direct and
proxy steps alternate at each rate. A second anvil with blocks too large for gas to bound
throughput (``--large-blocks``) measures the path from clients through ``/rpc`` into the node
on its own.

Measured as Caliper does, over the three phases of a step:

* succeeded: included in a block with status 1; failed: refused when sent, reverted, or never
  included (a phase waits until no transaction of it has been included for ``STALL_BLOCKS``
  block times);
* send rate: transactions sent / time from the first request's start to the last answer;
* latency: from the moment a transaction's batch request was started to the moment its block
  was first seen by a watcher that polls the node's ``eth_blockNumber`` every 20 ms (so
  latency includes up to 20 ms of polling and is never shorter than the wait for the next
  block); max / min / average over the succeeded transactions;
* throughput: succeeded / time from the first send to the last inclusion seen.

On anvil (interval mining, first-in-first-out pool, base fee starting at 0) the market's clock
is moved between phases with ``evm_increaseTime``; the rest of the time blocks come every
block-time seconds. On Geth (``devnet.geth``, when installed with its DAGs) phases follow the
wall clock of a short market period, and a direct and a proxy cohort share one period, one
after the other in each phase. Prosumers are registered, authorized, funded and bound to
meters before any step; that setup is not measured. Writes ``bench/results/throughput.csv``,
``throughput.md`` and ``throughput.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests
from eth_account import Account
from web3 import Web3

from bench.common import RESULTS, JsonRpc, machine, markdown_table, published_table, write_csv
from bench.market_txs import (
    Prosumer,
    SignedTx,
    Signer,
    anchor_price,
    anchors,
    band_bids,
    deploy,
    enrol,
    fund,
    fund_on_anvil,
    population,
    refresh_nonces,
    revealed_bid_id,
    sign_commits,
    sign_readings,
    sign_reveals,
)
from bench.senders import ImpersonatedSender, PresignedSender, send_signed
from devnet.nodes import ANVIL, ANVIL_CHAIN_ID, ANVIL_FUNDED_KEY, anvil, free_port, stop_processes, wait_for_rpc
from p2pkit.bids import SealedBid
from p2pkit.market import Deployment, attach
from p2pkit.schedule import Schedule

try:  # the Geth private network, where the tree has it
    from devnet import geth
except ImportError:
    geth = None

ROOT = Path(__file__).resolve().parent.parent
CSV_COLUMNS = [
    "target",
    "send_rate",
    "succeeded",
    "failed",
    "max_latency_s",
    "min_latency_s",
    "avg_latency_s",
    "throughput_tps",
]
BLOCK_POLL_SECONDS = 0.02
# A phase gives up on its missing transactions once none has been included for this many
# block times.
STALL_BLOCKS = 10
# Most requests in one JSON-RPC batch: the backend's default P2P_MAX_BATCH.
MAX_BATCH = 100
# Batches are sent about this often, so a step's rate is spread over time rather than burst.
BATCH_INTERVAL_SECONDS = 0.1
SEND_TIMEOUT_SECONDS = 60
GWEI = 10**9
# Geth's base fee starts at 1 gwei and rises 12.5 % a full block; 10 gwei keeps a margin.
GETH_GAS_PRICE = 10 * GWEI


@dataclass(frozen=True)
class ChainSettings:
    node: str  # "anvil" or "geth"
    block_time: float  # seconds: anvil's interval; on Geth the mean interval measured at start
    gas_limit: int

    @property
    def name(self) -> str:
        if self.node == "geth":
            return "geth-pow"
        return f"{self.node}-{self.block_time:g}s-{self.gas_limit // 1_000_000}M"

    def describe(self) -> str:
        if self.node == "anvil":
            purpose = (
                " - blocks larger than a real chain's, so that gas does not bound throughput: this one measures"
                " the path from clients through /rpc into the node"
                if self.gas_limit > 30_000_000
                else ""
            )
            return (
                f"anvil {self.block_time:g} s blocks (interval mining), {self.gas_limit:,} gas per block,"
                f" first-in-first-out pool, base fee from 0{purpose}"
            )
        return (
            f"Geth v1.11.6 proof of work, one node mining with one thread (blocks every {self.block_time:.1f} s"
            f" on average when the run started), {self.gas_limit:,} gas per block"
        )


def anvil_version() -> str:
    """ "anvil Version: 1.7.1" as the binary reports it."""
    result = subprocess.run([str(ANVIL), "--version"], capture_output=True, text=True)
    return result.stdout.splitlines()[0] if result.returncode == 0 and result.stdout else "anvil (version unknown)"


def parse_chain(text: str) -> ChainSettings:
    """ "anvil:1:30M" -> anvil, 1 s blocks, 30,000,000 gas."""
    node, block_time, gas = text.split(":")
    gas_limit = int(float(gas.rstrip("Mm")) * 1_000_000) if gas[-1] in "Mm" else int(gas)
    return ChainSettings(node, float(block_time), gas_limit)


class BlockWatcher:
    """Polls a node for new blocks and notes when each transaction's block was first seen."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.included: dict[str, float] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="block-watcher", daemon=True)

    def __enter__(self) -> BlockWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        rpc = JsonRpc(self.url, timeout=30)
        last = int(rpc.call("eth_blockNumber"), 16)
        while not self._stopping.wait(BLOCK_POLL_SECONDS):
            try:
                number = int(rpc.call("eth_blockNumber"), 16)
                seen = time.monotonic()
                if number <= last:
                    continue
                blocks = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in range(last + 1, number + 1)])
            except (requests.RequestException, ValueError):
                continue  # a slow or busy node: try again at the next poll
            for block in blocks:
                for tx_hash in block["transactions"]:
                    self.included[tx_hash] = seen
            last = number


@dataclass
class Sent:
    started: float
    answered: float
    error: str | None


def batch_size(rate: float) -> int:
    return max(1, min(MAX_BATCH, round(rate * BATCH_INTERVAL_SECONDS)))


def client_of(index: int, rate: float, clients: int) -> int:
    """Which client sends the `index`-th transaction of a phase (see `send_paced`)."""
    return (index // batch_size(rate)) % clients


def send_paced(url: str, txs: list[SignedTx], rate: float, clients: int) -> list[Sent]:
    """Send `txs` as `eth_sendRawTransaction` batches at `rate` transactions a second.

    Batch i is due `i * batch / rate` seconds after the start and is sent by client
    `i % clients` (as Caliper's workers each take a share of the rate): a thread with its own
    HTTP session that sends its batches in order, each when due or, if the previous one was
    answered late, right after it; the send rate achieved then falls below the target.
    """
    size = batch_size(rate)
    batches = [txs[i : i + size] for i in range(0, len(txs), size)]
    bodies = [
        json.dumps(
            [
                {"jsonrpc": "2.0", "id": k, "method": "eth_sendRawTransaction", "params": [tx.raw]}
                for k, tx in enumerate(batch)
            ]
        ).encode()
        for batch in batches
    ]
    results: list[Sent | None] = [None] * len(txs)
    start = time.monotonic() + 0.05

    def client(first: int) -> None:
        session = requests.Session()
        for index in range(first, len(batches), clients):
            delay = start + index * size / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            started = time.monotonic()
            errors = answer_errors(session, url, bodies[index], len(batches[index]))
            answered = time.monotonic()
            for k, error in enumerate(errors):
                results[index * size + k] = Sent(started, answered, error)

    threads = [threading.Thread(target=client, args=(n,), name=f"client-{n}") for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results  # type: ignore[return-value]


def answer_errors(session: requests.Session, url: str, body: bytes, count: int) -> list[str | None]:
    """Post one batch; the error of each request, None for those accepted."""
    try:
        reply = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=SEND_TIMEOUT_SECONDS)
        answers = reply.json()
    except (requests.RequestException, ValueError) as error:
        return [f"request failed: {type(error).__name__}"] * count
    if not isinstance(answers, list):  # the whole batch refused
        message = answers.get("error", {}).get("message", "refused") if isinstance(answers, dict) else "refused"
        return [f"batch refused: {message}"] * count
    errors: list[str | None] = ["no answer"] * count
    for answer in answers:
        if isinstance(answer, dict) and isinstance(answer.get("id"), int) and 0 <= answer["id"] < count:
            errors[answer["id"]] = None if "result" in answer else str(answer.get("error", {}).get("message", "error"))
    return errors


@dataclass
class Phase:
    """One phase of a step: what was sent, when, and when it was included."""

    txs: list[SignedTx]
    sent: list[Sent]
    included: dict[str, float]
    status: dict[str, int] = field(default_factory=dict)  # hash -> receipt status
    gas_used: dict[str, int] = field(default_factory=dict)

    @property
    def send_window(self) -> float:
        return max(s.answered for s in self.sent) - min(s.started for s in self.sent)

    @property
    def window(self) -> float:
        """From the first send to the last inclusion (or the last answer, if later)."""
        end = max([s.answered for s in self.sent] + list(self.included.values()))
        return end - min(s.started for s in self.sent)

    def latencies(self) -> list[float]:
        return [
            self.included[tx.hash] - s.started
            for tx, s in zip(self.txs, self.sent)
            if tx.hash in self.included and self.status.get(tx.hash) == 1
        ]

    def failures(self) -> Counter:
        reasons: Counter = Counter()
        for tx, s in zip(self.txs, self.sent):
            if s.error is not None:
                reasons[f"{tx.kind} refused: {s.error}"] += 1
            elif tx.hash not in self.included:
                reasons[f"{tx.kind} never included"] += 1
            elif self.status.get(tx.hash) != 1:
                reasons[f"{tx.kind} reverted"] += 1
        return reasons


def run_phase(
    url: str, watcher: BlockWatcher, txs: list[SignedTx], rate: float, clients: int, block_time: float
) -> Phase:
    """Send `txs` at `rate` and wait until every accepted one is included, or none has been
    for STALL_BLOCKS block times."""
    sent = send_paced(url, txs, rate, clients)
    waiting = {tx.hash for tx, s in zip(txs, sent) if s.error is None}
    last_progress = time.monotonic()
    while waiting and time.monotonic() - last_progress < STALL_BLOCKS * block_time:
        time.sleep(0.1)
        newly = {h for h in waiting if h in watcher.included}
        if newly:
            waiting -= newly
            last_progress = time.monotonic()
    included = {tx.hash: watcher.included[tx.hash] for tx in txs if tx.hash in watcher.included}
    return Phase(txs, sent, included)


def read_receipts(rpc: JsonRpc, phases: list[Phase]) -> None:
    for phase in phases:
        hashes = list(phase.included)
        for tx_hash, receipt in zip(hashes, rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])):
            if receipt is not None:
                phase.status[tx_hash] = int(receipt["status"], 16)
                phase.gas_used[tx_hash] = int(receipt["gasUsed"], 16)


@dataclass
class Step:
    target: str
    chain: ChainSettings
    rate: float
    prosumers: int
    phases: list[Phase]
    signing_seconds: float

    @property
    def sent(self) -> int:
        return sum(len(p.txs) for p in self.phases)

    @property
    def latencies(self) -> list[float]:
        return [latency for p in self.phases for latency in p.latencies()]

    @property
    def succeeded(self) -> int:
        return len(self.latencies)

    @property
    def failed(self) -> int:
        return self.sent - self.succeeded

    @property
    def send_rate(self) -> float:
        return self.sent / sum(p.send_window for p in self.phases)

    @property
    def throughput(self) -> float:
        return self.succeeded / sum(p.window for p in self.phases)

    def failures(self) -> Counter:
        return sum((p.failures() for p in self.phases), Counter())

    def mean_gas(self, kind: str) -> float | None:
        used = [g for p in self.phases for tx in p.txs if tx.kind == kind and (g := p.gas_used.get(tx.hash))]
        return statistics.mean(used) if used else None

    def csv_row(self) -> list:
        lat = self.latencies or [float("nan")]
        return [
            self.target,
            f"{self.send_rate:.1f}",
            self.succeeded,
            self.failed,
            f"{max(lat):.3f}",
            f"{min(lat):.3f}",
            f"{statistics.mean(lat):.3f}",
            f"{self.throughput:.1f}",
        ]


class ChainClock:
    """The market's clock on a chain: moved forward with evm_increaseTime on anvil, waited for
    on a chain whose blocks follow the wall clock."""

    def __init__(self, rpc: JsonRpc, market: str, can_jump: bool, block_time: float) -> None:
        self.rpc = rpc
        self.can_jump = can_jump
        self.block_time = block_time
        self.schedule = Schedule.of(attach(Web3(Web3.HTTPProvider(rpc.url)), market))

    def latest_time(self) -> int:
        return int(self.rpc.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)

    def next_period(self) -> int:
        """The first period that starts after the latest block (period 0 until genesis)."""
        latest = self.latest_time()
        return 0 if latest < self.schedule.genesis_time else self.schedule.period_at(latest) + 1

    def reach(self, timestamp: int, timeout: float) -> None:
        """Return once the latest block is at or after `timestamp`."""
        if self.can_jump:
            gap = timestamp - self.latest_time()
            if gap > 0:
                self.rpc.call("evm_increaseTime", gap)
        deadline = time.monotonic() + timeout
        while self.latest_time() < timestamp:
            if time.monotonic() > deadline:
                raise TimeoutError(f"chain time did not reach {timestamp} within {timeout:.0f} s")
            time.sleep(0.05)


class LoadRun:
    """Steps on one chain: a population enrolled once, one market period per step."""

    def __init__(
        self,
        chain: ChainSettings,
        node_url: str,
        prosumers: list[Prosumer],
        band_anchors: dict[tuple[int, int], Prosumer],
        signer: Signer,
        clock: ChainClock,
        clients: int,
    ) -> None:
        self.chain = chain
        self.rpc = JsonRpc(node_url)
        self.prosumers = prosumers
        self.anchors = band_anchors
        self.signer = signer
        self.clock = clock
        self.clients = clients
        self.seed = 0

    def step(self, targets: list[tuple[str, str]], watcher: BlockWatcher, rate: float, cohort_size: int) -> list[Step]:
        """One period: for each (name, url) of `targets` in turn, a cohort of its own sends its
        commits, then its reveals, then its readings to `url` at `rate`."""
        cohorts = [self.prosumers[k * cohort_size : (k + 1) * cohort_size] for k in range(len(targets))]
        period = self.clock.next_period()
        self.seed += 1
        bands = [client_of(i, rate, self.clients) for i in range(cohort_size)]
        # Who goes first alternates from phase to phase, so that no target always meets the
        # fuller pool or the later blocks. Bids are priced in reveal order, ranks in a band
        # running on from one cohort to the next: each new bid still goes first in its band.
        forward = list(range(len(targets)))
        backward = forward[::-1]
        all_bids = band_bids([p for k in backward for p in cohorts[k]], bands * len(targets), self.seed)
        bids: list[list[SealedBid]] = [[] for _ in targets]
        for position, k in enumerate(backward):
            bids[k] = all_bids[position * cohort_size : (position + 1) * cohort_size]
        anchor_keys = list(self.anchors)
        anchor_members = [self.anchors[key] for key in anchor_keys]
        anchor_bids = [SealedBid(100, anchor_price(*key), os.urandom(32)) for key in anchor_keys]

        signing = time.perf_counter()
        commits = [sign_commits(cohort, cohort_bids, self.signer) for cohort, cohort_bids in zip(cohorts, bids)]
        readings = [
            sign_readings(cohort, cohort_bids, period + 1, self.signer, self.seed)
            for cohort, cohort_bids in zip(cohorts, bids)
        ]
        anchor_commits = sign_commits(anchor_members, anchor_bids, self.signer, kind="anchor")
        signing = time.perf_counter() - signing
        schedule = self.clock.schedule
        wait = 3 * schedule.period_length  # bound on waiting for a phase in real time (Geth)
        phases: list[list[Phase]] = [[] for _ in targets]

        def run_all(txs_by_target: list[list[SignedTx]], order: list[int]) -> None:
            for k in order:
                phases[k].append(
                    run_phase(targets[k][1], watcher, txs_by_target[k], rate, self.clients, self.chain.block_time)
                )

        self.clock.reach(schedule.start(period) + 1, timeout=wait)
        self.unmeasured(anchor_commits)
        run_all(commits, forward)

        self.clock.reach(schedule.reveal_opens(period + 1), timeout=wait)
        anchor_receipts = self.unmeasured(
            sign_reveals(anchor_members, anchor_bids, [0] * len(anchor_members), self.signer, kind="anchor")
        )
        anchor_ids = {key: revealed_bid_id(receipt) for key, receipt in zip(anchor_keys, anchor_receipts)}
        started = time.perf_counter()
        reveals = [
            sign_reveals(
                cohort, cohort_bids, [anchor_ids[(p.queue, band)] for p, band in zip(cohort, bands)], self.signer
            )
            for cohort, cohort_bids in zip(cohorts, bids)
        ]
        signing += time.perf_counter() - started
        run_all(reveals, backward)

        self.clock.reach(schedule.delivery_ends(period + 1) + 1, timeout=wait)
        run_all(readings, forward)

        for target_phases in phases:
            read_receipts(self.rpc, target_phases)
        if self.chain.node == "anvil" and any(p.failures() for target_phases in phases for p in target_phases):
            self.rpc.call("anvil_dropAllTransactions")  # leftovers would clash with the next nonces
        refresh_nonces(self.rpc, [p for cohort in cohorts for p in cohort])
        steps = [
            Step(name, self.chain, rate, cohort_size, target_phases, signing / len(targets))
            for (name, _), target_phases in zip(targets, phases)
        ]
        for result in steps:
            print(
                f"  {result.target:<22} {rate:>6.0f}/s  {cohort_size:>6} prosumers  sent {result.send_rate:7.1f}/s"
                f"  ok {result.succeeded:>6}  failed {result.failed:>5}"
                f"  avg {statistics.mean(result.latencies or [0]):6.2f} s"
                f"  throughput {result.throughput:7.1f}/s  (signing {result.signing_seconds:.0f} s)",
                flush=True,
            )
        return steps

    def unmeasured(self, txs: list[SignedTx]) -> list[dict]:
        """Send the anchors' transactions straight to the node and wait for their receipts."""
        return send_signed(
            self.rpc, [tx.raw for tx in txs], [tx.hash for tx in txs], STALL_BLOCKS * self.chain.block_time
        )


@contextlib.contextmanager
def backend_proxy(node_url: str, deployment: Deployment, workers: int, threads: int) -> Iterator[str]:
    """The backend under gunicorn on a loopback port, serving `/rpc` for the node (keeper off);
    yields the `/rpc` URL. Its log is kept in a temporary folder and shown if it fails to start."""
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as folder:
        deployment_file = Path(folder) / "deployment.json"
        deployment.save(deployment_file)
        env = {k: v for k, v in os.environ.items() if not k.startswith("P2P_")}
        env.update(P2P_CHAIN=node_url, P2P_DEPLOYMENT=str(deployment_file), P2P_KEEPER="0")
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ]
        if threads > 1:
            command += ["--worker-class", "gthread", "--threads", str(threads)]
        log_path = Path(folder) / "gunicorn.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [*command, "backend:create_app()"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log
            )
        url = f"http://127.0.0.1:{port}/rpc"
        try:
            try:
                wait_for_rpc(url, process, timeout=60)
            except RuntimeError as error:
                raise RuntimeError(f"{error}\n{log_path.read_text()[-2000:]}") from None
            yield url
        finally:
            stop_processes([process], timeout=15)


def cohort_size(rate: float, phase_seconds: float, max_prosumers: int) -> int:
    return max(100, min(max_prosumers, round(rate * phase_seconds)))


def run_anvil(
    chain: ChainSettings,
    rates: list[float],
    phase_seconds: float,
    max_prosumers: int,
    clients: int,
    workers: int,
    threads: int,
) -> list[Step]:
    """Direct and proxy steps, alternating at each rate, on one anvil."""
    sizes = [cohort_size(rate, phase_seconds, max_prosumers) for rate in rates]
    args = ["--no-mining", "--auto-impersonate", "--accounts", "1", "--order", "fifo", "--block-base-fee-per-gas", "0"]
    steps: list[Step] = []
    with anvil(*args, gas_limit=chain.gas_limit) as node_url:
        rpc = JsonRpc(node_url)
        w3 = Web3(Web3.HTTPProvider(node_url, request_kwargs={"timeout": 120}))
        # Impersonated: setup is not what is measured, and anvil mines it on demand.
        setup = ImpersonatedSender(rpc)
        operator, grid = Account.from_key(ANVIL_FUNDED_KEY), Account.create().address
        started = time.monotonic()
        market = deploy(w3, setup, operator, grid, Schedule())
        prosumers = population(max(sizes))
        band_anchors = anchors(clients)
        members = prosumers + list(band_anchors.values())
        fund_on_anvil(rpc, members)
        enrol(w3, market, operator, setup, members)
        refresh_nonces(rpc, members)
        print(f"{chain.name}: {len(prosumers)} prosumers enrolled in {time.monotonic() - started:.0f} s", flush=True)
        deployment = Deployment(ANVIL_CHAIN_ID, market, operator.address, grid, int(rpc.call("eth_blockNumber"), 16))
        rpc.call("evm_setIntervalMining", int(chain.block_time))  # whole seconds only
        clock = ChainClock(rpc, market, can_jump=True, block_time=chain.block_time)
        run = LoadRun(chain, node_url, prosumers, band_anchors, Signer(ANVIL_CHAIN_ID, GWEI, market), clock, clients)
        with BlockWatcher(node_url) as watcher, backend_proxy(node_url, deployment, workers, threads) as proxy_url:
            for rate, size in zip(rates, sizes):
                steps += run.step([(f"direct-{chain.name}", node_url)], watcher, rate, size)
                steps += run.step([(f"proxy-{chain.name}", proxy_url)], watcher, rate, size)
    return steps


def geth_unavailable() -> str | None:
    """Why the Geth run cannot take place here, or None when it can."""
    if geth is None:
        return "devnet/geth/__init__.py (the Geth private network) is not in this tree"
    configured = os.environ.get("P2P_GETH")
    binary = Path(configured) if configured else geth.DEFAULT_GETH
    if not binary.is_file():
        return f"Geth {geth.GETH_VERSION} is not installed at {binary} (devnet/geth/install_geth.sh builds it)"
    missing = [epoch for epoch in (0, 1) if not geth.dag_file(epoch, geth.dag_dir()).exists()]
    if missing:
        return (
            f"the ethash DAGs of epochs {missing} are not made yet in {geth.dag_dir()} (about 1 GB each, minutes:"
            " `.venv/bin/python -m devnet.geth dag` makes them once)"
        )
    return None


def mean_block_interval(rpc: JsonRpc, blocks: int, timeout: float) -> float:
    """Seconds between blocks, over the next `blocks` blocks (or as many as come in `timeout`)."""
    first = int(rpc.call("eth_blockNumber"), 16)
    started = time.monotonic()
    while time.monotonic() - started < timeout and int(rpc.call("eth_blockNumber"), 16) < first + blocks:
        time.sleep(0.2)
    last = int(rpc.call("eth_blockNumber"), 16)
    if last == first:
        raise RuntimeError(f"the node mined no block in {timeout:.0f} s")
    stamps = [
        int(b["timestamp"], 16) for b in rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in (first, last)])
    ]
    return max(1.0, (stamps[1] - stamps[0]) / (last - first))


def run_geth(rate: float, cohort_size: int, clients: int, workers: int, threads: int) -> list[Step]:
    """Direct and proxy cohorts in the same market period of a Geth PoW private chain.

    Blocks follow the miner, so the market's phases follow the wall clock: a phase lasts 15 of
    the block intervals measured at start, at least 45 s."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-geth-") as folder,
        geth.geth_private_network(
            Path(folder), nodes=1, log=lambda message: print(f"geth: {message}", flush=True)
        ) as network,
    ):
        node_url = network.rpc_urls[0]
        rpc = JsonRpc(node_url)
        interval = mean_block_interval(rpc, blocks=5, timeout=60)
        chain = ChainSettings("geth", interval, geth.GAS_LIMIT)
        # A phase holds both cohorts one after the other, each sending and then waiting a few
        # blocks (Geth puts new transactions into the block it mines every few seconds only).
        phase = max(45, round(15 * interval))
        # The first period starts once the prosumers are enrolled (about 0.08 s each here).
        genesis = (
            int(rpc.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16) + 20 + round(0.1 * 2 * cohort_size)
        )
        schedule = Schedule(
            period_length=2 * phase + 10,
            commit_end=phase,
            reveal_end=2 * phase,
            settle_start=2 * phase + 5,
            reading_grace=2 * phase + 10,
            genesis_time=genesis,
        )
        operator = network.operator
        w3 = Web3(Web3.HTTPProvider(node_url, request_kwargs={"timeout": 120}))
        setup = PresignedSender(rpc, network.chain_id, GETH_GAS_PRICE, timeout=STALL_BLOCKS * 3 * interval)
        started = time.monotonic()
        market = deploy(w3, setup, operator, network.grid.address, schedule)
        prosumers = population(2 * cohort_size)
        band_anchors = anchors(clients)
        members = prosumers + list(band_anchors.values())
        fund(setup, operator, members)
        enrol(w3, market, operator, setup, members)
        refresh_nonces(rpc, members)
        print(
            f"{chain.name}: blocks every {interval:.1f} s, {len(prosumers)} prosumers enrolled in"
            f" {time.monotonic() - started:.0f} s, {schedule.period_length} s periods",
            flush=True,
        )
        deployment = Deployment(
            network.chain_id, market, operator.address, network.grid.address, int(rpc.call("eth_blockNumber"), 16)
        )
        clock = ChainClock(rpc, market, can_jump=False, block_time=interval)
        run = LoadRun(
            chain, node_url, prosumers, band_anchors, Signer(network.chain_id, GETH_GAS_PRICE, market), clock, clients
        )
        with BlockWatcher(node_url) as watcher, backend_proxy(node_url, deployment, workers, threads) as proxy_url:
            return run.step(
                [(f"direct-{chain.name}", node_url), (f"proxy-{chain.name}", proxy_url)], watcher, rate, cohort_size
            )


def saturation(steps: list[Step], block_time: float) -> dict:
    """Where a target stops keeping up. Below saturation a transaction waits for the next
    block at most, so the average latency stays under one block time plus the sending; the
    first step whose average latency exceeds two block times has transactions waiting for
    later blocks: the chain (or the path to it) is saturated there. The highest throughput
    seen is the capacity."""
    first = next((s for s in steps if s.latencies and statistics.mean(s.latencies) > 2 * block_time), None)
    best = max(steps, key=lambda s: s.throughput)
    sustained = [s for s in steps if s is not first and (first is None or s.rate < first.rate)]
    return {
        "saturated_at": first,
        "capacity": best.throughput,
        "sustained": max(sustained, key=lambda s: s.throughput) if sustained else None,
    }


def gas_ceiling(steps: list[Step]) -> float:
    """Transactions a second the chain's blocks can hold at the mean gas the steps' transactions
    used: gas per block / block time / mean gas."""
    used = [g for s in steps for p in s.phases for g in p.gas_used.values()]
    chain = steps[0].chain
    return chain.gas_limit / chain.block_time / statistics.mean(used) if used else float("nan")


def render(steps: list[Step], chains: list[ChainSettings], settings: str, skipped: list[str]) -> str:
    lines = [
        "# Load: send rate, latency and throughput (Caliper style)",
        "",
        (
            f"Machine: {machine()}. The node, the backend's workers and the sending clients all run on these"
            " cores, so every figure includes the cost of generating the load."
        ),
        "",
        f"Settings: {settings}.",
        "",
        "Chains: " + "; ".join(f"`{c.name}`: {c.describe()}" for c in chains) + ".",
        "",
        "Each row is one market period: its prosumers each send a commit, a reveal and a meter reading"
        " (3 transactions a prosumer), every phase at the target rate. Latency runs from the start of"
        " the batch request to the moment the watcher (polling every 20 ms) first saw the transaction's"
        " block; throughput is succeeded transactions over the time from the first send to the last"
        " inclusion (summed over the three phases).",
        "",
    ]
    headers = [
        "target",
        "target rate",
        "prosumers",
        "sent",
        "succeeded",
        "failed",
        "send rate (tx/s)",
        "max latency (s)",
        "min latency (s)",
        "avg latency (s)",
        "p95 latency (s)",
        "throughput (tx/s)",
        "reveal gas (mean)",
    ]
    rows = []
    for s in steps:
        lat = sorted(s.latencies) or [float("nan")]
        reveal_gas = s.mean_gas("reveal")
        rows.append(
            [
                s.target,
                f"{s.rate:.0f}",
                s.prosumers,
                s.sent,
                s.succeeded,
                s.failed,
                f"{s.send_rate:.0f}",
                f"{max(lat):.2f}",
                f"{min(lat):.2f}",
                f"{statistics.mean(lat):.2f}",
                f"{lat[int(0.95 * (len(lat) - 1))]:.2f}",
                f"{s.throughput:.0f}",
                f"{reveal_gas:,.0f}" if reveal_gas else "-",
            ]
        )
    lines += [markdown_table(headers, rows), ""]

    failures = sum((s.failures() for s in steps), Counter())
    if failures:
        lines += [
            "Failures by cause: " + "; ".join(f"{reason}: {count}" for reason, count in failures.most_common()) + ".",
            "",
        ]

    lines += ["## Saturation", ""]
    for target in dict.fromkeys(s.target for s in steps):
        mine = [s for s in steps if s.target == target]
        if mine[0].chain.node == "geth":
            # One step only, and latency there follows the miner (it takes new transactions into
            # the block it works on every few seconds), not a backlog.
            lines.append(f"- `{target}`: one step ({mine[0].rate:.0f} tx/s), no sweep.")
            continue
        sat = saturation(mine, mine[0].chain.block_time)
        ceiling = gas_ceiling(mine)
        at = sat["saturated_at"]
        where = (
            (
                f"saturated from a target of {at.rate:.0f} tx/s (send rate {at.send_rate:.0f} tx/s,"
                f" average latency {statistics.mean(at.latencies):.1f} s)"
            )
            if at
            else "not saturated at any step"
        )
        lines.append(
            f"- `{target}`: {where}; highest throughput {sat['capacity']:.0f} tx/s"
            f" (the chain's gas ceiling for this mix: {ceiling:,.0f} tx/s)."
        )
    lines += [""]
    lines += verdicts(steps)
    lines += ["", "## Published figures, for comparison", "", published_table(), ""]
    if skipped:
        lines += ["## Not measured", ""] + [f"- {reason}" for reason in skipped] + [""]
    return "\n".join(lines)


def verdicts(steps: list[Step]) -> list[str]:
    """The issue's targets: through /rpc on anvil at least 1,000 tx/s with none failed, and the
    proxy costing at most 10 % of the direct throughput."""
    lines = ["## Targets", ""]
    for chain_name in dict.fromkeys(s.chain.name for s in steps if s.chain.node == "anvil"):
        direct = [s for s in steps if s.target == f"direct-{chain_name}"]
        proxy = [s for s in steps if s.target == f"proxy-{chain_name}"]
        clean = [s for s in proxy if s.failed == 0]
        best = max(clean, key=lambda s: s.throughput, default=None)
        met = best is not None and best.throughput >= 1000
        lines.append(
            f"- `{chain_name}`, at least 1,000 tx/s through /rpc with none failed: "
            + (
                f"{'met' if met else 'not met'} (best clean step: {best.throughput:.0f} tx/s"
                f" at a target of {best.rate:.0f} tx/s)."
                if best
                else "not met (no step without failures)."
            )
        )
        pairs = [(d, p) for d in direct for p in proxy if d.rate == p.rate]
        if pairs:
            d_best = max(s.throughput for s in direct)
            p_best = max(s.throughput for s in proxy)
            cost = 1 - p_best / d_best
            worst = max(pairs, key=lambda pair: 1 - pair[1].throughput / pair[0].throughput)
            gap = 1 - worst[1].throughput / worst[0].throughput
            lines.append(
                f"- `{chain_name}`, proxy costs at most 10 % of direct throughput:"
                f" {'met' if cost <= 0.10 else 'not met'}"
                f" (highest throughput {p_best:.0f} tx/s through /rpc, {d_best:.0f} direct: {cost:.0%} less;"
                f" largest gap at one rate: {gap:.0%} at a target of {worst[0].rate:.0f} tx/s)."
            )
    return lines


def plot(steps: list[Step], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (throughput_axis, latency_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    for target in dict.fromkeys(s.target for s in steps):
        mine = sorted((s for s in steps if s.target == target), key=lambda s: s.send_rate)
        rates = [s.send_rate for s in mine]
        throughput_axis.plot(rates, [s.throughput for s in mine], marker="o", label=target)
        average = [statistics.mean(s.latencies) if s.latencies else float("nan") for s in mine]
        latency_axis.plot(rates, average, marker="o", label=f"{target} (avg)")
        latency_axis.fill_between(
            rates,
            [min(s.latencies or [float("nan")]) for s in mine],
            [max(s.latencies or [float("nan")]) for s in mine],
            alpha=0.15,
        )
    top = max(s.send_rate for s in steps)
    throughput_axis.plot([0, top], [0, top], color="grey", linestyle=":", label="throughput = send rate")
    throughput_axis.set(xlabel="send rate achieved (tx/s)", ylabel="throughput (included tx/s)", title="Throughput")
    latency_axis.set(
        xlabel="send rate achieved (tx/s)",
        ylabel="latency to inclusion (s)",
        title="Latency (line: average; band: min to max)",
    )
    for axis in (throughput_axis, latency_axis):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(
        f"Commit, reveal and meter reading as signed raw transactions - {machine().split(';')[0]}", fontsize=8
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="100,250,500,1000,2000,4000", help="target send rates, tx/s")
    parser.add_argument(
        "--chains", default="anvil:1:30M", help="anvil settings node:block-seconds:gas, comma-separated; empty for none"
    )
    parser.add_argument(
        "--large-blocks",
        default="anvil:1:300M",
        help="an anvil whose blocks are too large for gas to bound throughput, to measure the path to the"
        " node (client, /rpc, node) on its own; empty for none",
    )
    parser.add_argument("--large-blocks-rates", default="2000,4000", help="target send rates on it, tx/s")
    parser.add_argument("--phase-seconds", type=float, default=4.0, help="sending time of a phase at the target rate")
    parser.add_argument("--max-prosumers", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent sending clients")
    # A sync worker serves one request at a time: fewer workers than clients would leave
    # batches waiting in the listen queue (measured: 4 workers cost 5-17 % of throughput, 9 about 1-8 %).
    parser.add_argument("--proxy-workers", type=int, default=9, help="gunicorn workers of the backend")
    parser.add_argument("--proxy-threads", type=int, default=1, help="threads per worker (more than 1: gthread)")
    parser.add_argument(
        "--geth",
        choices=("auto", "off"),
        default="auto",
        help="auto: also run on a Geth PoW private chain when Geth and its DAGs are installed",
    )
    parser.add_argument("--geth-rate", type=float, default=50.0, help="target send rate on Geth, tx/s")
    parser.add_argument("--geth-prosumers", type=int, default=200, help="prosumers per target on Geth")
    args = parser.parse_args(argv)
    machine()  # the load average as the run starts
    rates = [float(r) for r in args.rates.split(",")]
    chains = [parse_chain(c) for c in args.chains.split(",") if c]

    steps: list[Step] = []
    skipped: list[str] = []
    for chain in chains:
        if chain.node != "anvil":
            raise SystemExit(f"--chains takes anvil settings; Geth runs on its own ({chain.name})")
        steps += run_anvil(
            chain, rates, args.phase_seconds, args.max_prosumers, args.clients, args.proxy_workers, args.proxy_threads
        )
    if args.large_blocks:
        chain = parse_chain(args.large_blocks)
        chains.append(chain)
        steps += run_anvil(
            chain,
            [float(r) for r in args.large_blocks_rates.split(",")],
            args.phase_seconds,
            args.max_prosumers,
            args.clients,
            args.proxy_workers,
            args.proxy_threads,
        )
    if args.geth == "off":
        skipped.append("Geth: left out (--geth off).")
    elif (reason := geth_unavailable()) is not None:
        skipped.append(f"Geth: skipped, {reason}.")
        print(f"Geth skipped: {reason}", flush=True)
    else:
        geth_steps = run_geth(args.geth_rate, args.geth_prosumers, args.clients, args.proxy_workers, args.proxy_threads)
        steps += geth_steps
        chains.append(geth_steps[0].chain)

    settings = (
        f"{args.clients} concurrent clients, batches of up to {MAX_BATCH} raw transactions about every"
        f" {BATCH_INTERVAL_SECONDS} s, backend under gunicorn with {args.proxy_workers} workers"
        + (f" x {args.proxy_threads} threads" if args.proxy_threads > 1 else " (sync)")
        + f", keeper off; {anvil_version()}; phase sending time {args.phase_seconds:g} s"
    )
    report = render(steps, chains, settings, skipped)
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "throughput.md").write_text(report)
    write_csv(RESULTS / "throughput.csv", CSV_COLUMNS, [s.csv_row() for s in steps])
    plot(steps, RESULTS / "throughput.png")
    print(f"written to {RESULTS}/throughput.md, throughput.csv, throughput.png")


if __name__ == "__main__":
    main()
