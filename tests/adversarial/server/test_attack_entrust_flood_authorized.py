"""Finding 6, by authorized accounts: each could hold eight entrusted bids per auction, and the
keeper tried every one in arrival order, on the chain. Now each bidder keeps one bid per auction,
and the keeper passes over a bid whose bidder made no commitment without asking the chain."""

from dataclasses import dataclass

import pytest

from backend import create_app
from backend.chain import SealedBid
from backend.chain_access import start_embedded_market
from backend.market_api import KEEPER_EXTENSION
from market_script import PERIOD_LENGTH, MarketScript, Prosumer, entrust_body

JUNK_ACCOUNTS = 40
JUNK_BIDS_EACH = 8


@dataclass
class Flood:
    script: MarketScript
    keeper: object
    victim: Prosumer
    delivery_period: int
    statuses_per_account: list[list[int]]


@pytest.fixture(scope="module")
def flood() -> Flood:
    """40 authorized prosumers that made no commitment entrust 8 bids each, then a real bidder its."""
    market = start_embedded_market(PERIOD_LENGTH)
    script = MarketScript(market)
    app = create_app({"TESTING": True, "KEEPER": False, "KEEPER_DB": ":memory:"}, market=market)
    client = app.test_client()
    junk = [script.join("load") for _ in range(JUNK_ACCOUNTS)]
    victim = script.join("wind")
    delivery_period = script.next_auction()
    script.commit(victim)
    statuses = [
        [
            client.post("/api/entrust", json=entrust_body(
                script, Prosumer("junk", account.key, account.meter, 0, SealedBid(1 + n, 1)), delivery_period)).status_code
            for n in range(JUNK_BIDS_EACH)
        ]
        for account in junk
    ]
    assert client.post("/api/entrust", json=entrust_body(script, victim, delivery_period)).status_code == 202
    return Flood(script, app.extensions[KEEPER_EXTENSION], victim, delivery_period, statuses)


def test_a_bidder_keeps_one_entrusted_bid_per_auction(flood):
    assert {tuple(statuses) for statuses in flood.statuses_per_account} == {(202,) + (409,) * (JUNK_BIDS_EACH - 1)}


def test_the_keeper_reveals_the_real_bid_first(flood):
    flood.script.to_reveal_window(flood.delivery_period)

    action = flood.keeper.step()

    assert (action.action, action.account, action.outcome) == ("revealFor", flood.victim.address, "sent")
