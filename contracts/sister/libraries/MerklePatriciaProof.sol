// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISisterProofErrors} from "../interfaces/ISisterProofErrors.sol";
import {RLPReader} from "./RLPReader.sol";

/// @title Merkle-Patricia proofs of inclusion (Ethereum's hexary trie, as in receipt tries)
/// @notice A proof is the list of RLP-encoded nodes on the path from the root to the key's
///         value: a branch (17 items: 16 children and a value) consumes one nibble of the key, an
///         extension or leaf (2 items: hex-prefix path, child or value) consumes its path. Each
///         node must hash to the reference its parent holds, the first to the root.
/// @dev Children are referred to by 32-byte hashes only. A trie embeds a child shorter than 32
///      bytes in its parent instead, which never happens in a receipt trie (every receipt carries
///      a 256-byte bloom), so an embedded child is refused. Ranges: keys < 2^255 nibbles.
library MerklePatriciaProof {
    using RLPReader for RLPReader.Item;

    uint256 private constant BRANCH = 17;
    uint256 private constant LEAF_OR_EXTENSION = 2;

    /// @notice The value stored under `key` in the trie with root `root`; reverts unless `proof`
    ///         proves it.
    function verify(bytes32 root, bytes memory key, bytes[] memory proof) internal pure returns (bytes memory) {
        bytes32 expected = root;
        uint256 keyNibbles = key.length * 2;
        uint256 cursor; // nibbles of the key consumed so far
        for (uint256 i; i < proof.length; ++i) {
            if (keccak256(proof[i]) != expected) revert ISisterProofErrors.ProofNodeMismatch(i);
            RLPReader.Item[] memory node = RLPReader.readList(RLPReader.toItem(proof[i]));
            if (node.length == BRANCH) {
                if (cursor == keyNibbles) return _lastValue(node[16], i, proof.length);
                expected = _childHash(node[_nibble(key, cursor)], i);
                ++cursor;
            } else if (node.length == LEAF_OR_EXTENSION) {
                bool leaf;
                (cursor, leaf) = _followPath(node[0], key, cursor, i);
                if (leaf) {
                    if (cursor != keyNibbles) revert ISisterProofErrors.ProofPathMismatch(i);
                    return _lastValue(node[1], i, proof.length);
                }
                expected = _childHash(node[1], i);
            } else {
                revert ISisterProofErrors.MalformedProofNode(i);
            }
        }
        revert ISisterProofErrors.ProofIncomplete(proof.length);
    }

    /// @dev Match a hex-prefix encoded path against the key from `cursor`; the cursor after it,
    ///      and whether the node is a leaf. Flag nibble: 0/1 extension, 2/3 leaf; odd flags carry
    ///      the path's first nibble in the same byte.
    function _followPath(RLPReader.Item memory item, bytes memory key, uint256 cursor, uint256 node)
        private
        pure
        returns (uint256, bool leaf)
    {
        bytes memory path = item.toBytes();
        if (path.length == 0) revert ISisterProofErrors.MalformedProofNode(node);
        uint8 flag = uint8(path[0]) >> 4;
        if (flag > 3) revert ISisterProofErrors.MalformedProofNode(node);
        leaf = flag >= 2;
        uint256 pathNibbles = path.length * 2;
        for (uint256 n = flag & 1 == 1 ? 1 : 2; n < pathNibbles; ++n) {
            if (cursor >= key.length * 2 || _nibble(path, n) != _nibble(key, cursor)) {
                revert ISisterProofErrors.ProofPathMismatch(node);
            }
            ++cursor;
        }
        return (cursor, leaf);
    }

    function _childHash(RLPReader.Item memory child, uint256 node) private pure returns (bytes32) {
        if (child.isEmpty()) revert ISisterProofErrors.ProofPathMismatch(node);
        if (child.length != 33) revert ISisterProofErrors.MalformedProofNode(node);
        return child.toBytes32();
    }

    function _lastValue(RLPReader.Item memory value, uint256 node, uint256 nodes) private pure returns (bytes memory) {
        if (value.isEmpty()) revert ISisterProofErrors.ProofPathMismatch(node);
        if (node + 1 != nodes) revert ISisterProofErrors.ProofHasExtraNodes(node + 1);
        return value.toBytes();
    }

    function _nibble(bytes memory data, uint256 index) private pure returns (uint256) {
        uint8 b = uint8(data[index / 2]);
        return index % 2 == 0 ? b >> 4 : b & 0x0f;
    }
}
