// Inline SVG charts for the campaign page (no library): small multiples of daily series and a
// response curve with its band. Each chart is drawn at its container's width (text stays
// legible on a phone), carries a title and description, and comes with a data table.
import { el } from "./core.js";

const NS = "http://www.w3.org/2000/svg";
const PAD = { left: 56, right: 14, top: 14, bottom: 30 };
let uid = 0;

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const scale = ([d0, d1], [r0, r1]) => (v) => (d1 === d0 ? r0 : r0 + ((v - d0) / (d1 - d0)) * (r1 - r0));
const line = (pts) => pts.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
const short = (v) => (!v ? "0" : Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(1)}k`
  : Number(v).toFixed(v >= 10 ? 0 : 1));
const day = (iso) => new Date(`${iso}T00:00:00Z`).getTime();
const label = (iso) => iso.slice(5);

// The frame of one chart: an <svg role="img"> titled and described for screen readers.
function frame(width, height, title, desc) {
  const id = `chart-${++uid}`;
  return svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                      "aria-labelledby": `${id}-title ${id}-desc`, class: "chart-svg" },
    svg("title", { id: `${id}-title` }, title), svg("desc", { id: `${id}-desc` }, desc));
}

// A data table behind a disclosure, for readers who cannot see the chart.
export function dataTable(caption, headers, rows) {
  return el("details", { class: "chart-data" }, el("summary", {}, `${caption}: data table`),
    el("div", { class: "scroll", tabIndex: 0, "aria-label": `${caption} data` },
      el("table", {}, el("caption", { class: "sr-only" }, caption),
        el("thead", {}, el("tr", {}, ...headers.map((h, i) =>
          el("th", { scope: "col", class: i ? "num" : "" }, h)))),
        el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c, i) =>
          el("td", { class: i ? "num" : "", "data-label": headers[i] }, c))))))));
}

function yAxis(root, y, top, x0, x1, max, name) {
  for (const v of [0, max / 2, max]) {
    root.append(svg("line", { x1: x0, x2: x1, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: x0 - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, short(v)));
  }
  root.append(svg("text", { x: x0, y: top - 3, class: "axis-name" }, name));
}

/** Daily series (one panel each) over time; `days` carry `date` and `complete`. */
export function seriesChart(width, days, series, title, desc) {
  const panel = 96;
  const height = PAD.top + series.length * (panel + 22) + PAD.bottom;
  const root = frame(width, height, title, desc);
  const [x0, x1] = [PAD.left, width - PAD.right];
  const t = days.map((d) => day(d.date));
  const x = scale([Math.min(...t), Math.max(...t)], [x0, x1]);
  const step = days.length > 1 ? (x1 - x0) / (days.length - 1) : 10;
  const arriving = days.filter((d) => !d.complete);
  if (arriving.length) {
    const left = x(day(arriving[0].date)) - step / 2;
    root.append(svg("rect", { x: left, y: PAD.top, width: Math.max(x1 - left, 4),
                              height: height - PAD.top - PAD.bottom, class: "arriving" }),
      svg("text", { x: x1 - 2, y: PAD.top + 10, "text-anchor": "end", class: "arriving-label" },
        "still arriving"));
  }
  series.forEach((s, i) => {
    const top = PAD.top + 14 + i * (panel + 22);
    const max = Math.max(...days.map((d) => Number(d[s.key])), 0) || 1;
    const y = scale([0, max], [top + panel, top]);
    yAxis(root, y, top, x0, x1, max, s.name);
    root.append(svg("path", { d: line(days.map((d, j) => [x(t[j]), y(Number(d[s.key]))])),
                              class: `series series-${s.key}`, "data-series": s.key }));
  });
  const marks = days.length > 2 ? [0, Math.floor(days.length / 2), days.length - 1] : days.map((_, j) => j);
  for (const j of marks) {
    root.append(svg("text", { x: x(t[j]), y: height - PAD.bottom + 14, "text-anchor": "middle",
                              class: "tick" }, label(days[j].date)));
  }
  return root;
}

/** A response curve (budget → expected `metric`) with its band, the observed days as dots
 * and vertical markers (`markers`: [{ key, value, name }]). */
export function curveChart(width, curve, metric, observed, markers, title, desc) {
  const height = Math.round(Math.min(340, Math.max(220, width * 0.5)));
  const root = frame(width, height, title, desc);
  const [x0, x1, yTop, yBottom] = [PAD.left, width - PAD.right, PAD.top + 14, height - PAD.bottom];
  const pts = curve.points;
  const maxX = pts[pts.length - 1].budget || 1;
  const maxY = Math.max(...pts.map((p) => p[`${metric}_high`]),
    ...observed.map((d) => Number(d[metric])), 0) || 1;
  const x = scale([0, maxX], [x0, x1]);
  const y = scale([0, maxY], [yBottom, yTop]);
  yAxis(root, y, yTop, x0, x1, maxY, `${metric} per day`);
  const upper = pts.map((p) => [x(p.budget), y(p[`${metric}_high`])]);
  const lower = pts.map((p) => [x(p.budget), y(p[`${metric}_low`])]).reverse();
  root.append(
    svg("path", { d: `${line([...upper, ...lower])}Z`, class: "band" }),
    svg("path", { d: line(pts.map((p) => [x(p.budget), y(p[metric])])), class: "curve" }));
  for (const d of observed) {
    if (Number(d.spend) > maxX) continue;
    root.append(svg("circle", { cx: x(Number(d.spend)), cy: y(Number(d[metric])), r: 3.5,
                                class: d.complete ? "observed" : "observed arriving-dot" },
      svg("title", {}, `${d.date}: spend ${d.spend}, ${metric} ${d[metric]}`)));
  }
  markers.forEach((m, i) => {
    if (m.value == null) return;
    const at = x(Math.min(m.value, maxX));
    root.append(svg("line", { x1: at, x2: at, y1: yTop, y2: yBottom, class: `marker marker-${m.key}` }),
      svg("text", { x: at + 4, y: yTop + 12 + i * 14, class: `marker-label marker-${m.key}` },
        `${m.name} ${Number(m.value).toFixed(2)}`));
  });
  for (const v of [0, maxX / 2, maxX]) {
    root.append(svg("text", { x: x(v), y: yBottom + 16, "text-anchor": "middle", class: "tick" }, short(v)));
  }
  root.append(svg("text", { x: x1, y: height - 2, "text-anchor": "end", class: "axis-name" },
    "daily budget"));
  return root;
}
