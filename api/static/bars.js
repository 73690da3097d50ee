// Bar charts for the pacing board and the finance page, inline SVG on charts.js's helpers (no
// library). Amounts arrive as the API's decimal strings; `amount` shows them digit for digit
// (grouped, never through a float), so a figure on the page is the API's to the cent.
import { svg } from "./charts.js";

let uid = 0;

/** "1234567.50" → "1,234,567.50"; the API's decimals (the currency's own) are kept. */
export function amount(value) {
  if (value === null || value === undefined) return "—";
  const text = String(value);
  const negative = text.startsWith("-");
  const [whole, part] = (negative ? text.slice(1) : text).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "−" : ""}${grouped}${part === undefined ? "" : `.${part}`}`;
}

export const withCurrency = (value, currency) =>
  (value === null || value === undefined ? "—" : `${amount(value)} ${currency}`);

const n = (v) => Number(v || 0);
const monthShort = (iso) => new Date(`${iso.slice(0, 7)}-01T00:00:00Z`)
  .toLocaleString("en", { month: "short", year: "numeric", timeZone: "UTC" });
const short = (v) => (Math.abs(v) >= 1e6 ? `${(v / 1e6).toFixed(1)}M`
  : Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(v >= 1e4 ? 0 : 1)}k` : String(Math.round(v)));

function titled(width, height, title, desc) {
  const id = `bars-${++uid}`;
  return svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                      "aria-labelledby": `${id}-title ${id}-desc`, class: "chart-svg bars-svg" },
    svg("title", { id: `${id}-title` }, title), svg("desc", { id: `${id}-desc` }, desc));
}

/** One scope's pacing as a horizontal bar: spend to date over the forecast with its range,
 * the plan as a line and the plan's expectation by now as a notch under the bar. Each row is
 * scaled so its plan sits at the same place (80% across) unless the forecast reaches further.
 * Drawn on a 1000-wide box stretched to its container (height fixed), so it fills a phone
 * as it fills a laptop and follows the window when it is resized. */
export function pacingBar(row, title, desc) {
  const [width, height] = [1000, 34];
  const [x0, x1, top, bar] = [2, width - 8, 8, 16];
  const plan = n(row.planned);
  const max = Math.max(plan * 1.25, n(row.forecast_high), n(row.forecast), n(row.spend_to_date)) || 1;
  const x = (v) => x0 + (Math.max(0, v) / max) * (x1 - x0);
  const mid = top + bar / 2;
  const root = titled(width, height, title, desc);
  root.setAttribute("width", "100%");
  root.setAttribute("preserveAspectRatio", "none");
  root.append(
    svg("rect", { x: x0, y: top, width: x1 - x0, height: bar, class: "bar-track" }),
    svg("rect", { x: x0, y: top, width: x(n(row.forecast)) - x0, height: bar,
                  class: `bar-forecast bar-${row.status}`, "data-value": row.forecast }),
    svg("rect", { x: x0, y: top + 3, width: x(n(row.spend_to_date)) - x0, height: bar - 6,
                  class: "bar-spend", "data-value": row.spend_to_date }),
    svg("path", { class: "bar-range", d: `M${x(n(row.forecast_low))},${mid - 5}v10`
      + `M${x(n(row.forecast_low))},${mid}H${x(n(row.forecast_high))}`
      + `M${x(n(row.forecast_high))},${mid - 5}v10` }));
  if (plan > 0) {
    root.append(
      svg("line", { x1: x(plan), x2: x(plan), y1: top - 5, y2: top + bar + 5, class: "bar-plan",
                    "data-value": row.planned }),
      svg("line", { x1: x(n(row.expected_to_date)), x2: x(n(row.expected_to_date)),
                    y1: top + bar + 1, y2: height, class: "bar-expected",
                    "data-value": row.expected_to_date }));
  }
  return root;
}

/** Months side by side: spend, forecast and plan per month (the totals), with a y axis. */
export function monthBars(width, months, currency, title, desc) {
  const height = 220;
  const pad = { left: 52, right: 8, top: 16, bottom: 34 };
  const max = Math.max(...months.flatMap((m) => [n(m.spend), n(m.plan), n(m.forecast)]), 0) || 1;
  const inner = width - pad.left - pad.right;
  const slot = inner / Math.max(months.length, 1);
  const w = Math.max(4, Math.min(26, (slot - 10) / 2));
  // A month's label takes about 56 px: on a phone with many months, every k-th is named.
  const every = Math.ceil(56 / Math.max(slot, 1));
  const y = (v) => height - pad.bottom - (Math.max(0, v) / max) * (height - pad.top - pad.bottom);
  const root = titled(width, height, title, desc);
  for (const v of [0, max / 2, max]) {
    root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, short(v)));
  }
  root.append(svg("text", { x: pad.left, y: pad.top - 5, class: "axis-name" }, currency));
  months.forEach((m, i) => {
    const cx = pad.left + slot * i + slot / 2;
    const g = svg("g", { class: "month-bars", "data-month": m.month });
    if (m.forecast !== null && m.forecast !== undefined) {
      g.append(svg("rect", { x: cx - w, y: y(n(m.forecast)), width: w * 2 + 2,
                             height: y(0) - y(n(m.forecast)), class: "bar-forecast bar-month" }));
    }
    g.append(svg("rect", { x: cx - w + 3, y: y(n(m.spend)), width: w * 2 - 4,
                           height: y(0) - y(n(m.spend)), class: "bar-spend" }));
    if (m.plan !== null && m.plan !== undefined) {
      g.append(svg("line", { x1: cx - w - 4, x2: cx + w + 6, y1: y(n(m.plan)), y2: y(n(m.plan)),
                             class: "bar-plan" }));
    }
    if (i % every === 0) {
      g.append(svg("text", { x: cx, y: height - pad.bottom + 16, "text-anchor": "middle",
                             class: "tick" }, monthShort(m.month)));
    }
    g.append(svg("title", {}, `${m.month.slice(0, 7)}: spend ${amount(m.spend)}, `
      + `plan ${amount(m.plan)}, forecast ${amount(m.forecast)} ${currency}`));
    root.append(g);
  });
  return root;
}

/** The key to the bars, as HTML (it wraps on a phone). */
export function legend() {
  const item = (cls, text) => {
    const li = document.createElement("li");
    li.append(svg("svg", { width: 22, height: 12, "aria-hidden": "true", class: "chart-svg" },
      cls === "bar-plan" || cls === "bar-expected"
        ? svg("line", { x1: 11, x2: 11, y1: cls === "bar-plan" ? 0 : 6, y2: 12, class: cls })
        : cls === "bar-range" ? svg("path", { d: "M2,2v8M2,6H20M20,2v8", class: cls })
          : svg("rect", { x: 0, y: 1, width: 22, height: 10, class: cls })), ` ${text}`);
    return li;
  };
  const ul = document.createElement("ul");
  ul.className = "legend";
  ul.append(item("bar-spend", "spend to date"), item("bar-forecast bar-legend", "forecast"),
    item("bar-range", "80% range"), item("bar-plan", "plan"),
    item("bar-expected", "plan's expectation by now"));
  return ul;
}
