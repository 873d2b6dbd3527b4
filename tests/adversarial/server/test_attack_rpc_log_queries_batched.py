"""eth_getLogs was bounded per query (MAX_LOG_BLOCK_RANGE blocks) but not per body: a
batch of 100 queries over the widest range held the embedded chain for 8 s. The queries of one
body now share the range."""

from backend_fakes import FakeUpstream

from backend import create_app
from backend.config import SETTINGS

MAX_LOG_BLOCK_RANGE = SETTINGS["MAX_LOG_BLOCK_RANGE"][1]


def widest_query(request_id: int) -> dict:
    log_filter = {"fromBlock": hex(1), "toBlock": hex(MAX_LOG_BLOCK_RANGE)}
    return {"jsonrpc": "2.0", "id": request_id, "method": "eth_getLogs", "params": [log_filter]}


def test_a_batch_of_widest_log_queries_sends_one_of_them_to_the_node():
    node = FakeUpstream(lambda request: [])
    client = create_app({"TESTING": True}, upstream=node).test_client()

    replies = client.post("/rpc", json=[widest_query(index) for index in range(100)]).get_json()

    assert (node.forwarded_methods, sum("error" in reply for reply in replies)) == (["eth_getLogs"], 99)
