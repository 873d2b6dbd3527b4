"""The serial line as a plain byte pipe: bytes out, whatever arrived back in, nothing more.

RS-485 meters talk 2400 bit/s, 8 data bits, even parity, 1 stop bit unless configured otherwise.
The port may be anything ``serial.serial_for_url`` opens: a device (/dev/ttyUSB0), a
pseudo-terminal path, or a URL such as ``socket://host:port`` for a serial-to-Ethernet gateway.
"""

from __future__ import annotations

import os
import termios
import time
from dataclasses import dataclass

import serial

# How long one read call blocks. The port's timeout is set once at opening: changing it per call
# reconfigures the line, which pseudo-terminals refuse once they have dropped the parity flag.
READ_SLICE = 0.02
PSEUDO_TERMINALS = "/dev/pts/"


@dataclass(frozen=True)
class SerialSettings:
    """Line settings; the defaults are those of DL/T 645 meters' RS-485 ports."""

    port: str
    baudrate: int = 2400
    bytesize: int = 8
    parity: str = "E"
    stopbits: float = 1


class SerialTransport:
    """An open serial line: ``send`` bytes, ``receive`` what arrives within a timeout."""

    def __init__(self, settings: SerialSettings):
        self.settings = settings
        try:
            self._serial = self._open(settings.parity)
        except termios.error as error:
            if not os.path.realpath(settings.port).startswith(PSEUDO_TERMINALS):
                raise serial.SerialException(f"cannot configure {settings.port}: {error}") from None
            # A pseudo-terminal carries no parity bit, and some kernels refuse the flag rather
            # than ignore it once the line is already at the asked speed.
            self._serial = self._open(serial.PARITY_NONE)

    def _open(self, parity: str) -> serial.SerialBase:
        return serial.serial_for_url(
            self.settings.port,
            baudrate=self.settings.baudrate,
            bytesize=self.settings.bytesize,
            parity=parity,
            stopbits=self.settings.stopbits,
            timeout=READ_SLICE,
        )

    def send(self, data: bytes) -> None:
        self._serial.write(data)
        self._serial.flush()

    def receive(self, timeout: float) -> bytes:
        """Bytes that arrive within ``timeout`` seconds: waits for the first, then takes what is there."""
        deadline = time.monotonic() + timeout
        while not (first := self._serial.read(1)):
            if time.monotonic() >= deadline:
                return b""
        return first + self._serial.read(self._serial.in_waiting)

    def discard_input(self) -> None:
        """Drop bytes left over from an earlier exchange (a late reply, line noise)."""
        self._serial.reset_input_buffer()

    def close(self) -> None:
        self._serial.close()

    def __enter__(self) -> SerialTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
