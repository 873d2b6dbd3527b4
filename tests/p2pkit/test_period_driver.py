"""The period driver on a real market (embedded chain): a whole period from commit to
settlement, hints for reveals sent together, settlement that waits for a missing reading, and a
refused call that sends nothing."""

from __future__ import annotations

import pytest
from web3.logs import DISCARD

from p2pkit.bids import QueuedBid, SealedBid, reveal_order_hints
from p2pkit.market import Stage
from p2pkit.period import Bid, Reading
from p2pkit.transactions import ContractRefused

E12 = 10**12  # the paper's 0.700e-3 ether/kWh is 700 * E12 wei/kWh


@pytest.fixture
def paper_book(enrol):
    """The paper's 14:00 book: wind and a controllable source sell, an EV charger and a load buy."""
    bids = [
        (enrol("wind", True, True), 430, 700 * E12),
        (enrol("controllable source", True, False), 120, 734 * E12),
        (enrol("EV charger", False, True), 250, 786 * E12),
        (enrol("ordinary load", False, False), 1020, 824 * E12),
    ]
    return [Bid(prosumer, SealedBid(wh, price)) for prosumer, wh, price in bids]


def trades(driver, bids, receipts):
    names = {driver.account(bid.prosumer.address).id: bid.prosumer.name for bid in bids}
    events = [e for r in receipts for e in driver.contract.events.Trade().process_receipt(r, errors=DISCARD)]
    return [(names[e.args.sellerId], names[e.args.buyerId], e.args.quantityWh) for e in events]


def test_a_whole_period_clears_the_papers_book_and_settles_every_reading(driver, paper_book):
    readings = [Reading(b.prosumer.meter, b.prosumer.meter_number, b.sealed.quantity_wh) for b in paper_book]

    outcome = driver.run(paper_book, readings)

    book = driver.book(outcome.delivery_period)
    assert trades(driver, paper_book, outcome.matching) == [
        ("wind", "EV charger", 250),
        ("wind", "ordinary load", 180),
        ("controllable source", "ordinary load", 120),
    ]
    assert (Stage(book.stage), book.settledCount, book.bidCount) == (Stage.DONE, 4, 4)
    assert driver.ledger().conserved


def test_reveal_order_hints_are_what_the_chain_answers_before_each_reveal(driver, enrol):
    sellers = [enrol(f"seller {i}", True, False) for i in range(4)]
    bids = [Bid(seller, SealedBid(100, price * E12)) for seller, price in zip(sellers, (700, 500, 700, 600))]
    delivery = driver.next_auction()
    driver.commit(bids)
    driver.wait_until(driver.schedule.reveal_opens(delivery))

    local = reveal_order_hints([QueuedBid(True, False, b.sealed.price) for b in bids])
    chain = []
    for b in bids:
        chain.append(driver.hint(delivery, True, False, b.sealed.price))
        driver.reveal([b], delivery)

    assert local == chain == [0, 0, 1, 2]


def test_settlement_waits_for_a_missing_reading_instead_of_spinning(driver, paper_book):
    delivery = driver.next_auction()
    driver.commit(paper_book)
    driver.wait_until(driver.schedule.reveal_opens(delivery))
    driver.reveal(paper_book, delivery)
    driver.wait_until(driver.schedule.auction_closes(delivery))
    driver.match(delivery)
    driver.wait_until(driver.schedule.settlement_opens(delivery))

    receipts = driver.settle(delivery)  # the first bid's reading is missing

    assert (len(receipts), driver.book(delivery).settledCount) == (1, 0)


def test_a_refused_commit_raises_by_name_and_sends_nothing(driver, market, enrol):
    wind = enrol("wind", True, True)
    nonce = market.w3.eth.get_transaction_count(wind.address)
    driver.wait_until(driver.schedule.reveal_opens(driver.auction_delivery_period()))  # commit window over

    with pytest.raises(ContractRefused) as refused:
        driver.commit([Bid(wind, SealedBid(100, 700 * E12))])

    assert (refused.value.name, market.w3.eth.get_transaction_count(wind.address)) == ("WrongPhase", nonce)
