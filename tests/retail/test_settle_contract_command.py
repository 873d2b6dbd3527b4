"""scripts/settle_contract.py: the spec's three worked examples as the months of one contract, a
default, missing readings, and malformed files."""

import calendar
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "settle_contract.py"
TERMS = {
    "monthly_kwh": 1000,
    "direct_price": 0.40,
    "catalogue_price": 0.60,
    "penalty_per_kwh": 0.02,
    "months": 3,
    "buyer_deposit": 100,
    "seller_deposit": 100,
}
WORKED_EXAMPLES = {
    "terms": TERMS,
    "wallets": {"buyer": 2000, "seller": 100},
    "months": [
        {"buyer_kwh": 1100, "seller_kwh": 1000},
        {"buyer_kwh": 900, "seller_kwh": 1000},
        {"buyer_kwh": 1000, "seller_kwh": 900},
    ],
}


def run(tmp_path, contract) -> subprocess.CompletedProcess:
    path = tmp_path / "contract.json"
    path.write_text(json.dumps(contract))
    return subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def worked(tmp_path_factory):
    result = run(tmp_path_factory.mktemp("worked"), WORKED_EXAMPLES)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def payments(month: dict) -> tuple:
    return month["buyer_to_seller"], month["buyer_to_third_party"], month["seller_to_third_party"]


def test_buyer_over_the_band(worked):
    assert payments(worked["months"][0]) == (420, 33, 0)


def test_buyer_under_the_band(worked):
    assert payments(worked["months"][1]) == (361, 0, 0)  # 360 for the energy, 1 of penalty


def test_seller_short(worked):
    assert payments(worked["months"][2]) == (400, 0, 10)


def test_balances_after_the_term(worked):
    assert worked["balances"] == {"buyer": 786, "seller": 1271, "third_party": 43}


def test_contract_completes_with_no_shortfall(worked):
    assert worked["state"] == "completed"
    assert [m["default"] for m in worked["months"]] == [False] * 3


def test_buyer_that_cannot_pay_defaults_paying_what_it_has(tmp_path):
    contract = {**WORKED_EXAMPLES, "wallets": {"buyer": 500, "seller": 100}}
    report = json.loads(run(tmp_path, contract).stdout)
    first, second = report["months"]
    assert (first["default"], second["default"], second["buyer_to_seller"], second["shortfall"]) == (
        False,
        True,
        47,
        {"buyer": 314, "seller": 0},  # 400 of wallet and deposit after 453 paid; 361 owed
    )
    assert (report["state"], report["balances"]) == (
        "defaulted",
        {"buyer": 0, "seller": 100 + 420 + 47, "third_party": 33},
    )


def test_missing_readings_are_settled_by_the_integrity_rule(tmp_path):
    contract = {
        **WORKED_EXAMPLES,
        "wallets": {"buyer": 20_000, "seller": 1000},
        "rated_kw": {"buyer": 2, "seller": 2},
        "months": [{"buyer_kwh": 1000, "seller_kwh": None}, {"buyer_kwh": None, "seller_kwh": 1000}],
    }
    first, second = json.loads(run(tmp_path, contract).stdout)["months"]
    assert (first["seller_metered"], first["seller_kwh"], first["seller_to_third_party"]) == (False, 0, 190)
    year, month = map(int, second["month"].split("-"))
    assert (second["buyer_metered"], second["buyer_kwh"]) == (False, 2 * 24 * calendar.monthrange(year, month)[1])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"terms": {**TERMS, "monthly_kwh": 0}}, "terms.monthly_kwh"),
        ({"terms": {**TERMS, "direct_price": "cheap"}}, "terms.direct_price"),
        ({"terms": {**TERMS, "months": 2}}, "months"),
        ({"terms": {k: v for k, v in TERMS.items() if k != "seller_deposit"}}, "terms.seller_deposit"),
        ({"wallets": {"buyer": 50, "seller": 100}}, "wallets.buyer"),
        ({"months": [{"buyer_kwh": -1, "seller_kwh": 1000}]}, "months[0].buyer_kwh"),
        ({"months": [{"buyer_kwh": 1000.0001, "seller_kwh": 1000}]}, "months[0].buyer_kwh"),
    ],
)
def test_malformed_contract_exits_2_naming_the_field(tmp_path, change, field):
    result = run(tmp_path, {**WORKED_EXAMPLES, **change})
    assert (result.returncode, result.stderr.split(":")[1].strip()) == (2, field)
