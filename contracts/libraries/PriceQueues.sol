// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Arithmetic of price-sorted queues, shared by the auction's queues and the continuous book
/// @notice Asks rank by ascending price, bids by descending price, the earlier first at equal
///         prices. Up to four queue heads (32-bit ids) are packed in one word, queue q at bits
///         32q..32q+31.
library PriceQueues {
    /// @notice Whether a queued entry at `existing` stays ahead of a new one at `price`.
    function ranksBefore(uint64 existing, uint64 price, bool ascending) internal pure returns (bool) {
        return ascending ? existing <= price : existing >= price;
    }

    function headOf(uint128 heads, uint8 queue) internal pure returns (uint32) {
        return uint32(heads >> (32 * queue));
    }

    function withHead(uint128 heads, uint8 queue, uint32 id) internal pure returns (uint128) {
        uint256 shift = 32 * queue;
        return (heads & ~(uint128(type(uint32).max) << shift)) | (uint128(id) << shift);
    }
}
