"""Data identifiers (DI) of DL/T 645-2007 and their values, on bytes only.

A DI is written DI3 DI2 DI1 DI0 (0x00010000 = forward active total energy) and goes on the wire
lowest byte first. Values are BCD, lowest byte first, after the +33H offset has been removed by
the codec. Where the standard uses the top bit of the highest byte as a sign (combined energy,
current, power, power factor), it is decoded as such. A value whose bytes are all FFH is one the
meter does not have: it decodes to None.

Energy identifiers::

    DI3 DI2 DI1 DI0
    00  kind  tariff  settlement
        00 combined active      00 total        00 current, 01..0C previous settlement days
        01 forward active       01..04 T1..T4      (01 the last, 0C the twelfth before)
        02 reverse active       FF block: total, T1..T4
        03 combined reactive 1
        04 combined reactive 2
        05..08 reactive, quadrants I..IV

Active energy is in kWh, reactive in kvarh, both XXXXXX.XX; the combined items (active,
reactive 1 and reactive 2) carry a sign in their top bit. A meter freezes every energy register
at each monthly settlement day and keeps the last twelve: DI0 = 01 is the register frozen at the
last settlement day (the start of the current month), 02 at the one before.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from meter_bridge.codec import bcd_byte, bcd_digits
from meter_bridge.errors import LengthError

COMBINED_ACTIVE_ENERGY = 0x00000000
FORWARD_ACTIVE_ENERGY = 0x00010000
REVERSE_ACTIVE_ENERGY = 0x00020000
FORWARD_ACTIVE_ENERGY_BLOCK = 0x0001FF00
PHASE_A_VOLTAGE = 0x02010100
VOLTAGE_BLOCK = 0x0201FF00
PHASE_A_CURRENT = 0x02020100
TOTAL_ACTIVE_POWER = 0x02030000
TOTAL_POWER_FACTOR = 0x02060000
GRID_FREQUENCY = 0x02800002
COMMUNICATION_ADDRESS = 0x04000401
METER_NUMBER = 0x04000402

COMBINED_REACTIVE_ENERGY_1 = 0x00030000
COMBINED_REACTIVE_ENERGY_2 = 0x00040000
QUADRANT_REACTIVE_ENERGY = (0x00050000, 0x00060000, 0x00070000, 0x00080000)  # quadrants I..IV

ENERGY_REGISTER_LIMIT = Decimal("1000000.00")  # XXXXXX.XX kWh rolls over to 0 after 999999.99
SETTLEMENT_DAYS_KEPT = 12

# DI2 of an energy item: its name, unit, and whether the top bit is a sign.
ENERGY_KINDS = {
    0x00: ("combined active energy", "kWh", True),
    0x01: ("forward active energy", "kWh", False),
    0x02: ("reverse active energy", "kWh", False),
    0x03: ("combined reactive energy 1", "kvarh", True),
    0x04: ("combined reactive energy 2", "kvarh", True),
    0x05: ("quadrant I reactive energy", "kvarh", False),
    0x06: ("quadrant II reactive energy", "kvarh", False),
    0x07: ("quadrant III reactive energy", "kvarh", False),
    0x08: ("quadrant IV reactive energy", "kvarh", False),
}
TARIFF_LABELS = ("total", "T1", "T2", "T3", "T4")
PHASES = ("A", "B", "C")
TOTAL_AND_PHASES = ("total", "A", "B", "C")
BLOCK = 0xFF


@dataclass(frozen=True)
class DataItem:
    """What a data identifier holds: one value, or a block of values of the same format."""

    name: str
    unit: str
    size: int  # bytes per value
    decimals: int
    signed: bool
    labels: tuple[str, ...]  # one per value of the item; ("",) for a single value
    digits: bool = False  # a BCD number such as an address, kept as a digit string


@dataclass(frozen=True)
class DataValue:
    """A decoded value: one entry per label; None where the meter has no value (FF..FF)."""

    di: int
    item: DataItem
    values: tuple[Decimal | str | None, ...]

    @property
    def value(self) -> Decimal | str | None:
        """The first (for single items: the only) value."""
        return self.values[0]


def data_item(di: int) -> DataItem | None:
    """The format of a data identifier, or None for one this package does not know."""
    di3, di2, di1, di0 = di.to_bytes(4, "big")
    if di3 == 0x00 and di2 in ENERGY_KINDS and (di1 <= 4 or di1 == BLOCK) and di0 <= SETTLEMENT_DAYS_KEPT:
        name, unit, signed = ENERGY_KINDS[di2]
        labels = TARIFF_LABELS if di1 == BLOCK else (TARIFF_LABELS[di1],)
        settlement = "" if di0 == 0 else f", settlement day -{di0}"
        return DataItem(f"{name}{settlement}", unit, 4, 2, signed, labels)
    if di == GRID_FREQUENCY:
        return DataItem("grid frequency", "Hz", 2, 2, False, ("",))
    if di == COMMUNICATION_ADDRESS:
        return DataItem("communication address", "", 6, 0, False, ("",), digits=True)
    if di == METER_NUMBER:
        return DataItem("meter number", "", 6, 0, False, ("",), digits=True)
    if di3 == 0x02 and di0 == 0x00:
        if di2 == 0x01 and (1 <= di1 <= 3 or di1 == BLOCK):
            labels = PHASES if di1 == BLOCK else (PHASES[di1 - 1],)
            return DataItem("voltage", "V", 2, 1, False, labels)
        if di2 == 0x02 and (1 <= di1 <= 3 or di1 == BLOCK):
            labels = PHASES if di1 == BLOCK else (PHASES[di1 - 1],)
            return DataItem("current", "A", 3, 3, True, labels)
        if di2 == 0x03 and (di1 <= 3 or di1 == BLOCK):
            labels = TOTAL_AND_PHASES if di1 == BLOCK else (TOTAL_AND_PHASES[di1],)
            return DataItem("active power", "kW", 3, 4, True, labels)
        if di2 == 0x06 and (di1 <= 3 or di1 == BLOCK):
            labels = TOTAL_AND_PHASES if di1 == BLOCK else (TOTAL_AND_PHASES[di1],)
            return DataItem("power factor", "", 2, 3, True, labels)
    return None


def frozen_at_settlement_day(di: int, days_back: int) -> int:
    """The identifier of an energy register as frozen ``days_back`` settlement days ago (1..12)."""
    if not 1 <= days_back <= SETTLEMENT_DAYS_KEPT or di & 0xFF:
        raise ValueError(f"{di:08X} frozen {days_back} settlement days back is not an energy identifier")
    return di | days_back


def decode_value(di: int, payload: bytes) -> DataValue | None:
    """Decode the value bytes of a reply; None for an identifier this package does not know.

    Blocks may come back shorter than the full block (meters leave out tariffs they lack), but
    always a whole number of values.
    """
    item = data_item(di)
    if item is None:
        return None
    full = item.size * len(item.labels)
    if len(item.labels) == 1 and len(payload) != full:
        raise LengthError(f"{item.name} ({di:08X}) takes {full} bytes, reply carries {len(payload)}")
    if not payload or len(payload) > full or len(payload) % item.size:
        raise LengthError(
            f"{item.name} block ({di:08X}) takes up to {len(item.labels)} values of {item.size} bytes, "
            f"reply carries {len(payload)} bytes"
        )
    fields = [payload[i : i + item.size] for i in range(0, len(payload), item.size)]
    return DataValue(di, item, tuple(_decode_field(item, field) for field in fields))


def _decode_field(item: DataItem, field: bytes) -> Decimal | str | None:
    if all(byte == 0xFF for byte in field):
        return None
    if item.digits:
        return bcd_digits(field, item.name)
    negative = item.signed and bool(field[-1] & 0x80)
    if negative:
        field = field[:-1] + bytes([field[-1] & 0x7F])
    magnitude = Decimal(int(bcd_digits(field, item.name))).scaleb(-item.decimals)
    return -magnitude if negative else magnitude


def encode_value(di: int, values: tuple[Decimal | str | None, ...]) -> bytes:
    """Value bytes of an identifier (the inverse of ``decode_value``), as a meter sends them."""
    item = data_item(di)
    if item is None:
        raise ValueError(f"unknown data identifier {di:08X}")
    return b"".join(_encode_field(item, value) for value in values)


def _encode_field(item: DataItem, value: Decimal | str | None) -> bytes:
    if value is None:
        return bytes([0xFF] * item.size)
    if item.digits:
        number = int(value)
        negative = False
    else:
        scaled = Decimal(value).scaleb(item.decimals)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than {item.decimals} decimals for {item.name}")
        number = abs(int(scaled))
        negative = scaled < 0
        if negative and not item.signed:
            raise ValueError(f"{item.name} cannot be negative: {value}")
    limit = 8 * 10 ** (2 * item.size - 1) if item.signed else 10 ** (2 * item.size)
    if number >= limit:
        raise ValueError(f"{value} does not fit in {item.size} BCD bytes for {item.name}")
    field = bytearray(bcd_byte(number // 100**i % 100) for i in range(item.size))
    if negative:
        field[-1] |= 0x80
    return bytes(field)
