"""The bridge posts a station's and a user's meters to the storage stations' dispatch: simulated
meters on a real pseudo-terminal, the real dispatch contract on an embedded chain, block time
moved with ``time_travel``. Each metering period's energy goes out once per direction (supply:
the station's exported register, the user's imported one), whatever restarts; a reading the
dispatch refuses is kept as failed; the claim the readings confirm is paid."""

from __future__ import annotations

from decimal import Decimal

import pytest
from meter_bridge_fakes import InjectedCrash
from test_bridge_end_to_end import new_meter_key

from devnet.embedded import TimeTravel, dev_accounts
from meter_bridge.chain import DispatchChain, MarketChain
from meter_bridge.daemon import BridgedMeter, Daemon
from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY
from meter_bridge.outbox import DONE, FAILED, Outbox
from meter_bridge.poller import Poller
from meter_bridge.simulator import BusThread, PowerProfile, SimulatedBus, VirtualMeter
from meter_bridge.transport import SerialSettings, SerialTransport
from p2pkit.artifacts import load_artifact
from p2pkit.market import deploy_market
from p2pkit.schedule import Schedule
from p2pkit.stations import Direction, DispatchClient, FlowTerms, deploy_dispatch, loss_ppm

PERIOD_SECONDS = 60
GRACE_SECONDS = 30
STATION_ADDRESS, USER_ADDRESS, STRAY_ADDRESS = "000000000301", "000000000302", "000000000303"
STATION_KW = 120.0  # exported: 2,000 Wh a period, 2 units
USER_KW = 90.0  # imported: 1,500 Wh a period, 1 unit
RATED_POWER_W = 200_000  # 3,333 Wh a period


class Energy:
    """The clock the simulated meters' registers grow on."""

    seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


class CrashAfterSend(DispatchChain):
    """The real dispatch access, but the process dies right after the node took the transaction."""

    def send_raw(self, raw: bytes) -> None:
        super().send_raw(raw)
        raise InjectedCrash("killed between sending and marking done")


@pytest.fixture
def stations(chain, operator, tmp_path):
    """The dispatch with one station and one user on a line to it, both meters bound (and a
    third meter key that is bound to no one)."""
    station, user = dev_accounts(chain)[4:6]
    dispatch = deploy_dispatch(
        chain, operator, terms=FlowTerms(period_length=PERIOD_SECONDS, reading_grace=GRACE_SECONDS)
    )
    company = DispatchClient(chain, dispatch, operator)
    station_id = company.register_station(station.address, 40, 100, 1, 1)
    company.set_line(user.address, station_id, loss_ppm(0.05))
    keys = {name: new_meter_key(chain, operator, tmp_path, name) for name in ("station", "user", "stray")}
    company.bind_meter(station.address, keys["station"].address, RATED_POWER_W)
    company.bind_meter(user.address, keys["user"].address, RATED_POWER_W)
    meters = [
        BridgedMeter("station", STATION_ADDRESS, 0, FORWARD_ACTIVE_ENERGY, keys["station"], "station"),
        BridgedMeter("user", USER_ADDRESS, 0, FORWARD_ACTIVE_ENERGY, keys["user"], "user"),
        BridgedMeter("stray", STRAY_ADDRESS, 0, FORWARD_ACTIVE_ENERGY, keys["stray"], "user"),
    ]
    return dispatch, station_id, DispatchClient(chain, dispatch, station), DispatchClient(chain, dispatch, user), meters


@pytest.fixture
def energy():
    return Energy()


@pytest.fixture
def line(energy):
    meters = [
        VirtualMeter(
            STATION_ADDRESS, reverse_kwh=Decimal("100.00"), profile=PowerProfile((-STATION_KW,)), clock=energy
        ),
        VirtualMeter(USER_ADDRESS, forward_kwh=Decimal("700.00"), profile=PowerProfile((USER_KW,)), clock=energy),
        VirtualMeter(STRAY_ADDRESS, forward_kwh=Decimal("1.00"), profile=PowerProfile((USER_KW,)), clock=energy),
    ]
    bus = SimulatedBus(meters, echo=True, reply_delay=0.005)
    with BusThread(bus) as running, SerialTransport(SerialSettings(running.port)) as transport:
        yield Poller(transport, reply_timeout=0.2, retries=2, backoff=0.01, silent_interval=0.005)


class Bridge:
    """A daemon on the outbox at ``path``, with the clock moved for it, the chain's and the meters'."""

    def __init__(self, chain, operator, dispatch, line, energy, path, meters, access=DispatchChain):
        market = deploy_market(chain, operator, dev_accounts(chain)[1].address, Schedule.scaled(30))
        self.dispatch = access(chain, dispatch.address, load_artifact("StationDispatch")["abi"])
        self.daemon = Daemon(
            meters,
            line,
            MarketChain(chain, market.address, load_artifact()["abi"]),
            Outbox(path),
            max_reading_delay=10,
            dispatch=self.dispatch,
        )
        self.clock = self.dispatch.metering_clock()
        self.energy = energy
        self.time = TimeTravel(chain)

    def at_start_of(self, period: int, offset: int = 1):
        now = self.clock.start(period) + offset
        self.time.next_block_at(now)
        self.energy.seconds = now - self.clock.start(0)
        return self.daemon.step(now)


def posted(dispatch) -> list[tuple]:
    events = dispatch.events.ReadingPosted.get_logs(from_block=0)
    return sorted((event.args.period, event.args.direction, event.args.energyWh) for event in events)


def test_both_meters_post_each_direction_and_the_claim_is_paid(chain, operator, stations, line, energy, tmp_path):
    dispatch, station_id, station, user, meters = stations
    bridge = Bridge(chain, operator, dispatch, line, energy, str(tmp_path / "outbox.sqlite3"), meters)
    bridge.at_start_of(1)
    user.request(Direction.SUPPLY, 1)
    station.transfer_unit(user.signer.address)
    assert dispatch.functions.claimedUnits(user.signer.address, station_id, 1, 0).call() == 1

    bridge.at_start_of(2)

    # supply: the station exported 2,000 Wh, the user imported 1,500; absorb: nothing either way
    assert posted(dispatch) == [(1, 0, 1500), (1, 0, 2000), (1, 1, 0), (1, 1, 0)]
    readings = {(r.meter, r.kind): r for r in bridge.daemon.outbox.all()}
    assert readings["stray", "supply"].state == FAILED and "MeterNotBound" in readings["stray", "supply"].reason
    user.confirm(user.signer.address, station_id, 1, Direction.SUPPLY)
    [event] = dispatch.events.UnitsConfirmed.get_logs(from_block=0)
    assert (event.args.claimed, event.args.paid) == (1, 1)


def test_a_crash_after_sending_does_not_post_twice(chain, operator, stations, line, energy, tmp_path):
    dispatch, _, _, _, meters = stations
    path = str(tmp_path / "outbox.sqlite3")
    Bridge(chain, operator, dispatch, line, energy, path, meters[:1]).at_start_of(1)
    crashing = Bridge(chain, operator, dispatch, line, energy, path, meters[:1], access=CrashAfterSend)
    with pytest.raises(InjectedCrash):
        crashing.at_start_of(2)
    crashing.daemon.outbox.close()

    restarted = Bridge(chain, operator, dispatch, line, energy, path, meters[:1])
    restarted.at_start_of(2, offset=3)
    restarted.at_start_of(2, offset=5)

    assert posted(dispatch) == [(1, 0, 2000), (1, 1, 0)]
    assert {reading.state for reading in restarted.daemon.outbox.all()} == {DONE}


def test_a_reading_after_the_deadline_is_refused_and_kept_as_failed(chain, operator, stations, line, energy, tmp_path):
    dispatch, _, _, _, meters = stations
    bridge = Bridge(chain, operator, dispatch, line, energy, str(tmp_path / "outbox.sqlite3"), meters[:1])
    bridge.at_start_of(1)
    bridge.time.next_block_at(bridge.clock.start(2) + 5)
    bridge.daemon.poll_dispatch(bridge.clock.start(2) + 5)  # read in time, sent only after the deadline
    bridge.time.next_block_at(bridge.clock.start(2) + GRACE_SECONDS + 5)

    submissions = bridge.daemon.submit()

    assert {s.result.value for s in submissions} == {"refused"}
    assert all("ReadingTooLate" in reading.reason for reading in bridge.daemon.outbox.all())
    assert posted(dispatch) == []


def test_without_a_dispatch_a_dispatch_reading_is_refused_not_retried(
    chain, operator, stations, line, energy, tmp_path
):
    dispatch, _, _, _, meters = stations
    path = str(tmp_path / "outbox.sqlite3")
    bridge = Bridge(chain, operator, dispatch, line, energy, path, meters[:1])
    bridge.at_start_of(1)
    bridge.time.next_block_at(bridge.clock.start(2) + 1)
    bridge.daemon.poll_dispatch(bridge.clock.start(2) + 1)
    bridge.daemon.dispatch = None

    assert {s.detail for s in bridge.daemon.submit()} == {"no dispatch configured"}
    assert {reading.state for reading in bridge.daemon.outbox.all()} == {FAILED}
