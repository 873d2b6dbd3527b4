// Sealed bids: the bid form (checked as the contract will check it), the commit, handing a bid
// to the keeper, and the reveal, by hand or automatically in the reveal window.
import { requireRegistered } from "./account.js";
import { duration, PHASE_WORDS, PHASES } from "./clock.js";
import { commitmentOf, entrustMessage, newSalt } from "./market.js";
import { $, action, say, sayError, state, transact } from "./shared.js";
import {
  capacityWh,
  cost,
  ether,
  kWh,
  MAX_UINT40,
  MAX_UINT64,
  milliEtherPerKWh,
  parseKWh,
  parseMilliEtherPerKWh,
} from "./units.js";
import { Refusal } from "./words.js";

const CHAIN_CLOCK_WAIT_SECONDS = 6;
const REVEAL_RETRY_SECONDS = 3;

/**
 * The bid typed in the form (`quantityText` kWh at `priceText` 10^-3 ether per kWh) in contract
 * units, checked as the contract will check it at reveal against the account's `record`, the
 * market's `parameters` and its period of `periodLength` seconds (what the meter can measure in
 * one); a Refusal saying what is wrong otherwise. A sealed bid the contract refuses at reveal
 * forfeits part of the margin, so the page checks first.
 */
export function admissibleBid(quantityText, priceText, record, parameters, periodLength) {
  if (!record.authorized) throw new Refusal("The operator has not authorized you to trade yet.");
  const quantityWh = parseKWh(quantityText);
  const price = parseMilliEtherPerKWh(priceText);
  if (quantityWh === 0n || quantityWh > MAX_UINT40) throw new Refusal("Enter a quantity above zero (whole Wh).");
  if (price === 0n || price > MAX_UINT64) throw new Refusal("Enter a price above zero.");
  if (record.ratedPowerW === 0n) {
    throw new Refusal("Bidding needs a smart meter bound to your account: ask the operator to bind one.");
  }
  if (price < parameters.priceFloor || price > parameters.priceCap) {
    throw new Refusal(
      `A bid's price must lie between ${milliEtherPerKWh(parameters.priceFloor)}e-3 and ${milliEtherPerKWh(parameters.priceCap)}e-3 ether/kWh.`,
    );
  }
  const capacity = capacityWh(record.ratedPowerW, periodLength);
  if (quantityWh > capacity) throw new Refusal(`Your meter can measure at most ${kWh(capacity)} kWh in a period: bid less.`);
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

/**
 * Waits until the chain's own clock is in `phase`. The next block's time decides whether the
 * contract accepts a commit or a reveal, and it can lag this page's clock by a block (an
 * embedded test chain stamps a block with the time its predecessor was sealed).
 */
async function chainReaches(phase) {
  const { contract } = state.market;
  for (let waited = 0; ; waited += 0.5) {
    const { phase: current } = await contract.currentPhase({ blockTag: "pending" });
    if (PHASES[Number(current)] === phase) return;
    if (waited >= CHAIN_CLOCK_WAIT_SECONDS) {
      throw new Refusal(`The chain is in ${PHASE_WORDS[PHASES[Number(current)]]}, not ${PHASE_WORDS[phase]}; nothing was sent.`);
    }
    say(`Waiting for the chain's clock to reach ${PHASE_WORDS[phase]}…`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export function wireBids() {
  $("bid-form").addEventListener(
    "submit",
    action(async () => {
      const { clock } = state.market;
      const now = clock.at();
      if (now.phase !== "Commit") {
        throw new Refusal(
          `Bids are sealed only in the commit window (the first ${duration(clock.ends.Commit)} of each period). ` +
            `The next one opens in ${duration(clock.secondsToCommit())}.`,
        );
      }
      const deliveryPeriod = now.period + 1;
      if (Number(state.record.lastBidPeriod) === deliveryPeriod) {
        throw new Refusal(`You already sealed a bid for delivery period ${deliveryPeriod}.`);
      }
      requireRegistered();
      const { quantityWh, price } = admissibleBid(
        $("bid-quantity").value,
        $("bid-price").value,
        state.record,
        state.parameters,
        state.market.clock.length,
      );
      const entrust = $("bid-entrust").checked;
      const salt = newSalt();
      const sealed = commitmentOf(quantityWh, price, salt, state.account.address);
      // Kept before sending: without the salt a sealed bid can never be opened.
      state.account.bids.put(deliveryPeriod, { quantityWh: String(quantityWh), price: String(price), salt, entrust });
      await chainReaches("Commit");
      await transact(`Sealing your bid for delivery period ${deliveryPeriod}`, () => state.account.market.commit(sealed));
      if (entrust) await entrustToKeeper(deliveryPeriod, { quantityWh, price, salt });
      $("bid-form").reset();
    }),
  );
  $("reveal-now").addEventListener("click", action(() => reveal()));
  $("auto-reveal").addEventListener("change", () => (state.lastRevealTry = 0));
  $("bid-quantity").addEventListener("input", showBidCost);
  $("bid-price").addEventListener("input", showBidCost);
}

async function entrustToKeeper(deliveryPeriod, { quantityWh, price, salt }) {
  const { address, signer } = state.account;
  const message = entrustMessage(state.market.address, state.market.chainId, address, deliveryPeriod, quantityWh, price, salt);
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
  state.account.bids.put(deliveryPeriod, { entrust: false });
  say(
    `Your bid is sealed, but the keeper did not take it (${answer.error ?? `HTTP ${reply.status}`}); ` +
      "keep this page open so it reveals the bid itself.",
    "error",
  );
}

/** The bid of the running auction as this browser and the chain know it. */
function currentBid(now) {
  const deliveryPeriod = now.period + 1;
  const onChain = Number(state.record.lastBidPeriod) === deliveryPeriod;
  return {
    deliveryPeriod,
    onChain,
    revealedAs: onChain ? Number(state.record.lastBidId) : 0,
    kept: state.account.bids.get(deliveryPeriod),
  };
}

async function reveal() {
  const { clock, contract } = state.market;
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
  const hint = await contract.insertionHint(bid.deliveryPeriod, state.record.producer, state.record.green, price);
  await transact(`Revealing your bid for delivery period ${bid.deliveryPeriod}`, () =>
    state.account.market.reveal(quantityWh, price, salt, hint),
  );
}

/**
 * Opens the sealed bid once the reveal window is open. A bid entrusted to the keeper is left to
 * it until half the window has passed. A refusal (the chain's clock may lag the page's by a
 * block) is retried a few seconds later.
 */
export async function revealIfDue() {
  const { clock } = state.market;
  const now = clock.at();
  const bid = currentBid(now);
  const due =
    now.phase === "Reveal" &&
    $("auto-reveal").checked &&
    bid.onChain &&
    !bid.revealedAs &&
    bid.kept &&
    (!bid.kept.entrust || now.secondsLeft < (clock.ends.Reveal - clock.ends.Commit) / 2);
  if (!due || state.sending || state.revealing || Date.now() / 1000 - state.lastRevealTry < REVEAL_RETRY_SECONDS) return;
  state.revealing = true;
  try {
    await reveal();
  } catch (error) {
    sayError(error);
  } finally {
    state.revealing = false;
    state.lastRevealTry = Date.now() / 1000;
  }
}

/** The bid card at the moment `now` of the market's clock. */
export function showBid(now) {
  const { clock } = state.market;
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
  // A position the market opened at a continuous order looks like a revealed bid kept nowhere here.
  const what = bid.kept
    ? `${kWh(bid.kept.quantityWh)} kWh at ${milliEtherPerKWh(bid.kept.price)}e-3 ether/kWh`
    : bid.revealedAs
      ? "placed from another browser, or opened by your continuous trading"
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
    $("bid-cost").textContent = state.record?.producer
      ? `Sold in full at this price you receive at least ${money} ether.`
      : `Bought in full at this price you pay at most ${money} ether.`;
  } catch {
    $("bid-cost").textContent = "";
  }
}
