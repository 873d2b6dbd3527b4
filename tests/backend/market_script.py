"""A market on an embedded chain, and the prosumers the backend tests script through a period.

Roles follow the paper's case study: wind (green producer), a controllable source (producer),
an EV charger (green consumer) and an ordinary load (consumer), each with its own smart meter;
the operator and the public grid come with the embedded market. Every transaction is signed
with the account's own key and sent by the period driver (`p2pkit.period`). Time moves only
when a test moves it (`MarketScript.travel_to`).

The scripted auction (`BIDS`, prices in wei per kWh) clears, as the green-first rules say:
wind -> EV 800 Wh at 7e14 (green pass), then controllable -> load 500 Wh at 6e14; the average
price is (800 x 7e14 + 500 x 6e14) / 1300 = 661538461538461 wei per kWh (rounded down).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from web3.contract.contract import ContractFunction

from backend.keeper import Keeper, KeeperAction
from devnet.embedded import TimeTravel, dev_accounts
from p2pkit.bids import EntrustedBid, SealedBid, entrust_message
from p2pkit.market import MarketHandle
from p2pkit.period import Bid, PeriodDriver, Prosumer, Reading, SendEach, Transaction

ETHER = 10**18
PERIOD_LENGTH = 120
DEPOSIT = 10 * ETHER
GAS_MONEY = ETHER
GAS = 1_000_000

# name -> (producer, green)
ROLES = {"wind": (True, True), "controllable": (True, False), "ev": (False, True), "load": (False, False)}
# name -> (Wh, wei per kWh)
BIDS = {
    "wind": (1000, 6 * 10**14),
    "controllable": (700, 5 * 10**14),
    "ev": (800, 8 * 10**14),
    "load": (500, 7 * 10**14),
}
READINGS_WH = {"wind": 950, "controllable": 700, "ev": 820, "load": 480}
AVERAGE_PRICE = 661538461538461
# Every meter: 100 kW, 3.3 kWh in a 120-second period, above every bid and reading here.
RATED_POWER_W = 100_000


@dataclass
class Trader:
    """A prosumer of the script and the bid it makes in every auction (a test may change it)."""

    prosumer: Prosumer
    bid: SealedBid

    @property
    def name(self) -> str:
        return self.prosumer.name

    @property
    def address(self) -> str:
        return self.prosumer.address

    @property
    def key(self) -> LocalAccount:
        return self.prosumer.key

    @property
    def meter(self) -> LocalAccount:
        return self.prosumer.meter

    @property
    def meter_number(self) -> int:
        return self.prosumer.meter_number


class MarketScript:
    """Moves an embedded market's clock and sends the prosumers' and meters' transactions."""

    def __init__(self, market: MarketHandle) -> None:
        self.market = market
        self.w3 = market.w3
        self.contract = market.contract
        self.time = TimeTravel(market.w3, market.lock)
        self.driver = PeriodDriver(
            market.contract,
            market.operator,
            sender=SendEach(market.w3, lock=market.lock, gas=GAS),
            wait_until=self.time.wait_until,
        )
        self.schedule = self.driver.schedule
        self._funder = dev_accounts(market.w3)[2]

    def send(self, call: ContractFunction, signer: LocalAccount, value: int = 0) -> None:
        self.driver.send([Transaction(signer, call, value)])

    def now(self) -> int:
        return self.time.now()

    def travel_to(self, timestamp: int) -> None:
        """Make `timestamp` the latest block's time (or later), which is what calls see."""
        self.time.wait_until(timestamp)

    def join(self, name: str) -> Trader:
        """Register `name` in its role, deposit, get authorized and get a bound meter (RATED_POWER_W)."""
        producer, green = ROLES[name]
        key, meter = Account.create(), Account.create()
        meter_number = 1000 + self.contract.functions.accountCount().call()  # unique: ids grow
        prosumer = Prosumer(
            name, producer, green, key, meter, meter_number, deposit=DEPOSIT, rated_power_w=RATED_POWER_W
        )
        self.driver.fund(self._funder, [(key.address, DEPOSIT + GAS_MONEY), (meter.address, GAS_MONEY)])
        self.driver.enrol([prosumer])
        return Trader(prosumer, SealedBid(*BIDS[name]))

    def next_auction(self) -> int:
        """Move to the start of the next period; returns the delivery period now bid for."""
        return self.driver.next_auction()

    def commit(self, trader: Trader) -> None:
        self.driver.commit([Bid(trader.prosumer, trader.bid)])

    def to_reveal_window(self, delivery_period: int) -> None:
        self.travel_to(self.schedule.reveal_opens(delivery_period))

    def reveal(self, trader: Trader) -> None:
        with self.market.lock:
            delivery_period = self.driver.auction_delivery_period()
        self.driver.reveal([Bid(trader.prosumer, trader.bid)], delivery_period)

    def to_auction_close(self, delivery_period: int) -> None:
        self.travel_to(self.schedule.auction_closes(delivery_period))

    def post_reading(self, trader: Trader, delivery_period: int) -> None:
        """The prosumer's meter posts its energy of the period (once the period is over)."""
        self.travel_to(max(self.now(), self.schedule.delivery_ends(delivery_period)))
        reading = Reading(trader.meter, trader.meter_number, READINGS_WH[trader.name])
        self.driver.post_readings([reading], delivery_period)

    def to_settlement(self, delivery_period: int) -> None:
        self.travel_to(self.schedule.settlement_opens(delivery_period))

    def to_readings_close(self, delivery_period: int) -> None:
        self.travel_to(self.schedule.readings_close(delivery_period))

    def events(self, name: str, delivery_period: int) -> list:
        event = getattr(self.contract.events, name)
        return event().get_logs(from_block=0, argument_filters={"deliveryPeriod": delivery_period})

    def trades(self, delivery_period: int) -> list[tuple[int, int, int, int]]:
        """(seller id, buyer id, Wh, price) of each trade, in order."""
        return [
            (trade.args.sellerId, trade.args.buyerId, trade.args.quantityWh, trade.args.price)
            for trade in self.events("Trade", delivery_period)
        ]

    def wallets_and_totals(self) -> tuple[int, int]:
        """(sum of all wallets, deposited - withdrawn): equal when no money leaked."""
        functions = self.contract.functions
        wallets = sum(
            functions.accountOf(functions.accountAddress(account_id).call()).call().wallet
            for account_id in range(1, functions.accountCount().call() + 1)
        )
        totals = functions.totals().call()
        return wallets, totals.deposited - totals.withdrawn


def registered_accounts(script: MarketScript, count: int) -> list[LocalAccount]:
    """`count` accounts anyone could make: paid ether by one of the embedded chain's dev accounts
    (whose keys everyone knows) and registered as producers, not authorized, without a meter."""
    funds = dev_accounts(script.w3)[3]
    keys = [Account.create() for _ in range(count)]
    for index, key in enumerate(keys):
        script.driver.fund(funds, [(key.address, GAS_MONEY)])
        script.send(script.contract.functions.register(f"account {index}", True, True), key)
    return keys


def run_keeper(keeper: Keeper) -> list[KeeperAction]:
    """Step the keeper until it has nothing left to do at this time; returns what it did."""
    actions = []
    while (action := keeper.step()) is not None:
        actions.append(action)
    return actions


def bid_and_reveal(script: MarketScript, traders: list[Trader], *, revealing: list[Trader] | None = None) -> int:
    """Commit every trader's bid in the next auction and reveal those of `revealing` (all by
    default); returns the delivery period, with the clock in its reveal window."""
    delivery_period = script.next_auction()
    for trader in traders:
        script.commit(trader)
    script.to_reveal_window(delivery_period)
    for trader in traders if revealing is None else revealing:
        script.reveal(trader)
    return delivery_period


def period_with_readings(script: MarketScript, traders: list[Trader], keeper: Keeper) -> int:
    """Bid, let the keeper match, post every reading and open settlement; returns the period."""
    delivery_period = bid_and_reveal(script, traders)
    script.to_auction_close(delivery_period)
    run_keeper(keeper)
    for trader in traders:
        script.post_reading(trader, delivery_period)
    script.to_settlement(delivery_period)
    return delivery_period


def entrust_body(
    script: MarketScript,
    prosumer: Trader,
    delivery_period: int,
    signer: LocalAccount | None = None,
    changes: dict | None = None,
) -> dict:
    """The page's request entrusting `prosumer`'s bid, signed by `signer` (the prosumer unless
    given), with `changes` made after signing."""
    bid = EntrustedBid(
        prosumer.address, delivery_period, prosumer.bid.quantity_wh, prosumer.bid.price, prosumer.bid.salt
    )
    deployment = script.market.deployment
    message = encode_defunct(text=entrust_message(deployment.market, deployment.chain_id, bid))
    signature = (signer or prosumer.key).sign_message(message).signature
    return {
        "bidder": prosumer.address,
        "delivery_period": delivery_period,
        "quantity_wh": bid.quantity_wh,
        "price_wei": str(bid.price),
        "salt": "0x" + bid.salt.hex(),
        "signature": "0x" + signature.hex().removeprefix("0x"),
        **(changes or {}),
    }
