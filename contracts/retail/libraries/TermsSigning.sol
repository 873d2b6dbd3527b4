// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IBilateralContracts} from "../interfaces/IBilateralContracts.sol";

/// @title EIP-712 typed data of bilateral terms, and signature recovery
/// @notice The parties sign `BilateralTerms` (the fields of IBilateralContracts.Terms in order,
///         then a nonce) under the domain {name, version, chainId, verifyingContract}.
/// @dev Recovery refuses what ecrecover alone would accept: high-s signatures (malleable), v other
///      than 27 or 28, and lengths other than 65 bytes; a refused signature recovers address 0.
///      Written out rather than imported: the contracts build from this folder alone, with the
///      same compiler input under Ape and under the build script.
library TermsSigning {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant TERMS_TYPEHASH = keccak256(
        "BilateralTerms(address buyer,address seller,address thirdParty,uint32 planId,uint32 firstMonth,uint8 months,"
        "uint64 monthlyWh,uint64 directPrice,uint64 cataloguePrice,uint64 penaltyRate,uint16 upperBandBps,"
        "uint16 lowerBandBps,uint16 excessFactorBps,uint128 buyerDeposit,uint128 sellerDeposit,uint256 nonce)"
    );
    bytes32 internal constant NAME_HASH = keccak256("P2P energy bilateral contracts");
    bytes32 internal constant VERSION_HASH = keccak256("1");
    /// @dev Half the order of secp256k1: the largest s of a canonical signature.
    uint256 private constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    function domainSeparator(address verifyingContract) internal view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, verifyingContract));
    }

    /// @dev Terms has only static fields, so abi.encode(terms) is its fields one word each, in
    ///      order: exactly the EIP-712 encoding of the struct's members.
    function digest(bytes32 separator, IBilateralContracts.Terms memory terms, uint256 nonce)
        internal
        pure
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(TERMS_TYPEHASH, terms, nonce));
        return keccak256(abi.encodePacked("\x19\x01", separator, structHash));
    }

    /// @notice The signer of `hash`, or address 0 for a malformed or non-canonical signature.
    function recover(bytes32 hash, bytes calldata signature) internal pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > HALF_ORDER || (v != 27 && v != 28)) return address(0);
        return ecrecover(hash, v, r, s);
    }
}
