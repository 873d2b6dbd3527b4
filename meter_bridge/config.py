"""Settings of the bridge: a TOML file, with environment variables taking precedence.

Any scalar setting of the ``[bus]``, ``[chain]`` and ``[daemon]`` tables can be overridden by
``METER_BRIDGE_<TABLE>_<KEY>``, e.g. ``METER_BRIDGE_CHAIN_RPC_URL`` or ``METER_BRIDGE_BUS_PORT``.
Meters are listed as ``[[meters]]`` tables. Secrets never sit in the file: each keystore's
password comes from ``password_file`` or from the variable named by ``password_env``. See
``meter-bridge.example.toml`` for every setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meter_bridge.codec import address_to_wire
from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY, REVERSE_ACTIVE_ENERGY
from meter_bridge.errors import Dlt645Error
from p2pkit.settings import SettingsError, read_toml, settings_table

ENV_PREFIX = "METER_BRIDGE_"
REGISTERS = {"forward": FORWARD_ACTIVE_ENERGY, "reverse": REVERSE_ACTIVE_ENERGY}


# The configuration cannot be used; the message names the setting.
ConfigError = SettingsError


@dataclass(frozen=True)
class BusConfig:
    port: str = "/dev/ttyUSB0"
    baudrate: int = 2400
    bytesize: int = 8
    parity: str = "E"
    stopbits: float = 1
    reply_timeout: float = 1.0
    retries: int = 2
    backoff: float = 0.5
    silent_interval: float = 0.05


@dataclass(frozen=True)
class ChainConfig:
    rpc_url: str = "http://127.0.0.1:5000/rpc"
    market_address: str = ""
    artifact: str = ""  # EnergyMarket.json with the ABI; empty: the build directory of the repo
    rpc_timeout: float = 10.0


@dataclass(frozen=True)
class DaemonConfig:
    database: str = "/var/lib/meter-bridge/outbox.sqlite3"
    max_reading_delay: float = 60.0
    tick: float = 2.0
    log_level: str = "INFO"


@dataclass(frozen=True)
class MeterConfig:
    name: str
    address: str
    meter_number: int
    keystore: str
    register: str = "forward"  # "forward" (energy used) or "reverse" (energy produced)
    password_file: str = ""
    password_env: str = ""

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
    document = read_toml(path)
    config = Config(
        bus=settings_table(BusConfig, "bus", document.get("bus", {}), environ, ENV_PREFIX),
        chain=settings_table(ChainConfig, "chain", document.get("chain", {}), environ, ENV_PREFIX),
        daemon=settings_table(DaemonConfig, "daemon", document.get("daemon", {}), environ, ENV_PREFIX),
        meters=tuple(_meter(entry) for entry in document.get("meters", [])),
    )
    if not config.chain.market_address:
        raise ConfigError("chain.market_address is not set (file or METER_BRIDGE_CHAIN_MARKET_ADDRESS)")
    if not config.meters:
        raise ConfigError(f"{path} lists no [[meters]]")
    names = [meter.name for meter in config.meters]
    if len(set(names)) != len(names):
        raise ConfigError(f"meter names must be unique: {names}")
    return config


def _meter(entry: dict[str, Any]) -> MeterConfig:
    where = f"meter {entry.get('name', '(no name)')!r}"
    try:
        meter = MeterConfig(**entry)
    except TypeError as error:
        raise ConfigError(f"{where}: {error}") from None
    if not isinstance(meter.meter_number, int) or meter.meter_number <= 0:
        raise ConfigError(f"{where}: meter_number must be a positive integer, not {meter.meter_number!r}")
    try:
        address_to_wire(meter.address)
    except Dlt645Error as error:
        raise ConfigError(f"{where}: {error}") from None
    if meter.register not in REGISTERS:
        raise ConfigError(f"{where}: register must be one of {sorted(REGISTERS)}, not {meter.register!r}")
    if not (meter.password_file or meter.password_env):
        raise ConfigError(f"{where}: set password_file or password_env for its keystore")
    return meter
