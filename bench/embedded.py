"""Embedded chain: how fast the in-process eth-tester chain carries a period, at small N.

    .venv/bin/python -m bench.embedded [--sizes 10,50,100]

The embedded chain (``P2P_CHAIN=embedded``) runs py-evm inside the backend's process and mines
one block per transaction, one transaction at a time, each block at least a second after the
one before: its clock runs a second ahead per transaction, so a phase of W seconds holds at most
W transactions. For each N, a fresh embedded market (with periods long enough for its phases to
hold the N prosumers of both paths) gets
2 x N prosumers; in one period N of them send their commit, reveal and meter reading straight
into the chain in this process (what the backend's own parts do), the other N through the
backend's ``/rpc`` (Flask's test client, batches of up to 100 raw transactions, no HTTP). Every
transaction is signed beforehand. Latency is the time a send takes to return, by which time
the transaction is mined; throughput is transactions over the phase's time. Then the operator
matches the book (``matchBids`` batches until done) and settles it, each timed.

Writes ``bench/results/embedded.md`` and ``embedded.csv``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
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
from bench.senders import PresignedSender, send_signed
from devnet.embedded import TimeTravel, start_embedded_market
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


def send_in_process(rpc: UpstreamRpc, txs: list[SignedTx]) -> Timed:
    latencies = []
    started = time.perf_counter()
    for tx in txs:
        sent = time.perf_counter()
        rpc.call("eth_sendRawTransaction", tx.raw)
        latencies.append(time.perf_counter() - sent)
    return Timed("in-process", txs[0].kind, latencies, time.perf_counter() - started)


def send_through_proxy(client, txs: list[SignedTx]) -> Timed:
    latencies = []
    started = time.perf_counter()
    for start in range(0, len(txs), RPC_BATCH):
        batch = txs[start : start + RPC_BATCH]
        sent = time.perf_counter()
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
        latencies += [time.perf_counter() - sent] * len(batch)
    return Timed("/rpc", txs[0].kind, latencies, time.perf_counter() - started)


# Transactions a 15-minute period's reveal window (120 s) holds on the embedded chain.
DEFAULT_REVEAL_WINDOW = Schedule().reveal_end - Schedule().commit_end


def period_holding(transactions: int) -> int:
    """The shortest multiple of 15 minutes whose reveal window holds `transactions` blocks."""
    return 900 * max(1, math.ceil(transactions / DEFAULT_REVEAL_WINDOW))


@dataclass
class EmbeddedRun:
    prosumers: int  # per path
    period_length: int
    phases: list[Timed]
    trades: int
    matching_seconds: float
    match_txs: int
    settlement_seconds: float
    settle_txs: int
    setup_seconds: float


def run(n: int, seed: int = 6) -> EmbeddedRun:
    setup_started = time.perf_counter()
    # Both paths' reveals, the anchors' and a few blocks of slack in the reveal window.
    period_length = period_holding(2 * n + 4 + 10)
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
    phases += [send_in_process(rpc, commits[0]), send_through_proxy(client, commits[1])]

    time_travel.next_block_at(schedule.reveal_opens(delivery))
    anchor_receipts = unmeasured(
        rpc, sign_reveals(anchor_members, anchor_bids, [0] * len(anchor_members), signer, kind="anchor")
    )
    anchor_ids = {key: revealed_bid_id(receipt) for key, receipt in zip(anchor_keys, anchor_receipts)}
    reveals = [
        sign_reveals(members, cohort_bids, [anchor_ids[(p.queue, 0)] for p in members], signer)
        for members, cohort_bids in cohorts
    ]
    phases += [send_in_process(rpc, reveals[0]), send_through_proxy(client, reveals[1])]

    # Matching and settlement as the keeper does them (the operator signing each batch as it goes).
    time_travel.next_block_at(schedule.auction_closes(delivery))
    started = time.perf_counter()
    match_receipts = driver.match(delivery, MATCH_STEPS)
    matching_seconds = time.perf_counter() - started
    trade_topic = "0x" + w3.keccak(text="Trade(uint32,uint32,uint32,uint40,uint64,uint256)").hex().removeprefix("0x")
    trades = sum(1 for r in match_receipts for log in r["logs"] if log["topics"][0] == trade_topic)

    time_travel.next_block_at(schedule.delivery_ends(delivery) + 1)  # the delivery period is over: readings
    phases += [send_in_process(rpc, readings[0]), send_through_proxy(client, readings[1])]

    # Settlement waits for the anchors' missing readings until the readings close.
    time_travel.next_block_at(max(schedule.settlement_opens(delivery), schedule.readings_close(delivery)) + 1)
    started = time.perf_counter()
    settle_receipts = driver.settle(delivery, SETTLE_BATCH)
    settlement_seconds = time.perf_counter() - started
    check_receipts(rpc, [tx for group in (*commits, *reveals, *readings) for tx in group])
    return EmbeddedRun(
        n,
        period_length,
        phases,
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
    lines = [
        "# Embedded chain (in-process eth-tester): a period at small N",
        "",
        f"Machine: {machine()}. Chain: eth-tester with py-evm in this process, one block per transaction,"
        " ~30M gas per block.",
        "",
        "Per path, N prosumers each send a commit, a reveal and a meter reading, signed beforehand."
        " Latency: the time a send takes to return (the transaction is mined by then; through /rpc,"
        " the time of its batch of up to 100).",
        "",
        markdown_table(
            ["N", "path", "commit tx/s", "reveal tx/s", "reading tx/s", "avg latency (ms)", "max latency (ms)"],
            rows,
            numeric_from=2,
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
    ]
    largest = runs[-1]
    reveal_rate = next(t.throughput for t in largest.phases if t.path == "in-process" and t.kind == "reveal")
    lines += [
        f"When to move to a node: the embedded chain's clock moves a second per transaction, so the paper's"
        f" 15-minute period holds at most {DEFAULT_REVEAL_WINDOW} reveals"
        f" (its reveal window is {DEFAULT_REVEAL_WINDOW} s)"
        f" and {Schedule().commit_end} commits, fewer when the keeper or others send meanwhile: about"
        f" {DEFAULT_REVEAL_WINDOW} prosumers at most (the runs above used longer periods to measure more)."
        f" Within that it is quick (about {reveal_rate:.0f} reveals a second here), but it serves one transaction at a"
        " time under the lock every /rpc, page and keeper request shares, and it lives in memory, gone when the"
        " backend stops. Beyond ~100 prosumers, or when the chain must survive a restart, use a node (anvil or"
        " Geth; see throughput.md).",
        "",
    ]
    return "\n".join(lines), csv_rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,50,100", help="prosumers per path, comma-separated")
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
        ],
        rows,
    )
    print(f"written to {RESULTS}/embedded.md, embedded.csv")


if __name__ == "__main__":
    main()
