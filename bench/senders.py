"""How the benchmarks' setup and operator transactions reach a chain: two senders for the period
driver (``p2pkit.period.PeriodDriver``) that send thousands of transactions at once.

``ImpersonatedSender`` is for an anvil started with ``--no-mining --auto-impersonate``: transactions
go unsigned from the accounts themselves (gas does not depend on who signs) and are mined on
demand. ``PresignedSender`` signs locally, counting nonces itself, for a node that holds no keys
(Geth) or the embedded chain behind the backend's upstream. Both give every transaction a fixed
gas limit instead of an estimate: an estimate against the last block would not see the
transactions queued before it; gas used, which is what the benchmarks measure, does not depend
on the limit.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from p2pkit.period import Transaction

# Gas limits: a block for the deployment and a batch of matching or settlement, enough for any
# other call.
BATCH_GAS = 25_000_000
CALL_GAS = 1_000_000
BLOCK_SIZED = frozenset({"constructor", "matchBids", "settle"})
CHUNK = 1000  # transactions in the pool at a time (anvil slows down as it fills; Geth holds 5,120)


class Rpc(Protocol):
    def call(self, method: str, *params: Any) -> Any: ...

    def batch(self, calls: Sequence[tuple[str, list]]) -> list[Any]: ...


def gas_limit(tx: Transaction, batch_gas: int = BATCH_GAS) -> int:
    if tx.call is None:
        return 21_000
    return batch_gas if tx.name in BLOCK_SIZED else CALL_GAS


class GasLog:
    """Gas used by each function, from the receipts of what was sent."""

    def __init__(self) -> None:
        self.by_function: dict[str, list[int]] = defaultdict(list)

    def add(self, transactions: Sequence[Transaction], receipts: Sequence[dict]) -> None:
        for tx, receipt in zip(transactions, receipts):
            self.by_function[tx.name].append(int(receipt["gasUsed"], 16))

    def total(self, *names: str) -> int:
        return sum(sum(self.by_function[name]) for name in names)


def check(transactions: Sequence[Transaction], receipts: Sequence[dict | None]) -> None:
    missing = sum(receipt is None for receipt in receipts)
    if missing:
        raise RuntimeError(f"{missing} of {len(transactions)} transactions were dropped unmined")
    failed = [tx.name for tx, receipt in zip(transactions, receipts) if int(receipt["status"], 16) != 1]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(transactions)} transactions failed, the first a {failed[0]}")


class ImpersonatedSender:
    """Sends as the accounts themselves on an anvil that mines only when asked; every call's
    transactions are mined before it returns, a block after another until the pool is empty.

    Within ``in_list_order()``, each transaction goes in a request of its own, so that anvil's
    first-in-first-out pool mines them in list order (reveals whose hints rely on it).
    """

    def __init__(self, rpc: Rpc, batch_gas: int = BATCH_GAS) -> None:
        self.rpc = rpc
        self.batch_gas = batch_gas
        self.in_order = False
        self.gas = GasLog()
        self._nonces: dict[str, int] = {}

    @contextmanager
    def in_list_order(self):
        self.in_order = True
        try:
            yield
        finally:
            self.in_order = False

    def __call__(self, transactions: Sequence[Transaction]) -> list[dict]:
        receipts: list[dict] = []
        for start in range(0, len(transactions), CHUNK):
            chunk = transactions[start : start + CHUNK]
            receipts += self._send_and_mine(chunk)
        check(transactions, receipts)
        self.gas.add(transactions, receipts)
        return receipts

    def _send_and_mine(self, transactions: Sequence[Transaction]) -> list[dict]:
        senders = sorted({tx.signer.address for tx in transactions} - set(self._nonces))
        counts = self.rpc.batch([("eth_getTransactionCount", [sender, "pending"]) for sender in senders])
        self._nonces.update({sender: int(count, 16) for sender, count in zip(senders, counts)})
        requests = []
        for tx in transactions:  # a batch is served concurrently: number each sender's transactions
            fields = {key: value for key, value in tx.fields().items() if value is not None}
            fields.update(
                {
                    "from": tx.signer.address,
                    "value": hex(tx.value),
                    "gas": hex(gas_limit(tx, self.batch_gas)),
                    "nonce": hex(self._nonces[tx.signer.address]),
                }
            )
            self._nonces[tx.signer.address] += 1
            requests.append(("eth_sendTransaction", [fields]))
        if self.in_order:
            hashes = [self.rpc.call(method, *params) for method, params in requests]
        else:
            hashes = self.rpc.batch(requests)
        for _ in range(len(transactions) + 1):  # each block takes at least one of them
            self.rpc.call("evm_mine")
            pool = self.rpc.call("txpool_status")
            if int(pool["pending"], 16) == int(pool["queued"], 16) == 0:
                break
        return self.rpc.batch([("eth_getTransactionReceipt", [tx_hash]) for tx_hash in hashes])


class PresignedSender:
    """Signs every transaction here with its signer's key (nonces counted from the chain's
    pending count on), sends them raw ``CHUNK`` at a time and waits for every receipt."""

    in_order = False

    def __init__(self, rpc: Rpc, chain_id: int, gas_price: int, timeout: float, batch_gas: int = BATCH_GAS) -> None:
        self.rpc = rpc
        self.chain_id = chain_id
        self.gas_price = gas_price
        self.timeout = timeout
        self.batch_gas = batch_gas
        self.gas = GasLog()
        self._nonces: dict[str, int] = {}

    def __call__(self, transactions: Sequence[Transaction]) -> list[dict]:
        receipts: list[dict] = []
        for start in range(0, len(transactions), CHUNK):
            chunk = transactions[start : start + CHUNK]
            unknown = sorted({tx.signer.address for tx in chunk} - set(self._nonces))
            counts = self.rpc.batch([("eth_getTransactionCount", [address, "pending"]) for address in unknown])
            self._nonces.update({address: int(count, 16) for address, count in zip(unknown, counts)})
            raw, hashes = zip(*(self._sign(tx) for tx in chunk))
            self.rpc.batch([("eth_sendRawTransaction", [tx]) for tx in raw])
            receipts += wait_for_receipts(self.rpc, list(hashes), self.timeout)
        check(transactions, receipts)
        self.gas.add(transactions, receipts)
        return receipts

    def _sign(self, tx: Transaction) -> tuple[str, str]:
        address = tx.signer.address
        fields = tx.fields()
        signed = tx.signer.sign_transaction(
            {
                **fields,
                "nonce": self._nonces[address],
                "gas": gas_limit(tx, self.batch_gas),
                "gasPrice": self.gas_price,
                "chainId": self.chain_id,
            }
        )
        self._nonces[address] += 1
        return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()


def send_signed(rpc: Rpc, raw_transactions: Sequence[str], hashes: Sequence[str], timeout: float) -> list[dict]:
    """Send transactions signed beforehand and wait for their receipts; each must succeed."""
    rpc.batch([("eth_sendRawTransaction", [raw]) for raw in raw_transactions])
    receipts = wait_for_receipts(rpc, list(hashes), timeout)
    if any(int(receipt["status"], 16) != 1 for receipt in receipts):
        raise RuntimeError(f"{sum(int(r['status'], 16) != 1 for r in receipts)} of {len(receipts)} transactions failed")
    return receipts


def wait_for_receipts(
    rpc: Rpc,
    hashes: list[str],
    timeout: float,
    look_every: float = 0.5,
    first_seen: list[float | None] | None = None,
) -> list[dict]:
    """The receipts of ``hashes``, asked for every ``look_every`` seconds (only those still
    missing) until all are there; `TimeoutError` after ``timeout``. ``first_seen``, when given,
    gets for each transaction the ``time.perf_counter()`` of the look that first found it."""
    receipts: list[dict | None] = [None] * len(hashes)
    deadline = time.perf_counter() + timeout
    while True:
        waiting = [i for i, receipt in enumerate(receipts) if receipt is None]
        answers = rpc.batch([("eth_getTransactionReceipt", [hashes[i]]) for i in waiting])
        now = time.perf_counter()
        for i, receipt in zip(waiting, answers):
            receipts[i] = receipt
            if receipt is not None and first_seen is not None:
                first_seen[i] = now
        if all(receipts):
            return receipts
        if now > deadline:
            missing = receipts.count(None)
            raise TimeoutError(f"{missing} of {len(hashes)} transactions not included within {timeout:.0f} s")
        time.sleep(look_every)
