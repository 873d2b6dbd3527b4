// The continuous book as the page shows it (/api/continuous: levels, ladder, depth, window) and
// orders checked before sending as the book and the market check them.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  admissibleOrder,
  admissibleReprice,
  depthSteps,
  ladderRows,
  orderText,
  tradeRows,
  tradingAt,
  windowText,
} from "../../frontend/book_view.js";

const MILLI = 10n ** 15n; // wei per kWh in 10^-3 ether per kWh
const level = (milli, wh, orders = 1) => ({ price_wei: String(BigInt(milli * 10) * MILLI / 10n), quantity_wh: wh, orders });
const BOOK = {
  delivery_period: 7,
  open: true,
  trading: true,
  gate_closes_at: 1000,
  asks: [level(0.8, 500), level(0.9, 200, 2)],
  bids: [level(0.6, 300)],
};
const PARAMETERS = { margin: 10n ** 15n, priceFloor: MILLI / 10n, priceCap: 2n * MILLI };
// 120 kW: 2 kWh in a 60-second period.
const consumer = { id: 2n, authorized: true, producer: false, ratedPowerW: 120_000n, wallet: 10n ** 18n };
const producer = { ...consumer, id: 1n, producer: true };
const context = { book: BOOK, now: 900, record: consumer, order: { resting: false }, parameters: PARAMETERS, periodLength: 60 };

test("orders are taken while the book is open and before its gate closes", () => {
  assert.deepEqual([tradingAt(BOOK, 999), tradingAt(BOOK, 1000), tradingAt({ ...BOOK, trading: false }, 10)], [true, false, false]);
});

test("the window says the time to gate closure", () => {
  assert.equal(windowText(BOOK, 935), "Continuous trading is open: gate closure in 1:05.");
});

test("a closed window says when it opens", () => {
  assert.match(windowText({ ...BOOK, trading: false, open: false }, 10), /opens once the next auction is matched/);
});

test("the ladder runs from the highest ask down to the lowest bid", () => {
  assert.deepEqual(ladderRows(BOOK), [
    { side: "ask", price: "0.9", quantity: "0.2", orders: 2 },
    { side: "ask", price: "0.8", quantity: "0.5", orders: 1 },
    { side: "bid", price: "0.6", quantity: "0.3", orders: 1 },
  ]);
});

test("depth adds up each side from its best price outwards", () => {
  assert.deepEqual(depthSteps(BOOK.asks), [
    { price: 0.8, quantity: 0.5 },
    { price: 0.9, quantity: 0.7 },
  ]);
});

test("a limit order comes out in contract units", () => {
  assert.deepEqual(admissibleOrder({ ...context, quantityText: "0.25", priceText: "0.85" }), {
    quantityWh: 250n,
    price: 85n * MILLI / 100n,
  });
});

test("a market order has no price", () => {
  assert.deepEqual(admissibleOrder({ ...context, quantityText: "0.2" }), { quantityWh: 200n, price: null });
});

test("an order after gate closure is refused before sending", () => {
  assert.throws(() => admissibleOrder({ ...context, now: 1000, quantityText: "0.2" }), /opens once the next auction/);
});

test("a second order while one rests is refused", () => {
  assert.throws(
    () => admissibleOrder({ ...context, order: { resting: true }, quantityText: "0.2", priceText: "0.7" }),
    /already have an order resting: re-price or cancel it/,
  );
});

test("a limit price outside the market's bounds is refused", () => {
  assert.throws(() => admissibleOrder({ ...context, quantityText: "0.2", priceText: "3" }), /between 0.1e-3 and 2e-3 ether\/kWh/);
});

test("a buy the wallet cannot pay at its limit price is refused", () => {
  const poor = { ...consumer, wallet: PARAMETERS.margin + 10n ** 14n };
  assert.throws(
    () => admissibleOrder({ ...context, record: poor, quantityText: "1", priceText: "1" }),
    /may cost 0.001 ether, but your wallet can spend only 0.0001 ether/,
  );
});

test("an order above what the meter can measure in a period is refused", () => {
  assert.throws(() => admissibleOrder({ ...context, quantityText: "2.001" }), /at most 2 kWh in a period/);
});

test("a market sell with no bids in the book is refused", () => {
  assert.throws(
    () => admissibleOrder({ ...context, book: { ...BOOK, bids: [] }, record: producer, quantityText: "0.1" }),
    /Nobody is buying right now/,
  );
});

test("a producer without the margin is refused", () => {
  assert.throws(
    () => admissibleOrder({ ...context, record: { ...producer, wallet: 0n }, quantityText: "0.1", priceText: "0.7" }),
    /needs the margin of 0.001 ether/,
  );
});

test("an unmetered prosumer is refused", () => {
  assert.throws(() => admissibleOrder({ ...context, record: { ...consumer, ratedPowerW: 0n }, quantityText: "0.1" }), /smart meter/);
});

const RESTING = { resting: true, order_id: 2, producer: false, remaining_wh: 300, price_wei: String(6n * MILLI / 10n) };

test("a re-price comes out in wei per kWh", () => {
  assert.equal(admissibleReprice({ ...context, order: RESTING, priceText: "0.85" }), 85n * MILLI / 100n);
});

test("a re-price to the same price is refused", () => {
  assert.throws(() => admissibleReprice({ ...context, order: RESTING, priceText: "0.6" }), /already rests at that price/);
});

test("a re-price with nothing resting is refused", () => {
  assert.throws(() => admissibleReprice({ ...context, priceText: "0.7" }), /no order resting in the book to re-price/);
});

test("one's own order reads as what rests of it", () => {
  assert.equal(orderText(RESTING), "Your order #2 is buying 0.3 kWh at 0.6e-3 ether/kWh.");
});

test("trades read newest first, one's own marked", () => {
  const trades = [
    { seller: "0xAA", buyer: "0xBB", quantity_wh: 100, price_wei: String(85n * MILLI / 100n), cost_wei: "85000000000000", block: 5 },
    { seller: "0xCC", buyer: "0xAA", quantity_wh: 200, price_wei: String(8n * MILLI / 10n), cost_wei: "160000000000000", block: 6 },
  ];
  assert.deepEqual(
    tradeRows(trades, "0xaa").map((row) => [row.block, row.quantity, row.price, row.cost, row.yours]),
    [
      [6, "0.2", "0.8", "0.00016", "you bought"],
      [5, "0.1", "0.85", "0.000085", "you sold"],
    ],
  );
});
