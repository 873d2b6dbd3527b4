"""The station daemon: the dispatch contract's commands for one station, turned into set-points
for the station's equipment, and the energy it meters confirmed on chain unit by unit.

Each ``StationDaemon.step(seconds)``:

1. settles a ``transferUnit`` left in flight by a crash (``station.state``): mined, or sent
   again with the same bytes, so that it is confirmed once;
2. reads the ``Assigned`` events naming this station from the cursor on, to learn its users
   (the events only say whom to look at: each user's ``requestOf`` on chain says whether it is
   connected here, so an event replayed or meant for another station moves nothing);
3. sets the equipment's power: ``connection_kw`` per connection in force, positive for
   supply, negative for absorption, netted (what one user feeds in goes on to one being
   supplied); less for a connection that needs less to finish its request. The equipment
   clamps the set-point to its power limits and delivers less when it empties or fills;
4. shares the energy the equipment metered at its terminals among the connections, and sends
   ``transferUnit`` for every whole unit a connection has moved;
5. reports the station's state (``reportState``) only when it matters to dispatch: its
   availability to supply or absorb, its capacity or its online switch differ from what the
   chain holds, or the stored energy has drifted ``report_step`` units from it (the chain counts
   a unit at the terminals, the store also loses what the efficiency takes);
6. asks the meters to confirm its claims (``confirm``): each unit mined is a claim of
   (user, metering period, direction), confirmed once the period's two readings are posted or
   its reading deadline has passed (then a missing reading pays nothing), at most
   ``confirm_batch`` per step, the oldest first.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TimeExhausted, TransactionNotFound
from web3.logs import DISCARD

from p2pkit.stations import Direction, DispatchClient
from p2pkit.transactions import ContractRefused, TransactionReverted, build
from station.errors import NotThisStation
from station.state import PendingUnit, StateFile, StationState

log = logging.getLogger("station")

EPSILON_KWH = 1e-9
MAX_RETRY_DELAY = 60.0
RECEIPT_WAIT = 120.0  # seconds a unit's transaction is waited for before the next step looks again


class Equipment(Protocol):
    """What the daemon drives: ``sim.battery.SimulatedBattery`` satisfies it."""

    stored_kwh: float

    def command(self, set_point_kw: float) -> float: ...

    def step(self, seconds: float) -> float: ...

    def whole_units(self) -> tuple[int, int]: ...


def send_raw(w3: Web3, raw: bytes) -> HexBytes:
    return w3.eth.send_raw_transaction(raw)


@dataclass(frozen=True)
class Connection:
    user: str
    direction: Direction
    remaining: int  # units still to move on the user's request


@dataclass
class StepResult:
    """What one step did, for logs and tests."""

    set_point_kw: float = 0.0
    terminal_kwh: float = 0.0  # + delivered, - taken in, at the terminals
    units: list[str] = field(default_factory=list)  # the users a unit was confirmed for
    reported: tuple[int, int, bool] | None = None
    confirmed: list[tuple[str, int, int]] = field(default_factory=list)  # (user, period, direction)


class StationDaemon:
    def __init__(
        self,
        w3: Web3,
        dispatch: Contract,
        account: LocalAccount,
        equipment: Equipment,
        state_file: StateFile,
        *,
        connection_kw: float = 10.0,
        unit_kwh: float = 1.0,
        report_step: int = 5,
        log_block_range: int = 2000,
        meter_file: str | Path | None = None,
        broadcast: Callable[[Web3, bytes], HexBytes] = send_raw,
        receipt_wait: float = RECEIPT_WAIT,
        confirm_batch: int = 8,
    ) -> None:
        self.w3 = w3
        self.dispatch = dispatch
        self.account = account
        self.equipment = equipment
        self.client = DispatchClient(w3, dispatch, account)
        self.station_id = dispatch.functions.stationIdOf(account.address).call()
        if self.station_id == 0:
            raise NotThisStation(f"{account.address} is not a station of the dispatch contract at {dispatch.address}")
        self.connection_kw = connection_kw
        self.unit_kwh = unit_kwh
        self.report_step = report_step
        self.log_block_range = log_block_range
        self.meter_file = Path(meter_file) if meter_file else None
        self.broadcast = broadcast
        self.receipt_wait = receipt_wait
        self.confirm_batch = confirm_batch
        functions = dispatch.functions
        self._metering = (functions.genesis().call(), functions.periodLength().call(), functions.readingGrace().call())
        self.online = True
        self._file = state_file
        self.state: StationState = state_file.load()
        if self.state.battery_kwh is not None:
            equipment.stored_kwh = self.state.battery_kwh

    # ------------------------------------------------------------------ one step

    def step(self, seconds: float) -> StepResult:
        result = StepResult()
        self.settle_pending()
        self.read_assignments()
        station = self.dispatch.functions.stationOf(self.station_id).call()
        connections = self.connections(station)
        result.set_point_kw, result.terminal_kwh = self.drive(connections, seconds)
        for connection in connections:
            result.units += self.confirm_units(connection)
        # A unit changes the chain's count of the stored energy: read it again then.
        result.reported = self.report_if_needed(None if result.units else station)
        result.confirmed = self.confirm_claims()
        return result

    def read_assignments(self) -> None:
        """Users assigned to this station since the cursor, in bounded block ranges."""
        head = self.w3.eth.block_number
        while self.state.cursor <= head:
            last = min(self.state.cursor + self.log_block_range - 1, head)
            events = self.dispatch.events.Assigned.get_logs(
                from_block=self.state.cursor, to_block=last, argument_filters={"station": self.station_id}
            )
            for event in events:
                if event["args"]["station"] == self.station_id:  # a node's filter is not trusted
                    self.state.users.setdefault(event["args"]["user"], 0.0)
            self.state.cursor = last + 1
            self._save()

    def connections(self, station) -> list[Connection]:
        """The connections in force to this station (``stationOf``, just read) now, as the chain
        holds them: open, assigned here, in the station's current epoch of their direction (as
        ``connected``). Users whose connection ended (request closed or moved, connection
        dropped) are forgotten, with the part of a unit they had moved."""
        found = []
        epochs = {Direction.SUPPLY: station.supplyEpoch, Direction.ABSORB: station.absorbEpoch}
        for user in list(self.state.users):
            request = self.dispatch.functions.requestOf(user).call()
            if (
                request.open
                and request.station == self.station_id
                and request.epoch == epochs[Direction(request.direction)]
            ):
                found.append(Connection(user, Direction(request.direction), request.remaining))
                continue
            moved = self.state.users.pop(user)
            if moved > EPSILON_KWH:
                log.info("connection of %s ended with %.3f kWh short of a unit", user, moved)
        self._save()
        return found

    def drive(self, connections: list[Connection], seconds: float) -> tuple[float, float]:
        """Run the equipment ``seconds`` at the connections' net set-point; credit each
        connection with its share of what was metered. Returns (set-point, terminal kWh)."""
        power = {}
        for connection in connections:
            needed = connection.remaining * self.unit_kwh - self.state.users[connection.user]
            power[connection.user] = min(self.connection_kw, max(needed, 0.0) * 3600 / seconds) if seconds > 0 else 0.0
        by_direction = {
            direction: [c.user for c in connections if c.direction == direction and power[c.user] > 0]
            for direction in Direction
        }
        asked_kw = {direction: sum(power[user] for user in users) for direction, users in by_direction.items()}
        set_point = self.equipment.command(asked_kw[Direction.SUPPLY] - asked_kw[Direction.ABSORB])
        terminal = self.equipment.step(seconds)
        asked = {direction: kw * seconds / 3600 for direction, kw in asked_kw.items()}
        # What is fed in goes on to the users supplied; only the difference reaches the store.
        if asked_kw[Direction.SUPPLY] >= asked_kw[Direction.ABSORB]:
            moved = {
                Direction.ABSORB: asked[Direction.ABSORB],
                Direction.SUPPLY: asked[Direction.ABSORB] + max(terminal, 0),
            }
        else:
            moved = {
                Direction.SUPPLY: asked[Direction.SUPPLY],
                Direction.ABSORB: asked[Direction.SUPPLY] + max(-terminal, 0),
            }
        for direction, users in by_direction.items():
            for user in users:
                self.state.users[user] += moved[direction] * power[user] / asked_kw[direction]
        self.state.battery_kwh = self.equipment.stored_kwh
        self.state.meter_exported_kwh += max(terminal, 0.0)
        self.state.meter_imported_kwh += max(-terminal, 0.0)
        self._save()
        self._write_meter()
        return set_point, terminal

    def confirm_units(self, connection: Connection) -> list[str]:
        """A ``transferUnit`` for each whole unit the connection has moved, while it holds; none
        while an earlier one is still in flight (one unit in flight at a time, on record)."""
        sent = []
        if self.state.pending is not None:
            return sent
        remaining = connection.remaining
        while remaining > 0 and self.state.users.get(connection.user, 0.0) >= self.unit_kwh - EPSILON_KWH:
            if not self.send_unit(connection.user):
                break
            sent.append(connection.user)
            request = self.dispatch.functions.requestOf(connection.user).call()
            if not (request.open and request.station == self.station_id):
                break  # the request is complete, or the k-th unit moved the user on
            remaining = request.remaining
        return sent

    def send_unit(self, user: str) -> bool:
        """Sign one ``transferUnit``, record it as in flight, send it and wait for it."""
        call = self.dispatch.functions.transferUnit(user)
        nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
        try:
            transaction = build(call, {"from": self.account.address, "nonce": nonce})
        except ContractRefused as refusal:
            log.warning("unit for %s refused (%s); the user is no longer connected here", user, refusal)
            self.state.users.pop(user, None)
            self._save()
            return False
        signed = self.account.sign_transaction(transaction)
        self.state.users[user] -= self.unit_kwh
        self.state.pending = PendingUnit(
            user, signed.hash.to_0x_hex(), signed.raw_transaction.to_0x_hex(), nonce, self.unit_kwh
        )
        self._save()
        self.broadcast(self.w3, signed.raw_transaction)
        return self._finish_pending(self.w3.eth.wait_for_transaction_receipt(signed.hash, timeout=self.receipt_wait))

    def settle_pending(self) -> None:
        """The unit a crash left in flight: mined, or its same bytes sent again (its nonce
        still free), or given back to the user's count (the nonce went to another transaction)."""
        pending = self.state.pending
        if pending is None:
            return
        try:
            receipt = self.w3.eth.get_transaction_receipt(pending.tx_hash)
        except TransactionNotFound:
            receipt = None
        if receipt is None and self.w3.eth.get_transaction_count(self.account.address, "latest") <= pending.nonce:
            try:
                self.broadcast(self.w3, HexBytes(pending.raw))
            except ValueError as error:  # the node holds it already
                log.info("unit for %s in flight already: %s", pending.user, error)
            try:
                receipt = self.w3.eth.wait_for_transaction_receipt(pending.tx_hash, timeout=self.receipt_wait)
            except TimeExhausted:
                return  # still in flight: looked at again next step
        if receipt is None:
            log.warning("unit for %s was not mined and its nonce is used: counted again", pending.user)
            self._give_back(pending)
            return
        self._finish_pending(receipt)

    def _finish_pending(self, receipt) -> bool:
        pending = self.state.pending
        self.state.pending = None
        if receipt["status"] == 1:
            log.info("unit confirmed for %s in block %s", pending.user, receipt["blockNumber"])
            self._record_claim(receipt)
            self._save()
            return True
        log.warning("unit for %s reverted in block %s", pending.user, receipt["blockNumber"])
        self._give_back(pending)
        return False

    def _give_back(self, pending: PendingUnit) -> None:
        self.state.pending = None
        if pending.user in self.state.users:
            self.state.users[pending.user] += pending.kwh
        self._save()

    # ------------------------------------------------------------------ metered confirmation

    def _record_claim(self, receipt) -> None:
        """Note the (user, metering period, direction) the mined unit claimed."""
        for event in self.dispatch.events.UnitTransferred().process_receipt(receipt, errors=DISCARD):
            timestamp = self.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
            genesis, period_length, _ = self._metering
            claim = [event["args"]["user"], (timestamp - genesis) // period_length, int(event["args"]["direction"])]
            if claim not in self.state.claims:
                self.state.claims.append(claim)

    def confirm_claims(self) -> list[tuple[str, int, int]]:
        """``confirm`` the claims whose readings are in or whose deadline has passed, at most
        ``confirm_batch``; those confirmed (or found confirmed before)."""
        done = []
        now = self.w3.eth.get_block("latest")["timestamp"]
        genesis, period_length, grace = self._metering
        for user, period, direction in list(self.state.claims):
            if len(done) == self.confirm_batch:
                break
            period_end = genesis + (period + 1) * period_length
            if now < period_end:
                continue
            # The next block, later than the latest, judges the deadline.
            if now < period_end + grace and not self._readings_in(user, period, direction):
                continue
            try:
                self.client.confirm(user, self.station_id, period, Direction(direction))
                log.info("claim of %s for period %s (%s) confirmed", user, period, Direction(direction).name)
            except TransactionReverted as error:  # the chain changed since the estimate: next step
                log.warning("confirmation of %s for period %s reverted: %s", user, period, error)
                continue
            except ContractRefused as refusal:
                if refusal.name == "ReadingsPending":
                    continue  # a block mined at the deadline itself: the next step
                if refusal.name != "NothingToConfirm":  # never confirmable here: not asked again
                    log.error("claim of %s for period %s refused (%s): dropped", user, period, refusal)
            self.state.claims.remove([user, period, direction])
            self._save()
            done.append((user, period, direction))
        return done

    def _readings_in(self, user: str, period: int, direction: int) -> bool:
        read = self.dispatch.functions.readingOf
        return (
            read(user, period, direction).call().posted and read(self.account.address, period, direction).call().posted
        )

    # ------------------------------------------------------------------ passive update

    def report_if_needed(self, chain=None) -> tuple[int, int, bool] | None:
        """``reportState`` when the equipment's state differs from the chain's (``stationOf``,
        read here unless given) in what dispatch looks at (see the module's description); the
        state reported, or None."""
        chain = chain or self.dispatch.functions.stationOf(self.station_id).call()
        stored, capacity = self.equipment.whole_units()
        now = availability(stored, capacity, self.online, chain.supplyThreshold, chain.absorbThreshold)
        held = availability(chain.stored, chain.capacity, chain.online, chain.supplyThreshold, chain.absorbThreshold)
        if (
            now == held
            and capacity == chain.capacity
            and self.online == chain.online
            and abs(stored - chain.stored) < self.report_step
        ):
            return None
        stored = min(stored, capacity)
        self.client.report_state(stored, capacity, self.online)
        log.info("reported stored %d of %d kWh, %s", stored, capacity, "online" if self.online else "offline")
        return stored, capacity, self.online

    # ------------------------------------------------------------------ running

    def run(self, stop: threading.Event, tick: float, speed: float = 1.0) -> None:
        """Step every ``tick`` seconds until ``stop`` is set; the equipment runs ``speed``
        simulated seconds per second. A failed step (node down) is tried again later; the
        equipment holds its set-point meanwhile, and nothing it metered is lost (the state file
        has it)."""
        failures = 0
        delay = 0.0
        last = time.monotonic()
        while not stop.wait(delay):
            now = time.monotonic()
            elapsed, last = (now - last) * speed, now
            try:
                self.step(elapsed)
            except Exception as error:  # the node is down or slow
                failures += 1
                delay = min(tick * 2**failures, MAX_RETRY_DELAY)
                log.warning("step failed (%s: %s); next try in %.0f s", type(error).__name__, error, delay)
                continue
            failures, delay = 0, tick

    def go_offline(self) -> None:
        """Tell dispatch the station is off (its connections drop, its users move elsewhere)."""
        self.online = False
        self.report_if_needed()

    # ------------------------------------------------------------------ files

    def _save(self) -> None:
        self._file.save(self.state)

    def _write_meter(self) -> None:
        """The station meter's registers (imported: absorbed from users; exported: supplied to
        them), for the simulated meter on the meter bridge to follow (``follow=FILE``)."""
        if self.meter_file is None:
            return
        registers = {"imported_kwh": self.state.meter_imported_kwh, "exported_kwh": self.state.meter_exported_kwh}
        written = self.meter_file.with_name(self.meter_file.name + ".new")
        written.write_text(json.dumps(registers))
        written.replace(self.meter_file)  # the meter reads the old registers or the new, never half


def availability(stored: int, capacity: int, online: bool, supply_threshold: int, absorb_threshold: int):
    """(can supply, can absorb), as ``StationDispatch`` decides them."""
    return online and stored >= supply_threshold, online and capacity - stored >= absorb_threshold
