"""What Caliper's rounds send, prepared before the benchmark starts, and Caliper's configuration.

A *step* is one send rate and one market period: the period's commits, reveals and meter
readings, one round each, then a view call round and a deposit round, every round sending
``rate x seconds`` transactions at ``rate`` (Caliper's fixed-rate controller, the rate shared by
the workers). The market accepts one commit, one reveal and one reading per prosumer and period,
so each worker has a pool of prosumers of its own, enrolled beforehand, and signs each of a
round's transactions with the next prosumer (or its meter) of its pool; the view call and the
deposit come from the pool's first prosumer, the worker's own account.

Each round's file (JSON, read by ``workload/market.js``) lists, per worker, the calls it sends in
order, and the chain time the round starts at: the workers wait for a block at that time, and on
anvil worker 0 moves the clock there first (``evm_increaseTime``). Reveals name the bid theirs
goes after (``bench/market_txs.py`` explains the price bands and their anchors): a worker's band
anchors are committed and revealed, as raw transactions signed here, in the untimed preparation
of its commit and reveal rounds, and its reveals hint at the anchors' bid ids read from those
receipts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from bench.market_txs import (
    COMMIT_GAS,
    READING_GAS,
    REVEAL_GAS,
    Prosumer,
    Signer,
    anchor_price,
    band_bids,
    calldata,
    sign_commits,
)
from p2pkit.bids import SealedBid, commitment
from p2pkit.schedule import Schedule

MARKET = "market"  # the contract's name in the network configuration
DEPOSIT_GAS = 100_000
VIEW = "accountOf"
# Wei each deposit adds to the sender's wallet.
DEPOSIT_WEI = 10**12
# In the order a step runs them: the market's phases first, right after the clock is moved to
# the auction, then the two that any phase allows.
KINDS = ("commit", "reveal", "reading", "view", "deposit")
# The benchmark's market clock: the paper's phases stretched to an hour, so that a round slowed
# down by a saturated chain still ends inside its phase (the clock is moved between phases, so
# the length costs no waiting; gas does not depend on it).
BENCH_SCHEDULE = Schedule.scaled(3600)
WORKLOADS = {kind: f"workload/{kind}.js" for kind in KINDS}


@dataclass(frozen=True)
class Round:
    label: str  # Caliper's round name, "<kind>-<rate>"
    kind: str
    rate: float
    tx_number: int
    path: Path  # the round's calls (JSON)


def round_size(rate: float, seconds: float, workers: int) -> int:
    """Transactions of a round: `rate x seconds`, a whole number per worker (Caliper gives each
    worker txNumber / workers, rounded down), at least one each."""
    return max(1, round(rate * seconds / workers)) * workers


def pools(prosumers: list[Prosumer], workers: int) -> list[list[Prosumer]]:
    """Each worker's own prosumers: consecutive slices of equal length."""
    size = len(prosumers) // workers
    return [prosumers[w * size : (w + 1) * size] for w in range(workers)]


def network_config(url: str, chain_id: int, gas_price: int, market: str, abi: list, deployer: str) -> dict:
    """Caliper's Ethereum connection profile: a deployed market (abi and address, so Caliper's own
    deployment is skipped: the market must be enrolled before the rounds), fixed gas per
    function (no estimate against a block that does not yet hold the transactions before it)."""
    if not url.startswith("ws"):
        raise ValueError(f"Caliper's Ethereum connector needs a ws:// URL, not {url}")
    return {
        "caliper": {"blockchain": "ethereum"},
        "ethereum": {
            "url": url,
            "contractDeployerAddress": deployer,
            "chainId": chain_id,
            "gasPrice": gas_price,
            "transactionConfirmationBlocks": 1,
            "contracts": {
                MARKET: {
                    "address": market,
                    "abi": [entry for entry in abi if entry.get("type") != "constructor"],
                    "gas": {
                        "commit": COMMIT_GAS,
                        "reveal": REVEAL_GAS,
                        "submitReading": READING_GAS,
                        "deposit": DEPOSIT_GAS,
                    },
                }
            },
        },
    }


def benchmark_config(rounds: list[Round], workers: int, keys: Path, description: str) -> dict:
    """Caliper's benchmark configuration: one fixed-rate round per entry of `rounds`."""
    return {
        "test": {
            "name": "p2p-energy-market",
            "description": description,
            "workers": {"number": workers},
            "rounds": [
                {
                    "label": r.label,
                    "description": f"{r.kind} at {r.rate:g} tx/s",
                    "txNumber": r.tx_number,
                    "rateControl": {"type": "fixed-rate", "opts": {"tps": r.rate}},
                    "workload": {
                        "module": WORKLOADS[r.kind],
                        "arguments": {"plan": str(r.path), "keys": str(keys)},
                    },
                }
                for r in rounds
            ],
        }
    }


def keys_file(lanes: list[Lane]) -> dict:
    """Each worker's private keys: its prosumers' and their meters', in every lane."""
    return {
        "workers": [
            ["0x" + bytes(k.key).hex() for lane in lanes for p in lane.pools[w] for k in (p.account, p.meter)]
            for w in range(len(lanes[0].pools))
        ]
    }


@dataclass
class StepTimes:
    """Chain times (seconds) the rounds of a step start at."""

    period: int  # the market period whose auction the step's bids are in
    auction: int
    reveal: int
    readings: int

    @classmethod
    def of(cls, schedule: Schedule, period: int) -> StepTimes:
        return cls(
            period,
            schedule.start(period) + 1,
            schedule.reveal_opens(period + 1),
            schedule.delivery_ends(period + 1) + 1,
        )

    def next_period(self, schedule: Schedule) -> int:
        return schedule.period_at(self.readings) + 1


def call(sender: str, verb: str, args: list, **extra) -> dict:
    return {"from": sender, "verb": verb, "args": args, **extra}


def step_calls(
    worker_pools: list[list[Prosumer]],
    per_worker: int,
    delivery_period: int,
    anchors: dict[tuple[int, int], Prosumer],
    signer: Signer,
    seed: int,
) -> dict[str, dict]:
    """The five rounds' contents of one step, per kind: each worker's calls, and the anchors'
    raw transactions it sends while preparing the commit and reveal rounds."""
    workers = len(worker_pools)
    cohort = [p for pool in worker_pools for p in pool[:per_worker]]
    bands = [w for w in range(workers) for _ in range(per_worker)]
    bids = band_bids(cohort, bands, seed)
    by_worker = [list(range(w * per_worker, (w + 1) * per_worker)) for w in range(workers)]
    anchor_keys = [[key for key in anchors if key[1] == w] for w in range(workers)]
    anchor_bids = {key: SealedBid(100, anchor_price(*key), os.urandom(32)) for key in anchors}
    anchor_commits, anchor_reveals = [], []
    for keys in anchor_keys:
        members = [anchors[key] for key in keys]
        anchor_commits.append(
            [tx.raw for tx in sign_commits(members, [anchor_bids[key] for key in keys], signer, kind="anchor")]
        )
        reveals = []
        for key, member in zip(keys, members):
            bid = anchor_bids[key]
            data = calldata("reveal", bid.quantity_wh, bid.price, bid.salt, 0)
            reveals.append(signer.sign(member.account, member.nonce, data, 1_000_000, "anchor").raw)
            member.nonce += 1
        anchor_reveals.append(reveals)

    def each_worker(make) -> list[list[dict]]:
        return [[make(cohort[i], bids[i]) for i in indices] for indices in by_worker]

    def reading(p: Prosumer, bid: SealedBid) -> dict:
        energy = max(0, bid.quantity_wh + (p.meter_number * 37 + seed) % 101 - 50)
        return call(p.meter.address, "submitReading", [delivery_period, p.meter_number, energy])

    def reveal(p: Prosumer, bid: SealedBid) -> dict:
        return call(p.account.address, "reveal", [bid.quantity_wh, bid.price, "0x" + bid.salt.hex(), 0], anchor=p.queue)

    owners = [pool[0].account.address for pool in worker_pools]
    return {
        "view": {"workers": [[call(owner, VIEW, [owner], readOnly=True)] * per_worker for owner in owners]},
        "deposit": {"workers": [[call(owner, "deposit", [], value=DEPOSIT_WEI)] * per_worker for owner in owners]},
        "commit": {
            "workers": each_worker(
                lambda p, bid: call(
                    p.account.address,
                    "commit",
                    ["0x" + commitment(bid.quantity_wh, bid.price, bid.salt, p.account.address).hex()],
                )
            ),
            "anchors": anchor_commits,
        },
        "reveal": {
            "workers": each_worker(reveal),
            "anchors": anchor_reveals,
            "anchorQueues": [[key[0] for key in keys] for keys in anchor_keys],
        },
        "reading": {"workers": each_worker(reading)},
    }


# A producer's bids of four delivery periods may be open at once (the market's PROCEEDS_SLOTS);
# the benchmark never settles its periods, so a prosumer takes part in four steps at most.
STEPS_PER_LANE = 4


@dataclass(frozen=True)
class Lane:
    """The prosumers and band anchors of up to STEPS_PER_LANE consecutive steps."""

    pools: list[list[Prosumer]]  # each worker's
    anchors: dict[tuple[int, int], Prosumer]


def lane_sizes(rates: list[float], seconds: float, workers: int) -> list[int]:
    """Prosumers each lane needs: its largest round."""
    sizes = [round_size(rate, seconds, workers) for rate in rates]
    return [max(sizes[i : i + STEPS_PER_LANE]) for i in range(0, len(sizes), STEPS_PER_LANE)]


def write_plan(
    folder: Path,
    lanes: list[Lane],
    signer: Signer,
    schedule: Schedule,
    first_period: int,
    rates: list[float],
    seconds: float,
    jump_clock: bool,
    kinds: tuple[str, ...] = KINDS,
) -> list[Round]:
    """Every step's round files in `folder` (rounds of `kinds` only), step k taking the
    prosumers of lane k // STEPS_PER_LANE; the rounds in the order Caliper runs them."""
    if len(lanes) * STEPS_PER_LANE < len(rates):
        raise ValueError(f"{len(rates)} steps need {-(-len(rates) // STEPS_PER_LANE)} lanes of prosumers")
    workers = len(lanes[0].pools)
    rounds = []
    period = first_period
    for step, rate in enumerate(rates):
        lane = lanes[step // STEPS_PER_LANE]
        worker_pools, anchors = lane.pools, lane.anchors
        size = round_size(rate, seconds, workers)
        times = StepTimes.of(schedule, period)
        per_worker = size // workers if set(kinds) & {"commit", "reveal", "reading"} else 1
        contents = step_calls(worker_pools, per_worker, period + 1, anchors, signer, seed=step + 1)
        starts = {
            "commit": times.auction,
            "reveal": times.reveal,
            "reading": times.readings,
            "view": times.readings,
            "deposit": times.readings,
        }
        for kind in kinds:
            label = f"{kind}-{rate:g}"
            path = folder / f"{label}.json"
            path.write_text(json.dumps({**contents[kind], "startsAt": starts[kind], "jumpClock": jump_clock}))
            rounds.append(Round(label, kind, rate, size, path))
        period = times.next_period(schedule)
    return rounds
