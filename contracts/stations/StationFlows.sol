// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IStationFlows} from "./interfaces/IStationFlows.sol";
import {ISisterLock} from "../sister/interfaces/ISisterLock.sol";
import {ISisterValueReceiver} from "../sister/interfaces/ISisterValueReceiver.sol";

/// @title The rights and the metered confirmation of the stations' flows
/// @notice See `IStationFlows`. Rights held here always equal the ledger's balance of this
///         contract: free rights of accounts + rights held for requests and unconfirmed claims
///         + what stations earned since their last settlement. Every call is O(1).
/// @dev The dispatch (`StationDispatch`) calls `_hold` when a request opens, `_claim` for each
///      unit a station says it moved, `_release` when a request closes, `_payBack` at settlement.
abstract contract StationFlows is IStationFlows {
    uint64 private constant WH_PER_UNIT = 1000;

    /// @notice The energy company: registers stations, lines and meters, pays for acquisitions.
    address public immutable company;
    /// @notice The rights ledger (0: no rights move, both prices 0).
    ISisterLock public immutable rightsLedger;
    /// @notice Rights a user pays per unit supplied.
    uint128 public immutable supplyPrice;
    /// @notice Rights the company pays per unit absorbed.
    uint128 public immutable absorbPrice;
    /// @notice Start of metering period 0.
    uint256 public immutable genesis;
    uint32 public immutable periodLength;
    uint32 public immutable readingGrace;

    /// @notice Free rights of an account here (a user's, the company's).
    mapping(address => uint256) public rightsOf;
    /// @notice Rights of a payer held for open requests and unconfirmed claims.
    mapping(address => uint256) public heldOf;
    /// @notice Rights a station earned from confirmed units since its last settlement.
    mapping(uint32 => uint256) public earnedOf;
    /// @notice The account a meter is bound to.
    mapping(address => address) public accountOfMeter;
    /// @notice The meter bound to an account.
    mapping(address => address) public meterOf;
    /// @dev One slot: ratedPowerW of each meter.
    mapping(address => uint32) private _ratedPowerW;
    /// @dev keccak(account, period, direction) => reading.
    mapping(bytes32 => Reading) private _readings;
    /// @dev keccak(user, station, period, direction) => units claimed, not yet confirmed.
    mapping(bytes32 => uint64) private _claims;
    /// @dev A station's last settled period + 1 (0: never settled).
    mapping(uint32 => uint32) private _settledThrough;

    constructor(FlowTerms memory terms) {
        if (terms.ledger == address(0) ? terms.supplyPrice != 0 || terms.absorbPrice != 0 : terms.ledger.code.length == 0)
        {
            revert InvalidSettings("ledger");
        }
        if (terms.periodLength == 0) revert InvalidSettings("periodLength");
        if (terms.readingGrace == 0) revert InvalidSettings("readingGrace");
        company = msg.sender;
        rightsLedger = ISisterLock(terms.ledger);
        (supplyPrice, absorbPrice) = (terms.supplyPrice, terms.absorbPrice);
        (genesis, periodLength, readingGrace) = (block.timestamp, terms.periodLength, terms.readingGrace);
    }

    modifier onlyCompany() {
        if (msg.sender != company) revert NotCompany(msg.sender);
        _;
    }

    /// @inheritdoc ISisterValueReceiver
    function onValueReceived(address sender, uint256 amount) external returns (bytes4) {
        if (msg.sender != address(rightsLedger) || msg.sender == address(0)) revert NotLedger(msg.sender);
        rightsOf[sender] += amount;
        emit RightsDeposited(sender, amount);
        return ISisterValueReceiver.onValueReceived.selector;
    }

    /// @inheritdoc IStationFlows
    function withdrawRights(uint256 amount) external {
        if (amount == 0) revert InvalidAmount();
        _debit(msg.sender, amount);
        emit RightsWithdrawn(msg.sender, amount);
        rightsLedger.transfer(msg.sender, amount);
    }

    /// @inheritdoc IStationFlows
    function bindMeter(address account, address meter, uint32 ratedPowerW) external onlyCompany {
        if (account == address(0) || meter == address(0) || ratedPowerW == 0) revert InvalidSettings("meter");
        if (accountOfMeter[meter] != address(0)) revert MeterTaken(meter, accountOfMeter[meter]);
        if (meterOf[account] != address(0)) revert AccountHasMeter(account, meterOf[account]);
        (accountOfMeter[meter], meterOf[account], _ratedPowerW[meter]) = (account, meter, ratedPowerW);
        emit MeterBound(account, meter, ratedPowerW);
    }

    /// @inheritdoc IStationFlows
    function submitReading(uint32 period, uint8 direction, uint64 energyWh) external {
        address account = accountOfMeter[msg.sender];
        if (account == address(0)) revert MeterNotBound(msg.sender);
        if (direction > 1) revert InvalidSettings("direction");
        uint256 ends = genesis + (uint256(period) + 1) * periodLength;
        if (block.timestamp < ends) revert ReadingTooEarly(period, ends);
        if (block.timestamp > ends + readingGrace) revert ReadingTooLate(period, ends + readingGrace);
        uint64 capacityWh = uint64((uint256(_ratedPowerW[msg.sender]) * periodLength) / 3600);
        if (energyWh > capacityWh) revert ReadingAboveCapacity(energyWh, capacityWh);
        Reading storage reading = _readings[_readingKey(account, period, direction)];
        if (reading.posted) revert ReadingPostedBefore(account, period, direction);
        (reading.posted, reading.energyWh, reading.unitsLeft) = (true, energyWh, energyWh / WH_PER_UNIT);
        emit ReadingPosted(account, msg.sender, period, direction, energyWh);
    }

    /// @inheritdoc IStationFlows
    function confirm(address user, uint32 station, uint32 period, uint8 direction) external {
        bytes32 key = _claimKey(user, station, period, direction);
        uint64 claimed = _claims[key];
        if (claimed == 0) revert NothingToConfirm(user, station, period, direction);
        Reading storage atUser = _readings[_readingKey(user, period, direction)];
        Reading storage atStation = _readings[_readingKey(_stationAccount(station), period, direction)];
        uint256 deadline = genesis + (uint256(period) + 1) * periodLength + readingGrace;
        if (block.timestamp <= deadline && !(atUser.posted && atStation.posted)) {
            revert ReadingsPending(user, station, period, deadline);
        }
        uint64 paid = _least(claimed, atUser.unitsLeft, atStation.unitsLeft);
        _claims[key] = 0;
        atUser.unitsLeft -= paid;
        atStation.unitsLeft -= paid;
        (address payer, uint256 price) = _terms(user, direction);
        heldOf[payer] -= claimed * price;
        uint256 rights = paid * price;
        if (direction == 0) earnedOf[station] += rights;
        else rightsOf[user] += rights;
        rightsOf[payer] += (claimed - paid) * price;
        emit UnitsConfirmed(user, station, period, direction, claimed, paid, rights);
    }

    /// @inheritdoc IStationFlows
    function periodAt(uint256 timestamp) public view returns (uint32) {
        return timestamp < genesis ? 0 : uint32((timestamp - genesis) / periodLength);
    }

    /// @inheritdoc IStationFlows
    function claimedUnits(address user, uint32 station, uint32 period, uint8 direction) external view returns (uint64) {
        return _claims[_claimKey(user, station, period, direction)];
    }

    /// @inheritdoc IStationFlows
    function readingOf(address account, uint32 period, uint8 direction) external view returns (Reading memory) {
        return _readings[_readingKey(account, period, direction)];
    }

    // ------------------------------------------------------------------ for the dispatch

    /// @dev Hold the payer's rights for `units` of `user`'s new request.
    function _hold(address user, uint8 direction, uint64 units) internal {
        (address payer, uint256 price) = _terms(user, direction);
        uint256 amount = units * price;
        if (amount == 0) return;
        _debit(payer, amount);
        heldOf[payer] += amount;
        emit RightsHeld(user, payer, amount);
    }

    /// @dev A unit `station` says it moved on `user`'s connection now: it waits for the meters.
    function _claim(address user, uint32 station, uint8 direction) internal {
        ++_claims[_claimKey(user, station, periodAt(block.timestamp), direction)];
    }

    /// @dev `user`'s request closed with `unitsNotMoved`: their rights go back to the payer.
    function _release(address user, uint8 direction, uint64 unitsNotMoved) internal {
        (address payer, uint256 price) = _terms(user, direction);
        uint256 amount = unitsNotMoved * price;
        if (amount == 0) return;
        heldOf[payer] -= amount;
        rightsOf[payer] += amount;
        emit RightsReleased(user, payer, amount);
    }

    /// @dev The station pays what it earned back to the company, once per period.
    function _payBack(uint32 station) internal {
        uint32 period = periodAt(block.timestamp);
        if (_settledThrough[station] > period) revert AlreadySettled(station, period);
        _settledThrough[station] = period + 1;
        uint256 rights = earnedOf[station];
        earnedOf[station] = 0;
        rightsOf[company] += rights;
        emit StationPaidBack(station, period, rights);
    }

    function _stationAccount(uint32 station) internal view virtual returns (address);

    // ------------------------------------------------------------------ internal

    function _terms(address user, uint8 direction) private view returns (address payer, uint256 price) {
        return direction == 0 ? (user, uint256(supplyPrice)) : (company, uint256(absorbPrice));
    }

    function _debit(address account, uint256 amount) private {
        uint256 available = rightsOf[account];
        if (amount > available) revert InsufficientRights(account, available, amount);
        rightsOf[account] = available - amount;
    }

    function _least(uint64 a, uint64 b, uint64 c) private pure returns (uint64) {
        uint64 ab = a < b ? a : b;
        return ab < c ? ab : c;
    }

    function _readingKey(address account, uint32 period, uint8 direction) private pure returns (bytes32) {
        return keccak256(abi.encode(account, period, direction));
    }

    function _claimKey(address user, uint32 station, uint32 period, uint8 direction) private pure returns (bytes32) {
        return keccak256(abi.encode(user, station, period, direction));
    }
}
