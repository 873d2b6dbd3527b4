// The trading page: connects to the market, keeps the clock running, and redraws each part of
// the page (account, money, bid, continuous trading, results, retail, operator, sister chains, storage stations) from the state they share (shared.js).
import { showRegistration, showSavedAccounts, wireAccount } from "./account.js";
import { revealIfDue, showBid, wireBids } from "./bid.js";
import { duration, PHASE_WORDS } from "./clock.js";
import { showContinuous, showWindow, wireContinuous } from "./continuous.js";
import { connect } from "./market.js";
import { showMoney, wireMoney } from "./money.js";
import { showOperator } from "./operator.js";
import { showResults } from "./results.js";
import { showRetail } from "./retail.js";
import { $, isOperator, noteIn, onRefresh, refresh, say, state } from "./shared.js";
import { loadSister, showSister, wireSister } from "./sister.js";
import { loadStations, showStations, wireStations } from "./stations.js";
import { explain } from "./words.js";

const REFRESH_SECONDS = 2;
const RESULTS_EVERY = 3; // refreshes between two loads of the results

// ------------------------------------------------------------------ clock

function showClock() {
  const { clock } = state.market;
  const now = clock.at();
  $("clock-period").textContent = now.period;
  $("clock-phase").textContent = PHASE_WORDS[now.phase];
  $("clock-phase").dataset.phase = now.phase;
  $("clock-left").textContent = duration(now.secondsLeft);
  $("clock-note").textContent =
    now.phase === "Commit" || now.phase === "Reveal"
      ? `bids now are for delivery period ${now.period + 1}`
      : `next sealed bidding in ${duration(clock.secondsToCommit())}, for delivery period ${now.period + 2}`;
  for (const segment of $("phase-bar").children) {
    segment.classList.toggle("current", segment.dataset.phase === now.phase);
  }
  $("phase-bar").style.setProperty("--progress", `${(100 * now.offset) / clock.length}%`);
  if (state.account && state.record) showBid(now);
  showWindow();
}

function drawPhaseBar() {
  const { clock } = state.market;
  const bar = $("phase-bar");
  let start = 0;
  for (const phase of Object.keys(clock.ends)) {
    const segment = document.createElement("div");
    segment.dataset.phase = phase;
    segment.style.flexGrow = clock.ends[phase] - start;
    segment.textContent = `${phase} ${duration(clock.ends[phase] - start)}`;
    bar.append(segment);
    start = clock.ends[phase];
  }
}

// ------------------------------------------------------------------ refresh

/** Reads the open account's state from the chain and redraws every part that depends on it. */
async function readAndShow() {
  const { account, market } = state;
  if (!account) return;
  try {
    const [gasBalance, record, parameters] = await Promise.all([
      market.provider.getBalance(account.address),
      market.contract.accountOf(account.address),
      market.contract.parameters(),
    ]);
    if (state.account !== account) return; // closed meanwhile
    Object.assign(state, { gasBalance, record, parameters });
  } catch (error) {
    say(`Cannot read the market right now: ${explain(error)}`, "error");
    return;
  }
  showMoney();
  showRegistration();
  showBid(market.clock.at());
  // Not awaited: the reveal's own transaction refreshes the page when it is mined.
  revealIfDue();
  $("operator-card").hidden = !isOperator();
  if (state.refreshes++ % RESULTS_EVERY === 0) {
    // Results and the operator's tables come from the read API; trouble there is shown in
    // their own cards and never stops the account's own figures from refreshing.
    await Promise.all([
      state.record.id > 0n && !state.record.isGrid ? showResults().catch(noteIn("results-summary")) : null,
      isOperator() ? showOperator().catch(noteIn("keeper-status")) : null,
      state.record.id > 0n || isOperator() ? showRetail().catch(noteIn("ranked-profile")) : null,
    ]);
  }
  // Every refresh: a transfer's confirmations and the continuous book move with every block.
  await Promise.all([
    showSister().catch(noteIn("sister-note")),
    showStations().catch(noteIn("stations-note")),
    state.record.id > 0n && !state.record.isGrid ? showContinuous().catch(noteIn("book-window")) : null,
  ]);
}

// ------------------------------------------------------------------ start

async function start() {
  wireAccount();
  wireMoney();
  wireBids();
  wireSister();
  wireStations();
  wireContinuous();
  onRefresh(readAndShow);
  try {
    state.market = await connect();
  } catch (error) {
    say(explain(error), "error");
    return;
  }
  await Promise.all([loadSister(), loadStations()]);
  drawPhaseBar();
  showSavedAccounts();
  showClock();
  setInterval(showClock, 250);
  setInterval(refresh, REFRESH_SECONDS * 1000);
  document.body.dataset.ready = "true";
}

start();
