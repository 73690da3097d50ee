// The pacing board: a bar per scope (total, networks, accounts, planned campaigns) with spend
// to date, plan and forecast; any earlier month from the picker; the open alerts with
// Acknowledge for the roles that may.
import { $, api, can, el, note, portfolio, say, signInPage } from "./core.js";
import { amount, legend, pacingBar, withCurrency } from "./bars.js";

const GROUPS = [["total", "Total"], ["network", "Networks"], ["account", "Accounts"],
  ["campaign", "Planned campaigns"]];
const STATUS = { on_track: "on track", over: "over plan", under: "under plan", no_plan: "no plan" };
// The month pacing reports by default: that of yesterday (UTC), the last day fully reported.
const LATEST = new Date(Date.now() - 86400000).toISOString().slice(0, 7);

const monthName = (iso) => new Date(`${iso.slice(0, 7)}-01T00:00:00Z`)
  .toLocaleString("en", { month: "long", year: "numeric", timeZone: "UTC" });

function monthsBefore(latest, count) {
  const [y, m] = latest.split("-").map(Number);
  return Array.from({ length: count }, (_, i) => {
    const d = new Date(Date.UTC(y, m - 1 - i, 1));
    return d.toISOString().slice(0, 7);
  });
}

// -- the month picker: the current month and the 12 before it ------------------------------
function fillMonths(chosen) {
  const select = $("#month");
  select.replaceChildren(...monthsBefore(LATEST, 13).map((m, i) =>
    el("option", { value: i ? m : "" }, i ? monthName(m) : `${monthName(m)} (current)`)));
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
}

// An ended month's forecast is what it spent: say so instead of "forecast".
const view = { ended: false };

function statusText(row) {
  if (row.status === "no_plan") return STATUS.no_plan;
  const pct = row.forecast_ratio === null ? ""
    : `: ${view.ended ? "spent" : "forecast"} ${Math.round(row.forecast_ratio * 100)}% of plan`;
  return `${STATUS[row.status]}${pct}`;
}

const scopeName = (row) => (row.scope === "total" ? "All accounts" : row.scope_name || row.scope_key);

function figures(row) {
  const c = row.currency;
  const parts = [`spent ${withCurrency(row.spend_to_date, c)}`];
  if (view.ended) {
    if (row.status !== "no_plan") parts.push(`plan ${amount(row.planned)}`);
    return `${parts.join(" · ")} (the whole month)`;
  }
  if (row.status !== "no_plan") {
    parts.push(`expected by now ${amount(row.expected_to_date)}`, `plan ${amount(row.planned)}`);
  }
  parts.push(`forecast ${amount(row.forecast)} (${amount(row.forecast_low)}–${amount(row.forecast_high)})`);
  return parts.join(" · ");
}

function barRow(row) {
  const name = scopeName(row);
  const li = el("li", { class: `pace-row pace-${row.status}`, "data-scope": row.scope,
    "data-key": row.scope_key, "data-status": row.status, "data-spend": row.spend_to_date,
    "data-plan": row.planned, "data-forecast": row.forecast, "data-low": row.forecast_low,
    "data-high": row.forecast_high },
  el("div", { class: "pace-head" }, el("span", { class: "pace-name" }, name),
    row.scope_key && row.scope !== "network" ? el("small", { class: "id" }, ` ${row.scope_key}`) : null,
    " ", el("span", { class: `status status-${row.status}` }, statusText(row))),
  pacingBar(row, `${name}: ${statusText(row)}`, figures(row)),
  el("p", { class: "pace-figures" }, figures(row)));
  return li;
}

function drawBars(report) {
  const box = $("#bars");
  if (!report.data.length) {
    box.replaceChildren(el("p", { class: "empty" }, "No spend or plan in this month."));
    return;
  }
  const groups = GROUPS.map(([scope, title]) => {
    const rows = report.data.filter((r) => r.scope === scope);
    if (!rows.length) return null;
    return el("div", { class: "pace-group", "data-group": scope },
      el("h3", {}, title), el("ul", { class: "pace-list" }, ...rows.map(barRow)));
  });
  box.replaceChildren(legend(), ...groups.filter(Boolean));
}

const planned = (r) => r.status !== "no_plan";

function drawTable(report) {
  const cell = (label, text, cls = "num") => el("td", { class: cls, "data-label": label }, text);
  const rows = report.data.map((r) => el("tr", { "data-scope": r.scope, "data-key": r.scope_key },
    cell("Scope", r.scope, ""), cell("Name", scopeName(r), ""),
    cell("Spend to date", withCurrency(r.spend_to_date, r.currency)),
    cell("Expected to date", planned(r) ? amount(r.expected_to_date) : "—"),
    cell("Plan", planned(r) ? amount(r.planned) : "—"),
    cell("Forecast", amount(r.forecast)),
    cell("80% range", `${amount(r.forecast_low)}–${amount(r.forecast_high)}`),
    el("td", { "data-label": "Status" }, el("span", { class: `status status-${r.status}` }, statusText(r)))));
  $("#pacing-table tbody").replaceChildren(...(rows.length ? rows
    : [el("tr", {}, el("td", { colSpan: 8, class: "empty" }, "No spend or plan in this month."))]));
}

async function loadPacing() {
  const chosen = $("#month").value;
  const query = `/pacing?portfolio=${encodeURIComponent($("#portfolio").value || "default")}`
    + (chosen ? `&month=${chosen}` : "");
  let report;
  try {
    report = await api(query);
  } catch (error) {
    // No figures of another month under this one's name: clear them and say why, here.
    $("#pacing-when").textContent = "";
    $("#bars").replaceChildren();
    $("#pacing-table tbody").replaceChildren();
    note($("#board-message"), `Pacing: ${error.message}`);
    return;
  }
  note($("#board-message"), "");
  const ended = report.days_elapsed === report.days_in_month;
  view.ended = ended;
  $("#pacing-when").textContent = ended
    ? `${monthName(report.month)}, the whole month (to ${report.as_of})`
    : `${monthName(report.month)}, day ${report.days_elapsed} of ${report.days_in_month} (as of ${report.as_of})`;
  document.body.dataset.month = report.month.slice(0, 7);
  drawBars(report);
  drawTable(report);
}

// -- open alerts ------------------------------------------------------------------------------
async function loadAlerts() {
  const list = await api(`/alerts?portfolio=${portfolio()}&acknowledged=false&limit=100`);
  const allowed = can("acknowledge_alerts");
  const items = list.data.map((alert) => {
    const box = el("span", { class: "row-message", role: "status", hidden: true });
    const li = el("li", { class: `severity-${alert.severity}`, "data-alert-id": alert.id },
      el("strong", {}, alert.severity), ` · ${alert.kind.replaceAll("_", " ")}`,
      alert.scope_name ? ` · ${alert.scope_name}` : alert.scope_key ? ` · ${alert.scope_key}` : "",
      ` · ${alert.message} `);
    if (allowed) {
      const ack = el("button", { className: "ack", type: "button",
        "aria-label": `Acknowledge alert ${alert.id}: ${alert.message}` }, "Acknowledge");
      ack.onclick = async () => {
        ack.disabled = true;
        try {
          await api(`/alerts/${alert.id}/acknowledge`, { method: "POST" });
          await loadAlerts();
          note($("#alerts-message"), `Alert ${alert.id} acknowledged: it is no longer open.`, true);
          $("#alerts-title").focus();
        } catch (error) {
          ack.disabled = false;
          note(box, `Alert ${alert.id}: ${error.message}`);
        }
      };
      li.append(ack);
    }
    li.append(box);
    return li;
  });
  $("#alerts").replaceChildren(...(items.length ? items
    : [el("li", { class: "empty" }, "No open alerts.")]));
}

async function load() {
  if (!$("#month").options.length) fillMonths(new URLSearchParams(location.search).get("month"));
  const results = await Promise.allSettled([loadPacing(), loadAlerts()]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) say(failed.reason.message);
}

const refresh = signInPage("#page", load);
$("#alerts-title").tabIndex = -1;
$("#portfolio").onchange = () => refresh();
$("#month").onchange = async () => {
  const month = $("#month").value;
  const url = new URL(location.href);
  if (month) url.searchParams.set("month", month); else url.searchParams.delete("month");
  history.replaceState(null, "", url);
  delete document.body.dataset.ready;
  try {
    say("");
    await loadPacing();
  } catch (error) {
    say(error.message);
  }
  document.body.dataset.ready = "1";
};
$("#pick").onsubmit = (event) => event.preventDefault();
refresh();
