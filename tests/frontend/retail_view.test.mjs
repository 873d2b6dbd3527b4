// What a customer types for ranking plans is checked as the server checks it, and the plans,
// contracts and settled months of /api/retail read as the page shows them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Refusal } from "../../frontend/refusal.js";
import {
  contractCells,
  depositsText,
  enteredProfile,
  hourlyShares,
  monthText,
  priceText,
  rankBody,
  rankedPlanCells,
  weightsOf,
} from "../../frontend/retail_view.js";

const EQUAL = { reliability: "0.25", price: "0.25", deviation: "0.25", duration: "0.25" };
const sum = (values) => values.reduce((a, b) => a + b, 0);

test("a named load shape gives 24 shares summing to 1", () => {
  const shares = hourlyShares("daytime");
  assert.equal(shares.length, 24);
  assert.ok(Math.abs(sum(shares) - 1) < 1e-12);
  assert.equal(shares[12], 3 * shares[2]);
});

test("a typed load shape is scaled to sum to 1", () => {
  const shares = hourlyShares(Array(24).fill("2").join(", "));
  assert.deepEqual(shares, Array(24).fill(1 / 24));
});

test("a load shape of 23 hours is refused", () => {
  assert.throws(() => hourlyShares(Array(23).fill(1).join(",")), /24 numbers, one per hour; this one has 23/);
});

test("a negative share is refused", () => {
  assert.throws(() => hourlyShares(["-1", ...Array(23).fill("1")].join(" ")), /cannot be negative/);
});

test("an entered profile becomes the body's profile", () => {
  const profile = enteredProfile({ monthlyKwh: "5000", deviationPct: "6,5", shape: "flat" });
  assert.equal(profile.monthly_kwh, 5000);
  assert.equal(profile.deviation_pct, 6.5);
  assert.equal(profile.hourly_shares.length, 24);
});

test("an absurd monthly energy is refused before anything is sent", () => {
  assert.throws(() => enteredProfile({ monthlyKwh: "1e300", deviationPct: "6", shape: "flat" }), Refusal);
  assert.throws(() => enteredProfile({ monthlyKwh: "-5", deviationPct: "6", shape: "flat" }), /between 0 and/);
  assert.throws(() => enteredProfile({ monthlyKwh: "", deviationPct: "6", shape: "flat" }), /must be a number/);
});

test("weights that do not add up to 1 are refused with their sum", () => {
  assert.throws(() => weightsOf({ ...EQUAL, price: "0.5" }), /add up to 1; these add up to 1.25/);
});

test("a weight above 1 is refused", () => {
  assert.throws(() => weightsOf({ reliability: "1.5", price: "-0.5", deviation: "0", duration: "0" }), /between 0 and 1/);
});

test("weights adding up to 1 are taken as numbers", () => {
  assert.deepEqual(weightsOf({ reliability: "0.6", price: "0.2", deviation: "0.1", duration: "0.1" }), {
    reliability: 0.6,
    price: 0.2,
    deviation: 0.1,
    duration: 0.1,
  });
});

test("the rank body names the account or carries the profile", () => {
  const weights = weightsOf(EQUAL);
  assert.deepEqual(Object.keys(rankBody({ account: "0xabc", weights })), ["account", "weights"]);
  assert.deepEqual(Object.keys(rankBody({ profile: { monthly_kwh: 1 }, weights })), ["profile", "weights"]);
});

test("prices read in 10^-3 ether per kWh for each kind of plan", () => {
  assert.equal(priceText({ type: "flat", price_wei: "600000000000000" }), "flat 0.6e-3");
  assert.equal(
    priceText({
      type: "time_of_use",
      bands: [
        { from: "06:00", to: "18:00", price_wei: "700000000000000" },
        { from: "18:00", to: "06:00", price_wei: "500000000000000" },
      ],
    }),
    "06:00–18:00 0.7e-3, 18:00–06:00 0.5e-3",
  );
  assert.equal(
    priceText({
      type: "tiers",
      tiers: [
        { up_to_wh: 100000, price_wei: "640000000000000" },
        { up_to_wh: null, price_wei: "540000000000000" },
      ],
    }),
    "0–100 kWh 0.64e-3, above 100 kWh 0.54e-3",
  );
});

const RANKED = {
  id: 2,
  price: { type: "flat", price_wei: "600000000000000" },
  deviation_band_bps: 500,
  deviation_multiplier_bps: 20000,
  months: 6,
  reliability: [{ outages: 6, mean_minutes: 300 }],
  psri: 0,
  spi: 1,
  pdpi: 0.9333333,
  adi: 1 / 3,
  score: 0.3333333,
  monthly_bill_wei: "3000000000000000000",
};

test("a ranked plan's row has its four indices beside it", () => {
  assert.deepEqual(rankedPlanCells(RANKED, 1), [
    "1",
    "#2",
    "flat 0.6e-3",
    "±5 %, ×2",
    "6 months",
    "30 h over 1 year",
    "0.000",
    "1.000",
    "0.933",
    "0.333",
    "0.333",
    "3",
  ]);
});

const ADDRESSES = { buyer: "0x" + "b".repeat(40), seller: "0x" + "5".repeat(40) };
const NAMES = new Map([
  [ADDRESSES.buyer, "EV charger"],
  [ADDRESSES.seller, "wind"],
]);
const MONTH = {
  label: "month 3",
  buyer_wh: 11000,
  seller_wh: 10000,
  buyer_metered: true,
  seller_metered: true,
  buyer_to_seller_wei: "4200000000000000",
  buyer_to_third_party_wei: "330000000000000",
  seller_to_third_party_wei: "0",
  buyer_shortfall_wei: "0",
  seller_shortfall_wei: "0",
  default: false,
};

test("a settled month says what was metered and who paid whom", () => {
  assert.equal(
    monthText(MONTH, NAMES, ADDRESSES),
    "month 3: EV charger 11 kWh, wind 10 kWh; EV charger paid wind 0.0042 ether; EV charger paid the grid 0.00033 for the excess",
  );
});

test("a month with a missing reading says it was settled by the integrity rule", () => {
  const text = monthText({ ...MONTH, buyer_metered: false, buyer_to_third_party_wei: "0" }, NAMES, ADDRESSES);
  assert.match(text, /EV charger 11 kWh \(no reading: settled by the integrity rule\)/);
});

test("a month in default names the unpaid amount", () => {
  const text = monthText({ ...MONTH, default: true, buyer_shortfall_wei: "1000000000000000" }, NAMES, ADDRESSES);
  assert.match(text, /DEFAULT: unpaid EV charger 0\.001 ether$/);
});

const CONTRACT = {
  id: 1,
  state: "active",
  ...ADDRESSES,
  monthly_wh: 10000,
  months: 2,
  first_month: 3,
  direct_price_wei: "400000000000000",
  catalogue_price_wei: "600000000000000",
  settled_months: 1,
  deposits: {
    buyer_agreed_wei: "100000000000000000",
    seller_agreed_wei: "100000000000000000",
    buyer_held_wei: "100000000000000000",
    seller_held_wei: "100000000000000000",
    released: null,
  },
  next_settlement: { label: "month 4", due: true },
};

test("a contract's row says its state, parties, terms, months and deposits", () => {
  assert.deepEqual(contractCells(CONTRACT, NAMES), [
    "#1",
    "active",
    "EV charger",
    "wind",
    "10 kWh × 2 from month 3",
    "0.4e-3 (grid 0.6e-3)",
    "1 of 2",
    "held: buyer 0.1, seller 0.1 (agreed 0.1 / 0.1)",
    "month 4 (due now)",
  ]);
});

test("released deposits say where they went", () => {
  const released = { ...CONTRACT.deposits, released: { to_buyer_wei: "100000000000000000", to_seller_wei: "0" } };
  assert.equal(depositsText({ deposits: released }), "released: 0.1 to the buyer, 0 to the seller");
});

test("an unknown party is shown by its shortened address", () => {
  const cells = contractCells(CONTRACT, new Map());
  assert.equal(cells[2], "0xbbbb…bbbb");
});
