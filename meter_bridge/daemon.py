"""The bridge's loop: read every meter at each period start, and its frozen registers after each
billing month, queue them, post them.

Each step does two things:

1. Poll. At the start of every market period (the contract's clock), each meter's energy
   register is read once; the difference to the previous start is the energy of the period that
   just ended, queued in the outbox in Wh (see ``period_energy``). A meter that cannot be read
   within ``max_reading_delay`` seconds of the start is skipped for that period, so that no
   period is given energy that belongs to another. An energy above what the meter can measure
   in a period (its rated power, as bound on the chain, times the period length) is not queued:
   a register that jumps so far is a replaced meter or a forged reply, not energy. Each such
   refusal is logged with the meter's running count (``Daemon.above_capacity``).
   With bilateral contracts configured, once after each billing month's end
   (``monthly_read_delay`` seconds after it, so that the meter has frozen its registers, and
   before the month's reading deadline) each meter's energy registers frozen at the last two
   settlement days (DL/T 645-2007 DI0 01 and 02: the month's end and start) are read and queued
   as the month's monthly reading. Registers identical to the previous month's mean the meter
   has not frozen yet: read again at the next step. A month's energy above what the meter can
   measure in that month (its rated power times the month's length: the contract's
   ``capacityOf``) is kept in the outbox as failed with the reason, never posted, and counted
   in ``Daemon.above_capacity``: the contract settles the month as one without a reading.
   With the stations' dispatch configured, each meter with a ``dispatch_role`` is a dispatch
   meter instead: at the start of every metering period of the dispatch (its own clock) both its
   energy registers are read, each register's difference is the energy of the period that ended
   in one direction, queued as a ``supply`` or ``absorb`` reading. Supply is out of a station
   and into a user: a station's exported (reverse) register and a user's imported (forward) one;
   absorb the other way. A dispatch meter posts nothing to the market.
2. Submit. Every waiting reading is posted with ``submitReading``, signed by its meter's key.
   Monthly readings go the same way to ``submitMonthlyReading`` of the bilateral contracts;
   both kinds share the meter account's nonces. Before anything is (re)sent, the contract is
   asked whether it already holds the reading: a
   reading it holds with the same value is done, not sent again. A reading the contract refuses
   is marked failed with the error's name and does not hold back the others; nor does one the
   node answers with an error (a meter account without gas money), which waits. When the chain
   cannot be reached at all, everything waits for the next step.
   A dispatch meter's readings go the same way to the dispatch's
   ``submitReading(period, direction, energyWh)``, through the dispatch's chain.

One log line is written per poll and per submission.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TypeVar

from web3 import Web3
from web3.exceptions import Web3RPCError

from meter_bridge.chain import (
    CHAIN_UNAVAILABLE,
    CHAIN_UNREACHABLE,
    DispatchChain,
    MarketChain,
    MeteringClock,
    Node,
    RetailChain,
)
from meter_bridge.config import Config
from meter_bridge.data_items import (
    ENERGY_REGISTER_LIMIT,
    FORWARD_ACTIVE_ENERGY,
    REVERSE_ACTIVE_ENERGY,
    frozen_at_settlement_day,
)
from meter_bridge.errors import Dlt645Error
from meter_bridge.outbox import ABSORB, DISPATCH_DIRECTIONS, MONTHLY, SIGNED, SUPPLY, Outbox, QueuedReading
from meter_bridge.period_energy import WH_PER_KWH, RegisterReading, energy_between
from meter_bridge.poller import Poller
from meter_bridge.signing import MeterKey, read_password
from meter_bridge.transport import SerialSettings, SerialTransport
from p2pkit.artifacts import load_artifact
from p2pkit.retail.clock import BillingClock
from p2pkit.schedule import Schedule
from p2pkit.transactions import ContractRefused

log = logging.getLogger(__name__)
Clock = TypeVar("Clock", Schedule, BillingClock)

# A refusal that only means "not yet": the reading stays queued and is tried again.
NOT_YET = "ReadingTooEarly"

# The direction each register of a dispatch meter measures, by role: supply is out of a station
# and into a user (forward: imported, reverse: exported).
DISPATCH_REGISTERS = {
    "station": {"reverse": (REVERSE_ACTIVE_ENERGY, SUPPLY), "forward": (FORWARD_ACTIVE_ENERGY, ABSORB)},
    "user": {"forward": (FORWARD_ACTIVE_ENERGY, SUPPLY), "reverse": (REVERSE_ACTIVE_ENERGY, ABSORB)},
}


@dataclass(frozen=True)
class BridgedMeter:
    """A meter on the bus and the account that posts its readings."""

    name: str
    address: str
    meter_number: int
    register_di: int  # forward active energy for consumers, reverse for producers
    key: MeterKey
    dispatch_role: str = ""  # "station" or "user": a meter of the stations' dispatch


class Result(str, Enum):
    """What became of a queued reading in one step."""

    DONE = "done"  # the contract holds it: it leaves the queue
    SENT = "sent"  # handed to the node, not mined yet
    REVERTED = "reverted"  # mined but failed; looked at again next step
    WAITING = "waiting"  # not sent: the chain is out of reach, or it is too early
    REFUSED = "refused"  # the contract will never take it: marked failed


@dataclass(frozen=True)
class Submission:
    """What became of one queued reading in one step."""

    meter: str
    period: int  # the billing month of a monthly reading
    energy_wh: int
    result: Result
    detail: str = ""
    kind: str = "period"


class Daemon:
    """Polls ``meters`` through ``poller`` and posts their readings through ``chain``.

    Everything it knows survives in ``outbox``: a new Daemon on the same outbox (after a crash or
    a reboot) carries on where the previous one stopped. ``retail`` (the bilateral contracts) is
    optional: without it no monthly reading is taken.
    """

    def __init__(
        self,
        meters: list[BridgedMeter],
        poller: Poller,
        chain: MarketChain,
        outbox: Outbox,
        *,
        max_reading_delay: float = 60.0,
        clock: Callable[[], float] = time.time,
        retail: RetailChain | None = None,
        monthly_read_delay: float = 300.0,
        dispatch: DispatchChain | None = None,
    ):
        self.meters = {meter.name: meter for meter in meters}
        self.poller = poller
        self.chain = chain
        self.outbox = outbox
        self.max_reading_delay = max_reading_delay
        self._clock = clock
        self._schedule: Schedule | None = None
        self._rated_power_w_of: dict[str, int] = {}  # last known from the chain, per meter name
        self.above_capacity: Counter[str] = Counter()  # energies refused (period, month), per meter name
        self.retail = retail
        self.monthly_read_delay = monthly_read_delay
        self._billing_clock: BillingClock | None = None
        self.dispatch = dispatch
        self._metering_clock: MeteringClock | None = None

    def run(self, stop: threading.Event, tick: float = 2.0) -> None:
        """Step every ``tick`` seconds until ``stop`` is set, or until the outbox fails
        (OutboxUnavailable: no step can keep its readings then)."""
        while not stop.is_set():
            self.step(self._clock())
            stop.wait(tick)

    def step(self, now: float) -> list[Submission]:
        self.poll(now)
        if self.retail is not None:
            self.poll_monthly(now)
        if self.dispatch is not None:
            self.poll_dispatch(now)
        return self.submit()

    # ---------------------------------------------------------------- polling

    def schedule(self) -> Schedule | None:
        """The contract's clock: asked once, then kept (it is fixed at deployment); while the
        chain cannot be asked, the one kept in the outbox."""
        if self._schedule is None:
            self._schedule, current = self._fixed_at_deployment(
                self.chain.schedule, self.outbox.save_schedule, self.outbox.saved_schedule, "market clock"
            )
            return current
        return self._schedule

    def poll(self, now: float) -> None:
        """Read each meter not yet read at the start of the current period."""
        schedule = self.schedule()
        if schedule is None:
            return
        period = schedule.period_at(now)
        since_start = now - schedule.start(period)
        if not 0 <= since_start <= self.max_reading_delay:  # before the market opens, or too late
            return
        for meter in self._market_meters():
            last = self.outbox.last_register(meter.name)
            if last is None or last.period < period:
                self._poll_meter(meter, last, period, schedule)

    def _market_meters(self) -> list[BridgedMeter]:
        return [meter for meter in self.meters.values() if not meter.dispatch_role]

    def _rated_power_w(self, meter: BridgedMeter) -> int | None:
        """The rated power the meter is bound with (the last one known while the chain cannot be
        asked); None while unknown or unbound."""
        try:
            self._rated_power_w_of[meter.name] = self.chain.meter_of(meter.key.address).rated_power_w
        except CHAIN_UNAVAILABLE as error:
            log.warning("rated power of meter %s unknown now, chain unavailable: %s", meter.name, error)
        return self._rated_power_w_of.get(meter.name) or None

    def _capacity_wh(self, meter: BridgedMeter, schedule: Schedule) -> int | None:
        """Wh the meter can measure in one period; None while its rated power is unknown."""
        rated = self._rated_power_w(meter)
        return None if rated is None else schedule.meter_capacity_wh(rated)

    def _poll_meter(self, meter: BridgedMeter, last: RegisterReading | None, period: int, schedule: Schedule) -> None:
        try:
            kwh = self.poller.read_energy(meter.address, meter.register_di)
        except (Dlt645Error, OSError) as error:  # OSError: the serial line itself failed
            log.warning(
                "poll %s (meter %s) at start of period %d: failed: %s", meter.name, meter.address, period, error
            )
            return
        reading = RegisterReading(meter.address, period, kwh)
        energy = energy_between(last, reading)
        capacity = None if energy.energy_wh is None else self._capacity_wh(meter, schedule)
        if capacity is not None and energy.energy_wh > capacity:
            self.above_capacity[meter.name] += 1
            self.outbox.record(meter.name, reading, None, energy.period)  # the register only
            log.warning(
                "poll %s (meter %s) at start of period %d: register %s kWh, period %d: %d Wh is more than the "
                "meter can measure (%d Wh): not queued (%d refused so far)",
                meter.name,
                meter.address,
                period,
                kwh,
                energy.period,
                energy.energy_wh,
                capacity,
                self.above_capacity[meter.name],
            )
            return
        self.outbox.record(meter.name, reading, energy.energy_wh, energy.period)
        if energy.energy_wh is None:
            result = energy.note
        else:
            result = f"period {energy.period}: {energy.energy_wh} Wh queued" + (
                f" ({energy.note})" if energy.note else ""
            )
        log.info(
            "poll %s (meter %s) at start of period %d: register %s kWh, %s",
            meter.name,
            meter.address,
            period,
            kwh,
            result,
        )

    # ---------------------------------------------------------------- monthly readings

    def billing_clock(self) -> BillingClock | None:
        """The bilateral contracts' billing clock: asked once, then kept (it is fixed at
        deployment); while the chain cannot be asked, the one kept in the outbox."""
        if self._billing_clock is None:
            self._billing_clock, current = self._fixed_at_deployment(
                self.retail.billing_clock,
                self.outbox.save_billing_clock,
                self.outbox.saved_billing_clock,
                "billing clock",
            )
            return current
        return self._billing_clock

    @staticmethod
    def _fixed_at_deployment(
        ask: Callable[[], Clock], save: Callable[[Clock], None], saved: Callable[[], Clock | None], what: str
    ) -> tuple[Clock | None, Clock | None]:
        """A clock fixed at deployment, asked of the chain and saved in the outbox: (it, it); while
        the chain cannot be asked, (None, the one the outbox saved, None when none)."""
        try:
            clock = ask()
        except CHAIN_UNAVAILABLE as error:
            kept = saved()
            if kept is None:
                log.warning("%s unknown, chain unavailable: %s", what, error)
            return None, kept
        save(clock)
        return clock, clock

    def poll_monthly(self, now: float) -> None:
        """Read the frozen registers of each meter not yet read for the month that ended last."""
        billing = self.billing_clock()
        if billing is None:
            return
        month = billing.month_at(now) - 1
        if month < 0 or not billing.month_end(month) + self.monthly_read_delay <= now < billing.reading_deadline(month):
            return
        for meter in self._market_meters():
            if self.outbox.monthly(meter.name, month) is None:
                self._poll_monthly_meter(meter, month, billing)

    def _poll_monthly_meter(self, meter: BridgedMeter, month: int, billing: BillingClock) -> None:
        try:
            closing = self.poller.read_energy(meter.address, frozen_at_settlement_day(meter.register_di, 1))
            opening = self.poller.read_energy(meter.address, frozen_at_settlement_day(meter.register_di, 2))
        except (Dlt645Error, OSError) as error:
            log.warning("monthly %s (meter %s) for month %d: failed: %s", meter.name, meter.address, month, error)
            return
        opening_wh, closing_wh = int(opening * WH_PER_KWH), int(closing * WH_PER_KWH)
        previous = self.outbox.monthly(meter.name, month - 1)
        if previous is not None and (previous.opening_wh, previous.closing_wh) == (opening_wh, closing_wh):
            log.info("monthly %s (meter %s) for month %d: not frozen yet", meter.name, meter.address, month)
            return
        energy = closing - opening if closing >= opening else closing + ENERGY_REGISTER_LIMIT - opening
        energy_wh = int(energy * WH_PER_KWH)
        rated = self._rated_power_w(meter)
        capacity = None if rated is None else billing.meter_capacity_wh(rated, month)
        if capacity is not None and energy_wh > capacity:
            self.above_capacity[meter.name] += 1
            reason = (
                f"{energy_wh} Wh is more than the meter can measure in month {month} "
                f"({capacity} Wh at {rated} W): not posted"
            )
            self.outbox.record_monthly(meter.name, month, opening_wh, closing_wh, energy_wh, refused=reason)
            log.warning(
                "monthly %s (meter %s) for month %d: registers %s -> %s kWh, %s (%d refused so far)",
                meter.name,
                meter.address,
                month,
                opening,
                closing,
                reason,
                self.above_capacity[meter.name],
            )
            return
        self.outbox.record_monthly(meter.name, month, opening_wh, closing_wh, energy_wh)
        log.info(
            "monthly %s (meter %s) for month %d: registers %s -> %s kWh, %d Wh queued",
            meter.name,
            meter.address,
            month,
            opening,
            closing,
            energy_wh,
        )

    # ---------------------------------------------------------------- the stations' dispatch

    def poll_dispatch(self, now: float) -> None:
        """Read each register of each dispatch meter not yet read at the start of the current
        metering period (the dispatch's clock, asked once: it is fixed at deployment)."""
        if self._metering_clock is None:
            try:
                self._metering_clock = self.dispatch.metering_clock()
            except CHAIN_UNAVAILABLE as error:
                log.warning("dispatch clock unknown, chain unavailable: %s", error)
                return
        clock = self._metering_clock
        period = clock.period_at(now)
        if not 0 <= now - clock.start(period) <= self.max_reading_delay:
            return
        for meter in self.meters.values():
            for register, (di, kind) in DISPATCH_REGISTERS.get(meter.dispatch_role, {}).items():
                key = f"{meter.name}/{register}"
                last = self.outbox.last_register(key)
                if last is None or last.period < period:
                    self._poll_dispatch_register(meter, key, di, kind, last, period)

    def _poll_dispatch_register(
        self, meter: BridgedMeter, key: str, di: int, kind: str, last: RegisterReading | None, period: int
    ) -> None:
        try:
            kwh = self.poller.read_energy(meter.address, di)
        except (Dlt645Error, OSError) as error:
            log.warning("poll %s at start of metering period %d: failed: %s", key, period, error)
            return
        energy = energy_between(last, RegisterReading(meter.address, period, kwh))
        self.outbox.record(
            meter.name,
            RegisterReading(meter.address, period, kwh),
            energy.energy_wh,
            energy.period,
            kind=kind,
            register_key=key,
        )
        result = (
            energy.note
            if energy.energy_wh is None
            else f"{kind} {energy.energy_wh} Wh queued for period {energy.period}"
        )
        log.info(
            "poll %s (meter %s) at start of metering period %d: register %s kWh, %s",
            key,
            meter.address,
            period,
            kwh,
            result,
        )

    # ---------------------------------------------------------------- submitting

    def submit(self) -> list[Submission]:
        """Try every waiting reading once; stop early when the chain cannot be reached."""
        submissions = []
        for queued in self.outbox.waiting():
            meter = self.meters.get(queued.meter)
            try:
                if meter is None:
                    self.outbox.mark_failed(queued.id, "meter no longer configured")
                    submission = self._outcome(queued, Result.REFUSED, "meter no longer configured")
                else:
                    submission = self._submit(meter, queued)
            except CHAIN_UNREACHABLE as error:
                submission = self._outcome(queued, Result.WAITING, f"chain unreachable: {error}")
                log.warning("submit %s %s %d Wh: %s", queued.meter, _when(queued), queued.energy_wh, submission.detail)
                submissions.append(submission)
                break
            except Web3RPCError as error:  # this reading only: the next may well go through
                submission = self._outcome(queued, Result.WAITING, f"node error: {error}")
            level = logging.INFO if submission.result in (Result.DONE, Result.SENT) else logging.WARNING
            log.log(
                level,
                "submit %s %s %d Wh: %s%s",
                queued.meter,
                _when(queued),
                queued.energy_wh,
                submission.result.value,
                f" ({submission.detail})" if submission.detail else "",
            )
            submissions.append(submission)
        return submissions

    def _submit(self, meter: BridgedMeter, queued: QueuedReading) -> Submission:
        account = meter.key.address
        if queued.kind == MONTHLY and self.retail is None:
            self.outbox.mark_failed(queued.id, "no bilateral contracts configured")
            return self._outcome(queued, Result.REFUSED, "no bilateral contracts configured")
        if queued.kind in DISPATCH_DIRECTIONS and self.dispatch is None:
            self.outbox.mark_failed(queued.id, "no dispatch configured")
            return self._outcome(queued, Result.REFUSED, "no dispatch configured")
        if self._contract_holds(account, queued):
            self.outbox.mark_done(queued.id, "contract holds this reading")
            return self._outcome(queued, Result.DONE, "contract holds this reading")
        if queued.state == SIGNED:
            resent = self._resend(queued, account)
            if resent is not None:
                return resent
        # Transactions signed but not yet seen by the node still hold their nonces.
        highest_signed = self.outbox.highest_nonce(meter.name)
        nonce = max(self._node(queued).next_nonce(account), 0 if highest_signed is None else highest_signed + 1)
        try:
            transaction = self._transaction(account, meter.meter_number, queued, nonce)
        except ContractRefused as refusal:
            if refusal.name == NOT_YET:
                return self._outcome(queued, Result.WAITING, str(refusal))
            self.outbox.mark_failed(queued.id, str(refusal))
            return self._outcome(queued, Result.REFUSED, str(refusal))
        signed = meter.key.sign(transaction)
        self.outbox.mark_signed(queued.id, signed.nonce, signed.raw, signed.tx_hash)
        return self._send(queued, signed.raw, signed.tx_hash)

    def _node(self, queued: QueuedReading) -> Node:
        """The chain a reading goes to: the dispatch's for supply and absorb, else the market's."""
        return self.dispatch if queued.kind in DISPATCH_DIRECTIONS else self.chain

    def _contract_holds(self, account: str, queued: QueuedReading) -> bool:
        if queued.kind in DISPATCH_DIRECTIONS:
            held = self.dispatch.reading_of(account, queued.period, DISPATCH_DIRECTIONS[queued.kind])
            return held == queued.energy_wh
        prosumer_id = self.chain.meter_of(account).prosumer_id
        if not prosumer_id:
            return False
        if queued.kind == MONTHLY:
            party = self.chain.account_address(prosumer_id)
            return self.retail.monthly_reading_of(party, queued.period) == (queued.opening_wh, queued.closing_wh)
        return self.chain.reading_of(prosumer_id, queued.period) == queued.energy_wh

    def _transaction(self, account: str, meter_number: int, queued: QueuedReading, nonce: int) -> dict:
        if queued.kind in DISPATCH_DIRECTIONS:
            direction = DISPATCH_DIRECTIONS[queued.kind]
            return self.dispatch.submission(account, queued.period, direction, queued.energy_wh, nonce)
        if queued.kind == MONTHLY:
            opening, closing = queued.opening_wh, queued.closing_wh
            return self.retail.submission(account, queued.period, meter_number, opening, closing, nonce)
        return self.chain.submission(account, queued.period, meter_number, queued.energy_wh, nonce)

    def _resend(self, queued: QueuedReading, account: str) -> Submission | None:
        """Settle or resend a transaction signed earlier; None when it must be signed afresh."""
        node = self._node(queued)
        status = node.receipt_status(queued.tx_hash)
        if status == 1:
            self.outbox.mark_done(queued.id)
            return self._outcome(queued, Result.DONE, f"mined {queued.tx_hash}")
        if status is None and queued.nonce >= node.next_nonce(account, "latest"):
            return self._send(queued, queued.raw_tx, queued.tx_hash)
        reason = "reverted" if status == 0 else f"nonce {queued.nonce} used by another transaction"
        self.outbox.mark_unsigned(queued.id, reason)
        return None

    def _send(self, queued: QueuedReading, raw_tx: bytes, tx_hash: str) -> Submission:
        node = self._node(queued)
        try:
            node.send_raw(raw_tx)
        except Web3RPCError as error:
            # "already known", "nonce too low": the next step settles it from receipt and nonce
            return self._outcome(queued, Result.SENT, f"{tx_hash}: node says {error}")
        status = node.receipt_status(tx_hash)
        if status == 1:
            self.outbox.mark_done(queued.id)
            return self._outcome(queued, Result.DONE, f"mined {tx_hash}")
        if status == 0:
            return self._outcome(queued, Result.REVERTED, f"{tx_hash} mined but reverted; checked again next step")
        return self._outcome(queued, Result.SENT, f"{tx_hash} waiting to be mined")

    @staticmethod
    def _outcome(queued: QueuedReading, result: Result, detail: str) -> Submission:
        return Submission(queued.meter, queued.period, queued.energy_wh, result, detail, queued.kind)


def build_daemon(config: Config) -> Daemon:
    """The daemon of a configuration: serial line, chain endpoint, outbox and meter keys."""
    artifact = Path(config.chain.artifact) if config.chain.artifact else None
    # The ABI ships with the toolkit; a configured artifact file replaces it (another build).
    abi = (load_artifact(artifact.stem, artifact.parent) if artifact else load_artifact())["abi"]
    w3 = Web3(Web3.HTTPProvider(config.chain.rpc_url, request_kwargs={"timeout": config.chain.rpc_timeout}))
    meters = [
        BridgedMeter(
            meter.name,
            meter.address,
            meter.meter_number,
            meter.register_di,
            MeterKey.from_keystore(meter.keystore, read_password(meter.password_file, meter.password_env)),
            meter.dispatch_role,
        )
        for meter in config.meters
    ]
    bus = config.bus
    transport = SerialTransport(SerialSettings(bus.port, bus.baudrate, bus.bytesize, bus.parity, bus.stopbits))
    poller = Poller(
        transport,
        reply_timeout=bus.reply_timeout,
        retries=bus.retries,
        backoff=bus.backoff,
        silent_interval=bus.silent_interval,
    )
    retail = None
    if config.chain.retail_address:
        directory = artifact.parent if artifact else None
        retail_abi = load_artifact("BilateralContracts", directory)["abi"]
        retail = RetailChain(w3, config.chain.retail_address, retail_abi)
    dispatch = None
    if config.chain.dispatch_address:
        dispatch_url = config.chain.dispatch_rpc_url or config.chain.rpc_url
        dispatch_w3 = Web3(Web3.HTTPProvider(dispatch_url, request_kwargs={"timeout": config.chain.rpc_timeout}))
        dispatch_abi = load_artifact("StationDispatch", artifact.parent if artifact else None)["abi"]
        dispatch = DispatchChain(dispatch_w3, config.chain.dispatch_address, dispatch_abi)
    return Daemon(
        meters,
        poller,
        MarketChain(w3, config.chain.market_address, abi),
        Outbox(config.daemon.database),
        max_reading_delay=config.daemon.max_reading_delay,
        retail=retail,
        monthly_read_delay=config.daemon.monthly_read_delay,
        dispatch=dispatch,
    )


def _when(queued: QueuedReading) -> str:
    """What a queued reading is for, in the log: a delivery period or a billing month."""
    if queued.kind in DISPATCH_DIRECTIONS:
        return f"{queued.kind} period {queued.period}"
    return f"month {queued.period}" if queued.kind == MONTHLY else f"period {queued.period}"
