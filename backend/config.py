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

from eth_account import Account
from eth_account.signers.local import LocalAccount

ENV_PREFIX = "P2P_"


class ConfigError(ValueError):
    """A setting or secret is missing, malformed or out of range."""


def _text(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _at_least(
    kind: Callable[[Any], float | int], minimum: float, description: str, *, inclusive: bool = True
) -> Callable[[Any], float | int]:
    def parse(value: Any) -> float | int:
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be {description}") from None
        if number < minimum or (number == minimum and not inclusive):
            raise ValueError(f"must be {description}")
        return number

    return parse


def _within(kind: Callable[[Any], int], low: int, high: int, description: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be {description}") from None
        if not low <= number <= high:
            raise ValueError(f"must be {description}")
        return number

    return parse


def _positive(kind: Callable[[Any], float | int], description: str) -> Callable[[Any], float | int]:
    return _at_least(kind, 0, description, inclusive=False)


def _switch(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in {"1", "true", "yes", "on"}:
        return True
    if word in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be 1 or 0 (also true/false, yes/no, on/off)")


def _addresses(value: Any) -> tuple[str, ...]:
    from web3 import Web3

    items = value if isinstance(value, (list, tuple)) else [part for part in str(value).split(",") if part.strip()]
    try:
        return tuple(Web3.to_checksum_address(str(item).strip()) for item in items)
    except ValueError:
        raise ValueError("must be addresses (0x and 40 hex digits) separated by commas") from None


# name -> (parser, default). The parser also accepts already-typed values from the dict.
SETTINGS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    # "embedded" for an in-process eth-tester chain, or the URL of a JSON-RPC node.
    "CHAIN": (_text, "embedded"),
    # Seconds to wait for the node before answering the client with an error.
    "RPC_TIMEOUT": (_positive(float, "a number of seconds above zero"), 10.0),
    # Largest request body `/rpc` and `/api` read, chunked or not; a raw contract deployment is
    # a few tens of kB. A larger one is refused with HTTP 413 before it is parsed.
    "MAX_BODY_BYTES": (_positive(int, "a whole number above zero"), 1_048_576),
    # Most requests in one JSON-RPC batch.
    "MAX_BATCH": (_positive(int, "a whole number above zero"), 100),
    # Most blocks the eth_getLogs queries of one `/rpc` body may cover together (each counts
    # toBlock - fromBlock + 1); also the widest range the backend asks the node for itself.
    "MAX_LOG_BLOCK_RANGE": (_positive(int, "a whole number above zero"), 10_000),
    # Most gas an eth_call or eth_estimateGas through `/rpc` may use; 0: the latest block's gas
    # limit. A call asking for more is refused; one naming no gas is sent with this much, so
    # the node never falls back to a larger default of its own.
    "MAX_CALL_GAS": (_at_least(int, 0, "a whole number, 0 or more"), 0),
    # Embedded chain only: the period length (seconds) of the market it deploys.
    "PERIOD_LENGTH": (_at_least(int, 10, "a whole number of seconds, at least 10"), 900),
    # Embedded chain only: seconds one `/rpc` body may hold the chain, which runs one request at
    # a time for the proxy, the read API and the keeper alike. An eth_call or eth_estimateGas
    # still running then is stopped, and the body's requests not yet run are answered with an
    # error; a second body meanwhile waits at most this long for its turn.
    "EMBEDDED_RPC_TIME_LIMIT": (_positive(float, "a number of seconds above zero"), 2.0),
    # Embedded chain only: seconds between its empty blocks, so chain time follows the wall
    # clock; 0 leaves time still between transactions (tests that move time themselves).
    "EMBEDDED_BLOCK_INTERVAL": (_at_least(float, 0, "a number of seconds, 0 or more"), 1.0),
    # Embedded chain only: the retail contracts' billing months. 0: calendar months in local
    # time RETAIL_UTC_OFFSET seconds east of UTC (production's clock); above 0: months of this
    # many seconds from the deployment, for demos that show a month settled in minutes.
    "RETAIL_MONTH_LENGTH": (_at_least(int, 0, "a whole number of seconds, 0 for calendar months"), 0),
    "RETAIL_UTC_OFFSET": (_within(int, -14 * 3600, 14 * 3600, "a whole number of seconds within 14 hours"), 28_800),
    # Embedded chain only: seconds after a month's end during which its readings are accepted.
    "RETAIL_READING_GRACE": (_positive(int, "a whole number of seconds above zero"), 5 * 86_400),
    # Most contracts per settleBatch the keeper sends (each about 37,000 gas).
    "KEEPER_RETAIL_BATCH": (_positive(int, "a whole number above zero"), 100),
    # Node only: the deployment file naming the market (written by the deploy script).
    "DEPLOYMENT": (_text, "deployment.json"),
    # The sister chains' scheduling chain (`backend.sister`): unset, none; "embedded" (with
    # CHAIN=embedded) one in this process, the pair deployed and relayed here; else the URL of
    # a node of it, the pair named by SISTER_DEPLOYMENT. Served at /rpc/scheduling.
    "SISTER_SCHEDULING_CHAIN": (_text, None),
    # Node only: the sister chains' deployment file (both locks; p2pkit.sister.lock).
    "SISTER_DEPLOYMENT": (_text, "sister-deployment.json"),
    # Embedded sister chains only: the relayers both light clients trust (1 of n), addresses
    # separated by commas, each given ether on both chains; unset, the operator.
    "SISTER_RELAYERS": (_addresses, ()),
    # The storage stations' dispatch contract on the scheduling chain (`backend.stations_api`):
    # unset, none; "embedded" (embedded sister chains) deploys one with the operator as the
    # energy company; else the contract's address. Served at /api/stations.
    "STATIONS_DISPATCH": (_text, None),
    # Whether the keeper runs in the background (it needs a key: P2P_KEEPER_KEY[_FILE], its own,
    # so that it never takes the nonce of a transaction the operator signs at the page; unset,
    # the operator's; an embedded chain makes and funds one).
    "KEEPER": (_switch, True),
    # Most auction steps per matchBids and most bids per settle transaction.
    "KEEPER_BATCH": (_positive(int, "a whole number above zero"), 200),
    # Seconds the keeper waits when there is nothing to do; also its first retry delay.
    "KEEPER_POLL_INTERVAL": (_positive(float, "a number of seconds above zero"), 1.0),
    # SQLite file of the bids entrusted to the keeper (created 0600: it holds their salts);
    # ":memory:" keeps them in memory. Unset: in memory with the embedded chain (which is
    # itself in memory), else keeper.sqlite3 in the instance folder.
    "KEEPER_DB": (_text, None),
    # `python -m backend serve` only (see backend.serving). Seconds a client has to send a whole
    # request, headers and body, once its connection is taken up; also the longest wait for
    # one write of the answer. A request that has not arrived by then is dropped.
    "REQUEST_TIMEOUT": (_positive(float, "a number of seconds above zero"), 5.0),
    # Most client connections one server process holds; more wait in the kernel's queue. It is
    # lowered to what the process's open-file limit leaves room for.
    "MAX_CONNECTIONS": (_positive(int, "a whole number above zero"), 1000),
    # Threads answering requests in each server process.
    "THREADS": (_positive(int, "a whole number above zero"), 16),
    # Server processes; more than one only in front of a node (an embedded chain lives in its
    # one process). The keeper runs in one of them.
    "WORKERS": (_positive(int, "a whole number above zero"), 1),
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


def read_operator_key(environ: Mapping[str, str] | None = None) -> LocalAccount | None:
    """The operator's signing key from `P2P_OPERATOR_KEY[_FILE]`, or None when it is not set
    (`read_signing_key`)."""
    return read_signing_key("OPERATOR", environ)


def read_keeper_key(environ: Mapping[str, str] | None = None) -> LocalAccount | None:
    """The keeper's signing key from `P2P_KEEPER_KEY[_FILE]`, or None when it is not set
    (`read_signing_key`)."""
    return read_signing_key("KEEPER", environ)


def read_signing_key(role: str, environ: Mapping[str, str] | None = None) -> LocalAccount | None:
    """The signing key of `role` (OPERATOR, KEEPER) from `P2P_<role>_KEY[_FILE]`, or None when
    it is not set.

    The secret is either a raw hex private key or an encrypted keystore (the JSON written by
    Geth, Clef or `eth_account.Account.encrypt`), whose password then comes from
    `P2P_<role>_PASSWORD[_FILE]`.
    """
    who = role.lower()
    secret = read_secret(f"{role}_KEY", environ)
    if secret is None:
        return None
    if secret.startswith("{"):
        password = read_secret(f"{role}_PASSWORD", environ)
        if password is None:
            raise ConfigError(f"the {who} key is a keystore: set P2P_{role}_PASSWORD or P2P_{role}_PASSWORD_FILE")
        try:
            return Account.from_key(Account.decrypt(secret, password))
        except ValueError as error:  # a wrong password reads "MAC mismatch"
            raise ConfigError(f"cannot decrypt the {who} keystore: {error}") from None
    try:
        return Account.from_key(secret)
    except ValueError:
        # The message would repeat part of the key; say only what is wrong with it.
        raise ConfigError(f"the {who} key is neither a 32-byte hex private key nor a keystore JSON") from None
