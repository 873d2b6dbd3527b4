// Amounts typed on the page become the contract's integers exactly, or a refusal in words; and
// the contract's integers are shown in the page's units.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Refusal } from "../../frontend/refusal.js";
import {
  capacityWh,
  cost,
  ether,
  kW,
  kWh,
  milliEtherPerKWh,
  parseEther,
  parseKW,
  parseKWh,
  parseMilliEtherPerKWh,
  signedMilliEther,
} from "../../frontend/units.js";

test("kWh become whole Wh", () => {
  assert.deepEqual([parseKWh("1.5"), parseKWh("0,25"), parseKWh(" 2 ")], [1500n, 250n, 2000n]);
});

test("a price in 10^-3 ether per kWh becomes wei per kWh", () => {
  assert.equal(parseMilliEtherPerKWh("0.7"), 7n * 10n ** 14n);
});

test("ether becomes wei to the last of 18 decimals", () => {
  assert.equal(parseEther("0.000000000000000001"), 1n);
});

test("more decimals than the unit holds are refused, saying so", () => {
  assert.throws(() => parseKWh("0.0001"), (error) => error instanceof Refusal && /at most 3 decimals/.test(error.message));
});

test("what is not a positive number is refused, quoting it", () => {
  for (const text of ["-1", "1e3", "", "one", "1.2.3"]) {
    assert.throws(() => parseEther(text), (error) => error instanceof Refusal && error.message.includes(`"${text}"`), text);
  }
});

test("a trade costs Wh x price / 1000, rounded down like the contract", () => {
  assert.deepEqual([cost(1500n, 7n * 10n ** 14n), cost(1n, 999n), cost(3n, 1000n)], [105n * 10n ** 13n, 0n, 3n]);
});

test("amounts are shown without trailing zeros", () => {
  assert.deepEqual([kWh(1500n), ether(10n ** 16n), milliEtherPerKWh(7n * 10n ** 14n)], ["1.5", "0.01", "0.7"]);
});

test("ether is shown to 6 decimals, cut not rounded", () => {
  assert.equal(ether(1999999999999999999n), "1.999999");
});

test("a balancing or reward is signed", () => {
  assert.deepEqual([signedMilliEther(52n * 10n ** 12n), signedMilliEther(-708n * 10n ** 12n), signedMilliEther(0n)], ["+0.052", "-0.708", "0"]);
});

test("kW become whole W, and back", () => {
  assert.deepEqual([parseKW("7.4"), parseKW("120"), kW(7400n)], [7400n, 120000n, "7.4"]);
});

test("a meter measures rated W x seconds / 3600 Wh in a period, rounded down like the contract", () => {
  assert.deepEqual([capacityWh(120000n, 60), capacityWh(7400n, 900), capacityWh(1n, 3599)], [2000n, 1850n, 0n]);
});
