"""Errors sent to every /rpc client (and the keeper's failures on /api/status) named the
upstream node by its URL, credentials and API key included. They name it by host and port only."""

import json
import socket
import time

import pytest
from eth_account import Account

from backend import create_app, keeper_of
from backend.upstreams import open_deployed_market
from p2pkit.market import Deployment

SECRETS = ("operator:", "s3cr3t", "API-KEY-0123456789", "token=")
KEEPER_WAIT = 20.0  # seconds for the keeper to fail against the closed port


@pytest.fixture
def node_url() -> str:
    """A URL with credentials, an API key in its path and a token in its query, of a loopback
    port nobody listens on."""
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    return f"http://operator:s3cr3t@127.0.0.1:{port}/v3/API-KEY-0123456789?token=abc"


@pytest.fixture
def app(node_url, tmp_path):
    operator = Account.create()
    deployment = tmp_path / "deployment.json"
    Deployment(chain_id=1, market="0x" + "11" * 20, operator=operator.address, grid="0x" + "22" * 20, block=0).save(
        deployment
    )
    market = open_deployed_market(node_url, deployment, 0.5, operator)
    return create_app({"TESTING": True, "KEEPER": False, "KEEPER_DB": ":memory:"}, market=market)


def test_rpc_error_names_the_node_by_host_and_port_only(app, node_url):
    reply = (
        app.test_client().post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}).get_data(as_text=True)
    )

    host_port = node_url.split("@")[1].split("/")[0]
    assert (host_port in reply, [secret for secret in SECRETS if secret in reply]) == (True, [])


def test_keeper_failure_reported_for_the_status_page_does_not_carry_the_node_url(app):
    keeper = keeper_of(app)
    keeper.start()
    try:
        deadline = time.monotonic() + KEEPER_WAIT
        while not keeper.status()["failures"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        keeper.stop()

    status = keeper.status()  # what /api/status shows of the keeper
    assert (bool(status["failures"]), [secret for secret in SECRETS if secret in json.dumps(status)]) == (True, [])
