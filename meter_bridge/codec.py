"""DL/T 645-2007 frames: building requests and parsing replies, on bytes only (no I/O).

Frame layout (every field one byte unless noted)::

    [FE FE FE FE]  68  A0 A1 A2 A3 A4 A5  68  C  L  DATA (L bytes)  CS  16
     wake-up       |   address, BCD,      |  |  |  each byte +33H   |   end
     (optional)  start lowest byte first  |  |  data length         checksum: sum of 68 .. last
                                    second 68 control code           data byte, modulo 256

Control code C::

    bit 7    direction: 0 = request from the master, 1 = reply from the meter
    bit 6    abnormal reply: the meter refused, the one data byte is an error byte
    bit 5    more frames follow (read them with the follow-up request 12H + sequence byte)
    bits 4-0 function: 11H read data, 12H read follow-up, 13H read address, ...

Addresses are written in nameplate order ("000000000161") everywhere in this package; the
reversal to wire order (61 01 00 00 00 00) happens only in this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from meter_bridge.errors import (
    AbnormalReplyError,
    AddressMismatchError,
    BcdError,
    ChecksumError,
    Dlt645Error,
    FramingError,
    IdentifierMismatchError,
    LengthError,
    UnexpectedControlError,
)

WAKE_UP = 0xFE
PREAMBLE = bytes([WAKE_UP] * 4)
START = 0x68
END = 0x16
DATA_OFFSET = 0x33

ADDRESS_SIZE = 6
HEADER_SIZE = 10  # 68 + address + 68 + C + L
FRAME_OVERHEAD = HEADER_SIZE + 2  # + CS + 16
MAX_DATA_LENGTH = 200  # the standard caps read data at 200 bytes
MAX_FRAME_SIZE = FRAME_OVERHEAD + MAX_DATA_LENGTH
DI_SIZE = 4

WILDCARD_ADDRESS = "AAAAAAAAAAAA"  # "whichever meter is on the line"; answered with its real address
BROADCAST_ADDRESS = "999999999999"  # time sync and freeze; meters never answer it

DIRECTION_REPLY = 0x80
ABNORMAL = 0x40
FOLLOWS = 0x20
FUNCTION_MASK = 0x1F

READ_DATA = 0x11
READ_FOLLOW_UP = 0x12
READ_ADDRESS = 0x13

ERROR_REASONS = (
    (0x01, "other error"),
    (0x02, "no requested data"),
    (0x04, "password wrong or unauthorized"),
    (0x08, "baud rate cannot be changed"),
    (0x10, "too many year time zones"),
    (0x20, "too many daily periods"),
    (0x40, "too many tariffs"),
    (0x80, "reserved"),
)


@dataclass(frozen=True)
class Frame:
    """One frame: address in nameplate order, control code and the data with +33H removed."""

    address: str
    control: int
    data: bytes = b""

    @property
    def is_reply(self) -> bool:
        return bool(self.control & DIRECTION_REPLY)

    @property
    def is_abnormal(self) -> bool:
        return bool(self.control & ABNORMAL)

    @property
    def more_follows(self) -> bool:
        return bool(self.control & FOLLOWS)

    @property
    def function(self) -> int:
        return self.control & FUNCTION_MASK


@dataclass(frozen=True)
class DataReply:
    """A normal reply to a read (91H/B1H) or follow-up read (92H/B2H).

    ``payload`` is the value bytes without the identifier (and without the sequence byte of a
    follow-up reply); ``sequence`` is that byte, None for the first reply.
    """

    address: str
    di: int
    payload: bytes
    more_follows: bool
    sequence: int | None = None


# ---------------------------------------------------------------- BCD and addresses


def bcd_byte(value: int) -> int:
    """Two decimal digits (0-99) as one BCD byte."""
    return (value // 10) << 4 | value % 10


def bcd_digits(data: bytes, what: str) -> str:
    """Digits of little-endian BCD bytes, most significant first; BcdError names ``what``."""
    for byte in data:
        if byte >> 4 > 9 or byte & 0x0F > 9:
            raise BcdError(f"{what}: byte {byte:02X}H is not BCD (in {data.hex(' ').upper()})")
    return bytes(reversed(data)).hex()


def address_to_wire(address: str) -> bytes:
    """Nameplate address ("000000000161", or with AA pairs for wildcard digits) in wire order."""
    if len(address) != 2 * ADDRESS_SIZE:
        raise BcdError(f"meter address {address!r} must have 12 digits")
    pairs = [address[i : i + 2].upper() for i in range(0, len(address), 2)]
    for pair in pairs:
        if not (pair.isdigit() and pair.isascii()) and pair != "AA":
            raise BcdError(f"meter address {address!r}: {pair!r} is neither two digits nor AA")
    return bytes(reversed(bytes.fromhex("".join(pairs))))


def address_from_wire(wire: bytes) -> str:
    """Wire-order address bytes in nameplate order; each byte is BCD or the AA wildcard."""
    for byte in wire:
        if byte != 0xAA and (byte >> 4 > 9 or byte & 0x0F > 9):
            raise BcdError(f"meter address byte {byte:02X}H is not BCD (address bytes {wire.hex(' ').upper()})")
    return bytes(reversed(wire)).hex().upper()


def di_to_wire(di: int) -> bytes:
    """A data identifier (DI3 DI2 DI1 DI0 as written, e.g. 0x00010000) lowest byte first."""
    return di.to_bytes(DI_SIZE, "little")


def di_from_wire(data: bytes) -> int:
    return int.from_bytes(data[:DI_SIZE], "little")


def describe_error_byte(error_byte: int) -> tuple[str, ...]:
    """Named reasons of an abnormal reply's error byte; the bits combine."""
    return tuple(reason for bit, reason in ERROR_REASONS if error_byte & bit) or ("no reason given",)


# ---------------------------------------------------------------- frames


def checksum(body: bytes) -> int:
    return sum(body) % 256


def encode_frame(frame: Frame) -> bytes:
    """The frame on the wire, without wake-up bytes."""
    if len(frame.data) > MAX_DATA_LENGTH:
        raise LengthError(f"{len(frame.data)} data bytes, a frame carries at most {MAX_DATA_LENGTH}")
    body = (
        bytes([START])
        + address_to_wire(frame.address)
        + bytes([START, frame.control, len(frame.data)])
        + bytes((byte + DATA_OFFSET) % 256 for byte in frame.data)
    )
    return body + bytes([checksum(body), END])


def decode_frame(raw: bytes) -> Frame:
    """Exactly one frame, optionally after wake-up bytes (FE); raises a Dlt645Error otherwise."""
    start = 0
    while start < len(raw) and raw[start] == WAKE_UP:
        start += 1
    frame, consumed = _parse_frame_at(raw[start:], complete=True)
    if consumed != len(raw) - start:
        raise LengthError(
            f"{len(raw) - start - consumed} bytes after the end byte; L={raw[start + 9]:02X}H "
            f"says the frame is {consumed} bytes"
        )
    return frame


def _parse_frame_at(buffer: bytes, complete: bool) -> tuple[Frame | None, int]:
    """Parse a frame starting at buffer[0] (which must be 68H).

    With ``complete`` the buffer must hold the whole frame; otherwise (streaming) return
    (None, 0) when more bytes are needed. Returns the frame and the number of bytes it used.
    """
    if not buffer or buffer[0] != START:
        found = f"{buffer[0]:02X}H" if buffer else "nothing"
        raise FramingError(f"missing start byte 68H: frame begins with {found}")
    if len(buffer) < HEADER_SIZE:
        if not complete:
            return None, 0
        raise LengthError(f"frame of {len(buffer)} bytes is shorter than the minimum of {FRAME_OVERHEAD}")
    if buffer[7] != START:
        raise FramingError(f"missing second start byte 68H after the address: found {buffer[7]:02X}H")
    length = buffer[9]
    if length > MAX_DATA_LENGTH:
        raise LengthError(f"L={length:02X}H claims {length} data bytes, a frame carries at most {MAX_DATA_LENGTH}")
    size = FRAME_OVERHEAD + length
    if len(buffer) < size:
        if not complete:
            return None, 0
        raise LengthError(f"frame truncated: L={length:02X}H needs {size} bytes, got {len(buffer)}")
    if buffer[size - 1] != END:
        raise FramingError(f"missing end byte 16H: byte {size} of the frame is {buffer[size - 1]:02X}H")
    expected = checksum(buffer[: size - 2])
    if buffer[size - 2] != expected:
        raise ChecksumError(expected, buffer[size - 2])
    frame = Frame(
        address=address_from_wire(buffer[1:7]),
        control=buffer[8],
        data=bytes((byte - DATA_OFFSET) % 256 for byte in buffer[HEADER_SIZE : HEADER_SIZE + length]),
    )
    return frame, size


class FrameDecoder:
    """Turns a byte stream into frames: chunks may split frames anywhere.

    Bytes before a 68H start byte (wake-up FE of any number, line noise, a 68H not followed by a
    second 68H) are skipped. A frame is delimited by its L byte, never by searching for 16H, which
    also occurs inside data. When a frame-shaped candidate turns out corrupt (length, end byte,
    checksum), ``next_frame`` raises the error once, after dropping the candidate's start byte so
    that the following call resynchronises on the next 68H.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk

    def next_frame(self) -> Frame | None:
        """The next complete frame, or None until more bytes arrive."""
        while True:
            start = self._buffer.find(START)
            if start < 0:
                self._buffer.clear()
                return None
            del self._buffer[:start]
            if len(self._buffer) > 7 and self._buffer[7] != START:
                del self._buffer[:1]  # a 68H in noise, not followed by a second 68H after six bytes
                continue
            try:  # a frame is at most MAX_FRAME_SIZE bytes: copying more would make a burst quadratic
                frame, size = _parse_frame_at(bytes(self._buffer[:MAX_FRAME_SIZE]), complete=False)
            except Dlt645Error:
                del self._buffer[:1]
                raise
            if frame is None:
                return None
            del self._buffer[:size]
            return frame

    def frames(self, chunk: bytes = b"") -> list[Frame]:
        """Feed ``chunk`` and return every complete frame, silently dropping corrupt candidates
        (as a meter ignores a corrupt request)."""
        self.feed(chunk)
        found = []
        while True:
            try:
                frame = self.next_frame()
            except Dlt645Error:
                continue
            if frame is None:
                return found
            found.append(frame)


# ---------------------------------------------------------------- requests


def read_request(address: str, di: int) -> Frame:
    """Read data (11H): L=4, the identifier lowest byte first."""
    return Frame(address, READ_DATA, di_to_wire(di))


def follow_up_request(address: str, di: int, sequence: int) -> Frame:
    """Read follow-up data (12H) after a reply flagged "more follows": identifier + sequence."""
    return Frame(address, READ_FOLLOW_UP, di_to_wire(di) + bytes([sequence]))


def read_address_request() -> Frame:
    """Read address (13H) to the wildcard address, L=0; the one meter on the line answers."""
    return Frame(WILDCARD_ADDRESS, READ_ADDRESS)


# ---------------------------------------------------------------- replies


def _check_reply_to(frame: Frame, functions: tuple[int, ...], expected_address: str | None) -> None:
    """A reply to one of ``functions`` from the address asked, and not an abnormal one."""
    if not frame.is_reply:
        raise UnexpectedControlError(f"control {frame.control:02X}H is a request, not a reply")
    if frame.function not in functions:
        expected = " or ".join(f"{function:02X}H" for function in functions)
        raise UnexpectedControlError(
            f"control {frame.control:02X}H answers function {frame.function:02X}H, expected {expected}"
        )
    if expected_address is not None and not _address_matches(expected_address, frame.address):
        raise AddressMismatchError(expected_address, frame.address)
    if frame.is_abnormal:
        if len(frame.data) != 1:
            raise LengthError(f"abnormal reply carries {len(frame.data)} data bytes, expected 1 error byte")
        raise AbnormalReplyError(frame.address, frame.data[0], describe_error_byte(frame.data[0]))


def _address_matches(asked: str, replied: str) -> bool:
    """AA pairs in the asked address (wildcard or shortened addressing) match any digits."""
    return all(a == r or a == "A" for a, r in zip(asked.upper(), replied.upper()))


def parse_data_reply(frame: Frame, expected_address: str | None = None, expected_di: int | None = None) -> DataReply:
    """Check a reply to a read (11H) or follow-up read (12H) and split identifier and value."""
    _check_reply_to(frame, (READ_DATA, READ_FOLLOW_UP), expected_address)
    follow_up = frame.function == READ_FOLLOW_UP
    minimum = DI_SIZE + (1 if follow_up else 0)
    if len(frame.data) < minimum:
        raise LengthError(f"reply carries {len(frame.data)} data bytes, fewer than the {minimum} of its header")
    di = di_from_wire(frame.data)
    if expected_di is not None and di != expected_di:
        raise IdentifierMismatchError(expected_di, di)
    if follow_up:
        return DataReply(frame.address, di, frame.data[DI_SIZE:-1], frame.more_follows, frame.data[-1])
    return DataReply(frame.address, di, frame.data[DI_SIZE:], frame.more_follows)


def parse_address_reply(frame: Frame) -> str:
    """The meter's own address from a reply to the address read (93H)."""
    _check_reply_to(frame, (READ_ADDRESS,), None)
    if len(frame.data) != ADDRESS_SIZE:
        raise LengthError(f"address reply carries {len(frame.data)} data bytes, expected {ADDRESS_SIZE}")
    address = bcd_digits(frame.data, "address in the address reply")
    if address != frame.address:
        raise AddressMismatchError(address, frame.address)
    return address


def data_reply(address: str, di: int, payload: bytes, more_follows: bool = False, sequence: int | None = None) -> Frame:
    """A meter's normal reply to a read (91H/B1H), or to a follow-up read when ``sequence`` is set."""
    function = READ_DATA if sequence is None else READ_FOLLOW_UP
    control = DIRECTION_REPLY | function | (FOLLOWS if more_follows else 0)
    tail = b"" if sequence is None else bytes([sequence])
    return Frame(address, control, di_to_wire(di) + payload + tail)


def abnormal_reply(address: str, function: int, error_byte: int) -> Frame:
    """A meter's abnormal reply (D1H for a read) with its error byte."""
    return Frame(address, DIRECTION_REPLY | ABNORMAL | function, bytes([error_byte]))


def address_reply(address: str) -> Frame:
    """A meter's reply to the address read (93H): its address, in the header and as data."""
    return Frame(address, DIRECTION_REPLY | READ_ADDRESS, address_to_wire(address))
