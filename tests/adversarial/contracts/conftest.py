"""A market on an embedded chain and the moves of hostile participants, for the attack tests.

Every participant has its own key and a bound meter; every transaction is signed by whoever
would sign it in the field (the prosumer, its meter, the operator) and sent by the period driver
(`p2pkit.period`). Time moves only when a test moves it. Matching and settlement are triggered by
a stranger: anyone may.
"""

from __future__ import annotations

import pytest
from eth_account import Account
from web3.logs import DISCARD

from devnet.embedded import TimeTravel, dev_accounts, start_embedded_market
from p2pkit.bids import SealedBid
from p2pkit.period import Bid, PeriodDriver, Prosumer, Reading, Transaction
from p2pkit.transactions import ContractRefused

ETHER = 10**18
PERIOD_LENGTH = 120
# 5 MW: the attacks' 100 kWh fit one 120-second period (166 kWh).
RATED_POWER_W = 5_000_000
BATCH = 100


class AttackedMarket:
    """The embedded market with helpers that play one delivery period step by step."""

    def __init__(self) -> None:
        self.handle = start_embedded_market(PERIOD_LENGTH)
        self.w3, self.contract = self.handle.w3, self.handle.contract
        self.time = TimeTravel(self.w3, self.handle.lock)
        self.funder, self.stranger = dev_accounts(self.w3)[2:4]
        self.operator = PeriodDriver(self.contract, self.handle.operator, wait_until=self.time.wait_until, batch=BATCH)
        self.anyone = PeriodDriver(self.contract, self.stranger, wait_until=self.time.wait_until, batch=BATCH)
        self.schedule = self.operator.schedule

    def join(self, name: str, producer: bool, green: bool, deposit: int) -> Prosumer:
        """Register, deposit, get authorized and get a meter bound with RATED_POWER_W."""
        key, meter = Account.create(), Account.create()
        number = 1000 + self.contract.functions.accountCount().call()
        prosumer = Prosumer(name, producer, green, key, meter, number, deposit=deposit, rated_power_w=RATED_POWER_W)
        self.operator.fund(self.funder, [(key.address, deposit + ETHER), (meter.address, ETHER)])
        self.operator.enrol([prosumer])
        return prosumer

    def travel_to(self, timestamp: int) -> None:
        self.time.wait_until(timestamp + 1)

    def bid(self, participants: list[tuple[Prosumer, int, int]]) -> tuple[int, list[tuple[Prosumer, ContractRefused]]]:
        """Commit and reveal (participant, Wh, wei/kWh) in the next auction and match it; returns
        the delivery period and the reveals the contract refused."""
        delivery = self.contract.functions.currentPeriod().call() + 2
        self.travel_to(self.schedule.auction_opens(delivery))
        bids = [Bid(participant, SealedBid(wh, price)) for participant, wh, price in participants]
        self.operator.commit(bids)
        self.travel_to(self.schedule.reveal_opens(delivery))
        refused = []
        for bid in bids:
            try:
                self.operator.reveal([bid], delivery)
            except ContractRefused as refusal:
                refused.append((bid.prosumer, refusal))
        self.travel_to(self.schedule.auction_closes(delivery))
        self.anyone.match(delivery)
        return delivery, refused

    def post(self, participant: Prosumer, delivery: int, wh: int) -> None:
        """The participant's meter posts `wh` for the delivery period, once it is over."""
        self.travel_to(max(self.now(), self.schedule.delivery_ends(delivery)))
        self.operator.post_readings([Reading(participant.meter, participant.meter_number, wh)], delivery)

    def withdraw(self, participant: Prosumer, amount: int) -> None:
        self.operator.send([Transaction(participant.key, self.contract.functions.withdraw(amount))])

    def settle(self, delivery: int) -> dict[int, dict]:
        """Settle the period once no reading can arrive; the Settled events by prosumer id."""
        self.travel_to(self.schedule.readings_close(delivery))
        return {
            event.args.prosumerId: dict(event.args)
            for receipt in self.anyone.settle(delivery)
            for event in self.contract.events.Settled().process_receipt(receipt, errors=DISCARD)
        }

    def now(self) -> int:
        return self.time.now()

    def record(self, who: Prosumer | str):
        """The account's `AccountRecord`, by field name."""
        return self.contract.functions.accountOf(who if isinstance(who, str) else who.address).call()

    def grid_wallet(self) -> int:
        return self.record(self.handle.deployment.grid).wallet

    def assert_conserved(self) -> None:
        functions = self.contract.functions
        count = functions.accountCount().call()
        wallets = sum(self.record(functions.accountAddress(i).call()).wallet for i in range(1, count + 1))
        totals = functions.totals().call()
        assert (
            wallets + totals.withdrawn
            == totals.deposited
            == totals.withdrawn + self.w3.eth.get_balance(self.contract.address)
        )


@pytest.fixture
def market() -> AttackedMarket:
    return AttackedMarket()
