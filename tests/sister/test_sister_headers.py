"""Header encoding and receipt tries from web3 blocks, checked against every chain that runs
here: the block hash must be keccak(rlp(header)) and the rebuilt receipt trie's root the
block's receiptsRoot, on blocks with legacy and typed transactions and with logs.

Chains: the embedded chain of the tests (Prague headers, 21 fields), plain eth-tester (whose
padded extraData the encoder must notice), anvil at its default hardfork and at London (16
fields, as Geth 1.11), and `geth --dev` 1.11.6 (London clique headers, difficulty 1 and 2) when
Geth is installed.
"""

from __future__ import annotations

import pytest
import rlp
from eth_account import Account
from eth_utils import keccak
from trie import HexaryTrie
from web3 import EthereumTesterProvider, Web3
from web3.middleware import ExtraDataToPOAMiddleware

from devnet.embedded import dev_accounts as embedded_dev_accounts
from devnet.embedded import embedded_chain
from devnet.geth import GethUnavailable, geth_binary
from devnet.nodes import ANVIL_FUNDED_KEY, anvil, free_port, node_process
from p2pkit.sister.headers import HeaderMismatch, encode_header
from p2pkit.sister.proofs import ReceiptsMismatch, block_receipt_trie, encode_receipt, proof_nodes, receipt_key

# Init code deploying a contract that emits LOG1(topic 7, data 42) whenever called.
LOGGER_INIT = bytes.fromhex("600d600c600039600d6000f3" + "602a600052600760206000a100")
EMPTY_TRIE_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")


def fill_blocks(w3: Web3, send) -> None:
    """Blocks with a legacy and a dynamic-fee deployment, calls that log, and a block with
    several transactions where the chain lets a test put them together (anvil)."""
    logger = send({"data": LOGGER_INIT, "gas": 100_000}, legacy=True)["contractAddress"]
    send({"data": LOGGER_INIT, "gas": 100_000}, legacy=False)
    send({"to": logger, "gas": 50_000}, legacy=True)
    send({"to": logger, "gas": 50_000}, legacy=False)


def signed_sender(w3: Web3, key: str | bytes):
    account = Account.from_key(key)

    def send(fields: dict, legacy: bool) -> dict:
        tx = {**fields, "nonce": w3.eth.get_transaction_count(account.address), "chainId": w3.eth.chain_id}
        if legacy:
            tx["gasPrice"] = 2 * w3.eth.gas_price
        else:
            tx.update(maxFeePerGas=2 * w3.eth.gas_price, maxPriorityFeePerGas=1)
        tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        return w3.eth.wait_for_transaction_receipt(tx_hash)

    return send


def assert_every_block_encodes(w3: Web3, first: int = 0) -> int:
    """Check every block from ``first``; the number of header fields of the last one."""
    fields = 0
    for number in range(first, w3.eth.block_number + 1):
        block = w3.eth.get_block(number)
        header = encode_header(block)
        assert keccak(header) == bytes(block["hash"])
        assert block_receipt_trie(w3, block).root_hash == bytes(block["receiptsRoot"])
        fields = len(rlp.decode(header))
    return fields


def test_mainnet_genesis_header_hashes_to_its_known_hash():
    genesis = {
        "parentHash": bytes(32),
        "sha3Uncles": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
        "miner": "0x0000000000000000000000000000000000000000",
        "stateRoot": "0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544",
        "transactionsRoot": EMPTY_TRIE_ROOT,
        "receiptsRoot": EMPTY_TRIE_ROOT,
        "logsBloom": b"",
        "difficulty": 17_179_869_184,
        "number": 0,
        "gasLimit": 5000,
        "gasUsed": 0,
        "timestamp": 0,
        "extraData": "0x11bbe8db4e347b4e8c937c1c8370e4b5ed33adb3db69cbdb7a38e1e50b1b82fa",
        "mixHash": bytes(32),
        "nonce": "0x0000000000000042",
        "hash": bytes.fromhex("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"),
    }
    assert keccak(encode_header(genesis)) == genesis["hash"]


def test_a_header_that_does_not_hash_to_the_block_hash_is_refused():
    block = dict(embedded_chain(1).eth.get_block(0))
    block["gasLimit"] += 1
    with pytest.raises(HeaderMismatch, match="block 0"):
        encode_header(block)


def test_typed_receipt_is_its_type_byte_then_the_rlp_list():
    receipt = {"type": 2, "status": 1, "cumulativeGasUsed": 21_000, "logs": []}
    expected = bytes.fromhex("02" + "f90108" + "01" + "825208" + "b90100") + bytes(256) + bytes.fromhex("c0")
    assert encode_receipt(receipt) == expected
    assert encode_receipt({**receipt, "type": 0}) == expected[1:]


def test_receipt_bloom_is_computed_from_the_logs():
    log = {"address": "0x" + "11" * 20, "topics": [b"\x07".rjust(32, b"\0")], "data": b"*"}
    receipt = rlp.decode(encode_receipt({"type": 0, "status": 1, "cumulativeGasUsed": 1, "logs": [log]}))
    bloom = int.from_bytes(receipt[2], "big")
    assert bloom.bit_count() in range(4, 7)  # 3 bits each for the address and the topic


@pytest.fixture
def embedded_w3():
    return embedded_chain(46601)


def test_embedded_chain_headers_and_receipts_rebuild(embedded_w3):
    operator = embedded_dev_accounts(embedded_w3)[0]
    fill_blocks(embedded_w3, signed_sender(embedded_w3, operator.key))
    assert assert_every_block_encodes(embedded_w3) == 21
    assert embedded_w3.eth.chain_id == 46601


def test_plain_eth_tester_reports_a_padded_extra_data_the_encoder_notices():
    w3 = Web3(EthereumTesterProvider())
    with pytest.raises(HeaderMismatch):
        encode_header(w3.eth.get_block(0))


def test_receipts_that_do_not_rebuild_the_root_are_refused(embedded_w3):
    operator = embedded_dev_accounts(embedded_w3)[0]
    fill_blocks(embedded_w3, signed_sender(embedded_w3, operator.key))
    block = dict(embedded_w3.eth.get_block(embedded_w3.eth.block_number))
    block["receiptsRoot"] = EMPTY_TRIE_ROOT
    with pytest.raises(ReceiptsMismatch):
        block_receipt_trie(embedded_w3, block)


def test_proof_nodes_prove_each_receipt_of_a_large_trie():
    receipts = [
        {"type": index % 3, "status": 1, "cumulativeGasUsed": 21_000 * (index + 1), "logs": []} for index in range(300)
    ]
    trie = HexaryTrie({})
    for index, receipt in enumerate(receipts):
        trie[receipt_key(index)] = encode_receipt(receipt)
    for index in (0, 1, 127, 128, 255, 256, 299):
        nodes = [rlp.decode(node) for node in proof_nodes(trie, index)]
        assert HexaryTrie.get_from_proof(trie.root_hash, receipt_key(index), nodes) == encode_receipt(receipts[index])


@pytest.mark.parametrize("hardfork, fields", [(None, 21), ("london", 16), ("shanghai", 17), ("cancun", 20)])
def test_anvil_headers_and_receipts_rebuild(hardfork, fields):
    with anvil(*(["--hardfork", hardfork] if hardfork else [])) as url:
        w3 = Web3(Web3.HTTPProvider(url))
        fill_blocks(w3, signed_sender(w3, ANVIL_FUNDED_KEY))
        # anvil reports its London genesis with fields that do not hash to its hash; checkpoints
        # are later blocks anyway.
        assert assert_every_block_encodes(w3, first=1) == fields


def test_anvil_block_with_many_transactions_rebuilds():
    with anvil("--no-mining") as url:
        w3 = Web3(Web3.HTTPProvider(url))
        account = Account.from_key(ANVIL_FUNDED_KEY)
        for nonce in range(40):
            fees = {"maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1} if nonce % 2 else {"gasPrice": 10**10}
            tx = {"to": account.address, "value": 1, "gas": 21_000, "nonce": nonce, "chainId": w3.eth.chain_id, **fees}
            w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        w3.provider.make_request("evm_mine", [])
        block = w3.eth.get_block("latest")
        assert len(block["transactions"]) == 40
        assert block_receipt_trie(w3, block).root_hash == bytes(block["receiptsRoot"])


def geth_dev(tmp_path):
    try:
        geth = geth_binary()
    except GethUnavailable as error:
        pytest.skip(f"Geth is not installed and cannot be installed here: {error}")
    port = free_port()
    return node_process(
        [
            str(geth),
            "--dev",
            "--datadir",
            str(tmp_path / "geth"),
            "--http",
            "--http.addr",
            "127.0.0.1",
            "--http.port",
            str(port),
            "--http.api",
            "eth,net,web3",
            "--authrpc.port",
            str(free_port()),
            "--port",
            "0",
            "--nodiscover",
            "--maxpeers",
            "0",
            "--ipcdisable",
            "--verbosity",
            "1",
        ],
        f"http://127.0.0.1:{port}",
    )


def test_geth_dev_headers_and_receipts_rebuild(tmp_path):
    with geth_dev(tmp_path) as url:
        w3 = Web3(Web3.HTTPProvider(url))
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)  # clique's seal in extraData
        developer = w3.eth.accounts[0]

        def send(fields: dict, legacy: bool) -> dict:
            tx = {**fields, "from": developer}
            if legacy:
                tx["gasPrice"] = 2 * w3.eth.gas_price
            return w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(tx))

        fill_blocks(w3, send)
        assert assert_every_block_encodes(w3) == 16
        assert w3.eth.get_block("latest")["difficulty"] in (1, 2)
