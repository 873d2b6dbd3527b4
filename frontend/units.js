// Amounts as the contract keeps them and as the page shows them. Energy is kept in Wh, prices in
// wei per kWh and money in wei; the page shows kWh, 10^-3 ether per kWh (the scale of the paper's
// prices) and ether. Pure: no page, no network.
import { ethers } from "ethers";
import { Refusal } from "./refusal.js";

const PRICE_DECIMALS = 15; // wei per kWh -> 10^-3 ether per kWh

export const kWh = (wh) => trimDecimals(ethers.formatUnits(BigInt(wh), 3), 3);
export const kW = (watts) => trimDecimals(ethers.formatUnits(BigInt(watts), 3), 3);
export const ether = (wei, digits = 6) => trimDecimals(ethers.formatEther(BigInt(wei)), digits);
export const milliEtherPerKWh = (weiPerKWh) => trimDecimals(ethers.formatUnits(BigInt(weiPerKWh), PRICE_DECIMALS), 4);
/** Small amounts (balancing, rewards) in 10^-3 ether, signed, as the paper reports them. */
export const signedMilliEther = (wei) =>
  (BigInt(wei) > 0n ? "+" : "") + trimDecimals(ethers.formatUnits(BigInt(wei), 15), 4);

export const parseKWh = (text) => parseAmount(text, 3, "An energy in kWh has at most 3 decimals (whole Wh).");
export const parseKW = (text) => parseAmount(text, 3, "A power in kW has at most 3 decimals (whole W).");
export const parseEther = (text) => parseAmount(text, 18, "An amount of ether has at most 18 decimals.");
export const parseMilliEtherPerKWh = (text) =>
  parseAmount(text, PRICE_DECIMALS, "A price in 10^-3 ether per kWh has at most 15 decimals (whole wei).");

/** A decimal number typed by the user as an integer of the contract's unit, or a Refusal. */
function parseAmount(text, decimals, tooPrecise) {
  const value = String(text).trim().replace(",", ".");
  if (!/^\d+(\.\d+)?$/.test(value)) throw new Refusal(`"${text}" is not a positive number.`);
  if ((value.split(".")[1] ?? "").length > decimals) throw new Refusal(tooPrecise);
  return ethers.parseUnits(value, decimals);
}

function trimDecimals(text, digits) {
  const [whole, fraction = ""] = text.split(".");
  const kept = fraction.slice(0, digits).replace(/0+$/, "");
  return kept ? `${whole}.${kept}` : whole;
}

/** Wei paid for `wh` at `price` wei per kWh, rounded down like the contract's MarketMath.cost. */
export const cost = (wh, price) => (BigInt(wh) * BigInt(price)) / 1000n;

/** Wh a meter of `ratedPowerW` can measure in `seconds`, rounded down like MarketMath.capacityWh. */
export const capacityWh = (ratedPowerW, seconds) => (BigInt(ratedPowerW) * BigInt(seconds)) / 3600n;

export const shortAddress = (address) => `${address.slice(0, 6)}…${address.slice(-4)}`;

// The contract's integer widths, for checking input before anything is sent.
export const MAX_UINT32 = 2n ** 32n - 1n;
export const MAX_UINT40 = 2n ** 40n - 1n;
export const MAX_UINT64 = 2n ** 64n - 1n;
