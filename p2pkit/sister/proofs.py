"""Receipt proofs: a block's receipt trie rebuilt from its receipts, and the Merkle-Patricia
proof that one receipt is in it.

A receipt trie maps rlp(transactionIndex) to the receipt's consensus encoding:
rlp([status, cumulativeGasUsed, logsBloom, logs]) for a legacy transaction, and the transaction
type byte followed by that list for a typed one (EIP-2718: access-list, dynamic-fee, blob,
set-code transactions). The trie is built with the ``trie`` library (py-evm's own); its root
must equal the block's ``receiptsRoot``, which is checked before any proof leaves this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import rlp
from eth_bloom import BloomFilter
from eth_utils import to_bytes
from trie import HexaryTrie
from web3 import Web3

from p2pkit.sister.headers import encode_header


class ReceiptsMismatch(ValueError):
    """The receipts a node returned for a block do not rebuild its receiptsRoot."""


@dataclass(frozen=True)
class ReceiptProof:
    """What an unlock needs: the block's header, the trie nodes from its receiptsRoot down to the
    receipt, and where the event is (transaction index; log index within the receipt)."""

    block_hash: bytes
    block_number: int
    header: bytes
    nodes: tuple[bytes, ...]
    transaction_index: int
    log_index: int

    def as_args(self) -> tuple[bytes, list[bytes], int, int]:
        """The arguments of ``SisterLock.unlock``."""
        return self.header, list(self.nodes), self.transaction_index, self.log_index


def receipt_key(transaction_index: int) -> bytes:
    return rlp.encode(transaction_index)


def encode_receipt(receipt: Mapping[str, Any]) -> bytes:
    """The consensus encoding of a web3 receipt. The bloom is computed from the logs (a node may
    leave it out of its answer; eth-tester does), the type read as the node reports it."""
    bloom = BloomFilter()
    logs = []
    for log in receipt["logs"]:
        address = _bytes(log["address"])
        topics = [_bytes(topic) for topic in log["topics"]]
        bloom.add(address)
        for topic in topics:
            bloom.add(topic)
        logs.append([address, topics, _bytes(log["data"])])
    body = rlp.encode(
        [int(receipt["status"]), int(receipt["cumulativeGasUsed"]), int(bloom).to_bytes(256, "big"), logs]
    )
    kind = receipt.get("type", 0)
    kind = int(kind, 16) if isinstance(kind, str) else int(kind)
    return body if kind == 0 else bytes([kind]) + body


def receipt_trie(receipts: Iterable[Mapping[str, Any]]) -> HexaryTrie:
    """The receipt trie of a block's receipts, given in transaction order."""
    trie = HexaryTrie({})
    for index, receipt in enumerate(receipts):
        trie[receipt_key(index)] = encode_receipt(receipt)
    return trie


def block_receipt_trie(w3: Web3, block: Mapping[str, Any]) -> HexaryTrie:
    """The receipt trie of ``block`` (a web3 block with transaction hashes), checked against its
    receiptsRoot."""
    receipts = [w3.eth.get_transaction_receipt(tx) for tx in block["transactions"]]
    trie = receipt_trie(receipts)
    if trie.root_hash != bytes(block["receiptsRoot"]):
        raise ReceiptsMismatch(
            f"block {block['number']}: {len(receipts)} receipts rebuild root 0x{trie.root_hash.hex()},"
            f" not its receiptsRoot 0x{bytes(block['receiptsRoot']).hex()}"
        )
    return trie


def proof_nodes(trie: HexaryTrie, transaction_index: int) -> tuple[bytes, ...]:
    """The RLP-encoded nodes from the root to the receipt of ``transaction_index``."""
    return tuple(rlp.encode(node) for node in trie.get_proof(receipt_key(transaction_index)))


def receipt_proof(w3: Web3, tx_hash: bytes | str, block_log_index: int) -> ReceiptProof:
    """The proof of the log with block-wide index ``block_log_index`` emitted by transaction
    ``tx_hash``, against the header of the block that holds it."""
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    positions = [int(log["logIndex"]) for log in receipt["logs"]]
    if block_log_index not in positions:
        raise ValueError(f"transaction {_hex(tx_hash)} emitted no log {block_log_index} (its logs: {positions})")
    block = w3.eth.get_block(receipt["blockHash"])
    trie = block_receipt_trie(w3, block)
    return ReceiptProof(
        block_hash=bytes(block["hash"]),
        block_number=int(block["number"]),
        header=encode_header(block),
        nodes=proof_nodes(trie, int(receipt["transactionIndex"])),
        transaction_index=int(receipt["transactionIndex"]),
        log_index=positions.index(block_log_index),
    )


def _bytes(value: Any) -> bytes:
    return bytes(value) if isinstance(value, (bytes, bytearray)) else to_bytes(hexstr=value)


def _hex(value: Any) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()
