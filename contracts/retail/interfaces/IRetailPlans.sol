// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Retailers and the plans they publish
/// @notice The operator of the energy market admits retailers (accounts of the market, a role of
///         their own); a retailer publishes plans and withdraws them; anyone reads them. Prices in
///         wei per kWh, energy in Wh, bands and multipliers in basis points (10000 = 1).
interface IRetailPlans {
    // ------------------------------------------------------------------ types

    enum PriceKind {
        Flat,
        TimeOfUse,
        Tiers
    }

    /// @notice The plan field an `InvalidPlan` refusal is about.
    enum PlanField {
        Kind,
        FlatPrice,
        Bands,
        Tiers,
        Deviation,
        Months,
        Reliability
    }

    /// @notice A time-of-use band: local clock minutes [fromMinute, toMinute) of every day,
    ///         wrapping past midnight when toMinute <= fromMinute.
    struct TimeBand {
        uint16 fromMinute;
        uint16 toMinute;
        uint64 price;
    }

    /// @notice A monthly energy tier: energy of the month up to `upToWh` (from the previous tier's
    ///         limit on) at `price`; the last tier has upToWh 0, no upper limit.
    struct Tier {
        uint64 upToWh;
        uint64 price;
    }

    /// @notice Outages of one past year: how many, and their mean duration.
    struct YearOutages {
        uint16 count;
        uint32 meanMinutes;
    }

    /// @notice What a retailer publishes. Only the price fields of `kind` are used (the others
    ///         must be empty): flatPrice, bands (covering the whole day, in order) or tiers.
    struct PlanTerms {
        PriceKind kind;
        uint64 flatPrice;
        TimeBand[] bands;
        Tier[] tiers;
        uint16 deviationBandBps; // s_i: 500 = deviations within +-5 % are free
        uint32 deviationMultiplierBps; // n_i: 20000 = negative deviations beyond the band cost 2x
        uint8 months; // T_i, duration of a contract under the plan
        YearOutages[] reliability; // one entry per past year, the latest first
    }

    /// @notice A published plan.
    struct Plan {
        uint32 id;
        address retailer;
        bool active;
        uint64 publishedAt; // block time
        PlanTerms terms;
    }

    // ------------------------------------------------------------------ events

    event RetailerChanged(address indexed account, bool admitted);
    event PlanPublished(uint32 indexed planId, address indexed retailer);
    event PlanWithdrawn(uint32 indexed planId, address indexed retailer);

    // ------------------------------------------------------------------ errors

    error NotOperator(address caller);
    error NotRegistered(address account);
    error NotRetailer(address account);
    error InvalidPlan(PlanField field);
    error UnknownPlan(uint32 planId);
    error NotPlanOwner(uint32 planId, address caller);
    error PlanNotActive(uint32 planId);

    // ------------------------------------------------------------------ operator and retailers

    /// @notice Operator: admit an account of the energy market as a retailer, or revoke it. The
    ///         plans of a revoked retailer are no longer listed as active.
    function setRetailer(address account, bool admitted) external;

    /// @notice Retailer: publish a plan.
    /// @return planId ids run from 1 in order of publication
    function publishPlan(PlanTerms calldata terms) external returns (uint32 planId);

    /// @notice Retailer: withdraw one of its own active plans (contracts signed under it go on).
    function withdrawPlan(uint32 planId) external;

    // ------------------------------------------------------------------ views

    /// @notice The energy market whose operator and accounts this contract uses.
    function market() external view returns (address);

    /// @notice Whether an account is an admitted retailer.
    function isRetailer(address account) external view returns (bool);

    /// @notice A plan by id, withdrawn or not (id 0 for an unknown plan).
    function planOf(uint32 planId) external view returns (Plan memory);

    /// @notice What a contract under a plan needs to know of it: its retailer and whether it is
    ///         offered now (active, and its retailer still admitted).
    function planOffer(uint32 planId) external view returns (address retailer, bool offered);

    /// @notice Number of plans ever published.
    function planCount() external view returns (uint32);

    /// @notice Offered plans among ids [cursor, cursor + maxScanned).
    /// @return found the offered plans among those ids
    /// @return next the cursor to continue from (planCount() + 1 at the end)
    function offeredPlans(uint32 cursor, uint256 maxScanned) external view returns (Plan[] memory found, uint32 next);

    /// @notice One retailer's offered plans among its published ones, from index `cursor` on.
    /// @return found the offered plans among the scanned ones
    /// @return next the cursor to continue from (the retailer's plan count at the end)
    function offeredPlansOf(address retailer, uint256 cursor, uint256 maxScanned)
        external
        view
        returns (Plan[] memory found, uint256 next);
}
