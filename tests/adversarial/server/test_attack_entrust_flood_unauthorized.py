"""Finding 6: /api/entrust took bids from any registered account, authorized or not, up to eight per
account and auction, and the keeper tried them in arrival order: 320 junk bids from 40 accounts
made it miss a real bid in the reveal window, which was then forfeited."""

from dataclasses import dataclass

import pytest
from eth_account import Account

from backend import create_app
from backend.chain import SealedBid, embedded_dev_accounts, transfer
from backend.chain_access import start_embedded_market
from backend.market_api import KEEPER_EXTENSION
from market_script import ETHER, PERIOD_LENGTH, MarketScript, Prosumer, entrust_body

JUNK_ACCOUNTS = 40
JUNK_BIDS_EACH = 8


@dataclass
class Flood:
    script: MarketScript
    keeper: object
    victim: Prosumer
    delivery_period: int
    junk_statuses: list[int]
    victim_status: int


@pytest.fixture(scope="module")
def flood() -> Flood:
    """40 registered but unauthorized accounts entrust 8 junk bids each, then a real bidder its."""
    market = start_embedded_market(PERIOD_LENGTH)
    script = MarketScript(market)
    app = create_app({"TESTING": True, "KEEPER": False, "KEEPER_DB": ":memory:"}, market=market)
    client = app.test_client()
    attacker_funds = embedded_dev_accounts(market.w3)[3]  # anyone's: its key is well known
    junk = []
    for index in range(JUNK_ACCOUNTS):
        key = Account.create()
        with market.lock:
            transfer(market.w3, attacker_funds, key.address, ETHER)
        script.send(market.contract.functions.register(f"junk {index}", True, True), key)
        junk.append(key)
    victim = script.join("wind")
    delivery_period = script.next_auction()
    script.commit(victim)
    statuses = [
        client.post("/api/entrust", json=entrust_body(
            script, Prosumer("junk", key, key, 0, SealedBid(1 + n, 1)), delivery_period)).status_code
        for key in junk
        for n in range(JUNK_BIDS_EACH)
    ]
    victim_status = client.post("/api/entrust", json=entrust_body(script, victim, delivery_period)).status_code
    return Flood(script, app.extensions[KEEPER_EXTENSION], victim, delivery_period, statuses, victim_status)


def test_bids_of_accounts_the_operator_has_not_authorized_are_refused(flood):
    assert (set(flood.junk_statuses), flood.victim_status) == ({403}, 202)


def test_the_keeper_reveals_the_real_bid_first(flood):
    flood.script.to_reveal_window(flood.delivery_period)

    action = flood.keeper.step()

    assert (action.action, action.account, action.outcome) == ("revealFor", flood.victim.address, "sent")
