"""Settings of the platform's daemons (the meter bridge, the relayer): a TOML file of tables,
each table a frozen dataclass of scalar settings, any of them overridden by an environment
variable ``<PREFIX><TABLE>_<KEY>`` (``METER_BRIDGE_CHAIN_RPC_URL``, ``RELAYER_TRADING_RPC_URL``).

Every setting has its own parser, declared beside its default with ``setting``: it takes the
value as TOML gives it or as text from a variable, and refuses anything outside what the setting
can mean (a negative timeout, ``true`` for a number, an address of 39 hex digits) with a
``SettingsError`` that names the setting, the value and where the value came from. Secrets never
sit in these files: keystores and password files do (``p2pkit.keyfiles``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, field, fields
from typing import Any

import tomllib

# A parser returns the setting's value or raises ValueError saying what the setting must be.
Parser = Callable[[Any], Any]


class SettingsError(Exception):
    """The configuration cannot be used; the message names the setting or the file."""


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


def whole_number(minimum: int, maximum: int | None = None) -> Parser:
    if maximum is None:
        return _numbers(True, lambda number: number >= minimum, f"a whole number, {minimum} or more")
    return _numbers(True, lambda number: minimum <= number <= maximum, f"a whole number from {minimum} to {maximum}")


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


LOG_LEVEL = word_of(dict.fromkeys(("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), ""))


def optional_contract_address(value: Any) -> str:
    """A contract's address, or nothing (the empty string) where the contract is optional."""
    if isinstance(value, str) and not value.strip():
        return ""
    return contract_address(value)


def setting(parse: Parser, default: Any = MISSING) -> Any:
    """A dataclass field with its parser (and its default, unless the setting is required)."""
    return field(default=default, metadata={"parse": parse})


# ---------------------------------------------------------------- files and tables


def read_toml(path: str, tables: tuple[str, ...]) -> dict[str, Any]:
    """The document in ``path``; refuses a file that cannot be read, is not TOML, or has a
    table other than ``tables``."""
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as error:
        raise SettingsError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path} is not valid TOML: {error}") from None
    unknown = set(document) - set(tables)
    if unknown:
        raise SettingsError(f"unknown table(s) in {path}: {', '.join(sorted(unknown))} (known: {', '.join(tables)})")
    return document


def settings_table(kind: type, table: str, document: Mapping[str, Any], environ: Mapping[str, str], prefix: str) -> Any:
    """The dataclass ``kind`` from the document's ``[table]``, each setting overridden by the
    variable ``<prefix><TABLE>_<KEY>`` when it is set."""
    values = document.get(table, {})
    if not isinstance(values, dict):
        raise SettingsError(f"[{table}] must be a table of settings")
    known = {spec.name: spec for spec in fields(kind)}
    unknown = set(values) - set(known)
    if unknown:
        raise SettingsError(f"unknown setting(s) in [{table}]: {', '.join(sorted(unknown))}")
    chosen = {}
    for name, spec in known.items():
        variable = f"{prefix}{table.upper()}_{name.upper()}"
        if variable in environ:
            chosen[name] = parsed(spec, environ[variable], f"{table}.{name}", f" (from {variable})")
        elif name in values:
            chosen[name] = parsed(spec, values[name], f"{table}.{name}", "")
    return kind(**chosen)


def parsed(spec: Field, value: Any, setting_name: str, source: str) -> Any:
    """``value`` through the parser of the setting ``spec``; ``source`` says where it came from."""
    try:
        return spec.metadata["parse"](value)
    except ValueError as error:
        raise SettingsError(f"{setting_name} {error}, not {value!r}{source}") from None


def load_tables(
    config: type,
    tables: Mapping[str, type],
    required: tuple[tuple[str, tuple[str, ...]], ...],
    path: str | None,
    environ: Mapping[str, str],
    prefix: str,
) -> Any:
    """The dataclass ``config`` of one settings table per field (``tables``: name -> kind), from
    the TOML file ``path`` (optional) and the ``<prefix><TABLE>_<KEY>`` variables; refuses it
    when a setting of ``required`` (table, names) is empty, naming them all."""
    document: dict[str, Any] = read_toml(path, tuple(tables)) if path else {}
    loaded = config(**{table: settings_table(kind, table, document, environ, prefix) for table, kind in tables.items()})
    missing = [
        f"{table}.{name}" for table, names in required for name in names if not getattr(getattr(loaded, table), name)
    ]
    if missing:
        raise SettingsError(f"not set (file or {prefix}<TABLE>_<KEY>): {', '.join(missing)}")
    return loaded
