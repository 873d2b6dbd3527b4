"""What-if clearing: one trading period of the real market contract on a book of bids.

    .venv/bin/python scripts/clear_book.py BOOK.json

Deploys the compiled EnergyMarket on a fresh embedded eth-tester chain, registers, authorizes and
funds one account per bid, runs commit, reveal and matching, and prints JSON::

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
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path

from eth_account import Account
from web3.logs import DISCARD

from devnet.embedded import TimeTravel, dev_accounts, start_embedded_chain
from p2pkit.bids import SealedBid
from p2pkit.market import MarketParameters, deploy_market
from p2pkit.period import Bid, PeriodDriver, Prosumer
from p2pkit.schedule import Schedule
from p2pkit.transactions import ContractRefused

UNIT_WEI = 10**12
WH_PER_KWH = 1000
# Every transaction on the embedded chain mines a block one second after the last, so a long
# period keeps thousands of bids inside its commit and reveal windows.
SCHEDULE = Schedule.scaled(86_400)
MATCHING_BATCH = 200
GAS_MONEY = 10**18
BID_KEYS = {"id", "side", "kwh", "price", "green", "deposit"}


class BookError(ValueError):
    """The book is malformed; the message says where and why."""


def exact(value, scale: int, where: str, positive: bool) -> int:
    """``value`` x ``scale`` as an exact integer, or BookError."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise BookError(f"{where}: must be a number, not {json.dumps(value, default=str)}")
    scaled = Decimal(value) * scale
    if scaled != scaled.to_integral_value():
        decimals = len(str(scale)) - 1
        raise BookError(f"{where}: {value} has more than {decimals} decimals")
    if scaled < 0 or (positive and scaled == 0):
        raise BookError(f"{where}: must be {'positive' if positive else 'zero or more'}, not {value}")
    return int(scaled)


def parse_book(text: str) -> tuple[int, list[dict]]:
    """(margin in wei, bids with Wh / wei fields) from the book's JSON text."""
    try:
        book = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise BookError(f"not JSON: {error}") from None
    if not isinstance(book, dict) or not isinstance(book.get("bids"), list) or not book["bids"]:
        raise BookError('expected an object with a non-empty list "bids"')
    unknown = set(book) - {"margin", "bids"}
    if unknown:
        raise BookError(f"unknown keys: {', '.join(sorted(unknown))}")
    margin = exact(book.get("margin", 0), UNIT_WEI, "margin", positive=False)
    bids, seen = [], set()
    for i, bid in enumerate(book["bids"]):
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
            }
        )
    return margin, bids


def number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def units(wei: int) -> int | float:
    return number(Decimal(wei) / UNIT_WEI)


def clear_book(margin: int, bids: list[dict]) -> dict:
    """Run one period of the market contract on ``bids`` and report what happened."""
    w3 = start_embedded_chain()
    operator, grid, *funders = dev_accounts(w3)
    market = deploy_market(w3, operator, grid.address, SCHEDULE, MarketParameters(margin=margin))
    driver = PeriodDriver(market, operator, wait_until=TimeTravel(w3).wait_until, batch=MATCHING_BATCH)
    refused = []

    def attempt(bid: dict, step) -> bool:
        try:
            step([Bid(bid["prosumer"], bid["sealed"])])
            return True
        except ContractRefused as refusal:
            refused.append({"id": bid["id"], "error": refusal.name, "args": [str(a) for a in refusal.arguments]})
            return False

    for i, bid in enumerate(bids):
        bid["prosumer"] = prosumer = Prosumer(
            bid["id"], bid["producer"], bid["green"], Account.create(), deposit=bid["deposit"]
        )
        driver.fund(funders[i % len(funders)], [(prosumer.address, bid["deposit"] + GAS_MONEY)])
    prosumers = [bid["prosumer"] for bid in bids]
    driver.enrol(prosumers)
    ids = dict(zip(driver.account_ids(prosumers), (bid["id"] for bid in bids)))

    delivery_period = driver.next_auction()
    committed = []
    for bid in bids:
        bid["sealed"] = SealedBid(bid["wh"], bid["price"])
        if attempt(bid, driver.commit):
            committed.append(bid)
    driver.wait_until(driver.schedule.reveal_opens(delivery_period))
    for bid in committed:
        attempt(bid, lambda revealed: driver.reveal(revealed, delivery_period))

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
    book = driver.book(delivery_period)
    return {
        "trades": trades,
        "average_price": units(book.averagePrice) if trades else None,
        "balances": {bid["id"]: units(driver.account(bid["prosumer"].address).wallet) for bid in bids},
        "refused": refused,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("book", type=Path, help="BOOK.json")
    args = parser.parse_args(argv)
    try:
        margin, bids = parse_book(args.book.read_text())
    except OSError as error:
        print(f"{args.book}: {error.strerror}", file=sys.stderr)
        return 2
    except BookError as error:
        print(f"{args.book}: {error}", file=sys.stderr)
        return 2
    json.dump(clear_book(margin, bids), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
