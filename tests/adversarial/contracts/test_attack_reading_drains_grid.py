"""A producer that sold 1 Wh has its meter key post 10^12 Wh for the period, to be paid the
'surplus' out of the grid's wallet.

No meter measures more than its rated power over the period: the reading is refused, nothing is
stored, and the producer, now without a reading, is settled as having delivered nothing."""

import pytest
from conftest import ETHER, PERIOD_LENGTH, RATED_POWER_W

from p2pkit.transactions import ContractRefused
from sim.reference import capacity_wh


def test_reading_above_what_the_meter_can_measure_is_refused(market):
    producer = market.join("wind", producer=True, green=True, deposit=10 * ETHER)
    consumer = market.join("ev", producer=False, green=True, deposit=10 * ETHER)
    delivery, _ = market.bid([(producer, 1, 5 * 10**14), (consumer, 1, 7 * 10**14)])
    grid_before = market.grid_wallet()
    wallet_before = market.record(producer).wallet

    with pytest.raises(ContractRefused) as refused:
        market.post(producer, delivery, 10**12)
    capacity = capacity_wh(RATED_POWER_W, PERIOD_LENGTH)
    assert (refused.value.name, refused.value.arguments) == ("ReadingAboveCapacity", (10**12, capacity))
    producer_id = market.record(producer).id
    assert market.contract.functions.readingOf(producer_id, delivery).call().present is False

    market.post(consumer, delivery, 1)
    settled = market.settle(delivery)
    assert not settled[producer_id]["metered"]
    assert market.record(producer).wallet <= wallet_before
    assert market.grid_wallet() >= grid_before - settled[market.record(consumer).id]["walletChange"]
    market.assert_conserved()
