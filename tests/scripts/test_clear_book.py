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
    ],
)
def test_malformed_book_exits_2_with_a_clear_message(tmp_path, book, message):
    result = run(tmp_path, book)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
