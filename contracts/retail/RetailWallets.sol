// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IBilateralContracts} from "./interfaces/IBilateralContracts.sol";

/// @title The retail contracts' own wallets and the deposits contracts hold
/// @notice Anyone may deposit ether into a wallet and withdraw it again. A contract's deposits
///         move out of the parties' wallets when it becomes active and back when it ends;
///         monthly payments go from wallet to wallet, the payer's deposit making up for an empty
///         wallet. At every moment, to the wei:
///             deposited = sum of wallets + deposits held + withdrawn,
///         and this contract's balance is deposited - withdrawn.
abstract contract RetailWallets is IBilateralContracts {
    /// @dev One slot: deposited 128 | withdrawn 128 (2^128 wei is far above all ether there is).
    uint128 internal _deposited;
    uint128 internal _withdrawn;
    uint256 internal _held;
    mapping(address => uint256) internal _wallets;

    // ------------------------------------------------------------------ external

    /// @inheritdoc IBilateralContracts
    function deposit() external payable {
        if (msg.value == 0) revert ZeroAmount();
        _deposited += uint128(msg.value);
        uint256 wallet = _wallets[msg.sender] + msg.value;
        _wallets[msg.sender] = wallet;
        emit Deposited(msg.sender, msg.value, wallet);
    }

    /// @inheritdoc IBilateralContracts
    function withdraw(uint256 amount) external {
        uint256 wallet = _wallets[msg.sender];
        if (amount == 0) revert ZeroAmount();
        if (amount > wallet) revert InsufficientWallet(msg.sender, wallet, amount);
        _wallets[msg.sender] = wallet - amount;
        _withdrawn += uint128(amount);
        emit Withdrawn(msg.sender, amount, wallet - amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IBilateralContracts
    function walletOf(address account) external view returns (uint256) {
        return _wallets[account];
    }

    /// @inheritdoc IBilateralContracts
    function totals() external view returns (uint256 deposited, uint256 withdrawn, uint256 held) {
        return (_deposited, _withdrawn, _held);
    }

    // ------------------------------------------------------------------ internal

    /// @dev Moves a deposit from the account's wallet into the deposits held; refused when the
    ///      wallet holds less.
    function _lockDeposit(address account, uint256 amount) internal {
        uint256 wallet = _wallets[account];
        if (wallet < amount) revert InsufficientWallet(account, wallet, amount);
        _wallets[account] = wallet - amount;
        _held += amount;
    }

    /// @dev Moves what is left of a deposit back into the account's wallet.
    function _releaseDeposit(address account, uint256 amount) internal {
        if (amount == 0) return;
        _wallets[account] += amount;
        _held -= amount;
    }

    /// @dev Pays `amount` to `payee`'s wallet from `payer`'s wallet first, then from `deposit`
    ///      (what the contract holds of the payer's deposit); pays what both hold when that is
    ///      less. Nothing else moves, so money is conserved whatever is paid.
    /// @return paid the part of `amount` paid
    /// @return depositLeft what is left of `deposit`
    function _pay(address payer, address payee, uint256 amount, uint256 deposit)
        internal
        returns (uint256 paid, uint256 depositLeft)
    {
        if (amount == 0) return (0, deposit);
        uint256 wallet = _wallets[payer];
        uint256 fromWallet = amount < wallet ? amount : wallet;
        uint256 rest = amount - fromWallet;
        uint256 fromDeposit = rest < deposit ? rest : deposit;
        if (fromWallet > 0) _wallets[payer] = wallet - fromWallet;
        if (fromDeposit > 0) _held -= fromDeposit;
        paid = fromWallet + fromDeposit;
        if (paid > 0) _wallets[payee] += paid;
        depositLeft = deposit - fromDeposit;
    }
}
