// The storage stations' card: each station's state and one's own connection in words, and a
// supply or sell request checked as the dispatch contract checks it, before anything is signed.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Refusal } from "../../frontend/refusal.js";
import {
  availabilityText,
  checkCancel,
  checkStationRequest,
  connectionText,
  lossPercent,
  stationRows,
} from "../../frontend/stations_view.js";

const station = (id, overrides = {}) => ({
  id,
  stored: 40,
  capacity: 100,
  online: true,
  can_supply: true,
  can_absorb: true,
  supply_connections: 1,
  absorb_connections: 0,
  ...overrides,
});
// Station 2 has the least loss to the user but is full: it can supply, not absorb.
const STATIONS = [station(1), station(2, { stored: 100, can_absorb: false })];
const USER = {
  lines: [
    { station: 2, loss_ppm: 30_000 },
    { station: 1, loss_ppm: 70_000 },
  ],
  request: null,
  gas: "1000",
};
const CONTEXT = { stations: STATIONS, user: USER, gas: USER.gas };

test("a loss rate in parts per million reads as a percentage", () => {
  assert.equal(lossPercent(70_000), "7.0 %");
  assert.equal(lossPercent(125), "0.0 %");
});

test("a station's availability in words", () => {
  assert.equal(availabilityText(station(1)), "online; available to supply and absorb");
  assert.equal(availabilityText(station(1, { online: false })), "offline");
  assert.equal(
    availabilityText(station(1, { can_supply: false, can_absorb: false })),
    "online; neither supply nor absorb (too empty or too full)",
  );
});

test("a station's row gives its stored energy, state and connections", () => {
  assert.deepEqual(stationRows([station(3)])[0], {
    id: 3,
    cells: ["#3", "40 / 100 kWh", "online; available to supply and absorb", "1 supplied, 0 feeding in"],
  });
});

test("one's connection names the station, the loss rate and the units so far", () => {
  const request = { direction: "supply", station: 1, loss_ppm: 70_000, units_on_connection: 3, remaining: 5, connected: true };
  assert.equal(
    connectionText({ request }, 10),
    "Buying energy from station #1 at 7.0 % line loss: 3 of 10 units on this connection, 5 to go.",
  );
});

test("a request without a station in force says it waits", () => {
  const request = { direction: "absorb", station: null, loss_ppm: null, units_on_connection: 0, remaining: 4, connected: false };
  assert.match(connectionText({ request }, 10), /^Selling surplus: waiting for a station \(4 units to go\)/);
  assert.equal(connectionText({ request: null }, 10), "No request open.");
});

test("a supply request goes to the available station of least loss", () => {
  assert.deepEqual(checkStationRequest("supply", " 12 ", CONTEXT), { direction: 0, units: 12n, station: 2 });
});

test("a sell request skips the full station", () => {
  assert.deepEqual(checkStationRequest("absorb", "3", CONTEXT), { direction: 1, units: 3n, station: 1 });
});

test("no available station among one's lines is refused before signing", () => {
  const offline = { ...CONTEXT, stations: STATIONS.map((s) => ({ ...s, can_absorb: false })) };
  assert.throws(() => checkStationRequest("absorb", "3", offline), /No station you have a line to can take in energy now/);
});

test("units that are not a whole number from 1 to 1000000 are refused", () => {
  for (const text of ["0", "-1", "2.5", "abc", "1000001", ""]) {
    assert.throws(() => checkStationRequest("supply", text, CONTEXT), Refusal, text);
  }
});

test("a second request while one is open is refused", () => {
  const busy = { ...CONTEXT, user: { ...USER, request: { direction: "supply" } } };
  assert.throws(() => checkStationRequest("supply", "1", busy), /already have a request open/);
});

test("no gas on the scheduling chain or no line at all is refused", () => {
  assert.throws(() => checkStationRequest("supply", "1", { ...CONTEXT, gas: "0" }), /no ether for gas on the scheduling chain/);
  assert.throws(() => checkStationRequest("supply", "1", { ...CONTEXT, user: { ...USER, lines: [] } }), /no line to any station/);
});

test("cancelling needs an open request", () => {
  assert.throws(() => checkCancel({ request: null }), /no open request/);
  assert.doesNotThrow(() => checkCancel({ request: { direction: "supply" } }));
});
