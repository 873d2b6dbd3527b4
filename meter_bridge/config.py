"""Settings of the bridge: a TOML file, with environment variables taking precedence.

Any scalar setting of the ``[bus]``, ``[chain]`` and ``[daemon]`` tables can be overridden by
``METER_BRIDGE_<TABLE>_<KEY>``, e.g. ``METER_BRIDGE_CHAIN_RPC_URL`` or ``METER_BRIDGE_BUS_PORT``.
Meters are listed as ``[[meters]]`` tables. Secrets never sit in the file: each keystore's
password comes from ``password_file`` or from the variable named by ``password_env``. See
``meter-bridge.example.toml`` for every setting.

Every setting has its own parser, declared beside its default (``p2pkit.settings``): it takes the
value as TOML gives it or as text from a variable, and refuses anything outside what the setting
can mean (a stop bit count of 3, a parity of "X", a negative timeout, ``true`` for a number) with
a ConfigError that names the setting, the value and where the value came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from meter_bridge.codec import address_to_wire
from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY, REVERSE_ACTIVE_ENERGY
from meter_bridge.errors import Dlt645Error
from p2pkit.settings import (
    LOG_LEVEL,
    SettingsError,
    contract_address,
    http_url,
    one_of,
    optional_contract_address,
    optional_text,
    parsed,
    read_toml,
    seconds,
    setting,
    settings_table,
    text,
    whole_number,
    word_of,
)

ENV_PREFIX = "METER_BRIDGE_"
REGISTERS = {"forward": FORWARD_ACTIVE_ENERGY, "reverse": REVERSE_ACTIVE_ENERGY}
TABLES = ("bus", "chain", "daemon", "meters")
DISPATCH_ROLES = {"station": "a storage station's meter", "user": "a user's meter", "": "none: a market meter"}

# The configuration cannot be used; the message names the setting.
ConfigError = SettingsError


# ---------------------------------------------------------------- parsers


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
    # The storage stations' dispatch, for the readings of meters with a dispatch_role; empty: none
    dispatch_address: str = setting(optional_contract_address, "")
    dispatch_rpc_url: str = setting(optional_text, "")  # the scheduling chain's; empty: rpc_url


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
    keystore: str = setting(text)
    meter_number: int = setting(whole_number(0), 0)  # the market's number; none for a dispatch meter
    register: str = setting(word_of({"forward": "energy used", "reverse": "energy produced"}), "forward")
    password_file: str = setting(optional_text, "")
    password_env: str = setting(optional_text, "")
    # A meter bound in the stations' dispatch (a station's or a user's): both registers are read
    # each metering period and posted to the dispatch only. Empty: a market meter.
    dispatch_role: str = setting(word_of(DISPATCH_ROLES), "")

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
    document = read_toml(path, TABLES)
    meters = document.get("meters", [])
    if not isinstance(meters, list) or not all(isinstance(entry, dict) for entry in meters):
        raise ConfigError(f"{path}: meters must be [[meters]] tables")
    config = Config(
        bus=settings_table(BusConfig, "bus", document, environ, ENV_PREFIX),
        chain=settings_table(ChainConfig, "chain", document, environ, ENV_PREFIX),
        daemon=settings_table(DaemonConfig, "daemon", document, environ, ENV_PREFIX),
        meters=tuple(_meter(entry) for entry in meters),
    )
    if not config.chain.market_address:
        raise ConfigError("chain.market_address is not set (file or METER_BRIDGE_CHAIN_MARKET_ADDRESS)")
    if not config.meters:
        raise ConfigError(f"{path} lists no [[meters]]")
    for meter in config.meters:
        if meter.dispatch_role and not config.chain.dispatch_address:
            raise ConfigError(f"meter {meter.name!r}: dispatch_role is set but chain.dispatch_address is not")
        if not meter.dispatch_role and meter.meter_number == 0:
            raise ConfigError(f"meter {meter.name!r}: meter_number not set (a market meter needs its number)")
    names = [meter.name for meter in config.meters]
    if len(set(names)) != len(names):
        raise ConfigError(f"meter names must be unique: {names}")
    return config


def _meter(entry: dict[str, Any]) -> MeterConfig:
    where = f"meter {entry.get('name', '(no name)')!r}"
    known = {spec.name: spec for spec in fields(MeterConfig)}
    unknown = set(entry) - set(known)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    missing = [name for name, spec in known.items() if spec.default is MISSING and name not in entry]
    if missing:
        raise ConfigError(f"{where}: {', '.join(missing)} not set")
    meter = MeterConfig(**{name: parsed(known[name], value, f"{where}: {name}", "") for name, value in entry.items()})
    if not (meter.password_file or meter.password_env):
        raise ConfigError(f"{where}: set password_file or password_env for its keystore")
    return meter
