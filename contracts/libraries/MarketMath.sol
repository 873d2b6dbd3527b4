// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergyMarket} from "../interfaces/IEnergyMarket.sol";

/// @title Money arithmetic of the market
/// @notice Rounding rule, the only one in the market: every amount of wei is rounded down once,
///         at the end of its formula. Money is conserved because each amount is computed once
///         and then debited from one wallet and credited to another.
/// @dev Ranges: energy < 2^64 Wh, prices < 2^64 wei/kWh, factors < 2^16 bps, so every product
///      below stays under 2^144 and cannot overflow.
library MarketMath {
    uint256 internal constant WH_PER_KWH = 1000;
    uint256 internal constant BPS = 10_000;

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

    /// @notice Balancing and reward/penalty of one prosumer for one delivery period.
    /// @param producer a producer is short when it delivered less than cleared, a consumer
    ///        when it used more; the short side pays D x A x W', the other is paid D x A x W''
    /// @param averagePrice A, wei per kWh
    /// @return balancing signed wei to the prosumer (negative: it pays the grid)
    /// @return reward signed wei to the prosumer: E' x A x M' - E'' x A x M''
    function settlement(
        bool producer,
        uint256 declaredWh,
        uint256 clearedWh,
        uint256 actualWh,
        uint256 averagePrice,
        IEnergyMarket.Parameters memory p
    ) internal pure returns (int256 balancing, int256 reward) {
        uint256 deviation = absDiff(clearedWh, actualWh);
        bool short = producer ? actualWh < clearedWh : actualWh > clearedWh;
        balancing = short
            ? -int256(scaledCost(deviation, averagePrice, p.shortfallFactorBps))
            : int256(scaledCost(deviation, averagePrice, p.surplusFactorBps));
        uint256 consistent = declaredWh < actualWh ? declaredWh : actualWh;
        uint256 inconsistent = absDiff(declaredWh, actualWh);
        reward = int256(scaledCost(consistent, averagePrice, p.rewardFactorBps))
            - int256(scaledCost(inconsistent, averagePrice, p.penaltyFactorBps));
    }

    function absDiff(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a - b : b - a;
    }
}
