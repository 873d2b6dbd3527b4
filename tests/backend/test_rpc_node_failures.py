"""A node that is down, silent or broken gives JSON-RPC errors with the request's id, not a hang."""

from __future__ import annotations

import socket
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from backend import create_app
from backend.upstreams import HttpUpstream

NODE_TIMEOUT = 0.5


def client_for(url: str):
    return create_app({"TESTING": True}, upstream=HttpUpstream(url, NODE_TIMEOUT)).test_client()


def rpc(method, request_id=1, params=None):
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or []}


@pytest.fixture
def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on."""
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_node_url():
    """A loopback server that accepts connections and never answers them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    # Closing a socket does not wake a thread blocked in accept(), so the loop polls.
    listener.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []

    def hold_connections() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    holder = threading.Thread(target=hold_connections)
    holder.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    holder.join()
    for connection in held:
        connection.close()
    listener.close()


@pytest.fixture
def serve_node():
    """Serve a WSGI app as a stand-in node on loopback; returns its URL."""
    servers = []

    def serve(app) -> str:
        server = make_server("127.0.0.1", 0, app)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_node_down_is_reported_with_the_request_id(closed_port_url):
    response = client_for(closed_port_url).post("/rpc", json=rpc("eth_blockNumber", "q1")).get_json()

    assert (response["id"], response["error"]["code"]) == ("q1", -32002)


def test_node_down_is_reported_with_its_address(closed_port_url):
    response = client_for(closed_port_url).post("/rpc", json=rpc("eth_blockNumber")).get_json()

    assert response["error"]["message"] == f"node unreachable at {closed_port_url.removeprefix('http://')}"


def test_node_down_fails_each_forwarded_request_of_a_batch(closed_port_url):
    batch = [rpc("eth_blockNumber", 1), rpc("eth_sign", 2), rpc("eth_chainId", 3)]

    responses = client_for(closed_port_url).post("/rpc", json=batch).get_json()

    assert [(response["id"], response["error"]["code"]) for response in responses] == [
        (1, -32002),
        (2, -32601),
        (3, -32002),
    ]


def test_node_down_while_resolving_log_block_tags(closed_port_url):
    request = rpc("eth_getLogs", 5, [{"fromBlock": "latest"}])

    response = client_for(closed_port_url).post("/rpc", json=request).get_json()

    assert (response["id"], response["error"]["code"]) == (5, -32002)


def test_silent_node_times_out_with_a_clear_message(silent_node_url):
    response = client_for(silent_node_url).post("/rpc", json=rpc("eth_blockNumber", 8)).get_json()

    assert (response["id"], response["error"]["message"]) == (
        8,
        f"node at {silent_node_url.removeprefix('http://')} did not answer within {NODE_TIMEOUT:g} s",
    )


def test_node_answering_an_http_error_is_reported(serve_node):
    url = serve_node(Response("overloaded", status=503))

    response = client_for(url).post("/rpc", json=rpc("eth_blockNumber")).get_json()

    assert response["error"]["message"] == f"node at {url.removeprefix('http://')} answered HTTP 503"


def test_node_answering_something_other_than_json_is_reported(serve_node):
    url = serve_node(Response("<html>proxy login</html>", content_type="text/html"))

    response = client_for(url).post("/rpc", json=rpc("eth_blockNumber")).get_json()

    assert (
        response["error"]["message"] == f"node at {url.removeprefix('http://')} answered with a body that is not JSON"
    )


def test_node_refusing_the_whole_batch_is_reported_with_its_reason(serve_node):
    refusal = '{"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "batch too large"}}'
    url = serve_node(Response(refusal, content_type="application/json"))

    response = client_for(url).post("/rpc", json=rpc("eth_blockNumber")).get_json()

    assert response["error"]["message"] == f"node at {url.removeprefix('http://')} refused the batch: batch too large"


def test_node_leaving_a_request_unanswered_is_reported(serve_node):
    url = serve_node(Response("[]", content_type="application/json"))

    response = client_for(url).post("/rpc", json=rpc("eth_blockNumber", 3)).get_json()

    assert (response["id"], response["error"]["code"]) == (3, -32603)
