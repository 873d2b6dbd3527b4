// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IStationFlows} from "./IStationFlows.sol";

/// @title Storage stations and their dispatch by line loss, on the scheduling chain
/// @notice The energy company registers stations and the lines between users and stations,
///         each with its loss rate (no line: the pair cannot be assigned). A station reports its
///         own state (energy stored, capacity, online); it is available to supply while it
///         stores at least its supply threshold, to absorb while its free capacity is at least
///         its absorb threshold. A user's request is assigned the available station with the
///         least loss to it (ties: the lower station id); a connection lasts at most
///         `unitsPerConnection` units, then the user is assigned again. A station that turns
///         unavailable drops all its connections in that direction at once; their users are
///         assigned again by `reassign`. Every assignment, unit, state change and settlement
///         is an event.
/// @dev Work per call is bounded by `maxLinesPerUser` (the length of one user's sorted line
///      list), never by the number of stations or users.
interface IStationDispatch is IStationFlows {
    /// @notice Energy from the station to the user, or from the user into the station.
    enum Direction {
        Supply,
        Absorb
    }

    /// @notice A station as the list holds it. Energy in whole units (1 unit = 1 kWh).
    struct Station {
        address account; // the station's own key: reports its state and confirms units
        uint32 supplyEpoch; // bumped when the station stops being able to supply
        uint32 absorbEpoch; // bumped when the station stops being able to absorb
        bool online; // the station's own availability switch
        uint64 stored; // energy stored
        uint64 capacity; // energy it can hold; stored <= capacity
        uint64 supplyThreshold; // available to supply while stored >= this (>= 1)
        uint64 absorbThreshold; // available to absorb while capacity - stored >= this (>= 1)
    }

    /// @notice What a station moved since its last settlement, and its live connections.
    struct Ledger {
        uint64 supplied; // units supplied to users
        uint64 absorbed; // units taken from users
        uint64 lossPpmUnits; // sum over those units of each one's loss rate (ppm)
        uint32 supplyConnections; // connections in force now
        uint32 absorbConnections;
    }

    /// @notice A user's open request and its connection (station 0: waiting for a station).
    struct Request {
        bool open;
        Direction direction;
        uint32 station;
        uint32 epoch; // the station's epoch of this direction when assigned
        uint32 lossPpm; // the line's loss rate when assigned
        uint32 unitsOnConnection; // units moved on this connection so far
        uint64 remaining; // units still to move
    }

    event StationRegistered(
        uint32 indexed station,
        address indexed account,
        uint64 stored,
        uint64 capacity,
        uint64 supplyThreshold,
        uint64 absorbThreshold
    );
    /// @notice The line between `user` and `station` has loss rate `lossPpm` (parts per million).
    event LineSet(address indexed user, uint32 indexed station, uint32 lossPpm);
    event LineRemoved(address indexed user, uint32 indexed station);
    /// @notice A station's state after a report or a unit changed it.
    event StationStateChanged(
        uint32 indexed station, uint64 stored, uint64 capacity, bool online, bool canSupply, bool canAbsorb
    );
    /// @notice `count` connections of `direction` to `station` ended because it turned
    ///         unavailable; connections made before `epoch` are void.
    event ConnectionsDropped(uint32 indexed station, Direction direction, uint32 epoch, uint32 count);
    event RequestOpened(address indexed user, Direction direction, uint64 units);
    /// @notice `user` is connected to `station` for up to `unitsPerConnection` units.
    event Assigned(address indexed user, uint32 indexed station, Direction direction, uint32 lossPpm, uint64 remaining);
    /// @notice No station can serve `user`'s open request now; it waits for `reassign`.
    event RequestWaiting(address indexed user, Direction direction, uint64 remaining);
    event UnitTransferred(
        address indexed user, uint32 indexed station, Direction direction, uint32 lossPpm, uint64 remaining
    );
    event RequestClosed(address indexed user, Direction direction, uint64 unitsNotMoved);
    /// @notice End-of-period settlement of a station: what it moved since the last one.
    event StationSettled(uint32 indexed station, uint32 settlement, uint64 supplied, uint64 absorbed, uint64 lossPpmUnits);

    error UnknownStation(uint32 station);
    /// @notice The caller is not a registered station's account.
    error NotAStation(address caller);
    error StationAccountTaken(address account, uint32 station);
    /// @notice A state with stored > capacity, capacity 0, or capacity above MAX_ENERGY.
    error InvalidStationState(uint64 stored, uint64 capacity);
    /// @notice Thresholds must be at least 1 and at most the capacity.
    error InvalidThresholds(uint64 supplyThreshold, uint64 absorbThreshold, uint64 capacity);
    /// @notice The zero address or a station's own account cannot be a user.
    error InvalidUser(address user);
    /// @notice Loss rates are parts per million below 1,000,000.
    error InvalidLossRate(uint32 lossPpm);
    error NoLine(address user, uint32 station);
    error TooManyLines(address user, uint32 maximum);
    /// @notice A request is for 1 to MAX_REQUEST_UNITS units.
    error InvalidUnits(uint64 units);
    error RequestAlreadyOpen(address user);
    error NoOpenRequest(address user);
    /// @notice None of the `lines` stations `user` has a line to is available for `direction`
    ///         now (0: supply, 1: absorb; `lines` 0: the user has no line at all).
    error NoStationAvailable(address user, uint8 direction, uint32 lines);
    /// @notice `user` has no connection in force to `station` (none, another, or dropped).
    error NotConnected(address user, uint32 station);
    /// @notice `user`'s connection to `station` is still in force: nothing to re-assign.
    error ConnectionInForce(address user, uint32 station);

    /// @notice Register a station (company); it starts online. @return station its id, from 1
    function registerStation(
        address account,
        uint64 stored,
        uint64 capacity,
        uint64 supplyThreshold,
        uint64 absorbThreshold
    ) external returns (uint32 station);

    /// @notice Set the line between `user` and `station` with its loss rate (company). The
    ///         user's list is kept sorted by (loss, station id); `prevHint` is the station
    ///         expected just before it (0: the head), checked, and walked from the head if wrong.
    function setLine(address user, uint32 station, uint32 lossPpm, uint32 prevHint) external;

    /// @notice Remove the line (company); a connection in force over it runs to its end.
    function removeLine(address user, uint32 station) external;

    /// @notice The calling station reports its state: only its entry changes. Turning
    ///         unavailable in a direction drops every connection of that direction.
    function reportState(uint64 stored, uint64 capacity, bool online) external;

    /// @notice The calling station says it moved one unit on `user`'s connection: the dispatch
    ///         counts it at once (stored energy, k-unit connections), the payment waits for the
    ///         meters (`confirm`): a unit is paid only when both readings confirm it.
    ///         After the unit: the request closes when it is complete; otherwise the user is
    ///         assigned again when the connection reached `unitsPerConnection` units or was
    ///         dropped (waiting if no station is available).
    function transferUnit(address user) external;

    /// @notice Open the caller's request for `units` in `direction` and assign it a station.
    ///         Refused with `NoStationAvailable` (nothing recorded) when none is available.
    ///         Holds `units x supplyPrice` of the caller's rights for a supply, `units x
    ///         absorbPrice` of the company's for an acquisition (`InsufficientRights` if short).
    function request(Direction direction, uint64 units) external;

    /// @notice Close the caller's open request; units not moved are given up (their rights return).
    function cancel() external;

    /// @notice Assign `user`'s waiting or dropped request again (anyone). Refused with
    ///         `ConnectionInForce` while its connection holds, `NoStationAvailable` if none is.
    function reassign(address user) external;

    /// @notice Settle `station`'s period (company), once per metering period: emit what it moved
    ///         since the last settlement, start counting afresh, and pay the rights it earned
    ///         from confirmed units back to the company (`AlreadySettled` the second time).
    function settle(uint32 station) external;

    /// @notice The available station with the least loss to `user` for `direction` (0: none).
    function bestStation(address user, Direction direction) external view returns (uint32 station, uint32 lossPpm);

    /// @notice The station after which a line of (`lossPpm`, `station`) belongs in `user`'s list.
    function insertHint(address user, uint32 station, uint32 lossPpm) external view returns (uint32 prev);

    /// @notice `user`'s lines in order of loss: station ids and loss rates.
    function linesOf(address user) external view returns (uint32[] memory stations, uint32[] memory lossPpm);

    function stationOf(uint32 station) external view returns (Station memory);

    function ledgerOf(uint32 station) external view returns (Ledger memory);

    function requestOf(address user) external view returns (Request memory);

    /// @notice Whether the connection of `user` is in force (assigned and not dropped).
    function connected(address user) external view returns (bool);
}
