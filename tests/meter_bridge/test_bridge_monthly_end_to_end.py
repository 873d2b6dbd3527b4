"""Monthly readings end to end: simulated meters on a real pseudo-terminal freeze their registers
at each billing month's end, the daemon reads them once and posts them, through the backend's
``/rpc``, to the real bilateral contracts; exactly once, whatever crashes. Billing months are
fixed at 600 s of block time, moved with ``time_travel``.

A month above what the meter can measure in it (its rated power, as bound in the market, times
the month's length: the contract's ``capacityOf``) is refused by the bridge before anything is
posted, with the numbers in the reason, and not read again: the line stays the real one with one
frozen register forged, as a tampered or swapped meter would answer."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from meter_bridge_fakes import InjectedCrash
from test_bridge_end_to_end import CrashAfterSend, new_meter_key
from web3 import Web3

from devnet.embedded import TimeTravel
from meter_bridge.chain import MarketChain, RetailChain
from meter_bridge.daemon import BridgedMeter, Daemon
from meter_bridge.data_items import (
    ENERGY_REGISTER_LIMIT,
    FORWARD_ACTIVE_ENERGY,
    REVERSE_ACTIVE_ENERGY,
    frozen_at_settlement_day,
)
from meter_bridge.outbox import DONE, FAILED, MONTHLY, Outbox
from meter_bridge.poller import Poller
from meter_bridge.simulator import BusThread, PowerProfile, SimulatedBus, VirtualMeter
from meter_bridge.transport import SerialSettings, SerialTransport
from p2pkit.artifacts import load_artifact
from p2pkit.market import deploy_market
from p2pkit.retail.clock import BillingClock
from p2pkit.retail.contracts import deploy_retail
from p2pkit.schedule import Schedule
from p2pkit.transactions import send

MONTH_SECONDS = 600
WIND_NUMBER, EV_NUMBER = 161, 162
WIND_WH_PER_MONTH = 6000  # 36 kW exported for 600 s
EV_WH_PER_MONTH = 1200  # 7.2 kW imported for 600 s
RATED_POWER_W = 100_000


class ChainTime:
    """The meters' clock: the chain's block time, as the test moves it."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def market(chain, operator, grid, wind, ev):
    market = deploy_market(chain, operator, grid.address, Schedule.scaled(30))
    for account, name, producer in ((wind, "wind", True), (ev, "ev", False)):
        send(chain, market.functions.register(name, producer, True), account)
        send(chain, market.functions.setAuthorization(account.address, True), operator)
    return market


@pytest.fixture
def retail(chain, operator, market):
    return deploy_retail(chain, operator, market, BillingClock.fixed(MONTH_SECONDS, MONTH_SECONDS))


@pytest.fixture
def billing(retail):
    return BillingClock.of(retail.contracts)


@pytest.fixture
def meters(chain, operator, market, wind, ev, tmp_path):
    bridged = []
    for name, account, number, register in (
        ("wind", wind, WIND_NUMBER, REVERSE_ACTIVE_ENERGY),
        ("ev", ev, EV_NUMBER, FORWARD_ACTIVE_ENERGY),
    ):
        key = new_meter_key(chain, operator, tmp_path, name)
        send(chain, market.functions.bindMeter(account.address, key.address, number, RATED_POWER_W), operator)
        bridged.append(BridgedMeter(name, f"000000000{number}", number, register, key))
    return bridged


@pytest.fixture
def chain_time(chain):
    return ChainTime(chain.eth.get_block("latest")["timestamp"])


@pytest.fixture
def line(chain_time, billing):
    bus = SimulatedBus(
        [
            VirtualMeter(
                "000000000161",
                reverse_kwh=Decimal("5000.00"),
                profile=PowerProfile((-36.0,)),
                clock=chain_time,
                settlement=billing,
            ),
            VirtualMeter(
                "000000000162",
                forward_kwh=Decimal("1200.00"),
                profile=PowerProfile((7.2,)),
                clock=chain_time,
                settlement=billing,
            ),
        ],
        echo=True,
        reply_delay=0.005,
    )
    with BusThread(bus) as running, SerialTransport(SerialSettings(running.port)) as transport:
        yield Poller(transport, reply_timeout=0.2, retries=2, backoff=0.01, silent_interval=0.005)


class MonthlyBridge:
    def __init__(self, chain, market, retail, backend_rpc, line, chain_time, billing, outbox_path, meters, access):
        self.chain_time, self.billing = chain_time, billing
        self.time = TimeTravel(chain)
        w3 = Web3(backend_rpc)
        self.daemon = Daemon(
            meters,
            line,
            access(w3, market.address, load_artifact()["abi"]),
            Outbox(outbox_path),
            max_reading_delay=10,
            retail=RetailChain(w3, retail.contracts.address, load_artifact("BilateralContracts")["abi"]),
            monthly_read_delay=5,
        )

    def after_month(self, month: int, offset: int = 6):
        """Step the daemon `offset` seconds after billing month `month` ended."""
        return self.at(self.billing.month_end(month) + offset)

    def at_next_period_start(self):
        """Step the daemon a second into the market's next period."""
        schedule = self.daemon.schedule()
        return self.at(schedule.start(schedule.period_at(self.chain_time.now) + 1) + 1)

    def at(self, now: int):
        self.time.next_block_at(now)
        self.chain_time.now = now
        return self.daemon.step(now)


@pytest.fixture
def make_bridge(chain, market, retail, backend_rpc, line, chain_time, billing, tmp_path, meters):
    def make(access=MarketChain, through=None):
        """A bridge reaching the chain through ``access`` and the meters through ``through``
        (a function of the line), by default the line itself."""
        return MonthlyBridge(
            chain,
            market,
            retail,
            backend_rpc,
            line if through is None else through(line),
            chain_time,
            billing,
            str(tmp_path / "outbox.sqlite3"),
            meters,
            access,
        )

    return make


def posted(retail) -> list[tuple[int, str, int]]:
    """(month, account, energy Wh) of every MonthlyReadingPosted event."""
    return sorted(
        (e.args.month, e.args.account, e.args.closingWh - e.args.openingWh)
        for e in retail.contracts.events.MonthlyReadingPosted.get_logs(from_block=0)
    )


def test_each_meter_posts_the_month_it_froze(make_bridge, retail, wind, ev):
    bridge = make_bridge()
    bridge.after_month(0)  # only one settlement day frozen yet: nothing to post
    bridge.after_month(1)
    assert posted(retail) == sorted([(1, wind.address, WIND_WH_PER_MONTH), (1, ev.address, EV_WH_PER_MONTH)])


def test_registers_posted_are_the_ones_frozen_at_the_months_ends(make_bridge, retail, wind, chain_time):
    start = chain_time.now
    bridge = make_bridge()
    bridge.after_month(1)
    reading = retail.contracts.functions.monthlyReadingOf(wind.address, 1).call()
    opening_kwh = Decimal("5000.00") + Decimal(36 * (bridge.billing.month_start(1) - start)) / 3600
    assert (reading.openingWh, reading.closingWh) == (
        int(opening_kwh * 1000),
        int(opening_kwh * 1000) + WIND_WH_PER_MONTH,
    )


def test_month_is_read_once_however_often_the_daemon_steps(make_bridge, retail):
    bridge = make_bridge()
    for offset in (6, 8, 12, 30):
        bridge.after_month(1, offset)
    assert len(posted(retail)) == 2


def test_consecutive_months_continue_each_others_registers(make_bridge, retail, wind):
    bridge = make_bridge()
    for month in (1, 2, 3):
        bridge.after_month(month)
    assert [m for m, account, _ in posted(retail) if account == wind.address] == [1, 2, 3]


def test_no_reading_before_the_read_delay(make_bridge, retail):
    bridge = make_bridge()
    bridge.after_month(1, offset=2)
    assert posted(retail) == []


def test_daemon_killed_after_sending_and_restarted_posts_once(make_bridge, retail):
    doomed = make_bridge(access=CrashAfterSend)
    with pytest.raises(InjectedCrash):
        doomed.after_month(1)
    restarted = make_bridge()
    restarted.after_month(1, offset=10)
    assert len(posted(retail)) == 2
    assert all(q.state == DONE for q in restarted.daemon.outbox.all() if q.kind == MONTHLY)


def test_the_log_names_a_monthly_submission_by_its_month(make_bridge, caplog):
    caplog.set_level(logging.INFO, logger="meter_bridge")
    make_bridge().after_month(1)
    submissions = [r.getMessage() for r in caplog.records if r.getMessage().startswith("submit ")]
    assert submissions and all(" month 1 " in message for message in submissions), submissions


def test_period_readings_go_on_beside_the_monthly_ones(make_bridge, market, retail):
    bridge = make_bridge()
    bridge.after_month(1)
    bridge.at_next_period_start()
    bridge.at_next_period_start()
    readings = market.events.ReadingPosted.get_logs(from_block=0)
    assert (len(readings), len(posted(retail))) == (2, 2)


# ---------------------------------------------------------------- months above capacity

EV_ADDRESS = "000000000162"
CAPACITY_WH = RATED_POWER_W * MONTH_SECONDS // 3600  # 16,666 Wh in a 600 s month at 100 kW
MONTH_END = frozen_at_settlement_day(FORWARD_ACTIVE_ENERGY, 1)
MONTH_START = frozen_at_settlement_day(FORWARD_ACTIVE_ENERGY, 2)


class ForgedMonthEnd:
    """The line, with the EV meter's register frozen at the month's end replaced by
    ``closing(opening)``: what a forged reply or a swapped meter would say."""

    def __init__(self, line, closing):
        self.line, self.closing = line, closing
        self.frozen_reads = 0  # of the EV meter's month registers

    def read_energy(self, address: str, di: int) -> Decimal:
        if address == EV_ADDRESS and di in (MONTH_END, MONTH_START):
            self.frozen_reads += 1
        if address == EV_ADDRESS and di == MONTH_END:
            return self.closing(self.line.read_energy(address, MONTH_START))
        return self.line.read_energy(address, di)


def forged(closing):
    return lambda line: ForgedMonthEnd(line, closing)


def ev_month(bridge, month: int):
    return bridge.daemon.outbox.monthly("ev", month)


def test_month_above_the_meters_capacity_is_not_posted(make_bridge, retail, wind):
    bridge = make_bridge(through=forged(lambda opening: opening + Decimal("16.67")))  # 16,670 Wh
    bridge.after_month(1)
    bridge.after_month(1, offset=20)  # the other meter's reading, retried if the node was slow
    assert posted(retail) == [(1, wind.address, WIND_WH_PER_MONTH)]


def test_refusal_names_the_energy_and_the_capacity(make_bridge, retail, ev, caplog):
    bridge = make_bridge(through=forged(lambda opening: opening + Decimal("16.67")))
    bridge.after_month(1)
    queued = ev_month(bridge, 1)
    reason = f"16670 Wh is more than the meter can measure in month 1 ({CAPACITY_WH} Wh at {RATED_POWER_W} W)"
    assert (queued.kind, queued.state, queued.reason) == (MONTHLY, FAILED, reason + ": not posted")
    assert reason in caplog.text and "(1 refused so far)" in caplog.text
    assert retail.contracts.functions.capacityOf(ev.address, 1).call() == CAPACITY_WH  # the contract's own


def test_refused_month_sends_no_transaction(make_bridge, meters, chain):
    bridge = make_bridge(through=forged(lambda opening: opening + Decimal("500.00")))
    bridge.after_month(1)
    ev_meter = next(m for m in meters if m.name == "ev")
    assert chain.eth.get_transaction_count(ev_meter.key.address) == 0
    assert bridge.daemon.above_capacity == {"ev": 1}


def test_refused_month_is_not_read_again(make_bridge):
    bridge = make_bridge(through=forged(lambda opening: opening + Decimal("500.00")))
    bridge.after_month(1)
    for offset in (8, 12, 30):
        bridge.after_month(1, offset)
    assert (bridge.daemon.poller.frozen_reads, bridge.daemon.above_capacity["ev"]) == (2, 1)


def test_register_that_went_back_counts_as_a_rollover_and_is_refused(make_bridge, retail, ev):
    """A closing register below the opening one is a register that wrapped round (at 999999.99
    kWh): nearly a million kWh, far above the capacity, as a swapped meter starting at 0 gives."""
    bridge = make_bridge(through=forged(lambda opening: opening - Decimal("1.00")))
    bridge.after_month(1)
    queued = ev_month(bridge, 1)
    assert queued.state == FAILED
    assert queued.energy_wh == int((ENERGY_REGISTER_LIMIT - Decimal("1.00")) * 1000)
    assert [account for _, account, _ in posted(retail) if account == ev.address] == []


def test_month_at_the_capacity_is_posted(make_bridge, retail, ev):
    """The bridge's capacity is the contract's: a month of exactly the capacity is accepted."""
    bridge = make_bridge(through=forged(lambda opening: opening + Decimal(CAPACITY_WH) / 1000))
    bridge.after_month(1)
    bridge.after_month(1, offset=20)
    assert (1, ev.address, CAPACITY_WH) in posted(retail)


def test_next_month_of_a_refused_one_is_posted(make_bridge, retail, ev):
    """Only the forged month is refused: the meter's later months go through (the contract
    asks no continuity across a month it never received)."""
    forgery = {"on": True}

    def closing(opening):
        return opening + (Decimal("500.00") if forgery["on"] else Decimal(EV_WH_PER_MONTH) / 1000)

    bridge = make_bridge(through=forged(closing))
    bridge.after_month(1)
    forgery["on"] = False
    bridge.after_month(2)
    bridge.after_month(2, offset=20)
    assert [month for month, account, _ in posted(retail) if account == ev.address] == [2]
