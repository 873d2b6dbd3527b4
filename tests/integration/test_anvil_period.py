"""A full trading period on a real anvil node; block time jumps ahead instead of being waited for."""

from __future__ import annotations

from eth_account import Account
from integration_period import ANVIL_GRID_KEY, assert_period_cleared_and_settled, run_trading_period
from web3 import Web3

from devnet.nodes import ANVIL_FUNDED_KEY, AnvilTime, anvil
from p2pkit.schedule import Schedule

SCHEDULE = Schedule.scaled(60)


def test_full_period_on_anvil():
    with anvil() as url:
        w3 = Web3(Web3.HTTPProvider(url))
        operator, grid = Account.from_key(ANVIL_FUNDED_KEY), Account.from_key(ANVIL_GRID_KEY)
        outcome = run_trading_period(w3, operator, grid, AnvilTime(w3).wait_until, SCHEDULE, setup_seconds=30)
        assert_period_cleared_and_settled(outcome)
