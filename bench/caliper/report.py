"""Caliper's summary table, read from its ``report.html``, as CSV rows and a Markdown table beside
the published Fabric figures and ``bench/load.py``'s rows on the same chain."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html.parser import HTMLParser

from bench.common import markdown_table

CSV_COLUMNS = [
    "chain",
    "name",
    "succ",
    "fail",
    "send_rate",
    "max_latency",
    "min_latency",
    "avg_latency",
    "throughput",
]
# Caliper's summary head (caliper-core 0.6.0, lib/manager/report/report.js), in CSV_COLUMNS' order.
CALIPER_HEAD = [
    "Name",
    "Succ",
    "Fail",
    "Send Rate (TPS)",
    "Max Latency (s)",
    "Min Latency (s)",
    "Avg Latency (s)",
    "Throughput (TPS)",
]
# The Fabric market measured with Caliper (ZHAO Wenting et al., 2020): throughput saturates at
# 280-297 tps; average latency about 1 s below 300 tps, 3.33 s at 300 tps and 8 s at 460 tps.
SOURCE_SATURATION_TPS = 297
SOURCE_LATENCY_AT_300 = 3.33


class ReportError(ValueError):
    """A report.html without Caliper's summary table."""


@dataclass(frozen=True)
class RoundResult:
    chain: str
    name: str
    succ: int
    fail: int
    send_rate: float
    max_latency: float  # seconds; nan when no transaction succeeded
    min_latency: float
    avg_latency: float
    throughput: float

    @property
    def kind(self) -> str:
        return self.name.rsplit("-", 1)[0]

    @property
    def target_rate(self) -> float:
        return float(self.name.rsplit("-", 1)[1])

    @classmethod
    def from_csv(cls, row: dict) -> RoundResult:
        """A row of caliper.csv read back."""
        return cls(
            row["chain"],
            row["name"],
            int(row["succ"]),
            int(row["fail"]),
            *(float(row[column]) for column in CSV_COLUMNS[4:]),
        )

    def csv_row(self) -> list:
        return [
            self.chain,
            self.name,
            self.succ,
            self.fail,
            f"{self.send_rate:.1f}",
            *(f"{value:.2f}" for value in (self.max_latency, self.min_latency, self.avg_latency)),
            f"{self.throughput:.1f}",
        ]


class _SummaryTable(HTMLParser):
    """The rows of the first table inside the element whose id is ``benchmarksummary``."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # of open elements inside the summary's element, 0 when outside it
        self.in_table = False
        self.done = False
        self.cell: list[str] | None = None
        self.rows: list[list[str]] = []

    def handle_starttag(self, tag, attrs):
        if self.done:
            return
        if self.depth == 0:
            if dict(attrs).get("id") == "benchmarksummary":
                self.depth = 1
            return
        self.depth += 1
        if tag == "table":
            self.in_table = True
        elif tag == "tr" and self.in_table:
            self.rows.append([])
        elif tag in ("td", "th") and self.in_table and self.rows:
            self.cell = []

    def handle_endtag(self, tag):
        if self.done or self.depth == 0:
            return
        self.depth -= 1
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table":
            self.done = True
        if self.depth == 0:
            self.done = True

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def _number(text: str) -> float:
    return math.nan if text in ("-", "") else float(text)


def parse_report(html: str, chain: str) -> list[RoundResult]:
    """Caliper's summary of performance metrics, one result per round, in the report's order."""
    table = _SummaryTable()
    table.feed(html)
    rows = [row for row in table.rows if row]
    if not rows or rows[0] != CALIPER_HEAD:
        raise ReportError(f"no Caliper summary table (expected the head {CALIPER_HEAD}, found {rows[:1]})")
    results = []
    for row in rows[1:]:
        if len(row) != len(CALIPER_HEAD):
            raise ReportError(f"a summary row of {len(row)} cells: {row}")
        name, succ, fail, *numbers = row
        results.append(RoundResult(chain, name, int(succ), int(fail), *(_number(n) for n in numbers)))
    return results


def market_rounds(results: list[RoundResult]) -> dict[float, list[RoundResult]]:
    """The commit, reveal and reading rounds of each target rate."""
    steps: dict[float, list[RoundResult]] = {}
    for r in results:
        if r.kind in ("commit", "reveal", "reading"):
            steps.setdefault(r.target_rate, []).append(r)
    return steps


def verdicts(results: list[RoundResult], chain: str) -> list[str]:
    """The targets against the source's figures: at 300 tps no failure and an average latency
    below 3.33 s over the market's rounds; the highest throughput of a step with no failure above
    297 tps."""
    steps = market_rounds([r for r in results if r.chain == chain])
    if not steps:
        return [f"- `{chain}`: view call and deposit rounds only (its market phases follow the wall clock)."]
    lines = []
    at_300 = steps.get(300.0)
    if at_300:
        failed = sum(r.fail for r in at_300)
        succeeded = sum(r.succ for r in at_300)
        average = sum(r.avg_latency * r.succ for r in at_300 if r.succ) / succeeded if succeeded else math.nan
        met = failed == 0 and average < SOURCE_LATENCY_AT_300
        lines.append(
            f"- `{chain}` at 300 tps, no failed transaction and average latency below {SOURCE_LATENCY_AT_300} s:"
            f" {'met' if met else 'not met'} ({failed} failed, {average:.2f} s average over commit, reveal and"
            " reading)."
        )
    clean = [(rate, rounds) for rate, rounds in steps.items() if all(r.fail == 0 for r in rounds)]
    if clean:
        best = max(min(r.throughput for r in rounds) for _, rounds in clean)
        top = max(r.throughput for _, rounds in clean for r in rounds)
        lines.append(
            f"- `{chain}`, highest throughput with no failure above {SOURCE_SATURATION_TPS} tps:"
            f" {'met' if top > SOURCE_SATURATION_TPS else 'not met'} (highest round {top:.0f} tps; every round of"
            f" a step at {best:.0f} tps or more in the best failure-free step)."
        )
    else:
        lines.append(f"- `{chain}`: no step without a failed transaction.")
    return lines


def render(results: list[RoundResult], load_rows: list[dict], settings: str, skipped: list[str]) -> str:
    """caliper.md: Caliper's table per chain, the targets, the source's figures, bench/load.py's rows."""
    lines = [
        "# Caliper: the market under Hyperledger Caliper 0.6.0",
        "",
        settings,
        "",
    ]
    for chain in dict.fromkeys(r.chain for r in results):
        mine = [r for r in results if r.chain == chain]
        lines += [
            f"## `{chain}`",
            "",
            markdown_table(
                [
                    "name",
                    "succ",
                    "fail",
                    "send rate (tps)",
                    "max latency (s)",
                    "min latency (s)",
                    "avg latency (s)",
                    "throughput (tps)",
                ],
                [r.csv_row()[1:] for r in mine],
            ),
            "",
            *verdicts(results, chain),
            "",
        ]
    lines += [
        "## The source's figures (Fabric market under Caliper)",
        "",
        "Throughput saturates at 280-297 tps; average latency about 1 s below 300 tps, 3.33 s at 300 tps,"
        " 8 s at 460 tps (ZHAO Wenting et al., Research on Electricity Trading Based on Blockchain Technology,"
        " Journal of Taiyuan University of Technology, 2020).",
        "",
    ]
    if load_rows:
        lines += [
            "## bench/load.py on the same chain, in the same run",
            "",
            "The project's own generator (signed raw transactions in JSON-RPC batches, latency to the first"
            " sight of the block; `throughput.md`), commit, reveal and reading of a period per row:",
            "",
            markdown_table(
                [
                    "target",
                    "send rate (tx/s)",
                    "succeeded",
                    "failed",
                    "max latency (s)",
                    "min latency (s)",
                    "avg latency (s)",
                    "throughput (tx/s)",
                ],
                [
                    [
                        r["target"],
                        r["send_rate"],
                        r["succeeded"],
                        r["failed"],
                        r["max_latency_s"],
                        r["min_latency_s"],
                        r["avg_latency_s"],
                        r["throughput_tps"],
                    ]
                    for r in load_rows
                ],
            ),
            "",
        ]
    if skipped:
        lines += ["## Not measured", "", *(f"- {reason}" for reason in skipped), ""]
    return "\n".join(lines)
