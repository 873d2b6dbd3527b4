"""A storage station's battery, simulated for tests and demos: state of charge, power limits and
efficiency, driven by set-points as a station's equipment is.

Sign convention: a positive set-point discharges (the station supplies users), a negative one
charges (it absorbs their surplus). Energy is counted at the terminals, where the station's meter
reads it: supplying E kWh takes E / efficiency from the store, absorbing E kWh adds
E x efficiency to it (``efficiency`` is one way; the round trip is its square).
"""

from __future__ import annotations

from dataclasses import dataclass


class BatteryError(ValueError):
    """A battery built or commanded with values it cannot have (the message names which)."""


@dataclass
class SimulatedBattery:
    capacity_kwh: float
    stored_kwh: float
    max_discharge_kw: float
    max_charge_kw: float
    efficiency: float = 0.95
    set_point_kw: float = 0.0

    def __post_init__(self) -> None:
        if not self.capacity_kwh > 0:
            raise BatteryError(f"capacity_kwh must be positive, not {self.capacity_kwh}")
        if not 0 <= self.stored_kwh <= self.capacity_kwh:
            raise BatteryError(f"stored_kwh must be within 0..{self.capacity_kwh}, not {self.stored_kwh}")
        if self.max_discharge_kw < 0 or self.max_charge_kw < 0:
            raise BatteryError("power limits must not be negative")
        if not 0 < self.efficiency <= 1:
            raise BatteryError(f"efficiency must be in (0, 1], not {self.efficiency}")

    def command(self, set_point_kw: float) -> float:
        """Set the power (kW, + discharge, - charge), clamped to the limits; returns what was set."""
        if set_point_kw != set_point_kw:  # NaN
            raise BatteryError("set-point is not a number")
        self.set_point_kw = max(-self.max_charge_kw, min(self.max_discharge_kw, set_point_kw))
        return self.set_point_kw

    def step(self, seconds: float) -> float:
        """Run `seconds` at the set-point; returns the energy at the terminals in kWh (+ out, - in),
        less than the set-point asks when the store empties or fills (the set-point then drops to 0)."""
        if seconds < 0:
            raise BatteryError(f"seconds must not be negative, not {seconds}")
        asked = self.set_point_kw * seconds / 3600
        if asked >= 0:
            delivered = min(asked, self.stored_kwh * self.efficiency)
            self.stored_kwh = max(0.0, self.stored_kwh - delivered / self.efficiency)
        else:
            delivered = -min(-asked, (self.capacity_kwh - self.stored_kwh) / self.efficiency)
            self.stored_kwh = min(self.capacity_kwh, self.stored_kwh - delivered * self.efficiency)
        if delivered != asked:
            self.set_point_kw = 0.0
        return delivered

    @property
    def state_of_charge(self) -> float:
        return self.stored_kwh / self.capacity_kwh

    def whole_units(self) -> tuple[int, int]:
        """(stored, capacity) in whole kWh, rounded down, as the station reports them on chain."""
        return int(self.stored_kwh + 1e-9), int(self.capacity_kwh + 1e-9)
