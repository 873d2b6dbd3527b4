// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IBilateralContracts} from "../interfaces/IBilateralContracts.sol";

/// @title Billing months derived from block time
/// @notice Two kinds of clock, fixed at deployment:
///         - calendar months (monthLength = 0): month m is the m-th civil month since January
///           1970 in local time, UTC shifted by a fixed utcOffset (28800 s for UTC+8), so month 0
///           is January 1970 and month 657 is October 2024; a month starts at local midnight of
///           its first day;
///         - fixed-length months (monthLength > 0, for demos, replays and tests): month m covers
///           [genesisTime + m x monthLength, genesisTime + (m + 1) x monthLength).
/// @dev Civil dates use Howard Hinnant's days_from_civil / civil_from_days algorithms on the
///      proleptic Gregorian calendar, in unsigned arithmetic. Ranges: calendar months 0 to
///      96,000 (years 1970 to 9969; month 0 east of UTC starts at time 0), block times from 1970-01-02 on (so that time + utcOffset is
///      never negative for |utcOffset| <= 14 h); fixed-length months below 2^32.
library BillingCalendar {
    uint256 internal constant SECONDS_PER_DAY = 86_400;
    int256 internal constant MAX_UTC_OFFSET = 14 hours;
    /// @dev Days from 0000-03-01 to 1970-01-01 in the shifted calendar of the algorithms.
    uint256 private constant EPOCH_SHIFT = 719_468;
    uint256 private constant DAYS_PER_ERA = 146_097; // 400 Gregorian years

    /// @notice The billing month at `time` (0 before a fixed-length clock's genesis).
    function monthAt(IBilateralContracts.BillingClock memory c, uint256 time) internal pure returns (uint32) {
        if (c.monthLength > 0) {
            return time < c.genesisTime ? 0 : uint32((time - c.genesisTime) / c.monthLength);
        }
        uint256 local = uint256(int256(time) + c.utcOffset);
        (uint256 year, uint256 month,) = civilFromDays(local / SECONDS_PER_DAY);
        return uint32((year - 1970) * 12 + month - 1);
    }

    /// @notice Block time at which billing month `m` starts (and month m - 1 ends).
    function monthStart(IBilateralContracts.BillingClock memory c, uint256 m) internal pure returns (uint256) {
        if (c.monthLength > 0) return uint256(c.genesisTime) + m * c.monthLength;
        int256 utcStart = int256(daysFromCivil(1970 + m / 12, m % 12 + 1, 1) * SECONDS_PER_DAY) - c.utcOffset;
        return utcStart > 0 ? uint256(utcStart) : 0; // month 0 east of UTC began before 1970: time 0
    }

    /// @notice Length of billing month `m` in seconds (28 to 31 days for calendar months).
    function monthSeconds(IBilateralContracts.BillingClock memory c, uint256 m) internal pure returns (uint256) {
        return monthStart(c, m + 1) - monthStart(c, m);
    }

    /// @notice A usable clock: fixed-length months of at least a minute, or calendar months with
    ///         an offset of at most 14 h; a reading grace above zero.
    function isValid(IBilateralContracts.BillingClock memory c) internal pure returns (bool) {
        bool offsetOk = c.utcOffset >= -MAX_UTC_OFFSET && c.utcOffset <= MAX_UTC_OFFSET;
        bool kindOk = c.monthLength == 0 ? c.genesisTime == 0 : c.monthLength >= 60 && c.utcOffset == 0;
        return offsetOk && kindOk && c.readingGrace > 0;
    }

    /// @notice Days since 1970-01-01 of a civil date (year >= 1970, month 1-12, day 1-31).
    function daysFromCivil(uint256 year, uint256 month, uint256 day) internal pure returns (uint256) {
        if (month <= 2) year -= 1;
        uint256 era = year / 400;
        uint256 yearOfEra = year - era * 400;
        uint256 dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
        uint256 dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear;
        return era * DAYS_PER_ERA + dayOfEra - EPOCH_SHIFT;
    }

    /// @notice Civil date of a day number since 1970-01-01.
    function civilFromDays(uint256 daysSinceEpoch) internal pure returns (uint256 year, uint256 month, uint256 day) {
        uint256 z = daysSinceEpoch + EPOCH_SHIFT;
        uint256 era = z / DAYS_PER_ERA;
        uint256 dayOfEra = z - era * DAYS_PER_ERA;
        uint256 yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365;
        uint256 dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100);
        uint256 shiftedMonth = (5 * dayOfYear + 2) / 153;
        day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1;
        month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
    }
}
