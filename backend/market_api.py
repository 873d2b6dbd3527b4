"""`/api`: what the page shows, read from the market's state and events, as JSON.

Every answer is built from the chain as of one block (the latest when asked) and cached until
the next block, so the page may poll freely; nothing is kept that the chain could contradict.
Amounts of wei are decimal strings, because JavaScript numbers lose precision above 2**53;
energy (Wh), ids, blocks and times are plain numbers (times in Unix seconds).

    GET  /api/contract                the market's address, ABI, operator, grid, schedule, parameters
    GET  /api/status                  current period, phase, time left, block; the keeper's status
    GET  /api/periods/<d>             delivery period d: stage, trades of both phases (the auction's,
                                      then the continuous book's), settlements, bids once public
    GET  /api/periods?from=&to=       the same without bids, for up to MAX_PERIODS periods
    GET  /api/accounts                every registered account
    GET  /api/accounts/<address>      one account and every movement of its wallet
    POST /api/entrust                 hand a sealed bid's values, signed by the bidder, to the keeper
    GET  /api/entrust/<address>       what became of the bids an address entrusted

A delivery period's `stage` is one of: "upcoming" (its auction has not started), "bidding"
(commit or reveal window open), "no_bids" (closed without a revealed bid), "matching",
"matched" (waiting for settlement to open), "settling", "settled".

Request bodies are read by `backend.json_body` (size, depth, JSON numbers only). Nothing here
publishes what the chain does not already show to everyone: a refusal is named, never given with
its arguments (an `InsufficientFunds` would tell a bid's quantity x price).
"""

from __future__ import annotations

import re
from typing import Any

import requests
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from web3 import Web3
from werkzeug.exceptions import HTTPException

from backend.entrusted import AlreadyEntrusted, EntrustedBids
from backend.json_body import BodyRefused, read_json_body
from backend.read_model import AccountInfo, BlockRef, MarketReader
from p2pkit.bids import EntrustedBid, entrust_message
from p2pkit.events import MarketEvent
from p2pkit.market import MAX_UINT32, MAX_UINT40, MAX_UINT64, ZERO_ADDRESS
from p2pkit.schedule import Phase

MARKET_EXTENSION = "p2p_market"  # the MarketHandle, or None when there is no market
MARKET_MISSING_EXTENSION = "p2p_market_missing"  # why there is none
READER_EXTENSION = "p2p_market_reader"
ENTRUSTED_EXTENSION = "p2p_entrusted_bids"  # only with the operator's key
KEEPER_EXTENSION = "p2p_keeper"  # only with the operator's key

# Most delivery periods one /api/periods answer covers (two days of 15-minute periods).
MAX_PERIODS = 200
DECIMAL = re.compile(r"[0-9]{1,80}")
HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")
ENTRUST_FIELDS = ("bidder", "delivery_period", "quantity_wh", "price_wei", "salt", "signature")
SECRECY_NOTICE = (
    "Who can read this bid, and when. The market operator's server (this backend and its "
    "keeper) holds its quantity, price and salt from now on. Nobody else can read them before "
    "the keeper reveals the bid, as soon as the reveal window opens (public_from): from then on "
    "its quantity and price are in the chain's logs for everyone, while the other bidders may "
    "still be revealing theirs, before the auction closes and matching begins. The page shows "
    "the book once the auction has closed. Keep the salt: you can still reveal the bid yourself."
)

bp = Blueprint("market_api", __name__, url_prefix="/api")


def reader() -> MarketReader:
    return current_app.extensions[READER_EXTENSION]


@bp.before_request
def require_market() -> ResponseReturnValue | None:
    if current_app.extensions.get(MARKET_EXTENSION) is None:
        reason = current_app.extensions.get(MARKET_MISSING_EXTENSION, "no market is configured")
        return jsonify(error=f"no market: {reason}"), 503
    return None


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[Response, int]:
    return jsonify(error=error.description), error.code


@bp.errorhandler(requests.RequestException)
def chain_unreachable(error: requests.RequestException) -> tuple[Response, int]:
    return jsonify(error=f"the chain cannot be reached: {type(error).__name__}"), 503


# ---------------------------------------------------------------------- contract and status


@bp.get("/contract")
def contract() -> ResponseReturnValue:
    market = reader()
    return jsonify(market.cached(("contract",), market.latest(), contract_json))


def contract_json(block: BlockRef) -> dict[str, Any]:
    market = reader()
    handle, schedule = market.market, market.schedule
    parameters = market.call("parameters", block=block)
    with handle.lock:
        chain_id = handle.w3.eth.chain_id
    return {
        "chain_id": chain_id,
        "address": handle.contract.address,
        "abi": handle.contract.abi,
        "operator": market.call("operator", block=block),
        "grid": market.call("grid", block=block),
        "deployment_block": handle.deployment.block,
        "schedule": schedule.as_dict(),
        "parameters": {
            "shortfall_factor_bps": parameters.shortfallFactorBps,
            "surplus_factor_bps": parameters.surplusFactorBps,
            "reward_factor_bps": parameters.rewardFactorBps,
            "penalty_factor_bps": parameters.penaltyFactorBps,
            "forfeit_bps": parameters.forfeitBps,
            "margin_wei": str(parameters.margin),
            "reference_price_wei": str(parameters.referencePrice),
            "price_floor_wei": str(parameters.priceFloor),
            "price_cap_wei": str(parameters.priceCap),
        },
    }


@bp.get("/status")
def status() -> ResponseReturnValue:
    market = reader()
    answer = dict(market.cached(("status",), market.latest(), status_json))
    keeper = current_app.extensions.get(KEEPER_EXTENSION)
    if keeper is not None:
        answer["keeper"] = keeper.status()
    else:
        answer["keeper"] = {
            "enabled": False,
            "running": False,
            "reason": "this server has no key for the keeper: P2P_KEEPER_KEY[_FILE], or the operator's, "
            "P2P_OPERATOR_KEY[_FILE]",
        }
    return jsonify(answer)


def status_json(block: BlockRef) -> dict[str, Any]:
    market = reader()
    now = market.call("currentPhase", block=block)
    period = now.period
    return {
        "period": period,
        "phase": Phase(now.phase).name.lower(),
        "seconds_left": now.secondsLeft,
        "phase_ends_at": block.time + now.secondsLeft,
        "period_start": market.schedule.start(period),
        "block": block.number,
        "block_time": block.time,
        "auction_delivery_period": period + 1,
        "settlement_delivery_period": period - 1 if period > 0 else None,
    }


# ---------------------------------------------------------------------- periods


@bp.get("/periods/<delivery_period>")
def period(delivery_period: str) -> ResponseReturnValue:
    number = whole_number(delivery_period, "delivery period", 0, MAX_UINT32)
    market = reader()
    return jsonify(
        market.cached(("period", number), market.latest(), lambda block: period_json(number, block, bids=True))
    )


@bp.get("/periods")
def periods() -> ResponseReturnValue:
    market = reader()
    block = market.latest()
    current = market.cached(("status",), block, status_json)["period"]
    last = whole_number(request.args.get("to", current), "to", 0, MAX_UINT32)
    first = whole_number(request.args.get("from", max(0, last - 95)), "from", 0, MAX_UINT32)
    if first > last:
        abort(400, f"from ({first}) is after to ({last})")
    if last - first + 1 > MAX_PERIODS:
        abort(400, f"from {first} to {last} covers more than {MAX_PERIODS} periods; ask for a narrower range")
    return jsonify(
        {
            "from": first,
            "to": last,
            "periods": [
                market.cached(("summary", d), block, lambda at, d=d: period_json(d, at, bids=False))
                for d in range(first, last + 1)
            ],
        }
    )


def period_json(delivery_period: int, block: BlockRef, *, bids: bool) -> dict[str, Any]:
    """Delivery period `delivery_period` as of `block`, from its events."""
    market = reader()
    schedule = market.schedule
    events = market.events.events(upto=block.number, delivery_period=delivery_period)
    named = {name: [event for event in events if event.name == name] for name in {event.name for event in events}}
    matched = next((event for event in events if event.name == "MatchingCompleted"), None)
    trades = named.get("Trade", []) + continuous_trades(delivery_period, block)
    settlements = named.get("Settled", [])
    revealed = named.get("BidRevealed", [])
    traded_wh = sum(trade.args["quantityWh"] for trade in trades)
    traded_value = sum(trade.args["quantityWh"] * trade.args["price"] for trade in trades)
    auction_closed = block.time >= schedule.auction_closes(delivery_period)

    if block.time < schedule.auction_opens(delivery_period):
        stage = "upcoming"
    elif not auction_closed:
        stage = "bidding"
    elif not revealed:
        stage = "no_bids"
    elif "MatchingCompleted" not in named:
        stage = "matching"
    elif block.time < schedule.settlement_opens(delivery_period):
        stage = "matched"
    elif "SettlementCompleted" not in named:
        stage = "settling"
    else:
        stage = "settled"

    answer: dict[str, Any] = {
        "delivery_period": delivery_period,
        "stage": stage,
        "auction_closes_at": schedule.auction_closes(delivery_period),
        "settlement_opens_at": schedule.settlement_opens(delivery_period),
        "commit_count": len(named.get("BidCommitted", [])),
        "bid_count": len(revealed),
        "settled_count": len(settlements),
        "traded_wh": traded_wh,
        # Over both phases, as the contract's own average (tradedValue / tradedWh, rounded down).
        "average_price_wei": str(traded_value // traded_wh) if traded_wh else None,
        # The price balancing and reward are settled at: the average, or the operator's reference
        # price when nothing traded; known once matching is done.
        "settlement_price_wei": str(matched.args["averagePrice"]) if matched else None,
        "trades": [trade_json(trade, block) for trade in trades],
        "settlements": [settlement_json(settled, block) for settled in settlements],
    }
    if bids:
        # Revealed bids are on the chain as soon as they are revealed, but the page shows the
        # book only once the auction is over, as the paper's sealed bidding intends.
        answer["bids_public"] = auction_closed
        answer["bids"] = [bid_json(bid, block) for bid in revealed] if auction_closed else []
    return answer


def continuous_trades(delivery_period: int, block: BlockRef) -> list[MarketEvent]:
    """The continuous phase's trades of `delivery_period`, when the market names a book."""
    # The continuous book's blueprint builds on this one's helpers; its reader is found lazily.
    from backend.continuous_api import reader as continuous_reader

    if not reader().events.events("ContinuousBookSet", upto=block.number):
        return []  # no book named yet: nothing to ask the chain
    book = continuous_reader()
    book.events.sync(block.number)
    return book.events.events("ContinuousTrade", upto=block.number, delivery_period=delivery_period)


def trade_json(trade: MarketEvent, block: BlockRef) -> dict[str, Any]:
    market, args = reader(), trade.args
    return {
        "phase": "continuous" if trade.name == "ContinuousTrade" else "auction",
        "seller": market.address_of(args["sellerId"], block),
        "buyer": market.address_of(args["buyerId"], block),
        "seller_id": args["sellerId"],
        "buyer_id": args["buyerId"],
        "quantity_wh": args["quantityWh"],
        "price_wei": str(args["price"]),
        "cost_wei": str(args["cost"]),
        "block": trade.block,
        "tx": trade.tx,
    }


def settlement_json(settled: MarketEvent, block: BlockRef) -> dict[str, Any]:
    args = settled.args
    return {
        "prosumer": reader().address_of(args["prosumerId"], block),
        "prosumer_id": args["prosumerId"],
        "declared_wh": args["declaredWh"],
        "cleared_wh": args["clearedWh"],
        "actual_wh": args["actualWh"],
        "metered": args["metered"],
        "balancing_wei": str(args["balancing"]),
        "reward_wei": str(args["reward"]),
        "wallet_change_wei": str(args["walletChange"]),
        "block": settled.block,
        "tx": settled.tx,
    }


def bid_json(revealed: MarketEvent, block: BlockRef) -> dict[str, Any]:
    args = revealed.args
    owner = reader().info_of(args["account"], block)
    return {
        "bid_id": args["bidId"],
        "bidder": args["account"],
        "quantity_wh": args["quantityWh"],
        "price_wei": str(args["price"]),
        "green": owner.green,
        "producer": owner.producer,
    }


# ---------------------------------------------------------------------- accounts


@bp.get("/accounts")
def accounts() -> ResponseReturnValue:
    market = reader()
    return jsonify(market.cached(("accounts",), market.latest(), accounts_json))


def accounts_json(block: BlockRef) -> dict[str, Any]:
    market = reader()
    records = market.records(block)
    return {
        "accounts": [account_json(info, records[account_id]) for account_id, info in market.accounts(block).items()]
    }


@bp.get("/accounts/<address>")
def account(address: str) -> ResponseReturnValue:
    checksummed = ethereum_address(address, "address")
    market = reader()
    answer = market.cached(
        ("account", checksummed), market.latest(), lambda block: account_history_json(checksummed, block)
    )
    if answer is None:
        abort(404, f"{checksummed} is not registered in the market")
    return jsonify(answer)


def account_history_json(address: str, block: BlockRef) -> dict[str, Any] | None:
    market = reader()
    record = market.call("accountOf", address, block=block)
    if record.id == 0:
        return None
    info = market.accounts(block)[record.id]
    return {**account_json(info, record), "history": wallet_history(info, block)}


def account_json(info: AccountInfo, record: Any) -> dict[str, Any]:
    """An account's fixed facts and its `AccountRecord` (decoded by name) as JSON."""
    wallet, free = record.wallet, record.freeBalance
    return {
        "address": info.address,
        "id": info.id,
        "name": info.name,
        "producer": info.producer,
        "green": info.green,
        "is_grid": info.is_grid,
        "authorized": record.authorized,
        "meter": record.meter if record.meter != ZERO_ADDRESS else None,
        "meter_number": record.meterNumber or None,
        "rated_power_w": record.ratedPowerW or None,
        "wallet_wei": str(wallet),
        "free_balance_wei": str(free),
        # Not free to withdraw: the margin of an open bid and sale proceeds awaiting settlement.
        "locked_wei": str(wallet - free),
        "locked_proceeds_wei": str(record.lockedProceeds),
        "open_bids": record.openBids,
        "last_bid_period": record.lastBidPeriod,
        "last_bid_id": record.lastBidId,
    }


def wallet_history(account: AccountInfo, block: BlockRef) -> list[dict[str, Any]]:
    """Every movement of the account's wallet, in chain order, with the wallet after it.

    The grid's wallet also moves when other prosumers settle (the grid pays or receives the
    other side) and when their unrevealed commits are forfeited (the grid receives them).
    """
    market = reader()
    history: list[dict[str, Any]] = []
    wallet = 0

    def moved(kind: str, event: MarketEvent, amount: int, counterparty: str | None = None) -> None:
        nonlocal wallet
        wallet += amount
        history.append(
            {
                "kind": kind,
                "delivery_period": event.delivery_period,
                "amount_wei": str(amount),
                "wallet_wei": str(wallet),
                "counterparty": counterparty,
                "block": event.block,
                "tx": event.tx,
                "log_index": event.log_index,
            }
        )

    for event in market.events.events("Deposited", "Withdrawn", "Trade", "Settled", "BidForfeited", upto=block.number):
        args = event.args
        if event.name == "Deposited" and args["account"] == account.address:
            moved("deposit", event, args["amount"])
        elif event.name == "Withdrawn" and args["account"] == account.address:
            moved("withdrawal", event, -args["amount"])
        elif event.name == "Trade" and args["sellerId"] == account.id:
            moved("sale", event, args["cost"], market.address_of(args["buyerId"], block))
        elif event.name == "Trade" and args["buyerId"] == account.id:
            moved("purchase", event, -args["cost"], market.address_of(args["sellerId"], block))
        elif event.name == "Settled" and args["prosumerId"] == account.id:
            moved("settlement", event, args["walletChange"])
        elif event.name == "Settled" and account.is_grid and args["walletChange"] != 0:
            moved("settlement", event, -args["walletChange"], market.address_of(args["prosumerId"], block))
        elif event.name == "BidForfeited" and args["account"] == account.address:
            moved("forfeit", event, -args["amount"])
        elif event.name == "BidForfeited" and account.is_grid and args["amount"] != 0:
            moved("forfeit", event, args["amount"], args["account"])
    return history


# ---------------------------------------------------------------------- entrusting a bid


@bp.post("/entrust")
def entrust() -> ResponseReturnValue:
    """Keep a sealed bid's opening values for the keeper to reveal in the reveal window.

    The body carries the bid for the auction now open and the bidder's EIP-191 signature of
    `entrust_message` over it. Only a registered prosumer the operator has authorized may
    entrust, one bid per delivery period: the first one stays (sending it again is harmless),
    so that neither a flood of bids nor anyone who merely knows the bidder's address can crowd
    out the real one.
    """
    store: EntrustedBids | None = current_app.extensions.get(ENTRUSTED_EXTENSION)
    if store is None:
        abort(503, "this server has no operator key, so no keeper can reveal bids for you")
    try:
        body = read_json_body(request, current_app.config["MAX_BODY_BYTES"])
    except BodyRefused as refusal:
        return jsonify(error=str(refusal)), refusal.status
    if not isinstance(body, dict):
        abort(400, "send a JSON object {" + ", ".join(f'"{name}"' for name in ENTRUST_FIELDS) + "}")
    missing = [name for name in ENTRUST_FIELDS if name not in body]
    if missing:
        abort(400, f"missing: {', '.join(missing)}")
    bid = EntrustedBid(
        bidder=ethereum_address(body["bidder"], "bidder"),
        delivery_period=whole_number(body["delivery_period"], "delivery_period", 0, MAX_UINT32),
        quantity_wh=whole_number(body["quantity_wh"], "quantity_wh", 1, MAX_UINT40),
        price=whole_number(body["price_wei"], "price_wei", 1, MAX_UINT64),
        salt=bytes32(body["salt"], "salt"),
    )
    market = reader()
    deployment = market.market.deployment
    if signer_of(entrust_message(deployment.market, deployment.chain_id, bid), body["signature"]) != bid.bidder:
        abort(403, f"the signature is not {bid.bidder}'s over this bid (see entrust_message in p2pkit/bids.py)")

    block = market.latest()
    now = market.call("currentPhase", block=block)
    phase = Phase(now.phase)
    if phase not in (Phase.COMMIT, Phase.REVEAL) or bid.delivery_period != now.period + 1:
        abort(
            409,
            f"the auction for delivery period {bid.delivery_period} is closed (now: phase "
            f"{phase.name.lower()} of the auction for delivery period {now.period + 1}); "
            "bids are entrusted during their commit or reveal window",
        )
    record = market.call("accountOf", bid.bidder, block=block)
    if record.id == 0 or record.isGrid:
        abort(403, f"{bid.bidder} is not a registered prosumer")
    if not record.authorized:
        abort(403, f"{bid.bidder} is not authorized by the operator to bid")
    try:
        added = store.add(bid)
    except AlreadyEntrusted as error:
        abort(409, str(error))
    schedule = market.schedule
    reveal_opens_at = schedule.reveal_opens(bid.delivery_period)
    return (
        jsonify(
            {
                "accepted": True,
                "already_entrusted": not added,
                "bidder": bid.bidder,
                "delivery_period": bid.delivery_period,
                "reveal_opens_at": reveal_opens_at,
                "reveal_closes_at": schedule.auction_closes(bid.delivery_period),
                "public_from": reveal_opens_at,
                "secrecy": SECRECY_NOTICE,
            }
        ),
        202,
    )


@bp.get("/entrust/<address>")
def entrusted(address: str) -> ResponseReturnValue:
    """What became of the bids an address entrusted (never their values)."""
    store: EntrustedBids | None = current_app.extensions.get(ENTRUSTED_EXTENSION)
    if store is None:
        abort(503, "this server has no operator key, so no keeper reveals bids")
    bidder = ethereum_address(address, "address")
    return jsonify({"bidder": bidder, "entrusted": store.outcomes(bidder)})


def ethereum_address(value: Any, name: str) -> str:
    """The checksummed form of an address given as 0x and 40 hex digits. A mixed-case address
    must carry a valid checksum: a wrong one means a mistyped digit."""
    if isinstance(value, str) and HEX_ADDRESS.fullmatch(value):
        digits = value[2:]
        if digits in (digits.lower(), digits.upper()) or Web3.is_checksum_address(value):
            return Web3.to_checksum_address(value)
        abort(400, f"{name} {value} has a wrong checksum (a mistyped digit?)")
    abort(400, f"{name} {value!r} is not an Ethereum address (0x and 40 hex digits)")


def whole_number(value: Any, name: str, low: int, high: int) -> int:
    """A whole number from JSON or a URL: an integer or its decimal string, within [low, high]."""
    if isinstance(value, str) and DECIMAL.fullmatch(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        abort(400, f"{name} must be a whole number (or its decimal string)")
    if not low <= value <= high:
        abort(400, f"{name} must be between {low} and {high}")
    return value


def signer_of(message: str, signature: Any) -> str:
    """The address that signed `message` as an EIP-191 personal message (0x and 130 hex digits)."""
    if isinstance(signature, str) and SIGNATURE.fullmatch(signature):
        try:
            return Account.recover_message(encode_defunct(text=message), signature=signature)
        except (ValueError, BadSignature):
            pass
    abort(400, "signature must be an Ethereum signature (0x and 130 hex digits) of the bidder")


def bytes32(value: Any, name: str) -> bytes:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 66:
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    abort(400, f"{name} must be 32 bytes as 0x and 64 hex digits")
