// The campaign page: daily series with the days still arriving, the fitted response curve
// with its band and budgets, the recent days, and the audit trail of the budget.
import { $, api, el, money, note, signInPage, when } from "./core.js";
import { curveChart, dataTable, seriesChart } from "./charts.js";
import { completionChart, completionSummary, recentDays } from "./completion.js";
import { VERBS } from "./shifts.js";

const ID = document.body.dataset.campaign;
const SERIES = [{ key: "spend", name: "spend" }, { key: "conversions", name: "conversions" },
  { key: "revenue", name: "revenue" }];
const state = { curve: null, history: null };
const num = (v, places = 2) => Number(v).toFixed(places);
const arriving = (d) => (d.complete ? "complete"
  : `still arriving · ~${Math.round(d.reported * 100)}% reported`);

function facts(c) {
  const parts = [`current budget ${c.current_budget == null ? "—" : money(c.current_budget, c.currency)}`];
  if (c.proposed_budget != null) {
    parts.push(`proposed ${money(c.proposed_budget, c.currency)} (shift ${c.proposed_shift_id})`);
  }
  parts.push(c.run_id ? `curve from run ${c.run_id} as of ${c.as_of}` : "no optimisation run yet");
  if (c.lag_days) parts.push(`the last ${c.lag_days} days are left out of the fit`);
  return parts.join(" · ");
}

function drawSeries(c) {
  const box = $("#series");
  const width = Math.max(300, box.clientWidth || 700);
  if (!c.observed.length) {
    box.replaceChildren(el("p", { class: "empty" }, "No daily metrics in the last 97 days."));
    return;
  }
  const late = c.observed.filter((d) => !d.complete).length;
  box.replaceChildren(
    seriesChart(width, c.observed, SERIES, `Daily spend, conversions and revenue of ${c.campaign_name}`,
      `${c.observed.length} days from ${c.observed[0].date} to ${c.observed.at(-1).date}, in `
      + `${c.currency}; the last ${late} day(s) are still arriving.`),
    el("figcaption", { class: "sr-only" }, "Daily series"),
    dataTable("Daily series", ["Day", `Spend (${c.currency})`, "Conversions", "Revenue", "Results"],
      c.observed.map((d) => [d.date, num(d.spend), num(d.conversions, 1), num(d.revenue), arriving(d)])));
}

function drawCompletion(c) {
  const box = $("#completion");
  $("#completion-summary").textContent = completionSummary(c.observed, c.today);
  if (!c.observed.length) {
    box.replaceChildren(el("p", { class: "empty" }, "No recent days."));
    return;
  }
  const width = Math.max(300, box.clientWidth || 700);
  box.replaceChildren(...completionChart(width, recentDays(c.observed), c.completion, c.campaign_name));
}

function drawCurves(c) {
  const box = $("#curves");
  const metric = $("#curve-metric").value;
  if (!c.curves.length) {
    box.replaceChildren(el("p", { class: "empty" }, c.run_id
      ? "The latest run did not plan this campaign's budget." : "No optimisation run yet: run one to see the curve."));
    return;
  }
  const width = Math.max(300, box.clientWidth || 700);
  box.replaceChildren(...c.curves.map((u) => {
    const markers = [{ key: "current", value: u.current_budget, name: "current" },
      { key: "proposed", value: u.proposed_budget, name: "proposed" }];
    const status = u.status === "identified" ? "fitted from its own data"
      : "shape borrowed from its network (the data did not pin it)";
    return el("figure", { class: "chart", "data-budget-id": u.budget_id, "data-status": u.status },
      el("figcaption", {}, `${u.level} budget ${u.budget_id}: `,
        el("span", { class: `status status-${u.status === "identified" ? "applied" : "pending"}` }, u.status),
        ` ${status}; ${u.days} days of history.`),
      curveChart(width, u, metric, c.observed, markers,
        `Expected ${metric} per day by daily budget (${u.budget_id})`,
        `The curve rises from 0 to ${num(u.points.at(-1)[metric])} ${metric} at ${num(u.points.at(-1).budget)} `
        + `${c.currency} a day, with its 80% band; ${c.observed.length} observed days as dots; current budget `
        + `${u.current_budget}, proposed ${u.proposed_budget ?? "none"}.`),
      dataTable(`Response curve ${u.budget_id}`, [`Budget (${c.currency})`, "Expected", "Low (10%)", "High (90%)"],
        u.points.filter((_, i) => i % 4 === 0).map((p) => [num(p.budget), num(p[metric]),
          num(p[`${metric}_low`]), num(p[`${metric}_high`])])));
  }));
}

function drawRecent(c) {
  const late = c.observed.filter((d) => !d.complete).length;
  const recent = c.observed.slice(-(Math.max(late, c.lag_days) + 3)).reverse();
  $("#recent tbody").replaceChildren(...(recent.length ? recent.map((d) => el("tr",
    { class: d.complete ? "" : "is-arriving", "data-date": d.date },
    el("td", { "data-label": "Day" }, d.date),
    el("td", { class: "num", "data-label": "Spend" }, money(d.spend, c.currency)),
    el("td", { class: "num", "data-label": "Conversions" }, num(d.conversions, 1)),
    el("td", { class: "num", "data-label": "Revenue" }, money(d.revenue, c.currency)),
    el("td", { "data-label": "Results" }, el("span",
      { class: `status status-${d.complete ? "applied" : "pending"}` }, arriving(d)))))
    : [el("tr", {}, el("td", { colSpan: 5, class: "empty" }, "No recent days."))]));
}

// One audit event as a step: the shift's (approved, applied, ...) or the item's own write.
function step(event, currency) {
  if (event.action === "shift_item.applied") {
    return `platform budget ${money(event.old_budget, currency)} → ${money(event.new_budget, currency)}`;
  }
  if (event.action === "shift_item.failed") return "write to the platform failed";
  return VERBS[event.action] || event.action.replace("shift.", "");
}

function trailRow(change, events) {
  const applied = change.applied_at
    ? `${when(change.applied_at)}${change.applied_budget != null ? `, ${money(change.applied_budget, change.currency)}` : ""}`
    : "—";
  const lines = events.slice().reverse().map((e) => `${step(e, change.currency)} by ${e.actor} ${when(e.at)}`);
  if (change.rollback_of) lines.push(`undoes shift ${change.rollback_of}`);
  return el("tr", { "data-shift-id": change.shift_id, "data-status": change.status },
    el("td", { "data-label": "Shift" }, `#${change.shift_id}`),
    el("td", { "data-label": "Status" }, el("span", { class: `status status-${change.status}` }, change.status)),
    el("td", { class: "num", "data-label": "Budget" },
      `${money(change.old_budget, change.currency)} → ${money(change.new_budget, change.currency)}`),
    el("td", { "data-label": "Proposed" }, `${change.proposed_by}, ${when(change.proposed_at)}`),
    el("td", { "data-label": "Decided" }, change.decided_by ? `${change.decided_by}, ${when(change.decided_at)}` : "—",
      change.comment ? el("small", { class: "comment-text" }, ` “${change.comment}”`) : null),
    el("td", { "data-label": "Applied" }, applied),
    el("td", { "data-label": "What happened" }, lines.length
      ? el("ul", { class: "timeline" }, ...lines.map((l) => el("li", {}, l))) : "—"));
}

function drawTrail(h) {
  const byShift = new Map();
  for (const e of h.events || []) byShift.set(e.shift_id, [...(byShift.get(e.shift_id) || []), e]);
  $("#trail tbody").replaceChildren(...(h.changes.length
    ? h.changes.map((c) => trailRow(c, byShift.get(c.shift_id) || []))
    : [el("tr", {}, el("td", { colSpan: 7, class: "empty" }, "No shift has touched this budget."))]));
  note($("#trail-message"), h.events === null
    ? "The shifts' audit events need the read_audit permission: showing the shift items only." : "", true);
}

function draw() {
  const c = state.curve;
  if (!c) return;
  drawSeries(c);
  drawCompletion(c);
  drawCurves(c);
}

async function load() {
  const [curve, history] = await Promise.allSettled([api(`/campaigns/${ID}/curve`),
    api(`/campaigns/${ID}/budget-history`)]);
  if (curve.status === "fulfilled") {
    state.curve = curve.value;
    $("#campaign-title").textContent = curve.value.campaign_name || `Campaign ${ID}`;
    document.title = `budgetpilot · ${curve.value.campaign_name || `campaign ${ID}`}`;
    $("#campaign-facts").textContent = facts(curve.value);
    draw();
    drawRecent(curve.value);
  } else {
    note($("#series-message"), `Campaign ${ID}: ${curve.reason.message}`);
  }
  if (history.status === "fulfilled") drawTrail(history.value);
  else note($("#trail-message"), `Budget history: ${history.reason.message}`);
}

const refresh = signInPage("#page", load);
$("#curve-metric").onchange = () => state.curve && drawCurves(state.curve);
// Charts are drawn at their box's width (legible text on a phone): redraw when it changes.
// A ResizeObserver runs before the next paint, so no frame shows a chart at the old width.
let drawnAt = 0;
new ResizeObserver(() => {
  const width = $("#curves").clientWidth;
  if (width && width !== drawnAt) { drawnAt = width; draw(); }
}).observe($("#curves"));
refresh();
