"""The sister chains behind the backend: the market's chain as the trading chain, an embedded
scheduling chain at /rpc/scheduling (the proxy's denials there too), and /api/sister with a
transfer's progress (locked, confirmations n / 6, unlocked) as a relayer carries it."""

from __future__ import annotations

import pytest
from eth_account import Account

from backend import create_app
from backend.sister_api import SISTER_EXTENSION
from p2pkit.sister.lock import SCHEDULING, TRADING
from p2pkit.transactions import send, transfer
from relayer.relayer import Relayer

ETHER = 10**18


@pytest.fixture(scope="module")
def relayer_key():
    return Account.create()


@pytest.fixture(scope="module")
def app(relayer_key):
    return create_app(
        {
            "TESTING": True,
            "CHAIN": "embedded",
            "PERIOD_LENGTH": 60,
            "EMBEDDED_BLOCK_INTERVAL": 0,
            "KEEPER": False,
            "SISTER_SCHEDULING_CHAIN": "embedded",
            "SISTER_RELAYERS": relayer_key.address,
        }
    )


@pytest.fixture(scope="module")
def chains(app):
    return app.extensions[SISTER_EXTENSION]


@pytest.fixture(scope="module")
def operator(app):
    return app.extensions["p2p_market"].operator


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def user(chains, operator):
    """A new account with 500 tokens and ether on both chains."""
    account = Account.create()
    with chains.holding(TRADING, SCHEDULING):
        for chain in (chains.trading, chains.scheduling):
            transfer(chain.w3, operator, account.address, ETHER)
        send(chains.trading.w3, chains.trading.lock.functions.transfer(account.address, 500), operator)
    return account


def rpc(client, path, method, *params):
    return client.post(path, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).get_json()


def mine(chain, blocks):
    chain.w3.provider.ethereum_tester.mine_blocks(blocks)


def test_the_overview_names_both_chains_and_their_proxies(client, chains):
    answer = client.get("/api/sister").get_json()
    assert answer[TRADING]["chain_id"] == chains.trading.chain_id
    assert answer[SCHEDULING]["chain_id"] == 46602
    assert (answer[TRADING]["rpc"], answer[SCHEDULING]["rpc"]) == ("/rpc", "/rpc/scheduling")
    assert answer[SCHEDULING]["lock"] == chains.scheduling.lock.address
    assert answer[TRADING]["confirmations"] == 6 and answer[TRADING]["rate"] == ["1", "1"]


def test_the_scheduling_chain_is_proxied_with_the_same_denials(client):
    assert int(rpc(client, "/rpc/scheduling", "eth_chainId")["result"], 16) == 46602
    denied = rpc(client, "/rpc/scheduling", "eth_sendTransaction", {})
    assert denied["error"]["code"] == -32601
    assert int(rpc(client, "/rpc", "eth_chainId")["result"], 16) != 46602


def test_without_sister_chains_there_is_no_scheduling_proxy_nor_api():
    app = create_app({"TESTING": True, "CHAIN": "embedded", "EMBEDDED_BLOCK_INTERVAL": 0, "KEEPER": False})
    client = app.test_client()
    assert client.post("/rpc/scheduling", json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}).status_code == 404
    assert client.get("/api/sister").status_code == 404


def test_an_unknown_address_is_not_found(client):
    assert client.get("/api/sister/accounts/0x1234").status_code == 404


def test_a_transfer_shows_locked_then_its_confirmations_then_unlocked(client, chains, user, relayer_key):
    with chains.holding(TRADING):
        locked = send(chains.trading.w3, chains.trading.lock.functions.lock(120, user.address), user)
    (transfer_seen,) = client.get(f"/api/sister/accounts/{user.address}").get_json()["transfers"]
    assert transfer_seen["state"] == "locked"
    assert (transfer_seen["confirmations"], transfer_seen["required"]) == (0, 6)
    assert transfer_seen["tx"] == locked["transactionHash"].to_0x_hex()
    assert (transfer_seen["from"], transfer_seen["to"], transfer_seen["amount"]) == (TRADING, SCHEDULING, "120")

    with chains.holding(TRADING):
        mine(chains.trading, 4)
    assert client.get(f"/api/sister/accounts/{user.address}").get_json()["transfers"][0]["confirmations"] == 4
    with chains.holding(TRADING):
        mine(chains.trading, 2)
    assert client.get(f"/api/sister/accounts/{user.address}").get_json()["transfers"][0]["state"] == "confirmed"

    relayer = Relayer((chains.trading, chains.scheduling), relayer_key, poll_interval=0)
    for _ in range(5):
        with chains.holding(TRADING, SCHEDULING):
            relayer.step()
        answer = client.get(f"/api/sister/accounts/{user.address}").get_json()
        if answer["transfers"][0]["state"] == "unlocked":
            break
    (done,) = answer["transfers"]
    assert done["state"] == "unlocked" and done["unlock"]["released"] == "120"
    assert answer["balances"][TRADING]["balance"] == "380"
    assert answer["balances"][SCHEDULING]["balance"] == "120"
