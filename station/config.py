"""Settings of a station daemon: a TOML file, with environment variables taking precedence.

Tables ``[chain]``, ``[station]``, ``[battery]`` and ``[daemon]``; any setting can be given or
overridden as ``STATION_<TABLE>_<KEY>`` (``STATION_CHAIN_RPC_URL``, ``STATION_STATION_KEYSTORE``),
so the file is optional. The key is a keystore file (0600) with its password in a file of its
own (0600) or in ``STATION_STATION_PASSWORD``; no secret sits in the configuration. See
``station.example.toml``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from p2pkit.settings import (
    LOG_LEVEL,
    contract_address,
    http_url,
    load_tables,
    optional_text,
    seconds,
    setting,
    text,
    whole_number,
)
from station.errors import ConfigError

ENV_PREFIX = "STATION_"
PASSWORD_VARIABLE = "STATION_STATION_PASSWORD"


def amount(*, zero_allowed: bool, at_most: float | None = None):
    """A parser of a finite number (kWh, kW, a fraction) above 0, or 0 and above."""
    low = "0 or more" if zero_allowed else "above 0"
    description = f"a number {low}" + (f" and at most {at_most:g}" if at_most is not None else "")

    def parse(value: Any) -> float:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value.strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be {description}") from None
        if not math.isfinite(number) or number < 0 or (number == 0 and not zero_allowed):
            raise ValueError(f"must be {description}")
        if at_most is not None and number > at_most:
            raise ValueError(f"must be {description}")
        return number

    return parse


@dataclass(frozen=True)
class ChainSettings:
    rpc_url: str = setting(http_url, "")  # a node of the scheduling chain
    dispatch: str = setting(contract_address, "")  # the StationDispatch contract
    rpc_timeout: float = setting(seconds(zero_allowed=False), 10.0)


@dataclass(frozen=True)
class StationSettings:
    keystore: str = setting(text, "")  # the station's account (mode 0600)
    password_file: str = setting(optional_text, "")  # or STATION_STATION_PASSWORD


@dataclass(frozen=True)
class BatterySettings:
    """The simulated battery the daemon drives (the demo's and the tests' equipment)."""

    capacity_kwh: float = setting(amount(zero_allowed=False), 100.0)
    stored_kwh: float = setting(amount(zero_allowed=True), 50.0)  # at the first start only
    max_discharge_kw: float = setting(amount(zero_allowed=True), 50.0)
    max_charge_kw: float = setting(amount(zero_allowed=True), 50.0)
    efficiency: float = setting(amount(zero_allowed=False, at_most=1.0), 0.95)


@dataclass(frozen=True)
class DaemonSettings:
    state_file: str = setting(text, "")  # the cursor, undelivered energy, a unit in flight
    connection_kw: float = setting(amount(zero_allowed=False), 10.0)  # power per connection
    unit_kwh: float = setting(amount(zero_allowed=False), 1.0)  # energy of one unit on chain
    report_step: int = setting(whole_number(1), 5)  # units of drift that make a report
    tick: float = setting(seconds(zero_allowed=False), 1.0)  # seconds between steps
    speed: float = setting(amount(zero_allowed=False), 1.0)  # simulated seconds per second
    log_block_range: int = setting(whole_number(1), 2000)  # blocks per eth_getLogs request
    meter_file: str = setting(optional_text, "")  # where the station's meter registers are written
    confirm_batch: int = setting(whole_number(1), 8)  # claims confirmed with the meters per step
    log_level: str = setting(LOG_LEVEL, "INFO")


@dataclass(frozen=True)
class Config:
    chain: ChainSettings
    station: StationSettings
    battery: BatterySettings
    daemon: DaemonSettings


TABLES = {"chain": ChainSettings, "station": StationSettings, "battery": BatterySettings, "daemon": DaemonSettings}
REQUIRED = (("chain", ("rpc_url", "dispatch")), ("station", ("keystore",)), ("daemon", ("state_file",)))


def load_config(path: str | None, environ: Mapping[str, str] = os.environ) -> Config:
    config = load_tables(Config, TABLES, REQUIRED, path, environ, ENV_PREFIX)
    if not config.station.password_file and PASSWORD_VARIABLE not in environ:
        raise ConfigError(
            f"not set (file or {ENV_PREFIX}<TABLE>_<KEY>): station.password_file (or {PASSWORD_VARIABLE})"
        )
    if config.battery.stored_kwh > config.battery.capacity_kwh:
        battery = config.battery
        raise ConfigError(f"battery.stored_kwh {battery.stored_kwh} > battery.capacity_kwh {battery.capacity_kwh}")
    return config
