"""A day of the paper's five-user case: what each prosumer declares, bids and actually meters.

Four prosumers trade (the public grid balances): wind (green producer), a controllable source
(producer), an EV charger (green consumer) and an ordinary load (consumer). For each of the 96
quarter hours of a day a profile gives the forecast energy (the declared quantity), the price bid
and the energy actually metered, the forecast being off by a random error of realistic size
(wind forecasts err most, a controllable source least) so that balancing and reward/penalty
matter. Prices sit in the paper's range, 0.45e-3 to 0.85e-3 ether per kWh. Each prosumer's meter
has a rated power that fits its day; what it meters never exceeds what that meter can measure in a
quarter hour. Deterministic for a given seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

PERIODS_PER_DAY = 96
QUARTER_SECONDS = 900
MILLI_ETHER = 10**15


@dataclass(frozen=True)
class Prosumer:
    name: str
    producer: bool
    green: bool
    forecast_error: float  # standard deviation of actual / forecast - 1
    rated_power_w: int  # of its meter (and of the turbine, source, charger or connection behind it)

    @property
    def quarter_capacity_wh(self) -> int:
        """What its meter can measure in a quarter hour."""
        return self.rated_power_w * QUARTER_SECONDS // 3600


@dataclass(frozen=True)
class Quarter:
    """One prosumer in one quarter hour."""

    declared_wh: int
    price_wei_per_kwh: int
    actual_wh: int


WIND = Prosumer("wind", producer=True, green=True, forecast_error=0.15, rated_power_w=6_000)
CONTROLLABLE = Prosumer("controllable source", producer=True, green=False, forecast_error=0.03, rated_power_w=3_000)
EV = Prosumer("EV charger", producer=False, green=True, forecast_error=0.08, rated_power_w=7_400)
LOAD = Prosumer("ordinary load", producer=False, green=False, forecast_error=0.12, rated_power_w=8_000)
PAPER_PROSUMERS = (WIND, CONTROLLABLE, EV, LOAD)


def _hours(quarter: int) -> float:
    return quarter / 4


def _forecast_kwh(prosumer: Prosumer, quarter: int) -> float:
    h = _hours(quarter)
    if prosumer is WIND:  # stronger at night, a lull in the afternoon
        return 0.55 + 0.3 * math.cos(2 * math.pi * (h - 3) / 24)
    if prosumer is CONTROLLABLE:
        return 0.6
    if prosumer is EV:  # charges in the evening and at night
        return 1.0 if h >= 19 or h < 6 else 0.2
    # ordinary load: base plus morning and evening peaks
    return 0.7 + 0.4 * math.exp(-((h - 8) ** 2) / 2) + 0.6 * math.exp(-((h - 19.5) ** 2) / 3)


def _price_milli_ether(prosumer: Prosumer, quarter: int, rng: random.Random) -> float:
    h = _hours(quarter)
    demand = 0.5 + 0.5 * math.sin(2 * math.pi * (h - 9) / 24)  # 0 at 03:00, 1 at 15:00
    if prosumer is WIND:
        base = 0.48 + 0.15 * demand
    elif prosumer is CONTROLLABLE:
        base = 0.52 + 0.2 * demand
    elif prosumer is EV:
        base = 0.58 + 0.18 * demand
    else:
        base = 0.62 + 0.2 * demand
    return base + rng.uniform(-0.03, 0.03)


def rated_power_for_period(prosumer: Prosumer, period_length: int, reading_delay: int = 0) -> int:
    """The rated power (W) to bind the prosumer's meter with on a market whose periods last
    ``period_length`` seconds while each one plays a quarter hour of the day (demos and replays
    run faster than real time): what the meter measures in a quarter hour must fit one period,
    read up to ``reading_delay`` seconds late. Equals the rated power for 15-minute periods."""
    return -(-prosumer.rated_power_w * QUARTER_SECONDS * (period_length + reading_delay) // period_length**2)


def day(prosumer: Prosumer, seed: int = 2019) -> list[Quarter]:
    """The 96 quarters of one prosumer's day."""
    rng = random.Random(f"{seed}:{prosumer.name}")
    quarters = []
    for q in range(PERIODS_PER_DAY):
        forecast = _forecast_kwh(prosumer, q)
        actual = max(0.0, forecast * (1 + rng.gauss(0, prosumer.forecast_error)))
        price = _price_milli_ether(prosumer, q, rng)
        actual_wh = min(round(actual * 1000), prosumer.quarter_capacity_wh)
        quarters.append(Quarter(round(forecast * 1000), round(price * 1000) * MILLI_ETHER // 1000, actual_wh))
    return quarters
