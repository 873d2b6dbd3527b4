// Continuous trading after the auction (/api/continuous and the ContinuousBook contract): the
// live book of the delivery period in the window (depth chart and level table, no owners), the
// limit and market order forms, one's own resting order with re-price and cancel, the period's
// trades as they happen and the time to gate closure. Orders are checked here first
// (book_view.js); the book's refusals come back decoded from its custom errors.
import { ethers } from "ethers";
import { admissibleOrder, admissibleReprice, depthSteps, ladderRows, orderText, tradeRows, tradingAt, windowText } from "./book_view.js";
import { depthChart } from "./charts.js";
import { $, action, getJson, state, transact } from "./shared.js";
import { Refusal } from "./words.js";

let available = null; // whether the market names a continuous book (asked until it does)

/** Loads the book's description once the server has one; the card stays hidden without it. */
async function loadBook() {
  const reply = await fetch("/api/continuous");
  if (!reply.ok) return false;
  const answer = await reply.json();
  state.book = {
    address: answer.address,
    contract: new ethers.Contract(answer.address, answer.abi, state.market.provider),
    view: answer,
    order: null,
    trades: [],
  };
  return true;
}

/** Redraws the card from the read API: the book, one's order, the period's trades. */
export async function showContinuous() {
  if (!available) available = await loadBook();
  $("continuous-card").hidden = !available;
  if (!available) return;
  const [view, order] = await Promise.all([
    getJson("/api/continuous"),
    state.account ? getJson(`/api/continuous/orders/${state.account.address}`) : null,
  ]);
  const { trades } = await getJson(`/api/continuous/trades/${view.delivery_period}`);
  Object.assign(state.book, { view, order, trades });
  drawBook();
}

function drawBook() {
  const { view, order, trades } = state.book;
  $("book-period").textContent = view.delivery_period || "–";
  depthChart($("book-depth"), depthSteps(view.bids), depthSteps(view.asks));
  $("book-levels-body").replaceChildren(
    ...ladderRows(view).map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.side = row.side;
      for (const text of [row.side === "ask" ? "sell" : "buy", row.price, row.quantity, row.orders]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }),
  );
  $("book-empty").hidden = view.asks.length + view.bids.length > 0;
  $("my-order-text").textContent = orderText(order);
  $("my-order-actions").hidden = !order?.resting;
  $("continuous-trades-body").replaceChildren(
    ...tradeRows(trades, state.account?.address).map((row) => {
      const tr = document.createElement("tr");
      for (const text of [row.block, row.quantity, row.price, row.cost, row.yours]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }),
  );
  $("continuous-trades-none").hidden = trades.length > 0;
  showWindow();
}

/** The window's line and the forms, on the page's clock (called by the clock every 250 ms). */
export function showWindow() {
  if (!state.book) return;
  const now = state.market.clock.now();
  const { view } = state.book;
  $("book-window").textContent = windowText(view, now);
  const trading = tradingAt(view, now) && Boolean(state.record?.authorized);
  $("continuous-forms").hidden = !trading;
  $("limit-side").textContent = state.record?.producer ? "Sell" : "Buy";
}

/** The book connected to the account's signer, and what the checks need. */
function orderContext() {
  const { view, order } = state.book;
  return {
    book: view,
    now: state.market.clock.now(),
    record: state.record,
    order,
    parameters: state.parameters,
    periodLength: state.market.clock.length,
  };
}

const signed = () => state.book.contract.connect(state.account.signer);

async function placeLimit() {
  const context = orderContext();
  const { quantityWh, price } = admissibleOrder({ ...context, quantityText: $("limit-quantity").value, priceText: $("limit-price").value });
  const period = context.book.delivery_period;
  const hint = await state.book.contract.insertionHint(state.record.producer, price);
  await transact(`Placing your limit order for delivery period ${period}`, () => signed().placeLimit(period, quantityWh, price, hint));
  $("limit-form").reset();
}

async function placeMarket() {
  const context = orderContext();
  const { quantityWh } = admissibleOrder({ ...context, quantityText: $("market-quantity").value });
  const period = context.book.delivery_period;
  await transact(`Sending your market order for delivery period ${period}`, () => signed().placeMarket(period, quantityWh));
  $("market-form").reset();
}

async function reprice() {
  const context = orderContext();
  const price = admissibleReprice({ ...context, priceText: $("reprice-price").value });
  const { contract } = state.book;
  const { order_id: id, producer } = context.order;
  const period = context.book.delivery_period;
  // Read just before sending: the order before it now, and where the new price goes.
  const prev = await contract.previousOf(id);
  let hint = await contract.insertionHint(producer, price);
  if (hint === BigInt(id)) hint = prev; // the order itself leaves its place
  await transact(`Re-pricing your order`, () => signed().reprice(period, id, price, prev, hint));
  $("reprice-form").reset();
}

async function cancel() {
  const { order, book } = orderContext();
  if (!order?.resting) throw new Refusal("You have no order resting in the book to cancel.");
  const prev = await state.book.contract.previousOf(order.order_id);
  await transact(`Cancelling your order`, () => signed().cancel(book.delivery_period, order.order_id, prev));
}

export function wireContinuous() {
  $("limit-form").addEventListener("submit", action(placeLimit));
  $("market-form").addEventListener("submit", action(placeMarket));
  $("reprice-form").addEventListener("submit", action(reprice));
  $("cancel-order").addEventListener("click", action(cancel));
}
