// Conversions between the sister chains: checked before anything is signed, released as the
// contract rounds, and a transfer's progress in words.
import assert from "node:assert/strict";
import { test } from "node:test";

import { checkConversion, inFlight, parseUnits, progressText, released } from "../../frontend/conversion.js";
import { Refusal } from "../../frontend/refusal.js";

const WALLET = {
  balances: { trading: 100n, scheduling: 7n },
  gas: { trading: 10n ** 18n, scheduling: 10n ** 18n },
  rates: { trading: ["1", "2"], scheduling: ["2", "1"] },
};

test("a release is rounded down once, as ExchangeRate.convert", () => {
  assert.equal(released(7n, ["1", "2"]), 3n);
  assert.equal(released(10n, ["2", "1"]), 20n);
  assert.equal(released(5n, ["1", "1"]), 5n);
});

test("tokens to rights locks on the trading chain and releases on the scheduling chain", () => {
  const conversion = checkConversion("tokens_to_rights", " 40 ", WALLET);
  assert.deepEqual(
    [conversion.source, conversion.destination, conversion.amount, conversion.released],
    ["trading", "scheduling", 40n, 80n],
  );
});

test("rights to tokens locks on the scheduling chain", () => {
  const conversion = checkConversion("rights_to_tokens", "7", WALLET);
  assert.deepEqual([conversion.source, conversion.released], ["scheduling", 3n]);
});

test("more than the balance is refused, naming it", () => {
  assert.throws(() => checkConversion("rights_to_tokens", "8", WALLET), /You hold 7 rights on the scheduling chain/);
});

test("no gas on the lock's chain is refused", () => {
  const broke = { ...WALLET, gas: { trading: 10n, scheduling: 0n } };
  assert.throws(() => checkConversion("rights_to_tokens", "2", broke), /no ether for gas on the scheduling chain/);
});

test("an amount that would release nothing is refused", () => {
  assert.throws(() => checkConversion("rights_to_tokens", "1", WALLET), /would release nothing/);
});

test("amounts are whole positive numbers", () => {
  for (const text of ["", "0", "-3", "1.5", "1e3", "abc", "9".repeat(39)]) {
    assert.throws(() => parseUnits(text), Refusal, text);
  }
  assert.equal(parseUnits("0012"), 12n);
});

test("an unknown direction is refused", () => {
  assert.throws(() => checkConversion("rights_to_ether", "1", WALLET), /Unknown conversion/);
});

test("progress reads locked with its confirmations, then unlocked", () => {
  const transfer = { state: "locked", confirmations: 4, required: 6, to: "scheduling", unlock: null };
  assert.equal(progressText(transfer), "locked: confirmations 4 / 6");
  assert.equal(progressText({ ...transfer, state: "confirmed", confirmations: 6 }), "confirmations 6 / 6: waiting for the relayer's unlock");
  const done = { ...transfer, state: "unlocked", unlock: { released: "20" } };
  assert.equal(progressText(done), "unlocked: 20 released on the scheduling chain");
  assert.deepEqual(inFlight([transfer, done]), [transfer]);
});
