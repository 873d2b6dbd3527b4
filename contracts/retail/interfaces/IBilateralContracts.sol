// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Bilateral electricity contracts settled monthly from meter readings
/// @notice A buyer and a seller (an admitted retailer or an authorized producer of the energy
///         market) agree on monthly energy, prices, tolerance bands, a term in months and a
///         deposit each. Money lives in this contract's own wallets; the energy market is asked
///         only who an account is and which meter it has. Units: energy in Wh, prices in wei per
///         kWh, money in wei, bands and factors in basis points (10000 = 100 %).
interface IBilateralContracts {
    // ------------------------------------------------------------------ types

    /// @notice Life of a contract: Proposed -> Active -> Completed or Defaulted; a proposal may be
    ///         Cancelled. Both-signature contracts start Active.
    enum State {
        None,
        Proposed,
        Active,
        Completed,
        Defaulted,
        Cancelled
    }

    /// @notice The term an `InvalidTerms` refusal is about.
    enum TermField {
        Parties,
        ThirdParty,
        MonthlyEnergy,
        Prices,
        Bands,
        ExcessFactor,
        Months,
        FirstMonth,
        Plan
    }

    /// @notice The billing clock, fixed at deployment (see BillingCalendar).
    struct BillingClock {
        uint64 genesisTime; // fixed-length months: start of month 0 (0: the deployment block); calendar: 0
        uint32 monthLength; // seconds; 0 for calendar months
        int32 utcOffset; // calendar months: seconds east of UTC (28800 for UTC+8)
        uint32 readingGrace; // seconds after a month's end during which its readings are accepted
    }

    /// @notice What both parties agree on (and sign, as EIP-712 `BilateralTerms` with a nonce).
    ///         Field order is the order of the signed type.
    struct Terms {
        address buyer;
        address seller;
        address thirdParty; // 0: the energy market's grid account
        uint32 planId; // the seller's published plan the contract follows; 0: none
        uint32 firstMonth; // billing month of the first delivery; after the month of activation
        uint8 months; // term, 1 to 120
        uint64 monthlyWh; // E, contracted for every month of the term
        uint64 directPrice; // p_d, paid to the seller per kWh delivered to the buyer
        uint64 cataloguePrice; // p_c, the buyer's grid tariff
        uint64 penaltyRate; // r, per kWh the buyer stays under the lower band
        uint16 upperBandBps; // 10500: the direct trade covers up to 105 % of E
        uint16 lowerBandBps; // 9500: below 95 % of E the penalty and compensation rules apply
        uint16 excessFactorBps; // 11000: energy above the upper band costs 110 % of p_c
        uint128 buyerDeposit;
        uint128 sellerDeposit;
    }

    /// @notice What the three rules ask for one month (see BilateralMath), in wei.
    struct Amounts {
        uint256 direct; // buyer to seller for energy inside the upper band
        uint256 penalty; // buyer to seller, rule 2
        uint256 excessCharge; // buyer to third party, rule 1
        uint256 compensation; // seller to third party, rule 3
    }

    /// @notice One settled month: the energy it was settled on, what was asked and what was paid.
    ///         Asked minus paid is the shortfall of the party that owed it.
    struct MonthResult {
        uint64 buyerWh; // metered, or the worst case for the buyer when its reading is missing
        uint64 sellerWh; // metered, or 0 when the seller's reading is missing
        bool buyerMetered;
        bool sellerMetered;
        Amounts asked;
        uint256 buyerToSeller; // paid
        uint256 buyerToThirdParty; // paid
        uint256 sellerToThirdParty; // paid
        uint256 buyerShortfall;
        uint256 sellerShortfall;
    }

    /// @notice A contract as the views return it; `terms.thirdParty` is resolved, the deposits are
    ///         what the contract still holds (the agreed ones until activation).
    struct ContractRecord {
        uint64 id;
        State state;
        address proposer; // 0 for a contract signed by both at once
        uint8 settledMonths;
        Terms terms;
        uint128 buyerShortfall;
        uint128 sellerShortfall;
    }

    /// @notice A monthly reading: the meter's energy registers frozen at the month's two ends.
    struct MonthlyReading {
        bool present;
        uint64 meterNumber;
        uint64 openingWh; // register at the month's start
        uint64 closingWh; // register at the month's end
    }

    // ------------------------------------------------------------------ events

    event Deposited(address indexed account, uint256 amount, uint256 wallet);
    event Withdrawn(address indexed account, uint256 amount, uint256 wallet);
    event MonthlyReadingPosted(
        uint32 indexed month, address indexed account, address meter, uint64 meterNumber, uint64 openingWh, uint64 closingWh
    );
    event ContractProposed(uint64 indexed id, address indexed buyer, address indexed seller, address proposer, Terms terms);
    event ContractCancelled(uint64 indexed id, address by);
    /// @notice Deposits locked, term running. `terms` carries the deposits as agreed.
    event ContractActivated(uint64 indexed id, address indexed buyer, address indexed seller, Terms terms);
    event MonthSettled(uint64 indexed id, uint32 indexed month, MonthResult result);
    /// @notice A party could not pay in full: the contract ends here, the shortfalls are recorded.
    event ContractDefaulted(uint64 indexed id, uint32 month, uint256 buyerShortfall, uint256 sellerShortfall);
    event ContractCompleted(uint64 indexed id);
    event DepositsReleased(uint64 indexed id, uint256 toBuyer, uint256 toSeller);

    // ------------------------------------------------------------------ errors

    error InvalidBillingClock();
    /// @notice The energy market did not answer a view call (no market at that address).
    error ZeroAmount();
    error InsufficientWallet(address account, uint256 wallet, uint256 required);
    error TransferFailed(address to, uint256 amount);
    error MeterNotBound(address meter);
    error MeterNumberMismatch(uint64 expected, uint64 given);
    error ReadingTooEarly(uint32 month, uint256 monthEnds);
    error ReadingTooLate(uint32 month, uint256 deadline);
    error ReadingAlreadyPosted(uint32 month, address account);
    error RegisterOutOfRange(uint64 registerWh);
    error RegisterDiscontinuity(uint32 month, uint64 previousClosingWh, uint64 openingWh);
    error ReadingAboveCapacity(uint64 energyWh, uint64 capacityWh);
    error InvalidTerms(TermField field);
    error NotAParty(address caller);
    error NotAuthorized(address account);
    error NotASeller(address account);
    error NoMeter(address account);
    error TermStarted(uint32 firstMonth, uint32 currentMonth);
    error InvalidSignature(address expected, address recovered);
    error TermsAlreadyUsed(bytes32 digest);
    error UnknownContract(uint64 id);
    error WrongState(uint64 id, State actual);
    error NotDue(uint64 id, uint32 month, uint256 readyAt);
    error InvalidBatchSize();

    // ------------------------------------------------------------------ wallets

    /// @notice Add the ether sent to the caller's wallet.
    function deposit() external payable;

    /// @notice Pay out part of the caller's wallet (deposits locked in contracts are not in it).
    function withdraw(uint256 amount) external;

    // ------------------------------------------------------------------ readings

    /// @notice Meter account: post the energy registers frozen at the start and at the end of a
    ///         billing month (DL/T 645-2007 settlement days -2 and -1), once per account and
    ///         month, between the month's end and its end plus the reading grace.
    /// @dev The month's energy is closing - opening (across one register rollover at 1e9 Wh); it
    ///      must fit the meter's capacity, rated power x month length. The opening register must
    ///      equal the closing register of the previous month posted by the same meter number.
    function submitMonthlyReading(uint32 month, uint64 meterNumber, uint64 openingWh, uint64 closingWh) external;

    // ------------------------------------------------------------------ contracts

    /// @notice Buyer or seller: propose terms to the other party, who accepts with `accept`.
    /// @return id the new contract's id
    function propose(Terms calldata terms) external returns (uint64 id);

    /// @notice The other party: accept a proposal; both deposits move from the wallets into the contract.
    function accept(uint64 id) external;

    /// @notice Either party: withdraw or decline a proposal that is not yet accepted.
    function cancel(uint64 id) external;

    /// @notice Anyone: create an active contract from terms both parties signed (EIP-712); both
    ///         deposits move from the wallets into the contract. Each signed terms work once.
    /// @param nonce chosen by the parties, part of what they signed
    /// @return id the new contract's id
    function signContract(Terms calldata terms, uint256 nonce, bytes calldata buyerSignature, bytes calldata sellerSignature)
        external
        returns (uint64 id);

    /// @notice Anyone: settle the next month of an active contract once both readings of the
    ///         month are in, or their deadline has passed (a missing reading is settled by the
    ///         integrity rule). Refused with `NotDue` before that.
    function settle(uint64 id) external;

    /// @notice Anyone: settle the next due month of each active contract among ids
    ///         [firstId, firstId + maxContracts); contracts not due are skipped, never refused.
    /// @return nextId the id to continue from
    /// @return settled months settled by this call
    function settleBatch(uint64 firstId, uint256 maxContracts) external returns (uint64 nextId, uint256 settled);

    // ------------------------------------------------------------------ views

    /// @notice The energy market whose accounts and meters this contract uses.
    function market() external view returns (address);

    /// @notice The retailers' plans contract.
    function plans() external view returns (address);

    /// @notice The billing clock.
    function billingClock() external view returns (BillingClock memory);

    /// @notice The billing month now.
    function currentMonth() external view returns (uint32);

    /// @notice Block time at which a billing month starts.
    function monthStart(uint32 month) external view returns (uint256);

    /// @notice An account's wallet.
    function walletOf(address account) external view returns (uint256);

    /// @notice Money ever deposited and withdrawn, and the deposits contracts hold:
    ///         deposited = sum of wallets + held + withdrawn.
    function totals() external view returns (uint256 deposited, uint256 withdrawn, uint256 held);

    /// @notice One contract (state None for an unknown id).
    function contractOf(uint64 id) external view returns (ContractRecord memory);

    /// @notice Number of contracts ever proposed or signed; ids run from 1.
    function contractCount() external view returns (uint64);

    /// @notice Up to `maxCount` contracts from id `firstId` on, for the operator's pages.
    function contractsFrom(uint64 firstId, uint256 maxCount) external view returns (ContractRecord[] memory);

    /// @notice The month a contract settles next and whether it may be settled now.
    /// @return month the next month to settle
    /// @return readyAt when it may be settled at the latest (its readings' deadline)
    /// @return due true when `settle` would settle it now
    function nextSettlement(uint64 id) external view returns (uint32 month, uint256 readyAt, bool due);

    /// @notice What the account's meter, bound now, can measure in a month: its rated power (as
    ///         the market binds it) times the month's length, in Wh. Readings above it are
    ///         refused; a missing buyer reading may be settled as this much.
    function capacityOf(address account, uint32 month) external view returns (uint64);

    /// @notice An account's monthly reading.
    function monthlyReadingOf(address account, uint32 month) external view returns (MonthlyReading memory);

    /// @notice The EIP-712 digest the parties sign for `terms` and `nonce`.
    function termsDigest(Terms calldata terms, uint256 nonce) external view returns (bytes32);
}
