"""py-evm runs a call on the embedded chain inside the backend under the chain's one
lock, so a loop within the gas cap still held the read API and the keeper for many seconds
(long enough for bidders to miss the reveal window). A call there now stops at the
EMBEDDED_RPC_TIME_LIMIT, wherever its time goes: loops, or a precompile's pure-Python arithmetic."""

import pytest
from py_ecc import optimized_bn128 as bn128

from backend import create_app

TIME_LIMIT = 0.5
LOOP = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP: spins until out of gas
ECPAIRING = "0x" + "00" * 19 + "08"


def pairing_input(pairs: int) -> str:
    """`pairs` copies of (G1, G2), the input of the ecPairing precompile."""
    word = lambda value: int(value).to_bytes(32, "big")  # noqa: E731
    g1, (x, y) = bn128.normalize(bn128.G1), bn128.normalize(bn128.G2)
    pair = word(g1[0].n) + word(g1[1].n) + word(x.coeffs[1]) + word(x.coeffs[0]) + word(y.coeffs[1]) + word(y.coeffs[0])
    return "0x" + (pair * pairs).hex()


@pytest.fixture
def rpc(market):
    client = create_app(
        {"TESTING": True, "KEEPER": False, "KEEPER_DB": ":memory:", "EMBEDDED_RPC_TIME_LIMIT": TIME_LIMIT},
        market=market,
    ).test_client()
    return lambda body: client.post("/rpc", json=body).get_json()


def call(transaction: dict, request_id: int = 1) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "method": "eth_call", "params": [transaction, "latest"]}


def test_loop_within_the_gas_cap_is_stopped_at_the_time_limit(rpc):
    reply = rpc(call({"data": LOOP, "gas": hex(10_000_000)}))

    assert (reply["error"]["code"], "stopped" in reply["error"]["message"]) == (-32005, True)


def test_pairing_precompile_is_stopped_at_the_time_limit(rpc):
    reply = rpc(call({"to": ECPAIRING, "data": pairing_input(20), "gas": hex(2_000_000)}))

    assert (reply["error"]["code"], "stopped" in reply["error"]["message"]) == (-32005, True)


def test_requests_of_a_batch_past_the_time_limit_are_not_run(rpc):
    replies = rpc(
        [call({"data": LOOP, "gas": hex(10_000_000)}, 1), {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber"}]
    )

    assert [reply["id"] for reply in replies if reply.get("error", {}).get("code") == -32005] == [1, 2]
