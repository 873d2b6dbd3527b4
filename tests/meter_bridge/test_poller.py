"""The poller against simulated meters on a real pseudo-terminal, and against scripted byte pipes."""

from decimal import Decimal

import pytest

from meter_bridge.codec import PREAMBLE, data_reply, encode_frame
from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY, FORWARD_ACTIVE_ENERGY_BLOCK, REVERSE_ACTIVE_ENERGY
from meter_bridge.errors import AbnormalReplyError, FollowUpLimitError, NoReplyError
from meter_bridge.poller import MAX_FOLLOW_UPS, MAX_REPLY_BYTES, Poller
from meter_bridge.simulator import BusThread, Fault, SimulatedBus
from meter_bridge.transport import SerialSettings, SerialTransport

WIND_METER_ADDRESS = "000000000161"
EV_METER_ADDRESS = "000000000162"


def poll_over_pty(bus: SimulatedBus, action):
    with BusThread(bus) as line, SerialTransport(SerialSettings(line.port)) as transport:
        return action(Poller(transport, reply_timeout=0.3, retries=2, backoff=0.01, silent_interval=0.01))


def test_reads_the_forward_register_in_kwh(ev_virtual_meter):
    energy = poll_over_pty(
        SimulatedBus([ev_virtual_meter]), lambda p: p.read_energy(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY)
    )
    assert energy == Decimal("1200.00")


def test_register_follows_the_meter_clock(wind_virtual_meter, meter_clock):
    meter_clock.advance(100)
    energy = poll_over_pty(
        SimulatedBus([wind_virtual_meter]), lambda p: p.read_energy(WIND_METER_ADDRESS, REVERSE_ACTIVE_ENERGY)
    )
    assert energy == Decimal("5001.00")


def test_reads_the_address_of_the_one_meter_on_the_line(wind_virtual_meter):
    assert poll_over_pty(SimulatedBus([wind_virtual_meter]), Poller.read_address) == WIND_METER_ADDRESS


def test_echo_of_the_request_is_skipped(ev_virtual_meter):
    energy = poll_over_pty(
        SimulatedBus([ev_virtual_meter], echo=True), lambda p: p.read_energy(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY)
    )
    assert energy == Decimal("1200.00")


def test_noise_before_the_reply_is_skipped(ev_virtual_meter):
    ev_virtual_meter.inject(Fault.NOISE)
    poll_over_pty(SimulatedBus([ev_virtual_meter]), lambda p: p.read_energy(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY))
    assert ev_virtual_meter.replies == 1


def test_bad_checksum_is_retried(ev_virtual_meter):
    ev_virtual_meter.inject(Fault.BAD_CHECKSUM)
    poll_over_pty(SimulatedBus([ev_virtual_meter]), lambda p: p.read_energy(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY))
    assert ev_virtual_meter.replies == 2


def test_garbled_reply_is_retried(ev_virtual_meter):
    ev_virtual_meter.inject(Fault.GARBLED)
    energy = poll_over_pty(
        SimulatedBus([ev_virtual_meter]), lambda p: p.read_energy(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY)
    )
    assert energy == Decimal("1200.00")


def test_silent_meter_raises_no_reply_after_every_retry(ev_virtual_meter):
    ev_virtual_meter.inject(Fault.NO_REPLY, count=3)
    with pytest.raises(NoReplyError, match="after 3 attempts"):
        poll_over_pty(
            SimulatedBus([ev_virtual_meter]), lambda p: p.read_energy(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY)
        )


def test_abnormal_reply_is_not_retried(ev_virtual_meter):
    ev_virtual_meter.inject(Fault.ABNORMAL)
    with pytest.raises(AbnormalReplyError):
        poll_over_pty(
            SimulatedBus([ev_virtual_meter]), lambda p: p.read_energy(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY)
        )
    assert ev_virtual_meter.replies == 1


def test_long_reply_in_follow_up_frames_is_joined(ev_virtual_meter):
    ev_virtual_meter.max_reply_data = 12
    reply = poll_over_pty(
        SimulatedBus([ev_virtual_meter]), lambda p: p.read(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY_BLOCK)
    )
    assert len(reply.payload) == 20


def test_reply_in_the_most_frames_a_read_may_take_is_joined(ev_virtual_meter):
    ev_virtual_meter.max_reply_data = 4 + 1 + 4  # one 4-byte value per frame: the block of 5 takes 5 frames
    reply = poll_over_pty(
        SimulatedBus([ev_virtual_meter]), lambda p: p.read(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY_BLOCK)
    )
    assert (len(reply.payload), ev_virtual_meter.replies) == (20, 1 + MAX_FOLLOW_UPS)


def test_meter_that_never_stops_following_raises_follow_up_limit(ev_virtual_meter):
    ev_virtual_meter.fault_rates[Fault.ENDLESS_FOLLOW_UP] = 1.0
    with pytest.raises(FollowUpLimitError, match="more frames follow"):
        poll_over_pty(
            SimulatedBus([ev_virtual_meter]), lambda p: p.read_energy(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY)
        )


def test_meter_that_never_stops_following_frees_the_bus_for_the_next(wind_virtual_meter, ev_virtual_meter):
    ev_virtual_meter.fault_rates[Fault.ENDLESS_FOLLOW_UP] = 1.0

    def endless_then_wind(poller):
        with pytest.raises(FollowUpLimitError):
            poller.read_energy(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY)
        return poller.read_energy(WIND_METER_ADDRESS, REVERSE_ACTIVE_ENERGY)

    assert poll_over_pty(SimulatedBus([wind_virtual_meter, ev_virtual_meter]), endless_then_wind) == Decimal("5000.00")


def test_meters_on_one_bus_are_polled_in_turn(wind_virtual_meter, ev_virtual_meter):
    def both(poller):
        return (
            poller.read_energy(WIND_METER_ADDRESS, REVERSE_ACTIVE_ENERGY),
            poller.read_energy(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY),
        )

    assert poll_over_pty(SimulatedBus([wind_virtual_meter, ev_virtual_meter]), both) == (
        Decimal("5000.00"),
        Decimal("1200.00"),
    )


# ---------------------------------------------------------------- scripted pipes


class ScriptedPipe:
    """A byte pipe that answers every request with the next scripted bytes."""

    def __init__(self, replies: list[bytes]):
        self.replies = replies
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def receive(self, timeout: float) -> bytes:
        return self.replies.pop(0) if self.replies and len(self.sent) > 0 else b""

    def discard_input(self) -> None:
        pass


class FloodingPipe:
    """A byte pipe that answers every request with ``chunk`` on every read, without end."""

    def __init__(self, chunk: bytes):
        self.chunk = chunk
        self.delivered = 0

    def send(self, data: bytes) -> None:
        pass

    def receive(self, timeout: float) -> bytes:
        self.delivered += len(self.chunk)
        return self.chunk

    def discard_input(self) -> None:
        pass


class SteppingClock:
    """Moves forward by ``step`` seconds on every reading; records the sleeps asked for."""

    def __init__(self, step: float = 0.1):
        self.now = 0.0
        self.step = step
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def energy_frame(address: str, kwh: str = "1.00") -> bytes:
    payload = bytes.fromhex(f"{int(Decimal(kwh) * 100):08d}")[::-1]
    return PREAMBLE + encode_frame(data_reply(address, FORWARD_ACTIVE_ENERGY, payload))


def test_request_goes_out_after_four_wake_up_bytes():
    pipe = ScriptedPipe([energy_frame(EV_METER_ADDRESS)])
    Poller(pipe, clock=SteppingClock()).read(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY)
    assert pipe.sent[0].startswith(b"\xfe\xfe\xfe\xfe\x68")


def test_reply_from_another_meter_is_retried():
    pipe = ScriptedPipe([energy_frame(WIND_METER_ADDRESS), energy_frame(EV_METER_ADDRESS, "2.00")])
    clock = SteppingClock()
    energy = Poller(pipe, clock=clock, sleep=clock.sleep).read_energy(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY)
    assert energy == Decimal("2.00")


def test_retries_back_off_doubling():
    clock = SteppingClock()
    poller = Poller(ScriptedPipe([]), retries=3, backoff=0.5, silent_interval=0, clock=clock, sleep=clock.sleep)
    with pytest.raises(NoReplyError):
        poller.read(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY)
    assert [s for s in clock.sleeps if s >= 0.5] == [0.5, 1.0, 2.0]


def test_flood_of_bytes_fails_the_attempt_after_the_byte_bound():
    pipe = FloodingPipe(bytes(1000))
    clock = SteppingClock(step=0.001)
    with pytest.raises(NoReplyError, match="a flood, not a meter"):
        Poller(pipe, retries=0, clock=clock, sleep=clock.sleep).read(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY)
    assert pipe.delivered < MAX_REPLY_BYTES + 1000  # stopped within one read past the bound


def test_bus_stays_silent_between_exchanges():
    clock = SteppingClock(step=0.001)
    pipe = ScriptedPipe([energy_frame(EV_METER_ADDRESS), energy_frame(EV_METER_ADDRESS)])
    poller = Poller(pipe, silent_interval=0.05, clock=clock, sleep=clock.sleep)
    poller.read(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY)
    poller.read(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY)
    assert len(clock.sleeps) == 1 and 0 < clock.sleeps[0] <= 0.05


def test_pseudo_terminal_can_be_opened_again_after_closing(ev_virtual_meter):
    with BusThread(SimulatedBus([ev_virtual_meter])) as line:
        SerialTransport(SerialSettings(line.port)).close()
        with SerialTransport(SerialSettings(line.port)) as transport:
            assert Poller(transport, reply_timeout=0.3).read_energy(EV_METER_ADDRESS, FORWARD_ACTIVE_ENERGY) == Decimal(
                "1200.00"
            )
