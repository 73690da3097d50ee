// How much of each recent day's conversions is reported so far: one bar per day, filled to
// the expected share (from the account's learnt completion curve) with its uncertainty as a
// whisker, drawn at its container's width, with a title, a description and a data table.
import { el } from "./core.js";
import { dataTable, svg } from "./charts.js";

const PAD = { left: 40, right: 10, top: 22, bottom: 34 };
const pct = (v) => `${Math.round(Number(v) * 100)}%`;
let uid = 0;

/** The recent days worth showing: the ones still arriving and the complete day before. */
export function recentDays(observed, most = 14) {
  const arriving = observed.filter((d) => !d.complete);
  const count = Math.min(Math.max(arriving.length + 1, 7), most, observed.length);
  return observed.slice(-count);
}

/** "yesterday ~55% reported": what a manager reads first. */
export function completionSummary(observed, today) {
  const last = observed.at(-1);
  if (!last) return "No recent days.";
  const late = observed.filter((d) => !d.complete).length;
  if (!late) return `${last.date}: complete — no conversions are expected to arrive late.`;
  const yesterday = new Date(Date.parse(`${today}T00:00:00Z`) - 86400000).toISOString().slice(0, 10);
  const name = last.date === yesterday ? "yesterday" : `the last day (${last.date})`;
  return `${name} ~${pct(last.reported)} reported`
    + ` (± ${pct(last.reported_sd)}); ${late} day(s) still arriving.`;
}

export function completionChart(width, days, curve, campaign) {
  const height = 190;
  const id = `completion-${++uid}`;
  const source = !curve ? "" : curve.learnt
    ? ` learnt from ${curve.observations} observations of ${curve.account ? `account ${curve.account}` : curve.network}`
    : ` ${curve.network}'s default (no restatement seen yet)`;
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                            class: "chart-svg completion-svg", "aria-labelledby": `${id}-t ${id}-d` },
    svg("title", { id: `${id}-t` }, `Share of conversions reported so far, ${campaign}`),
    svg("desc", { id: `${id}-d` }, days.map((d) => `${d.date} ${pct(d.reported)}`).join(", ")
      + `; expected shares${source}.`));
  const [x0, x1, top, bottom] = [PAD.left, width - PAD.right, PAD.top, height - PAD.bottom];
  const y = (v) => bottom - Math.min(Math.max(v, 0), 1) * (bottom - top);
  for (const v of [0, 0.5, 1]) {
    root.append(svg("line", { x1: x0, x2: x1, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: x0 - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, pct(v)));
  }
  const slot = (x1 - x0) / Math.max(days.length, 1);
  const bar = Math.max(Math.min(slot * 0.7, 40), 4);
  days.forEach((d, i) => {
    const mid = x0 + slot * (i + 0.5);
    const late = !d.complete;
    const sd = Number(d.reported_sd);
    root.append(
      svg("rect", { x: mid - bar / 2, y: y(1), width: bar, height: y(0) - y(1), class: "expected" }),
      svg("rect", { x: mid - bar / 2, y: y(d.reported), width: bar, height: y(0) - y(d.reported),
                    class: late ? "reported reported-late" : "reported", "data-date": d.date,
                    "data-reported": d.reported },
        svg("title", {}, `${d.date}: ~${pct(d.reported)} of its conversions reported`)));
    if (late && sd > 0) {
      root.append(svg("line", { x1: mid, x2: mid, y1: y(d.reported + sd), y2: y(d.reported - sd),
                                class: "whisker" }));
    }
    if (late || i === days.length - 1) {
      root.append(svg("text", { x: mid, y: y(d.reported) - 4, "text-anchor": "middle",
                                class: "tick share-label" }, pct(d.reported)));
    }
    if (slot >= 34 || i === 0 || i === days.length - 1) {
      root.append(svg("text", { x: mid, y: bottom + 14, "text-anchor": "middle", class: "tick" },
        d.date.slice(5)));
    }
  });
  root.append(svg("text", { x: x1, y: height - 2, "text-anchor": "end", class: "axis-name" },
    "day (bars: share reported; outline: the final count)"));
  return [root, el("figcaption", { class: "sr-only" }, "Share reported of recent days"),
    dataTable("Share reported", ["Day", "Reported", "± sd"],
      days.map((d) => [d.date, pct(d.reported), pct(d.reported_sd)]))];
}
