// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IBilateralContracts} from "../interfaces/IBilateralContracts.sol";

/// @title The three monthly rules of a bilateral contract
/// @notice With E the monthly contracted energy, a the buyer's and g the seller's metered energy
///         of the month (all in Wh), p_d the direct price, p_c the catalogue price and r the
///         penalty rate (wei per kWh), bands and the excess factor in basis points:
///         1. a > upper x E: the buyer pays the seller upper x E at p_d, and the third party the
///            excess (a - upper x E) at excess x p_c;
///         2. a < lower x E: the buyer pays the seller a at p_d plus the penalty (lower x E - a) x r;
///         3. g < lower x E: the seller pays the third party (lower x E - g) x (p_c - p_d), nothing
///            when p_c <= p_d;
///         inside the bands the buyer pays a at p_d. Rules 1-2 and rule 3 apply independently.
/// @dev Rounding: each of the four amounts is rounded down to the wei once, at the end of its
///      formula; thresholds are compared exactly (a x 10000 against E x bandBps). Ranges: energy
///      < 2^64 Wh, prices < 2^64 wei/kWh, factors < 2^16 bps, so no product exceeds 2^160.
library BilateralMath {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant WH_PER_KWH = 1000;
    uint256 private constant WH_BPS_PER_KWH = WH_PER_KWH * BPS;

    /// @notice What the rules ask for one month, before anyone's wallet is looked at.
    function monthly(IBilateralContracts.Terms memory t, uint256 buyerWh, uint256 sellerWh)
        internal
        pure
        returns (IBilateralContracts.Amounts memory amounts)
    {
        uint256 upper = uint256(t.monthlyWh) * t.upperBandBps; // Wh x bps
        uint256 lower = uint256(t.monthlyWh) * t.lowerBandBps;
        uint256 used = buyerWh * BPS;
        if (used > upper) {
            amounts.direct = upper * t.directPrice / WH_BPS_PER_KWH;
            amounts.excessCharge = (used - upper) * t.excessFactorBps * t.cataloguePrice / (WH_BPS_PER_KWH * BPS);
        } else {
            amounts.direct = buyerWh * t.directPrice / WH_PER_KWH;
            if (used < lower) amounts.penalty = (lower - used) * t.penaltyRate / WH_BPS_PER_KWH;
        }
        uint256 fedIn = sellerWh * BPS;
        if (fedIn < lower && t.cataloguePrice > t.directPrice) {
            amounts.compensation = (lower - fedIn) * (t.cataloguePrice - t.directPrice) / WH_BPS_PER_KWH;
        }
    }

    /// @notice Everything the buyer pays in a month: to the seller and to the third party.
    function buyerTotal(IBilateralContracts.Amounts memory amounts) internal pure returns (uint256) {
        return amounts.direct + amounts.penalty + amounts.excessCharge;
    }

    /// @notice The energy a meter can measure in a month: floor(ratedPowerW x seconds / 3600) Wh.
    function capacityWh(uint256 ratedPowerW, uint256 monthSeconds) internal pure returns (uint256) {
        return ratedPowerW * monthSeconds / 3600;
    }
}
