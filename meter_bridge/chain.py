"""The market contract as the meter bridge sees it, over any JSON-RPC endpoint.

Only methods that the platform backend's ``/rpc`` proxy lets through are used: eth_call,
eth_estimateGas, eth_gasPrice, eth_chainId, eth_getTransactionCount, eth_sendRawTransaction and
eth_getTransactionReceipt. So the bridge works against a node as well as against the backend.
Transactions arrive here already signed (see ``signing``).

A call the contract refuses raises ``p2pkit.transactions.ContractRefused`` with the custom error
decoded by name (MeterNotBound, MeterNumberMismatch, ReadingAboveCapacity, ReadingTooEarly,
ReadingTooLate, ReadingAlreadyPosted), whether web3 talks to a node or to an embedded eth-tester
chain.
A chain that cannot be reached raises one of ``CHAIN_UNREACHABLE``; a node that answers with
an error, a ``Web3RPCError`` (both together: ``CHAIN_UNAVAILABLE``).
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)

from p2pkit.market import attach
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


class MarketChain:
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

    def submission(self, meter: str, period: int, meter_number: int, energy_wh: int, nonce: int) -> dict:
        """The unsigned ``submitReading`` transaction; raises ContractRefused if it would revert."""
        call = self.market.functions.submitReading(period, meter_number, energy_wh)
        try:
            gas = call.estimate_gas({"from": meter})
        except Exception as error:  # a node's revert, the embedded chain's; or no chain at all
            refusal = refusal_of(error, self._abi)
            if refusal is None and isinstance(error, ContractLogicError):
                refusal = ContractRefused("Reverted", (str(error),))
            if refusal is None:
                raise
            raise refusal from None
        return call.build_transaction(
            {
                "from": meter,
                "nonce": nonce,
                "gas": int(gas * GAS_MARGIN),
                "gasPrice": self.w3.eth.gas_price,
                "chainId": self.w3.eth.chain_id,
            }
        )

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
