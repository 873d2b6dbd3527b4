"""Gas of continuous trading: limit orders that rest or cross, market orders, re-price, cancel.

    .venv/bin/python -m bench.continuous_gas [--crossed 1,2,4,8]

Runs anvil (30M-gas blocks, a block per transaction) with a market and its continuous book, and
for each k in ``--crossed`` one delivery period whose call auction leaves k bids of 1 kWh resting
at 1e-3 ether/kWh (and asks far above them). Measured from receipts, every trader already
holding a position for the period (its auction bid) unless the row says otherwise: a limit sell
that crosses k resting bids, a limit bid that rests, the first order of a trader new to the
period (which opens its position in the market), a market order that trades once, a re-price
that does not cross, and a cancel of an order behind another. Prints a Markdown table and
writes ``bench/results/continuous_gas.md`` and ``continuous_gas.csv`` (operation,gas). Gas
includes the 21,000 of every transaction.
"""

from __future__ import annotations

import argparse
import os

from eth_account import Account
from web3 import Web3

from bench.common import RESULTS, machine, markdown_table, write_csv
from devnet.nodes import ANVIL_FUNDED_KEY, AnvilTime, anvil
from p2pkit.bids import SealedBid
from p2pkit.continuous import Trader, deploy_book, open_book
from p2pkit.market import deploy_market
from p2pkit.period import Bid, PeriodDriver, Prosumer, SendEach

# Prices in tenths of a milli-ether per kWh, inside the market's default bounds.
TENTH = 10**14
KWH = 1000
RATED_POWER_W = 1_000_000
WALLET = 10**18
GAS_LIMIT = 2_000_000
TARGETS = {"limit order that rests": 60_000, "each further order crossed": 25_000, "cancel": 30_000}


class Bench:
    def __init__(self, url: str):
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))
        self.operator = Account.from_key(ANVIL_FUNDED_KEY)
        market = deploy_market(self.w3, self.operator, Account.create().address)
        self.book = deploy_book(self.w3, self.operator, market)
        # A fixed gas limit: a commit's estimate, read at the head before the next block's time
        # moves, can fall short of what the commit then uses.
        sender = SendEach(self.w3, gas=GAS_LIMIT)
        self.driver = PeriodDriver(market, self.operator, sender=sender, wait_until=AnvilTime(self.w3).wait_until)
        self.numbers = iter(range(1, 10**6))
        self.gas: dict[str, int] = {}

    def prosumers(self, prefix: str, n: int, *, producer: bool) -> list[Prosumer]:
        made = [
            Prosumer(
                f"{prefix}{i}",
                producer,
                False,
                Account.create(),
                Account.create(),
                next(self.numbers),
                deposit=WALLET,
                rated_power_w=RATED_POWER_W,
            )
            for i in range(n)
        ]
        self.driver.fund(self.operator, [(p.address, WALLET + 10**17) for p in made])
        self.driver.enrol(made)
        return made

    def trader(self, prosumer: Prosumer) -> Trader:
        return Trader(self.w3, self.book, prosumer.key)

    def measure(self, name: str, receipt) -> None:
        self.gas[name] = receipt["gasUsed"]

    def period(self, crossed: int) -> None:
        asks = self.prosumers("ask", 3, producer=True)
        bids = self.prosumers("bid", crossed, producer=False)
        low = self.prosumers("low", 2, producer=False)
        (newcomer,) = self.prosumers("new", 1, producer=False)
        driver = self.driver
        sealed = [Bid(p, SealedBid(1 * KWH, 50 * TENTH, os.urandom(32))) for p in asks]
        sealed += [Bid(p, SealedBid(1 * KWH, 10 * TENTH, os.urandom(32))) for p in bids]
        sealed += [Bid(p, SealedBid(1 * KWH, 5 * TENTH, os.urandom(32))) for p in low]
        d = driver.next_auction()
        driver.commit(sealed)
        driver.wait_until(driver.schedule.reveal_opens(d))
        driver.reveal(sealed, d)
        driver.wait_until(driver.schedule.auction_closes(d))
        driver.match(d)
        open_book(self.w3, self.book, self.operator, d)

        taker = self.trader(asks[2])
        cancel = taker.cancel(d)  # behind the two other asks
        crossing = taker.limit(d, crossed * KWH, 10 * TENTH, producer=True)
        self.measure(f"limit sell crossing {crossed} resting bid{'s' if crossed > 1 else ''}", crossing)
        if crossed != 1:
            return
        self.measure("cancel (an order behind another)", cancel)
        resting, repricing = self.trader(low[0]), self.trader(low[1])
        resting.cancel(d)
        self.measure("limit order that rests", resting.limit(d, 1 * KWH, 6 * TENTH, producer=False))
        self.measure(
            "limit order that rests, first of a trader new to the period",
            self.trader(newcomer).limit(d, 1 * KWH, 4 * TENTH, producer=False),
        )
        self.measure("re-price (no trade)", repricing.reprice(d, 7 * TENTH))
        seller = self.trader(asks[1])
        seller.cancel(d)
        self.measure("market order, one trade", seller.market(d, 1 * KWH))

    def run(self, crossed: list[int]) -> None:
        for k in crossed:
            self.period(k)
        one = self.gas.get("limit sell crossing 1 resting bid")
        for k in crossed:
            if k > 1 and one:
                total = self.gas[f"limit sell crossing {k} resting bids"]
                self.gas[f"each further order crossed (of {k})"] = (total - one) // (k - 1)


def verdicts(gas: dict[str, int]) -> list[str]:
    lines = []
    rest, cancel = gas.get("limit order that rests"), gas.get("cancel (an order behind another)")
    further = [v for k, v in gas.items() if k.startswith("each further order crossed")]
    for name, value in (("limit order that rests", rest), ("cancel", cancel)):
        if value is not None:
            lines.append(f"- {name}: {value:,} gas, target {TARGETS[name]:,}")
    if further:
        target = TARGETS["each further order crossed"]
        lines.append(f"- each further order crossed: up to {max(further):,} gas, target {target:,}")
    one = gas.get("limit sell crossing 1 resting bid")
    if one and rest:
        lines.append(f"- the first trade adds {one - rest:,} gas to a resting limit order")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crossed", default="1,2,4,8", help="resting orders one limit order crosses, comma-separated")
    args = parser.parse_args()
    crossed = sorted({int(k) for k in args.crossed.split(",")} | {1})
    with anvil() as url:
        bench = Bench(url)
        bench.run(crossed)
    rows = list(bench.gas.items())
    text = "\n".join(
        [
            "# Gas of continuous trading",
            "",
            f"Machine: {machine()}. Chain: anvil, 30M-gas blocks; gas from receipts, 21,000 per",
            "transaction included.",
            "",
            markdown_table(["operation", "gas"], [(name, f"{gas:,}") for name, gas in rows]),
            "",
            *verdicts(bench.gas),
            "",
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "continuous_gas.md").write_text(text)
    write_csv(RESULTS / "continuous_gas.csv", ["operation", "gas"], rows)
    print(text)


if __name__ == "__main__":
    main()
