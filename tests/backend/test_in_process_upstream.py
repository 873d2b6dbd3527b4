"""What the embedded chain's upstream adds to eth-tester: JSON-RPC errors and revert data."""

from __future__ import annotations

import pytest
from backend_probe import PROBE_INIT, PROBE_REVERT_DATA
from web3 import HTTPProvider, Web3

from backend.upstreams import InProcessUpstream
from devnet.embedded import start_embedded_chain


@pytest.fixture
def embedded_chain():
    return start_embedded_chain()


@pytest.fixture
def upstream(embedded_chain):
    return InProcessUpstream(embedded_chain)


@pytest.fixture
def probe_address(embedded_chain):
    funded = embedded_chain.eth.accounts[0]
    tx_hash = embedded_chain.eth.send_transaction({"from": funded, "data": PROBE_INIT})
    return embedded_chain.eth.get_transaction_receipt(tx_hash)["contractAddress"]


def ask(upstream, method, *params):
    return upstream.forward([{"jsonrpc": "2.0", "id": 0, "method": method, "params": list(params)}])[0]


def test_revert_during_gas_estimation_carries_the_revert_data(upstream, probe_address):
    error = ask(upstream, "eth_estimateGas", {"to": probe_address, "data": "0x01"})["error"]

    assert (error["code"], error["data"]) == (3, PROBE_REVERT_DATA)


def test_revert_of_a_call_carries_the_revert_data(upstream, probe_address):
    error = ask(upstream, "eth_call", {"to": probe_address, "data": "0x01"}, "latest")["error"]

    assert (error["code"], error["data"]) == (3, PROBE_REVERT_DATA)


def test_input_eth_tester_refuses_is_invalid_input(upstream):
    error = ask(upstream, "eth_getBalance", "0xnot-an-address", "latest")["error"]

    assert error["code"] == -32000


def test_log_query_by_unknown_block_hash_is_invalid_input(upstream):
    error = ask(upstream, "eth_getLogs", {"blockHash": "0x" + "00" * 32})["error"]

    assert error["code"] == -32000


def test_method_eth_tester_does_not_know_keeps_its_error(upstream):
    assert ask(upstream, "eth_notAMethod")["error"]["code"] == -32601


def test_answers_come_back_in_request_order_with_their_ids(upstream):
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
        {"jsonrpc": "2.0", "id": 0, "method": "net_version", "params": []},
    ]

    assert [response["id"] for response in upstream.forward(batch)] == [1, 0]


def test_only_an_eth_tester_provider_is_accepted():
    with pytest.raises(TypeError, match="EthereumTesterProvider"):
        InProcessUpstream(Web3(HTTPProvider("http://127.0.0.1:8545")))
