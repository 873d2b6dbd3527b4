"""Request/reply exchanges with meters: joins the codec and a byte pipe.

One exchange on a half-duplex RS-485 bus::

    master  FE FE FE FE 68 ..request.. 16 ──►
    adapter echo of the request (direction bit clear) ◄── skipped
    meter   [FE..] 68 ..reply.. 16 ◄── after 20-500 ms; must answer the address and DI asked

Between exchanges the bus stays silent for ``silent_interval`` seconds so that every meter sees
the end of the previous frame. A failed attempt (no reply, corrupt reply, reply from another
meter or for another identifier) is retried with a doubling backoff; an abnormal reply is the
meter's answer and is not retried. Several meters on one bus are polled in turn through the same
poller, one exchange at a time.

Every wait is bounded: an attempt by ``reply_timeout`` and ``MAX_REPLY_BYTES``, an exchange by
``retries`` and the backoff, a read by ``MAX_FOLLOW_UPS`` follow-up exchanges after the first.
So a meter that never stops answering, or never answers, holds the bus for a known time and
then gives way to the next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Protocol, TypeVar

from meter_bridge.codec import (
    PREAMBLE,
    DataReply,
    Frame,
    FrameDecoder,
    encode_frame,
    follow_up_request,
    parse_address_reply,
    parse_data_reply,
    read_address_request,
    read_request,
)
from meter_bridge.data_items import decode_value
from meter_bridge.errors import AbnormalReplyError, Dlt645Error, FollowUpLimitError, NoReplyError

log = logging.getLogger(__name__)

# Follow-up frames one read may take after its first frame. A reply frame carries at most 200
# data bytes, 195 or 196 of them value bytes, so the largest blocks of DL/T 645-2007 (maximum
# demand with its time, for the total and 63 tariffs: 64 x 8 = 512 bytes) take three frames, and
# every register the bridge reads fits in one. Four follow-ups (five frames, at most 976 value
# bytes) leave room; a meter still saying "more frames follow" after them is faulty or hostile.
MAX_FOLLOW_UPS = 4

# Bytes one attempt reads at most while waiting for a reply. A reply is at most 216 bytes (wake-up
# bytes and a 212-byte frame) after the echo of our request, and a line at 19200 bit/s carries
# under 2 KiB a second; more is a flood (through a network gateway), not a meter: the attempt
# fails without decoding it.
MAX_REPLY_BYTES = 8192

Reply = TypeVar("Reply")


class BytePipe(Protocol):
    def send(self, data: bytes) -> None: ...

    def receive(self, timeout: float) -> bytes: ...

    def discard_input(self) -> None: ...


class Poller:
    """Reads data identifiers and addresses from meters over one byte pipe."""

    def __init__(
        self,
        pipe: BytePipe,
        *,
        reply_timeout: float = 1.0,
        retries: int = 2,
        backoff: float = 0.5,
        silent_interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.pipe = pipe
        self.reply_timeout = reply_timeout
        self.retries = retries
        self.backoff = backoff
        self.silent_interval = silent_interval
        self._clock = clock
        self._sleep = sleep
        self._bus_free_at = 0.0

    def read(self, address: str, di: int) -> DataReply:
        """Read one identifier; a reply in several frames (more-follows bit) is joined into one.

        Raises FollowUpLimitError, keeping nothing of the reply, when the frame after the last
        allowed follow-up still says more frames follow.
        """
        accept = partial(parse_data_reply, expected_address=address, expected_di=di)
        reply = self._exchange(read_request(address, di), accept)
        payload = reply.payload
        for sequence in range(1, MAX_FOLLOW_UPS + 1):
            if not reply.more_follows:
                break
            reply = self._exchange(follow_up_request(address, di, sequence), accept)
            if reply.sequence != sequence:
                raise Dlt645Error(f"follow-up reply carries sequence {reply.sequence}, asked for {sequence}")
            payload += reply.payload
        if reply.more_follows:
            raise FollowUpLimitError(address, di, 1 + MAX_FOLLOW_UPS, len(payload))
        return DataReply(reply.address, di, payload, more_follows=False)

    def read_energy(self, address: str, di: int) -> Decimal:
        """An energy register in kWh."""
        reply = self.read(address, di)
        value = decode_value(di, reply.payload)
        if value is None or value.value is None:
            raise Dlt645Error(f"meter {address} has no value for {di:08X}")
        return value.value

    def read_address(self) -> str:
        """The address of the one meter on the line (read address to the wildcard)."""
        return self._exchange(read_address_request(), parse_address_reply)

    def _exchange(self, request: Frame, accept: Callable[[Frame], Reply]) -> Reply:
        wire = PREAMBLE + encode_frame(request)
        last_error: Dlt645Error | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff * 2 ** (attempt - 1))
            self._wait_for_silent_bus()
            self.pipe.discard_input()
            self.pipe.send(wire)
            try:
                return self._await_reply(accept)
            except AbnormalReplyError:
                raise
            except Dlt645Error as error:
                last_error = error
                log.debug("meter %s attempt %d: %s", request.address, attempt + 1, error)
            finally:
                self._bus_free_at = self._clock() + self.silent_interval
        raise NoReplyError(
            f"meter {request.address}: no valid reply to {request.control:02X}H "
            f"after {self.retries + 1} attempts ({last_error})"
        )

    def _wait_for_silent_bus(self) -> None:
        remaining = self._bus_free_at - self._clock()
        if remaining > 0:
            self._sleep(remaining)

    def _await_reply(self, accept: Callable[[Frame], Reply]) -> Reply:
        decoder = FrameDecoder()
        corrupt: Dlt645Error | None = None
        deadline = self._clock() + self.reply_timeout
        received = 0
        while (remaining := deadline - self._clock()) > 0:
            chunk = self.pipe.receive(remaining)
            received += len(chunk)
            if received > MAX_REPLY_BYTES:
                raise NoReplyError(f"{received} bytes and no valid reply: a flood, not a meter")
            decoder.feed(chunk)
            while True:
                try:
                    frame = decoder.next_frame()
                except Dlt645Error as error:
                    corrupt = error
                    continue
                if frame is None:
                    break
                if frame.is_reply:
                    return accept(frame)
                # our own request, echoed by a two-wire adapter
        raise corrupt or NoReplyError(f"no reply within {self.reply_timeout} s")
