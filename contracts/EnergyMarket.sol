// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergyMarket} from "./interfaces/IEnergyMarket.sol";
import {MarketAccounts} from "./MarketAccounts.sol";
import {MarketAuction} from "./MarketAuction.sol";
import {MarketClock} from "./libraries/MarketClock.sol";
import {MarketMath} from "./libraries/MarketMath.sol";

/// @title Peer-to-peer energy market with a green-first double auction
/// @notice The deployable market: accounts and wallets (MarketAccounts), sealed bids and matching
///         (MarketAuction), and here meter readings and the settlement of each delivery period:
///         balancing of metered deviations against the grid and reward/penalty for honest
///         declarations, valued at the period's average trade price.
contract EnergyMarket is MarketAuction {
    /// @dev One slot: energy 64 | present 8.
    struct Reading {
        uint64 energyWh;
        bool present;
    }

    /// @dev What every bid of one settlement batch shares.
    struct Settlement {
        uint32 period;
        bool readingsClosed;
        uint256 averagePrice;
        Parameters parameters;
        uint256 gridWallet;
    }

    mapping(uint32 => mapping(uint32 => Reading)) internal _readings; // prosumer id => period => reading
    /// @inheritdoc IEnergyMarket
    address public continuousBook;

    modifier onlyContinuousBook() {
        if (msg.sender != continuousBook) revert NotContinuousBook(msg.sender);
        _;
    }

    constructor(address gridAccount, Schedule memory clock, Parameters memory initial)
        MarketAccounts(gridAccount, clock, initial)
    {}

    // ------------------------------------------------------------------ external

    /// @inheritdoc IEnergyMarket
    function submitReading(uint32 deliveryPeriod, uint64 meterNumber, uint64 energyWh) external {
        MeterBinding memory binding = _meters[msg.sender];
        if (binding.prosumerId == 0) revert MeterNotBound(msg.sender);
        if (binding.meterNumber != meterNumber) revert MeterNumberMismatch(binding.meterNumber, meterNumber);
        uint256 capacity = MarketMath.capacityWh(binding.ratedPowerW, _periodLength);
        if (energyWh > capacity) revert ReadingAboveCapacity(energyWh, uint64(capacity));
        uint256 periodEnds = MarketClock.start(schedule(), deliveryPeriod + 1);
        if (block.timestamp < periodEnds) revert ReadingTooEarly(deliveryPeriod, periodEnds);
        uint256 deadline = periodEnds + _readingGrace;
        if (block.timestamp >= deadline) revert ReadingTooLate(deliveryPeriod, deadline);
        Reading storage reading = _readings[binding.prosumerId][deliveryPeriod];
        if (reading.present) revert ReadingAlreadyPosted(deliveryPeriod, binding.prosumerId);
        (reading.energyWh, reading.present) = (energyWh, true);
        emit ReadingPosted(deliveryPeriod, binding.prosumerId, msg.sender, meterNumber, energyWh);
    }

    /// @inheritdoc IEnergyMarket
    function settle(uint32 deliveryPeriod, uint256 maxProsumers) external returns (bool done) {
        if (maxProsumers == 0) revert InvalidBatchSize();
        Book storage book = _books[deliveryPeriod];
        if (book.stage != Stage.Done) revert MatchingNotComplete(deliveryPeriod);
        uint256 nextStart = MarketClock.start(schedule(), deliveryPeriod + 1);
        if (block.timestamp < nextStart + _settleStart) {
            revert SettlementNotOpen(deliveryPeriod, nextStart + _settleStart);
        }
        uint32 bidCount = book.bidCount;
        if (book.settledCount == bidCount) revert SettlementComplete(deliveryPeriod);

        Settlement memory s = Settlement({
            period: deliveryPeriod,
            readingsClosed: block.timestamp >= nextStart + _readingGrace,
            averagePrice: _averagePrice[deliveryPeriod],
            parameters: _parameters,
            gridWallet: _accounts[GRID_ID].wallet
        });
        uint32 cursor = book.settledCount;
        for (uint256 n; n < maxProsumers && cursor < bidCount; ++n) {
            Bid memory bid = _bids[deliveryPeriod][cursor + 1];
            Reading memory reading = _readings[bid.owner][deliveryPeriod];
            // Wait for a missing reading until no more can arrive; then settle without one.
            if (!reading.present && !s.readingsClosed) break;
            _settleBid(s, bid, reading);
            ++cursor;
        }
        _accounts[GRID_ID].wallet = uint128(s.gridWallet);
        book.settledCount = cursor;
        done = cursor == bidCount;
        if (done) emit SettlementCompleted(deliveryPeriod);
    }

    // ------------------------------------------------------------------ continuous book

    /// @inheritdoc IEnergyMarket
    function setContinuousBook(address book) external onlyOperator {
        if (continuousBook != address(0)) revert ContinuousBookAlreadySet(continuousBook);
        continuousBook = book;
        emit ContinuousBookSet(book);
    }

    /// @inheritdoc IEnergyMarket
    function admitContinuous(address trader, uint32 deliveryPeriod, uint40 addWh, uint64 limitPrice, uint40 coverWh)
        external
        onlyContinuousBook
        returns (uint32 id, bool producer)
    {
        Account storage a;
        (id, a) = _requireTrader(trader);
        producer = a.flags & FLAG_PRODUCER != 0;
        uint32 bidId = a.lastBidId;
        if (a.lastBidPeriod != deliveryPeriod || bidId == 0) bidId = _openPosition(trader, id, a, deliveryPeriod);
        Bid storage position = _bids[deliveryPeriod][bidId];
        uint256 room = MarketMath.capacityWh(a.ratedPowerW, _periodLength) - position.quantity;
        if (addWh > room) revert BidAboveCapacity(addWh, uint64(room));
        (position.quantity, position.remaining) = (position.quantity + addWh, position.remaining + addWh);
        if (limitPrice != 0) _requireAdmissible(a, coverWh, limitPrice);
    }

    /// @inheritdoc IEnergyMarket
    function recordContinuousTrade(uint32 deliveryPeriod, uint32 sellerId, uint32 buyerId, uint40 quantityWh, uint64 price)
        external
        onlyContinuousBook
        returns (uint40 tradedWh, uint256 spendable)
    {
        uint256 traded;
        (traded,, spendable) = _pay(deliveryPeriod, sellerId, buyerId, quantityWh, price, _admission.margin);
        tradedWh = uint40(traded);
        if (tradedWh == 0) return (0, spendable);
        _bids[deliveryPeriod][_accounts[sellerId].lastBidId].remaining -= tradedWh;
        _bids[deliveryPeriod][_accounts[buyerId].lastBidId].remaining -= tradedWh;
        _countTrade(deliveryPeriod, tradedWh, price);
    }

    /// @inheritdoc IEnergyMarket
    function queueHeads(uint32 deliveryPeriod) external view returns (uint128) {
        return _books[deliveryPeriod].heads;
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IEnergyMarket
    function currentPeriod() external view returns (uint32) {
        return MarketClock.periodAt(schedule(), block.timestamp);
    }

    /// @inheritdoc IEnergyMarket
    function currentPhase() external view returns (uint32 period, Phase phase, uint256 secondsLeft) {
        return MarketClock.phaseAt(schedule(), block.timestamp);
    }

    /// @inheritdoc IEnergyMarket
    function periodStart(uint32 period) external view returns (uint256) {
        return MarketClock.start(schedule(), period);
    }

    /// @inheritdoc IEnergyMarket
    function bidOf(uint32 deliveryPeriod, uint32 bidId) external view returns (Bid memory) {
        return _bids[deliveryPeriod][bidId];
    }

    /// @inheritdoc IEnergyMarket
    function bookOf(uint32 deliveryPeriod) external view returns (BookSummary memory) {
        Book storage book = _books[deliveryPeriod];
        return BookSummary({
            bidCount: book.bidCount,
            stage: book.stage,
            settledCount: book.settledCount,
            tradedWh: book.tradedWh,
            tradedValue: book.tradedValue,
            averagePrice: _averagePrice[deliveryPeriod]
        });
    }

    /// @inheritdoc IEnergyMarket
    function readingOf(uint32 prosumerId, uint32 deliveryPeriod) external view returns (bool present, uint64 energyWh) {
        Reading memory reading = _readings[prosumerId][deliveryPeriod];
        return (reading.present, reading.energyWh);
    }

    // ------------------------------------------------------------------ internal

    /// @dev Adds a continuous trade to the period's totals and average price.
    function _countTrade(uint32 d, uint40 wh, uint64 price) private {
        Book storage book = _books[d];
        (uint96 totalWh, uint160 totalValue) = (book.tradedWh + wh, book.tradedValue + uint160(wh) * price);
        (book.tradedWh, book.tradedValue) = (totalWh, totalValue);
        _averagePrice[d] = totalValue / totalWh;
    }

    /// @dev A trader's position for a delivery period it did not bid in: a bid record that
    ///      settlement visits like any other, opened as a commit opens one.
    function _openPosition(address trader, uint32 id, Account storage a, uint32 d) private returns (uint32 bidId) {
        bool producer = a.flags & FLAG_PRODUCER != 0;
        uint8 queue = (producer ? GREEN_ASKS : GREEN_BIDS) + (a.flags & FLAG_GREEN != 0 ? 0 : 1);
        bidId = ++_books[d].bidCount;
        _writeBid(d, bidId, Bid(0, 0, 0, 0, id, queue));
        _openBid(trader, id, a, d, bidId);
    }

    /// @dev Settles one bid, then releases its margin and, for a producer, the period's proceeds:
    ///      what the prosumer owes comes out of its whole wallet first, those proceeds included.
    ///      A payment is capped by the payer's wallet (the grid's is kept in `s` during a batch),
    ///      so no money is created.
    function _settleBid(Settlement memory s, Bid memory bid, Reading memory reading) private {
        uint40 cleared = bid.quantity - bid.remaining;
        bool producer = bid.queue < GREEN_BIDS;
        Account storage a = _accounts[bid.owner];
        (int256 balancing, int256 reward) = reading.present
            ? MarketMath.settlement(producer, bid.quantity, cleared, reading.energyWh, s.averagePrice, s.parameters)
            : MarketMath.unmeteredSettlement(
                producer, bid.quantity, cleared, MarketMath.capacityWh(a.ratedPowerW, _periodLength), s.averagePrice, s.parameters
            );
        int256 owed = balancing + reward;
        int256 change;
        if (owed < 0) {
            uint256 paid = uint256(-owed) < a.wallet ? uint256(-owed) : a.wallet;
            a.wallet -= uint128(paid);
            s.gridWallet += paid;
            change = -int256(paid);
        } else {
            uint256 paid = uint256(owed) < s.gridWallet ? uint256(owed) : s.gridWallet;
            a.wallet += uint128(paid);
            s.gridWallet -= paid;
            change = int256(paid);
        }
        a.openBids -= 1;
        if (producer) _releaseProceeds(bid.owner, s.period);
        emit Settled(
            s.period, bid.owner, bid.quantity, cleared, reading.energyWh, reading.present, balancing, reward, change
        );
    }
}
