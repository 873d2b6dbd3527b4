"""How the backend reaches the Ethereum chain and the market deployed on it.

An *upstream* takes JSON-RPC 2.0 requests, already checked by the proxy, and returns one response
per request. There are two: `HttpUpstream` for a node behind a URL (anvil, Geth) and
`InProcessUpstream` for the embedded eth-tester chain that lives in the backend's own process
(started by `devnet.embedded`, for development and tests).

The market on a node is found from its deployment file (`open_deployed_market`). Nothing here is
created at import time, and nothing here loads the embedded test chain.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

import requests
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import ContractLogicError
from web3.middleware import combine_middleware
from web3.providers.eth_tester.middleware import (
    default_transaction_fields_middleware,
    ethereum_tester_middleware,
)

from backend.config import ConfigError
from devnet.embedded import is_embedded
from p2pkit.market import Deployment, MarketHandle
from p2pkit.transactions import revert_data

# JSON-RPC error codes an upstream itself produces.
EXECUTION_REVERTED = 3  # what Geth and anvil use, with the revert data in `data`
INVALID_INPUT = -32000  # EIP-1474: the node refused the request (bad nonce, unknown block, ...)
INTERNAL_ERROR = -32603


class UpstreamUnavailable(Exception):
    """The node could not be asked or did not answer; the message says which and where."""


class Upstream(Protocol):
    """A chain the proxy forwards to."""

    def forward(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send the requests in `batch` (each with a distinct id) as one batch.

        Returns one response per request, in the same order. Raises `UpstreamUnavailable` when
        the node cannot be reached or does not answer in time.
        """


class HttpUpstream:
    """A JSON-RPC node at `url`, asked over pooled HTTP connections.

    `timeout` bounds connecting and each wait for data, so a node that is down or accepts a
    connection and then says nothing is given up on after `timeout` seconds.
    """

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._session = requests.Session()

    def forward(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            reply = self._session.post(self.url, json=batch, timeout=self.timeout)
        except requests.Timeout:
            raise UpstreamUnavailable(f"node at {self.url} did not answer within {self.timeout:g} s") from None
        except requests.RequestException:
            raise UpstreamUnavailable(f"node unreachable at {self.url}") from None
        if reply.status_code != 200:
            raise UpstreamUnavailable(f"node at {self.url} answered HTTP {reply.status_code}")
        try:
            responses = reply.json()
        except ValueError:
            raise UpstreamUnavailable(f"node at {self.url} answered with a body that is not JSON") from None
        if not isinstance(responses, list):
            # Some nodes answer a batch they refuse as a whole with a single error object.
            error = responses.get("error") if isinstance(responses, dict) else None
            reason = error.get("message") if isinstance(error, dict) else None
            raise UpstreamUnavailable(f"node at {self.url} refused the batch: {reason or repr(responses)}")
        by_id = {response.get("id"): response for response in responses if isinstance(response, dict)}
        return [
            by_id.get(request["id"])
            or _error_response(request["id"], INTERNAL_ERROR, f"node at {self.url} sent no answer")
            for request in batch
        ]


class InProcessUpstream:
    """The eth-tester chain behind `w3` (a Web3 on an `EthereumTesterProvider`).

    Each request goes through `provider.make_request`, wrapped in the formatting layer web3 puts
    around eth-tester (camelCase <-> snake_case fields, hex <-> int parameters), and the result
    is turned into what a JSON-RPC node sends on the wire: hex quantities, camelCase keys, revert
    data in the error (recovered by `p2pkit.transactions.revert_data`). eth-tester is not thread-safe,
    so requests are answered one at a time, under `lock`: pass the lock of the `MarketHandle`
    on the same chain, so the proxy, the read API and the keeper take turns.
    """

    def __init__(self, w3: Web3, lock: threading.RLock | None = None) -> None:
        if not isinstance(w3.provider, EthereumTesterProvider):
            raise TypeError(f"InProcessUpstream needs an EthereumTesterProvider, not {w3.provider!r}")
        # Only an embedded chain needs eth-tester, so it is imported once there is one.
        from eth_tester.exceptions import TransactionFailed

        self._transaction_failed = TransactionFailed
        self.w3 = w3
        self._request = combine_middleware(
            middleware=(default_transaction_fields_middleware, ethereum_tester_middleware),
            w3=w3,
            provider_request_fn=w3.provider.make_request,
        )
        self.lock = lock or threading.RLock()

    def forward(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self.lock:
            return [self._answer(request) for request in batch]

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        method, params, request_id = request["method"], request["params"], request["id"]
        try:
            if method == "eth_getLogs":
                params = [self._filter_by_block_number(params[0])]
            response = self._request(method, params)
        except ContractLogicError as error:
            return _error_response(request_id, EXECUTION_REVERTED, str(error.message), error.data)
        except self._transaction_failed as error:
            data = revert_data(error)
            if data is None and method == "eth_call":
                data = self._revert_data_of_call(params)
            if data is None:
                return _error_response(request_id, EXECUTION_REVERTED, str(error))
            # eth-tester's message only repeats the data as a Python bytes repr.
            return _error_response(request_id, EXECUTION_REVERTED, "execution reverted", "0x" + data.hex())
        except Exception as error:  # eth-tester refuses bad input with assorted exception types
            return _error_response(request_id, INVALID_INPUT, str(error) or type(error).__name__)
        if "error" in response:
            return {"jsonrpc": "2.0", "id": request_id, "error": response["error"]}
        return {"jsonrpc": "2.0", "id": request_id, "result": _as_json_rpc_value(response["result"])}

    def _revert_data_of_call(self, params: list[Any]) -> bytes | None:
        """eth-tester reports a reverted eth_call with the revert's bytes only as printed text;
        estimating the gas of the same call at the same block raises with the bytes themselves."""
        try:
            self._request("eth_estimateGas", params)
        except Exception as error:  # the revert, now with its data (or a failure without any)
            return revert_data(error)
        return None

    def _filter_by_block_number(self, log_filter: dict[str, Any]) -> dict[str, Any]:
        """eth-tester's log query knows block numbers only: turn the `blockHash` form into them."""
        if "blockHash" not in log_filter:
            return log_filter
        block = self._request("eth_getBlockByHash", [log_filter["blockHash"], False])["result"]
        if block is None:
            raise ValueError(f"unknown block {log_filter['blockHash']}")
        by_number = {key: value for key, value in log_filter.items() if key != "blockHash"}
        return {**by_number, "fromBlock": hex(block["number"]), "toBlock": hex(block["number"])}


def _error_response(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


LOGS_BLOOM_BYTES = 256


def _as_json_rpc_value(value: Any, key: str | None = None) -> Any:
    """Turn an eth-tester result into its JSON-RPC wire form (numbers as hex, camelCase keys)."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        if key == "logsBloom":
            return "0x" + value.to_bytes(LOGS_BLOOM_BYTES, "big").hex()
        return hex(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str):
        # eth-tester writes the empty recipient of a contract creation as "".
        return None if key == "to" and value == "" else value
    if isinstance(value, (list, tuple)):
        return [_as_json_rpc_value(item, key) for item in value]
    if isinstance(value, dict):
        wire = {}
        for name, item in value.items():
            wire_name = _camel_case(name)
            # Full transactions inside a block are not renamed by web3's formatters.
            if key == "transactions" and wire_name == "data":
                wire_name = "input"
            wire[wire_name] = _as_json_rpc_value(item, wire_name)
        return wire
    raise TypeError(f"no JSON-RPC form for {type(value).__name__}")


def _camel_case(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


class MarketNotDeployed(Exception):
    """There is no deployment file for the node; the message says where it was looked for."""


def open_deployed_market(
    url: str, deployment_file: Path, rpc_timeout: float, operator: LocalAccount | None
) -> MarketHandle:
    """The market a deployment file names, on the node at `url`, signing with `operator`.

    Nothing is asked of the node here, so the backend starts while the node is down. Raises
    `MarketNotDeployed` when the file does not exist and `ConfigError` when it is not a
    deployment file or `operator` is not the market's operator.
    """
    if not deployment_file.exists():
        raise MarketNotDeployed(f"no deployment file at {deployment_file} (setting DEPLOYMENT)")
    try:
        deployment = Deployment.load(deployment_file)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if operator is not None and operator.address.lower() != deployment.operator.lower():
        raise ConfigError(
            f"the operator key is for {operator.address}, but the market's operator is {deployment.operator}"
        )
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": rpc_timeout}))
    return MarketHandle.attach(w3, deployment, operator)


def connect_upstream(url: str, rpc_timeout: float) -> Upstream:
    """The upstream for a `CHAIN` setting that names a node: its http(s) URL."""
    if url.startswith(("http://", "https://")):
        return HttpUpstream(url, rpc_timeout)
    raise ConfigError(f'CHAIN must be "embedded" or an http(s) URL, not {url!r}')


def upstream_for(market: MarketHandle, rpc_timeout: float) -> Upstream:
    """The upstream on the chain `market` lives on (sharing its lock when embedded)."""
    if is_embedded(market.w3):
        return InProcessUpstream(market.w3, market.lock)
    return connect_upstream(market.w3.provider.endpoint_uri, rpc_timeout)
