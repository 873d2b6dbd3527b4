"""The toolkit's tests run on an embedded chain with a fresh market: its operator and grid,
and prosumers made on demand."""

from __future__ import annotations

import pytest
from eth_account import Account

from devnet.embedded import TimeTravel, dev_accounts, start_embedded_market
from p2pkit.market import MarketHandle
from p2pkit.period import PeriodDriver, Prosumer

PERIOD_LENGTH = 120
ETHER = 10**18
RATED_POWER_W = 1_000_000  # 33 kWh in a 120-second period, more than any bid here


@pytest.fixture
def market() -> MarketHandle:
    return start_embedded_market(PERIOD_LENGTH)


@pytest.fixture
def driver(market) -> PeriodDriver:
    return PeriodDriver(market.contract, market.operator, wait_until=TimeTravel(market.w3).wait_until)


@pytest.fixture
def funder(market):
    return dev_accounts(market.w3)[2]


@pytest.fixture
def enrol(driver, funder):
    """enrol(name, producer, green): a prosumer with a 1 MW meter, 10 ether in its market wallet."""
    numbers = iter(range(161, 1000))

    def enrol(name: str, producer: bool, green: bool) -> Prosumer:
        prosumer = Prosumer(
            name,
            producer,
            green,
            Account.create(),
            Account.create(),
            next(numbers),
            deposit=10 * ETHER,
            rated_power_w=RATED_POWER_W,
        )
        driver.fund(funder, [(prosumer.address, 11 * ETHER), (prosumer.meter.address, ETHER)])
        driver.enrol([prosumer])
        return prosumer

    return enrol
