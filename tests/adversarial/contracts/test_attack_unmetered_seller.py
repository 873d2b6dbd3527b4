"""A producer sells 100 kWh with only twice the margin in its wallet and never posts a meter
reading, hoping to be settled as if nothing had happened and to walk away with the sale.

Without a reading it is settled as having delivered nothing: it pays the shortfall and the
penalty out of its wallet, the sale included, and ends with less than it deposited."""

from conftest import ETHER

MARGIN = 10**15
SOLD_WH = 100_000


def test_unmetered_seller_cannot_keep_what_it_sold(market):
    seller = market.join("fake producer", producer=True, green=True, deposit=2 * MARGIN)
    buyer = market.join("honest buyer", producer=False, green=True, deposit=10 * ETHER)
    delivery, refused = market.bid([(seller, SOLD_WH, 5 * 10**14), (buyer, SOLD_WH, 7 * 10**14)])
    assert refused == []
    market.post(buyer, delivery, SOLD_WH)  # the buyer's meter: it used what it bought

    settled = market.settle(delivery)[market.record(seller).id]

    assert not settled["metered"] and settled["balancing"] < 0
    record = market.record(seller)
    assert record.freeBalance == record.wallet < 2 * MARGIN
    market.assert_conserved()
