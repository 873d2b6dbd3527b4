// The continuous book as the page shows it, and orders checked as the book and the market will
// check them. `book` is the answer of /api/continuous (prices in wei per kWh as decimal strings,
// energy in Wh); `record` and `parameters` are the market's accountOf and parameters(). Pure: no
// page, no network.
import { duration } from "./clock.js";
import { Refusal } from "./refusal.js";
import { capacityWh, cost, ether, kWh, MAX_UINT40, MAX_UINT64, milliEtherPerKWh, parseKWh, parseMilliEtherPerKWh } from "./units.js";

/** Whether orders are taken at `now` (Unix seconds, on the chain's clock). */
export const tradingAt = (book, now) => Boolean(book?.trading) && now < book.gate_closes_at;

/** What the window is doing, in words, at `now`. */
export function windowText(book, now) {
  if (tradingAt(book, now)) {
    return `Continuous trading is open: gate closure in ${duration(book.gate_closes_at - now)}.`;
  }
  if (book?.open && now < book.gate_closes_at) return "Continuous trading opens in a moment.";
  return "Continuous trading opens once the next auction is matched, and runs until its gate closure.";
}

/**
 * The level table, a price ladder: asks from the highest down to the best ask, then bids from the
 * best bid down; each row {side, price, quantity, orders} in the page's units.
 */
export function ladderRows(book) {
  const row = (side) => (level) => ({
    side,
    price: milliEtherPerKWh(level.price_wei),
    quantity: kWh(level.quantity_wh),
    orders: level.orders,
  });
  return [...[...book.asks].reverse().map(row("ask")), ...book.bids.map(row("bid"))];
}

/**
 * One side's depth from its best price outwards: [{price, quantity}] with the cumulative kWh
 * that trades up to each price, as plain numbers for a step chart.
 */
export function depthSteps(levels) {
  let total = 0n;
  return levels.map((level) => {
    total += BigInt(level.quantity_wh);
    return { price: Number(milliEtherPerKWh(level.price_wei)), quantity: Number(kWh(total)) };
  });
}

const spendable = (record, parameters) => (record.wallet > parameters.margin ? record.wallet - parameters.margin : 0n);

function requireTrader(book, now, record) {
  if (!tradingAt(book, now)) throw new Refusal(windowText(book, now));
  if (record.id === 0n) throw new Refusal("Register first.");
  if (!record.authorized) throw new Refusal("The operator has not authorized you to trade yet.");
  if (record.ratedPowerW === 0n) {
    throw new Refusal("Trading needs a smart meter bound to your account: ask the operator to bind one.");
  }
}

function requirePrice(price, parameters) {
  if (price === 0n || price > MAX_UINT64) throw new Refusal("Enter a price above zero.");
  if (price < parameters.priceFloor || price > parameters.priceCap) {
    throw new Refusal(
      `An order's price must lie between ${milliEtherPerKWh(parameters.priceFloor)}e-3 and ${milliEtherPerKWh(parameters.priceCap)}e-3 ether/kWh.`,
    );
  }
}

function requireMoney(record, parameters, quantityWh, price) {
  if (record.producer) {
    if (record.wallet < parameters.margin) {
      throw new Refusal(
        `Selling needs the margin of ${ether(parameters.margin)} ether in your wallet, which holds ${ether(record.wallet)}: deposit first.`,
      );
    }
    return;
  }
  const required = cost(quantityWh, price);
  const free = spendable(record, parameters);
  if (free < required) {
    throw new Refusal(
      `Buying ${kWh(quantityWh)} kWh at up to ${milliEtherPerKWh(price)}e-3 ether/kWh may cost ${ether(required)} ether, ` +
        `but your wallet can spend only ${ether(free)} ether beyond the ${ether(parameters.margin)} ether margin: deposit more or buy less.`,
    );
  }
}

/**
 * A limit (`priceText` given) or market order (`priceText` null) typed in the forms, in contract
 * units, checked against the book at `now`, the account's `record` and resting `order` (the
 * answer of /api/continuous/orders/<address>), the market's `parameters` and its period of
 * `periodLength` seconds; a Refusal saying what is wrong otherwise.
 */
export function admissibleOrder({ quantityText, priceText = null, book, now, record, order, parameters, periodLength }) {
  requireTrader(book, now, record);
  if (order?.resting) throw new Refusal("You already have an order resting: re-price or cancel it instead.");
  const quantityWh = parseKWh(quantityText);
  if (quantityWh === 0n || quantityWh > MAX_UINT40) throw new Refusal("Enter a quantity above zero (whole Wh).");
  const capacity = capacityWh(record.ratedPowerW, periodLength);
  if (quantityWh > capacity) {
    throw new Refusal(`Your meter can measure at most ${kWh(capacity)} kWh in a period: trade less.`);
  }
  if (priceText === null) {
    const other = record.producer ? book.bids : book.asks;
    if (!other.length) {
      throw new Refusal(`Nobody is ${record.producer ? "buying" : "selling"} right now: a market order would find no one to trade with.`);
    }
    // A market buy is cut to what the wallet can pay; it must pay for its first Wh at least.
    requireMoney(record, parameters, 1n, BigInt(other[0].price_wei));
    return { quantityWh, price: null };
  }
  const price = parseMilliEtherPerKWh(priceText);
  requirePrice(price, parameters);
  requireMoney(record, parameters, quantityWh, price);
  return { quantityWh, price };
}

/** A new limit price for the resting `order`, checked as the book will check it; or a Refusal. */
export function admissibleReprice({ priceText, book, now, record, order, parameters }) {
  requireTrader(book, now, record);
  if (!order?.resting) throw new Refusal("You have no order resting in the book to re-price.");
  const price = parseMilliEtherPerKWh(priceText);
  requirePrice(price, parameters);
  if (price === BigInt(order.price_wei)) throw new Refusal("Your order already rests at that price.");
  requireMoney(record, parameters, BigInt(order.remaining_wh), price);
  return price;
}

/** One's own resting order in words (or that none rests). */
export function orderText(order) {
  if (!order?.resting) return "You have no order resting in the book.";
  const side = order.producer ? "selling" : "buying";
  return `Your order #${order.order_id} is ${side} ${kWh(order.remaining_wh)} kWh at ${milliEtherPerKWh(order.price_wei)}e-3 ether/kWh.`;
}

/** The period's continuous trades as table rows, newest first, each saying whether it is one's own. */
export function tradeRows(trades, address) {
  const me = address?.toLowerCase();
  return [...trades].reverse().map((trade) => ({
    quantity: kWh(trade.quantity_wh),
    price: milliEtherPerKWh(trade.price_wei),
    cost: ether(trade.cost_wei),
    yours: trade.seller?.toLowerCase() === me ? "you sold" : trade.buyer?.toLowerCase() === me ? "you bought" : "",
    block: trade.block,
  }));
}
