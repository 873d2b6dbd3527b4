"""Monthly settlement through the contract: the spec's three worked examples, missing readings,
defaults, the end of the term, and when a month may be settled."""

import ape
import pytest

from p2pkit.retail.terms import ContractState, MonthResult
from retail.support import KWH, UNIT, assert_conserved


def settled(receipt, bilateral) -> MonthResult:
    (event,) = receipt.events.filter(bilateral.MonthSettled)
    return MonthResult.of(event.result)


def settle_month_1(bilateral, meters, activate, terms, buyer, retailer, buyer_kwh, seller_kwh, **overrides):
    contract = activate(terms(**overrides))
    meters.post(buyer, 1, buyer_kwh * KWH)
    meters.post(retailer, 1, seller_kwh * KWH)
    return contract, bilateral.settle(contract, sender=buyer)


# ---------------------------------------------------------------- the worked examples


def test_buyer_over_the_band_pays_the_seller_1050_kwh_and_the_third_party_the_excess(
    bilateral, meters, activate, terms, buyer, retailer
):
    _, receipt = settle_month_1(bilateral, meters, activate, terms, buyer, retailer, 1100, 1000)
    result = settled(receipt, bilateral)
    assert (result.buyer_to_seller, result.buyer_to_third_party, result.seller_to_third_party) == (
        420 * UNIT,
        33 * UNIT,
        0,
    )


def test_buyer_under_the_band_pays_its_energy_and_the_penalty(bilateral, meters, activate, terms, buyer, retailer):
    _, receipt = settle_month_1(bilateral, meters, activate, terms, buyer, retailer, 900, 1000)
    result = settled(receipt, bilateral)
    assert (result.asked.direct, result.asked.penalty, result.buyer_to_seller) == (360 * UNIT, 1 * UNIT, 361 * UNIT)


def test_seller_short_compensates_the_third_party(bilateral, meters, activate, terms, buyer, retailer):
    _, receipt = settle_month_1(bilateral, meters, activate, terms, buyer, retailer, 1000, 900)
    result = settled(receipt, bilateral)
    assert (result.buyer_to_seller, result.seller_to_third_party) == (400 * UNIT, 10 * UNIT)


def test_payments_move_between_the_wallets(bilateral, market, meters, activate, terms, buyer, retailer, grid):
    before = [bilateral.walletOf(a) for a in (buyer, retailer, grid)]
    settle_month_1(bilateral, meters, activate, terms, buyer, retailer, 1100, 1000)
    after = [bilateral.walletOf(a) for a in (buyer, retailer, grid)]
    deposit = 100 * UNIT
    assert [b - a for a, b in zip(before, after)] == [-453 * UNIT - deposit, 420 * UNIT - deposit, 33 * UNIT]


def test_settlement_keeps_money_conserved(bilateral, meters, activate, terms, buyer, retailer, grid, producer):
    settle_month_1(bilateral, meters, activate, terms, buyer, retailer, 1100, 900)
    assert_conserved(bilateral, [buyer, retailer, grid, producer])


# ---------------------------------------------------------------- missing readings


def test_missing_seller_reading_counts_as_nothing_fed_in(bilateral, meters, activate, terms, buyer, retailer, clock):
    contract = activate(terms())
    meters.post(buyer, 1, 1000 * KWH)
    clock.after_deadline(1)
    result = settled(bilateral.settle(contract, sender=buyer), bilateral)
    assert (result.seller_metered, result.seller_wh, result.seller_to_third_party) == (False, 0, 190 * UNIT)


def test_missing_buyer_reading_counts_as_the_meters_capacity(
    bilateral, meters, activate, terms, buyer, retailer, clock
):
    bilateral.deposit(sender=buyer, value=20_000 * UNIT)
    contract = activate(terms(buyer_deposit=10_000 * UNIT))
    meters.post(retailer, 1, 1000 * KWH)
    clock.after_deadline(1)
    result = settled(bilateral.settle(contract, sender=retailer), bilateral)
    capacity = 10_000 * 30 * 24  # 10 kW for 30 days, in Wh
    assert (result.buyer_metered, result.buyer_wh) == (False, capacity)


def test_missing_buyer_reading_counts_as_zero_when_the_penalty_costs_more(
    bilateral, meters, activate, terms, buyer, retailer, clock
):
    contract = activate(terms(penalty_rate=10 * UNIT, catalogue_price=UNIT // 2, direct_price=UNIT // 1000))
    meters.post(retailer, 1, 1000 * KWH)
    clock.after_deadline(1)
    result = settled(bilateral.settle(contract, sender=retailer), bilateral)
    assert (result.buyer_metered, result.buyer_wh) == (False, 0)


def test_month_with_readings_missing_waits_until_the_deadline(bilateral, meters, activate, terms, buyer, clock):
    contract = activate(terms())
    meters.post(buyer, 1, 1000 * KWH)
    deadline = clock.billing.reading_deadline(1)
    with ape.reverts(bilateral.NotDue, id=contract, month=1, readyAt=deadline):
        bilateral.settle(contract, sender=buyer)


def test_month_cannot_be_settled_before_it_ends(bilateral, activate, terms, buyer, clock):
    contract = activate(terms())
    clock.at(1, 100)
    with ape.reverts(bilateral.NotDue):
        bilateral.settle(contract, sender=buyer)


def test_month_with_both_readings_is_due_at_once(bilateral, meters, activate, terms, buyer, retailer):
    contract = activate(terms())
    meters.post(buyer, 1, 1000 * KWH)
    meters.post(retailer, 1, 1000 * KWH)
    assert bilateral.nextSettlement(contract).due


# ---------------------------------------------------------------- defaults


def test_buyer_that_cannot_pay_pays_what_it_has_and_the_contract_defaults(
    bilateral, meters, activate, terms, buyer, retailer, grid, producer
):
    bilateral.withdraw(bilateral.walletOf(buyer), sender=buyer)  # nothing left but its deposit
    bilateral.deposit(sender=buyer, value=100 * UNIT)
    contract = activate(terms())
    meters.post(buyer, 1, 1000 * KWH)
    meters.post(retailer, 1, 1000 * KWH)
    receipt = bilateral.settle(contract, sender=retailer)
    result = settled(receipt, bilateral)
    (defaulted,) = receipt.events.filter(bilateral.ContractDefaulted)
    assert (result.buyer_to_seller, result.buyer_shortfall) == (100 * UNIT, 300 * UNIT)
    assert (defaulted.buyerShortfall, bilateral.contractOf(contract).state) == (300 * UNIT, ContractState.DEFAULTED)
    assert_conserved(bilateral, [buyer, retailer, grid, producer])


def test_default_returns_the_other_partys_deposit(bilateral, meters, activate, terms, buyer, retailer):
    bilateral.withdraw(bilateral.walletOf(buyer), sender=buyer)
    bilateral.deposit(sender=buyer, value=100 * UNIT)
    contract = activate(terms())
    meters.post(buyer, 1, 1000 * KWH)
    meters.post(retailer, 1, 1000 * KWH)
    seller_before = bilateral.walletOf(retailer)
    receipt = bilateral.settle(contract, sender=retailer)
    (released,) = receipt.events.filter(bilateral.DepositsReleased)
    assert (released.toBuyer, released.toSeller) == (0, 100 * UNIT)
    assert bilateral.walletOf(retailer) - seller_before == 200 * UNIT  # the buyer's 100 paid + its deposit


def test_defaulted_contract_settles_no_further_month(bilateral, meters, activate, terms, buyer, retailer):
    bilateral.withdraw(bilateral.walletOf(buyer), sender=buyer)
    bilateral.deposit(sender=buyer, value=100 * UNIT)
    contract = activate(terms())
    meters.post(buyer, 1, 1000 * KWH)
    meters.post(retailer, 1, 1000 * KWH)
    bilateral.settle(contract, sender=retailer)
    with ape.reverts(bilateral.WrongState, id=contract, actual=ContractState.DEFAULTED):
        bilateral.settle(contract, sender=retailer)


# ---------------------------------------------------------------- the end of the term


def test_contract_completes_after_its_last_month_and_releases_the_deposits(
    bilateral, meters, activate, terms, buyer, retailer
):
    contract = activate(terms(months=2))
    for month in (1, 2):
        meters.post(buyer, month, 1000 * KWH)
        meters.post(retailer, month, 1000 * KWH)
        receipt = bilateral.settle(contract, sender=buyer)
    (released,) = receipt.events.filter(bilateral.DepositsReleased)
    assert (bilateral.contractOf(contract).state, released.toBuyer, released.toSeller) == (
        ContractState.COMPLETED,
        100 * UNIT,
        100 * UNIT,
    )


def test_months_settle_in_order(bilateral, meters, activate, terms, buyer, retailer):
    contract = activate(terms())
    for month in (1, 2):
        meters.post(buyer, month, 1000 * KWH)
        meters.post(retailer, month, 1000 * KWH)
    months = [bilateral.settle(contract, sender=buyer).events.filter(bilateral.MonthSettled)[0].month for _ in (1, 2)]
    assert months == [1, 2]


# ---------------------------------------------------------------- batches


def test_batch_settles_the_due_contracts_and_skips_the_others(
    bilateral, meters, activate, terms, buyer, retailer, clock
):
    due = activate(terms())
    later = activate(terms(first_month=2))
    meters.post(buyer, 1, 1000 * KWH)
    meters.post(retailer, 1, 1000 * KWH)
    receipt = bilateral.settleBatch(1, 10, sender=buyer)
    assert [e.id for e in receipt.events.filter(bilateral.MonthSettled)] == [due]
    assert bilateral.contractOf(later).settledMonths == 0


def test_batch_stops_after_its_size_and_says_where_to_go_on(bilateral, meters, activate, terms, buyer, retailer):
    for _ in range(3):
        activate(terms())
    meters.post(buyer, 1, 1000 * KWH)
    meters.post(retailer, 1, 1000 * KWH)
    assert bilateral.settleBatch.call(1, 2) == (3, 2)
    receipt = bilateral.settleBatch(1, 2, sender=buyer)
    assert [e.id for e in receipt.events.filter(bilateral.MonthSettled)] == [1, 2]


def test_empty_batch_is_refused(bilateral, buyer):
    with ape.reverts(bilateral.InvalidBatchSize):
        bilateral.settleBatch(1, 0, sender=buyer)


@pytest.mark.parametrize("state", ["proposed", "unknown"])
def test_only_active_contracts_settle(bilateral, parties, terms, buyer, state):
    if state == "proposed":
        bilateral.propose(terms().as_abi(), sender=buyer)
        with ape.reverts(bilateral.WrongState, id=1, actual=ContractState.PROPOSED):
            bilateral.settle(1, sender=buyer)
    else:
        with ape.reverts(bilateral.UnknownContract, id=9):
            bilateral.settle(9, sender=buyer)
