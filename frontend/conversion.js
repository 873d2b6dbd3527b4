// The sister chains' conversions as the page checks and shows them: tokens (the trading chain)
// to energy rights (the scheduling chain) and back, through the transaction lock. Pure: no page,
// no network.
import { Refusal } from "./refusal.js";

/** Each direction: the chain its lock is sent on, the chain that releases, what moves. */
export const DIRECTIONS = {
  tokens_to_rights: { source: "trading", destination: "scheduling", gives: "tokens", gets: "rights" },
  rights_to_tokens: { source: "scheduling", destination: "trading", gives: "rights", gets: "tokens" },
};

/** What a lock of `amount` releases on a chain whose lock's rate is [numerator, denominator]:
 *  rounded down, as the contract's ExchangeRate.convert. */
export const released = (amount, [numerator, denominator]) =>
  (BigInt(amount) * BigInt(numerator)) / BigInt(denominator);

/** A whole number of units typed by the user, or a Refusal. */
export function parseUnits(text) {
  const value = String(text).trim();
  if (!/^\d{1,38}$/.test(value)) throw new Refusal(`"${text}" is not a whole number of units.`);
  const amount = BigInt(value);
  if (amount === 0n) throw new Refusal("The amount must be above zero.");
  return amount;
}

/**
 * A conversion the user asks for, checked as the lock checks it before anything is signed:
 * `balances` and `gas` by chain name (bigint), `rates` by chain name (the rate applied there).
 * @returns {{amount: bigint, source: string, destination: string, released: bigint, gives: string, gets: string}}
 */
export function checkConversion(directionName, text, { balances, gas, rates }) {
  const direction = DIRECTIONS[directionName];
  if (!direction) throw new Refusal(`Unknown conversion "${directionName}".`);
  const amount = parseUnits(text);
  const held = BigInt(balances[direction.source]);
  if (amount > held) {
    throw new Refusal(`You hold ${held} ${direction.gives} on the ${direction.source} chain; ${amount} is more.`);
  }
  if (BigInt(gas[direction.source]) === 0n) {
    throw new Refusal(`This account has no ether for gas on the ${direction.source} chain; ask the operator for some.`);
  }
  const out = released(amount, rates[direction.destination]);
  if (out === 0n) throw new Refusal(`${amount} ${direction.gives} would release nothing at this rate.`);
  return { ...direction, amount, released: out };
}

/** A transfer's progress (as /api/sister/accounts/<address> lists it) in words. */
export function progressText(transfer) {
  if (transfer.state === "unlocked") return `unlocked: ${transfer.unlock.released} released on the ${transfer.to} chain`;
  if (transfer.state === "confirmed") {
    return `confirmations ${transfer.required} / ${transfer.required}: waiting for the relayer's unlock`;
  }
  return `locked: confirmations ${transfer.confirmations} / ${transfer.required}`;
}

/** Transfers in flight (not yet unlocked). */
export const inFlight = (transfers) => transfers.filter((transfer) => transfer.state !== "unlocked");
