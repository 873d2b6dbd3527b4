"""A whole trading period in real pages: a wind producer and an EV charger trade while the
operator authorizes them, each in its own browser context (its own localStorage, its own key).

Waits are for conditions on the page (with generous limits), never for fixed times: the market
clock runs on its own and the test follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import OPERATOR_KEY, PERIOD_LENGTH

# Transactions, key encryption and the keeper's work each take seconds; a whole period is 60 s.
ACTION_TIMEOUT_MS = 60_000
PERIOD_TIMEOUT_MS = 3 * PERIOD_LENGTH * 1000
PASSWORD = "correct horse battery"


@dataclass
class TradingPage:
    """One person's page, with the steps a person takes on it."""

    who: str
    page: object  # playwright.sync_api.Page
    artifacts: Path

    def screenshot(self, step: str) -> None:
        self.page.screenshot(path=str(self.artifacts / f"{self.who}-{step}.png"), full_page=True)

    def act(self, click_selector: str, expect_words: str) -> None:
        """Click, then wait until the page reports the outcome; fail with the page's words."""
        self.page.evaluate("document.getElementById('message').className = 'message'")
        self.page.click(click_selector)
        outcome = self.page.wait_for_selector("#message.ok, #message.error", timeout=ACTION_TIMEOUT_MS)
        text = outcome.inner_text()
        assert "ok" in outcome.get_attribute("class"), f"{self.who}: {text}"
        assert expect_words in text, f"{self.who}: {text}"

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def wait_text(self, selector: str, pattern: str, timeout: int = ACTION_TIMEOUT_MS) -> None:
        from playwright.sync_api import expect

        expect(self.page.locator(selector)).to_have_text(re.compile(pattern), timeout=timeout)

    def create_account(self) -> str:
        self.page.fill("#create-password", PASSWORD)
        self.page.fill("#create-password-again", PASSWORD)
        self.act("#create-form button", "is open")
        return self.text("#my-address")

    def import_key(self, private_key: str) -> str:
        self.page.click("#import-account summary")
        self.page.fill("#import-secret", private_key)
        self.page.fill("#import-password", PASSWORD)
        self.act("#import-form button", "is open")
        return self.text("#my-address")

    def register(self, name: str, role: str, green: bool) -> None:
        self.page.fill("#register-name", name)
        self.page.check(f'input[name="role"][value="{role}"]')
        self.page.set_checked("#register-green", green)
        self.act("#register-form button", "done")

    def deposit(self, ether: str) -> None:
        self.page.fill("#deposit-amount", ether)
        self.act("#deposit-form button", "done")

    def wallet(self) -> Decimal:
        return Decimal(self.text("#my-wallet"))


@pytest.fixture
def open_page(request, browser, market_server, artifacts):
    """Opens the page for one person in a browser context of its own; on failure every open
    page is photographed as it was."""
    opened: list[TradingPage] = []

    def open_for(who: str) -> TradingPage:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(market_server.url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=ACTION_TIMEOUT_MS)
        assert not errors, f"{who}'s page failed to start: {errors}"
        opened.append(TradingPage(who, page, artifacts))
        return opened[-1]

    yield open_for
    failed = getattr(request.node, "report_call", None) is None or request.node.report_call.failed
    for trading_page in opened:
        if failed:
            trading_page.screenshot("failed")
        trading_page.page.context.close()


def wait_for_fresh_commit_window(page: TradingPage) -> None:
    """Wait until a commit window opens, so the whole window is left for sealing bids."""
    page.page.wait_for_selector('#clock-phase:not([data-phase="Commit"])', timeout=PERIOD_TIMEOUT_MS)
    page.page.wait_for_selector('#clock-phase[data-phase="Commit"]', timeout=PERIOD_TIMEOUT_MS)


def test_two_prosumers_trade_through_a_whole_period(open_page, market_server):
    contract = market_server.json("/api/contract")
    operator = open_page("operator")
    wind = open_page("wind")
    ev = open_page("ev")
    wind.screenshot("01-start")

    # Accounts: two new keys made in the pages, the operator's imported.
    for prosumer in (wind, ev):
        address = prosumer.create_account()
        prosumer.wait_text("#my-gas", r"^0$")
        market_server.send_gas_money(address)
        prosumer.wait_text("#my-gas", r"^5$")
    assert operator.import_key(OPERATOR_KEY).lower() == contract["operator"].lower()
    operator.page.wait_for_selector("#operator-card:not([hidden])", timeout=ACTION_TIMEOUT_MS)

    wind.register("Hilltop wind", "producer", green=True)
    ev.register("EV charger", "consumer", green=True)
    wind.wait_text("#my-authorization", "Waiting for the operator")
    wind.screenshot("02-registered")

    # The operator authorizes both from the accounts table.
    for prosumer in (wind, ev):
        address = prosumer.text("#my-address")
        row = f'#accounts-table tr[data-address="{address}"]'
        operator.page.wait_for_selector(row, timeout=ACTION_TIMEOUT_MS)
        operator.act(f"{row} button", "done")
        operator.wait_text(row, "authorized Revoke")
    operator.screenshot("03-authorized")
    for prosumer in (wind, ev):
        prosumer.wait_text("#my-authorization", "has authorized you")

    wind.deposit("0.01")
    ev.deposit("1")
    wind.wait_text("#my-wallet", r"^0\.01$")
    ev.wait_text("#my-wallet", r"^1$")
    ev.screenshot("04-deposited")

    # The bid form opens with the commit window. A bid the contract would refuse is refused by
    # the page before anything is sent.
    wait_for_fresh_commit_window(wind)
    ev.page.fill("#bid-quantity", "5000")
    ev.page.fill("#bid-price", "0.8")
    ev.page.evaluate("document.getElementById('message').className = 'message'")
    ev.page.click("#bid-form button")
    ev.wait_text("#message", "may cost 4 ether")
    ev.screenshot("05-refused-before-sending")

    # Sealed bids in one commit window: wind sells 2 kWh from 0.6e-3 ether/kWh, the EV buys
    # 1.5 kWh up to 0.8e-3; they trade 1.5 kWh at the midpoint, 0.7e-3 ether/kWh = 1.05e-3 ether.
    wind.page.fill("#bid-quantity", "2")
    wind.page.fill("#bid-price", "0.6")
    wind.act("#bid-form button", "done")
    ev.page.fill("#bid-quantity", "1.5")
    ev.page.fill("#bid-price", "0.8")
    ev.page.check("#bid-entrust")  # the EV leaves the reveal to the keeper
    ev.act("#bid-form button", "done")
    ev.wait_text("#message", "the keeper will reveal it for you")
    delivery_period = wind.text("#bid-period")
    wind.wait_text("#my-bid-text", "sealed")
    wind.screenshot("06-sealed")

    # The pages reveal by themselves in the reveal window.
    for prosumer in (wind, ev):
        prosumer.wait_text("#my-bid-text", "revealed", timeout=PERIOD_TIMEOUT_MS)
    ev.screenshot("07-revealed")

    # The keeper matches the auction: the money moves between the two wallets.
    wind.wait_text("#my-wallet", r"^0\.01105$", timeout=PERIOD_TIMEOUT_MS)
    ev.wait_text("#my-wallet", r"^0\.99895$", timeout=PERIOD_TIMEOUT_MS)
    for prosumer in (wind, ev):
        row = f'#periods-table tr[data-period="{delivery_period}"]'
        prosumer.wait_text(row, r"Hilltop wind → EV charger: 1\.5 kWh @ 0\.7e-3", timeout=PERIOD_TIMEOUT_MS)
        prosumer.screenshot("08-traded")
    operator.screenshot("09-operator")
