"""Fixtures for the sister-chain tests: two embedded chains with their own chain ids, the roles
(the operator, who is the energy company on both chains; relayers; a user; a stranger) and the
contracts deployed on both, with the user funded on both chains."""
from __future__ import annotations

import pytest
from sister_support import SCHEDULING_CHAIN_ID, TRADING_CHAIN_ID, USER_FUNDS, deploy_test_pair

from backend.chain import embedded_dev_accounts, send
from devnet.embedded import embedded_chain


@pytest.fixture
def trading_w3():
    return embedded_chain(TRADING_CHAIN_ID)


@pytest.fixture
def scheduling_w3():
    return embedded_chain(SCHEDULING_CHAIN_ID)


@pytest.fixture
def dev_accounts(trading_w3):
    return embedded_dev_accounts(trading_w3)


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
