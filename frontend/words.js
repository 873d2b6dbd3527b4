// What went wrong, in words a prosumer understands: the page's own refusals, the contract's
// custom errors (IEnergyMarket.sol) decoded from the revert data, and the usual failures of a
// wallet or a connection. Pure: the contract's interface is passed in.
import { PHASE_WORDS, PHASES } from "./clock.js";
import { Refusal } from "./refusal.js";
import { ether, kWh, milliEtherPerKWh } from "./units.js";

export { Refusal };

const PHASE_ARG = (value) => PHASE_WORDS[PHASES[Number(value)]] ?? `phase ${value}`;

// The contract's custom errors in plain words, from their arguments.
export const ERROR_WORDS = {
  NotOperator: () => "Only the market operator may do this.",
  NotContinuousBook: () => "Only the market's continuous book may record a continuous trade.",
  ContinuousBookAlreadySet: (a) => `The market's continuous book is already set (${a[0]}).`,
  NotRegistered: () => "This account is not registered in the market yet.",
  AlreadyRegistered: (a) => `This account is already registered (id ${a[1]}).`,
  InvalidName: (a) => `A name must be 1 to 31 bytes long (this one has ${a[0]}).`,
  NotAuthorized: () => "The operator has not authorized this account to trade yet.",
  GridCannotBid: () => "The public grid's account cannot bid.",
  InvalidMeter: () => "That meter address, meter number or rated power is not valid.",
  MeterAlreadyBound: (a) => `That meter is already bound to prosumer #${a[1]}.`,
  InvalidParameters: () =>
    "These parameters are not valid: the forfeit share is at most 100 %, and the prices must rise from the lowest bid price (above zero) to the reference price to the highest bid price.",
  NoMeterBound: () => "Bidding needs a smart meter bound to your account: ask the operator to bind one.",
  InvalidSchedule: () => "That market clock is not valid (each phase must end after the one before, within the period).",
  ZeroAmount: () => "The amount must be above zero.",
  InsufficientFreeBalance: (a) => `You asked for ${ether(a[0])} ether but only ${ether(a[1])} ether is free.`,
  TransferFailed: (a) => `The market could not pay ${ether(a[1])} ether out to ${a[0]}.`,
  WrongPhase: (a) => `This is only possible during ${PHASE_ARG(a[0])}; the market is in ${PHASE_ARG(a[1])} now.`,
  AlreadyCommitted: (a) => `You already sealed a bid for delivery period ${a[0]}.`,
  NoCommitment: (a) => `There is no sealed bid of yours for delivery period ${a[0]}.`,
  AlreadyRevealed: (a) => `Your bid for delivery period ${a[0]} is already open.`,
  CommitmentMismatch: () => "The bid does not match the one you sealed (different quantity, price or salt).",
  InvalidBid: () => "Quantity and price must both be above zero.",
  PriceOutOfBounds: (a) =>
    `A bid's price must lie between ${milliEtherPerKWh(a[1])}e-3 and ${milliEtherPerKWh(a[2])}e-3 ether/kWh; this one is ${milliEtherPerKWh(a[0])}e-3.`,
  BidAboveCapacity: (a) => `Your meter can measure at most ${kWh(a[1])} kWh in a period; this bid is for ${kWh(a[0])} kWh.`,
  ProceedsUnsettled: (a) => `Your sale proceeds of delivery period ${a[0]} still wait for its settlement; bid again once it is settled.`,
  InsufficientMargin: (a) => `Your wallet holds ${ether(a[0])} ether; bidding needs the margin of ${ether(a[1])} ether in it.`,
  InsufficientFunds: (a) => `Your wallet can spend ${ether(a[0])} ether beyond the margin; this bid may cost ${ether(a[1])} ether.`,
  InvalidHint: () => "The book changed while the bid was being opened; try again.",
  NothingToForfeit: () => "That account has no expired sealed bid.",
  InvalidBatchSize: () => "The batch size must be above zero.",
  AuctionNotClosed: (a) => `The auction for period ${a[0]} is still open.`,
  MatchingComplete: (a) => `Period ${a[0]} is already matched.`,
  MatchingNotComplete: (a) => `Period ${a[0]} is not matched yet.`,
  SettlementNotOpen: (a) => `Settlement of period ${a[0]} has not opened yet.`,
  SettlementComplete: (a) => `Period ${a[0]} is already settled.`,
  MeterNotBound: () => "That meter is not bound to a prosumer.",
  MeterNumberMismatch: (a) => `Wrong meter number: expected ${a[0]}, got ${a[1]}.`,
  ReadingTooEarly: (a) => `Readings for period ${a[0]} are accepted once it has ended.`,
  ReadingTooLate: (a) => `Readings for period ${a[0]} are no longer accepted.`,
  ReadingAlreadyPosted: (a) => `The reading for period ${a[0]} is already posted.`,
  ReadingAboveCapacity: (a) => `The meter can measure at most ${kWh(a[1])} kWh in a period; this reading says ${kWh(a[0])} kWh.`,
  // The continuous book's own (IContinuousBook.sol); its admission errors are the market's above.
  OutsideWindow: (a) => `Continuous trading for delivery period ${a[0]} is not open: it opens once its auction is matched and closes at gate closure.`,
  AuctionNotComplete: (a) => `The auction for delivery period ${a[0]} is not matched yet, so its continuous book cannot open.`,
  BookAlreadyOpen: (a) => `The continuous book of delivery period ${a[0]} is already open.`,
  InvalidGateLead: (a) => `A gate closure ${a[0]} s before delivery leaves no time after the reveal window.`,
  NotOwner: (a) => `Order #${a[1]} is not yours.`,
  NoRestingOrder: (a) => `You have no order resting in the book of delivery period ${a[0]}.`,
  OrderAlreadyResting: () => "You already have an order resting: re-price or cancel it instead.",
  // The storage stations' dispatch (IStationDispatch.sol), as a user meets them.
  NoStationAvailable: (a) =>
    Number(a[2]) === 0
      ? "You have no line to any station yet: the energy company sets them."
      : `None of the ${a[2]} stations you have a line to can ${Number(a[1]) === 0 ? "supply" : "take in"} energy now; try again later.`,
  RequestAlreadyOpen: () => "You already have a request open: cancel it first, or wait until it is complete.",
  NoOpenRequest: () => "You have no open request to cancel.",
  InvalidUnits: (a) => `A request is for 1 to 1000000 units; ${a[0]} is not.`,
  InvalidUser: () => "A station's own account cannot ask a station for energy.",
  // ... and as the energy company and the stations meet them.
  NotCompany: () => "Only the energy company may do this.",
  UnknownStation: (a) => `There is no station #${a[0]}.`,
  NotAStation: () => "This account is not a registered station.",
  StationAccountTaken: (a) => `That account is already station #${a[1]}.`,
  InvalidSettings: (a) => `The dispatch setting "${a[0]}" is not valid.`,
  InvalidStationState: (a) => `A station cannot store ${a[0]} kWh with a capacity of ${a[1]} kWh.`,
  InvalidThresholds: (a) => `Thresholds ${a[0]} and ${a[1]} kWh must be from 1 to the capacity, ${a[2]} kWh.`,
  InvalidLossRate: (a) => `A loss rate must be below 100 %; ${a[0]} parts per million is not.`,
  NoLine: (a) => `There is no line between ${a[0]} and station #${a[1]}.`,
  TooManyLines: (a) => `That user has the most lines allowed already (${a[1]}).`,
  NotConnected: (a) => `That user is not connected to station #${a[1]} now.`,
  ConnectionInForce: (a) => `That user's connection to station #${a[1]} still holds; it is assigned again after it.`,
  // ... and in the flows: rights held and paid, meters, readings, confirmation, settlement.
  InsufficientRights: (a) =>
    `Your rights at the dispatch are ${ether(a[1])}, and this request needs ${ether(a[2])}: deposit rights first.`,
  InvalidAmount: () => "An amount of rights must be above zero.",
  NotLedger: () => "Rights reach the dispatch only through the scheduling chain's ledger.",
  MeterTaken: (a) => `Meter ${a[0]} is already bound to ${a[1]}.`,
  AccountHasMeter: (a) => `That account already has meter ${a[1]}.`,
  ReadingPostedBefore: (a) =>
    `This meter's ${Number(a[2]) === 0 ? "supply" : "take-in"} reading of period ${a[1]} is already in.`,
  NothingToConfirm: (a) =>
    `Nothing is left to confirm for that user at station #${a[1]} in period ${a[2]}.`,
  ReadingsPending: (a) =>
    `Period ${a[2]} at station #${a[1]} waits for both meters' readings (until block time ${a[3]}).`,
  AlreadySettled: (a) => `Station #${a[0]} has already paid back for period ${a[1]}.`,
  NothingToTrade: () => "Nobody is on the other side of the book right now; a market order needs someone to trade with.",
};

/** Revert data (0x + selector + arguments) inside an ethers or JSON-RPC error, if any. */
export function revertData(error) {
  for (let cause = error; cause; cause = cause.error ?? cause.info?.error) {
    if (typeof cause.data === "string" && cause.data.startsWith("0x") && cause.data.length >= 10) return cause.data;
    if (typeof cause.data?.data === "string") return cause.data.data;
  }
  return null;
}

/**
 * Whether the node refused a transaction for a nonce another sender of the same key took first
 * (a keeper without a key of its own signs with the operator's, as the operator's page does):
 * nothing was sent, and signing again with a fresh nonce is safe.
 */
export function staleNonce(error) {
  if (error?.code === "NONCE_EXPIRED") return true;
  return error?.code === "UNKNOWN_ERROR" && /nonce/i.test(error.error?.message ?? "");
}

/** How often a transaction is signed again when another sender of its key took its nonce. */
const NONCE_RETRIES = 3;

/**
 * `send()`, signed again with the next nonce while the node refuses it for a nonce taken first:
 * another sender of the key (a keeper signing with the operator's) may send a few in a row.
 */
export async function sendWithFreshNonce(send) {
  for (let retry = 0; ; retry += 1) {
    try {
      return await send();
    } catch (error) {
      if (retry === NONCE_RETRIES || !staleNonce(error)) throw error;
    }
  }
}

/**
 * What went wrong, in words a prosumer understands; `contractInterface` (one, or a list: the
 * market's and the continuous book's) decodes custom errors.
 */
export function explain(error, contractInterface) {
  if (error instanceof Refusal) return error.message;
  const data = revertData(error);
  const interfaces = [contractInterface].flat().filter(Boolean);
  if (data && interfaces.length) {
    const decoded = interfaces.map((known) => known.parseError(data)).find(Boolean);
    if (decoded) {
      const words = ERROR_WORDS[decoded.name];
      return `Refused by the market: ${words ? words(decoded.args) : decoded.signature}`;
    }
  }
  if (error?.code === "ACTION_REJECTED") return "You cancelled the transaction in your wallet.";
  if (error?.code === "INSUFFICIENT_FUNDS") return "This account has not enough ether to pay for gas.";
  if (error?.code === "CALL_EXCEPTION" && error.receipt) {
    return "The transaction was mined but refused by the market (the phase may have changed while it waited).";
  }
  if (error?.code === "NETWORK_ERROR" || error?.code === "SERVER_ERROR" || error?.code === "TIMEOUT") {
    return "The market's server cannot be reached right now; nothing was sent.";
  }
  // ethers has no name for this answer of the node's: the node's own words say more.
  if (error?.code === "UNKNOWN_ERROR" && typeof error.error?.message === "string") {
    return `The market's chain answered: ${error.error.message}`;
  }
  return error?.shortMessage ?? error?.message ?? String(error);
}
