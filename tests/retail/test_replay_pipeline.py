"""The week replay's pipeline on a node: a step's transactions go out in JSON-RPC batches, and one
the contract refuses is recorded under its error's name while the rest of its batch is sent."""

import sys
from pathlib import Path

import pytest
from eth_account import Account

from devnet.nodes import anvil
from p2pkit.market import deploy_market

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import replay_contracts

GAS_MONEY = 10**17


@pytest.fixture(scope="module")
def node():
    with anvil("--block-time", "1") as url:
        yield replay_contracts.Node(url)


@pytest.fixture(scope="module")
def market(node):
    funder = node.funder()
    return deploy_market(node.w3, funder, Account.create().address), funder


@pytest.fixture
def pipe(node):
    pipeline = replay_contracts.Pipeline(node)
    yield pipeline
    pipeline.close()


def test_a_refused_transaction_is_recorded_by_name_and_its_batch_goes_on(market, pipe):
    contract, funder = market
    registered, first, second = Account.create(), Account.create(), Account.create()
    pipe.fresh(registered, first, second)
    for account in (registered, first, second):
        pipe.send("setup", "transfer", funder, to=account.address, value=GAS_MONEY)
    pipe.wait()
    pipe.send("setup", "register", registered, contract.functions.register("a", False, False))
    pipe.wait()

    for account in (registered, first, second):
        pipe.send("day 1", "register", account, contract.functions.register("b", False, False))
    succeeded = pipe.wait()

    step = [s for s in pipe.sent if s.row == "day 1"]
    assert len(step) == 3
    refused = [s for s in step if not s.ok]
    assert len(refused) == 1 and refused[0].reason.startswith("refused: AlreadyRegistered(")
    assert {s.tx_hash for s in succeeded} == {s.tx_hash for s in step if s.ok} and len(succeeded) == 2
    assert all(s.latency is not None and s.latency >= 0 for s in succeeded)
    assert all(contract.functions.accountOf(a.address).call().id for a in (first, second))


def test_events_of_a_step_are_read_from_its_blocks(market, pipe):
    contract, funder = market
    accounts = [Account.create() for _ in range(3)]
    pipe.fresh(*accounts)
    for account in accounts:
        pipe.send("setup", "transfer", funder, to=account.address, value=GAS_MONEY)
    pipe.wait()
    for account in accounts:
        pipe.send("day 2", "register", account, contract.functions.register("c", True, False))
    events = pipe.events(contract.events.Registered, pipe.wait())
    assert sorted(e["account"] for e in events) == sorted(a.address for a in accounts)


@pytest.mark.parametrize("data", ["0x", "0x" + "ab" * 68])
def test_a_transaction_is_signed_to_the_same_bytes_as_eth_account(data):
    signer, to = Account.create(), Account.create().address
    tx = {"to": to, "value": 12345, "gas": 90_000, "gasPrice": 10**10, "nonce": 7, "chainId": 20645, "data": data}
    assert replay_contracts.sign_legacy(signer, tx) == bytes(signer.sign_transaction(tx).raw_transaction)


def test_a_step_larger_than_the_pool_window_is_sent_as_blocks_take_it_and_none_is_lost(node, market):
    _, funder = market
    narrow = replay_contracts.Pipeline(node, in_flight=2, batch=1)
    try:
        accounts = [Account.create() for _ in range(7)]
        for account in accounts:
            narrow.send("setup", "transfer", funder, to=account.address, value=1)
        succeeded = narrow.wait()
    finally:
        narrow.close()
    assert len(succeeded) == len(narrow.sent) == 7
    assert len({s.block for s in succeeded}) >= 3  # two at a time, a block each at least
    assert all(node.w3.eth.get_balance(a.address) == 1 for a in accounts)
