"""Attack: a meter (or anything answering for it on the RS-485 bus) that says "more frames follow"
in every reply. Followed without a bound, one read never ends: the bus is never freed, no other
meter is polled, nothing is submitted, and the joined payload grows without limit."""

from collections import Counter
from decimal import Decimal

import pytest
from eth_account import Account

from meter_bridge.codec import PREAMBLE, READ_FOLLOW_UP, FrameDecoder, data_reply, di_from_wire, encode_frame
from meter_bridge.daemon import BridgedMeter, Daemon
from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY, encode_value
from meter_bridge.errors import FollowUpLimitError
from meter_bridge.outbox import Outbox
from meter_bridge.poller import MAX_FOLLOW_UPS, Poller
from meter_bridge.signing import MeterKey
from p2pkit.schedule import Schedule

ENDLESS_METER, HONEST_METER = "000000000166", "000000000162"
HONEST_KWH = Decimal("1200.00")
CLOCK = Schedule()


class RunawayRead(BaseException):
    """Stops a read that has gone on far too long; no handler of the bridge catches it."""


class EndlessFollowUpBus:
    """A byte pipe to a bus of two meters: one answers every read and follow-up read with a full
    frame saying more frames follow, the other answers its energy register in one frame.

    After ``runaway`` exchanges it raises RunawayRead, so that a poller without a bound fails
    the test instead of hanging it.
    """

    def __init__(self, runaway: int = 1000):
        self.runaway = runaway
        self.exchanges: Counter[str] = Counter()
        self._pending = b""

    def send(self, data: bytes) -> None:
        (request,) = FrameDecoder().frames(data)
        self.exchanges[request.address] += 1
        if self.exchanges.total() > self.runaway:
            raise RunawayRead(f"still reading after {self.runaway} exchanges")
        di = di_from_wire(request.data)
        if request.address == ENDLESS_METER:
            sequence = request.data[4] if request.function == READ_FOLLOW_UP else None
            filler = bytes(200 - 4 - (0 if sequence is None else 1))
            reply = data_reply(ENDLESS_METER, di, filler, more_follows=True, sequence=sequence)
        else:
            reply = data_reply(HONEST_METER, di, encode_value(di, (HONEST_KWH,)))
        self._pending = PREAMBLE + encode_frame(reply)

    def receive(self, timeout: float) -> bytes:
        answer, self._pending = self._pending, b""
        return answer

    def discard_input(self) -> None:
        self._pending = b""


class UnreachableChain:
    """A chain that never answers: the daemon takes the market clock from its outbox."""

    def schedule(self) -> Schedule:
        raise ConnectionError("connection refused")


@pytest.fixture
def bus():
    return EndlessFollowUpBus()


@pytest.fixture
def poller(bus):
    return Poller(bus, silent_interval=0)


def test_meter_that_always_says_more_follows_ends_in_a_follow_up_limit_error(poller):
    with pytest.raises(FollowUpLimitError, match=ENDLESS_METER):
        poller.read(ENDLESS_METER, FORWARD_ACTIVE_ENERGY)


def test_meter_that_always_says_more_follows_is_asked_for_no_more_than_the_bound(poller, bus):
    with pytest.raises(FollowUpLimitError):
        poller.read(ENDLESS_METER, FORWARD_ACTIVE_ENERGY)
    assert bus.exchanges[ENDLESS_METER] == 1 + MAX_FOLLOW_UPS


def test_next_meter_on_the_bus_is_read_after_an_endless_one(poller):
    with pytest.raises(FollowUpLimitError):
        poller.read(ENDLESS_METER, FORWARD_ACTIVE_ENERGY)
    assert poller.read_energy(HONEST_METER, FORWARD_ACTIVE_ENERGY) == HONEST_KWH


def test_daemon_step_still_reads_the_other_meter_of_the_bus(poller, tmp_path):
    outbox = Outbox(str(tmp_path / "outbox.sqlite3"))
    outbox.save_schedule(CLOCK)
    meters = [
        BridgedMeter(name, address, index, FORWARD_ACTIVE_ENERGY, MeterKey(Account.create().key))
        for index, (name, address) in enumerate([("endless", ENDLESS_METER), ("honest", HONEST_METER)], start=1)
    ]
    Daemon(meters, poller, UnreachableChain(), outbox).poll(CLOCK.start(3) + 1)
    assert outbox.last_register("honest").kwh == HONEST_KWH
