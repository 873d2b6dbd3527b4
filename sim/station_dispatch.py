"""The storage stations' dispatch in plain Python: the rules of ``StationDispatch.sol``, what its
property test holds the contract to, and the model the dispatch experiment runs at every size.

The station list holds each station's state (energy stored, capacity, online, two thresholds)
and, per user, the lines to stations with their loss rates (parts per million), in order of
(loss, station id). A request is assigned the first station of that order available for its
direction; a connection lasts at most ``units_per_connection`` units; a station turning
unavailable in a direction voids every connection of that direction at once (its epoch moves
on), and those users are assigned again by ``reassign``. Refusals raise ``DispatchRefused``
named like the contract's custom errors and change nothing; every change appends the event the
contract emits, with the same arguments, to ``events``.

The flows (``StationFlows.sol``): rights deposited by the ledger are kept per account; a request
holds ``units x price`` of its payer's rights (the user's for a supply, the company's for an
acquisition); every unit a station says it moved is a claim of (user, station, period,
direction); ``confirm`` pays the least of the claim, what the user's meter and what the station's
meter still confirm for that period (whole units of 1,000 Wh, rounded down), once both readings
are in or the reading deadline passed (a missing reading confirms nothing); the rest returns to
the payer. A station's earned rights go to the company when it is settled, once a period. Calls
that depend on time take ``now`` (seconds, the block's timestamp).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

LOSS_SCALE = 1_000_000
MAX_ENERGY = 10**12
MAX_REQUEST_UNITS = 10**6
MAX_LINES_CEILING = 256
DEFAULT_UNITS_PER_CONNECTION = 10
WH_PER_UNIT = 1000


@dataclass(frozen=True)
class Terms:
    """The flows' terms, as ``IStationFlows.FlowTerms`` (prices in rights per unit)."""

    supply_price: int = 0
    absorb_price: int = 0
    period_length: int = 900
    reading_grace: int = 300


@dataclass
class Reading:
    energy_wh: int
    units_left: int


class Direction(IntEnum):
    SUPPLY = 0
    ABSORB = 1


class DispatchRefused(Exception):
    """A call the contract refuses: ``error`` is its custom error's name, ``args`` its arguments."""

    def __init__(self, error: str, *args):
        super().__init__(f"{error}{args}")
        self.error = error
        self.arguments = args


@dataclass
class Station:
    account: str
    stored: int
    capacity: int
    supply_threshold: int
    absorb_threshold: int
    online: bool = True
    epochs: list[int] = field(default_factory=lambda: [0, 0])  # by Direction
    connections: list[int] = field(default_factory=lambda: [0, 0])
    supplied: int = 0
    absorbed: int = 0
    loss_ppm_units: int = 0
    settlements: int = 0

    def available(self, direction: Direction) -> bool:
        if not self.online:
            return False
        if direction == Direction.SUPPLY:
            return self.stored >= self.supply_threshold
        return self.capacity - self.stored >= self.absorb_threshold


@dataclass
class Request:
    direction: Direction
    remaining: int
    station: int = 0
    epoch: int = 0
    loss_ppm: int = 0
    units_on_connection: int = 0


class StationDispatch:
    """The station list and dispatch; ``stations`` are numbered from 1 as on chain."""

    def __init__(
        self,
        units_per_connection: int = DEFAULT_UNITS_PER_CONNECTION,
        max_lines_per_user: int = 32,
        terms: Terms = Terms(),
        company: str = "0x" + "00" * 20,
        genesis: int = 0,
    ):
        if not 0 < units_per_connection <= MAX_REQUEST_UNITS:
            raise DispatchRefused("InvalidSettings", "unitsPerConnection")
        if not 0 < max_lines_per_user <= MAX_LINES_CEILING:
            raise DispatchRefused("InvalidSettings", "maxLinesPerUser")
        self.units_per_connection = units_per_connection
        self.max_lines_per_user = max_lines_per_user
        self.stations: dict[int, Station] = {}
        self.station_of_account: dict[str, int] = {}
        self.lines: dict[str, dict[int, int]] = {}  # user -> station -> loss ppm
        self.requests: dict[str, Request] = {}
        self.events: list[tuple] = []
        self.terms, self.company, self.genesis = terms, company, genesis
        self.rights: dict[str, int] = {}  # free rights of an account
        self.held: dict[str, int] = {}  # of a payer, for open requests and unconfirmed claims
        self.earned: dict[int, int] = {}  # of a station since its last settlement
        self.meters: dict[str, tuple[str, int]] = {}  # meter -> (account, rated power W)
        self.meter_of: dict[str, str] = {}
        self.readings: dict[tuple[str, int, int], Reading] = {}  # (account, period, direction)
        self.claims: dict[tuple[str, int, int, int], int] = {}  # (user, station, period, direction)
        self.settled_through: dict[int, int] = {}

    # ---------------------------------------------------------------- company

    def register_station(self, account: str, stored: int, capacity: int, supply_threshold: int, absorb_threshold: int):
        if int(account, 16) == 0:
            raise DispatchRefused("InvalidSettings", "account")
        if account in self.station_of_account:
            raise DispatchRefused("StationAccountTaken", account, self.station_of_account[account])
        if self.lines.get(account) or account in self.requests:
            raise DispatchRefused("InvalidSettings", "account")
        _check_state(stored, capacity)
        if not (0 < supply_threshold <= capacity and 0 < absorb_threshold <= capacity):
            raise DispatchRefused("InvalidThresholds", supply_threshold, absorb_threshold, capacity)
        number = len(self.stations) + 1
        station = Station(account, stored, capacity, supply_threshold, absorb_threshold)
        self.stations[number] = station
        self.station_of_account[account] = number
        self.events.append(("StationRegistered", number, account, stored, capacity, supply_threshold, absorb_threshold))
        self.events.append(
            (
                "StationStateChanged",
                number,
                stored,
                capacity,
                True,
                station.available(Direction.SUPPLY),
                station.available(Direction.ABSORB),
            )
        )
        return number

    def set_line(self, user: str, station: int, loss_ppm: int) -> None:
        self._station(station)
        if int(user, 16) == 0 or user in self.station_of_account:
            raise DispatchRefused("InvalidUser", user)
        if not 0 <= loss_ppm < LOSS_SCALE:
            raise DispatchRefused("InvalidLossRate", loss_ppm)
        lines = self.lines.setdefault(user, {})
        if station not in lines and len(lines) >= self.max_lines_per_user:
            raise DispatchRefused("TooManyLines", user, self.max_lines_per_user)
        lines[station] = loss_ppm
        self.events.append(("LineSet", user, station, loss_ppm))

    def remove_line(self, user: str, station: int) -> None:
        if station not in self.lines.get(user, {}):
            raise DispatchRefused("NoLine", user, station)
        del self.lines[user][station]
        self.events.append(("LineRemoved", user, station))

    def settle(self, number: int, now: int = 0) -> None:
        station = self._station(number)
        period = self.period_at(now)
        if self.settled_through.get(number, 0) > period:
            raise DispatchRefused("AlreadySettled", number, period)
        self.settled_through[number] = period + 1
        paid_back = self.earned.pop(number, 0)
        self._credit(self.company, paid_back)
        self.events.append(("StationPaidBack", number, period, paid_back))
        station.settlements += 1
        self.events.append(
            ("StationSettled", number, station.settlements, station.supplied, station.absorbed, station.loss_ppm_units)
        )
        station.supplied = station.absorbed = station.loss_ppm_units = 0

    # ---------------------------------------------------------------- stations

    def report_state(self, account: str, stored: int, capacity: int, online: bool) -> None:
        number = self._caller_station(account)
        station = self.stations[number]
        _check_state(stored, capacity)
        if capacity < station.supply_threshold or capacity < station.absorb_threshold:
            raise DispatchRefused("InvalidThresholds", station.supply_threshold, station.absorb_threshold, capacity)
        self._set_state(number, stored, capacity, online, report=True)

    def transfer_unit(self, account: str, user: str, now: int = 0) -> None:
        number = self._caller_station(account)
        station = self.stations[number]
        request = self.requests.get(user)
        if request is None or request.station != number or request.epoch != station.epochs[request.direction]:
            raise DispatchRefused("NotConnected", user, number)
        direction = request.direction
        station.loss_ppm_units += request.loss_ppm
        if direction == Direction.SUPPLY:
            station.supplied += 1
            stored = station.stored - 1
        else:
            station.absorbed += 1
            stored = station.stored + 1
        request.remaining -= 1
        request.units_on_connection += 1
        claim = (user, number, self.period_at(now), int(direction))
        self.claims[claim] = self.claims.get(claim, 0) + 1
        self.events.append(("UnitTransferred", user, number, int(direction), request.loss_ppm, request.remaining))
        self._set_state(number, stored, station.capacity, station.online, report=False)
        if request.remaining == 0:
            self._close(user)
        elif request.epoch != station.epochs[direction]:
            self._assign_or_wait(user)
        elif request.units_on_connection >= self.units_per_connection:
            self._end_connection(request)
            self._assign_or_wait(user)

    # ---------------------------------------------------------------- users

    def request(self, user: str, direction: Direction, units: int) -> None:
        if not 0 < units <= MAX_REQUEST_UNITS:
            raise DispatchRefused("InvalidUnits", units)
        if user in self.station_of_account:
            raise DispatchRefused("InvalidUser", user)
        if user in self.requests:
            raise DispatchRefused("RequestAlreadyOpen", user)
        number, loss = self.best_station(user, direction)
        if number == 0:
            raise DispatchRefused("NoStationAvailable", user, int(direction), len(self.lines.get(user, {})))
        payer, price = self._payer(user, direction)
        if units * price > self.rights.get(payer, 0):
            raise DispatchRefused("InsufficientRights", payer, self.rights.get(payer, 0), units * price)
        self.requests[user] = Request(Direction(direction), units)
        self.events.append(("RequestOpened", user, int(direction), units))
        if units * price:
            self.rights[payer] -= units * price
            self.held[payer] = self.held.get(payer, 0) + units * price
            self.events.append(("RightsHeld", user, payer, units * price))
        self._connect(user, number, loss)

    def cancel(self, user: str) -> None:
        if user not in self.requests:
            raise DispatchRefused("NoOpenRequest", user)
        self._close(user)

    def reassign(self, user: str) -> None:
        request = self.requests.get(user)
        if request is None:
            raise DispatchRefused("NoOpenRequest", user)
        if self.in_force(user):
            raise DispatchRefused("ConnectionInForce", user, request.station)
        number, loss = self.best_station(user, request.direction)
        if number == 0:
            raise DispatchRefused("NoStationAvailable", user, int(request.direction), len(self.lines.get(user, {})))
        self._connect(user, number, loss)

    # ---------------------------------------------------------------- views

    def ordered_lines(self, user: str) -> list[tuple[int, int]]:
        """(station, loss ppm) of `user`'s lines, least loss first, ties by the lower id."""
        return sorted(self.lines.get(user, {}).items(), key=lambda item: (item[1], item[0]))

    def best_station(self, user: str, direction: Direction) -> tuple[int, int]:
        for number, loss in self.ordered_lines(user):
            if self.stations[number].available(direction):
                return number, loss
        return 0, 0

    def in_force(self, user: str) -> bool:
        request = self.requests.get(user)
        return (
            request is not None
            and request.station != 0
            and request.epoch == self.stations[request.station].epochs[request.direction]
        )

    def dropped_users(self, number: int, direction: Direction) -> list[str]:
        """Users whose open request lost its connection to `number` (in request order)."""
        return [
            user
            for user, request in self.requests.items()
            if request.station == number and request.direction == direction and not self.in_force(user)
        ]

    # ---------------------------------------------------------------- internal

    def _set_state(self, number: int, stored: int, capacity: int, online: bool, report: bool) -> None:
        station = self.stations[number]
        before = [station.available(d) for d in Direction]
        station.stored, station.capacity, station.online = stored, capacity, online
        after = [station.available(d) for d in Direction]
        if report or before != after:
            self.events.append(("StationStateChanged", number, stored, capacity, online, after[0], after[1]))
        for direction in Direction:
            if before[direction] and not after[direction]:
                station.epochs[direction] += 1
                count = station.connections[direction]
                station.connections[direction] = 0
                self.events.append(("ConnectionsDropped", number, int(direction), station.epochs[direction], count))

    def _connect(self, user: str, number: int, loss: int) -> None:
        request = self.requests[user]
        station = self.stations[number]
        request.station, request.epoch = number, station.epochs[request.direction]
        request.loss_ppm, request.units_on_connection = loss, 0
        station.connections[request.direction] += 1
        self.events.append(("Assigned", user, number, int(request.direction), loss, request.remaining))

    def _assign_or_wait(self, user: str) -> None:
        request = self.requests[user]
        number, loss = self.best_station(user, request.direction)
        if number:
            self._connect(user, number, loss)
            return
        request.station = request.epoch = request.loss_ppm = request.units_on_connection = 0
        self.events.append(("RequestWaiting", user, int(request.direction), request.remaining))

    def _end_connection(self, request: Request) -> None:
        station = self.stations.get(request.station)
        if station is not None and request.epoch == station.epochs[request.direction]:
            station.connections[request.direction] -= 1

    def _close(self, user: str) -> None:
        request = self.requests[user]
        if self.in_force(user):
            self._end_connection(request)
        self.events.append(("RequestClosed", user, int(request.direction), request.remaining))
        payer, price = self._payer(user, request.direction)
        if request.remaining * price:
            self.held[payer] -= request.remaining * price
            self._credit(payer, request.remaining * price)
            self.events.append(("RightsReleased", user, payer, request.remaining * price))
        del self.requests[user]

    # ---------------------------------------------------------------- the flows

    def period_at(self, now: int) -> int:
        return max(now - self.genesis, 0) // self.terms.period_length

    def period_end(self, period: int) -> int:
        return self.genesis + (period + 1) * self.terms.period_length

    def deposit(self, account: str, amount: int) -> None:
        """The ledger moved ``amount`` of ``account``'s rights here (``transferAndCall``)."""
        self._credit(account, amount)
        self.events.append(("RightsDeposited", account, amount))

    def withdraw(self, account: str, amount: int) -> None:
        if amount == 0:
            raise DispatchRefused("InvalidAmount")
        if amount > self.rights.get(account, 0):
            raise DispatchRefused("InsufficientRights", account, self.rights.get(account, 0), amount)
        self.rights[account] -= amount
        self.events.append(("RightsWithdrawn", account, amount))

    def bind_meter(self, account: str, meter: str, rated_power_w: int) -> None:
        if int(account, 16) == 0 or int(meter, 16) == 0 or rated_power_w == 0:
            raise DispatchRefused("InvalidSettings", "meter")
        if meter in self.meters:
            raise DispatchRefused("MeterTaken", meter, self.meters[meter][0])
        if account in self.meter_of:
            raise DispatchRefused("AccountHasMeter", account, self.meter_of[account])
        self.meters[meter] = (account, rated_power_w)
        self.meter_of[account] = meter
        self.events.append(("MeterBound", account, meter, rated_power_w))

    def submit_reading(self, meter: str, period: int, direction: int, energy_wh: int, now: int) -> None:
        if meter not in self.meters:
            raise DispatchRefused("MeterNotBound", meter)
        if direction > 1:
            raise DispatchRefused("InvalidSettings", "direction")
        ends = self.period_end(period)
        if now < ends:
            raise DispatchRefused("ReadingTooEarly", period, ends)
        if now > ends + self.terms.reading_grace:
            raise DispatchRefused("ReadingTooLate", period, ends + self.terms.reading_grace)
        account, rated_power_w = self.meters[meter]
        capacity_wh = rated_power_w * self.terms.period_length // 3600
        if energy_wh > capacity_wh:
            raise DispatchRefused("ReadingAboveCapacity", energy_wh, capacity_wh)
        if (account, period, direction) in self.readings:
            raise DispatchRefused("ReadingPostedBefore", account, period, direction)
        self.readings[(account, period, direction)] = Reading(energy_wh, energy_wh // WH_PER_UNIT)
        self.events.append(("ReadingPosted", account, meter, period, direction, energy_wh))

    def confirm(self, user: str, number: int, period: int, direction: int, now: int) -> None:
        claimed = self.claims.get((user, number, period, direction), 0)
        if claimed == 0:
            raise DispatchRefused("NothingToConfirm", user, number, period, direction)
        at_user = self.readings.get((user, period, direction))
        at_station = self.readings.get((self.stations[number].account, period, direction))
        deadline = self.period_end(period) + self.terms.reading_grace
        if now <= deadline and (at_user is None or at_station is None):
            raise DispatchRefused("ReadingsPending", user, number, period, deadline)
        paid = min(claimed, at_user.units_left if at_user else 0, at_station.units_left if at_station else 0)
        del self.claims[(user, number, period, direction)]
        for reading in (at_user, at_station):
            if reading is not None:
                reading.units_left -= paid
        payer, price = self._payer(user, Direction(direction))
        self.held[payer] -= claimed * price
        if direction == Direction.SUPPLY:
            self.earned[number] = self.earned.get(number, 0) + paid * price
        else:
            self._credit(user, paid * price)
        self._credit(payer, (claimed - paid) * price)
        self.events.append(("UnitsConfirmed", user, number, period, direction, claimed, paid, paid * price))

    def rights_here(self) -> int:
        """All rights the contract holds: what the ledger's balance of the contract must be."""
        return sum(self.rights.values()) + sum(self.held.values()) + sum(self.earned.values())

    def _payer(self, user: str, direction: Direction) -> tuple[str, int]:
        if direction == Direction.SUPPLY:
            return user, self.terms.supply_price
        return self.company, self.terms.absorb_price

    def _credit(self, account: str, amount: int) -> None:
        self.rights[account] = self.rights.get(account, 0) + amount

    def _caller_station(self, account: str) -> int:
        if account not in self.station_of_account:
            raise DispatchRefused("NotAStation", account)
        return self.station_of_account[account]

    def _station(self, number: int) -> Station:
        if number not in self.stations:
            raise DispatchRefused("UnknownStation", number)
        return self.stations[number]


def _check_state(stored: int, capacity: int) -> None:
    if capacity == 0 or capacity > MAX_ENERGY or not 0 <= stored <= capacity:
        raise DispatchRefused("InvalidStationState", stored, capacity)
