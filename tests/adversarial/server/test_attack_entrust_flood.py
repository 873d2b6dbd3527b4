"""/api/entrust took bids from any registered account, authorized or not, up to eight per
account and auction, and the keeper tried them in arrival order, each on the chain: 320 junk bids
from 40 accounts made it miss a real bid in the reveal window, which was then forfeited. Now only
authorized prosumers entrust, one bid per auction each, and the keeper passes over a bid whose
bidder made no commitment without asking the chain."""

from dataclasses import dataclass

import pytest
from market_script import PERIOD_LENGTH, MarketScript, Trader, entrust_body, registered_accounts

from backend import create_app, keeper_of
from devnet.embedded import start_embedded_market
from p2pkit.bids import SealedBid
from p2pkit.period import Prosumer

JUNK_ACCOUNTS = 40
JUNK_BIDS_EACH = 8


@dataclass
class Flood:
    script: MarketScript
    keeper: object
    victim: Trader
    delivery_period: int
    statuses_per_account: list[list[int]]  # of the junk bids
    victim_status: int


def flood(junk_accounts) -> Flood:
    """`junk_accounts(script)` entrust 8 junk bids each, none committed; then a real
    bidder, which committed, entrusts its bid."""
    market = start_embedded_market(PERIOD_LENGTH)
    script = MarketScript(market)
    app = create_app({"TESTING": True, "KEEPER": False, "KEEPER_DB": ":memory:"}, market=market)
    client = app.test_client()
    junk = junk_accounts(script)
    victim = script.join("wind")
    # An embedded block is dated no earlier than the wall clock: ten periods ahead of it, the
    # auction keeps its phases however long the flood takes to make on a loaded machine.
    script.travel_to(script.time.now() + 10 * PERIOD_LENGTH)
    delivery_period = script.next_auction()
    script.commit(victim)
    statuses = [
        [
            client.post(
                "/api/entrust",
                json=entrust_body(
                    script, Trader(Prosumer("junk", True, True, key, key, 0), SealedBid(1 + n, 1)), delivery_period
                ),
            ).status_code
            for n in range(JUNK_BIDS_EACH)
        ]
        for key in junk
    ]
    victim_status = client.post("/api/entrust", json=entrust_body(script, victim, delivery_period)).status_code
    return Flood(script, keeper_of(app), victim, delivery_period, statuses, victim_status)


def registered_only(script):
    return registered_accounts(script, JUNK_ACCOUNTS)


def authorized(script):
    return [script.join("load").key for _ in range(JUNK_ACCOUNTS)]


@pytest.fixture(scope="module")
def unauthorized_flood() -> Flood:
    return flood(registered_only)


@pytest.fixture(scope="module")
def authorized_flood() -> Flood:
    return flood(authorized)


def test_bids_of_accounts_the_operator_has_not_authorized_are_refused(unauthorized_flood):
    flooded = unauthorized_flood
    assert ({status for statuses in flooded.statuses_per_account for status in statuses}, flooded.victim_status) == (
        {403},
        202,
    )


def test_the_keeper_reveals_the_real_bid_first_after_an_unauthorized_flood(unauthorized_flood):
    assert_real_bid_revealed_first(unauthorized_flood)


def test_an_authorized_bidder_keeps_one_entrusted_bid_per_auction(authorized_flood):
    kept = {tuple(statuses) for statuses in authorized_flood.statuses_per_account}
    assert (kept, authorized_flood.victim_status) == ({(202,) + (409,) * (JUNK_BIDS_EACH - 1)}, 202)


def test_the_keeper_reveals_the_real_bid_first_after_an_authorized_flood(authorized_flood):
    assert_real_bid_revealed_first(authorized_flood)


def assert_real_bid_revealed_first(flooded: Flood) -> None:
    flooded.script.to_reveal_window(flooded.delivery_period)

    action = flooded.keeper.step()

    assert (action.action, action.account, action.outcome) == ("revealFor", flooded.victim.address, "sent")
