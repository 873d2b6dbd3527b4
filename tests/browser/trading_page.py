"""One person's trading page in Chromium, with the steps a person takes on it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from browser_support import PERIOD_LENGTH

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
        """Click, then wait until the page reports success in `expect_words`, or a refusal or
        failure, which fails the test with the page's own words."""
        self.page.evaluate("document.getElementById('message').className = 'message'")
        self.page.click(click_selector)
        self.page.wait_for_function(
            """words => {
                const message = document.getElementById("message");
                return message.classList.contains("error")
                    || (message.classList.contains("ok") && message.textContent.includes(words));
            }""",
            arg=expect_words,
            timeout=ACTION_TIMEOUT_MS,
        )
        message = self.page.locator("#message")
        assert "error" not in message.get_attribute("class"), f"{self.who}: {message.inner_text()}"

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


def open_trading_page(browser, url: str, who: str, artifacts: Path, init_script: str | None = None) -> TradingPage:
    """The page at ``url`` for one person, in a browser context of its own, once it is ready
    (``init_script`` runs in it before the page's own, e.g. a wallet extension)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    if init_script is not None:
        context.add_init_script(init_script)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready=true]", timeout=ACTION_TIMEOUT_MS)
    assert not errors, f"{who}'s page failed to start: {errors}"
    return TradingPage(who, page, artifacts)
