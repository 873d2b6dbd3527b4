"""The retail read model behind `/api/retail`: plans, contracts, their months and a customer's
metered profile, as of one block.

Everything is read from the retail contracts' views and events (and, for a customer's load
shape, the market's settlements) at the block an answer is built at; the answers are cached by
the market's read model until the next block. Every read is bounded: plans are scanned with the
contract's cursor, contracts are listed a page at a time, a profile looks at the last
`PROFILE_MONTHS` months.

A customer's profile derived from its metered history:

- monthly energy w: the mean of its last monthly readings (closing minus opening register, across
  one register rollover); without any, the mean of its metered delivery periods scaled to the
  current billing month's length;
- deviation s: the mean absolute difference between each month's energy and w, in % of w
  (0 with fewer than two months);
- load shape: its metered energy in the market's delivery periods, summed by the hour of day
  (in the billing clock's local time) each period starts in; flat without any period readings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

from backend.read_model import BlockRef, MarketReader
from p2pkit.events import MarketEvent, MarketEventLog
from p2pkit.market import ZERO_ADDRESS, MarketHandle
from p2pkit.retail.clock import BillingClock
from p2pkit.retail.contracts import Retail
from p2pkit.retail.plans import PlanTerms, PriceKind, PublishedPlan
from p2pkit.retail.terms import ContractState, MonthResult, Terms

# Plan ids one answer scans for offered plans (the contract's cursor, in steps of PLAN_STEP).
MAX_PLANS = 1000
PLAN_STEP = 100
# Most contracts one page lists.
MAX_CONTRACTS = 100
# Months of readings a derived profile looks at.
PROFILE_MONTHS = 12
REGISTER_WRAP_WH = 10**9  # an XXXXXX.XX kWh register
HOURS = 24


class NoMeteredHistory(LookupError):
    """The account has neither monthly nor period readings to derive a profile from."""


@dataclass(frozen=True)
class MeteredProfile:
    """A customer's profile derived from its readings (see the module's description)."""

    account: str
    monthly_kwh: Fraction
    deviation_pct: Fraction
    hourly_shares: tuple[Fraction, ...]
    months: tuple[tuple[int, int], ...]  # (billing month, Wh)
    energy_from: str  # "monthly readings" or "periods"
    shape_from: str  # "periods" or "flat"
    periods: int  # metered delivery periods the shape is from


class RetailReader:
    """Reads the retail contracts for the API, at one block; answers are cached by `market`."""

    def __init__(self, handle: MarketHandle, retail: Retail, market: MarketReader, events: MarketEventLog) -> None:
        self.handle = handle
        self.retail = retail
        self.market = market
        self.events = events
        self._clock: BillingClock | None = None

    # ------------------------------------------------------------------ basics

    def cached(self, key: tuple, block: BlockRef, build: Callable[[BlockRef], Any]) -> Any:
        def build_synced(at: BlockRef) -> Any:
            self.events.sync(at.number)
            return build(at)

        return self.market.cached(("retail", *key), block, build_synced)

    def call(self, contract: str, function: str, *arguments: Any, block: BlockRef) -> Any:
        target = self.retail.plans if contract == "plans" else self.retail.contracts
        with self.handle.lock:
            return getattr(target.functions, function)(*arguments).call(block_identifier=block.number)

    @property
    def clock(self) -> BillingClock:
        """The billing clock, fixed at deployment: read once."""
        if self._clock is None:
            with self.handle.lock:
                self._clock = BillingClock.of(self.retail.contracts)
        return self._clock

    def month_json(self, month: int) -> dict[str, Any]:
        clock = self.clock
        return {
            "month": month,
            "label": clock.label(month),
            "starts_at": clock.month_start(month),
            "ends_at": clock.month_end(month),
            "readings_close_at": clock.reading_deadline(month),
        }

    # ------------------------------------------------------------------ plans

    def offered_plans(self, block: BlockRef) -> list[PublishedPlan]:
        """The plans on offer at `block` (the first MAX_PLANS plan ids scanned)."""
        count = self.call("plans", "planCount", block=block)
        plans: list[PublishedPlan] = []
        cursor = 1
        while cursor <= min(count, MAX_PLANS):
            found, cursor = self.call("plans", "offeredPlans", cursor, PLAN_STEP, block=block)
            plans += [PublishedPlan.of(plan) for plan in found]
        return plans

    # ------------------------------------------------------------------ contracts

    def contract_records(self, first: int, count: int, block: BlockRef) -> list[Any]:
        return list(self.call("contracts", "contractsFrom", first, count, block=block))

    def contract_ids_of(self, party: str, block: BlockRef) -> list[int]:
        """Ids of the contracts `party` is the buyer or the seller of, ascending."""
        ids = {
            event.args["id"]
            for event in self.events.events("ContractProposed", "ContractActivated", upto=block.number)
            if party in (event.args["buyer"], event.args["seller"])
        }
        return sorted(ids)

    def contract_events(self, contract_id: int, block: BlockRef) -> list[MarketEvent]:
        return [
            event
            for event in self.events.events(
                "ContractActivated",
                "MonthSettled",
                "ContractDefaulted",
                "ContractCompleted",
                "DepositsReleased",
                "ContractCancelled",
                upto=block.number,
            )
            if event.args["id"] == contract_id
        ]

    # ------------------------------------------------------------------ readings and profiles

    def monthly_readings(self, account: str, block: BlockRef) -> list[tuple[int, int, MarketEvent]]:
        """(month, energy in Wh, the event) of each monthly reading posted for `account`."""
        readings = []
        for event in self.events.events("MonthlyReadingPosted", upto=block.number):
            if event.args["account"] == account:
                opening, closing = event.args["openingWh"], event.args["closingWh"]
                energy = closing - opening if closing >= opening else closing + REGISTER_WRAP_WH - opening
                readings.append((event.args["month"], energy, event))
        return readings

    def profile(self, account: str, block: BlockRef) -> MeteredProfile:
        """The profile `account`'s own readings give; `NoMeteredHistory` without any."""
        months = tuple((month, energy) for month, energy, _ in self.monthly_readings(account, block))[-PROFILE_MONTHS:]
        by_hour = [0] * HOURS
        period_energy: list[int] = []
        info = self.market.info_of(account, block)
        if info is not None:
            schedule, zone = self.market.schedule, timezone(timedelta(seconds=self.clock.utc_offset))
            for event in self.market.events.events("Settled", upto=block.number):
                if event.args["prosumerId"] == info.id and event.args["metered"]:
                    energy = event.args["actualWh"]
                    period_energy.append(energy)
                    by_hour[datetime.fromtimestamp(schedule.start(event.delivery_period), zone).hour] += energy
        if months:
            energies = [Fraction(energy, 1000) for _, energy in months]
            monthly_kwh, energy_from = sum(energies, Fraction(0)) / len(energies), "monthly readings"
        elif period_energy:
            month_seconds = self.clock.month_seconds(self.clock.month_at(block.time))
            per_period = Fraction(sum(period_energy), 1000 * len(period_energy))
            monthly_kwh, energy_from = per_period * month_seconds / self.market.schedule.period_length, "periods"
            energies = []
        else:
            raise NoMeteredHistory(f"{account} has no monthly or period readings yet; enter a profile")
        deviation = Fraction(0)
        if len(energies) > 1 and monthly_kwh > 0:
            deviation = sum((abs(e - monthly_kwh) for e in energies), Fraction(0)) / len(energies) / monthly_kwh * 100
        total = sum(by_hour)
        if total:
            shares, shape_from = tuple(Fraction(energy, total) for energy in by_hour), "periods"
        else:
            shares, shape_from = tuple(Fraction(1, HOURS) for _ in range(HOURS)), "flat"
        return MeteredProfile(
            account, monthly_kwh, deviation, shares, months, energy_from, shape_from, len(period_energy)
        )


# ---------------------------------------------------------------------- as JSON


def clock_minute_text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def plan_json(plan: PublishedPlan) -> dict[str, Any]:
    """A published plan in the API's units (prices in wei per kWh as decimal strings)."""
    terms: PlanTerms = plan.terms
    price: dict[str, Any] = {
        "type": {PriceKind.FLAT: "flat", PriceKind.TIME_OF_USE: "time_of_use", PriceKind.TIERS: "tiers"}[terms.kind]
    }
    if terms.kind is PriceKind.FLAT:
        price["price_wei"] = str(terms.flat_price)
    elif terms.kind is PriceKind.TIME_OF_USE:
        price["bands"] = [
            {"from": clock_minute_text(a), "to": clock_minute_text(b), "price_wei": str(p)} for a, b, p in terms.bands
        ]
    else:
        price["tiers"] = [{"up_to_wh": limit or None, "price_wei": str(p)} for limit, p in terms.tiers]
    return {
        "id": plan.id,
        "retailer": plan.retailer,
        "active": plan.active,
        "published_at": plan.published_at,
        "price": price,
        "deviation_band_bps": terms.deviation_band_bps,
        "deviation_multiplier_bps": terms.deviation_multiplier_bps,
        "months": terms.months,
        "reliability": [{"outages": count, "mean_minutes": minutes} for count, minutes in terms.reliability],
    }


def terms_json(terms: Terms) -> dict[str, Any]:
    return {
        "buyer": terms.buyer,
        "seller": terms.seller,
        "third_party": terms.third_party,
        "plan_id": terms.plan_id or None,
        "first_month": terms.first_month,
        "months": terms.months,
        "monthly_wh": terms.monthly_wh,
        "direct_price_wei": str(terms.direct_price),
        "catalogue_price_wei": str(terms.catalogue_price),
        "penalty_rate_wei": str(terms.penalty_rate),
        "upper_band_bps": terms.upper_band_bps,
        "lower_band_bps": terms.lower_band_bps,
        "excess_factor_bps": terms.excess_factor_bps,
    }


def month_result_json(event: MarketEvent, reader: RetailReader) -> dict[str, Any]:
    result = MonthResult.of(event.args["result"])
    asked = result.asked
    return {
        **reader.month_json(event.args["month"]),
        "buyer_wh": result.buyer_wh,
        "seller_wh": result.seller_wh,
        "buyer_metered": result.buyer_metered,
        "seller_metered": result.seller_metered,
        "asked": {
            "direct_wei": str(asked.direct),
            "penalty_wei": str(asked.penalty),
            "excess_charge_wei": str(asked.excess_charge),
            "compensation_wei": str(asked.compensation),
        },
        "buyer_to_seller_wei": str(result.buyer_to_seller),
        "buyer_to_third_party_wei": str(result.buyer_to_third_party),
        "seller_to_third_party_wei": str(result.seller_to_third_party),
        "buyer_shortfall_wei": str(result.buyer_shortfall),
        "seller_shortfall_wei": str(result.seller_shortfall),
        "default": bool(result.buyer_shortfall or result.seller_shortfall),
        "block": event.block,
        "tx": event.tx,
    }


def contract_json(record: Any, reader: RetailReader, block: BlockRef) -> dict[str, Any]:
    """A contract's record, its months and what became of its deposits."""
    terms = Terms.of(record.terms)
    events = reader.contract_events(record.id, block)
    activated = next((event for event in events if event.name == "ContractActivated"), None)
    agreed = Terms.of(activated.args["terms"]) if activated else terms
    defaulted = next((event for event in events if event.name == "ContractDefaulted"), None)
    released = next((event for event in events if event.name == "DepositsReleased"), None)
    state = ContractState(record.state)
    answer = {
        "id": record.id,
        "state": state.name.lower(),
        "proposer": record.proposer if record.proposer != ZERO_ADDRESS else None,
        **terms_json(terms),
        "deposits": {
            "buyer_agreed_wei": str(agreed.buyer_deposit),
            "seller_agreed_wei": str(agreed.seller_deposit),
            "buyer_held_wei": str(terms.buyer_deposit),
            "seller_held_wei": str(terms.seller_deposit),
            "released": {"to_buyer_wei": str(released.args["toBuyer"]), "to_seller_wei": str(released.args["toSeller"])}
            if released
            else None,
        },
        "settled_months": record.settledMonths,
        "buyer_shortfall_wei": str(record.buyerShortfall),
        "seller_shortfall_wei": str(record.sellerShortfall),
        "defaulted": {
            **reader.month_json(defaulted.args["month"]),
            "buyer_shortfall_wei": str(defaulted.args["buyerShortfall"]),
            "seller_shortfall_wei": str(defaulted.args["sellerShortfall"]),
        }
        if defaulted
        else None,
        "settled": [month_result_json(event, reader) for event in events if event.name == "MonthSettled"],
        "next_settlement": None,
    }
    if state is ContractState.ACTIVE:
        month, ready_at, due = reader.call("contracts", "nextSettlement", record.id, block=block)
        answer["next_settlement"] = {**reader.month_json(month), "ready_at": ready_at, "due": due}
    return answer


def profile_json(profile: MeteredProfile, reader: RetailReader) -> dict[str, Any]:
    return {
        "account": profile.account,
        "monthly_kwh": float(profile.monthly_kwh),
        "deviation_pct": float(profile.deviation_pct),
        "hourly_shares": [float(share) for share in profile.hourly_shares],
        "energy_from": profile.energy_from,
        "shape_from": profile.shape_from,
        "metered_periods": profile.periods,
        "months": [{**reader.month_json(month), "energy_wh": energy} for month, energy in profile.months],
    }
