"""Embedded eth-tester chains that can stand for two different networks in one process.

eth-tester fixes every chain's id at 131277322940537 and reports a block's extraData padded to
32 bytes, which a light client would see as another header. ``embedded_chain`` gives the chain
an id of its own (in transactions, in the CHAINID opcode and in ``eth_chainId``) and mines every
block with 32 bytes of extraData, so that the header web3 reports is the header that was hashed.

It also estimates gas in two runs of the transaction instead of py-evm's binary search (a dozen
runs), which matters for the light client's header batches: py-evm interprets every opcode in
Python.
"""
from __future__ import annotations

from eth.estimators.gas import binary_gas_search_intrinsic_tolerance
from eth.vm.spoof import SpoofTransaction
from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3
from web3.providers.eth_tester.defaults import API_ENDPOINTS, static_return

EXTRA_DATA = bytes(32)


def estimate_in_two_runs(state, transaction) -> int:
    """Run at the block's gas limit (raising what it fails with), then check the gas it used
    plus what the 63/64 rule withholds from calls; fall back to py-evm's binary search if that
    is still not enough."""
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


def embedded_chain(chain_id: int) -> Web3:
    """A fresh eth-tester chain in this process answering as chain ``chain_id``, with
    eth-tester's funded dev accounts (``backend.chain.embedded_dev_accounts``)."""
    backend = PyEVMBackend(genesis_parameters=PyEVMBackend.generate_genesis_params({"extra_data": EXTRA_DATA}))
    # setup_tester_chain defines a chain class for every backend, so changing it changes this
    # chain only.
    chain_class = type(backend.chain)
    chain_class.chain_id = chain_id
    create_header = chain_class.create_header_from_parent

    def create_header_with_extra_data(chain, parent_header, **header_params):
        return create_header(chain, parent_header, **{"extra_data": EXTRA_DATA, **header_params})

    chain_class.create_header_from_parent = create_header_with_extra_data
    backend.chain.gas_estimator = estimate_in_two_runs
    backend.chain.header = backend.chain.header.copy(extra_data=EXTRA_DATA)
    endpoints = {**API_ENDPOINTS, "eth": {**API_ENDPOINTS["eth"], "chainId": static_return(chain_id)}}
    return Web3(EthereumTesterProvider(EthereumTester(backend), api_endpoints=endpoints))
