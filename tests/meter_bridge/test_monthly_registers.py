"""A simulated meter freezes its registers at every month boundary, and the outbox keeps monthly
readings beside period readings (an outbox of the earlier schema is brought up to date)."""

import sqlite3
from decimal import Decimal

import pytest

from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY, REVERSE_ACTIVE_ENERGY, frozen_at_settlement_day
from meter_bridge.outbox import DONE, MONTHLY, PENDING, PERIOD, Outbox
from meter_bridge.period_energy import RegisterReading
from meter_bridge.simulator import PowerProfile, VirtualMeter
from p2pkit.retail.clock import BillingClock

MONTHS = BillingClock.fixed(month_length=1000, reading_grace=100, genesis_time=10_000)


@pytest.fixture
def meter(meter_clock):
    """An EV charger importing 3.6 kW (1 kWh every 1000 s, one month), from month 0 on."""
    meter_clock.now = MONTHS.month_start(0) + 500
    return VirtualMeter(
        "000000000162",
        forward_kwh=Decimal("100.00"),
        profile=PowerProfile((3.6,)),
        clock=meter_clock,
        settlement=MONTHS,
    )


def frozen(meter, days_back, di=FORWARD_ACTIVE_ENERGY):
    return meter.values(frozen_at_settlement_day(di, days_back))


def test_registers_are_frozen_at_the_boundarys_instant(meter, meter_clock):
    meter_clock.now = MONTHS.month_start(1) + 300  # read 300 s after the boundary
    assert frozen(meter, 1) == (Decimal("100.50"),)  # 500 s of 3.6 kW before the boundary


def test_each_boundary_pushes_the_frozen_registers_back_one_settlement_day(meter, meter_clock):
    meter_clock.now = MONTHS.month_start(3) + 1
    assert [frozen(meter, days)[0] for days in (1, 2, 3)] == [Decimal("102.50"), Decimal("101.50"), Decimal("100.50")]


def test_boundaries_passed_unread_are_frozen_all_the_same(meter, meter_clock):
    meter_clock.now = MONTHS.month_start(2) + 1
    frozen(meter, 1)
    meter_clock.now = MONTHS.month_start(14) + 1  # a year unread
    assert frozen(meter, 12) == (Decimal("102.50"),)


def test_a_settlement_day_not_yet_frozen_has_no_value(meter, meter_clock):
    meter_clock.now = MONTHS.month_start(1) + 1
    assert frozen(meter, 2) is None


def test_reverse_register_is_frozen_too(meter_clock):
    meter_clock.now = MONTHS.month_start(0)
    wind = VirtualMeter(
        "000000000161",
        reverse_kwh=Decimal("5000.00"),
        profile=PowerProfile((-36.0,)),
        clock=meter_clock,
        settlement=MONTHS,
    )
    meter_clock.now = MONTHS.month_start(1) + 5
    assert frozen(wind, 1, REVERSE_ACTIVE_ENERGY) == (Decimal("5010.00"),)


def test_replaced_meter_has_nothing_frozen(meter, meter_clock):
    meter_clock.now = MONTHS.month_start(2) + 1
    meter.replace("000000000162")
    assert frozen(meter, 1) is None


# ---------------------------------------------------------------- the outbox

V0_SCHEMA = """
CREATE TABLE readings (id INTEGER PRIMARY KEY, meter TEXT NOT NULL, period INTEGER NOT NULL,
    energy_wh INTEGER NOT NULL, state TEXT NOT NULL, nonce INTEGER, raw_tx BLOB, tx_hash TEXT,
    reason TEXT NOT NULL DEFAULT '', updated_at REAL NOT NULL, UNIQUE (meter, period));
CREATE TABLE registers (meter TEXT PRIMARY KEY, address TEXT NOT NULL, period INTEGER NOT NULL, kwh TEXT NOT NULL);
CREATE TABLE clock (id INTEGER PRIMARY KEY CHECK (id = 1), genesis_time INTEGER NOT NULL,
    period_length INTEGER NOT NULL, reading_grace INTEGER NOT NULL);
INSERT INTO readings (meter, period, energy_wh, state, updated_at) VALUES ('wind', 7, 300, 'pending', 0);
INSERT INTO registers VALUES ('wind', '000000000161', 8, '5002.10');
"""


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(str(tmp_path / "outbox.sqlite3"))
    yield box
    box.close()


def test_monthly_and_period_readings_of_the_same_number_live_side_by_side(outbox):
    outbox.record("ev", RegisterReading("000000000162", 8, Decimal("1.00")), 100, 7)
    outbox.record_monthly("ev", 7, 1000, 2000, 1000)
    assert sorted((q.kind, q.period) for q in outbox.all()) == [(MONTHLY, 7), (PERIOD, 7)]


def test_a_month_is_queued_once_per_meter(outbox):
    outbox.record_monthly("ev", 7, 1000, 2000, 1000)
    outbox.record_monthly("ev", 7, 1000, 2500, 1500)
    assert [(q.opening_wh, q.closing_wh) for q in outbox.all()] == [(1000, 2000)]


def test_signed_monthly_reading_holds_its_nonce_for_the_meter(outbox):
    outbox.record("ev", RegisterReading("000000000162", 8, Decimal("1.00")), 100, 7)
    outbox.record_monthly("ev", 7, 1000, 2000, 1000)
    monthly = outbox.monthly("ev", 7)
    outbox.mark_signed(monthly.id, 5, b"raw", "0xhash")
    assert outbox.highest_nonce("ev") == 5


def test_outbox_of_the_earlier_schema_keeps_its_readings(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(V0_SCHEMA)
    box = Outbox(str(path))
    try:
        (queued,) = box.all()
        assert (queued.kind, queued.meter, queued.period, queued.energy_wh, queued.state) == (
            PERIOD,
            "wind",
            7,
            300,
            PENDING,
        )
        assert box.last_register("wind") == RegisterReading("000000000161", 8, Decimal("5002.10"))
    finally:
        box.close()


def test_outbox_of_the_earlier_schema_takes_monthly_readings(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(V0_SCHEMA)
    box = Outbox(str(path))
    try:
        box.record_monthly("wind", 7, 1, 2, 1)
        box.mark_done(box.monthly("wind", 7).id)
        assert [(q.kind, q.state) for q in box.all()] == [(PERIOD, PENDING), (MONTHLY, DONE)]
    finally:
        box.close()
