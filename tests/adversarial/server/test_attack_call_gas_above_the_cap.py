"""/rpc forwarded eth_call and eth_estimateGas with any gas. One call with 10^8 gas
held the embedded chain for 24 s; behind anvil a call with 2^48 gas pinned a core long after the
proxy had given up. Calls may now use at most MAX_CALL_GAS, by default the block gas limit."""

import pytest
from backend_fakes import FakeUpstream

from backend import create_app

BLOCK_GAS_LIMIT = 30_000_000
LOOP = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP: spins until out of gas


def node_answer(request):
    if request["method"] == "eth_getBlockByNumber":
        return {"number": "0x10", "gasLimit": hex(BLOCK_GAS_LIMIT)}
    return "0x"


@pytest.fixture
def node() -> FakeUpstream:
    return FakeUpstream(node_answer)


@pytest.fixture
def client(node):
    return create_app({"TESTING": True}, upstream=node).test_client()


def call(method: str, transaction: dict) -> dict:
    params = [transaction, "latest"] if method == "eth_call" else [transaction]
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


@pytest.mark.parametrize("method", ["eth_call", "eth_estimateGas"])
def test_call_asking_for_more_gas_than_a_block_holds_never_reaches_the_node(client, node, method):
    reply = client.post("/rpc", json=call(method, {"data": LOOP, "gas": hex(10**8)})).get_json()

    assert (reply["error"]["code"], method in node.forwarded_methods) == (-32005, False)


@pytest.mark.parametrize("method", ["eth_call", "eth_estimateGas"])
def test_call_naming_no_gas_reaches_the_node_with_the_cap(client, node, method):
    client.post("/rpc", json=call(method, {"data": LOOP}))

    [forwarded] = [request for batch in node.batches for request in batch if request["method"] == method]
    assert forwarded["params"][0]["gas"] == hex(BLOCK_GAS_LIMIT)
