"""What a relayer reads from the chains: the headers a light client lacks, and the locks whose
unlock is due, with their proofs. Nothing here is remembered: every answer comes from the
chains as they are now.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3
from web3.contract import Contract

from p2pkit.sister.headers import encode_header
from p2pkit.sister.lock import SisterChain
from p2pkit.sister.proofs import ReceiptProof, receipt_proof


class CheckpointNotOnChain(RuntimeError):
    """The light client's checkpoint is not a block of the chain it is given as its source."""


@dataclass(frozen=True)
class LockEvent:
    """A `Locked` event on the source chain, as the relayer acts on it."""

    lock_id: bytes
    sender: str
    recipient: str
    amount: int
    target_chain_id: int
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int  # block-wide, as the node reports it

    @classmethod
    def of(cls, log) -> LockEvent:
        """The event of a decoded `Locked` log (from ``get_logs`` or ``process_receipt``)."""
        arguments = log["args"]
        return cls(
            lock_id=bytes(arguments["lockId"]),
            sender=arguments["sender"],
            recipient=arguments["recipient"],
            amount=arguments["amount"],
            target_chain_id=arguments["targetChainId"],
            block_number=log["blockNumber"],
            block_hash=bytes(log["blockHash"]),
            tx_hash=bytes(log["transactionHash"]),
            log_index=log["logIndex"],
        )


def held_ancestor(source: Web3, light_client: Contract) -> int:
    """The number of the highest block of the source's canonical chain that ``light_client``
    holds: the submission of headers continues above it. Walks down from the client's best
    header (or the source's head, if lower) as far as the two disagree."""
    best = light_client.functions.bestHeader().call()
    number = min(best.number, source.eth.block_number)
    checkpoint = light_client.functions.headerOf(light_client.functions.checkpoint().call()).call()
    while number >= checkpoint.number:
        block_hash = bytes(source.eth.get_block(number)["hash"])
        if block_hash == bytes(best.hash) or light_client.functions.headerOf(block_hash).call().held:
            return number
        number -= 1
    raise CheckpointNotOnChain(f"light client {light_client.address}: its checkpoint is not on the source chain")


def missing_headers(source: Web3, light_client: Contract, limit: int, voucher: str | None = None) -> list[bytes]:
    """The RLP headers of the source's canonical blocks above the held ancestor, oldest first,
    at most ``limit``. Where a header needs several relayers' vouches, those ``voucher`` has
    already given are skipped (up to ``limit`` of them), so it may vouch one batch ahead of the
    others."""
    first = held_ancestor(source, light_client) + 1
    head = source.eth.block_number
    if voucher is not None and light_client.functions.threshold().call() > 1:
        skipped = 0
        while (
            first <= head
            and skipped < limit
            and light_client.functions.hasVouched(source.eth.get_block(first)["hash"], voucher).call()
        ):
            first, skipped = first + 1, skipped + 1
    last = min(head, first + limit - 1)
    return [encode_header(source.eth.get_block(number)) for number in range(first, last + 1)]


def lock_events(source: SisterChain, from_block: int, to_block: int, max_range: int) -> list[LockEvent]:
    """The `Locked` events of the source's lock in blocks ``from_block`` to ``to_block``, asked
    for in ranges of at most ``max_range`` blocks."""
    events = []
    for start in range(from_block, to_block + 1, max_range):
        logs = source.lock.events.Locked.get_logs(from_block=start, to_block=min(to_block, start + max_range - 1))
        events += [LockEvent.of(log) for log in logs]
    return events


def unlock_proof(source: Web3, event: LockEvent) -> ReceiptProof:
    """The proof of ``event``'s receipt against its block's header."""
    return receipt_proof(source, event.tx_hash, event.log_index)
