// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title One user's lines to stations, kept sorted by (loss rate, station id)
/// @notice A doubly linked list in the manner of Liquity's SortedTroves: insertion takes a hint
///         (the entry expected just before the new one), checked in O(1) and, when wrong, found
///         by walking from the head; removal is O(1). The key (loss, id) is unique, so the
///         order, and with it every tie between equal losses, is fixed (the lower id first).
/// @dev Station ids are >= 1; 0 is the list's end. One slot per line: loss 32 | prev 32 |
///      next 32 | exists 8.
library SortedLines {
    struct Line {
        uint32 lossPpm;
        uint32 prev;
        uint32 next;
        bool exists;
    }

    struct List {
        uint32 head;
        uint32 size;
        mapping(uint32 => Line) lines;
    }

    /// @dev Whether (lossA, idA) sorts strictly before (lossB, idB).
    function precedes(uint32 lossA, uint32 idA, uint32 lossB, uint32 idB) internal pure returns (bool) {
        return lossA < lossB || (lossA == lossB && idA < idB);
    }

    /// @dev Insert `id` (absent) with `lossPpm` after `prevHint` if that is its place, else
    ///      after the place found by walking from the head (at most `size` steps).
    function insert(List storage list, uint32 id, uint32 lossPpm, uint32 prevHint) internal {
        uint32 prev = fits(list, prevHint, id, lossPpm) ? prevHint : placeOf(list, id, lossPpm);
        uint32 next = prev == 0 ? list.head : list.lines[prev].next;
        list.lines[id] = Line(lossPpm, prev, next, true);
        if (prev == 0) list.head = id;
        else list.lines[prev].next = id;
        if (next != 0) list.lines[next].prev = id;
        ++list.size;
    }

    /// @dev Remove `id` (present).
    function remove(List storage list, uint32 id) internal {
        Line storage line = list.lines[id];
        (uint32 prev, uint32 next) = (line.prev, line.next);
        if (prev == 0) list.head = next;
        else list.lines[prev].next = next;
        if (next != 0) list.lines[next].prev = prev;
        delete list.lines[id];
        --list.size;
    }

    /// @dev Whether `id` with `lossPpm` belongs right after `prev` (0: at the head).
    function fits(List storage list, uint32 prev, uint32 id, uint32 lossPpm) internal view returns (bool) {
        uint32 next;
        if (prev == 0) {
            next = list.head;
        } else {
            Line storage before = list.lines[prev];
            if (!before.exists || prev == id || !precedes(before.lossPpm, prev, lossPpm, id)) return false;
            next = before.next;
        }
        return next == 0 || precedes(lossPpm, id, list.lines[next].lossPpm, next);
    }

    /// @dev The entry after which `id` with `lossPpm` belongs, walking from the head (`id`'s own
    ///      entry, if present, is stepped over, so a view can hint a line about to be re-set).
    function placeOf(List storage list, uint32 id, uint32 lossPpm) internal view returns (uint32 prev) {
        uint32 cursor = list.head;
        while (cursor != 0) {
            Line storage line = list.lines[cursor];
            if (cursor != id) {
                if (!precedes(line.lossPpm, cursor, lossPpm, id)) break;
                prev = cursor;
            }
            cursor = line.next;
        }
    }
}
