"""`POST /rpc`: the JSON-RPC 2.0 proxy the page and the meter bridge use to reach the chain
(and `POST /rpc/scheduling`, the same proxy in front of the sister chains' scheduling chain,
when the backend serves one: `backend.sister`).

It denies by default. Only the read methods a DApp needs and `eth_sendRawTransaction` (already
signed by the client) pass; anything that would use a key on the node or expose or change the
node (`eth_sendTransaction`, `eth_sign*`, `personal_*`, `admin_*`, `miner_*`, `debug_*`,
`txpool_*`, ...) is answered with -32601 and never forwarded. What one body may ask is bounded:
its size and depth (`backend.json_body`), its number of requests, the blocks its log queries
cover together, and the gas of each `eth_call` and `eth_estimateGas` (`MAX_CALL_GAS`, the block
gas limit by default: more is refused, none named is sent as the cap). A node that is down or
silent gives an error naming it by host and port only, not a hang.

Requests are checked one by one, and those allowed are forwarded to the upstream as one batch
under ids of the proxy's own, so clients' ids (which may repeat or be absent) never reach it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from backend.json_body import BodyRefused, read_json_body
from backend.upstreams import CALL_METHODS, LIMIT_EXCEEDED, Upstream, UpstreamUnavailable

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Implementation-defined server errors, as EIP-1474 names them (LIMIT_EXCEEDED: -32005).
RESOURCE_UNAVAILABLE = -32002

ALLOWED_METHODS = frozenset(
    {
        "eth_chainId",
        "net_version",
        "eth_blockNumber",
        "eth_call",
        "eth_estimateGas",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_feeHistory",
        "eth_getBalance",
        "eth_getTransactionCount",
        "eth_getCode",
        "eth_getTransactionReceipt",
        "eth_getTransactionByHash",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getLogs",
        "eth_sendRawTransaction",
    }
)

BLOCK_TAGS = frozenset({"earliest", "latest", "pending", "safe", "finalized"})
HEX_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")

UPSTREAM_EXTENSION = "p2p_upstream"
# The sister chains' scheduling chain (`backend.sister`), served at /rpc/scheduling when there is one.
SCHEDULING_UPSTREAM_EXTENSION = "p2p_scheduling_upstream"

bp = Blueprint("rpc_proxy", __name__)


class RpcError(Exception):
    """A request answered by the proxy itself with a JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Call:
    """One request of a body, and its response once known."""

    id: Any = None
    is_notification: bool = False
    method: str = ""
    params: list[Any] | dict[str, Any] | None = None
    response: dict[str, Any] | None = None

    def fail(self, code: int, message: str) -> None:
        self.response = error_response(self.id, code, message)


def error_response(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


@bp.post("/rpc")
def relay() -> ResponseReturnValue:
    return relay_to(current_app.extensions[UPSTREAM_EXTENSION])


@bp.post("/rpc/scheduling")
def relay_to_scheduling() -> ResponseReturnValue:
    upstream = current_app.extensions.get(SCHEDULING_UPSTREAM_EXTENSION)
    if upstream is None:
        return jsonify(error_response(None, METHOD_NOT_FOUND, "this backend serves no scheduling chain")), 404
    return relay_to(upstream)


def relay_to(upstream: Upstream) -> ResponseReturnValue:
    """Answer the request's body with `upstream` behind the proxy's checks."""
    try:
        payload = read_json_body(request, current_app.config["MAX_BODY_BYTES"])
    except BodyRefused as refusal:
        if refusal.status == 400:
            return jsonify(error_response(None, PARSE_ERROR, f"parse error: {refusal}"))
        return jsonify(error_response(None, INVALID_REQUEST, f"invalid request: {refusal}")), refusal.status

    if isinstance(payload, list):
        max_batch = current_app.config["MAX_BATCH"]
        if not payload:
            return jsonify(error_response(None, INVALID_REQUEST, "invalid request: empty batch"))
        if len(payload) > max_batch:
            return jsonify(
                error_response(
                    None,
                    INVALID_REQUEST,
                    f"invalid request: batch of {len(payload)} requests, the limit is {max_batch}",
                )
            )
        responses = answer(payload, upstream)
        return jsonify(responses) if responses else ("", 204)

    responses = answer([payload], upstream)
    return jsonify(responses[0]) if responses else ("", 204)


def answer(items: list[Any], upstream: Upstream) -> list[dict[str, Any]]:
    """The responses to `items` from `upstream`, in order, with none for notifications."""
    calls = [read_call(item) for item in items]
    log_queries = [call for call in calls if call.response is None and call.method == "eth_getLogs"]
    if log_queries:
        bound_log_queries(log_queries, upstream, current_app.config["MAX_LOG_BLOCK_RANGE"])
    code_calls = [call for call in calls if call.response is None and call.method in CALL_METHODS]
    if code_calls:
        bound_call_gas(code_calls, upstream, current_app.config["MAX_CALL_GAS"])
    forward([call for call in calls if call.response is None], upstream)
    return [call.response for call in calls if not call.is_notification]


def read_call(item: Any) -> Call:
    """Check one request; the returned call has a response already if it must not be forwarded."""
    call = Call()
    if not isinstance(item, dict):
        call.fail(INVALID_REQUEST, "invalid request: expected a JSON object")
        return call
    if "id" in item:
        if is_valid_id(item["id"]):
            call.id = item["id"]
        else:
            call.fail(INVALID_REQUEST, "invalid request: id must be a string, a number or null")
            return call
    if item.get("jsonrpc") != "2.0":
        call.fail(INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"')
    elif not isinstance(item.get("method"), str):
        call.fail(INVALID_REQUEST, 'invalid request: "method" must be a string')
    elif not isinstance(item.get("params", []), (list, dict)):
        call.fail(INVALID_REQUEST, 'invalid request: "params" must be an array or an object')
    else:
        # Only a well-formed request without an id is a notification; a broken one is answered.
        call.is_notification = "id" not in item
        call.method = item["method"]
        call.params = item.get("params", [])
        if call.method not in ALLOWED_METHODS:
            call.fail(METHOD_NOT_FOUND, f"method not found or not allowed: {call.method}")
    return call


def is_valid_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool))


def bound_log_queries(calls: list[Call], upstream: Upstream, max_range: int) -> None:
    """Refuse eth_getLogs queries past `max_range` blocks for the whole body; pin the others to
    block numbers.

    The queries of one body share the budget, in order (a query by `blockHash` counts one
    block), so a batch cannot multiply the widest query. Block tags are resolved to numbers
    (one upstream batch for the whole body) and the query is forwarded with those numbers, so
    the node cannot search a wider range than was checked.
    """
    ranges: dict[int, tuple[int | str, int | str] | None] = {}
    for index, call in enumerate(calls):
        try:
            ranges[index] = block_range(call.params)
        except RpcError as error:
            call.fail(error.code, error.message)

    tags = sorted({end for pair in ranges.values() if pair for end in pair if isinstance(end, str)})
    try:
        numbers = resolve_block_tags(tags, upstream)
    except UpstreamUnavailable as error:
        for index in ranges:
            calls[index].fail(RESOURCE_UNAVAILABLE, str(error))
        return
    except RpcError as error:
        for index in ranges:
            calls[index].fail(error.code, error.message)
        return

    budget = max_range
    for index, block_span in ranges.items():
        call = calls[index]
        if block_span is None:
            where, blocks = "by block hash", 1
        else:
            from_block, to_block = (numbers.get(end, end) for end in block_span)
            where, blocks = f"over blocks {from_block}..{to_block}", max(0, to_block - from_block + 1)
        if blocks > budget:
            call.fail(
                LIMIT_EXCEEDED,
                f"eth_getLogs {where} takes this request past {max_range} blocks of logs "
                f"({max_range - budget} taken by the queries before it); ask for a narrower range",
            )
            continue
        budget -= blocks
        if block_span is not None:
            call.params = [{**call.params[0], "fromBlock": hex(from_block), "toBlock": hex(to_block)}]


def block_range(params: Any) -> tuple[int | str, int | str] | None:
    """The (fromBlock, toBlock) of an eth_getLogs query, each a number or a tag to resolve.

    None for a query by `blockHash`, which covers a single block.
    """
    if not (isinstance(params, list) and len(params) == 1 and isinstance(params[0], dict)):
        raise RpcError(INVALID_PARAMS, "invalid params: eth_getLogs takes one filter object")
    log_filter = params[0]
    if "blockHash" in log_filter:
        if "fromBlock" in log_filter or "toBlock" in log_filter:
            raise RpcError(INVALID_PARAMS, "invalid params: blockHash excludes fromBlock and toBlock")
        return None
    return (
        block_reference(log_filter.get("fromBlock", "latest")),
        block_reference(log_filter.get("toBlock", "latest")),
    )


def block_reference(value: Any) -> int | str:
    if isinstance(value, str) and HEX_QUANTITY.fullmatch(value):
        return int(value, 16)
    if value in BLOCK_TAGS:
        return value
    raise RpcError(
        INVALID_PARAMS,
        f"invalid params: block {value!r} is neither a hex number nor one of {sorted(BLOCK_TAGS)}",
    )


def resolve_block_tags(tags: list[str], upstream: Upstream) -> dict[str, int]:
    return {tag: block_field(block, "number", tag) for tag, block in blocks_by_tag(tags, upstream).items()}


def blocks_by_tag(tags: list[str], upstream: Upstream) -> dict[str, dict[str, Any]]:
    """The node's blocks named by `tags` (one upstream batch); RpcError if it knows one not."""
    if not tags:
        return {}
    lookups = [
        {"jsonrpc": "2.0", "id": index, "method": "eth_getBlockByNumber", "params": [tag, False]}
        for index, tag in enumerate(tags)
    ]
    blocks = {}
    for tag, response in zip(tags, upstream.forward(lookups)):
        block = response.get("result")
        if not isinstance(block, dict):
            raise RpcError(INVALID_PARAMS, f"invalid params: the node knows no {tag!r} block")
        blocks[tag] = block
    return blocks


def block_field(block: dict[str, Any], name: str, tag: str) -> int:
    value = block.get(name)
    if not (isinstance(value, str) and HEX_QUANTITY.fullmatch(value)):
        raise RpcError(INVALID_PARAMS, f"invalid params: the node's {tag!r} block has no {name}")
    return int(value, 16)


def bound_call_gas(calls: list[Call], upstream: Upstream, max_gas: int) -> None:
    """Refuse eth_call and eth_estimateGas asking for more gas than `max_gas` (0: the latest
    block's gas limit) and give those that name none exactly that much.

    Gas is what bounds the work a call makes the node do: a loop left to the node's own
    default (Geth's is above the block gas limit) could hold a core, or the embedded chain,
    long after the client has gone.
    """
    if not max_gas:
        try:
            max_gas = block_field(blocks_by_tag(["latest"], upstream)["latest"], "gasLimit", "latest")
        except UpstreamUnavailable as error:
            for call in calls:
                call.fail(RESOURCE_UNAVAILABLE, str(error))
            return
        except RpcError as error:
            for call in calls:
                call.fail(error.code, error.message)
            return
    for call in calls:
        params = call.params
        if not (isinstance(params, list) and params and isinstance(params[0], dict)):
            call.fail(INVALID_PARAMS, f"invalid params: {call.method} takes a transaction object first")
            continue
        transaction = params[0]
        gas = transaction.get("gas")
        if gas is None:
            call.params = [{**transaction, "gas": hex(max_gas)}, *params[1:]]
        elif not (isinstance(gas, str) and HEX_QUANTITY.fullmatch(gas)):
            call.fail(INVALID_PARAMS, f"invalid params: gas {gas!r} is not a hex number")
        elif int(gas, 16) > max_gas:
            call.fail(
                LIMIT_EXCEEDED,
                f"{call.method} asks for {int(gas, 16)} gas; a call through this proxy may use at most {max_gas}",
            )


def forward(calls: list[Call], upstream: Upstream) -> None:
    """Send `calls` upstream as one batch and give each its response under the client's id."""
    if not calls:
        return
    batch = [
        {"jsonrpc": "2.0", "id": index, "method": call.method, "params": call.params}
        for index, call in enumerate(calls)
    ]
    try:
        responses = upstream.forward(batch)
    except UpstreamUnavailable as error:
        for call in calls:
            call.fail(RESOURCE_UNAVAILABLE, str(error))
        return
    for call, response in zip(calls, responses):
        if isinstance(response.get("error"), dict):
            call.response = {"jsonrpc": "2.0", "id": call.id, "error": response["error"]}
        elif "result" in response:
            call.response = {"jsonrpc": "2.0", "id": call.id, "result": response["result"]}
        else:
            call.fail(INTERNAL_ERROR, "the node sent an answer with neither result nor error")
