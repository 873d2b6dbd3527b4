// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title A contract that accepts value sent with `ISisterLock.transferAndCall`
interface ISisterValueReceiver {
    /// @notice Called by the ledger after `amount` of its value moved from `sender` to this
    ///         contract; return this function's selector to accept it (anything else reverts
    ///         the transfer). Only the ledger itself may be trusted as caller.
    function onValueReceived(address sender, uint256 amount) external returns (bytes4);
}
