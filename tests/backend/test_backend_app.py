"""`create_app` picks the upstream and the market from the CHAIN setting unless they are passed
in, and starts the keeper and the embedded chain's block ticker when asked to."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backend import block_ticker_of, create_app, keeper_db_path, keeper_of, market_of
from backend.config import ConfigError
from backend.rpc_proxy import UPSTREAM_EXTENSION
from backend.upstreams import HttpUpstream, InProcessUpstream, open_deployed_market
from devnet.embedded import EMBEDDED_GRID_DEPOSIT
from p2pkit.market import Deployment

# An embedded app whose clock and keeper stand still, so no thread outlives its test.
STILL_EMBEDDED = {"CHAIN": "embedded", "EMBEDDED_BLOCK_INTERVAL": 0, "KEEPER": False}
# Seconds a ticking chain gets to mine two blocks (its blocks are a second apart).
TICKER_WAIT = 15


def upstream_of(app):
    return app.extensions[UPSTREAM_EXTENSION]


def test_node_url_gives_an_http_upstream_with_the_configured_timeout():
    app = create_app({"CHAIN": "http://127.0.0.1:8545", "RPC_TIMEOUT": 3})

    assert (type(upstream_of(app)), upstream_of(app).url, upstream_of(app).timeout) == (
        HttpUpstream,
        "http://127.0.0.1:8545",
        3.0,
    )


def test_embedded_gives_an_in_process_chain():
    assert isinstance(upstream_of(create_app(STILL_EMBEDDED)), InProcessUpstream)


def test_chain_that_is_neither_embedded_nor_a_url_is_refused():
    with pytest.raises(ConfigError, match="ws://node"):
        create_app({"CHAIN": "ws://node:8546"})


def test_upstream_passed_in_is_used(fake_upstream):
    assert upstream_of(create_app(upstream=fake_upstream)) is fake_upstream


def test_apps_do_not_share_an_embedded_chain():
    first, second = create_app(STILL_EMBEDDED), create_app(STILL_EMBEDDED)

    assert upstream_of(first).w3 is not upstream_of(second).w3


def test_embedded_app_deploys_the_market_with_the_operator_key_it_holds():
    market = market_of(create_app(STILL_EMBEDDED))

    assert market.contract.functions.operator().call() == market.operator.address


def test_embedded_apps_have_operators_of_their_own():
    first, second = (market_of(create_app(STILL_EMBEDDED)) for _ in range(2))

    assert first.operator.address != second.operator.address


def test_embedded_app_funds_the_grids_market_wallet():
    market = market_of(create_app(STILL_EMBEDDED))

    grid = market.contract.functions.accountOf(market.grid_key.address).call()
    assert (grid.id, grid.isGrid, grid.wallet) == (1, True, EMBEDDED_GRID_DEPOSIT)


def test_embedded_app_deploys_periods_of_the_configured_length():
    market = market_of(create_app({**STILL_EMBEDDED, "PERIOD_LENGTH": 60}))

    assert market.contract.functions.schedule().call().periodLength == 60


def test_embedded_app_deploys_the_retail_contracts_on_calendar_months_by_default():
    market = market_of(create_app(STILL_EMBEDDED))

    clock = market.retail.contracts.functions.billingClock().call()
    assert (clock.monthLength, clock.utcOffset) == (0, 28_800)
    assert market.deployment.bilateral_contracts == market.retail.contracts.address
    assert market.retail.plans.functions.market().call() == market.contract.address


def test_embedded_app_deploys_billing_months_of_the_configured_length():
    client = create_app({**STILL_EMBEDDED, "RETAIL_MONTH_LENGTH": 600, "RETAIL_READING_GRACE": 60}).test_client()

    clock = client.get("/api/retail").get_json()["billing_clock"]
    assert (clock["calendar"], clock["month_length"], clock["reading_grace"]) == (False, 600, 60)


def test_embedded_apps_proxy_takes_turns_with_the_market(market):
    app = create_app({"KEEPER": False}, market=market)

    assert upstream_of(app).lock is market.lock


def test_keeper_runs_in_the_background_when_enabled(market):
    keeper = keeper_of(create_app({"KEEPER": True, "KEEPER_POLL_INTERVAL": 0.05}, market=market))
    try:
        assert keeper.status()["running"]
    finally:
        keeper.stop()


def test_keeper_is_built_but_idle_when_disabled(market):
    keeper = keeper_of(create_app({"KEEPER": False}, market=market))

    assert not keeper.status()["running"]


def test_embedded_app_keeps_entrusted_bids_in_memory(market):
    app = create_app({"KEEPER": False}, market=market)

    assert keeper_db_path(app, market) == ":memory:"


def test_node_app_keeps_entrusted_bids_in_the_instance_folder(tmp_path):
    app = create_app({"CHAIN": "http://127.0.0.1:8545"})
    node_market = open_deployed_market("http://127.0.0.1:8545", deployment_file(tmp_path), 1.0, None)

    assert keeper_db_path(app, node_market) == str(Path(app.instance_path) / "keeper.sqlite3")


def latest_block(market):
    with market.lock:
        return market.w3.eth.get_block("latest")


def test_embedded_app_with_a_block_interval_mines_empty_blocks_as_the_wall_clock_moves():
    app = create_app({**STILL_EMBEDDED, "EMBEDDED_BLOCK_INTERVAL": 0.1})
    market = market_of(app)
    before = latest_block(market)
    deadline = time.monotonic() + TICKER_WAIT
    try:
        while latest_block(market)["number"] < before["number"] + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        after = latest_block(market)
    finally:
        block_ticker_of(app).stop()

    assert (after["number"] >= before["number"] + 2, after["timestamp"] > before["timestamp"]) == (True, True)


def test_embedded_app_without_a_block_interval_leaves_time_still():
    assert block_ticker_of(create_app(STILL_EMBEDDED)) is None


def deployment_file(directory: Path) -> Path:
    path = directory / "deployment.json"
    Deployment(chain_id=1, market="0x" + "11" * 20, operator="0x" + "33" * 20, grid="0x" + "22" * 20, block=0).save(
        path
    )
    return path
