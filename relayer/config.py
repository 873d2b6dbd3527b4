"""Settings of the relayer: a TOML file, with environment variables taking precedence.

Tables ``[relayer]``, ``[trading]`` and ``[scheduling]``; any setting can be given or overridden
as ``RELAYER_<TABLE>_<KEY>`` (``RELAYER_TRADING_RPC_URL``, ``RELAYER_RELAYER_KEYSTORE``), so the
file is optional. The key is a keystore file with its password in another file, both 0600; no
secret sits in the configuration. See ``relayer.example.toml``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from p2pkit.settings import SettingsError, read_toml, settings_table

ENV_PREFIX = "RELAYER_"


# The configuration cannot be used; the message names the setting.
ConfigError = SettingsError


@dataclass(frozen=True)
class ChainSettings:
    rpc_url: str = ""
    lock: str = ""  # the lock contract's address; its light client is read from it
    rpc_timeout: float = 10.0


@dataclass(frozen=True)
class RelayerSettings:
    keystore: str = ""
    password_file: str = ""
    header_batch: int = 16  # headers per submission (the light client takes at most 64)
    unlock_batch: int = 8  # unlocks sent per direction and step
    log_block_range: int = 2000  # blocks per eth_getLogs request
    poll_interval: float = 2.0  # seconds between steps with nothing to send
    log_level: str = "INFO"


@dataclass(frozen=True)
class Config:
    relayer: RelayerSettings
    trading: ChainSettings
    scheduling: ChainSettings


TABLES = {"relayer": RelayerSettings, "trading": ChainSettings, "scheduling": ChainSettings}


def load_config(path: str | None, environ: Mapping[str, str] = os.environ) -> Config:
    document: dict[str, Any] = read_toml(path) if path else {}
    unknown = set(document) - set(TABLES)
    if unknown:
        raise ConfigError(f"unknown table(s): {', '.join(sorted(unknown))}")
    config = Config(**{table: settings_table(kind, table, document.get(table, {}), environ, ENV_PREFIX)
                       for table, kind in TABLES.items()})
    missing = [
        f"{table}.{name}"
        for table, names in (("relayer", ("keystore", "password_file")), ("trading", ("rpc_url", "lock")),
                             ("scheduling", ("rpc_url", "lock")))
        for name in names
        if not getattr(getattr(config, table), name)
    ]
    if missing:
        raise ConfigError(f"not set (file or {ENV_PREFIX}<TABLE>_<KEY>): {', '.join(missing)}")
    if not 1 <= config.relayer.header_batch <= 64:
        raise ConfigError(f"relayer.header_batch must be 1 to 64, not {config.relayer.header_batch}")
    return config
