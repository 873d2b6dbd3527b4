// The values the page builds for the chain and the server: the sealed bid's commitment and the
// entrust message, which Python builds alike (fixed vectors shared with tests/p2pkit).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { BidStore, commitmentOf, entrustMessage } from "../../frontend/market.js";

const VECTORS = JSON.parse(readFileSync(new URL("../vectors/sealed_bids.json", import.meta.url)));

test("the commitment is the contract's keccak256(abi.encode(quantity, price, salt, bidder))", () => {
  for (const vector of VECTORS.commitments) {
    assert.equal(commitmentOf(BigInt(vector.quantity_wh), BigInt(vector.price), vector.salt, vector.bidder), vector.commitment);
  }
});

test("the entrust message is the very text the server checks the signature against", () => {
  for (const vector of VECTORS.entrust_messages) {
    const { market, chain_id, bidder, delivery_period, quantity_wh, price, salt } = vector.bid;
    assert.equal(entrustMessage(market, chain_id, bidder, delivery_period, quantity_wh, price, salt), vector.message);
  }
});

test("the entrust message names addresses checksummed, however they were typed", () => {
  const { market, chain_id, bidder, delivery_period, quantity_wh, price, salt } = VECTORS.entrust_messages[0].bid;
  const lower = entrustMessage(market.toLowerCase(), chain_id, bidder.toLowerCase(), delivery_period, quantity_wh, price, salt);
  assert.equal(lower, VECTORS.entrust_messages[0].message);
});

test("a sealed bid kept for a delivery period is found again, its later changes merged in", () => {
  const storage = new Map();
  const store = new BidStore(1n, "0xAbC", "0xDeF", { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => storage.set(k, v) });
  store.put(7, { quantityWh: "1500", price: "700", salt: "0x01", entrust: true });
  store.put(7, { entrust: false });
  assert.deepEqual([store.get(7), store.get(8)], [{ quantityWh: "1500", price: "700", salt: "0x01", entrust: false }, null]);
});
