// Retail in words and numbers: the profile and weights a customer types, checked as the server
// checks them (`POST /api/retail/rank`), and the plans, contracts and settled months of
// /api/retail as the page shows them. Pure: no page, no network.
import { Refusal } from "./refusal.js";
import { ether, kWh, milliEtherPerKWh } from "./units.js";

export const WEIGHT_NAMES = ["reliability", "price", "deviation", "duration"];
const SUM_TOLERANCE = 1e-6;
// As the server bounds a profile (backend/retail_api.py).
export const MAX_MONTHLY_KWH = 1e9;
export const MAX_DEVIATION_PCT = 1000;

/** Load shapes a customer can pick instead of typing 24 shares: relative weights per hour. */
export const LOAD_SHAPES = {
  flat: Array(24).fill(1),
  daytime: Array.from({ length: 24 }, (_, hour) => (hour >= 8 && hour < 18 ? 3 : 1)),
  evening: Array.from({ length: 24 }, (_, hour) => (hour >= 17 && hour < 23 ? 4 : 1)),
};

function numberOf(text, label) {
  const value = Number(String(text).trim().replace(",", "."));
  if (String(text).trim() === "" || !Number.isFinite(value)) throw new Refusal(`${label} must be a number.`);
  return value;
}

/** 24 shares summing to 1 from a shape's name or 24 numbers typed with commas or spaces. */
export function hourlyShares(shape) {
  let weights = LOAD_SHAPES[shape];
  if (!weights) {
    const parts = String(shape).trim().split(/[\s;]+|,\s*/).filter(Boolean);
    if (parts.length !== 24) throw new Refusal(`A load shape has 24 numbers, one per hour; this one has ${parts.length}.`);
    weights = parts.map((part, hour) => numberOf(part, `The share of hour ${hour}`));
  }
  if (weights.some((w) => w < 0)) throw new Refusal("A load shape's shares cannot be negative.");
  const total = weights.reduce((sum, w) => sum + w, 0);
  if (total <= 0) throw new Refusal("A load shape needs some load in at least one hour.");
  return weights.map((w) => w / total);
}

/** The profile a customer typed, as `POST /api/retail/rank` takes it, or a Refusal. */
export function enteredProfile({ monthlyKwh, deviationPct, shape }) {
  const monthly = numberOf(monthlyKwh, "The monthly energy");
  if (monthly < 0 || monthly > MAX_MONTHLY_KWH) throw new Refusal(`The monthly energy must be between 0 and ${MAX_MONTHLY_KWH} kWh.`);
  const deviation = numberOf(deviationPct, "The monthly deviation");
  if (deviation < 0 || deviation > MAX_DEVIATION_PCT) throw new Refusal(`The monthly deviation must be between 0 and ${MAX_DEVIATION_PCT} %.`);
  return { monthly_kwh: monthly, deviation_pct: deviation, hourly_shares: hourlyShares(shape) };
}

/** The four weights typed, each in [0, 1] and together 1, or a Refusal. */
export function weightsOf(typed) {
  const weights = {};
  for (const name of WEIGHT_NAMES) {
    const value = numberOf(typed[name], `The ${name} weight`);
    if (value < 0 || value > 1) throw new Refusal(`The ${name} weight must be between 0 and 1.`);
    weights[name] = value;
  }
  const total = WEIGHT_NAMES.reduce((sum, name) => sum + weights[name], 0);
  if (Math.abs(total - 1) > SUM_TOLERANCE) {
    throw new Refusal(`The four weights must add up to 1; these add up to ${Number(total.toFixed(6))}.`);
  }
  return weights;
}

/** The body of `POST /api/retail/rank`: an entered profile, or the account's own readings. */
export function rankBody({ account, profile, weights }) {
  return account ? { account, weights } : { profile, weights };
}

/** A plan's prices in words, in 10^-3 ether per kWh. */
export function priceText(price) {
  const per = (wei) => `${milliEtherPerKWh(wei)}e-3`;
  if (price.type === "flat") return `flat ${per(price.price_wei)}`;
  if (price.type === "time_of_use") return price.bands.map((b) => `${b.from}–${b.to} ${per(b.price_wei)}`).join(", ");
  let from = "0";
  return price.tiers
    .map((tier) => {
      const text = tier.up_to_wh === null ? `above ${from} kWh ${per(tier.price_wei)}` : `${from}–${kWh(tier.up_to_wh)} kWh ${per(tier.price_wei)}`;
      if (tier.up_to_wh !== null) from = kWh(tier.up_to_wh);
      return text;
    })
    .join(", ");
}

/** An index or score in [0, 1], three decimals. */
export const indexText = (value) => value.toFixed(3);

/** Outage hours a year over a plan's record. */
export function outageText(reliability) {
  const hours = reliability.reduce((sum, year) => sum + (year.outages * year.mean_minutes) / 60, 0);
  return `${Number(hours.toFixed(2))} h over ${reliability.length} year${reliability.length === 1 ? "" : "s"}`;
}

/** The cells of one ranked plan's row, in the table's order. */
export function rankedPlanCells(plan, rank) {
  return [
    String(rank),
    `#${plan.id}`,
    priceText(plan.price),
    `±${plan.deviation_band_bps / 100} %, ×${plan.deviation_multiplier_bps / 10_000}`,
    `${plan.months} months`,
    outageText(plan.reliability),
    indexText(plan.psri),
    indexText(plan.spi),
    indexText(plan.pdpi),
    indexText(plan.adi),
    indexText(plan.score),
    ether(plan.monthly_bill_wei),
  ];
}

export const STATE_WORDS = {
  proposed: "proposed, waiting for the other party",
  active: "active",
  completed: "completed",
  defaulted: "in default",
  cancelled: "cancelled",
};

const nameOr = (names, address) => names.get(address) ?? `${address.slice(0, 6)}…${address.slice(-4)}`;

/** One settled month in words: energy metered (or how it was settled), payments, shortfalls. */
export function monthText(month, names, contract) {
  const buyer = nameOr(names, contract.buyer);
  const seller = nameOr(names, contract.seller);
  const energy = (who, wh, metered) => `${who} ${kWh(wh)} kWh${metered ? "" : " (no reading: settled by the integrity rule)"}`;
  const parts = [
    `${month.label}: ${energy(buyer, month.buyer_wh, month.buyer_metered)}, ${energy(seller, month.seller_wh, month.seller_metered)}`,
    `${buyer} paid ${seller} ${ether(month.buyer_to_seller_wei)} ether`,
  ];
  if (BigInt(month.buyer_to_third_party_wei) > 0n) parts.push(`${buyer} paid the grid ${ether(month.buyer_to_third_party_wei)} for the excess`);
  if (BigInt(month.seller_to_third_party_wei) > 0n) parts.push(`${seller} paid the grid ${ether(month.seller_to_third_party_wei)} for the shortfall`);
  if (month.default) {
    const short = [];
    if (BigInt(month.buyer_shortfall_wei) > 0n) short.push(`${buyer} ${ether(month.buyer_shortfall_wei)}`);
    if (BigInt(month.seller_shortfall_wei) > 0n) short.push(`${seller} ${ether(month.seller_shortfall_wei)}`);
    parts.push(`DEFAULT: unpaid ${short.join(", ")} ether`);
  }
  return parts.join("; ");
}

/** A contract's deposits in words: held now, or what became of them. */
export function depositsText(contract) {
  const { deposits } = contract;
  if (deposits.released) {
    return `released: ${ether(deposits.released.to_buyer_wei)} to the buyer, ${ether(deposits.released.to_seller_wei)} to the seller`;
  }
  return `held: buyer ${ether(deposits.buyer_held_wei)}, seller ${ether(deposits.seller_held_wei)} (agreed ${ether(deposits.buyer_agreed_wei)} / ${ether(deposits.seller_agreed_wei)})`;
}

/** The cells of a contract's row, in the table's order. */
export function contractCells(contract, names) {
  const next = contract.next_settlement;
  return [
    `#${contract.id}`,
    STATE_WORDS[contract.state] ?? contract.state,
    nameOr(names, contract.buyer),
    nameOr(names, contract.seller),
    `${kWh(contract.monthly_wh)} kWh × ${contract.months} from month ${contract.first_month}`,
    `${milliEtherPerKWh(contract.direct_price_wei)}e-3 (grid ${milliEtherPerKWh(contract.catalogue_price_wei)}e-3)`,
    `${contract.settled_months} of ${contract.months}`,
    depositsText(contract),
    next ? `${next.label}${next.due ? " (due now)" : ""}` : "–",
  ];
}
