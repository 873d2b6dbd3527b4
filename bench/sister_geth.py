"""The time of a whole transfer through the transaction lock on the Geth proof-of-work pair.

    .venv/bin/python -m bench.sister_geth [--rounds 3]

Runs the trading and the scheduling chain as two Geth PoW networks of two nodes each
(``devnet.geth.geth_sister_pair``: node 1 mines, node 2 serves the users and the relayer),
deploys the lock on both (``devnet.geth.sister``) and runs the relayer (``relayer.Relayer``, as
``python -m relayer run`` does) in a thread. Each round locks on both chains at once and follows
each transfer, polling both chains, through its stages: the lock mined, six blocks on top of it
on its own chain, the six headers held by the other chain's light client, the unlock mined.
Prints Markdown tables and writes ``bench/results/sister_geth.md`` and ``sister_geth.csv``
(round,direction,lock_mined_s,confirmed_s,headers_held_s,unlocked_s,blocks_waited). Geth
absent and not installable: says so, keeps the last results and exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from eth_account import Account

from bench.common import RESULTS, machine, markdown_table, write_csv
from devnet.geth import GETH_VERSION, GethUnavailable, dag_dir, geth_binary, geth_sister_pair, prepare_dags
from devnet.geth.sister import deploy_on_pair
from p2pkit.sister.lock import LockTerms, SisterChain
from p2pkit.sister.relay import lock_events
from p2pkit.transactions import build
from relayer.relayer import Relayer

CONFIRMATIONS = 6
TERMS = LockTerms(total_supply=10**24, reserve=10**23, confirmations=CONFIRMATIONS)
USER_FUNDS = 10**6
POLL = 0.1  # seconds between looks at the chains while a transfer is followed
TRANSFER_TIMEOUT = 600.0
CSV_HEADER = ("round", "direction", "lock_mined_s", "confirmed_s", "headers_held_s", "unlocked_s", "blocks_waited")
STAGES = (
    ("lock_mined_s", "lock mined"),
    ("confirmed_s", "6 blocks on top, source chain"),
    ("headers_held_s", "6 headers on top, light client"),
    ("unlocked_s", "unlock mined (whole transfer)"),
)


def follow(source: SisterChain, destination: SisterChain, user, amount: int) -> dict:
    """Lock ``amount`` on ``source`` and time each stage from the moment the lock is sent."""
    w3 = source.w3
    tx = build(
        source.lock.functions.lock(amount, user.address),
        {"from": user.address, "nonce": w3.eth.get_transaction_count(user.address, "pending")},
    )
    started = time.monotonic()
    tx_hash = w3.eth.send_raw_transaction(user.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=TRANSFER_TIMEOUT, poll_latency=POLL)
    times = {"lock_mined_s": time.monotonic() - started}
    (event,) = lock_events(source, receipt["blockNumber"], receipt["blockNumber"], 1)
    wanted = event.block_number + CONFIRMATIONS
    checks = {
        "confirmed_s": lambda: w3.eth.block_number >= wanted,
        "headers_held_s": lambda: destination.light_client.functions.bestHeader().call().number >= wanted,
        "unlocked_s": lambda: destination.lock.functions.isUnlocked(event.lock_id).call(),
    }
    while checks:
        if time.monotonic() - started > TRANSFER_TIMEOUT:
            raise TimeoutError(f"{source.name} -> {destination.name}: not done within {TRANSFER_TIMEOUT:.0f} s")
        for stage, check in list(checks.items()):
            if check():
                times[stage] = time.monotonic() - started
                del checks[stage]
        time.sleep(POLL)
    times["blocks_waited"] = destination.light_client.functions.bestHeader().call().number - event.block_number
    return times


def measure(rounds: int) -> tuple[list[tuple], dict]:
    geth = geth_binary()
    prepare_dags(geth, dag_dir())
    user, relayer_account = Account.create(), Account.create()
    with tempfile.TemporaryDirectory(prefix="sister-geth-") as folder, geth_sister_pair(folder) as networks:
        started = time.monotonic()
        sister = deploy_on_pair(networks, [relayer_account.address], {user.address: USER_FUNDS}, TERMS)
        setup_s = time.monotonic() - started
        first_blocks = [side.w3.eth.block_number for side in (sister.trading, sister.scheduling)]
        first_time = time.monotonic()
        relayer = Relayer((sister.trading, sister.scheduling), relayer_account, poll_interval=0.5)
        stop = threading.Event()
        relaying = threading.Thread(target=relayer.run, args=(stop,), daemon=True)
        relaying.start()
        rows = []
        try:
            with ThreadPoolExecutor(max_workers=2) as pool:
                for number in range(1, rounds + 1):
                    there = pool.submit(follow, sister.trading, sister.scheduling, user, 10)
                    back = pool.submit(follow, sister.scheduling, sister.trading, user, 10)
                    for direction, future in (("trading -> scheduling", there), ("scheduling -> trading", back)):
                        times = future.result()
                        rows.append(
                            (number, direction, *(round(times[key], 1) for key, _ in STAGES), times["blocks_waited"])
                        )
        finally:
            stop.set()
            relaying.join(timeout=TRANSFER_TIMEOUT)
        elapsed = time.monotonic() - first_time
        blocks = [
            side.w3.eth.block_number - first for side, first in zip((sister.trading, sister.scheduling), first_blocks)
        ]
    return rows, {
        "deployment_s": setup_s,
        "block_time_s": [elapsed / count if count else float("nan") for count in blocks],
    }


def report(rows: list[tuple], context: dict) -> str:
    per_transfer = markdown_table(
        ["round", "direction", *(label for _, label in STAGES), "headers above the lock at unlock"],
        [(r, d, *(f"{value:.1f} s" for value in values[:-1]), values[-1]) for r, d, *values in rows],
        numeric_from=2,
    )
    summary_rows = []
    for direction in dict.fromkeys(row[1] for row in rows):
        mine = [row for row in rows if row[1] == direction]
        for index, (_, label) in enumerate(STAGES):
            values = [row[2 + index] for row in mine]
            summary_rows.append(
                (direction, label, f"{statistics.mean(values):.1f}", f"{min(values):.1f}", f"{max(values):.1f}")
            )
    trading_block, scheduling_block = context["block_time_s"]
    return "\n".join(
        [
            "# Time of a whole transfer on the Geth proof-of-work pair",
            "",
            f"Machine: {machine()}. Geth {GETH_VERSION}, two PoW networks (trading id 20645, scheduling id 20646),"
            " two nodes each (node 1 mining with one thread, node 2 serving the user and the relayer);"
            f" {CONFIRMATIONS} confirmations; relayer polling every 0.5 s. Times from the moment the lock is sent."
            f" Mean block time while measured: trading {trading_block:.1f} s, scheduling {scheduling_block:.1f} s."
            f" Deployment on both chains took {context['deployment_s']:.0f} s.",
            "",
            markdown_table(["direction", "stage", "mean s", "min s", "max s"], summary_rows, numeric_from=2),
            "",
            per_transfer,
            "",
            "The source reports about 10 s for a whole transfer with 1 s blocks; on proof of work the wait is"
            " set by the block time: six blocks on the source chain, then a block of the destination chain for"
            " the last headers and one for the unlock.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of one transfer each way at once")
    args = parser.parse_args()
    machine()
    try:
        rows, context = measure(args.rounds)
    except GethUnavailable as error:
        # Skipped: the last figures measured, if any, are kept.
        print(f"sister_geth skipped: Geth {GETH_VERSION} is not installed and cannot be installed here ({error})")
        return
    write_csv(RESULTS / "sister_geth.csv", CSV_HEADER, rows)
    text = report(rows, context)
    (RESULTS / "sister_geth.md").write_text(text)
    print(text)
    print(f"written to {RESULTS}/sister_geth.md and sister_geth.csv")


if __name__ == "__main__":
    main()
