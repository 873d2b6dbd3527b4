// The storage stations on the scheduling chain: the station list with each station's state,
// one's own connection (station, loss rate, units so far), and the forms to buy energy
// (supply) or sell surplus (absorb) and to cancel. The request is signed here, like the sister
// chains' conversions, and sent through /rpc/scheduling. Shown only when the backend serves a
// dispatch contract (/api/stations).
import { ethers } from "ethers";
import { nodeProvider } from "./market.js";
import { $, action, getJson, say, state, transact } from "./shared.js";
import { checkCancel, checkStationRequest, connectionText, DIRECTIONS, lossPercent, stationRows } from "./stations_view.js";
import { Refusal } from "./words.js";

// What a user sends, and the refusals it may meet (IStationDispatch.sol), decoded into words.
const DISPATCH_ABI = [
  "function request(uint8 direction, uint64 units)",
  "function cancel()",
  "error InvalidUser(address user)",
  "error InvalidUnits(uint64 units)",
  "error RequestAlreadyOpen(address user)",
  "error NoOpenRequest(address user)",
  "error NoStationAvailable(address user, uint8 direction, uint32 lines)",
];

/** Asks the backend for the dispatch contract; leaves `state.stations` null when there is none. */
export async function loadStations() {
  let answer;
  try {
    answer = await getJson("/api/stations");
  } catch {
    state.stations = null;
    return;
  }
  const provider = nodeProvider(new URL(answer.rpc, location.href).href);
  state.stations = { address: answer.dispatch, contract: new ethers.Contract(answer.dispatch, DISPATCH_ABI, provider), provider, view: answer, user: null };
}

/** Redraws the card from /api/stations and, with an account open, its own connection. */
export async function showStations() {
  $("stations-card").hidden = state.stations === null;
  if (state.stations === null) return;
  const view = await getJson("/api/stations");
  state.stations.view = view;
  const rows = stationRows(view.stations).map(({ id, cells }) => {
    const row = document.createElement("tr");
    row.dataset.station = id;
    row.append(...cells.map((text) => Object.assign(document.createElement("td"), { textContent: text })));
    return row;
  });
  $("stations-body").replaceChildren(...rows);
  $("stations-none").hidden = rows.length > 0;
  if (!state.account) return;
  const user = await getJson(`/api/stations/users/${state.account.address}`);
  state.stations.user = user;
  $("my-connection").textContent = connectionText(user, view.units_per_connection);
  $("my-lines").textContent = user.lines.length
    ? user.lines.map((line) => `#${line.station}: ${lossPercent(line.loss_ppm)}`).join(", ")
    : "none yet (the energy company sets them)";
  $("station-cancel").disabled = !user.request;
  $("stations-note").textContent = "";
}

function dispatchSigner() {
  if (state.account.injected) {
    throw new Refusal("A browser wallet signs on the trading chain only; open a key kept in this page to ask a station.");
  }
  return state.stations.contract.connect(state.account.signer.connect(state.stations.provider));
}

function loaded() {
  if (!state.stations?.user) throw new Refusal("The stations are not loaded yet; wait a moment.");
  return state.stations;
}

export function wireStations() {
  $("station-direction").replaceChildren(...Object.entries(DIRECTIONS).map(([name, d]) => new Option(d.words, name)));
  $("station-form").addEventListener(
    "submit",
    action(async () => {
      const stations = loaded();
      const { user, view } = stations;
      const name = $("station-direction").value;
      const asked = checkStationRequest(name, $("station-units").value, { stations: view.stations, user, gas: user.gas });
      const words = `Asking for ${asked.units} units: ${DIRECTIONS[name].words}`;
      await transact(words, () => dispatchSigner().request(asked.direction, asked.units), BigInt(user.gas));
      $("station-form").reset();
      say(`${words}: station #${asked.station} was assigned (the least line loss of the stations available).`, "ok");
    }),
  );
  $("station-cancel").addEventListener(
    "click",
    action(async () => {
      const { user } = loaded();
      checkCancel(user);
      await transact("Cancelling your station request", () => dispatchSigner().cancel(), BigInt(user.gas));
    }),
  );
}
