"""Gas of the sister chains' transaction lock: a lock, each header a light client takes, and an
unlock's proof check as the lock's block fills up.

    .venv/bin/python -m bench.sister_gas [--block-sizes 1,10,30,60]

Runs two anvil nodes with their own chain ids, deploys the pair (p2pkit.sister.lock) and reads
gas from receipts:
- ``lock`` and a ledger ``transfer`` on the trading chain;
- ``submitHeaders`` per header, in batches of 1, 16 and 64, of London headers (16 fields, as
  Geth 1.11 makes) and of Prague headers (21 fields, anvil's default);
- ``unlock`` of a lock that is the last of N transactions in its block (ledger transfers and
  plain payments before it), with the proof's depth and size.
Prints Markdown tables and writes ``bench/results/sister_gas.md`` and ``sister_gas.csv``
(measure,detail,gas,per_header,proof_nodes,proof_bytes).
"""

from __future__ import annotations

import argparse

from eth_account import Account
from web3 import Web3

from bench.common import RESULTS, machine, markdown_table, write_csv
from devnet.nodes import ANVIL_FUNDED_KEY, anvil
from p2pkit.sister.lock import LockTerms, SisterChain, deploy_light_client, deploy_pair, latest_header
from p2pkit.sister.relay import lock_events, missing_headers, unlock_proof
from p2pkit.transactions import send

CONFIRMATIONS = 6
TARGET_UNLOCK_GAS = 400_000
TERMS = LockTerms(total_supply=10**24, reserve=10**23, confirmations=CONFIRMATIONS)


def mine(w3: Web3, blocks: int) -> None:
    w3.provider.make_request("anvil_mine", [hex(blocks)])


def relay(source: SisterChain, destination: SisterChain, relayer) -> None:
    while headers := missing_headers(source.w3, destination.light_client, 64):
        send(destination.w3, destination.light_client.functions.submitHeaders(headers), relayer)


def header_rows(hardfork: str, operator) -> list[tuple]:
    """Gas per header of batches of 1, 16 and 64 headers of a chain at ``hardfork``."""
    rows = []
    with anvil("--chain-id", "46631", "--hardfork", hardfork) as source_url, anvil("--chain-id", "46632") as url:
        source, w3 = Web3(Web3.HTTPProvider(source_url)), Web3(Web3.HTTPProvider(url))
        mine(source, 1)
        client = deploy_light_client(w3, operator, latest_header(source), [operator.address], 1)
        mine(source, 1 + 16 + 64)
        for batch in (1, 16, 64):
            headers = missing_headers(source, client, batch)
            gas = send(w3, client.functions.submitHeaders(headers), operator)["gasUsed"]
            rows.append(
                ("submitHeaders", f"{batch} {hardfork} header(s) of {len(headers[0])} bytes", gas, gas // batch, "", "")
            )
    return rows


def crowded_unlock(pair: tuple[SisterChain, SisterChain], operator, size: int) -> tuple:
    """Unlock gas of a lock placed last in a block of ``size`` transactions."""
    trading, scheduling = pair
    w3 = trading.w3
    w3.provider.make_request("evm_setAutomine", [False])
    nonce = w3.eth.get_transaction_count(operator.address)
    fees = {"maxFeePerGas": 10 * w3.eth.gas_price + 10**9, "maxPriorityFeePerGas": 10**9, "chainId": w3.eth.chain_id}
    stranger = Account.create().address
    for index in range(size - 1):
        if index % 2:
            tx = trading.lock.functions.transfer(stranger, 1).build_transaction(
                {"from": operator.address, "nonce": nonce, "gas": 100_000, **fees}
            )
        else:
            tx = {"to": stranger, "value": 1, "gas": 21_000, "nonce": nonce, **fees}
        w3.eth.send_raw_transaction(operator.sign_transaction(tx).raw_transaction)
        nonce += 1
    lock_tx = trading.lock.functions.lock(1000, operator.address).build_transaction(
        {"from": operator.address, "nonce": nonce, "gas": 200_000, **fees}
    )
    lock_hash = w3.eth.send_raw_transaction(operator.sign_transaction(lock_tx).raw_transaction)
    mine(w3, 1)
    w3.provider.make_request("evm_setAutomine", [True])
    receipt = w3.eth.get_transaction_receipt(lock_hash)
    assert len(w3.eth.get_block(receipt["blockNumber"])["transactions"]) == size
    (event,) = lock_events(trading, receipt["blockNumber"], receipt["blockNumber"], 1)
    mine(w3, CONFIRMATIONS)
    relay(trading, scheduling, operator)
    proof = unlock_proof(w3, event)
    gas = send(scheduling.w3, scheduling.lock.functions.unlock(*proof.as_args()), operator)["gasUsed"]
    return (
        "unlock",
        f"lock last of {size} transaction(s) in its block",
        gas,
        "",
        len(proof.nodes),
        sum(len(node) for node in proof.nodes) + len(proof.header),
    )


def measure(block_sizes: list[int]) -> list[tuple]:
    operator = Account.from_key(ANVIL_FUNDED_KEY)
    rows = []
    for hardfork in ("london", "prague"):
        rows += header_rows(hardfork, operator)
    with anvil("--chain-id", "46621") as trading_url, anvil("--chain-id", "46622") as scheduling_url:
        trading_w3, scheduling_w3 = Web3(Web3.HTTPProvider(trading_url)), Web3(Web3.HTTPProvider(scheduling_url))
        pair = deploy_pair((trading_w3, operator, TERMS), (scheduling_w3, operator, TERMS), [operator.address])
        trading = pair[0]
        stranger = Account.create().address
        rows.append(
            (
                "transfer",
                "ledger transfer to a new account",
                send(trading_w3, trading.lock.functions.transfer(stranger, 1), operator)["gasUsed"],
                "",
                "",
                "",
            )
        )
        rows.append(
            (
                "lock",
                "lock for an account on the other chain",
                send(trading_w3, trading.lock.functions.lock(10, operator.address), operator)["gasUsed"],
                "",
                "",
                "",
            )
        )
        for size in block_sizes:
            rows.append(crowded_unlock(pair, operator, size))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--block-sizes", default="1,10,30,60", help="transactions in the lock's block, comma-separated")
    args = parser.parse_args()
    started_on = machine()
    rows = measure([int(size) for size in args.block_sizes.split(",")])
    header = ("measure", "detail", "gas", "per_header", "proof_nodes", "proof_bytes")
    write_csv(RESULTS / "sister_gas.csv", header, rows)
    worst_unlock = max(row[2] for row in rows if row[0] == "unlock")
    table = markdown_table(
        ["measure", "detail", "gas", "gas per header", "proof nodes", "proof + header bytes"],
        [(m, d, f"{g:,}", f"{p:,}" if p != "" else "", n, b) for m, d, g, p, n, b in rows],
        numeric_from=2,
    )
    report = "\n".join(
        [
            "# Gas of the sister chains' transaction lock",
            "",
            f"Machine: {started_on}. Two anvil nodes; gas from receipts (the same on any EVM of paris or later).",
            "",
            table,
            "",
            (
                f"Largest unlock: {worst_unlock:,} gas (target <= {TARGET_UNLOCK_GAS:,}:"
                f" {'met' if worst_unlock <= TARGET_UNLOCK_GAS else 'NOT met'})."
            ),
            "",
        ]
    )
    (RESULTS / "sister_gas.md").write_text(report)
    print(report)
    print(f"written to {RESULTS}/sister_gas.md and sister_gas.csv")


if __name__ == "__main__":
    main()
