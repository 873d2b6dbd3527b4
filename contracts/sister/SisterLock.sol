// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISisterLightClient} from "./interfaces/ISisterLightClient.sol";
import {ISisterLock} from "./interfaces/ISisterLock.sol";
import {ISisterValueReceiver} from "./interfaces/ISisterValueReceiver.sol";
import {BlockHeader} from "./libraries/BlockHeader.sol";
import {ExchangeRate} from "./libraries/ExchangeRate.sol";
import {MerklePatriciaProof} from "./libraries/MerklePatriciaProof.sol";
import {ReceiptLog} from "./libraries/ReceiptLog.sol";

/// @title Transaction lock of one sister chain, with that chain's value ledger
/// @notice The same contract runs on both chains; its settings give its role. Value is an
///         internal ledger rather than native ether: the ether of a proof-of-work chain is also
///         its gas money, minted with every block and burnt with every transaction, so "what is
///         outside the locks" could not be checked; energy rights have no native coin at all.
///         Here supply is fixed and every unit is in an account or in the reserve.
/// @dev An unlock trusts nothing it is given: the header must be held by the light client on
///      its best chain with `confirmations` headers above it, the receipt must be proven
///      against that header's receiptsRoot, and the log must be a `Locked` event emitted by the
///      other chain's lock contract naming this chain.
contract SisterLock is ISisterLock {
    /// @notice The light client of the other chain that unlocks are proven against.
    ISisterLightClient public immutable lightClient;
    /// @notice The deployer: sets the rate, moves the reserve, names the remote lock once.
    address public immutable operator;
    /// @notice The other chain, named as target in every lock made here.
    uint256 public immutable remoteChainId;
    /// @notice Headers above a lock's block on the light client's best chain before it unlocks.
    uint256 public immutable confirmationsRequired;
    /// @notice This chain's value, fixed: sum of balances + reserve.
    uint256 public immutable totalSupply;
    /// @notice The block this contract was created in: where its `Locked` events start.
    uint256 public immutable startBlock;

    /// @dev One slot: remoteLock 160 | lockCount 64.
    /// @notice The other chain's lock contract: the only emitter whose locks are released here.
    address public remoteLock;
    /// @notice Locks made here so far (the last lock's number).
    uint64 public lockCount;
    /// @dev One slot: numerator 128 | denominator 128.
    uint128 private _rateNumerator;
    uint128 private _rateDenominator;
    /// @inheritdoc ISisterLock
    uint256 public reserve;
    /// @inheritdoc ISisterLock
    mapping(address => uint256) public balanceOf;
    /// @inheritdoc ISisterLock
    mapping(bytes32 => bool) public isUnlocked;

    /// @notice Deployed by the operator, who receives totalSupply - reserve.
    constructor(Settings memory settings) {
        if (settings.lightClient.code.length == 0) revert InvalidSettings("lightClient");
        if (settings.remoteChainId == 0 || settings.remoteChainId == block.chainid) {
            revert InvalidSettings("remoteChainId");
        }
        if (settings.confirmations == 0) revert InvalidSettings("confirmations");
        if (settings.totalSupply >= 2 ** 128 || settings.reserve > settings.totalSupply) {
            revert InvalidSettings("totalSupply");
        }
        lightClient = ISisterLightClient(settings.lightClient);
        operator = msg.sender;
        remoteChainId = settings.remoteChainId;
        confirmationsRequired = settings.confirmations;
        totalSupply = settings.totalSupply;
        startBlock = block.number;
        _setRate(settings.rateNumerator, settings.rateDenominator);
        balanceOf[msg.sender] = settings.totalSupply - settings.reserve;
        reserve = settings.reserve;
        emit Transfer(address(0), msg.sender, settings.totalSupply - settings.reserve);
        emit ReserveChanged(int256(settings.reserve), settings.reserve);
    }

    modifier onlyOperator() {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        _;
    }

    // ------------------------------------------------------------------ external

    /// @inheritdoc ISisterLock
    function transfer(address to, uint256 amount) external returns (bool) {
        if (to == address(0)) revert ZeroAddress();
        _debit(msg.sender, amount);
        balanceOf[to] += amount;
        emit Transfer(msg.sender, to, amount);
        return true;
    }

    /// @inheritdoc ISisterLock
    function transferAndCall(address to, uint256 amount) external returns (bool) {
        if (to.code.length == 0) revert NotAReceiver(to);
        _debit(msg.sender, amount);
        balanceOf[to] += amount;
        emit Transfer(msg.sender, to, amount);
        // The ledger's state is final before the call: a receiver re-entering sees it settled.
        if (ISisterValueReceiver(to).onValueReceived(msg.sender, amount) != ISisterValueReceiver.onValueReceived.selector) {
            revert NotAReceiver(to);
        }
        return true;
    }

    /// @inheritdoc ISisterLock
    function lock(uint256 amount, address recipient) external returns (bytes32 lockId) {
        if (amount == 0) revert ZeroAmount();
        if (recipient == address(0)) revert ZeroAddress();
        _debit(msg.sender, amount);
        uint64 number = ++lockCount;
        lockId = keccak256(abi.encode(block.chainid, address(this), number));
        reserve += amount;
        emit Locked(lockId, msg.sender, recipient, amount, remoteChainId);
    }

    /// @inheritdoc ISisterLock
    function unlock(bytes calldata header, bytes[] calldata receiptProof, uint256 transactionIndex, uint256 logIndex)
        external
        returns (bytes32 lockId, uint256 released)
    {
        BlockHeader.Header memory source = BlockHeader.parse(header);
        uint256 confirmed = lightClient.confirmations(source.hash);
        if (confirmed < confirmationsRequired) {
            revert NotEnoughConfirmations(source.hash, confirmed, confirmationsRequired);
        }
        bytes memory receipt =
            MerklePatriciaProof.verify(source.receiptsRoot, _receiptKey(transactionIndex), receiptProof);
        address recipient;
        uint256 amount;
        (lockId, recipient, amount) = _lockEvent(ReceiptLog.logAt(receipt, logIndex), logIndex);
        if (isUnlocked[lockId]) revert AlreadyUnlocked(lockId);
        released = ExchangeRate.convert(amount, _rateNumerator, _rateDenominator);
        if (released > reserve) revert InsufficientReserve(reserve, released);
        isUnlocked[lockId] = true;
        reserve -= released;
        balanceOf[recipient] += released;
        emit Unlocked(lockId, recipient, amount, released, source.hash);
    }

    /// @inheritdoc ISisterLock
    function setRemoteLock(address remote) external onlyOperator {
        if (remote == address(0)) revert ZeroAddress();
        if (remoteLock != address(0)) revert RemoteLockAlreadySet(remoteLock);
        remoteLock = remote;
        emit RemoteLockSet(remote);
    }

    /// @inheritdoc ISisterLock
    function setRate(uint128 numerator, uint128 denominator) external onlyOperator {
        _setRate(numerator, denominator);
    }

    /// @inheritdoc ISisterLock
    function fundReserve(uint256 amount) external onlyOperator {
        _debit(msg.sender, amount);
        reserve += amount;
        emit ReserveChanged(int256(amount), reserve);
    }

    /// @inheritdoc ISisterLock
    function withdrawReserve(uint256 amount) external onlyOperator {
        if (amount > reserve) revert InsufficientReserve(reserve, amount);
        reserve -= amount;
        balanceOf[msg.sender] += amount;
        emit ReserveChanged(-int256(amount), reserve);
    }

    /// @inheritdoc ISisterLock
    function convert(uint256 amount) external view returns (uint256) {
        return ExchangeRate.convert(amount, _rateNumerator, _rateDenominator);
    }

    /// @inheritdoc ISisterLock
    function rate() external view returns (uint256 numerator, uint256 denominator) {
        return (_rateNumerator, _rateDenominator);
    }

    // ------------------------------------------------------------------ internal

    /// @dev Lock id, recipient and amount of a `Locked` event of the other chain's lock naming
    ///      this chain.
    function _lockEvent(ReceiptLog.Log memory log, uint256 logIndex)
        private
        view
        returns (bytes32 lockId, address recipient, uint256 amount)
    {
        if (log.emitter != remoteLock) revert NotFromRemoteLock(log.emitter, remoteLock);
        bytes32 topic = log.topics.length > 0 ? log.topics[0] : bytes32(0);
        if (topic != Locked.selector || log.topics.length != 4) revert NotALockEvent(logIndex, topic);
        uint256 target;
        (amount, target) = abi.decode(log.data, (uint256, uint256));
        if (target != block.chainid) revert WrongTargetChain(target, block.chainid);
        lockId = log.topics[1];
        recipient = address(uint160(uint256(log.topics[3])));
    }

    /// @dev The receipt trie's key of transaction `index`: rlp(index).
    function _receiptKey(uint256 index) private pure returns (bytes memory) {
        if (index == 0) return hex"80";
        if (index < 0x80) return abi.encodePacked(uint8(index));
        uint256 length;
        for (uint256 rest = index; rest != 0; rest >>= 8) {
            ++length;
        }
        bytes memory key = new bytes(length + 1);
        key[0] = bytes1(uint8(0x80 + length));
        for (uint256 i; i < length; ++i) {
            key[length - i] = bytes1(uint8(index >> (8 * i)));
        }
        return key;
    }

    function _debit(address account, uint256 amount) private {
        uint256 balance = balanceOf[account];
        if (amount > balance) revert InsufficientBalance(account, balance, amount);
        balanceOf[account] = balance - amount;
    }

    function _setRate(uint128 numerator, uint128 denominator) private {
        if (numerator == 0 || denominator == 0) revert InvalidRate(numerator, denominator);
        (_rateNumerator, _rateDenominator) = (numerator, denominator);
        emit RateSet(numerator, denominator);
    }
}
