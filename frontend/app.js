// The trading page: opens the prosumer's account, shows the market clock and the account's
// money, and sends registration, deposits, withdrawals and sealed bids, all signed here.
import {
  BidStore,
  MAX_UINT40,
  MAX_UINT64,
  PHASES,
  PHASE_WORDS,
  Refusal,
  capacityWh,
  commitmentOf,
  connect,
  cost,
  duration,
  entrustMessage,
  ether,
  explain,
  kW,
  kWh,
  milliEtherPerKWh,
  newSalt,
  parseEther,
  parseKWh,
  parseMilliEtherPerKWh,
} from "./market.js";
import * as keys from "./keys.js";
import { showResults } from "./results.js";
import { showOperator } from "./operator.js";

const $ = (id) => document.getElementById(id);

const REFRESH_SECONDS = 2;
const RESULTS_EVERY = 3; // refreshes between two loads of the results

/** What the page knows; `account` is null until an account is opened. */
const page = {
  market: null, // from market.connect()
  account: null, // { address, signer, market (contract connected to the signer), bids (BidStore) }
  record: null, // the account's record in the market (accountOf)
  parameters: null,
  gasBalance: 0n,
  sending: false,
  revealing: false, // an automatic reveal is under way
  lastRevealTry: 0,
  refreshes: 0,
};

// ------------------------------------------------------------------ messages

let messageTimer;

/** One line at the top of the page saying what is happening or what went wrong. */
function say(text, kind = "info") {
  const box = $("message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = false;
  clearTimeout(messageTimer);
  if (kind === "ok") messageTimer = setTimeout(() => (box.hidden = true), 15000);
}

const sayError = (error) => say(explain(error, page.market?.contract.interface), "error");

/** Runs a button's action, showing any refusal or failure in plain words. */
function action(handler) {
  return async (event) => {
    event?.preventDefault();
    try {
      await handler(event);
    } catch (error) {
      sayError(error);
    }
  };
}

const CHAIN_CLOCK_WAIT_SECONDS = 6;

/**
 * Waits until the chain's own clock is in `phase`. The next block's time decides whether the
 * contract accepts a commit or a reveal, and it can lag this page's clock by a block (an
 * embedded test chain stamps a block with the time its predecessor was sealed).
 */
async function chainReaches(phase) {
  const { contract } = page.market;
  for (let waited = 0; ; waited += 0.5) {
    const [, current] = await contract.currentPhase({ blockTag: "pending" });
    if (PHASES[Number(current)] === phase) return;
    if (waited >= CHAIN_CLOCK_WAIT_SECONDS) {
      throw new Refusal(`The chain is in ${PHASE_WORDS[PHASES[Number(current)]]}, not ${PHASE_WORDS[phase]}; nothing was sent.`);
    }
    say(`Waiting for the chain's clock to reach ${PHASE_WORDS[phase]}…`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Sends one transaction: `send()` signs it and hands it to /rpc (the node first estimates its
 * gas, which is where the contract refuses with a custom error before anything is mined).
 */
async function transact(description, send) {
  if (page.sending) throw new Refusal("Another transaction is still on its way; wait for it to finish.");
  if (page.gasBalance === 0n && !page.account.injected) {
    throw new Refusal("This account has no ether to pay for gas; ask the operator to send some to your address.");
  }
  page.sending = true;
  let receipt;
  try {
    say(`${description}…`);
    const tx = await send();
    say(`${description}: waiting for the next block…`);
    receipt = await tx.wait();
  } finally {
    page.sending = false;
    page.refreshes = 0; // the next refresh also redraws results and the operator's tables
    await refresh();
  }
  // Said only once the page shows the new state: the caller's follow-up (a form reset) then runs
  // in the same task, before anyone can type into the form again.
  say(`${description}: done.`, "ok");
  return receipt;
}

// ------------------------------------------------------------------ clock

function showClock() {
  const { clock } = page.market;
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
  if (page.account && page.record) showBid(now);
}

function drawPhaseBar() {
  const { clock } = page.market;
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

// ------------------------------------------------------------------ account

function showSavedAccounts() {
  const saved = keys.savedAccounts();
  $("unlock-saved").hidden = saved.length === 0;
  $("create-account").open = saved.length === 0;
  $("unlock-address").replaceChildren(...saved.map((address) => new Option(address, address)));
  $("injected-wallet").hidden = !keys.hasInjectedWallet();
}

const progressSay = (what) => (fraction) => say(`${what}… ${Math.round(fraction * 100)} %`);

async function openAccount(signer, injected = false) {
  const { market } = page;
  const address = await signer.getAddress();
  page.account = {
    address,
    signer,
    injected,
    market: market.contract.connect(signer),
    bids: new BidStore(market.chainId, market.address, address),
  };
  $("account-locked").hidden = true;
  $("account-open").hidden = false;
  $("my-address").textContent = address;
  $("backup-key").hidden = injected;
  await refresh();
  say(`Account ${address} is open.`, "ok");
}

function closeAccount() {
  page.account = page.record = null;
  for (const id of ["account-open", "registration-card", "money-card", "bid-card", "results-card", "operator-card"]) {
    $(id).hidden = true;
  }
  $("account-locked").hidden = false;
  showSavedAccounts();
}

function localSigner(wallet) {
  return wallet.connect(page.market.provider);
}

function wireAccountForms() {
  $("create-form").addEventListener(
    "submit",
    action(async () => {
      const password = $("create-password").value;
      if (password !== $("create-password-again").value) throw new Refusal("The two passwords differ.");
      const wallet = await keys.createAccount(password, progressSay("Encrypting your new key"));
      $("create-form").reset();
      await openAccount(localSigner(wallet));
    }),
  );
  $("unlock-form").addEventListener(
    "submit",
    action(async () => {
      const wallet = await keys.unlock($("unlock-address").value, $("unlock-password").value, progressSay("Decrypting your key"));
      $("unlock-form").reset();
      await openAccount(localSigner(wallet));
    }),
  );
  $("import-file").addEventListener("change", async () => {
    const [file] = $("import-file").files;
    if (file) $("import-secret").value = await file.text();
  });
  $("import-form").addEventListener(
    "submit",
    action(async () => {
      const secret = $("import-secret").value.trim();
      const password = $("import-password").value;
      const wallet = secret.startsWith("{")
        ? await keys.importKeystore(secret, password, progressSay("Opening the keystore"))
        : await keys.importPrivateKey(secret, password, progressSay("Encrypting the key"));
      $("import-form").reset();
      await openAccount(localSigner(wallet));
    }),
  );
  $("use-injected").addEventListener(
    "click",
    action(async () => {
      const signer = await keys.injectedSigner();
      const { chainId } = await signer.provider.getNetwork();
      if (chainId !== page.market.chainId) {
        throw new Refusal(`Your wallet is on chain ${chainId}; switch it to the market's chain ${page.market.chainId} first.`);
      }
      await openAccount(signer, true);
    }),
  );
  $("close-account").addEventListener("click", closeAccount);
  $("backup-key").addEventListener("click", () => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([keys.keystoreOf(page.account.address)], { type: "application/json" }));
    link.download = `p2p-market-key-${page.account.address}.json`;
    link.click();
  });
}

// ------------------------------------------------------------------ refresh

let refreshing = null;
let refreshQueued = null;

/**
 * Reads the account's state from the chain and redraws everything that depends on it. Calls
 * made while a refresh runs share one more refresh after it, so what a finished transaction
 * changed is always read.
 */
function refresh() {
  if (!refreshing) {
    refreshing = readAndShow().finally(() => (refreshing = null));
    return refreshing;
  }
  refreshQueued ??= refreshing.then(() => {
    refreshQueued = null;
    return refresh();
  });
  return refreshQueued;
}

async function readAndShow() {
  const { account, market } = page;
  if (!account) return;
  try {
    const [gasBalance, record, parameters] = await Promise.all([
      market.provider.getBalance(account.address),
      market.contract.accountOf(account.address),
      market.contract.parameters(),
    ]);
    if (page.account !== account) return; // closed meanwhile
    Object.assign(page, { gasBalance, record, parameters });
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
  if (page.refreshes++ % RESULTS_EVERY === 0) {
    // Results and the operator's tables come from the read API; trouble there is shown in
    // their own cards and never stops the account's own figures from refreshing.
    await Promise.all([
      page.record.id > 0n && !page.record.isGrid ? showResults(page).catch(noteIn("results-summary")) : null,
      isOperator() ? showOperator(page, { transact, action }).catch(noteIn("keeper-status")) : null,
    ]);
  }
}

const noteIn = (id) => (error) => ($(id).textContent = `Cannot show this now: ${explain(error)}`);

function showMoney() {
  const { record, parameters, gasBalance } = page;
  $("my-gas").textContent = ether(gasBalance);
  $("gas-warning").hidden = gasBalance > 0n || page.account.injected;
  $("my-wallet").textContent = ether(record.wallet);
  $("my-margin").textContent = ether(record.wallet - record.freeBalance);
  $("margin-rule").textContent = `${ether(parameters.margin)} ether`;
  $("my-proceeds").textContent = record.lockedProceeds > 0n
    ? `, and ${ether(record.lockedProceeds)} ether of sales until their period is settled`
    : "";
  $("my-free").textContent = ether(record.freeBalance);
}

const isOperator = () => page.account.address.toLowerCase() === page.market.operator.toLowerCase();

const roleOf = (record) => `${record.green ? "green " : ""}${record.producer ? "producer" : "consumer"}`;

function showRegistration() {
  const { record } = page;
  const registered = record.id > 0n;
  // The operator runs the market and need not trade in it.
  $("registration-card").hidden = !registered && isOperator();
  $("register-form").hidden = registered;
  $("registration-status").hidden = !registered;
  for (const id of ["money-card", "bid-card", "results-card"]) $(id).hidden = !registered || record.isGrid;
  if (!registered) return;
  $("my-name").textContent = record.name;
  $("my-role").textContent = record.isGrid ? "public grid" : roleOf(record);
  $("my-id").textContent = record.id;
  const authorization = $("my-authorization");
  authorization.textContent = record.authorized
    ? "The operator has authorized you to trade."
    : "Waiting for the operator to authorize you to trade.";
  authorization.className = record.authorized ? "ok" : "warning";
  $("my-meter").textContent =
    record.meterNumber > 0n
      ? `Meter no. ${record.meterNumber} (account ${record.meter}), rated ${kW(record.ratedPowerW)} kW: ` +
        `at most ${kWh(meterCapacity())} kWh a period.`
      : "No meter bound yet: bidding needs one (ask the operator).";
  $("bid-quantity-label").textContent = record.producer ? "Energy to sell" : "Energy to buy";
  $("bid-price-label").textContent = record.producer ? "Lowest price" : "Highest price";
}

function wireRegistration() {
  $("register-form").addEventListener(
    "submit",
    action(async () => {
      const name = $("register-name").value.trim();
      const bytes = new TextEncoder().encode(name).length;
      if (bytes === 0 || bytes > 31) throw new Refusal("Give a name of 1 to 31 characters.");
      const producer = document.querySelector('input[name="role"]:checked').value === "producer";
      const green = $("register-green").checked;
      await transact(`Registering ${name}`, () => page.account.market.register(name, producer, green));
    }),
  );
}

// ------------------------------------------------------------------ money

function requireRegistered() {
  if (!page.record || page.record.id === 0n) throw new Refusal("Register first.");
}

function wireMoney() {
  $("deposit-form").addEventListener(
    "submit",
    action(async () => {
      requireRegistered();
      const amount = parseEther($("deposit-amount").value);
      if (amount === 0n) throw new Refusal("The amount must be above zero.");
      if (!page.account.injected && amount >= page.gasBalance) {
        throw new Refusal(`This account holds ${ether(page.gasBalance)} ether; keep some of it for gas.`);
      }
      await transact(`Depositing ${ether(amount)} ether`, () => page.account.market.deposit({ value: amount }));
      $("deposit-form").reset();
    }),
  );
  $("withdraw-form").addEventListener(
    "submit",
    action(async () => {
      requireRegistered();
      const amount = parseEther($("withdraw-amount").value);
      if (amount === 0n) throw new Refusal("The amount must be above zero.");
      if (amount > page.record.freeBalance) {
        throw new Refusal(
          `Only ${ether(page.record.freeBalance)} ether is free to withdraw; the margin of an open bid, and what a sale brought, stay locked until the period is settled.`,
        );
      }
      await transact(`Withdrawing ${ether(amount)} ether`, () => page.account.market.withdraw(amount));
      $("withdraw-form").reset();
    }),
  );
}

// ------------------------------------------------------------------ bids

/** The bid entered in the form, in contract units, checked as the contract will check it. */
/** What the account's meter can measure in one period (Wh). */
const meterCapacity = () => capacityWh(page.record.ratedPowerW, page.market.clock.length);

function bidFromForm() {
  const { record, parameters } = page;
  requireRegistered();
  if (!record.authorized) throw new Refusal("The operator has not authorized you to trade yet.");
  const quantityWh = parseKWh($("bid-quantity").value);
  const price = parseMilliEtherPerKWh($("bid-price").value);
  if (quantityWh === 0n || quantityWh > MAX_UINT40) throw new Refusal("Enter a quantity above zero (whole Wh).");
  if (price === 0n || price > MAX_UINT64) throw new Refusal("Enter a price above zero.");
  // A sealed bid the contract refuses at reveal forfeits part of the margin: check first.
  if (record.ratedPowerW === 0n) throw new Refusal("Bidding needs a smart meter bound to your account: ask the operator to bind one.");
  if (price < parameters.priceFloor || price > parameters.priceCap) {
    throw new Refusal(
      `A bid's price must lie between ${milliEtherPerKWh(parameters.priceFloor)}e-3 and ${milliEtherPerKWh(parameters.priceCap)}e-3 ether/kWh.`,
    );
  }
  if (quantityWh > meterCapacity()) {
    throw new Refusal(`Your meter can measure at most ${kWh(meterCapacity())} kWh in a period: bid less.`);
  }
  if (record.producer) {
    if (record.wallet < parameters.margin) {
      throw new Refusal(
        `Bidding needs the margin of ${ether(parameters.margin)} ether in your wallet, which holds ${ether(record.wallet)}: deposit first.`,
      );
    }
  } else {
    const spendable = record.wallet > parameters.margin ? record.wallet - parameters.margin : 0n;
    const required = cost(quantityWh, price);
    if (spendable < required) {
      throw new Refusal(
        `Buying ${kWh(quantityWh)} kWh at up to ${milliEtherPerKWh(price)}e-3 ether/kWh may cost ${ether(required)} ether, ` +
          `but your wallet can spend only ${ether(spendable)} ether beyond the ${ether(parameters.margin)} ether margin: deposit more or bid less.`,
      );
    }
  }
  return { quantityWh, price };
}

function wireBids() {
  $("bid-form").addEventListener(
    "submit",
    action(async () => {
      const { clock } = page.market;
      const now = clock.at();
      if (now.phase !== "Commit") {
        throw new Refusal(
          `Bids are sealed only in the commit window (the first ${duration(clock.ends.Commit)} of each period). ` +
            `The next one opens in ${duration(clock.secondsToCommit())}.`,
        );
      }
      const deliveryPeriod = now.period + 1;
      if (Number(page.record.lastBidPeriod) === deliveryPeriod) {
        throw new Refusal(`You already sealed a bid for delivery period ${deliveryPeriod}.`);
      }
      const { quantityWh, price } = bidFromForm();
      const entrust = $("bid-entrust").checked;
      const salt = newSalt();
      const sealed = commitmentOf(quantityWh, price, salt, page.account.address);
      // Kept before sending: without the salt a sealed bid can never be opened.
      page.account.bids.put(deliveryPeriod, { quantityWh: String(quantityWh), price: String(price), salt, entrust });
      await chainReaches("Commit");
      await transact(`Sealing your bid for delivery period ${deliveryPeriod}`, () => page.account.market.commit(sealed));
      if (entrust) await entrustToKeeper(deliveryPeriod, { quantityWh, price, salt });
      $("bid-form").reset();
    }),
  );
  $("reveal-now").addEventListener("click", action(() => reveal()));
  $("auto-reveal").addEventListener("change", () => (page.lastRevealTry = 0));
}

async function entrustToKeeper(deliveryPeriod, { quantityWh, price, salt }) {
  const { address, signer } = page.account;
  const message = entrustMessage(page.market.address, page.market.chainId, address, deliveryPeriod, quantityWh, price, salt);
  const reply = await fetch("/api/entrust", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      bidder: address,
      delivery_period: deliveryPeriod,
      quantity_wh: String(quantityWh),
      price_wei: String(price),
      salt,
      signature: await signer.signMessage(message),
    }),
  });
  if (reply.ok) {
    say(`Your bid for delivery period ${deliveryPeriod} is sealed; the keeper will reveal it for you.`, "ok");
    return;
  }
  const answer = await reply.json().catch(() => ({}));
  page.account.bids.put(deliveryPeriod, { entrust: false });
  say(
    `Your bid is sealed, but the keeper did not take it (${answer.error ?? `HTTP ${reply.status}`}); ` +
      "keep this page open so it reveals the bid itself.",
    "error",
  );
}

/** The bid of the running auction as this browser and the chain know it. */
function currentBid(now) {
  const deliveryPeriod = now.period + 1;
  const onChain = Number(page.record.lastBidPeriod) === deliveryPeriod;
  return {
    deliveryPeriod,
    onChain,
    revealedAs: onChain ? Number(page.record.lastBidId) : 0,
    kept: page.account.bids.get(deliveryPeriod),
  };
}

async function reveal() {
  const { clock, contract } = page.market;
  const now = clock.at();
  const bid = currentBid(now);
  if (now.phase !== "Reveal") {
    throw new Refusal(`Sealed bids are opened only in the reveal window; the market is in ${PHASE_WORDS[now.phase]} now.`);
  }
  if (!bid.onChain) throw new Refusal(`You have no sealed bid for delivery period ${bid.deliveryPeriod}.`);
  if (bid.revealedAs) throw new Refusal(`Your bid for delivery period ${bid.deliveryPeriod} is already open.`);
  if (!bid.kept) throw new Refusal("This bid was sealed in another browser; only that browser holds its salt.");
  const { quantityWh, price, salt } = bid.kept;
  // Where the bid goes in its price-sorted queue, so the contract need not search the book.
  await chainReaches("Reveal");
  const hint = await contract.insertionHint(bid.deliveryPeriod, page.record.producer, page.record.green, price);
  await transact(`Revealing your bid for delivery period ${bid.deliveryPeriod}`, () =>
    page.account.market.reveal(quantityWh, price, salt, hint),
  );
}

const REVEAL_RETRY_SECONDS = 3;

/**
 * Opens the sealed bid once the reveal window is open. A bid entrusted to the keeper is left to
 * it until half the window has passed. A refusal (the chain's clock may lag the page's by a
 * block) is retried a few seconds later.
 */
async function revealIfDue() {
  const { clock } = page.market;
  const now = clock.at();
  const bid = currentBid(now);
  const due =
    now.phase === "Reveal" &&
    $("auto-reveal").checked &&
    bid.onChain &&
    !bid.revealedAs &&
    bid.kept &&
    (!bid.kept.entrust || now.secondsLeft < (clock.ends.Reveal - clock.ends.Commit) / 2);
  if (!due || page.sending || page.revealing || Date.now() / 1000 - page.lastRevealTry < REVEAL_RETRY_SECONDS) return;
  page.revealing = true;
  try {
    await reveal();
  } catch (error) {
    sayError(error);
  } finally {
    page.revealing = false;
    page.lastRevealTry = Date.now() / 1000;
  }
}

function showBid(now) {
  const { clock } = page.market;
  const bid = currentBid(now);
  const bidding = now.phase === "Commit";
  $("bid-period").textContent = bidding || now.phase === "Reveal" ? bid.deliveryPeriod : bid.deliveryPeriod + 1;
  $("bid-window").textContent = {
    Commit: `Sealed bidding is open for ${duration(now.secondsLeft)}. Nobody can read a sealed bid until it is revealed.`,
    Reveal: `Sealed bidding has closed; sealed bids are opened during the next ${duration(now.secondsLeft)}.`,
    Matching: `The auction for delivery period ${bid.deliveryPeriod} is being matched. Sealed bidding for the next one opens in ${duration(clock.secondsToCommit())}.`,
    Settlement: `Sealed bidding for this delivery period opens in ${duration(clock.secondsToCommit())}.`,
  }[now.phase];
  $("bid-form").hidden = !bidding || bid.onChain;
  $("my-bid").hidden = !bid.onChain;
  $("reveal-now").hidden = !(now.phase === "Reveal" && bid.onChain && !bid.revealedAs && bid.kept);
  if (!bid.onChain) return;
  const what = bid.kept
    ? `${kWh(bid.kept.quantityWh)} kWh at ${milliEtherPerKWh(bid.kept.price)}e-3 ether/kWh`
    : "sealed in another browser, which alone can reveal it";
  let status;
  if (bid.revealedAs) status = `revealed as bid #${bid.revealedAs}; matching follows the reveal window.`;
  else if (bidding) status = `sealed; it is opened in the reveal window, in ${duration(now.secondsLeft)}.`;
  else if (now.phase === "Reveal") status = bid.kept?.entrust ? "sealed; the keeper is revealing it." : "sealed; it is being opened now.";
  else status = "never opened, so part of the margin is forfeited.";
  $("my-bid-text").textContent = `Your bid for delivery period ${bid.deliveryPeriod} (${what}): ${status}`;
}

function showBidCost() {
  try {
    const quantityWh = parseKWh($("bid-quantity").value);
    const price = parseMilliEtherPerKWh($("bid-price").value);
    const money = ether(cost(quantityWh, price));
    $("bid-cost").textContent = page.record?.producer
      ? `Sold in full at this price you receive at least ${money} ether.`
      : `Bought in full at this price you pay at most ${money} ether.`;
  } catch {
    $("bid-cost").textContent = "";
  }
}

// ------------------------------------------------------------------ start

async function start() {
  wireAccountForms();
  wireRegistration();
  wireMoney();
  wireBids();
  $("bid-quantity").addEventListener("input", showBidCost);
  $("bid-price").addEventListener("input", showBidCost);
  try {
    page.market = await connect();
  } catch (error) {
    say(explain(error), "error");
    return;
  }
  drawPhaseBar();
  showSavedAccounts();
  showClock();
  setInterval(showClock, 250);
  setInterval(refresh, REFRESH_SECONDS * 1000);
  document.body.dataset.ready = "true";
}

start();
