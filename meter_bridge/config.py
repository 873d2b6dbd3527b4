"""Settings of the bridge: a TOML file, with environment variables taking precedence.

Any scalar setting of the ``[bus]``, ``[chain]`` and ``[daemon]`` tables can be overridden by
``METER_BRIDGE_<TABLE>_<KEY>``, e.g. ``METER_BRIDGE_CHAIN_RPC_URL`` or ``METER_BRIDGE_BUS_PORT``.
Meters are listed as ``[[meters]]`` tables. Secrets never sit in the file: each keystore's
password comes from ``password_file`` or from the variable named by ``password_env``. See
``meter-bridge.example.toml`` for every setting.

Every setting has its own parser, declared beside its default: it takes the value as TOML gives
it or as text from a variable, and refuses anything outside what the setting can mean (a stop
bit count of 3, a parity of "X", a negative timeout, ``true`` for a number) with a ConfigError
that names the setting, the value and where the value came from.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

import tomllib

from meter_bridge.codec import address_to_wire
from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY, REVERSE_ACTIVE_ENERGY
from meter_bridge.errors import Dlt645Error

ENV_PREFIX = "METER_BRIDGE_"
REGISTERS = {"forward": FORWARD_ACTIVE_ENERGY, "reverse": REVERSE_ACTIVE_ENERGY}
TABLES = ("bus", "chain", "daemon", "meters")

# A parser returns the setting's value or raises ValueError saying what the setting must be.
Parser = Callable[[Any], Any]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the setting."""


# ---------------------------------------------------------------- parsers


def _number(value: Any, whole: bool) -> int | float:
    """A number as TOML gives it (int, float) or as a variable's text; never a bool."""
    if isinstance(value, str):
        value = int(value.strip()) if whole else float(value.strip())
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        raise ValueError
    if not math.isfinite(value):
        raise ValueError
    return value if whole else float(value)


def _numbers(whole: bool, accepted: Callable[[int | float], bool], description: str) -> Parser:
    def parse(value: Any) -> int | float:
        try:
            number = _number(value, whole)
        except ValueError:
            raise ValueError(f"must be {description}") from None
        if not accepted(number):
            raise ValueError(f"must be {description}")
        return number

    return parse


def whole_number(minimum: int) -> Parser:
    return _numbers(True, lambda number: number >= minimum, f"a whole number, {minimum} or more")


def seconds(*, zero_allowed: bool) -> Parser:
    if zero_allowed:
        return _numbers(False, lambda number: number >= 0, "a number of seconds, 0 or more")
    return _numbers(False, lambda number: number > 0, "a number of seconds, above 0")


def one_of(*choices: int | float, whole: bool = False) -> Parser:
    description = ", ".join(str(choice) for choice in choices[:-1]) + f" or {choices[-1]}"
    return _numbers(whole, lambda number: number in choices, description)


def word_of(names: Mapping[str, str]) -> Parser:
    """One of the words ``names`` (any case; returned as the key is written)."""
    description = ", ".join(f"{key} ({meaning})" if meaning else key for key, meaning in names.items())

    def parse(value: Any) -> str:
        if isinstance(value, str):
            for key in names:
                if value.strip().upper() == key.upper():
                    return key
        raise ValueError(f"must be one of {description}")

    return parse


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def optional_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value.strip()


def http_url(value: Any) -> str:
    url = value.strip() if isinstance(value, str) else ""
    if not re.match(r"https?://[^/\s]+", url):
        raise ValueError("must be an http:// or https:// URL")
    return url


def contract_address(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{40}", value.strip()):
        raise ValueError("must be 0x and 40 hex digits")
    return value.strip()


def optional_contract_address(value: Any) -> str:
    if isinstance(value, str) and not value.strip():
        return ""
    return contract_address(value)


def meter_address(value: Any) -> str:
    try:
        address_to_wire(value if isinstance(value, str) else "")
    except Dlt645Error:
        raise ValueError("must be the 12 digits of the nameplate address") from None
    return value


# The serial line's settings, shared with the command line's --bytesize, --parity, --stopbits.
BYTE_SIZE = one_of(5, 6, 7, 8, whole=True)
PARITY = word_of({"N": "none", "E": "even", "O": "odd", "M": "mark", "S": "space"})
STOP_BITS = one_of(1, 1.5, 2)
LOG_LEVEL = word_of(dict.fromkeys(("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), ""))


def setting(parse: Parser, default: Any = MISSING) -> Any:
    """A dataclass field with its parser (and its default, unless the setting is required)."""
    return field(default=default, metadata={"parse": parse})


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class BusConfig:
    port: str = setting(text, "/dev/ttyUSB0")
    baudrate: int = setting(whole_number(1), 2400)
    bytesize: int = setting(BYTE_SIZE, 8)
    parity: str = setting(PARITY, "E")
    stopbits: float = setting(STOP_BITS, 1)
    reply_timeout: float = setting(seconds(zero_allowed=False), 1.0)
    retries: int = setting(whole_number(0), 2)
    backoff: float = setting(seconds(zero_allowed=True), 0.5)
    silent_interval: float = setting(seconds(zero_allowed=True), 0.05)


@dataclass(frozen=True)
class ChainConfig:
    rpc_url: str = setting(http_url, "http://127.0.0.1:5000/rpc")
    market_address: str = setting(contract_address, "")
    artifact: str = setting(optional_text, "")  # EnergyMarket.json with the ABI; empty: the repo's build directory
    # BilateralContracts, for monthly readings (its ABI beside the artifact); empty: none taken
    retail_address: str = setting(optional_contract_address, "")
    rpc_timeout: float = setting(seconds(zero_allowed=False), 10.0)


@dataclass(frozen=True)
class DaemonConfig:
    database: str = setting(text, "/var/lib/meter-bridge/outbox.sqlite3")
    max_reading_delay: float = setting(seconds(zero_allowed=False), 60.0)
    monthly_read_delay: float = setting(seconds(zero_allowed=True), 300.0)
    tick: float = setting(seconds(zero_allowed=False), 2.0)
    log_level: str = setting(LOG_LEVEL, "INFO")


@dataclass(frozen=True)
class MeterConfig:
    name: str = setting(text)
    address: str = setting(meter_address)
    meter_number: int = setting(whole_number(1))
    keystore: str = setting(text)
    register: str = setting(word_of({"forward": "energy used", "reverse": "energy produced"}), "forward")
    password_file: str = setting(optional_text, "")
    password_env: str = setting(optional_text, "")

    @property
    def register_di(self) -> int:
        return REGISTERS[self.register]


@dataclass(frozen=True)
class Config:
    bus: BusConfig
    chain: ChainConfig
    daemon: DaemonConfig
    meters: tuple[MeterConfig, ...]


def load_config(path: str, environ: Mapping[str, str] = os.environ) -> Config:
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    unknown = set(document) - set(TABLES)
    if unknown:
        raise ConfigError(f"unknown table(s) in {path}: {', '.join(sorted(unknown))} (known: {', '.join(TABLES)})")
    meters = document.get("meters", [])
    if not isinstance(meters, list) or not all(isinstance(entry, dict) for entry in meters):
        raise ConfigError(f"{path}: meters must be [[meters]] tables")
    config = Config(
        bus=_table(BusConfig, "bus", document, environ),
        chain=_table(ChainConfig, "chain", document, environ),
        daemon=_table(DaemonConfig, "daemon", document, environ),
        meters=tuple(_meter(entry) for entry in meters),
    )
    if not config.chain.market_address:
        raise ConfigError("chain.market_address is not set (file or METER_BRIDGE_CHAIN_MARKET_ADDRESS)")
    if not config.meters:
        raise ConfigError(f"{path} lists no [[meters]]")
    names = [meter.name for meter in config.meters]
    if len(set(names)) != len(names):
        raise ConfigError(f"meter names must be unique: {names}")
    return config


def _table(kind: type, table: str, document: dict[str, Any], environ: Mapping[str, str]) -> Any:
    values = document.get(table, {})
    if not isinstance(values, dict):
        raise ConfigError(f"[{table}] must be a table of settings")
    known = {spec.name: spec for spec in fields(kind)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"unknown setting(s) in [{table}]: {', '.join(sorted(unknown))}")
    settings = {}
    for name, spec in known.items():
        variable = f"{ENV_PREFIX}{table.upper()}_{name.upper()}"
        if variable in environ:
            settings[name] = _parsed(spec, environ[variable], f"{table}.{name}", f" (from {variable})")
        elif name in values:
            settings[name] = _parsed(spec, values[name], f"{table}.{name}", "")
    return kind(**settings)


def _meter(entry: dict[str, Any]) -> MeterConfig:
    where = f"meter {entry.get('name', '(no name)')!r}"
    known = {spec.name: spec for spec in fields(MeterConfig)}
    unknown = set(entry) - set(known)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    missing = [name for name, spec in known.items() if spec.default is MISSING and name not in entry]
    if missing:
        raise ConfigError(f"{where}: {', '.join(missing)} not set")
    meter = MeterConfig(**{name: _parsed(known[name], value, f"{where}: {name}", "") for name, value in entry.items()})
    if not (meter.password_file or meter.password_env):
        raise ConfigError(f"{where}: set password_file or password_env for its keystore")
    return meter


def _parsed(spec: Field, value: Any, setting_name: str, source: str) -> Any:
    try:
        return spec.metadata["parse"](value)
    except ValueError as error:
        raise ConfigError(f"{setting_name} {error}, not {value!r}{source}") from None
