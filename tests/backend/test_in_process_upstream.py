"""What the embedded chain's upstream adds to eth-tester: JSON-RPC errors, revert data, and log
queries read from py-evm."""

from __future__ import annotations

import pytest
from backend_probe import PING_TOPIC, PROBE_INIT, PROBE_REVERT_DATA
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


def test_only_an_embedded_chain_is_accepted():
    with pytest.raises(TypeError, match="needs an embedded chain"):
        InProcessUpstream(Web3(HTTPProvider("http://127.0.0.1:8545")))


@pytest.fixture
def pinged(embedded_chain, probe_address):
    """The probe pinged twice: two Ping() logs."""
    for _ in range(2):
        embedded_chain.eth.send_transaction({"from": embedded_chain.eth.accounts[0], "to": probe_address})
    return probe_address


@pytest.mark.parametrize(
    ("topics", "found"),
    [
        ([PING_TOPIC], 2),
        ([[PING_TOPIC, "0x" + "00" * 32]], 2),
        ([None], 2),
        (["0x" + "00" * 32], 0),
        ([PING_TOPIC, None], 0),
    ],
    ids=["the topic", "one of two", "any", "another topic", "a second topic it has not"],
)
def test_log_query_by_topic_finds_the_logs_that_carry_it(upstream, pinged, topics, found):
    logs = ask(upstream, "eth_getLogs", {"fromBlock": "earliest", "toBlock": "latest", "topics": topics})["result"]

    assert len(logs) == found


def test_log_query_by_another_address_finds_nothing(upstream, pinged):
    logs = ask(upstream, "eth_getLogs", {"fromBlock": "earliest", "address": "0x" + "12" * 20})["result"]

    assert logs == []


def test_log_query_over_more_blocks_than_its_time_allows_is_stopped(embedded_chain):
    # Reading 500 blocks takes about 0.1 s here, five times the upstream's limit.
    embedded_chain.provider.ethereum_tester.mine_blocks(500)
    upstream = InProcessUpstream(embedded_chain, time_limit=0.02)

    error = ask(upstream, "eth_getLogs", {"fromBlock": "earliest", "toBlock": "latest"})["error"]

    assert (error["code"], error["message"].startswith("eth_getLogs stopped")) == (-32005, True)


def test_a_receipts_logs_are_numbered_across_the_block_as_in_log_queries(embedded_chain, upstream, probe_address):
    tester, sender = embedded_chain.provider.ethereum_tester, embedded_chain.eth.accounts[0]
    tester.seals_each_transaction = False  # both pings in one block, as interval mining puts them
    nonce = embedded_chain.eth.get_transaction_count(sender)
    hashes = [
        embedded_chain.eth.send_transaction({"from": sender, "to": probe_address, "nonce": nonce + i}) for i in range(2)
    ]
    tester.mine_blocks(1)
    logs = ask(upstream, "eth_getLogs", {"fromBlock": "latest", "toBlock": "latest", "topics": [PING_TOPIC]})["result"]
    receipt = ask(upstream, "eth_getTransactionReceipt", "0x" + hashes[1].hex())["result"]

    assert [log["logIndex"] for log in receipt["logs"]] == [logs[1]["logIndex"]] == ["0x1"]
