"""Energy registers frozen at settlement days and the reactive energy items, from fixed frames."""

from decimal import Decimal

import pytest

from meter_bridge.codec import decode_frame, parse_data_reply
from meter_bridge.data_items import (
    COMBINED_REACTIVE_ENERGY_1,
    COMBINED_REACTIVE_ENERGY_2,
    FORWARD_ACTIVE_ENERGY,
    QUADRANT_REACTIVE_ENERGY,
    REVERSE_ACTIVE_ENERGY,
    data_item,
    decode_value,
    frozen_at_settlement_day,
)

# Replies of meter 000000000161, as a meter sends them (data +33H, checksum, end byte).
FORWARD_AT_LAST_SETTLEMENT_DAY = "68 61 01 00 00 00 00 68 91 08 34 33 34 33 9A 78 56 34 35 16"  # 00010001: 12345.67 kWh
REVERSE_TWELVE_DAYS_BACK = "68 61 01 00 00 00 00 68 91 08 3F 33 35 33 33 33 33 B3 F1 16"  # 0002000C: 800000.00 kWh
COMBINED_REACTIVE_1_NEGATIVE = "68 61 01 00 00 00 00 68 91 08 33 33 36 33 67 45 33 B3 2C 16"  # 00030000: -12.34 kvarh
COMBINED_REACTIVE_2 = "68 61 01 00 00 00 00 68 91 08 33 33 37 33 83 3A 33 33 BE 16"  # 00040000: 7.50 kvarh
QUADRANT_IV = "68 61 01 00 00 00 00 68 91 08 33 33 3B 33 CC CC 33 33 9D 16"  # 00080000: 99.99 kvarh
QUADRANT_I_BLOCK = (  # 0005FF00: total 1.00, T1 0.50, T2 0.50, T3 and T4 absent (FF)
    "68 61 01 00 00 00 00 68 91 18 33 32 38 33 33 34 33 33 83 33 33 33 83 33 33 33 32 32 32 32 32 32 32 32 40 16"
)


def value_of(frame_hex: str):
    reply = parse_data_reply(decode_frame(bytes.fromhex(frame_hex)), expected_address="000000000161")
    return decode_value(reply.di, reply.payload)


def test_forward_energy_frozen_at_the_last_settlement_day():
    value = value_of(FORWARD_AT_LAST_SETTLEMENT_DAY)
    assert (value.di, value.value, value.item.name) == (
        0x00010001,
        Decimal("12345.67"),
        "forward active energy, settlement day -1",
    )


def test_reverse_energy_frozen_twelve_settlement_days_back():
    value = value_of(REVERSE_TWELVE_DAYS_BACK)
    assert (value.di, value.value) == (0x0002000C, Decimal("800000.00"))


def test_combined_reactive_energy_1_is_signed_kvarh():
    value = value_of(COMBINED_REACTIVE_1_NEGATIVE)
    assert (value.value, value.item.unit) == (Decimal("-12.34"), "kvarh")


def test_combined_reactive_energy_2():
    assert value_of(COMBINED_REACTIVE_2).value == Decimal("7.50")


def test_quadrant_iv_reactive_energy_is_unsigned():
    value = value_of(QUADRANT_IV)
    assert (value.item.name, value.item.signed, value.value) == ("quadrant IV reactive energy", False, Decimal("99.99"))


def test_quadrant_i_block_keeps_the_tariffs_the_meter_has():
    assert value_of(QUADRANT_I_BLOCK).values == (Decimal("1.00"), Decimal("0.50"), Decimal("0.50"), None, None)


@pytest.mark.parametrize("di", [COMBINED_REACTIVE_ENERGY_1, COMBINED_REACTIVE_ENERGY_2, *QUADRANT_REACTIVE_ENERGY])
def test_every_reactive_item_is_known_with_its_settlement_days(di):
    assert data_item(frozen_at_settlement_day(di, 12)).unit == "kvarh"


def test_no_thirteenth_settlement_day():
    assert data_item(FORWARD_ACTIVE_ENERGY | 0x0D) is None


def test_frozen_identifier_of_a_register():
    assert [frozen_at_settlement_day(REVERSE_ACTIVE_ENERGY, days) for days in (1, 2)] == [0x00020001, 0x00020002]


@pytest.mark.parametrize(("di", "days"), [(FORWARD_ACTIVE_ENERGY, 0), (FORWARD_ACTIVE_ENERGY, 13), (0x00010001, 1)])
def test_settlement_days_outside_1_to_12_are_refused(di, days):
    with pytest.raises(ValueError):
        frozen_at_settlement_day(di, days)
