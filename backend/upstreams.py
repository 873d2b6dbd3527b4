"""How the backend reaches the Ethereum chain and the market deployed on it.

An *upstream* takes JSON-RPC 2.0 requests, already checked by the proxy, and returns one response
per request. There are two: `HttpUpstream` for a node behind a URL (anvil, Geth) and
`InProcessUpstream` for the embedded eth-tester chain that lives in the backend's own process
(started by `devnet.embedded`, for first runs and tests).

The market on a node is found from its deployment file (`open_deployed_market`). Nothing here is
created at import time, and nothing here loads the embedded test chain until there is one.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError
from web3.middleware import combine_middleware
from web3.providers.eth_tester.middleware import (
    default_transaction_fields_middleware,
    ethereum_tester_middleware,
)

from backend.config import SETTINGS, ConfigError
from devnet.embedded import EmbeddedProvider, is_embedded
from p2pkit.market import Deployment, MarketHandle, TurnLock
from p2pkit.transactions import revert_data

# JSON-RPC error codes an upstream itself produces.
EXECUTION_REVERTED = 3  # what Geth and anvil use, with the revert data in `data`
INVALID_INPUT = -32000  # EIP-1474: the node refused the request (bad nonce, unknown block, ...)
LIMIT_EXCEEDED = -32005  # EIP-1474: a limit of the server's was reached
INTERNAL_ERROR = -32603
# The methods that run contract code without mining it: bounded in time on the embedded chain.
CALL_METHODS = frozenset({"eth_call", "eth_estimateGas"})


class UpstreamUnavailable(Exception):
    """The node could not be asked or did not answer; the message says which, naming the node
    by host and port only (its URL may carry credentials or an API key in its path)."""


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
    connection and then says nothing is given up on after `timeout` seconds. Errors name the
    node as `node` (host:port), never by its URL.
    """

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.node = node_address(url)
        self.timeout = timeout
        self._session = requests.Session()

    def forward(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            reply = self._session.post(self.url, json=batch, timeout=self.timeout)
        except requests.Timeout:
            raise UpstreamUnavailable(f"node at {self.node} did not answer within {self.timeout:g} s") from None
        except requests.RequestException:
            raise UpstreamUnavailable(f"node unreachable at {self.node}") from None
        if reply.status_code != 200:
            raise UpstreamUnavailable(f"node at {self.node} answered HTTP {reply.status_code}")
        try:
            responses = reply.json()
        except ValueError:
            raise UpstreamUnavailable(f"node at {self.node} answered with a body that is not JSON") from None
        if not isinstance(responses, list):
            # Some nodes answer a batch they refuse as a whole with a single error object.
            error = responses.get("error") if isinstance(responses, dict) else None
            reason = error.get("message") if isinstance(error, dict) else None
            raise UpstreamUnavailable(f"node at {self.node} refused the batch: {reason or repr(responses)}")
        by_id = {response.get("id"): response for response in responses if isinstance(response, dict)}
        return [
            by_id.get(request["id"])
            or _error_response(request["id"], INTERNAL_ERROR, f"node at {self.node} sent no answer")
            for request in batch
        ]


class InProcessUpstream:
    """The eth-tester chain behind `w3` (a Web3 on devnet's `EmbeddedProvider`).

    Each request goes through `provider.make_request`, wrapped in the formatting layer web3 puts
    around eth-tester (camelCase <-> snake_case fields, hex <-> int parameters), and the result
    is turned into what a JSON-RPC node sends on the wire: hex quantities, camelCase keys, revert
    data in the error (recovered by `p2pkit.transactions.revert_data`). Batches are answered one
    at a time, under `lock`: pass the lock of the `MarketHandle` on the same chain, so the
    proxy, the read API and the keeper take turns (each request also holds the provider's
    `chain_lock`, which the block ticker takes to mine).

    One batch holds the chain for at most `time_limit` seconds: an eth_call or eth_estimateGas
    still running then is stopped (on a chain started by `start_embedded_chain`, whose VM keeps
    that deadline) and the requests not yet run are answered with an error. Batches take turns
    among themselves before they queue for `lock`, so at most one of them stands between the
    keeper and the chain; one that waits `time_limit` for its turn is answered "busy".
    """

    def __init__(
        self,
        w3: Web3,
        lock: TurnLock | None = None,
        time_limit: float = SETTINGS["EMBEDDED_RPC_TIME_LIMIT"][1],
    ) -> None:
        if not isinstance(w3.provider, EmbeddedProvider):
            raise TypeError(f"InProcessUpstream needs an embedded chain (devnet.embedded), not {w3.provider!r}")
        # Only an embedded chain needs eth-tester and its VM's deadline, so they are imported
        # once there is one.
        from eth_tester.exceptions import TransactionFailed

        from devnet.evm_deadline import CallTimedOut, deadline

        self._transaction_failed, self._call_timed_out, self._deadline = TransactionFailed, CallTimedOut, deadline
        self.w3 = w3
        self._request = combine_middleware(
            middleware=(default_transaction_fields_middleware, ethereum_tester_middleware),
            w3=w3,
            provider_request_fn=w3.provider.make_request,
        )
        self.lock = lock or TurnLock()
        self.time_limit = time_limit
        self._turn = threading.Lock()

    def forward(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self._turn.acquire(timeout=self.time_limit):
            message = f"the embedded chain is busy with other requests (more than {self.time_limit:g} s); try again"
            return [_error_response(request["id"], LIMIT_EXCEEDED, message) for request in batch]
        try:
            with self.lock:
                ends = time.monotonic() + self.time_limit
                return [self._answer(request, ends) for request in batch]
        finally:
            self._turn.release()

    def _answer(self, request: dict[str, Any], ends: float) -> dict[str, Any]:
        method, params, request_id = request["method"], request["params"], request["id"]
        if time.monotonic() > ends:
            return _error_response(
                request_id,
                LIMIT_EXCEEDED,
                f"not run: this request's batch used up its {self.time_limit:g} s on the embedded chain; send it again",
            )
        try:
            if method == "eth_getLogs":
                logs = self._logs(self._filter_by_block_number(params[0]), ends)
                return {"jsonrpc": "2.0", "id": request_id, "result": logs}
            if method in CALL_METHODS:
                with self._deadline(ends):
                    response = self._request(method, params)
            else:
                response = self._request(method, params)
        except self._call_timed_out:
            return _error_response(
                request_id,
                LIMIT_EXCEEDED,
                f"{method} stopped: the embedded chain gives a request at most {self.time_limit:g} s",
            )
        except ContractLogicError as error:
            return _error_response(request_id, EXECUTION_REVERTED, str(error.message), error.data)
        except self._transaction_failed as error:
            data = revert_data(error)
            if data is None and method == "eth_call":
                data = self._revert_data_of_call(params, ends)
            if data is None:
                return _error_response(request_id, EXECUTION_REVERTED, str(error))
            # eth-tester's message only repeats the data as a Python bytes repr.
            return _error_response(request_id, EXECUTION_REVERTED, "execution reverted", "0x" + data.hex())
        except Exception as error:  # eth-tester refuses bad input with assorted exception types
            return _error_response(request_id, INVALID_INPUT, str(error) or type(error).__name__)
        if "error" in response:
            return {"jsonrpc": "2.0", "id": request_id, "error": response["error"]}
        result = response["result"]
        if method == "eth_getTransactionReceipt" and result:
            result = self._with_block_log_indexes(result)
        return {"jsonrpc": "2.0", "id": request_id, "result": _as_json_rpc_value(result)}

    def _with_block_log_indexes(self, receipt: dict[str, Any]) -> dict[str, Any]:
        """The receipt with its logs numbered across the block, as a node and this upstream's
        eth_getLogs number them (eth-tester numbers each transaction's logs from 0)."""
        with self.w3.provider.chain_lock:
            chain = self.w3.provider.ethereum_tester.backend.chain
            block = chain.get_canonical_block_by_number(receipt["blockNumber"])
            earlier = block.get_receipts(chain.chaindb)[: receipt["transactionIndex"]]
        offset = sum(len(earlier_receipt.logs) for earlier_receipt in earlier)
        return {**receipt, "logs": [{**log, "logIndex": offset + i} for i, log in enumerate(receipt["logs"])]}

    def _revert_data_of_call(self, params: list[Any], ends: float) -> bytes | None:
        """eth-tester reports a reverted eth_call with the revert's bytes only as printed text;
        estimating the gas of the same call at the same block raises with the bytes themselves."""
        try:
            with self._deadline(ends):
                self._request("eth_estimateGas", params)
        except Exception as error:  # the revert, now with its data (or a failure without any)
            return revert_data(error)
        return None

    def _logs(self, log_filter: dict[str, Any], ends: float) -> list[dict[str, Any]]:
        """The logs `log_filter` asks for, in JSON-RPC form, read from py-evm's blocks and
        receipts. eth-tester's own query looks each receipt up by walking the chain, which
        takes seconds for a few hundred blocks; this reads each block once, and stops at `ends`.
        """
        with self.w3.provider.chain_lock:
            return self._logs_of_chain(self.w3.provider.ethereum_tester.backend.chain, log_filter, ends)

    def _logs_of_chain(self, chain: Any, log_filter: dict[str, Any], ends: float) -> list[dict[str, Any]]:
        head = chain.get_canonical_head().block_number
        first = self._block_number(log_filter.get("fromBlock", "latest"), head)
        last = min(self._block_number(log_filter.get("toBlock", "latest"), head), head)
        addresses = log_filter.get("address") or []
        addresses = {address.lower() for address in ([addresses] if isinstance(addresses, str) else addresses)}
        topics = [[topic] if isinstance(topic, str) else topic for topic in log_filter.get("topics") or []]
        logs = []
        for number in range(first, last + 1):
            if time.monotonic() > ends:
                raise self._call_timed_out(f"eth_getLogs stopped at block {number}")
            block = chain.get_canonical_block_by_number(number)
            log_index = 0
            for index, (transaction, receipt) in enumerate(zip(block.transactions, block.get_receipts(chain.chaindb))):
                for log in receipt.logs:
                    wire = {
                        "address": to_checksum_address(log.address),
                        "topics": ["0x" + topic.to_bytes(32, "big").hex() for topic in log.topics],
                        "data": "0x" + log.data.hex(),
                        "blockNumber": hex(number),
                        "blockHash": "0x" + block.hash.hex(),
                        "transactionHash": "0x" + transaction.hash.hex(),
                        "transactionIndex": hex(index),
                        "logIndex": hex(log_index),
                        "removed": False,
                    }
                    log_index += 1
                    if _log_matches(wire, addresses, topics):
                        logs.append(wire)
        return logs

    @staticmethod
    def _block_number(reference: Any, head: int) -> int:
        if reference in ("latest", "safe", "finalized", "pending"):
            return head
        if reference == "earliest":
            return 0
        return int(reference, 16)

    def _filter_by_block_number(self, log_filter: dict[str, Any]) -> dict[str, Any]:
        """A log query by `blockHash` as one by block numbers."""
        if "blockHash" not in log_filter:
            return log_filter
        block = self._request("eth_getBlockByHash", [log_filter["blockHash"], False])["result"]
        if block is None:
            raise ValueError(f"unknown block {log_filter['blockHash']}")
        by_number = {key: value for key, value in log_filter.items() if key != "blockHash"}
        return {**by_number, "fromBlock": hex(block["number"]), "toBlock": hex(block["number"])}


def _log_matches(log: dict[str, Any], addresses: set[str], topics: list[list[str] | None]) -> bool:
    """Whether a log passes a filter: one of `addresses` (any when empty), and at each position
    of `topics` one of the topics given there (any for None)."""
    if addresses and log["address"].lower() not in addresses:
        return False
    if len(topics) > len(log["topics"]):
        return False
    return all(
        wanted is None or actual in {topic.lower() for topic in wanted} for wanted, actual in zip(topics, log["topics"])
    )


def node_address(url: str) -> str:
    """`host:port` of a node's URL, the port filled in from the scheme: what error messages name."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"


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
    url: str,
    deployment_file: Path,
    rpc_timeout: float,
    operator: LocalAccount | None,
    keeper_key: LocalAccount | None = None,
) -> MarketHandle:
    """The market a deployment file names, on the node at `url`, signing with `operator` (and
    the keeper with `keeper_key`, else with `operator`).

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
    return MarketHandle.attach(w3, deployment, operator, keeper_key)


def connect_upstream(url: str, rpc_timeout: float) -> Upstream:
    """The upstream for a `CHAIN` setting that names a node: its http(s) URL."""
    if url.startswith(("http://", "https://")):
        return HttpUpstream(url, rpc_timeout)
    raise ConfigError(f'CHAIN must be "embedded" or an http(s) URL, not {url!r}')


def upstream_for(market: MarketHandle, rpc_timeout: float, embedded_time_limit: float) -> Upstream:
    """The upstream on the chain `market` lives on (sharing its lock when embedded)."""
    if is_embedded(market.w3):
        return InProcessUpstream(market.w3, market.lock, embedded_time_limit)
    return connect_upstream(market.w3.provider.endpoint_uri, rpc_timeout)
