"""Retail beside the scripted market: a retailer with plans, and bilateral contracts between the
script's prosumers, on an embedded chain whose billing months last MONTH_LENGTH seconds.

Every meter is rated RATED_POWER_W (100 kW): 16.7 kWh in a 600-second month, above every
monthly reading here. Prices in wei per kWh.
"""

from __future__ import annotations

from dataclasses import dataclass

from market_script import ETHER, MarketScript, Trader
from web3.contract import Contract

from devnet.embedded import dev_accounts, start_embedded_market
from p2pkit.market import MarketHandle
from p2pkit.retail.clock import BillingClock
from p2pkit.retail.plans import PlanTerms, PriceKind
from p2pkit.retail.terms import Terms, sign_terms

MONTH_LENGTH = 600
READING_GRACE = 120
RETAIL_WALLET = 5 * ETHER
FIRST_REGISTER_WH = 1_000_000
# A flat plan, a day/night plan, a tiered plan: different enough that each index separates them.
PLANS = (
    PlanTerms(PriceKind.FLAT, flat_price=6 * 10**14, months=6, reliability=((6, 300),)),
    PlanTerms(
        PriceKind.TIME_OF_USE,
        bands=((360, 1080, 7 * 10**14), (1080, 360, 5 * 10**14)),
        deviation_band_bps=300,
        months=12,
        reliability=((2, 90),),
    ),
    PlanTerms(
        PriceKind.TIERS,
        tiers=((5_000, 65 * 10**13), (0, 55 * 10**13)),
        deviation_band_bps=800,
        deviation_multiplier_bps=30_000,
        months=24,
        reliability=((10, 240),),
    ),
)


def start_retail_market(period_length: int) -> MarketHandle:
    return start_embedded_market(period_length, BillingClock.fixed(MONTH_LENGTH, READING_GRACE))


@dataclass
class RetailScript:
    """Sends the retail transactions of the script's traders and moves through billing months."""

    script: MarketScript

    @property
    def contracts(self) -> Contract:
        return self.script.market.retail.contracts

    @property
    def plans(self) -> Contract:
        return self.script.market.retail.plans

    @property
    def clock(self) -> BillingClock:
        return BillingClock.of(self.contracts)

    def current_month(self) -> int:
        return self.contracts.functions.currentMonth().call()

    def admit_retailer(self, trader: Trader) -> list[int]:
        """Admit `trader` as a retailer and publish PLANS; their ids."""
        self.script.send(self.plans.functions.setRetailer(trader.address, True), self.script.market.operator)
        for plan in PLANS:
            self.script.send(self.plans.functions.publishPlan(plan.as_abi()), trader.key)
        count = self.plans.functions.planCount().call()
        return list(range(count - len(PLANS) + 1, count + 1))

    def fill_wallet(self, trader: Trader, amount: int = RETAIL_WALLET) -> None:
        """Pay the trader `amount` in ether (from a dev account) and deposit it in its retail wallet."""
        self.script.driver.fund(dev_accounts(self.script.w3)[4], [(trader.address, amount)])
        self.script.send(self.contracts.functions.deposit(), trader.key, value=amount)

    def sign(self, buyer: Trader, seller: Trader, **terms) -> int:
        """Both parties sign the terms at once (the buyer sends them); the new contract's id."""
        fields = {
            "first_month": self.current_month() + 1,
            "months": 2,
            "monthly_wh": 10_000,
            "direct_price": 4 * 10**14,
            "catalogue_price": 6 * 10**14,
            "penalty_rate": 2 * 10**13,
            "buyer_deposit": ETHER // 10,
            "seller_deposit": ETHER // 10,
            **terms,
        }
        agreed = Terms(buyer=buyer.address, seller=seller.address, **fields)
        chain_id, address = self.script.w3.eth.chain_id, self.contracts.address
        signatures = [sign_terms(party.key.key, agreed, 1, chain_id, address) for party in (buyer, seller)]
        self.script.send(self.contracts.functions.signContract(agreed.as_abi(), 1, *signatures), buyer.key)
        return self.contracts.functions.contractCount().call()

    def to_month_end(self, month: int) -> None:
        self.script.travel_to(self.clock.month_end(month) + 1)

    def to_reading_deadline(self, month: int) -> None:
        self.script.travel_to(self.clock.reading_deadline(month) + 1)

    def post_month(self, trader: Trader, month: int, energy_wh: int) -> None:
        """The trader's meter posts its registers frozen at the month's start and end."""
        previous = self.contracts.functions.monthlyReadingOf(trader.address, month - 1).call()
        opening = previous.closingWh if previous.present else FIRST_REGISTER_WH
        call = self.contracts.functions.submitMonthlyReading(month, trader.meter_number, opening, opening + energy_wh)
        self.script.send(call, trader.meter)
