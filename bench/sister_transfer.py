"""Time of a whole transfer between the sister chains: two anvil nodes mining a block every
second, the pair deployed, an in-process relayer, 6 confirmations.

    .venv/bin/python -m bench.sister_transfer [--transfers 5] [--block-time 1]

Runs a scenario (``relayer/scenario.py``) of transfers alternating between the two directions,
each waiting for the one before to be unlocked, and times each from its lock being sent to its
unlock being mined. Prints a Markdown table and writes ``bench/results/sister_transfer.md`` and
``sister_transfer.csv`` (direction,transfer,seconds,confirmations,blocks). The published figure
to compare with: about 10 s for a whole transfer with 1 s blocks.
"""

from __future__ import annotations

import argparse
import statistics

from eth_account import Account
from web3 import Web3

from bench.common import RESULTS, machine, markdown_table, write_csv
from devnet.nodes import ANVIL_FUNDED_KEY, anvil
from relayer.scenario import Backend, ScenarioRun, parse_scenario

CONFIRMATIONS = 6
PUBLISHED_SECONDS = 10


def scenario(transfers: int) -> dict:
    steps = [
        {"action": "tokens_to_rights" if index % 2 == 0 else "rights_to_tokens", "by": "user", "amount": 10}
        for index in range(transfers)
    ]
    return {
        "rate": 1,
        "confirmations": CONFIRMATIONS,
        "accounts": {"user": {"trading": 1000, "scheduling": 1000}},
        "steps": steps,
    }


def measure(transfers: int, block_time: float) -> list[tuple]:
    timing = ["--block-time", f"{block_time:g}"]
    with anvil("--chain-id", "46641", *timing) as trading_url, anvil("--chain-id", "46642", *timing) as scheduling_url:
        backend = Backend(
            f"anvil ({block_time:g} s blocks)",
            Web3(Web3.HTTPProvider(trading_url)),
            Web3(Web3.HTTPProvider(scheduling_url)),
            Account.from_key(ANVIL_FUNDED_KEY),
            poll_interval=0.1,
        )
        result = ScenarioRun(parse_scenario(scenario(transfers)), backend).run()
    return [
        (
            f"{step['lock']['chain']} -> {step['unlock']['chain']}",
            step["step"],
            step["wall_seconds"],
            step["confirmations"],
            step["unlock"]["block"] - step["lock"]["block"],
        )
        for step in result["steps"]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transfers", type=int, default=6, help="transfers, alternating directions")
    parser.add_argument("--block-time", type=float, default=1.0, help="anvil's seconds per block")
    args = parser.parse_args()
    started_on = machine()
    rows = measure(args.transfers, args.block_time)
    write_csv(RESULTS / "sister_transfer.csv", ("direction", "transfer", "seconds", "confirmations", "blocks"), rows)
    summary = []
    for direction in dict.fromkeys(row[0] for row in rows):
        seconds = [row[2] for row in rows if row[0] == direction]
        summary.append(
            (
                direction,
                len(seconds),
                f"{statistics.mean(seconds):.1f}",
                f"{min(seconds):.1f}",
                f"{max(seconds):.1f}",
                f"{statistics.mean(row[3] for row in rows if row[0] == direction):.1f}",
            )
        )
    every = [row[2] for row in rows]
    report = "\n".join(
        [
            "# Time of a whole transfer between the sister chains",
            "",
            f"Machine: {started_on}. Two anvil nodes, {args.block_time:g} s blocks, {CONFIRMATIONS} confirmations,"
            " one relayer in the same process; each transfer timed from its lock sent to its unlock mined.",
            "",
            markdown_table(
                ["direction", "transfers", "mean s", "min s", "max s", "confirmations seen"], summary, numeric_from=1
            ),
            "",
            f"All {len(every)} transfers: {statistics.mean(every):.1f} s on average"
            f" (published: about {PUBLISHED_SECONDS} s with 1 s blocks).",
            "",
        ]
    )
    (RESULTS / "sister_transfer.md").write_text(report)
    print(report)
    print(f"written to {RESULTS}/sister_transfer.md and sister_transfer.csv")


if __name__ == "__main__":
    main()
