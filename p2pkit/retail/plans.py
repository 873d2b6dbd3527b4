"""Retailers' plans as RetailPlans stores them (IRetailPlans.PlanTerms), and as the scoring
takes them.

On chain: prices in wei per kWh, tier limits in Wh, band clock minutes, the deviation band and
multiplier in basis points, outage durations in minutes. ``scoring_plan`` turns a published plan
into the scoring's units (a currency unit of ``unit`` wei, kWh, %, hours) exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from fractions import Fraction

from p2pkit.retail import scoring

BPS = 10_000


class PriceKind(IntEnum):
    FLAT = 0
    TIME_OF_USE = 1
    TIERS = 2


class PlanField(IntEnum):
    """IRetailPlans.PlanField: what an InvalidPlan refusal is about."""

    KIND = 0
    FLAT_PRICE = 1
    BANDS = 2
    TIERS = 3
    DEVIATION = 4
    MONTHS = 5
    RELIABILITY = 6


@dataclass(frozen=True)
class PlanTerms:
    """IRetailPlans.PlanTerms; ``bands`` (from minute, to minute, price), ``tiers`` (up to Wh or 0
    for the last, price), ``reliability`` (count, mean minutes) per past year, the latest first."""

    kind: PriceKind
    flat_price: int = 0
    bands: tuple[tuple[int, int, int], ...] = ()
    tiers: tuple[tuple[int, int], ...] = ()
    deviation_band_bps: int = 500
    deviation_multiplier_bps: int = 20_000
    months: int = 12
    reliability: tuple[tuple[int, int], ...] = ((0, 0),)

    def as_abi(self) -> tuple:
        return (
            int(self.kind),
            self.flat_price,
            [tuple(b) for b in self.bands],
            [tuple(t) for t in self.tiers],
            self.deviation_band_bps,
            self.deviation_multiplier_bps,
            self.months,
            [tuple(r) for r in self.reliability],
        )

    @classmethod
    def of(cls, values) -> PlanTerms:
        """From the contract's PlanTerms tuple (a Plan record's ``terms``)."""
        kind, flat_price, bands, tiers, band_bps, multiplier_bps, months, reliability = values
        return cls(
            PriceKind(kind),
            flat_price,
            tuple(tuple(b) for b in bands),
            tuple(tuple(t) for t in tiers),
            band_bps,
            multiplier_bps,
            months,
            tuple(tuple(r) for r in reliability),
        )


@dataclass(frozen=True)
class PublishedPlan:
    """IRetailPlans.Plan."""

    id: int
    retailer: str
    active: bool
    published_at: int
    terms: PlanTerms

    @classmethod
    def of(cls, values) -> PublishedPlan:
        plan_id, retailer, active, published_at, terms = values
        return cls(plan_id, retailer, active, published_at, PlanTerms.of(terms))


def scoring_plan(plan: PublishedPlan, unit: int) -> scoring.Plan:
    """The plan in the scoring's units, prices in currency units of ``unit`` wei."""
    t = plan.terms

    def price(wei_per_kwh: int) -> Fraction:
        return Fraction(wei_per_kwh, unit)

    if t.kind is PriceKind.FLAT:
        price_plan: scoring.PricePlan = scoring.Flat(price(t.flat_price))
    elif t.kind is PriceKind.TIME_OF_USE:
        price_plan = scoring.TimeOfUse(tuple(scoring.Band(a, b, price(p)) for a, b, p in t.bands))
    else:
        price_plan = scoring.Tiers(
            tuple(scoring.Tier(Fraction(limit, 1000) if limit else None, price(p)) for limit, p in t.tiers)
        )
    return scoring.Plan(
        str(plan.id),
        tuple((Fraction(count), Fraction(minutes, 60)) for count, minutes in t.reliability),
        price_plan,
        Fraction(t.deviation_band_bps, 100),
        Fraction(t.deviation_multiplier_bps, BPS),
        t.months,
    )
