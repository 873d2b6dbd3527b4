"""What `/rpc` refuses, how it answers batches and notifications, and the limits it enforces.

The upstream here is a fake that records what reaches it (limits: 2,000-byte bodies, batches of
5, eth_getLogs over 100 blocks).
"""

from __future__ import annotations

import json

import pytest

DENIED_METHODS = [
    "eth_sendTransaction",
    "eth_sign",
    "eth_signTypedData_v4",
    "personal_unlockAccount",
    "admin_peers",
    "miner_start",
    "debug_traceTransaction",
    "txpool_content",
]


def rpc(method, params=None, request_id=1):
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or []}


def notification(method):
    return {"jsonrpc": "2.0", "method": method, "params": []}


def error_of(response):
    return (response["id"], response["error"]["code"])


@pytest.mark.parametrize("method", DENIED_METHODS)
def test_denied_method_is_refused_with_its_id(proxy_client, method):
    response = proxy_client.post("/rpc", json=rpc(method, request_id="abc")).get_json()

    assert error_of(response) == ("abc", -32601)


@pytest.mark.parametrize("method", DENIED_METHODS)
def test_denied_method_never_reaches_the_node(proxy_client, fake_upstream, method):
    proxy_client.post("/rpc", json=rpc(method))

    assert fake_upstream.batches == []


def test_unknown_method_is_refused(proxy_client):
    response = proxy_client.post("/rpc", json=rpc("eth_newFilter")).get_json()

    assert error_of(response) == (1, -32601)


@pytest.mark.parametrize("method", DENIED_METHODS)
def test_denied_method_hidden_in_a_batch_is_refused_and_the_rest_answered(proxy_client, method):
    batch = [rpc("eth_blockNumber", request_id=1), rpc(method, request_id=2), rpc("eth_chainId", request_id=3)]

    responses = proxy_client.post("/rpc", json=batch).get_json()

    assert [response.get("result") or error_of(response) for response in responses] == [
        "answer to eth_blockNumber",
        (2, -32601),
        "answer to eth_chainId",
    ]


def test_denied_method_hidden_in_a_batch_never_reaches_the_node(proxy_client, fake_upstream):
    batch = [rpc("eth_blockNumber", request_id=1), rpc("eth_sendTransaction", request_id=2)]

    proxy_client.post("/rpc", json=batch)

    assert fake_upstream.forwarded_methods == ["eth_blockNumber"]


def test_allowed_requests_of_a_batch_reach_the_node_as_one_batch(proxy_client, fake_upstream):
    batch = [rpc("eth_blockNumber", request_id=1), rpc("eth_chainId", request_id=2), rpc("eth_gasPrice", request_id=3)]

    proxy_client.post("/rpc", json=batch)

    assert [[request["method"] for request in sent] for sent in fake_upstream.batches] == [
        ["eth_blockNumber", "eth_chainId", "eth_gasPrice"]
    ]


def test_repeated_client_ids_each_get_their_own_answer(proxy_client):
    batch = [rpc("eth_blockNumber", request_id=7), rpc("eth_chainId", request_id=7)]

    responses = proxy_client.post("/rpc", json=batch).get_json()

    assert [(response["id"], response["result"]) for response in responses] == [
        (7, "answer to eth_blockNumber"),
        (7, "answer to eth_chainId"),
    ]


def test_notifications_in_a_batch_get_no_response_entry(proxy_client):
    batch = [notification("eth_blockNumber"), rpc("eth_chainId", request_id=2), notification("eth_sign")]

    responses = proxy_client.post("/rpc", json=batch).get_json()

    assert [response["id"] for response in responses] == [2]


def test_a_lone_notification_gets_an_empty_reply(proxy_client):
    reply = proxy_client.post("/rpc", json=notification("eth_blockNumber"))

    assert (reply.status_code, reply.data) == (204, b"")


def test_allowed_notification_is_still_forwarded(proxy_client, fake_upstream):
    proxy_client.post("/rpc", json=notification("eth_blockNumber"))

    assert fake_upstream.forwarded_methods == ["eth_blockNumber"]


def test_request_without_params_is_forwarded_with_empty_params(proxy_client, fake_upstream):
    proxy_client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"})

    assert fake_upstream.batches[0][0]["params"] == []


def test_body_that_is_not_json_is_a_parse_error(proxy_client):
    response = proxy_client.post(
        "/rpc", data=b'{"jsonrpc": "2.0", "method": ', content_type="application/json"
    ).get_json()

    assert error_of(response) == (None, -32700)


def test_body_nested_too_deeply_is_a_parse_error(proxy_client):
    response = proxy_client.post("/rpc", data=b"[" * 900 + b"]" * 900).get_json()

    assert error_of(response) == (None, -32700)


def test_brackets_inside_strings_do_not_count_as_nesting(proxy_client, fake_upstream):
    proxy_client.post("/rpc", json=rpc("eth_call", [{"data": "[" * 100}, "latest"]))

    assert fake_upstream.forwarded_methods == ["eth_call"]


def test_body_that_is_not_utf8_is_a_parse_error(proxy_client):
    response = proxy_client.post("/rpc", data=b'{"jsonrpc": "2.0", "id": 1, "method": "\xff"}').get_json()

    assert error_of(response) == (None, -32700)


@pytest.mark.parametrize(
    "request_body",
    [
        pytest.param(42, id="not an object"),
        pytest.param({"id": 1, "method": "eth_blockNumber", "params": []}, id="no jsonrpc"),
        pytest.param({"jsonrpc": "1.0", "id": 1, "method": "eth_blockNumber", "params": []}, id="jsonrpc 1.0"),
        pytest.param({"jsonrpc": "2.0", "id": 1, "params": []}, id="no method"),
        pytest.param({"jsonrpc": "2.0", "id": 1, "method": 5, "params": []}, id="method not a string"),
        pytest.param({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": "x"}, id="params a string"),
    ],
)
def test_malformed_request_is_an_invalid_request(proxy_client, request_body):
    response = proxy_client.post("/rpc", json=request_body).get_json()

    assert response["error"]["code"] == -32600


@pytest.mark.parametrize("bad_id", [True, [1], {"n": 1}], ids=["boolean", "array", "object"])
def test_request_with_an_id_of_the_wrong_type_is_an_invalid_request(proxy_client, bad_id):
    response = proxy_client.post("/rpc", json=rpc("eth_blockNumber", request_id=bad_id)).get_json()

    assert error_of(response) == (None, -32600)


def test_malformed_request_keeps_its_id_when_the_id_is_valid(proxy_client):
    response = proxy_client.post("/rpc", json={"jsonrpc": "2.0", "id": 9, "method": 5}).get_json()

    assert error_of(response) == (9, -32600)


def test_malformed_request_in_a_batch_is_answered_alongside_the_others(proxy_client):
    responses = proxy_client.post("/rpc", json=[rpc("eth_chainId", request_id=1), "junk"]).get_json()

    assert [response.get("result") or error_of(response) for response in responses] == [
        "answer to eth_chainId",
        (None, -32600),
    ]


def test_empty_batch_is_an_invalid_request(proxy_client):
    response = proxy_client.post("/rpc", json=[]).get_json()

    assert error_of(response) == (None, -32600)


def test_batch_over_the_limit_is_refused_whole(proxy_client, fake_upstream):
    batch = [rpc("eth_blockNumber", request_id=n) for n in range(6)]

    response = proxy_client.post("/rpc", json=batch).get_json()

    assert (error_of(response), "limit is 5" in response["error"]["message"]) == ((None, -32600), True)


def test_body_over_the_limit_is_refused_with_http_413(proxy_client):
    body = json.dumps(rpc("eth_call", [{"data": "0x" + "00" * 1_000}, "latest"]))

    reply = proxy_client.post("/rpc", data=body, content_type="application/json")

    assert (reply.status_code, error_of(reply.get_json())) == (413, (None, -32600))


def test_body_over_the_limit_never_reaches_the_node(proxy_client, fake_upstream):
    proxy_client.post("/rpc", data=json.dumps(rpc("eth_call", [{"data": "0x" + "00" * 1_000}])))

    assert fake_upstream.batches == []
