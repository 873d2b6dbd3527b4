"""`/api/stations`: the storage stations' list on the scheduling chain, and one user's lines and
connection, as JSON (reads only; requests and cancels are signed in the page and sent through
`/rpc/scheduling`).

    GET /api/stations                   the dispatch contract, k, and every station: stored,
                                        capacity, online, available to supply / absorb, its
                                        thresholds, connections in force, units since settlement
    GET /api/stations/users/<address>   the user's lines (least loss first) and its request:
                                        direction, station, loss rate, units on the connection,
                                        units remaining, whether the connection is in force

The `STATIONS_DISPATCH` setting names the contract: "embedded" (with embedded sister chains)
deploys one on the scheduling chain with the operator as the energy company; an address is a
contract already on the scheduling chain. Loss rates are parts per million, as on chain. At
most `MAX_STATIONS` stations are listed (`more` says whether there are others).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, abort, current_app, jsonify
from flask.typing import ResponseReturnValue
from web3 import Web3
from web3.contract import Contract

from backend.config import ConfigError
from backend.market_api import MARKET_EXTENSION
from backend.sister import EMBEDDED, SisterChains
from backend.sister_api import RPC_PATHS, SISTER_EXTENSION
from backend.upstreams import UpstreamUnavailable
from p2pkit.sister.lock import SCHEDULING
from p2pkit.stations import Direction, deploy_dispatch, dispatch_at

STATIONS_EXTENSION = "p2p_stations"  # Stations, or None
MAX_STATIONS = 200
HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
DIRECTIONS = {Direction.SUPPLY: "supply", Direction.ABSORB: "absorb"}

bp = Blueprint("stations_api", __name__, url_prefix="/api/stations")


@dataclass
class Stations:
    dispatch: Contract
    chains: SisterChains


def set_up_stations(app: Flask) -> None:
    """The dispatch contract `STATIONS_DISPATCH` names, on the sister chains' scheduling chain."""
    where = app.config["STATIONS_DISPATCH"]
    chains: SisterChains | None = app.extensions.get(SISTER_EXTENSION)
    if chains is None:
        raise ConfigError("STATIONS_DISPATCH needs the sister chains: the stations are on the scheduling chain")
    w3 = chains.scheduling.w3
    if where == EMBEDDED:
        market = app.extensions[MARKET_EXTENSION]
        if market is None or market.operator is None or app.config["SISTER_SCHEDULING_CHAIN"] != EMBEDDED:
            raise ConfigError("STATIONS_DISPATCH=embedded needs embedded sister chains and the operator's key")
        with chains.holding(SCHEDULING):
            dispatch = deploy_dispatch(w3, market.operator)
    elif HEX_ADDRESS.fullmatch(where):
        dispatch = dispatch_at(w3, Web3.to_checksum_address(where))
    else:
        raise ConfigError(f"STATIONS_DISPATCH must be 'embedded' or a contract's address, not {where!r}")
    app.extensions[STATIONS_EXTENSION] = Stations(dispatch, chains)


def stations() -> Stations:
    return current_app.extensions[STATIONS_EXTENSION]


@bp.before_request
def require_stations() -> ResponseReturnValue | None:
    if current_app.extensions.get(STATIONS_EXTENSION) is None:
        return jsonify(error="no storage stations: this backend is not configured with a dispatch contract"), 404
    return None


@bp.errorhandler(UpstreamUnavailable)
def upstream_unavailable(error: UpstreamUnavailable) -> ResponseReturnValue:
    return jsonify(error=str(error)), 503


@bp.get("")
def station_list() -> ResponseReturnValue:
    served = stations()
    functions = served.dispatch.functions
    with served.chains.holding(SCHEDULING):
        count = functions.stationCount().call()
        listed = [_station(functions, number) for number in range(1, min(count, MAX_STATIONS) + 1)]
        k = functions.unitsPerConnection().call()
    return jsonify(
        dispatch=served.dispatch.address,
        rpc=RPC_PATHS[SCHEDULING],
        units_per_connection=k,
        loss_scale=functions.LOSS_SCALE().call(),
        stations=listed,
        more=count > MAX_STATIONS,
    )


def _station(functions, number: int) -> dict[str, Any]:
    station = functions.stationOf(number).call()
    ledger = functions.ledgerOf(number).call()
    online = station.online
    return {
        "id": number,
        "account": station.account,
        "stored": station.stored,
        "capacity": station.capacity,
        "online": online,
        "can_supply": online and station.stored >= station.supplyThreshold,
        "can_absorb": online and station.capacity - station.stored >= station.absorbThreshold,
        "supply_threshold": station.supplyThreshold,
        "absorb_threshold": station.absorbThreshold,
        "supply_connections": ledger.supplyConnections,
        "absorb_connections": ledger.absorbConnections,
        "supplied": ledger.supplied,
        "absorbed": ledger.absorbed,
    }


@bp.get("/users/<address>")
def user(address: str) -> ResponseReturnValue:
    if not HEX_ADDRESS.fullmatch(address):
        abort(404)
    address = Web3.to_checksum_address(address)
    functions = stations().dispatch.functions
    with stations().chains.holding(SCHEDULING):
        numbers, losses = functions.linesOf(address).call()
        request = functions.requestOf(address).call()
        connected = functions.connected(address).call()
        gas = stations().chains.scheduling.w3.eth.get_balance(address)
    answer = None
    if request.open:
        answer = {
            "direction": DIRECTIONS[Direction(request.direction)],
            "station": request.station or None,
            "loss_ppm": request.lossPpm if request.station else None,
            "units_on_connection": request.unitsOnConnection,
            "remaining": request.remaining,
            "connected": connected,
        }
    lines = [{"station": number, "loss_ppm": loss} for number, loss in zip(numbers, losses, strict=True)]
    return jsonify(address=address, lines=lines, request=answer, gas=str(gas))
