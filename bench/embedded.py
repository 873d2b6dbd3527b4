"""Embedded chain: how many prosumers the in-process eth-tester chain carries in a 15-minute period.

    .venv/bin/python -m bench.embedded [--sizes 50,250,500]

The embedded chain (``P2P_CHAIN=embedded``) runs py-evm inside the backend's process with
interval mining (``devnet.embedded.BlockTicker``, a block a second holding every transaction
that arrived in it), as the backend and ``make demo`` run it. For each N, a fresh embedded market
on the paper's 15-minute period gets 2 x N prosumers; in one period N of them send their commit,
reveal and meter reading straight into the chain in this process (what the backend's own parts
do), the other N through the backend's ``/rpc`` (Flask's test client, batches of up to 100 raw
transactions, no HTTP). Every transaction is signed beforehand and sent at once; latency runs
from a transaction's send to the first look that finds it mined (looks every 50 ms); a phase's
time runs from its first send to its last transaction mined, and must fit the phase's window.
Then the operator matches the book (``matchBids`` batches until done) and settles it, each timed.

Setup (funding, registration, meters) is not measured. Between phases chain time is moved to the
next phase with the ticker stopped; within a phase the ticker mines on the wall clock, shifted
by the jump.

Writes ``bench/results/embedded.md`` and ``embedded.csv``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from backend import create_app
from backend.upstreams import InProcessUpstream
from bench.common import RESULTS, RpcError, machine, markdown_table, write_csv
from bench.market_txs import (
    SignedTx,
    Signer,
    anchor_price,
    anchors,
    band_bids,
    enrol,
    fund,
    population,
    refresh_nonces,
    revealed_bid_id,
    sign_commits,
    sign_readings,
    sign_reveals,
)
from bench.senders import PresignedSender, send_signed, wait_for_receipts
from devnet.embedded import BlockTicker, TimeTravel, start_embedded_market
from p2pkit.bids import SealedBid
from p2pkit.period import PeriodDriver
from p2pkit.schedule import Schedule

GAS_PRICE = 10**10
MATCH_STEPS = 500  # auction steps per matchBids transaction
SETTLE_BATCH = 500  # prosumers per settle transaction
BATCH_GAS = 25_000_000
RPC_BATCH = 100  # the backend's default P2P_MAX_BATCH
UNLIMITED_SECONDS = 3600.0
KINDS = ("commit", "reveal", "reading")
PERIOD_LENGTH = 900  # the paper's 15-minute period
BLOCK_INTERVAL = 1.0
RECEIPT_LOOK_SECONDS = 0.05
RECEIPT_TIMEOUT = 600.0


class UpstreamRpc:
    """`bench.common.JsonRpc`'s interface over an upstream in this process."""

    def __init__(self, upstream: InProcessUpstream) -> None:
        self.upstream = upstream

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]

    def batch(self, calls: list[tuple[str, list]]) -> list[Any]:
        answers = self.upstream.forward(
            [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        )
        for answer in answers:
            if "error" in answer:
                raise RpcError(str(answer["error"]))
        return [answer["result"] for answer in answers]


@dataclass
class Timed:
    """One phase's sends on one path."""

    path: str
    kind: str
    latencies: list[float]
    seconds: float

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds


def await_mined(rpc: UpstreamRpc, txs: list[SignedTx], sent_at: list[float]) -> tuple[list[float], float]:
    """Each transaction's latency (send to first seen mined) and when the last was seen."""
    seen: list[float | None] = [None] * len(txs)
    wait_for_receipts(rpc, [tx.hash for tx in txs], RECEIPT_TIMEOUT, RECEIPT_LOOK_SECONDS, first_seen=seen)
    return [at - sent for at, sent in zip(seen, sent_at)], max(seen)


def send_in_process(rpc: UpstreamRpc, txs: list[SignedTx]) -> Timed:
    started = time.perf_counter()
    sent_at = []
    for tx in txs:
        sent_at.append(time.perf_counter())
        rpc.call("eth_sendRawTransaction", tx.raw)
    latencies, last_mined = await_mined(rpc, txs, sent_at)
    return Timed("in-process", txs[0].kind, latencies, last_mined - started)


def send_through_proxy(client, rpc: UpstreamRpc, txs: list[SignedTx]) -> Timed:
    started = time.perf_counter()
    sent_at = []
    for start in range(0, len(txs), RPC_BATCH):
        batch = txs[start : start + RPC_BATCH]
        sent_at += [time.perf_counter()] * len(batch)
        answers = client.post(
            "/rpc",
            json=[
                {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [tx.raw]}
                for i, tx in enumerate(batch)
            ],
        ).get_json()
        errors = [a["error"] for a in answers if "error" in a]
        if errors:
            raise RpcError(f"/rpc refused {len(errors)} of {len(batch)}: {errors[0]}")
    latencies, last_mined = await_mined(rpc, txs, sent_at)
    return Timed("/rpc", txs[0].kind, latencies, last_mined - started)


@contextlib.contextmanager
def interval_mining(w3) -> Iterator[None]:
    """A block a second while the block runs, on the wall clock shifted to the chain's time
    (which `TimeTravel` moved ahead)."""
    shift = w3.provider.ethereum_tester.get_block_by_number("pending")["timestamp"] - time.time()
    ticker = BlockTicker(w3, BLOCK_INTERVAL, wall_clock=lambda: time.time() + shift)
    ticker.start()
    try:
        yield
    finally:
        ticker.stop()


@dataclass
class EmbeddedRun:
    prosumers: int  # per path
    period_length: int
    phases: list[Timed]
    windows: dict[str, int]  # seconds each kind of transaction has in the period
    trades: int
    matching_seconds: float
    match_txs: int
    settlement_seconds: float
    settle_txs: int
    setup_seconds: float


def run(n: int, seed: int = 6) -> EmbeddedRun:
    setup_started = time.perf_counter()
    period_length = PERIOD_LENGTH
    market = start_embedded_market(period_length)
    w3, operator, address = market.w3, market.operator, market.contract.address
    # The benchmark measures how fast batches of 100 transactions go in, not the limit the
    # backend puts on how long one body may hold the chain.
    upstream = InProcessUpstream(w3, market.lock, time_limit=UNLIMITED_SECONDS)
    rpc = UpstreamRpc(upstream)
    client = create_app({"TESTING": True}, upstream=upstream).test_client()
    chain_id = w3.eth.chain_id
    setup = PresignedSender(rpc, chain_id, GAS_PRICE, timeout=60)
    signer = Signer(chain_id, GAS_PRICE, address)
    prosumers = population(2 * n, seed)
    band_anchors = anchors(1, seed)
    members = prosumers + list(band_anchors.values())
    with interval_mining(w3):
        fund(setup, operator, members)
        enrol(w3, address, operator, setup, members)
    refresh_nonces(rpc, members)
    setup_seconds = time.perf_counter() - setup_started

    driver = PeriodDriver(market.contract, operator, sender=setup)
    schedule: Schedule = driver.schedule
    time_travel = TimeTravel(w3, market.lock)
    delivery = driver.auction_delivery_period() + 1  # the next period's auction
    opens = schedule.auction_opens(delivery)

    # Both cohorts send in one band, the second after the first: each bid goes first in it.
    bids = band_bids(prosumers, [0] * len(prosumers), seed)
    cohorts = [(prosumers[:n], bids[:n]), (prosumers[n:], bids[n:])]
    anchor_keys = list(band_anchors)
    anchor_members = [band_anchors[key] for key in anchor_keys]
    anchor_bids = [SealedBid(100, anchor_price(*key), bytes(32)) for key in anchor_keys]
    commits = [sign_commits(members, cohort_bids, signer) for members, cohort_bids in cohorts]
    readings = [sign_readings(members, cohort_bids, delivery, signer, seed) for members, cohort_bids in cohorts]

    phases = []
    time_travel.next_block_at(opens + 1)
    unmeasured(rpc, sign_commits(anchor_members, anchor_bids, signer, kind="anchor"))
    with interval_mining(w3):
        phases += [send_in_process(rpc, commits[0]), send_through_proxy(client, rpc, commits[1])]

    time_travel.next_block_at(schedule.reveal_opens(delivery))
    anchor_receipts = unmeasured(
        rpc, sign_reveals(anchor_members, anchor_bids, [0] * len(anchor_members), signer, kind="anchor")
    )
    anchor_ids = {key: revealed_bid_id(receipt) for key, receipt in zip(anchor_keys, anchor_receipts)}
    reveals = [
        sign_reveals(members, cohort_bids, [anchor_ids[(p.queue, 0)] for p in members], signer)
        for members, cohort_bids in cohorts
    ]
    with interval_mining(w3):
        phases += [send_in_process(rpc, reveals[0]), send_through_proxy(client, rpc, reveals[1])]

    # Matching and settlement as the keeper does them (the operator signing each batch as it goes).
    time_travel.next_block_at(schedule.auction_closes(delivery))
    with interval_mining(w3):
        started = time.perf_counter()
        match_receipts = driver.match(delivery, MATCH_STEPS)
        matching_seconds = time.perf_counter() - started
    trade_topic = "0x" + w3.keccak(text="Trade(uint32,uint32,uint32,uint40,uint64,uint256)").hex().removeprefix("0x")
    trades = sum(1 for r in match_receipts for log in r["logs"] if log["topics"][0] == trade_topic)

    time_travel.next_block_at(schedule.delivery_ends(delivery) + 1)  # the delivery period is over: readings
    with interval_mining(w3):
        phases += [send_in_process(rpc, readings[0]), send_through_proxy(client, rpc, readings[1])]

    # Settlement waits for the anchors' missing readings until the readings close.
    time_travel.next_block_at(max(schedule.settlement_opens(delivery), schedule.readings_close(delivery)) + 1)
    with interval_mining(w3):
        started = time.perf_counter()
        settle_receipts = driver.settle(delivery, SETTLE_BATCH)
        settlement_seconds = time.perf_counter() - started
    windows = {
        "commit": schedule.reveal_opens(delivery) - opens,
        "reveal": schedule.auction_closes(delivery) - schedule.reveal_opens(delivery),
        "reading": schedule.readings_close(delivery) - schedule.delivery_ends(delivery),
    }
    check_receipts(rpc, [tx for group in (*commits, *reveals, *readings) for tx in group])
    return EmbeddedRun(
        n,
        period_length,
        phases,
        windows,
        trades,
        matching_seconds,
        len(match_receipts),
        settlement_seconds,
        len(settle_receipts),
        setup_seconds,
    )


def unmeasured(rpc: UpstreamRpc, txs: list[SignedTx]) -> list[dict]:
    """The anchors' transactions, sent and awaited outside the measurement."""
    return send_signed(rpc, [tx.raw for tx in txs], [tx.hash for tx in txs], timeout=60)


def check_receipts(rpc: UpstreamRpc, txs: list[SignedTx]) -> None:
    receipts = rpc.batch([("eth_getTransactionReceipt", [tx.hash]) for tx in txs])
    failed = [tx.kind for tx, r in zip(txs, receipts) if r is None or int(r["status"], 16) != 1]
    if failed:
        raise RuntimeError(f"{len(failed)} measured transactions failed on the embedded chain ({failed[0]} first)")


def render(runs: list[EmbeddedRun]) -> tuple[str, list[list]]:
    rows, csv_rows = [], []
    for r in runs:
        for path in ("in-process", "/rpc"):
            timed = {t.kind: t for t in r.phases if t.path == path}
            latencies = [latency for t in timed.values() for latency in t.latencies]
            rows.append(
                [
                    f"{r.prosumers:,}",
                    path,
                    *(f"{timed[k].throughput:.0f}" for k in KINDS),
                    f"{statistics.mean(latencies) * 1000:.1f}",
                    f"{max(latencies) * 1000:.1f}",
                ]
            )
            csv_rows.append(
                [
                    r.prosumers,
                    path,
                    *(f"{timed[k].throughput:.1f}" for k in KINDS),
                    f"{statistics.mean(latencies):.4f}",
                    f"{max(latencies):.4f}",
                    r.trades,
                    f"{r.matching_seconds:.3f}",
                    f"{r.settlement_seconds:.3f}",
                    min(capacity(r, kind) for kind in KINDS),
                ]
            )
    clearing = [
        [
            f"{2 * r.prosumers:,}",
            f"{r.period_length // 60} min",
            f"{r.prosumers:,}",
            r.trades,
            r.match_txs,
            f"{r.matching_seconds:.2f}",
            r.settle_txs,
            f"{r.settlement_seconds:.2f}",
            f"{r.setup_seconds:.0f}",
        ]
        for r in runs
    ]
    fits = []
    for r in runs:
        cells = [f"{2 * r.prosumers:,}"]
        for kind in KINDS:
            cells += [f"{phase_seconds(r, kind):.1f} of {r.windows[kind]}", f"{capacity(r, kind):,}"]
        cells.append(f"{min(capacity(r, kind) for kind in KINDS):,}")
        fits.append(cells)
    largest = runs[-1]
    carried = min(capacity(largest, kind) for kind in KINDS)
    lines = [
        "# Embedded chain (in-process eth-tester, interval mining): prosumers in a 15-minute period",
        "",
        f"Machine: {machine()}. Chain: eth-tester with py-evm in this process, a block a second holding every"
        " transaction that arrived in it (~30M gas per block); the paper's 15-minute period.",
        "",
        "Per path, N prosumers each send a commit, a reveal and a meter reading, signed beforehand and sent at once."
        " Throughput: transactions over the time from the first send to the last mined; latency: from a"
        " transaction's send (through /rpc, its batch's) to the first look that finds it mined.",
        "",
        markdown_table(
            ["N", "path", "commit tx/s", "reveal tx/s", "reading tx/s", "avg latency (ms)", "max latency (ms)"],
            rows,
            numeric_from=2,
        ),
        "",
        "## Do they fit the period? Seconds both paths took of the phase's window, and the prosumers the window holds",
        "",
        markdown_table(
            [
                "prosumers",
                "commits (s)",
                "commits held",
                "reveals (s)",
                "reveals held",
                "readings (s)",
                "readings held",
                "prosumers a period",
            ],
            fits,
        ),
        "",
        "## Matching and settlement of the whole book (both paths' bids and 4 anchor bids)",
        "",
        markdown_table(
            [
                "prosumers",
                "period",
                "bids a side",
                "trades",
                "matchBids txs",
                "matching (s)",
                "settle txs",
                "settlement (s)",
                "setup (s)",
            ],
            clearing,
        ),
        "",
        f"At {2 * largest.prosumers:,} prosumers, every phase's transactions"
        f" {'went in within its window' if fitted(largest) else 'did not go in within its window'}; at the rates"
        f" measured the 15-minute period holds about {carried:,} prosumers (the tightest window, the reveals'"
        f" {largest.windows['reveal']} s, sets it; at small N the wait for the next block dominates, so the"
        " largest N is the one to read). Before interval mining the chain sealed a block, and took a second of"
        " chain time, per transaction, so a period held about 120. The chain lives in memory, gone when the"
        " backend stops: for a pilot, use a node (anvil or Geth; see throughput.md).",
        "",
    ]
    return "\n".join(lines), csv_rows


def fitted(r: EmbeddedRun) -> bool:
    return all(phase_seconds(r, kind) <= r.windows[kind] for kind in KINDS)


def capacity(r: EmbeddedRun, kind: str) -> int:
    """Prosumers whose `kind` transactions the phase's window holds at the rate measured."""
    return int(r.windows[kind] * 2 * r.prosumers / phase_seconds(r, kind))


def phase_seconds(r: EmbeddedRun, kind: str) -> float:
    """The time both paths took to send `kind` transactions and see them mined."""
    return sum(t.seconds for t in r.phases if t.kind == kind)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="50,250,500", help="prosumers per path, comma-separated")
    args = parser.parse_args(argv)
    machine()  # the load average as the run starts
    runs = []
    for n in (int(size) for size in args.sizes.split(",")):
        runs.append(run(n))
        print(f"embedded, {n} prosumers per path: done", flush=True)
    report, rows = render(runs)
    print(report)
    (RESULTS / "embedded.md").write_text(report)
    write_csv(
        RESULTS / "embedded.csv",
        [
            "prosumers",
            "path",
            "commit_tps",
            "reveal_tps",
            "reading_tps",
            "avg_latency_s",
            "max_latency_s",
            "trades",
            "matching_s",
            "settlement_s",
            "prosumers_per_period",
        ],
        rows,
    )
    print(f"written to {RESULTS}/embedded.md, embedded.csv")


if __name__ == "__main__":
    main()
