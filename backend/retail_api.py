"""`/api/retail`: retailers' plans ranked for a customer, bilateral contracts and their months.

Built like `/api` (`backend.market_api`): every answer is read from the chain as of one block and
cached until the next; wei are decimal strings, energy (Wh), ids, months and times plain numbers.

    GET  /api/retail                      the retail contracts: addresses, ABIs, billing clock,
                                          current month, money (deposited, withdrawn, deposits held)
    GET  /api/retail/plans                the plans on offer
    POST /api/retail/rank                 the plans on offer ranked for a profile, four indices each
    GET  /api/retail/profile/<address>    a customer's profile derived from its metered history
    GET  /api/retail/contracts            operator view: every contract, a page at a time
                                          (?from=ID&count=N); ?party=ADDRESS: one party's own
    GET  /api/retail/contracts/<id>       one contract: terms, months settled, payments, default,
                                          deposits
    GET  /api/retail/accounts/<address>   a party's retail wallet, its monthly readings, its contracts

`POST /api/retail/rank` takes, read by `backend.json_body` within `MAX_RANK_BODY_BYTES`::

    {"profile": {"monthly_kwh": 5000, "deviation_pct": 6, "hourly_shares": [24 numbers summing to 1]},
     "weights": {"reliability": 0.6, "price": 0.2, "deviation": 0.1, "duration": 0.1}}

or ``{"account": "0x...", "weights": {...}}`` for the profile the account's readings give. It answers
the plans best first (the advised one first: highest score, then the cheaper, then the lower id),
each with ``psri``, ``spi``, ``pdpi``, ``adi``, ``score`` and its ``monthly_bill_wei`` for the
profile (rounded down to the wei), and ``choice``. A bad field is answered 400 naming it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests
from flask import Blueprint, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from backend.json_body import BodyRefused, read_json_body
from backend.market_api import chain_unreachable, ethereum_address, http_error, require_market, whole_number
from backend.read_model import BlockRef
from backend.retail_model import (
    MAX_CONTRACTS,
    NoMeteredHistory,
    RetailReader,
    contract_json,
    plan_json,
    profile_json,
)
from p2pkit.market import MAX_UINT64
from p2pkit.retail.inputs import InputError, get, items, number, sum_of_one
from p2pkit.retail.plans import scoring_plan
from p2pkit.retail.scoring import Customer, id_order, score_plans
from p2pkit.retail.scoring_input import weights_from_json

RETAIL_EXTENSION = "p2p_retail_reader"  # absent when the deployment has no retail contracts
# A rank request is a profile of 24 shares and four weights: a few hundred bytes.
MAX_RANK_BODY_BYTES = 8_192
MAX_RANK_DEPTH = 4
# Beyond these a profile is not a customer's: a month of a terawatt-hour, a deviation of 10x.
MAX_MONTHLY_KWH = 10**9
MAX_DEVIATION_PCT = 1000
# Scoring prices in wei (a plan's price per kWh is already in wei), so bills come out in wei.
WEI = 1

bp = Blueprint("retail_api", __name__, url_prefix="/api/retail")
bp.register_error_handler(HTTPException, http_error)
bp.register_error_handler(requests.RequestException, chain_unreachable)


def reader() -> RetailReader:
    return current_app.extensions[RETAIL_EXTENSION]


@bp.before_request
def require_retail() -> ResponseReturnValue | None:
    missing_market = require_market()
    if missing_market is not None:
        return missing_market
    if current_app.extensions.get(RETAIL_EXTENSION) is None:
        return jsonify(error="no retail contracts: the deployment names none (deploy them beside the market)"), 503
    return None


@bp.get("")
def overview() -> ResponseReturnValue:
    retail = reader()
    return jsonify(retail.cached(("overview",), retail.market.latest(), overview_json))


def overview_json(block: BlockRef) -> dict[str, Any]:
    retail = reader()
    clock = retail.clock
    current = retail.call("contracts", "currentMonth", block=block)
    deposited, withdrawn, held = retail.call("contracts", "totals", block=block)
    return {
        "plans_address": retail.retail.plans.address,
        "contracts_address": retail.retail.contracts.address,
        "plans_abi": retail.retail.plans.abi,
        "contracts_abi": retail.retail.contracts.abi,
        "billing_clock": {
            "calendar": clock.is_calendar,
            "genesis_time": clock.genesis_time,
            "month_length": clock.month_length,
            "utc_offset": clock.utc_offset,
            "reading_grace": clock.reading_grace,
        },
        "current_month": retail.month_json(current),
        "plan_count": retail.call("plans", "planCount", block=block),
        "contract_count": retail.call("contracts", "contractCount", block=block),
        "money": {"deposited_wei": str(deposited), "withdrawn_wei": str(withdrawn), "deposits_held_wei": str(held)},
        "block": block.number,
        "block_time": block.time,
    }


# ---------------------------------------------------------------------- plans and ranking


@bp.get("/plans")
def plans() -> ResponseReturnValue:
    retail = reader()
    return jsonify(
        retail.cached(
            ("plans",),
            retail.market.latest(),
            lambda block: {"plans": [plan_json(plan) for plan in retail.offered_plans(block)]},
        )
    )


@bp.post("/rank")
def rank() -> ResponseReturnValue:
    try:
        body = read_json_body(request, min(MAX_RANK_BODY_BYTES, current_app.config["MAX_BODY_BYTES"]), MAX_RANK_DEPTH)
    except BodyRefused as refusal:
        return jsonify(error=str(refusal)), refusal.status
    retail = reader()
    block = retail.market.latest()
    try:
        document = exact(body)
        if not isinstance(document, dict):
            raise InputError("body", 'must be an object {"profile": {...} or "account": "0x...", "weights": {...}}')
        weights = weights_from_json(get(document, "weights", "weights"))
        if ("profile" in document) == ("account" in document):
            raise InputError("body", 'give either "profile" (entered) or "account" (derived from its readings)')
        if "profile" in document:
            customer, profile = entered_profile(document["profile"], weights), None
        else:
            account = ethereum_address(document["account"], "account")
            try:
                derived = retail.cached(("profile", account), block, lambda at: retail.profile(account, at))
            except NoMeteredHistory as missing:
                abort(404, str(missing))
            customer = Customer(derived.monthly_kwh, derived.deviation_pct, derived.hourly_shares, weights)
            profile = profile_json(derived, retail)
    except InputError as error:
        abort(400, str(error))
    offered = retail.cached(("offered",), block, retail.offered_plans)
    answer: dict[str, Any] = {
        "weights": {name: float(getattr(weights, name)) for name in ("reliability", "price", "deviation", "duration")},
        "profile": profile
        or {
            "monthly_kwh": float(customer.monthly_kwh),
            "deviation_pct": float(customer.deviation_pct),
            "hourly_shares": [float(share) for share in customer.hourly_shares],
        },
        "plans": [],
        "choice": None,
        "block": block.number,
    }
    if not offered:
        return jsonify(answer)
    scores, choice = score_plans([scoring_plan(plan, WEI) for plan in offered], customer)
    by_id = {str(plan.id): plan for plan in offered}
    ranked = sorted(scores, key=lambda s: (-s.score, s.monthly_bill, id_order(s.id)))
    answer["plans"] = [
        {
            **plan_json(by_id[s.id]),
            "psri": float(s.psri),
            "spi": float(s.spi),
            "pdpi": float(s.pdpi),
            "adi": float(s.adi),
            "score": float(s.score),
            "monthly_bill_wei": str(int(s.monthly_bill)),
        }
        for s in ranked
    ]
    answer["choice"] = int(choice)
    return jsonify(answer)


def exact(value: Any) -> Any:
    """The body with its JSON fractions as exact decimals (as typed: the shortest repr)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: exact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [exact(item) for item in value]
    return value


def entered_profile(profile: Any, weights) -> Customer:
    monthly = number(get(profile, "monthly_kwh", "profile.monthly_kwh"), "profile.monthly_kwh")
    if monthly > MAX_MONTHLY_KWH:
        raise InputError("profile.monthly_kwh", f"must be at most {MAX_MONTHLY_KWH} kWh, not {float(monthly)}")
    deviation = number(get(profile, "deviation_pct", "profile.deviation_pct"), "profile.deviation_pct")
    if deviation > MAX_DEVIATION_PCT:
        raise InputError("profile.deviation_pct", f"must be at most {MAX_DEVIATION_PCT} %, not {float(deviation)}")
    shares = items(get(profile, "hourly_shares", "profile.hourly_shares"), "profile.hourly_shares")
    if len(shares) != 24:
        raise InputError("profile.hourly_shares", f"must have 24 entries, one per hour, not {len(shares)}")
    values = [number(share, f"profile.hourly_shares[{hour}]") for hour, share in enumerate(shares)]
    return Customer(monthly, deviation, tuple(sum_of_one(values, "profile.hourly_shares")), weights)


@bp.get("/profile/<address>")
def profile(address: str) -> ResponseReturnValue:
    account = ethereum_address(address, "address")
    retail = reader()
    block = retail.market.latest()
    try:
        derived = retail.cached(("profile", account), block, lambda at: retail.profile(account, at))
    except NoMeteredHistory as missing:
        abort(404, str(missing))
    return jsonify(profile_json(derived, retail))


# ---------------------------------------------------------------------- contracts


@bp.get("/contracts")
def contracts() -> ResponseReturnValue:
    retail = reader()
    block = retail.market.latest()
    count = whole_number(request.args.get("count", MAX_CONTRACTS), "count", 1, MAX_CONTRACTS)
    first = whole_number(request.args.get("from", 1), "from", 1, MAX_UINT64)
    party = request.args.get("party")
    if party is not None:
        party = ethereum_address(party, "party")
    return jsonify(
        retail.cached(("contracts", party, first, count), block, lambda at: contracts_json(party, first, count, at))
    )


def contracts_json(party: str | None, first: int, count: int, block: BlockRef) -> dict[str, Any]:
    retail = reader()
    total = retail.call("contracts", "contractCount", block=block)
    if party is None:
        records = retail.contract_records(first, count, block)
    else:
        ids = [contract_id for contract_id in retail.contract_ids_of(party, block) if contract_id >= first][:count]
        records = [retail.call("contracts", "contractOf", contract_id, block=block) for contract_id in ids]
    listed = [contract_json(record, retail, block) for record in records]
    last = listed[-1]["id"] if listed else None
    return {
        "party": party,
        "from": first,
        "count": count,
        "contract_count": total,
        "contracts": listed,
        "next": last + 1 if last is not None and last < total else None,
    }


@bp.get("/contracts/<contract_id>")
def one_contract(contract_id: str) -> ResponseReturnValue:
    number_ = whole_number(contract_id, "contract id", 1, MAX_UINT64)
    retail = reader()
    answer = retail.cached(("contract", number_), retail.market.latest(), lambda at: one_contract_json(number_, at))
    if answer is None:
        abort(404, f"there is no contract {number_}")
    return jsonify(answer)


def one_contract_json(contract_id: int, block: BlockRef) -> dict[str, Any] | None:
    retail = reader()
    record = retail.call("contracts", "contractOf", contract_id, block=block)
    return None if record.id == 0 else contract_json(record, retail, block)


@bp.get("/accounts/<address>")
def account(address: str) -> ResponseReturnValue:
    checksummed = ethereum_address(address, "address")
    retail = reader()
    return jsonify(
        retail.cached(("account", checksummed), retail.market.latest(), lambda at: account_json(checksummed, at))
    )


def account_json(address: str, block: BlockRef) -> dict[str, Any]:
    retail = reader()
    ids = retail.contract_ids_of(address, block)
    records = [retail.call("contracts", "contractOf", contract_id, block=block) for contract_id in ids]
    held = sum(
        record.terms.buyerDeposit if record.terms.buyer == address else record.terms.sellerDeposit for record in records
    )
    return {
        "address": address,
        "retailer": retail.call("plans", "isRetailer", address, block=block),
        "wallet_wei": str(retail.call("contracts", "walletOf", address, block=block)),
        "deposits_held_wei": str(held),
        "contract_ids": ids,
        "monthly_readings": [
            {
                **retail.month_json(month),
                "energy_wh": energy,
                "meter_number": event.args["meterNumber"],
                "opening_wh": event.args["openingWh"],
                "closing_wh": event.args["closingWh"],
                "block": event.block,
                "tx": event.tx,
            }
            for month, energy, event in retail.monthly_readings(address, block)
        ],
    }
