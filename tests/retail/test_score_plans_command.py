"""scripts/score_plans.py: the issue's example files, the output's shape and precision, and
malformed files (exit 2, the field named)."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "score_plans.py"
PLANS = {
    "plans": [
        {
            "id": "1",
            "outages": [{"count": 6, "hours": 5}],
            "price": {"type": "flat", "price": 0.57},
            "deviation": {"band_pct": 5, "multiplier": 2},
            "months": 6,
        },
        {
            "id": "2",
            "outages": [{"count": 2, "hours": 3}],
            "price": {
                "type": "tiers",
                "tiers": [
                    {"up_to_kwh": 3000, "price": 0.60},
                    {"up_to_kwh": 6000, "price": 0.57},
                    {"up_to_kwh": None, "price": 0.54},
                ],
            },
            "deviation": {"band_pct": 3, "multiplier": 1},
            "months": 12,
        },
        {
            "id": "3",
            "outages": [{"count": 1, "hours": 2}],
            "price": {
                "type": "time_of_use",
                "bands": [
                    {"from": "06:00", "to": "18:00", "price": 0.62},
                    {"from": "18:00", "to": "06:00", "price": 0.54},
                ],
            },
            "deviation": {"band_pct": 8, "multiplier": 3},
            "months": 18,
        },
    ]
}
CUSTOMER = {
    "monthly_kwh": 5000,
    "deviation_pct": 6,
    "hourly_shares": [0.04] * 12 + [0.0433333333333333] * 12,
    "weights": {"reliability": 0.6, "price": 0.2, "deviation": 0.1, "duration": 0.1},
}


def score(tmp_path, plans=PLANS, customer=CUSTOMER):
    (tmp_path / "plans.json").write_text(json.dumps(plans))
    (tmp_path / "customer.json").write_text(json.dumps(customer) if isinstance(customer, dict) else customer)
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "plans.json"), str(tmp_path / "customer.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_plan_gets_its_indices_score_and_bill(tmp_path):
    result = score(tmp_path)
    output = json.loads(result.stdout)
    assert [list(p) for p in output["plans"]] == [["id", "psri", "spi", "pdpi", "adi", "score", "monthly_bill"]] * 3


def test_flat_plan_of_the_example_bills_5000_kwh_at_0_57(tmp_path):
    output = json.loads(score(tmp_path).stdout)
    assert output["plans"][0]["monthly_bill"] == 2850.0


def test_choice_is_the_highest_score(tmp_path):
    output = json.loads(score(tmp_path).stdout)
    assert output["choice"] == max(output["plans"], key=lambda p: p["score"])["id"]


def test_numbers_keep_their_full_precision(tmp_path):
    text = score(tmp_path).stdout
    assert '"adi": 0.333333333333333333333333333333' in text


def test_good_files_exit_0(tmp_path):
    assert score(tmp_path).returncode == 0


def broken(path: str, value):
    plans = copy.deepcopy(PLANS)
    *parents, last = path
    node = plans
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return plans


@pytest.mark.parametrize(
    ("plans", "field"),
    [
        (broken(("plans", 0, "months"), KeyError), "plans[0].months"),
        (broken(("plans", 0, "months"), 0), "plans[0].months"),
        (broken(("plans", 0, "price", "type"), "hourly"), "plans[0].price.type"),
        (broken(("plans", 0, "price", "price"), "cheap"), "plans[0].price.price"),
        (broken(("plans", 1, "price", "tiers", 1, "up_to_kwh"), 2000), "plans[1].price.tiers[1].up_to_kwh"),
        (broken(("plans", 1, "price", "tiers", 2, "up_to_kwh"), 9000), "plans[1].price.tiers[2].up_to_kwh"),
        (broken(("plans", 2, "price", "bands", 1, "from"), "19:00"), "plans[2].price.bands[1].from"),
        (broken(("plans", 2, "price", "bands", 0, "to"), "25:00"), "plans[2].price.bands[0].to"),
        (broken(("plans", 0, "outages"), []), "plans[0].outages"),
        (broken(("plans", 0, "outages", 0, "hours"), -1), "plans[0].outages[0].hours"),
        (broken(("plans", 1, "id"), "1"), "plans[1].id"),
        (broken(("plans", 0, "deviation", "multiplier"), True), "plans[0].deviation.multiplier"),
    ],
)
def test_malformed_plans_exit_2_naming_the_field(tmp_path, plans, field):
    result = score(tmp_path, plans=plans)
    assert (result.returncode, result.stderr.split(":")[1].strip()) == (2, field)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hourly_shares": [0.5] * 24}, "hourly_shares"),
        ({"hourly_shares": [1 / 23] * 23}, "hourly_shares"),
        ({"weights": {"reliability": 1.5, "price": -0.5, "deviation": 0, "duration": 0}}, "weights.price"),
        ({"weights": {"reliability": 0.5, "price": 0.5, "deviation": 0.5, "duration": 0}}, "weights"),
        ({"monthly_kwh": "a lot"}, "monthly_kwh"),
    ],
)
def test_malformed_customer_exits_2_naming_the_field(tmp_path, change, field):
    result = score(tmp_path, customer={**CUSTOMER, **change})
    assert (result.returncode, result.stderr.split(":")[1].strip()) == (2, field)


def test_customer_file_with_nan_exits_2(tmp_path):
    result = score(tmp_path, customer=json.dumps(CUSTOMER).replace("5000", "NaN"))
    assert result.returncode == 2 and "NaN is not a number" in result.stderr


def test_file_that_is_not_json_exits_2(tmp_path):
    result = score(tmp_path, customer="{monthly_kwh: 5000")
    assert result.returncode == 2 and "not JSON" in result.stderr


def test_missing_file_exits_2(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "none.json"), str(tmp_path / "none.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "cannot read" in result.stderr
