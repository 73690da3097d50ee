// The approvers' dashboard: the JSON API with the token kept in sessionStorage (gone with the tab).
import { $, $$, api, can, el, matches, money, note, portfolio, say, signInPage, when }
  from "./core.js";
import { filterShifts, loadHistory, loadShifts } from "./shifts.js";
import { loadAutomation } from "./automation.js";

// -- filters ----------------------------------------------------------------------------------
async function loadFilters() {
  const accounts = await api(`/accounts?portfolio=${portfolio()}&limit=500`);
  const keep = (select, options) => {
    const was = select.value;
    select.replaceChildren(select.options[0], ...options);
    select.value = [...select.options].some((o) => o.value === was) ? was : "";
  };
  const networks = [...new Set(accounts.data.map((a) => a.network))].sort();
  keep($("#filter-network"), networks.map((n) => el("option", { value: n }, n)));
  keep($("#filter-account"), accounts.data.map((a) => el("option",
    { value: `${a.network}:${a.external_id}` }, `${a.name || a.external_id} (${a.network})`)));
}

function applyFilters() {
  filterShifts();
  for (const row of $$("#pacing tbody tr[data-scope]")) {
    const key = row.dataset.key;
    const [network] = key.split(":");
    const account = key.split(":").slice(0, 2).join(":");
    const scope = row.dataset.scope;
    row.hidden = scope !== "total" && !matches({
      network: scope === "total" ? "" : network,
      account: scope === "account" || scope === "campaign" ? account : $("#filter-account").value,
      names: [row.dataset.name],
    });
  }
}

// -- pacing and alerts ------------------------------------------------------------------------
async function loadPacing() {
  const report = await api(`/pacing?portfolio=${portfolio()}`);
  $("#pacing-when").textContent = `month of ${report.month}, day ${report.days_elapsed} of `
    + `${report.days_in_month} (as of ${report.as_of})`;
  const rows = report.data.map((row) => el("tr", { class: `pacing-${row.status}`,
      "data-scope": row.scope, "data-key": row.scope_key, "data-name": row.scope_name || "" },
    el("td", { "data-label": "Scope" }, row.scope),
    el("td", { "data-label": "Name" }, row.scope_name || row.scope_key || "—",
      row.scope_key && row.scope_name !== row.scope_key
        ? el("small", { class: "id" }, ` ${row.scope_key}`) : null),
    el("td", { class: "num", "data-label": "Plan" }, money(row.planned, row.currency)),
    el("td", { class: "num", "data-label": "Spend to date" }, money(row.spend_to_date, row.currency)),
    el("td", { class: "num", "data-label": "Expected to date" }, money(row.expected_to_date, row.currency)),
    el("td", { class: "num", "data-label": "Forecast",
      title: `80% range; from ${row.forecast_method === "budgets" ? "daily budgets" : "run rate"}` },
      money(row.forecast, row.currency), el("small", { class: "range" },
        ` ${money(row.forecast_low, row.currency)}–${money(row.forecast_high, row.currency)}`)),
    el("td", { "data-label": "Status" },
      el("span", { class: `status status-${row.status}` }, row.status.replace("_", " ")))));
  $("#pacing tbody").replaceChildren(...(rows.length ? rows
    : [el("tr", {}, el("td", { colSpan: 7, class: "empty" }, "No spend or plan this month."))]));
}

async function loadAlerts() {
  const list = await api(`/alerts?portfolio=${portfolio()}&acknowledged=false&limit=50`);
  const items = list.data.map((alert) => {
    const box = el("span", { class: "row-message", role: "status", hidden: true });
    const li = el("li", { class: `severity-${alert.severity}`, "data-alert-id": alert.id },
      `${alert.severity} · ${alert.kind}${alert.scope_name ? ` · ${alert.scope_name}` : ""}`
      + ` · ${alert.message} `);
    if (can("acknowledge_alerts")) {
      const ack = el("button", { className: "ack", type: "button" }, "Acknowledge");
      ack.onclick = async () => {
        try {
          await api(`/alerts/${alert.id}/acknowledge`, { method: "POST" });
          await loadAlerts();
          note($("#alerts-message"), `Alert ${alert.id} acknowledged.`, true);
        } catch (error) {
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

// -- sign in ----------------------------------------------------------------------------------
async function loadBoard() {
  const results = await Promise.allSettled([loadFilters(), loadShifts(), loadHistory(),
    loadPacing(), loadAlerts(), loadAutomation()]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) say(failed.reason.message);
  applyFilters();
}

const refresh = signInPage("#board", loadBoard);
$("#portfolio").onchange = () => refresh();
$("#filters").oninput = () => applyFilters();
$("#filters").onchange = () => applyFilters();
$("#filters").onsubmit = (event) => event.preventDefault();
refresh();
