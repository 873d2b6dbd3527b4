// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The rate between the two sister chains' units
/// @notice A lock of `amount` on the other chain releases floor(amount x numerator / denominator)
///         here: rounding is down, once, so an unlock never releases more than the exact value;
///         the remainder (less than one unit here) stays in the reserve.
/// @dev Ranges: amount < 2^128 (a ledger's supply), numerator and denominator < 2^128, so the
///      product stays below 2^256.
library ExchangeRate {
    function convert(uint256 amount, uint256 numerator, uint256 denominator) internal pure returns (uint256) {
        return (amount * numerator) / denominator;
    }
}
