// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISisterProofErrors} from "./ISisterProofErrors.sol";

/// @title Transaction lock between two sister chains, with this chain's value ledger
/// @notice Each chain's value (the trading chain's tokens, the scheduling chain's energy rights)
///         is an internal ledger of this contract: a fixed `totalSupply`, held in accounts or in
///         the lock's `reserve`. `lock` moves value out of circulation here into the reserve and
///         emits `Locked`; `unlock` on the other chain proves that event against the other
///         chain's header, held by its light client with enough confirmations, and releases
///         amount x rate from that chain's reserve, once per lock id.
/// @dev Invariant on every chain: sum of balances + reserve = totalSupply.
interface ISisterLock is ISisterProofErrors {
    /// @notice What a lock contract is deployed with.
    struct Settings {
        address lightClient; // light client of the other chain, on this chain
        uint256 remoteChainId; // the other chain, named as target in every lock made here
        uint256 confirmations; // headers above a lock's block before it is unlocked here (e.g. 6)
        uint256 totalSupply; // this chain's value, fixed (< 2^128)
        uint256 reserve; // of which starts in the reserve; the rest is the operator's balance
        uint128 rateNumerator; // units released here per unit locked there: numerator / denominator
        uint128 rateDenominator;
    }

    /// @notice `amount` moved between accounts of this chain's ledger.
    event Transfer(address indexed from, address indexed to, uint256 amount);
    /// @notice `amount` left circulation here for `recipient` on chain `targetChainId`.
    event Locked(
        bytes32 indexed lockId, address indexed sender, address indexed recipient, uint256 amount, uint256 targetChainId
    );
    /// @notice Lock `lockId` of the other chain, proven in block `sourceBlock`, released `released`
    ///         (= floor(amount x rate)) from the reserve to `recipient`.
    event Unlocked(bytes32 indexed lockId, address indexed recipient, uint256 amount, uint256 released, bytes32 sourceBlock);
    /// @notice The operator set the rate applied to unlocks from now on.
    event RateSet(uint256 numerator, uint256 denominator);
    /// @notice The operator moved value between its balance and the reserve (`reserve` after it).
    event ReserveChanged(int256 change, uint256 reserve);
    /// @notice The operator named the other chain's lock contract, the only emitter unlocked here.
    event RemoteLockSet(address remoteLock);

    error NotOperator(address caller);
    /// @notice The settings given at deployment are unusable (which one: `setting`).
    error InvalidSettings(string setting);
    /// @notice A rate needs a non-zero numerator and denominator.
    error InvalidRate(uint256 numerator, uint256 denominator);
    error ZeroAmount();
    /// @notice `to` of a `transferAndCall` has no code, or did not accept the value.
    error NotAReceiver(address to);
    error ZeroAddress();
    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    error InsufficientReserve(uint256 reserve, uint256 needed);
    /// @notice The other chain's lock contract is named once; it is `current`.
    error RemoteLockAlreadySet(address current);
    /// @notice The lock's block has `confirmations` headers above it on the light client's best
    ///         chain; `required` are needed.
    error NotEnoughConfirmations(bytes32 blockHash, uint256 confirmations, uint256 required);
    /// @notice The proven receipt has `logCount` logs, none at `logIndex`.
    error NoSuchLog(uint256 logIndex, uint256 logCount);
    /// @notice The log was emitted by `emitter`, not by the other chain's lock contract.
    error NotFromRemoteLock(address emitter, address remoteLock);
    /// @notice The log at `logIndex` is not a `Locked` event (its first topic is `topic`).
    error NotALockEvent(uint256 logIndex, bytes32 topic);
    /// @notice The lock names chain `target` as its destination, not this chain.
    error WrongTargetChain(uint256 target, uint256 here);
    /// @notice This lock id was unlocked here before.
    error AlreadyUnlocked(bytes32 lockId);

    /// @notice Send `amount` of this chain's value to `to`.
    function transfer(address to, uint256 amount) external returns (bool);

    /// @notice Send `amount` to the contract `to` and tell it so in the same transaction: after
    ///         the ledger is updated it calls `to.onValueReceived(sender, amount)`, which must
    ///         return its selector (else the whole transfer reverts). How a contract learns
    ///         who paid it without an allowance: the value moves first, the call follows.
    function transferAndCall(address to, uint256 amount) external returns (bool);

    /// @notice Take `amount` of the caller's value out of circulation into the reserve, for
    ///         `recipient` on the other chain, who receives amount x that chain's rate there.
    /// @return lockId keccak256(abi.encode(chain id, this contract, lock number)), unique
    function lock(uint256 amount, address recipient) external returns (bytes32 lockId);

    /// @notice Release a lock made on the other chain, proven by its receipt.
    /// @param header the RLP-encoded header of the lock's block, held by the light client on its
    ///        best chain with at least `confirmations` headers above it
    /// @param receiptProof the receipt trie's nodes from the header's receiptsRoot down to the
    ///        lock transaction's receipt (key: rlp(transactionIndex))
    /// @param transactionIndex the lock transaction's index in its block
    /// @param logIndex the `Locked` event's index among that receipt's logs
    /// @return lockId the lock released
    /// @return released floor(amount x rateNumerator / rateDenominator), paid from the reserve
    function unlock(bytes calldata header, bytes[] calldata receiptProof, uint256 transactionIndex, uint256 logIndex)
        external
        returns (bytes32 lockId, uint256 released);

    /// @notice Name the other chain's lock contract (operator, once).
    function setRemoteLock(address remote) external;

    /// @notice Set the rate for unlocks from now on (operator): released = floor(amount x n / d).
    function setRate(uint128 numerator, uint128 denominator) external;

    /// @notice Move `amount` from the operator's balance into the reserve (operator).
    function fundReserve(uint256 amount) external;

    /// @notice Move `amount` from the reserve to the operator's balance (operator).
    function withdrawReserve(uint256 amount) external;

    /// @notice floor(amount x rateNumerator / rateDenominator): what a lock of `amount` on the
    ///         other chain releases here at the current rate.
    function convert(uint256 amount) external view returns (uint256);

    /// @notice The current rate as numerator and denominator.
    function rate() external view returns (uint256 numerator, uint256 denominator);

    /// @notice Value of `account` on this chain.
    function balanceOf(address account) external view returns (uint256);

    /// @notice Value locked here and not yet released: what unlocks here pay from.
    function reserve() external view returns (uint256);

    /// @notice Whether lock `lockId` of the other chain has been released here.
    function isUnlocked(bytes32 lockId) external view returns (bool);
}
