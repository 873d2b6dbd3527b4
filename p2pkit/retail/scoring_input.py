"""Plans and a customer profile as JSON, for the scoring; and the scores as JSON.

Plans (money in any currency unit, energy in kWh)::

    {"plans": [{"id": "1", "outages": [{"count": 6, "hours": 5}],
                "price": {"type": "flat", "price": 0.57},
                "deviation": {"band_pct": 5, "multiplier": 2}, "months": 6}, ...]}

with ``price`` one of ``{"type": "flat", "price": P}``, ``{"type": "tiers", "tiers": [{"up_to_kwh":
3000, "price": P}, ..., {"up_to_kwh": null, "price": P}]}`` (limits increasing, the last null) and
``{"type": "time_of_use", "bands": [{"from": "06:00", "to": "18:00", "price": P}, ...]}`` (two or
more bands, each starting where the previous ends, together one day). ``outages``: one entry
per past year, at least one. A customer::

    {"monthly_kwh": 5000, "deviation_pct": 6, "hourly_shares": [24 numbers summing to 1],
     "weights": {"reliability": 0.6, "price": 0.2, "deviation": 0.1, "duration": 0.1}}

Shares and weights must each sum to 1 within 1e-6; they are then divided by their sum, so that
they sum to exactly 1. Numbers are read as exact decimals. Anything else raises ``InputError``
naming the field, e.g. ``plans[1].price.tiers[0].up_to_kwh``.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from p2pkit.retail.inputs import InputError, clock_minute, decimal_text, get, items, number, sum_of_one
from p2pkit.retail.scoring import (
    MINUTES_PER_DAY,
    Band,
    Customer,
    Flat,
    Plan,
    PlanScore,
    Tier,
    Tiers,
    TimeOfUse,
    Weights,
)

WEIGHTS = ("reliability", "price", "deviation", "duration")


# ---------------------------------------------------------------- plans


def plans_from_json(document: Any) -> list[Plan]:
    plans = [_plan(entry, f"plans[{i}]") for i, entry in enumerate(items(get(document, "plans", "plans"), "plans"))]
    seen: set[str] = set()
    for i, plan in enumerate(plans):
        if plan.id in seen:
            raise InputError(f"plans[{i}].id", f"{plan.id!r} is used by another plan")
        seen.add(plan.id)
    return plans


def _plan(entry: Any, field: str) -> Plan:
    plan_id = get(entry, "id", f"{field}.id")
    if not isinstance(plan_id, str) or not plan_id:
        raise InputError(f"{field}.id", "must be a non-empty string")
    outages = tuple(
        (
            number(get(year, "count", f"{field}.outages[{k}].count"), f"{field}.outages[{k}].count"),
            number(get(year, "hours", f"{field}.outages[{k}].hours"), f"{field}.outages[{k}].hours"),
        )
        for k, year in enumerate(items(get(entry, "outages", f"{field}.outages"), f"{field}.outages"))
    )
    deviation = get(entry, "deviation", f"{field}.deviation")
    band = number(get(deviation, "band_pct", f"{field}.deviation.band_pct"), f"{field}.deviation.band_pct")
    multiplier = number(get(deviation, "multiplier", f"{field}.deviation.multiplier"), f"{field}.deviation.multiplier")
    months = get(entry, "months", f"{field}.months")
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise InputError(f"{field}.months", f"must be a whole number of months, 1 or more, not {months}")
    return Plan(
        plan_id, outages, _price(get(entry, "price", f"{field}.price"), f"{field}.price"), band, multiplier, months
    )


def _price(price: Any, field: str) -> Flat | TimeOfUse | Tiers:
    kind = get(price, "type", f"{field}.type")
    if kind == "flat":
        return Flat(number(get(price, "price", f"{field}.price"), f"{field}.price", positive=True))
    if kind == "tiers":
        return Tiers(_tiers(items(get(price, "tiers", f"{field}.tiers"), f"{field}.tiers"), f"{field}.tiers"))
    if kind == "time_of_use":
        return TimeOfUse(
            _bands(items(get(price, "bands", f"{field}.bands"), f"{field}.bands", minimum=2), f"{field}.bands")
        )
    raise InputError(f"{field}.type", f'must be "flat", "tiers" or "time_of_use", not {json.dumps(kind, default=str)}')


def _tiers(entries: list, field: str) -> tuple[Tier, ...]:
    tiers, previous = [], Fraction(0)
    for i, entry in enumerate(entries):
        limit = get(entry, "up_to_kwh", f"{field}[{i}].up_to_kwh")
        last = i == len(entries) - 1
        if limit is None and not last:
            raise InputError(f"{field}[{i}].up_to_kwh", "only the last tier may have no limit (null)")
        if limit is not None:
            if last:
                raise InputError(f"{field}[{i}].up_to_kwh", "the last tier must have no limit (null)")
            limit = number(limit, f"{field}[{i}].up_to_kwh", positive=True)
            if limit <= previous:
                raise InputError(f"{field}[{i}].up_to_kwh", f"must be above the previous tier's {previous}")
            previous = limit
        tiers.append(
            Tier(limit, number(get(entry, "price", f"{field}[{i}].price"), f"{field}[{i}].price", positive=True))
        )
    return tuple(tiers)


def _bands(entries: list, field: str) -> tuple[Band, ...]:
    bands = tuple(
        Band(
            clock_minute(get(entry, "from", f"{field}[{i}].from"), f"{field}[{i}].from"),
            clock_minute(get(entry, "to", f"{field}[{i}].to"), f"{field}[{i}].to"),
            number(get(entry, "price", f"{field}[{i}].price"), f"{field}[{i}].price", positive=True),
        )
        for i, entry in enumerate(entries)
    )
    for i, band in enumerate(bands):
        if band.minutes == 0:
            raise InputError(f"{field}[{i}]", "is empty (from equals to)")
        following = bands[(i + 1) % len(bands)]
        if band.to_minute != following.from_minute:
            raise InputError(f"{field}[{(i + 1) % len(bands)}].from", "must be where the previous band ends")
    if sum(band.minutes for band in bands) != MINUTES_PER_DAY:
        raise InputError(field, "must cover the day exactly once")
    return bands


# ---------------------------------------------------------------- customer


def customer_from_json(document: Any) -> Customer:
    monthly = number(get(document, "monthly_kwh", "monthly_kwh"), "monthly_kwh")
    deviation = number(get(document, "deviation_pct", "deviation_pct"), "deviation_pct")
    shares = items(get(document, "hourly_shares", "hourly_shares"), "hourly_shares")
    if len(shares) != 24:
        raise InputError("hourly_shares", f"must have 24 entries, one per hour, not {len(shares)}")
    shares = sum_of_one([number(s, f"hourly_shares[{h}]") for h, s in enumerate(shares)], "hourly_shares")
    return Customer(monthly, deviation, tuple(shares), weights_from_json(get(document, "weights", "weights")))


def weights_from_json(weights: Any, field: str = "weights") -> Weights:
    """The four weights, each in [0, 1], together 1 (within 1e-6, then divided by their sum)."""
    values = [number(get(weights, name, f"{field}.{name}"), f"{field}.{name}", minimum=Fraction(0)) for name in WEIGHTS]
    for name, value in zip(WEIGHTS, values):
        if value > 1:
            raise InputError(f"{field}.{name}", f"must be between 0 and 1, not {float(value)}")
    return Weights(*sum_of_one(values, field))


# ---------------------------------------------------------------- output


def scores_json(scores: list[PlanScore], choice: str) -> str:
    """The scores as JSON text, every number with its full precision."""
    rows = []
    for s in scores:
        fields = [
            ("psri", s.psri),
            ("spi", s.spi),
            ("pdpi", s.pdpi),
            ("adi", s.adi),
            ("score", s.score),
            ("monthly_bill", s.monthly_bill),
        ]
        rows.append(
            "{" + ", ".join([f'"id": {json.dumps(s.id)}'] + [f'"{k}": {decimal_text(v)}' for k, v in fields]) + "}"
        )
    return '{"plans": [' + ", ".join(rows) + f'], "choice": {json.dumps(choice)}' + "}"
