// The market contract as the page sees it: connection through the backend's /rpc proxy, units,
// the market clock, sealed bids kept in the browser, refusals in plain words.
import { ethers } from "/vendor/ethers.min.js";

export { ethers };

export const PHASES = ["Commit", "Reveal", "Matching", "Settlement"];
export const PHASE_WORDS = {
  Commit: "sealed bidding (commit)",
  Reveal: "opening of sealed bids (reveal)",
  Matching: "matching of the auction",
  Settlement: "settlement of the period that just ended",
};

// ------------------------------------------------------------------ units
// Energy is kept in Wh, prices in wei per kWh and money in wei, as the contract does; the page
// shows kWh, 10^-3 ether per kWh (the scale of the paper's prices) and ether.
const PRICE_DECIMALS = 15; // wei per kWh -> 10^-3 ether per kWh

export const MAX_UINT32 = 2n ** 32n - 1n;
export const MAX_UINT40 = 2n ** 40n - 1n;
export const MAX_UINT64 = 2n ** 64n - 1n;

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

// ------------------------------------------------------------------ refusals

/** A refusal to be shown to the user as it is: the page's own checks and decoded contract errors. */
export class Refusal extends Error {}

const PHASE_ARG = (value) => PHASE_WORDS[PHASES[Number(value)]] ?? `phase ${value}`;

// The contract's custom errors (IEnergyMarket.sol) in plain words.
const ERROR_WORDS = {
  NotOperator: () => "Only the market operator may do this.",
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
};

/** Revert data (0x + selector + arguments) inside an ethers or JSON-RPC error, if any. */
function revertData(error) {
  for (let cause = error; cause; cause = cause.error ?? cause.info?.error) {
    if (typeof cause.data === "string" && cause.data.startsWith("0x") && cause.data.length >= 10) return cause.data;
    if (typeof cause.data?.data === "string") return cause.data.data;
  }
  return null;
}

/** What went wrong, in words a prosumer understands. */
export function explain(error, contractInterface) {
  if (error instanceof Refusal) return error.message;
  const data = revertData(error);
  if (data && contractInterface) {
    const decoded = contractInterface.parseError(data);
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
  return error?.shortMessage ?? error?.message ?? String(error);
}

// ------------------------------------------------------------------ connection

/**
 * The market as the backend describes it (address, ABI, operator) and a provider that reaches
 * the chain through the backend's /rpc proxy, where only reads and raw transactions pass.
 */
export async function connect() {
  const reply = await fetch("/api/contract");
  if (!reply.ok) throw new Error(`The server has no market to trade on (/api/contract answered ${reply.status}).`);
  const description = await reply.json();
  const rpcUrl = new URL("/rpc", location.href).href;
  const provider = new ethers.JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, pollingInterval: 1000 });
  const contract = new ethers.Contract(description.address, description.abi, provider);
  const [schedule, operator, grid, network] = await Promise.all([
    contract.schedule(),
    contract.operator(),
    contract.grid(),
    provider.getNetwork(),
  ]);
  const clock = new MarketClock(schedule);
  await clock.synchronise(provider);
  return { provider, contract, clock, operator, grid, chainId: network.chainId, address: description.address };
}

// ------------------------------------------------------------------ clock

/**
 * Periods and phases from the contract's fixed schedule, as MarketClock.sol computes them,
 * on the page's clock corrected by how far the chain's clock runs ahead of it.
 */
export class MarketClock {
  constructor(schedule) {
    this.genesis = Number(schedule.genesisTime);
    this.length = Number(schedule.periodLength);
    this.ends = {
      Commit: Number(schedule.commitEnd),
      Reveal: Number(schedule.revealEnd),
      Matching: Number(schedule.settleStart),
      Settlement: Number(schedule.periodLength),
    };
    this.skew = 0;
  }

  /** A chain whose blocks are stamped ahead of this computer's time sets the pace. */
  async synchronise(provider) {
    const latest = await provider.getBlock("latest");
    this.skew = Math.max(0, latest.timestamp - Date.now() / 1000);
  }

  now() {
    return Date.now() / 1000 + this.skew;
  }

  periodStart(period) {
    return this.genesis + period * this.length;
  }

  /** {period, phase, offset, secondsLeft, phaseStart, phaseEnd} at `time` (seconds). */
  at(time = this.now()) {
    const period = time < this.genesis ? 0 : Math.floor((time - this.genesis) / this.length);
    const offset = Math.max(0, time - this.periodStart(period));
    const phase = PHASES.find((name) => offset < this.ends[name]) ?? "Settlement";
    const index = PHASES.indexOf(phase);
    const phaseStart = index === 0 ? 0 : this.ends[PHASES[index - 1]];
    return { period, phase, offset, phaseStart, phaseEnd: this.ends[phase], secondsLeft: this.ends[phase] - offset };
  }

  /** Seconds until the next commit window opens (0 while one is open). */
  secondsToCommit(time = this.now()) {
    const { period, phase } = this.at(time);
    return phase === "Commit" ? 0 : this.periodStart(period + 1) - time;
  }
}

export function duration(seconds) {
  const whole = Math.max(0, Math.ceil(seconds));
  const minutes = Math.floor(whole / 60);
  return `${minutes}:${String(whole % 60).padStart(2, "0")}`;
}

export function timeOfDay(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// ------------------------------------------------------------------ sealed bids

/**
 * The sealed bid sent at commit: keccak256(abi.encode(uint40 quantityWh, uint64 price, bytes32 salt,
 * address bidder)). Computed here rather than with the contract's commitmentOf view, so the bid
 * never leaves the browser before it is revealed.
 */
export function commitmentOf(quantityWh, price, salt, bidder) {
  const encoded = ethers.AbiCoder.defaultAbiCoder().encode(
    ["uint40", "uint64", "bytes32", "address"],
    [quantityWh, price, salt, bidder],
  );
  return ethers.keccak256(encoded);
}

export const newSalt = () => ethers.hexlify(ethers.randomBytes(32));

/**
 * The text a bidder signs to entrust a sealed bid to the market's keeper; the server rebuilds it
 * (entrust_message in backend/keeper.py) and accepts the bid only with the bidder's signature.
 */
export function entrustMessage(market, chainId, bidder, deliveryPeriod, quantityWh, price, salt) {
  return [
    "Entrust my sealed bid to the market's keeper, to be revealed for me.",
    `Market: ${ethers.getAddress(market)} (chain ${chainId})`,
    `Bidder: ${ethers.getAddress(bidder)}`,
    `Delivery period: ${deliveryPeriod}`,
    `Quantity: ${quantityWh} Wh`,
    `Price: ${price} wei/kWh`,
    `Salt: ${ethers.hexlify(salt)}`,
  ].join("\n");
}

/**
 * Bids this browser sealed, per market and bidder, by delivery period. The salt is the only way
 * to open a sealed bid: it is stored before the commit is sent, so a closed tab cannot lose it.
 */
export class BidStore {
  constructor(chainId, market, bidder) {
    this.key = `p2p.bids.${chainId}.${market.toLowerCase()}.${bidder.toLowerCase()}`;
  }

  all() {
    return JSON.parse(localStorage.getItem(this.key) ?? "{}");
  }

  get(deliveryPeriod) {
    return this.all()[deliveryPeriod] ?? null;
  }

  put(deliveryPeriod, bid) {
    const bids = this.all();
    bids[deliveryPeriod] = { ...bids[deliveryPeriod], ...bid };
    localStorage.setItem(this.key, JSON.stringify(bids));
  }
}
