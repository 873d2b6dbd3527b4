// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Refusals shared by the sister chains' light client and lock
/// @notice What can go wrong while reading RLP, a block header or a Merkle-Patricia proof, and
///         while placing a block on the light client's best chain. Both contracts inherit these
///         declarations, so a refusal that reaches the lock from its light client decodes with
///         the lock's ABI as well.
interface ISisterProofErrors {
    /// @notice An RLP item claims `needed` bytes where only `available` remain.
    error RlpTruncated(uint256 needed, uint256 available);
    /// @notice Bytes follow the single RLP item the input must consist of.
    error RlpTrailingBytes(uint256 extra);
    /// @notice A list was expected where a string is, or the other way round (`prefix` is the
    ///         item's first byte).
    error RlpWrongKind(uint8 prefix);
    /// @notice A string field of `length` bytes where at most (or exactly) `limit` fit.
    error RlpBadLength(uint256 length, uint256 limit);

    /// @notice A header with fewer than the 15 fields every Ethereum header has, or whose field
    ///         number `field` is out of the light client's range (number and difficulty < 2^64).
    error MalformedHeader(bytes32 hash, uint256 field);

    /// @notice Proof node `node` does not hash to the reference its parent (or the root) holds.
    error ProofNodeMismatch(uint256 node);
    /// @notice Proof node `node` leads away from the key: the key is not in the trie.
    error ProofPathMismatch(uint256 node);
    /// @notice Proof node `node` is neither a branch (17 items) nor a leaf or extension (2 items),
    ///         or refers to its child by an embedded node instead of a 32-byte hash.
    error MalformedProofNode(uint256 node);
    /// @notice The proof's `nodes` nodes end before reaching the key's value.
    error ProofIncomplete(uint256 nodes);
    /// @notice The key's value is reached at node `node`, but more nodes follow.
    error ProofHasExtraNodes(uint256 node);

    /// @notice A proven receipt, or one of its logs, has `items` fields instead of 4 (receipt) or
    ///         3 (log).
    error MalformedReceipt(uint256 items);

    /// @notice The light client holds no header with this hash.
    error UnknownHeader(bytes32 hash);
    /// @notice The header is held but not on the best chain: the best chain has `canonical` at
    ///         its height (zero when the best chain is shorter).
    error NotOnBestChain(bytes32 hash, bytes32 canonical);
}
