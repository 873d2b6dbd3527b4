"""The green-first double auction: the spec's worked example, green priority, ties,
affordability cuts, batching, and every refusal of commit, reveal and matching."""

import ape
import pytest
from conftest import MILLI_ETHER, PARAMETERS, assert_conserved

KWH = 1000  # Wh


def trades_of(receipt, market):
    return [
        (int(log.sellerId), int(log.buyerId), int(log.quantityWh), int(log.price))
        for log in receipt.events.filter(market.Trade)
    ]


def ids(market, *accounts):
    return [market.accountOf(a).id for a in accounts]


def test_worked_example_of_the_spec(market, enroll, auction):
    s1, s2 = enroll("S1", True, False), enroll("S2", True, False)
    b1, b2 = enroll("B1", False, False), enroll("B2", False, False)
    receipt = auction.run_period(
        [
            (s1, 100 * KWH, 10 * MILLI_ETHER),
            (s2, 50 * KWH, 30 * MILLI_ETHER),
            (b1, 80 * KWH, 40 * MILLI_ETHER),
            (b2, 60 * KWH, 20 * MILLI_ETHER),
        ]
    )
    s1_id, b1_id, b2_id = ids(market, s1, b1, b2)
    assert trades_of(receipt, market) == [
        (s1_id, b1_id, 80 * KWH, 25 * MILLI_ETHER),
        (s1_id, b2_id, 20 * KWH, 15 * MILLI_ETHER),
    ]
    assert_conserved(market)


def test_green_pass_runs_before_the_full_pass(market, prosumers, auction):
    p = prosumers
    # The non-green load bids highest, but wind (green) sells to the EV (green) first.
    receipt = auction.run_period(
        [
            (p.wind, 1 * KWH, 20 * MILLI_ETHER),
            (p.controllable, 1 * KWH, 10 * MILLI_ETHER),
            (p.ev, 1 * KWH, 30 * MILLI_ETHER),
            (p.load, 1 * KWH, 50 * MILLI_ETHER),
        ]
    )
    wind, controllable, ev, load = ids(market, *p.all())
    assert trades_of(receipt, market) == [
        (wind, ev, KWH, 25 * MILLI_ETHER),
        (controllable, load, KWH, 30 * MILLI_ETHER),
    ]


def test_equal_prices_go_in_reveal_order(market, enroll, auction):
    registered_first, revealed_first = enroll("early id", True, False), enroll("early reveal", True, False)
    buyer = enroll("buyer", False, False)
    receipt = auction.run_period(
        [  # revealed in this order
            (revealed_first, 1 * KWH, 10 * MILLI_ETHER),
            (buyer, 1 * KWH, 10 * MILLI_ETHER),
            (registered_first, 1 * KWH, 10 * MILLI_ETHER),
        ]
    )
    assert trades_of(receipt, market) == [(*ids(market, revealed_first, buyer), KWH, 10 * MILLI_ETHER)]


def test_buyer_is_cut_to_what_it_can_afford_and_leaves(market, operator, enroll, auction):
    seller = enroll("seller", True, False)
    # Spendable 2 milli-ether above the 1 milli-ether margin: affordable at reveal (2 kWh @ 1).
    buyer = enroll("buyer", False, False, deposit=3 * MILLI_ETHER)
    other = enroll("other buyer", False, False)
    auction.clock.move_to(0, "commit")
    auction.commit(seller, 10 * KWH, 1 * MILLI_ETHER)
    auction.commit(buyer, 2 * KWH, 1 * MILLI_ETHER)
    auction.commit(other, 10 * KWH, 1 * MILLI_ETHER)
    auction.clock.move_to(0, "reveal")
    for account in (seller, buyer, other):
        auction.reveal(account)
    # Between reveal and matching the buyer withdraws, leaving 1 milli-ether it may spend.
    auction.market.withdraw(1 * MILLI_ETHER, sender=buyer)
    auction.clock.move_to(0, "matching")
    receipt = auction.market.matchBids(1, 100, sender=auction.keeper)
    seller_id, buyer_id, other_id = ids(market, seller, buyer, other)
    assert trades_of(receipt, market) == [
        (seller_id, buyer_id, 1 * KWH, 1 * MILLI_ETHER),
        (seller_id, other_id, 9 * KWH, 1 * MILLI_ETHER),
    ]
    assert [int(log.buyerId) for log in receipt.events.filter(market.BuyerCut)] == [buyer_id]
    assert market.accountOf(buyer).wallet == 1 * MILLI_ETHER  # exactly the margin is left
    assert_conserved(market)


def test_matching_in_batches_gives_the_same_trades(market, enroll, auction):
    sellers = [enroll(f"s{i}", True, i % 2 == 0) for i in range(3)]
    buyers = [enroll(f"b{i}", False, i % 2 == 1) for i in range(3)]
    bids = [(s, (i + 1) * KWH, (10 + i) * MILLI_ETHER) for i, s in enumerate(sellers)]
    bids += [(b, (3 - i) * KWH, (20 - i) * MILLI_ETHER) for i, b in enumerate(buyers)]
    auction.clock.move_to(0, "commit")
    for account, wh, price in bids:
        auction.commit(account, wh, price)
    auction.clock.move_to(0, "reveal")
    for account, _, _ in bids:
        auction.reveal(account)
    auction.clock.move_to(0, "matching")
    trades, done = [], False
    while not done:
        receipt = market.matchBids(1, 1, sender=auction.keeper)
        trades += trades_of(receipt, market)
        done = market.bookOf(1).stage == 2
    assert len(trades) >= 3
    assert sum(t[2] for t in trades) == market.bookOf(1).tradedWh


def test_matching_twice_is_refused(market, prosumers, auction, keeper):
    auction.run_period([(prosumers.wind, KWH, MILLI_ETHER), (prosumers.ev, KWH, MILLI_ETHER)])
    before = market.bookOf(1)
    with ape.reverts(market.MatchingComplete, deliveryPeriod=1):
        market.matchBids(1, 10, sender=keeper)
    assert market.bookOf(1) == before


def test_matching_before_the_reveal_window_closes_is_refused(market, prosumers, auction, clock, keeper):
    clock.move_to(0, "reveal")
    with ape.reverts(market.AuctionNotClosed):
        market.matchBids(1, 10, sender=keeper)
    assert market.bookOf(1).stage == 0


def test_matching_needs_a_positive_batch(market, clock, keeper):
    clock.move_to(0, "matching")
    with ape.reverts(market.InvalidBatchSize):
        market.matchBids(1, 0, sender=keeper)


def test_commit_outside_the_commit_window_is_refused(market, prosumers, auction, clock):
    clock.move_to(0, "reveal")
    with ape.reverts(market.WrongPhase, expected=0, actual=1):
        auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    assert market.accountOf(prosumers.wind).openBids == 0


def test_reveal_outside_the_reveal_window_is_refused(market, prosumers, auction, clock):
    clock.move_to(0, "commit")
    auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    with ape.reverts(market.WrongPhase, expected=1, actual=0):
        auction.reveal(prosumers.wind)
    clock.move_to(0, "matching")
    with ape.reverts(market.WrongPhase, expected=1, actual=2):
        auction.reveal(prosumers.wind)
    assert market.bookOf(1).bidCount == 0


def test_unauthorized_account_cannot_commit(market, operator, prosumers, auction, clock):
    market.setAuthorization(prosumers.wind, False, sender=operator)
    clock.move_to(0, "commit")
    with ape.reverts(market.NotAuthorized, account=prosumers.wind.address):
        auction.commit(prosumers.wind, KWH, MILLI_ETHER)


def test_second_commit_in_a_period_is_refused(market, prosumers, auction, clock):
    clock.move_to(0, "commit")
    auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    with ape.reverts(market.AlreadyCommitted, deliveryPeriod=1):
        auction.commit(prosumers.wind, 2 * KWH, MILLI_ETHER)
    assert market.accountOf(prosumers.wind).openBids == 1


def test_reveal_that_does_not_match_its_commit_is_refused(market, prosumers, auction, clock):
    clock.move_to(0, "commit")
    auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    clock.move_to(0, "reveal")
    sealed = auction.sealed[prosumers.wind.address]
    with ape.reverts(market.CommitmentMismatch):
        market.reveal(sealed.quantity_wh + 1, sealed.price, sealed.salt, 0, sender=prosumers.wind)
    assert market.bookOf(1).bidCount == 0


def test_reveal_without_commit_is_refused(market, prosumers, auction, clock):
    clock.move_to(0, "reveal")
    with ape.reverts(market.NoCommitment, deliveryPeriod=1):
        market.reveal(KWH, MILLI_ETHER, b"\x00" * 32, 0, sender=prosumers.wind)


def test_double_reveal_is_refused(market, prosumers, auction, clock):
    clock.move_to(0, "commit")
    auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    clock.move_to(0, "reveal")
    auction.reveal(prosumers.wind)
    with ape.reverts(market.AlreadyRevealed, deliveryPeriod=1):
        auction.reveal(prosumers.wind)
    assert market.bookOf(1).bidCount == 1


def test_consumer_that_cannot_pay_its_bid_is_refused_at_reveal(market, enroll, auction, clock):
    buyer = enroll("poor", False, False, deposit=2 * MILLI_ETHER)
    clock.move_to(0, "commit")
    auction.commit(buyer, 2 * KWH, 1 * MILLI_ETHER)  # needs 2 milli-ether above the margin
    clock.move_to(0, "reveal")
    with ape.reverts(market.InsufficientFunds, spendable=1 * MILLI_ETHER, required=2 * MILLI_ETHER):
        auction.reveal(buyer)
    assert market.bookOf(1).bidCount == 0


def test_zero_quantity_bid_is_refused(market, prosumers, auction, clock):
    clock.move_to(0, "commit")
    auction.commit(prosumers.wind, 0, MILLI_ETHER)
    clock.move_to(0, "reveal")
    with ape.reverts(market.InvalidBid, quantityWh=0, price=MILLI_ETHER):
        auction.reveal(prosumers.wind)


def test_hint_from_another_queue_is_refused(market, prosumers, auction, clock):
    clock.move_to(0, "commit")
    auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    auction.commit(prosumers.ev, KWH, MILLI_ETHER)
    clock.move_to(0, "reveal")
    auction.reveal(prosumers.wind)  # bid 1, green asks
    with ape.reverts(market.InvalidHint, hintId=1):
        auction.reveal(prosumers.ev, hint=1)
    assert market.bookOf(1).bidCount == 1


def test_stale_hint_still_inserts_in_price_order(market, enroll, auction, clock):
    sellers = [enroll(f"s{i}", True, False) for i in range(3)]
    clock.move_to(0, "commit")
    for seller, price in zip(sellers, (30, 10, 20)):
        auction.commit(seller, KWH, price * MILLI_ETHER)
    clock.move_to(0, "reveal")
    auction.reveal(sellers[0])  # 30
    auction.reveal(sellers[1])  # 10, at the head
    auction.reveal(sellers[2], hint=2)  # 20 after the head: a hint read before others arrived
    prices, bid_id = [], 2
    while bid_id:
        bid = market.bidOf(1, bid_id)
        prices.append(bid.price // MILLI_ETHER)
        bid_id = bid.next
    assert prices == [10, 20, 30]


def test_trades_are_emitted_with_the_average_price(market, prosumers, auction):
    p = prosumers
    receipt = auction.run_period(
        [
            (p.wind, 2 * KWH, 10 * MILLI_ETHER),
            (p.ev, 1 * KWH, 20 * MILLI_ETHER),
            (p.load, 1 * KWH, 30 * MILLI_ETHER),
        ]
    )
    completed = receipt.events.filter(market.MatchingCompleted)
    assert len(completed) == 1
    assert completed[0].tradedWh == 2 * KWH
    # 1 kWh @ 15 and 1 kWh @ 20
    assert completed[0].averagePrice == market.bookOf(1).averagePrice == 17_500 * MILLI_ETHER // 1000


def test_keeper_reveals_a_bid_it_was_entrusted_with(market, prosumers, auction, clock, keeper):
    clock.move_to(0, "commit")
    auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    clock.move_to(0, "reveal")
    sealed = auction.sealed[prosumers.wind.address]
    receipt = market.revealFor(prosumers.wind, sealed.quantity_wh, sealed.price, sealed.salt, 0, sender=keeper)
    assert receipt.events == [market.BidRevealed(1, prosumers.wind, 1, KWH, MILLI_ETHER)]


def test_entrusted_values_open_only_the_bid_they_sealed(market, prosumers, auction, clock, keeper):
    clock.move_to(0, "commit")
    auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    auction.commit(prosumers.controllable, KWH, MILLI_ETHER)
    clock.move_to(0, "reveal")
    sealed = auction.sealed[prosumers.wind.address]
    with ape.reverts(market.CommitmentMismatch):
        market.revealFor(prosumers.controllable, sealed.quantity_wh, sealed.price, sealed.salt, 0, sender=keeper)
    assert market.bookOf(1).bidCount == 0


@pytest.mark.parametrize("price", [PARAMETERS.price_floor - 1, PARAMETERS.price_cap + 1, 2**64 - 1])
def test_bid_outside_the_price_bounds_is_refused_at_reveal(market, prosumers, auction, clock, price):
    clock.move_to(0, "commit")
    auction.commit(prosumers.ev, KWH, price)
    clock.move_to(0, "reveal")
    with ape.reverts(market.PriceOutOfBounds, price=price, floor=PARAMETERS.price_floor, cap=PARAMETERS.price_cap):
        auction.reveal(prosumers.ev)
    assert market.bookOf(1).bidCount == 0
    assert market.accountOf(prosumers.ev).lastBidId == 0


def test_bids_at_the_price_bounds_are_admitted(market, prosumers, auction):
    receipt = auction.run_period(
        [
            (prosumers.wind, KWH, PARAMETERS.price_floor),
            (prosumers.ev, KWH, PARAMETERS.price_cap),
        ]
    )
    (trade,) = receipt.events.filter(market.Trade)
    assert trade.price == (PARAMETERS.price_floor + PARAMETERS.price_cap) // 2


def test_bid_above_what_the_meter_can_measure_is_refused_at_reveal(market, enroll, auction, clock):
    seller = enroll("small PV", True, True, rated_power_w=4_000)  # 1 kWh in a 15-minute period
    clock.move_to(0, "commit")
    auction.commit(seller, KWH + 1, MILLI_ETHER)
    clock.move_to(0, "reveal")
    with ape.reverts(market.BidAboveCapacity, quantityWh=KWH + 1, capacityWh=KWH):
        auction.reveal(seller)
    assert market.bookOf(1).bidCount == 0
