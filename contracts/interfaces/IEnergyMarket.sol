// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Peer-to-peer energy market: types, events, errors and the external interface
/// @notice Units everywhere: energy in Wh, prices in wei per kWh, money in wei.
///         Bids sent during period t are for delivery period t+1; the delivery period is the
///         key of every book, reading and settlement.
interface IEnergyMarket {
    // ------------------------------------------------------------------ types

    /// @notice Phase of the current period, derived from block time.
    /// Commit [0, commitEnd), Reveal [commitEnd, revealEnd), Matching [revealEnd, settleStart),
    /// Settlement [settleStart, periodLength).
    enum Phase {
        Commit,
        Reveal,
        Matching,
        Settlement
    }

    /// @notice Matching progress of one delivery period's book.
    enum Stage {
        GreenPass,
        FullPass,
        Done
    }

    /// @notice Market parameters set by the operator. Factors are in basis points (1e4 = 1.0).
    /// Slot 0: 5 x 16 + 96 + 64 = 240 bits (what matching reads); slot 1: priceFloor 64 |
    /// priceCap 64 = 128 bits (what reveal reads).
    struct Parameters {
        uint16 shortfallFactorBps; // W': a prosumer short of its cleared position pays D x A x W'
        uint16 surplusFactorBps; // W'': the grid pays D x A x W'' for the opposite deviation
        uint16 rewardFactorBps; // M': reward on the consistent part of the declaration
        uint16 penaltyFactorBps; // M'': penalty on the inconsistent part
        uint16 forfeitBps; // share of the margin lost by a commit that is never revealed
        uint96 margin; // wei locked in the wallet of every prosumer with an open bid
        uint64 referencePrice; // wei per kWh, the average price of a period without trades; within the bounds
        uint64 priceFloor; // wei per kWh, the lowest price a bid may name (above zero)
        uint64 priceCap; // wei per kWh, the highest price a bid may name
    }

    /// @notice Clock of the market, fixed at deployment. Offsets in seconds from a period's start.
    struct Schedule {
        uint64 genesisTime; // start of period 0
        uint32 periodLength;
        uint32 commitEnd;
        uint32 revealEnd;
        uint32 settleStart;
        uint32 readingGrace; // readings for period d are accepted until start(d+1) + readingGrace
    }

    /// @notice One revealed bid, a node of a sorted queue. One slot: 64 + 40 + 40 + 32 + 32 + 8 bits.
    struct Bid {
        uint64 price; // wei per kWh
        uint40 quantity; // declared Wh
        uint40 remaining; // Wh not traded (yet); cleared = quantity - remaining
        uint32 next; // next bid in the same queue, 0 at the end
        uint32 owner; // account id
        uint8 queue; // which of the four queues holds it (see MarketAuction)
    }

    /// @notice The caller-facing record of an account (see `accountOf`).
    struct AccountRecord {
        uint32 id;
        string name;
        bool producer;
        bool green;
        bool authorized;
        bool isGrid;
        address meter;
        uint64 meterNumber;
        uint256 wallet;
        uint256 freeBalance;
        uint16 openBids;
        uint32 lastBidPeriod;
        uint32 lastBidId;
        // Appended, so that readers by position keep their indexes.
        uint32 ratedPowerW; // of the bound meter; 0 without one
        uint256 lockedProceeds; // sale proceeds of delivery periods not yet settled (part of wallet)
    }

    /// @notice Progress and totals of one delivery period.
    struct BookSummary {
        uint32 bidCount;
        Stage stage;
        uint32 settledCount;
        uint256 tradedWh;
        uint256 tradedValue; // sum of quantity x price over the trades, Wh x wei/kWh
        uint256 averagePrice; // wei per kWh; the reference price when nothing traded
    }

    // ------------------------------------------------------------------ events

    event Registered(address indexed account, uint32 indexed id, string name, bool producer, bool green);
    event AuthorizationChanged(address indexed account, bool authorized);
    event MeterBound(address indexed prosumer, address indexed meter, uint64 meterNumber, uint32 ratedPowerW);
    event ParametersChanged(Parameters parameters);
    event Deposited(address indexed account, uint256 amount, uint256 wallet);
    event Withdrawn(address indexed account, uint256 amount, uint256 wallet);
    event BidCommitted(uint32 indexed deliveryPeriod, address indexed account);
    event BidRevealed(uint32 indexed deliveryPeriod, address indexed account, uint32 bidId, uint40 quantityWh, uint64 price);
    event BidForfeited(uint32 indexed deliveryPeriod, address indexed account, uint256 amount);
    event Trade(uint32 indexed deliveryPeriod, uint32 sellerId, uint32 buyerId, uint40 quantityWh, uint64 price, uint256 cost);
    /// @notice A consumer whose spendable balance could not pay its whole remaining quantity
    ///         was cut to what it could afford and left the auction.
    event BuyerCut(uint32 indexed deliveryPeriod, uint32 buyerId, uint256 spendable);
    event MatchingCompleted(uint32 indexed deliveryPeriod, uint256 tradedWh, uint256 averagePrice);
    event ReadingPosted(uint32 indexed deliveryPeriod, uint32 indexed prosumerId, address meter, uint64 meterNumber, uint64 energyWh);
    /// @notice Settlement of one prosumer. balancing and reward are what the rules ask (positive:
    ///         to the prosumer); walletChange is what moved, less when a wallet could not pay.
    event Settled(
        uint32 indexed deliveryPeriod,
        uint32 indexed prosumerId,
        uint40 declaredWh,
        uint40 clearedWh,
        uint64 actualWh,
        bool metered,
        int256 balancing,
        int256 reward,
        int256 walletChange
    );
    event SettlementCompleted(uint32 indexed deliveryPeriod);
    /// @notice The operator named the continuous book (once, for the market's lifetime).
    event ContinuousBookSet(address book);

    // ------------------------------------------------------------------ errors

    error NotOperator(address caller);
    error NotRegistered(address account);
    error AlreadyRegistered(address account, uint32 id);
    error InvalidName(uint256 length);
    error NotAuthorized(address account);
    error GridCannotBid();
    error InvalidMeter(address meter, uint64 meterNumber);
    error MeterAlreadyBound(address meter, uint32 prosumerId);
    error InvalidParameters();
    error NoMeterBound(address prosumer);
    error InvalidSchedule();
    error ZeroAmount();
    error InsufficientFreeBalance(uint256 requested, uint256 free);
    error TransferFailed(address to, uint256 amount);
    error WrongPhase(Phase expected, Phase actual);
    error AlreadyCommitted(uint32 deliveryPeriod);
    error NoCommitment(uint32 deliveryPeriod);
    error AlreadyRevealed(uint32 deliveryPeriod);
    error CommitmentMismatch(bytes32 committed, bytes32 revealed);
    error InvalidBid(uint40 quantityWh, uint64 price);
    error PriceOutOfBounds(uint64 price, uint64 floor, uint64 cap);
    error BidAboveCapacity(uint40 quantityWh, uint64 capacityWh);
    /// @notice A producer's proceeds of an earlier delivery period still wait for its settlement
    ///         and hold the place a new bid's proceeds would need (see `settle`).
    error ProceedsUnsettled(uint32 deliveryPeriod);
    error InsufficientMargin(uint256 wallet, uint256 margin);
    error InsufficientFunds(uint256 spendable, uint256 required);
    error InvalidHint(uint32 hintId);
    error NothingToForfeit(address account);
    error InvalidBatchSize();
    error AuctionNotClosed(uint32 deliveryPeriod, uint256 closesAt);
    error MatchingComplete(uint32 deliveryPeriod);
    error MatchingNotComplete(uint32 deliveryPeriod);
    error SettlementNotOpen(uint32 deliveryPeriod, uint256 opensAt);
    error SettlementComplete(uint32 deliveryPeriod);
    error MeterNotBound(address meter);
    error MeterNumberMismatch(uint64 expected, uint64 given);
    error ReadingTooEarly(uint32 deliveryPeriod, uint256 periodEnds);
    error ReadingTooLate(uint32 deliveryPeriod, uint256 deadline);
    error ReadingAlreadyPosted(uint32 deliveryPeriod, uint32 prosumerId);
    error ReadingAboveCapacity(uint64 energyWh, uint64 capacityWh);
    error NotContinuousBook(address caller);
    error ContinuousBookAlreadySet(address book);

    // ------------------------------------------------------------------ accounts and operator

    /// @notice Register the caller as a prosumer; ids are given in order of registration.
    /// @param name 1 to 31 bytes
    /// @param producer true for a producer (sells), false for a consumer (buys)
    /// @param green energy type of a producer, preference of a consumer
    /// @return id the new account id
    function register(string calldata name, bool producer, bool green) external returns (uint32 id);

    /// @notice Operator: allow or stop an account's trading.
    function setAuthorization(address account, bool authorized) external;

    /// @notice Operator: bind a smart meter (its own account and factory number) to a prosumer,
    ///         replacing the prosumer's previous meter. The rated power bounds what the meter can
    ///         measure in a period, floor(ratedPowerW x periodLength / 3600) Wh: no reading, and no
    ///         bid, may exceed it.
    /// @param ratedPowerW above zero
    function bindMeter(address prosumer, address meter, uint64 meterNumber, uint32 ratedPowerW) external;

    /// @notice Operator: set the market parameters; they apply from the next call that uses them.
    ///         Refused unless 0 < priceFloor <= referencePrice <= priceCap and forfeitBps <= 10000.
    function setParameters(Parameters calldata parameters) external;

    /// @notice Add the ether sent to the caller's wallet.
    function deposit() external payable;

    /// @notice Pay out part of the caller's free balance: its wallet less the margin of an open
    ///         bid and less the sale proceeds of delivery periods not yet settled.
    function withdraw(uint256 amount) external;

    /// @notice Forfeit part of the margin of an account whose last commit was never revealed.
    ///         Anyone may call it once the reveal window of that commit has closed.
    function forfeitUnrevealed(address account) external;

    // ------------------------------------------------------------------ auction

    /// @notice Commit phase: seal a bid for the next delivery period. Only a prosumer with a bound
    ///         meter may bid.
    /// @param commitment keccak256(abi.encode(quantityWh, price, salt, msg.sender))
    function commit(bytes32 commitment) external;

    /// @notice Reveal phase: open the caller's sealed bid and insert it into its sorted queue.
    ///         The price must lie within [priceFloor, priceCap], the quantity within the meter's
    ///         capacity for one period.
    /// @param hintPrevId the bid after which it goes (0: at the head); see `insertionHint`
    function reveal(uint40 quantityWh, uint64 price, bytes32 salt, uint32 hintPrevId) external;

    /// @notice Reveal phase: open another account's sealed bid with the values it was sealed
    ///         with (for a keeper a prosumer entrusted them to). Same checks as `reveal`.
    function revealFor(address bidder, uint40 quantityWh, uint64 price, bytes32 salt, uint32 hintPrevId) external;

    /// @notice Run up to `maxSteps` steps of the green-first double auction of a delivery period.
    ///         Anyone may call it once the reveal window has closed; it resumes where it stopped.
    ///         A trade pays the seller at once, but its proceeds stay locked until the delivery
    ///         period is settled.
    /// @return done true when the book is fully matched
    function matchBids(uint32 deliveryPeriod, uint256 maxSteps) external returns (bool done);

    // ------------------------------------------------------------------ meters and settlement

    /// @notice Meter account: post the energy a prosumer produced or used in a delivery period,
    ///         at most the meter's capacity for one period.
    function submitReading(uint32 deliveryPeriod, uint64 meterNumber, uint64 energyWh) external;

    /// @notice Settle balancing and reward/penalty for up to `maxProsumers` bids of a delivery
    ///         period. Anyone may call it once settlement is open; it resumes where it stopped and
    ///         waits for a missing reading until its deadline. A prosumer without a reading is
    ///         settled with the worst balancing and the worst reward/penalty any reading could
    ///         have given it. What a prosumer owes is taken from its whole wallet, the period's
    ///         locked proceeds included, before those proceeds are released.
    /// @return done true when every bid of the period is settled
    function settle(uint32 deliveryPeriod, uint256 maxProsumers) external returns (bool done);

    // ------------------------------------------------------------------ continuous book

    /// @notice Operator, once: the contract that runs continuous trading after each call
    ///         auction. The market trusts it, and only it, with the two calls below.
    function setContinuousBook(address book) external;

    /// @notice Continuous book only: admit a trader's continuous order for a delivery period,
    ///         opening its position there first if it has none (as a commit does: the margin is
    ///         kept, a producer's proceeds place reserved, an expired commit forfeited). The
    ///         position's declaration grows by `addWh`, within the meter's capacity. With a
    ///         `limitPrice` (0 for a market order) the order is admitted as at reveal for
    ///         `coverWh` at that price: within the price bounds, a consumer able to pay it.
    /// @return id the trader's account id
    /// @return producer whether it sells
    function admitContinuous(address trader, uint32 deliveryPeriod, uint40 addWh, uint64 limitPrice, uint40 coverWh)
        external
        returns (uint32 id, bool producer);

    /// @notice Continuous book only: one trade of a delivery period's continuous phase, cut to
    ///         what the buyer can pay (wallet less margin), as in the auction. The money moves
    ///         wallet to wallet (the seller's proceeds locked until settlement); both positions'
    ///         cleared quantities and the period's totals and average price count it.
    /// @return tradedWh what traded (less than `quantityWh` when the buyer was cut)
    /// @return spendable the buyer's spendable balance before the trade
    function recordContinuousTrade(uint32 deliveryPeriod, uint32 sellerId, uint32 buyerId, uint40 quantityWh, uint64 price)
        external
        returns (uint40 tradedWh, uint256 spendable);

    /// @notice The continuous book (zero until the operator sets it).
    function continuousBook() external view returns (address);

    /// @notice Heads of a delivery period's four auction queues, queue q (green asks, other
    ///         asks, green bids, other bids) at bits 32q..32q+31; once matching is done, the
    ///         first bid each queue left over (0: none).
    function queueHeads(uint32 deliveryPeriod) external view returns (uint128);

    // ------------------------------------------------------------------ views

    /// @notice The market's operator.
    function operator() external view returns (address);

    /// @notice The public grid's account.
    function grid() external view returns (address);

    /// @notice Current parameters.
    function parameters() external view returns (Parameters memory);

    /// @notice The fixed clock.
    function schedule() external view returns (Schedule memory);

    /// @notice Index of the current period.
    function currentPeriod() external view returns (uint32);

    /// @notice Current period, its phase and the seconds left in that phase.
    function currentPhase() external view returns (uint32 period, Phase phase, uint256 secondsLeft);

    /// @notice Block time at which a period starts.
    function periodStart(uint32 period) external view returns (uint256);

    /// @notice The caller's own record.
    function myAccount() external view returns (AccountRecord memory);

    /// @notice Any account's record (an empty record with id 0 when unregistered).
    function accountOf(address account) external view returns (AccountRecord memory);

    /// @notice Address of an account id (zero when none).
    function accountAddress(uint32 id) external view returns (address);

    /// @notice Number of registered accounts, the grid included.
    function accountCount() external view returns (uint32);

    /// @notice Money ever deposited and withdrawn; deposited = sum of wallets + withdrawn.
    function totals() external view returns (uint256 deposited, uint256 withdrawn);

    /// @notice A revealed bid of a delivery period.
    function bidOf(uint32 deliveryPeriod, uint32 bidId) external view returns (Bid memory);

    /// @notice Progress and totals of a delivery period.
    function bookOf(uint32 deliveryPeriod) external view returns (BookSummary memory);

    /// @notice The bid id to pass as `hintPrevId` for a new bid of this kind and price, now.
    function insertionHint(uint32 deliveryPeriod, bool producer, bool green, uint64 price) external view returns (uint32);

    /// @notice The prosumer, number and rated power a meter account is bound with (zeros when unbound).
    function meterOf(address meter) external view returns (uint32 prosumerId, uint64 meterNumber, uint32 ratedPowerW);

    /// @notice A prosumer's reading for a delivery period.
    function readingOf(uint32 prosumerId, uint32 deliveryPeriod) external view returns (bool present, uint64 energyWh);
}
