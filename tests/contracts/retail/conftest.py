"""Fixtures of the retail contract tests (run by `ape test` with the market's fixtures).

Roles: a retailer (admitted by the market's operator, sells), a buyer (an ordinary consumer of
the market), a producer (an authorized producer of the market, may sell too), one meter account
each, and the grid, the third party. Money in milli-ether units: a worked example's 0.40 per kWh
is 0.40e15 wei per kWh here. Billing months are fixed at 30 days, from the deployment block.
"""

from __future__ import annotations

import pytest

from p2pkit.retail.clock import BillingClock
from retail.support import UNIT, Meters, TermsFactory

MONTH = 30 * 86_400
GRACE = 5 * 86_400
CLOCK = BillingClock.fixed(MONTH, GRACE)
RATED_POWER_W = 10_000  # 7,200 kWh in a 30-day month
BUYER_NUMBER, RETAILER_NUMBER, PRODUCER_NUMBER = 3001, 3002, 3003


@pytest.fixture(scope="session")
def retailer(accounts):
    return accounts[16]


@pytest.fixture(scope="session")
def buyer(accounts):
    return accounts[17]


@pytest.fixture(scope="session")
def producer(accounts):
    return accounts[18]


@pytest.fixture(scope="session")
def buyer_meter(accounts):
    return accounts[19]


@pytest.fixture(scope="session")
def retailer_meter(accounts):
    return accounts[20]


@pytest.fixture(scope="session")
def producer_meter(accounts):
    return accounts[21]


@pytest.fixture
def plans(retail_plans, market, operator):
    return retail_plans.deploy(market, sender=operator)


@pytest.fixture
def bilateral(bilateral_contracts, market, plans, operator):
    return bilateral_contracts.deploy(market, plans, CLOCK.as_abi(), sender=operator)


@pytest.fixture
def parties(market, plans, bilateral, operator, retailer, buyer, producer, buyer_meter, retailer_meter, producer_meter):
    """The three parties registered and authorized in the market with their meters bound, the
    retailer admitted; 1,000 units in each one's retail wallet."""
    for account, name, is_producer, meter, number in (
        (retailer, "retailer", True, retailer_meter, RETAILER_NUMBER),
        (buyer, "office", False, buyer_meter, BUYER_NUMBER),
        (producer, "wind park", True, producer_meter, PRODUCER_NUMBER),
    ):
        market.register(name, is_producer, False, sender=account)
        market.setAuthorization(account, True, sender=operator)
        market.bindMeter(account, meter, number, RATED_POWER_W, sender=operator)
        bilateral.deposit(sender=account, value=1000 * UNIT)
    plans.setRetailer(retailer, True, sender=operator)


@pytest.fixture
def genesis(bilateral):
    return bilateral.billingClock().genesisTime


@pytest.fixture
def clock(chain, genesis):
    """Billing time: `clock.at(month, seconds)` mines a block that far into a month."""
    return BillingTime(chain, BillingClock.fixed(MONTH, GRACE, genesis))


class BillingTime:
    def __init__(self, chain, billing: BillingClock):
        self.chain = chain
        self.billing = billing

    def at(self, month: int, seconds: int = 1) -> None:
        target = self.billing.month_start(month) + seconds
        if target > self.chain.blocks.head.timestamp:
            self.chain.mine(timestamp=target)

    def after_deadline(self, month: int) -> None:
        target = self.billing.reading_deadline(month)
        if target > self.chain.blocks.head.timestamp:
            self.chain.mine(timestamp=target)


@pytest.fixture
def terms(buyer, retailer):
    """Terms of the spec's worked examples between the buyer and the retailer, from month 1."""
    return TermsFactory(buyer.address, retailer.address)


@pytest.fixture
def meters(bilateral, clock, buyer, retailer, producer, buyer_meter, retailer_meter, producer_meter):
    """Posts each party's monthly energy through its meter, keeping the registers continuous."""
    return Meters(
        bilateral,
        clock,
        {
            buyer.address: (buyer_meter, BUYER_NUMBER),
            retailer.address: (retailer_meter, RETAILER_NUMBER),
            producer.address: (producer_meter, PRODUCER_NUMBER),
        },
    )


@pytest.fixture
def activate(bilateral, parties, buyer, retailer, producer):
    """activate(terms) -> contract id: proposed by the buyer, accepted by the seller."""
    by_address = {account.address: account for account in (buyer, retailer, producer)}

    def activate(t):
        receipt = bilateral.propose(t.as_abi(), sender=by_address[t.buyer])
        (proposed,) = receipt.events.filter(bilateral.ContractProposed)
        bilateral.accept(proposed.id, sender=by_address[t.seller])
        return proposed.id

    return activate
