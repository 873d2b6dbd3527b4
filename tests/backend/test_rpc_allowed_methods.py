"""Every method the proxy allows, answered through `/rpc` by the embedded chain and by anvil."""

from __future__ import annotations

from backend_probe import PING_TOPIC, PROBE_INIT, PROBE_REVERT_DATA, PROBE_RUNTIME

RECIPIENT = "0x000000000000000000000000000000000000dEaD"


def as_number(quantity: str) -> int:
    assert quantity.startswith("0x"), quantity
    return int(quantity, 16)


def test_eth_chain_id_is_the_chains_id(chain):
    assert as_number(chain.result("eth_chainId")) == chain.chain_id


def test_net_version_is_a_decimal_string(chain):
    assert chain.result("net_version").isdigit()


def test_eth_block_number_includes_the_probes_blocks(chain, probe):
    assert as_number(chain.result("eth_blockNumber")) >= as_number(probe.ping["blockNumber"])


def test_eth_call_returns_the_contracts_output(chain, probe):
    assert chain.result("eth_call", {"to": probe.address, "data": "0x"}, "latest") == "0x"


def test_eth_call_that_reverts_carries_the_revert_data(chain, probe):
    error = chain.call("eth_call", {"to": probe.address, "data": "0x01"}, "latest")["error"]

    assert (error["code"], error["data"]) == (3, PROBE_REVERT_DATA)


def test_eth_estimate_gas_covers_the_log(chain, probe):
    estimate = chain.result("eth_estimateGas", {"from": chain.funded_address, "to": probe.address})

    assert as_number(estimate) > 21_000


def test_eth_gas_price_is_a_quantity(chain):
    assert as_number(chain.result("eth_gasPrice")) > 0


def test_eth_max_priority_fee_per_gas_is_a_quantity(chain):
    assert as_number(chain.result("eth_maxPriorityFeePerGas")) >= 0


def test_eth_fee_history_reports_the_latest_base_fee(chain, probe):
    history = chain.result("eth_feeHistory", "0x1", "latest", [50])

    assert as_number(history["baseFeePerGas"][0]) > 0


def test_eth_get_balance_of_the_funded_account(chain):
    assert as_number(chain.result("eth_getBalance", chain.funded_address, "latest")) > 10**18


def test_eth_get_transaction_count_counts_sent_transactions(chain, probe):
    assert as_number(chain.result("eth_getTransactionCount", chain.funded_address, "latest")) >= 2


def test_eth_get_code_is_the_probes_runtime(chain, probe):
    assert chain.result("eth_getCode", probe.address, "latest") == PROBE_RUNTIME


def test_eth_get_transaction_receipt_of_a_deployment(chain, probe):
    receipt = chain.result("eth_getTransactionReceipt", probe.deployment["transactionHash"])

    assert (receipt["status"], receipt["to"], receipt["contractAddress"]) == ("0x1", None, probe.address)


def test_eth_get_transaction_by_hash(chain, probe):
    transaction = chain.result("eth_getTransactionByHash", probe.ping["transactionHash"])

    assert (transaction["from"].lower(), transaction["to"].lower()) == (
        chain.funded_address.lower(),
        probe.address.lower(),
    )


def test_eth_get_block_by_number_lists_its_transaction_hashes(chain, probe):
    block = chain.result("eth_getBlockByNumber", probe.ping["blockNumber"], False)

    assert block["transactions"] == [probe.ping["transactionHash"]]


def test_eth_get_block_by_number_with_full_transactions(chain, probe):
    block = chain.result("eth_getBlockByNumber", probe.deployment["blockNumber"], True)

    assert [(tx["hash"], tx["input"]) for tx in block["transactions"]] == [
        (probe.deployment["transactionHash"], PROBE_INIT)
    ]


def test_eth_get_block_by_hash(chain, probe):
    block = chain.result("eth_getBlockByHash", probe.ping["blockHash"], False)

    assert block["number"] == probe.ping["blockNumber"]


def test_eth_get_logs_over_a_block_range(chain, probe):
    logs = chain.result(
        "eth_getLogs",
        {"fromBlock": probe.deployment["blockNumber"], "toBlock": "latest", "address": probe.address},
    )

    assert [(log["topics"], as_number(log["data"])) for log in logs] == [([PING_TOPIC], 42)]


def test_eth_get_logs_by_block_hash(chain, probe):
    logs = chain.result("eth_getLogs", {"blockHash": probe.ping["blockHash"]})

    assert [log["transactionHash"] for log in logs] == [probe.ping["transactionHash"]]


def test_eth_send_raw_transaction_transfers_ether(chain):
    balance_before = as_number(chain.result("eth_getBalance", RECIPIENT, "latest"))

    receipt = chain.send_raw(to=RECIPIENT, value=12345, gas=21_000)

    assert receipt["status"] == "0x1"
    assert as_number(chain.result("eth_getBalance", RECIPIENT, "latest")) == balance_before + 12345


def test_denied_method_hidden_in_a_batch_leaves_the_rest_answered_by_the_chain(chain):
    transfer = {"from": chain.funded_address, "to": RECIPIENT, "value": "0x1"}
    batch = [
        {"jsonrpc": "2.0", "id": "number", "method": "eth_blockNumber", "params": []},
        {"jsonrpc": "2.0", "id": "send", "method": "eth_sendTransaction", "params": [transfer]},
    ]

    number, send = chain.client.post("/rpc", json=batch).get_json()

    assert (number["id"], as_number(number["result"]) >= 0) == ("number", True)
    assert (send["id"], send["error"]["code"]) == ("send", -32601)


def test_eth_send_transaction_from_an_account_the_node_holds_sends_nothing(chain):
    # anvil holds its dev accounts' keys and would sign this if it were forwarded.
    nonce_before = chain.result("eth_getTransactionCount", chain.funded_address, "latest")
    chain.call("eth_sendTransaction", {"from": chain.funded_address, "to": RECIPIENT, "value": "0x1"})

    assert chain.result("eth_getTransactionCount", chain.funded_address, "pending") == nonce_before
