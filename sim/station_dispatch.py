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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

LOSS_SCALE = 1_000_000
MAX_ENERGY = 10**12
MAX_REQUEST_UNITS = 10**6
MAX_LINES_CEILING = 256
DEFAULT_UNITS_PER_CONNECTION = 10


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

    def __init__(self, units_per_connection: int = DEFAULT_UNITS_PER_CONNECTION, max_lines_per_user: int = 32):
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

    def settle(self, number: int) -> None:
        station = self._station(number)
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

    def transfer_unit(self, account: str, user: str) -> None:
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
        self.requests[user] = Request(Direction(direction), units)
        self.events.append(("RequestOpened", user, int(direction), units))
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
        del self.requests[user]

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
