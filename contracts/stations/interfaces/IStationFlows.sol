// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISisterValueReceiver} from "../../sister/interfaces/ISisterValueReceiver.sol";

/// @title Rights and metered confirmation of the storage stations' flows
/// @dev `onValueReceived` (from `ISisterValueReceiver`): the ledger's call after rights moved to
///      this contract by `transferAndCall`, credited to their sender; refused unless the ledger calls.
/// @notice Energy rights (the scheduling chain's value, held by the `SisterLock` ledger) reach
///         this contract by `transferAndCall` and are kept per account. Supply: a user's request
///         holds `units x supplyPrice` of its rights; each unit a station claims waits for the
///         meters; a confirmed unit pays its price to the station, an unconfirmed one returns
///         to the user; at settlement the station pays what it earned back to the company.
///         Acquisition: the company's rights hold `units x absorbPrice` for a user's request; a
///         confirmed unit pays the user, an unconfirmed one returns to the company.
///         Confirmation: for each (user, station, period, direction) the units paid are the
///         least of the units the station claimed, what the user's meter still confirms and what
///         the station's meter still confirms for that period (whole units of 1,000 Wh, rounded
///         down); a reading counts once, whichever connections it confirms; a reading not posted
///         by its deadline confirms nothing.
interface IStationFlows is ISisterValueReceiver {
    /// @notice What the flows are deployed with (immutable).
    struct FlowTerms {
        address ledger; // the scheduling chain's rights ledger (SisterLock); 0 only with both prices 0
        uint128 supplyPrice; // rights a user pays per unit supplied
        uint128 absorbPrice; // rights the company pays per unit absorbed
        uint32 periodLength; // seconds of a metering period, from deployment
        uint32 readingGrace; // seconds after a period's end in which its readings are taken
    }

    /// @notice A meter's posting for one (account, period, direction).
    /// @dev One slot: posted 8 | energyWh 64 | unitsLeft 64.
    struct Reading {
        bool posted;
        uint64 energyWh; // as read
        uint64 unitsLeft; // whole units not yet used to confirm a connection
    }

    event MeterBound(address indexed account, address indexed meter, uint32 ratedPowerW);
    event ReadingPosted(
        address indexed account, address indexed meter, uint32 indexed period, uint8 direction, uint64 energyWh
    );
    event RightsDeposited(address indexed account, uint256 amount);
    event RightsWithdrawn(address indexed account, uint256 amount);
    /// @notice `payer`'s rights held for `user`'s request (payer: the user to be supplied, the
    ///         company for an acquisition).
    event RightsHeld(address indexed user, address indexed payer, uint256 amount);
    /// @notice Rights held for units a closed request did not move, back to `payer`.
    event RightsReleased(address indexed user, address indexed payer, uint256 amount);
    /// @notice `claimed` units of (`user`, `station`, `period`) looked at; `paid` confirmed by both
    ///         meters and paid `rights`; the rest returned to the payer.
    event UnitsConfirmed(
        address indexed user,
        uint32 indexed station,
        uint32 indexed period,
        uint8 direction,
        uint64 claimed,
        uint64 paid,
        uint256 rights
    );
    /// @notice `station` paid the rights it earned since its last settlement back to the company.
    event StationPaidBack(uint32 indexed station, uint32 period, uint256 rights);

    error NotCompany(address caller);
    error InvalidSettings(string setting);
    /// @notice Only the rights ledger may credit a deposit.
    error NotLedger(address caller);
    error InvalidAmount();
    error InsufficientRights(address account, uint256 available, uint256 needed);
    /// @notice The meter is bound to `account` already.
    error MeterTaken(address meter, address account);
    error AccountHasMeter(address account, address meter);
    error MeterNotBound(address meter);
    /// @notice Readings of `period` open when it ends, at `periodEnds`.
    error ReadingTooEarly(uint32 period, uint256 periodEnds);
    error ReadingTooLate(uint32 period, uint256 deadline);
    /// @notice `account`'s meter posted (`period`, `direction`) before: a reading counts once.
    error ReadingPostedBefore(address account, uint32 period, uint8 direction);
    /// @notice More energy than the meter's rated power can pass in one period.
    error ReadingAboveCapacity(uint64 energyWh, uint64 capacityWh);
    error NothingToConfirm(address user, uint32 station, uint32 period, uint8 direction);
    /// @notice A meter of the connection has not posted and its deadline is still to come.
    error ReadingsPending(address user, uint32 station, uint32 period, uint256 deadline);
    error AlreadySettled(uint32 station, uint32 period);

    /// @notice Send `amount` of the caller's rights held here back to its ledger account.
    function withdrawRights(uint256 amount) external;

    /// @notice Bind `meter` (its signing key) to `account`, a user or a station's account
    ///         (company); `ratedPowerW` bounds what one reading may name.
    function bindMeter(address account, address meter, uint32 ratedPowerW) external;

    /// @notice The calling meter's energy in `period` for `direction` (0 supply: out of a station,
    ///         into a user; 1 absorb: out of a user, into a station), in Wh; once per (account,
    ///         period, direction), from the period's end until `readingGrace` seconds later.
    function submitReading(uint32 period, uint8 direction, uint64 energyWh) external;

    /// @notice Confirm and pay the units `station` claimed on `user`'s connections in `period`
    ///         and `direction` (anyone), once both meters posted or the reading deadline passed.
    function confirm(address user, uint32 station, uint32 period, uint8 direction) external;

    /// @notice The metering period at time `timestamp` (periods count from deployment).
    function periodAt(uint256 timestamp) external view returns (uint32);

    /// @notice Units `station` claimed on `user`'s connections in `period` and `direction`, not yet confirmed.
    function claimedUnits(address user, uint32 station, uint32 period, uint8 direction) external view returns (uint64);

    /// @notice The reading of `account`'s meter for (`period`, `direction`).
    function readingOf(address account, uint32 period, uint8 direction) external view returns (Reading memory);
}
