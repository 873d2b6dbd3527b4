"""What-if clearing: one trading period of the real market contract on a book of bids.

    .venv/bin/python scripts/clear_book.py BOOK.json

Deploys the compiled EnergyMarket on a fresh embedded eth-tester chain, registers, authorizes,
funds and meters one account per bid, runs commit, reveal and matching, and prints JSON::

    {"trades": [{"seller": "F", "buyer": "C", "kwh": 145, "price": 22}, ...],
     "average_price": 22.3, "balances": {"A": 10000, ...}, "refused": []}

BOOK.json::

    {"margin": 0,
     "bids": [{"id": "A", "side": "sell", "kwh": 76, "price": 36, "green": false, "deposit": 10000}, ...]}

``side`` is ``sell`` (producer) or ``buy`` (consumer); ``green`` defaults to false and ``deposit``
to 0. Money is in currency units: one unit is ``UNIT_WEI`` wei, so prices, deposits and margin
may have up to 12 decimals and ``kwh`` up to 3 (whole Wh); within those limits the mapping to wei
and back is exact. Trades are listed in the order the auction made them; ``average_price`` is the
period's average trade price (rounded down to the wei, as on-chain), null without trades;
``balances`` are wallets after matching. A bid the contract refuses (a seller without the
margin, a buyer who cannot pay for its bid) is listed under ``refused`` with the contract's
error. A malformed book prints a message on stderr and exits with status 2.

The same book can run the whole period, settlement included::

    {"margin": 0, "price_floor": 1, "price_cap": 100, "period_hours": 0.25,
     "bids": [{"id": "A", "side": "sell", "kwh": 76, "price": 36, "deposit": 10000, "rated_kw": 500}, ...],
     "readings": {"A": 70.5, "B": null}}

``price_floor`` and ``price_cap`` bound the bids' prices (currency units per kWh; default: only
the contract's own, 1 wei to 2^64 - 1 wei); the reference price, A of a period without trades,
is 0.7e-3 ether/kWh (700 units) brought within them. ``rated_kw`` is the rated power of the
bid's meter (up to 3 decimals; default 1,000,000 kW, which never binds): no bid and no reading
may exceed ``floor(rated power x period length)``. ``period_hours`` (default 0.25) is the
delivery period; the chain then runs periods of exactly that length, one transaction a second,
so a book holds at most about 0.45 x period length in seconds of bids. ``readings`` are the
meters' kWh (up to 3 decimals) per bid id; null or absent means no reading. With ``readings``
the command posts each reading through the bid's meter, settles the period once no reading can
arrive any more, and adds per revealed bid::

    "settlement": {"A": {"metered": true, "balancing": -1.2, "reward": 0.3, "wallet_change": -0.9}, ...}

``balances`` are then the wallets after settlement; the public grid starts with
``GRID_DEPOSIT`` wei to pay its side. With any of these keys, every entry under ``refused`` says
``"what"`` was refused: ``"bid"`` (at commit or reveal) or ``"reading"``.

After the call auction the book may trade in the continuous phase (the market's
``ContinuousBook``, opened once matching is done, closing at the start of the delivery period),
with these actions in order::

    "continuous": [
      {"id": "A", "action": "reprice", "price": 20},
      {"id": "B", "action": "cancel"},
      {"id": "E", "action": "market"},
      {"id": "X", "action": "limit", "side": "buy", "kwh": 10, "price": 25, "deposit": 500},
      {"id": "Y", "action": "market", "side": "sell", "kwh": 5, "deposit": 500}
    ]

``reprice``, ``cancel`` and ``market`` without ``kwh`` act on what rests of the id's order (a
market action sends all of it to the market); ``limit`` and ``market`` with ``side`` and ``kwh``
place a new order for an id with none resting. An id that is not a bid's is a new account,
registered, authorized, metered and funded with ``deposit`` (and ``green``, ``rated_kw``) like a
bid's, before the auction; an id's ``side`` is fixed by its first appearance. The output then
adds ``continuous_trades`` in the order made (the fields of ``trades``); ``average_price`` is the
period's over both phases, ``balances`` are after both (or after settlement), and a refused
action is listed under ``refused`` with ``"what": "continuous"`` and its ``action``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from eth_account import Account
from web3.logs import DISCARD

from devnet.embedded import TimeTravel, dev_accounts, start_embedded_chain
from p2pkit.bids import SealedBid
from p2pkit.continuous import Trader as ContinuousTrader
from p2pkit.continuous import deploy_book, open_book
from p2pkit.market import MAX_UINT32, MAX_UINT40, MAX_UINT64, MarketParameters, deploy_market
from p2pkit.period import Bid, PeriodDriver, Prosumer, Reading, Transaction
from p2pkit.schedule import SECONDS_PER_HOUR, Schedule
from p2pkit.transactions import ContractRefused

UNIT_WEI = 10**12
WH_PER_KWH = 1000
W_PER_KW = 1000
# Every transaction on the embedded chain mines a block one second after the last, so a long
# period keeps thousands of bids inside its commit and reveal windows (a book that settles runs
# periods of its own delivery period's length instead).
AUCTION_SCHEDULE = Schedule.scaled(86_400)
DEFAULT_PERIOD_HOURS = Decimal("0.25")
DEFAULT_RATED_KW = 1_000_000
REFERENCE_PRICE = MarketParameters().reference_price
GRID_DEPOSIT = 10_000 * 10**18
BATCH = 200
GAS_MONEY = 10**18
BOOK_KEYS = {"margin", "bids", "price_floor", "price_cap", "readings", "period_hours", "continuous"}
SETTLEMENT_KEYS = {"price_floor", "price_cap", "readings", "period_hours"}
BID_KEYS = {"id", "side", "kwh", "price", "green", "deposit", "rated_kw"}
ACCOUNT_KEYS = {"id", "side", "green", "deposit", "rated_kw"}  # what makes a new id's account
# action -> (keys it needs, keys it may have); "market" without "kwh" acts on the resting order
ACTION_KEYS = {
    "reprice": ({"price"}, set()),
    "cancel": (set(), set()),
    "market": (set(), {"side", "kwh", "deposit", "green", "rated_kw"}),
    "limit": ({"side", "kwh", "price"}, {"deposit", "green", "rated_kw"}),
}


class BookError(ValueError):
    """The book is malformed; the message says where and why."""


@dataclass
class Book:
    """A parsed book, in Wh, W, wei and seconds."""

    margin: int
    bids: list[dict]
    price_floor: int = 1
    price_cap: int = MAX_UINT64
    readings: dict[str, int] | None = None  # Wh of the bids with a reading; None: do not settle
    period_seconds: int | None = None  # the chain's period when the book uses any settlement key
    extended: bool = field(default=False)
    continuous: list[dict] = field(default_factory=list)  # the continuous phase's actions, in order
    accounts: list[dict] = field(default_factory=list)  # ids that only trade in the continuous phase

    @property
    def says_what(self) -> bool:
        """Refusals say what was refused (a bid, a reading, a continuous action)."""
        return self.extended or bool(self.continuous)

    @property
    def schedule(self) -> Schedule:
        if self.period_seconds is None:
            return AUCTION_SCHEDULE
        length = self.period_seconds
        return Schedule(
            length,
            commit_end=length * 45 // 100,
            reveal_end=length * 90 // 100,
            settle_start=length * 95 // 100,
            reading_grace=length,
        )


def exact(value, scale: int, where: str, positive: bool, limit: int | None = None) -> int:
    """``value`` x ``scale`` as an exact integer (at most ``limit``), or BookError."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise BookError(f"{where}: must be a number, not {json.dumps(value, default=str)}")
    scaled = Decimal(value) * scale
    if scaled != scaled.to_integral_value():
        decimals = len(str(scale)) - 1
        raise BookError(f"{where}: {value} has more than {decimals} decimals")
    if scaled < 0 or (positive and scaled == 0):
        raise BookError(f"{where}: must be {'positive' if positive else 'zero or more'}, not {value}")
    if limit is not None and scaled > limit:
        raise BookError(f"{where}: {value} is more than the contract can hold")
    return int(scaled)


def parse_book(text: str) -> Book:
    """The book's JSON text, checked and converted to contract units."""
    try:
        raw = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise BookError(f"not JSON: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("bids"), list) or not raw["bids"]:
        raise BookError('expected an object with a non-empty list "bids"')
    unknown = set(raw) - BOOK_KEYS
    if unknown:
        raise BookError(f"unknown keys: {', '.join(sorted(unknown))}")
    book = Book(exact(raw.get("margin", 0), UNIT_WEI, "margin", positive=False), parse_bids(raw["bids"]))
    actions = raw.get("continuous") if isinstance(raw.get("continuous"), list) else []
    book.extended = bool(SETTLEMENT_KEYS & set(raw)) or any(
        isinstance(entry, dict) and "rated_kw" in entry for entry in raw["bids"] + actions
    )
    if "price_floor" in raw:
        book.price_floor = exact(raw["price_floor"], UNIT_WEI, "price_floor", positive=True, limit=MAX_UINT64)
    if "price_cap" in raw:
        book.price_cap = exact(raw["price_cap"], UNIT_WEI, "price_cap", positive=True, limit=MAX_UINT64)
    if book.price_floor > book.price_cap:
        raise BookError("price_floor: must not be above price_cap")
    if book.extended:
        hours = raw.get("period_hours", DEFAULT_PERIOD_HOURS)
        if isinstance(hours, (int, Decimal)) and not isinstance(hours, bool) and Decimal(hours) * SECONDS_PER_HOUR % 1:
            raise BookError(f"period_hours: {hours} h is not a whole number of seconds")
        book.period_seconds = exact(hours, SECONDS_PER_HOUR, "period_hours", positive=True, limit=MAX_UINT32)
        if book.period_seconds < 60:
            raise BookError(f"period_hours: must be at least 1/60 h (60 s), not {hours}")
        fits = book.schedule.commit_end - 2
        if len(book.bids) > fits:
            raise BookError(
                f"period_hours: a {hours} h period holds at most {fits} bids on the embedded chain"
                f" (one transaction a second), not {len(book.bids)}"
            )
    if "continuous" in raw:
        book.continuous, book.accounts = parse_continuous(raw["continuous"], book.bids)
        if book.extended:
            window = book.schedule.period_length - book.schedule.reveal_end
            fits = window - 4 - 2 * (len(book.bids) // BATCH + 1)
            if len(book.continuous) > fits:
                raise BookError(
                    f"continuous: the window of a {raw.get('period_hours', DEFAULT_PERIOD_HOURS)} h period holds at"
                    f" most {max(0, fits)} actions on the embedded chain (one transaction a second),"
                    f" not {len(book.continuous)}"
                )
    if "readings" in raw:
        book.readings = parse_readings(raw["readings"], {bid["id"] for bid in book.bids + book.accounts})
    return book


def parse_continuous(raw, bids: list[dict]) -> tuple[list[dict], list[dict]]:
    """The continuous actions, and the accounts of the ids they name that no bid has."""
    if not isinstance(raw, list):
        raise BookError('continuous: must be a list of actions {"id": ..., "action": ...}')
    producer_of = {bid["id"]: bid["producer"] for bid in bids}
    actions, accounts = [], []
    for i, entry in enumerate(raw):
        where = f"continuous[{i}]"
        if not isinstance(entry, dict):
            raise BookError(f"{where}: must be an object")
        kind = entry.get("action")
        if kind not in ACTION_KEYS:
            raise BookError(f"{where}.action: must be one of {', '.join(sorted(ACTION_KEYS))}")
        needs, may = ACTION_KEYS[kind]
        if kind == "market" and "kwh" in entry:
            needs = {"side", "kwh"}
        missing, unknown = needs - set(entry), set(entry) - needs - may - {"id", "action"}
        if missing:
            raise BookError(f"{where}: {kind} needs {', '.join(sorted(missing))}")
        if unknown:
            raise BookError(f"{where}: unknown keys for {kind}: {', '.join(sorted(unknown))}")
        action_id = entry.get("id")
        if not isinstance(action_id, str):
            raise BookError(f"{where}.id: must be a string of 1 to 31 bytes")
        action = {"id": action_id, "action": kind}
        if "price" in entry:
            action["price"] = exact(entry["price"], UNIT_WEI, f"{where}.price", positive=True, limit=MAX_UINT64)
        if "kwh" in entry:
            action["wh"] = exact(entry["kwh"], WH_PER_KWH, f"{where}.kwh", positive=True, limit=MAX_UINT40)
        if "side" in entry:
            account = parse_account(entry, where)
            producer = account["producer"]
            if action_id not in producer_of:
                accounts.append(account)
                producer_of[action_id] = producer
            elif producer_of[action_id] != producer:
                raise BookError(f"{where}.side: {action_id!r} is a {'seller' if producer_of[action_id] else 'buyer'}")
            elif set(entry) & (ACCOUNT_KEYS - {"id", "side"}):
                raise BookError(
                    f"{where}: {action_id!r} has an account already (deposit, green, rated_kw: new ids only)"
                )
        elif action_id not in producer_of:
            raise BookError(f"{where}.id: {action_id!r} has no order; a new id needs side and kwh")
        actions.append(action)
    return actions, accounts


def parse_bids(raw_bids: list) -> list[dict]:
    bids, seen = [], set()
    for i, bid in enumerate(raw_bids):
        where = f"bids[{i}]"
        if not isinstance(bid, dict):
            raise BookError(f"{where}: must be an object")
        if set(bid) - BID_KEYS:
            raise BookError(f"{where}: unknown keys: {', '.join(sorted(set(bid) - BID_KEYS))}")
        account = parse_account(bid, where)
        if account["id"] in seen:
            raise BookError(f"{where}.id: {account['id']!r} appears twice")
        seen.add(account["id"])
        account["wh"] = exact(bid.get("kwh"), WH_PER_KWH, f"{where}.kwh", positive=True)
        account["price"] = exact(bid.get("price"), UNIT_WEI, f"{where}.price", positive=True)
        bids.append(account)
    return bids


def parse_account(entry: dict, where: str) -> dict:
    """Who trades: the id, its side, and its account's green flag, deposit and meter."""
    account_id = entry.get("id")
    if not isinstance(account_id, str) or not 0 < len(account_id.encode()) <= 31:
        raise BookError(f"{where}.id: must be a string of 1 to 31 bytes")
    if entry.get("side") not in ("sell", "buy"):
        raise BookError(f'{where}.side: must be "sell" or "buy"')
    if not isinstance(entry.get("green", False), bool):
        raise BookError(f"{where}.green: must be true or false")
    return {
        "id": account_id,
        "producer": entry["side"] == "sell",
        "green": entry.get("green", False),
        "deposit": exact(entry.get("deposit", 0), UNIT_WEI, f"{where}.deposit", positive=False),
        "rated_w": exact(
            entry.get("rated_kw", DEFAULT_RATED_KW), W_PER_KW, f"{where}.rated_kw", positive=True, limit=MAX_UINT32
        ),
    }


def parse_readings(raw, ids: set[str]) -> dict[str, int]:
    """Wh per bid id, for the ids with a reading (null means none)."""
    if not isinstance(raw, dict):
        raise BookError('readings: must be an object {"bid id": kWh or null}')
    unknown = set(raw) - ids
    if unknown:
        raise BookError(f"readings: no bid has the id {', '.join(sorted(map(repr, unknown)))}")
    return {
        bid_id: exact(kwh, WH_PER_KWH, f"readings.{bid_id}", positive=False, limit=MAX_UINT64)
        for bid_id, kwh in raw.items()
        if kwh is not None
    }


def number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def units(wei: int) -> int | float:
    return number(Decimal(wei) / UNIT_WEI)


def clear_book(book: Book) -> dict:
    """Run one period of the market contract on the book and report what happened."""
    w3 = start_embedded_chain()
    operator, grid, *funders = dev_accounts(w3)
    bids = book.bids
    parameters = MarketParameters(
        margin=book.margin,
        reference_price=min(max(REFERENCE_PRICE, book.price_floor), book.price_cap),
        price_floor=book.price_floor,
        price_cap=book.price_cap,
    )
    market = deploy_market(w3, operator, grid.address, book.schedule, parameters)
    continuous_book = deploy_book(w3, operator, market) if book.continuous else None
    driver = PeriodDriver(market, operator, wait_until=TimeTravel(w3).wait_until, batch=BATCH)
    driver.send([Transaction(grid, market.functions.deposit(), GRID_DEPOSIT)])
    refused = []

    def attempt(bid: dict, what: str, step, item, **detail) -> bool:
        try:
            step([item])
            return True
        except ContractRefused as refusal:
            entry = {"id": bid["id"], "what": what, **detail} if book.says_what else {"id": bid["id"]}
            refused.append({**entry, "error": refusal.name, "args": [str(a) for a in refusal.arguments]})
            return False

    accounts = bids + book.accounts
    for i, bid in enumerate(accounts):
        bid["prosumer"] = prosumer = Prosumer(
            bid["id"],
            bid["producer"],
            bid["green"],
            Account.create(),
            Account.create(),
            meter_number=i + 1,
            deposit=bid["deposit"],
            rated_power_w=bid["rated_w"],
        )
        funder = funders[i % len(funders)]
        driver.fund(funder, [(prosumer.address, bid["deposit"] + GAS_MONEY), (prosumer.meter.address, GAS_MONEY)])
    prosumers = [bid["prosumer"] for bid in accounts]
    driver.enrol(prosumers)
    ids = dict(zip(driver.account_ids(prosumers), (bid["id"] for bid in accounts)))

    delivery_period = driver.next_auction()
    committed = []
    for bid in bids:
        bid["sealed"] = SealedBid(bid["wh"], bid["price"])
        if attempt(bid, "bid", driver.commit, Bid(bid["prosumer"], bid["sealed"])):
            committed.append(bid)
    driver.wait_until(driver.schedule.reveal_opens(delivery_period))
    for bid in committed:
        attempt(
            bid, "bid", lambda revealed: driver.reveal(revealed, delivery_period), Bid(bid["prosumer"], bid["sealed"])
        )

    driver.wait_until(driver.schedule.auction_closes(delivery_period))
    trade_logs = [
        log
        for receipt in driver.match(delivery_period)
        for log in market.events.Trade().process_receipt(receipt, errors=DISCARD)
    ]
    result = {"trades": [trade_json(log, ids) for log in trade_logs]}
    if continuous_book is not None:
        open_book(w3, continuous_book, operator, delivery_period)
        by_id = {account["id"]: account for account in accounts}
        receipts = []
        for action in book.continuous:
            account = by_id[action["id"]]
            trader = ContinuousTrader(w3, continuous_book, account["prosumer"].key)
            step = continuous_step(trader, delivery_period, action, account["producer"], receipts)
            attempt(account, "continuous", step, None, action=action["action"])
        result["continuous_trades"] = [
            trade_json(log, ids)
            for receipt in receipts
            for log in continuous_book.events.ContinuousTrade().process_receipt(receipt, errors=DISCARD)
        ]
    traded = result["trades"] + result.get("continuous_trades", [])
    result["average_price"] = units(driver.book(delivery_period).averagePrice) if traded else None
    if book.readings is not None:
        result["settlement"] = settle(driver, delivery_period, book.readings, accounts, attempt, ids)
    result["balances"] = {bid["id"]: units(driver.account(bid["prosumer"].address).wallet) for bid in accounts}
    result["refused"] = refused
    return result


def trade_json(log, ids: dict[int, str]) -> dict:
    """A trade of either phase (``Trade``, ``ContinuousTrade``: the same fields), in the book's units."""
    return {
        "seller": ids[log.args.sellerId],
        "buyer": ids[log.args.buyerId],
        "kwh": number(Decimal(log.args.quantityWh) / WH_PER_KWH),
        "price": units(log.args.price),
    }


def continuous_step(trader: ContinuousTrader, delivery_period: int, action: dict, producer: bool, receipts: list):
    """The transaction of one continuous action, as a step ``attempt`` runs (keeping its receipt)."""
    kind = action["action"]

    def step(_) -> None:
        if kind == "reprice":
            receipt = trader.reprice(delivery_period, action["price"])
        elif kind == "cancel":
            receipt = trader.cancel(delivery_period)
        elif kind == "limit":
            receipt = trader.limit(delivery_period, action["wh"], action["price"], producer=producer)
        elif "wh" in action:
            receipt = trader.market(delivery_period, action["wh"])
        else:
            receipt = trader.send_to_market(delivery_period)
        receipts.append(receipt)

    return step


def settle(driver: PeriodDriver, delivery_period: int, readings: dict[str, int], bids, attempt, ids) -> dict:
    """Post the readings through each bid's meter once the period is over, settle it once no
    reading can arrive any more, and report each revealed bid's settlement."""
    driver.wait_until(driver.schedule.delivery_ends(delivery_period) + 1)
    for bid in bids:
        if bid["id"] in readings:
            prosumer = bid["prosumer"]
            reading = Reading(prosumer.meter, prosumer.meter_number, readings[bid["id"]])
            attempt(bid, "reading", lambda posted: driver.post_readings(posted, delivery_period), reading)
    driver.wait_until(driver.schedule.readings_close(delivery_period))
    settled = [
        log
        for receipt in driver.settle(delivery_period)
        for log in driver.contract.events.Settled().process_receipt(receipt, errors=DISCARD)
    ]
    return {
        ids[log.args.prosumerId]: {
            "metered": log.args.metered,
            "balancing": units(log.args.balancing),
            "reward": units(log.args.reward),
            "wallet_change": units(log.args.walletChange),
        }
        for log in settled
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("book", type=Path, help="BOOK.json")
    args = parser.parse_args(argv)
    try:
        book = parse_book(args.book.read_text())
    except OSError as error:
        print(f"{args.book}: {error.strerror}", file=sys.stderr)
        return 2
    except BookError as error:
        print(f"{args.book}: {error}", file=sys.stderr)
        return 2
    json.dump(clear_book(book), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
