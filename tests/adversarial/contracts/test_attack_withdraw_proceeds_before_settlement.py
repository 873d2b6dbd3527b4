"""A producer with exactly the margin sells 100 kWh, takes the proceeds out right after
matching, and then has its meter report that it delivered nothing: what it owes would find an
empty wallet.

The proceeds stay locked until the period is settled, and what it owes is taken from them."""

import pytest
from conftest import ETHER

from p2pkit.transactions import ContractRefused

MARGIN = 10**15
SOLD_WH = 100_000


def test_proceeds_cannot_leave_before_their_period_is_settled(market):
    seller = market.join("fake producer", producer=True, green=True, deposit=MARGIN)
    buyer = market.join("honest buyer", producer=False, green=True, deposit=10 * ETHER)
    delivery, _ = market.bid([(seller, SOLD_WH, 5 * 10**14), (buyer, SOLD_WH, 7 * 10**14)])
    proceeds = market.record(seller).wallet - MARGIN
    assert proceeds > 0

    with pytest.raises(ContractRefused) as refused:
        market.withdraw(seller, proceeds)
    assert refused.value.name == "InsufficientFreeBalance"
    assert market.record(seller).wallet == MARGIN + proceeds

    market.post(seller, delivery, 0)
    market.post(buyer, delivery, SOLD_WH)
    settled = market.settle(delivery)[market.record(seller).id]
    owed = -(settled["balancing"] + settled["reward"])
    assert -settled["walletChange"] == min(owed, MARGIN + proceeds) > proceeds
    assert market.record(seller).wallet < MARGIN
    market.assert_conserved()
