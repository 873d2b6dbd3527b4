"""`/api/retail`: plans ranked for a customer, contracts with their months, payments, defaults and
deposits, on an embedded market with the retail contracts beside it; and the keeper settling
the contracts' months."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction

import pytest
from flask.testing import FlaskClient
from market_script import PERIOD_LENGTH, MarketScript, Trader, period_with_readings, run_keeper
from retail_script import MONTH_LENGTH, RetailScript, start_retail_market

from backend import create_app, keeper_of
from backend.keeper import Keeper
from devnet.embedded import start_embedded_market
from p2pkit.retail.plans import PublishedPlan, scoring_plan
from p2pkit.retail.scoring import Customer, Weights, score_plans
from p2pkit.retail.terms import Terms
from sim.retail_reference import rules

APP_CONFIG = {"TESTING": True, "KEEPER": False, "KEEPER_DB": ":memory:"}
EQUAL_WEIGHTS = {"reliability": 0.25, "price": 0.25, "deviation": 0.25, "duration": 0.25}
FLAT_SHAPE = [1 / 24] * 24
# Contract 1, EV buys from wind: month one over the band (11 kWh of 10), month two under it.
EV_MONTHS_WH = (11_000, 9_000)
WIND_MONTHS_WH = (10_000, 10_000)


@dataclass
class RetailWorld:
    """An app whose keeper has settled contract 1 (EV from wind) to its end; contract 2 (load from
    controllable) starts in the month after."""

    client: FlaskClient
    script: MarketScript
    retail: RetailScript
    keeper: Keeper
    traders: dict[str, Trader]
    plan_ids: list[int]
    first_month: int
    keeper_actions: list

    def get(self, path: str) -> dict:
        reply = self.client.get(path)
        assert reply.status_code == 200, reply.get_json()
        return reply.get_json()

    def rank(self, body) -> tuple[int, dict]:
        reply = self.client.post("/api/retail/rank", json=body)
        return reply.status_code, reply.get_json()


@pytest.fixture(scope="module")
def world() -> RetailWorld:
    market = start_retail_market(PERIOD_LENGTH)
    script = MarketScript(market)
    traders = {name: script.join(name) for name in ("wind", "controllable", "ev", "load")}
    retail = RetailScript(script)
    plan_ids = retail.admit_retailer(traders["controllable"])
    app = create_app(APP_CONFIG, market=market)
    keeper = keeper_of(app)
    period_with_readings(script, list(traders.values()), keeper)  # the customers' period readings
    run_keeper(keeper)
    for trader in traders.values():
        retail.fill_wallet(trader)
    first = retail.current_month() + 1
    retail.sign(traders["ev"], traders["wind"], first_month=first)
    retail.sign(traders["load"], traders["controllable"], first_month=first + 2, months=3)
    actions = []
    for offset, (ev_wh, wind_wh) in enumerate(zip(EV_MONTHS_WH, WIND_MONTHS_WH)):
        month = first + offset
        retail.to_month_end(month)
        retail.post_month(traders["ev"], month, ev_wh)
        retail.post_month(traders["wind"], month, wind_wh)
        actions += run_keeper(keeper)
    return RetailWorld(app.test_client(), script, retail, keeper, traders, plan_ids, first, actions)


# ---------------------------------------------------------------------- overview and plans


def test_overview_names_the_retail_contracts_and_their_billing_clock(world):
    overview = world.get("/api/retail")
    assert overview["contracts_address"] == world.retail.contracts.address
    assert overview["plans_address"] == world.retail.plans.address
    assert overview["billing_clock"]["month_length"] == MONTH_LENGTH
    assert overview["contract_count"] == 2
    assert overview["plan_count"] == 3


def test_overview_money_adds_up_to_wallets_and_deposits(world):
    money = world.get("/api/retail")["money"]
    wallets = sum(world.retail.contracts.functions.walletOf(t.address).call() for t in world.traders.values())
    grid = world.script.market.deployment.grid
    wallets += world.retail.contracts.functions.walletOf(grid).call()
    held = sum(int(c["deposits"]["buyer_held_wei"]) + int(c["deposits"]["seller_held_wei"]) for c in contracts(world))
    assert int(money["deposits_held_wei"]) == held
    assert int(money["deposited_wei"]) - int(money["withdrawn_wei"]) == wallets + held


def test_plans_lists_the_plans_on_offer_with_their_terms(world):
    plans = world.get("/api/retail/plans")["plans"]
    assert [plan["id"] for plan in plans] == world.plan_ids
    assert plans[0]["price"] == {"type": "flat", "price_wei": str(6 * 10**14)}
    assert plans[1]["price"]["bands"][0] == {"from": "06:00", "to": "18:00", "price_wei": str(7 * 10**14)}
    assert plans[2]["price"]["tiers"][-1] == {"up_to_wh": None, "price_wei": str(55 * 10**13)}
    assert plans[0]["retailer"] == world.traders["controllable"].address


# ---------------------------------------------------------------------- ranking


def expected_scores(world, customer: Customer):
    plans = [PublishedPlan.of(world.retail.plans.functions.planOf(i).call()) for i in world.plan_ids]
    return score_plans([scoring_plan(plan, 1) for plan in plans], customer)


def test_rank_for_an_entered_profile_gives_the_reference_scores_best_first(world):
    status, answer = world.rank(
        {"profile": {"monthly_kwh": 8, "deviation_pct": 6, "hourly_shares": FLAT_SHAPE}, "weights": EQUAL_WEIGHTS}
    )
    assert status == 200, answer
    quarter = Fraction(1, 4)
    customer = Customer(Fraction(8), Fraction(6), tuple([Fraction(1, 24)] * 24), Weights(*[quarter] * 4))
    scores, choice = expected_scores(world, customer)
    by_id = {int(s.id): s for s in scores}
    assert answer["choice"] == int(choice) == answer["plans"][0]["id"]
    assert [p["score"] for p in answer["plans"]] == sorted((float(s.score) for s in scores), reverse=True)
    for plan in answer["plans"]:
        reference = by_id[plan["id"]]
        assert (plan["psri"], plan["spi"], plan["pdpi"], plan["adi"]) == tuple(
            float(x) for x in (reference.psri, reference.spi, reference.pdpi, reference.adi)
        )
        assert plan["monthly_bill_wei"] == str(int(reference.monthly_bill))


def test_rank_for_an_account_uses_the_profile_its_readings_give(world):
    ev = world.traders["ev"].address
    status, answer = world.rank({"account": ev, "weights": EQUAL_WEIGHTS})
    assert status == 200, answer
    # 11 and 9 kWh: w = 10 kWh, each month 1 kWh off, s = 10 %.
    assert answer["profile"]["monthly_kwh"] == 10.0
    assert answer["profile"]["deviation_pct"] == 10.0
    assert answer["profile"]["energy_from"] == "monthly readings"
    assert answer["profile"]["shape_from"] == "periods"
    assert sum(answer["profile"]["hourly_shares"]) == pytest.approx(1)
    assert [m["energy_wh"] for m in answer["profile"]["months"]] == list(EV_MONTHS_WH)


def test_profile_of_an_account_without_monthly_readings_comes_from_its_periods(world):
    profile = world.get(f"/api/retail/profile/{world.traders['load'].address}")
    assert profile["energy_from"] == "periods"
    # One metered period of 480 Wh, scaled to a month of MONTH_LENGTH / PERIOD_LENGTH periods.
    assert profile["monthly_kwh"] == pytest.approx(0.48 * MONTH_LENGTH / PERIOD_LENGTH)
    assert profile["deviation_pct"] == 0


def test_profile_of_an_account_without_readings_is_not_found(world):
    reply = world.client.get("/api/retail/profile/0x" + "12" * 20)
    assert reply.status_code == 404
    assert "enter a profile" in reply.get_json()["error"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (
            {
                "profile": {"monthly_kwh": 8, "deviation_pct": 6, "hourly_shares": FLAT_SHAPE},
                "weights": {**EQUAL_WEIGHTS, "price": 0.5},
            },
            "weights",
        ),
        (
            {
                "profile": {"monthly_kwh": 1e300, "deviation_pct": 6, "hourly_shares": FLAT_SHAPE},
                "weights": EQUAL_WEIGHTS,
            },
            "profile.monthly_kwh",
        ),
        (
            {"profile": {"monthly_kwh": -5, "deviation_pct": 6, "hourly_shares": FLAT_SHAPE}, "weights": EQUAL_WEIGHTS},
            "profile.monthly_kwh",
        ),
        (
            {
                "profile": {"monthly_kwh": 8, "deviation_pct": 1e9, "hourly_shares": FLAT_SHAPE},
                "weights": EQUAL_WEIGHTS,
            },
            "profile.deviation_pct",
        ),
        (
            {
                "profile": {"monthly_kwh": 8, "deviation_pct": 6, "hourly_shares": [1 / 23] * 23},
                "weights": EQUAL_WEIGHTS,
            },
            "profile.hourly_shares",
        ),
        (
            {
                "profile": {"monthly_kwh": 8, "deviation_pct": 6, "hourly_shares": [2, -1] + [0] * 22},
                "weights": EQUAL_WEIGHTS,
            },
            "profile.hourly_shares[1]",
        ),
        (
            {
                "profile": {"monthly_kwh": "8", "deviation_pct": 6, "hourly_shares": FLAT_SHAPE},
                "weights": EQUAL_WEIGHTS,
            },
            "profile.monthly_kwh",
        ),
        ({"weights": EQUAL_WEIGHTS}, "body"),
        ({"account": "0x" + "12" * 20, "profile": {}, "weights": EQUAL_WEIGHTS}, "body"),
        ({"account": "not an address", "weights": EQUAL_WEIGHTS}, "account"),
        ({"profile": {"monthly_kwh": 8, "deviation_pct": 6, "hourly_shares": FLAT_SHAPE}}, "weights"),
        ([1, 2, 3], "body"),
    ],
)
def test_rank_refuses_a_bad_body_naming_the_field(world, body, named):
    status, answer = world.rank(body)
    assert status == 400
    assert answer["error"].startswith(named)


def test_rank_refuses_a_huge_body_before_reading_it_whole(world):
    body = json.dumps({"profile": {"monthly_kwh": 8, "pad": "x" * 100_000}, "weights": EQUAL_WEIGHTS})
    reply = world.client.post("/api/retail/rank", data=body, content_type="application/json")
    assert reply.status_code == 413


def test_rank_refuses_a_deep_body(world):
    reply = world.client.post("/api/retail/rank", data="[" * 50 + "]" * 50, content_type="application/json")
    assert reply.status_code == 400
    assert "deeper" in reply.get_json()["error"]


# ---------------------------------------------------------------------- contracts


def contracts(world, query: str = "") -> list[dict]:
    return world.get(f"/api/retail/contracts{query}")["contracts"]


def test_operator_view_lists_every_contract(world):
    listed = contracts(world)
    assert [c["id"] for c in listed] == [1, 2]
    assert listed[0]["buyer"] == world.traders["ev"].address
    assert listed[1]["seller"] == world.traders["controllable"].address


def test_operator_view_pages_through_contracts(world):
    page = world.get("/api/retail/contracts?from=1&count=1")
    assert [c["id"] for c in page["contracts"]] == [1]
    assert page["next"] == 2


def test_customer_view_lists_only_its_own_contracts(world):
    assert [c["id"] for c in contracts(world, f"?party={world.traders['load'].address}")] == [2]
    assert [c["id"] for c in contracts(world, f"?party={world.traders['wind'].address}")] == [1]
    assert contracts(world, "?party=0x" + "12" * 20) == []


def test_contract_shows_each_settled_month_with_the_rules_payments(world):
    contract = world.get("/api/retail/contracts/1")
    assert contract["state"] == "completed"
    assert [m["month"] for m in contract["settled"]] == [world.first_month, world.first_month + 1]
    terms = Terms.of(world.retail.contracts.functions.contractOf(1).call().terms)
    for month, ev_wh, wind_wh in zip(contract["settled"], EV_MONTHS_WH, WIND_MONTHS_WH):
        asked = rules(terms, ev_wh, wind_wh)
        assert month["buyer_to_seller_wei"] == str(asked.direct + asked.penalty)
        assert month["buyer_to_third_party_wei"] == str(asked.excess_charge)
        assert month["seller_to_third_party_wei"] == str(asked.compensation)
        assert (month["buyer_wh"], month["seller_wh"]) == (ev_wh, wind_wh)
        assert month["buyer_metered"] and month["seller_metered"] and not month["default"]


def test_completed_contract_shows_its_deposits_released(world):
    deposits = world.get("/api/retail/contracts/1")["deposits"]
    assert deposits["buyer_held_wei"] == deposits["seller_held_wei"] == "0"
    assert deposits["released"] == {"to_buyer_wei": str(10**17), "to_seller_wei": str(10**17)}


def test_active_contract_shows_its_deposits_held_and_next_month(world):
    contract = world.get("/api/retail/contracts/2")
    assert contract["state"] == "active"
    assert contract["deposits"]["buyer_held_wei"] == contract["deposits"]["buyer_agreed_wei"] == str(10**17)
    assert contract["next_settlement"]["month"] == world.first_month + 2
    assert contract["next_settlement"]["due"] is False


def test_unknown_contract_is_not_found(world):
    assert world.client.get("/api/retail/contracts/99").status_code == 404
    assert world.client.get("/api/retail/contracts/x").status_code == 400


def test_account_shows_its_wallet_readings_and_contracts(world):
    account = world.get(f"/api/retail/accounts/{world.traders['ev'].address}")
    assert account["contract_ids"] == [1]
    assert [r["energy_wh"] for r in account["monthly_readings"]] == list(EV_MONTHS_WH)
    assert account["wallet_wei"] == str(world.retail.contracts.functions.walletOf(world.traders["ev"].address).call())
    assert world.get(f"/api/retail/accounts/{world.traders['controllable'].address}")["retailer"] is True


# ---------------------------------------------------------------------- the keeper


def test_keeper_settles_each_month_once_its_readings_are_in(world):
    batches = [action for action in world.keeper_actions if action.action == "settleBatch"]
    assert len(batches) == 2
    assert all(action.outcome.value == "sent" for action in batches)


def test_keeper_does_nothing_for_months_already_settled(world):
    assert run_keeper(world.keeper) == []


def test_restarted_keeper_settles_nothing_twice(world):
    restarted = Keeper(world.script.market, world.keeper._entrusted)
    assert run_keeper(restarted) == []


def test_keeper_settles_a_month_with_a_missing_reading_once_its_deadline_passed(world):
    load, controllable = world.traders["load"], world.traders["controllable"]
    month = world.first_month + 2
    world.retail.to_month_end(month)
    world.retail.post_month(controllable, month, 10_000)  # the load's meter stays silent
    assert run_keeper(world.keeper) == []
    world.retail.to_reading_deadline(month)
    actions = run_keeper(world.keeper)
    assert [action.action for action in actions] == ["settleBatch"]
    contract = world.get(f"/api/retail/contracts/2?party={load.address}")
    (month,) = contract["settled"]
    assert month["buyer_metered"] is False and month["seller_metered"] is True


def test_default_is_shown_with_its_shortfall(world):
    ev, wind = world.traders["ev"], world.traders["wind"]
    contracts_ = world.retail.contracts.functions
    # Empty the EV's wallet, then a contract whose deposit cannot cover an over-band month.
    world.script.send(contracts_.withdraw(contracts_.walletOf(ev.address).call()), ev.key)
    world.retail.fill_wallet(ev, 10**12)
    contract_id = world.retail.sign(ev, wind, buyer_deposit=10**12, seller_deposit=0, months=1)
    month = world.retail.current_month() + 1
    world.retail.to_month_end(month)
    world.retail.post_month(ev, month, 12_000)
    world.retail.post_month(wind, month, 10_000)
    run_keeper(world.keeper)
    contract = world.get(f"/api/retail/contracts/{contract_id}")
    assert contract["state"] == "defaulted"
    assert contract["defaulted"]["month"] == month
    assert int(contract["defaulted"]["buyer_shortfall_wei"]) > 0
    assert contract["settled"][0]["default"] is True


# ---------------------------------------------------------------------- without retail


def test_market_without_retail_contracts_answers_that_there_are_none():
    client = create_app(APP_CONFIG, market=start_embedded_market(PERIOD_LENGTH)).test_client()
    reply = client.get("/api/retail/plans")
    assert reply.status_code == 503
    assert "no retail contracts" in reply.get_json()["error"]
