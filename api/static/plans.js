// Plans, caps and locks: every scope key is picked from the portfolio's list (GET /scopes),
// never typed; a plan or cap that exists for the scope is updated (with its version), else
// one is created. Plans also come from a CSV file, checked or written all or nothing.
import { $, API, TOKEN_KEY, api, can, el, money, note, portfolio, say, signInPage }
  from "./core.js";

const state = { scopes: [], names: new Map(), currency: "", plans: [], caps: [] };

const thisMonth = () => new Date().toISOString().slice(0, 7);
const monthStart = () => `${$("#plan-month").value || thisMonth()}-01`;
const nameOf = (scope, key) => (scope === "total" ? "whole portfolio"
  : state.names.get(`${scope}|${key}`) || key);
const amount = (text) => text.trim().replace(/[\s,]/g, "");
// A stored amount as one types it: "150.000000" -> "150.00" (the API keeps six places).
const plain = (value) => (value == null ? "" : String(value).replace(/(\.\d\d\d*?)0+$/, "$1"));

// -- pickers ----------------------------------------------------------------------------------
async function loadScopes() {
  const list = await api(`/scopes?portfolio=${portfolio()}`);
  state.scopes = list.data;
  state.currency = list.reporting_currency;
  state.names = new Map(list.data.map((s) => [`${s.scope}|${s.key}`, s.name]));
  $("#plans-currency").textContent = `in ${list.reporting_currency}`;
  $("#caps-currency").textContent = `in ${list.reporting_currency}`;
}

// The keys of one scope; campaigns grouped under their account.
function fillKeys(select, scope, chosen = "") {
  const rows = state.scopes.filter((s) => s.scope === scope);
  const label = (s) => (s.scope === "network" ? s.name : `${s.name} (${s.key})`);
  let options;
  if (scope === "campaign") {
    const groups = new Map();
    for (const s of rows) {
      const name = `${s.account_name} (${s.account_key})`;
      groups.set(name, [...(groups.get(name) || []), s]);
    }
    options = [...groups].map(([name, list]) => el("optgroup", { label: name },
      ...list.map((s) => el("option", { value: s.key }, label(s)))));
  } else {
    options = rows.map((s) => el("option", { value: s.key }, label(s)));
  }
  select.replaceChildren(...(rows.length ? options
    : [el("option", { value: "" }, `no ${scope} yet (sync the portfolio first)`)]));
  if (chosen) select.value = chosen;
  select.closest(".key-field").hidden = scope === "total";
}

// -- deleting ---------------------------------------------------------------------------------
// Delete asks first, in the row itself: "Yes, delete" (focused, so Enter confirms) or "Keep
// it". The row's version is sent, so a plan or cap someone changed meanwhile is not deleted
// unseen. The outcome shows under the table (the row is gone); a refusal in the row.
const DELETED = { plan: "#plans-message", cap: "#caps-message" };

function deleteButton(kind, row, cell, reload) {
  const what = () => `the ${kind === "cap" && row.locked ? "lock" : kind} for `
    + `${nameOf(row.scope, row.scope_key)}`
    + (kind === "plan" ? ` (${String(row.month).slice(0, 7)})` : "");
  const button = el("button", { className: `delete-${kind}`, type: "button",
    "aria-label": `Delete ${what()}` }, "Delete");
  button.onclick = () => {
    const box = el("span", { class: "row-message", role: "status", hidden: true });
    const yes = el("button", { className: `confirm-delete`, type: "button" }, "Yes, delete");
    const keep = el("button", { className: "keep", type: "button" }, "Keep it");
    const ask = el("span", { class: "confirm", role: "group", "aria-label": `Delete ${what()}?` },
      `Delete ${what()}? `, yes, " ", keep, box);
    const was = [...cell.childNodes];
    cell.replaceChildren(ask);
    keep.onclick = () => { cell.replaceChildren(...was); button.focus(); };
    yes.onclick = async () => {
      yes.disabled = true;
      try {
        await api(`/${kind}s/${row.id}?version=${row.version}`, { method: "DELETE" });
        await reload();
        note($(DELETED[kind]), `Deleted ${what()}.`, true);
        $(DELETED[kind]).focus();
      } catch (error) {
        yes.disabled = false;
        note(box, ` Not deleted: ${error.message}`);
      }
    };
    yes.focus();
  };
  return button;
}

// -- plans ------------------------------------------------------------------------------------
function planRow(plan) {
  const cell = el("td", { "data-label": "Action" });
  if (can("edit_plans")) {
    const edit = el("button", { className: "edit-plan", type: "button",
      "aria-label": `Edit the plan for ${nameOf(plan.scope, plan.scope_key)}` }, "Edit");
    edit.onclick = () => editPlan(plan);
    cell.append(el("span", {}, edit, " ", deleteButton("plan", plan, cell, loadPlans)));
  }
  return el("tr", { "data-plan-id": plan.id, "data-scope": plan.scope, "data-key": plan.scope_key },
    el("td", { "data-label": "Scope" }, plan.scope),
    el("td", { "data-label": "Name" }, el("span", {}, nameOf(plan.scope, plan.scope_key),
      plan.scope_key ? el("small", { class: "id" }, ` ${plan.scope_key}`) : null)),
    el("td", { class: "num", "data-label": "Planned" }, money(plan.planned_spend, plan.currency)),
    el("td", { "data-label": "Hard" }, plan.hard ? "hard cap" : "no"),
    cell);
}

async function loadPlans() {
  const list = await api(`/plans?portfolio=${portfolio()}&month=${monthStart()}&limit=500`);
  state.plans = list.data;
  $("#plans tbody").replaceChildren(...(list.data.length ? list.data.map(planRow)
    : [el("tr", {}, el("td", { colSpan: 5, class: "empty" }, "No plan for this month yet."))]));
}

function editPlan(plan) {
  $("#plan-scope").value = plan.scope;
  fillKeys($("#plan-key"), plan.scope, plan.scope_key);
  $("#plan-amount").value = plain(plan.planned_spend);
  $("#plan-hard").checked = plan.hard;
  $("#plan-form-title").textContent = `Edit the plan for ${nameOf(plan.scope, plan.scope_key)}`;
  $("#plan-cancel").hidden = false;
  $("#plan-amount").focus();
}

function resetPlanForm() {
  $("#plan-form-title").textContent = "New plan";
  $("#plan-amount").value = "";
  $("#plan-hard").checked = false;
  $("#plan-cancel").hidden = true;
}

async function savePlan(event) {
  event.preventDefault();
  const box = $("#plan-message");
  const scope = $("#plan-scope").value;
  const key = scope === "total" ? "" : $("#plan-key").value;
  const spend = amount($("#plan-amount").value);
  if (scope !== "total" && !key) return note(box, `Pick a ${scope} from the list first.`);
  if (!spend) return note(box, "Say how much the month may spend.");
  const found = state.plans.find((p) => p.scope === scope && p.scope_key === key);
  const hard = $("#plan-hard").checked;
  try {
    const saved = found
      ? await api(`/plans/${found.id}`, { method: "PUT",
        body: { planned_spend: spend, version: found.version, hard } })
      : await api("/plans", { method: "POST", body: { portfolio: $("#portfolio").value || "default",
        month: monthStart(), scope, scope_key: key, planned_spend: spend, hard } });
    await loadPlans();
    resetPlanForm();
    note(box, `${found ? "Updated" : "Created"} the ${monthStart().slice(0, 7)} plan for `
      + `${nameOf(scope, key)}: ${money(saved.planned_spend, saved.currency)}.`, true);
  } catch (error) {
    note(box, `Plan not saved: ${error.message}`);
  }
  return undefined;
}

// The upload sends the file as it is (text/csv), so it needs its own request.
async function upload(dryRun) {
  const box = $("#upload-message");
  const file = $("#plan-file").files[0];
  $("#upload-problems").hidden = true;
  if (!file) return note(box, "Choose a CSV file first.");
  const query = `portfolio=${portfolio()}${dryRun ? "&dry_run=true" : ""}`;
  let response;
  try {
    response = await fetch(`${API}/plans/import?${query}`, { method: "POST", body: file,
      headers: { Accept: "application/json", "Content-Type": "text/csv",
                 Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` } });
  } catch (error) {
    return note(box, `Upload failed: ${error.message}`);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const errors = body.lines || [];
    if (errors.length && errors.every((e) => "line" in e)) {
      $("#upload-errors tbody").replaceChildren(...errors.map((e) => el("tr", {},
        el("td", { class: "num", "data-label": "Line" }, e.line ?? "—"),
        el("td", { "data-label": "Column" }, e.column || "—"),
        el("td", { "data-label": "Problem" }, e.msg))));
      $("#upload-problems").hidden = false;
      return note(box, `${file.name} was rejected: ${errors.length} problem(s) below; `
        + "nothing was written.");
    }
    return note(box, `${file.name} was rejected: ${body.detail || response.statusText}`);
  }
  const counts = `${body.created} new, ${body.updated} updated, ${body.unchanged} unchanged`;
  if (dryRun) return note(box, `${file.name} is fine: ${counts}. Nothing written yet.`, true);
  await loadPlans();
  return note(box, `Uploaded ${file.name}: ${counts}.`, true);
}

// -- caps and locks ---------------------------------------------------------------------------
const limit = (value) => (value == null ? "—" : money(value, state.currency));

function capRow(cap) {
  const cell = el("td", { "data-label": "Action" });
  if (can("edit_caps")) {
    const edit = el("button", { className: "edit-cap", type: "button",
      "aria-label": `Edit the cap for ${nameOf(cap.scope, cap.scope_key)}` }, "Edit");
    edit.onclick = () => editCap(cap);
    cell.append(el("span", {}, edit, " ", deleteButton("cap", cap, cell, loadCaps)));
  }
  return el("tr", { "data-cap-id": cap.id, "data-scope": cap.scope, "data-key": cap.scope_key,
                    class: cap.locked ? "locked" : "" },
    el("td", { "data-label": "Scope" }, cap.scope),
    el("td", { "data-label": "Name" }, el("span", {}, nameOf(cap.scope, cap.scope_key),
      el("small", { class: "id" }, ` ${cap.scope_key}`))),
    el("td", { class: "num", "data-label": "Min daily" }, limit(cap.min_daily)),
    el("td", { class: "num", "data-label": "Max daily" }, limit(cap.max_daily)),
    el("td", { class: "num", "data-label": "Max change" },
      cap.max_change == null ? "—" : `${(cap.max_change * 100).toFixed(1)}%`),
    el("td", { "data-label": "Locked" }, cap.locked ? "locked" : "no"),
    cell);
}

async function loadCaps() {
  const list = await api(`/caps?portfolio=${portfolio()}&limit=500`);
  state.caps = list.data;
  $("#caps tbody").replaceChildren(...(list.data.length ? list.data.map(capRow)
    : [el("tr", {}, el("td", { colSpan: 7, class: "empty" }, "No caps or locks yet."))]));
}

function editCap(cap) {
  $("#cap-scope").value = cap.scope;
  fillKeys($("#cap-key"), cap.scope, cap.scope_key);
  $("#cap-min").value = plain(cap.min_daily);
  $("#cap-max").value = plain(cap.max_daily);
  $("#cap-change").value = cap.max_change == null ? "" : String(+(cap.max_change * 100).toFixed(4));
  $("#cap-locked").checked = cap.locked;
  $("#cap-form-title").textContent = `Edit the cap for ${nameOf(cap.scope, cap.scope_key)}`;
  $("#cap-cancel").hidden = false;
  $("#cap-max").focus();
}

function resetCapForm() {
  $("#cap-form-title").textContent = "New cap or lock";
  for (const id of ["#cap-min", "#cap-max", "#cap-change"]) $(id).value = "";
  $("#cap-locked").checked = false;
  $("#cap-cancel").hidden = true;
}

async function saveCap(event) {
  event.preventDefault();
  const box = $("#cap-message");
  const scope = $("#cap-scope").value;
  const key = $("#cap-key").value;
  if (!key) return note(box, `Pick a ${scope} from the list first.`);
  const opt = (id) => amount($(id).value) || null;
  const change = opt("#cap-change");
  if (change !== null && !(Number(change) > 0)) return note(box, "Max change is a percentage above 0.");
  const fields = { min_daily: opt("#cap-min"), max_daily: opt("#cap-max"),
    max_change: change === null ? null : Number(change) / 100, locked: $("#cap-locked").checked };
  const found = state.caps.find((c) => c.scope === scope && c.scope_key === key);
  try {
    await (found
      ? api(`/caps/${found.id}`, { method: "PUT", body: { ...fields, version: found.version } })
      : api("/caps", { method: "POST", body: { ...fields, scope, scope_key: key,
        portfolio: $("#portfolio").value || "default" } }));
    await loadCaps();
    resetCapForm();
    note(box, `${found ? "Updated" : "Created"} the ${fields.locked ? "lock" : "cap"} for `
      + `${nameOf(scope, key)}.`, true);
  } catch (error) {
    note(box, `Cap not saved: ${error.message}`);
  }
  return undefined;
}

// Whether the optimisation runs steer by the plans ([optimizer] follow_plans), as
// GET /automation reads it from the config.
async function loadFollowed() {
  const state = await api("/automation");
  const line = $("#plans-followed");
  line.dataset.followed = state.follow_plans ? "1" : "0";
  line.textContent = state.follow_plans
    ? `The optimisation runs keep each planned network's and account's daily budgets within `
      + `${Math.round(state.plan_band * 100)}% of its plan's pace; money moves between them `
      + "only within that."
    : "The optimisation runs do not steer by these plans (optimizer.follow_plans is off): "
      + "they are compared with the spend and the forecast.";
  line.hidden = false;
}

// -- the page ---------------------------------------------------------------------------------
async function loadPage() {
  if (!$("#plan-month").value) $("#plan-month").value = thisMonth();
  $("#plan-form").hidden = !can("edit_plans");
  $("#upload-form").hidden = !can("edit_plans");
  $("#cap-form").hidden = !can("edit_caps");
  // a role that may not edit gets no Action column (its cells would all be empty)
  $("#plans").classList.toggle("no-actions", !can("edit_plans"));
  $("#caps").classList.toggle("no-actions", !can("edit_caps"));
  await loadScopes();
  fillKeys($("#plan-key"), $("#plan-scope").value);
  fillKeys($("#cap-key"), $("#cap-scope").value);
  const results = await Promise.allSettled([loadPlans(), loadCaps(), loadFollowed()]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) say(failed.reason.message);
}

$("#plan-scope").onchange = () => fillKeys($("#plan-key"), $("#plan-scope").value);
$("#cap-scope").onchange = () => fillKeys($("#cap-key"), $("#cap-scope").value);
$("#plan-month").onchange = () => loadPlans().catch((e) => say(e.message));
$("#plan-form").onsubmit = savePlan;
$("#cap-form").onsubmit = saveCap;
$("#plan-cancel").onclick = resetPlanForm;
$("#cap-cancel").onclick = resetCapForm;
$("#upload-check").onclick = () => upload(true);
$("#upload-form").onsubmit = (event) => { event.preventDefault(); return upload(false); };
const refresh = signInPage("#page", loadPage);
$("#portfolio").onchange = () => refresh();
refresh();
