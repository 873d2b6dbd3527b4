// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergyMarket} from "../interfaces/IEnergyMarket.sol";

/// @title Money arithmetic of the market
/// @notice Rounding rule, the only one in the market: every amount of wei is rounded down once,
///         at the end of its formula. Money is conserved because each amount is computed once
///         and then debited from one wallet and credited to another.
/// @dev Ranges: energy < 2^64 Wh, prices < 2^64 wei/kWh, factors < 2^16 bps, rated power and
///      period length < 2^32, so every product below stays under 2^144 and cannot overflow.
library MarketMath {
    uint256 internal constant WH_PER_KWH = 1000;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant SECONDS_PER_HOUR = 3600;

    /// @notice Trade price of a matched pair: the midpoint of ask and bid, rounded down.
    function midpoint(uint64 ask, uint64 bid) internal pure returns (uint64) {
        return uint64((uint256(ask) + bid) / 2);
    }

    /// @notice Wei paid for `wh` at `price` wei/kWh: floor(wh x price / 1000).
    function cost(uint256 wh, uint256 price) internal pure returns (uint256) {
        return (wh * price) / WH_PER_KWH;
    }

    /// @notice The most Wh whose `cost` at `price` (> 0) fits in `spendable` wei:
    ///         the largest q with floor(q x price / 1000) <= spendable.
    function affordableWh(uint256 spendable, uint256 price) internal pure returns (uint256) {
        return (WH_PER_KWH * (spendable + 1) - 1) / price;
    }

    /// @notice floor(wh x price x factorBps / (1000 x 10000)): a deviation or a declaration
    ///         valued at the average price and scaled by one of the market's factors.
    function scaledCost(uint256 wh, uint256 price, uint256 factorBps) internal pure returns (uint256) {
        return (wh * price * factorBps) / (WH_PER_KWH * BPS);
    }

    /// @notice floor(amount x bps / 10000).
    function share(uint256 amount, uint256 bps) internal pure returns (uint256) {
        return (amount * bps) / BPS;
    }

    /// @notice Wh a meter of `ratedPowerW` can measure in `periodSeconds`:
    ///         floor(ratedPowerW x periodSeconds / 3600). Below 2^64 for 32-bit inputs.
    function capacityWh(uint256 ratedPowerW, uint256 periodSeconds) internal pure returns (uint256) {
        return (ratedPowerW * periodSeconds) / SECONDS_PER_HOUR;
    }

    /// @notice Balancing and reward/penalty of one prosumer for one delivery period.
    /// @param producer a producer is short when it delivered less than cleared, a consumer
    ///        when it used more; the short side pays D x A x W', the other is paid D x A x W''
    /// @param averagePrice A, wei per kWh
    /// @return balancing_ signed wei to the prosumer (negative: it pays the grid)
    /// @return reward_ signed wei to the prosumer: E' x A x M' - E'' x A x M''
    function settlement(
        bool producer,
        uint256 declaredWh,
        uint256 clearedWh,
        uint256 actualWh,
        uint256 averagePrice,
        IEnergyMarket.Parameters memory p
    ) internal pure returns (int256 balancing_, int256 reward_) {
        balancing_ = balancing(producer, clearedWh, actualWh, averagePrice, p);
        reward_ = reward(declaredWh, actualWh, averagePrice, p);
    }

    /// @notice Settlement of a prosumer without a reading: the worst balancing any reading in
    ///         [0, capacityWh] could give it (a producer delivered nothing, a consumer used the
    ///         whole capacity) plus the worst reward/penalty any such reading could give it.
    /// @dev Balancing, rounded as it is, moves one way with the reading (up for a producer, down
    ///      for a consumer), so its worst is at 0 or at the capacity. Reward/penalty, rounded, is
    ///      at least its value at 0 for readings up to the declaration and at least its value at
    ///      the capacity above it. The sum of the two minima is at most the sum for any reading,
    ///      whatever the factors.
    function unmeteredSettlement(
        bool producer,
        uint256 declaredWh,
        uint256 clearedWh,
        uint256 capacityWh_,
        uint256 averagePrice,
        IEnergyMarket.Parameters memory p
    ) internal pure returns (int256 balancing_, int256 reward_) {
        balancing_ = balancing(producer, clearedWh, producer ? 0 : capacityWh_, averagePrice, p);
        int256 atZero = reward(declaredWh, 0, averagePrice, p);
        int256 atCapacity = reward(declaredWh, capacityWh_, averagePrice, p);
        reward_ = atZero < atCapacity ? atZero : atCapacity;
    }

    /// @notice D x A x W' paid by the short side, or D x A x W'' paid to the other, D = |cleared - actual|.
    function balancing(
        bool producer,
        uint256 clearedWh,
        uint256 actualWh,
        uint256 averagePrice,
        IEnergyMarket.Parameters memory p
    ) internal pure returns (int256) {
        uint256 deviation = absDiff(clearedWh, actualWh);
        bool short = producer ? actualWh < clearedWh : actualWh > clearedWh;
        return short
            ? -int256(scaledCost(deviation, averagePrice, p.shortfallFactorBps))
            : int256(scaledCost(deviation, averagePrice, p.surplusFactorBps));
    }

    /// @notice E' x A x M' - E'' x A x M'' with E' = min(declared, actual), E'' = |declared - actual|.
    function reward(uint256 declaredWh, uint256 actualWh, uint256 averagePrice, IEnergyMarket.Parameters memory p)
        internal
        pure
        returns (int256)
    {
        uint256 consistent = declaredWh < actualWh ? declaredWh : actualWh;
        uint256 inconsistent = absDiff(declaredWh, actualWh);
        return int256(scaledCost(consistent, averagePrice, p.rewardFactorBps))
            - int256(scaledCost(inconsistent, averagePrice, p.penaltyFactorBps));
    }

    function absDiff(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a - b : b - a;
    }
}
