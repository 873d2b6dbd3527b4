"""Virtual DL/T 645-2007 meters (slaves) on a pseudo-terminal, for demos and tests.

A ``SimulatedBus`` holds one or more ``VirtualMeter`` objects, as one RS-485 line does. It reads
requests from a file descriptor (the master side of a pseudo-terminal), and each meter answers
the frames addressed to it:

- read address (13H) to the wildcard: the meter's address (when exactly one meter is on the bus);
- read data (11H): energy registers, voltage, current, power, power factor, frequency, address and
  meter number; long replies are split into follow-up frames (B1H, then 12H reads);
- anything unknown: abnormal reply "no requested data".

The energy registers grow with a power profile over a clock (wall time, or an accelerated or
test-controlled clock), or follow the energy another program writes to a file (a storage
station's battery, ``FollowedRegisters``). Given a settlement calendar (the billing clock's month boundaries), a
meter freezes its energy registers at each boundary, as a real meter does on its monthly
settlement day, and answers the last twelve (identifiers with DI0 01..0C); the values frozen
are those of the boundary's instant, even when nobody asked at that moment. Faults can be
injected per meter, for a number of replies or at random: no reply, garbled bytes, bad checksum,
abnormal reply, noise before the reply, a reply that says "more frames follow" however many
follow-ups are read; and the bus can echo every request as a two-wire adapter does.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import os
import random
import select
import subprocess
import sys
import threading
import time
import tty
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol

from meter_bridge import data_items
from meter_bridge.codec import (
    BROADCAST_ADDRESS,
    PREAMBLE,
    READ_ADDRESS,
    READ_DATA,
    READ_FOLLOW_UP,
    START,
    Frame,
    FrameDecoder,
    abnormal_reply,
    address_reply,
    data_reply,
    di_from_wire,
    encode_frame,
)

log = logging.getLogger(__name__)

NO_REQUESTED_DATA = 0x02
CENTI = Decimal("0.01")
COMBINED_REGISTER_LIMIT = Decimal("800000.00")  # its top bit is the sign, which leaves 7 digits


class Fault(enum.Enum):
    NO_REPLY = "no-reply"
    GARBLED = "garbled"
    BAD_CHECKSUM = "bad-checksum"
    ABNORMAL = "abnormal"
    NOISE = "noise"
    ENDLESS_FOLLOW_UP = "endless-follow-up"  # a full frame flagged "more follows", to every read


@dataclass(frozen=True)
class PowerProfile:
    """Power in kW, one value per step, repeating; positive = imported, negative = exported."""

    steps_kw: tuple[float, ...] = (1.0,)
    step_seconds: float = 3600.0

    def energy_kwh(self, elapsed: float) -> tuple[float, float]:
        """(imported, exported) kWh over ``elapsed`` seconds from the profile's start."""
        imported = exported = 0.0
        cycle = self.step_seconds * len(self.steps_kw)
        whole_cycles, rest = divmod(max(elapsed, 0.0), cycle)
        for index, kw in enumerate(self.steps_kw):
            seconds = whole_cycles * self.step_seconds + min(
                max(rest - index * self.step_seconds, 0.0), self.step_seconds
            )
            kwh = kw * seconds / 3600
            if kwh >= 0:
                imported += kwh
            else:
                exported -= kwh
        return imported, exported


@dataclass(frozen=True)
class FollowedRegisters:
    """Energy read from a file another program keeps, instead of a power profile: a storage
    station's daemon writes there what its equipment metered at its terminals, as JSON
    ``{"imported_kwh": .., "exported_kwh": ..}`` (replaced whole on every change). A file not
    written yet, or not readable, reads as no energy; the power reads 0."""

    path: str
    steps_kw: tuple[float, ...] = (0.0,)
    step_seconds: float = 3600.0

    def energy_kwh(self, elapsed: float) -> tuple[float, float]:
        try:
            with open(self.path) as file:
                document = json.load(file)
            imported, exported = float(document["imported_kwh"]), float(document["exported_kwh"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0, 0.0
        if not (math.isfinite(imported) and math.isfinite(exported)) or imported < 0 or exported < 0:
            return 0.0, 0.0
        return imported, exported


class SettlementCalendar(Protocol):
    """Month boundaries, as ``p2pkit.retail.clock.BillingClock`` gives them."""

    def month_at(self, timestamp: float) -> int: ...

    def month_start(self, month: int) -> int: ...


@dataclass
class VirtualMeter:
    """One simulated meter: registers from a profile, and the faults to inject in its replies."""

    address: str
    forward_kwh: Decimal = Decimal("0")
    reverse_kwh: Decimal = Decimal("0")
    profile: PowerProfile | FollowedRegisters = field(default_factory=PowerProfile)
    clock: Callable[[], float] = time.monotonic
    meter_number: str = ""
    voltage: Decimal = Decimal("230.0")
    frequency: Decimal = Decimal("50.00")
    fault_rates: dict[Fault, float] = field(default_factory=dict)
    abnormal_error_byte: int = NO_REQUESTED_DATA
    max_reply_data: int = 200
    rng: random.Random = field(default_factory=lambda: random.Random(645))
    settlement: SettlementCalendar | None = None

    def __post_init__(self) -> None:
        self._injected: deque[Fault] = deque()
        self._pending_parts: list[bytes] = []
        self.replies = 0
        self._start_registers()

    # ---------------------------------------------------------------- registers

    def registers(self) -> tuple[Decimal, Decimal]:
        """(forward, reverse) active energy in kWh, rolled over at 999999.99 like a real register."""
        return self.registers_at(self.clock())

    def registers_at(self, moment: float) -> tuple[Decimal, Decimal]:
        """The registers as they stood at ``moment`` (of this meter's clock, since it started)."""
        imported, exported = self.profile.energy_kwh(moment - self._started_at)
        forward = (self.forward_kwh + Decimal(repr(imported))).quantize(CENTI, ROUND_FLOOR)
        reverse = (self.reverse_kwh + Decimal(repr(exported))).quantize(CENTI, ROUND_FLOOR)
        return forward % data_items.ENERGY_REGISTER_LIMIT, reverse % data_items.ENERGY_REGISTER_LIMIT

    def replace(self, address: str, forward_kwh: Decimal = Decimal("0"), reverse_kwh: Decimal = Decimal("0")) -> None:
        """Swap in a new meter at this place on the bus: new address, registers start over, and
        nothing frozen yet."""
        self.address = address
        self.forward_kwh, self.reverse_kwh = forward_kwh, reverse_kwh
        self._start_registers()

    def _start_registers(self) -> None:
        self._started_at = self.clock()
        self._frozen: deque[tuple[Decimal, Decimal]] = deque(maxlen=data_items.SETTLEMENT_DAYS_KEPT)
        self._frozen_month = self.settlement.month_at(self._started_at) if self.settlement else 0

    def _freeze_due(self) -> None:
        """Freeze the registers at every month boundary passed since the last freeze."""
        if self.settlement is None:
            return
        month = self.settlement.month_at(self.clock())
        while self._frozen_month < month:
            self._frozen_month += 1
            self._frozen.appendleft(self.registers_at(self.settlement.month_start(self._frozen_month)))

    def values(self, di: int) -> tuple[Decimal | str | None, ...] | None:
        """The values this meter holds for an identifier, or None when it has none."""
        di3, di2, di1, di0 = di.to_bytes(4, "big")
        if di3 == 0 and di2 in (0, 1, 2) and 1 <= di0 <= data_items.SETTLEMENT_DAYS_KEPT:
            self._freeze_due()
            if di0 > len(self._frozen):
                return None
            return self._energy_values(*self._frozen[di0 - 1], di2, di1)
        forward, reverse = self.registers()
        if di3 == 0 and di2 in (0, 1, 2) and di0 == 0:
            return self._energy_values(forward, reverse, di2, di1)
        fixed = {
            data_items.PHASE_A_VOLTAGE: (self.voltage,),
            data_items.GRID_FREQUENCY: (self.frequency,),
            data_items.TOTAL_POWER_FACTOR: (Decimal("1.000"),),
            data_items.COMMUNICATION_ADDRESS: (self.address,),
            data_items.METER_NUMBER: (self.meter_number or self.address,),
        }
        if di in fixed:
            return fixed[di]
        if di == data_items.TOTAL_ACTIVE_POWER:
            elapsed = self.clock() - self._started_at
            step = int(elapsed // self.profile.step_seconds) % len(self.profile.steps_kw)
            return (Decimal(repr(self.profile.steps_kw[step])).quantize(Decimal("0.0001")),)
        return None

    @staticmethod
    def _energy_values(forward: Decimal, reverse: Decimal, kind: int, tariff: int) -> tuple[Decimal, ...] | None:
        if tariff > 4 and tariff != data_items.BLOCK:
            return None
        combined = (forward + reverse) % COMBINED_REGISTER_LIMIT
        total = {0: combined, 1: forward, 2: reverse}[kind]
        if tariff == 0:
            return (total,)
        if tariff == data_items.BLOCK:
            return (total, total, Decimal("0"), Decimal("0"), Decimal("0"))  # single tariff: all in T1
        return (total if tariff == 1 else Decimal("0"),)

    # ---------------------------------------------------------------- faults

    def inject(self, fault: Fault, count: int = 1) -> None:
        """Apply ``fault`` to the next ``count`` replies of this meter."""
        self._injected.extend([fault] * count)

    def clear_faults(self) -> None:
        self._injected.clear()

    def _next_fault(self) -> Fault | None:
        if self._injected:
            return self._injected.popleft()
        for fault, rate in self.fault_rates.items():
            if self.rng.random() < rate:
                return fault
        return None

    # ---------------------------------------------------------------- replies

    def answer(self, request: Frame) -> bytes:
        """The bytes this meter puts on the bus in reply to a request addressed to it."""
        self.replies += 1
        fault = self._next_fault()
        if fault is Fault.NO_REPLY:
            return b""
        if fault is Fault.GARBLED:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(4, 24)))
        if fault is Fault.ABNORMAL:
            reply = abnormal_reply(self.address, request.function, self.abnormal_error_byte)
        elif fault is Fault.ENDLESS_FOLLOW_UP and request.function in (READ_DATA, READ_FOLLOW_UP):
            reply = self._endless_part(request)
        else:
            reply = self._reply_to(request)
        wire = bytearray(PREAMBLE + encode_frame(reply))
        if fault is Fault.BAD_CHECKSUM:
            wire[-2] ^= 0xFF
        if fault is Fault.NOISE:
            wire[:0] = bytes(self.rng.choice([b for b in range(256) if b != START]) for _ in range(8))
        return bytes(wire)

    def _endless_part(self, request: Frame) -> Frame:
        """A frame of filler as long as a frame may be, saying that more frames follow."""
        sequence = request.data[4] if request.function == READ_FOLLOW_UP else None
        room = self.max_reply_data - 4 - (0 if sequence is None else 1)
        return data_reply(self.address, di_from_wire(request.data), bytes(room), more_follows=True, sequence=sequence)

    def _reply_to(self, request: Frame) -> Frame:
        if request.function == READ_ADDRESS:
            return address_reply(self.address)
        di = di_from_wire(request.data)
        if request.function == READ_FOLLOW_UP and self._pending_parts:
            sequence = request.data[4]
            part = self._pending_parts.pop(0)
            return data_reply(self.address, di, part, more_follows=bool(self._pending_parts), sequence=sequence)
        values = self.values(di) if request.function == READ_DATA else None
        if values is None:
            return abnormal_reply(self.address, request.function, NO_REQUESTED_DATA)
        payload = data_items.encode_value(di, values)
        room = self.max_reply_data - 4 - 1  # identifier, and the sequence byte of follow-ups
        parts = [payload[i : i + room] for i in range(0, len(payload), room)] or [b""]
        self._pending_parts = parts[1:]
        return data_reply(self.address, di, parts[0], more_follows=len(parts) > 1)


class SimulatedBus:
    """Meters sharing one line: routes each request to the meter it addresses."""

    def __init__(self, meters: list[VirtualMeter], *, echo: bool = False, reply_delay: float = 0.02):
        self.meters = meters
        self.echo = echo
        self.reply_delay = reply_delay

    def respond(self, request: Frame) -> bytes:
        """Everything that appears on the line after ``request``: the echo, then any reply."""
        if request.is_reply:
            return b""
        echoed = PREAMBLE + encode_frame(request) if self.echo else b""
        if request.address == BROADCAST_ADDRESS:
            return echoed
        addressed = [meter for meter in self.meters if _addressed_to(request.address, meter.address)]
        if len(addressed) > 1:
            log.info("simulated bus: %d meters answer %s at once, collision", len(addressed), request.address)
            return echoed + bytes(random.Random(len(addressed)).randrange(256) for _ in range(20))
        if not addressed:
            return echoed
        return echoed + addressed[0].answer(request)

    def serve(self, fd: int, stop: threading.Event) -> None:
        """Answer requests arriving on ``fd`` until ``stop`` is set."""
        decoder = FrameDecoder()
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the other side of the pty is not open (yet); wait for it
                stop.wait(0.05)
                continue
            for request in decoder.frames(chunk):
                reply = self.respond(request)
                if reply:
                    stop.wait(self.reply_delay)
                    os.write(fd, reply)


def _addressed_to(asked: str, address: str) -> bool:
    return all(a == m or a == "A" for a, m in zip(asked.upper(), address.upper()))


class PseudoTerminal:
    """A pty pair: the bus serves on the master side, the bridge opens ``slave_path``.

    The slave stays open here too, in raw mode, so that the master never reads an end of file
    between two clients and no byte is mangled by the line discipline before a client sets it up.
    """

    def __init__(self) -> None:
        self.master_fd, self._slave_fd = os.openpty()
        tty.setraw(self._slave_fd)
        self.slave_path = os.ttyname(self._slave_fd)

    def close(self) -> None:
        os.close(self.master_fd)
        os.close(self._slave_fd)


class BusThread:
    """Runs a simulated bus on a pseudo-terminal in a background thread (a context manager)."""

    def __init__(self, bus: SimulatedBus, pty: PseudoTerminal | None = None):
        self.bus = bus
        self.pty = pty or PseudoTerminal()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=bus.serve, args=(self.pty.master_fd, self._stop), daemon=True)

    @property
    def port(self) -> str:
        return self.pty.slave_path

    def __enter__(self) -> BusThread:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.pty.close()


def launch(*arguments: str, stderr: int | None = subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    """``python -m meter_bridge simulate --create-pty ARGUMENTS`` as a process of its own (for
    the demo, the benchmarks and the tests), and the path of the pty it made, which it prints
    first. The caller stops the process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "meter_bridge", "simulate", "--create-pty", *arguments],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    return process, process.stdout.readline().strip()
