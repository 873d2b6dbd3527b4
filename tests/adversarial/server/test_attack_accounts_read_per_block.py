"""/api/accounts read every account's record from the chain at every new block, one
call each: with many accounts a client polling it kept the chain busy. A record is now read again
only when an event since says it changed."""

from typing import ClassVar

import pytest
from market_script import ETHER, registered_accounts
from web3 import Web3
from web3.middleware import Web3Middleware

from backend import create_app

ACCOUNTS = 30
ACCOUNT_OF = Web3.keccak(text="accountOf(address)")[:4].to_0x_hex()


class CallLog(Web3Middleware):
    """Keeps the selector of every eth_call the backend makes."""

    selectors: ClassVar[list[str]] = []  # web3 makes a middleware per request: one log for all

    def request_processor(self, method, params):
        if method == "eth_call":
            data = params[0]["data"]
            CallLog.selectors.append((data if isinstance(data, str) else Web3.to_hex(data))[:10])
        return method, params


@pytest.fixture
def registered(script):
    return registered_accounts(script, ACCOUNTS)


def test_a_new_block_rereads_only_the_accounts_it_changed(market, script, registered):
    client = create_app({"TESTING": True, "KEEPER": False, "KEEPER_DB": ":memory:"}, market=market).test_client()
    client.get("/api/accounts")
    market.w3.middleware_onion.add(CallLog, name="call log")
    script.send(market.contract.functions.deposit(), registered[0], value=ETHER // 2)

    CallLog.selectors.clear()
    accounts = client.get("/api/accounts").get_json()["accounts"]

    assert (len(accounts), CallLog.selectors.count(ACCOUNT_OF)) == (ACCOUNTS + 1, 2)  # the depositor and the grid
