"""Ids NaN, Infinity and 1e400 (which Python's JSON parser accepts) were echoed back
as NaN or Infinity, which is not JSON: a client's parser breaks on the answer. Such a body is
now a parse error, and every answer is strict JSON."""

import json

import pytest
from backend_fakes import FakeUpstream

from backend import create_app


def strict_json(text: str):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("request_id", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_id_that_is_not_a_json_number_gets_a_strict_json_parse_error(request_id):
    client = create_app({"TESTING": True}, upstream=FakeUpstream()).test_client()

    reply = client.post("/rpc", data=f'{{"jsonrpc":"2.0","id":{request_id},"method":"eth_chainId"}}')

    assert strict_json(reply.get_data(as_text=True))["error"]["code"] == -32700
