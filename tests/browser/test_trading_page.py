"""A whole trading period in real pages: a wind producer and an EV charger register, are
authorized by the operator, deposit, bid, trade, have their delivery metered and settled, and
withdraw; each person works in a browser context of their own (own localStorage, own key).

Waits are for conditions on the page (with generous limits), never for fixed times: the market
clock runs on its own and the test follows it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import MONTH_LENGTH, PERIOD_LENGTH, READING_GRACE
from eth_account import Account
from trading_page import ACTION_TIMEOUT_MS, PASSWORD, PERIOD_TIMEOUT_MS, TradingPage, open_trading_page

from p2pkit.market import attach
from p2pkit.retail.contracts import Party, enrol, retail_at
from p2pkit.retail.plans import PlanTerms, PriceKind
from p2pkit.retail.terms import Terms, sign_terms
from p2pkit.transactions import send

BROWSER_WALLET = Path(__file__).with_name("browser_wallet.js")


@pytest.fixture
def open_page(request, browser, market_server, artifacts):
    """Opens the page for one person in a browser context of its own; on failure every open
    page is photographed as it was."""
    opened: list[TradingPage] = []

    def open_for(who: str, wallet_key: str | None = None) -> TradingPage:
        """With `wallet_key` the browser has a wallet extension holding that key."""
        script = BROWSER_WALLET.read_text().replace("__PRIVATE_KEY__", wallet_key) if wallet_key else None
        opened.append(open_trading_page(browser, market_server.url, who, artifacts, script))
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


@pytest.mark.slow
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
    assert operator.import_key(market_server.operator_key).lower() == contract["operator"].lower()
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

    # Only a metered prosumer may bid: the operator binds each one's smart meter with its rated
    # power. These meters are rated 80 kW: 2 kWh in one of the test market's 90-second periods.
    readings = {"wind": (1001, 1400), "ev": (1002, 1600)}  # meter number, actual Wh
    meters = {}
    for prosumer in (wind, ev):
        number, _ = readings[prosumer.who]
        meters[prosumer.who] = meter = Account.create()
        market_server.send_gas_money(meter.address, ether=1)
        operator.page.fill("#meter-prosumer", prosumer.text("#my-address"))
        operator.page.fill("#meter-address", meter.address)
        operator.page.fill("#meter-number", str(number))
        operator.page.fill("#meter-rated-kw", "80")
        operator.act("#meter-form button", "done")
        prosumer.wait_text("#my-meter", f"Meter no. {number}.*at most 2 kWh a period")
    # A refusal only the contract knows of comes back decoded from its custom error.
    operator.page.fill("#meter-prosumer", ev.text("#my-address"))
    operator.page.fill("#meter-address", meters["wind"].address)
    operator.page.fill("#meter-number", "1003")
    operator.page.fill("#meter-rated-kw", "80")
    operator.page.evaluate("document.getElementById('message').className = 'message'")
    operator.page.click("#meter-form button")
    operator.wait_text("#message", r"Refused by the market: That meter is already bound to prosumer #2\.")
    operator.screenshot("05-meter-refused")

    # The bid form opens with the commit window. A bid the contract would refuse is refused by
    # the page before anything is sent.
    wait_for_fresh_commit_window(wind)
    ev.page.fill("#bid-quantity", "5000")
    ev.page.fill("#bid-price", "0.8")
    ev.page.evaluate("document.getElementById('message').className = 'message'")
    ev.page.click("#bid-form button")
    ev.wait_text("#message", "Your meter can measure at most 2 kWh in a period")
    ev.screenshot("05-refused-before-sending")

    # Sealed bids in one commit window: wind sells 2 kWh from 0.6e-3 ether/kWh, the EV buys
    # 1.5 kWh up to 0.8e-3; they trade 1.5 kWh at the midpoint, 0.7e-3 ether/kWh = 1.05e-3 ether.
    wind.page.fill("#bid-quantity", "2")
    wind.page.fill("#bid-price", "0.6")
    wind.act("#bid-form button", "done")
    ev.page.fill("#bid-quantity", "1.5")
    ev.page.fill("#bid-price", "0.8")
    ev.page.check("#bid-entrust")  # the EV leaves the reveal to the keeper
    ev.act("#bid-form button", "the keeper will reveal it for you")
    delivery_period = wind.text("#bid-period")
    wind.wait_text("#my-bid-text", "sealed")
    wind.screenshot("06-sealed")

    # The pages reveal by themselves in the reveal window.
    for prosumer in (wind, ev):
        prosumer.wait_text("#my-bid-text", "revealed as bid #", timeout=PERIOD_TIMEOUT_MS)
    ev.screenshot("07-revealed")

    # The keeper matches the auction: the money moves between the two wallets.
    wind.wait_text("#my-wallet", r"^0\.01105$", timeout=PERIOD_TIMEOUT_MS)
    ev.wait_text("#my-wallet", r"^0\.99895$", timeout=PERIOD_TIMEOUT_MS)
    row = f'#periods-table tr[data-period="{delivery_period}"]'
    for prosumer in (wind, ev):
        prosumer.wait_text(row, r"Hilltop wind → EV charger: 1\.5 kWh @ 0\.7e-3", timeout=PERIOD_TIMEOUT_MS)
        prosumer.screenshot("08-traded")

    # What the wind farm's sale brought stays locked until the period is settled.
    wind.wait_text("#my-free", r"^0\.009$")
    wind.wait_text("#my-proceeds", r"0\.00105 ether of sales until their period is settled")

    # Delivery: once the delivery period is over, the meters post what was really produced and
    # used, and the keeper settles.
    market_server.wait_for_period(int(delivery_period) + 1, seconds=3 * PERIOD_LENGTH)
    for prosumer in (wind, ev):
        number, actual_wh = readings[prosumer.who]
        market_server.post_reading(meters[prosumer.who], number, int(delivery_period), actual_wh)

    # Each delivered 0.1 kWh off its cleared 1.5 kWh on the short side (the wind farm produced
    # less, the EV used more): balancing 0.1 kWh x 0.7e-3 x W' 1.1 = 0.077e-3 ether to the grid.
    wind.wait_text(row, r"settled", timeout=PERIOD_TIMEOUT_MS)
    ev.wait_text(row, r"settled", timeout=PERIOD_TIMEOUT_MS)
    for prosumer, actual in ((wind, "1.4"), (ev, "1.6")):
        cells = prosumer.page.locator(f"{row} td").all_inner_texts()
        assert cells[6] == actual and cells[7] == "-0.077", cells
        prosumer.screenshot("10-settled")
    operator.screenshot("11-operator")
    # Settled: the wind farm's proceeds and margin are free again, less what it owed (0.0882e-3).
    wind.wait_text("#my-free", r"^0\.010961$")

    # The operator changes parameters from its form; the market applies them from now on.
    operator.page.fill("#param-reference", "0.75")
    operator.page.fill("#param-cap", "5")
    operator.act("#parameters-form button", "done")
    parameters = market_server.json("/api/contract")["parameters"]
    assert (parameters["reference_price_wei"], parameters["price_cap_wei"]) == (str(75 * 10**13), str(5 * 10**15))

    # With its bid settled the EV's margin is free again, and it takes money out.
    ev.page.fill("#withdraw-amount", "2")
    ev.page.evaluate("document.getElementById('message').className = 'message'")
    ev.page.click("#withdraw-form button")
    ev.wait_text("#message", r"^Only 0\.99888 ether is free to withdraw")
    ev.page.fill("#withdraw-amount", "0.5")
    ev.act("#withdraw-form button", "done")
    ev.wait_text("#my-wallet", r"^0\.49888$")
    ev.screenshot("12-withdrawn")

    # The key stays in the browser, encrypted: after a reload the password opens it again.
    address = wind.text("#my-address")
    wind.page.reload()
    wind.page.wait_for_selector("body[data-ready=true]", timeout=ACTION_TIMEOUT_MS)
    assert wind.page.input_value("#unlock-address") == address
    wind.page.fill("#unlock-password", PASSWORD)
    wind.act("#unlock-form button", "is open")
    wind.wait_text("#my-name", "Hilltop wind")


@pytest.mark.slow
def test_prosumer_with_a_browser_wallet_registers_deposits_and_entrusts_a_bid(open_page, market_server):
    key = Account.create()
    market_server.send_gas_money(key.address)
    pv = open_page("pv-wallet", wallet_key="0x" + key.key.hex().removeprefix("0x"))

    pv.act("#use-injected", "is open")
    assert pv.text("#my-address") == key.address
    pv.register("Rooftop PV", "producer", green=True)
    market_server.authorize(key.address)
    market_server.bind_meter(key.address, Account.create().address, 2001, 120_000)
    pv.wait_text("#my-authorization", "has authorized you")
    pv.wait_text("#my-meter", "Meter no. 2001")
    pv.deposit("0.05")
    pv.wait_text("#my-wallet", r"^0\.05$")

    # The wallet signs the commit transaction and the message entrusting the bid to the keeper.
    wait_for_fresh_commit_window(pv)
    pv.page.fill("#bid-quantity", "1")
    pv.page.fill("#bid-price", "0.5")
    pv.page.check("#bid-entrust")
    pv.act("#bid-form button", "the keeper will reveal it for you")
    pv.wait_text("#my-bid-text", "revealed as bid #", timeout=PERIOD_TIMEOUT_MS)
    pv.screenshot("01-wallet-bid-revealed")
    [entrusted] = market_server.json(f"/api/entrust/{key.address}")["entrusted"]
    assert entrusted["outcome"] == "revealed", entrusted


RETAIL_GAS = 600_000  # above what each retail transaction needs: no estimate through /rpc


@pytest.mark.slow
def test_customer_sees_plans_ranked_and_its_contract_settled(open_page, market_server):
    """A retailer publishes two plans; an office buys from a solar park under a one-month
    contract; after the month both meters post and the keeper settles. The office's page ranks
    the plans for an entered profile and shows the settled month and its payments."""
    w3 = market_server.web3()
    contract = market_server.json("/api/contract")
    overview = market_server.json("/api/retail")
    market, retail = attach(w3, contract["address"]), retail_at(w3, overview["contracts_address"])
    operator = Account.from_key(market_server.operator_key)
    retailer, park, office = (Party(Account.create(), Account.create(), n) for n in (3001, 3002, 3003))
    for party in (retailer, park, office):
        market_server.send_gas_money(party.address, ether=5)
        market_server.send_gas_money(party.meter.address, ether=1)
    for party, name, producer in (
        (retailer, "City Retail", False),
        (park, "Solar park", True),
        (office, "Office", False),
    ):
        enrol(
            w3,
            market,
            retail,
            operator,
            party,
            name=name,
            producer=producer,
            rated_power_w=100_000,
            retail_deposit=10**18,
            retailer=party is retailer,
        )
    for plan in (
        PlanTerms(PriceKind.FLAT, flat_price=6 * 10**14, months=6, reliability=((6, 300),)),
        PlanTerms(PriceKind.FLAT, flat_price=7 * 10**14, months=12, reliability=((1, 60),)),
    ):
        send(w3, retail.plans.functions.publishPlan(plan.as_abi()), retailer.account, gas=RETAIL_GAS)
    month = retail.contracts.functions.currentMonth().call() + 1
    terms = Terms(
        buyer=office.address,
        seller=park.address,
        first_month=month,
        months=1,
        monthly_wh=2_000,
        direct_price=4 * 10**14,
        catalogue_price=6 * 10**14,
        penalty_rate=2 * 10**13,
        buyer_deposit=10**16,
        seller_deposit=10**16,
    )
    signatures = [
        sign_terms(p.account.key, terms, 1, w3.eth.chain_id, retail.contracts.address) for p in (office, park)
    ]
    send(w3, retail.contracts.functions.signContract(terms.as_abi(), 1, *signatures), office.account, gas=RETAIL_GAS)

    page = open_page("office")
    page.import_key(office.account.key.to_0x_hex())
    page.page.wait_for_selector("#retail-card:not([hidden])", timeout=ACTION_TIMEOUT_MS)
    page.page.check("#profile-entered-choice")
    page.page.fill("#profile-kwh", "2")
    page.page.fill("#profile-deviation", "4")
    page.page.fill("#weight-reliability", "0.6")
    page.page.fill("#weight-price", "0.4")
    page.page.fill("#weight-deviation", "0")
    page.page.fill("#weight-duration", "0")
    page.page.click("#rank-form button")
    page.wait_text("#ranked-profile", r"plan #\d+ is advised")
    rows = page.page.locator("#plans-table tbody tr")
    assert rows.count() == 2
    first = rows.nth(0).locator("td").all_inner_texts()
    # The second plan's outages (1 h against 30 h) weigh more than its price (0.7e-3 against 0.6e-3).
    assert first[1] == "#2" and first[6:11] == ["1.000", "0.000", "1.000", "0.500", "0.600"], first
    page.wait_text('#my-contracts-table tr[data-contract="1"]', r"active")
    page.screenshot("retail-01-ranked")

    # The month ends; both meters post their frozen registers; the keeper settles the month.
    start = retail.contracts.functions.monthStart(month + 1).call()
    # At most two months away, and a minute more for a loaded machine.
    market_server.wait_for("/api/retail", lambda o: o["block_time"] > start, seconds=2 * MONTH_LENGTH + 60)
    for party, energy in ((office, 2_100), (park, 1_800)):
        call = retail.contracts.functions.submitMonthlyReading(month, party.meter_number, 10_000, 10_000 + energy)
        send(w3, call, party.meter, gas=RETAIL_GAS)
    market_server.wait_for("/api/retail/contracts/1", lambda c: c["state"] == "completed", seconds=READING_GRACE)
    page.wait_text('#my-contracts-table tr[data-contract="1"]', r"completed")
    # Inside the band: 2.1 kWh x 0.4e-3 = 0.00084 ether to the park; the park fed in 1.8 kWh of
    # 2, below 95 %: it pays the grid (1.9 - 1.8) kWh x 0.2e-3 = 0.00002 ether.
    page.wait_text(
        '#my-contracts-table tr[data-contract-months="1"]',
        r"Office 2\.1 kWh, Solar park 1\.8 kWh; Office paid Solar park 0\.00084 ether; "
        r"Solar park paid the grid 0\.00002 for the shortfall",
    )
    page.screenshot("retail-02-settled")
