"""The keeper opens the continuous window of every delivery period: it completes the auction's
matching as soon as the auction closes and brings the leftovers into the continuous book, from
the chain alone, so a restarted keeper opens the book once."""

from __future__ import annotations

from market_script import bid_and_reveal, run_keeper

from backend.entrusted import EntrustedBids
from backend.keeper import Keeper, KeeperOutcome
from p2pkit.continuous import resting_orders
from p2pkit.market import Stage


def book_state(book):
    state = book.functions.book().call()
    return state.deliveryPeriod, state.open


def opened_events(book, delivery_period):
    return book.events.BookOpened().get_logs(from_block=0, argument_filters={"deliveryPeriod": delivery_period})


def test_keeper_opens_the_book_once_the_auction_closes(script, prosumers, continuous_book, keeper):
    delivery_period = bid_and_reveal(script, prosumers)
    script.to_auction_close(delivery_period)

    run_keeper(keeper)

    assert book_state(continuous_book) == (delivery_period, True)


def test_keeper_brings_the_auctions_leftovers_into_the_book(script, prosumers, continuous_book, keeper):
    delivery_period = bid_and_reveal(script, prosumers)
    script.to_auction_close(delivery_period)

    run_keeper(keeper)

    # wind sold 800 of 1000 Wh at 6e14, controllable 500 of 700 at 5e14: both rest as asks.
    asks = [(order.remainingWh, order.price) for _, order in resting_orders(continuous_book, True)]
    assert (asks, resting_orders(continuous_book, False)) == ([(200, 5 * 10**14), (200, 6 * 10**14)], [])


def test_keeper_opens_the_window_of_a_period_without_bids(script, continuous_book, keeper):
    delivery_period = script.next_auction()
    script.to_auction_close(delivery_period)

    actions = run_keeper(keeper)

    assert [(action.action, action.outcome) for action in actions] == [
        ("matchBids", KeeperOutcome.SENT),
        ("openBook", KeeperOutcome.SENT),
    ]
    assert book_state(continuous_book) == (delivery_period, True)


def test_keeper_does_not_open_the_book_before_the_auction_closes(script, prosumers, continuous_book, keeper):
    bid_and_reveal(script, prosumers)

    assert (keeper.step(), book_state(continuous_book)[1]) == (None, False)


def test_keeper_without_a_book_leaves_a_period_without_bids_alone(script, keeper):
    delivery_period = script.next_auction()
    script.to_auction_close(delivery_period)

    assert (keeper.step(), script.driver.book(delivery_period).stage) == (None, Stage.GREEN_PASS)


def test_restarted_keeper_opens_the_book_once(script, prosumers, continuous_book, market, keeper_db):
    delivery_period = bid_and_reveal(script, prosumers)
    script.to_auction_close(delivery_period)
    first = Keeper(market, EntrustedBids(keeper_db, market.contract.address), batch=1)
    while (action := first.step()) is not None and action.action != "openBook":
        pass
    assert book_state(continuous_book) == (delivery_period, False), "the restart must come mid-opening"

    run_keeper(Keeper(market, EntrustedBids(keeper_db, market.contract.address), batch=1))

    assert (len(opened_events(continuous_book, delivery_period)), book_state(continuous_book)) == (
        1,
        (delivery_period, True),
    )
