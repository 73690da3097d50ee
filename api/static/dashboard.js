// The approvers' dashboard: the JSON API with the token kept in sessionStorage (gone with the tab).
"use strict";

const API = document.body.dataset.api;
const TOKEN_KEY = "budgetpilot.token";
const $ = (sel, root = document) => root.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function say(text, ok = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = ok ? "ok" : "";
  box.hidden = !text;
}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { Accept: "application/json", Authorization: `Bearer ${token}` };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method: options.method || "GET", headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

const money = (value, currency) =>
  `${Number(value).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${currency}`;
const portfolio = () => encodeURIComponent($("#portfolio").value || "default");

// -- shifts -----------------------------------------------------------------------------------
function effect(item) {
  if (item.expected_conversions_new == null || item.expected_conversions_old == null) return "";
  const delta = item.expected_conversions_new - item.expected_conversions_old;
  return `${delta >= 0 ? "+" : ""}${delta.toFixed(2)} conv.`;
}

function itemRow(item) {
  const change = Number(item.new_budget) - Number(item.old_budget);
  return el("tr", { "data-item-id": item.id },
    el("td", {}, el("input", { type: "checkbox", className: "pick", value: item.id,
                              title: "approve this item" })),
    el("td", {}, `${item.level} ${item.target_external_id}`),
    el("td", { class: "num" }, money(item.old_budget, item.currency)),
    el("td", { class: `num ${change >= 0 ? "up" : "down"}` }, money(item.new_budget, item.currency)),
    el("td", { class: "num" }, effect(item)),
    el("td", {}, item.reason));
}

function shiftCard(shift) {
  const card = el("article", { class: "shift", "data-shift-id": shift.id });
  const delta = shift.expected_conversions_delta;
  card.append(
    el("h3", {}, `Shift ${shift.id} · ${shift.items.length} items · moves `
      + `${(shift.change_fraction * 100).toFixed(1)}% · proposed by ${shift.created_by}`),
    el("p", {}, `Total ${money(shift.total_before, shift.currency)} → `
      + `${money(shift.total_after, shift.currency)}`
      + (delta == null ? "" : `; expected ${delta >= 0 ? "+" : ""}${delta.toFixed(1)} conversions`)
      + (shift.expires_at ? `; expires ${new Date(shift.expires_at).toLocaleString()}` : "")),
    el("table", {},
      el("thead", {}, el("tr", {}, ...["", "Budget", "Current", "Proposed", "Effect", "Reason"]
        .map((h, i) => el("th", { class: i >= 2 && i <= 4 ? "num" : "" }, h)))),
      el("tbody", {}, ...shift.items.map(itemRow))),
    el("textarea", { className: "comment", placeholder: "comment (optional)", maxLength: 2000 }),
    el("button", { className: "approve-all", type: "button" }, "Approve all"),
    el("button", { className: "approve-selected", type: "button" }, "Approve selected"),
    el("button", { className: "reject", type: "button" }, "Reject"));
  const decide = async (action, itemIds) => {
    const comment = $(".comment", card).value.trim() || null;
    const body = { version: shift.version, comment };
    if (itemIds) body.item_ids = itemIds;
    try {
      const done = await api(`/shifts/${shift.id}/${action}`, { method: "POST", body });
      say(`Shift ${shift.id} ${done.status}.`, true);
    } catch (error) {
      say(`Shift ${shift.id}: ${error.message}`);
    }
    await loadShifts();
  };
  $(".approve-all", card).onclick = () => decide("approve");
  $(".reject", card).onclick = () => decide("reject");
  $(".approve-selected", card).onclick = () => {
    const ids = [...card.querySelectorAll(".pick:checked")].map((box) => Number(box.value));
    if (!ids.length) return say("Select the items to approve first.");
    return decide("approve", ids);
  };
  return card;
}

async function loadShifts() {
  const box = $("#shifts");
  const list = await api(`/shifts?status=proposed&portfolio=${portfolio()}&limit=20`);
  const shifts = await Promise.all(list.data.map((s) => api(`/shifts/${s.id}`)));
  box.replaceChildren(...(shifts.length ? shifts.map(shiftCard)
    : [el("p", { class: "empty" }, "Nothing waits for approval.")]));
}

// -- pacing and alerts ------------------------------------------------------------------------
async function loadPacing() {
  const report = await api(`/pacing?portfolio=${portfolio()}`);
  $("#pacing-when").textContent = `month of ${report.month}, day ${report.days_elapsed} of `
    + `${report.days_in_month} (as of ${report.as_of})`;
  const rows = report.data.map((row) => el("tr", { class: `pacing-${row.status}` },
    el("td", {}, row.scope), el("td", {}, row.scope_key || "—"),
    el("td", { class: "num" }, money(row.planned, row.currency)),
    el("td", { class: "num" }, money(row.spend_to_date, row.currency)),
    el("td", { class: "num" }, money(row.expected_to_date, row.currency)),
    el("td", { class: "num" }, money(row.forecast, row.currency)),
    el("td", {}, el("span", { class: `status status-${row.status}` }, row.status.replace("_", " ")))));
  $("#pacing tbody").replaceChildren(...(rows.length ? rows
    : [el("tr", {}, el("td", { colSpan: 7, class: "empty" }, "No spend or plan this month."))]));
}

async function loadAlerts() {
  const list = await api("/alerts?acknowledged=false&limit=50");
  const items = list.data.map((alert) => {
    const ack = el("button", { className: "ack", type: "button" }, "Acknowledge");
    ack.onclick = async () => {
      try {
        await api(`/alerts/${alert.id}/acknowledge`, { method: "POST" });
        say(`Alert ${alert.id} acknowledged.`, true);
      } catch (error) {
        say(`Alert ${alert.id}: ${error.message}`);
      }
      await loadAlerts();
    };
    return el("li", { class: `severity-${alert.severity}`, "data-alert-id": alert.id },
      `${alert.severity} · ${alert.kind} · ${alert.message} `, ack);
  });
  $("#alerts").replaceChildren(...(items.length ? items
    : [el("li", { class: "empty" }, "No open alerts.")]));
}

// -- the kill switch --------------------------------------------------------------------------
function where(pause) {
  return pause.scope === "global" ? "all automation" : `${pause.scope} ${pause.scope_key}`;
}

async function control(action, scope) {
  const reason = $("#automation-reason").value.trim();
  if (!reason) return say("Say why first: the reason goes to the audit log.");
  const body = { reason };
  if (scope.scope === "portfolio") body.portfolio = scope.scope_key;
  if (scope.scope === "account") body.account = scope.scope_key;
  try {
    await api(`/automation/${action}`, { method: "POST", body });
    say(`${action === "pause" ? "Paused" : "Resumed"} ${where(scope)}.`, true);
    $("#automation-reason").value = "";
  } catch (error) {
    say(`Automation: ${error.message}`);
  }
  return loadAutomation();
}

async function loadAutomation() {
  const state = await api("/automation");
  $("#automation-state").textContent = state.paused ? "All automation is paused."
    : state.pauses.length ? "Automation runs, except where paused." : "Automation is running.";
  document.body.dataset.automation = state.paused ? "paused" : "running";
  $("#pauses").replaceChildren(...state.pauses.map((pause) => {
    const resume = el("button", { className: "resume", type: "button" }, "Resume");
    resume.onclick = () => control("resume", pause);
    return el("li", { class: "pause", "data-scope": pause.scope, "data-key": pause.scope_key },
      `Paused: ${where(pause)} by ${pause.paused_by} since `
      + `${new Date(pause.paused_at).toLocaleString()}: ${pause.reason} `, resume);
  }));
}

$("#pause-all").onclick = () => control("pause", { scope: "global", scope_key: "" });
$("#pause-portfolio").onclick = () =>
  control("pause", { scope: "portfolio", scope_key: $("#portfolio").value || "default" });

// -- sign in ----------------------------------------------------------------------------------
async function refresh() {
  const signedIn = Boolean(sessionStorage.getItem(TOKEN_KEY));
  $("#board").hidden = !signedIn;
  $("#signout").hidden = !signedIn;
  $("#who").textContent = signedIn ? "signed in" : "";
  if (!signedIn) return;
  const results = await Promise.allSettled([loadShifts(), loadPacing(), loadAlerts(),
    loadAutomation()]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed && failed.reason.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    say(`Sign-in failed: ${failed.reason.message}`);
    return refresh();
  }
  if (failed) say(failed.reason.message);
  document.body.dataset.ready = "1";
}

$("#signin-form").onsubmit = (event) => {
  event.preventDefault();
  const token = $("#token").value.trim();
  if (!token) return say("Paste an API token first.");
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#token").value = "";
  say("");
  return refresh();
};
$("#signout").onclick = () => {
  sessionStorage.removeItem(TOKEN_KEY);
  delete document.body.dataset.ready;
  return refresh();
};
$("#portfolio").onchange = () => refresh();
refresh();
