"""`/api/sister`: the sister chains as the page shows them, as JSON.

    GET /api/sister                     both chains: id, lock, light client, rate, confirmations,
                                        reserve, and the `/rpc` path that reaches each
    GET /api/sister/accounts/<address>  the address's balances and ether on both chains, and its
                                        transfers (locks it sent or receives), newest first

A transfer's `state` is "locked" (waiting for confirmations), "confirmed" (6 of 6 on its own
chain: the relayer's unlock is due) or "unlocked"; `confirmations` counts the blocks above the
lock's block on its own chain, up to the number required, `relayed` those the other chain's
light client holds. Amounts are decimal strings, as in `/api`. Logs are read through each
chain's upstream over at most the last `MAX_LOG_BLOCK_RANGE` blocks, so a transfer older than
that is not listed (it is long finished).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, current_app, jsonify
from flask.typing import ResponseReturnValue
from web3 import Web3

from backend.sister import SisterChains
from backend.upstreams import Upstream, UpstreamUnavailable
from p2pkit.sister.lock import SCHEDULING, TRADING

SISTER_EXTENSION = "p2p_sister"  # SisterChains, or None
SISTER_UPSTREAMS_EXTENSION = "p2p_sister_upstreams"  # chain name -> Upstream
RPC_PATHS = {TRADING: "/rpc", SCHEDULING: "/rpc/scheduling"}
MAX_TRANSFERS = 20
HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
LOCKED_TOPIC = Web3.keccak(text="Locked(bytes32,address,address,uint256,uint256)").to_0x_hex()
UNLOCKED_TOPIC = Web3.keccak(text="Unlocked(bytes32,address,uint256,uint256,bytes32)").to_0x_hex()

bp = Blueprint("sister_api", __name__, url_prefix="/api/sister")


def sister() -> SisterChains:
    return current_app.extensions[SISTER_EXTENSION]


@bp.before_request
def require_sister() -> ResponseReturnValue | None:
    if current_app.extensions.get(SISTER_EXTENSION) is None:
        return jsonify(error="no sister chains: this backend is not configured with a scheduling chain"), 404
    return None


@bp.errorhandler(UpstreamUnavailable)
def upstream_unavailable(error: UpstreamUnavailable) -> ResponseReturnValue:
    return jsonify(error=str(error)), 503


@bp.get("")
def overview() -> ResponseReturnValue:
    chains = sister()
    answer = {}
    with chains.holding(TRADING, SCHEDULING):
        for name in (TRADING, SCHEDULING):
            chain = chains.chain(name)
            lock = chain.lock.functions
            numerator, denominator = lock.rate().call()
            answer[name] = {
                "chain_id": chain.chain_id,
                "lock": chain.lock.address,
                "light_client": chain.light_client.address,
                "rate": [str(numerator), str(denominator)],
                "confirmations": lock.confirmationsRequired().call(),
                "reserve": str(lock.reserve().call()),
                "rpc": RPC_PATHS[name],
            }
    return jsonify(answer)


@bp.get("/accounts/<address>")
def account(address: str) -> ResponseReturnValue:
    if not HEX_ADDRESS.fullmatch(address):
        abort(404)
    address = Web3.to_checksum_address(address)
    chains = sister()
    upstreams: dict[str, Upstream] = current_app.extensions[SISTER_UPSTREAMS_EXTENSION]
    max_range = current_app.config["MAX_LOG_BLOCK_RANGE"]
    heads = {name: _block_number(upstreams[name]) for name in (TRADING, SCHEDULING)}
    locks = []
    for name in (TRADING, SCHEDULING):
        chain = chains.chain(name)
        first = max(heads[name] - max_range + 1, 0)
        topic = "0x" + bytes(12).hex() + address[2:].lower()
        for topics in ([LOCKED_TOPIC, None, topic], [LOCKED_TOPIC, None, None, topic]):
            for log in _logs(upstreams[name], chain.lock.address, first, heads[name], topics):
                locks.append((name, log))
    unique = {log["topics"][1]: (name, log) for name, log in locks}
    newest = sorted(unique.values(), key=lambda item: -int(item[1]["blockNumber"], 16))[:MAX_TRANSFERS]
    unlocks = _unlocks(chains, upstreams, heads, newest, max_range)
    balances, transfers = {}, []
    with chains.holding(TRADING, SCHEDULING):
        for name in (TRADING, SCHEDULING):
            chain = chains.chain(name)
            balances[name] = {
                "balance": str(chain.lock.functions.balanceOf(address).call()),
                "ether": str(chain.w3.eth.get_balance(address)),
            }
        for name, log in newest:
            transfers.append(_transfer(chains, name, log, heads[name], unlocks.get(log["topics"][1])))
    return jsonify(address=address, balances=balances, transfers=transfers)


def _transfer(chains: SisterChains, name: str, log: dict, head: int, unlock: dict | None) -> dict[str, Any]:
    destination = chains.other(name)
    required = destination.lock.functions.confirmationsRequired().call()
    block = int(log["blockNumber"], 16)
    best = destination.light_client.functions.bestHeader().call().number
    data = bytes.fromhex(log["data"][2:])
    confirmations = min(max(head - block, 0), required)
    state = "unlocked" if unlock else "confirmed" if confirmations >= required else "locked"
    return {
        "lock_id": log["topics"][1],
        "from": name,
        "to": destination.name,
        "sender": Web3.to_checksum_address("0x" + log["topics"][2][-40:]),
        "recipient": Web3.to_checksum_address("0x" + log["topics"][3][-40:]),
        "amount": str(int.from_bytes(data[:32], "big")),
        "block": block,
        "tx": log["transactionHash"],
        "confirmations": confirmations,
        "required": required,
        "relayed": min(max(best - block, 0), required),
        "state": state,
        "unlock": unlock,
    }


def _unlocks(
    chains: SisterChains, upstreams: dict[str, Upstream], heads: dict[str, int], locks: list, max_range: int
) -> dict[str, dict[str, Any]]:
    """The unlocks of ``locks`` on their destination chains, by lock id."""
    found = {}
    for name in (TRADING, SCHEDULING):
        destination = chains.other(name)
        ids = [log["topics"][1] for source, log in locks if source == name]
        if not ids:
            continue
        first = max(heads[destination.name] - max_range + 1, 0)
        for log in _logs(
            upstreams[destination.name], destination.lock.address, first, heads[destination.name], [UNLOCKED_TOPIC, ids]
        ):
            data = bytes.fromhex(log["data"][2:])
            found[log["topics"][1]] = {
                "tx": log["transactionHash"],
                "block": int(log["blockNumber"], 16),
                "released": str(int.from_bytes(data[32:64], "big")),
            }
    return found


def _ask(upstream: Upstream, method: str, params: list) -> Any:
    (response,) = upstream.forward([{"jsonrpc": "2.0", "id": 1, "method": method, "params": params}])
    if "error" in response:
        raise UpstreamUnavailable(f"{method}: {response['error'].get('message')}")
    return response["result"]


def _block_number(upstream: Upstream) -> int:
    return int(_ask(upstream, "eth_blockNumber", []), 16)


def _logs(upstream: Upstream, address: str, first: int, last: int, topics: list) -> list[dict]:
    return _ask(
        upstream, "eth_getLogs", [{"address": address, "fromBlock": hex(first), "toBlock": hex(last), "topics": topics}]
    )
