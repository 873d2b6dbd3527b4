"""The sister chains in a real page: a prosumer sees its tokens and energy rights on both
chains, converts tokens to rights, signing the lock in the page, and watches the transfer go
from locked through its confirmations to unlocked by the relayer daemon."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from browser_support import serving_embedded_market
from eth_account import Account
from trading_page import open_trading_page

from devnet import sister
from devnet.nodes import stop_processes

TOKENS = 100
ETHER = 10**18
# Six confirmations of 1 s blocks, the relayer's steps and the embedded chains' pace.
UNLOCK_TIMEOUT_MS = 300_000


@pytest.fixture(scope="module")
def sister_server(artifacts):
    """A backend with the sister chains beside its market, and the relayer daemon between them."""
    with tempfile.TemporaryDirectory(prefix="p2p-browser-relayer-") as folder:
        keystore, password, relayer = sister.new_relayer_key(Path(folder))
        environment = sister.backend_environment(relayer)
        # The market and both chains' contracts are deployed before the backend serves.
        with serving_embedded_market(artifacts / "sister-backend.log", environment, start_seconds=300) as server:
            daemon = sister.start_relayer(server.url, keystore, password, artifacts / "relayer.log")
            try:
                yield server
            finally:
                stop_processes([daemon])


@pytest.fixture
def prosumer_page(request, browser, sister_server, artifacts):
    """A prosumer's page with a key imported, holding tokens on the trading chain and ether on both."""
    key = Account.create()
    sister_server.send_gas_money(key.address)
    operator = Account.from_key(sister_server.operator_key)
    sister.give_sister_funds(sister_server.url, operator, key.address, TOKENS, ETHER)
    prosumer = open_trading_page(browser, sister_server.url, "sister", artifacts)
    prosumer.import_key(key.key.to_0x_hex())
    yield prosumer
    if getattr(request.node, "report_call", None) is None or request.node.report_call.failed:
        prosumer.screenshot("failed")
    prosumer.page.context.close()


@pytest.mark.slow
def test_a_prosumer_converts_tokens_to_rights_and_sees_them_unlocked(prosumer_page):
    page = prosumer_page
    page.wait_text("#my-tokens", f"^{TOKENS}$")
    page.wait_text("#my-rights", "^0$")
    page.page.select_option("#convert-direction", "tokens_to_rights")
    page.page.fill("#convert-amount", "40")
    page.act("#convert-form button", "locked")
    page.wait_text("#my-tokens", "^60$")
    page.wait_text("#transfers-body tr:first-child td:last-child", r"locked: confirmations \d / 6")
    page.screenshot("sister-locked")
    page.wait_text(
        "#transfers-body tr:first-child td:last-child",
        "unlocked: 40 released on the scheduling chain",
        timeout=UNLOCK_TIMEOUT_MS,
    )
    page.wait_text("#my-rights", "^40$")
    page.screenshot("sister-unlocked")


@pytest.mark.slow
def test_a_conversion_beyond_the_balance_is_refused_in_the_page(prosumer_page):
    page = prosumer_page
    page.wait_text("#my-rights", "^0$")
    page.page.select_option("#convert-direction", "rights_to_tokens")
    page.page.fill("#convert-amount", "5")
    page.page.click("#convert-form button")
    page.wait_text("#message", "You hold 0 rights on the scheduling chain")
    assert page.page.locator("#transfers-body tr").count() == 0
