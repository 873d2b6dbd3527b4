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
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

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

SUM_TOLERANCE = Fraction(1, 10**6)
DECIMAL_PLACES = 30  # of a value whose decimal expansion does not end sooner
WEIGHTS = ("reliability", "price", "deviation", "duration")


class InputError(ValueError):
    """A field of the input is missing or malformed; ``field`` names it."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


def load_json(path: str | Path, what: str) -> Any:
    """A JSON file with its numbers as exact decimals; NaN and Infinity are refused."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise InputError(what, f"cannot read {path}: {error.strerror}") from None

    def refuse(constant: str):
        raise InputError(what, f"{constant} is not a number")

    try:
        return json.loads(text, parse_float=Decimal, parse_constant=refuse)
    except json.JSONDecodeError as error:
        raise InputError(what, f"not JSON: {error}") from None


# ---------------------------------------------------------------- values


def _get(document: Any, key: str, field: str) -> Any:
    if not isinstance(document, dict):
        raise InputError(field.rsplit(".", 1)[0] if "." in field else field, "must be an object")
    if key not in document:
        raise InputError(field, "is missing")
    return document[key]


def _number(value: Any, field: str, *, minimum: Fraction | None = Fraction(0), positive: bool = False) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InputError(field, f"must be a number, not {json.dumps(value, default=str)}")
    number = Fraction(value)
    if positive and number <= 0:
        raise InputError(field, f"must be above 0, not {value}")
    if minimum is not None and number < minimum:
        raise InputError(field, f"must be {minimum} or more, not {value}")
    return number


def _list(value: Any, field: str, *, minimum: int = 1) -> list:
    if not isinstance(value, list):
        raise InputError(field, "must be a list")
    if len(value) < minimum:
        raise InputError(field, f"must have at least {minimum} entr{'y' if minimum == 1 else 'ies'}")
    return value


def _clock_minute(value: Any, field: str) -> int:
    if isinstance(value, str) and len(value) == 5 and value[2] == ":" and value.replace(":", "").isdigit():
        hours, minutes = int(value[:2]), int(value[3:])
        if (hours < 24 and minutes < 60) or value == "24:00":
            return (hours * 60 + minutes) % MINUTES_PER_DAY
    raise InputError(field, f'must be a clock time "HH:MM", not {json.dumps(value, default=str)}')


def _normalized(values: list[Fraction], field: str) -> list[Fraction]:
    total = sum(values, Fraction(0))
    if abs(total - 1) > SUM_TOLERANCE:
        raise InputError(field, f"must sum to 1, not {float(total)}")
    return [value / total for value in values]


# ---------------------------------------------------------------- plans


def plans_from_json(document: Any) -> list[Plan]:
    plans = [_plan(entry, f"plans[{i}]") for i, entry in enumerate(_list(_get(document, "plans", "plans"), "plans"))]
    seen: set[str] = set()
    for i, plan in enumerate(plans):
        if plan.id in seen:
            raise InputError(f"plans[{i}].id", f"{plan.id!r} is used by another plan")
        seen.add(plan.id)
    return plans


def _plan(entry: Any, field: str) -> Plan:
    plan_id = _get(entry, "id", f"{field}.id")
    if not isinstance(plan_id, str) or not plan_id:
        raise InputError(f"{field}.id", "must be a non-empty string")
    outages = tuple(
        (_number(_get(year, "count", f"{field}.outages[{k}].count"), f"{field}.outages[{k}].count"),
         _number(_get(year, "hours", f"{field}.outages[{k}].hours"), f"{field}.outages[{k}].hours"))
        for k, year in enumerate(_list(_get(entry, "outages", f"{field}.outages"), f"{field}.outages"))
    )
    deviation = _get(entry, "deviation", f"{field}.deviation")
    band = _number(_get(deviation, "band_pct", f"{field}.deviation.band_pct"), f"{field}.deviation.band_pct")
    multiplier = _number(_get(deviation, "multiplier", f"{field}.deviation.multiplier"), f"{field}.deviation.multiplier")
    months = _get(entry, "months", f"{field}.months")
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise InputError(f"{field}.months", f"must be a whole number of months, 1 or more, not {months}")
    return Plan(plan_id, outages, _price(_get(entry, "price", f"{field}.price"), f"{field}.price"), band, multiplier, months)


def _price(price: Any, field: str) -> Flat | TimeOfUse | Tiers:
    kind = _get(price, "type", f"{field}.type")
    if kind == "flat":
        return Flat(_number(_get(price, "price", f"{field}.price"), f"{field}.price", positive=True))
    if kind == "tiers":
        return Tiers(_tiers(_list(_get(price, "tiers", f"{field}.tiers"), f"{field}.tiers"), f"{field}.tiers"))
    if kind == "time_of_use":
        return TimeOfUse(_bands(_list(_get(price, "bands", f"{field}.bands"), f"{field}.bands", minimum=2), f"{field}.bands"))
    raise InputError(f"{field}.type", f'must be "flat", "tiers" or "time_of_use", not {json.dumps(kind, default=str)}')


def _tiers(entries: list, field: str) -> tuple[Tier, ...]:
    tiers, previous = [], Fraction(0)
    for i, entry in enumerate(entries):
        limit = _get(entry, "up_to_kwh", f"{field}[{i}].up_to_kwh")
        last = i == len(entries) - 1
        if limit is None and not last:
            raise InputError(f"{field}[{i}].up_to_kwh", "only the last tier may have no limit (null)")
        if limit is not None:
            if last:
                raise InputError(f"{field}[{i}].up_to_kwh", "the last tier must have no limit (null)")
            limit = _number(limit, f"{field}[{i}].up_to_kwh", positive=True)
            if limit <= previous:
                raise InputError(f"{field}[{i}].up_to_kwh", f"must be above the previous tier's {previous}")
            previous = limit
        tiers.append(Tier(limit, _number(_get(entry, "price", f"{field}[{i}].price"), f"{field}[{i}].price", positive=True)))
    return tuple(tiers)


def _bands(entries: list, field: str) -> tuple[Band, ...]:
    bands = tuple(
        Band(
            _clock_minute(_get(entry, "from", f"{field}[{i}].from"), f"{field}[{i}].from"),
            _clock_minute(_get(entry, "to", f"{field}[{i}].to"), f"{field}[{i}].to"),
            _number(_get(entry, "price", f"{field}[{i}].price"), f"{field}[{i}].price", positive=True),
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
    monthly = _number(_get(document, "monthly_kwh", "monthly_kwh"), "monthly_kwh")
    deviation = _number(_get(document, "deviation_pct", "deviation_pct"), "deviation_pct")
    shares = _list(_get(document, "hourly_shares", "hourly_shares"), "hourly_shares")
    if len(shares) != 24:
        raise InputError("hourly_shares", f"must have 24 entries, one per hour, not {len(shares)}")
    shares = _normalized([_number(s, f"hourly_shares[{h}]") for h, s in enumerate(shares)], "hourly_shares")
    weights = _get(document, "weights", "weights")
    values = [
        _number(_get(weights, name, f"weights.{name}"), f"weights.{name}", minimum=Fraction(0)) for name in WEIGHTS
    ]
    for name, value in zip(WEIGHTS, values):
        if value > 1:
            raise InputError(f"weights.{name}", f"must be between 0 and 1, not {float(value)}")
    return Customer(monthly, deviation, tuple(shares), Weights(*_normalized(values, "weights")))


# ---------------------------------------------------------------- output


def decimal_text(value: Fraction) -> str:
    """A fraction as a JSON number: exact when its decimal expansion ends within 30 places,
    otherwise rounded half-even to 30 places; trailing zeros dropped, at least one decimal."""
    scaled = round(value * 10**DECIMAL_PLACES)  # Fraction rounds half to even, exactly
    digits = str(abs(scaled)).rjust(DECIMAL_PLACES + 1, "0")
    whole, decimals = digits[:-DECIMAL_PLACES], digits[-DECIMAL_PLACES:].rstrip("0") or "0"
    return f"{'-' if scaled < 0 else ''}{whole}.{decimals}"


def scores_json(scores: list[PlanScore], choice: str) -> str:
    """The scores as JSON text, every number with its full precision."""
    rows = []
    for s in scores:
        fields = [("psri", s.psri), ("spi", s.spi), ("pdpi", s.pdpi), ("adi", s.adi), ("score", s.score),
                  ("monthly_bill", s.monthly_bill)]
        rows.append("{" + ", ".join([f'"id": {json.dumps(s.id)}'] + [f'"{k}": {decimal_text(v)}' for k, v in fields]) + "}")
    return '{"plans": [' + ", ".join(rows) + f'], "choice": {json.dumps(choice)}' + "}"
