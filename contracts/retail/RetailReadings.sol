// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergyMarket} from "../interfaces/IEnergyMarket.sol";
import {IBilateralContracts} from "./interfaces/IBilateralContracts.sol";
import {RetailWallets} from "./RetailWallets.sol";
import {BilateralMath} from "./libraries/BilateralMath.sol";
import {BillingCalendar} from "./libraries/BillingCalendar.sol";

/// @title The billing clock and the meters' monthly readings
/// @notice A meter bound to an account of the energy market posts, once per month, the energy
///         registers it froze at the month's start and end; the month's energy is their
///         difference. Readings belong to the account (every contract of a party uses them),
///         and are bounded by what the meter can measure: its rated power over the month.
abstract contract RetailReadings is RetailWallets {
    /// @dev An XXXXXX.XX kWh register rolls over to 0 after 999999.99 kWh.
    uint64 internal constant REGISTER_WRAP_WH = 1_000_000_000;

    /// @inheritdoc IBilateralContracts
    address public immutable market;
    uint64 internal immutable _genesisTime;
    uint32 internal immutable _monthLength;
    int32 internal immutable _utcOffset;
    uint32 internal immutable _readingGrace;

    /// @dev One slot: present 8 | meterNumber 64 | openingWh 64 | closingWh 64 = 200 bits.
    mapping(address => mapping(uint32 => MonthlyReading)) internal _readings; // account => month

    /// @param clock fixed-length months with genesisTime 0 start at the deployment block
    constructor(address energyMarket, BillingClock memory clock) {
        if (clock.monthLength > 0 && clock.genesisTime == 0) clock.genesisTime = uint64(block.timestamp);
        if (!BillingCalendar.isValid(clock)) revert InvalidBillingClock();
        market = energyMarket;
        (_genesisTime, _monthLength, _utcOffset, _readingGrace) =
            (clock.genesisTime, clock.monthLength, clock.utcOffset, clock.readingGrace);
    }

    // ------------------------------------------------------------------ external

    /// @inheritdoc IBilateralContracts
    function submitMonthlyReading(uint32 month, uint64 meterNumber, uint64 openingWh, uint64 closingWh) external {
        (uint32 prosumerId, uint64 boundNumber, uint32 ratedPowerW) = IEnergyMarket(market).meterOf(msg.sender);
        if (prosumerId == 0) revert MeterNotBound(msg.sender);
        if (boundNumber != meterNumber) revert MeterNumberMismatch(boundNumber, meterNumber);
        uint256 monthSeconds = _checkReadingWindow(month);
        address account = IEnergyMarket(market).accountAddress(prosumerId);
        if (_readings[account][month].present) revert ReadingAlreadyPosted(month, account);
        uint64 energy = _registerDifference(openingWh, closingWh);
        uint64 capacity = uint64(BilateralMath.capacityWh(ratedPowerW, monthSeconds));
        if (energy > capacity) revert ReadingAboveCapacity(energy, capacity);
        _checkContinuity(account, month, meterNumber, openingWh);
        _postReading(account, month, MonthlyReading(true, meterNumber, openingWh, closingWh));
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IBilateralContracts
    function billingClock() public view returns (BillingClock memory) {
        return BillingClock(_genesisTime, _monthLength, _utcOffset, _readingGrace);
    }

    /// @inheritdoc IBilateralContracts
    function currentMonth() public view returns (uint32) {
        return BillingCalendar.monthAt(billingClock(), block.timestamp);
    }

    /// @inheritdoc IBilateralContracts
    function monthStart(uint32 month) external view returns (uint256) {
        return BillingCalendar.monthStart(billingClock(), month);
    }

    /// @inheritdoc IBilateralContracts
    function monthlyReadingOf(address account, uint32 month) external view returns (MonthlyReading memory) {
        return _readings[account][month];
    }

    // ------------------------------------------------------------------ internal

    /// @dev Readings of a month are accepted from its end until its end plus the grace.
    /// @return monthSeconds the month's length
    function _checkReadingWindow(uint32 month) private view returns (uint256 monthSeconds) {
        (uint256 ends, uint256 deadline) = _readingDeadline(month);
        if (block.timestamp < ends) revert ReadingTooEarly(month, ends);
        if (block.timestamp >= deadline) revert ReadingTooLate(month, deadline);
        monthSeconds = ends - BillingCalendar.monthStart(billingClock(), month);
    }

    /// @dev The opening register continues the previous month's closing one of the same meter.
    function _checkContinuity(address account, uint32 month, uint64 meterNumber, uint64 openingWh) private view {
        if (month == 0) return;
        MonthlyReading memory previous = _readings[account][month - 1];
        if (previous.present && previous.meterNumber == meterNumber && previous.closingWh != openingWh) {
            revert RegisterDiscontinuity(month, previous.closingWh, openingWh);
        }
    }

    function _postReading(address account, uint32 month, MonthlyReading memory reading) private {
        _readings[account][month] = reading;
        emit MonthlyReadingPosted(month, account, msg.sender, reading.meterNumber, reading.openingWh, reading.closingWh);
    }

    /// @dev The month's energy of an account, if its meter posted the month.
    function _monthEnergy(address account, uint32 month) internal view returns (bool present, uint64 energyWh) {
        MonthlyReading memory reading = _readings[account][month];
        if (!reading.present) return (false, 0);
        return (true, _registerDifference(reading.openingWh, reading.closingWh));
    }

    /// @inheritdoc IBilateralContracts
    function capacityOf(address account, uint32 month) public view returns (uint64) {
        address meter = IEnergyMarket(market).accountOf(account).meter;
        (,, uint32 ratedPowerW) = IEnergyMarket(market).meterOf(meter);
        BillingClock memory c = billingClock();
        return uint64(BilateralMath.capacityWh(ratedPowerW, BillingCalendar.monthSeconds(c, month)));
    }

    /// @dev End of the month's reading window: its end plus the grace.
    function _readingDeadline(uint32 month) internal view returns (uint256 ends, uint256 deadline) {
        ends = BillingCalendar.monthStart(billingClock(), uint256(month) + 1);
        deadline = ends + _readingGrace;
    }

    /// @dev closing - opening, across one rollover of the register.
    function _registerDifference(uint64 openingWh, uint64 closingWh) private pure returns (uint64) {
        if (openingWh >= REGISTER_WRAP_WH) revert RegisterOutOfRange(openingWh);
        if (closingWh >= REGISTER_WRAP_WH) revert RegisterOutOfRange(closingWh);
        return closingWh >= openingWh ? closingWh - openingWh : closingWh + REGISTER_WRAP_WH - openingWh;
    }
}
