// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergyMarket} from "../../interfaces/IEnergyMarket.sol";
import {IBilateralContracts} from "../interfaces/IBilateralContracts.sol";

/// @title What the retail contracts ask the energy market: a meter's binding
/// @notice `meterOf` answers (prosumerId, meterNumber) from a market whose meters carry no rating
///         and (prosumerId, meterNumber, ratedPowerW) from one whose meters do; both are read here,
///         the first with ratedPowerW = 0.
library MarketDirectory {
    function meterOf(address market, address meter)
        internal
        view
        returns (uint32 prosumerId, uint64 meterNumber, uint32 ratedPowerW)
    {
        (bool ok, bytes memory answer) = market.staticcall(abi.encodeWithSelector(IEnergyMarket.meterOf.selector, meter));
        if (!ok || answer.length < 64) revert IBilateralContracts.MarketUnavailable(market);
        (prosumerId, meterNumber) = abi.decode(answer, (uint32, uint64));
        if (answer.length >= 96) (,, ratedPowerW) = abi.decode(answer, (uint32, uint64, uint32));
    }
}
