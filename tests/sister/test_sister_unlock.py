"""Unlocks between the two chains, proven by hand (the relayer has its own tests): what an
accepted proof releases, and every way an unlock is refused, each leaving both chains as they
were."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
import rlp
from eth_utils import keccak
from sister_support import (
    CONFIRMATIONS,
    RESERVE,
    SUPPLY,
    THIRD_CHAIN_ID,
    USER_FUNDS,
    balance,
    chain_state,
    deploy_test_pair,
    lock,
    mine,
    mine_together,
    refusal,
    relay_headers,
    revert,
    snapshot,
)
from web3.logs import DISCARD

from devnet.embedded import dev_accounts as embedded_dev_accounts
from devnet.embedded import embedded_chain
from p2pkit.market import WEI_PER_ETHER
from p2pkit.sister.lock import LockTerms, SisterChain, deploy_light_client, deploy_lock, latest_header
from p2pkit.sister.proofs import ReceiptProof, block_receipt_trie, proof_nodes, receipt_proof
from p2pkit.sister.relay import LockEvent, unlock_proof
from p2pkit.transactions import send, transfer


def confirm(pair_side: SisterChain, destination: SisterChain, relayer, blocks: int = CONFIRMATIONS) -> None:
    mine(pair_side, blocks)
    relay_headers(pair_side, destination, relayer)


def unlock_call(destination: SisterChain, proof: ReceiptProof):
    return destination.lock.functions.unlock(*proof.as_args())


@pytest.fixture
def crowded_lock(pair, user, operator, stranger):
    """The user's lock of 100 (for the stranger) as transaction 7 of a block of 24: plain
    transfers, ledger transfers and the lock; proofs into this block have several nodes."""
    trading = pair.trading
    transactions = []
    for index in range(24):
        if index == 7:
            transactions.append((trading.lock.functions.lock(100, stranger.address), user))
        elif index % 2:
            transactions.append((trading.lock.functions.transfer(stranger.address, 1), operator))
        else:
            transactions.append(({"to": stranger.address, "value": 1, "gas": 21_000}, operator))
    receipts = mine_together(trading.w3, transactions)
    assert len({receipt["blockNumber"] for receipt in receipts}) == 1
    (log,) = trading.lock.events.Locked().process_receipt(receipts[7], errors=DISCARD)
    return receipts, LockEvent.of(log)


def both_states(pair, accounts, lock_ids=()):
    addresses = [account.address for account in accounts]
    return chain_state(pair.trading, addresses, lock_ids), chain_state(pair.scheduling, addresses, lock_ids)


# ---------------------------------------------------------------------- accepted


def test_a_proven_lock_releases_its_amount_once(pair, user, stranger, relayer):
    event = lock(pair.trading, user, 100, stranger.address)
    confirm(pair.trading, pair.scheduling, relayer)
    receipt = send(pair.scheduling.w3, unlock_call(pair.scheduling, unlock_proof(pair.trading.w3, event)), stranger)
    (unlocked,) = pair.scheduling.lock.events.Unlocked().process_receipt(receipt, errors=DISCARD)
    assert unlocked["args"]["lockId"] == event.lock_id
    assert (unlocked["args"]["amount"], unlocked["args"]["released"]) == (100, 100)
    assert unlocked["args"]["sourceBlock"] == event.block_hash
    assert balance(pair.scheduling, stranger.address) == 100
    assert pair.scheduling.lock.functions.reserve().call() == RESERVE - 100
    assert pair.trading.lock.functions.reserve().call() == RESERVE + 100
    assert balance(pair.trading, user.address) == USER_FUNDS - 100


def test_a_lock_names_the_other_chain_and_gets_a_unique_id(pair, user):
    first, second = lock(pair.trading, user, 1), lock(pair.trading, user, 1)
    assert first.target_chain_id == pair.scheduling.chain_id
    assert first.lock_id == keccak(
        pair.trading.chain_id.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(pair.trading.lock.address[2:])
        + (1).to_bytes(32, "big")
    )
    assert first.lock_id != second.lock_id


def test_a_proof_deep_in_a_crowded_block_is_accepted(pair, crowded_lock, stranger, relayer):
    _, event = crowded_lock
    confirm(pair.trading, pair.scheduling, relayer)
    proof = unlock_proof(pair.trading.w3, event)
    assert len(proof.nodes) >= 2 and proof.transaction_index == 7
    send(pair.scheduling.w3, unlock_call(pair.scheduling, proof), stranger)
    assert balance(pair.scheduling, stranger.address) == 100


def test_the_rate_is_applied_and_rounded_down(trading_w3, scheduling_w3, operator, relayer, user):
    pair = deploy_test_pair(trading_w3, scheduling_w3, operator, [relayer.address], scheduling_rate=Fraction(2, 3))
    send(trading_w3, pair.trading.lock.functions.transfer(user.address, 100), operator)
    event = lock(pair.trading, user, 100)
    confirm(pair.trading, pair.scheduling, relayer)
    send(scheduling_w3, unlock_call(pair.scheduling, unlock_proof(trading_w3, event)), user)
    assert balance(pair.scheduling, user.address) == 66  # floor(100 x 2 / 3)
    assert pair.scheduling.lock.functions.reserve().call() == RESERVE - 66


def test_a_typed_and_a_legacy_lock_transaction_both_prove(pair, user, relayer):
    legacy_tx = pair.trading.lock.functions.lock(5, user.address).build_transaction(
        {
            "from": user.address,
            "nonce": pair.trading.w3.eth.get_transaction_count(user.address),
            "gas": 200_000,
            "gasPrice": 2 * pair.trading.w3.eth.gas_price,
        }
    )
    tx_hash = pair.trading.w3.eth.send_raw_transaction(user.sign_transaction(legacy_tx).raw_transaction)
    legacy = pair.trading.w3.eth.wait_for_transaction_receipt(tx_hash)
    assert legacy["type"] == 0
    typed = lock(pair.trading, user, 7)
    confirm(pair.trading, pair.scheduling, relayer)
    send(
        pair.scheduling.w3,
        unlock_call(pair.scheduling, receipt_proof(pair.trading.w3, tx_hash, legacy["logs"][0]["logIndex"])),
        user,
    )
    send(pair.scheduling.w3, unlock_call(pair.scheduling, unlock_proof(pair.trading.w3, typed)), user)
    assert balance(pair.scheduling, user.address) == USER_FUNDS + 12


# ---------------------------------------------------------------------- refused


def assert_refused(pair, proof, signer, accounts, name, arguments=None, lock_ids=()):
    before = both_states(pair, accounts, lock_ids)
    refused = refusal(pair.scheduling.w3, unlock_call(pair.scheduling, proof), signer)
    assert refused.name == name, refused
    if arguments is not None:
        assert refused.arguments == arguments
    assert both_states(pair, accounts, lock_ids) == before


def test_a_lock_with_fewer_confirmations_is_refused(pair, user, relayer):
    event = lock(pair.trading, user, 100)
    confirm(pair.trading, pair.scheduling, relayer, blocks=CONFIRMATIONS - 1)
    assert_refused(
        pair,
        unlock_proof(pair.trading.w3, event),
        user,
        [user],
        "NotEnoughConfirmations",
        (event.block_hash, CONFIRMATIONS - 1, CONFIRMATIONS),
        [event.lock_id],
    )


def test_a_lock_whose_headers_were_not_relayed_is_refused(pair, user):
    event = lock(pair.trading, user, 100)
    mine(pair.trading, CONFIRMATIONS)
    assert_refused(pair, unlock_proof(pair.trading.w3, event), user, [user], "UnknownHeader", (event.block_hash,))


def test_a_lock_on_a_branch_that_lost_is_refused(pair, user, relayer):
    fork_point = snapshot(pair.trading.w3)
    event = lock(pair.trading, user, 100)
    proof = unlock_proof(pair.trading.w3, event)
    confirm(pair.trading, pair.scheduling, relayer)
    revert(pair.trading.w3, fork_point)
    mine(pair.trading, CONFIRMATIONS + 3)  # a longer branch without the lock
    relay_headers(pair.trading, pair.scheduling, relayer)
    winner = bytes(pair.trading.w3.eth.get_block(event.block_number)["hash"])
    assert_refused(pair, proof, user, [user], "NotOnBestChain", (event.block_hash, winner), [event.lock_id])


def test_a_forged_receipt_is_refused(pair, crowded_lock, user, stranger, relayer):
    _, event = crowded_lock
    confirm(pair.trading, pair.scheduling, relayer)
    proof = unlock_proof(pair.trading.w3, event)
    leaf = rlp.decode(proof.nodes[-1])
    receipt = leaf[1]
    forged_receipt = receipt.replace((100).to_bytes(32, "big"), (10**6).to_bytes(32, "big"))
    assert forged_receipt != receipt
    forged = replace(proof, nodes=(*proof.nodes[:-1], rlp.encode([leaf[0], forged_receipt])))
    assert_refused(pair, forged, user, [user, stranger], "ProofNodeMismatch", (len(proof.nodes) - 1,), [event.lock_id])


def test_a_truncated_proof_is_refused(pair, crowded_lock, user, relayer):
    _, event = crowded_lock
    confirm(pair.trading, pair.scheduling, relayer)
    proof = unlock_proof(pair.trading.w3, event)
    shortened = replace(proof, nodes=proof.nodes[:-1])
    assert_refused(pair, shortened, user, [user], "ProofIncomplete", (len(proof.nodes) - 1,))
    cut = replace(proof, nodes=(*proof.nodes[:-1], proof.nodes[-1][:-10]))
    assert_refused(pair, cut, user, [user], "ProofNodeMismatch", (len(proof.nodes) - 1,))


def test_a_proof_of_another_transaction_is_refused(pair, crowded_lock, user, relayer):
    _, event = crowded_lock
    confirm(pair.trading, pair.scheduling, relayer)
    proof = unlock_proof(pair.trading.w3, event)
    # Keys 0x07 and 0x08 part at the second node, whose child for 8 is not the proof's next node.
    assert_refused(pair, replace(proof, transaction_index=8), user, [user], "ProofNodeMismatch", (2,))


def test_a_proof_for_a_transaction_the_block_does_not_have_is_refused(pair, crowded_lock, user, relayer):
    _, event = crowded_lock
    confirm(pair.trading, pair.scheduling, relayer)
    trie = block_receipt_trie(pair.trading.w3, pair.trading.w3.eth.get_block(event.block_number))
    first = replace(unlock_proof(pair.trading.w3, event), nodes=proof_nodes(trie, 0), transaction_index=0)
    # rlp(200) = 0x81c8 leaves the path of rlp(0) = 0x80 after their common first nibble.
    assert_refused(pair, replace(first, transaction_index=200), user, [user], "ProofPathMismatch")


def test_a_receipt_without_logs_is_refused(pair, crowded_lock, user, relayer):
    _, event = crowded_lock
    confirm(pair.trading, pair.scheduling, relayer)
    proof = unlock_proof(pair.trading.w3, event)
    trie = block_receipt_trie(pair.trading.w3, pair.trading.w3.eth.get_block(event.block_number))
    plain = replace(proof, nodes=proof_nodes(trie, 6), transaction_index=6, log_index=0)  # a plain transfer
    assert_refused(pair, plain, user, [user], "NoSuchLog", (0, 0))


def test_a_log_that_is_not_a_lock_event_is_refused(pair, crowded_lock, user, relayer):
    receipts, _ = crowded_lock
    confirm(pair.trading, pair.scheduling, relayer)
    transfer_log = receipts[5]["logs"][0]  # the trading lock's own Transfer event
    proof = receipt_proof(pair.trading.w3, receipts[5]["transactionHash"], transfer_log["logIndex"])
    assert_refused(pair, proof, user, [user], "NotALockEvent", (0, bytes(transfer_log["topics"][0])))


def test_a_lock_event_of_another_contract_is_refused(pair, operator, user, relayer):
    impostor_client = deploy_light_client(
        pair.trading.w3, operator, latest_header(pair.scheduling.w3), [relayer.address], 1
    )
    impostor = deploy_lock(
        pair.trading.w3, operator, impostor_client.address, pair.scheduling.chain_id, LockTerms(SUPPLY, RESERVE)
    )
    receipt = send(pair.trading.w3, impostor.functions.lock(1000, user.address), operator)
    log_index = receipt["logs"][0]["logIndex"]
    confirm(pair.trading, pair.scheduling, relayer)
    proof = receipt_proof(pair.trading.w3, receipt["transactionHash"], log_index)
    assert_refused(
        pair, proof, user, [user], "NotFromRemoteLock", (impostor.address.lower(), pair.trading.lock.address.lower())
    )


def test_a_lock_unlocked_before_is_refused(pair, user, relayer):
    event = lock(pair.trading, user, 100)
    confirm(pair.trading, pair.scheduling, relayer)
    proof = unlock_proof(pair.trading.w3, event)
    send(pair.scheduling.w3, unlock_call(pair.scheduling, proof), user)
    assert_refused(pair, proof, user, [user], "AlreadyUnlocked", (event.lock_id,), [event.lock_id])


def test_a_lock_proven_on_a_chain_it_does_not_name_is_refused(pair, operator, user, relayer):
    third_w3 = embedded_chain(THIRD_CHAIN_ID)  # an embedded chain beside the two anvil nodes
    third_operator = embedded_dev_accounts(third_w3)[0]
    for account in (relayer, user):
        transfer(third_w3, third_operator, account.address, WEI_PER_ETHER)
    client = deploy_light_client(third_w3, third_operator, latest_header(pair.trading.w3), [relayer.address], 1)
    third_lock = deploy_lock(
        third_w3, third_operator, client.address, pair.trading.chain_id, LockTerms(SUPPLY, RESERVE)
    )
    send(third_w3, third_lock.functions.setRemoteLock(pair.trading.lock.address), third_operator)
    third = SisterChain("third", third_w3, third_lock, client)
    event = lock(pair.trading, user, 100)  # for the scheduling chain
    confirm(pair.trading, third, relayer)
    before = chain_state(third, [user.address], [event.lock_id])
    refused = refusal(third_w3, unlock_call(third, unlock_proof(pair.trading.w3, event)), user)
    assert (refused.name, refused.arguments) == ("WrongTargetChain", (pair.scheduling.chain_id, THIRD_CHAIN_ID))
    assert chain_state(third, [user.address], [event.lock_id]) == before


def test_an_unlock_beyond_the_reserve_waits_until_it_is_funded(pair, operator, user, relayer):
    send(pair.scheduling.w3, pair.scheduling.lock.functions.withdrawReserve(RESERVE - 50), operator)
    event = lock(pair.trading, user, 100)
    confirm(pair.trading, pair.scheduling, relayer)
    proof = unlock_proof(pair.trading.w3, event)
    assert_refused(pair, proof, user, [user, operator], "InsufficientReserve", (50, 100), [event.lock_id])
    send(pair.scheduling.w3, pair.scheduling.lock.functions.fundReserve(100), operator)
    send(pair.scheduling.w3, unlock_call(pair.scheduling, proof), user)
    assert balance(pair.scheduling, user.address) == USER_FUNDS + 100


def test_a_header_with_a_forged_receipts_root_is_unknown(pair, user, relayer):
    event = lock(pair.trading, user, 100)
    confirm(pair.trading, pair.scheduling, relayer)
    proof = unlock_proof(pair.trading.w3, event)
    fields = rlp.decode(proof.header)
    fields[5] = keccak(b"a forger's receipt trie")
    forged_header = rlp.encode(fields)
    forged = replace(proof, header=forged_header)
    assert_refused(pair, forged, user, [user], "UnknownHeader", (keccak(forged_header),))


def test_a_lock_vouched_for_by_fewer_relayers_than_required_is_refused(
    trading_w3, scheduling_w3, operator, relayer, other_relayers, user
):
    pair = deploy_test_pair(trading_w3, scheduling_w3, operator, [relayer.address, other_relayers[0].address], 2)
    send(trading_w3, pair.trading.lock.functions.transfer(user.address, 100), operator)
    event = lock(pair.trading, user, 100)
    confirm(pair.trading, pair.scheduling, relayer)  # one relayer of the two
    assert_refused(pair, unlock_proof(trading_w3, event), user, [user], "UnknownHeader", (event.block_hash,))
    relay_headers(pair.trading, pair.scheduling, other_relayers[0])
    send(scheduling_w3, unlock_call(pair.scheduling, unlock_proof(trading_w3, event)), user)
    assert balance(pair.scheduling, user.address) == 100


def test_a_malformed_header_in_an_unlock_is_refused(pair, user, relayer):
    event = lock(pair.trading, user, 100)
    confirm(pair.trading, pair.scheduling, relayer)
    proof = unlock_proof(pair.trading.w3, event)
    assert_refused(pair, replace(proof, header=proof.header[:-1]), user, [user], "RlpTruncated")
