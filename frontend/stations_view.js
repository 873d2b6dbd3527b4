// The storage stations as the page shows them: each station's state, one's own connection, and
// the supply and sell (absorb) requests checked before anything is signed. Pure: no page, no
// network; the answers of /api/stations and /api/stations/users/<address> are passed in.
import { Refusal } from "./refusal.js";

/** The contract's Direction enum, and what each is called on the page. */
export const DIRECTIONS = {
  supply: { value: 0, words: "buy energy (supply)", verb: "supply", available: "can_supply" },
  absorb: { value: 1, words: "sell surplus (absorb)", verb: "take in", available: "can_absorb" },
};
export const MAX_REQUEST_UNITS = 1_000_000n; // StationDispatch.MAX_REQUEST_UNITS
const LOSS_SCALE = 1_000_000;

/** A loss rate in parts per million, as a percentage with one decimal. */
export const lossPercent = (ppm) => `${((Number(ppm) * 100) / LOSS_SCALE).toFixed(1)} %`;

/** What a station can do now, in words. */
export function availabilityText(station) {
  if (!station.online) return "offline";
  const can = [station.can_supply && "supply", station.can_absorb && "absorb"].filter(Boolean);
  return can.length ? `online; available to ${can.join(" and ")}` : "online; neither supply nor absorb (too empty or too full)";
}

/** The table's rows: one per station, the cells as text. */
export function stationRows(stations) {
  return stations.map((station) => ({
    id: station.id,
    cells: [
      `#${station.id}`,
      `${station.stored} / ${station.capacity} kWh`,
      availabilityText(station),
      `${station.supply_connections} supplied, ${station.absorb_connections} feeding in`,
    ],
  }));
}

/** One's own request and connection, in words (`user`: /api/stations/users/<address>). */
export function connectionText(user, unitsPerConnection) {
  const request = user?.request;
  if (!request) return "No request open.";
  const what = request.direction === "supply" ? "Buying energy" : "Selling surplus";
  if (!request.connected || !request.station) {
    return `${what}: waiting for a station (${request.remaining} units to go); dispatch assigns one when a station you have a line to is available.`;
  }
  return (
    `${what} from station #${request.station} at ${lossPercent(request.loss_ppm)} line loss: ` +
    `${request.units_on_connection} of ${unitsPerConnection} units on this connection, ${request.remaining} to go.`
  );
}

/**
 * A request the user asks for, checked as the contract checks it: a whole number of units from
 * 1 to MAX_REQUEST_UNITS, no request already open, gas on the scheduling chain, and a station
 * one has a line to that is available in that direction now.
 * @returns {{direction: number, units: bigint, station: number}} station: the one dispatch picks
 */
export function checkStationRequest(directionName, text, { stations, user, gas }) {
  const direction = DIRECTIONS[directionName];
  if (!direction) throw new Refusal(`Unknown request "${directionName}".`);
  const value = String(text).trim();
  if (!/^\d{1,7}$/.test(value)) throw new Refusal(`"${text}" is not a whole number of units (kWh).`);
  const units = BigInt(value);
  if (units === 0n || units > MAX_REQUEST_UNITS) throw new Refusal(`A request is for 1 to ${MAX_REQUEST_UNITS} units.`);
  if (user.request) throw new Refusal("You already have a request open: cancel it first, or wait until it is complete.");
  if (BigInt(gas) === 0n) throw new Refusal("This account has no ether for gas on the scheduling chain; ask the operator for some.");
  if (!user.lines.length) throw new Refusal("You have no line to any station yet: the energy company sets them.");
  const byId = Object.fromEntries(stations.map((station) => [station.id, station]));
  // Lines come least loss first, as dispatch walks them.
  const line = user.lines.find((candidate) => byId[candidate.station]?.[direction.available]);
  if (!line) throw new Refusal(`No station you have a line to can ${direction.verb} energy now; try again later.`);
  return { direction: direction.value, units, station: line.station };
}

/** Whether there is a request to cancel; a Refusal otherwise. */
export function checkCancel(user) {
  if (!user?.request) throw new Refusal("You have no open request to cancel.");
}
