"""eth_getLogs passes `/rpc` only over a bounded block range (100 blocks in these tests)."""

from __future__ import annotations

import pytest
from backend_fakes import FakeUpstream

from backend import create_app

LATEST_BLOCK = 500
BLOCKS_BY_TAG = {"earliest": 0, "latest": LATEST_BLOCK, "pending": LATEST_BLOCK + 1, "safe": LATEST_BLOCK - 10}


def node_at_block_500(request):
    """Answers like a node whose latest block is 500 and which has no finalized block yet."""
    if request["method"] == "eth_getBlockByNumber":
        tag = request["params"][0]
        return {"number": hex(BLOCKS_BY_TAG[tag])} if tag in BLOCKS_BY_TAG else None
    return []


@pytest.fixture
def node() -> FakeUpstream:
    return FakeUpstream(answer=node_at_block_500)


@pytest.fixture
def client(node):
    return create_app({"TESTING": True, "MAX_LOG_BLOCK_RANGE": 100}, upstream=node).test_client()


def get_logs(client, log_filter):
    request = {"jsonrpc": "2.0", "id": 4, "method": "eth_getLogs", "params": [log_filter]}
    return client.post("/rpc", json=request).get_json()


def forwarded_filters(node):
    return [request["params"][0] for batch in node.batches for request in batch if request["method"] == "eth_getLogs"]


def test_range_within_the_limit_is_forwarded(client, node):
    get_logs(client, {"fromBlock": "0x1", "toBlock": "0x64", "address": "0x" + "11" * 20})

    assert forwarded_filters(node) == [{"fromBlock": "0x1", "toBlock": "0x64", "address": "0x" + "11" * 20}]


def test_range_over_the_limit_is_refused(client):
    response = get_logs(client, {"fromBlock": "0x1", "toBlock": "0x65"})

    assert (response["id"], response["error"]["code"]) == (4, -32005)


def test_range_over_the_limit_never_reaches_the_node(client, node):
    get_logs(client, {"fromBlock": "0x1", "toBlock": "0x65"})

    assert forwarded_filters(node) == []


def test_tags_are_resolved_before_the_range_is_checked(client):
    response = get_logs(client, {"fromBlock": "earliest", "toBlock": "latest"})

    assert response["error"]["code"] == -32005


def test_tags_are_pinned_to_block_numbers_when_forwarded(client, node):
    get_logs(client, {"fromBlock": "safe"})

    assert forwarded_filters(node) == [{"fromBlock": hex(LATEST_BLOCK - 10), "toBlock": hex(LATEST_BLOCK)}]


def test_tag_the_node_does_not_know_is_invalid_params(client):
    response = get_logs(client, {"fromBlock": "finalized", "toBlock": "latest"})

    assert response["error"]["code"] == -32602


def test_query_by_block_hash_is_forwarded_unchanged(client, node):
    get_logs(client, {"blockHash": "0x" + "ab" * 32})

    assert forwarded_filters(node) == [{"blockHash": "0x" + "ab" * 32}]


def test_block_hash_together_with_a_range_is_invalid_params(client):
    response = get_logs(client, {"blockHash": "0x" + "ab" * 32, "fromBlock": "0x1"})

    assert response["error"]["code"] == -32602


@pytest.mark.parametrize("block", [1, "0x", "0xzz", "newest", None], ids=repr)
def test_block_that_is_neither_a_hex_number_nor_a_tag_is_invalid_params(client, block):
    response = get_logs(client, {"fromBlock": block, "toBlock": "latest"})

    assert response["error"]["code"] == -32602


@pytest.mark.parametrize("params", [[], [{}, {}], ["0x1"], {"fromBlock": "0x1"}], ids=repr)
def test_params_other_than_one_filter_object_are_invalid_params(client, params):
    request = {"jsonrpc": "2.0", "id": 4, "method": "eth_getLogs", "params": params}

    response = client.post("/rpc", json=request).get_json()

    assert response["error"]["code"] == -32602


def test_tags_of_a_whole_batch_are_resolved_in_one_lookup(client, node):
    batch = [
        {"jsonrpc": "2.0", "id": n, "method": "eth_getLogs", "params": [{"fromBlock": "safe", "toBlock": "latest"}]}
        for n in range(3)
    ]

    client.post("/rpc", json=batch)

    first_batch = node.batches[0]
    assert [request["params"][0] for request in first_batch] == ["latest", "safe"]
