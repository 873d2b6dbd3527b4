"""Values of the data identifiers: units, decimals, sign bits and missing values."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter_bridge.data_items import (
    COMBINED_ACTIVE_ENERGY,
    FORWARD_ACTIVE_ENERGY,
    FORWARD_ACTIVE_ENERGY_BLOCK,
    GRID_FREQUENCY,
    METER_NUMBER,
    PHASE_A_CURRENT,
    PHASE_A_VOLTAGE,
    REVERSE_ACTIVE_ENERGY,
    TOTAL_ACTIVE_POWER,
    TOTAL_POWER_FACTOR,
    data_item,
    decode_value,
    encode_value,
)
from meter_bridge.errors import LengthError


def test_forward_energy_is_xxxxxx_xx_kwh_lowest_byte_first():
    assert decode_value(FORWARD_ACTIVE_ENERGY, bytes.fromhex("67452301")).value == Decimal("12345.67")


def test_reverse_energy_has_no_sign_bit():
    assert decode_value(REVERSE_ACTIVE_ENERGY, bytes.fromhex("00000080")).value == Decimal("800000.00")


def test_combined_energy_uses_the_top_bit_as_sign():
    assert decode_value(COMBINED_ACTIVE_ENERGY, bytes.fromhex("50000080")).value == Decimal("-0.50")


def test_tariff_identifier_names_its_tariff():
    assert data_item(0x00010300).labels == ("T3",)


def test_energy_block_holds_total_and_four_tariffs():
    assert data_item(FORWARD_ACTIVE_ENERGY_BLOCK).labels == ("total", "T1", "T2", "T3", "T4")


def test_voltage_is_xxx_x_volts():
    value = decode_value(PHASE_A_VOLTAGE, bytes.fromhex("0123"))
    assert (value.value, value.item.unit) == (Decimal("230.1"), "V")


def test_current_is_xxx_xxx_amperes_with_sign():
    assert decode_value(PHASE_A_CURRENT, bytes.fromhex("001580")).value == Decimal("-1.500")


def test_active_power_is_xx_xxxx_kilowatts():
    value = decode_value(TOTAL_ACTIVE_POWER, bytes.fromhex("563412"))
    assert (value.value, value.item.unit) == (Decimal("12.3456"), "kW")


def test_power_factor_is_x_xxx():
    assert decode_value(TOTAL_POWER_FACTOR, bytes.fromhex("9909")).value == Decimal("0.999")


def test_frequency_is_xx_xx_hertz():
    assert decode_value(GRID_FREQUENCY, bytes.fromhex("0050")).value == Decimal("50.00")


def test_meter_number_stays_a_digit_string():
    assert decode_value(METER_NUMBER, bytes.fromhex("610100000000")).value == "000000000161"


def test_all_ff_is_a_value_the_meter_does_not_have():
    assert decode_value(PHASE_A_VOLTAGE, b"\xff\xff").value is None


def test_short_block_keeps_the_values_it_has():
    assert len(decode_value(FORWARD_ACTIVE_ENERGY_BLOCK, bytes(8)).values) == 2


def test_block_with_a_partial_value_raises_length_error():
    with pytest.raises(LengthError, match="up to 5 values of 4 bytes"):
        decode_value(FORWARD_ACTIVE_ENERGY_BLOCK, bytes(6))


def test_unknown_identifier_decodes_to_none():
    assert decode_value(0x04000101, b"\x01") is None


@given(st.integers(min_value=0, max_value=99_999_999))
def test_any_energy_register_round_trips(centi_kwh):
    energy = Decimal(centi_kwh).scaleb(-2)
    assert decode_value(FORWARD_ACTIVE_ENERGY, encode_value(FORWARD_ACTIVE_ENERGY, (energy,))).value == energy


@given(st.integers(min_value=-799_999, max_value=799_999))
def test_any_signed_current_round_trips(milliamperes):
    current = Decimal(milliamperes).scaleb(-3)
    assert decode_value(PHASE_A_CURRENT, encode_value(PHASE_A_CURRENT, (current,))).value == current
