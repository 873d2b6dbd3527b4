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


# ---------------------------------------------------------------------- the continuous phase

AUCTION = [
    {"id": "S1", "side": "sell", "kwh": 100, "price": 10},
    {"id": "S2", "side": "sell", "kwh": 50, "price": 30},
    {"id": "B1", "side": "buy", "kwh": 80, "price": 40, "deposit": 10000},
    {"id": "B2", "side": "buy", "kwh": 60, "price": 20, "deposit": 10000},
]


def test_continuous_worked_example_of_the_spec(tmp_path):
    result = run(
        tmp_path,
        {
            "margin": 0,
            "bids": AUCTION,
            "continuous": [
                {"id": "S2", "action": "reprice", "price": 18},
                {"id": "B3", "action": "market", "side": "buy", "kwh": 15, "deposit": 10000},
                {"id": "S2", "action": "cancel"},
            ],
        },
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["continuous_trades"] == [
        {"seller": "S2", "buyer": "B2", "kwh": 40, "price": 19},  # midpoint of 18 and 20
        {"seller": "S2", "buyer": "B3", "kwh": 10, "price": 18},  # at the resting ask's price
    ]
    assert output["average_price"] == 21.6  # (2000 + 300 + 760 + 180) / 150, both phases
    assert output["balances"] == {"S1": 2300, "S2": 940, "B1": 8000, "B2": 8940, "B3": 9820}
    # S2 has nothing left to cancel.
    assert [(r["id"], r["what"], r["action"], r["error"]) for r in output["refused"]] == [
        ("S2", "continuous", "cancel", "NoRestingOrder")
    ]


def test_continuous_limit_orders_rest_and_cross_and_a_resting_order_goes_to_market(tmp_path):
    result = run(
        tmp_path,
        {
            "margin": 0,
            "bids": AUCTION,
            "continuous": [
                {"id": "X", "action": "limit", "side": "buy", "kwh": 10, "price": 25, "deposit": 500},
                {"id": "Y", "action": "limit", "side": "sell", "kwh": 5, "price": 24},
                {"id": "B2", "action": "market"},
            ],
        },
    )
    output = json.loads(result.stdout)
    assert output["continuous_trades"] == [
        {"seller": "Y", "buyer": "X", "kwh": 5, "price": 24.5},  # X rested at 25; Y crosses it
        {"seller": "S2", "buyer": "B2", "kwh": 40, "price": 30},  # B2's 40 kWh sent to market
    ]
    assert output["balances"]["X"] == 500 - 122.5


def test_continuous_settlement_counts_both_phases(tmp_path):
    result = run(
        tmp_path,
        {
            "margin": 0,
            "period_hours": 0.25,
            "bids": AUCTION,
            "continuous": [{"id": "S2", "action": "reprice", "price": 18}],
            "readings": {"S1": 100, "S2": 40, "B1": 80, "B2": 60},
        },
    )
    output = json.loads(result.stdout)
    assert output["refused"] == []
    # Everyone delivered what it traded over both phases: no balancing, no penalty.
    assert {name: s["balancing"] for name, s in output["settlement"].items()} == {
        "S1": 0,
        "S2": 0,
        "B1": 0,
        "B2": 0,
    }


@pytest.mark.parametrize(
    "actions, message",
    [
        ({"id": "S2", "action": "hold"}, "continuous[0].action"),
        ({"id": "S2", "action": "reprice"}, "reprice needs price"),
        ({"id": "Z", "action": "cancel"}, "'Z' has no order"),
        ({"id": "S2", "action": "limit", "side": "buy", "kwh": 1, "price": 1}, "'S2' is a seller"),
        ({"id": "S2", "action": "market", "side": "sell", "kwh": 1, "deposit": 5}, "has an account already"),
        ({"id": "S2", "action": "reprice", "price": -1}, "continuous[0].price"),
        ({"id": "S2", "action": "cancel", "price": 3}, "unknown keys for cancel"),
    ],
)
def test_malformed_continuous_action_is_refused(tmp_path, actions, message):
    result = run(tmp_path, {"bids": AUCTION, "continuous": [actions]})

    assert (result.returncode, message in result.stderr) == (2, True), result.stderr
