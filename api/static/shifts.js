// The shift inbox (decide, apply) and the history (who did what, when; roll back).
import { $, $$, api, can, download, el, matches, money, note, portfolio, when }
  from "./core.js";

const INBOX = new Set(["proposed", "approved", "applying", "partially_applied", "failed",
  "exported"]);
const APPLY_FROM = new Set(["approved", "partially_applied", "failed"]);
// Items whose network has no write connector go by the platform's bulk-edit file: exported
// (downloaded) once approved, then confirmed when the platform shows the budget.
const toFile = (shift) => shift.items.filter((i) => i.by_file
  && (i.status === "approved" || i.status === "exported"));
const awaiting = (shift) => shift.items.filter((i) => i.status === "exported");
const toApply = (shift) => shift.items.some((i) => !i.by_file
  && (i.status === "approved" || i.status === "failed"));
const itemName = (item) => item.campaign_name || item.target_external_id;

function effect(item) {
  if (item.expected_conversions_new == null || item.expected_conversions_old == null) return "—";
  const delta = item.expected_conversions_new - item.expected_conversions_old;
  return `${delta >= 0 ? "+" : ""}${delta.toFixed(2)} conv.`;
}

// How sure the move is: its effect net of what the money would buy elsewhere, the 80%
// interval of that effect, and the probability that it helps (absent for moves planned
// before the optimiser reported them).
function sureness(item) {
  if (item.prob_gain == null) return null;
  const sign = (x) => `${x >= 0 ? "+" : ""}${Number(x).toFixed(2)}`;
  return el("small", { class: "sure" },
    ` net ${sign(item.effect)} (80%: ${sign(item.effect_low)} to ${sign(item.effect_high)});`
    + ` ${Math.round(item.prob_gain * 100)}% likely to help`);
}

function change(item) {
  const old = Number(item.old_budget);
  const delta = Number(item.new_budget) - old;
  const pct = old ? ` (${delta >= 0 ? "+" : ""}${((delta / old) * 100).toFixed(1)}%)` : "";
  return `${delta >= 0 ? "+" : ""}${delta.toFixed(2)}${pct}`;
}

function itemRow(shift, item) {
  const decidable = shift.status === "proposed" && can("decide_shifts");
  const name = itemName(item) + (item.adset_name ? ` / ${item.adset_name}` : "");
  const delta = Number(item.new_budget) - Number(item.old_budget);
  return el("tr", { "data-item-id": item.id, "data-network": item.network,
                    "data-account": `${item.network}:${item.account_external_id}`,
                    "data-names": [item.campaign_name, item.adset_name, item.account_name].join("\n"),
                    "data-name": name.toLowerCase(), "data-delta": delta,
                    "data-amount": Number(item.new_budget),
                    "data-direction": delta > 0 ? "up" : delta < 0 ? "down" : "none",
                    "data-limit": item.binding_limit || "" },
    el("td", { "data-label": decidable ? "Approve" : "Status" }, decidable
      ? el("input", { type: "checkbox", className: "pick", value: item.id,
                      "aria-label": `Approve ${name}` })
      : el("span", { class: `status status-${item.status}` }, item.status)),
    el("td", { "data-label": "Campaign" },
      el("strong", {}, el("a", { href: `/campaigns/${item.campaign_id}`, class: "campaign-link" }, name)),
      el("small", { class: "id" }, ` ${item.level} ${item.target_external_id}`)),
    el("td", { "data-label": "Account" }, item.account_name || item.account_external_id,
      el("small", { class: "id" }, ` ${item.network}${item.by_file ? " · by file" : ""}`)),
    el("td", { class: "num", "data-label": "Current" }, money(item.old_budget, item.currency)),
    el("td", { class: "num", "data-label": "Proposed" }, money(item.new_budget, item.currency)),
    el("td", { class: `num ${delta >= 0 ? "up" : "down"}`, "data-label": "Change" }, change(item)),
    el("td", { class: "num", "data-label": "Effect" }, effect(item), sureness(item)),
    el("td", { "data-label": "Reason" }, item.reason,
      item.binding_limit ? el("small", { class: "limit" }, ` limit: ${item.binding_limit}`) : null),
    el("td", { "data-label": "Comment" }, decidable
      ? el("input", { className: "item-comment", maxLength: 2000, value: "",
                      "aria-label": `Comment on ${name}`, placeholder: "comment" })
      : item.comment || ""));
}

// What approving the ticked items leaves as the daily total (items in the shift's currency;
// otherwise the server's figure after the decision is the one to read).
function preview(card, shift) {
  const box = $(".preview", card);
  const ids = new Set($$(".pick:checked", card).map((b) => Number(b.value)));
  if (!ids.size) { box.textContent = ""; return; }
  const picked = shift.items.filter((i) => ids.has(i.id));
  const kept = shift.items.length - picked.length;
  const same = shift.items.every((i) => i.currency === shift.currency);
  const total = Number(shift.total_before) + picked.reduce(
    (sum, i) => sum + Number(i.new_budget) - Number(i.old_budget), 0);
  box.textContent = `Approving ${picked.length} of ${shift.items.length} items`
    + (same ? `: daily total ${money(shift.total_before, shift.currency)} → ${money(total, shift.currency)}` : "")
    + (kept ? `. The ${kept} not approved keep their current budgets.` : ".");
}

function outcome(shift, action) {
  const approved = shift.items.filter((i) => i.status !== "rejected").length;
  const kept = shift.items.length - approved;
  const total = shift.approved_total == null ? ""
    : ` Daily total: ${money(shift.approved_total, shift.currency)} (was `
      + `${money(shift.total_before, shift.currency)}).`;
  if (action === "approve") {
    return `Approved ${approved} of ${shift.items.length} items.`
      + (kept ? ` The ${kept} not approved keep their current budgets.` : "") + total;
  }
  if (action === "reject") return `Rejected: every budget stays as it is.${total}`;
  const applied = shift.items.filter((i) => i.status === "applied").length;
  return `Shift ${shift.status.replace("_", " ")}: ${applied} item(s) now on the platform.`
    + (shift.status === "applied" ? "" : " Failed items can be applied again.");
}

function buttons(card, shift) {
  const row = el("div", { class: "actions" });
  if (shift.status === "proposed" && can("decide_shifts")) {
    row.append(
      el("button", { className: "approve-all", type: "button" }, "Approve all"),
      el("button", { className: "approve-selected", type: "button" }, "Approve selected"),
      el("button", { className: "reject", type: "button" }, "Reject"));
  }
  if (APPLY_FROM.has(shift.status) && can("apply_shifts") && toApply(shift)) {
    row.append(el("button", { className: "apply", type: "button" },
      shift.status === "approved" ? "Apply to the platforms" : "Apply again"));
  }
  if (can("apply_shifts")) {
    for (const network of [...new Set(toFile(shift).map((i) => i.network))].sort()) {
      row.append(el("button", { className: "export", type: "button", "data-network": network,
        "aria-label": `Download the ${network} bulk-edit file of shift ${shift.id}` },
      `Download the ${network} file`));
    }
  }
  if (can("decide_shifts") && awaiting(shift).length) {
    row.append(el("button", { className: "confirm", type: "button",
      "aria-label": `Confirm the platform shows the exported budgets of shift ${shift.id}` },
    "Confirm the platform took it"));
  }
  return row;
}

export function shiftCard(shift, message = null) {
  const card = el("article", { class: "shift", "data-shift-id": shift.id,
                               "data-status": shift.status, "aria-labelledby": `shift-${shift.id}-title` });
  const delta = shift.expected_conversions_delta;
  const decidable = shift.status === "proposed" && can("decide_shifts");
  const commentId = `shift-${shift.id}-comment`;
  card.append(...[
    el("h3", { id: `shift-${shift.id}-title` }, `Shift ${shift.id} `,
      el("span", { class: `status status-${shift.status}` }, shift.status.replace("_", " ")),
      ` · ${shift.items.length} items · moves ${(shift.change_fraction * 100).toFixed(1)}%`
      + ` · proposed by ${shift.created_by}`
      + (shift.rollback_of ? ` · rolls back shift ${shift.rollback_of}` : "")),
    el("p", { class: "total" }, `Daily total ${money(shift.total_before, shift.currency)} → `
      + `${money(shift.approved_total ?? shift.total_after, shift.currency)}`
      + (delta == null ? "" : `; expected ${delta >= 0 ? "+" : ""}${delta.toFixed(1)} conversions`)
      + (shift.decided_by ? `; decided by ${shift.decided_by} ${when(shift.decided_at)}` : "")
      + (shift.status === "proposed" && shift.expires_at ? `; expires ${when(shift.expires_at)}` : "")),
    el("div", { class: "scroll", tabIndex: 0, "aria-label": `Items of shift ${shift.id}` },
      el("table", { class: "items" },
        el("caption", { class: "sr-only" }, `Items of shift ${shift.id}`),
        el("thead", {}, el("tr", {}, ...[decidable ? "Approve" : "Status", "Campaign / ad set", "Account", "Current",
          "Proposed", "Change", "Effect", "Reason", "Comment"].map((h, i) =>
          el("th", { scope: "col", class: i >= 3 && i <= 6 ? "num" : "" }, h)))),
        el("tbody", {}, ...shift.items.map((item) => itemRow(shift, item))))),
    el("p", { class: "preview", "aria-live": "polite" }),
    decidable ? el("label", { for: commentId }, "Comment on the decision") : null,
    decidable ? el("textarea", { id: commentId, className: "comment", maxLength: 2000 }) : null,
    buttons(card, shift),
    el("p", { class: "card-message", role: "status", tabIndex: -1, hidden: true })].filter(Boolean));
  if (message) note($(".card-message", card), message.text, message.ok);
  wire(card, shift);
  return card;
}

function wire(card, shift) {
  const act = async (action, body) => {
    const box = $(".card-message", card);
    try {
      const done = await api(`/shifts/${shift.id}/${action}`, { method: "POST", body });
      card.replaceWith(shiftCard(done, { text: outcome(done, action), ok: true }));
      filterShifts();
      await loadHistory();
    } catch (error) {
      note(box, `Shift ${shift.id}: ${error.message}`);
    }
  };
  const decision = (itemIds) => {
    const comments = {};
    for (const input of $$(".item-comment", card)) {
      const text = input.value.trim();
      if (text) comments[input.closest("tr").dataset.itemId] = text;
    }
    const body = { version: shift.version, comment: ($(".comment", card)?.value || "").trim() || null };
    if (Object.keys(comments).length) body.item_comments = comments;
    if (itemIds) body.item_ids = itemIds;
    return body;
  };
  const click = (sel, fn) => { const b = $(sel, card); if (b) b.onclick = fn; };
  click(".approve-all", () => act("approve", decision(null)));
  click(".reject", () => act("reject", decision(null)));
  click(".approve-selected", () => {
    const ids = $$(".pick:checked", card).map((box) => Number(box.value));
    if (!ids.length) return note($(".card-message", card), "Tick the items to approve first.");
    return act("approve", decision(ids));
  });
  click(".apply", () => act("apply", { version: shift.version }));
  for (const button of $$(".export", card)) button.onclick = () => exportFile(card, shift, button);
  click(".confirm", async () => {
    try {
      const done = await api(`/shifts/${shift.id}/confirm`, { method: "POST", body: {} });
      const text = `Confirmed ${done.confirmed.length} exported item(s): the platform has their `
        + "budgets." + (done.already.length ? ` ${done.already.length} were settled before.` : "")
        + (done.status === "applied" ? " Shift applied." : "");
      card.replaceWith(shiftCard(done, { text, ok: true }));
      filterShifts();
      await loadHistory();
    } catch (error) {
      note($(".card-message", card), `Shift ${shift.id}: ${error.message}`);
    }
  });
  card.addEventListener("change", (event) => {
    if (event.target.classList.contains("pick")) preview(card, shift);
  });
}

// The bulk-edit file comes from POST /export with the token (core.js's download); the items
// in it are then exported, awaiting confirmation.
async function exportFile(card, shift, button) {
  const network = button.dataset.network;
  const box = $(".card-message", card);
  button.disabled = true;
  try {
    const { name, response } = await download(`/shifts/${shift.id}/export`,
      `shift-${shift.id}-${network}.csv`, { method: "POST", body: { network } });
    const count = (response.headers.get("X-Exported-Items") || "").split(",").filter(Boolean).length;
    const done = await api(`/shifts/${shift.id}`);
    const fresh = shiftCard(done, { ok: true, text: `Downloaded ${name} (${count} item(s)). `
      + `Upload it in ${network}'s bulk editor, then confirm here once the platform shows the `
      + "budgets (the next import settles them too)." });
    card.replaceWith(fresh);
    filterShifts();
    await loadHistory();
    $(".card-message", fresh).focus();
  } catch (error) {
    button.disabled = false;
    note(box, `Shift ${shift.id}: ${error.message}`);
  }
}

// Reasons by the limit that shaped a move (the reason's text carries figures of its own).
const LIMITS = { "": "balancing returns (no limit)", lock: "a lock", max_change: "max change per run",
  unit_max: "campaign max", unit_min: "campaign minimum", account_max: "account max",
  account_min: "account minimum", network_max: "network max", network_min: "network minimum",
  target_cpa: "target CPA", min_roas: "minimum ROAS", plan_max: "a plan (at most its pace)",
  plan_min: "a plan (at least its pace)" };
const ORDER = {
  change: (a, b) => Math.abs(b.dataset.delta) - Math.abs(a.dataset.delta),
  amount: (a, b) => b.dataset.amount - a.dataset.amount,
  name: (a, b) => a.dataset.name.localeCompare(b.dataset.name),
  "": (a, b) => a.dataset.itemId - b.dataset.itemId,
};

function fillReasons() {
  const select = $("#filter-reason");
  const was = select.value;
  const found = [...new Set($$("#shifts tr[data-item-id]").map((r) => r.dataset.limit))].sort();
  select.replaceChildren(select.options[0], ...found.map((l) =>
    el("option", { value: l || "none" }, LIMITS[l] || l.replace("_", " "))));
  select.value = [...select.options].some((o) => o.value === was) ? was : "";
}

export function filterShifts() {
  const direction = $("#filter-direction").value;
  const reason = $("#filter-reason").value;
  const order = ORDER[$("#sort-items").value] || ORDER[""];
  for (const card of $$("#shifts .shift")) {
    let shown = 0;
    const body = $("tbody", card);
    body.append(...$$("tr[data-item-id]", body).sort(order));
    for (const row of $$("tr[data-item-id]", body)) {
      const ok = matches({ network: row.dataset.network, account: row.dataset.account,
                           names: row.dataset.names.split("\n") })
        && (!direction || row.dataset.direction === direction)
        && (!reason || (row.dataset.limit || "none") === reason);
      row.hidden = !ok;
      shown += ok ? 1 : 0;
    }
    card.hidden = shown === 0;
  }
}

export async function loadShifts() {
  const list = await api(`/shifts?portfolio=${portfolio()}&limit=50`);
  const open = list.data.filter((s) => INBOX.has(s.status));
  const shifts = await Promise.all(open.map((s) => api(`/shifts/${s.id}`)));
  $("#shifts").replaceChildren(...(shifts.length ? shifts.map((s) => shiftCard(s))
    : [el("p", { class: "empty" }, "Nothing waits for a decision or to be applied.")]));
  fillReasons();
  filterShifts();
}

// -- history ----------------------------------------------------------------------------------
export const VERBS = { "shift.propose": "proposed", "shift.approve": "approved",
  "shift.reject": "rejected", "shift.expire": "expired", "shift.applying": "apply started",
  "shift.applied": "applied", "shift.partially_applied": "partially applied",
  "shift.failed": "failed", "shift.apply_dry_run": "dry run", "shift.rollback_proposed":
  "proposed as a rollback", "shift.rollback_requested": "rollback requested",
  "shift.export": "exported to a file", "shift.exported": "awaiting confirmation" };

async function timelines() {
  if (!can("read_audit")) return new Map();
  const events = await api("/audit?entity_type=shift&limit=200");
  const out = new Map();
  for (const e of events.data.slice().reverse()) {
    const verb = VERBS[e.action] || e.action.replace("shift.", "");
    const line = `${verb} by ${e.actor} ${when(e.at)}`;
    out.set(String(e.entity_id), [...(out.get(String(e.entity_id)) || []), line]);
  }
  return out;
}

function historyRow(shift, undoneBy, lines) {
  const rolled = undoneBy.find((r) => r.status === "applied");
  const label = rolled ? "rolled back" : shift.status.replace("_", " ");
  const cell = el("td", { "data-label": "Action" });
  if (shift.status === "applied" && !undoneBy.length && can("decide_shifts")) {
    const button = el("button", { className: "rollback", type: "button" }, "Roll back");
    const box = el("span", { class: "row-message", role: "status", hidden: true });
    button.onclick = async () => {
      try {
        const made = await api(`/shifts/${shift.id}/rollback`, { method: "POST",
          body: { reason: `rolled back from the dashboard` } });
        await loadShifts();
        await loadHistory();
        const row = $(`#history tr[data-shift-id="${shift.id}"] .row-message`);
        note(row || box, `Rollback proposed as shift ${made.id}: approve and apply it in the inbox.`, true);
      } catch (error) {
        note(box, `Shift ${shift.id}: ${error.message}`);
      }
    };
    cell.append(button, box);
  } else {
    cell.append(el("span", { class: "row-message", role: "status", hidden: true }));
  }
  const links = [shift.rollback_of ? `undoes shift ${shift.rollback_of}` : "",
    ...undoneBy.map((r) => `rollback: shift ${r.id} (${r.status.replace("_", " ")})`)].filter(Boolean);
  return el("tr", { "data-shift-id": shift.id, "data-status": label.replace(" ", "_") },
    el("td", { "data-label": "Shift" }, `#${shift.id}`),
    el("td", { "data-label": "Status" }, el("span", { class: `status status-${label.replace(" ", "_")}` }, label)),
    el("td", { "data-label": "Proposed" }, `${shift.created_by}, ${when(shift.created_at)}`),
    el("td", { "data-label": "Decided" }, shift.decided_by
      ? `${shift.decided_by}, ${when(shift.decided_at)}` : "—",
      shift.comment ? el("small", { class: "comment-text" }, ` “${shift.comment}”`) : null),
    el("td", { class: "num", "data-label": "Daily total" },
      `${money(shift.total_before, shift.currency)} → ${money(shift.approved_total ?? shift.total_after, shift.currency)}`),
    el("td", { "data-label": "What happened" },
      el("ul", { class: "timeline" }, ...[...lines, ...links].map((l) => el("li", {}, l)))),
    cell);
}

export async function loadHistory() {
  const [list, lines] = await Promise.all([api(`/shifts?portfolio=${portfolio()}&limit=100`),
    timelines()]);
  const undoers = new Map();
  for (const s of list.data) {
    if (s.rollback_of) undoers.set(s.rollback_of, [...(undoers.get(s.rollback_of) || []), s]);
  }
  const done = list.data.filter((s) => s.status !== "proposed");
  $("#history tbody").replaceChildren(...(done.length
    ? done.map((s) => historyRow(s, undoers.get(s.id) || [], lines.get(String(s.id)) || []))
    : [el("tr", {}, el("td", { colSpan: 7, class: "empty" }, "No decided shifts yet."))]));
}
