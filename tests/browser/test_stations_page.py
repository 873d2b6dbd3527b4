"""The storage stations in a real page: a prosumer sees the station list with each station's
state and its own lines, asks for energy, signing the request in the page, sees its connection
(station, loss rate, units so far) and cancels it; a request no station can serve is refused in
words before anything is signed."""

from __future__ import annotations

import pytest
from browser_support import serving_embedded_market
from eth_account import Account
from trading_page import open_trading_page
from web3 import Web3

from devnet import sister, stations
from p2pkit.stations import DispatchClient, dispatch_at, loss_ppm

ETHER = 10**18


@pytest.fixture(scope="module")
def stations_server(artifacts):
    """A backend with the sister chains and a dispatch contract; one station, 40 of 100 kWh,
    which can supply but, with an absorb threshold of 70 kWh, not take in."""
    environment = {**sister.backend_environment(Account.create().address), **stations.BACKEND_ENVIRONMENT}
    with serving_embedded_market(artifacts / "stations-backend.log", environment, start_seconds=300) as server:
        scheduling = Web3(Web3.HTTPProvider(f"{server.url}/rpc/scheduling"))
        dispatch = dispatch_at(scheduling, server.json("/api/stations")["dispatch"])
        company = DispatchClient(scheduling, dispatch, Account.from_key(server.operator_key))
        company.register_station(Account.create().address, 40, 100, 5, 70)
        yield server, company


@pytest.fixture
def prosumer_page(request, browser, stations_server, artifacts):
    """A prosumer's page with a key imported, ether on both chains and a 4 % line to the station."""
    server, company = stations_server
    key = Account.create()
    server.send_gas_money(key.address)
    sister.give_sister_funds(server.url, Account.from_key(server.operator_key), key.address, 1, ETHER)
    company.set_line(key.address, 1, loss_ppm(0.04))
    prosumer = open_trading_page(browser, server.url, "stations", artifacts)
    prosumer.import_key(key.key.to_0x_hex())
    yield prosumer
    if getattr(request.node, "report_call", None) is None or request.node.report_call.failed:
        prosumer.screenshot("failed")
    prosumer.page.context.close()


@pytest.mark.slow
def test_a_prosumer_asks_a_station_for_energy_sees_its_connection_and_cancels(prosumer_page):
    page = prosumer_page
    page.wait_text('#stations-body tr[data-station="1"]', "40 / 100 kWh.*online; available to supply")
    page.wait_text("#my-lines", r"#1: 4\.0 %")
    page.page.select_option("#station-direction", "absorb")
    page.page.fill("#station-units", "2")
    page.page.click("#station-form button[type=submit]")
    page.wait_text("#message", "No station you have a line to can take in energy now")
    page.page.select_option("#station-direction", "supply")
    page.page.fill("#station-units", "3")
    page.act("#station-form button[type=submit]", "station #1 was assigned")
    page.wait_text(
        "#my-connection",
        r"Buying energy from station #1 at 4\.0 % line loss: 0 of 10 units on this connection, 3 to go",
    )
    page.screenshot("stations-connected")
    page.act("#station-cancel", "Cancelling your station request: done")
    page.wait_text("#my-connection", "^No request open.$")
