"""The market contract, the bilateral contracts' monthly readings and the storage stations'
dispatch, as the meter bridge sees them over any JSON-RPC endpoint.

Only methods that the platform backend's ``/rpc`` proxy lets through are used: eth_call,
eth_estimateGas, eth_gasPrice, eth_chainId, eth_getTransactionCount, eth_sendRawTransaction and
eth_getTransactionReceipt. So the bridge works against a node as well as against the backend.
Transactions arrive here already signed (see ``signing``).

A call the contract refuses raises ``p2pkit.transactions.ContractRefused`` with the custom error
decoded by name (MeterNotBound, MeterNumberMismatch, ReadingAboveCapacity, ReadingTooEarly,
ReadingTooLate, ReadingAlreadyPosted; for monthly readings also RegisterDiscontinuity and
RegisterOutOfRange; the dispatch's MeterNotBound, ReadingTooEarly, ReadingTooLate,
ReadingAboveCapacity, ReadingPostedBefore), whether web3 talks to a node or to an embedded eth-tester chain.
A chain that cannot be reached raises one of ``CHAIN_UNREACHABLE``; a node that answers with
an error, a ``Web3RPCError`` (both together: ``CHAIN_UNAVAILABLE``).
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)

from p2pkit.contracts import contract_at
from p2pkit.market import attach
from p2pkit.retail.clock import BillingClock
from p2pkit.schedule import Schedule, from_struct
from p2pkit.transactions import ContractRefused, refusal_of

# Nothing answers: OSError covers refused connections and HTTP errors (requests' exceptions
# derive from it).
CHAIN_UNREACHABLE = (OSError, ProviderConnectionError, TimeExhausted)
# Or something answers with an error (a node out of sync, the proxy's node down, no gas money).
CHAIN_UNAVAILABLE = (*CHAIN_UNREACHABLE, Web3RPCError)

GAS_MARGIN = 1.2  # the estimate can shift between estimation and mining (storage warm or cold)


@dataclass(frozen=True)
class MeterBinding:
    """What the contract holds of a meter account (``meterOf``); zeros when it is unbound."""

    prosumer_id: int
    meter_number: int
    rated_power_w: int


class Node:
    """Nonces, sends and receipts of the chain ``w3`` talks to."""

    w3: Web3

    def next_nonce(self, account: str, block: str = "pending") -> int:
        return self.w3.eth.get_transaction_count(account, block)

    def send_raw(self, raw: bytes) -> None:
        self.w3.eth.send_raw_transaction(raw)

    def receipt_status(self, tx_hash: str) -> int | None:
        """1 mined and succeeded, 0 mined and reverted, None not mined (or unknown)."""
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)["status"]
        except TransactionNotFound:
            return None


class MarketChain(Node):
    """Reading-related calls of the market contract at ``market_address``, through ``w3``."""

    def __init__(self, w3: Web3, market_address: str, abi: list):
        self.w3 = w3
        self._abi = abi
        self.market = attach(w3, market_address, abi)

    def schedule(self) -> Schedule:
        return Schedule.of(self.market)

    def meter_of(self, meter: str) -> MeterBinding:
        """The prosumer, number and rated power the meter account is bound with."""
        return from_struct(MeterBinding, self.market.functions.meterOf(meter).call())

    def reading_of(self, prosumer_id: int, period: int) -> int | None:
        """The energy (Wh) the contract holds for a prosumer and period, None when none."""
        reading = self.market.functions.readingOf(prosumer_id, period).call()
        return reading.energyWh if reading.present else None

    def account_address(self, prosumer_id: int) -> str:
        """The account of a prosumer id."""
        return self.market.functions.accountAddress(prosumer_id).call()

    def submission(self, meter: str, period: int, meter_number: int, energy_wh: int, nonce: int) -> dict:
        """The unsigned ``submitReading`` transaction; raises ContractRefused if it would revert."""
        call = self.market.functions.submitReading(period, meter_number, energy_wh)
        return unsigned_transaction(self.w3, call, meter, nonce, self._abi)


@dataclass(frozen=True)
class MeteringClock:
    """The dispatch's metering periods: period p runs from ``genesis + p * period_length``;
    its readings are taken until ``reading_grace`` seconds after it ends."""

    genesis: int
    period_length: int
    reading_grace: int

    def period_at(self, timestamp: float) -> int:
        return max(0, int(timestamp - self.genesis) // self.period_length)

    def start(self, period: int) -> int:
        return self.genesis + period * self.period_length


class DispatchChain(Node):
    """Reading-related calls of the stations' dispatch at ``dispatch_address``, through ``w3``
    (the scheduling chain's endpoint)."""

    def __init__(self, w3: Web3, dispatch_address: str, abi: list):
        self.w3 = w3
        self._abi = abi
        self.dispatch = contract_at(w3, "StationDispatch", dispatch_address, abi)

    def metering_clock(self) -> MeteringClock:
        functions = self.dispatch.functions
        return MeteringClock(
            functions.genesis().call(), functions.periodLength().call(), functions.readingGrace().call()
        )

    def reading_of(self, meter: str, period: int, direction: int) -> int | None:
        """The energy (Wh) the dispatch holds from the account ``meter`` is bound to, None when none."""
        account = self.dispatch.functions.accountOfMeter(meter).call()
        if int(account, 16) == 0:
            return None
        reading = self.dispatch.functions.readingOf(account, period, direction).call()
        return reading.energyWh if reading.posted else None

    def submission(self, meter: str, period: int, direction: int, energy_wh: int, nonce: int) -> dict:
        """The unsigned ``submitReading`` transaction; raises ContractRefused if it would revert."""
        call = self.dispatch.functions.submitReading(period, direction, energy_wh)
        return unsigned_transaction(self.w3, call, meter, nonce, self._abi)


class RetailChain:
    """Monthly readings of the bilateral contracts at ``contracts_address``, through ``w3``.

    Nonces, sends and receipts go through the MarketChain on the same connection."""

    def __init__(self, w3: Web3, contracts_address: str, abi: list):
        self.w3 = w3
        self._abi = abi
        self.contracts = attach(w3, contracts_address, abi)

    def billing_clock(self) -> BillingClock:
        return BillingClock.of(self.contracts)

    def monthly_reading_of(self, account: str, month: int) -> tuple[int, int] | None:
        """The (opening, closing) registers in Wh the contracts hold for an account and month."""
        reading = self.contracts.functions.monthlyReadingOf(account, month).call()
        return (reading.openingWh, reading.closingWh) if reading.present else None

    def submission(
        self, meter: str, month: int, meter_number: int, opening_wh: int, closing_wh: int, nonce: int
    ) -> dict:
        """The unsigned ``submitMonthlyReading`` transaction; ContractRefused if it would revert."""
        call = self.contracts.functions.submitMonthlyReading(month, meter_number, opening_wh, closing_wh)
        return unsigned_transaction(self.w3, call, meter, nonce, self._abi)


def unsigned_transaction(w3: Web3, call: ContractFunction, sender: str, nonce: int, abi: list) -> dict:
    """The transaction of ``call`` with its gas estimated; ContractRefused if it would revert."""
    try:
        # Against the latest block, not the node's default (Geth: pending). Geth rebuilds the
        # pending block, with a new timestamp, between an estimate's trial runs: a call that
        # becomes allowed meanwhile fails the cheap trials, the estimate climbs to the gas cap,
        # and the signed transaction exceeds the block gas limit, holding the sender's later
        # nonces. A reading the latest block allows stays allowed until its deadline.
        gas = call.estimate_gas({"from": sender}, block_identifier="latest")
    except Exception as error:  # a node's revert, the embedded chain's; or no chain at all
        refusal = refusal_of(error, abi)
        if refusal is None and isinstance(error, ContractLogicError):
            refusal = ContractRefused("Reverted", (str(error),))
        if refusal is None:
            raise
        raise refusal from None
    return call.build_transaction(
        {
            "from": sender,
            "nonce": nonce,
            "gas": int(gas * GAS_MARGIN),
            "gasPrice": w3.eth.gas_price,
            "chainId": w3.eth.chain_id,
        }
    )
