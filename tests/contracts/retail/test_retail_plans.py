"""Retailers and their plans: admission by the operator, publishing, validation, withdrawal and
the listings anyone reads."""

from dataclasses import replace

import ape
import pytest

from p2pkit.retail.plans import PlanField, PlanTerms, PriceKind, PublishedPlan, scoring_plan
from retail.support import UNIT

FLAT = PlanTerms(PriceKind.FLAT, flat_price=57 * UNIT // 100, months=6, reliability=((6, 300),))
DAY_NIGHT = PlanTerms(PriceKind.TIME_OF_USE, bands=((360, 1080, 62 * UNIT // 100), (1080, 360, 54 * UNIT // 100)))
TIERS = PlanTerms(
    PriceKind.TIERS, tiers=((3_000_000, 60 * UNIT // 100), (6_000_000, 57 * UNIT // 100), (0, 54 * UNIT // 100))
)


@pytest.fixture
def published(plans, parties, retailer):
    """The retailer's three plans: flat, day/night, tiers (ids 1, 2, 3)."""
    for terms in (FLAT, DAY_NIGHT, TIERS):
        plans.publishPlan(terms.as_abi(), sender=retailer)


def ids(found) -> list[int]:
    return [PublishedPlan.of(plan).id for plan in found]


# ---------------------------------------------------------------- admission


def test_operator_admits_a_retailer(plans, market, operator, retailer):
    market.register("retailer", True, False, sender=retailer)
    receipt = plans.setRetailer(retailer, True, sender=operator)
    assert receipt.events == [plans.RetailerChanged(account=retailer, admitted=True)]


def test_only_the_markets_operator_admits_retailers(plans, market, retailer, stranger):
    market.register("retailer", True, False, sender=retailer)
    with ape.reverts(plans.NotOperator, caller=stranger):
        plans.setRetailer(retailer, True, sender=stranger)


def test_a_retailer_must_be_an_account_of_the_market(plans, operator, stranger):
    with ape.reverts(plans.NotRegistered, account=stranger):
        plans.setRetailer(stranger, True, sender=operator)


def test_revoked_retailer_cannot_publish(plans, parties, operator, retailer):
    plans.setRetailer(retailer, False, sender=operator)
    with ape.reverts(plans.NotRetailer, account=retailer):
        plans.publishPlan(FLAT.as_abi(), sender=retailer)


# ---------------------------------------------------------------- publishing


def test_published_plan_reads_back_as_published(plans, published):
    assert PublishedPlan.of(plans.planOf(2)).terms == DAY_NIGHT


def test_publishing_emits_the_plans_id(plans, parties, retailer):
    receipt = plans.publishPlan(TIERS.as_abi(), sender=retailer)
    assert receipt.events == [plans.PlanPublished(planId=1, retailer=retailer)]


def test_only_a_retailer_publishes(plans, parties, buyer):
    with ape.reverts(plans.NotRetailer, account=buyer):
        plans.publishPlan(FLAT.as_abi(), sender=buyer)


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        (replace(FLAT, flat_price=0), PlanField.FLAT_PRICE),
        (replace(FLAT, tiers=TIERS.tiers), PlanField.FLAT_PRICE),
        (replace(DAY_NIGHT, bands=((360, 1080, 1), (1000, 360, 1))), PlanField.BANDS),  # overlapping
        (replace(DAY_NIGHT, bands=((360, 1080, 1), (1080, 300, 1))), PlanField.BANDS),  # a gap before 06:00
        (replace(DAY_NIGHT, bands=((360, 1080, 1),)), PlanField.BANDS),  # one band
        (
            replace(DAY_NIGHT, bands=((360, 1440, 1), (1440, 360, 1))),
            PlanField.BANDS,
        ),  # minute 1440 is not a clock minute
        (replace(TIERS, tiers=((3_000_000, 1), (2_000_000, 1), (0, 1))), PlanField.TIERS),  # limits going down
        (replace(TIERS, tiers=((3_000_000, 1), (6_000_000, 1))), PlanField.TIERS),  # the last tier limited
        (replace(TIERS, tiers=((3_000_000, 0), (0, 1))), PlanField.TIERS),  # a tier without a price
        (replace(TIERS, flat_price=1), PlanField.KIND),
        (replace(FLAT, deviation_band_bps=10_001), PlanField.DEVIATION),
        (replace(FLAT, months=0), PlanField.MONTHS),
        (replace(FLAT, reliability=()), PlanField.RELIABILITY),
        (replace(FLAT, reliability=((1, 600_000),)), PlanField.RELIABILITY),  # outages longer than a year
    ],
)
def test_malformed_plan_is_refused_naming_the_field(plans, parties, retailer, terms, field):
    with ape.reverts(plans.InvalidPlan, field=field):
        plans.publishPlan(terms.as_abi(), sender=retailer)


# ---------------------------------------------------------------- withdrawal


def test_retailer_withdraws_its_plan(plans, published, retailer):
    receipt = plans.withdrawPlan(1, sender=retailer)
    assert receipt.events == [plans.PlanWithdrawn(planId=1, retailer=retailer)]


def test_withdrawn_plan_is_still_readable_but_inactive(plans, published, retailer):
    plans.withdrawPlan(1, sender=retailer)
    assert PublishedPlan.of(plans.planOf(1)).active is False


def test_nobody_else_withdraws_a_plan(plans, published, producer):
    with ape.reverts(plans.NotPlanOwner, planId=1, caller=producer):
        plans.withdrawPlan(1, sender=producer)


def test_plan_is_withdrawn_once(plans, published, retailer):
    plans.withdrawPlan(1, sender=retailer)
    with ape.reverts(plans.PlanNotActive, planId=1):
        plans.withdrawPlan(1, sender=retailer)


def test_unknown_plan_cannot_be_withdrawn(plans, published, retailer):
    with ape.reverts(plans.UnknownPlan, planId=9):
        plans.withdrawPlan(9, sender=retailer)


# ---------------------------------------------------------------- listings


def test_offered_plans_are_listed_page_by_page(plans, published):
    first, cursor = plans.offeredPlans(1, 2)
    second, end = plans.offeredPlans(cursor, 2)
    assert (ids(first), cursor, ids(second), end) == ([1, 2], 3, [3], 4)


def test_withdrawn_plans_are_not_listed(plans, published, retailer):
    plans.withdrawPlan(2, sender=retailer)
    found, _ = plans.offeredPlans(1, 10)
    assert ids(found) == [1, 3]


def test_plans_of_a_revoked_retailer_are_not_offered(plans, published, operator, retailer):
    plans.setRetailer(retailer, False, sender=operator)
    found, _ = plans.offeredPlansOf(retailer, 0, 10)
    assert (ids(found), plans.planOffer(1)) == ([], (retailer, False))


def test_a_retailers_plans_are_listed_from_a_cursor(plans, published, retailer):
    found, cursor = plans.offeredPlansOf(retailer, 1, 10)
    assert (ids(found), cursor) == ([2, 3], 3)


def test_unknown_plan_reads_as_id_0(plans):
    assert plans.planOf(5).id == 0


def test_published_plan_scores_in_currency_units(plans, published):
    scored = scoring_plan(PublishedPlan.of(plans.planOf(1)), UNIT)
    assert (scored.price.price, scored.outages, scored.band_pct, scored.multiplier) == (
        pytest.approx(0.57),
        ((6, 5),),
        5,
        2,
    )
