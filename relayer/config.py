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

from p2pkit.settings import (
    LOG_LEVEL,
    SettingsError,
    contract_address,
    http_url,
    load_tables,
    seconds,
    setting,
    text,
    whole_number,
)

ENV_PREFIX = "RELAYER_"
# The light client takes at most this many headers in one submission (SisterLightClient.sol).
MAX_HEADER_BATCH = 64

# The configuration cannot be used; the message names the setting.
ConfigError = SettingsError


@dataclass(frozen=True)
class ChainSettings:
    rpc_url: str = setting(http_url, "")
    lock: str = setting(contract_address, "")  # the lock contract's address; its light client is read from it
    rpc_timeout: float = setting(seconds(zero_allowed=False), 10.0)


@dataclass(frozen=True)
class RelayerSettings:
    keystore: str = setting(text, "")
    password_file: str = setting(text, "")
    header_batch: int = setting(whole_number(1, MAX_HEADER_BATCH), 16)  # headers per submission
    unlock_batch: int = setting(whole_number(1), 8)  # unlocks sent per direction and step
    log_block_range: int = setting(whole_number(1), 2000)  # blocks per eth_getLogs request
    poll_interval: float = setting(seconds(zero_allowed=False), 2.0)  # seconds between steps with nothing to send
    log_level: str = setting(LOG_LEVEL, "INFO")


@dataclass(frozen=True)
class StationsSettings:
    """The scheduling chain's re-assignment chore (`relayer.reassigner`), run when ``dispatch``
    names the storage stations' dispatch contract."""

    dispatch: str = setting(contract_address, "")
    reassign_batch: int = setting(whole_number(1), 16)  # users re-assigned per step
    from_block: int = setting(whole_number(0), 0)  # where its events are first read: the dispatch's block


@dataclass(frozen=True)
class Config:
    relayer: RelayerSettings
    trading: ChainSettings
    scheduling: ChainSettings
    stations: StationsSettings


TABLES = {
    "relayer": RelayerSettings,
    "trading": ChainSettings,
    "scheduling": ChainSettings,
    "stations": StationsSettings,
}
REQUIRED = (
    ("relayer", ("keystore", "password_file")),
    ("trading", ("rpc_url", "lock")),
    ("scheduling", ("rpc_url", "lock")),
)


def load_config(path: str | None, environ: Mapping[str, str] = os.environ) -> Config:
    return load_tables(Config, TABLES, REQUIRED, path, environ, ENV_PREFIX)
