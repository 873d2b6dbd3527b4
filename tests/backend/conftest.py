"""Fixtures for the backend tests: the chains to proxy to (embedded eth-tester, a real anvil
node), a fake upstream that records what reaches it, the probe contract deployed on them; and
the market on an embedded chain with its roles (operator, grid, prosumers with their meters)
and the keeper, for the read API and keeper tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from backend_fakes import FakeUpstream
from backend_probe import PROBE_INIT
from eth_account import Account
from market_script import PERIOD_LENGTH, MarketScript, Trader
from web3 import Web3

from backend import create_app
from backend.entrusted import EntrustedBids
from backend.keeper import Keeper
from backend.upstreams import HttpUpstream, InProcessUpstream
from devnet.embedded import dev_accounts, start_embedded_chain, start_embedded_market
from devnet.nodes import ANVIL_CHAIN_ID, ANVIL_FUNDED_KEY, anvil
from p2pkit.continuous import deploy_book
from p2pkit.market import MarketHandle

RPC_TIMEOUT = 5.0


@pytest.fixture(scope="session")
def anvil_url():
    """A real anvil node on a free loopback port, for the whole session."""
    with anvil() as url:
        yield url


@dataclass
class ChainUnderTest:
    """A backend in front of one chain, as a JSON-RPC client sees it through `/rpc`."""

    name: str
    client: Any  # flask.testing.FlaskClient
    funded_key: str
    chain_id: int

    @property
    def funded_address(self) -> str:
        return Account.from_key(self.funded_key).address

    def call(self, method: str, *params: Any) -> dict[str, Any]:
        """The whole JSON-RPC response to one request with id 1."""
        reply = self.client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        assert reply.status_code == 200, reply.data
        return reply.get_json()

    def result(self, method: str, *params: Any) -> Any:
        response = self.call(method, *params)
        assert "error" not in response, response
        return response["result"]

    def sign(self, **transaction: Any) -> Any:
        """A transaction from the funded account, signed locally, with nonce and fees filled in."""
        nonce = int(self.result("eth_getTransactionCount", self.funded_address, "latest"), 16)
        fields = {
            "nonce": nonce,
            "chainId": self.chain_id,
            "gas": 300_000,
            "maxFeePerGas": 10 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            **transaction,
        }
        return Account.from_key(self.funded_key).sign_transaction(fields)

    def send_raw(self, **transaction: Any) -> dict[str, Any]:
        """Sign, send through `eth_sendRawTransaction` and return the receipt once mined."""
        signed = self.sign(**transaction)
        tx_hash = self.result("eth_sendRawTransaction", Web3.to_hex(signed.raw_transaction))
        return self.wait_for_receipt(tx_hash)

    def wait_for_receipt(self, tx_hash: str, attempts: int = 200) -> dict[str, Any]:
        # Both chains mine every transaction, but anvil does it just after answering the send.
        for _ in range(attempts):
            receipt = self.result("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return receipt
            time.sleep(0.02)
        pytest.fail(f"transaction {tx_hash} was not mined")


@pytest.fixture(scope="module", params=["embedded", "anvil"])
def chain(request) -> ChainUnderTest:
    """The backend in front of each kind of chain in turn: embedded eth-tester, then anvil."""
    if request.param == "embedded":
        w3 = start_embedded_chain()
        app = create_app({"TESTING": True}, upstream=InProcessUpstream(w3))
        funded_key = dev_accounts(w3)[0].key.to_0x_hex()
        return ChainUnderTest("embedded", app.test_client(), funded_key, w3.eth.chain_id)
    url = request.getfixturevalue("anvil_url")
    app = create_app({"TESTING": True}, upstream=HttpUpstream(url, RPC_TIMEOUT))
    return ChainUnderTest("anvil", app.test_client(), ANVIL_FUNDED_KEY, ANVIL_CHAIN_ID)


@dataclass
class Probe:
    address: str
    deployment: dict[str, Any]  # receipt
    ping: dict[str, Any]  # receipt of a call that logged Ping()


@pytest.fixture(scope="module")
def probe(chain: ChainUnderTest) -> Probe:
    """The probe contract deployed by a raw transaction, and pinged once."""
    deployment = chain.send_raw(data=PROBE_INIT)
    address = deployment["contractAddress"]
    ping = chain.send_raw(to=Web3.to_checksum_address(address))
    return Probe(address, deployment, ping)


@pytest.fixture
def fake_upstream() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture
def proxy_client(fake_upstream: FakeUpstream):
    """The backend's test client, in front of the fake upstream, with small limits to hit."""
    app = create_app(
        {"TESTING": True, "MAX_BODY_BYTES": 2_000, "MAX_BATCH": 5, "MAX_LOG_BLOCK_RANGE": 100, "MAX_CALL_GAS": 10**6},
        upstream=fake_upstream,
    )
    return app.test_client()


@pytest.fixture
def market() -> MarketHandle:
    """A fresh embedded chain with the market deployed (periods of PERIOD_LENGTH seconds)."""
    return start_embedded_market(PERIOD_LENGTH)


@pytest.fixture
def script(market) -> MarketScript:
    return MarketScript(market)


@pytest.fixture
def operator(market):
    return market.operator


@pytest.fixture
def grid(market):
    return market.grid_key


@pytest.fixture
def wind(script) -> Trader:
    return script.join("wind")


@pytest.fixture
def controllable(script) -> Trader:
    return script.join("controllable")


@pytest.fixture
def ev(script) -> Trader:
    return script.join("ev")


@pytest.fixture
def load(script) -> Trader:
    return script.join("load")


@pytest.fixture
def prosumers(wind, controllable, ev, load) -> list[Trader]:
    return [wind, controllable, ev, load]


@pytest.fixture
def keeper_db(tmp_path) -> str:
    return str(tmp_path / "keeper.sqlite3")


@pytest.fixture
def entrusted(market, keeper_db) -> EntrustedBids:
    return EntrustedBids(keeper_db, market.contract.address)


@pytest.fixture
def keeper(market, entrusted) -> Keeper:
    return Keeper(market, entrusted)


@pytest.fixture
def continuous_book(market):
    """The continuous book deployed beside the market and named by its operator (gate closure at
    the start of each delivery period)."""
    return deploy_book(market.w3, market.operator, market.contract)
