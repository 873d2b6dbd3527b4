"""Block headers as the light client reads them: the RLP encoding of a block from web3.

A block hash is keccak256 of the RLP list of the header's fields in their consensus order. Web3
gives the fields by name, so the encoding rebuilds that list: the 15 fields every Ethereum
header has, then those later forks appended, each present only from its fork on (Geth 1.11's
London headers end at ``baseFeePerGas``; anvil and eth-tester add the Shanghai, Cancun and
Prague fields). A field missing from the block ends the list. Because a mistake in any field
changes the hash, ``encode_header`` checks the result against the block's own hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import rlp
from eth_utils import keccak, to_bytes

# (web3 name, kind) in consensus order. Kinds: "hash" 32 bytes, "address" 20, "bloom" 256,
# "nonce" 8, "bytes" as given, "int" a big-endian integer without leading zeros.
BASE_FIELDS = (
    ("parentHash", "hash"),
    ("sha3Uncles", "hash"),
    ("miner", "address"),
    ("stateRoot", "hash"),
    ("transactionsRoot", "hash"),
    ("receiptsRoot", "hash"),
    ("logsBloom", "bloom"),
    ("difficulty", "int"),
    ("number", "int"),
    ("gasLimit", "int"),
    ("gasUsed", "int"),
    ("timestamp", "int"),
    ("extraData", "bytes"),
    ("mixHash", "hash"),
    ("nonce", "nonce"),
)
FORK_FIELDS = (
    ("baseFeePerGas", "int"),  # London (EIP-1559)
    ("withdrawalsRoot", "hash"),  # Shanghai (EIP-4895)
    ("blobGasUsed", "int"),  # Cancun (EIP-4844)
    ("excessBlobGas", "int"),
    ("parentBeaconBlockRoot", "hash"),  # Cancun (EIP-4788)
    ("requestsHash", "hash"),  # Prague (EIP-7685)
)
FIXED_SIZES = {"hash": 32, "address": 20, "bloom": 256, "nonce": 8}


class HeaderMismatch(ValueError):
    """The fields of a block, encoded, do not hash to the block's hash (the node reports a
    field differently, or the chain has a header field this encoder does not know)."""


def encode_header(block: Mapping[str, Any]) -> bytes:
    """The RLP-encoded header of a web3 block; raises ``HeaderMismatch`` unless it hashes to
    ``block["hash"]``."""
    fields = [_field(_value(block, name), kind) for name, kind in BASE_FIELDS]
    for name, kind in FORK_FIELDS:
        if block.get(name) is None:
            break
        fields.append(_field(block[name], kind))
    encoded = rlp.encode(fields)
    if keccak(encoded) != bytes(block["hash"]):
        raise HeaderMismatch(
            f"block {block['number']}: its {len(fields)} header fields hash to 0x{keccak(encoded).hex()},"
            f" not to its hash {_hex(block['hash'])}"
        )
    return encoded


def _value(block: Mapping[str, Any], name: str) -> Any:
    # web3's proof-of-authority middleware (needed for clique chains such as `geth --dev`, whose
    # extraData holds the signer's seal) renames extraData.
    if name == "extraData" and name not in block:
        return block["proofOfAuthorityData"]
    return block[name]


def _field(value: Any, kind: str) -> int | bytes:
    if kind == "int":
        return int(value)
    raw = bytes(value) if isinstance(value, (bytes, bytearray)) else to_bytes(hexstr=value)
    size = FIXED_SIZES.get(kind)
    if size is not None:
        if len(raw) > size:
            raise HeaderMismatch(f"a {kind} of {len(raw)} bytes")
        # Nodes may drop leading zero bytes of fixed-size fields (eth-tester does for the bloom).
        raw = raw.rjust(size, b"\0")
    return raw


def _hex(value: Any) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()
