"""The backend of the peer-to-peer electricity market: a Flask application.

`create_app` builds it. Settings come from `P2P_*` environment variables, overridden by the dict
passed in (see `backend.config`). The chain is the `CHAIN` setting: "embedded" starts an
in-process chain with the market and its continuous book deployed; a node URL is used with the
market its deployment file names (and the continuous book the market names, if any), with the
retail contracts beside it when the deployment names them. It serves the JSON-RPC proxy
(`/rpc`), the read API (`/api`, retail under `/api/retail`, the continuous book under
`/api/continuous`), the page, and runs
the keeper when it holds the operator's key. With `SISTER_SCHEDULING_CHAIN` it also serves the
sister chains (`backend.sister`): the scheduling chain's proxy (`/rpc/scheduling`) and their
read API (`/api/sister`); with `STATIONS_DISPATCH`, the storage stations' list on the scheduling
chain (`/api/stations`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from web3 import Web3

from backend import continuous_api, frontend, market_api, retail_api, rpc_proxy, sister_api, stations_api
from backend.config import ConfigError, load_config, read_keeper_key, read_operator_key
from backend.entrusted import EntrustedBids
from backend.keeper import Keeper
from backend.read_model import MarketReader
from backend.retail_model import RetailReader
from backend.sister import EMBEDDED, SisterUnavailable, open_deployed_pair, start_embedded_pair
from backend.upstreams import (
    InProcessUpstream,
    MarketNotDeployed,
    Upstream,
    connect_upstream,
    open_deployed_market,
    upstream_for,
)
from devnet.embedded import BlockTicker, is_embedded, start_embedded_market
from p2pkit.continuous import deploy_book
from p2pkit.events import MarketEventLog
from p2pkit.market import MarketHandle
from p2pkit.retail.clock import BillingClock
from p2pkit.sister.lock import SCHEDULING, TRADING

BLOCK_TICKER_EXTENSION = "p2p_block_ticker"
SCHEDULING_TICKER_EXTENSION = "p2p_scheduling_block_ticker"


def create_app(
    config: dict[str, Any] | None = None,
    *,
    upstream: Upstream | None = None,
    market: MarketHandle | None = None,
) -> Flask:
    """Build the application.

    Without `upstream` and `market`, both come from the `CHAIN` setting: "embedded" starts a
    new in-process chain with the market deployed (and a `BlockTicker` mining it on the wall
    clock), a URL reaches that node and the market named by the `DEPLOYMENT` file, with the
    operator's key from `P2P_OPERATOR_KEY[_FILE]` and the keeper's from `P2P_KEEPER_KEY[_FILE]`.
    Passing `market` alone uses it and its chain (the caller then moves an embedded chain's
    clock); passing `upstream` alone serves `/rpc` only, the read API answering that there is no
    market.

    The keeper runs on a background thread when the market holds the keeper's key (or else the
    operator's) and the `KEEPER` setting is on; with a key it is built either way
    (`app.extensions["p2p_keeper"]`).
    """
    app = Flask(__name__)
    app.config.from_mapping(load_config(config))
    app.extensions[market_api.MARKET_MISSING_EXTENSION] = "none was passed to the application"
    chain_started_here = upstream is None and market is None and app.config["CHAIN"] == "embedded"
    if upstream is None and market is None:
        chain = app.config["CHAIN"]
        if chain == "embedded":
            market = start_embedded_market(app.config["PERIOD_LENGTH"], embedded_billing_clock(app.config))
            deploy_book(market.w3, market.operator, market.contract)
        else:
            upstream = connect_upstream(chain, app.config["RPC_TIMEOUT"])
            deployment_file = Path(app.config["DEPLOYMENT"])
            try:
                market = open_deployed_market(
                    chain, deployment_file, app.config["RPC_TIMEOUT"], read_operator_key(), read_keeper_key()
                )
            except MarketNotDeployed as missing:
                app.extensions[market_api.MARKET_MISSING_EXTENSION] = str(missing)
    if upstream is None:
        upstream = upstream_for(market, app.config["RPC_TIMEOUT"], app.config["EMBEDDED_RPC_TIME_LIMIT"])
    app.extensions[market_api.MARKET_EXTENSION] = market
    if market is not None:
        set_up_market(app, market)
    app.extensions[rpc_proxy.UPSTREAM_EXTENSION] = upstream
    app.extensions[sister_api.SISTER_EXTENSION] = None
    if app.config["SISTER_SCHEDULING_CHAIN"] is not None:
        set_up_sister(app, market, upstream)
    app.extensions[stations_api.STATIONS_EXTENSION] = None
    if app.config["STATIONS_DISPATCH"] is not None:
        stations_api.set_up_stations(app)
    if chain_started_here:
        # Started last, so that deploying and funding seal a block per transaction at once.
        start_block_ticker(app, market.w3, BLOCK_TICKER_EXTENSION)
    app.register_blueprint(rpc_proxy.bp)
    app.register_blueprint(market_api.bp)
    app.register_blueprint(sister_api.bp)
    app.register_blueprint(stations_api.bp)
    app.register_blueprint(retail_api.bp)
    app.register_blueprint(continuous_api.bp)
    app.register_blueprint(frontend.bp)
    return app


def embedded_billing_clock(config: dict[str, Any]) -> BillingClock:
    """The billing clock of the retail contracts an embedded chain deploys (RETAIL_* settings)."""
    grace = config["RETAIL_READING_GRACE"]
    if config["RETAIL_MONTH_LENGTH"] > 0:
        return BillingClock.fixed(config["RETAIL_MONTH_LENGTH"], grace)
    return BillingClock.calendar(config["RETAIL_UTC_OFFSET"], grace)


def set_up_market(app: Flask, market: MarketHandle) -> None:
    """The read API's readers (the market's, and retail's when the deployment has the retail
    contracts) and, with the keeper's or the operator's key, the entrusted-bid store and keeper."""
    events = MarketEventLog(market, app.config["MAX_LOG_BLOCK_RANGE"])
    reader = MarketReader(market, events)
    app.extensions[market_api.READER_EXTENSION] = reader
    if market.retail is not None:
        retail_events = MarketEventLog(market, app.config["MAX_LOG_BLOCK_RANGE"], contract=market.retail.contracts)
        app.extensions[retail_api.RETAIL_EXTENSION] = RetailReader(market, market.retail, reader, retail_events)
    if market.keeper is None:
        return
    db_path = keeper_db_path(app, market)
    if db_path != ":memory:":
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    entrusted = EntrustedBids(db_path, market.contract.address)
    keeper = Keeper(
        market,
        entrusted,
        batch=app.config["KEEPER_BATCH"],
        retail_batch=app.config["KEEPER_RETAIL_BATCH"],
        events=events,
        max_log_block_range=app.config["MAX_LOG_BLOCK_RANGE"],
        poll_interval=app.config["KEEPER_POLL_INTERVAL"],
    )
    app.extensions[market_api.ENTRUSTED_EXTENSION] = entrusted
    app.extensions[market_api.KEEPER_EXTENSION] = keeper
    if app.config["KEEPER"]:
        keeper.start()


def set_up_sister(app: Flask, market: MarketHandle | None, upstream: Upstream) -> None:
    """The sister chains (`backend.sister`): the market's chain is the trading chain; the
    scheduling chain embedded here or on a node, with its upstream at /rpc/scheduling."""
    where = app.config["SISTER_SCHEDULING_CHAIN"]
    if market is None:
        raise ConfigError("SISTER_SCHEDULING_CHAIN needs the market: its chain is the trading chain")
    try:
        if where == EMBEDDED:
            if not is_embedded(market.w3):
                raise ConfigError("SISTER_SCHEDULING_CHAIN=embedded needs CHAIN=embedded")
            pair = start_embedded_pair(market, list(app.config["SISTER_RELAYERS"]))
            chains = pair.chains
            scheduling = InProcessUpstream(
                pair.scheduling_w3, pair.scheduling_lock, app.config["EMBEDDED_RPC_TIME_LIMIT"]
            )
            start_block_ticker(app, pair.scheduling_w3, SCHEDULING_TICKER_EXTENSION)
        else:
            chains = open_deployed_pair(market, where, Path(app.config["SISTER_DEPLOYMENT"]), app.config["RPC_TIMEOUT"])
            scheduling = connect_upstream(where, app.config["RPC_TIMEOUT"])
    except SisterUnavailable as error:
        raise ConfigError(f"SISTER_SCHEDULING_CHAIN={where}: {error}") from None
    app.extensions[sister_api.SISTER_EXTENSION] = chains
    app.extensions[sister_api.SISTER_UPSTREAMS_EXTENSION] = {TRADING: upstream, SCHEDULING: scheduling}
    app.extensions[rpc_proxy.SCHEDULING_UPSTREAM_EXTENSION] = scheduling


def start_block_ticker(app: Flask, w3: Web3, extension: str) -> None:
    """Interval mining on an embedded chain, every EMBEDDED_BLOCK_INTERVAL seconds (none at 0)."""
    if app.config["EMBEDDED_BLOCK_INTERVAL"] > 0:
        ticker = BlockTicker(w3, app.config["EMBEDDED_BLOCK_INTERVAL"])
        ticker.start()
        app.extensions[extension] = ticker


def keeper_db_path(app: Flask, market: MarketHandle) -> str:
    """The `KEEPER_DB` setting; unset, in memory for an embedded chain (which is in memory
    too), else `keeper.sqlite3` in the instance folder."""
    if app.config["KEEPER_DB"] is not None:
        return app.config["KEEPER_DB"]
    if is_embedded(market.w3):
        return ":memory:"
    return str(Path(app.instance_path) / "keeper.sqlite3")


def market_of(app: Flask) -> MarketHandle | None:
    """The market `app` serves, or None (`missing_market_reason(app)` says why)."""
    return app.extensions[market_api.MARKET_EXTENSION]


def missing_market_reason(app: Flask) -> str:
    return app.extensions[market_api.MARKET_MISSING_EXTENSION]


def keeper_of(app: Flask) -> Keeper | None:
    """The keeper of `app`, None without a key for it."""
    return app.extensions.get(market_api.KEEPER_EXTENSION)


def entrusted_of(app: Flask) -> EntrustedBids | None:
    """The bids entrusted to `app`'s keeper, None without a key for it."""
    return app.extensions.get(market_api.ENTRUSTED_EXTENSION)


def block_ticker_of(app: Flask) -> BlockTicker | None:
    """What moves an embedded chain's clock, None on a node or with EMBEDDED_BLOCK_INTERVAL 0."""
    return app.extensions.get(BLOCK_TICKER_EXTENSION)
