"""What the benchmarks share: the results folder, the machine they ran on, a JSON-RPC client,
Markdown and CSV output, and the published figures the project's own are compared with."""

from __future__ import annotations

import csv
import os
import platform
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import requests

RESULTS = Path(__file__).resolve().parent / "results"
# Rated power every benchmark meter is bound with: 10 MW, so that a bid or reading of up to a few
# kWh fits even the load test's shortest (14-second) periods.
RATED_POWER_W = 10_000_000

# Figures from the field, beside which the project's own are put, each with its publication.
PUBLISHED = [
    {
        "system": "The paper's platform (Geth PoW, five users)",
        "figure": "9-10 s per transaction to succeed",
        "source": "Han Dong et al., Framework Design of Smart Distribution Trading Platform Based on"
        " Blockchain Technology, Automation of Electric Power Systems (case study)",
    },
    {
        "system": "Settlement contracts on Ethereum",
        "figure": "16 s mean confirmation; 99.38 % success over 7,129 contracts",
        "source": "LU Jing et al., Smart Contract for Electricity Transaction and Charge Settlement Based on"
        " Blockchain, Computer Systems & Applications 26(12), 2017",
    },
    {
        "system": "Hyperledger Fabric energy trading under Caliper",
        "figure": "throughput saturates near 280-297 tps; average latency ~1 s below 300 tps, 8 s at 460 tps",
        "source": "ZHAO Wenting et al., Research on Electricity Trading Based on Blockchain Technology, Journal of"
        " Taiyuan University of Technology, 2020",
    },
    {
        "system": "Gnosis Protocol v1 (on-chain batch auction)",
        "figure": "about 190k gas per order settled",
        "source": "Gnosis Protocol v1",
    },
    {
        "system": "DEx.top (on-chain order matching)",
        "figure": "60k-136k gas per matched pair",
        "source": "DEx.top, its published gas-cost table",
    },
]


@cache
def machine() -> str:
    """Cores, memory, CPU model and the load when first asked, which each benchmark does as it
    starts (other work on the machine makes figures noisier; the load average says how much
    there was)."""
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    cpu = f" ({model})" if model else ""
    return (
        f"{os.cpu_count()} cores{cpu}, {memory_gib:.0f} GiB, {platform.system()} {platform.machine()},"
        f" Python {platform.python_version()}; load average at start {load}"
    )


class RpcError(RuntimeError):
    """A JSON-RPC request answered with an error."""


class JsonRpc:
    """A JSON-RPC client for setup and bookkeeping (not for the timed sends): requests go in
    batches of `batch_size`, and any error answer raises."""

    def __init__(self, url: str, batch_size: int = 500, timeout: float = 120.0) -> None:
        self.url = url
        self.batch_size = batch_size
        self.timeout = timeout
        self.session = requests.Session()
        self.next_id = 0

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]

    def batch(self, calls: Sequence[tuple[str, list]]) -> list[Any]:
        results: list[Any] = []
        for start in range(0, len(calls), self.batch_size):
            body = []
            for method, params in calls[start : start + self.batch_size]:
                self.next_id += 1
                body.append({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
            answers = self.session.post(self.url, json=body, timeout=self.timeout).json()
            if not isinstance(answers, list):
                raise RpcError(f"{self.url} refused the batch: {answers}")
            for answer in sorted(answers, key=lambda a: a["id"]):
                if "error" in answer:
                    raise RpcError(f"{answer['error']}")
                results.append(answer["result"])
        return results


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric_from: int = 1) -> str:
    """A Markdown table; columns from `numeric_from` on are right-aligned."""
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---" if i < numeric_from else "---:" for i in range(len(headers))) + "|")
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def published_table() -> str:
    return markdown_table(
        ["system", "published figure", "source"],
        [(p["system"], p["figure"], p["source"]) for p in PUBLISHED],
        numeric_from=3,
    )


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
