"""The storage stations' dispatch contract (``StationDispatch.sol``) from Python: deployment with
its flow terms (rights ledger, prices, metering periods), and a client for each role that sends
its calls and reads the station list (structs by name)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from p2pkit.contracts import contract_at, deploy
from p2pkit.transactions import send

NAME = "StationDispatch"
DEFAULT_UNITS_PER_CONNECTION = 10
DEFAULT_MAX_LINES_PER_USER = 32
LOSS_SCALE = 1_000_000
WH_PER_UNIT = 1000
ZERO_ADDRESS = "0x" + "00" * 20


class Direction(IntEnum):
    SUPPLY = 0
    ABSORB = 1


@dataclass(frozen=True)
class FlowTerms:
    """What the flows are deployed with: the scheduling chain's rights ledger (a ``SisterLock``;
    none: no rights move, both prices 0), rights per unit supplied (paid by the user) and per
    unit absorbed (paid by the company), and the metering periods (seconds from deployment;
    readings are taken in the ``reading_grace`` seconds after a period ends)."""

    ledger: str = ZERO_ADDRESS
    supply_price: int = 0
    absorb_price: int = 0
    period_length: int = 900
    reading_grace: int = 300

    def as_tuple(self) -> tuple:
        return (self.ledger, self.supply_price, self.absorb_price, self.period_length, self.reading_grace)


def deploy_dispatch(
    w3: Web3,
    company: LocalAccount,
    units_per_connection: int = DEFAULT_UNITS_PER_CONNECTION,
    max_lines_per_user: int = DEFAULT_MAX_LINES_PER_USER,
    terms: FlowTerms = FlowTerms(),
) -> Contract:
    """A new station list and dispatch, the company's (refusals raise ``ContractRefused``)."""
    return deploy(w3, company, NAME, units_per_connection, max_lines_per_user, terms.as_tuple())


def dispatch_at(w3: Web3, address: str) -> Contract:
    return contract_at(w3, NAME, address)


def loss_ppm(rate: float) -> int:
    """A loss rate (a fraction, 0 <= rate < 1) in the contract's parts per million, rounded."""
    ppm = round(rate * LOSS_SCALE)
    if not 0 <= ppm < LOSS_SCALE:
        raise ValueError(f"loss rate {rate} is not in [0, 1)")
    return ppm


@dataclass
class DispatchClient:
    """One signer's calls on the dispatch contract: the company's, a station's or a user's."""

    w3: Web3
    contract: Contract
    signer: LocalAccount

    def _send(self, call):
        return send(self.w3, call, self.signer)

    # the company
    def register_station(
        self, account: str, stored: int, capacity: int, supply_threshold: int, absorb_threshold: int
    ) -> int:
        receipt = self._send(
            self.contract.functions.registerStation(account, stored, capacity, supply_threshold, absorb_threshold)
        )
        return self.contract.events.StationRegistered().process_receipt(receipt, errors=DISCARD)[0]["args"]["station"]

    def set_line(self, user: str, station: int, loss: int):
        """Set a line with its loss in ppm; the insertion hint is read just before sending."""
        hint = self.contract.functions.insertHint(user, station, loss).call()
        return self._send(self.contract.functions.setLine(user, station, loss, hint))

    def settle(self, station: int):
        return self._send(self.contract.functions.settle(station))

    def bind_meter(self, account: str, meter: str, rated_power_w: int):
        return self._send(self.contract.functions.bindMeter(account, meter, rated_power_w))

    # anyone with rights on the ledger: the user paying for supply, the company topping up
    def deposit_rights(self, ledger: Contract, amount: int):
        """Move ``amount`` of the signer's rights on ``ledger`` into the dispatch, credited to it."""
        return self._send(ledger.functions.transferAndCall(self.contract.address, amount))

    def withdraw_rights(self, amount: int):
        return self._send(self.contract.functions.withdrawRights(amount))

    def rights(self) -> int:
        return self.contract.functions.rightsOf(self.signer.address).call()

    # a meter (its own key), and anyone for the confirmation
    def submit_reading(self, period: int, direction: Direction, energy_wh: int):
        return self._send(self.contract.functions.submitReading(period, int(direction), energy_wh))

    def confirm(self, user: str, station: int, period: int, direction: Direction):
        return self._send(self.contract.functions.confirm(user, station, period, int(direction)))

    # a station
    def report_state(self, stored: int, capacity: int, online: bool):
        return self._send(self.contract.functions.reportState(stored, capacity, online))

    def transfer_unit(self, user: str):
        return self._send(self.contract.functions.transferUnit(user))

    # a user, or anyone
    def request(self, direction: Direction, units: int):
        return self._send(self.contract.functions.request(int(direction), units))

    def cancel(self):
        return self._send(self.contract.functions.cancel())

    def reassign(self, user: str):
        return self._send(self.contract.functions.reassign(user))
