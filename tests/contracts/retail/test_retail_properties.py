"""On random terms, readings (some missing), wallets and deposits, the contract settles every
month exactly like the plain-Python reference (payments, shortfalls, states, wallets), and
money is conserved to the wei after every step."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pkit.retail.terms import ContractState, MonthResult, sign_terms
from retail.conftest import RATED_POWER_W
from retail.support import UNIT, assert_conserved
from sim import retail_reference as reference

CAPACITY_WH = RATED_POWER_W * 30 * 24
prices = st.integers(1, 2 * UNIT)
readings = st.one_of(st.none(), st.integers(0, CAPACITY_WH))


@st.composite
def examples(draw):
    months = draw(st.integers(1, 3))
    deposits = [draw(st.integers(0, 3000 * UNIT)) for _ in range(2)]
    return {
        "seller": draw(st.sampled_from(["retailer", "producer"])),
        "signed": draw(st.booleans()),
        "terms": {
            "months": months,
            "monthly_wh": draw(st.integers(1, 5000_000)),
            "direct_price": draw(prices),
            "catalogue_price": draw(prices),
            "penalty_rate": draw(st.integers(0, UNIT)),
            "upper_band_bps": draw(st.integers(10_000, 13_000)),
            "lower_band_bps": draw(st.integers(0, 10_000)),
            "excess_factor_bps": draw(st.integers(10_000, 20_000)),
            "buyer_deposit": deposits[0],
            "seller_deposit": deposits[1],
        },
        # what each wallet holds beyond its deposit at activation
        "spare": [draw(st.integers(0, 3000 * UNIT)) for _ in range(2)],
        "months": [(draw(readings), draw(readings)) for _ in range(months)],
        "batch": draw(st.booleans()),
    }


def fund(bilateral, account, amount):
    """Leave exactly `amount` in the account's retail wallet."""
    wallet = bilateral.walletOf(account)
    if wallet > amount:
        bilateral.withdraw(wallet - amount, sender=account)
    elif wallet < amount:
        bilateral.deposit(sender=account, value=amount - wallet)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(example=examples())
def test_contract_settles_like_the_reference(
    chain, bilateral, parties, terms, meters, clock, buyer, retailer, producer, grid, keeper, example
):
    snapshot = chain.snapshot()
    try:
        seller = retailer if example["seller"] == "retailer" else producer
        t = terms(seller=seller.address, first_month=bilateral.currentMonth() + 1, **example["terms"])
        fund(bilateral, buyer, t.buyer_deposit + example["spare"][0])
        fund(bilateral, seller, t.seller_deposit + example["spare"][1])
        if example["signed"]:
            signed = [sign_terms(p.private_key, t, 1, chain.chain_id, bilateral.address) for p in (buyer, seller)]
            bilateral.signContract(t.as_abi(), 1, *signed, sender=keeper)
        else:
            bilateral.propose(t.as_abi(), sender=seller)
            bilateral.accept(bilateral.contractCount(), sender=buyer)
        contract_id = bilateral.contractCount()
        everyone = [buyer, retailer, producer, grid]
        assert_conserved(bilateral, everyone)

        ledger = reference.Ledger()
        for account in (buyer, seller, grid):
            ledger.wallets[account.address] = bilateral.walletOf(account)
        ledger.wallets[buyer.address] += t.buyer_deposit  # the reference locks them itself
        ledger.wallets[seller.address] += t.seller_deposit
        model = reference.activate(ledger, reference.with_third_party(t, grid.address))

        for offset, (buyer_wh, seller_wh) in enumerate(example["months"]):
            month = t.first_month + offset
            if buyer_wh is not None:
                meters.post(buyer, month, buyer_wh)
            if seller_wh is not None:
                meters.post(seller, month, seller_wh)
            if buyer_wh is None or seller_wh is None:
                clock.after_deadline(month)
            else:
                clock.at(month + 1, 20)
            if example["batch"]:
                receipt = bilateral.settleBatch(contract_id, 1, sender=keeper)
            else:
                receipt = bilateral.settle(contract_id, sender=keeper)
            (event,) = receipt.events.filter(bilateral.MonthSettled)
            expected = reference.settle_month(ledger, model, buyer_wh, seller_wh, CAPACITY_WH)
            assert MonthResult.of(event.result) == expected
            record = bilateral.contractOf(contract_id)
            assert (record.state, record.settledMonths) == (model.state, model.settled_months)
            assert (record.buyerShortfall, record.sellerShortfall) == (model.buyer_shortfall, model.seller_shortfall)
            assert [bilateral.walletOf(a) for a in (buyer, seller, grid)] == [
                ledger.wallets[a.address] for a in (buyer, seller, grid)
            ]
            assert_conserved(bilateral, everyone)
            if model.state is not ContractState.ACTIVE:
                break
    finally:
        chain.restore(snapshot)


@pytest.mark.parametrize(
    ("readings", "deposits", "shortfalls"),
    [
        # buyer over the band: it owes 420 + 33, its wallet is empty, its deposit a wei short
        ((1100_000, 1000_000), (453 * UNIT - 1, 100 * UNIT), (1, 0)),
        # nothing used, nothing fed in: the seller receives the penalty 19 and owes 190; its wallet
        # is empty, its deposit a wei short of the rest
        ((0, 0), (100 * UNIT, 171 * UNIT - 1), (0, 1)),
    ],
)
def test_deposit_a_wei_short_defaults_by_a_wei(
    bilateral, parties, activate, terms, meters, buyer, retailer, readings, deposits, shortfalls
):
    t = terms(buyer_deposit=deposits[0], seller_deposit=deposits[1])
    fund(bilateral, buyer, t.buyer_deposit)
    fund(bilateral, retailer, t.seller_deposit)
    contract_id = activate(t)
    meters.post(buyer, 1, readings[0])
    meters.post(retailer, 1, readings[1])
    receipt = bilateral.settle(contract_id, sender=buyer)
    (defaulted,) = receipt.events.filter(bilateral.ContractDefaulted)
    assert (defaulted.buyerShortfall, defaulted.sellerShortfall) == shortfalls
