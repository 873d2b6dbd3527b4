// Results of the recent delivery periods, from the backend's read API (/api, built from the
// market's events): the trades of each period, the account's declared / cleared / actual
// energy, balancing and reward or penalty, and the charts over the day.
import { barChart, lineChart } from "./charts.js";
import { timeOfDay } from "./clock.js";
import { $, getJson, state } from "./shared.js";
import { kWh, milliEtherPerKWh, signedMilliEther } from "./units.js";

const PERIODS_SHOWN = 96; // one day of 15-minute periods

const STAGE_WORDS = {
  upcoming: "upcoming",
  bidding: "bidding",
  no_bids: "no bids",
  matching: "matching",
  matched: "matched, awaiting delivery",
  settling: "settling",
  settled: "settled",
};

/** Block times, for placing wallet movements on the day's axis (blocks never change). */
const blockTimes = new Map();

async function timeOfBlock(provider, number) {
  if (!blockTimes.has(number)) blockTimes.set(number, (await provider.getBlock(number)).timestamp);
  return blockTimes.get(number);
}

/** Redraws the results card for the open account. */
export async function showResults() {
  const { clock, provider } = state.market;
  const { address, bids } = state.account;
  const last = clock.at().period + 1;
  const first = Math.max(0, last - PERIODS_SHOWN + 1);
  let periods, accounts, mine;
  try {
    [periods, accounts, mine] = await Promise.all([
      getJson(`/api/periods?from=${first}&to=${last}`),
      getJson("/api/accounts"),
      getJson(`/api/accounts/${address}`),
    ]);
  } catch (error) {
    $("results-summary").textContent = `Results are not available from this server: ${error.message}.`;
    return;
  }
  const names = new Map(accounts.accounts.map((account) => [account.id, account.name]));
  const rows = periods.periods
    .map((period) => ({ ...period, mine: myPart(period, mine.id, bids.get(period.delivery_period)) }))
    .filter((period) => period.trades.length || period.mine.took_part);
  showTable(rows, names);
  const traded = rows.reduce((sum, period) => sum + period.trades.length, 0);
  $("results-summary").textContent =
    `${traded} trade${traded === 1 ? "" : "s"} over the last ${periods.to - periods.from + 1} periods; ` +
    `you took part in ${rows.filter((period) => period.mine.took_part).length}.`;
  const walletTimes = await Promise.all(mine.history.map((entry) => timeOfBlock(provider, entry.block)));
  showCharts(rows, mine.history, walletTimes, clock);
}

/**
 * The account's part in a period: the settlement once there is one; before it, the bid this
 * browser sealed (declared) and the trades it got (cleared).
 */
function myPart(period, myId, keptBid) {
  const settlement = period.settlements.find((settled) => settled.prosumer_id === myId) ?? null;
  const myTrades = period.trades.filter((trade) => trade.seller_id === myId || trade.buyer_id === myId);
  const clearedWh = myTrades.reduce((sum, trade) => sum + trade.quantity_wh, 0);
  if (settlement) {
    return {
      took_part: true,
      declared_wh: settlement.declared_wh,
      cleared_wh: settlement.cleared_wh,
      actual_wh: settlement.metered ? settlement.actual_wh : null,
      settlement,
    };
  }
  const declared = keptBid ? Number(keptBid.quantityWh) : null;
  return {
    took_part: Boolean(keptBid || myTrades.length),
    declared_wh: declared,
    cleared_wh: keptBid || myTrades.length ? clearedWh : null,
    actual_wh: null,
    settlement: null,
  };
}

function moneyCell(row, wei) {
  const cell = row.insertCell();
  if (wei === undefined) {
    cell.textContent = "–";
    return;
  }
  cell.textContent = signedMilliEther(wei);
  if (BigInt(wei) !== 0n) cell.className = BigInt(wei) > 0n ? "positive" : "negative";
}

function showTable(periods, names) {
  const name = (id) => names.get(id) ?? `#${id}`;
  const rows = periods
    .slice()
    .reverse()
    .map((period) => {
      const row = document.createElement("tr");
      row.dataset.period = period.delivery_period;
      const { mine } = period;
      const energy = (wh) => (wh === null ? "–" : kWh(wh));
      const trades = period.trades.length
        ? period.trades
            .map((t) => `${name(t.seller_id)} → ${name(t.buyer_id)}: ${kWh(t.quantity_wh)} kWh @ ${milliEtherPerKWh(t.price_wei)}e-3`)
            .join("\n")
        : "no trade";
      const price =
        period.average_price_wei !== null
          ? `${milliEtherPerKWh(period.average_price_wei)}e-3`
          : period.settlement_price_wei !== null
            ? `${milliEtherPerKWh(period.settlement_price_wei)}e-3 (reference)`
            : "–";
      for (const text of [period.delivery_period, STAGE_WORDS[period.stage] ?? period.stage, trades, price]) {
        row.insertCell().textContent = text;
      }
      for (const wh of [mine.declared_wh, mine.cleared_wh, mine.actual_wh]) row.insertCell().textContent = energy(wh);
      moneyCell(row, mine.settlement?.balancing_wei);
      moneyCell(row, mine.settlement?.reward_wei);
      moneyCell(row, mine.settlement?.wallet_change_wei);
      return row;
    });
  $("periods-table").tBodies[0].replaceChildren(...rows);
}

const asKWh = (wh) => (wh === null ? null : Number(kWh(wh)));

function showCharts(periods, history, walletTimes, clock) {
  const labels = periods.map((period) => timeOfDay(clock.periodStart(period.delivery_period)));
  barChart($("chart-energy"), labels, [
    { name: "declared", className: "declared", values: periods.map((period) => asKWh(period.mine.declared_wh)) },
    { name: "cleared", className: "cleared", values: periods.map((period) => asKWh(period.mine.cleared_wh)) },
    { name: "actual", className: "actual", values: periods.map((period) => asKWh(period.mine.actual_wh)) },
  ]);
  const priced = periods.filter((period) => period.average_price_wei !== null);
  lineChart(
    $("chart-price"),
    priced.map((period) => timeOfDay(clock.periodStart(period.delivery_period))),
    [{ name: "average price", className: "price", values: priced.map((period) => Number(milliEtherPerKWh(period.average_price_wei))) }],
  );
  lineChart(
    $("chart-wallet"),
    walletTimes.map((time) => timeOfDay(time)),
    [{ name: "wallet", className: "wallet", values: history.map((entry) => Number(BigInt(entry.wallet_wei)) / 1e18) }],
  );
}
