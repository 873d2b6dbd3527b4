"""The scoring of plans: the spec's worked example, each index, the bills and the tie rules."""

from fractions import Fraction

import pytest

from p2pkit.retail.scoring import (
    Band,
    Customer,
    Flat,
    Plan,
    Tier,
    Tiers,
    TimeOfUse,
    Weights,
    band_share,
    monthly_bill,
    score_plans,
)

EVEN = tuple([Fraction(1, 24)] * 24)
HALF_PER_KWH = Flat(Fraction(1, 2))
QUARTERS = Weights(Fraction(1, 4), Fraction(1, 4), Fraction(1, 4), Fraction(1, 4))


def plan(plan_id="1", outages=((1, 1),), price=HALF_PER_KWH, band=5, multiplier=1, months=12) -> Plan:
    return Plan(
        plan_id,
        tuple((Fraction(c), Fraction(h)) for c, h in outages),
        price,
        Fraction(band),
        Fraction(multiplier),
        months,
    )


def customer(kwh=1000, deviation=4, shares=EVEN, weights=QUARTERS) -> Customer:
    return Customer(Fraction(kwh), Fraction(deviation), shares, weights)


@pytest.fixture
def worked_example():
    """The spec's plans X and Y for a customer of 1000 kWh, 4 %, flat load, equal weights."""
    x = plan("X", outages=((2, 3),), price=Flat(Fraction("0.50")), band=2, multiplier=2, months=12)
    y = plan("Y", outages=((1, 2),), price=Flat(Fraction("0.55")), band=5, multiplier=1, months=6)
    return score_plans([x, y], customer())


def test_worked_example_indices(worked_example):
    (x, y), _ = worked_example
    assert [(s.psri, s.spi, s.pdpi, s.adi) for s in (x, y)] == [(0, 1, 0, Fraction(1, 2)), (1, 0, 1, 1)]


def test_worked_example_scores_and_choice(worked_example):
    (x, y), choice = worked_example
    assert (x.score, y.score, choice) == (Fraction(3, 8), Fraction(3, 4), "Y")


def test_worked_example_bills(worked_example):
    (x, y), _ = worked_example
    assert (x.monthly_bill, y.monthly_bill) == (500, 550)


def test_an_index_on_which_every_plan_ties_gives_every_plan_1():
    scores, _ = score_plans([plan("1", months=6), plan("2", months=12)], customer())
    assert [(s.psri, s.spi, s.pdpi) for s in scores] == [(1, 1, 1), (1, 1, 1)]


def test_equal_scores_advise_the_cheaper_plan():
    # cheaper but less reliable: equal weights on reliability and price make the scores equal
    cheap = plan("1", outages=((3, 1),), price=Flat(Fraction("0.40")))
    dear = plan("2", outages=((1, 1),), price=Flat(Fraction("0.50")))
    weights = Weights(Fraction(1, 2), Fraction(1, 2), Fraction(0), Fraction(0))
    scores, choice = score_plans([dear, cheap], customer(weights=weights))
    assert (scores[0].score == scores[1].score, choice) == (True, "1")


def test_equal_scores_and_bills_advise_the_lowest_id():
    _, choice = score_plans([plan("10"), plan("9"), plan("A")], customer())
    assert choice == "9"


def test_tiers_bill_each_part_of_the_energy_at_its_tier():
    tiers = Tiers(
        (Tier(Fraction(3000), Fraction("0.60")), Tier(Fraction(6000), Fraction("0.57")), Tier(None, Fraction("0.54")))
    )
    assert monthly_bill(tiers, customer(kwh=7000)) == 3000 * Fraction("0.60") + 3000 * Fraction(
        "0.57"
    ) + 1000 * Fraction("0.54")


def test_time_of_use_bills_the_load_shape_inside_each_band():
    day_night = TimeOfUse((Band(360, 1080, Fraction("0.62")), Band(1080, 360, Fraction("0.54"))))
    shares = tuple(Fraction(2, 24) if 6 <= h < 18 else Fraction(0) for h in range(24))
    assert monthly_bill(day_night, customer(kwh=5000, shares=shares)) == 5000 * Fraction("0.62")


def test_band_covering_part_of_an_hour_takes_that_part_of_its_share():
    half_past_six = Band(390, 420, Fraction(1))  # 06:30-07:00
    shares = tuple(Fraction(1) if h == 6 else Fraction(0) for h in range(24))
    assert band_share(half_past_six, shares) == Fraction(1, 2)


def test_band_wrapping_past_midnight_covers_both_ends_of_the_day():
    night = Band(1320, 120, Fraction(1))  # 22:00-02:00
    shares = tuple(Fraction(1, 4) if h in (22, 23, 0, 1) else Fraction(0) for h in range(24))
    assert band_share(night, shares) == 1


def test_deviation_within_the_band_costs_nothing():
    scores, _ = score_plans([plan("1", band=5, multiplier=9), plan("2", band=2, multiplier=0)], customer(deviation=4))
    assert [s.pdpi for s in scores] == [1, 0]


def test_shorter_plans_score_higher_on_duration():
    scores, _ = score_plans([plan("1", months=3), plan("2", months=12)], customer())
    assert [s.adi for s in scores] == [1, Fraction(1, 4)]


def test_no_plans_cannot_be_scored():
    with pytest.raises(ValueError):
        score_plans([], customer())
