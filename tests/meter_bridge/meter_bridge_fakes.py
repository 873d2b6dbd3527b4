"""Fakes passed to the daemon where no real chain or bus is needed."""

from __future__ import annotations

from decimal import Decimal

import rlp
from eth_account import Account
from eth_utils import keccak
from web3.exceptions import Web3RPCError

from meter_bridge.chain import MeterBinding
from meter_bridge.errors import NoReplyError
from p2pkit.schedule import Schedule
from p2pkit.transactions import ContractRefused


class InjectedCrash(BaseException):
    """The process dies here: nothing after it runs, and no handler of the daemon catches it."""


class FakeMarket:
    """The reading rules of the market contract, on a chain that mines what it is sent.

    ``online = False`` makes every call fail as an unreachable node does. ``mining = False``
    keeps sent transactions in a mempool until ``mine()``.
    """

    def __init__(self, schedule: Schedule, bindings: dict[str, tuple[int, int, int]]):
        self.market_schedule = schedule
        # meter account -> (prosumer id, meter number, rated power W)
        self.bindings = {meter: MeterBinding(*binding) for meter, binding in bindings.items()}
        self.readings: dict[tuple[int, int], int] = {}
        self.now = 0.0
        self.online = True
        self.mining = True
        self.nonces: dict[str, int] = {}
        self.receipts: dict[str, int] = {}
        self.mempool: dict[str, bytes] = {}
        self.applied: list[tuple[int, int, int]] = []  # (prosumer, period, Wh) of every effect
        self.raw_sent: list[bytes] = []
        self.unfunded: set[str] = set()  # meter accounts without gas money

    # ---------------------------------------------------------------- MarketChain interface

    def schedule(self) -> Schedule:
        self._reachable()
        return self.market_schedule

    def meter_of(self, meter: str) -> MeterBinding:
        self._reachable()
        return self.bindings.get(meter, MeterBinding(0, 0, 0))

    def reading_of(self, prosumer_id: int, period: int) -> int | None:
        self._reachable()
        return self.readings.get((prosumer_id, period))

    def submission(self, meter: str, period: int, meter_number: int, energy_wh: int, nonce: int) -> dict:
        self._reachable()
        if meter in self.unfunded:
            raise Web3RPCError("insufficient funds for gas * price + value")
        refusal = self._refusal(meter, period, meter_number, energy_wh)
        if refusal:
            raise refusal
        data = period.to_bytes(4, "big") + meter_number.to_bytes(8, "big") + energy_wh.to_bytes(8, "big")
        return {"to": "0x" + "11" * 20, "data": data, "nonce": nonce, "gas": 100_000, "gasPrice": 1, "chainId": 1}

    def next_nonce(self, account: str, block: str = "pending") -> int:
        self._reachable()
        return self.nonces.get(account, 0)

    def send_raw(self, raw: bytes) -> None:
        self._reachable()
        self.raw_sent.append(raw)
        self.mempool["0x" + keccak(raw).hex()] = raw
        if self.mining:
            self.mine()

    def receipt_status(self, tx_hash: str) -> int | None:
        self._reachable()
        return self.receipts.get(tx_hash)

    # ---------------------------------------------------------------- test controls

    def mine(self) -> None:
        for tx_hash, raw in list(self.mempool.items()):
            del self.mempool[tx_hash]
            nonce, _, _, _, _, data, *_ = rlp.decode(raw)
            sender = Account.recover_transaction(raw)
            if int.from_bytes(nonce, "big") != self.nonces.get(sender, 0):
                continue  # a replayed transaction whose nonce is spent: the node drops it
            self.nonces[sender] = self.nonces.get(sender, 0) + 1
            period, number, energy_wh = (int.from_bytes(data[a:b], "big") for a, b in ((0, 4), (4, 12), (12, 20)))
            if self._refusal(sender, period, number, energy_wh):
                self.receipts[tx_hash] = 0
                continue
            prosumer_id = self.bindings[sender].prosumer_id
            self.readings[(prosumer_id, period)] = energy_wh
            self.applied.append((prosumer_id, period, energy_wh))
            self.receipts[tx_hash] = 1

    def _refusal(self, meter: str, period: int, meter_number: int, energy_wh: int) -> ContractRefused | None:
        if meter not in self.bindings:
            return ContractRefused("MeterNotBound", (meter,))
        binding = self.bindings[meter]
        prosumer_id = binding.prosumer_id
        if binding.meter_number != meter_number:
            return ContractRefused("MeterNumberMismatch", (binding.meter_number, meter_number))
        capacity = self.market_schedule.meter_capacity_wh(binding.rated_power_w)
        if energy_wh > capacity:
            return ContractRefused("ReadingAboveCapacity", (energy_wh, capacity))
        ends = self.market_schedule.delivery_ends(period)
        if self.now < ends:
            return ContractRefused("ReadingTooEarly", (period, ends))
        if self.now >= ends + self.market_schedule.reading_grace:
            return ContractRefused("ReadingTooLate", (period, ends + self.market_schedule.reading_grace))
        if (prosumer_id, period) in self.readings:
            return ContractRefused("ReadingAlreadyPosted", (period, prosumer_id))
        return None

    def _reachable(self) -> None:
        if not self.online:
            raise ConnectionError("connection refused (fake chain offline)")


class CrashingMarket:
    """Wraps a FakeMarket; dies at the first send, just before or just after handing it over."""

    def __init__(self, market: FakeMarket, after_send: bool):
        self._market = market
        self._after_send = after_send

    def __getattr__(self, name: str):
        return getattr(self._market, name)

    def send_raw(self, raw: bytes) -> None:
        if self._after_send:
            self._market.send_raw(raw)
        raise InjectedCrash("killed during submission")


class ScriptedMeters:
    """A poller whose meters' registers the test sets; silent meters raise NoReplyError."""

    def __init__(self, registers: dict[str, str]):
        self.registers = {address: Decimal(kwh) for address, kwh in registers.items()}
        self.silent: set[str] = set()
        self.line_down = False
        self.reads = 0

    def read_energy(self, address: str, di: int) -> Decimal:
        self.reads += 1
        if self.line_down:
            raise OSError(5, "Input/output error (adapter unplugged)")
        if address in self.silent:
            raise NoReplyError(f"meter {address}: no valid reply (scripted silence)")
        return self.registers[address]
