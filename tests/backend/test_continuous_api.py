"""`/api/continuous` on an embedded market: the book the keeper opened after the scripted
auction (see `market_script`), after a limit order that crossed a leftover and one that rests;
the period's continuous trades; one's own order; refusals of malformed requests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from market_script import PERIOD_LENGTH, ROLES, MarketScript, Trader, bid_and_reveal, run_keeper

from backend import create_app, keeper_of
from devnet.embedded import start_embedded_market
from p2pkit.continuous import Trader as BookTrader
from p2pkit.continuous import deploy_book

APP_CONFIG = {"TESTING": True, "KEEPER": False, "KEEPER_DB": ":memory:"}
PRICE = 10**14  # wei per kWh


@dataclass
class TradingWindow:
    """An app whose market's book is open after the scripted auction, with two orders placed."""

    client: FlaskClient
    script: MarketScript
    prosumers: dict[str, Trader]
    delivery_period: int
    ids: dict[str, int]

    def get(self, path: str) -> dict:
        reply = self.client.get(path)
        assert reply.status_code == 200, reply.get_json()
        return reply.get_json()


@pytest.fixture(scope="module")
def window() -> TradingWindow:
    market = start_embedded_market(PERIOD_LENGTH)
    book = deploy_book(market.w3, market.operator, market.contract)
    script = MarketScript(market)
    prosumers = {name: script.join(name) for name in ROLES}
    app = create_app(APP_CONFIG, market=market)
    delivery_period = bid_and_reveal(script, list(prosumers.values()))
    script.to_auction_close(delivery_period)
    run_keeper(keeper_of(app))
    # Left by the auction: asks controllable 200 Wh @ 5e14, wind 200 @ 6e14. The EV buys 100 Wh
    # at up to 5.5e14 (a trade at the midpoint 5.25e14); the load bids 300 Wh @ 4e14, which rests.
    BookTrader(market.w3, book, prosumers["ev"].key).limit(delivery_period, 100, 55 * PRICE // 10, producer=False)
    BookTrader(market.w3, book, prosumers["load"].key).limit(delivery_period, 300, 4 * PRICE, producer=False)
    ids = {name: market.contract.functions.accountOf(p.address).call().id for name, p in prosumers.items()}
    return TradingWindow(app.test_client(), script, prosumers, delivery_period, ids)


def test_book_is_open_for_the_period_until_its_gate_closes(window):
    book = window.get("/api/continuous")

    assert (book["delivery_period"], book["open"], book["trading"], book["gate_closes_at"]) == (
        window.delivery_period,
        True,
        True,
        window.script.schedule.start(window.delivery_period),
    )


def test_book_gives_each_sides_price_levels_best_first(window):
    book = window.get("/api/continuous")

    assert (book["asks"], book["bids"]) == (
        [
            {"price_wei": str(5 * PRICE), "quantity_wh": 100, "orders": 1},
            {"price_wei": str(6 * PRICE), "quantity_wh": 200, "orders": 1},
        ],
        [{"price_wei": str(4 * PRICE), "quantity_wh": 300, "orders": 1}],
    )


def test_book_names_no_owner(window):
    text = window.client.get("/api/continuous").get_data(as_text=True).lower()

    assert [name for name, p in window.prosumers.items() if p.address.lower()[2:] in text] == []


def test_book_gives_what_the_page_needs_to_send_orders(window):
    book = window.get("/api/continuous")

    assert (book["max_walk"], "placeLimit" in {entry.get("name") for entry in book["abi"]}) == (16, True)


def test_trades_of_the_period_are_the_continuous_ones(window):
    trades = window.get(f"/api/continuous/trades/{window.delivery_period}")["trades"]

    price = 525 * PRICE // 100
    assert [(t["seller_id"], t["buyer_id"], t["quantity_wh"], t["price_wei"], t["cost_wei"]) for t in trades] == [
        (window.ids["controllable"], window.ids["ev"], 100, str(price), str(100 * price // 1000))
    ]


def test_trades_of_a_period_without_continuous_trading_are_none(window):
    assert window.get(f"/api/continuous/trades/{window.delivery_period + 5}")["trades"] == []


def test_own_resting_order_is_given_by_address(window):
    order = window.get(f"/api/continuous/orders/{window.prosumers['load'].address}")

    assert order == {
        "address": window.prosumers["load"].address,
        "order_id": window.ids["load"],
        "resting": True,
        "delivery_period": window.delivery_period,
        "producer": False,
        "remaining_wh": 300,
        "price_wei": str(4 * PRICE),
    }


def test_order_of_a_prosumer_whose_order_was_filled_does_not_rest(window):
    order = window.get(f"/api/continuous/orders/{window.prosumers['ev'].address.lower()}")

    assert (order["order_id"], order["resting"]) == (window.ids["ev"], False)


def test_order_of_an_unregistered_address_is_none(window):
    order = window.get("/api/continuous/orders/0x" + "ab" * 20)

    assert (order["order_id"], order["resting"]) == (None, False)


@pytest.mark.parametrize(
    "path",
    [
        "/api/continuous/orders/0x1234",
        "/api/continuous/orders/not-an-address",
        "/api/continuous/orders/0x" + "g" * 40,
        "/api/continuous/orders/0xAbCdEf0000000000000000000000000000000000",  # wrong checksum
        "/api/continuous/trades/-1",
        "/api/continuous/trades/4294967296",  # past uint32
        "/api/continuous/trades/" + "9" * 90,
        "/api/continuous/trades/1e3",
    ],
)
def test_malformed_requests_are_refused(window, path):
    reply = window.client.get(path)

    assert (reply.status_code, "error" in reply.get_json()) == (400, True)


def test_market_without_a_book_answers_that_it_has_none():
    client = create_app(APP_CONFIG, market=start_embedded_market(PERIOD_LENGTH)).test_client()

    reply = client.get("/api/continuous")

    assert (reply.status_code, "no continuous book" in reply.get_json()["error"]) == (503, True)


def test_period_lists_the_trades_of_both_phases(window):
    period = window.get(f"/api/periods/{window.delivery_period}")

    assert [(t["phase"], t["quantity_wh"]) for t in period["trades"]] == [
        ("auction", 800),
        ("auction", 500),
        ("continuous", 100),
    ]
    assert period["traded_wh"] == 1400
