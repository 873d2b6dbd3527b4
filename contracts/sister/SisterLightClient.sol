// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISisterLightClient} from "./interfaces/ISisterLightClient.sol";
import {BlockHeader} from "./libraries/BlockHeader.sol";

/// @title Light client of the other sister chain
/// @notice Deployed on each chain with the other chain's checkpoint header and relayer set (see
///         ISisterLightClient for what it checks and whom it trusts). The best chain is kept as
///         a map from height to hash, rewritten from the new best header down to the fork
///         point when the best chain moves to another branch, so checking that a header is on
///         it costs two storage reads, however old the header.
/// @dev Best-chain rule: a held header becomes best when (totalDifficulty, number) is greater
///      than the best header's, compared in that order. On an Ethash chain this is Geth's rule
///      (highest total difficulty) except on exact ties, where Geth prefers the lower number or
///      flips a coin and the first held header stays here (a tie N blocks deep is not a case
///      that arises). Chains whose headers carry difficulty 0 (anvil, eth-tester, proof of
///      stake) or a constant follow the longest chain.
contract SisterLightClient is ISisterLightClient {
    /// @notice Headers one `submitHeaders` call takes.
    uint256 public constant MAX_HEADERS_PER_CALL = 64;
    /// @notice Heights of the best chain one new best header may rewrite (its reorg depth).
    uint256 public constant MAX_REORG_DEPTH = 256;
    /// @notice Relayers a light client can name (one bit each in a header's vouchers).
    uint256 public constant MAX_RELAYERS = 32;

    /// @dev Two slots: parentHash | totalDifficulty 128, number 64, vouchers 32, held 8 (232 bits).
    ///      A header only vouched for keeps number and vouchers; parentHash and totalDifficulty
    ///      are written when it is held.
    struct Record {
        bytes32 parentHash;
        uint128 totalDifficulty;
        uint64 number;
        uint32 vouchers; // bit i: relayer i submitted it
        bool held;
    }

    /// @inheritdoc ISisterLightClient
    bytes32 public immutable checkpoint;
    /// @inheritdoc ISisterLightClient
    uint256 public immutable threshold;

    address[] private _relayers;
    mapping(address => uint32) private _relayerBit; // 1 << index, 0 for everyone else
    mapping(bytes32 => Record) private _records;
    mapping(uint256 => bytes32) private _canonical; // height => best chain's header (stale above the best)
    bytes32 private _best;

    /// @param checkpointHeader the RLP-encoded header the client trusts and starts from; it counts
    ///        total difficulty 0 (only differences between branches above it matter)
    /// @param relayerSet the n addresses that may submit headers (1 <= n <= 32, distinct)
    /// @param requiredVouches m: how many of them must submit a header (1 <= m <= n)
    constructor(bytes memory checkpointHeader, address[] memory relayerSet, uint256 requiredVouches) {
        uint256 n = relayerSet.length;
        if (n == 0 || n > MAX_RELAYERS || requiredVouches == 0 || requiredVouches > n) {
            revert InvalidRelayerSet(n, requiredVouches);
        }
        for (uint256 i; i < n; ++i) {
            address relayer = relayerSet[i];
            if (relayer == address(0) || _relayerBit[relayer] != 0) revert InvalidRelayerSet(n, requiredVouches);
            _relayerBit[relayer] = uint32(1 << i);
        }
        _relayers = relayerSet;
        threshold = requiredVouches;
        BlockHeader.Header memory header = BlockHeader.parse(checkpointHeader);
        checkpoint = header.hash;
        _records[header.hash] = Record(header.parentHash, 0, uint64(header.number), 0, true);
        _canonical[header.number] = header.hash;
        _best = header.hash;
        emit HeaderHeld(header.hash, header.number, header.parentHash, 0);
    }

    // ------------------------------------------------------------------ external

    /// @inheritdoc ISisterLightClient
    function submitHeaders(bytes[] calldata headers) external returns (uint256 progressed) {
        uint32 bit = _relayerBit[msg.sender];
        if (bit == 0) revert NotARelayer(msg.sender);
        if (headers.length > MAX_HEADERS_PER_CALL) revert TooManyHeaders(headers.length, MAX_HEADERS_PER_CALL);
        for (uint256 i; i < headers.length; ++i) {
            if (_submit(BlockHeader.parse(headers[i]), bit)) ++progressed;
        }
        if (progressed == 0) revert NoNewHeaders();
    }

    /// @inheritdoc ISisterLightClient
    function confirmations(bytes32 hash) external view returns (uint256) {
        Record storage record = _records[hash];
        if (!record.held) revert UnknownHeader(hash);
        uint256 bestNumber = _records[_best].number;
        bytes32 canonical = record.number <= bestNumber ? _canonical[record.number] : bytes32(0);
        if (canonical != hash) revert NotOnBestChain(hash, canonical);
        return bestNumber - record.number;
    }

    /// @inheritdoc ISisterLightClient
    function bestHeader() external view returns (bytes32 hash, uint256 number, uint256 totalDifficulty) {
        Record storage best = _records[_best];
        return (_best, best.number, best.totalDifficulty);
    }

    /// @inheritdoc ISisterLightClient
    function headerOf(bytes32 hash) external view returns (HeaderRecord memory) {
        Record storage record = _records[hash];
        return HeaderRecord(record.parentHash, record.number, record.totalDifficulty, _count(record.vouchers), record.held);
    }

    /// @inheritdoc ISisterLightClient
    function canonicalHashAt(uint256 number) external view returns (bytes32) {
        return number <= _records[_best].number ? _canonical[number] : bytes32(0);
    }

    /// @inheritdoc ISisterLightClient
    function hasVouched(bytes32 hash, address relayer) external view returns (bool) {
        return _records[hash].vouchers & _relayerBit[relayer] != 0;
    }

    /// @inheritdoc ISisterLightClient
    function relayers() external view returns (address[] memory) {
        return _relayers;
    }

    // ------------------------------------------------------------------ internal

    /// @dev One header of a batch: the caller's vouch, then holding it if it has enough and its
    ///      parent is held. Whether anything changed.
    function _submit(BlockHeader.Header memory header, uint32 bit) private returns (bool progressed) {
        Record storage record = _records[header.hash];
        if (record.held) return false;
        Record storage parent = _records[header.parentHash];
        if (!parent.held && parent.vouchers == 0) revert UnknownParent(header.hash, header.parentHash);
        if (header.number != uint256(parent.number) + 1) {
            revert WrongNumber(header.hash, header.number, uint256(parent.number) + 1);
        }
        if (record.vouchers & bit == 0) {
            _vouch(header, record, bit);
            progressed = true;
        }
        if (parent.held && _count(record.vouchers) >= threshold) {
            _hold(header, record, parent);
            progressed = true;
        }
    }

    function _vouch(BlockHeader.Header memory header, Record storage record, uint32 bit) private {
        record.number = uint64(header.number);
        record.vouchers |= bit;
        // With a single required vouch the header is held at once, and HeaderHeld says it all.
        if (threshold > 1) emit HeaderVouched(header.hash, msg.sender, _count(record.vouchers));
    }

    function _hold(BlockHeader.Header memory header, Record storage record, Record storage parent) private {
        uint128 totalDifficulty = parent.totalDifficulty + uint128(header.difficulty);
        record.parentHash = header.parentHash;
        record.totalDifficulty = totalDifficulty;
        record.held = true;
        emit HeaderHeld(header.hash, header.number, header.parentHash, totalDifficulty);
        Record storage best = _records[_best];
        if (
            totalDifficulty > best.totalDifficulty
                || (totalDifficulty == best.totalDifficulty && header.number > best.number)
        ) {
            _makeBest(header.hash, header.number, best.number);
        }
    }

    /// @dev Point the height map at the new best header's ancestry, from its height down to the
    ///      first height at or below the previous best where the map already agrees (heights above
    ///      the previous best may hold stale entries of a branch that lost, so they never stop
    ///      the walk). The checkpoint, ancestor of every held header, always stops it.
    function _makeBest(bytes32 hash, uint256 number, uint256 previousNumber) private {
        bytes32 previous = _best;
        _best = hash;
        bytes32 cursor = hash;
        uint256 height = number;
        uint256 depth;
        while (height > previousNumber || _canonical[height] != cursor) {
            if (depth == MAX_REORG_DEPTH) revert ReorgTooDeep(hash, MAX_REORG_DEPTH);
            _canonical[height] = cursor;
            cursor = _records[cursor].parentHash;
            --height;
            ++depth;
        }
        if (cursor != previous) emit Reorganised(previous, hash, height);
    }

    function _count(uint32 vouchers) private pure returns (uint256 count) {
        for (; vouchers != 0; vouchers &= vouchers - 1) {
            ++count;
        }
    }
}
