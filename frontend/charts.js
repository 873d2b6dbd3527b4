// Small SVG charts over the day (like the paper's figures 3 and 4): grouped bars for energy,
// lines for the average price and the wallet. Values are plain numbers already in display units.
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 520;
const HEIGHT = 220;
const MARGIN = { top: 12, right: 12, bottom: 34, left: 58 };
const MAX_X_LABELS = 8;

function element(name, attributes = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A round step for about four grid lines between 0 (or the lowest value) and `span`. */
function niceStep(span) {
  const raw = span / 4 || 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((step) => step >= raw);
}

/** Axes, grid and legend; bars start from zero, lines span their own values. */
function frame(container, labels, values, legend, fromZero) {
  const finite = values.filter(Number.isFinite);
  let low = Math.min(...finite);
  let high = Math.max(...finite);
  if (fromZero) [low, high] = [Math.min(0, low), Math.max(0, high)];
  if (high === low) {
    const pad = Math.abs(high) * 0.1 || 1;
    [low, high] = fromZero && high === 0 ? [0, 1] : [low - pad, high + pad];
  }
  const step = niceStep(high - low);
  const yMin = Math.floor(low / step) * step;
  const yMax = Math.ceil(high / step) * step;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const y = (value) => MARGIN.top + plotHeight * (1 - (value - yMin) / (yMax - yMin || 1));
  const svg = element("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img" });
  for (let tick = yMin; tick <= yMax + step / 2; tick += step) {
    svg.append(element("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(tick), y2: y(tick), class: "grid" }));
    svg.append(element("text", { x: MARGIN.left - 6, y: y(tick) + 4, class: "tick", "text-anchor": "end" }, formatTick(tick, step)));
  }
  const slot = plotWidth / Math.max(labels.length, 1);
  const every = Math.ceil(labels.length / MAX_X_LABELS);
  labels.forEach((label, index) => {
    if (index % every) return;
    const x = MARGIN.left + slot * (index + 0.5);
    svg.append(element("text", { x, y: HEIGHT - MARGIN.bottom + 16, class: "tick", "text-anchor": "middle" }, label));
  });
  const key = document.createElement("div");
  key.className = "legend";
  for (const { name, className } of legend) {
    const item = document.createElement("span");
    item.className = className;
    item.textContent = name;
    key.append(item);
  }
  container.replaceChildren(svg, key);
  return { svg, y, slot, x: (index) => MARGIN.left + slot * (index + 0.5) };
}

function formatTick(value, step) {
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(value.toFixed(Math.min(digits, 6))).toString();
}

function showEmpty(container, text) {
  const note = document.createElement("p");
  note.className = "muted";
  note.textContent = text;
  container.replaceChildren(note);
}

/** Grouped bars: `series` = [{name, className, values}], one value per label (null: none). */
export function barChart(container, labels, series) {
  const all = series.flatMap((s) => s.values).filter((v) => v !== null);
  if (!all.length) return showEmpty(container, "Nothing yet.");
  const { svg, y, slot, x } = frame(container, labels, all, series, true);
  const barWidth = (slot * 0.8) / series.length;
  series.forEach(({ name, className, values }, seriesIndex) => {
    values.forEach((value, index) => {
      if (value === null) return;
      const left = x(index) - slot * 0.4 + barWidth * seriesIndex;
      const top = Math.min(y(value), y(0));
      const bar = element("rect", { x: left, y: top, width: Math.max(barWidth - 1, 1), height: Math.abs(y(0) - y(value)), class: className });
      bar.append(element("title", {}, `${labels[index]} ${name}: ${value}`));
      svg.append(bar);
    });
  });
}

/** Lines through one point per label: `series` = [{name, className, values}] (null: gap). */
export function lineChart(container, labels, series) {
  const all = series.flatMap((s) => s.values).filter((v) => v !== null);
  if (!all.length) return showEmpty(container, "Nothing yet.");
  const { svg, y, x } = frame(container, labels, all, series, false);
  for (const { name, className, values } of series) {
    let path = "";
    values.forEach((value, index) => {
      if (value === null) return;
      path += `${path && values[index - 1] !== null ? "L" : "M"}${x(index)},${y(value)}`;
      const point = element("circle", { cx: x(index), cy: y(value), r: 3, class: className });
      point.append(element("title", {}, `${labels[index]} ${name}: ${value}`));
      svg.append(point);
    });
    svg.append(element("path", { d: path, class: `${className} line` }));
  }
}

/**
 * The book's depth: for each side a step line of the kWh that trades up to each price, bids
 * falling to the left of the best bid, asks rising to the right of the best ask. `bids` and
 * `asks` are [{price, quantity}] from the best price outwards (book_view.js `depthSteps`).
 */
export function depthChart(container, bids, asks) {
  if (!bids.length && !asks.length) return showEmpty(container, "The book is empty.");
  const prices = [...bids, ...asks].map((step) => step.price);
  const low = Math.min(...prices);
  const high = Math.max(...prices);
  const pad = (high - low) * 0.1 || Math.abs(high) * 0.1 || 1;
  const [xMin, xMax] = [low - pad, high + pad];
  const { svg, y } = frame(container, [], [...bids, ...asks].map((step) => step.quantity), [
    { name: "bids (buy)", className: "bid" },
    { name: "asks (sell)", className: "ask" },
  ], true);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const x = (price) => MARGIN.left + (plotWidth * (price - xMin)) / (xMax - xMin);
  const side = (steps, edge, className) => {
    if (!steps.length) return;
    let path = `M${x(steps[0].price)},${y(0)}`;
    let previous = 0;
    for (const step of steps) {
      path += `V${y(previous)}H${x(step.price)}V${y(step.quantity)}`;
      previous = step.quantity;
      const point = element("circle", { cx: x(step.price), cy: y(step.quantity), r: 3, class: className });
      point.append(element("title", {}, `${step.quantity} kWh up to ${step.price}e-3 ether/kWh`));
      svg.append(point);
    }
    svg.append(element("path", { d: `${path}H${x(edge)}`, class: `${className} line` }));
  };
  side(bids, xMin, "bid");
  side(asks, xMax, "ask");
  for (const price of [low, high]) {
    svg.append(element("text", { x: x(price), y: HEIGHT - MARGIN.bottom + 16, class: "tick", "text-anchor": "middle" }, String(price)));
  }
}
