"""A period's energy from two consecutive register readings.

The bridge reads a meter's energy register once at the start of every market period. The
reading at the start of period q closes delivery period q-1, whose energy is the difference to
the reading at the start of q-1::

    register  ──●───────────●───────────●──
              start q-1   start q     start q+1
                 └ period q-1 ┘└ period q ┘

No energy is claimed when it cannot be known for certain: the first reading of a meter, a gap
(a missed start), and a meter replacement (another address, or a register that went down)
only start over from the new register. A register that wraps past 999999.99 kWh is a rollover,
not a replacement, when the wrapped difference is plausible for one period.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from meter_bridge.data_items import ENERGY_REGISTER_LIMIT

# No prosumer of this market moves a megawatt-hour in one period; a drop of the register that
# would mean more than this after wrapping is a new meter, not a rollover.
ROLLOVER_WINDOW_KWH = Decimal("1000.00")
WH_PER_KWH = 1000


@dataclass(frozen=True)
class RegisterReading:
    """A register value in kWh, read from meter ``address`` at the start of period ``period``."""

    address: str
    period: int
    kwh: Decimal


@dataclass(frozen=True)
class PeriodEnergy:
    """Energy of delivery period ``period`` in Wh, or None with the reason it is unknown."""

    period: int
    energy_wh: int | None
    note: str = ""


def energy_between(previous: RegisterReading | None, current: RegisterReading) -> PeriodEnergy:
    """The energy of the period that ``current`` closes (current.period - 1)."""
    period = current.period - 1
    if previous is None:
        return PeriodEnergy(period, None, "first reading of this meter")
    if previous.address != current.address:
        return PeriodEnergy(period, None, f"meter replaced: address {previous.address} -> {current.address}")
    if previous.period != period:
        return PeriodEnergy(period, None, f"no reading at the start of period {period}")
    delta = current.kwh - previous.kwh
    note = ""
    if delta < 0:
        wrapped = delta + ENERGY_REGISTER_LIMIT
        if wrapped > ROLLOVER_WINDOW_KWH:
            return PeriodEnergy(period, None, f"meter replaced: register went down {previous.kwh} -> {current.kwh} kWh")
        delta, note = wrapped, "register rolled over"
    return PeriodEnergy(period, int(delta * WH_PER_KWH), note)
