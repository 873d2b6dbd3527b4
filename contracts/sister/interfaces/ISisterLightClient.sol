// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISisterProofErrors} from "./ISisterProofErrors.sol";

/// @title Light client of the other sister chain: its block headers as relayers submit them
/// @notice Holds the source chain's headers from a trusted checkpoint on, linked by parent hash,
///         and follows the source's best chain: the highest total difficulty (sum of the
///         `difficulty` field from the checkpoint), then the highest number, then the header held
///         first. A header counts once `threshold` of the relayers have submitted it.
/// @dev Trust: the header's seal (ethash, or a clique signature) is not checked on-chain, nor its
///      difficulty, timestamp or state. The relayers vouch for them: `threshold` (m) colluding
///      relayers can make the client hold a fabricated branch and so prove fabricated locks; fewer
///      than m can do nothing but pay for their own submissions. No relayer can make a held
///      header unheld, rewrite a header (its hash is its content), or bypass the proof a
///      consumer checks against a header.
interface ISisterLightClient is ISisterProofErrors {
    /// @notice A held header as the client keeps it.
    struct HeaderRecord {
        bytes32 parentHash;
        uint256 number;
        uint256 totalDifficulty; // sum of difficulties from the checkpoint (which counts 0)
        uint256 vouches; // relayers that submitted it
        bool held; // counted: `threshold` vouches and a held parent
    }

    /// @notice `relayer` submitted a header that is not held yet (it has `vouches` of `threshold`).
    event HeaderVouched(bytes32 indexed hash, address indexed relayer, uint256 vouches);
    /// @notice A header is held: linked to a held parent and vouched for by `threshold` relayers.
    event HeaderHeld(bytes32 indexed hash, uint256 indexed number, bytes32 parentHash, uint256 totalDifficulty);
    /// @notice The best chain moved to another branch; `forkNumber` is the height of the last
    ///         header both branches share.
    event Reorganised(bytes32 indexed previousBest, bytes32 indexed newBest, uint256 forkNumber);

    /// @notice The relayer set or threshold given at deployment is unusable.
    error InvalidRelayerSet(uint256 relayers, uint256 threshold);
    /// @notice Only the relayers named at deployment submit headers.
    error NotARelayer(address caller);
    /// @notice A batch holds more headers than one call takes.
    error TooManyHeaders(uint256 count, uint256 max);
    /// @notice Nothing in the batch was new: every header was held or already vouched for by the
    ///         caller (another relayer was quicker; harmless).
    error NoNewHeaders();
    /// @notice The header's parent is neither held nor vouched for.
    error UnknownParent(bytes32 hash, bytes32 parentHash);
    /// @notice The header's number is not its parent's plus one.
    error WrongNumber(bytes32 hash, uint256 number, uint256 expected);
    /// @notice Making this header best would rewrite more than `maxDepth` heights of the best
    ///         chain; a reorganisation that deep needs a light client deployed from a new checkpoint.
    error ReorgTooDeep(bytes32 hash, uint256 maxDepth);

    /// @notice Vouch for a batch of the source chain's headers, each the RLP encoding of a whole
    ///         header, parents before children. Held headers and headers the caller already
    ///         vouched for are skipped; a header becomes held with its `threshold`-th vouch once
    ///         its parent is held, and best if it beats the best header.
    /// @param headers at most `MAX_HEADERS_PER_CALL` RLP-encoded headers
    /// @return progressed how many headers got the caller's vouch or became held
    function submitHeaders(bytes[] calldata headers) external returns (uint256 progressed);

    /// @notice How many headers of the best chain lie above a held header on it.
    /// @dev Reverts with `UnknownHeader` or `NotOnBestChain`.
    function confirmations(bytes32 hash) external view returns (uint256);

    /// @notice The best header: its hash, number and total difficulty since the checkpoint.
    function bestHeader() external view returns (bytes32 hash, uint256 number, uint256 totalDifficulty);

    /// @notice The header with this hash as the client knows it (all zero when unknown).
    function headerOf(bytes32 hash) external view returns (HeaderRecord memory);

    /// @notice The best chain's header at `number` (zero above the best header or below the
    ///         checkpoint).
    function canonicalHashAt(uint256 number) external view returns (bytes32);

    /// @notice Whether `relayer` has vouched for the header `hash`.
    function hasVouched(bytes32 hash, address relayer) external view returns (bool);

    /// @notice The relayers allowed to submit headers.
    function relayers() external view returns (address[] memory);

    /// @notice How many relayers must submit a header before it is held (m of n).
    function threshold() external view returns (uint256);

    /// @notice The trusted header the client started from, set by the operator at deployment.
    function checkpoint() external view returns (bytes32);
}
