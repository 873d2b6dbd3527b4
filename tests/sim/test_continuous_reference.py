"""The plain-Python reference of the continuous phase on the spec's worked example and its rules."""

import pytest

from sim.continuous_reference import MAX_WALK, ContinuousBook, Refused
from sim.reference import Order, clear

RICH = 10**24
ORDERS = [
    Order("S1", True, False, 100_000, 10),
    Order("S2", True, False, 50_000, 30),
    Order("B1", False, False, 80_000, 40),
    Order("B2", False, False, 60_000, 20),
]


@pytest.fixture
def book():
    wallets = dict.fromkeys(("S1", "S2", "B1", "B2", "B3"), RICH)
    return ContinuousBook.after(ORDERS, clear(ORDERS, wallets, margin=0), margin=0)


def trades(made):
    return [(t.seller, t.buyer, t.quantity_wh, t.price) for t in made]


def test_leftovers_rest_at_their_sealed_prices(book):
    assert [(r.owner, r.remaining_wh, r.price) for r in book.asks] == [("S2", 50_000, 30)]
    assert [(r.owner, r.remaining_wh, r.price) for r in book.bids] == [("B2", 40_000, 20)]


def test_worked_example_of_the_spec(book):
    assert trades(book.apply("reprice", "S2", True, 0, 18)) == [("S2", "B2", 40_000, 19)]
    assert [(r.owner, r.remaining_wh, r.price) for r in book.asks] == [("S2", 10_000, 18)]
    assert trades(book.apply("market", "B3", False, 15_000)) == [("S2", "B3", 10_000, 18)]
    assert book.unfilled == [("B3", 5_000)]
    with pytest.raises(Refused, match="NoRestingOrder"):
        book.apply("cancel", "S2", True)
    assert sum(book.wallets.values()) == 5 * RICH


def test_refused_action_changes_nothing(book):
    before = (list(book.asks), list(book.bids), dict(book.wallets))
    with pytest.raises(Refused, match="OrderAlreadyResting"):
        book.apply("limit", "B2", False, 1_000, 10)
    assert (book.asks, book.bids, book.wallets) == before


def test_a_limit_order_walks_at_most_max_walk_orders():
    sellers = [f"S{i}" for i in range(MAX_WALK + 2)]
    wallets = dict.fromkeys([*sellers, "B"], RICH)
    book = ContinuousBook(0, wallets, set())
    for seller in sellers:
        book.apply("limit", seller, True, 1_000, 20)
    made = book.apply("limit", "B", False, 30_000, 20)
    assert len(made) == MAX_WALK
    assert book.unfilled == [("B", 30_000 - MAX_WALK * 1_000)]
    assert book.bids == []
