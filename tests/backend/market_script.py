"""A market on an embedded chain, and the prosumers the backend tests script through a period.

Roles follow the paper's case study: wind (green producer), a controllable source (producer),
an EV charger (green consumer) and an ordinary load (consumer), each with its own smart meter;
the operator and the public grid come with the embedded market. Every transaction is signed
with the account's own key. Time moves only when a test moves it (`MarketScript.travel_to`).

The scripted auction (`BIDS`, prices in wei per kWh) clears, as the green-first rules say:
wind -> EV 800 Wh at 7e14 (green pass), then controllable -> load 500 Wh at 6e14; the average
price is (800 x 7e14 + 500 x 6e14) / 1300 = 661538461538461 wei per kWh (rounded down).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from backend.chain import (
    MarketHandle,
    SealedBid,
    account_record,
    embedded_dev_accounts,
    embedded_time_travel,
    send,
    transfer,
)
from web3.contract.contract import ContractFunction
from backend.chain_access import MarketClock
from backend.keeper import EntrustedBid, Keeper, KeeperAction, entrust_message

ETHER = 10**18
PERIOD_LENGTH = 120
DEPOSIT = 10 * ETHER
GAS_MONEY = ETHER
GAS = 1_000_000

# name -> (producer, green)
ROLES = {"wind": (True, True), "controllable": (True, False), "ev": (False, True), "load": (False, False)}
# name -> (Wh, wei per kWh)
BIDS = {"wind": (1000, 6 * 10**14), "controllable": (700, 5 * 10**14), "ev": (800, 8 * 10**14), "load": (500, 7 * 10**14)}
READINGS_WH = {"wind": 950, "controllable": 700, "ev": 820, "load": 480}
AVERAGE_PRICE = 661538461538461
# Every meter: 100 kW, 3.3 kWh in a 120-second period, above every bid and reading here.
RATED_POWER_W = 100_000


@dataclass
class Prosumer:
    name: str
    key: LocalAccount
    meter: LocalAccount
    meter_number: int
    bid: SealedBid

    @property
    def address(self) -> str:
        return self.key.address


class MarketScript:
    """Moves an embedded market's clock and sends the prosumers' and meters' transactions."""

    def __init__(self, market: MarketHandle) -> None:
        self.market = market
        self.w3 = market.w3
        self.contract = market.contract
        self.clock = MarketClock.of(market)
        self._funder = embedded_dev_accounts(market.w3)[2]

    def send(self, call: ContractFunction, signer: LocalAccount, value: int = 0) -> None:
        with self.market.lock:
            receipt = send(self.w3, call, signer, value=value, gas=GAS)
        assert receipt["status"] == 1, f"{call.fn_name} by {signer.address} reverted"

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def travel_to(self, timestamp: int) -> None:
        """Make `timestamp` the latest block's time (or later), which is what calls see.

        eth-tester's time travel mines its block one second before the time asked for.
        """
        with self.market.lock:
            embedded_time_travel(self.w3, timestamp + 1)

    def join(self, name: str) -> Prosumer:
        """Register `name` in its role, deposit, get authorized and get a bound meter (RATED_POWER_W)."""
        producer, green = ROLES[name]
        key, meter = Account.create(), Account.create()
        meter_number = 1000 + self.contract.functions.accountCount().call()  # unique: ids grow
        with self.market.lock:
            transfer(self.w3, self._funder, key.address, DEPOSIT + GAS_MONEY)
            transfer(self.w3, self._funder, meter.address, GAS_MONEY)
        self.send(self.contract.functions.register(name, producer, green), key)
        self.send(self.contract.functions.deposit(), key, value=DEPOSIT)
        self.send(self.contract.functions.setAuthorization(key.address, True), self.market.operator)
        bind = self.contract.functions.bindMeter(key.address, meter.address, meter_number, RATED_POWER_W)
        self.send(bind, self.market.operator)
        return Prosumer(name, key, meter, meter_number, SealedBid(*BIDS[name]))

    def next_auction(self) -> int:
        """Move to the start of the next period; returns the delivery period now bid for."""
        period = self.contract.functions.currentPeriod().call() + 1
        self.travel_to(self.clock.start(period))
        return period + 1

    def commit(self, prosumer: Prosumer) -> None:
        self.send(self.contract.functions.commit(prosumer.bid.commitment(prosumer.address)), prosumer.key)

    def to_reveal_window(self, delivery_period: int) -> None:
        self.travel_to(self.clock.auction_opens(delivery_period) + self.clock.commit_end)

    def reveal(self, prosumer: Prosumer) -> None:
        producer, green = ROLES[prosumer.name]
        bid = prosumer.bid
        with self.market.lock:
            period = self.contract.functions.currentPeriod().call() + 1
            hint = self.contract.functions.insertionHint(period, producer, green, bid.price).call()
        self.send(self.contract.functions.reveal(bid.quantity_wh, bid.price, bid.salt, hint), prosumer.key)

    def to_auction_close(self, delivery_period: int) -> None:
        self.travel_to(self.clock.auction_closes(delivery_period))

    def post_reading(self, prosumer: Prosumer, delivery_period: int) -> None:
        """The prosumer's meter posts its energy of the period (once the period is over)."""
        self.travel_to(max(self.now(), self.clock.start(delivery_period + 1)))
        call = self.contract.functions.submitReading(delivery_period, prosumer.meter_number, READINGS_WH[prosumer.name])
        self.send(call, prosumer.meter)

    def to_settlement(self, delivery_period: int) -> None:
        self.travel_to(self.clock.settlement_opens(delivery_period))

    def to_readings_close(self, delivery_period: int) -> None:
        self.travel_to(self.clock.readings_close(delivery_period))

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
            account_record(self.contract, functions.accountAddress(account_id).call())["wallet"]
            for account_id in range(1, functions.accountCount().call() + 1)
        )
        deposited, withdrawn = functions.totals().call()
        return wallets, deposited - withdrawn


def registered_accounts(script: MarketScript, count: int) -> list[LocalAccount]:
    """`count` accounts anyone could make: paid ether by one of the embedded chain's dev accounts
    (whose keys everyone knows) and registered as producers, not authorized, without a meter."""
    funds = embedded_dev_accounts(script.w3)[3]
    keys = [Account.create() for _ in range(count)]
    for index, key in enumerate(keys):
        with script.market.lock:
            transfer(script.w3, funds, key.address, GAS_MONEY)
        script.send(script.contract.functions.register(f"account {index}", True, True), key)
    return keys


def run_keeper(keeper: Keeper) -> list[KeeperAction]:
    """Step the keeper until it has nothing left to do at this time; returns what it did."""
    actions = []
    while (action := keeper.step()) is not None:
        actions.append(action)
    return actions


def bid_and_reveal(script: MarketScript, prosumers: list[Prosumer], *, revealing: list[Prosumer] | None = None) -> int:
    """Commit every prosumer's bid in the next auction and reveal those of `revealing` (all by
    default); returns the delivery period, with the clock in its reveal window."""
    delivery_period = script.next_auction()
    for prosumer in prosumers:
        script.commit(prosumer)
    script.to_reveal_window(delivery_period)
    for prosumer in prosumers if revealing is None else revealing:
        script.reveal(prosumer)
    return delivery_period


def period_with_readings(script: MarketScript, prosumers: list[Prosumer], keeper: Keeper) -> int:
    """Bid, let the keeper match, post every reading and open settlement; returns the period."""
    delivery_period = bid_and_reveal(script, prosumers)
    script.to_auction_close(delivery_period)
    run_keeper(keeper)
    for prosumer in prosumers:
        script.post_reading(prosumer, delivery_period)
    script.to_settlement(delivery_period)
    return delivery_period


def entrust_body(
    script: MarketScript, prosumer: Prosumer, delivery_period: int, signer: LocalAccount | None = None, changes: dict | None = None
) -> dict:
    """The page's request entrusting `prosumer`'s bid, signed by `signer` (the prosumer unless
    given), with `changes` made after signing."""
    bid = EntrustedBid(prosumer.address, delivery_period, prosumer.bid.quantity_wh, prosumer.bid.price, prosumer.bid.salt)
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
