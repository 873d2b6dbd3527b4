// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IEnergyMarket} from "../interfaces/IEnergyMarket.sol";
import {IRetailPlans} from "./interfaces/IRetailPlans.sol";

/// @title Retailers admitted by the market's operator, and the plans they publish
/// @notice A retailer is an account of the energy market that the market's operator admits here
///         (a role of its own, like a prosumer's authorization there). Its plans are readable by
///         anyone, one by id or listed with a cursor; a customer's page ranks them (the scoring
///         runs off-chain, see docs/retail.md) and signs a bilateral contract under one.
contract RetailPlans is IRetailPlans {
    uint256 internal constant MINUTES_PER_DAY = 1440;
    uint256 internal constant MAX_BANDS = 24;
    uint256 internal constant MAX_TIERS = 8;
    uint256 internal constant MAX_YEARS = 10;
    uint256 internal constant MAX_MONTHS = 120;
    uint256 internal constant MINUTES_PER_YEAR = 527_040; // 366 days
    uint256 internal constant BPS = 10_000;

    /// @dev Slot 0: retailer 160 | id 32 | publishedAt 64 = 256 bits. Slot 1: kind 8 | active 8 |
    ///      flatPrice 64 | deviationBandBps 16 | deviationMultiplierBps 32 | months 8 = 136 bits.
    ///      Then one slot per array length (elements: a band, a tier or a year in one slot each).
    struct StoredPlan {
        address retailer;
        uint32 id;
        uint64 publishedAt;
        PriceKind kind;
        bool active;
        uint64 flatPrice;
        uint16 deviationBandBps;
        uint32 deviationMultiplierBps;
        uint8 months;
        TimeBand[] bands;
        Tier[] tiers;
        YearOutages[] reliability;
    }

    address public immutable market;
    /// @notice The energy market's operator, who admits retailers.
    address public immutable operator;

    uint32 internal _planCount;
    mapping(uint32 => StoredPlan) internal _plans;
    mapping(address => bool) internal _retailers;
    mapping(address => uint32[]) internal _planIdsOf;

    /// @param energyMarket the deployed EnergyMarket; its operator becomes this contract's
    constructor(address energyMarket) {
        market = energyMarket;
        operator = IEnergyMarket(energyMarket).operator();
    }

    // ------------------------------------------------------------------ external

    /// @inheritdoc IRetailPlans
    function setRetailer(address account, bool admitted) external {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        if (IEnergyMarket(market).accountOf(account).id == 0) revert NotRegistered(account);
        _setRetailer(account, admitted);
    }

    /// @inheritdoc IRetailPlans
    function publishPlan(PlanTerms calldata terms) external returns (uint32 planId) {
        if (!_retailers[msg.sender]) revert NotRetailer(msg.sender);
        _validate(terms);
        planId = _publish(msg.sender, terms);
    }

    /// @inheritdoc IRetailPlans
    function withdrawPlan(uint32 planId) external {
        StoredPlan storage plan = _plans[planId];
        if (plan.id == 0) revert UnknownPlan(planId);
        if (plan.retailer != msg.sender) revert NotPlanOwner(planId, msg.sender);
        if (!plan.active) revert PlanNotActive(planId);
        _withdraw(plan);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IRetailPlans
    function isRetailer(address account) external view returns (bool) {
        return _retailers[account];
    }

    /// @inheritdoc IRetailPlans
    function planOf(uint32 planId) public view returns (Plan memory plan) {
        StoredPlan storage s = _plans[planId];
        if (s.id == 0) return plan;
        plan = Plan({
            id: s.id,
            retailer: s.retailer,
            active: s.active,
            publishedAt: s.publishedAt,
            terms: PlanTerms({
                kind: s.kind,
                flatPrice: s.flatPrice,
                bands: s.bands,
                tiers: s.tiers,
                deviationBandBps: s.deviationBandBps,
                deviationMultiplierBps: s.deviationMultiplierBps,
                months: s.months,
                reliability: s.reliability
            })
        });
    }

    /// @inheritdoc IRetailPlans
    function planOffer(uint32 planId) external view returns (address retailer, bool offered) {
        StoredPlan storage s = _plans[planId];
        return (s.retailer, _offered(s));
    }

    /// @inheritdoc IRetailPlans
    function planCount() external view returns (uint32) {
        return _planCount;
    }

    /// @inheritdoc IRetailPlans
    function offeredPlans(uint32 cursor, uint256 maxScanned) external view returns (Plan[] memory found, uint32 next) {
        uint256 first = cursor == 0 ? 1 : cursor;
        uint256 end = _scanEnd(first, maxScanned, uint256(_planCount) + 1);
        found = new Plan[](end - first);
        uint256 n;
        for (uint256 id = first; id < end; ++id) {
            if (_offered(_plans[uint32(id)])) found[n++] = planOf(uint32(id));
        }
        _shorten(found, n);
        next = uint32(end);
    }

    /// @inheritdoc IRetailPlans
    function offeredPlansOf(address retailer, uint256 cursor, uint256 maxScanned)
        external
        view
        returns (Plan[] memory found, uint256 next)
    {
        uint32[] storage ids = _planIdsOf[retailer];
        uint256 end = _scanEnd(cursor, maxScanned, ids.length);
        found = new Plan[](end - cursor);
        uint256 n;
        for (uint256 i = cursor; i < end; ++i) {
            if (_offered(_plans[ids[i]])) found[n++] = planOf(ids[i]);
        }
        _shorten(found, n);
        next = end;
    }

    // ------------------------------------------------------------------ updaters

    function _setRetailer(address account, bool admitted) private {
        _retailers[account] = admitted;
        emit RetailerChanged(account, admitted);
    }

    function _publish(address retailer, PlanTerms calldata terms) private returns (uint32 planId) {
        planId = ++_planCount;
        StoredPlan storage s = _plans[planId];
        (s.retailer, s.id, s.publishedAt) = (retailer, planId, uint64(block.timestamp));
        (s.kind, s.active, s.flatPrice) = (terms.kind, true, terms.flatPrice);
        (s.deviationBandBps, s.deviationMultiplierBps, s.months) =
            (terms.deviationBandBps, terms.deviationMultiplierBps, terms.months);
        // Element by element: the legacy code generator does not copy calldata struct arrays to storage.
        for (uint256 i; i < terms.bands.length; ++i) s.bands.push(terms.bands[i]);
        for (uint256 i; i < terms.tiers.length; ++i) s.tiers.push(terms.tiers[i]);
        for (uint256 i; i < terms.reliability.length; ++i) s.reliability.push(terms.reliability[i]);
        _planIdsOf[retailer].push(planId);
        emit PlanPublished(planId, retailer);
    }

    function _withdraw(StoredPlan storage plan) private {
        plan.active = false;
        emit PlanWithdrawn(plan.id, plan.retailer);
    }

    // ------------------------------------------------------------------ checks

    function _validate(PlanTerms calldata t) private pure {
        if (t.kind == PriceKind.Flat) {
            if (t.flatPrice == 0 || t.bands.length != 0 || t.tiers.length != 0) revert InvalidPlan(PlanField.FlatPrice);
        } else if (t.kind == PriceKind.TimeOfUse) {
            if (t.flatPrice != 0 || t.tiers.length != 0) revert InvalidPlan(PlanField.Kind);
            _validateBands(t.bands);
        } else {
            if (t.flatPrice != 0 || t.bands.length != 0) revert InvalidPlan(PlanField.Kind);
            _validateTiers(t.tiers);
        }
        if (t.deviationBandBps > BPS) revert InvalidPlan(PlanField.Deviation);
        if (t.months == 0 || t.months > MAX_MONTHS) revert InvalidPlan(PlanField.Months);
        uint256 yearCount = t.reliability.length;
        if (yearCount == 0 || yearCount > MAX_YEARS) revert InvalidPlan(PlanField.Reliability);
        for (uint256 i; i < yearCount; ++i) {
            if (t.reliability[i].meanMinutes > MINUTES_PER_YEAR) revert InvalidPlan(PlanField.Reliability);
        }
    }

    /// @dev Two to 24 bands, each non-empty and priced, each starting where the previous ends,
    ///      the last ending where the first starts, together exactly one day.
    function _validateBands(TimeBand[] calldata bands) private pure {
        uint256 count = bands.length;
        if (count < 2 || count > MAX_BANDS) revert InvalidPlan(PlanField.Bands);
        uint256 covered;
        for (uint256 i; i < count; ++i) {
            TimeBand calldata band = bands[i];
            if (band.fromMinute >= MINUTES_PER_DAY || band.toMinute >= MINUTES_PER_DAY || band.price == 0) {
                revert InvalidPlan(PlanField.Bands);
            }
            if (band.toMinute != bands[(i + 1) % count].fromMinute) revert InvalidPlan(PlanField.Bands);
            uint256 length = (uint256(band.toMinute) + MINUTES_PER_DAY - band.fromMinute) % MINUTES_PER_DAY;
            if (length == 0) revert InvalidPlan(PlanField.Bands);
            covered += length;
        }
        if (covered != MINUTES_PER_DAY) revert InvalidPlan(PlanField.Bands);
    }

    /// @dev One to eight tiers, priced, limits strictly increasing, the last without a limit.
    function _validateTiers(Tier[] calldata tiers) private pure {
        uint256 count = tiers.length;
        if (count == 0 || count > MAX_TIERS || tiers[count - 1].upToWh != 0) revert InvalidPlan(PlanField.Tiers);
        uint256 previous;
        for (uint256 i; i < count; ++i) {
            if (tiers[i].price == 0) revert InvalidPlan(PlanField.Tiers);
            if (i + 1 < count) {
                if (tiers[i].upToWh <= previous) revert InvalidPlan(PlanField.Tiers);
                previous = tiers[i].upToWh;
            }
        }
    }

    function _offered(StoredPlan storage s) private view returns (bool) {
        return s.active && _retailers[s.retailer];
    }

    /// @dev End of a scan of at most `maxScanned` entries from `first`, stopping at `limit`.
    function _scanEnd(uint256 first, uint256 maxScanned, uint256 limit) private pure returns (uint256) {
        if (first >= limit) return first;
        return maxScanned < limit - first ? first + maxScanned : limit;
    }

    /// @dev Sets the length of a memory array to its first `n` entries (n <= its length).
    function _shorten(Plan[] memory found, uint256 n) private pure {
        assembly ("memory-safe") {
            mstore(found, n)
        }
    }
}
