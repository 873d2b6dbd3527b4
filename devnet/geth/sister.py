"""The sister-chain contracts on a running Geth pair (``geth_sister_pair``): deployed by each
chain's operator, with the relayers and the users funded on both chains.

On proof of work a block takes seconds, so each chain's whole deployment goes out at once, in
one run of consecutive nonces: the contracts' addresses follow from the operator's address and
nonce, so the lock can name its light client, and each lock the other chain's lock, before they
exist. The transactions that need a contract sent before them carry a fixed gas limit (their gas
cannot be estimated ahead of it).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import rlp
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_canonical_address, to_checksum_address
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction

from devnet.geth import PrivateNetwork, SisterNetworks
from p2pkit.contracts import constructor, contract_at
from p2pkit.market import WEI_PER_ETHER
from p2pkit.sister.lock import LIGHT_CLIENT, LOCK, SCHEDULING, TRADING, LockTerms, SisterChain, attach
from p2pkit.sister.lock import latest_header as checkpoint_of
from p2pkit.transactions import TRANSFER_GAS, TransactionReverted, build

GAS_ETHER = 10 * WEI_PER_ETHER  # what each relayer and user gets on each chain for gas
RECEIPT_TIMEOUT = 600  # seconds: a busy machine can take minutes to mine a few blocks
# Gas limits of the calls sent before the contract they call exists (used gas is what is paid).
LOCK_DEPLOY_GAS = 4_000_000
CALL_GAS = 150_000


@dataclass
class GethSister:
    """The two sides as deployed, and the networks they run on."""

    trading: SisterChain
    scheduling: SisterChain
    networks: SisterNetworks


def created_address(sender: str, nonce: int) -> str:
    """The address of the contract ``sender`` creates with its transaction of ``nonce``."""
    return to_checksum_address(keccak(rlp.encode([to_canonical_address(sender), nonce]))[12:])


def deploy_on_pair(
    networks: SisterNetworks,
    relayers: list[str],
    users: dict[str, int],
    terms: LockTerms,
    threshold: int = 1,
    rpc_index: int = 2,
) -> GethSister:
    """Deploy a light client of the other chain and a lock on each chain, through node
    ``rpc_index`` of each (not the miner, so everything travels over p2p as in production); give
    each relayer and each user ``GAS_ETHER`` on both chains, and each user ``users[address]`` of
    each lock's ledger."""
    sides = (networks.trading, networks.scheduling)
    w3s = [Web3(Web3.HTTPProvider(network.rpc_urls[rpc_index - 1])) for network in sides]
    operators = [network.operator for network in sides]
    nonces = [w3.eth.get_transaction_count(operator.address, "pending") for w3, operator in zip(w3s, operators)]
    clients = [created_address(operator.address, nonce) for operator, nonce in zip(operators, nonces)]
    locks = [created_address(operator.address, nonce + 1) for operator, nonce in zip(operators, nonces)]
    checkpoints = [checkpoint_of(w3) for w3 in w3s]

    def deployment(i: int) -> list:
        w3, other = w3s[i], 1 - i
        lock = contract_at(w3, LOCK, locks[i])
        return [
            constructor(w3, LIGHT_CLIENT, checkpoints[other], relayers, threshold),
            (
                constructor(w3, LOCK, terms.as_abi(clients[i], w3s[other].eth.chain_id)),
                LOCK_DEPLOY_GAS,
            ),
            (lock.functions.setRemoteLock(locks[other]), CALL_GAS),
            *({"to": address, "value": GAS_ETHER} for address in (*relayers, *users)),
            *((lock.functions.transfer(address, amount), CALL_GAS) for address, amount in users.items()),
        ]

    with ThreadPoolExecutor(max_workers=2) as pool:
        receipts = list(pool.map(lambda i: send_together(w3s[i], operators[i], deployment(i)), (0, 1)))
    for side_receipts, client, lock in zip(receipts, clients, locks):
        assert [receipt["contractAddress"] for receipt in side_receipts[:2]] == [client, lock]
    trading, scheduling = (attach(name, w3, lock) for name, w3, lock in zip((TRADING, SCHEDULING), w3s, locks))
    return GethSister(trading, scheduling, networks)


def send_together(
    w3: Web3, signer: LocalAccount, transactions: list[ContractFunction | ContractConstructor | dict | tuple]
) -> list[dict]:
    """Send ``transactions`` with consecutive nonces without waiting in between, then wait for all
    their receipts; any failure raises. Each is a call or a deployment (gas estimated), a
    (call, gas limit) pair, or a plain payment {"to", "value"}."""
    nonce = w3.eth.get_transaction_count(signer.address, "pending")
    chain_id, gas_price = w3.eth.chain_id, w3.eth.gas_price
    hashes = []
    for offset, transaction in enumerate(transactions):
        fields = {"nonce": nonce + offset, "chainId": chain_id, "gasPrice": gas_price}
        if isinstance(transaction, dict):
            tx = {**fields, "gas": TRANSFER_GAS, **transaction}
        elif isinstance(transaction, tuple):
            call, gas = transaction
            tx = call.build_transaction({**fields, "from": signer.address, "gas": gas})
        else:
            tx = build(transaction, {**fields, "from": signer.address})
        hashes.append(w3.eth.send_raw_transaction(signer.sign_transaction(tx).raw_transaction))
    receipts = [w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT) for tx_hash in hashes]
    failed = [receipt["transactionHash"].to_0x_hex() for receipt in receipts if receipt["status"] != 1]
    if failed:
        raise TransactionReverted(f"reverted: {', '.join(failed)}")
    return receipts


def node_w3(network: PrivateNetwork, index: int) -> Web3:
    """A connection to node ``index`` (1-based) of ``network``."""
    return Web3(Web3.HTTPProvider(network.rpc_urls[index - 1]))
