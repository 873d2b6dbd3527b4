"""Making a bilateral contract: proposal and acceptance, both signatures at once (EIP-712), the
checks on terms and parties, and the retail wallets."""

from dataclasses import replace

import ape
import pytest
from eth_account import Account

from p2pkit.retail.terms import ContractState, TermField, sign_terms, terms_digest
from retail.support import UNIT, assert_conserved

HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
ORDER = 2 * HALF_ORDER + 1


def signatures(bilateral, chain, t, nonce, buyer, seller):
    return [sign_terms(party.private_key, t, nonce, chain.chain_id, bilateral.address) for party in (buyer, seller)]


# ---------------------------------------------------------------- proposal and acceptance


def test_proposal_waits_for_the_other_party(bilateral, parties, terms, buyer):
    receipt = bilateral.propose(terms().as_abi(), sender=buyer)
    (proposed,) = receipt.events.filter(bilateral.ContractProposed)
    assert (proposed.proposer, bilateral.contractOf(proposed.id).state) == (buyer, ContractState.PROPOSED)


def test_acceptance_locks_both_deposits(bilateral, parties, terms, buyer, retailer):
    bilateral.propose(terms().as_abi(), sender=buyer)
    bilateral.accept(1, sender=retailer)
    assert (bilateral.walletOf(buyer), bilateral.walletOf(retailer), bilateral.totals().held) == (
        900 * UNIT,
        900 * UNIT,
        200 * UNIT,
    )


def test_acceptance_activates_the_contract(bilateral, parties, terms, buyer, retailer):
    bilateral.propose(terms().as_abi(), sender=buyer)
    receipt = bilateral.accept(1, sender=retailer)
    assert [e.event_name for e in receipt.events] == ["ContractActivated"]
    assert bilateral.contractOf(1).state == ContractState.ACTIVE


def test_seller_may_propose_and_the_buyer_accept(bilateral, parties, terms, buyer, retailer):
    bilateral.propose(terms().as_abi(), sender=retailer)
    bilateral.accept(1, sender=buyer)
    assert bilateral.contractOf(1).proposer == retailer


def test_the_proposer_cannot_accept_its_own_proposal(bilateral, parties, terms, buyer):
    bilateral.propose(terms().as_abi(), sender=buyer)
    with ape.reverts(bilateral.NotAParty, caller=buyer):
        bilateral.accept(1, sender=buyer)


def test_a_stranger_cannot_propose_for_others(bilateral, parties, terms, stranger):
    with ape.reverts(bilateral.NotAParty, caller=stranger):
        bilateral.propose(terms().as_abi(), sender=stranger)


def test_either_party_may_cancel_a_proposal(bilateral, parties, terms, buyer, retailer):
    bilateral.propose(terms().as_abi(), sender=buyer)
    receipt = bilateral.cancel(1, sender=retailer)
    assert receipt.events == [bilateral.ContractCancelled(id=1, by=retailer)]


def test_cancelled_proposal_cannot_be_accepted(bilateral, parties, terms, buyer, retailer):
    bilateral.propose(terms().as_abi(), sender=buyer)
    bilateral.cancel(1, sender=buyer)
    with ape.reverts(bilateral.WrongState, id=1, actual=ContractState.CANCELLED):
        bilateral.accept(1, sender=retailer)


def test_a_stranger_cannot_cancel(bilateral, parties, terms, buyer, stranger):
    bilateral.propose(terms().as_abi(), sender=buyer)
    with ape.reverts(bilateral.NotAParty, caller=stranger):
        bilateral.cancel(1, sender=stranger)


def test_acceptance_without_the_deposit_in_the_wallet_is_refused(bilateral, parties, terms, buyer, retailer):
    bilateral.propose(terms(seller_deposit=5000 * UNIT).as_abi(), sender=buyer)
    with ape.reverts(bilateral.InsufficientWallet, account=retailer, wallet=1000 * UNIT, required=5000 * UNIT):
        bilateral.accept(1, sender=retailer)


def test_proposal_accepted_after_its_first_month_began_is_refused(bilateral, parties, terms, buyer, retailer, clock):
    bilateral.propose(terms().as_abi(), sender=buyer)
    clock.at(1)
    with ape.reverts(bilateral.TermStarted, firstMonth=1, currentMonth=1):
        bilateral.accept(1, sender=retailer)


def test_producer_of_the_market_may_sell(bilateral, parties, terms, buyer, producer):
    bilateral.propose(terms(seller=producer.address).as_abi(), sender=buyer)
    bilateral.accept(1, sender=producer)
    assert bilateral.contractOf(1).state == ContractState.ACTIVE


def test_contract_under_the_sellers_plan(bilateral, plans, parties, terms, buyer, retailer):
    plans.publishPlan((0, UNIT, [], [], 500, 20_000, 3, [(1, 60)]), sender=retailer)
    bilateral.propose(terms(plan_id=1).as_abi(), sender=buyer)
    assert bilateral.contractOf(1).terms.planId == 1


# ---------------------------------------------------------------- terms and parties


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"seller": "buyer"}, TermField.PARTIES),
        ({"third_party": "buyer"}, TermField.THIRD_PARTY),
        ({"monthly_wh": 0}, TermField.MONTHLY_ENERGY),
        ({"direct_price": 0}, TermField.PRICES),
        ({"upper_band_bps": 9_999}, TermField.BANDS),
        ({"lower_band_bps": 10_001}, TermField.BANDS),
        ({"excess_factor_bps": 9_000}, TermField.EXCESS_FACTOR),
        ({"months": 0}, TermField.MONTHS),
        ({"months": 121}, TermField.MONTHS),
        ({"first_month": 200}, TermField.FIRST_MONTH),
        ({"plan_id": 7}, TermField.PLAN),
    ],
)
def test_invalid_terms_are_refused_naming_the_field(bilateral, parties, terms, buyer, change, field):
    change = {k: buyer.address if v == "buyer" else v for k, v in change.items()}
    with ape.reverts(bilateral.InvalidTerms, field=field):
        bilateral.propose(terms(**change).as_abi(), sender=buyer)


def test_term_starting_in_the_current_month_is_refused(bilateral, parties, terms, buyer):
    with ape.reverts(bilateral.TermStarted, firstMonth=0, currentMonth=0):
        bilateral.propose(terms(first_month=0).as_abi(), sender=buyer)


def test_buyer_not_authorized_by_the_market_is_refused(bilateral, market, parties, terms, operator, buyer):
    market.setAuthorization(buyer, False, sender=operator)
    with ape.reverts(bilateral.NotAuthorized, account=buyer):
        bilateral.propose(terms().as_abi(), sender=buyer)


def test_seller_neither_retailer_nor_producer_is_refused(
    bilateral, plans, market, parties, terms, operator, buyer, accounts
):
    consumer = accounts[22]
    market.register("another office", False, False, sender=consumer)
    market.setAuthorization(consumer, True, sender=operator)
    with ape.reverts(bilateral.NotASeller, account=consumer):
        bilateral.propose(terms(seller=consumer.address).as_abi(), sender=buyer)


def test_party_without_a_meter_is_refused(bilateral, market, plans, parties, terms, operator, buyer, accounts):
    unmetered = accounts[22]
    market.register("retailer without meter", True, False, sender=unmetered)
    plans.setRetailer(unmetered, True, sender=operator)
    with ape.reverts(bilateral.NoMeter, account=unmetered):
        bilateral.propose(terms(seller=unmetered.address).as_abi(), sender=buyer)


def test_proposal_under_a_plan_withdrawn_since_cannot_be_accepted(bilateral, plans, parties, terms, buyer, retailer):
    plans.publishPlan((0, UNIT, [], [], 500, 20_000, 3, [(1, 60)]), sender=retailer)
    bilateral.propose(terms(plan_id=1).as_abi(), sender=buyer)
    plans.withdrawPlan(1, sender=retailer)
    with ape.reverts(bilateral.InvalidTerms, field=TermField.PLAN):
        bilateral.accept(1, sender=retailer)


def test_plan_of_another_retailer_is_refused(bilateral, plans, parties, terms, buyer, retailer, producer):
    plans.publishPlan((0, UNIT, [], [], 500, 20_000, 3, [(1, 60)]), sender=retailer)
    with ape.reverts(bilateral.InvalidTerms, field=TermField.PLAN):
        bilateral.propose(terms(seller=producer.address, plan_id=1).as_abi(), sender=buyer)


# ---------------------------------------------------------------- both signatures at once


def test_both_signatures_make_an_active_contract(bilateral, chain, parties, terms, buyer, retailer, keeper):
    t = terms()
    receipt = bilateral.signContract(t.as_abi(), 7, *signatures(bilateral, chain, t, 7, buyer, retailer), sender=keeper)
    assert [e.event_name for e in receipt.events] == ["ContractActivated"]
    assert (bilateral.contractOf(1).state, bilateral.contractOf(1).proposer) == (
        ContractState.ACTIVE,
        ape.utils.ZERO_ADDRESS,
    )


def test_digest_is_the_one_eth_account_signs(bilateral, chain, terms):
    t = terms()
    assert bilateral.termsDigest(t.as_abi(), 3) == terms_digest(t, 3, chain.chain_id, bilateral.address)


def test_signed_terms_work_once(bilateral, chain, parties, terms, buyer, retailer, keeper):
    t = terms()
    signed = signatures(bilateral, chain, t, 7, buyer, retailer)
    bilateral.signContract(t.as_abi(), 7, *signed, sender=keeper)
    with ape.reverts(bilateral.TermsAlreadyUsed):
        bilateral.signContract(t.as_abi(), 7, *signed, sender=keeper)


def test_same_terms_with_another_nonce_make_another_contract(bilateral, chain, parties, terms, buyer, retailer, keeper):
    t = terms()
    for nonce in (1, 2):
        bilateral.signContract(
            t.as_abi(), nonce, *signatures(bilateral, chain, t, nonce, buyer, retailer), sender=keeper
        )
    assert bilateral.contractCount() == 2


def test_signature_of_someone_else_is_refused(bilateral, chain, parties, terms, buyer, retailer, stranger, keeper):
    t = terms()
    buyer_signature, _ = signatures(bilateral, chain, t, 7, buyer, retailer)
    forged = sign_terms(stranger.private_key, t, 7, chain.chain_id, bilateral.address)
    with ape.reverts(bilateral.InvalidSignature, expected=retailer, recovered=stranger):
        bilateral.signContract(t.as_abi(), 7, buyer_signature, forged, sender=keeper)


def test_signature_of_other_terms_is_refused(bilateral, chain, parties, terms, buyer, retailer, keeper):
    t = terms()
    signed = signatures(bilateral, chain, t, 7, buyer, retailer)
    with ape.reverts(bilateral.InvalidSignature):
        bilateral.signContract(replace(t, seller_deposit=0).as_abi(), 7, *signed, sender=keeper)


def test_malleated_signature_is_refused(bilateral, chain, parties, terms, buyer, retailer, keeper):
    t = terms()
    buyer_signature, seller_signature = signatures(bilateral, chain, t, 7, buyer, retailer)
    r, s, v = seller_signature[:32], int.from_bytes(seller_signature[32:64], "big"), seller_signature[64]
    flipped = r + (ORDER - s).to_bytes(32, "big") + bytes([55 - v])  # the same signer, high s
    assert Account._recover_hash(terms_digest(t, 7, chain.chain_id, bilateral.address), signature=flipped) == retailer
    with ape.reverts(bilateral.InvalidSignature, expected=retailer, recovered=ape.utils.ZERO_ADDRESS):
        bilateral.signContract(t.as_abi(), 7, buyer_signature, flipped, sender=keeper)


def test_truncated_signature_is_refused(bilateral, chain, parties, terms, buyer, retailer, keeper):
    t = terms()
    buyer_signature, seller_signature = signatures(bilateral, chain, t, 7, buyer, retailer)
    with ape.reverts(bilateral.InvalidSignature):
        bilateral.signContract(t.as_abi(), 7, buyer_signature, seller_signature[:64], sender=keeper)


# ---------------------------------------------------------------- wallets


def test_deposit_adds_to_the_wallet(bilateral, buyer):
    receipt = bilateral.deposit(sender=buyer, value=5 * UNIT)
    assert receipt.events == [bilateral.Deposited(account=buyer, amount=5 * UNIT, wallet=5 * UNIT)]


def test_withdrawal_pays_out_of_the_wallet(bilateral, buyer):
    bilateral.deposit(sender=buyer, value=5 * UNIT)
    before = buyer.balance
    receipt = bilateral.withdraw(2 * UNIT, sender=buyer)
    assert buyer.balance == before + 2 * UNIT - receipt.total_fees_paid
    assert bilateral.walletOf(buyer) == 3 * UNIT


def test_withdrawal_above_the_wallet_is_refused(bilateral, buyer):
    bilateral.deposit(sender=buyer, value=5 * UNIT)
    with ape.reverts(bilateral.InsufficientWallet, account=buyer, wallet=5 * UNIT, required=6 * UNIT):
        bilateral.withdraw(6 * UNIT, sender=buyer)


def test_locked_deposit_cannot_be_withdrawn(bilateral, parties, activate, terms, buyer):
    activate(terms())
    with ape.reverts(bilateral.InsufficientWallet):
        bilateral.withdraw(1000 * UNIT, sender=buyer)


@pytest.mark.parametrize("call", ["deposit", "withdraw"])
def test_zero_amounts_are_refused(bilateral, buyer, call):
    with ape.reverts(bilateral.ZeroAmount):
        bilateral.deposit(sender=buyer, value=0) if call == "deposit" else bilateral.withdraw(0, sender=buyer)


def test_wallets_and_deposits_add_up_to_what_was_paid_in(
    bilateral, parties, activate, terms, buyer, retailer, producer, grid
):
    activate(terms())
    bilateral.withdraw(50 * UNIT, sender=retailer)
    assert_conserved(bilateral, [buyer, retailer, producer, grid])
