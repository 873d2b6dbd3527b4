// The page's clock against MarketClock.sol's rules (and p2pkit.schedule's): periods, phases,
// countdowns, and the commit window to come.
import assert from "node:assert/strict";
import { test } from "node:test";

import { duration, MarketClock } from "../../frontend/clock.js";

// A 60-second period starting at 1000: commit 0-12, reveal 12-20, matching 20-40, settlement 40-60.
const SCHEDULE = { genesisTime: 1000n, periodLength: 60n, commitEnd: 12n, revealEnd: 20n, settleStart: 40n };
const clock = new MarketClock(SCHEDULE);

test("a period's phases follow each other at the schedule's offsets", () => {
  const phases = [1060, 1071, 1072, 1079, 1080, 1099, 1100, 1119].map((time) => clock.at(time).phase);
  assert.deepEqual(phases, ["Commit", "Commit", "Reveal", "Reveal", "Matching", "Matching", "Settlement", "Settlement"]);
});

test("time left runs to the end of the phase", () => {
  assert.deepEqual([clock.at(1065).secondsLeft, clock.at(1115).secondsLeft], [7, 5]);
});

test("before genesis the clock reads period 0, commit phase", () => {
  const before = clock.at(900);
  assert.deepEqual([before.period, before.phase, before.secondsLeft], [0, "Commit", 12]);
});

test("period p starts at genesis plus p periods", () => {
  assert.deepEqual([clock.at(1185).period, clock.periodStart(3)], [3, 1180]);
});

test("the next commit window opens with the next period", () => {
  assert.deepEqual([clock.secondsToCommit(1065), clock.secondsToCommit(1105)], [0, 15]);
});

test("a chain ahead of the wall clock sets the page's time", () => {
  const ahead = new MarketClock(SCHEDULE, { wallClock: () => 1000 });
  ahead.synchronise(1030);
  assert.equal(ahead.at().offset, 30);
});

test("a chain behind the wall clock does not hold the page back", () => {
  const behind = new MarketClock(SCHEDULE, { wallClock: () => 1030 });
  behind.synchronise(1000);
  assert.equal(behind.now(), 1030);
});

test("durations count down in minutes and seconds, rounded up", () => {
  assert.deepEqual([duration(0), duration(0.2), duration(59), duration(61), duration(-3)], ["0:00", "0:01", "0:59", "1:01", "0:00"]);
});
