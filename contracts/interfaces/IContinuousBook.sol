// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Continuous trading after the call auction: types, events, errors and the interface
/// @notice Units as in the market: energy in Wh, prices in wei per kWh, money in wei. The book
///         holds one delivery period at a time, from the completion of its call auction until
///         its gate closure. An order's id is its owner's account id: a prosumer has at most one
///         order resting in the book.
interface IContinuousBook {
    // ------------------------------------------------------------------ types

    /// @notice An order of the book, a node of its side's sorted list. One slot:
    ///         price 64 | remainingWh 40 | next 32 | deliveryPeriod 32 | producer 8 = 176 bits.
    struct Order {
        uint64 price; // limit price, wei per kWh
        uint40 remainingWh; // resting quantity; 0 once filled, cancelled, cut or gone to market
        uint32 next; // the order after it on its side, 0 at the end
        uint32 deliveryPeriod; // the period it rests for (records are reused period after period)
        bool producer; // an ask (producer) or a bid (consumer)
    }

    /// @notice The period the book holds and the best order of each side. One slot:
    ///         deliveryPeriod 32 | bestAsk 32 | bestBid 32 | open 8 = 104 bits.
    struct BookState {
        uint32 deliveryPeriod;
        uint32 bestAsk; // lowest ask, earliest first at equal prices
        uint32 bestBid; // highest bid, earliest first at equal prices
        bool open; // the auction's leftovers are all in: trading may start
    }

    // ------------------------------------------------------------------ events

    /// @notice Every leftover of the auction is in the book: the window is open.
    event BookOpened(uint32 indexed deliveryPeriod, uint256 leftovers);
    /// @notice An order rests in the book (a leftover, or what a limit order or re-price left).
    event OrderRested(uint32 indexed deliveryPeriod, uint32 indexed orderId, bool producer, uint40 quantityWh, uint64 price);
    /// @notice A resting order took a new limit price and left its place in the queue.
    event OrderRepriced(uint32 indexed deliveryPeriod, uint32 indexed orderId, uint64 oldPrice, uint64 newPrice);
    event OrderCancelled(uint32 indexed deliveryPeriod, uint32 indexed orderId, uint40 remainingWh);
    /// @notice A resting bid whose owner could no longer pay left the book (as a cut buyer
    ///         leaves the auction).
    event OrderCut(uint32 indexed deliveryPeriod, uint32 indexed orderId, uint256 spendable);
    /// @notice What a market order (or a limit order past the walk limit, or a buyer that ran
    ///         out of money) left untraded; it does not rest.
    event Unfilled(uint32 indexed deliveryPeriod, uint32 indexed orderId, uint40 quantityWh);
    /// @notice One trade of the continuous phase; same fields as the auction's `Trade`.
    event ContinuousTrade(uint32 indexed deliveryPeriod, uint32 sellerId, uint32 buyerId, uint40 quantityWh, uint64 price, uint256 cost);

    // ------------------------------------------------------------------ errors

    /// @notice The book does not hold `deliveryPeriod` open, or its gate has closed.
    error OutsideWindow(uint32 deliveryPeriod, uint256 gateClosure);
    error AuctionNotComplete(uint32 deliveryPeriod);
    error BookAlreadyOpen(uint32 deliveryPeriod);
    error InvalidBatchSize();
    error InvalidGateLead(uint32 gateLead);
    error NotOwner(address caller, uint32 orderId);
    /// @notice No order of this id rests for this period: nothing to cancel, re-price or send.
    error NoRestingOrder(uint32 deliveryPeriod, uint32 orderId);
    error OrderAlreadyResting(uint32 deliveryPeriod, uint32 orderId);
    /// @notice A market order met an empty opposite side.
    error NothingToTrade(uint32 deliveryPeriod);
    error InvalidHint(uint32 hintId);
    // Refusals of the market's admission, raised by the market and passed through unchanged.
    error NotRegistered(address account);
    error NotAuthorized(address account);
    error GridCannotBid();
    error NoMeterBound(address prosumer);
    error InvalidBid(uint40 quantityWh, uint64 price);
    error PriceOutOfBounds(uint64 price, uint64 floor, uint64 cap);
    error BidAboveCapacity(uint40 quantityWh, uint64 capacityWh);
    error ProceedsUnsettled(uint32 deliveryPeriod);
    error InsufficientMargin(uint256 wallet, uint256 margin);
    /// @notice A consumer cannot pay its order (a limit bid at its limit price, a market buy
    ///         for its first Wh).
    error InsufficientFunds(uint256 spendable, uint256 required);

    // ------------------------------------------------------------------ book

    /// @notice Bring up to `maxOrders` of the auction's leftovers into the book, best first,
    ///         reveal order at equal prices; anyone may call it once the auction of
    ///         `deliveryPeriod` has completed and before its gate closure. The first call for a
    ///         new period replaces the previous period's book. It resumes where it stopped.
    /// @return open true when every leftover is in and trading may start
    function openBook(uint32 deliveryPeriod, uint256 maxOrders) external returns (bool open);

    // ------------------------------------------------------------------ orders

    /// @notice Limit order of the caller (its role fixes the side; none may rest already):
    ///         trades at once with the resting orders it crosses, best price first, earlier
    ///         first at equal prices, each trade at the midpoint of the two limit prices; what is
    ///         left rests. After MAX_WALK trades the rest does not rest if it still crosses.
    /// @param hintPrevId the order after which the rest goes (0: at the head); see `insertionHint`
    /// @return orderId the caller's order id (its account id)
    function placeLimit(uint32 deliveryPeriod, uint40 quantityWh, uint64 price, uint32 hintPrevId)
        external
        returns (uint32 orderId);

    /// @notice Market order of the caller: trades with the best resting orders at their prices,
    ///         at most MAX_WALK of them, a buy cut to what it can pay; nothing rests.
    function placeMarket(uint32 deliveryPeriod, uint40 quantityWh) external returns (uint32 orderId);

    /// @notice New limit price for the caller's resting order: it loses its time priority,
    ///         trades at once if it now crosses, and the rest rests at its new place.
    /// @param prevId the order before it now (0 when it is the best); see `previousOf`
    function reprice(uint32 deliveryPeriod, uint32 orderId, uint64 price, uint32 prevId, uint32 hintPrevId) external;

    /// @notice Remove the rest of the caller's resting order.
    function cancel(uint32 deliveryPeriod, uint32 orderId, uint32 prevId) external;

    /// @notice Turn what rests of the caller's order into a market order of that quantity.
    function sendToMarket(uint32 deliveryPeriod, uint32 orderId, uint32 prevId) external;

    // ------------------------------------------------------------------ views

    /// @notice The market whose leftovers, admission and wallets the book uses.
    function market() external view returns (address);

    /// @notice Seconds before the start of a delivery period at which its book closes.
    function gateLead() external view returns (uint32);

    /// @notice Block time at which the book of `deliveryPeriod` closes.
    function gateClosure(uint32 deliveryPeriod) external view returns (uint256);

    /// @notice The period the book holds, its best orders and whether it is open.
    function book() external view returns (BookState memory);

    /// @notice An order by id (the owner's account id); `remainingWh` 0 means nothing rests.
    function orderOf(uint32 orderId) external view returns (Order memory);

    /// @notice The order id of an account that has had an order in the book (0 otherwise).
    function orderIdOf(address account) external view returns (uint32);

    /// @notice The order id to pass as `hintPrevId` for a new order of this side and price, now.
    function insertionHint(bool producer, uint64 price) external view returns (uint32 prevId);

    /// @notice The order before `orderId` on its side (0 when it is the best), to pass as `prevId`.
    function previousOf(uint32 orderId) external view returns (uint32 prevId);

    /// @notice Up to `maxOrders` resting orders of one side in priority order, from `fromId`
    ///         (0: from the best).
    function restingOrders(bool producer, uint32 fromId, uint256 maxOrders)
        external
        view
        returns (uint32[] memory ids, Order[] memory orders);
}
