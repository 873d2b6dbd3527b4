"""The read API in front of a real node (anvil): the market found from its deployment file."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from backend import create_app
from devnet.nodes import ANVIL_FUNDED_KEY
from p2pkit.market import Deployment, attach, deploy_market
from p2pkit.schedule import Phase, Schedule


@pytest.fixture(scope="module")
def deployment(anvil_url, tmp_path_factory) -> Deployment:
    w3 = Web3(HTTPProvider(anvil_url))
    contract = deploy_market(w3, Account.from_key(ANVIL_FUNDED_KEY), Account.create().address, Schedule.scaled(60))
    return Deployment.of(w3, contract)


@pytest.fixture
def client(anvil_url, deployment, tmp_path):
    deployment_file = tmp_path / "deployment.json"
    deployment.save(deployment_file)
    return create_app({"CHAIN": anvil_url, "DEPLOYMENT": str(deployment_file), "KEEPER": False}).test_client()


def test_contract_on_a_node_is_the_deployed_market(client, deployment):
    answer = client.get("/api/contract").get_json()

    assert (answer["address"], answer["operator"], answer["chain_id"], answer["schedule"]["period_length"]) == (
        deployment.market,
        deployment.operator,
        deployment.chain_id,
        60,
    )


def test_status_on_a_node_follows_the_contracts_clock(client, anvil_url, deployment):
    answer = client.get("/api/status").get_json()

    market = attach(Web3(HTTPProvider(anvil_url)), deployment.market, client.get("/api/contract").get_json()["abi"])
    now = market.functions.currentPhase().call(block_identifier=answer["block"])
    assert (answer["period"], answer["phase"]) == (now.period, Phase(now.phase).name.lower())


def test_status_on_a_node_without_the_operator_key_says_the_keeper_is_off(client):
    assert client.get("/api/status").get_json()["keeper"]["enabled"] is False
