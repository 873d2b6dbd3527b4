"""Reading JSON input exactly, with errors that name the field, and writing exact numbers.

Numbers are read as exact decimals (``decimal.Decimal``, then ``fractions.Fraction``); NaN and
Infinity are refused. ``InputError`` names the field the way a user finds it in the file, e.g.
``plans[1].price.tiers[0].up_to_kwh``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from p2pkit.retail.scoring import MINUTES_PER_DAY

SUM_TOLERANCE = Fraction(1, 10**6)
DECIMAL_PLACES = 30  # of a value whose decimal expansion does not end sooner


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


def get(document: Any, key: str, field: str) -> Any:
    if not isinstance(document, dict):
        raise InputError(field.rsplit(".", 1)[0] if "." in field else field, "must be an object")
    if key not in document:
        raise InputError(field, "is missing")
    return document[key]


def number(value: Any, field: str, *, minimum: Fraction | None = Fraction(0), positive: bool = False) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InputError(field, f"must be a number, not {json.dumps(value, default=str)}")
    number = Fraction(value)
    if positive and number <= 0:
        raise InputError(field, f"must be above 0, not {value}")
    if minimum is not None and number < minimum:
        raise InputError(field, f"must be {minimum} or more, not {value}")
    return number


def items(value: Any, field: str, *, minimum: int = 1) -> list:
    if not isinstance(value, list):
        raise InputError(field, "must be a list")
    if len(value) < minimum:
        raise InputError(field, f"must have at least {minimum} entr{'y' if minimum == 1 else 'ies'}")
    return value


def clock_minute(value: Any, field: str) -> int:
    if isinstance(value, str) and len(value) == 5 and value[2] == ":" and value.replace(":", "").isdigit():
        hours, minutes = int(value[:2]), int(value[3:])
        if (hours < 24 and minutes < 60) or value == "24:00":
            return (hours * 60 + minutes) % MINUTES_PER_DAY
    raise InputError(field, f'must be a clock time "HH:MM", not {json.dumps(value, default=str)}')


def sum_of_one(values: list[Fraction], field: str) -> list[Fraction]:
    total = sum(values, Fraction(0))
    if abs(total - 1) > SUM_TOLERANCE:
        raise InputError(field, f"must sum to 1, not {float(total)}")
    return [value / total for value in values]


def decimal_text(value: Fraction) -> str:
    """A fraction as a JSON number: exact when its decimal expansion ends within 30 places,
    otherwise rounded half-even to 30 places; trailing zeros dropped, at least one decimal."""
    scaled = round(value * 10**DECIMAL_PLACES)  # Fraction rounds half to even, exactly
    digits = str(abs(scaled)).rjust(DECIMAL_PLACES + 1, "0")
    whole, decimals = digits[:-DECIMAL_PLACES], digits[-DECIMAL_PLACES:].rstrip("0") or "0"
    return f"{'-' if scaled < 0 else ''}{whole}.{decimals}"
