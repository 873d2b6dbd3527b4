// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISisterLock} from "../interfaces/ISisterLock.sol";
import {ISisterProofErrors} from "../interfaces/ISisterProofErrors.sol";
import {RLPReader} from "./RLPReader.sol";

/// @title One log of a transaction receipt, as stored in a block's receipt trie
/// @notice A receipt is rlp([status, cumulativeGasUsed, logsBloom, logs]); since EIP-2718 a typed
///         transaction's receipt is its type byte (0x00-0x7f) followed by that list, a legacy one
///         is the list alone. A log is [emitter, topics, data]. A failed transaction's receipt has
///         no logs, so a log read here was emitted by a transaction that succeeded.
library ReceiptLog {
    using RLPReader for RLPReader.Item;

    uint256 private constant RECEIPT_FIELDS = 4;
    uint256 private constant LOG_FIELDS = 3;

    struct Log {
        address emitter;
        bytes32[] topics;
        bytes data;
    }

    /// @notice Log number `index` of the receipt `receipt` (legacy or typed).
    function logAt(bytes memory receipt, uint256 index) internal pure returns (Log memory log) {
        bool typed = receipt.length > 0 && uint8(receipt[0]) < 0x80;
        RLPReader.Item[] memory fields = RLPReader.readList(RLPReader.toItem(receipt, typed ? 1 : 0));
        if (fields.length != RECEIPT_FIELDS) revert ISisterProofErrors.MalformedReceipt(fields.length);
        RLPReader.Item[] memory logs = RLPReader.readList(fields[3]);
        if (index >= logs.length) revert ISisterLock.NoSuchLog(index, logs.length);
        RLPReader.Item[] memory entry = RLPReader.readList(logs[index]);
        if (entry.length != LOG_FIELDS) revert ISisterProofErrors.MalformedReceipt(entry.length);
        log.emitter = entry[0].toAddress();
        RLPReader.Item[] memory topics = RLPReader.readList(entry[1]);
        log.topics = new bytes32[](topics.length);
        for (uint256 t; t < topics.length; ++t) {
            log.topics[t] = topics[t].toBytes32();
        }
        log.data = entry[2].toBytes();
    }
}
