"""The market under Hyperledger Caliper 0.6.0: send rate, latency and throughput in Caliper's own
terms, on anvil (and on the Geth PoW network when Geth and its DAGs are there).

    make bench-caliper
    .venv/bin/python -m bench.caliper [--rates 50,100,...] [--seconds 8] [--workers 4]

On anvil (interval mining, ``--block-time`` seconds, first-in-first-out pool, base fee 0): the
market is deployed and every worker's prosumers are registered, authorized, funded and bound
to meters before Caliper starts (untimed, with the benchmarks' impersonated sender); then one
Caliper run sweeps the send rates, five rounds a rate (``plan.py``). Caliper measures as it
always does: latency from the request's submission to the receipt seen by web3 over the
connector's WebSocket, throughput as succeeded transactions over the round's time. Writes
Caliper's ``report.html`` (``bench/results/caliper-<chain>.html``), its log, and
``bench/results/caliper.csv`` and ``caliper.md``, beside ``bench/load.py``'s rows of the same
chain from ``throughput.csv`` when there.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from eth_account import Account
from web3 import Web3

from bench.caliper.plan import (
    BENCH_SCHEDULE,
    STEPS_PER_LANE,
    Lane,
    benchmark_config,
    keys_file,
    lane_sizes,
    network_config,
    pools,
    write_plan,
)
from bench.caliper.report import CSV_COLUMNS, RoundResult, parse_report, render
from bench.common import RESULTS, JsonRpc, machine, write_csv
from bench.load import GETH_GAS_PRICE, geth, geth_unavailable
from bench.market_txs import Signer, anchors, deploy, enrol, fund, fund_on_anvil, population, refresh_nonces
from bench.senders import ImpersonatedSender, PresignedSender
from devnet.nodes import ANVIL_CHAIN_ID, ANVIL_FUNDED_KEY, anvil
from p2pkit.artifacts import load_artifact
from p2pkit.keyfiles import write_private_file
from p2pkit.market import attach
from p2pkit.schedule import Schedule

HERE = Path(__file__).resolve().parent
CALIPER = HERE / "node_modules" / ".bin" / "caliper"
GWEI = 10**9
SEED = 16  # of the benchmark's prosumer keys


def run_caliper(folder: Path, network: dict, benchmark: dict, chain: str) -> list[RoundResult]:
    """One `caliper launch manager` on the deployed, enrolled market; its summary rows. Caliper's
    report and log are kept in bench/results/."""
    if not CALIPER.exists():
        raise SystemExit(f"Caliper is not installed at {CALIPER}: run `make bench-caliper` (npm ci in {HERE})")
    network_path, benchmark_path = folder / "network.json", folder / "benchmark.yaml"
    network_path.write_text(json.dumps(network, indent=1))
    benchmark_path.write_text(json.dumps(benchmark, indent=1))  # YAML is a superset of JSON
    report = folder / "report.html"
    log = RESULTS / f"caliper-{chain}.log"
    command = [
        str(CALIPER),
        "launch",
        "manager",
        "--caliper-workspace",
        str(HERE),
        "--caliper-networkconfig",
        str(network_path),
        "--caliper-benchconfig",
        str(benchmark_path),
        "--caliper-report-path",
        str(report),
        "--caliper-flow-skip-install",
        "--caliper-progress-reporting-interval",
        "1000",
    ]
    started = time.monotonic()
    with open(log, "w") as output:
        result = subprocess.run(command, cwd=folder, stdout=output, stderr=subprocess.STDOUT)
    print(f"{chain}: Caliper ran {time.monotonic() - started:.0f} s (log: {log})", flush=True)
    if result.returncode != 0 or not report.exists():
        raise RuntimeError(f"Caliper failed (exit {result.returncode}); see {log}")
    shutil.copy(report, RESULTS / f"caliper-{chain}.html")
    return parse_report(report.read_text(), chain)


def run_anvil(rates: list[float], seconds: float, workers: int, block_time: int, gas_limit: int) -> list[RoundResult]:
    chain = f"anvil-{block_time}s-{gas_limit // 1_000_000}M"
    sizes = lane_sizes(rates, seconds, workers)
    args = ["--no-mining", "--auto-impersonate", "--accounts", "1", "--order", "fifo", "--block-base-fee-per-gas", "0"]
    with anvil(*args, gas_limit=gas_limit) as url, tempfile.TemporaryDirectory(prefix="caliper-") as folder:
        rpc = JsonRpc(url)
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))
        setup = ImpersonatedSender(rpc)
        operator, grid = Account.from_key(ANVIL_FUNDED_KEY), Account.create().address
        started = time.monotonic()
        market = deploy(w3, setup, operator, grid, BENCH_SCHEDULE)
        prosumers = population(sum(sizes), seed=SEED)
        starts = [sum(sizes[:k]) for k in range(len(sizes))]
        lanes = [
            Lane(pools(prosumers[start : start + size], workers), anchors(workers, seed=SEED + k))
            for k, (start, size) in enumerate(zip(starts, sizes))
        ]
        members = prosumers + [a for lane in lanes for a in lane.anchors.values()]
        fund_on_anvil(rpc, members)
        enrol(w3, market, operator, setup, members)
        refresh_nonces(rpc, members)
        print(f"{chain}: {len(prosumers)} prosumers enrolled in {time.monotonic() - started:.0f} s", flush=True)
        rpc.call("evm_setIntervalMining", block_time)
        schedule = Schedule.of(attach(w3, market))
        latest = int(rpc.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
        keys = Path(folder) / "keys.json"
        write_private_file(keys, json.dumps(keys_file(lanes)))
        rounds = write_plan(
            Path(folder),
            lanes,
            Signer(ANVIL_CHAIN_ID, GWEI, market),
            schedule,
            schedule.period_at(latest) + 1,
            rates,
            seconds,
            jump_clock=True,
        )
        abi = load_artifact("EnergyMarket")["abi"]
        network = network_config(url.replace("http://", "ws://"), ANVIL_CHAIN_ID, GWEI, market, abi, operator.address)
        description = (
            f"The energy market on anvil, {block_time} s blocks of {gas_limit:,} gas: view call, deposit,"
            " commit, reveal and meter reading at each send rate"
        )
        return run_caliper(Path(folder), network, benchmark_config(rounds, workers, keys, description), chain)


def run_geth(rates: list[float], seconds: float, workers: int) -> list[RoundResult]:
    """View and deposit rounds on the Geth PoW network (one node mining). Its blocks follow the
    wall clock, so the market's phases cannot be moved to each round as on anvil: the commit,
    reveal and reading rounds are anvil's."""
    with (
        tempfile.TemporaryDirectory(prefix="caliper-geth-") as folder,
        geth.geth_private_network(
            Path(folder) / "chain", nodes=1, log=lambda message: print(f"geth: {message}", flush=True)
        ) as network,
    ):
        url = network.rpc_urls[0]
        rpc = JsonRpc(url)
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))
        setup = PresignedSender(rpc, network.chain_id, GETH_GAS_PRICE, timeout=600)
        operator = network.operator
        market = deploy(w3, setup, operator, network.grid.address, Schedule())
        owners = population(workers, seed=SEED)
        fund(setup, operator, owners)
        enrol(w3, market, operator, setup, owners)
        lanes = [Lane(pools(owners, workers), anchors(workers, seed=SEED))] * -(-len(rates) // STEPS_PER_LANE)
        keys = Path(folder) / "keys.json"
        write_private_file(keys, json.dumps(keys_file(lanes[:1])))
        schedule = Schedule.of(attach(w3, market))
        rounds = write_plan(
            Path(folder),
            lanes,
            Signer(network.chain_id, GETH_GAS_PRICE, market),
            schedule,
            0,
            rates,
            seconds,
            jump_clock=False,
            kinds=("view", "deposit"),
        )
        for r in rounds:  # no waiting for market phases: any time will do for these two
            r.path.write_text(json.dumps({**json.loads(r.path.read_text()), "startsAt": 0}))
        abi = load_artifact("EnergyMarket")["abi"]
        network_profile = network_config(
            url.replace("http://", "ws://"), network.chain_id, GETH_GAS_PRICE, market, abi, operator.address
        )
        description = "The energy market on Geth v1.11.6 proof of work, one node mining: view call and deposit"
        return run_caliper(
            Path(folder), network_profile, benchmark_config(rounds, workers, keys, description), "geth-pow"
        )


def last_results() -> list[RoundResult]:
    """The rows caliper.csv holds from the last run, if any."""
    try:
        with open(RESULTS / "caliper.csv") as f:
            return [RoundResult.from_csv(row) for row in csv.DictReader(f)]
    except (OSError, KeyError, ValueError):
        return []


def load_rows(chains: list[str]) -> list[dict]:
    """bench/load.py's rows of the same chains (throughput.csv), when it ran."""
    try:
        with open(RESULTS / "throughput.csv") as f:
            return [r for r in csv.DictReader(f) if r["target"].split("-", 1)[1] in chains]
    except (OSError, KeyError, IndexError):
        return []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,100,200,300,400,460,600", help="target send rates, tps")
    parser.add_argument("--seconds", type=float, default=6.0, help="sending time of a round at its rate")
    parser.add_argument("--workers", type=int, default=4, help="Caliper workers (processes)")
    parser.add_argument("--block-time", type=int, default=1, help="anvil's block interval, whole seconds")
    parser.add_argument("--gas-limit", type=int, default=30_000_000)
    parser.add_argument("--anvil", choices=("on", "off"), default="on", help="off: Geth only (anvil's rows kept)")
    parser.add_argument(
        "--geth",
        choices=("auto", "off"),
        default="auto",
        help="auto: also view and deposit rounds on the Geth PoW network when Geth and its DAGs are installed",
    )
    parser.add_argument("--geth-rates", default="50,100,200", help="target send rates on Geth, tps")
    args = parser.parse_args(argv)
    machine()  # the load average as the run starts
    rates = [float(r) for r in args.rates.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = (
        run_anvil(rates, args.seconds, args.workers, args.block_time, args.gas_limit) if args.anvil == "on" else []
    )
    skipped = []
    if args.geth == "off":
        skipped.append("Geth: left out (--geth off).")
    elif (reason := geth_unavailable()) is not None:
        skipped.append(f"Geth: skipped, {reason}.")
    else:
        try:
            results += run_geth([float(r) for r in args.geth_rates.split(",")], args.seconds, args.workers)
        except (RuntimeError, OSError, geth.GethUnavailable) as error:  # anvil's rows are kept
            skipped.append(f"Geth: the run failed ({error}).")
            print(f"Geth run failed: {error}", flush=True)
    chains = list(dict.fromkeys(r.chain for r in results))
    kept = [r for r in last_results() if r.chain not in chains]
    results = kept + results
    chains = list(dict.fromkeys(r.chain for r in results))
    if "geth-pow" in chains:
        skipped = [reason for reason in skipped if not reason.startswith("Geth")]
    settings = (
        f"Machine: {machine()}. Caliper 0.6.0 (Ethereum connector, web3 1.10.4 over WebSocket),"
        f" {args.workers} workers, fixed-rate rounds of {args.seconds:g} s at the target rate; anvil"
        f" {args.block_time} s blocks (interval mining), {args.gas_limit:,} gas per block, first-in-first-out pool."
        " Each round's transactions come from as many prosumers (one commit, reveal and reading each per"
        " period), each worker signing with its own pool of them; prosumers enrolled before the run, untimed."
        " On Geth v1.11.6 (proof of work, one node mining, when installed with its DAGs): the view call and"
        " deposit rounds, one prosumer per worker. Caliper's report: caliper-<chain>.html."
        + (f" Rows of {', '.join(sorted({r.chain for r in kept}))} are from an earlier run." if kept else "")
    )
    report = render(results, load_rows(chains), settings, skipped)
    print(report)
    write_csv(RESULTS / "caliper.csv", CSV_COLUMNS, [r.csv_row() for r in results])
    (RESULTS / "caliper.md").write_text(report)
    print(f"written to {RESULTS}/caliper.md, caliper.csv, caliper-<chain>.html")


if __name__ == "__main__":
    main()
