"""Scoring retailers' plans for one customer: the four indices and the score, exactly.

For plans i compared together and a customer with average monthly energy w (kWh), typical
monthly deviation s (%), an hourly load shape (24 shares) and weights alpha, beta, gamma, delta:

- PSRI_i = (max U - U_i) / (max U - min U), U_i = sum over the record's years of outages x mean
  hours (reliability);
- SPI_i = (max Q - Q_i) / (max Q - min Q), Q_i the customer's monthly bill under the plan's
  prices: flat w x p; time of use sum of p_band x w x (the load shape's share inside the band);
  tiers sum of p_tier x (the part of w inside the tier);
- PDPI_i = (max B - B_i) / (max B - min B), B_i = (n_i + 1) x max(0, s - s_i) with s_i the plan's
  deviation band and n_i its multiplier;
- ADI_i = min_j T_j / T_i, T_i the plan's duration in months;
- Score_i = alpha PSRI_i + beta SPI_i + gamma PDPI_i + delta ADI_i.

Ties: when every plan has the same U (or Q, or B), every plan gets 1 on that index. The advised
plan has the highest score; among equal scores the cheaper (lower Q), then the lowest id (ids
that are whole numbers compare as numbers and before any other id, which compare as text).

Arithmetic is exact (``fractions.Fraction``) from the decimal inputs on: no rounding anywhere,
so equal scores are equal. A load shape's hour that a time-of-use band covers in part counts in
proportion to the minutes covered (the load is taken as even within the hour).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

MINUTES_PER_DAY = 1440
HOURS_PER_DAY = 24


@dataclass(frozen=True)
class Flat:
    price: Fraction


@dataclass(frozen=True)
class Band:
    """Clock minutes [from_minute, to_minute) of every day, wrapping past midnight."""

    from_minute: int
    to_minute: int
    price: Fraction

    @property
    def minutes(self) -> int:
        return (self.to_minute - self.from_minute) % MINUTES_PER_DAY


@dataclass(frozen=True)
class TimeOfUse:
    bands: tuple[Band, ...]


@dataclass(frozen=True)
class Tier:
    up_to_kwh: Fraction | None  # None: no upper limit (the last tier)
    price: Fraction


@dataclass(frozen=True)
class Tiers:
    tiers: tuple[Tier, ...]


PricePlan = Flat | TimeOfUse | Tiers


@dataclass(frozen=True)
class Plan:
    id: str
    outages: tuple[tuple[Fraction, Fraction], ...]  # per past year: (count, mean hours)
    price: PricePlan
    band_pct: Fraction  # s_i
    multiplier: Fraction  # n_i
    months: int  # T_i


@dataclass(frozen=True)
class Weights:
    reliability: Fraction
    price: Fraction
    deviation: Fraction
    duration: Fraction


@dataclass(frozen=True)
class Customer:
    monthly_kwh: Fraction
    deviation_pct: Fraction
    hourly_shares: tuple[Fraction, ...]  # 24, summing to 1
    weights: Weights


@dataclass(frozen=True)
class PlanScore:
    id: str
    psri: Fraction
    spi: Fraction
    pdpi: Fraction
    adi: Fraction
    score: Fraction
    monthly_bill: Fraction


def outage_hours(plan: Plan) -> Fraction:
    """U_i: outage hours over the plan's reliability record."""
    return sum((count * hours for count, hours in plan.outages), Fraction(0))


def monthly_bill(price: PricePlan, customer: Customer) -> Fraction:
    """Q_i: the customer's average monthly bill under a price plan."""
    w = customer.monthly_kwh
    if isinstance(price, Flat):
        return w * price.price
    if isinstance(price, TimeOfUse):
        return sum((band.price * w * band_share(band, customer.hourly_shares) for band in price.bands), Fraction(0))
    bill, lower = Fraction(0), Fraction(0)
    for tier in price.tiers:
        upper = w if tier.up_to_kwh is None else min(w, tier.up_to_kwh)
        if upper > lower:
            bill += tier.price * (upper - lower)
        if tier.up_to_kwh is not None:
            lower = max(lower, tier.up_to_kwh)
    return bill


def band_share(band: Band, hourly_shares: tuple[Fraction, ...]) -> Fraction:
    """The load shape's share inside a band; an hour covered in part counts in proportion."""
    share = Fraction(0)
    for hour, hour_share in enumerate(hourly_shares):
        covered = _overlap_minutes(band, hour * 60, hour * 60 + 60)
        if covered:
            share += hour_share * Fraction(covered, 60)
    return share


def _overlap_minutes(band: Band, start: int, end: int) -> int:
    """Minutes of [start, end) (within one day) inside the band, which may wrap past midnight."""
    begin, length = band.from_minute, band.minutes
    pieces = [(begin, min(begin + length, MINUTES_PER_DAY))]
    if begin + length > MINUTES_PER_DAY:
        pieces.append((0, begin + length - MINUTES_PER_DAY))
    return sum(max(0, min(end, b) - max(start, a)) for a, b in pieces)


def deviation_charge(plan: Plan, customer: Customer) -> Fraction:
    """B_i = (n_i + 1) x max(0, s - s_i)."""
    return (plan.multiplier + 1) * max(Fraction(0), customer.deviation_pct - plan.band_pct)


def _normalized_lower_is_better(values: list[Fraction]) -> list[Fraction]:
    """(max - v) / (max - min) for each value; 1 for every value when all tie."""
    top, bottom = max(values), min(values)
    if top == bottom:
        return [Fraction(1)] * len(values)
    return [(top - v) / (top - bottom) for v in values]


def score_plans(plans: list[Plan], customer: Customer) -> tuple[list[PlanScore], str]:
    """Every plan's indices and score, in the order given, and the id of the advised plan."""
    if not plans:
        raise ValueError("no plans to score")
    bills = [monthly_bill(plan.price, customer) for plan in plans]
    psri = _normalized_lower_is_better([outage_hours(plan) for plan in plans])
    spi = _normalized_lower_is_better(bills)
    pdpi = _normalized_lower_is_better([deviation_charge(plan, customer) for plan in plans])
    shortest = min(plan.months for plan in plans)
    adi = [Fraction(shortest, plan.months) for plan in plans]
    w = customer.weights
    scores = [
        PlanScore(
            plan.id,
            psri[i],
            spi[i],
            pdpi[i],
            adi[i],
            w.reliability * psri[i] + w.price * spi[i] + w.deviation * pdpi[i] + w.duration * adi[i],
            bills[i],
        )
        for i, plan in enumerate(plans)
    ]
    best = min(scores, key=lambda s: (-s.score, s.monthly_bill, id_order(s.id)))
    return scores, best.id


def id_order(plan_id: str) -> tuple:
    """Whole-number ids by value, before any other id, which compare as text."""
    return (0, int(plan_id), "") if plan_id.isdigit() else (1, 0, plan_id)
