"""``python -m meter_bridge``: decode and build frames, read a meter, simulate meters, run the daemon.

Exit status: 0 success, 1 the meter or chain did not cooperate, 2 bad input (malformed frame,
bad arguments, unusable configuration), 74 the outbox cannot be opened, read or written (``run``
only; the file is left as it is, and the systemd unit does not restart the bridge on this status).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import threading
import time
import tty
from collections.abc import Callable
from decimal import Decimal

from meter_bridge.codec import (
    READ_ADDRESS,
    READ_DATA,
    READ_FOLLOW_UP,
    Frame,
    address_from_wire,
    address_to_wire,
    decode_frame,
    describe_error_byte,
    di_from_wire,
    encode_frame,
    read_request,
)
from meter_bridge.config import BYTE_SIZE, PARITY, STOP_BITS, Config, ConfigError, load_config
from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY, DataValue, decode_value
from meter_bridge.errors import Dlt645Error, OutboxUnavailable
from meter_bridge.poller import Poller
from meter_bridge.simulator import Fault, FollowedRegisters, PowerProfile, PseudoTerminal, SimulatedBus, VirtualMeter
from meter_bridge.transport import SerialSettings, SerialTransport
from p2pkit.retail.clock import UTC_PLUS_8, BillingClock
from p2pkit.settings import Parser

BAD_INPUT = 2
NOT_COOPERATING = 1
# sysexits.h's EX_IOERR. Distinct so that systemd can tell it apart (RestartPreventExitStatus=74):
# restarting cannot mend a damaged file, a full disk or a read-only file system.
OUTBOX_UNAVAILABLE = 74


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.command(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m meter_bridge", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    decode = commands.add_parser("decode", help="decode one frame given in hex, print it as JSON")
    decode.add_argument("hex", nargs="+", help="frame bytes in hex (spaces allowed)")
    decode.set_defaults(command=_decode)

    encode = commands.add_parser("encode-read", help="print the read request (11H) for a meter and DI in hex")
    encode.add_argument("address", help="meter address, 12 digits as on the nameplate")
    encode.add_argument("di", help="data identifier, 8 hex digits, e.g. 00010000")
    encode.set_defaults(command=_encode_read)

    read = commands.add_parser("read", help="read one value from a meter (without --address: its address)")
    _add_line_options(read)
    read.add_argument("--address", help="meter address; omitted: read the address of the one meter on the line")
    read.add_argument("--di", default=f"{FORWARD_ACTIVE_ENERGY:08X}", help="data identifier (default 00010000)")
    read.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for a reply")
    read.add_argument("--retries", type=int, default=2)
    read.set_defaults(command=_read)

    simulate = commands.add_parser("simulate", help="simulated meters answering on a pseudo-terminal")
    where = simulate.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serve on this existing terminal device (e.g. one end of a pty pair)")
    where.add_argument("--create-pty", action="store_true", help="create a pty and print the path to open")
    simulate.add_argument(
        "--meter",
        action="append",
        required=True,
        metavar="SPEC",
        help="ADDRESS[,forward=KWH][,reverse=KWH][,power=KW/KW/...|follow=FILE][,step=SECONDS][,number=DIGITS]; "
        "power > 0 is imported, < 0 exported; follow: the energy a station daemon writes to FILE; "
        "repeat for several meters on the bus",
    )
    simulate.add_argument("--speed", type=float, default=1.0, help="clock speed-up of the power profile")
    simulate.add_argument(
        "--months",
        type=_argument(_settlement_months),
        default="calendar",
        metavar="calendar[:HOURS]|SECONDS[@START]",
        help="when the meters freeze their registers (settlement days): at calendar month starts in UTC+8 "
        "(default; :HOURS for another offset), or every SECONDS of the (sped-up) clock from START (a Unix "
        "time, e.g. a billing clock's genesis; default the simulator's start)",
    )
    simulate.add_argument("--echo", action="store_true", help="echo every request, as a two-wire adapter does")
    simulate.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME:RATE",
        help=f"inject a fault in a share of replies; NAME one of {', '.join(f.value for f in Fault)}",
    )
    simulate.add_argument(
        "--abnormal-error",
        type=lambda text: int(text, 16),
        default=0x02,
        metavar="HEX",
        help="error byte of injected abnormal replies (default 02: no requested data)",
    )
    simulate.add_argument("--seed", type=int, default=645, help="seed of the random faults")
    simulate.set_defaults(command=_simulate)

    run = commands.add_parser("run", help="run the bridge daemon")
    run.add_argument("--config", required=True, help="TOML configuration file")
    run.set_defaults(command=_run)
    return parser


def _add_line_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, help="serial device, pty path or pyserial URL (socket://...)")
    parser.add_argument("--baudrate", type=int, default=2400)
    parser.add_argument("--bytesize", type=_argument(BYTE_SIZE), default=8)
    parser.add_argument("--parity", type=_argument(PARITY), default="E", help="N, E, O, M or S")
    parser.add_argument("--stopbits", type=_argument(STOP_BITS), default=1, help="1, 1.5 or 2")


def _argument(parse: Parser):
    """An argparse type from a setting's parser, so the command line refuses what the file does."""

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{error}, not {text!r}") from None

    return convert


def _fail(message: str, status: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


# ---------------------------------------------------------------- decode / encode-read


def _decode(args: argparse.Namespace) -> int:
    text = "".join(args.hex)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return _fail(f"not hexadecimal: {text!r}", BAD_INPUT)
    try:
        print(json.dumps(describe_frame(decode_frame(raw)), indent=2))
    except Dlt645Error as error:
        return _fail(f"malformed frame: {error}", BAD_INPUT)
    return 0


def describe_frame(frame: Frame) -> dict:
    """A frame as JSON-ready fields, with the value decoded where the identifier is known."""
    described: dict = {
        "address": frame.address,
        "control": f"{frame.control:02X}",
        "direction": "reply" if frame.is_reply else "request",
        "function": f"{frame.function:02X}",
        "more_follows": frame.more_follows,
        "data": frame.data.hex().upper(),
    }
    if frame.is_reply and frame.is_abnormal:
        error_byte = frame.data[0] if frame.data else 0
        described.update(error_byte=f"{error_byte:02X}", reasons=list(describe_error_byte(error_byte)))
    elif frame.function == READ_ADDRESS and frame.is_reply:
        described["meter_address"] = address_from_wire(frame.data)
    elif frame.function in (READ_DATA, READ_FOLLOW_UP) and len(frame.data) >= 4:
        di = di_from_wire(frame.data)
        described["di"] = f"{di:08X}"
        if frame.is_reply:
            payload = frame.data[4:-1] if frame.function == READ_FOLLOW_UP else frame.data[4:]
            value = decode_value(di, payload)
            if value is not None:
                described.update(_describe_value(value))
    return described


def _describe_value(value: DataValue) -> dict:
    shown = [None if v is None else str(v) for v in value.values]
    described = {"item": value.item.name, "unit": value.item.unit}
    if value.item.labels == ("",) or len(value.item.labels) == 1:
        described["value"] = shown[0]
    else:
        described["values"] = dict(zip(value.item.labels, shown))
    return described


def _encode_read(args: argparse.Namespace) -> int:
    try:
        di = int(args.di, 16)
        if len(args.di) != 8:
            raise ValueError
    except ValueError:
        return _fail(f"data identifier must be 8 hex digits, not {args.di!r}", BAD_INPUT)
    try:
        print(encode_frame(read_request(args.address, di)).hex())
    except Dlt645Error as error:
        return _fail(str(error), BAD_INPUT)
    return 0


# ---------------------------------------------------------------- read


def _read(args: argparse.Namespace) -> int:
    try:
        di = int(args.di, 16)
        if args.address:
            address_to_wire(args.address)
    except (ValueError, Dlt645Error) as error:
        return _fail(f"bad argument: {error}", BAD_INPUT)
    settings = SerialSettings(args.port, args.baudrate, args.bytesize, args.parity, args.stopbits)
    try:
        transport = SerialTransport(settings)
    except OSError as error:
        return _fail(f"cannot open {args.port}: {error}", NOT_COOPERATING)
    with transport:
        poller = Poller(transport, reply_timeout=args.timeout, retries=args.retries)
        try:
            if not args.address:
                print(json.dumps({"meter_address": poller.read_address()}))
                return 0
            reply = poller.read(args.address, di)
        except OSError as error:
            return _fail(f"serial line {args.port} failed: {error}", NOT_COOPERATING)
        except Dlt645Error as error:
            return _fail(str(error), NOT_COOPERATING)
    result = {"address": reply.address, "di": f"{di:08X}", "data": reply.payload.hex().upper()}
    try:
        value = decode_value(di, reply.payload)
    except Dlt645Error as error:
        return _fail(f"reply value malformed: {error}", NOT_COOPERATING)
    if value is not None:
        result.update(_describe_value(value))
    print(json.dumps(result))
    return 0


# ---------------------------------------------------------------- simulate


def _settlement_months(text: str) -> Callable[[float], BillingClock]:
    """The settlement calendar of ``--months``, given the simulator's start time."""
    kind, _, hours = text.partition(":")
    if kind == "calendar":
        offset = float(hours) * 3600 if hours else UTC_PLUS_8
        if not -14 * 3600 <= offset <= 14 * 3600:
            raise ValueError("the UTC offset must be within 14 hours")
        return lambda start: BillingClock.calendar(int(offset))
    length, _, genesis = text.partition("@")
    try:
        seconds, first = int(length), int(genesis) if genesis else None
    except ValueError:
        raise ValueError('must be "calendar", "calendar:HOURS" or SECONDS[@START]') from None
    if seconds < 1:
        raise ValueError("months must last at least a second")
    return lambda start: BillingClock.fixed(seconds, 1, int(start) if first is None else first)


def _simulate(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    started, epoch = time.monotonic(), time.time()

    def clock() -> float:
        return epoch + (time.monotonic() - started) * args.speed

    try:
        fault_rates = dict(_fault_rate(spec) for spec in args.fault)
        settlement = args.months(epoch)
        meters = [
            _meter_from_spec(spec, clock, fault_rates, args, index, settlement) for index, spec in enumerate(args.meter)
        ]
    except ValueError as error:
        return _fail(str(error), BAD_INPUT)
    bus = SimulatedBus(meters, echo=args.echo)
    if args.create_pty:
        pty = PseudoTerminal()
        fd = pty.master_fd
        print(pty.slave_path, flush=True)
    else:
        try:
            fd = os.open(args.port, os.O_RDWR | os.O_NOCTTY)
        except OSError as error:
            return _fail(f"cannot open {args.port}: {error.strerror}", NOT_COOPERATING)
        tty.setraw(fd)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    logging.info("simulating %d meter(s): %s", len(meters), ", ".join(m.address for m in meters))
    try:
        bus.serve(fd, stop)
    except KeyboardInterrupt:
        pass
    return 0


def _fault_rate(spec: str) -> tuple[Fault, float]:
    name, _, rate = spec.partition(":")
    try:
        return Fault(name), float(rate or 1)
    except ValueError:
        raise ValueError(f"fault must be NAME:RATE with NAME one of {[f.value for f in Fault]}, not {spec!r}") from None


def _meter_from_spec(
    spec: str, clock, fault_rates: dict, args: argparse.Namespace, index: int, settlement: BillingClock
) -> VirtualMeter:
    address, *options = spec.split(",")
    settings = dict(option.split("=", 1) for option in options if "=" in option)
    unknown = set(settings) - {"forward", "reverse", "power", "step", "number", "follow"}
    if unknown or not address.isdigit() or len(address) != 12 or ("follow" in settings and "power" in settings):
        raise ValueError(
            f"bad meter spec {spec!r}: ADDRESS (12 digits)[,forward=..][,reverse=..][,power=..|follow=FILE]"
            "[,step=..][,number=..]"
        )
    if "follow" in settings:
        profile = FollowedRegisters(settings["follow"])
    else:
        profile = PowerProfile(
            tuple(float(kw) for kw in settings.get("power", "1").split("/")),
            float(settings.get("step", 3600)),
        )
    return VirtualMeter(
        address,
        forward_kwh=_kwh(settings.get("forward", "0"), "forward"),
        reverse_kwh=_kwh(settings.get("reverse", "0"), "reverse"),
        profile=profile,
        clock=clock,
        meter_number=settings.get("number", ""),
        fault_rates=fault_rates,
        abnormal_error_byte=args.abnormal_error,
        rng=random.Random(args.seed + index),
        settlement=settlement,
    )


def _kwh(text: str, name: str) -> Decimal:
    try:
        return Decimal(text).quantize(Decimal("0.01"))
    except ArithmeticError:  # decimal's InvalidOperation
        raise ValueError(f"{name}={text!r} is not an energy in kWh") from None


# ---------------------------------------------------------------- run


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        return _fail(str(error), BAD_INPUT)
    logging.basicConfig(level=config.daemon.log_level, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        return _serve(config, stop)
    except OutboxUnavailable as error:  # at start or at any step: the same message and status
        return _fail(str(error), OUTBOX_UNAVAILABLE)


def _serve(config: Config, stop: threading.Event) -> int:
    # Imported here: web3 takes a second to import, which decode and encode-read do not need.
    from meter_bridge.daemon import build_daemon
    from meter_bridge.signing import KeystoreError

    try:
        daemon = build_daemon(config)
    except (KeystoreError, OSError) as error:
        return _fail(f"cannot start: {error}", BAD_INPUT)
    try:
        daemon.run(stop, tick=config.daemon.tick)
    finally:
        daemon.outbox.close()
    return 0
