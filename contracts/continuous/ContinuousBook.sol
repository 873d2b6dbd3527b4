// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IContinuousBook} from "../interfaces/IContinuousBook.sol";
import {IEnergyMarket} from "../interfaces/IEnergyMarket.sol";
import {MarketMath} from "../libraries/MarketMath.sol";
import {PriceQueues} from "../libraries/PriceQueues.sol";

/// @title Continuous trading of one delivery period between its call auction and gate closure
/// @notice Two sorted singly linked lists: asks by ascending price, bids by descending price,
///         earlier first at equal prices. The auction's leftovers come in first, at their sealed
///         prices (`openBook`, batched); then limit orders trade on arrival at the midpoint with
///         the orders they cross and rest the remainder, market orders trade at the resting
///         prices, and a resting order can be re-priced (losing its place) or cancelled.
///         The market admits each order as at reveal and moves the money of each trade wallet to
///         wallet; its settlement counts both phases (see `IEnergyMarket.recordContinuousTrade`).
/// @dev Work per call is bounded: a taker walks at most MAX_WALK resting orders; an insertion
///      walks from its hint, a removal from its `prevId`, at most MAX_WALK orders (a stale
///      removal hint is refused, never searched for from the head).
contract ContinuousBook is IContinuousBook {
    /// @notice The most resting orders one order trades with in one transaction.
    uint256 public constant MAX_WALK = 16;
    uint8 private constant GREEN_ASKS = 0; // the auction's queues, as in MarketAuction
    uint8 private constant OTHER_ASKS = 1;
    uint8 private constant GREEN_BIDS = 2;

    /// @dev Import cursor over the auction's four queues. One slot: heads 128 | lastAsk 32 |
    ///      lastBid 32 | count 32 = 224 bits.
    struct Import {
        uint128 heads;
        uint32 lastAsk;
        uint32 lastBid;
        uint32 count;
    }

    /// @dev The book's state with the price of each side's best order beside its id, so that a
    ///      limit order that crosses nothing, or rests at the head, reads no other order. One
    ///      slot: deliveryPeriod 32 | bestAsk 32 | bestBid 32 | open 8 | bestAskPrice 64 |
    ///      bestBidPrice 64 = 232 bits; a price is 0 when its side is empty.
    struct Top {
        uint32 deliveryPeriod;
        uint32 bestAsk;
        uint32 bestBid;
        bool open;
        uint64 bestAskPrice;
        uint64 bestBidPrice;
    }

    /// @dev An arriving order while it trades.
    struct Taker {
        uint32 id;
        bool sells;
        uint64 limit; // 0 for a market order
        uint40 quantity;
        uint40 left;
    }

    IEnergyMarket internal immutable _market;
    uint64 internal immutable _genesisTime;
    uint32 internal immutable _periodLength;
    /// @inheritdoc IContinuousBook
    uint32 public immutable gateLead;

    Top internal _book;
    Import internal _import;
    mapping(uint32 => Order) internal _orders; // by owner's account id, reused period after period
    mapping(address => uint32) internal _ids; // the market's account ids, copied at an account's first order

    /// @param market_ the market; its operator then names this book with `setContinuousBook`
    /// @param gateLead_ seconds before a delivery period's start at which its book closes;
    ///        less than the time from the end of reveal to the period's start
    constructor(IEnergyMarket market_, uint32 gateLead_) {
        IEnergyMarket.Schedule memory s = market_.schedule();
        if (gateLead_ >= s.periodLength - s.revealEnd) revert InvalidGateLead(gateLead_);
        (_market, _genesisTime, _periodLength, gateLead) = (market_, s.genesisTime, s.periodLength, gateLead_);
    }

    // ------------------------------------------------------------------ book

    /// @inheritdoc IContinuousBook
    function openBook(uint32 deliveryPeriod, uint256 maxOrders) external returns (bool) {
        if (maxOrders == 0) revert InvalidBatchSize();
        uint256 closes = gateClosure(deliveryPeriod);
        if (block.timestamp >= closes) revert OutsideWindow(deliveryPeriod, closes);
        Top memory s = _book;
        Import memory im = _import;
        if (s.deliveryPeriod != deliveryPeriod) {
            if (_market.bookOf(deliveryPeriod).stage != IEnergyMarket.Stage.Done) {
                revert AuctionNotComplete(deliveryPeriod);
            }
            s = Top(deliveryPeriod, 0, 0, false, 0, 0);
            im = Import(_market.queueHeads(deliveryPeriod), 0, 0, 0);
        } else if (s.open) {
            revert BookAlreadyOpen(deliveryPeriod);
        }
        for (uint256 n; n < maxOrders && im.heads != 0; ++n) {
            _importNext(s, im);
        }
        if (im.heads == 0) {
            s.open = true;
            emit BookOpened(deliveryPeriod, im.count);
        }
        (_book, _import) = (s, im);
        return s.open;
    }

    // ------------------------------------------------------------------ orders

    /// @inheritdoc IContinuousBook
    function placeLimit(uint32 deliveryPeriod, uint40 quantityWh, uint64 price, uint32 hintPrevId)
        external
        returns (uint32 id)
    {
        Top memory s = _requireWindow(deliveryPeriod);
        bool producer;
        (id, producer) = _market.admitContinuous(msg.sender, deliveryPeriod, quantityWh, price, quantityWh);
        Order memory own = _orders[id];
        if (_isResting(own, deliveryPeriod)) revert OrderAlreadyResting(deliveryPeriod, id);
        // The book learns an account's id with its first order: a record that was ever written
        // (by an import or a resting order, both of which set the id) has a delivery period.
        if (own.deliveryPeriod == 0) _ids[msg.sender] = id;
        _arrive(s, id, producer, price, quantityWh, hintPrevId);
        _book = s;
    }

    /// @inheritdoc IContinuousBook
    function placeMarket(uint32 deliveryPeriod, uint40 quantityWh) external returns (uint32 id) {
        Top memory s = _requireWindow(deliveryPeriod);
        if (quantityWh == 0) revert InvalidBid(0, 0);
        bool producer;
        (id, producer) = _market.admitContinuous(msg.sender, deliveryPeriod, quantityWh, 0, 0);
        if (_isResting(_orders[id], deliveryPeriod)) revert OrderAlreadyResting(deliveryPeriod, id);
        _sendMarket(s, id, producer, quantityWh);
        _book = s;
    }

    /// @inheritdoc IContinuousBook
    function reprice(uint32 deliveryPeriod, uint32 orderId, uint64 price, uint32 prevId, uint32 hintPrevId) external {
        Top memory s = _requireWindow(deliveryPeriod);
        Order memory o = _requireOwnResting(deliveryPeriod, orderId);
        _market.admitContinuous(msg.sender, deliveryPeriod, 0, price, o.remainingWh);
        _unlink(s, orderId, o, prevId);
        emit OrderRepriced(deliveryPeriod, orderId, o.price, price);
        _arrive(s, orderId, o.producer, price, o.remainingWh, hintPrevId);
        _book = s;
    }

    /// @inheritdoc IContinuousBook
    function cancel(uint32 deliveryPeriod, uint32 orderId, uint32 prevId) external {
        Top memory s = _requireWindow(deliveryPeriod);
        Order memory o = _requireOwnResting(deliveryPeriod, orderId);
        bool wasBest = _unlink(s, orderId, o, prevId);
        _orders[orderId].remainingWh = 0;
        emit OrderCancelled(deliveryPeriod, orderId, o.remainingWh);
        if (wasBest) _book = s; // behind another order, the book's slot is unchanged
    }

    /// @inheritdoc IContinuousBook
    function sendToMarket(uint32 deliveryPeriod, uint32 orderId, uint32 prevId) external {
        Top memory s = _requireWindow(deliveryPeriod);
        Order memory o = _requireOwnResting(deliveryPeriod, orderId);
        _market.admitContinuous(msg.sender, deliveryPeriod, 0, 0, 0);
        _unlink(s, orderId, o, prevId);
        _orders[orderId].remainingWh = 0;
        _sendMarket(s, orderId, o.producer, o.remainingWh);
        _book = s;
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IContinuousBook
    function market() external view returns (address) {
        return address(_market);
    }

    /// @inheritdoc IContinuousBook
    function gateClosure(uint32 deliveryPeriod) public view returns (uint256) {
        uint256 start = uint256(_genesisTime) + uint256(deliveryPeriod) * _periodLength;
        return start > gateLead ? start - gateLead : 0;
    }

    /// @inheritdoc IContinuousBook
    function book() external view returns (BookState memory) {
        Top memory s = _book;
        return BookState(s.deliveryPeriod, s.bestAsk, s.bestBid, s.open);
    }

    /// @inheritdoc IContinuousBook
    function orderOf(uint32 orderId) external view returns (Order memory) {
        return _orders[orderId];
    }

    /// @inheritdoc IContinuousBook
    function orderIdOf(address account) external view returns (uint32) {
        return _ids[account];
    }

    /// @inheritdoc IContinuousBook
    function insertionHint(bool producer, uint64 price) external view returns (uint32 prevId) {
        uint32 next = producer ? _book.bestAsk : _book.bestBid;
        while (next != 0 && PriceQueues.ranksBefore(_orders[next].price, price, producer)) {
            (prevId, next) = (next, _orders[next].next);
        }
    }

    /// @inheritdoc IContinuousBook
    function previousOf(uint32 orderId) external view returns (uint32 prevId) {
        uint32 next = _orders[orderId].producer ? _book.bestAsk : _book.bestBid;
        while (next != 0 && next != orderId) {
            (prevId, next) = (next, _orders[next].next);
        }
        if (next == 0) prevId = 0;
    }

    /// @inheritdoc IContinuousBook
    function restingOrders(bool producer, uint32 fromId, uint256 maxOrders)
        external
        view
        returns (uint32[] memory ids, Order[] memory orders)
    {
        uint32 next = fromId != 0 ? fromId : producer ? _book.bestAsk : _book.bestBid;
        uint256 n;
        for (uint32 cursor = next; cursor != 0 && n < maxOrders; cursor = _orders[cursor].next) ++n;
        (ids, orders) = (new uint32[](n), new Order[](n));
        for (uint256 i; i < n; ++i) {
            (ids[i], orders[i]) = (next, _orders[next]);
            next = orders[i].next;
        }
    }

    // ------------------------------------------------------------------ internal

    function _requireWindow(uint32 d) private view returns (Top memory s) {
        s = _book;
        uint256 closes = gateClosure(d);
        if (s.deliveryPeriod != d || !s.open || block.timestamp >= closes) revert OutsideWindow(d, closes);
    }

    function _requireOwnResting(uint32 d, uint32 orderId) private view returns (Order memory o) {
        o = _orders[orderId];
        if (!_isResting(o, d)) revert NoRestingOrder(d, orderId);
        if (_ids[msg.sender] != orderId) revert NotOwner(msg.sender, orderId);
    }

    function _isResting(Order memory o, uint32 d) private pure returns (bool) {
        return o.deliveryPeriod == d && o.remainingWh != 0;
    }

    /// @dev Appends the best leftover of one side of the auction (asks first) to that side.
    function _importNext(Top memory s, Import memory im) private {
        bool producer = PriceQueues.headOf(im.heads, GREEN_ASKS) != 0 || PriceQueues.headOf(im.heads, OTHER_ASKS) != 0;
        IEnergyMarket.Bid memory bid = _betterHead(s.deliveryPeriod, im.heads, producer ? GREEN_ASKS : GREEN_BIDS, producer);
        im.heads = PriceQueues.withHead(im.heads, bid.queue, bid.next);
        if (bid.remaining == 0) return;
        uint32 id = bid.owner;
        _writeOrder(id, Order(bid.price, bid.remaining, 0, s.deliveryPeriod, producer));
        uint32 last = producer ? im.lastAsk : im.lastBid;
        if (last != 0) _orders[last].next = id;
        else _setBest(s, producer, id, bid.price);
        if (producer) im.lastAsk = id;
        else im.lastBid = id;
        im.count += 1;
        _ids[_market.accountAddress(id)] = id;
        emit OrderRested(s.deliveryPeriod, id, producer, bid.remaining, bid.price);
    }

    /// @dev The better head of the green queue `queue` and the other queue `queue + 1`: better
    ///      price, then earlier reveal (lower bid id), as the auction ranks them.
    function _betterHead(uint32 d, uint128 heads, uint8 queue, bool ascending)
        private
        view
        returns (IEnergyMarket.Bid memory)
    {
        (uint32 green, uint32 other) = (PriceQueues.headOf(heads, queue), PriceQueues.headOf(heads, queue + 1));
        if (other == 0) return _market.bidOf(d, green);
        IEnergyMarket.Bid memory otherBid = _market.bidOf(d, other);
        if (green == 0) return otherBid;
        IEnergyMarket.Bid memory greenBid = _market.bidOf(d, green);
        bool greenFirst =
            greenBid.price == otherBid.price ? green < other : ascending == (greenBid.price < otherBid.price);
        return greenFirst ? greenBid : otherBid;
    }

    /// @dev A limit order (new or re-priced) arrives: trades, then rests what is left unless it
    ///      still crosses after MAX_WALK trades.
    function _arrive(Top memory s, uint32 id, bool producer, uint64 price, uint40 quantityWh, uint32 hintPrevId)
        private
    {
        (uint40 left, bool stopped) = _take(s, id, producer, price, quantityWh);
        if (left == 0) {
            _orders[id].remainingWh = 0;
        } else if (stopped) {
            _orders[id].remainingWh = 0;
            emit Unfilled(s.deliveryPeriod, id, left);
        } else {
            _rest(s, id, producer, price, left, hintPrevId);
        }
    }

    function _sendMarket(Top memory s, uint32 id, bool producer, uint40 quantityWh) private {
        if ((producer ? s.bestBid : s.bestAsk) == 0) revert NothingToTrade(s.deliveryPeriod);
        (uint40 left,) = _take(s, id, producer, 0, quantityWh);
        if (left != 0) emit Unfilled(s.deliveryPeriod, id, left);
    }

    /// @dev Trades the taker against the best resting orders of the other side while they cross
    ///      its limit (0: a market order, every resting price), at the midpoint of two limits or
    ///      at the resting price for a market order.
    /// @return left what did not trade
    /// @return stopped true when `left` may not rest: the walk limit was reached while the book
    ///         still crosses, or the taker, a buyer, could pay no more
    function _take(Top memory s, uint32 takerId, bool takerSells, uint64 limit, uint40 wh)
        private
        returns (uint40 left, bool stopped)
    {
        Taker memory t = Taker(takerId, takerSells, limit, wh, wh);
        for (uint256 n; t.left != 0; ++n) {
            uint32 restingId = takerSells ? s.bestBid : s.bestAsk;
            if (restingId == 0) break;
            uint64 best = takerSells ? s.bestBidPrice : s.bestAskPrice;
            if (limit != 0 && (takerSells ? best < limit : best > limit)) break;
            if (n == MAX_WALK) return (t.left, true);
            if (_tradeWith(s, t, restingId, _orders[restingId])) return (t.left, true);
        }
        return (t.left, false);
    }

    /// @dev One trade of the taker with the best resting order `r`; the market cuts it to what
    ///      the buyer can pay. A cut resting bid leaves the book; a cut taker stops.
    /// @return takerCut the taker, a buyer, can pay no more
    function _tradeWith(Top memory s, Taker memory t, uint32 restingId, Order memory r)
        private
        returns (bool takerCut)
    {
        uint64 price = t.limit == 0 ? r.price : MarketMath.midpoint(t.sells ? t.limit : r.price, t.sells ? r.price : t.limit);
        uint40 q = t.left < r.remainingWh ? t.left : r.remainingWh;
        (uint32 seller, uint32 buyer) = t.sells ? (t.id, restingId) : (restingId, t.id);
        (uint40 traded, uint256 spendable) = _market.recordContinuousTrade(s.deliveryPeriod, seller, buyer, q, price);
        if (traded != 0) {
            emit ContinuousTrade(s.deliveryPeriod, seller, buyer, traded, price, MarketMath.cost(traded, price));
        }
        t.left -= traded;
        r.remainingWh -= traded;
        bool cut = traded < q;
        if (cut && !t.sells) {
            if (t.left == t.quantity) revert InsufficientFunds(spendable, MarketMath.cost(q, price));
            if (traded != 0) _orders[restingId].remainingWh = r.remainingWh;
            return true;
        }
        if (cut) emit OrderCut(s.deliveryPeriod, restingId, spendable);
        if (r.remainingWh == 0 || cut) {
            r.remainingWh = 0;
            _setBest(s, r.producer, r.next, _priceOf(r.next));
        }
        // A trade changes only what rests: one field written, not the whole order.
        _orders[restingId].remainingWh = r.remainingWh;
    }

    /// @dev Links an order into its side after `hintPrevId` (or further on, if orders were
    ///      inserted since the hint was read).
    function _rest(Top memory s, uint32 id, bool producer, uint64 price, uint40 wh, uint32 hintPrevId) private {
        uint32 prev = hintPrevId;
        uint32 next;
        if (prev == 0) {
            next = producer ? s.bestAsk : s.bestBid;
        } else {
            Order memory hint = _orders[prev];
            bool fits = prev != id && _isResting(hint, s.deliveryPeriod) && hint.producer == producer;
            if (!fits || !PriceQueues.ranksBefore(hint.price, price, producer)) {
                revert InvalidHint(prev);
            }
            next = hint.next;
        }
        while (next != 0) {
            // The head's price is in the book's slot; any other order's is read.
            uint64 candidatePrice = prev == 0 ? (producer ? s.bestAskPrice : s.bestBidPrice) : _orders[next].price;
            if (!PriceQueues.ranksBefore(candidatePrice, price, producer)) break;
            (prev, next) = (next, _orders[next].next);
        }
        _writeOrder(id, Order(price, wh, next, s.deliveryPeriod, producer));
        if (prev != 0) _orders[prev].next = id;
        else _setBest(s, producer, id, price);
        emit OrderRested(s.deliveryPeriod, id, producer, wh, price);
    }

    /// @dev Writes a whole order with one SSTORE, in the layout the compiler gives `Order` (first
    ///      member in the lowest bits; see `IContinuousBook.Order`): the compiler would write it
    ///      member by member, reading and rewriting the slot four more times.
    function _writeOrder(uint32 id, Order memory o) private {
        uint256 word = uint256(o.price) | (uint256(o.remainingWh) << 64) | (uint256(o.next) << 104)
            | (uint256(o.deliveryPeriod) << 136) | (o.producer ? uint256(1) << 168 : 0);
        Order storage slot = _orders[id];
        assembly ("memory-safe") {
            sstore(slot.slot, word)
        }
    }

    /// @dev Makes `id` (0: none) at `price` the best order of one side.
    function _setBest(Top memory s, bool producer, uint32 id, uint64 price) private pure {
        if (producer) (s.bestAsk, s.bestAskPrice) = (id, price);
        else (s.bestBid, s.bestBidPrice) = (id, price);
    }

    function _priceOf(uint32 id) private view returns (uint64) {
        return id == 0 ? 0 : _orders[id].price;
    }

    /// @dev Takes a resting order out of its side; `prevId` names the order before it (0 when
    ///      it is the best), or one at most MAX_WALK orders before that.
    /// @return wasBest the order was its side's best (the book's slot in `s` changed)
    function _unlink(Top memory s, uint32 id, Order memory o, uint32 prevId) private returns (bool wasBest) {
        uint32 head = o.producer ? s.bestAsk : s.bestBid;
        if (head == id) {
            _setBest(s, o.producer, o.next, _priceOf(o.next));
            return true;
        }
        Order memory prev = _orders[prevId];
        if (prevId == 0 || !_isResting(prev, s.deliveryPeriod) || prev.producer != o.producer) revert InvalidHint(prevId);
        for (uint256 n; prev.next != id; ++n) {
            if (prev.next == 0 || n == MAX_WALK) revert InvalidHint(prevId);
            prevId = prev.next;
            prev = _orders[prevId];
        }
        _orders[prevId].next = o.next;
    }
}
