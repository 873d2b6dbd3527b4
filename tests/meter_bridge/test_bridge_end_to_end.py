"""Simulated meters on a real pseudo-terminal, the daemon, and the real market contract.

The contract runs on an embedded eth-tester chain; the bridge reaches it only through the
platform backend's ``/rpc`` proxy, as it does in the field. Block time is moved with
``time_travel``, so a 30 s market period takes no wall time.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from eth_account import Account
from meter_bridge_fakes import InjectedCrash
from web3 import Web3

from devnet.embedded import TimeTravel
from meter_bridge.chain import MarketChain
from meter_bridge.daemon import BridgedMeter, Daemon
from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY, REVERSE_ACTIVE_ENERGY
from meter_bridge.outbox import FAILED, Outbox
from meter_bridge.poller import Poller
from meter_bridge.signing import MeterKey, read_password
from meter_bridge.simulator import BusThread, Fault, PowerProfile, SimulatedBus, VirtualMeter
from meter_bridge.transport import SerialSettings, SerialTransport
from p2pkit.artifacts import load_artifact
from p2pkit.market import deploy_market
from p2pkit.schedule import Schedule
from p2pkit.transactions import send, transfer

PERIOD_SECONDS = 30
WIND_ADDRESS, EV_ADDRESS = "000000000161", "000000000162"
WIND_NUMBER, EV_NUMBER = 161, 162
WIND_WH_PER_PERIOD = 300  # 36 kW exported for 30 s
EV_WH_PER_PERIOD = 100  # 12 kW imported for 30 s
RATED_POWER_W = 50_000  # both meters: 416 Wh in a 30 s period
KEYSTORE_PASSWORD = "meter keystore password"


class CrashAfterSend(MarketChain):
    """The real chain access, but the process dies right after the node took the transaction."""

    def send_raw(self, raw: bytes) -> None:
        super().send_raw(raw)
        raise InjectedCrash("killed between sending and marking done")


class Energy:
    """The clock the simulated meters' registers grow on, moved to each period start by the test."""

    def __init__(self):
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


# ---------------------------------------------------------------- the market


@pytest.fixture
def market(chain, operator, grid, wind, ev):
    market = deploy_market(chain, operator, grid.address, Schedule.scaled(PERIOD_SECONDS))
    send(chain, market.functions.register("wind", True, True), wind)
    send(chain, market.functions.register("ev", False, True), ev)
    return market


def new_meter_key(chain, operator, tmp_path, name: str) -> MeterKey:
    """A meter account with gas money, provisioned into an encrypted keystore and loaded back."""
    account = Account.create()
    transfer(chain, operator, account.address, 10**18)
    keystore = tmp_path / f"{name}.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, KEYSTORE_PASSWORD, kdf="pbkdf2", iterations=2)))
    password = tmp_path / f"{name}.password"
    password.write_text(KEYSTORE_PASSWORD + "\n")
    return MeterKey.from_keystore(str(keystore), read_password(password_file=str(password)))


@pytest.fixture
def wind_meter(chain, operator, market, wind, tmp_path):
    key = new_meter_key(chain, operator, tmp_path, "wind")
    send(chain, market.functions.bindMeter(wind.address, key.address, WIND_NUMBER, RATED_POWER_W), operator)
    return BridgedMeter("wind", WIND_ADDRESS, WIND_NUMBER, REVERSE_ACTIVE_ENERGY, key)


@pytest.fixture
def ev_meter(chain, operator, market, ev, tmp_path):
    key = new_meter_key(chain, operator, tmp_path, "ev")
    send(chain, market.functions.bindMeter(ev.address, key.address, EV_NUMBER, RATED_POWER_W), operator)
    return BridgedMeter("ev", EV_ADDRESS, EV_NUMBER, FORWARD_ACTIVE_ENERGY, key)


@pytest.fixture
def energy():
    return Energy()


@pytest.fixture
def bus(energy):
    meters = [
        VirtualMeter(WIND_ADDRESS, reverse_kwh=Decimal("5000.00"), profile=PowerProfile((-36.0,)), clock=energy),
        VirtualMeter(EV_ADDRESS, forward_kwh=Decimal("1200.00"), profile=PowerProfile((12.0,)), clock=energy),
    ]
    return SimulatedBus(meters, echo=True, reply_delay=0.005)


@pytest.fixture
def line(bus):
    with BusThread(bus) as running, SerialTransport(SerialSettings(running.port)) as transport:
        yield Poller(transport, reply_timeout=0.2, retries=2, backoff=0.01, silent_interval=0.005)


@pytest.fixture
def outbox_path(tmp_path):
    return str(tmp_path / "outbox.sqlite3")


# ---------------------------------------------------------------- driving the clock


class Bridge:
    """The daemon under test plus what moves time for it, the chain and the meters together."""

    def __init__(self, chain, market, backend_rpc, line, energy, outbox_path, meters, chain_access=MarketChain):
        self.chain = chain
        self.market = market
        self.energy = energy
        abi = load_artifact()["abi"]
        self.daemon = Daemon(
            meters,
            line,
            chain_access(Web3(backend_rpc), market.address, abi),
            Outbox(outbox_path),
            max_reading_delay=10,
        )
        self.schedule = self.daemon.chain.schedule()
        self.time = TimeTravel(chain)

    def at_start_of(self, period: int, offset: int = 1):
        """Move block time and the meters to a period's start, and step the daemon there."""
        now = self.schedule.start(period) + offset
        self.time.next_block_at(now)
        self.energy.seconds = self.schedule.start(period) - self.schedule.start(1)
        return self.daemon.step(now)

    def again(self, period: int, offset: int):
        """Another step later in the same period, with the meters' registers where they were."""
        now = self.schedule.start(period) + offset
        self.time.next_block_at(now)
        return self.daemon.step(now)


@pytest.fixture
def make_bridge(chain, market, backend_rpc, line, energy, outbox_path):
    def make(*meters, chain_access=MarketChain):
        return Bridge(chain, market, backend_rpc, line, energy, outbox_path, list(meters), chain_access)

    return make


def posted(market) -> list[tuple[int, int, int]]:
    """(period, prosumer, Wh) of every ReadingPosted event, in order."""
    return [
        (event.args.deliveryPeriod, event.args.prosumerId, event.args.energyWh)
        for event in market.events.ReadingPosted.get_logs(from_block=0)
    ]


def prosumer_id(market, account) -> int:
    return market.functions.accountOf(account.address).call().id


# ---------------------------------------------------------------- readings arrive


def test_readings_arrive_for_the_right_prosumer_and_period(make_bridge, market, wind, ev, wind_meter, ev_meter):
    bridge = make_bridge(wind_meter, ev_meter)
    for period in (1, 2, 3):
        bridge.at_start_of(period)
    assert sorted(posted(market)) == [
        (1, prosumer_id(market, wind), WIND_WH_PER_PERIOD),
        (1, prosumer_id(market, ev), EV_WH_PER_PERIOD),
        (2, prosumer_id(market, wind), WIND_WH_PER_PERIOD),
        (2, prosumer_id(market, ev), EV_WH_PER_PERIOD),
    ]


def test_contract_holds_the_reading_for_the_prosumer(make_bridge, market, wind, wind_meter):
    bridge = make_bridge(wind_meter)
    bridge.at_start_of(1)
    bridge.at_start_of(2)
    reading = market.functions.readingOf(prosumer_id(market, wind), 1).call()
    assert (reading.present, reading.energyWh) == (True, WIND_WH_PER_PERIOD)


# ---------------------------------------------------------------- faults: exactly once


def test_silent_meter_reading_arrives_once_it_answers(make_bridge, market, bus, wind_meter):
    bridge = make_bridge(wind_meter)
    bridge.at_start_of(1)
    bus.meters[0].inject(Fault.NO_REPLY, count=3)
    bridge.at_start_of(2)
    bridge.again(2, offset=4)
    assert [(period, wh) for period, _, wh in posted(market)] == [(1, WIND_WH_PER_PERIOD)]


def test_bus_noise_does_not_lose_or_repeat_readings(make_bridge, market, bus, wind_meter, ev_meter):
    for meter in bus.meters:
        meter.fault_rates = {Fault.NOISE: 0.3, Fault.GARBLED: 0.2, Fault.BAD_CHECKSUM: 0.2}
    bridge = make_bridge(wind_meter, ev_meter)
    for period in (1, 2, 3):
        bridge.at_start_of(period)
        for offset in (3, 5, 7):  # a meter that failed every retry is asked again within the period
            bridge.again(period, offset)
    assert sorted(period for period, _, _ in posted(market)) == [1, 1, 2, 2]


def test_reading_waits_while_the_chain_is_unreachable_then_arrives_once(make_bridge, market, backend_rpc, wind_meter):
    bridge = make_bridge(wind_meter)
    bridge.at_start_of(1)
    backend_rpc.reachable = False
    bridge.at_start_of(2)
    backend_rpc.reachable = True
    bridge.again(2, offset=6)
    bridge.again(2, offset=8)
    assert [(period, wh) for period, _, wh in posted(market)] == [(1, WIND_WH_PER_PERIOD)]


def test_daemon_killed_mid_submission_and_restarted_posts_once(make_bridge, market, wind_meter):
    doomed = make_bridge(wind_meter, chain_access=CrashAfterSend)
    doomed.at_start_of(1)
    with pytest.raises(InjectedCrash):
        doomed.at_start_of(2)
    restarted = make_bridge(wind_meter)
    restarted.again(2, offset=5)
    restarted.at_start_of(3)
    assert [(period, wh) for period, _, wh in posted(market)] == [(1, WIND_WH_PER_PERIOD), (2, WIND_WH_PER_PERIOD)]


def test_replaced_meter_skips_one_period_then_posts_again(make_bridge, market, bus, wind_meter):
    bridge = make_bridge(wind_meter)
    bridge.at_start_of(1)
    bridge.at_start_of(2)
    bus.meters[0].replace(WIND_ADDRESS)  # a new meter, same place on the bus, register from zero
    bridge.at_start_of(3)
    bridge.at_start_of(4)
    assert [(period, wh) for period, _, wh in posted(market)] == [(1, WIND_WH_PER_PERIOD), (3, WIND_WH_PER_PERIOD)]


# ---------------------------------------------------------------- forged readings


def test_reading_signed_with_an_unbound_key_is_refused(make_bridge, chain, operator, tmp_path, wind_meter):
    forger = BridgedMeter(
        "wind", WIND_ADDRESS, WIND_NUMBER, REVERSE_ACTIVE_ENERGY, new_meter_key(chain, operator, tmp_path, "forger")
    )
    bridge = make_bridge(forger)
    bridge.at_start_of(1)
    (submission,) = bridge.at_start_of(2)
    assert (submission.result, submission.detail.split("(")[0]) == ("refused", "MeterNotBound")


def test_reading_with_a_wrong_meter_number_is_refused(make_bridge, wind_meter):
    wrong_number = BridgedMeter("wind", WIND_ADDRESS, 999, REVERSE_ACTIVE_ENERGY, wind_meter.key)
    bridge = make_bridge(wrong_number)
    bridge.at_start_of(1)
    (submission,) = bridge.at_start_of(2)
    assert submission.detail == f"MeterNumberMismatch({WIND_NUMBER}, 999)"


def test_second_reading_for_a_period_is_refused(make_bridge, chain, market, backend_rpc, wind_meter):
    bridge = make_bridge(wind_meter)
    bridge.at_start_of(1)
    backend_rpc.reachable = False  # the bridge's reading for period 1 waits in the outbox ...
    bridge.at_start_of(2)
    forged = market.functions.submitReading(1, WIND_NUMBER, 1).build_transaction(
        {
            "from": wind_meter.key.address,
            "nonce": chain.eth.get_transaction_count(wind_meter.key.address),
            "gas": 200_000,
            "gasPrice": chain.eth.gas_price,
            "chainId": chain.eth.chain_id,
        }
    )
    chain.eth.send_raw_transaction(wind_meter.key.sign(forged).raw)  # ... while another one gets in
    backend_rpc.reachable = True
    (submission,) = bridge.again(2, offset=3)
    assert submission.detail.startswith("ReadingAlreadyPosted(1,")


def test_refused_reading_is_kept_as_failed_in_the_outbox(make_bridge, wind_meter):
    wrong_number = BridgedMeter("wind", WIND_ADDRESS, 999, REVERSE_ACTIVE_ENERGY, wind_meter.key)
    bridge = make_bridge(wrong_number)
    bridge.at_start_of(1)
    bridge.at_start_of(2)
    assert [queued.state for queued in bridge.daemon.outbox.all()] == [FAILED]


def test_refused_reading_does_not_block_later_readings(
    make_bridge, market, chain, operator, tmp_path, wind_meter, ev_meter
):
    forger = BridgedMeter(
        "ev", EV_ADDRESS, EV_NUMBER, FORWARD_ACTIVE_ENERGY, new_meter_key(chain, operator, tmp_path, "forger")
    )
    bridge = make_bridge(forger, wind_meter)
    for period in (1, 2, 3):
        bridge.at_start_of(period)
    assert [(period, wh) for period, _, wh in posted(market)] == [(1, WIND_WH_PER_PERIOD), (2, WIND_WH_PER_PERIOD)]
