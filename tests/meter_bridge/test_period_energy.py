"""A period's energy from consecutive register readings."""

from decimal import Decimal

from meter_bridge.period_energy import RegisterReading, energy_between

WIND = "000000000161"


def reading(period: int, kwh: str, address: str = WIND) -> RegisterReading:
    return RegisterReading(address, period, Decimal(kwh))


def test_difference_of_consecutive_starts_is_the_period_energy_in_wh():
    assert energy_between(reading(4, "100.25"), reading(5, "101.50")).energy_wh == 1250


def test_energy_belongs_to_the_period_the_reading_closes():
    assert energy_between(reading(4, "100.00"), reading(5, "101.00")).period == 4


def test_first_reading_gives_no_energy():
    assert energy_between(None, reading(5, "101.00")).energy_wh is None


def test_missed_start_gives_no_energy():
    assert energy_between(reading(3, "100.00"), reading(5, "101.00")).energy_wh is None


def test_new_meter_address_starts_over():
    result = energy_between(reading(4, "100.00"), reading(5, "0.50", address="000000000999"))
    assert result.energy_wh is None and "meter replaced" in result.note


def test_register_going_down_is_a_replacement():
    result = energy_between(reading(4, "5000.00"), reading(5, "3.00"))
    assert result.energy_wh is None and "register went down" in result.note


def test_register_past_999999_99_rolls_over():
    assert energy_between(reading(4, "999999.50"), reading(5, "0.75")).energy_wh == 1250


def test_unchanged_register_is_zero_energy():
    assert energy_between(reading(4, "42.00"), reading(5, "42.00")).energy_wh == 0
