"""Backend settings: defaults, overridden by `P2P_*` environment variables, overridden by a dict.

Settings are plain values (chain address, timeouts, limits) and are safe to print. Secrets such
as a private key never go through them: `read_secret` takes those from a file or a variable only,
so they stay out of command lines, dicts passed around in code and logged configuration.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "P2P_"


class ConfigError(ValueError):
    """A setting or secret is missing, malformed or out of range."""


def _text(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _positive(kind: Callable[[Any], float | int], description: str) -> Callable[[Any], float | int]:
    def parse(value: Any) -> float | int:
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be {description}") from None
        if number <= 0:
            raise ValueError(f"must be {description}")
        return number

    return parse


# name -> (parser, default). The parser also accepts already-typed values from the dict.
SETTINGS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    # "embedded" for an in-process eth-tester chain, or the URL of a JSON-RPC node.
    "CHAIN": (_text, "embedded"),
    # Seconds to wait for the node before answering the client with an error.
    "RPC_TIMEOUT": (_positive(float, "a number of seconds above zero"), 10.0),
    # Largest request body `/rpc` reads; a raw contract deployment is a few tens of kB.
    "MAX_BODY_BYTES": (_positive(int, "a whole number above zero"), 1_048_576),
    # Most requests in one JSON-RPC batch.
    "MAX_BATCH": (_positive(int, "a whole number above zero"), 100),
    # Most blocks one eth_getLogs query may cover (toBlock - fromBlock + 1).
    "MAX_LOG_BLOCK_RANGE": (_positive(int, "a whole number above zero"), 10_000),
}


def load_config(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return every setting, parsed: the default, else `P2P_<NAME>`, else `overrides[NAME]`.

    Keys of `overrides` that are not settings (Flask's `TESTING`, for instance) are passed
    through unchanged.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    config: dict[str, Any] = {}
    for name, (parse, default) in SETTINGS.items():
        if name in overrides:
            source, raw = f"setting {name}", overrides.pop(name)
        elif ENV_PREFIX + name in environ:
            source, raw = f"environment variable {ENV_PREFIX}{name}", environ[ENV_PREFIX + name]
        else:
            config[name] = default
            continue
        try:
            config[name] = parse(raw)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{source}={raw!r}: {error}") from None
    config.update(overrides)
    return config


def read_secret(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the secret `name` from the file named by `P2P_<NAME>_FILE` or from `P2P_<NAME>`.

    Returns None when neither is set; setting both is an error, so there is never a doubt
    about which key is in use.
    """
    environ = os.environ if environ is None else environ
    variable, file_variable = ENV_PREFIX + name, ENV_PREFIX + name + "_FILE"
    if variable in environ and file_variable in environ:
        raise ConfigError(f"set {variable} or {file_variable}, not both")
    if file_variable in environ:
        try:
            return Path(environ[file_variable]).read_text().strip()
        except OSError as error:
            raise ConfigError(f"{file_variable}: cannot read {error.filename}: {error.strerror}") from None
    return environ.get(variable)
