"""Errors of the DL/T 645-2007 codec, of a meter exchange, and of the bridge's outbox.

Every error says in its message what is wrong with the bytes, so that a log line or the
``decode`` command alone is enough to see why a frame was refused::

    Dlt645Error
    ├── FramingError            missing 68H start byte, second 68H or 16H end byte
    ├── LengthError             frame shorter or longer than its L byte says, data of wrong size
    ├── ChecksumError           CS byte does not match the sum of the frame
    ├── BcdError                a nibble above 9 where a BCD digit is expected
    ├── UnexpectedControlError  a control code that does not answer the request
    ├── AddressMismatchError    a reply from another meter than the one asked
    ├── IdentifierMismatchError a reply for another data identifier than the one asked
    ├── AbnormalReplyError      the meter refused (D1H ...), with the decoded reasons
    ├── FollowUpLimitError      the meter kept answering "more frames follow" past the bound
    └── NoReplyError            no valid reply within the timeout, after every retry

    OutboxUnavailable           the outbox database cannot be read or written: the daemon stops

A ``Dlt645Error`` concerns one meter and one read: the daemon logs it and goes on with the next
meter. ``OutboxUnavailable`` concerns every reading, so it is deliberately not a ``Dlt645Error``
(nor an ``OSError``, which the daemon treats as a serial line or chain that will come back).
"""

from __future__ import annotations


class Dlt645Error(Exception):
    """Base of every error raised while encoding, decoding or exchanging DL/T 645 frames."""


class FramingError(Dlt645Error):
    """A start (68H) or end (16H) byte is missing where the frame layout requires it."""


class LengthError(Dlt645Error):
    """The frame or its data does not have the number of bytes it should."""


class ChecksumError(Dlt645Error):
    """The checksum byte does not match the bytes of the frame."""

    def __init__(self, expected: int, received: int):
        super().__init__(f"checksum mismatch: frame carries {received:02X}H, bytes sum to {expected:02X}H")
        self.expected = expected
        self.received = received


class BcdError(Dlt645Error):
    """A byte that should hold two BCD digits holds a nibble above 9."""


class UnexpectedControlError(Dlt645Error):
    """The control code is not one that answers the request that was sent."""


class AddressMismatchError(Dlt645Error):
    """The reply comes from another meter address than the one asked."""

    def __init__(self, expected: str, received: str):
        super().__init__(f"reply from meter {received}, expected meter {expected}")
        self.expected = expected
        self.received = received


class IdentifierMismatchError(Dlt645Error):
    """The reply carries another data identifier than the one asked."""

    def __init__(self, expected: int, received: int):
        super().__init__(f"reply for data identifier {received:08X}, expected {expected:08X}")
        self.expected = expected
        self.received = received


class AbnormalReplyError(Dlt645Error):
    """The meter answered with an abnormal reply; ``reasons`` names each bit of its error byte."""

    def __init__(self, address: str, error_byte: int, reasons: tuple[str, ...]):
        super().__init__(f"meter {address} refused the request (error byte {error_byte:02X}H: {', '.join(reasons)})")
        self.address = address
        self.error_byte = error_byte
        self.reasons = reasons


class FollowUpLimitError(Dlt645Error):
    """A reply still said "more frames follow" after the most follow-up frames one read may take."""

    def __init__(self, address: str, di: int, frames: int, payload_bytes: int):
        super().__init__(
            f"meter {address} still answers {di:08X} with 'more frames follow' after {frames} frames "
            f"({payload_bytes} bytes); read given up, nothing of it kept"
        )
        self.address = address
        self.di = di
        self.frames = frames


class NoReplyError(Dlt645Error):
    """No valid reply arrived in time, after every retry."""


class OutboxUnavailable(Exception):
    """The outbox database at ``path`` cannot be opened, read or written.

    ``action`` says which ("opened", "read", "written"), ``cause`` gives SQLite's reason and
    ``remedy`` what the field engineer does about it. On the way out the file is neither changed
    nor removed: the readings already queued in it stay there.
    """

    def __init__(self, path: str, action: str, cause: str, remedy: str):
        super().__init__(
            f"outbox {path} cannot be {action}: {cause}. The bridge stops and leaves the file as it "
            f"is, so no reading queued in it is lost. {remedy} Then start the bridge again."
        )
        self.path = path
        self.action = action
        self.cause = cause
        self.remedy = remedy
