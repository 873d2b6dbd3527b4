"""scripts/clear_book.py: one period of the real contract on a book, from the command line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "clear_book.py"


def run(tmp_path, book) -> subprocess.CompletedProcess:
    path = tmp_path / "book.json"
    path.write_text(book if isinstance(book, str) else json.dumps(book))
    return subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=300)


def test_worked_example_of_the_spec(tmp_path):
    result = run(
        tmp_path,
        {
            "margin": 0,
            "bids": [
                {"id": "S1", "side": "sell", "kwh": 100, "price": 10},
                {"id": "S2", "side": "sell", "kwh": 50, "price": 30},
                {"id": "B1", "side": "buy", "kwh": 80, "price": 40, "deposit": 10000},
                {"id": "B2", "side": "buy", "kwh": 60, "price": 20, "deposit": 10000},
            ],
        },
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["trades"] == [
        {"seller": "S1", "buyer": "B1", "kwh": 80, "price": 25},
        {"seller": "S1", "buyer": "B2", "kwh": 20, "price": 15},
    ]
    assert output["average_price"] == 23  # (80 x 25 + 20 x 15) / 100
    assert output["balances"] == {"S1": 2300, "S2": 0, "B1": 8000, "B2": 9700}


def test_decimal_quantities_and_prices_map_exactly(tmp_path):
    result = run(
        tmp_path,
        {
            "margin": 0.5,
            "bids": [
                {"id": "wind", "side": "sell", "kwh": 0.43, "price": 0.7, "green": True, "deposit": 0.5},
                {"id": "ev", "side": "buy", "kwh": 0.25, "price": 0.786, "green": True, "deposit": 1},
            ],
        },
    )
    output = json.loads(result.stdout)
    assert output["trades"] == [{"seller": "wind", "buyer": "ev", "kwh": 0.25, "price": 0.743}]
    assert output["balances"] == {"wind": 0.68575, "ev": 0.81425}


def test_bid_the_contract_refuses_is_reported(tmp_path):
    result = run(
        tmp_path,
        {
            "margin": 1,
            "bids": [
                {"id": "S", "side": "sell", "kwh": 1, "price": 1, "deposit": 1},
                {"id": "B", "side": "buy", "kwh": 10, "price": 1, "deposit": 2},
            ],
        },
    )
    output = json.loads(result.stdout)
    assert output["trades"] == []
    assert output["average_price"] is None
    assert [(r["id"], r["error"]) for r in output["refused"]] == [("B", "InsufficientFunds")]


def test_worked_example_of_the_spec_settled_from_readings(tmp_path):
    """The spec's book with meters: A = 23; S1 delivers 90 of its 100 kWh, S2 (nothing cleared)
    posts no reading, B1 uses what it bought, B2 uses 25 of its 20 kWh."""
    result = run(
        tmp_path,
        {
            "margin": 0,
            "price_floor": 1,
            "price_cap": 100,
            "bids": [
                {"id": "S1", "side": "sell", "kwh": 100, "price": 10},
                {"id": "S2", "side": "sell", "kwh": 50, "price": 30, "deposit": 100, "rated_kw": 400},
                {"id": "B1", "side": "buy", "kwh": 80, "price": 40, "deposit": 10000},
                {"id": "B2", "side": "buy", "kwh": 60, "price": 20, "deposit": 10000},
            ],
            "readings": {"S1": 90, "S2": None, "B1": 80, "B2": 25},
        },
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert (output["average_price"], len(output["trades"]), output["refused"]) == (23, 2, [])
    assert output["settlement"] == {
        # 10 kWh short x 23 x 1.1; reward 90 x 23 x 0.01 - 10 x 23 x 0.05
        "S1": {"metered": True, "balancing": -253, "reward": 9.2, "wallet_change": -243.8},
        # no reading: as if it delivered nothing, with the worse of the penalties at 0 and at
        # its meter's 100 kWh a quarter: 50 x 23 x 0.05
        "S2": {"metered": False, "balancing": 0, "reward": -57.5, "wallet_change": -57.5},
        "B1": {"metered": True, "balancing": 0, "reward": 18.4, "wallet_change": 18.4},
        # 5 kWh over x 23 x 1.1; reward 25 x 23 x 0.01 - 35 x 23 x 0.05
        "B2": {"metered": True, "balancing": -126.5, "reward": -34.5, "wallet_change": -161},
    }
    assert output["balances"] == {"S1": 2056.2, "S2": 42.5, "B1": 8018.4, "B2": 9539}


def test_reading_above_the_meter_capacity_and_bid_outside_the_bounds_are_refused(tmp_path):
    result = run(
        tmp_path,
        {
            "margin": 0,
            "price_floor": 5,
            "price_cap": 50,
            "bids": [
                {"id": "PV", "side": "sell", "kwh": 1, "price": 10, "rated_kw": 4},  # 1 kWh a quarter
                {"id": "EV", "side": "buy", "kwh": 1, "price": 20, "deposit": 100},
                {"id": "flash", "side": "buy", "kwh": 1, "price": 51, "deposit": 100},
            ],
            "readings": {"PV": 1.2, "EV": 1},
        },
    )
    output = json.loads(result.stdout)
    assert output["refused"] == [
        {
            "id": "flash",
            "what": "bid",
            "error": "PriceOutOfBounds",
            "args": [str(51 * 10**12), str(5 * 10**12), str(50 * 10**12)],
        },
        {"id": "PV", "what": "reading", "error": "ReadingAboveCapacity", "args": ["1200", "1000"]},
    ]
    # PV's reading never arrived: it is settled as having delivered nothing of its 1 kWh at A = 15,
    # and pays it out of its wallet, which holds only the 15 the sale brought.
    assert output["settlement"]["PV"] == {"metered": False, "balancing": -16.5, "reward": -0.75, "wallet_change": -15}
    assert output["balances"]["PV"] == 0


def test_old_book_output_has_no_settlement_keys(tmp_path):
    result = run(tmp_path, {"bids": [{"id": "A", "side": "sell", "kwh": 1, "price": 1}]})
    assert list(json.loads(result.stdout)) == ["trades", "average_price", "balances", "refused"]


@pytest.mark.parametrize(
    "book, message",
    [
        ("{not json", "not JSON"),
        ({"bids": []}, 'non-empty list "bids"'),
        ({"bids": [{"id": "A", "side": "hold", "kwh": 1, "price": 1}]}, 'bids[0].side: must be "sell" or "buy"'),
        (
            {"bids": [{"id": "A", "side": "sell", "kwh": 0.0001, "price": 1}]},
            "bids[0].kwh: 0.0001 has more than 3 decimals",
        ),
        ({"bids": [{"id": "A", "side": "sell", "kwh": -1, "price": 1}]}, "bids[0].kwh: must be positive"),
        ({"bids": [{"id": "A", "side": "sell", "kwh": 1, "price": "1"}]}, "bids[0].price: must be a number"),
        ({"bids": [{"id": "A", "side": "sell", "kwh": 1, "price": 1}] * 2}, "bids[1].id: 'A' appears twice"),
        ({"bids": [{"id": "A", "side": "sell", "kwh": 1, "price": 1, "colour": "red"}]}, "unknown keys: colour"),
        (
            {"bids": [{"id": "A", "side": "sell", "kwh": 1, "price": 1}], "readings": {"B": 1}},
            "readings: no bid has the id 'B'",
        ),
        (
            {"bids": [{"id": "A", "side": "sell", "kwh": 1, "price": 1, "rated_kw": 0}]},
            "bids[0].rated_kw: must be positive",
        ),
        (
            {"price_floor": 2, "price_cap": 1, "bids": [{"id": "A", "side": "sell", "kwh": 1, "price": 1}]},
            "price_floor: must not be above price_cap",
        ),
        ({"period_hours": 0.01, "bids": [{"id": "A", "side": "sell", "kwh": 1, "price": 1}]}, "at least 1/60 h"),
        (
            {"period_hours": 0.0001, "bids": [{"id": "A", "side": "sell", "kwh": 1, "price": 1}]},
            "not a whole number of seconds",
        ),
    ],
)
def test_malformed_book_exits_2_with_a_clear_message(tmp_path, book, message):
    result = run(tmp_path, book)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
