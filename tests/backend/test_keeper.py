"""The keeper drives a period to its end from the chain alone: reveals entrusted bids, forfeits
unrevealed commits, matches, settles; a keeper restarted at any point finishes without doing
anything twice."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from dataclasses import dataclass

import pytest
from eth_account import Account
from market_script import (
    PERIOD_LENGTH,
    READINGS_WH,
    ROLES,
    MarketScript,
    Trader,
    bid_and_reveal,
    period_with_readings,
    run_keeper,
)

from backend.entrusted import AlreadyEntrusted, EntrustedBids, EntrustOutcome
from backend.keeper import Keeper, KeeperOutcome
from backend.upstreams import open_deployed_market
from devnet.embedded import start_embedded_market
from devnet.nodes import free_port
from p2pkit.bids import EntrustedBid
from p2pkit.events import MarketEventLog
from p2pkit.market import Deployment, MarketParameters, Stage

WAIT_FOR_THREAD = 30.0  # seconds a background keeper gets to do what a test waits for


def book(script, delivery_period):
    """(bid count, matching stage, settled count) of a delivery period's book."""
    with script.market.lock:
        summary = script.contract.functions.bookOf(delivery_period).call()
    return summary.bidCount, Stage(summary.stage), summary.settledCount


def test_period_runs_to_the_end_by_itself(script, prosumers, keeper):
    delivery_period = period_with_readings(script, prosumers, keeper)

    run_keeper(keeper)

    assert book(script, delivery_period) == (4, Stage.DONE, 4)


def test_keeper_signs_with_its_own_key_and_leaves_the_operators_nonce(script, prosumers, market, keeper):
    period_with_readings(script, prosumers, keeper)
    operator_nonce = market.w3.eth.get_transaction_count(market.operator.address)
    keeper_nonce = market.w3.eth.get_transaction_count(market.keeper_key.address)

    run_keeper(keeper)

    assert market.w3.eth.get_transaction_count(market.operator.address) == operator_nonce
    assert market.w3.eth.get_transaction_count(market.keeper_key.address) > keeper_nonce


def test_keeper_clears_the_book_by_the_green_first_rules(script, prosumers, keeper, wind, controllable, ev, load):
    delivery_period = bid_and_reveal(script, prosumers)
    script.to_auction_close(delivery_period)

    run_keeper(keeper)

    ids = {prosumer.name: script.contract.functions.accountOf(prosumer.address).call().id for prosumer in prosumers}
    assert script.trades(delivery_period) == [
        (ids["wind"], ids["ev"], 800, 7 * 10**14),
        (ids["controllable"], ids["load"], 500, 6 * 10**14),
    ]


def test_keeper_settles_each_prosumer_against_its_reading(script, prosumers, keeper):
    delivery_period = period_with_readings(script, prosumers, keeper)

    run_keeper(keeper)

    actual = sorted(settled.args.actualWh for settled in script.events("Settled", delivery_period))
    assert actual == sorted(READINGS_WH.values())


def test_keeper_does_nothing_while_the_auction_is_open(script, prosumers, keeper):
    bid_and_reveal(script, prosumers)

    assert keeper.step() is None


def test_keeper_waits_for_a_missing_reading_while_readings_may_arrive(script, wind, ev, keeper):
    delivery_period = bid_and_reveal(script, [wind, ev])
    script.to_auction_close(delivery_period)
    run_keeper(keeper)
    script.post_reading(ev, delivery_period)  # wind's bid comes first and has no reading
    script.to_settlement(delivery_period)

    assert (keeper.step(), book(script, delivery_period)) == (None, (2, Stage.DONE, 0))


def test_keeper_settles_without_the_reading_once_none_can_arrive(script, wind, ev, keeper):
    delivery_period = bid_and_reveal(script, [wind, ev])
    script.to_auction_close(delivery_period)
    run_keeper(keeper)
    script.post_reading(ev, delivery_period)
    script.to_readings_close(delivery_period)

    run_keeper(keeper)

    assert [settled.args.metered for settled in script.events("Settled", delivery_period)] == [False, True]


def test_keeper_forfeits_a_commit_that_was_never_revealed(script, wind, load, keeper):
    delivery_period = bid_and_reveal(script, [wind, load], revealing=[wind])
    script.to_auction_close(delivery_period)

    run_keeper(keeper)

    parameters = MarketParameters()
    forfeits = [(event.args.account, event.args.amount) for event in script.events("BidForfeited", delivery_period)]
    assert forfeits == [(load.address, parameters.margin * parameters.forfeit_bps // 10_000)]


# ---------------------------------------------------------------------- restarts


@dataclass
class FinishedPeriod:
    script: MarketScript
    delivery_period: int
    traders: list[Trader]
    prosumer_ids: list[int]


def finish_period(tmp_path_factory, *, restart: bool) -> FinishedPeriod:
    """A period on a fresh market run to its end with batches of one step or one bid. With
    `restart`, the keeper is replaced by a new one (same chain and database) after one
    matching batch and again after one settlement batch."""
    market = start_embedded_market(PERIOD_LENGTH)
    script = MarketScript(market)
    prosumers = [script.join(name) for name in ROLES]
    keeper_db = str(tmp_path_factory.mktemp("keeper") / "keeper.sqlite3")

    def new_keeper() -> Keeper:
        return Keeper(market, EntrustedBids(keeper_db, market.contract.address), batch=1)

    keeper = new_keeper()
    delivery_period = bid_and_reveal(script, prosumers)
    script.to_auction_close(delivery_period)
    if restart:
        keeper.step()
        assert book(script, delivery_period)[1] != Stage.DONE, "the restart must come mid-matching"
        keeper = new_keeper()
    run_keeper(keeper)
    for prosumer in prosumers:
        script.post_reading(prosumer, delivery_period)
    script.to_settlement(delivery_period)
    if restart:
        keeper.step()
        keeper = new_keeper()
    run_keeper(keeper)
    ids = [script.contract.functions.accountOf(prosumer.address).call().id for prosumer in prosumers]
    return FinishedPeriod(script, delivery_period, prosumers, ids)


@pytest.fixture(scope="module")
def restarted(tmp_path_factory) -> FinishedPeriod:
    return finish_period(tmp_path_factory, restart=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> FinishedPeriod:
    return finish_period(tmp_path_factory, restart=False)


def test_restarted_keeper_completes_matching_once(restarted):
    assert len(restarted.script.events("MatchingCompleted", restarted.delivery_period)) == 1


def test_restarted_keeper_completes_settlement_once(restarted):
    assert len(restarted.script.events("SettlementCompleted", restarted.delivery_period)) == 1


def test_restarted_keeper_settles_every_bid_once(restarted):
    settled = restarted.script.events("Settled", restarted.delivery_period)

    assert sorted(event.args.prosumerId for event in settled) == sorted(restarted.prosumer_ids)


def test_restarted_keeper_conserves_money(restarted):
    wallets, deposited_less_withdrawn = restarted.script.wallets_and_totals()

    assert wallets == deposited_less_withdrawn


def test_restarted_keeper_makes_the_trades_of_an_uninterrupted_one(restarted, uninterrupted):
    assert restarted.script.trades(restarted.delivery_period) == uninterrupted.script.trades(
        uninterrupted.delivery_period
    )


def test_keeper_started_after_a_period_is_done_leaves_it_and_does_the_next(tmp_path_factory, tmp_path):
    done = finish_period(tmp_path_factory, restart=False)
    next_period = bid_and_reveal(done.script, done.traders)
    done.script.to_auction_close(next_period)
    market = done.script.market
    late = Keeper(market, EntrustedBids(str(tmp_path / "late.sqlite3"), market.contract.address))

    actions = run_keeper(late)

    assert [(action.action, action.delivery_period, action.outcome) for action in actions] == [
        ("matchBids", next_period, KeeperOutcome.SENT)
    ]


class FrozenEventLog(MarketEventLog):
    """An event log that stops reading the chain once frozen: a keeper with it acts on an old
    view, like one that sent a transaction before another keeper's was mined."""

    frozen = False

    def sync(self, block_number: int) -> None:
        if not self.frozen:
            super().sync(block_number)


def test_matching_already_completed_is_a_harmless_refusal(script, prosumers, market, entrusted):
    delivery_period = bid_and_reveal(script, prosumers)
    script.to_auction_close(delivery_period)
    stale_view = FrozenEventLog(market, 10_000)
    stale_view.sync(market.w3.eth.block_number)
    stale_view.frozen = True
    run_keeper(Keeper(market, entrusted))
    behind = Keeper(market, entrusted, events=stale_view)

    action = behind.step()

    assert (action.action, action.outcome, action.detail, behind.status()["failures"]) == (
        "matchBids",
        KeeperOutcome.ALREADY_DONE,
        "MatchingComplete",
        [],
    )


# ---------------------------------------------------------------------- entrusted bids


def entrust(store: EntrustedBids, prosumer, delivery_period, *, salt: bytes | None = None) -> EntrustedBid:
    bid = EntrustedBid(
        prosumer.address, delivery_period, prosumer.bid.quantity_wh, prosumer.bid.price, salt or prosumer.bid.salt
    )
    store.add(bid)
    return bid


def last_outcome(store: EntrustedBids, bid: EntrustedBid) -> str | None:
    return store.outcomes(bid.bidder)[-1]["outcome"]


def test_entrusted_bid_is_revealed_in_the_reveal_window(script, wind, controllable, keeper, entrusted):
    delivery_period = bid_and_reveal(script, [wind, controllable], revealing=[wind])
    entrust(entrusted, controllable, delivery_period)

    run_keeper(keeper)

    revealed = [event.args.account for event in script.events("BidRevealed", delivery_period)]
    assert revealed == [wind.address, controllable.address]


def test_entrusted_bid_records_its_reveal(script, controllable, keeper, entrusted):
    delivery_period = bid_and_reveal(script, [controllable], revealing=[])
    bid = entrust(entrusted, controllable, delivery_period)

    run_keeper(keeper)

    assert last_outcome(entrusted, bid) == EntrustOutcome.REVEALED


def test_entrusted_bid_with_a_wrong_salt_is_reported_as_commitment_mismatch(script, controllable, keeper, entrusted):
    delivery_period = bid_and_reveal(script, [controllable], revealing=[])
    entrust(entrusted, controllable, delivery_period, salt=b"\x01" * 32)

    run_keeper(keeper)

    failure = keeper.status()["failures"][-1]
    assert (failure["action"], failure["error"], failure["account"]) == (
        "revealFor",
        "CommitmentMismatch",
        controllable.address,
    )


def test_entrusted_bid_with_a_wrong_salt_changes_nothing(script, controllable, keeper, entrusted):
    delivery_period = bid_and_reveal(script, [controllable], revealing=[])
    before = script.contract.functions.accountOf(controllable.address).call()
    bid = entrust(entrusted, controllable, delivery_period, salt=b"\x01" * 32)

    run_keeper(keeper)

    after = script.contract.functions.accountOf(controllable.address).call()
    assert (after, script.events("BidRevealed", delivery_period), last_outcome(entrusted, bid)) == (
        before,
        [],
        EntrustOutcome.REFUSED,
    )


def test_wrong_entrusted_bid_does_not_stop_anothers(script, wind, controllable, keeper, entrusted):
    delivery_period = bid_and_reveal(script, [wind, controllable], revealing=[])
    entrust(entrusted, wind, delivery_period, salt=b"\x01" * 32)
    entrust(entrusted, controllable, delivery_period)

    run_keeper(keeper)

    assert [event.args.account for event in script.events("BidRevealed", delivery_period)] == [controllable.address]


def test_entrusted_bid_without_a_commitment_is_refused_without_a_transaction(
    script, wind, controllable, keeper, entrusted
):
    delivery_period = bid_and_reveal(script, [controllable], revealing=[])
    bid = entrust(entrusted, wind, delivery_period)

    actions = run_keeper(keeper)

    assert (last_outcome(entrusted, bid), [action.account for action in actions if action.action == "revealFor"]) == (
        EntrustOutcome.REFUSED,
        [],
    )


def test_entrusted_bid_refusal_is_reported_without_its_arguments(script, controllable, keeper, entrusted):
    delivery_period = bid_and_reveal(script, [controllable], revealing=[])
    bid = entrust(entrusted, controllable, delivery_period, salt=b"\x01" * 32)

    run_keeper(keeper)

    failure = keeper.status()["failures"][-1]
    assert (failure["message"], entrusted.outcomes(bid.bidder)[-1]["detail"]) == (
        "refused by the contract: CommitmentMismatch",
        "CommitmentMismatch",
    )


def test_entrusted_bid_its_owner_revealed_is_not_needed(script, controllable, keeper, entrusted):
    delivery_period = bid_and_reveal(script, [controllable])
    bid = entrust(entrusted, controllable, delivery_period)

    run_keeper(keeper)

    assert last_outcome(entrusted, bid) == EntrustOutcome.NOT_NEEDED


def test_entrusted_bids_survive_a_restart(market, keeper_db, controllable):
    entrust(EntrustedBids(keeper_db, market.contract.address), controllable, 7)

    reopened = EntrustedBids(keeper_db, market.contract.address)

    assert [bid.bidder for bid in reopened.untried(7)] == [controllable.address]


def test_the_same_bid_entrusted_twice_is_kept_once(entrusted, controllable):
    bid = EntrustedBid(controllable.address, 7, 700, 5 * 10**14, b"\x02" * 32)

    assert [entrusted.add(bid), entrusted.add(bid), len(entrusted.untried(7))] == [True, False, 1]


def test_a_second_bid_for_the_same_auction_is_refused(entrusted, controllable):
    entrusted.add(EntrustedBid(controllable.address, 7, 700, 5 * 10**14, b"\x01" * 32))

    with pytest.raises(AlreadyEntrusted):
        entrusted.add(EntrustedBid(controllable.address, 7, 700, 5 * 10**14, b"\x02" * 32))


def test_a_bid_for_the_next_auction_is_kept_beside_this_ones(entrusted, controllable):
    for delivery_period in (7, 8):
        entrusted.add(EntrustedBid(controllable.address, delivery_period, 700, 5 * 10**14, b"\x01" * 32))

    assert [len(entrusted.untried(7)), len(entrusted.untried(8))] == [1, 1]


OLD_ENTRUSTED_BIDS_TABLE = """CREATE TABLE entrusted_bids (
    id INTEGER PRIMARY KEY, market TEXT NOT NULL, bidder TEXT NOT NULL, delivery_period INTEGER NOT NULL,
    quantity_wh INTEGER NOT NULL, price TEXT NOT NULL, salt BLOB NOT NULL, entrusted_at REAL NOT NULL,
    outcome TEXT, detail TEXT, UNIQUE (market, bidder, delivery_period, quantity_wh, price, salt))"""


def test_a_store_that_kept_several_bids_per_auction_keeps_the_first(keeper_db, controllable):
    with sqlite3.connect(keeper_db) as old:
        old.execute(OLD_ENTRUSTED_BIDS_TABLE)
        for salt in (b"\x01" * 32, b"\x02" * 32):
            old.execute(
                "INSERT INTO entrusted_bids (market, bidder, delivery_period, quantity_wh, price, salt, entrusted_at)"
                " VALUES (?, ?, 7, 700, '500', ?, 0)",
                ("0x" + "11" * 20, controllable.address, salt),
            )

    reopened = EntrustedBids(keeper_db, "0x" + "11" * 20)

    assert [bid.salt for bid in reopened.untried(7)] == [b"\x01" * 32]


def test_the_store_file_is_readable_by_its_owner_only(keeper_db, market):
    EntrustedBids(keeper_db, market.contract.address)

    assert stat.S_IMODE(os.stat(keeper_db).st_mode) == 0o600


# ---------------------------------------------------------------------- in the background


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_FOR_THREAD
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"the background keeper did not {what} within {WAIT_FOR_THREAD:.0f} s")
        time.sleep(0.05)


def test_started_keeper_matches_a_closed_auction_on_its_own(script, prosumers, market, entrusted):
    delivery_period = bid_and_reveal(script, prosumers)
    keeper = Keeper(market, entrusted, poll_interval=0.05)
    keeper.start()
    try:
        script.to_auction_close(delivery_period)
        # The keeper records its action once the receipt is back, a moment after the block.
        wait_until(lambda: keeper.status()["actions"], "finish matching")
        sent = [(action["action"], action["delivery_period"]) for action in keeper.status()["actions"]]
    finally:
        keeper.stop()

    assert (sent, book(script, delivery_period)) == ([("matchBids", delivery_period)], (4, Stage.DONE, 0))


@pytest.fixture
def unused_node_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def operator_of_a_node_that_is_down():
    return Account.create()


@pytest.fixture
def market_on_a_node_that_is_down(tmp_path, unused_node_url, operator_of_a_node_that_is_down):
    """A market named by a deployment file on a node nobody runs, with the operator's key only."""
    operator = operator_of_a_node_that_is_down
    deployment_file = tmp_path / "deployment.json"
    Deployment(chain_id=1, market="0x" + "11" * 20, operator=operator.address, grid="0x" + "22" * 20, block=0).save(
        deployment_file
    )
    return open_deployed_market(unused_node_url, deployment_file, 0.5, operator)


def test_keeper_whose_node_is_down_reports_it_and_keeps_trying(market_on_a_node_that_is_down):
    market = market_on_a_node_that_is_down
    keeper = Keeper(market, EntrustedBids(":memory:", market.contract.address), poll_interval=0.05)
    keeper.start()
    try:
        wait_until(lambda: keeper.status()["consecutive_failures"] >= 2, "report two failures")
        status = keeper.status()
    finally:
        keeper.stop()

    assert (status["running"], status["failures"][-1]["error"]) == (True, "ConnectionError")


def test_keeper_without_a_key_of_its_own_signs_as_the_operator(
    market_on_a_node_that_is_down, operator_of_a_node_that_is_down
):
    market = market_on_a_node_that_is_down

    keeper = Keeper(market, EntrustedBids(":memory:", market.contract.address))

    assert keeper.status()["account"] == operator_of_a_node_that_is_down.address
