"""Local chains for development and tests: anvil (``devnet.nodes``), the Geth proof-of-work
private network (``devnet.geth``) and the embedded eth-tester chain (``devnet.embedded``).

None of it runs in the field: the meter box and a server on a real node never import it.
"""

from __future__ import annotations

from collections.abc import Callable

from web3 import Web3

from devnet.embedded import TimeTravel, is_embedded
from devnet.nodes import ANVIL_CHAIN_ID, AnvilTime
from p2pkit.period import BlockTime


def chain_time(w3: Web3) -> Callable[[int], None]:
    """How to reach a point in block time on the chain behind `w3`: jump there on the embedded
    chain and on anvil, wait for blocks on any other node."""
    if is_embedded(w3):
        return TimeTravel(w3).wait_until
    if w3.eth.chain_id == ANVIL_CHAIN_ID:
        return AnvilTime(w3).wait_until
    return BlockTime(w3).wait_until
