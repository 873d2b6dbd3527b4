// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergyMarket} from "../interfaces/IEnergyMarket.sol";
import {IBilateralContracts} from "./interfaces/IBilateralContracts.sol";
import {IRetailPlans} from "./interfaces/IRetailPlans.sol";
import {RetailReadings} from "./RetailReadings.sol";
import {BilateralMath} from "./libraries/BilateralMath.sol";
import {TermsSigning} from "./libraries/TermsSigning.sol";

/// @title Bilateral contracts between a buyer and a seller, settled month by month
/// @notice A contract is proposed by one party and accepted by the other, or created at once from
///         both parties' EIP-712 signatures; at activation both deposits move from the wallets
///         into the contract. Each month of the term is settled by anyone once both readings of
///         the month are in or their deadline has passed, by the three rules of BilateralMath:
///         a missing buyer reading counts as the worst energy for the buyer (0 or the meter's
///         capacity, whichever costs it more), a missing seller reading as nothing fed in.
///         Payments, in this order: buyer to seller, buyer to third party, seller to third party,
///         each from the payer's wallet, then from its deposit. A party that cannot pay in full
///         pays what it has; its shortfall is recorded and the contract ends in default. At the
///         end of the term, or at a default, what is left of the deposits returns to the wallets.
///         Every call does a bounded amount of work: one month of one contract, or one month of
///         each of a caller-chosen number of contracts.
contract BilateralContracts is RetailReadings {
    uint256 internal constant MAX_MONTHS = 120;
    /// @dev A contract must start within ten years of its signature.
    uint256 internal constant MAX_LEAD_MONTHS = 120;
    uint8 internal constant SIGNED_BY_BOTH = 0;
    uint8 internal constant PROPOSED_BY_BUYER = 1;
    uint8 internal constant PROPOSED_BY_SELLER = 2;

    /// @dev Five slots, a sixth written only at a default:
    ///      0: buyer 160 | firstMonth 32 | months 8 | settledMonths 8 | state 8 | origin 8 | upperBandBps 16 = 240
    ///      1: seller 160 | planId 32 | monthlyWh 64 = 256
    ///      2: thirdParty 160 | directPrice 64 | lowerBandBps 16 = 240
    ///      3: cataloguePrice 64 | penaltyRate 64 | excessFactorBps 16 = 144
    ///      4: buyerDeposit 128 | sellerDeposit 128 (agreed until activation, then what is held)
    ///      5: buyerShortfall 128 | sellerShortfall 128
    struct Agreement {
        address buyer;
        uint32 firstMonth;
        uint8 months;
        uint8 settledMonths;
        State state;
        uint8 origin;
        uint16 upperBandBps;
        address seller;
        uint32 planId;
        uint64 monthlyWh;
        address thirdParty;
        uint64 directPrice;
        uint16 lowerBandBps;
        uint64 cataloguePrice;
        uint64 penaltyRate;
        uint16 excessFactorBps;
        uint128 buyerDeposit;
        uint128 sellerDeposit;
        uint128 buyerShortfall;
        uint128 sellerShortfall;
    }

    /// @inheritdoc IBilateralContracts
    address public immutable plans;
    uint256 private immutable _deploymentChainId;
    bytes32 private immutable _deploymentSeparator;

    uint64 internal _contractCount;
    mapping(uint64 => Agreement) internal _agreements;
    mapping(bytes32 => bool) internal _usedTerms; // EIP-712 digests of signed terms already used

    /// @param energyMarket the EnergyMarket whose accounts and meter bindings the contracts use
    /// @param retailPlans the RetailPlans contract of the same market
    /// @param clock the billing clock (see BillingCalendar)
    constructor(address energyMarket, address retailPlans, BillingClock memory clock)
        RetailReadings(energyMarket, clock)
    {
        plans = retailPlans;
        _deploymentChainId = block.chainid;
        _deploymentSeparator = TermsSigning.domainSeparator(address(this));
    }

    // ------------------------------------------------------------------ external

    /// @inheritdoc IBilateralContracts
    function propose(Terms calldata terms) external returns (uint64 id) {
        if (msg.sender != terms.buyer && msg.sender != terms.seller) revert NotAParty(msg.sender);
        Terms memory t = _checked(terms);
        id = _propose(t, msg.sender == t.seller ? PROPOSED_BY_SELLER : PROPOSED_BY_BUYER);
    }

    /// @inheritdoc IBilateralContracts
    function accept(uint64 id) external {
        Agreement storage a = _existing(id);
        if (a.state != State.Proposed) revert WrongState(id, a.state);
        address other = a.origin == PROPOSED_BY_SELLER ? a.buyer : a.seller;
        if (msg.sender != other) revert NotAParty(msg.sender);
        Terms memory t = _termsOf(a);
        _checkPlan(t);
        _checkStart(t.firstMonth);
        _checkParties(t);
        _activate(id, a, t);
    }

    /// @inheritdoc IBilateralContracts
    function cancel(uint64 id) external {
        Agreement storage a = _existing(id);
        if (a.state != State.Proposed) revert WrongState(id, a.state);
        if (msg.sender != a.buyer && msg.sender != a.seller) revert NotAParty(msg.sender);
        _cancel(id, a);
    }

    /// @inheritdoc IBilateralContracts
    function signContract(Terms calldata terms, uint256 nonce, bytes calldata buyerSignature, bytes calldata sellerSignature)
        external
        returns (uint64 id)
    {
        bytes32 digest = TermsSigning.digest(_domainSeparator(), terms, nonce);
        if (_usedTerms[digest]) revert TermsAlreadyUsed(digest);
        _checkSignature(digest, buyerSignature, terms.buyer);
        _checkSignature(digest, sellerSignature, terms.seller);
        Terms memory t = _checked(terms);
        _usedTerms[digest] = true;
        id = _store(t, SIGNED_BY_BOTH);
        _activate(id, _agreements[id], t);
    }

    /// @inheritdoc IBilateralContracts
    function settle(uint64 id) external {
        Agreement storage a = _existing(id);
        if (a.state != State.Active) revert WrongState(id, a.state);
        (uint32 month, uint256 readyAt, bool due) = _nextSettlement(a);
        if (!due) revert NotDue(id, month, readyAt);
        _settleMonth(id, a, month);
    }

    /// @inheritdoc IBilateralContracts
    function settleBatch(uint64 firstId, uint256 maxContracts) external returns (uint64 nextId, uint256 settled) {
        if (maxContracts == 0) revert InvalidBatchSize();
        uint256 id = firstId == 0 ? 1 : firstId;
        uint256 end = uint256(_contractCount) + 1;
        if (id < end && maxContracts < end - id) end = id + maxContracts;
        for (; id < end; ++id) {
            Agreement storage a = _agreements[uint64(id)];
            if (a.state != State.Active) continue;
            (uint32 month,, bool due) = _nextSettlement(a);
            if (!due) continue;
            _settleMonth(uint64(id), a, month);
            ++settled;
        }
        nextId = uint64(id > end ? id : end);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IBilateralContracts
    function contractOf(uint64 id) public view returns (ContractRecord memory record) {
        Agreement storage a = _agreements[id];
        if (a.state == State.None) return record;
        address proposer = a.origin == PROPOSED_BY_BUYER ? a.buyer : a.origin == PROPOSED_BY_SELLER ? a.seller : address(0);
        record = ContractRecord(id, a.state, proposer, a.settledMonths, _termsOf(a), a.buyerShortfall, a.sellerShortfall);
    }

    /// @inheritdoc IBilateralContracts
    function contractCount() external view returns (uint64) {
        return _contractCount;
    }

    /// @inheritdoc IBilateralContracts
    function contractsFrom(uint64 firstId, uint256 maxCount) external view returns (ContractRecord[] memory records) {
        uint256 first = firstId == 0 ? 1 : firstId;
        uint256 end = uint256(_contractCount) + 1;
        if (first >= end) return records;
        if (maxCount < end - first) end = first + maxCount;
        records = new ContractRecord[](end - first);
        for (uint256 i; i < records.length; ++i) {
            records[i] = contractOf(uint64(first + i));
        }
    }

    /// @inheritdoc IBilateralContracts
    function nextSettlement(uint64 id) external view returns (uint32 month, uint256 readyAt, bool due) {
        Agreement storage a = _agreements[id];
        (month, readyAt, due) = _nextSettlement(a);
        due = due && a.state == State.Active;
    }

    /// @inheritdoc IBilateralContracts
    function termsDigest(Terms calldata terms, uint256 nonce) external view returns (bytes32) {
        return TermsSigning.digest(_domainSeparator(), terms, nonce);
    }

    // ------------------------------------------------------------------ settlement

    /// @dev Settles `month`, the contract's next, and ends the contract at a default or after
    ///      its last month.
    function _settleMonth(uint64 id, Agreement storage a, uint32 month) private {
        Terms memory t = _termsOf(a);
        MonthResult memory r;
        (r.sellerMetered, r.sellerWh) = _monthEnergy(t.seller, month);
        (r.buyerMetered, r.buyerWh) = _monthEnergy(t.buyer, month);
        if (!r.buyerMetered) r.buyerWh = _worstForBuyer(t, month, r.sellerWh);
        r.asked = BilateralMath.monthly(t, r.buyerWh, r.sellerWh);
        uint256 buyerDeposit;
        uint256 sellerDeposit;
        (r.buyerToSeller, buyerDeposit) = _pay(t.buyer, t.seller, r.asked.direct + r.asked.penalty, a.buyerDeposit);
        (r.buyerToThirdParty, buyerDeposit) = _pay(t.buyer, t.thirdParty, r.asked.excessCharge, buyerDeposit);
        (r.sellerToThirdParty, sellerDeposit) = _pay(t.seller, t.thirdParty, r.asked.compensation, a.sellerDeposit);
        r.buyerShortfall = BilateralMath.buyerTotal(r.asked) - r.buyerToSeller - r.buyerToThirdParty;
        r.sellerShortfall = r.asked.compensation - r.sellerToThirdParty;
        _recordMonth(id, a, month, r, buyerDeposit, sellerDeposit);
        if (r.buyerShortfall > 0 || r.sellerShortfall > 0) {
            _default(id, a, month, r.buyerShortfall, r.sellerShortfall);
        } else if (a.settledMonths == a.months) {
            _complete(id, a);
        }
    }

    /// @dev The buyer's energy that costs it most, 0 or its meter's capacity: what the buyer
    ///      pays grows with its energy above the lower band, so the maximum over [0, capacity] is
    ///      at one of the two ends (the capacity on a tie).
    function _worstForBuyer(Terms memory t, uint32 month, uint64 sellerWh) private view returns (uint64) {
        uint64 capacity = capacityOf(t.buyer, month);
        uint256 atZero = BilateralMath.buyerTotal(BilateralMath.monthly(t, 0, sellerWh));
        uint256 atCapacity = BilateralMath.buyerTotal(BilateralMath.monthly(t, capacity, sellerWh));
        return atZero > atCapacity ? 0 : capacity;
    }

    /// @dev The contract's next month, the deadline of its readings and whether it is due.
    function _nextSettlement(Agreement storage a) private view returns (uint32 month, uint256 readyAt, bool due) {
        month = a.firstMonth + a.settledMonths;
        (uint256 ends, uint256 deadline) = _readingDeadline(month);
        readyAt = deadline;
        if (block.timestamp < ends) return (month, readyAt, false);
        if (block.timestamp >= deadline) return (month, readyAt, true);
        due = _readings[a.buyer][month].present && _readings[a.seller][month].present;
    }

    // ------------------------------------------------------------------ checks

    /// @dev Terms valid as a whole, with the third party resolved; the parties may sign them now.
    function _checked(Terms calldata terms) private view returns (Terms memory t) {
        t = terms;
        if (t.buyer == address(0) || t.seller == address(0) || t.buyer == t.seller) revert InvalidTerms(TermField.Parties);
        if (t.thirdParty == address(0)) t.thirdParty = IEnergyMarket(market).grid();
        if (t.thirdParty == t.buyer || t.thirdParty == t.seller) revert InvalidTerms(TermField.ThirdParty);
        if (t.monthlyWh == 0) revert InvalidTerms(TermField.MonthlyEnergy);
        if (t.directPrice == 0 || t.cataloguePrice == 0) revert InvalidTerms(TermField.Prices);
        if (t.upperBandBps < BilateralMath.BPS || t.lowerBandBps > BilateralMath.BPS) revert InvalidTerms(TermField.Bands);
        if (t.excessFactorBps < BilateralMath.BPS) revert InvalidTerms(TermField.ExcessFactor);
        if (t.months == 0 || t.months > MAX_MONTHS) revert InvalidTerms(TermField.Months);
        _checkPlan(t);
        _checkStart(t.firstMonth);
        _checkParties(t);
    }

    /// @dev A contract under a plan follows one its seller offers now.
    function _checkPlan(Terms memory t) private view {
        if (t.planId == 0) return;
        (address retailer, bool offered) = IRetailPlans(plans).planOffer(t.planId);
        if (retailer != t.seller || !offered) revert InvalidTerms(TermField.Plan);
    }

    /// @dev The term starts after the current month, and within ten years.
    function _checkStart(uint32 firstMonth) private view {
        uint32 current = currentMonth();
        if (firstMonth <= current) revert TermStarted(firstMonth, current);
        if (firstMonth > current + MAX_LEAD_MONTHS) revert InvalidTerms(TermField.FirstMonth);
    }

    /// @dev The buyer an authorized account of the market, the seller an admitted retailer or an
    ///      authorized producer; both with a bound meter.
    function _checkParties(Terms memory t) private view {
        IEnergyMarket.AccountRecord memory buyer = IEnergyMarket(market).accountOf(t.buyer);
        if (buyer.id == 0 || !buyer.authorized || buyer.isGrid) revert NotAuthorized(t.buyer);
        if (buyer.meter == address(0)) revert NoMeter(t.buyer);
        IEnergyMarket.AccountRecord memory seller = IEnergyMarket(market).accountOf(t.seller);
        if (!IRetailPlans(plans).isRetailer(t.seller) && !(seller.producer && seller.authorized)) {
            revert NotASeller(t.seller);
        }
        if (seller.meter == address(0)) revert NoMeter(t.seller);
    }

    function _checkSignature(bytes32 digest, bytes calldata signature, address signer) private pure {
        address recovered = TermsSigning.recover(digest, signature);
        if (recovered != signer) revert InvalidSignature(signer, recovered);
    }

    function _existing(uint64 id) private view returns (Agreement storage a) {
        a = _agreements[id];
        if (a.state == State.None) revert UnknownContract(id);
    }

    function _domainSeparator() private view returns (bytes32) {
        return block.chainid == _deploymentChainId ? _deploymentSeparator : TermsSigning.domainSeparator(address(this));
    }

    function _termsOf(Agreement storage a) private view returns (Terms memory) {
        return Terms(
            a.buyer, a.seller, a.thirdParty, a.planId, a.firstMonth, a.months, a.monthlyWh, a.directPrice,
            a.cataloguePrice, a.penaltyRate, a.upperBandBps, a.lowerBandBps, a.excessFactorBps, a.buyerDeposit, a.sellerDeposit
        );
    }

    // ------------------------------------------------------------------ updaters

    function _propose(Terms memory t, uint8 origin) private returns (uint64 id) {
        id = _store(t, origin);
        _agreements[id].state = State.Proposed;
        emit ContractProposed(id, t.buyer, t.seller, origin == PROPOSED_BY_SELLER ? t.seller : t.buyer, t);
    }

    /// @dev Writes the terms under a new id, in state None until the caller sets it.
    function _store(Terms memory t, uint8 origin) private returns (uint64 id) {
        id = ++_contractCount;
        Agreement storage a = _agreements[id];
        (a.buyer, a.firstMonth, a.months, a.origin, a.upperBandBps) = (t.buyer, t.firstMonth, t.months, origin, t.upperBandBps);
        (a.seller, a.planId, a.monthlyWh) = (t.seller, t.planId, t.monthlyWh);
        (a.thirdParty, a.directPrice, a.lowerBandBps) = (t.thirdParty, t.directPrice, t.lowerBandBps);
        (a.cataloguePrice, a.penaltyRate, a.excessFactorBps) = (t.cataloguePrice, t.penaltyRate, t.excessFactorBps);
        (a.buyerDeposit, a.sellerDeposit) = (t.buyerDeposit, t.sellerDeposit);
    }

    function _activate(uint64 id, Agreement storage a, Terms memory t) private {
        _lockDeposit(t.buyer, t.buyerDeposit);
        _lockDeposit(t.seller, t.sellerDeposit);
        a.state = State.Active;
        emit ContractActivated(id, t.buyer, t.seller, t);
    }

    function _cancel(uint64 id, Agreement storage a) private {
        a.state = State.Cancelled;
        emit ContractCancelled(id, msg.sender);
    }

    function _recordMonth(
        uint64 id,
        Agreement storage a,
        uint32 month,
        MonthResult memory r,
        uint256 buyerDeposit,
        uint256 sellerDeposit
    ) private {
        a.settledMonths += 1;
        (a.buyerDeposit, a.sellerDeposit) = (uint128(buyerDeposit), uint128(sellerDeposit));
        emit MonthSettled(id, month, r);
    }

    function _default(uint64 id, Agreement storage a, uint32 month, uint256 buyerShortfall, uint256 sellerShortfall)
        private
    {
        a.state = State.Defaulted;
        (a.buyerShortfall, a.sellerShortfall) = (uint128(buyerShortfall), uint128(sellerShortfall));
        emit ContractDefaulted(id, month, buyerShortfall, sellerShortfall);
        _release(id, a);
    }

    function _complete(uint64 id, Agreement storage a) private {
        a.state = State.Completed;
        emit ContractCompleted(id);
        _release(id, a);
    }

    function _release(uint64 id, Agreement storage a) private {
        (uint256 toBuyer, uint256 toSeller) = (a.buyerDeposit, a.sellerDeposit);
        (a.buyerDeposit, a.sellerDeposit) = (0, 0);
        _releaseDeposit(a.buyer, toBuyer);
        _releaseDeposit(a.seller, toSeller);
        emit DepositsReleased(id, toBuyer, toSeller);
    }
}
