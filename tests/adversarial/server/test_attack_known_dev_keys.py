"""The embedded chain's operator and grid were eth-tester's dev accounts, whose private
keys are the integers 1 and 2: anyone who reached the demo's /rpc could withdraw the grid's wallet
and rewrite the market's parameters. Both roles now get keys made for each run."""

import pytest
from eth_account import Account
from web3 import Web3

from backend import create_app, market_of
from devnet.embedded import dev_accounts
from p2pkit.market import MarketParameters

KNOWN_KEYS = [Account.from_key(number.to_bytes(32, "big")) for number in (1, 2)]  # eth-tester's first two


@pytest.fixture(scope="module")
def embedded():
    """The backend as `serve --chain embedded` builds it."""
    app = create_app({"TESTING": True, "CHAIN": "embedded", "EMBEDDED_BLOCK_INTERVAL": 0, "KEEPER": False})
    return app.test_client(), market_of(app)


def rpc(client, method, *params):
    return client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).get_json()


def send_signed(client, market, key, call) -> None:
    """`call` signed with `key` and sent raw through /rpc, as anyone who reaches it can; mined
    (or refused) by the time this returns."""
    nonce = int(rpc(client, "eth_getTransactionCount", key.address, "pending")["result"], 16)
    transaction = call.build_transaction(
        {
            "from": key.address,
            "nonce": nonce,
            "gas": 300_000,
            "gasPrice": market.w3.eth.gas_price,
            "chainId": market.w3.eth.chain_id,
        }
    )
    rpc(client, "eth_sendRawTransaction", Web3.to_hex(key.sign_transaction(transaction).raw_transaction))


def test_operator_and_grid_are_none_of_the_dev_accounts(embedded):
    _, market = embedded

    known = {account.address for account in dev_accounts(market.w3)}
    assert {market.deployment.operator, market.deployment.grid} & known == set()


def test_grid_wallet_cannot_be_withdrawn_with_the_known_key(embedded):
    client, market = embedded
    grid_wallet = market.contract.functions.accountOf(market.deployment.grid).call().wallet

    send_signed(client, market, KNOWN_KEYS[1], market.contract.functions.withdraw(grid_wallet))

    assert market.contract.functions.accountOf(market.deployment.grid).call().wallet == grid_wallet


def test_parameters_cannot_be_set_with_the_known_key(embedded):
    client, market = embedded
    before = market.contract.functions.parameters().call()
    greedy = MarketParameters(penalty_factor_bps=65535, margin=10**21)

    send_signed(client, market, KNOWN_KEYS[0], market.contract.functions.setParameters(greedy.as_abi()))

    assert market.contract.functions.parameters().call() == before
