"""Every benchmark, as `make bench` runs them, then a summary beside the published figures.

    .venv/bin/python -m bench [--only PART,PART,...] [--quick]

PARTS: gas, retail, continuous, gas_breakdown, reference, budget, embedded, load, caliper, memory,
codec, sister, sister_transfer, sister_geth, stations.

Each part runs in a process of its own and prints its tables: gas per function and per period
(``bench/gas.py``), gas of the retail contracts (``bench/retail_gas.py``), of continuous trading
(``bench/continuous_gas.py``), where the gas of each goes, opcode by opcode
(``bench/gas_breakdown.py``), the off-chain
reference clearing, the 15-minute period budget, the embedded chain, the load test (anvil, and
Geth when installed), the market under Hyperledger Caliper (``bench/caliper/``, beside the load
test's rows on the same chain), the resident memory of the backend and of a meter bridge daemon
(``bench/memory.py``), the meter bridge's DL/T 645 codec and the sister chains' lock
(``bench/sister_gas.py``) and the time of a whole transfer between them
(``bench/sister_transfer.py``), and the gas of the storage stations' dispatch
(``bench/stations_gas.py``). Then ``bench/results/summary.md``
puts the project's headline figures beside the published ones, each with its source. Parts left
out keep their last results, if any. ``--quick`` runs every part small, to check the benchmarks
themselves in a few minutes; its figures are not the reference ones.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.common import PUBLISHED, RESULTS, machine, markdown_table

ROOT = Path(__file__).resolve().parent.parent
PARTS = {
    "gas": ["-m", "bench.gas"],
    "retail": ["-m", "bench.retail_gas"],
    "continuous": ["-m", "bench.continuous_gas"],
    "gas_breakdown": ["-m", "bench.gas_breakdown"],
    "reference": ["-m", "bench.reference_clearing"],
    "budget": ["-m", "bench.period_budget"],
    "embedded": ["-m", "bench.embedded"],
    "load": ["-m", "bench.load"],
    "caliper": ["-m", "bench.caliper"],
    "memory": ["-m", "bench.memory"],
    "codec": ["-m", "bench.codec"],
    "sister": ["-m", "bench.sister_gas"],
    "sister_transfer": ["-m", "bench.sister_transfer"],
    "sister_geth": ["-m", "bench.sister_geth"],
    "stations": ["-m", "bench.stations_gas"],
}
QUICK = {
    "gas": ["--sizes", "10,100"],
    "retail": ["--batches", "1,10"],
    "continuous": ["--crossed", "1,2"],
    "gas_breakdown": ["--bids", "10"],
    "reference": ["--sizes", "10,100,1000"],
    "budget": [],
    "embedded": ["--sizes", "10"],
    "load": [
        "--rates",
        "100,1000",
        "--phase-seconds",
        "2",
        "--max-prosumers",
        "2000",
        "--large-blocks-rates",
        "2000",
        "--geth",
        "off",
    ],
    "caliper": ["--rates", "50,100", "--seconds", "3", "--workers", "2", "--geth", "off"],
    "memory": ["--transactions", "1000", "--rate", "1000"],
    "codec": ["--frames", "2000"],
    "sister": ["--block-sizes", "1,10"],
    "sister_transfer": ["--transfers", "2"],
    "sister_geth": ["--rounds", "1"],
    "stations": ["--lines", "1,4"],
}


def read_csv(name: str) -> list[dict]:
    try:
        with open(RESULTS / name) as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def block_seconds(target: str) -> float | None:
    """The block time an anvil target's name gives ("proxy-anvil-1s-30M" -> 1.0)."""
    match = re.search(r"anvil-([0-9.]+)s-", target)
    return float(match.group(1)) if match else None


def load_lines(rows: list[dict]) -> dict[str, str]:
    """The project's side of each published latency and throughput figure, from throughput.csv."""
    figures: dict[str, str] = {}
    if not rows:
        return figures
    sent = sum(int(r["succeeded"]) + int(r["failed"]) for r in rows)
    succeeded = sum(int(r["succeeded"]) for r in rows)
    success = f"{succeeded / sent:.2%} of {sent:,} transactions succeeded (every step, every chain)"
    geth = [r for r in rows if "geth" in r["target"]]
    if geth:
        figures["geth"] = "Geth PoW here, one miner: " + "; ".join(
            f"{r['target'].split('-')[0]} {float(r['avg_latency_s']):.1f} s average,"
            f" {float(r['max_latency_s']):.1f} s max"
            f" at {float(r['send_rate']):.0f} tx/s, {int(r['failed'])} failed"
            for r in geth
        )
    calm_latencies, fabric = [], []
    for target in dict.fromkeys(r["target"] for r in rows):
        block_time = block_seconds(target)
        if block_time is None:
            continue
        mine = [r for r in rows if r["target"] == target]
        best = max(mine, key=lambda r: float(r["throughput_tps"]))
        saturated = next((r for r in mine if float(r["avg_latency_s"]) > 2 * block_time), None)
        calm = [r for r in mine if saturated is None or float(r["send_rate"]) < float(saturated["send_rate"])]
        calm_latencies += [float(r["avg_latency_s"]) for r in calm]
        text = f"{target}: up to {float(best['throughput_tps']):.0f} tx/s"
        if saturated is not None:
            top = max(mine, key=lambda r: float(r["send_rate"]))
            text += (
                f", saturated from {float(saturated['send_rate']):.0f} tx/s sent"
                f" ({float(top['avg_latency_s']):.1f} s average latency at {float(top['send_rate']):.0f} tx/s)"
            )
        if calm:
            text += f", {max(float(r['avg_latency_s']) for r in calm):.1f} s average latency or less below that"
        fabric.append(text)
    figures["fabric"] = "; ".join(fabric)
    figures["confirmation"] = (
        f"anvil, 1 s blocks: {min(calm_latencies):.1f}-{max(calm_latencies):.1f} s average latency"
        f" below saturation; {success}"
        if calm_latencies
        else success
    )
    return figures


def caliper_line(rows: list[dict]) -> str:
    """Caliper's figures of the market's rounds (commit, reveal, reading) on each chain, from caliper.csv."""
    texts = []
    for chain in dict.fromkeys(r["chain"] for r in rows):
        market = [r for r in rows if r["chain"] == chain and r["name"].split("-")[0] in ("commit", "reveal", "reading")]
        if not market:
            continue
        clean = [r for r in market if int(r["fail"]) == 0]
        best = max(clean, key=lambda r: float(r["throughput"]), default=None)
        text = f"Caliper 0.6.0 on {chain}: " + (
            f"up to {float(best['throughput']):.0f} tps with no failure ({best['name']})"
            if best
            else "no round without failures"
        )
        at_300 = [r for r in market if r["name"].endswith("-300")]
        if at_300:
            succeeded = sum(int(r["succ"]) for r in at_300)
            average = (
                sum(float(r["avg_latency"]) * int(r["succ"]) for r in at_300) / succeeded if succeeded else float("nan")
            )
            text += f"; at 300 tps {average:.2f} s average latency, {sum(int(r['fail']) for r in at_300)} failed"
        texts.append(text)
    return "; ".join(texts)


def memory_line(rows: list[dict]) -> str:
    return "; ".join(
        f"{r['process']} ({r['mode']}): {r['idle_rss_mib']} MiB idle, {r['loaded_peak_rss_mib']} MiB under load"
        for r in rows
    )


def gas_lines() -> dict[str, str]:
    figures: dict[str, str] = {}
    scaling = read_csv("gas_scaling.csv")
    if scaling:
        largest = max(scaling, key=lambda r: int(r["bids_per_side"]))
        per_order = int(largest["total_gas"]) / (2 * int(largest["bids_per_side"]))
        figures["gnosis"] = (
            f"{per_order:,.0f} gas per bid from commit to settlement, matching and meter reading included"
            f" ({largest['bids_per_side']} bids a side, bench/gas.py)"
        )
    by_name = {r["figure"]: float(r["gas"]) for r in read_csv("gas_figures.csv")}
    if "trade" in by_name:
        figures["dextop"] = f"{by_name['trade']:,.0f} gas per matched trade (matchBids batches)"
    return figures


def summary() -> str:
    load = load_lines(read_csv("throughput.csv"))
    gas = gas_lines()
    ours = {
        "The paper's platform (Geth PoW, five users)": load.get(
            "geth", "Geth not measured in this run (see throughput.md)"
        ),
        "Settlement contracts on Ethereum": load.get("confirmation", ""),
        "Hyperledger Fabric energy trading under Caliper": "; ".join(
            text for text in (caliper_line(read_csv("caliper.csv")), load.get("fabric", "")) if text
        ),
        "Gnosis Protocol v1 (on-chain batch auction)": gas.get("gnosis", ""),
        "DEx.top (on-chain order matching)": gas.get("dextop", ""),
    }
    rows = [
        (p["system"], p["figure"], ours.get(p["system"]) or "not measured in this run", p["source"]) for p in PUBLISHED
    ]
    budget = read_csv("period_budget.csv")
    largest = {r["block_time_s"]: r["largest_prosumers"] for r in budget}
    lines = [
        "# Benchmarks of the energy market: summary",
        "",
        f"Machine: {machine()}. Other work may share the cores; each part's file states its chain settings.",
        "",
        "## This project beside the published figures",
        "",
        markdown_table(["published system", "published figure", "this project", "source"], rows, numeric_from=4),
        "",
    ]
    period_gas = {int(r["bids_per_side"]): int(r["total_gas"]) for r in read_csv("gas_scaling.csv")}
    if 1000 in period_gas and 10_000 in period_gas:
        lines += [
            f"Gas of a whole period grows linearly with the book: gas(10,000 bids a side) / gas(1,000) ="
            f" {period_gas[10_000] / period_gas[1000]:.2f} (target <= 10.5; gas.md).",
            "",
        ]
    if largest:
        lines += [
            "Largest number of prosumers whose 15-minute period fits 30M-gas blocks (period_budget.md): "
            + ", ".join(f"{int(n):,} with {float(t):g} s blocks" for t, n in largest.items())
            + ".",
            "",
        ]
    memory = memory_line(read_csv("memory.csv"))
    if memory:
        lines += [f"Resident memory (memory.md): {memory}.", ""]
    lines += [
        "Details: gas.md, retail_gas.md, reference_clearing.md, period_budget.md, embedded.md,"
        " throughput.md (and .csv, throughput.png), caliper.md (and .csv, caliper-<chain>.html), memory.md,"
        " sister_gas.md, sister_transfer.md, sister_geth.md."
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(PARTS), help="parts to run, comma-separated: " + ", ".join(PARTS))
    parser.add_argument(
        "--quick", action="store_true", help="every part small (checks the benchmarks, not the figures)"
    )
    args = parser.parse_args()
    machine()  # the load average as the run starts
    chosen = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in PARTS]
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    failed = []
    for part in PARTS:
        if part not in chosen:
            continue
        print(f"\n=== {part} ===", flush=True)
        started = time.monotonic()
        command = [sys.executable, *PARTS[part], *(QUICK[part] if args.quick else [])]
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            failed.append(part)
        print(f"=== {part}: {time.monotonic() - started:.0f} s ===", flush=True)
    report = summary()
    (RESULTS / "summary.md").write_text(report)
    print("\n" + report)
    print(f"written to {RESULTS}/summary.md")
    if failed:
        raise SystemExit(f"benchmark part(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
