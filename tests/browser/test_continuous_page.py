"""Continuous trading through the page in Chromium: a wind producer and an EV charger, enrolled
beforehand through the server's /rpc, trade in the window after the auction: a limit order that
rests, one that crosses it, a market order, a re-price that crosses and a cancel; the book, the
trades and the wallets show each step.

The server runs periods of 120 s (a continuous window of 80 s, from the auction's close to gate
closure at the start of delivery); waits are for conditions on the page, never for fixed times.
"""

from __future__ import annotations

import pytest
from browser_support import FUNDER_KEY, serving_embedded_market
from eth_account import Account
from trading_page import open_trading_page
from web3 import Web3

from p2pkit.market import attach
from p2pkit.transactions import send, transfer

PERIOD_LENGTH = 120
WINDOW_TIMEOUT_MS = 2 * PERIOD_LENGTH * 1000
RATED_POWER_W = 120_000  # 4 kWh in a 120-second period


@pytest.fixture(scope="module")
def book_server(artifacts):
    with serving_embedded_market(
        artifacts / "continuous-backend.log", {"P2P_PERIOD_LENGTH": str(PERIOD_LENGTH)}
    ) as server:
        yield server


def enrol(server, name: str, producer: bool, meter_number: int, deposit_wei: int) -> Account:
    """A new prosumer as the operator and the page would leave it: registered, authorized,
    metered, with gas money and a market deposit."""
    w3 = server.web3()
    market = attach(w3, server.json("/api/contract")["address"])
    operator, funder, key = Account.from_key(server.operator_key), Account.from_key(FUNDER_KEY), Account.create()
    transfer(w3, funder, key.address, 5 * 10**18)
    send(w3, market.functions.register(name, producer, True), key)
    send(w3, market.functions.setAuthorization(key.address, True), operator)
    send(w3, market.functions.bindMeter(key.address, Account.create().address, meter_number, RATED_POWER_W), operator)
    send(w3, market.functions.deposit(), key, value=deposit_wei)
    return key


def trades(server, delivery_period) -> list[tuple[int, str]]:
    answer = server.json(f"/api/continuous/trades/{delivery_period}")
    return [(trade["quantity_wh"], trade["price_wei"]) for trade in answer["trades"]]


def milli(text: str) -> str:
    """10^-3 ether per kWh, as the page types it, in wei per kWh (the API's decimal string)."""
    return str(int(Web3.to_wei(text, "milliether")))


@pytest.mark.slow
def test_two_prosumers_trade_in_the_continuous_window(browser, book_server, artifacts):
    wind_key = enrol(book_server, "Hilltop wind", True, 2001, 5 * 10**16)
    ev_key = enrol(book_server, "EV charger", False, 2002, 10**18)
    wind = open_trading_page(browser, book_server.url, "continuous-wind", artifacts)
    ev = open_trading_page(browser, book_server.url, "continuous-ev", artifacts)
    try:
        wind.import_key(wind_key.key.to_0x_hex())
        ev.import_key(ev_key.key.to_0x_hex())
        # The keeper matches the auction as it closes and opens the book: the forms appear.
        for page in (wind, ev):
            page.page.wait_for_selector("#continuous-forms:not([hidden])", timeout=WINDOW_TIMEOUT_MS)
        delivery_period = int(wind.text("#book-period"))
        wind.wait_text("#book-window", r"gate closure in \d+:\d\d")

        # A limit order that finds nobody to trade with rests in the book.
        wind.page.fill("#limit-quantity", "1")
        wind.page.fill("#limit-price", "0.8")
        wind.act("#limit-form button", "done")
        wind.wait_text("#my-order-text", r"selling 1 kWh at 0\.8e-3")
        ev.wait_text("#book-levels-body", r"^sell0\.811$")  # side, price, kWh, orders: one row
        ev.screenshot("01-resting-ask")

        # One that crosses it trades at the midpoint; the EV has nothing left resting.
        ev.page.fill("#limit-quantity", "0.3")
        ev.page.fill("#limit-price", "0.9")
        ev.act("#limit-form button", "done")
        ev.wait_text("#my-order-text", "no order resting")
        wind.wait_text("#my-order-text", r"selling 0\.7 kWh")

        # A market order trades at the resting ask's price.
        ev.page.fill("#market-quantity", "0.2")
        ev.act("#market-form button", "done")
        wind.wait_text("#my-order-text", r"selling 0\.5 kWh")

        # The EV bids low and rests; the page refuses a second order before sending anything.
        ev.page.fill("#limit-quantity", "0.2")
        ev.page.fill("#limit-price", "0.5")
        ev.act("#limit-form button", "done")
        ev.wait_text("#my-order-text", r"buying 0\.2 kWh at 0\.5e-3")
        ev.page.fill("#market-quantity", "0.1")
        ev.page.click("#market-form button")
        ev.wait_text("#message", "already have an order resting: re-price or cancel it")

        # The wind producer re-prices below the EV's bid: it crosses and trades at the midpoint.
        wind.page.fill("#reprice-price", "0.4")
        wind.act("#reprice-form button", "done")
        wind.wait_text("#my-order-text", r"selling 0\.3 kWh at 0\.4e-3")
        ev.wait_text("#my-order-text", "no order resting")

        # And cancels what is left.
        wind.act("#cancel-order", "done")
        wind.wait_text("#my-order-text", "no order resting")
        wind.wait_text("#book-empty", "No order rests")

        assert trades(book_server, delivery_period) == [
            (300, milli("0.85")),
            (200, milli("0.8")),
            (200, milli("0.45")),
        ]
        # The EV paid 0.3 x 0.85 + 0.2 x 0.8 + 0.2 x 0.45 = 0.505e-3 ether, and its page shows it.
        ev.wait_text("#my-wallet", r"^0\.999495$")
        ev.wait_text("#continuous-trades-body", r"you bought.*you bought.*you bought")
        ev.screenshot("02-traded")
    except Exception:
        wind.screenshot("failed")
        ev.screenshot("failed")
        raise
    finally:
        wind.page.context.close()
        ev.page.context.close()
