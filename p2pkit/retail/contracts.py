"""The retail contracts on a chain: deploying them beside a market, attaching to them, and
enrolling a party (a market account with a bound meter, and a retail wallet).

RetailPlans keeps retailers and their plans; BilateralContracts keeps the retail wallets, the
meters' monthly readings and the contracts. Both read the EnergyMarket for accounts and meters.
Both are attached with ``p2pkit.contracts.contract_at``: their structs are decoded by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from p2pkit.contracts import contract_at, deploy
from p2pkit.period import PeriodDriver, Prosumer
from p2pkit.retail.clock import BillingClock
from p2pkit.transactions import send

PLANS = "RetailPlans"
CONTRACTS = "BilateralContracts"


@dataclass(frozen=True)
class Retail:
    plans: Contract
    contracts: Contract


def deploy_retail(w3: Web3, operator: LocalAccount, market: Contract, clock: BillingClock) -> Retail:
    """Deploy RetailPlans and BilateralContracts for ``market`` (its operator admits retailers)."""
    plans = deploy(w3, operator, PLANS, market.address)
    contracts = deploy(w3, operator, CONTRACTS, market.address, plans.address, clock.as_abi())
    return Retail(plans, contracts)


def retail_at(w3: Web3, contracts_address: str) -> Retail:
    """The retail contracts, from the address of BilateralContracts."""
    contracts = contract_at(w3, CONTRACTS, contracts_address)
    return Retail(contract_at(w3, PLANS, contracts.functions.plans().call()), contracts)


@dataclass(frozen=True)
class Party:
    """An account of the market enrolled for retail: its key, its meter's key and number."""

    account: LocalAccount
    meter: LocalAccount
    meter_number: int

    @property
    def address(self) -> str:
        return self.account.address


def enrol(
    w3: Web3,
    market: Contract,
    retail: Retail,
    operator: LocalAccount,
    party: Party,
    *,
    name: str,
    producer: bool,
    rated_power_w: int,
    retail_deposit: int = 0,
    retailer: bool = False,
) -> None:
    """Register ``party`` in the market, authorize it and bind its meter with its rated power (the
    period driver's enrolment), fund its retail wallet and, for a retailer, admit it. The party's
    and the operator's accounts pay their own gas."""
    prosumer = Prosumer(
        name, producer, False, party.account, party.meter, party.meter_number, rated_power_w=rated_power_w
    )
    PeriodDriver(market, operator).enrol([prosumer])
    if retail_deposit:
        send(w3, retail.contracts.functions.deposit(), party.account, value=retail_deposit)
    if retailer:
        send(w3, retail.plans.functions.setRetailer(party.address, True), operator)
