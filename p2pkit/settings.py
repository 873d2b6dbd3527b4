"""Settings of the platform's daemons: a TOML file of tables, each table a frozen dataclass of
scalar settings, and any setting overridden by an environment variable ``<PREFIX><TABLE>_<KEY>``
(``METER_BRIDGE_CHAIN_RPC_URL``, ``RELAYER_TRADING_RPC_URL``). Values are converted to the type of
the field's default; secrets never sit in these files (keystores and password files do)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import tomllib


class SettingsError(Exception):
    """The configuration cannot be used; the message names the setting or the file."""


def read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise SettingsError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path} is not valid TOML: {error}") from None


def settings_table(kind: type, table: str, values: Mapping[str, Any], environ: Mapping[str, str], prefix: str) -> Any:
    """The dataclass ``kind`` from the file's ``[table]`` and the environment."""
    known = {field.name: type(field.default) for field in fields(kind)}
    unknown = set(values) - set(known)
    if unknown:
        raise SettingsError(f"unknown setting(s) in [{table}]: {', '.join(sorted(unknown))}")
    chosen = dict(values)
    for name in known:
        variable = f"{prefix}{table.upper()}_{name.upper()}"
        if variable in environ:
            chosen[name] = environ[variable]
    typed = {}
    for name, value in chosen.items():
        try:
            typed[name] = known[name](value)
        except (TypeError, ValueError):
            raise SettingsError(f"{table}.{name} must be {known[name].__name__}, not {value!r}") from None
    return kind(**typed)
