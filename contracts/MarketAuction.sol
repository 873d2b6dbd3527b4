// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergyMarket} from "./interfaces/IEnergyMarket.sol";
import {MarketAccounts} from "./MarketAccounts.sol";
import {MarketClock} from "./libraries/MarketClock.sol";
import {MarketMath} from "./libraries/MarketMath.sol";
import {PriceQueues} from "./libraries/PriceQueues.sol";

/// @title Sealed bids and the green-first double auction
/// @notice Each delivery period has a book of four sorted singly linked queues: green asks,
///         other asks (ascending price), green bids, other bids (descending price); equal prices
///         keep reveal order. A bid is inserted at reveal after a hinted position, so a reveal
///         costs the same whatever the size of the book. Matching consumes the queues from their
///         heads in batches: first green asks against green bids, then every ask against every
///         bid, the better of each pair of queues first.
abstract contract MarketAuction is MarketAccounts {
    uint8 internal constant GREEN_ASKS = 0;
    uint8 internal constant OTHER_ASKS = 1;
    uint8 internal constant GREEN_BIDS = 2;
    uint8 internal constant OTHER_BIDS = 3;

    /// @dev Slot 0: heads 128 (four 32-bit bid ids, queue q at bits 32q..32q+31) | bidCount 32 |
    ///      settledCount 32 | stage 8 = 200 bits. Slot 1: tradedWh 96 | tradedValue 160.
    struct Book {
        uint128 heads;
        uint32 bidCount;
        uint32 settledCount;
        Stage stage;
        uint96 tradedWh;
        uint160 tradedValue;
    }

    /// @dev Heads of the four queues while a batch is matched in memory.
    struct Queues {
        uint32[4] ids;
        Bid[4] bids;
        bool[4] changed;
    }

    mapping(uint32 => Book) internal _books;
    mapping(uint32 => mapping(uint32 => Bid)) internal _bids;
    mapping(uint32 => uint256) internal _averagePrice; // set when matching completes

    // ------------------------------------------------------------------ external

    /// @inheritdoc IEnergyMarket
    function commit(bytes32 commitment) external {
        (uint32 id, Account storage a) = _requireTrader(msg.sender);
        uint32 deliveryPeriod = _requirePhase(Phase.Commit) + 1;
        if (a.lastBidPeriod == deliveryPeriod) revert AlreadyCommitted(deliveryPeriod);
        if (commitment == NO_COMMITMENT) revert CommitmentMismatch(NO_COMMITMENT, commitment);
        _openBid(msg.sender, id, a, deliveryPeriod, 0);
        _commitments[id] = commitment;
        emit BidCommitted(deliveryPeriod, msg.sender);
    }

    /// @inheritdoc IEnergyMarket
    function reveal(uint40 quantityWh, uint64 price, bytes32 salt, uint32 hintPrevId) external {
        _reveal(msg.sender, quantityWh, price, salt, hintPrevId);
    }

    /// @inheritdoc IEnergyMarket
    function revealFor(address bidder, uint40 quantityWh, uint64 price, bytes32 salt, uint32 hintPrevId) external {
        _reveal(bidder, quantityWh, price, salt, hintPrevId);
    }

    /// @inheritdoc IEnergyMarket
    function matchBids(uint32 deliveryPeriod, uint256 maxSteps) external returns (bool done) {
        if (maxSteps == 0) revert InvalidBatchSize();
        uint256 closesAt = _auctionCloses(deliveryPeriod);
        if (block.timestamp < closesAt) revert AuctionNotClosed(deliveryPeriod, closesAt);
        Book storage book = _books[deliveryPeriod];
        Stage stage = book.stage;
        if (stage == Stage.Done) revert MatchingComplete(deliveryPeriod);

        Queues memory q = _loadQueues(deliveryPeriod, book.heads);
        uint256 margin = _admission.margin;
        uint256 tradedWh;
        uint256 tradedValue;
        for (uint256 step; step < maxSteps && stage != Stage.Done; ++step) {
            (uint8 askQueue, uint8 bidQueue) =
                stage == Stage.GreenPass ? (GREEN_ASKS, GREEN_BIDS) : (_bestAsk(q), _bestBid(q));
            if (q.ids[askQueue] == 0 || q.ids[bidQueue] == 0 || q.bids[askQueue].price > q.bids[bidQueue].price) {
                stage = Stage(uint8(stage) + 1);
                continue;
            }
            (uint256 wh, uint256 value) = _trade(deliveryPeriod, q, askQueue, bidQueue, margin);
            tradedWh += wh;
            tradedValue += value;
        }
        _storeQueues(deliveryPeriod, book, q);
        _recordProgress(deliveryPeriod, book, stage, tradedWh, tradedValue);
        return stage == Stage.Done;
    }

    // ------------------------------------------------------------------ views

    /// @dev The commitment a bidder sends at commit: keccak256(abi.encode(quantityWh, price, salt, bidder)).
    function _commitmentOf(uint40 quantityWh, uint64 price, bytes32 salt, address bidder) private pure returns (bytes32) {
        return keccak256(abi.encode(quantityWh, price, salt, bidder));
    }

    /// @inheritdoc IEnergyMarket
    function insertionHint(uint32 deliveryPeriod, bool producer, bool green, uint64 price) external view returns (uint32 prev) {
        uint8 queue = (producer ? GREEN_ASKS : GREEN_BIDS) + (green ? 0 : 1);
        uint32 next = PriceQueues.headOf(_books[deliveryPeriod].heads, queue);
        while (next != 0) {
            Bid storage candidate = _bids[deliveryPeriod][next];
            if (!PriceQueues.ranksBefore(candidate.price, price, queue < GREEN_BIDS)) break;
            (prev, next) = (next, candidate.next);
        }
    }

    // ------------------------------------------------------------------ internal

    /// @dev Opens `bidder`'s sealed bid; the commitment names the bidder, so whoever reveals it
    ///      can only open the bid the bidder sealed.
    function _reveal(address bidder, uint40 quantityWh, uint64 price, bytes32 salt, uint32 hintPrevId) private {
        (uint32 id, Account storage a) = _requireTrader(bidder);
        uint32 deliveryPeriod = _requirePhase(Phase.Reveal) + 1;
        if (a.lastBidPeriod != deliveryPeriod) revert NoCommitment(deliveryPeriod);
        if (a.lastBidId != 0) revert AlreadyRevealed(deliveryPeriod);
        bytes32 committed = _commitments[id];
        bytes32 revealed = _commitmentOf(quantityWh, price, salt, bidder);
        if (revealed != committed) revert CommitmentMismatch(committed, revealed);
        _requireAdmissible(a, quantityWh, price);
        uint8 queue = (a.flags & FLAG_PRODUCER != 0 ? GREEN_ASKS : GREEN_BIDS) + (a.flags & FLAG_GREEN != 0 ? 0 : 1);
        uint32 bidId = _addBid(deliveryPeriod, Bid(price, quantityWh, quantityWh, 0, id, queue), hintPrevId);
        a.lastBidId = bidId;
        emit BidRevealed(deliveryPeriod, bidder, bidId, quantityWh, price);
    }

    /// @dev Opens a prosumer's bid for delivery period `d` (at commit, or a continuous position
    ///      with its bid id): the margin is kept and a producer's proceeds place reserved.
    function _openBid(address account, uint32 id, Account storage a, uint32 d, uint32 bidId) internal {
        // Settlement needs a meter: without a reading it assumes the worst the meter could measure.
        if (a.ratedPowerW == 0) revert NoMeterBound(account);
        if (_hasExpiredCommit(id)) _forfeit(id);
        uint256 margin = _admission.margin;
        if (a.wallet < margin) revert InsufficientMargin(a.wallet, margin);
        if (a.flags & FLAG_PRODUCER != 0) _reserveProceeds(id, d);
        (a.lastBidPeriod, a.lastBidId) = (d, bidId);
        a.openBids += 1;
    }

    function _requireTrader(address account) internal view returns (uint32 id, Account storage a) {
        id = _requireProsumer(account);
        a = _accounts[id];
        if (a.flags & FLAG_AUTHORIZED == 0) revert NotAuthorized(account);
    }

    /// @return period the current period, when it is in phase `expected`
    function _requirePhase(Phase expected) internal view returns (uint32 period) {
        Phase actual;
        (period, actual,) = MarketClock.phaseAt(schedule(), block.timestamp);
        if (actual != expected) revert WrongPhase(expected, actual);
    }

    /// @dev A bid within the operator's price bounds (so that every trade price, and the average
    ///      price, stays within them) and within what the bidder's meter can measure in a period;
    ///      then the paper's admission rule: a producer's wallet covers the margin; a consumer's
    ///      wallet less the margin covers quantity x price.
    function _requireAdmissible(Account storage a, uint40 quantityWh, uint64 price) internal view {
        if (quantityWh == 0) revert InvalidBid(quantityWh, price);
        Admission memory admission = _admission;
        (uint64 floor, uint64 cap) = (admission.priceFloor, admission.priceCap);
        if (price < floor || price > cap) revert PriceOutOfBounds(price, floor, cap);
        uint256 capacity = MarketMath.capacityWh(a.ratedPowerW, _periodLength);
        if (quantityWh > capacity) revert BidAboveCapacity(quantityWh, uint64(capacity));
        uint256 wallet = a.wallet;
        uint256 margin = admission.margin;
        if (a.flags & FLAG_PRODUCER != 0) {
            if (wallet < margin) revert InsufficientMargin(wallet, margin);
        } else {
            uint256 spendable = wallet > margin ? wallet - margin : 0;
            uint256 required = MarketMath.cost(quantityWh, price);
            if (spendable < required) revert InsufficientFunds(spendable, required);
        }
    }

    /// @dev Block time from which the auction for `deliveryPeriod` (run during the period
    ///      before it) can be matched.
    function _auctionCloses(uint32 deliveryPeriod) internal view returns (uint256) {
        return MarketClock.start(schedule(), deliveryPeriod) + _revealEnd - _periodLength;
    }

    /// @dev Gives the bid the next id of its book and links it into its queue after `hintPrevId`
    ///      (or further on, if bids were inserted since the hint was read).
    function _addBid(uint32 d, Bid memory bid, uint32 hintPrevId) private returns (uint32 bidId) {
        Book storage book = _books[d];
        bidId = ++book.bidCount;
        bool ascending = bid.queue < GREEN_BIDS;
        uint32 prev = hintPrevId;
        uint32 next;
        if (prev == 0) {
            next = PriceQueues.headOf(book.heads, bid.queue);
        } else {
            Bid storage hint = _bids[d][prev];
            if (prev >= bidId || hint.queue != bid.queue || !PriceQueues.ranksBefore(hint.price, bid.price, ascending)) {
                revert InvalidHint(prev);
            }
            next = hint.next;
        }
        while (next != 0) {
            Bid storage candidate = _bids[d][next];
            if (!PriceQueues.ranksBefore(candidate.price, bid.price, ascending)) break;
            (prev, next) = (next, candidate.next);
        }
        bid.next = next;
        _writeBid(d, bidId, bid);
        if (prev == 0) book.heads = PriceQueues.withHead(book.heads, bid.queue, bidId);
        else _bids[d][prev].next = bidId;
    }

    /// @dev One step of matching: trade the head ask against the head bid at the midpoint price,
    ///      cut to what the buyer can pay; a cut buyer leaves the auction.
    function _trade(uint32 d, Queues memory q, uint8 askQueue, uint8 bidQueue, uint256 margin)
        private
        returns (uint256 wh, uint256 value)
    {
        Bid memory ask = q.bids[askQueue];
        Bid memory bid = q.bids[bidQueue];
        uint64 price = MarketMath.midpoint(ask.price, bid.price);
        uint256 wanted = ask.remaining < bid.remaining ? ask.remaining : bid.remaining;
        uint256 spendable;
        uint256 cost;
        (wh, cost, spendable) = _pay(d, ask.owner, bid.owner, wanted, price, margin);
        bool cut = wh < wanted;
        if (wh > 0) {
            ask.remaining -= uint40(wh);
            bid.remaining -= uint40(wh);
            (q.changed[askQueue], q.changed[bidQueue]) = (true, true);
            value = wh * price;
            emit Trade(d, ask.owner, bid.owner, uint40(wh), price, cost);
        }
        if (cut) emit BuyerCut(d, bid.owner, spendable);
        if (ask.remaining == 0) _advance(d, q, askQueue);
        if (bid.remaining == 0 || cut) _advance(d, q, bidQueue);
    }

    /// @dev Moves the price of `wh` from the buyer's wallet to the seller's (locked there until
    ///      settlement), cut to the most the buyer's spendable balance (wallet less margin) pays.
    /// @return traded the Wh paid for
    function _pay(uint32 d, uint32 sellerId, uint32 buyerId, uint256 wh, uint64 price, uint256 margin)
        internal
        returns (uint256 traded, uint256 cost, uint256 spendable)
    {
        Account storage buyer = _accounts[buyerId];
        spendable = buyer.wallet > margin ? buyer.wallet - margin : 0;
        (traded, cost) = (wh, MarketMath.cost(wh, price));
        if (cost > spendable) {
            traded = MarketMath.affordableWh(spendable, price);
            cost = MarketMath.cost(traded, price);
        }
        if (traded == 0) return (0, 0, spendable);
        buyer.wallet -= uint128(cost);
        _creditSale(sellerId, d, cost);
    }

    function _recordProgress(uint32 d, Book storage book, Stage stage, uint256 tradedWh, uint256 tradedValue)
        private
    {
        book.stage = stage;
        book.tradedWh += uint96(tradedWh);
        book.tradedValue += uint160(tradedValue);
        if (stage != Stage.Done) return;
        uint256 totalWh = book.tradedWh;
        uint256 average = totalWh == 0 ? _parameters.referencePrice : book.tradedValue / totalWh;
        _averagePrice[d] = average;
        emit MatchingCompleted(d, totalWh, average);
    }

    /// @dev The better head of the two ask queues: lower price, then earlier reveal.
    function _bestAsk(Queues memory q) private pure returns (uint8) {
        (uint32 green, uint32 other) = (q.ids[GREEN_ASKS], q.ids[OTHER_ASKS]);
        if (other == 0) return GREEN_ASKS;
        if (green == 0) return OTHER_ASKS;
        (uint64 g, uint64 o) = (q.bids[GREEN_ASKS].price, q.bids[OTHER_ASKS].price);
        return g < o || (g == o && green < other) ? GREEN_ASKS : OTHER_ASKS;
    }

    /// @dev The better head of the two bid queues: higher price, then earlier reveal.
    function _bestBid(Queues memory q) private pure returns (uint8) {
        (uint32 green, uint32 other) = (q.ids[GREEN_BIDS], q.ids[OTHER_BIDS]);
        if (other == 0) return GREEN_BIDS;
        if (green == 0) return OTHER_BIDS;
        (uint64 g, uint64 o) = (q.bids[GREEN_BIDS].price, q.bids[OTHER_BIDS].price);
        return g > o || (g == o && green < other) ? GREEN_BIDS : OTHER_BIDS;
    }

    function _loadQueues(uint32 d, uint128 heads) private view returns (Queues memory q) {
        for (uint8 queue; queue < 4; ++queue) {
            uint32 id = PriceQueues.headOf(heads, queue);
            q.ids[queue] = id;
            if (id != 0) q.bids[queue] = _bids[d][id];
        }
    }

    /// @dev Writes back a consumed head and moves the queue to the next bid.
    function _advance(uint32 d, Queues memory q, uint8 queue) private {
        uint32 id = q.ids[queue];
        if (q.changed[queue]) _writeBid(d, id, q.bids[queue]);
        uint32 next = q.bids[queue].next;
        q.ids[queue] = next;
        q.changed[queue] = false;
        if (next != 0) q.bids[queue] = _bids[d][next];
    }

    function _storeQueues(uint32 d, Book storage book, Queues memory q) private {
        uint128 heads;
        for (uint8 queue; queue < 4; ++queue) {
            uint32 id = q.ids[queue];
            if (q.changed[queue]) _writeBid(d, id, q.bids[queue]);
            heads = PriceQueues.withHead(heads, queue, id);
        }
        book.heads = heads;
    }

    /// @dev The one place a whole bid is stored (packing a bid takes much code).
    function _writeBid(uint32 d, uint32 bidId, Bid memory bid) internal {
        _bids[d][bidId] = bid;
    }
}
