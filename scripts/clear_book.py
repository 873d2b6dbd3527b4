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
from p2pkit.market import MAX_UINT32, MAX_UINT64, MarketParameters, deploy_market
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
BOOK_KEYS = {"margin", "bids", "price_floor", "price_cap", "readings", "period_hours"}
SETTLEMENT_KEYS = {"price_floor", "price_cap", "readings", "period_hours"}
BID_KEYS = {"id", "side", "kwh", "price", "green", "deposit", "rated_kw"}


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
    book.extended = bool(SETTLEMENT_KEYS & set(raw)) or any("rated_kw" in bid for bid in raw["bids"])
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
    if "readings" in raw:
        book.readings = parse_readings(raw["readings"], {bid["id"] for bid in book.bids})
    return book


def parse_bids(raw_bids: list) -> list[dict]:
    bids, seen = [], set()
    for i, bid in enumerate(raw_bids):
        where = f"bids[{i}]"
        if not isinstance(bid, dict):
            raise BookError(f"{where}: must be an object")
        if set(bid) - BID_KEYS:
            raise BookError(f"{where}: unknown keys: {', '.join(sorted(set(bid) - BID_KEYS))}")
        bid_id = bid.get("id")
        if not isinstance(bid_id, str) or not 0 < len(bid_id.encode()) <= 31:
            raise BookError(f"{where}.id: must be a string of 1 to 31 bytes")
        if bid_id in seen:
            raise BookError(f"{where}.id: {bid_id!r} appears twice")
        seen.add(bid_id)
        if bid.get("side") not in ("sell", "buy"):
            raise BookError(f'{where}.side: must be "sell" or "buy"')
        if not isinstance(bid.get("green", False), bool):
            raise BookError(f"{where}.green: must be true or false")
        bids.append(
            {
                "id": bid_id,
                "producer": bid["side"] == "sell",
                "green": bid.get("green", False),
                "wh": exact(bid.get("kwh"), WH_PER_KWH, f"{where}.kwh", positive=True),
                "price": exact(bid.get("price"), UNIT_WEI, f"{where}.price", positive=True),
                "deposit": exact(bid.get("deposit", 0), UNIT_WEI, f"{where}.deposit", positive=False),
                "rated_w": exact(
                    bid.get("rated_kw", DEFAULT_RATED_KW),
                    W_PER_KW,
                    f"{where}.rated_kw",
                    positive=True,
                    limit=MAX_UINT32,
                ),
            }
        )
    return bids


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
    driver = PeriodDriver(market, operator, wait_until=TimeTravel(w3).wait_until, batch=BATCH)
    driver.send([Transaction(grid, market.functions.deposit(), GRID_DEPOSIT)])
    refused = []

    def attempt(bid: dict, what: str, step, item) -> bool:
        try:
            step([item])
            return True
        except ContractRefused as refusal:
            entry = {"id": bid["id"], "what": what} if book.extended else {"id": bid["id"]}
            refused.append({**entry, "error": refusal.name, "args": [str(a) for a in refusal.arguments]})
            return False

    for i, bid in enumerate(bids):
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
    prosumers = [bid["prosumer"] for bid in bids]
    driver.enrol(prosumers)
    ids = dict(zip(driver.account_ids(prosumers), (bid["id"] for bid in bids)))

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
    trades = [
        {
            "seller": ids[log.args.sellerId],
            "buyer": ids[log.args.buyerId],
            "kwh": number(Decimal(log.args.quantityWh) / WH_PER_KWH),
            "price": units(log.args.price),
        }
        for log in trade_logs
    ]
    result = {"trades": trades, "average_price": units(driver.book(delivery_period).averagePrice) if trades else None}
    if book.readings is not None:
        result["settlement"] = settle(driver, delivery_period, book.readings, bids, attempt, ids)
    result["balances"] = {bid["id"]: units(driver.account(bid["prosumer"].address).wallet) for bid in bids}
    result["refused"] = refused
    return result


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
