"""The simulated battery of a station: set-points clamped to the power limits, energy counted at
the terminals through the efficiency, the store never below empty or above full, bad values refused."""

from __future__ import annotations

import pytest

from sim.battery import BatteryError, SimulatedBattery


def battery(**changes) -> SimulatedBattery:
    values = {"capacity_kwh": 100.0, "stored_kwh": 40.0, "max_discharge_kw": 50.0, "max_charge_kw": 25.0}
    return SimulatedBattery(**{**values, **changes})


def test_a_set_point_is_clamped_to_the_power_limits():
    unit = battery()
    assert unit.command(80) == 50
    assert unit.command(-80) == -25
    assert unit.command(10) == 10


def test_supplying_takes_more_than_it_delivers():
    unit = battery(efficiency=0.8)
    unit.command(36)
    assert unit.step(100) == pytest.approx(1.0)  # 36 kW for 100 s = 1 kWh out
    assert unit.stored_kwh == pytest.approx(40 - 1 / 0.8)


def test_absorbing_stores_less_than_it_takes():
    unit = battery(efficiency=0.8)
    unit.command(-18)
    assert unit.step(200) == pytest.approx(-1.0)
    assert unit.stored_kwh == pytest.approx(40.8)


def test_an_empty_store_stops_supplying():
    unit = battery(stored_kwh=0.5, efficiency=1.0)
    unit.command(50)
    assert unit.step(3600) == pytest.approx(0.5)
    assert (unit.stored_kwh, unit.set_point_kw) == (0.0, 0.0)
    assert unit.step(60) == 0.0


def test_a_full_store_stops_absorbing():
    unit = battery(stored_kwh=99.0, efficiency=1.0)
    unit.command(-25)
    assert unit.step(3600) == pytest.approx(-1.0)
    assert (unit.stored_kwh, unit.set_point_kw, unit.state_of_charge) == (100.0, 0.0, 1.0)


def test_the_chain_gets_whole_units():
    assert battery(stored_kwh=39.9999).whole_units() == (39, 100)


@pytest.mark.parametrize(
    "changes",
    [{"capacity_kwh": 0}, {"stored_kwh": 101}, {"stored_kwh": -1}, {"max_charge_kw": -1}, {"efficiency": 0}],
)
def test_impossible_batteries_are_refused(changes):
    with pytest.raises(BatteryError):
        battery(**changes)


def test_a_bad_command_or_step_is_refused():
    unit = battery()
    with pytest.raises(BatteryError):
        unit.command(float("nan"))
    with pytest.raises(BatteryError):
        unit.step(-1)
