"""The embedded chain: eth-tester with py-evm in this process, for first runs, demos and tests.

``start_embedded_market`` deploys a fresh market on a fresh chain, and the retail contracts
beside it on a billing clock (what the backend's ``CHAIN=embedded`` runs). Out of the box the
chain seals a block as each transaction arrives, which scripts and tests step through with
``TimeTravel``. A ``BlockTicker`` turns it into a chain that behaves like a node with interval
mining: transactions wait in the pending block, and one block on the wall clock seals every
transaction that arrived in its interval, so chain time follows the wall clock however many
transactions come. Every request to the chain is served under the provider's ``chain_lock``,
so threads (the backend's requests, its keeper, the ticker) share it safely.

``embedded_chain(chain_id)`` is a chain that can stand for one of two networks in one process
(the sister chains' trading and scheduling chain): eth-tester fixes every chain's id at
131277322940537 and reports a block's extraData padded to 32 bytes, which a light client would
see as another header, so it gets an id of its own (in transactions, in the CHAINID opcode and
in ``eth_chainId``) and every block is mined with 32 bytes of extraData: the header web3 reports
is the header that was hashed. It also estimates gas in two runs of the transaction instead of
py-evm's binary search (a dozen runs), which matters for the light client's header batches:
py-evm interprets every opcode in Python. eth-tester and py-evm are imported where a chain is
started, so that a server on a node, which imports this module, never loads them.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, Web3

from p2pkit.market import WEI_PER_ETHER, Deployment, MarketHandle, TurnLock, deploy_market
from p2pkit.retail.clock import BillingClock
from p2pkit.retail.contracts import deploy_retail
from p2pkit.schedule import Schedule
from p2pkit.transactions import send, transfer

# The grid pays balancing and rewards from its market wallet, so the embedded market starts
# with enough there for a long demo.
EMBEDDED_GRID_DEPOSIT = 1000 * WEI_PER_ETHER
# Ether of the embedded operator: gas for years of keeper work, and enough to fund a demo's users.
EMBEDDED_OPERATOR_ETHER = 10_000 * WEI_PER_ETHER
EMBEDDED_GRID_GAS_ETHER = 10 * WEI_PER_ETHER
EMBEDDED_KEEPER_ETHER = 1_000 * WEI_PER_ETHER


def start_embedded_chain() -> Web3:
    """Start a fresh eth-tester chain in this process, with eth-tester's funded dev accounts,
    on a VM that keeps the deadline of `devnet.evm_deadline`; its headers hash to their blocks'
    hashes (see `embedded_chain`), so it can be one of the sister chains."""
    # py-evm loads only once a chain is started, not with this module.
    from devnet.evm_deadline import EmbeddedVM

    return Web3(EmbeddedProvider(_tester_class()(_full_extra_data_backend(vm_configuration=((0, EmbeddedVM),)))))


class EmbeddedProvider(EthereumTesterProvider):
    """eth-tester's provider with every request served under ``chain_lock``: eth-tester and
    py-evm are not thread-safe, and a backend's threads (requests, keeper, block ticker) share
    one chain. Whoever reads the chain's objects directly takes the same lock.

    A call or gas estimate runs without the nonce it names, as on a node: eth-tester runs it on
    the last mined block and would refuse the nonce of an account's second transaction while
    its first waits in the pending block.
    """

    def __init__(self, ethereum_tester: Any, api_endpoints: dict | None = None) -> None:
        super().__init__(ethereum_tester, api_endpoints)
        self.chain_lock = TurnLock()

    def make_request(self, method: Any, params: Any) -> Any:
        if method in ("eth_call", "eth_estimateGas") and params and isinstance(params[0], dict):
            params = [{k: v for k, v in params[0].items() if k != "nonce"}, *params[1:]]
        with self.chain_lock:
            return super().make_request(method, params)


@functools.cache
def _tester_class() -> type:
    from eth_tester import EthereumTester

    class EmbeddedTester(EthereumTester):
        """eth-tester that seals a block as each transaction arrives, or, with
        ``seals_each_transaction`` off, leaves it in the pending block (applied there at once, so
        nonces and balances at "pending" count it) until the block is mined."""

        seals_each_transaction = True

        def mine_block(self, coinbase: str = "0x" + "00" * 20) -> Any:
            # eth-tester calls this after every transaction it accepts.
            return super().mine_block(coinbase) if self.seals_each_transaction else None

    return EmbeddedTester


def is_embedded(w3: Web3) -> bool:
    return isinstance(w3.provider, EthereumTesterProvider)


def dev_accounts(w3: Web3) -> list[LocalAccount]:
    """The funded accounts of an embedded chain, as local signing keys (private keys 1, 2, 3...)."""
    keys = w3.provider.ethereum_tester.backend.account_keys
    return [Account.from_key(key.to_bytes()) for key in keys]


def start_embedded_market(period_length: int, billing_clock: BillingClock | None = None) -> MarketHandle:
    """A fresh embedded chain with the market deployed and ready to trade; with a
    `billing_clock`, the retail contracts (retailers' plans, bilateral contracts) beside it on
    that clock.

    The operator, the keeper and the grid (registered as account 1 by the contract, with
    `EMBEDDED_GRID_DEPOSIT` in its market wallet) are new random keys for this chain alone:
    eth-tester's dev accounts, whose private keys are the integers 1, 2, ... and known to
    everyone, only pay them their ether, and hold no role in the market. Phases are the
    paper's, scaled to `period_length` seconds. The handle holds the three keys.
    """
    w3 = start_embedded_chain()
    funder = dev_accounts(w3)[0]
    operator, keeper, grid = Account.create(), Account.create(), Account.create()
    transfer(w3, funder, operator.address, EMBEDDED_OPERATOR_ETHER)
    transfer(w3, funder, keeper.address, EMBEDDED_KEEPER_ETHER)
    transfer(w3, funder, grid.address, EMBEDDED_GRID_DEPOSIT + EMBEDDED_GRID_GAS_ETHER)
    contract = deploy_market(w3, operator, grid.address, Schedule.scaled(period_length))
    retail = None if billing_clock is None else deploy_retail(w3, operator, contract, billing_clock)
    deployment = Deployment.of(
        w3,
        contract,
        retail_plans=retail.plans.address if retail else None,
        bilateral_contracts=retail.contracts.address if retail else None,
    )
    send(w3, contract.functions.deposit(), grid, value=EMBEDDED_GRID_DEPOSIT)
    return MarketHandle(w3, contract, deployment, operator, grid_key=grid, retail=retail, keeper_key=keeper)


class TimeTravel:
    """Moves an embedded chain's clock ahead; time never goes back."""

    def __init__(self, w3: Web3, lock: TurnLock | None = None) -> None:
        self.w3 = w3
        self.lock = lock or TurnLock()

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def next_block_at(self, timestamp: int) -> None:
        """The next transaction's block is mined at `timestamp` (eth-tester mines an empty block
        one second before it, which calls then see)."""
        with self.lock, self.w3.provider.chain_lock:
            if timestamp > self.now():
                self.w3.provider.ethereum_tester.time_travel(timestamp)

    def wait_until(self, timestamp: int) -> None:
        """The latest block, which calls see, is at `timestamp` or later."""
        self.next_block_at(timestamp + 1)


class BlockTicker:
    """Interval mining for an embedded chain: while it runs, transactions wait in the pending
    block, and a block is mined (sealing all of them) whenever the wall clock reaches the
    pending block's time, looked at every `interval` seconds.

    A chain that sealed a block per transaction would stand still between transactions (calls
    at "latest" see the last block's time, and the market's phases, countdowns and what the
    keeper may do follow it) and run ahead of the wall clock when more than one transaction a
    second arrives (each block takes at least a second). With the ticker, chain time follows
    the wall clock like a node's with `interval`-second blocks; a block's time is when it
    opened, at most one interval before it is mined. Stopping it seals what is pending and
    goes back to a block per transaction.
    """

    def __init__(self, w3: Web3, interval: float, wall_clock: Callable[[], float] = time.time) -> None:
        self._tester = w3.provider.ethereum_tester
        self._chain_lock = w3.provider.chain_lock
        self._interval = interval
        self._wall_clock = wall_clock
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="p2p-block-ticker", daemon=True)

    def start(self) -> None:
        with self._chain_lock:
            self._tester.seals_each_transaction = False
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        with self._chain_lock:
            self._tester.mine_blocks(1)
            self._tester.seals_each_transaction = True

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def tick(self) -> bool:
        """Mine the pending block if its time has come; True if one was mined."""
        with self._chain_lock:
            # The pending block's time is fixed when the block before it is mined; mining it
            # only once the wall clock is there keeps chain time from running ahead.
            if self._wall_clock() < self._tester.get_block_by_number("pending")["timestamp"]:
                return False
            self._tester.mine_blocks(1)
            return True

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self.tick()


SISTER_EXTRA_DATA = bytes(32)


def estimate_in_two_runs(state, transaction) -> int:
    """Run at the block's gas limit (raising what it fails with), then check the gas it used
    plus what the 63/64 rule withholds from calls; fall back to py-evm's binary search if that
    is still not enough."""
    from eth.estimators.gas import binary_gas_search_intrinsic_tolerance
    from eth.vm.spoof import SpoofTransaction

    snapshot = state.snapshot()
    try:
        computation = state.apply_transaction(SpoofTransaction(transaction, gas=state.gas_limit, gas_price=0))
        if computation.is_error:
            raise computation.error
        used = computation.get_gas_used() + transaction.intrinsic_gas  # before refunds
    finally:
        state.revert(snapshot)
    estimate = min(state.gas_limit, used * 64 // 63 + 10_000)
    snapshot = state.snapshot()
    try:
        enough = not state.apply_transaction(SpoofTransaction(transaction, gas=estimate)).is_error
    finally:
        state.revert(snapshot)
    return estimate if enough else binary_gas_search_intrinsic_tolerance(state, transaction)


def _full_extra_data_backend(**options):
    """A py-evm backend whose blocks all carry 32 bytes of extraData: eth-tester reports a
    block's extraData padded to 32 bytes, so only then do its headers hash to its hashes."""
    from eth_tester import PyEVMBackend

    genesis = PyEVMBackend.generate_genesis_params({"extra_data": SISTER_EXTRA_DATA})
    evm = PyEVMBackend(genesis_parameters=genesis, **options)
    # setup_tester_chain defines a chain class for every backend, so changing it changes this
    # chain only.
    chain_class = type(evm.chain)
    create_header = chain_class.create_header_from_parent

    def create_header_with_extra_data(chain, parent_header, **header_params):
        return create_header(chain, parent_header, **{"extra_data": SISTER_EXTRA_DATA, **header_params})

    chain_class.create_header_from_parent = create_header_with_extra_data
    evm.chain.header = evm.chain.header.copy(extra_data=SISTER_EXTRA_DATA)
    return evm


def embedded_chain(chain_id: int) -> Web3:
    """A fresh eth-tester chain in this process answering as chain ``chain_id``, with
    eth-tester's funded dev accounts (``dev_accounts``)."""
    from web3.providers.eth_tester.defaults import API_ENDPOINTS, static_return

    evm = _full_extra_data_backend()
    type(evm.chain).chain_id = chain_id
    evm.chain.gas_estimator = estimate_in_two_runs
    endpoints = {**API_ENDPOINTS, "eth": {**API_ENDPOINTS["eth"], "chainId": static_return(chain_id)}}
    return Web3(EmbeddedProvider(_tester_class()(evm), api_endpoints=endpoints))
