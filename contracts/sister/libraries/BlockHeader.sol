// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISisterProofErrors} from "../interfaces/ISisterProofErrors.sol";
import {RLPReader} from "./RLPReader.sol";

/// @title The fields of an Ethereum block header the sister chains use
/// @notice A header is the RLP list [parentHash, ommersHash, beneficiary, stateRoot,
///         transactionsRoot, receiptsRoot, logsBloom, difficulty, number, gasLimit, gasUsed,
///         timestamp, extraData, mixHash, nonce, ...] whose keccak256 is the block hash. Later
///         forks append fields (London: baseFee; Shanghai: withdrawalsRoot; Cancun and Prague:
///         blob gas, beacon root, requests hash); they are accepted and not read, so Geth 1.11
///         London headers, anvil's and eth-tester's all parse.
/// @dev Ranges: number and difficulty < 2^64 (an Ethash chain's difficulty stays far below).
library BlockHeader {
    using RLPReader for RLPReader.Item;

    uint256 internal constant MIN_FIELDS = 15;
    uint256 private constant PARENT_HASH = 0;
    uint256 private constant RECEIPTS_ROOT = 5;
    uint256 private constant DIFFICULTY = 7;
    uint256 private constant NUMBER = 8;

    struct Header {
        bytes32 hash;
        bytes32 parentHash;
        bytes32 receiptsRoot;
        uint256 difficulty;
        uint256 number;
    }

    /// @notice Hash and fields of the RLP-encoded header `encoded`.
    function parse(bytes memory encoded) internal pure returns (Header memory header) {
        header.hash = keccak256(encoded);
        RLPReader.Iterator memory fields = RLPReader.iterate(RLPReader.toItem(encoded));
        uint256 field;
        for (; RLPReader.hasNext(fields); ++field) {
            RLPReader.Item memory item = RLPReader.next(fields);
            if (field == PARENT_HASH) header.parentHash = item.toBytes32();
            else if (field == RECEIPTS_ROOT) header.receiptsRoot = item.toBytes32();
            else if (field == DIFFICULTY) header.difficulty = _uint64(item, header.hash, DIFFICULTY);
            else if (field == NUMBER) header.number = _uint64(item, header.hash, NUMBER);
        }
        if (field < MIN_FIELDS) revert ISisterProofErrors.MalformedHeader(header.hash, field);
    }

    function _uint64(RLPReader.Item memory item, bytes32 hash, uint256 field) private pure returns (uint256) {
        (, uint256 length) = item.payload();
        if (length > 8) revert ISisterProofErrors.MalformedHeader(hash, field);
        return item.toUint(8);
    }
}
