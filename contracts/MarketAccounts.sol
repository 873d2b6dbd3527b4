// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergyMarket} from "./interfaces/IEnergyMarket.sol";
import {MarketClock} from "./libraries/MarketClock.sol";
import {MarketMath} from "./libraries/MarketMath.sol";

/// @title Accounts, operator powers, meters and wallets of the energy market
/// @notice Every account has an id in order of registration; the public grid is account 1.
///         Wallets hold deposited ether; a prosumer with an open bid (committed, not yet settled
///         or forfeited) has the market margin locked in its wallet, and a producer's sale
///         proceeds stay locked in its wallet until their delivery period is settled.
abstract contract MarketAccounts is IEnergyMarket {
    uint32 internal constant GRID_ID = 1;
    uint8 internal constant FLAG_PRODUCER = 1;
    uint8 internal constant FLAG_GREEN = 2;
    uint8 internal constant FLAG_AUTHORIZED = 4;
    uint8 internal constant FLAG_GRID = 8;
    uint256 internal constant MAX_NAME_BYTES = 31;
    /// @dev Value of an account's commitment slot when no sealed bid is pending. Nonzero, so that
    ///      the slot written at registration makes every later commit a cheap rewrite.
    bytes32 internal constant NO_COMMITMENT = bytes32(uint256(1));

    /// @dev Slot 0: wallet 128 | lastBidPeriod 32 | lastBidId 32 | openBids 16 | flags 8 |
    ///      ratedPowerW 32 = 248 bits (all that commit, reveal and settlement read).
    ///      Slot 1: meter 160 | meterNumber 64 = 224 bits. Slot 2: name (short string).
    struct Account {
        uint128 wallet;
        uint32 lastBidPeriod; // delivery period of the last commit
        uint32 lastBidId; // its bid id once revealed, 0 before
        uint16 openBids; // commits not yet settled or forfeited
        uint8 flags;
        uint32 ratedPowerW; // of the bound meter; 0 until one is bound
        address meter;
        uint64 meterNumber;
        string name;
    }

    /// @dev One slot: prosumer id 32 | meter number 64 | rated power 32.
    struct MeterBinding {
        uint32 prosumerId;
        uint64 meterNumber;
        uint32 ratedPowerW;
    }

    /// @dev A producer's place for the proceeds of one open bid, reserved at commit and released
    ///      at settlement (or forfeit). One slot: deliveryPeriod 32 | amount 128 | open 8. Places
    ///      are written at registration and reused period after period (delivery period mod
    ///      PROCEEDS_SLOTS), never back to zero: a commit rewrites a slot, never creates one.
    struct Proceeds {
        uint32 deliveryPeriod;
        uint128 amount; // wei credited to the wallet by trades of that period, locked there
        bool open; // reserved by a commit whose bid is not yet settled or forfeited
    }

    /// @dev What admission reads (commit, reveal, a continuous order, a trade's cut), copied from
    ///      `_parameters` by `_setParameters`, their only writer, so that one slot holds it: the
    ///      Parameters struct keeps margin and the price bounds in two slots (its ABI order).
    ///      One slot: margin 96 | priceFloor 64 | priceCap 64 = 224 bits.
    struct Admission {
        uint96 margin;
        uint64 priceFloor;
        uint64 priceCap;
    }

    /// @dev Four places: bids of delivery periods d, d+1, d+2 are open together while d waits for
    ///      settlement; the fourth lets a late settlement catch up before a commit is refused.
    uint256 internal constant PROCEEDS_SLOTS = 4;
    /// @dev Period of a proceeds place not used yet; nonzero, like NO_COMMITMENT.
    uint32 internal constant NO_PERIOD = type(uint32).max;

    address public immutable operator;
    address public immutable grid;
    uint64 internal immutable _genesisTime;
    uint32 internal immutable _periodLength;
    uint32 internal immutable _commitEnd;
    uint32 internal immutable _revealEnd;
    uint32 internal immutable _settleStart;
    uint32 internal immutable _readingGrace;

    Parameters internal _parameters;
    Admission internal _admission;
    uint32 internal _accountCount;
    /// @dev One slot: deposited 128 | withdrawn 128.
    uint128 internal _deposited;
    uint128 internal _withdrawn;
    mapping(address => uint32) internal _idOf;
    mapping(uint32 => address) internal _addressOf;
    mapping(uint32 => Account) internal _accounts;
    mapping(uint32 => bytes32) internal _commitments; // one slot per account, reused every period
    mapping(address => MeterBinding) internal _meters;
    mapping(uint32 => Proceeds[PROCEEDS_SLOTS]) internal _proceeds; // producers only

    modifier onlyOperator() {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        _;
    }

    /// @param gridAccount the public grid's account, registered as id 1
    /// @param clock the market clock; a zero genesisTime means the deployment block's time
    constructor(address gridAccount, Schedule memory clock, Parameters memory initial) {
        if (clock.genesisTime == 0) clock.genesisTime = uint64(block.timestamp);
        if (!MarketClock.isValid(clock) || clock.readingGrace == 0) revert InvalidSchedule();
        operator = msg.sender;
        grid = gridAccount;
        (_genesisTime, _periodLength, _commitEnd) = (clock.genesisTime, clock.periodLength, clock.commitEnd);
        (_revealEnd, _settleStart, _readingGrace) = (clock.revealEnd, clock.settleStart, clock.readingGrace);
        _setParameters(initial);
        _register(gridAccount, "public grid", FLAG_GRID);
    }

    // ------------------------------------------------------------------ external

    /// @inheritdoc IEnergyMarket
    function register(string calldata name, bool producer, bool green) external returns (uint32 id) {
        uint8 flags = (producer ? FLAG_PRODUCER : 0) | (green ? FLAG_GREEN : 0);
        return _register(msg.sender, name, flags);
    }

    /// @inheritdoc IEnergyMarket
    function setAuthorization(address account, bool authorized) external onlyOperator {
        uint32 id = _requireProsumer(account);
        Account storage a = _accounts[id];
        a.flags = authorized ? a.flags | FLAG_AUTHORIZED : a.flags & ~FLAG_AUTHORIZED;
        emit AuthorizationChanged(account, authorized);
    }

    /// @inheritdoc IEnergyMarket
    function bindMeter(address prosumer, address meter, uint64 meterNumber, uint32 ratedPowerW)
        external
        onlyOperator
    {
        uint32 id = _requireProsumer(prosumer);
        if (meter == address(0) || meterNumber == 0 || ratedPowerW == 0) revert InvalidMeter(meter, meterNumber);
        uint32 boundTo = _meters[meter].prosumerId;
        if (boundTo != 0 && boundTo != id) revert MeterAlreadyBound(meter, boundTo);
        Account storage a = _accounts[id];
        if (a.meter != address(0) && a.meter != meter) delete _meters[a.meter];
        (a.meter, a.meterNumber, a.ratedPowerW) = (meter, meterNumber, ratedPowerW);
        _meters[meter] = MeterBinding(id, meterNumber, ratedPowerW);
        emit MeterBound(prosumer, meter, meterNumber, ratedPowerW);
    }

    /// @inheritdoc IEnergyMarket
    function setParameters(Parameters calldata parameters_) external onlyOperator {
        _setParameters(parameters_);
    }

    /// @inheritdoc IEnergyMarket
    function deposit() external payable {
        uint32 id = _requireRegistered(msg.sender);
        if (msg.value == 0) revert ZeroAmount();
        Account storage a = _accounts[id];
        a.wallet += uint128(msg.value);
        _deposited += uint128(msg.value);
        emit Deposited(msg.sender, msg.value, a.wallet);
    }

    /// @inheritdoc IEnergyMarket
    function withdraw(uint256 amount) external {
        uint32 id = _requireRegistered(msg.sender);
        if (_hasExpiredCommit(id)) _forfeit(id);
        Account storage a = _accounts[id];
        uint256 free = _freeBalance(id, a);
        if (amount == 0) revert ZeroAmount();
        if (amount > free) revert InsufficientFreeBalance(amount, free);
        a.wallet -= uint128(amount);
        _withdrawn += uint128(amount);
        emit Withdrawn(msg.sender, amount, a.wallet);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    /// @inheritdoc IEnergyMarket
    function forfeitUnrevealed(address account) external {
        uint32 id = _idOf[account];
        if (id == 0 || !_hasExpiredCommit(id)) revert NothingToForfeit(account);
        _forfeit(id);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IEnergyMarket
    function parameters() external view returns (Parameters memory) {
        return _parameters;
    }

    /// @inheritdoc IEnergyMarket
    function schedule() public view returns (Schedule memory) {
        return Schedule(_genesisTime, _periodLength, _commitEnd, _revealEnd, _settleStart, _readingGrace);
    }

    /// @inheritdoc IEnergyMarket
    function myAccount() external view returns (AccountRecord memory) {
        return accountOf(msg.sender);
    }

    /// @inheritdoc IEnergyMarket
    function accountOf(address account) public view returns (AccountRecord memory record) {
        uint32 id = _idOf[account];
        if (id == 0) return record;
        Account storage a = _accounts[id];
        record = AccountRecord({
            id: id,
            name: a.name,
            producer: a.flags & FLAG_PRODUCER != 0,
            green: a.flags & FLAG_GREEN != 0,
            authorized: a.flags & FLAG_AUTHORIZED != 0,
            isGrid: a.flags & FLAG_GRID != 0,
            meter: a.meter,
            meterNumber: a.meterNumber,
            wallet: a.wallet,
            freeBalance: _freeBalance(id, a),
            openBids: a.openBids,
            lastBidPeriod: a.lastBidPeriod,
            lastBidId: a.lastBidId,
            ratedPowerW: a.ratedPowerW,
            lockedProceeds: _lockedProceeds(id, a)
        });
    }

    /// @inheritdoc IEnergyMarket
    function accountAddress(uint32 id) external view returns (address) {
        return _addressOf[id];
    }

    /// @inheritdoc IEnergyMarket
    function accountCount() external view returns (uint32) {
        return _accountCount;
    }

    /// @inheritdoc IEnergyMarket
    function totals() external view returns (uint256 deposited, uint256 withdrawn) {
        return (_deposited, _withdrawn);
    }

    /// @inheritdoc IEnergyMarket
    function meterOf(address meter) external view returns (uint32 prosumerId, uint64 meterNumber, uint32 ratedPowerW) {
        MeterBinding memory b = _meters[meter];
        return (b.prosumerId, b.meterNumber, b.ratedPowerW);
    }

    // ------------------------------------------------------------------ internal

    function _register(address account, string memory name, uint8 flags) private returns (uint32 id) {
        uint32 existing = _idOf[account];
        if (existing != 0) revert AlreadyRegistered(account, existing);
        uint256 length = bytes(name).length;
        if (length == 0 || length > MAX_NAME_BYTES) revert InvalidName(length);
        id = ++_accountCount;
        _idOf[account] = id;
        _addressOf[id] = account;
        Account storage a = _accounts[id];
        (a.flags, a.name) = (flags, name);
        _commitments[id] = NO_COMMITMENT;
        if (flags & FLAG_PRODUCER != 0) {
            for (uint256 i; i < PROCEEDS_SLOTS; ++i) {
                _proceeds[id][i] = Proceeds(NO_PERIOD, 0, false);
            }
        }
        emit Registered(account, id, name, flags & FLAG_PRODUCER != 0, flags & FLAG_GREEN != 0);
    }

    function _setParameters(Parameters memory p) private {
        bool boundsValid = 0 < p.priceFloor && p.priceFloor <= p.referencePrice && p.referencePrice <= p.priceCap;
        if (p.forfeitBps > MarketMath.BPS || !boundsValid) revert InvalidParameters();
        _parameters = p;
        _admission = Admission(p.margin, p.priceFloor, p.priceCap);
        emit ParametersChanged(p);
    }

    /// @dev Takes the forfeit share of the margin of an expired, unrevealed commit for the grid.
    function _forfeit(uint32 id) internal {
        Account storage a = _accounts[id];
        uint256 amount = MarketMath.share(_parameters.margin, _parameters.forfeitBps);
        if (amount > a.wallet) amount = a.wallet;
        a.wallet -= uint128(amount);
        a.openBids -= 1;
        _accounts[GRID_ID].wallet += uint128(amount);
        _commitments[id] = NO_COMMITMENT;
        if (a.flags & FLAG_PRODUCER != 0) _releaseProceeds(id, a.lastBidPeriod);
        emit BidForfeited(a.lastBidPeriod, _addressOf[id], amount);
    }

    /// @dev Reserves a producer's place for the proceeds of its bid for `d`, at commit; refused
    ///      while the place still holds an earlier bid that is not settled.
    function _reserveProceeds(uint32 id, uint32 d) internal {
        Proceeds storage place = _proceeds[id][d % PROCEEDS_SLOTS];
        if (place.open) revert ProceedsUnsettled(place.deliveryPeriod);
        _proceeds[id][d % PROCEEDS_SLOTS] = Proceeds(d, 0, true);
    }

    /// @dev Pays a seller `amount` for a trade of delivery period `d` and locks it until `d` is settled.
    function _creditSale(uint32 sellerId, uint32 d, uint256 amount) internal {
        _accounts[sellerId].wallet += uint128(amount);
        _proceeds[sellerId][d % PROCEEDS_SLOTS].amount += uint128(amount);
    }

    /// @dev Frees the proceeds of a producer's bid for `d`, once what it owed for `d` is paid.
    function _releaseProceeds(uint32 id, uint32 d) internal {
        _proceeds[id][d % PROCEEDS_SLOTS] = Proceeds(d, 0, false);
    }

    function _lockedProceeds(uint32 id, Account storage a) internal view returns (uint256 locked) {
        if (a.flags & FLAG_PRODUCER == 0) return 0;
        for (uint256 i; i < PROCEEDS_SLOTS; ++i) {
            locked += _proceeds[id][i].amount;
        }
    }

    /// @dev True when the account's last commit was never revealed and its reveal window closed.
    function _hasExpiredCommit(uint32 id) internal view returns (bool) {
        Account storage a = _accounts[id];
        if (a.lastBidId != 0 || _commitments[id] == NO_COMMITMENT) return false;
        // The auction of delivery period d runs during period d - 1.
        uint256 revealCloses = MarketClock.start(schedule(), a.lastBidPeriod - 1) + _revealEnd;
        return block.timestamp >= revealCloses;
    }

    /// @dev Wallet less the margin of an open bid and less proceeds awaiting settlement.
    function _freeBalance(uint32 id, Account storage a) internal view returns (uint256) {
        uint256 locked = (a.openBids > 0 ? _admission.margin : 0) + _lockedProceeds(id, a);
        return a.wallet > locked ? a.wallet - locked : 0;
    }

    function _requireRegistered(address account) internal view returns (uint32 id) {
        id = _idOf[account];
        if (id == 0) revert NotRegistered(account);
    }

    /// @dev A registered account other than the grid.
    function _requireProsumer(address account) internal view returns (uint32 id) {
        id = _requireRegistered(account);
        if (id == GRID_ID) revert GridCannotBid();
    }
}
