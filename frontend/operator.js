// The operator's view, shown when the open account is the market's operator: every account with
// its authorization, meter binding, the market parameters and the keeper's health.
import { roleOf } from "./account.js";
import { timeOfDay } from "./clock.js";
import { ethers } from "./market.js";
import { $, action, getJson, state, transact } from "./shared.js";
import {
  ether,
  kW,
  MAX_UINT32,
  MAX_UINT64,
  milliEtherPerKWh,
  parseEther,
  parseKW,
  parseMilliEtherPerKWh,
  shortAddress,
} from "./units.js";
import { Refusal } from "./words.js";

const BPS = 10_000;

let wired = false;

/** Redraws the operator's view. */
export async function showOperator() {
  if (!wired) {
    wireOperator();
    fillParameters(state.parameters);
    wired = true;
  }
  await Promise.all([showAccounts(), showKeeper()]);
}

async function showAccounts() {
  const { accounts } = await getJson("/api/accounts");
  const rows = accounts.map((account) => {
    const row = document.createElement("tr");
    row.dataset.address = account.address;
    const kind = account.is_grid ? "public grid" : roleOf(account);
    const meter = account.meter_number
      ? `no. ${account.meter_number}, ${kW(account.rated_power_w)} kW (${shortAddress(account.meter)})`
      : "–";
    for (const text of [account.id, account.name, kind, account.address, ether(account.wallet_wei), meter]) {
      row.insertCell().textContent = text;
    }
    const trading = row.insertCell();
    if (account.is_grid) {
      trading.textContent = "–";
      return row;
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = account.authorized ? "secondary" : "";
    button.textContent = account.authorized ? "Revoke" : "Authorize";
    button.addEventListener(
      "click",
      action(() =>
        transact(`${account.authorized ? "Revoking" : "Authorizing"} ${account.name}`, () =>
          state.account.market.setAuthorization(account.address, !account.authorized),
        ),
      ),
    );
    trading.append(account.authorized ? "authorized " : "not authorized ", button);
    return row;
  });
  $("accounts-table").tBodies[0].replaceChildren(...rows);
}

const KEEPER_ITEMS_SHOWN = 8;

const line = (text, className = "") => Object.assign(document.createElement("div"), { textContent: text, className });

function listOf(items) {
  const list = document.createElement("ul");
  list.append(...items.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
  return list;
}

/** The keeper's health as /api/status reports it: running or not, its recent work and failures. */
async function showKeeper() {
  const { keeper } = await getJson("/api/status");
  const box = $("keeper-status");
  if (!keeper.enabled) {
    box.replaceChildren(line(`No keeper: ${keeper.reason ?? "disabled"}.`, "warning"));
    return;
  }
  const lastStep = keeper.last_step_at ? timeOfDay(keeper.last_step_at) : "never";
  const actions = keeper.actions
    .slice(-KEEPER_ITEMS_SHOWN)
    .reverse()
    .map((a) => {
      const about = a.delivery_period === null ? (a.detail ?? "") : `period ${a.delivery_period}`;
      return `${timeOfDay(a.at)} ${a.action} ${about}: ${a.outcome}${a.tx ? ` (block ${a.block})` : ""}`;
    });
  const failures = keeper.failures
    .slice(-KEEPER_ITEMS_SHOWN)
    .reverse()
    .map((f) => `${timeOfDay(f.at)} ${f.action}${f.delivery_period === null ? "" : ` period ${f.delivery_period}`}: ${f.message}`);
  box.replaceChildren(
    line(keeper.running ? `Running; last step at ${lastStep}.` : "Stopped.", keeper.running ? "ok" : "warning"),
    line(`${keeper.consecutive_failures} failure${keeper.consecutive_failures === 1 ? "" : "s"} in a row.`,
      keeper.consecutive_failures ? "warning" : ""),
    line("Recent transactions:"),
    actions.length ? listOf(actions) : line("none yet", "muted"),
    line("Failed transactions:"),
    failures.length ? listOf(failures) : line("none", "muted"),
  );
}

function fillParameters(parameters) {
  const factor = (bps) => String(Number(bps) / BPS);
  $("param-shortfall").value = factor(parameters.shortfallFactorBps);
  $("param-surplus").value = factor(parameters.surplusFactorBps);
  $("param-reward").value = factor(parameters.rewardFactorBps);
  $("param-penalty").value = factor(parameters.penaltyFactorBps);
  $("param-forfeit").value = factor(parameters.forfeitBps);
  $("param-margin").value = ether(parameters.margin, 18);
  $("param-reference").value = milliEtherPerKWh(parameters.referencePrice);
  $("param-floor").value = milliEtherPerKWh(parameters.priceFloor);
  $("param-cap").value = milliEtherPerKWh(parameters.priceCap);
}

/** A factor such as 1.1 as basis points (11000). */
function basisPoints(id, label) {
  const value = Number($(id).value.trim().replace(",", "."));
  const bps = Math.round(value * BPS);
  if (!Number.isFinite(value) || value < 0 || bps > 0xffff) throw new Refusal(`${label} must be a number from 0 to 6.5.`);
  return bps;
}

function readAddress(id, label) {
  const text = $(id).value.trim();
  if (!ethers.isAddress(text)) throw new Refusal(`${label} is not an Ethereum address.`);
  return ethers.getAddress(text);
}

function wireOperator() {
  $("meter-form").addEventListener(
    "submit",
    action(async () => {
      const prosumer = readAddress("meter-prosumer", "The prosumer address");
      const meter = readAddress("meter-address", "The meter address");
      const number = $("meter-number").value.trim();
      if (!/^[1-9]\d*$/.test(number) || BigInt(number) >= 2n ** 64n) throw new Refusal("The meter number must be a whole number above zero.");
      const ratedPowerW = parseKW($("meter-rated-kw").value);
      if (ratedPowerW === 0n || ratedPowerW > MAX_UINT32) throw new Refusal("The rated power must be above zero and below 4,294,967 kW.");
      const record = await state.market.contract.accountOf(prosumer);
      if (record.id === 0n) throw new Refusal("That prosumer address is not registered.");
      await transact(`Binding meter no. ${number} (${kW(ratedPowerW)} kW) to ${record.name}`, () =>
        state.account.market.bindMeter(prosumer, meter, BigInt(number), ratedPowerW),
      );
      $("meter-form").reset();
    }),
  );
  $("parameters-form").addEventListener(
    "submit",
    action(async () => {
      const forfeitBps = basisPoints("param-forfeit", "The forfeited share");
      if (forfeitBps > BPS) throw new Refusal("The forfeited share is at most 1 (the whole margin).");
      const referencePrice = parseMilliEtherPerKWh($("param-reference").value);
      const priceFloor = parseMilliEtherPerKWh($("param-floor").value);
      const priceCap = parseMilliEtherPerKWh($("param-cap").value);
      if (priceFloor === 0n || priceFloor > referencePrice || referencePrice > priceCap || priceCap > MAX_UINT64) {
        throw new Refusal("The prices must rise from the lowest bid price (above zero) to the reference price to the highest bid price.");
      }
      const parameters = {
        shortfallFactorBps: basisPoints("param-shortfall", "W′"),
        surplusFactorBps: basisPoints("param-surplus", "W″"),
        rewardFactorBps: basisPoints("param-reward", "M′"),
        penaltyFactorBps: basisPoints("param-penalty", "M″"),
        forfeitBps,
        margin: parseEther($("param-margin").value),
        referencePrice,
        priceFloor,
        priceCap,
      };
      await transact("Setting the market parameters", () => state.account.market.setParameters(parameters));
    }),
  );
}
