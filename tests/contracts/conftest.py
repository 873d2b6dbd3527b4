"""Fixtures for the contract tests (run by `ape test` on Ape's embedded eth-tester chain).

The contracts are the very build every other part uses (`p2pkit/artifacts`, written by
`make setup`), handed to Ape as a contract container: Ape compiles nothing itself.

Roles follow the paper's case study: the operator, the public grid, wind (green producer), a
controllable source (producer), an EV charger (green consumer), an ordinary load (consumer), and
one smart meter account per prosumer, bound before it bids.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import ClassVar

import pytest
from ape.contracts import ContractContainer
from ethpm_types import ContractType

from p2pkit.artifacts import ape_contract_type
from p2pkit.bids import commitment
from p2pkit.market import MarketParameters
from p2pkit.schedule import Schedule

ETHER = 10**18
MILLI_ETHER = 10**15
SCHEDULE = Schedule()
# The default parameters with a price cap of 0.1 ether/kWh, so that the round prices of these
# tests (up to 50e-3 ether/kWh) are admitted; the bounds themselves are tested on their own.
PARAMETERS = replace(MarketParameters(), price_cap=10**17)
# 1 MW: 250 kWh in a 15-minute period, more than any bid or reading here unless a test says so.
RATED_POWER_W = 1_000_000
METER_NUMBERS = {"wind": 1001, "controllable": 1002, "ev": 1003, "load": 1004}


def compiled(name: str) -> ContractContainer:
    """The contract `name` from the one build, ready for Ape to deploy."""
    return ContractContainer(ContractType.model_validate(ape_contract_type(name)))


@pytest.fixture(scope="session")
def energy_market() -> ContractContainer:
    return compiled("EnergyMarket")


@pytest.fixture(scope="session")
def continuous_book_contract() -> ContractContainer:
    return compiled("ContinuousBook")


@pytest.fixture(scope="session")
def sister_light_client_contract() -> ContractContainer:
    return compiled("SisterLightClient")


@pytest.fixture(scope="session")
def sister_lock_contract() -> ContractContainer:
    return compiled("SisterLock")


@pytest.fixture(scope="session")
def station_dispatch_contract() -> ContractContainer:
    return compiled("StationDispatch")


@pytest.fixture(scope="session")
def retail_plans() -> ContractContainer:
    return compiled("RetailPlans")


@pytest.fixture(scope="session")
def bilateral_contracts() -> ContractContainer:
    return compiled("BilateralContracts")


@pytest.fixture(scope="session")
def operator(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def grid(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def wind(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def controllable(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def ev(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def load(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def stranger(accounts):
    return accounts[6]


@pytest.fixture(scope="session")
def meter(accounts):
    """The smart meter of the ordinary load (its own account)."""
    return accounts[7]


@pytest.fixture(scope="session")
def wind_meter(accounts):
    return accounts[8]


@pytest.fixture(scope="session")
def controllable_meter(accounts):
    return accounts[10]


@pytest.fixture(scope="session")
def ev_meter(accounts):
    return accounts[11]


@pytest.fixture
def market(energy_market, operator, grid):
    return energy_market.deploy(grid, SCHEDULE.as_abi(), PARAMETERS.as_abi(), sender=operator)


# The continuous book of these tests closes a minute before its delivery period starts.
GATE_LEAD = 60


@pytest.fixture
def book(market, continuous_book_contract, operator):
    """The continuous book of `market`, named by the operator."""
    contract = continuous_book_contract.deploy(market, GATE_LEAD, sender=operator)
    market.setContinuousBook(contract, sender=operator)
    return contract


@dataclass
class Prosumers:
    wind: object
    controllable: object
    ev: object
    load: object
    meters: dict  # prosumer address -> its meter account

    def all(self):
        return [self.wind, self.controllable, self.ev, self.load]


@pytest.fixture
def prosumers(market, operator, grid, wind, controllable, ev, load, wind_meter, controllable_meter, ev_meter, meter):
    """The paper's four prosumers registered, authorized, funded (10 ether each) and metered
    (METER_NUMBERS, RATED_POWER_W); the grid funded with 100 ether."""
    meters = {}
    for account, name, producer, green, key, meter_account in (
        (wind, "wind", True, True, "wind", wind_meter),
        (controllable, "controllable source", True, False, "controllable", controllable_meter),
        (ev, "EV charger", False, True, "ev", ev_meter),
        (load, "ordinary load", False, False, "load", meter),
    ):
        market.register(name, producer, green, sender=account)
        market.setAuthorization(account, True, sender=operator)
        market.deposit(sender=account, value=10 * ETHER)
        market.bindMeter(account, meter_account, METER_NUMBERS[key], RATED_POWER_W, sender=operator)
        meters[account.address] = meter_account
    market.deposit(sender=grid, value=100 * ETHER)
    return Prosumers(wind, controllable, ev, load, meters)


@pytest.fixture
def enroll(market, operator, accounts):
    """Register, authorize, fund and meter a fresh account:
    enroll(name, producer, green, deposit, rated_power_w); rated_power_w=0 leaves it without a
    meter. Its meter account is `enroll.meters[account.address]`, its number `enroll.numbers[...]`."""
    pool = iter(accounts[12:])

    def enroll(name: str, producer: bool, green: bool, deposit: int = 10 * ETHER, rated_power_w: int = RATED_POWER_W):
        account = next(pool)
        market.register(name, producer, green, sender=account)
        market.setAuthorization(account, True, sender=operator)
        market.deposit(sender=account, value=deposit)
        if rated_power_w:
            meter_account = next(pool)
            number = 2000 + len(enroll.meters)
            market.bindMeter(account, meter_account, number, rated_power_w, sender=operator)
            enroll.meters[account.address], enroll.numbers[account.address] = meter_account, number
        return account

    enroll.meters, enroll.numbers = {}, {}
    return enroll


class Clock:
    """Moves block time to a phase of a period of the market's schedule."""

    PHASE_OFFSETS: ClassVar[dict[str, int]] = {
        "commit": 0,
        "reveal": SCHEDULE.commit_end,
        "matching": SCHEDULE.reveal_end,
        "settlement": SCHEDULE.settle_start,
    }

    def __init__(self, chain, market):
        self.chain = chain
        self.genesis = market.schedule().genesisTime

    def start_of(self, period: int) -> int:
        return self.genesis + period * SCHEDULE.period_length

    def move_to(self, period: int, phase: str, seconds: int = 1) -> None:
        """Mine a block `seconds` into the phase; time only moves forward."""
        target = self.start_of(period) + self.PHASE_OFFSETS[phase] + seconds
        head = self.chain.blocks.head.timestamp
        if target > head:
            self.chain.mine(timestamp=target)

    @property
    def period(self) -> int:
        return (self.chain.pending_timestamp - self.genesis) // SCHEDULE.period_length


@pytest.fixture
def clock(chain, market):
    return Clock(chain, market)


@dataclass
class Sealed:
    quantity_wh: int
    price: int
    salt: bytes


class Auction:
    """Commit and reveal on behalf of test accounts, keeping the salts like a client does."""

    def __init__(self, market, clock, keeper):
        self.market = market
        self.clock = clock
        self.keeper = keeper
        self.sealed: dict[str, Sealed] = {}

    def commit(self, account, quantity_wh: int, price: int):
        sealed = Sealed(quantity_wh, price, os.urandom(32))
        self.sealed[account.address] = sealed
        return self.market.commit(commitment(quantity_wh, price, sealed.salt, account.address), sender=account)

    def reveal(self, account, hint: int | None = None):
        sealed = self.sealed[account.address]
        record = self.market.accountOf(account)
        if hint is None:
            hint = self.market.insertionHint(self.clock.period + 1, record.producer, record.green, sealed.price)
        return self.market.reveal(sealed.quantity_wh, sealed.price, sealed.salt, hint, sender=account)

    def run_period(self, bids, period: int | None = None, steps: int = 1000):
        """Commit and reveal `bids` [(account, Wh, wei/kWh)] in `period`, then match the book
        (delivery period + 1) completely. Returns the matching receipt."""
        period = self.clock.period if period is None else period
        self.clock.move_to(period, "commit")
        for account, quantity_wh, price in bids:
            self.commit(account, quantity_wh, price)
        self.clock.move_to(period, "reveal")
        for account, _, _ in bids:
            self.reveal(account)
        self.clock.move_to(period, "matching")
        return self.market.matchBids(period + 1, steps, sender=self.keeper)


@pytest.fixture(scope="session")
def keeper(accounts):
    """Whoever triggers matching and settlement: anyone may."""
    return accounts[9]


@pytest.fixture
def auction(market, clock, keeper):
    return Auction(market, clock, keeper)


def wallets(market, accounts) -> dict[str, int]:
    return {a.address: market.accountOf(a).wallet for a in accounts}


def assert_conserved(market):
    """Sum of wallets + withdrawn == deposited, and the contract holds exactly the rest."""
    deposited, withdrawn = market.totals()
    ids = range(1, market.accountCount() + 1)
    in_wallets = sum(market.accountOf(market.accountAddress(i)).wallet for i in ids)
    assert in_wallets + withdrawn == deposited
    assert market.balance == deposited - withdrawn
