"""The daemon's outbox against a fake market: chain down, crashes, restarts, refusals."""

from decimal import Decimal

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from meter_bridge_fakes import CrashingMarket, FakeMarket, InjectedCrash, ScriptedMeters

from meter_bridge.daemon import BridgedMeter, Daemon
from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY, REVERSE_ACTIVE_ENERGY
from meter_bridge.outbox import DONE, FAILED, PENDING, SIGNED, Outbox
from meter_bridge.signing import MeterKey
from p2pkit.schedule import Schedule

SCHEDULE = Schedule.scaled(30, genesis_time=1_000)
WIND_ADDRESS, EV_ADDRESS = "000000000161", "000000000162"
WIND_PROSUMER, EV_PROSUMER = 2, 3
RATED_POWER_W = 1_000_000  # 8,333 Wh in one 30-second period


def start_of(period: int) -> float:
    return SCHEDULE.start(period) + 1


@pytest.fixture
def wind():
    return BridgedMeter("wind", WIND_ADDRESS, 161, REVERSE_ACTIVE_ENERGY, MeterKey(Account.create().key))


@pytest.fixture
def ev():
    return BridgedMeter("ev", EV_ADDRESS, 162, FORWARD_ACTIVE_ENERGY, MeterKey(Account.create().key))


@pytest.fixture
def market(wind, ev):
    return FakeMarket(
        SCHEDULE,
        {wind.key.address: (WIND_PROSUMER, 161, RATED_POWER_W), ev.key.address: (EV_PROSUMER, 162, RATED_POWER_W)},
    )


@pytest.fixture
def meters():
    return ScriptedMeters({WIND_ADDRESS: "5000.00", EV_ADDRESS: "1200.00"})


@pytest.fixture
def outbox_path(tmp_path):
    return str(tmp_path / "outbox.sqlite3")


def bridge(meters, market, outbox_path, *bridged: BridgedMeter) -> Daemon:
    return Daemon(list(bridged), meters, market, Outbox(outbox_path), max_reading_delay=10)


def step(daemon: Daemon, market, period: int):
    market.now = start_of(period)
    return daemon.step(market.now)


def read_one_period(daemon, market, meters, wind_kwh="5001.25"):
    """Read at the start of period 1, let the wind register move, read at the start of 2."""
    step(daemon, market, 1)
    meters.registers[WIND_ADDRESS] = Decimal(wind_kwh)
    return step(daemon, market, 2)


def test_reading_reaches_the_contract_in_wh(meters, market, outbox_path, wind):
    read_one_period(bridge(meters, market, outbox_path, wind), market, meters)
    assert market.readings == {(WIND_PROSUMER, 1): 1250}


def test_energy_above_what_the_meter_can_measure_is_not_queued(meters, market, outbox_path, wind, caplog):
    daemon = bridge(meters, market, outbox_path, wind)
    read_one_period(daemon, market, meters, wind_kwh="5008.34")  # 8,340 Wh: above 8,333 Wh
    assert daemon.outbox.all() == [] and market.raw_sent == []
    assert daemon.above_capacity == {"wind": 1}
    assert "8340 Wh is more than the meter can measure (8333 Wh): not queued (1 refused so far)" in caplog.text
    meters.registers[WIND_ADDRESS] = Decimal("5009.34")  # the next period counts from the new register
    step(daemon, market, 3)
    assert market.readings == {(WIND_PROSUMER, 2): 1000}


def test_submitted_reading_leaves_the_outbox_done(meters, market, outbox_path, wind):
    daemon = bridge(meters, market, outbox_path, wind)
    read_one_period(daemon, market, meters)
    assert [queued.state for queued in daemon.outbox.all()] == [DONE]


def test_reading_waits_while_the_chain_is_down(meters, market, outbox_path, wind):
    daemon = bridge(meters, market, outbox_path, wind)
    step(daemon, market, 1)
    market.online = False
    meters.registers[WIND_ADDRESS] = Decimal("5001.25")
    step(daemon, market, 2)
    assert [queued.state for queued in daemon.outbox.all()] == [PENDING]


def test_reading_goes_out_once_the_chain_is_back(meters, market, outbox_path, wind):
    daemon = bridge(meters, market, outbox_path, wind)
    step(daemon, market, 1)
    market.online = False
    meters.registers[WIND_ADDRESS] = Decimal("5001.25")
    step(daemon, market, 2)
    market.online = True
    market.now += 5
    daemon.step(market.now)
    assert market.applied == [(WIND_PROSUMER, 1, 1250)]


def test_market_schedule_survives_a_restart_with_the_chain_down(meters, market, outbox_path, wind):
    step(bridge(meters, market, outbox_path, wind), market, 1)
    market.online = False
    assert bridge(meters, market, outbox_path, wind).schedule() == SCHEDULE


def test_transaction_is_stored_signed_before_it_is_sent(meters, market, outbox_path, wind):
    daemon = bridge(meters, market, outbox_path, wind)
    with pytest.raises(InjectedCrash):
        read_one_period(bridge(meters, CrashingMarket(market, after_send=False), outbox_path, wind), market, meters)
    (queued,) = daemon.outbox.all()
    assert (queued.state, queued.nonce, queued.raw_tx is not None) == (SIGNED, 0, True)


def test_restart_after_a_crash_before_sending_sends_the_very_same_transaction(meters, market, outbox_path, wind):
    with pytest.raises(InjectedCrash):
        read_one_period(bridge(meters, CrashingMarket(market, after_send=False), outbox_path, wind), market, meters)
    signed_before_crash = Outbox(outbox_path).all()[0].raw_tx
    bridge(meters, market, outbox_path, wind).step(market.now)
    assert market.raw_sent == [signed_before_crash]


def test_restart_after_a_crash_after_sending_does_not_post_twice(meters, market, outbox_path, wind):
    with pytest.raises(InjectedCrash):
        read_one_period(bridge(meters, CrashingMarket(market, after_send=True), outbox_path, wind), market, meters)
    restarted = bridge(meters, market, outbox_path, wind)
    restarted.step(market.now)
    assert market.applied == [(WIND_PROSUMER, 1, 1250)] and market.raw_sent[1:] == []


def test_reading_the_contract_already_holds_is_done_without_sending(meters, market, outbox_path, wind):
    with pytest.raises(InjectedCrash):
        read_one_period(bridge(meters, CrashingMarket(market, after_send=True), outbox_path, wind), market, meters)
    (submission,) = bridge(meters, market, outbox_path, wind).step(market.now)
    assert (submission.result, submission.detail) == ("done", "contract holds this reading")


def test_unmined_transaction_is_resent_unchanged(meters, market, outbox_path, wind):
    market.mining = False
    daemon = bridge(meters, market, outbox_path, wind)
    read_one_period(daemon, market, meters)
    daemon.step(market.now)
    assert len(set(market.raw_sent)) == 1 and len(market.raw_sent) == 2


def test_reading_is_done_once_its_transaction_is_mined(meters, market, outbox_path, wind):
    market.mining = False
    daemon = bridge(meters, market, outbox_path, wind)
    read_one_period(daemon, market, meters)
    market.mine()
    daemon.step(market.now)
    assert [queued.state for queued in daemon.outbox.all()] == [DONE]


def test_refused_reading_is_failed_with_the_error_name(meters, market, outbox_path, wind):
    forged = BridgedMeter("wind", WIND_ADDRESS, 999, REVERSE_ACTIVE_ENERGY, wind.key)
    daemon = bridge(meters, market, outbox_path, forged)
    read_one_period(daemon, market, meters)
    (queued,) = daemon.outbox.all()
    assert (queued.state, queued.reason) == (FAILED, "MeterNumberMismatch(161, 999)")


def test_refused_reading_does_not_block_the_next_one(meters, market, outbox_path, wind, ev):
    unbound = BridgedMeter("ev", EV_ADDRESS, 162, FORWARD_ACTIVE_ENERGY, MeterKey(Account.create().key))
    daemon = bridge(meters, market, outbox_path, unbound, wind)
    read_one_period(daemon, market, meters)
    assert market.readings == {(WIND_PROSUMER, 1): 1250}


def test_meter_without_gas_money_does_not_block_the_others(meters, market, outbox_path, wind, ev):
    market.unfunded.add(ev.key.address)
    daemon = bridge(meters, market, outbox_path, ev, wind)
    read_one_period(daemon, market, meters)
    assert market.readings == {(WIND_PROSUMER, 1): 1250}


def test_reading_of_a_meter_without_gas_money_waits(meters, market, outbox_path, wind):
    market.unfunded.add(wind.key.address)
    daemon = bridge(meters, market, outbox_path, wind)
    read_one_period(daemon, market, meters)
    assert [queued.state for queued in daemon.outbox.all()] == [PENDING]


def test_reading_too_early_stays_queued(meters, market, outbox_path, wind):
    daemon = bridge(meters, market, outbox_path, wind)
    read_one_period(daemon, market, meters)
    market.now = start_of(2) - 2  # the node's clock lags behind the bridge's
    daemon.outbox.record("wind", daemon.outbox.last_register("wind"), 10, 2)
    submissions = daemon.submit()
    assert [s.result for s in submissions] == ["waiting"]


def test_readings_of_several_periods_use_consecutive_nonces(meters, market, outbox_path, wind):
    market.mining = False
    daemon = bridge(meters, market, outbox_path, wind)
    read_one_period(daemon, market, meters)
    meters.registers[WIND_ADDRESS] = Decimal("5002.00")
    step(daemon, market, 3)
    assert sorted(queued.nonce for queued in daemon.outbox.all()) == [0, 1]


# ---------------------------------------------------------------- polling


def test_first_start_queues_nothing(meters, market, outbox_path, wind):
    daemon = bridge(meters, market, outbox_path, wind)
    step(daemon, market, 1)
    assert daemon.outbox.all() == []


def test_meter_is_read_once_per_period(meters, market, outbox_path, wind):
    daemon = bridge(meters, market, outbox_path, wind)
    step(daemon, market, 1)
    daemon.step(start_of(1) + 5)
    assert meters.reads == 1


def test_silent_meter_is_read_again_in_the_same_period(meters, market, outbox_path, wind):
    daemon = bridge(meters, market, outbox_path, wind)
    meters.silent.add(WIND_ADDRESS)
    step(daemon, market, 1)
    meters.silent.clear()
    daemon.step(start_of(1) + 5)
    assert daemon.outbox.last_register("wind").period == 1


def test_queued_reading_goes_out_while_the_serial_line_is_down(meters, market, outbox_path, wind):
    daemon = bridge(meters, market, outbox_path, wind)
    step(daemon, market, 1)
    market.online = False
    meters.registers[WIND_ADDRESS] = Decimal("5001.25")
    step(daemon, market, 2)
    market.online, meters.line_down = True, True
    daemon.step(market.now + 5)
    assert market.readings == {(WIND_PROSUMER, 1): 1250}


def test_meter_read_too_late_in_a_period_is_skipped(meters, market, outbox_path, wind):
    daemon = bridge(meters, market, outbox_path, wind)
    daemon.step(start_of(1) + 20)
    assert meters.reads == 0


def test_restarted_daemon_continues_from_the_stored_register(meters, market, outbox_path, wind):
    step(bridge(meters, market, outbox_path, wind), market, 1)
    meters.registers[WIND_ADDRESS] = Decimal("5000.50")
    step(bridge(meters, market, outbox_path, wind), market, 2)
    assert market.readings == {(WIND_PROSUMER, 1): 500}


def test_each_meter_posts_its_own_register(meters, market, outbox_path, wind, ev):
    daemon = bridge(meters, market, outbox_path, wind, ev)
    step(daemon, market, 1)
    meters.registers.update({WIND_ADDRESS: Decimal("5001.00"), EV_ADDRESS: Decimal("1200.40")})
    step(daemon, market, 2)
    assert market.readings == {(WIND_PROSUMER, 1): 1000, (EV_PROSUMER, 1): 400}


# ---------------------------------------------------------------- any mix of faults

FAULTS = ("none", "chain offline", "not mining", "crash before send", "crash after send")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(faults=st.lists(st.sampled_from(FAULTS), min_size=2, max_size=6))
def test_every_reading_arrives_exactly_once_whatever_fails(tmp_path_factory, faults):
    wind = BridgedMeter("wind", WIND_ADDRESS, 161, REVERSE_ACTIVE_ENERGY, MeterKey(Account.create().key))
    market = FakeMarket(SCHEDULE, {wind.key.address: (WIND_PROSUMER, 161, RATED_POWER_W)})
    meters = ScriptedMeters({WIND_ADDRESS: "100.00"})
    path = str(tmp_path_factory.mktemp("outbox") / "outbox.sqlite3")
    for period, fault in enumerate(["none", *faults], start=1):
        meters.registers[WIND_ADDRESS] = Decimal(100 + period)  # 1 kWh per period
        market.online, market.mining = fault != "chain offline", fault != "not mining"
        chain = CrashingMarket(market, after_send=fault == "crash after send") if fault.startswith("crash") else market
        try:
            step(bridge(meters, chain, path, wind), market, period)
        except InjectedCrash:
            pass
        market.online, market.mining = True, True
        market.mine()
        market.now += 5
        bridge(meters, market, path, wind).step(market.now)  # after recovery, within the period
    assert market.applied == [(WIND_PROSUMER, period, 1000) for period in range(1, len(faults) + 1)]
