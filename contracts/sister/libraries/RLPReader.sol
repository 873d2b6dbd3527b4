// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISisterProofErrors} from "../interfaces/ISisterProofErrors.sol";

/// @title Reading RLP (Ethereum's recursive length prefix encoding) in memory, without copying
/// @notice An item is a window on its encoding: the memory address of its first byte and its
///         length, prefix included. Every prefix is checked against the bytes left in its
///         enclosing item, so no read leaves the input; whether an encoding is canonical is not
///         checked (the callers hash what they read and compare the hash).
/// @dev Ranges: a long form's length has at most 8 bytes; inputs are far below 2^64 bytes.
library RLPReader {
    struct Item {
        uint256 ptr; // memory address of the first (prefix) byte
        uint256 length; // prefix and payload
    }

    struct Iterator {
        uint256 cursor; // memory address of the next item
        uint256 end; // first address after the list
    }

    /// @notice The single item `data` consists of.
    function toItem(bytes memory data) internal pure returns (Item memory) {
        return toItem(data, 0);
    }

    /// @notice The single item that the bytes of `data` from `start` on consist of.
    function toItem(bytes memory data, uint256 start) internal pure returns (Item memory item) {
        if (start > data.length) revert ISisterProofErrors.RlpTruncated(start, data.length);
        uint256 ptr;
        assembly {
            ptr := add(add(data, 32), start)
        }
        uint256 available = data.length - start;
        (uint256 offset, uint256 payloadLength,) = _prefix(ptr, available);
        uint256 length = offset + payloadLength;
        if (length < available) revert ISisterProofErrors.RlpTrailingBytes(available - length);
        item = Item(ptr, length);
    }

    /// @notice The items of a list, in order.
    function readList(Item memory item) internal pure returns (Item[] memory items) {
        Iterator memory counting = iterate(item);
        uint256 count;
        for (; hasNext(counting); ++count) {
            next(counting);
        }
        items = new Item[](count);
        Iterator memory reading = iterate(item);
        for (uint256 i; i < count; ++i) {
            items[i] = next(reading);
        }
    }

    /// @notice A cursor over a list's items, for reading the first few without the rest.
    function iterate(Item memory item) internal pure returns (Iterator memory) {
        (uint256 offset, uint256 payloadLength, bool list) = _prefix(item.ptr, item.length);
        if (!list) revert ISisterProofErrors.RlpWrongKind(_firstByte(item.ptr));
        return Iterator(item.ptr + offset, item.ptr + offset + payloadLength);
    }

    function hasNext(Iterator memory iterator) internal pure returns (bool) {
        return iterator.cursor < iterator.end;
    }

    /// @notice The list's next item (reverts past the last).
    function next(Iterator memory iterator) internal pure returns (Item memory item) {
        (uint256 offset, uint256 payloadLength,) = _prefix(iterator.cursor, iterator.end - iterator.cursor);
        item = Item(iterator.cursor, offset + payloadLength);
        iterator.cursor += offset + payloadLength;
    }

    /// @notice Memory address and length of a string item's payload.
    function payload(Item memory item) internal pure returns (uint256 ptr, uint256 length) {
        (uint256 offset, uint256 payloadLength, bool list) = _prefix(item.ptr, item.length);
        if (list) revert ISisterProofErrors.RlpWrongKind(_firstByte(item.ptr));
        return (item.ptr + offset, payloadLength);
    }

    /// @notice A string item of exactly 32 bytes (a hash).
    function toBytes32(Item memory item) internal pure returns (bytes32 value) {
        (uint256 ptr, uint256 length) = payload(item);
        if (length != 32) revert ISisterProofErrors.RlpBadLength(length, 32);
        assembly {
            value := mload(ptr)
        }
    }

    /// @notice A string item of exactly 20 bytes (an address).
    function toAddress(Item memory item) internal pure returns (address value) {
        (uint256 ptr, uint256 length) = payload(item);
        if (length != 20) revert ISisterProofErrors.RlpBadLength(length, 20);
        assembly {
            value := shr(96, mload(ptr))
        }
    }

    /// @notice A big-endian unsigned integer of at most `maxBytes` (<= 32) bytes.
    function toUint(Item memory item, uint256 maxBytes) internal pure returns (uint256 value) {
        (uint256 ptr, uint256 length) = payload(item);
        if (length > maxBytes) revert ISisterProofErrors.RlpBadLength(length, maxBytes);
        if (length == 0) return 0;
        assembly {
            value := shr(sub(256, mul(8, length)), mload(ptr))
        }
    }

    /// @notice A string item's payload, copied.
    function toBytes(Item memory item) internal pure returns (bytes memory value) {
        (uint256 ptr, uint256 length) = payload(item);
        value = new bytes(length);
        // Word by word (MCOPY is newer than the paris EVM); the bytes the last word carries past
        // `length` are zeroed again, as Solidity expects of a bytes value's padding.
        assembly {
            let destination := add(value, 32)
            for { let i := 0 } lt(i, length) { i := add(i, 32) } {
                mstore(add(destination, i), mload(add(ptr, i)))
            }
            mstore(add(destination, length), 0)
        }
    }

    /// @notice Whether the item is an empty string (an absent child in a trie node).
    function isEmpty(Item memory item) internal pure returns (bool) {
        return item.length == 1 && _firstByte(item.ptr) == 0x80;
    }

    /// @dev Payload offset and length of the item at `ptr`, which must fit in `available` bytes.
    function _prefix(uint256 ptr, uint256 available) private pure returns (uint256 offset, uint256 length, bool list) {
        if (available == 0) revert ISisterProofErrors.RlpTruncated(1, 0);
        uint8 prefix = _firstByte(ptr);
        if (prefix < 0x80) {
            (offset, length) = (0, 1);
        } else if (prefix < 0xb8) {
            (offset, length) = (1, prefix - 0x80);
        } else if (prefix < 0xc0) {
            (offset, length) = _longForm(ptr, prefix - 0xb7, available);
        } else if (prefix < 0xf8) {
            (offset, length, list) = (1, prefix - 0xc0, true);
        } else {
            (offset, length) = _longForm(ptr, prefix - 0xf7, available);
            list = true;
        }
        if (offset + length > available) revert ISisterProofErrors.RlpTruncated(offset + length, available);
    }

    /// @dev A long form: 1 to 8 bytes of big-endian length after the prefix.
    function _longForm(uint256 ptr, uint256 lengthBytes, uint256 available)
        private
        pure
        returns (uint256 offset, uint256 length)
    {
        if (1 + lengthBytes > available) revert ISisterProofErrors.RlpTruncated(1 + lengthBytes, available);
        assembly {
            length := shr(sub(256, mul(8, lengthBytes)), mload(add(ptr, 1)))
        }
        offset = 1 + lengthBytes;
    }

    function _firstByte(uint256 ptr) private pure returns (uint8 value) {
        assembly {
            value := byte(0, mload(ptr))
        }
    }
}
