"""`/api` on an embedded market: each endpoint's shape and values after a scripted period
(see `market_script`), refusals of malformed requests, and answers that follow new blocks."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account import Account
from flask.testing import FlaskClient
from market_script import (
    AVERAGE_PRICE,
    BIDS,
    DEPOSIT,
    PERIOD_LENGTH,
    RATED_POWER_W,
    READINGS_WH,
    ROLES,
    MarketScript,
    Trader,
    bid_and_reveal,
    entrust_body,
    period_with_readings,
    run_keeper,
)

from backend import create_app, entrusted_of, keeper_of
from backend.market_api import MAX_PERIODS
from devnet.embedded import start_embedded_market
from devnet.nodes import free_port
from p2pkit.bids import EntrustedBid
from p2pkit.market import Deployment, MarketHandle, MarketParameters
from p2pkit.period import Prosumer

APP_CONFIG = {"TESTING": True, "KEEPER": False, "KEEPER_DB": ":memory:"}


@dataclass
class SettledPeriod:
    """An app whose market has run one delivery period to its end, driven by the app's keeper."""

    client: FlaskClient
    script: MarketScript
    prosumers: dict[str, Trader]
    delivery_period: int

    def get(self, path: str) -> dict:
        reply = self.client.get(path)
        assert reply.status_code == 200, reply.get_json()
        return reply.get_json()

    def period(self) -> dict:
        return self.get(f"/api/periods/{self.delivery_period}")


@pytest.fixture(scope="module")
def settled() -> SettledPeriod:
    market = start_embedded_market(PERIOD_LENGTH)
    script = MarketScript(market)
    prosumers = [script.join(name) for name in ROLES]
    app = create_app(APP_CONFIG, market=market)
    keeper = keeper_of(app)
    delivery_period = period_with_readings(script, prosumers, keeper)
    run_keeper(keeper)
    return SettledPeriod(
        app.test_client(), script, {prosumer.name: prosumer for prosumer in prosumers}, delivery_period
    )


@pytest.fixture
def app(market):
    return create_app(APP_CONFIG, market=market)


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


# ---------------------------------------------------------------------- /api/contract


def test_contract_names_the_market_and_its_roles(settled):
    answer = settled.get("/api/contract")

    market = settled.script.market
    assert (answer["address"], answer["operator"], answer["grid"], answer["chain_id"]) == (
        settled.script.contract.address,
        market.operator.address,
        market.grid_key.address,
        settled.script.w3.eth.chain_id,
    )


def test_contract_carries_the_abi_for_the_page(settled):
    names = {entry.get("name") for entry in settled.get("/api/contract")["abi"]}

    assert {"commit", "reveal", "matchBids", "Trade", "CommitmentMismatch"} <= names


def test_contract_gives_schedule_and_parameters_with_wei_as_strings(settled):
    answer = settled.get("/api/contract")

    assert (
        answer["schedule"]["period_length"],
        answer["parameters"]["margin_wei"],
        answer["parameters"]["shortfall_factor_bps"],
    ) == (
        PERIOD_LENGTH,
        str(10**15),
        11_000,
    )


def test_contract_gives_the_price_bounds(settled):
    parameters = settled.get("/api/contract")["parameters"]

    assert (parameters["price_floor_wei"], parameters["price_cap_wei"]) == (
        str(MarketParameters().price_floor),
        str(MarketParameters().price_cap),
    )


# ---------------------------------------------------------------------- /api/status


def test_status_gives_the_current_period_phase_and_block(settled):
    answer = settled.get("/api/status")

    w3, contract = settled.script.w3, settled.script.contract
    now = contract.functions.currentPhase().call()
    assert (
        answer["period"],
        answer["phase"],
        answer["seconds_left"],
        answer["block"],
        answer["auction_delivery_period"],
    ) == (
        now.period,
        ["commit", "reveal", "matching", "settlement"][now.phase],
        now.secondsLeft,
        w3.eth.block_number,
        now.period + 1,
    )


def test_status_reports_what_the_keeper_did(settled):
    keeper = settled.get("/api/status")["keeper"]

    assert (keeper["enabled"], keeper["running"], [action["action"] for action in keeper["actions"]]) == (
        True,
        False,
        ["matchBids", "settle"],
    )


def test_status_without_a_key_for_the_keeper_says_there_is_no_keeper(market):
    client = create_app(
        APP_CONFIG, market=MarketHandle(market.w3, market.contract, market.deployment, lock=market.lock)
    ).test_client()

    keeper = client.get("/api/status").get_json()["keeper"]

    assert (keeper["enabled"], "P2P_KEEPER_KEY" in keeper["reason"]) == (False, True)


# ---------------------------------------------------------------------- /api/periods/<d>


def test_period_lists_its_trades(settled):
    wind, controllable, ev, load = (settled.prosumers[name] for name in ("wind", "controllable", "ev", "load"))

    trades = [
        (trade["seller"], trade["buyer"], trade["quantity_wh"], trade["price_wei"], trade["cost_wei"])
        for trade in settled.period()["trades"]
    ]

    assert trades == [
        (wind.address, ev.address, 800, str(7 * 10**14), str(800 * 7 * 10**14 // 1000)),
        (controllable.address, load.address, 500, str(6 * 10**14), str(500 * 6 * 10**14 // 1000)),
    ]


def test_period_gives_traded_energy_and_average_price(settled):
    answer = settled.period()

    assert (answer["stage"], answer["traded_wh"], answer["average_price_wei"]) == ("settled", 1300, str(AVERAGE_PRICE))


def test_period_settles_each_prosumer_against_its_reading(settled):
    actual = {settlement["prosumer"]: settlement["actual_wh"] for settlement in settled.period()["settlements"]}

    assert actual == {settled.prosumers[name].address: wh for name, wh in READINGS_WH.items()}


def test_period_settlement_moves_wallets_by_balancing_plus_reward(settled):
    settlements = settled.period()["settlements"]

    assert [int(s["balancing_wei"]) + int(s["reward_wei"]) for s in settlements] == [
        int(s["wallet_change_wei"]) for s in settlements
    ]


def test_period_shows_the_revealed_bids_once_the_auction_closed(settled):
    bids = {
        bid["bidder"]: (bid["quantity_wh"], int(bid["price_wei"]), bid["producer"], bid["green"])
        for bid in settled.period()["bids"]
    }

    assert bids == {settled.prosumers[name].address: (*BIDS[name], *ROLES[name]) for name in ROLES}


def test_period_hides_bids_while_the_auction_is_open(script, client, wind, ev):
    delivery_period = bid_and_reveal(script, [wind, ev])

    answer = client.get(f"/api/periods/{delivery_period}").get_json()

    assert (answer["stage"], answer["bid_count"], answer["bids_public"], answer["bids"]) == ("bidding", 2, False, [])


def test_period_without_trades_has_no_average_price(settled):
    answer = settled.get(f"/api/periods/{settled.delivery_period + 5}")

    assert (answer["stage"], answer["average_price_wei"], answer["trades"]) == ("upcoming", None, [])


def test_period_matched_without_trades_settles_at_the_reference_price(app, script, client, wind):
    delivery_period = bid_and_reveal(script, [wind])
    script.to_auction_close(delivery_period)
    run_keeper(keeper_of(app))

    answer = client.get(f"/api/periods/{delivery_period}").get_json()

    assert (answer["stage"], answer["average_price_wei"], answer["settlement_price_wei"]) == (
        "matched",
        None,
        str(MarketParameters().reference_price),
    )


@pytest.mark.parametrize("period", ["soon", "-1", str(2**32)])
def test_period_that_is_not_a_period_number_is_refused(settled, period):
    reply = settled.client.get(f"/api/periods/{period}")

    assert (reply.status_code, "error" in reply.get_json()) == (400, True)


# ---------------------------------------------------------------------- /api/periods


def test_period_range_gives_each_summary_without_bids(settled):
    d = settled.delivery_period
    answer = settled.get(f"/api/periods?from={d - 1}&to={d}")

    single = {key: value for key, value in settled.period().items() if key not in ("bids", "bids_public")}
    assert ([period["delivery_period"] for period in answer["periods"]], answer["periods"][1]) == ([d - 1, d], single)


@pytest.mark.parametrize(
    "query",
    [f"from=0&to={MAX_PERIODS}", "from=5&to=4", "from=yesterday&to=4"],
    ids=["too many periods", "from after to", "not a number"],
)
def test_period_range_that_cannot_be_answered_is_refused(settled, query):
    reply = settled.client.get(f"/api/periods?{query}")

    assert (reply.status_code, "error" in reply.get_json()) == (400, True)


# ---------------------------------------------------------------------- /api/accounts


def test_accounts_lists_every_registered_account(settled):
    names = [account["name"] for account in settled.get("/api/accounts")["accounts"]]

    assert names == ["public grid", *ROLES]


def test_account_record_shows_its_wallet_as_the_contract_does(settled):
    ev = settled.prosumers["ev"]

    answer = settled.get(f"/api/accounts/{ev.address}")

    record = settled.script.contract.functions.accountOf(ev.address).call()
    assert (
        answer["id"],
        answer["wallet_wei"],
        answer["free_balance_wei"],
        answer["meter"],
        answer["rated_power_w"],
    ) == (
        record.id,
        str(record.wallet),
        str(record.freeBalance),
        ev.meter.address,
        RATED_POWER_W,
    )


def test_account_record_shows_sale_proceeds_locked_until_settlement(app, script, client, wind, ev):
    delivery_period = bid_and_reveal(script, [wind, ev])
    script.to_auction_close(delivery_period)
    run_keeper(keeper_of(app))

    answer = client.get(f"/api/accounts/{wind.address}").get_json()

    proceeds = sum(int(entry["amount_wei"]) for entry in answer["history"] if entry["kind"] == "sale")
    assert proceeds > 0
    assert (answer["locked_proceeds_wei"], answer["locked_wei"]) == (str(proceeds), str(proceeds + 10**15))


def test_account_history_lists_every_wallet_movement_in_order(settled):
    history = settled.get(f"/api/accounts/{settled.prosumers['ev'].address}")["history"]

    assert [(entry["kind"], entry["delivery_period"]) for entry in history] == [
        ("deposit", None),
        ("purchase", settled.delivery_period),
        ("settlement", settled.delivery_period),
    ]


@pytest.mark.parametrize("name", ["wind", "ev", "public grid"])
def test_account_history_ends_at_the_current_wallet(settled, name):
    address = settled.prosumers[name].address if name in settled.prosumers else settled.get("/api/contract")["grid"]

    answer = settled.get(f"/api/accounts/{address}")

    assert answer["history"][-1]["wallet_wei"] == answer["wallet_wei"]


def test_account_that_is_not_registered_is_not_found(settled):
    reply = settled.client.get(f"/api/accounts/{Account.create().address}")

    assert (reply.status_code, "not registered" in reply.get_json()["error"]) == (404, True)


@pytest.mark.parametrize(
    "address",
    ["0x1234", "wind", "0x" + "g" * 40, "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cE"],
    ids=["too short", "a name", "not hex", "wrong checksum"],
)
def test_malformed_address_is_refused(settled, address):
    reply = settled.client.get(f"/api/accounts/{address}")

    assert (reply.status_code, "error" in reply.get_json()) == (400, True)


def test_answers_follow_a_new_block(script, client, wind):
    before = client.get(f"/api/accounts/{wind.address}").get_json()["wallet_wei"]
    script.send(script.contract.functions.deposit(), wind.key, value=123)

    after = client.get(f"/api/accounts/{wind.address}").get_json()["wallet_wei"]

    assert (int(before), int(after)) == (DEPOSIT, DEPOSIT + 123)


# ---------------------------------------------------------------------- /api/entrust


def test_entrusted_bid_is_accepted_with_the_secrecy_it_gives_up(script, client, controllable):
    delivery_period = script.next_auction()

    reply = client.post("/api/entrust", json=entrust_body(script, controllable, delivery_period))

    answer = reply.get_json()
    assert (reply.status_code, answer["delivery_period"], "operator" in answer["secrecy"]) == (
        202,
        delivery_period,
        True,
    )


def test_entrusted_bid_says_when_it_becomes_public(script, client, controllable):
    delivery_period = script.next_auction()

    answer = client.post("/api/entrust", json=entrust_body(script, controllable, delivery_period)).get_json()

    assert answer["public_from"] == script.schedule.reveal_opens(delivery_period)


def test_the_same_bid_entrusted_again_is_accepted_as_already_there(script, client, controllable):
    body = entrust_body(script, controllable, script.next_auction())
    client.post("/api/entrust", json=body)

    reply = client.post("/api/entrust", json=body)

    assert (reply.status_code, reply.get_json()["already_entrusted"]) == (202, True)


def test_entrusted_bid_is_kept_for_the_keeper(app, script, client, controllable):
    delivery_period = script.next_auction()

    client.post("/api/entrust", json=entrust_body(script, controllable, delivery_period))

    kept = entrusted_of(app).untried(delivery_period)
    assert kept == [
        EntrustedBid(controllable.address, delivery_period, *BIDS["controllable"], controllable.bid.salt, kept[0].id)
    ]


def test_bid_entrusted_through_the_api_is_revealed_by_the_keeper(app, script, client, controllable):
    delivery_period = script.next_auction()
    script.commit(controllable)
    client.post("/api/entrust", json=entrust_body(script, controllable, delivery_period))
    script.to_reveal_window(delivery_period)

    run_keeper(keeper_of(app))

    assert [event.args.account for event in script.events("BidRevealed", delivery_period)] == [controllable.address]


def test_entrusted_bids_outcome_is_shown_without_its_values(app, script, client, controllable):
    delivery_period = script.next_auction()
    script.commit(controllable)
    client.post("/api/entrust", json=entrust_body(script, controllable, delivery_period))
    script.to_reveal_window(delivery_period)
    run_keeper(keeper_of(app))

    [entry] = client.get(f"/api/entrust/{controllable.address}").get_json()["entrusted"]

    assert (sorted(entry), entry["delivery_period"], entry["outcome"]) == (
        ["delivery_period", "detail", "entrusted_at", "outcome"],
        delivery_period,
        "revealed",
    )


def test_entrusting_after_the_reveal_window_is_refused(script, client, controllable):
    delivery_period = script.next_auction()
    script.to_auction_close(delivery_period)

    reply = client.post("/api/entrust", json=entrust_body(script, controllable, delivery_period))

    assert (reply.status_code, "closed" in reply.get_json()["error"]) == (409, True)


def test_entrusting_for_a_later_auction_is_refused(script, client, controllable):
    delivery_period = script.next_auction()

    reply = client.post("/api/entrust", json=entrust_body(script, controllable, delivery_period + 1))

    assert (reply.status_code, "closed" in reply.get_json()["error"]) == (409, True)


def test_bid_entrusted_with_someone_elses_signature_is_refused(app, script, client, controllable, wind):
    delivery_period = script.next_auction()

    reply = client.post("/api/entrust", json=entrust_body(script, controllable, delivery_period, signer=wind.key))

    assert (reply.status_code, "signature" in reply.get_json()["error"]) == (403, True)
    assert entrusted_of(app).untried(delivery_period) == []


def test_bid_changed_after_signing_is_refused(app, script, client, controllable):
    delivery_period = script.next_auction()
    changed = entrust_body(
        script, controllable, delivery_period, changes={"price_wei": str(controllable.bid.price + 1)}
    )

    reply = client.post("/api/entrust", json=changed)

    assert (reply.status_code, "signature" in reply.get_json()["error"]) == (403, True)
    assert entrusted_of(app).untried(delivery_period) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"bidder": "0x1234"},
        {"delivery_period": -1},
        {"quantity_wh": 0},
        {"quantity_wh": 2**40},
        {"quantity_wh": 1.5},
        {"price_wei": "-1"},
        {"price_wei": str(2**64)},
        {"price_wei": True},
        {"salt": "0x1234"},
        {"salt": "0x" + "zz" * 32},
        {"signature": "0x1234"},
        {"signature": "0x" + "00" * 65},
    ],
    ids=lambda changes: f"{next(iter(changes))}={next(iter(changes.values()))!r}",
)
def test_entrusted_bid_with_a_bad_value_is_refused(script, client, controllable, changes):
    delivery_period = script.next_auction()

    reply = client.post("/api/entrust", json=entrust_body(script, controllable, delivery_period, changes=changes))

    assert (reply.status_code, next(iter(changes)) in reply.get_json()["error"]) == (400, True)


def test_entrusted_bid_missing_a_value_is_refused(script, client, controllable):
    body = entrust_body(script, controllable, script.next_auction())
    del body["salt"]

    reply = client.post("/api/entrust", json=body)

    assert (reply.status_code, reply.get_json()["error"]) == (400, "missing: salt")


def test_entrusted_bid_of_an_unregistered_bidder_is_refused(script, client, controllable):
    delivery_period = script.next_auction()
    stranger = Trader(Prosumer("stranger", False, False, Account.create(), Account.create(), 1), controllable.bid)

    reply = client.post("/api/entrust", json=entrust_body(script, stranger, delivery_period))

    assert (reply.status_code, "not a registered prosumer" in reply.get_json()["error"]) == (403, True)


def test_entrusting_without_an_operator_key_is_refused(market, script, controllable):
    without_key = MarketHandle(market.w3, market.contract, market.deployment, lock=market.lock)
    client = create_app(APP_CONFIG, market=without_key).test_client()

    reply = client.post("/api/entrust", json=entrust_body(script, controllable, script.next_auction()))

    assert reply.status_code == 503


# ---------------------------------------------------------------------- without a market


def test_api_without_a_market_says_why(fake_upstream):
    reply = create_app({"TESTING": True}, upstream=fake_upstream).test_client().get("/api/status")

    assert (reply.status_code, reply.get_json()["error"].startswith("no market")) == (503, True)


def test_api_without_a_deployment_file_names_the_file(tmp_path):
    missing = tmp_path / "deployment.json"
    client = create_app({"CHAIN": "http://127.0.0.1:8545", "DEPLOYMENT": str(missing)}).test_client()

    assert str(missing) in client.get("/api/contract").get_json()["error"]


def test_api_whose_node_is_down_answers_503(tmp_path):
    deployment_file = tmp_path / "deployment.json"
    Deployment(chain_id=1, market="0x" + "11" * 20, operator="0x" + "33" * 20, grid="0x" + "22" * 20, block=0).save(
        deployment_file
    )
    app = create_app(
        {"CHAIN": f"http://127.0.0.1:{free_port()}", "DEPLOYMENT": str(deployment_file), "RPC_TIMEOUT": 0.5}
    )

    reply = app.test_client().get("/api/status")

    assert (reply.status_code, "cannot be reached" in reply.get_json()["error"]) == (503, True)
