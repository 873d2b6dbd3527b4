// Retail: retailers' plans ranked for the customer's profile (entered, or derived from its own
// meter readings) with the four indices beside each; the customer's bilateral contracts with
// their months, payments, defaults and deposits; and, for the operator, every contract and the
// money the retail contracts hold. Everything is read from /api/retail.
import { $, action, getJson, isOperator, state } from "./shared.js";
import { ether } from "./units.js";
import { contractCells, enteredProfile, monthText, rankBody, rankedPlanCells, WEIGHT_NAMES, weightsOf } from "./retail_view.js";
import { Refusal } from "./words.js";

let wired = false;
let available = null; // whether this server has the retail contracts (asked once)

/** Redraws the retail card: the customer's contracts, and the operator's view for the operator. */
export async function showRetail() {
  if (available === null) {
    const reply = await fetch("/api/retail");
    available = reply.ok;
  }
  $("retail-card").hidden = !available;
  if (!available) return;
  if (!wired) {
    wireRetail();
    wired = true;
  }
  const names = await accountNames();
  await Promise.all([showMyContracts(names), isOperator() ? showRetailOperator(names) : null]);
  $("retail-operator").hidden = !isOperator();
}

async function accountNames() {
  const { accounts } = await getJson("/api/accounts");
  return new Map(accounts.map((account) => [account.address, account.is_grid ? "the grid" : account.name]));
}

// ------------------------------------------------------------------ plans

function rankRequest() {
  const weights = weightsOf(Object.fromEntries(WEIGHT_NAMES.map((name) => [name, $(`weight-${name}`).value])));
  if ($("profile-from-readings").checked) return rankBody({ account: state.account.address, weights });
  const profile = enteredProfile({
    monthlyKwh: $("profile-kwh").value,
    deviationPct: $("profile-deviation").value,
    shape: $("profile-shape").value === "custom" ? $("profile-shares").value : $("profile-shape").value,
  });
  return rankBody({ profile, weights });
}

async function rankPlans() {
  const body = rankRequest();
  const reply = await fetch("/api/retail/rank", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Refusal(answer.error ?? `The server could not rank the plans (HTTP ${reply.status}).`);
  const { profile } = answer;
  $("ranked-profile").textContent =
    `For ${Number(profile.monthly_kwh.toFixed(3))} kWh a month, deviating ${Number(profile.deviation_pct.toFixed(2))} %` +
    (profile.energy_from ? ` (from your ${profile.energy_from}; load shape from ${profile.shape_from})` : "") +
    (answer.plans.length ? `: plan #${answer.choice} is advised.` : ": no plan is on offer yet.");
  const rows = answer.plans.map((plan, index) => {
    const row = document.createElement("tr");
    row.dataset.plan = plan.id;
    row.classList.toggle("advised", plan.id === answer.choice);
    for (const text of rankedPlanCells(plan, index + 1)) row.insertCell().textContent = text;
    return row;
  });
  $("plans-table").tBodies[0].replaceChildren(...rows);
}

function wireRetail() {
  const showProfileInputs = () => {
    $("profile-entered").hidden = $("profile-from-readings").checked;
    $("profile-shares").hidden = $("profile-shape").value !== "custom";
  };
  for (const id of ["profile-from-readings", "profile-entered-choice", "profile-shape"]) {
    $(id).addEventListener("change", showProfileInputs);
  }
  showProfileInputs();
  $("rank-form").addEventListener("submit", action(rankPlans));
}

// ------------------------------------------------------------------ contracts

function contractRows(contracts, names) {
  return contracts.flatMap((contract) => {
    const row = document.createElement("tr");
    row.dataset.contract = contract.id;
    row.classList.toggle("defaulted", contract.state === "defaulted");
    for (const text of contractCells(contract, names)) row.insertCell().textContent = text;
    const months = document.createElement("tr");
    months.className = "months";
    months.dataset.contractMonths = contract.id;
    const cell = months.insertCell();
    cell.colSpan = row.cells.length;
    const lines = contract.settled.map((month) => monthText(month, names, contract));
    cell.textContent = lines.length ? lines.join("\n") : "No month settled yet.";
    return [row, months];
  });
}

async function showMyContracts(names) {
  const [{ contracts }, mine] = await Promise.all([
    getJson(`/api/retail/contracts?party=${state.account.address}`),
    getJson(`/api/retail/accounts/${state.account.address}`),
  ]);
  $("my-retail-wallet").textContent = ether(mine.wallet_wei);
  $("my-retail-deposits").textContent = ether(mine.deposits_held_wei);
  $("my-contracts-table").tBodies[0].replaceChildren(...contractRows(contracts, names));
  $("my-contracts-none").hidden = contracts.length > 0;
}

async function showRetailOperator(names) {
  const [overview, { contracts, contract_count: count }] = await Promise.all([
    getJson("/api/retail"),
    getJson("/api/retail/contracts"),
  ]);
  const { money } = overview;
  $("retail-money").textContent =
    `Billing ${overview.current_month.label}; ${overview.plan_count} plans, ${count} contracts` +
    (contracts.length < count ? ` (the first ${contracts.length} shown)` : "") +
    `. Deposited ${ether(money.deposited_wei)}, withdrawn ${ether(money.withdrawn_wei)}, ` +
    `held as contract deposits ${ether(money.deposits_held_wei)} ether.`;
  $("all-contracts-table").tBodies[0].replaceChildren(...contractRows(contracts, names));
}
