// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergyMarket} from "../interfaces/IEnergyMarket.sol";

/// @title Periods and phases derived from block time
/// @notice Period p covers [genesis + p x length, genesis + (p + 1) x length). Before genesis
///         the clock reads period 0, commit phase.
library MarketClock {
    function periodAt(IEnergyMarket.Schedule memory s, uint256 time) internal pure returns (uint32) {
        if (time < s.genesisTime) return 0;
        return uint32((time - s.genesisTime) / s.periodLength);
    }

    function start(IEnergyMarket.Schedule memory s, uint32 period) internal pure returns (uint256) {
        return uint256(s.genesisTime) + uint256(period) * s.periodLength;
    }

    /// @return period the period at `time`
    /// @return phase its phase
    /// @return secondsLeft until the phase ends
    function phaseAt(IEnergyMarket.Schedule memory s, uint256 time)
        internal
        pure
        returns (uint32 period, IEnergyMarket.Phase phase, uint256 secondsLeft)
    {
        period = periodAt(s, time);
        uint256 begin = start(s, period);
        uint256 offset = time > begin ? time - begin : 0;
        uint256 phaseEnd;
        if (offset < s.commitEnd) {
            (phase, phaseEnd) = (IEnergyMarket.Phase.Commit, s.commitEnd);
        } else if (offset < s.revealEnd) {
            (phase, phaseEnd) = (IEnergyMarket.Phase.Reveal, s.revealEnd);
        } else if (offset < s.settleStart) {
            (phase, phaseEnd) = (IEnergyMarket.Phase.Matching, s.settleStart);
        } else {
            (phase, phaseEnd) = (IEnergyMarket.Phase.Settlement, s.periodLength);
        }
        secondsLeft = phaseEnd - offset;
    }

    /// @notice A valid clock has 0 < commitEnd < revealEnd <= settleStart < periodLength.
    function isValid(IEnergyMarket.Schedule memory s) internal pure returns (bool) {
        return s.periodLength > 0 && 0 < s.commitEnd && s.commitEnd < s.revealEnd && s.revealEnd <= s.settleStart
            && s.settleStart < s.periodLength;
    }
}
