"""The two sister chains in one test, and what the tests do with them.

The chains are anvil nodes started with chain ids of their own, or embedded eth-tester chains
(``devnet.embedded``); either way every transaction mines a block and ``mine`` adds empty ones,
so a test decides how many confirmations a lock has, and ``snapshot``/``revert`` let it build a
competing branch. The same dev accounts exist on both chains.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import pytest
import rlp
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract.contract import ContractFunction

from devnet.embedded import is_embedded
from p2pkit.sister.lock import LockTerms, SisterChain, deploy_pair
from p2pkit.sister.relay import LockEvent, lock_events, missing_headers
from p2pkit.transactions import ContractRefused, refusal_of, send

TRADING_CHAIN_ID = 46601
SCHEDULING_CHAIN_ID = 46602
THIRD_CHAIN_ID = 46603
SUPPLY = 10**9
RESERVE = 5 * 10**8
CONFIRMATIONS = 6
USER_FUNDS = 1000


@dataclass
class SisterPair:
    trading: SisterChain
    scheduling: SisterChain

    def other(self, chain: SisterChain) -> SisterChain:
        return self.scheduling if chain is self.trading else self.trading


def deploy_test_pair(
    trading_w3: Web3,
    scheduling_w3: Web3,
    operator: LocalAccount,
    relayers: list[str],
    threshold: int = 1,
    trading_rate: Fraction = Fraction(1),
    scheduling_rate: Fraction = Fraction(1),
) -> SisterPair:
    trading, scheduling = deploy_pair(
        (trading_w3, operator, LockTerms(SUPPLY, RESERVE, trading_rate, CONFIRMATIONS)),
        (scheduling_w3, operator, LockTerms(SUPPLY, RESERVE, scheduling_rate, CONFIRMATIONS)),
        relayers,
        threshold,
    )
    return SisterPair(trading, scheduling)


def mine(chain: SisterChain | Web3, blocks: int) -> None:
    w3 = chain.w3 if isinstance(chain, SisterChain) else chain
    if is_embedded(w3):
        w3.provider.ethereum_tester.mine_blocks(blocks)
    else:
        w3.provider.make_request("anvil_mine", [hex(blocks)])


def snapshot(w3: Web3):
    """A point to come back to with ``revert`` (anvil forgets it once used)."""
    if is_embedded(w3):
        return w3.provider.ethereum_tester.take_snapshot()
    return w3.provider.make_request("evm_snapshot", [])["result"]


def revert(w3: Web3, point) -> None:
    """Back to ``point``: the blocks since are gone, and new ones make a competing branch."""
    if is_embedded(w3):
        w3.provider.ethereum_tester.revert_to_snapshot(point)
    else:
        assert w3.provider.make_request("evm_revert", [point])["result"]


def relay_headers(source: SisterChain, destination: SisterChain, relayer: LocalAccount, batch: int = 64) -> int:
    """Submit every header of the source the destination's light client lacks, as far as this
    relayer's vouches carry (with m > 1 the headers wait for the others); how many."""
    submitted = 0
    while headers := missing_headers(source.w3, destination.light_client, batch, relayer.address):
        try:
            send(destination.w3, destination.light_client.functions.submitHeaders(headers), relayer)
        except ContractRefused as refused:
            if refused.name != "NoNewHeaders":
                raise
            break
        submitted += len(headers)
    return submitted


def mine_together(w3: Web3, transactions: list[tuple[ContractFunction | dict, LocalAccount]]) -> list[dict]:
    """Mine every (call or plain transaction, signer) into one block, in order; their receipts.

    eth-tester's own pending block takes one transaction per sender, so there the transactions
    go to its py-evm chain directly, which then mines them together."""
    nonces: dict[str, int] = {}
    raw = []
    for transaction, signer in transactions:
        nonce = nonces.get(signer.address, w3.eth.get_transaction_count(signer.address))
        nonces[signer.address] = nonce + 1
        fields = {
            "nonce": nonce,
            "gas": 500_000,
            "chainId": w3.eth.chain_id,
            "maxFeePerGas": 2 * w3.eth.gas_price + 10**9,
            "maxPriorityFeePerGas": 1,
        }
        if isinstance(transaction, dict):
            tx = {**fields, **transaction}
        else:
            tx = transaction.build_transaction({**fields, "from": signer.address})
        raw.append(bytes(signer.sign_transaction(tx).raw_transaction))
    if is_embedded(w3):
        tester = w3.provider.ethereum_tester
        hashes = [tester.backend.send_raw_transaction(tx) for tx in raw]
        tester.mine_blocks(1)
    else:
        w3.provider.make_request("evm_setAutomine", [False])
        try:
            hashes = [w3.eth.send_raw_transaction(tx) for tx in raw]
            mine(w3, 1)
        finally:
            w3.provider.make_request("evm_setAutomine", [True])
    return [w3.eth.wait_for_transaction_receipt(tx_hash) for tx_hash in hashes]


def lock(chain: SisterChain, account: LocalAccount, amount: int, recipient: str | None = None) -> LockEvent:
    """Lock ``amount`` of ``account``'s value for ``recipient`` (itself by default)."""
    receipt = send(chain.w3, chain.lock.functions.lock(amount, recipient or account.address), account)
    (event,) = lock_events(chain, receipt["blockNumber"], receipt["blockNumber"], 1)
    return event


def balance(chain: SisterChain, address: str) -> int:
    return chain.lock.functions.balanceOf(address).call()


def refusal(w3: Web3, call: ContractFunction, signer: LocalAccount) -> ContractRefused:
    """The custom error ``call`` is refused with (the test fails if it is accepted)."""
    with pytest.raises(ContractRefused) as refused:
        send(w3, call, signer)
    return refused.value


def call_refusal(call: ContractFunction) -> ContractRefused:
    """The custom error a view call is refused with."""
    with pytest.raises(Exception) as raised:
        call.call()
    refused = refusal_of(raised.value, call.contract_abi)
    assert refused is not None, f"{call.fn_name} failed without a custom error: {raised.value!r}"
    return refused


def chain_state(chain: SisterChain, accounts: list[str], lock_ids: list[bytes] = ()) -> dict:
    """Everything a refused call must leave as it was on one chain."""
    lock, client = chain.lock.functions, chain.light_client.functions
    return {
        "balances": [lock.balanceOf(address).call() for address in accounts],
        "reserve": lock.reserve().call(),
        "locks": lock.lockCount().call(),
        "unlocked": [lock.isUnlocked(lock_id).call() for lock_id in lock_ids],
        "best": client.bestHeader().call(),
        "rate": lock.rate().call(),
    }


EMPTY_TRIE_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
EMPTY_UNCLES = bytes.fromhex("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347")


def synthetic_header(
    parent: bytes, number: int, difficulty: int = 0, receipts_root: bytes = EMPTY_TRIE_ROOT, branch: int = 0
) -> bytes:
    """A London header of a chain that exists only in the test (the light client checks no seal),
    ``branch`` making headers of competing branches differ."""
    return rlp.encode(
        [
            parent,
            EMPTY_UNCLES,
            bytes(20),
            bytes(32),
            EMPTY_TRIE_ROOT,
            receipts_root,
            bytes(256),
            difficulty,
            number,
            30_000_000,
            0,
            1_700_000_000 + number,
            branch.to_bytes(8, "big"),
            bytes(32),
            bytes(8),
            7,
        ]
    )


def synthetic_chain(parent: bytes, first_number: int, length: int, difficulty: int = 0, branch: int = 0) -> list[bytes]:
    """``length`` linked synthetic headers on top of ``parent``."""
    headers = []
    for number in range(first_number, first_number + length):
        headers.append(synthetic_header(parent, number, difficulty, branch=branch))
        parent = keccak(headers[-1])
    return headers
