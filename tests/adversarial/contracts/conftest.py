"""A market on an embedded chain and the moves of hostile participants, for the attack tests.

Every participant has its own key and a bound meter; every transaction is signed by whoever
would sign it in the field (the prosumer, its meter, the operator). Time moves only when a test
moves it. Matching and settlement are triggered by a stranger: anyone may.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from backend.chain import (
    ContractRefused,
    SealedBid,
    account_record,
    embedded_dev_accounts,
    embedded_time_travel,
    send,
    transfer,
)
from backend.chain_access import MarketClock, start_embedded_market

ETHER = 10**18
PERIOD_LENGTH = 120
# 5 MW: the attacks' 100 kWh fit one 120-second period (166 kWh).
RATED_POWER_W = 5_000_000
BATCH = 100


@dataclass
class Participant:
    name: str
    key: LocalAccount
    meter: LocalAccount
    meter_number: int
    producer: bool
    green: bool
    bid: SealedBid | None = None

    @property
    def address(self) -> str:
        return self.key.address


class AttackedMarket:
    """The embedded market with helpers that play one delivery period step by step."""

    def __init__(self) -> None:
        self.handle = start_embedded_market(PERIOD_LENGTH)
        self.w3, self.contract = self.handle.w3, self.handle.contract
        self.clock = MarketClock.of(self.handle)
        self.funder, self.stranger = embedded_dev_accounts(self.w3)[2:4]

    def join(self, name: str, producer: bool, green: bool, deposit: int) -> Participant:
        """Register, deposit, get authorized and get a meter bound with RATED_POWER_W."""
        key, meter = Account.create(), Account.create()
        functions, operator = self.contract.functions, self.handle.operator
        transfer(self.w3, self.funder, key.address, deposit + ETHER)
        transfer(self.w3, self.funder, meter.address, ETHER)
        number = 1000 + functions.accountCount().call()
        send(self.w3, functions.register(name, producer, green), key)
        send(self.w3, functions.deposit(), key, value=deposit)
        send(self.w3, functions.setAuthorization(key.address, True), operator)
        send(self.w3, functions.bindMeter(key.address, meter.address, number, RATED_POWER_W), operator)
        return Participant(name, key, meter, number, producer, green)

    def travel_to(self, timestamp: int) -> None:
        embedded_time_travel(self.w3, timestamp + 1)

    def bid(self, participants: list[tuple[Participant, int, int]]) -> tuple[int, list[tuple[Participant, ContractRefused]]]:
        """Commit and reveal (participant, Wh, wei/kWh) in the next auction and match it; returns
        the delivery period and the reveals the contract refused."""
        delivery = self.contract.functions.currentPeriod().call() + 2
        self.travel_to(self.clock.auction_opens(delivery))
        for participant, wh, price in participants:
            participant.bid = SealedBid(wh, price)
            send(self.w3, self.contract.functions.commit(participant.bid.commitment(participant.address)), participant.key)
        self.travel_to(self.clock.auction_opens(delivery) + self.clock.commit_end)
        refused = []
        for participant, _, _ in participants:
            bid = participant.bid
            hint = self.contract.functions.insertionHint(delivery, participant.producer, participant.green, bid.price).call()
            try:
                send(self.w3, self.contract.functions.reveal(bid.quantity_wh, bid.price, bid.salt, hint), participant.key)
            except ContractRefused as refusal:
                refused.append((participant, refusal))
        self.travel_to(self.clock.auction_closes(delivery))
        while not self.contract.events.MatchingCompleted().process_receipt(
            send(self.w3, self.contract.functions.matchBids(delivery, BATCH), self.stranger), errors=DISCARD
        ):
            pass
        return delivery, refused

    def post(self, participant: Participant, delivery: int, wh: int) -> None:
        """The participant's meter posts `wh` for the delivery period, once it is over."""
        self.travel_to(max(self.now(), self.clock.start(delivery + 1)))
        send(self.w3, self.contract.functions.submitReading(delivery, participant.meter_number, wh), participant.meter)

    def withdraw(self, participant: Participant, amount: int) -> None:
        send(self.w3, self.contract.functions.withdraw(amount), participant.key)

    def settle(self, delivery: int) -> dict[int, dict]:
        """Settle the period once no reading can arrive; the Settled events by prosumer id."""
        self.travel_to(self.clock.readings_close(delivery))
        receipt = send(self.w3, self.contract.functions.settle(delivery, BATCH), self.stranger)
        return {e.args.prosumerId: dict(e.args) for e in self.contract.events.Settled().process_receipt(receipt, errors=DISCARD)}

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def record(self, who: Participant | str) -> dict:
        return account_record(self.contract, who if isinstance(who, str) else who.address)

    def grid_wallet(self) -> int:
        return self.record(self.handle.deployment.grid)["wallet"]

    def assert_conserved(self) -> None:
        functions = self.contract.functions
        count = functions.accountCount().call()
        wallets = sum(self.record(functions.accountAddress(i).call())["wallet"] for i in range(1, count + 1))
        deposited, withdrawn = functions.totals().call()
        assert wallets + withdrawn == deposited == withdrawn + self.w3.eth.get_balance(self.contract.address)


@pytest.fixture
def market() -> AttackedMarket:
    return AttackedMarket()
