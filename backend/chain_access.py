"""How the backend reaches the Ethereum chain.

An *upstream* takes JSON-RPC 2.0 requests, already checked by the proxy, and returns one response
per request. There are two: `HttpUpstream` for a node behind a URL (anvil, Geth) and
`InProcessUpstream` for the embedded eth-tester chain that lives in the backend's own process.
Nothing here is created at import time; `connect_upstream` builds the upstream named by the
`CHAIN` setting.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import requests
from eth_tester.exceptions import TransactionFailed
from web3 import EthereumTesterProvider, Web3
from web3.exceptions import ContractLogicError
from web3.middleware import combine_middleware
from web3.providers.eth_tester.middleware import (
    default_transaction_fields_middleware,
    ethereum_tester_middleware,
)

from backend.chain import revert_data
from backend.config import ConfigError

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
            raise UpstreamUnavailable(
                f"node at {self.url} did not answer within {self.timeout:g} s"
            ) from None
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
    data in the error (recovered by `backend.chain.revert_data`). eth-tester is not thread-safe,
    so requests are answered one at a time.
    """

    def __init__(self, w3: Web3) -> None:
        if not isinstance(w3.provider, EthereumTesterProvider):
            raise TypeError(f"InProcessUpstream needs an EthereumTesterProvider, not {w3.provider!r}")
        self.w3 = w3
        self._request = combine_middleware(
            middleware=(default_transaction_fields_middleware, ethereum_tester_middleware),
            w3=w3,
            provider_request_fn=w3.provider.make_request,
        )
        self._lock = threading.Lock()

    def forward(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self._lock:
            return [self._answer(request) for request in batch]

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        method, params, request_id = request["method"], request["params"], request["id"]
        try:
            if method == "eth_getLogs":
                params = [self._filter_by_block_number(params[0])]
            response = self._request(method, params)
        except ContractLogicError as error:
            return _error_response(request_id, EXECUTION_REVERTED, str(error.message), error.data)
        except TransactionFailed as error:
            data = revert_data(error)
            if data is None:
                return _error_response(request_id, EXECUTION_REVERTED, str(error))
            # eth-tester's message only repeats the data as a Python bytes repr.
            return _error_response(request_id, EXECUTION_REVERTED, "execution reverted", "0x" + data.hex())
        except Exception as error:  # eth-tester refuses bad input with assorted exception types
            return _error_response(request_id, INVALID_INPUT, str(error) or type(error).__name__)
        if "error" in response:
            return {"jsonrpc": "2.0", "id": request_id, "error": response["error"]}
        return {"jsonrpc": "2.0", "id": request_id, "result": _as_json_rpc_value(response["result"])}

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


def start_embedded_chain() -> Web3:
    """Start a fresh eth-tester chain in this process, with eth-tester's funded dev accounts.

    This is the one place the embedded chain is set up; anything the embedded mode needs on
    the chain before serving (contracts, accounts) belongs here.
    """
    return Web3(EthereumTesterProvider())


def connect_upstream(chain: str, rpc_timeout: float) -> Upstream:
    """The upstream for the `CHAIN` setting: "embedded" or a node's http(s) URL."""
    if chain == "embedded":
        return InProcessUpstream(start_embedded_chain())
    if chain.startswith(("http://", "https://")):
        return HttpUpstream(chain, rpc_timeout)
    raise ConfigError(f'CHAIN must be "embedded" or an http(s) URL, not {chain!r}')
