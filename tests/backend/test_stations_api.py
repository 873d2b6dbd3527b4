"""/api/stations behind the backend: the dispatch contract deployed on the embedded scheduling
chain with the operator as the energy company, the station list with each station's state, and
a user's lines and connection; what it refuses."""

from __future__ import annotations

import pytest
from eth_account import Account

from backend import create_app
from backend.config import ConfigError
from backend.stations_api import STATIONS_EXTENSION
from p2pkit.sister.lock import SCHEDULING
from p2pkit.stations import Direction, DispatchClient, loss_ppm
from p2pkit.transactions import transfer

ETHER = 10**18


@pytest.fixture(scope="module")
def app():
    return create_app(
        {
            "TESTING": True,
            "CHAIN": "embedded",
            "PERIOD_LENGTH": 60,
            "EMBEDDED_BLOCK_INTERVAL": 0,
            "KEEPER": False,
            "SISTER_SCHEDULING_CHAIN": "embedded",
            "STATIONS_DISPATCH": "embedded",
        }
    )


@pytest.fixture(scope="module")
def grid(app):
    """Two stations (the second full, and offline), a user with a line to each, supplied by the first."""
    served = app.extensions[STATIONS_EXTENSION]
    operator = app.extensions["p2p_market"].operator
    w3 = served.chains.scheduling.w3
    stations, user = [Account.create(), Account.create()], Account.create()
    with served.chains.holding(SCHEDULING):
        company = DispatchClient(w3, served.dispatch, operator)
        for account in (*stations, user):
            transfer(w3, operator, account.address, ETHER)
        one = company.register_station(stations[0].address, 40, 100, 5, 5)
        two = company.register_station(stations[1].address, 100, 100, 5, 5)
        company.set_line(user.address, one, loss_ppm(0.07))
        company.set_line(user.address, two, loss_ppm(0.03))
        DispatchClient(w3, served.dispatch, stations[1]).report_state(100, 100, False)
        DispatchClient(w3, served.dispatch, user).request(Direction.SUPPLY, 4)
        DispatchClient(w3, served.dispatch, stations[0]).transfer_unit(user.address)
    return {"user": user, "stations": stations}


def test_the_station_list_gives_each_stations_state(app, grid):
    answer = app.test_client().get("/api/stations").get_json()

    assert [
        (s["id"], s["stored"], s["capacity"], s["online"], s["can_supply"], s["can_absorb"]) for s in answer["stations"]
    ] == [
        (1, 39, 100, True, True, True),
        (2, 100, 100, False, False, False),
    ]
    assert (answer["stations"][0]["supply_connections"], answer["units_per_connection"], answer["more"]) == (
        1,
        10,
        False,
    )


def test_a_user_sees_its_lines_and_its_connection(app, grid):
    answer = app.test_client().get(f"/api/stations/users/{grid['user'].address}").get_json()

    assert answer["lines"] == [{"station": 2, "loss_ppm": 30_000}, {"station": 1, "loss_ppm": 70_000}]
    assert answer["request"] == {
        "direction": "supply",
        "station": 1,
        "loss_ppm": 70_000,
        "units_on_connection": 1,
        "remaining": 3,
        "connected": True,
    }


def test_a_user_without_a_request_has_none(app, grid):
    answer = app.test_client().get(f"/api/stations/users/{Account.create().address}").get_json()

    assert (answer["lines"], answer["request"]) == ([], None)


def test_an_address_that_is_no_address_is_not_found(app):
    assert app.test_client().get("/api/stations/users/0x1234").status_code == 404


def test_a_backend_without_a_dispatch_contract_says_so():
    app = create_app(
        {"TESTING": True, "CHAIN": "embedded", "PERIOD_LENGTH": 60, "EMBEDDED_BLOCK_INTERVAL": 0, "KEEPER": False}
    )

    reply = app.test_client().get("/api/stations")

    assert (reply.status_code, "no storage stations" in reply.get_json()["error"]) == (404, True)


def test_a_dispatch_contract_without_the_sister_chains_is_refused():
    with pytest.raises(ConfigError, match="needs the sister chains"):
        create_app(
            {
                "TESTING": True,
                "CHAIN": "embedded",
                "PERIOD_LENGTH": 60,
                "KEEPER": False,
                "STATIONS_DISPATCH": "embedded",
            }
        )
