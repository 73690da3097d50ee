// The finance page: spend against plan and the end-of-month forecast by month x network x
// account in the reporting currency, a chart of the months, and the CSV download. A row
// without an FX rate is marked with the rate to add; the rest of the page stays.
import { $, API, api, can, download, el, note, say, session, signInPage } from "./core.js";
import { dataTable } from "./charts.js";
import { amount, monthBars } from "./bars.js";

const LATEST = new Date(Date.now() - 86400000).toISOString().slice(0, 7);  // as pacing's
const state = { report: null };

const monthName = (iso) => new Date(`${iso.slice(0, 7)}-01T00:00:00Z`)
  .toLocaleString("en", { month: "long", year: "numeric", timeZone: "UTC" });

function shift(month, by) {
  const [y, m] = month.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1 + by, 1)).toISOString().slice(0, 7);
}

// Two years back and the next three months (plans may be set ahead).
function fillMonths() {
  const months = Array.from({ length: 27 }, (_, i) => shift(LATEST, 3 - i));
  const params = new URLSearchParams(location.search);
  for (const [id, wanted] of [["#from-month", params.get("from") || shift(LATEST, -2)],
    ["#to-month", params.get("to") || LATEST]]) {
    const select = $(id);
    select.replaceChildren(...months.map((m) => el("option", { value: m }, monthName(m))));
    select.value = months.includes(wanted) ? wanted : LATEST;
  }
}

const query = () => `/finance/spend-vs-plan?portfolio=${encodeURIComponent($("#portfolio").value || "default")}`
  + `&start_month=${$("#from-month").value}&end_month=${$("#to-month").value}`;

const cell = (label, value, cls = "num") =>
  el("td", { class: cls, "data-label": label }, value);
const signed = (v) => (v === null || v === undefined ? "—"
  : `${Number(v) > 0 ? "+" : ""}${amount(v)}`);
// Above plan is money beyond what finance planned: shown in red (below, as it is).
const above = (v) => (v !== null && v !== undefined && Number(v) > 0 ? " above-plan" : "");

function moneyCells(x, currency) {
  return [
    cell(`Spend (${currency})`, x.spend === null ? el("span", { class: "no-rate" }, "no FX rate")
      : amount(x.spend), "num spend"),
    cell("Plan", amount(x.plan), "num plan"),
    cell("Spend − plan", signed(x.variance), `num variance${above(x.variance)}`),
    cell("Forecast", amount(x.forecast), "num forecast"),
    cell("Forecast − plan", signed(x.forecast_variance),
      `num forecast-variance${above(x.forecast_variance)}`),
  ];
}

function accountRow(r, currency) {
  const tr = el("tr", { class: `level-account${r.missing_rate ? " fx-missing" : ""}`,
    "data-level": "account", "data-month": r.month.slice(0, 7), "data-account": r.account },
  cell("Month", monthName(r.month), ""), cell("Network", r.network, ""),
  cell("Account", el("span", {}, r.account_name || r.account, " ",
    el("small", { class: "id" }, r.account)), ""),
  cell("Spend (account currency)", `${amount(r.spend_local)} ${r.account_currency}`),
  ...moneyCells(r, currency));
  if (r.missing_rate) {
    tr.cells[2].append(el("small", { class: "rate-needed" }, ` add the FX rate ${r.missing_rate}`));
  }
  return tr;
}

function totalRow(t, currency, level, label) {
  const partial = t.complete ? null : el("small", { class: "rate-needed" },
    " leaves out rows without an FX rate");
  return el("tr", { class: `level-${level}${t.complete ? "" : " incomplete"}`, "data-level": level,
    "data-month": t.month ? t.month.slice(0, 7) : "", "data-network": t.network || "" },
  el("th", { scope: "row", colSpan: 4, "data-label": "Total" }, label, partial),
  ...moneyCells(t, currency));
}

function drawTable(report) {
  const c = report.currency;
  $("#spend-head").textContent = `Spend (${c})`;
  const body = [];
  for (const month of report.month_totals) {
    const m = month.month;
    const rows = report.rows.filter((r) => r.month === m);
    for (const network of [...new Set(rows.map((r) => r.network))]) {
      body.push(...rows.filter((r) => r.network === network).map((r) => accountRow(r, c)));
      const t = report.network_totals.find((x) => x.month === m && x.network === network);
      if (t) body.push(totalRow(t, c, "network", `${monthName(m)}, ${network}`));
    }
    body.push(totalRow(month, c, "month", `${monthName(m)}, all networks`));
  }
  $("#finance-table tbody").replaceChildren(...body);
  const grand = totalRow(report.total, c, "total", `Total ${monthName(report.start)} – ${monthName(report.end)}`);
  grand.id = "finance-total";
  $("#finance-table tfoot").replaceChildren(grand);
}

function drawChart(report) {
  const box = $("#chart");
  const width = Math.max(280, Math.min(box.clientWidth || 800, 900));
  drawnAt = Math.round(box.clientWidth);
  const c = report.currency;
  box.replaceChildren(
    monthBars(width, report.month_totals, c, `Spend, forecast and plan by month (${c})`,
      report.month_totals.map((m) => `${monthName(m.month)}: spend ${amount(m.spend)}, plan `
        + `${amount(m.plan)}, forecast ${amount(m.forecast)}`).join("; ")),
    el("figcaption", {}, el("ul", { class: "legend" },
      el("li", { class: "key-spend" }, "spend"), el("li", { class: "key-forecast" }, "forecast"),
      el("li", { class: "key-plan" }, "plan"))),
    dataTable("Months", ["Month", `Spend (${c})`, "Plan", "Forecast"],
      report.month_totals.map((m) => [monthName(m.month), amount(m.spend), amount(m.plan),
        amount(m.forecast)])));
}

function drawMissing(report) {
  const box = $("#fx-missing");
  box.hidden = !report.missing_rates.length;
  box.replaceChildren(...(report.missing_rates.length ? [
    el("p", {}, el("strong", {}, "Missing FX rates."), " The marked rows have no spend in "
      + `${report.currency} and are left out of the totals until the rate is added:`),
    el("ul", {}, ...report.missing_rates.map((m) => {
      const names = m.accounts.map((key) => {
        const row = report.rows.find((r) => r.account === key);
        return row && row.account_name ? `${row.account_name} (${key})` : key;
      });
      const days = m.first_day === m.last_day ? m.first_day : `${m.first_day} to ${m.last_day}`;
      return el("li", { "data-rate": `${m.currency}→${m.quote}` },
        el("strong", {}, `${m.currency}→${m.quote}`), ` for ${days}, needed by ${names.join(", ")}. `
        + `Add the rate of ${m.first_day} (it also covers the 7 days after it) with `,
        el("code", {}, `POST ${API}/fx-rates`), " (finance or admin).");
    })),
  ] : []));
  note($("#forecast-note"), report.forecast_note || "");
}

async function loadReport() {
  let report;
  try {
    report = await api(query());
  } catch (error) {
    // Not the figures of other months under these months' names: clear them.
    state.report = null;
    $("#finance-when").textContent = "";
    for (const part of ["#chart", "#finance-table tbody", "#finance-table tfoot", "#fx-missing"]) {
      $(part).replaceChildren();
    }
    $("#fx-missing").hidden = true;
    throw error;
  }
  state.report = report;
  $("#finance-when").textContent = `${monthName(report.start)} – ${monthName(report.end)}, `
    + `${report.currency}, spend through ${report.as_of}`;
  drawMissing(report);
  drawChart(report);
  drawTable(report);
}

// The CSV comes from the same API with the token (core.js's download).
async function downloadCsv() {
  const box = $("#download-message");
  try {
    const { name } = await download(`${query()}&format=csv`, "finance.csv");
    note(box, `Downloaded ${name}.`, true);
  } catch (error) {
    note(box, `Download failed: ${error.message}`);
  }
}

async function reload() {
  delete document.body.dataset.ready;
  const url = new URL(location.href);
  url.searchParams.set("from", $("#from-month").value);
  url.searchParams.set("to", $("#to-month").value);
  history.replaceState(null, "", url);
  try {
    say("");
    await loadReport();
  } catch (error) {
    say(error.message);
  }
  document.body.dataset.ready = "1";
}

async function load() {
  if (!$("#from-month").options.length) fillMonths();
  const allowed = can("read_finance");
  $("#download").hidden = !allowed;
  if (!allowed) {
    say(`The ${session.me.role} role may not read finance reports.`);
    return;
  }
  try {
    await loadReport();
  } catch (error) {
    say(error.message);
  }
}

const refresh = signInPage("#page", load);
$("#portfolio").onchange = () => refresh();
$("#from-month").onchange = reload;
$("#to-month").onchange = reload;
$("#download").onclick = downloadCsv;
// The month chart is drawn at its box's width (its text stays its size on a phone): drawn
// again in the same frame as the box changes width, so no frame shows it squeezed.
let drawnAt = 0;
new ResizeObserver(([entry]) => {
  const width = Math.round(entry.target.clientWidth);
  if (state.report && width && width !== drawnAt) drawChart(state.report);
}).observe($("#chart"));
$("#pick").onsubmit = (event) => event.preventDefault();
refresh();
