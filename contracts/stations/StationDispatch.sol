// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IStationDispatch} from "./interfaces/IStationDispatch.sol";
import {StationFlows} from "./StationFlows.sol";
import {SortedLines} from "./libraries/SortedLines.sol";

/// @title The station list and its dispatch by line loss, on the scheduling chain
/// @notice See `IStationDispatch`. Dropping a station's connections is O(1): each direction has
///         an epoch, bumped when the station turns unavailable, and a connection holds only
///         while it carries the epoch it was made in; its users are assigned again by
///         `reassign` (anyone), each call bounded like an assignment.
/// @dev Cost per call: registration, reports, settlements O(1); `setLine` O(1) with a right
///      hint, else O(lines of the user); an assignment (in `request`, `reassign`, and in
///      `transferUnit` when a connection ends) walks the user's lines from the least loss, past
///      the unavailable stations, so at most `maxLinesPerUser` steps. Nothing here grows with
///      the number of stations or users.
contract StationDispatch is IStationDispatch, StationFlows {
    using SortedLines for SortedLines.List;

    /// @notice Loss rates are in parts per million of the energy moved.
    uint32 public constant LOSS_SCALE = 1_000_000;
    /// @notice Upper bound of a station's capacity, in units.
    uint64 public constant MAX_ENERGY = 10 ** 12;
    /// @notice Upper bound of one request, in units.
    uint64 public constant MAX_REQUEST_UNITS = 10 ** 6;
    /// @notice Upper bound of `maxLinesPerUser`, so that an assignment's walk stays bounded.
    uint32 public constant MAX_LINES_CEILING = 256;

    /// @notice Units a connection lasts before the user is assigned again (k; 10 by default).
    uint32 public immutable unitsPerConnection;
    /// @notice Lines one user may have: the bound on an assignment's walk.
    uint32 public immutable maxLinesPerUser;

    /// @notice Stations registered so far (ids 1..stationCount).
    uint32 public stationCount;
    /// @notice The station id of an account (0: not a station).
    mapping(address => uint32) public stationIdOf;
    /// @notice Settlements of a station so far.
    mapping(uint32 => uint32) public settlementCount;
    /// @dev Two slots: account 160 | supplyEpoch 32 | absorbEpoch 32 | online 8; stored 64 |
    ///      capacity 64 | supplyThreshold 64 | absorbThreshold 64.
    mapping(uint32 => Station) private _stations;
    /// @dev One slot: supplied 64 | absorbed 64 | lossPpmUnits 64 | two connection counts 32.
    mapping(uint32 => Ledger) private _ledgers;
    mapping(address => SortedLines.List) private _lines;
    /// @dev One slot: open 8 | direction 8 | station 32 | epoch 32 | loss 32 | units 32 | remaining 64.
    mapping(address => Request) private _requests;

    /// @param connectionUnits k, 1..MAX_REQUEST_UNITS
    /// @param linesPerUser the most lines one user may have, 1..MAX_LINES_CEILING
    /// @param terms the rights ledger, the prices and the metering periods (`IStationFlows`)
    constructor(uint32 connectionUnits, uint32 linesPerUser, FlowTerms memory terms) StationFlows(terms) {
        if (connectionUnits == 0 || connectionUnits > MAX_REQUEST_UNITS) revert InvalidSettings("unitsPerConnection");
        if (linesPerUser == 0 || linesPerUser > MAX_LINES_CEILING) revert InvalidSettings("maxLinesPerUser");
        unitsPerConnection = connectionUnits;
        maxLinesPerUser = linesPerUser;
    }

    // ------------------------------------------------------------------ company

    /// @inheritdoc IStationDispatch
    function registerStation(
        address account,
        uint64 stored,
        uint64 capacity,
        uint64 supplyThreshold,
        uint64 absorbThreshold
    ) external onlyCompany returns (uint32 station) {
        if (account == address(0)) revert InvalidSettings("account");
        if (stationIdOf[account] != 0) revert StationAccountTaken(account, stationIdOf[account]);
        if (_lines[account].size != 0 || _requests[account].open) revert InvalidSettings("account");
        _checkState(stored, capacity);
        if (supplyThreshold == 0 || absorbThreshold == 0 || supplyThreshold > capacity || absorbThreshold > capacity) {
            revert InvalidThresholds(supplyThreshold, absorbThreshold, capacity);
        }
        station = ++stationCount;
        stationIdOf[account] = station;
        _stations[station] = Station(account, 0, 0, true, stored, capacity, supplyThreshold, absorbThreshold);
        emit StationRegistered(station, account, stored, capacity, supplyThreshold, absorbThreshold);
        (bool canSupply, bool canAbsorb) = _availability(_stations[station]);
        emit StationStateChanged(station, stored, capacity, true, canSupply, canAbsorb);
    }

    /// @inheritdoc IStationDispatch
    function setLine(address user, uint32 station, uint32 lossPpm, uint32 prevHint) external onlyCompany {
        _station(station);
        if (user == address(0) || stationIdOf[user] != 0) revert InvalidUser(user);
        if (lossPpm >= LOSS_SCALE) revert InvalidLossRate(lossPpm);
        SortedLines.List storage list = _lines[user];
        if (list.lines[station].exists) list.remove(station);
        else if (list.size >= maxLinesPerUser) revert TooManyLines(user, maxLinesPerUser);
        list.insert(station, lossPpm, prevHint);
        emit LineSet(user, station, lossPpm);
    }

    /// @inheritdoc IStationDispatch
    function removeLine(address user, uint32 station) external onlyCompany {
        SortedLines.List storage list = _lines[user];
        if (!list.lines[station].exists) revert NoLine(user, station);
        list.remove(station);
        emit LineRemoved(user, station);
    }

    /// @inheritdoc IStationDispatch
    function settle(uint32 station) external onlyCompany {
        _station(station);
        _payBack(station);
        Ledger storage ledger = _ledgers[station];
        uint32 settlement = ++settlementCount[station];
        emit StationSettled(station, settlement, ledger.supplied, ledger.absorbed, ledger.lossPpmUnits);
        (ledger.supplied, ledger.absorbed, ledger.lossPpmUnits) = (0, 0, 0);
    }

    // ------------------------------------------------------------------ stations

    /// @inheritdoc IStationDispatch
    function reportState(uint64 stored, uint64 capacity, bool online) external {
        uint32 id = _callerStation();
        Station storage station = _stations[id];
        _checkState(stored, capacity);
        if (capacity < station.supplyThreshold || capacity < station.absorbThreshold) {
            revert InvalidThresholds(station.supplyThreshold, station.absorbThreshold, capacity);
        }
        _setState(id, station, stored, capacity, online, true);
    }

    /// @inheritdoc IStationDispatch
    function transferUnit(address user) external {
        uint32 id = _callerStation();
        Station storage station = _stations[id];
        Request storage req = _requests[user];
        Direction direction = req.direction;
        if (!req.open || req.station != id || req.epoch != _epoch(station, direction)) revert NotConnected(user, id);
        uint32 loss = req.lossPpm;
        Ledger storage ledger = _ledgers[id];
        ledger.lossPpmUnits += loss;
        uint64 stored = station.stored;
        if (direction == Direction.Supply) {
            ++ledger.supplied;
            --stored;
        } else {
            ++ledger.absorbed;
            ++stored;
        }
        uint64 remaining = --req.remaining;
        uint32 units = ++req.unitsOnConnection;
        _claim(user, id, uint8(direction));
        emit UnitTransferred(user, id, direction, loss, remaining);
        _setState(id, station, stored, station.capacity, station.online, false);
        if (remaining == 0) {
            _close(user, req);
        } else if (req.epoch != _epoch(station, direction)) {
            _assignOrWait(user, req);
        } else if (units >= unitsPerConnection) {
            _endConnection(req);
            _assignOrWait(user, req);
        }
    }

    // ------------------------------------------------------------------ users

    /// @inheritdoc IStationDispatch
    function request(Direction direction, uint64 units) external {
        if (units == 0 || units > MAX_REQUEST_UNITS) revert InvalidUnits(units);
        if (stationIdOf[msg.sender] != 0) revert InvalidUser(msg.sender);
        Request storage req = _requests[msg.sender];
        if (req.open) revert RequestAlreadyOpen(msg.sender);
        (uint32 station, uint32 loss) = _best(msg.sender, direction);
        if (station == 0) revert NoStationAvailable(msg.sender, uint8(direction), _lines[msg.sender].size);
        _requests[msg.sender] = Request(true, direction, 0, 0, 0, 0, units);
        emit RequestOpened(msg.sender, direction, units);
        _hold(msg.sender, uint8(direction), units);
        _connect(msg.sender, req, station, loss);
    }

    /// @inheritdoc IStationDispatch
    function cancel() external {
        Request storage req = _requests[msg.sender];
        if (!req.open) revert NoOpenRequest(msg.sender);
        _close(msg.sender, req);
    }

    /// @inheritdoc IStationDispatch
    function reassign(address user) external {
        Request storage req = _requests[user];
        if (!req.open) revert NoOpenRequest(user);
        if (_inForce(req)) revert ConnectionInForce(user, req.station);
        (uint32 station, uint32 loss) = _best(user, req.direction);
        if (station == 0) revert NoStationAvailable(user, uint8(req.direction), _lines[user].size);
        _connect(user, req, station, loss);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IStationDispatch
    function bestStation(address user, Direction direction) external view returns (uint32 station, uint32 lossPpm) {
        return _best(user, direction);
    }

    /// @inheritdoc IStationDispatch
    function insertHint(address user, uint32 station, uint32 lossPpm) external view returns (uint32 prev) {
        return _lines[user].placeOf(station, lossPpm);
    }

    /// @inheritdoc IStationDispatch
    function linesOf(address user) external view returns (uint32[] memory stations, uint32[] memory lossPpm) {
        SortedLines.List storage list = _lines[user];
        stations = new uint32[](list.size);
        lossPpm = new uint32[](list.size);
        uint32 cursor = list.head;
        for (uint256 i; cursor != 0; ++i) {
            (stations[i], lossPpm[i]) = (cursor, list.lines[cursor].lossPpm);
            cursor = list.lines[cursor].next;
        }
    }

    /// @inheritdoc IStationDispatch
    function stationOf(uint32 station) external view returns (Station memory) {
        return _station(station);
    }

    /// @inheritdoc IStationDispatch
    function ledgerOf(uint32 station) external view returns (Ledger memory) {
        _station(station);
        return _ledgers[station];
    }

    /// @inheritdoc IStationDispatch
    function requestOf(address user) external view returns (Request memory) {
        return _requests[user];
    }

    /// @inheritdoc IStationDispatch
    function connected(address user) external view returns (bool) {
        return _inForce(_requests[user]);
    }

    // ------------------------------------------------------------------ internal

    /// @dev The one updater of a station's state: emits on a report or when its availability
    ///      changes, and drops a direction's connections when the station turns unavailable in it.
    function _setState(uint32 id, Station storage station, uint64 stored, uint64 capacity, bool online, bool report)
        private
    {
        (bool couldSupply, bool couldAbsorb) = _availability(station);
        (station.stored, station.capacity, station.online) = (stored, capacity, online);
        (bool canSupply, bool canAbsorb) = _availability(station);
        if (report || couldSupply != canSupply || couldAbsorb != canAbsorb) {
            emit StationStateChanged(id, stored, capacity, online, canSupply, canAbsorb);
        }
        if (couldSupply && !canSupply) _drop(id, station, Direction.Supply);
        if (couldAbsorb && !canAbsorb) _drop(id, station, Direction.Absorb);
    }

    /// @dev Void every connection of `direction` to the station: bump its epoch, zero its count.
    function _drop(uint32 id, Station storage station, Direction direction) private {
        Ledger storage ledger = _ledgers[id];
        uint32 epoch;
        uint32 count;
        if (direction == Direction.Supply) {
            (epoch, count) = (++station.supplyEpoch, ledger.supplyConnections);
            ledger.supplyConnections = 0;
        } else {
            (epoch, count) = (++station.absorbEpoch, ledger.absorbConnections);
            ledger.absorbConnections = 0;
        }
        emit ConnectionsDropped(id, direction, epoch, count);
    }

    function _connect(address user, Request storage req, uint32 id, uint32 loss) private {
        Direction direction = req.direction;
        (req.station, req.epoch, req.lossPpm, req.unitsOnConnection) = (id, _epoch(_stations[id], direction), loss, 0);
        Ledger storage ledger = _ledgers[id];
        if (direction == Direction.Supply) ++ledger.supplyConnections;
        else ++ledger.absorbConnections;
        emit Assigned(user, id, direction, loss, req.remaining);
    }

    function _assignOrWait(address user, Request storage req) private {
        (uint32 station, uint32 loss) = _best(user, req.direction);
        if (station != 0) return _connect(user, req, station, loss);
        (req.station, req.epoch, req.lossPpm, req.unitsOnConnection) = (0, 0, 0, 0);
        emit RequestWaiting(user, req.direction, req.remaining);
    }

    /// @dev End a connection in force (its station's count goes down); a dropped one was counted off.
    function _endConnection(Request storage req) private {
        if (!_inForce(req)) return;
        Ledger storage ledger = _ledgers[req.station];
        if (req.direction == Direction.Supply) --ledger.supplyConnections;
        else --ledger.absorbConnections;
    }

    function _close(address user, Request storage req) private {
        _endConnection(req);
        emit RequestClosed(user, req.direction, req.remaining);
        _release(user, uint8(req.direction), req.remaining);
        delete _requests[user];
    }

    /// @dev The first station of `user`'s lines (least loss first) available for `direction`.
    function _best(address user, Direction direction) private view returns (uint32, uint32) {
        SortedLines.List storage list = _lines[user];
        for (uint32 cursor = list.head; cursor != 0; cursor = list.lines[cursor].next) {
            (bool canSupply, bool canAbsorb) = _availability(_stations[cursor]);
            if (direction == Direction.Supply ? canSupply : canAbsorb) return (cursor, list.lines[cursor].lossPpm);
        }
        return (0, 0);
    }

    function _inForce(Request storage req) private view returns (bool) {
        return req.open && req.station != 0 && req.epoch == _epoch(_stations[req.station], req.direction);
    }

    function _availability(Station storage station) private view returns (bool canSupply, bool canAbsorb) {
        bool online = station.online;
        canSupply = online && station.stored >= station.supplyThreshold;
        canAbsorb = online && station.capacity - station.stored >= station.absorbThreshold;
    }

    function _epoch(Station storage station, Direction direction) private view returns (uint32) {
        return direction == Direction.Supply ? station.supplyEpoch : station.absorbEpoch;
    }

    function _stationAccount(uint32 id) internal view override returns (address) {
        return _stations[id].account;
    }

    function _callerStation() private view returns (uint32 id) {
        id = stationIdOf[msg.sender];
        if (id == 0) revert NotAStation(msg.sender);
    }

    function _station(uint32 id) private view returns (Station storage station) {
        if (id == 0 || id > stationCount) revert UnknownStation(id);
        return _stations[id];
    }

    function _checkState(uint64 stored, uint64 capacity) private pure {
        if (capacity == 0 || capacity > MAX_ENERGY || stored > capacity) revert InvalidStationState(stored, capacity);
    }
}
