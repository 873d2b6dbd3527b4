// What every part of the page shares: the one state object, the helpers for the page's elements
// and the read API, the message line, and `transact`, through which every transaction is sent.
import { explain, Refusal, sendWithFreshNonce } from "./words.js";

/**
 * The market as `connect()` (market.js) describes it.
 * @typedef {Object} Market
 * @property {object} provider   ethers JsonRpcProvider on the backend's /rpc
 * @property {object} contract   ethers Contract of the market, read-only
 * @property {import("./clock.js").MarketClock} clock
 * @property {string} operator   the operator's address
 * @property {string} grid       the public grid's address
 * @property {bigint} chainId
 * @property {string} address    the market's address
 */

/**
 * The open account.
 * @typedef {Object} Account
 * @property {string} address
 * @property {object} signer     ethers Signer: a key kept in this browser, or a browser wallet
 * @property {boolean} injected  true when a browser wallet (window.ethereum) signs
 * @property {object} market     the market's contract connected to the signer
 * @property {import("./market.js").BidStore} bids  the bids sealed from this browser
 */

/**
 * What the page knows. `account`, `record` and `parameters` are null until an account is open.
 * @typedef {Object} PageState
 * @property {Market|null} market
 * @property {Account|null} account
 * @property {object|null} record      the account's AccountRecord (accountOf), fields by name
 * @property {object|null} parameters  the market's Parameters (parameters()), fields by name
 * @property {bigint} gasBalance       the account's ether for gas, in wei
 * @property {boolean} sending         a transaction of this page is on its way
 * @property {boolean} revealing       an automatic reveal is under way
 * @property {number} lastRevealTry    when an automatic reveal was last tried (Unix seconds)
 * @property {number} refreshes        refreshes since the results were last redrawn
 * @property {ContinuousBook|null} book  the continuous book, once the server names one
 * @property {Stations|null} stations  the storage stations, when the server serves a dispatch contract
 */

/**
 * The storage stations (stations.js) on the scheduling chain.
 * @typedef {Object} Stations
 * @property {string} address    the StationDispatch contract
 * @property {object} contract   ethers Contract of it, read-only, on /rpc/scheduling
 * @property {object} provider   ethers JsonRpcProvider on /rpc/scheduling
 * @property {object} view       /api/stations: k and every station's state
 * @property {object|null} user  /api/stations/users/<address>: the account's lines, request and gas there
 */

/**
 * The continuous book (continuous.js) as last read from /api/continuous.
 * @typedef {Object} ContinuousBook
 * @property {string} address
 * @property {object} contract   ethers Contract of the book, read-only
 * @property {object} view       /api/continuous: period, open, gate closure, levels per side
 * @property {object|null} order /api/continuous/orders/<address>: the account's resting order
 * @property {object[]} trades   /api/continuous/trades/<d>: the period's continuous trades
 */

/** @type {PageState} */
export const state = {
  market: null,
  account: null,
  record: null,
  parameters: null,
  gasBalance: 0n,
  sending: false,
  revealing: false,
  lastRevealTry: 0,
  refreshes: 0,
  book: null,
  stations: null,
};

export const $ = (id) => document.getElementById(id);

/** A read API answer as JSON; its error message when it answers with one. */
export async function getJson(path) {
  const reply = await fetch(path);
  const answer = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(answer.error ?? `${path} answered HTTP ${reply.status}`);
  return answer;
}

export const isOperator = () => state.account.address.toLowerCase() === state.market.operator.toLowerCase();

// ------------------------------------------------------------------ messages

let messageTimer;

/** One line at the top of the page saying what is happening or what went wrong. */
export function say(text, kind = "info") {
  const box = $("message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = false;
  clearTimeout(messageTimer);
  if (kind === "ok") messageTimer = setTimeout(() => (box.hidden = true), 15000);
}

export const sayError = (error) =>
  say(
    explain(error, [state.market?.contract.interface, state.book?.contract.interface, state.stations?.contract.interface]),
    "error",
  );

/** Runs a button's action, showing any refusal or failure in plain words. */
export function action(handler) {
  return async (event) => {
    event?.preventDefault();
    try {
      await handler(event);
    } catch (error) {
      sayError(error);
    }
  };
}

/** Shows in the element `id` that its part of the page cannot be shown now, and why. */
export const noteIn = (id) => (error) => ($(id).textContent = `Cannot show this now: ${explain(error)}`);

// ------------------------------------------------------------------ refreshing

let redraw = async () => {};
let refreshing = null;
let refreshQueued = null;

/** What a refresh draws (app.js sets it once, from the features' views). */
export function onRefresh(draw) {
  redraw = draw;
}

/**
 * Redraws everything that depends on the chain. Calls made while a refresh runs share one more
 * refresh after it, so what a finished transaction changed is always read.
 */
export function refresh() {
  if (!refreshing) {
    refreshing = redraw().finally(() => (refreshing = null));
    return refreshing;
  }
  refreshQueued ??= refreshing.then(() => {
    refreshQueued = null;
    return refresh();
  });
  return refreshQueued;
}

// ------------------------------------------------------------------ transactions

/**
 * Sends one transaction: `send()` signs it and hands it to /rpc (the node first estimates its
 * gas, which is where the contract refuses with a custom error before anything is mined).
 * `gasBalance` is the account's ether on the chain it goes to (the market's by default).
 */
export async function transact(description, send, gasBalance = state.gasBalance) {
  if (state.sending) throw new Refusal("Another transaction is still on its way; wait for it to finish.");
  if (gasBalance === 0n && !state.account.injected) {
    throw new Refusal("This account has no ether to pay for gas; ask the operator to send some to your address.");
  }
  state.sending = true;
  let receipt;
  try {
    say(`${description}…`);
    const tx = await sendWithFreshNonce(send);
    say(`${description}: waiting for the next block…`);
    receipt = await tx.wait();
  } finally {
    state.sending = false;
    state.refreshes = 0; // the next refresh also redraws results and the operator's tables
    await refresh();
  }
  // Said only once the page shows the new state: the caller's follow-up (a form reset) then runs
  // in the same task, before anyone can type into the form again.
  say(`${description}: done.`, "ok");
  return receipt;
}
