"""Fixtures for the sister-chain tests: the two chains (anvil nodes with chain ids of their own,
one pair for the session, each test's blocks undone after it), the roles (the operator, who is
the energy company on both chains; relayers; a user; a stranger: anvil's dev accounts, the same
on both chains) and the contracts deployed on both, with the user funded on both chains."""

from __future__ import annotations

import pytest
from eth_account import Account
from sister_support import SCHEDULING_CHAIN_ID, TRADING_CHAIN_ID, USER_FUNDS, deploy_test_pair, revert, snapshot
from web3 import Web3

from devnet.nodes import anvil
from p2pkit.transactions import send

# anvil's default dev accounts: funded with 10,000 ether on every anvil node.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNTS = 10


@pytest.fixture(scope="session")
def anvil_urls():
    with (
        anvil("--chain-id", str(TRADING_CHAIN_ID)) as trading,
        anvil("--chain-id", str(SCHEDULING_CHAIN_ID)) as scheduling,
    ):
        yield trading, scheduling


def _isolated(url: str):
    w3 = Web3(Web3.HTTPProvider(url))
    start = snapshot(w3)
    yield w3
    revert(w3, start)


@pytest.fixture
def trading_w3(anvil_urls):
    yield from _isolated(anvil_urls[0])


@pytest.fixture
def scheduling_w3(anvil_urls):
    yield from _isolated(anvil_urls[1])


@pytest.fixture(scope="session")
def dev_accounts():
    Account.enable_unaudited_hdwallet_features()
    return [
        Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}") for index in range(DEV_ACCOUNTS)
    ]


@pytest.fixture
def operator(dev_accounts):
    return dev_accounts[0]


@pytest.fixture
def relayer(dev_accounts):
    return dev_accounts[1]


@pytest.fixture
def user(dev_accounts):
    return dev_accounts[2]


@pytest.fixture
def stranger(dev_accounts):
    return dev_accounts[3]


@pytest.fixture
def other_relayers(dev_accounts):
    return dev_accounts[4:6]


@pytest.fixture
def pair(trading_w3, scheduling_w3, operator, relayer, user):
    """Both sides, one relayer (1 of 1), rate 1 both ways, 6 confirmations; the user holds
    USER_FUNDS on each chain."""
    deployed = deploy_test_pair(trading_w3, scheduling_w3, operator, [relayer.address])
    for chain in (deployed.trading, deployed.scheduling):
        send(chain.w3, chain.lock.functions.transfer(user.address, USER_FUNDS), operator)
    return deployed
