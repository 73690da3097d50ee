// The automation panel: the kill switch (all, this portfolio, one account), the nightly run's
// settings as the config has them (dry run, hard stop, schedule; read-only), and the last
// runs with what each changed and what it left waiting.
import { $, api, can, el, money, note, portfolio, when } from "./core.js";

const accounts = new Map(); // network:external_id -> name, for the pauses and the picker

function where(pause) {
  if (pause.scope === "global") return "all automation";
  if (pause.scope === "account") {
    const name = accounts.get(pause.scope_key);
    return `account ${name ? `${name} (${pause.scope_key})` : pause.scope_key}`;
  }
  return `${pause.scope} ${pause.scope_key}`;
}

async function control(action, scope) {
  const box = $("#automation-message");
  const reason = $("#automation-reason").value.trim();
  if (!reason) return note(box, "Say why first: the reason goes to the audit log.");
  const body = { reason };
  if (scope.scope === "portfolio") body.portfolio = scope.scope_key;
  if (scope.scope === "account") body.account = scope.scope_key;
  try {
    await api(`/automation/${action}`, { method: "POST", body });
    note(box, `${action === "pause" ? "Paused" : "Resumed"} ${where(scope)}.`, true);
    $("#automation-reason").value = "";
  } catch (error) {
    note(box, `Automation: ${error.message}`);
  }
  return loadAutomation();
}

async function loadAccounts() {
  const list = await api(`/scopes?portfolio=${portfolio()}&scope=account`);
  accounts.clear();
  for (const a of list.data) accounts.set(a.key, a.name);
  const select = $("#pause-account-key");
  const was = select.value;
  select.replaceChildren(...list.data.map((a) => el("option", { value: a.key },
    `${a.name} (${a.key})`)));
  if ([...select.options].some((o) => o.value === was)) select.value = was;
  $("#pause-account").disabled = !list.data.length;
}

function settingsList(state) {
  const mine = state.schedules.find((s) => s.portfolio === ($("#portfolio").value || "default"));
  const sched = state.scheduler;
  const rows = [
    ["Mode", state.dry_run
      ? el("span", { class: "dry" }, "dry run: the nightly records what it would apply and writes nothing")
      : "live: the nightly writes approved budgets to the platforms"],
    ["Schedule", mine ? `${mine.cron} (${sched ? sched.timezone : "UTC"})`
      + `${mine.next_run ? `; next run ${when(mine.next_run)}` : ""}`
      + `${mine.paused ? "; paused: the run will be skipped" : ""}` : "—"],
    ["Started by", sched && sched.enabled ? "the service (budgetpilot serve)"
      : "cron (budgetpilot nightly); the service's scheduler is off"],
    ["Steps", sched ? [sched.sync && "sync", "propose", sched.auto_approve && "auto-approve",
      sched.apply && "apply"].filter(Boolean).join(", ") : "—"],
    ["At a hard plan", state.hard_stop === "pause" ? "pause the accounts and leave it to a person"
      : "lower the budgets to land on it"],
    ["Plans", state.follow_plans
      ? `followed: planned networks and accounts stay within ${Math.round(state.plan_band * 100)}% of their plan's pace`
      : "not followed by the runs (optimizer.follow_plans is off); pacing compares with them"],
  ];
  $("#automation-settings").replaceChildren(...rows.flatMap(([term, value]) =>
    [el("dt", {}, term), el("dd", { "data-setting": term.toLowerCase() }, value)]));
}

export async function loadAutomation() {
  const [state] = await Promise.all([api("/automation"), loadAccounts()]);
  const allowed = can("control_automation");
  $("#automation-controls").hidden = !allowed;
  $("#automation-state").textContent = state.paused ? "All automation is paused."
    : state.pauses.length ? "Automation runs, except where paused." : "Automation is running.";
  document.body.dataset.automation = state.paused ? "paused" : "running";
  document.body.dataset.dryRun = state.dry_run ? "1" : "0";
  settingsList(state);
  $("#pauses").replaceChildren(...state.pauses.map((pause) => {
    const li = el("li", { class: "pause", "data-scope": pause.scope, "data-key": pause.scope_key },
      `Paused: ${where(pause)} by ${pause.paused_by} since ${when(pause.paused_at)}: ${pause.reason} `);
    if (allowed) {
      const resume = el("button", { className: "resume", type: "button",
        "aria-label": `Resume ${where(pause)}` }, "Resume");
      resume.onclick = () => control("resume", pause);
      li.append(resume);
    }
    return li;
  }));
  await loadRuns();
}

// -- the last nightly runs --------------------------------------------------------------------
const SHOWN = 8; // changes listed per run; the rest are counted

function runItem(run) {
  const changed = run.changes.filter((c) => c.outcome !== "already");
  const head = `${when(run.finished_at)} · ${run.status}${run.dry_run ? " · dry run" : ""}`
    + (run.shift_id ? ` · proposed shift ${run.shift_id}` : "")
    + (run.applied.length ? ` · applied shift(s) ${run.applied.join(", ")}` : "")
    + ` · ${changed.length} budget(s) ${run.dry_run ? "would change" : "changed"}`;
  const lines = changed.slice(0, SHOWN).map((c) => el("li", { class: "change" },
    `${c.campaign} (${accounts.get(c.account) || c.account}): ${money(c.old, c.currency)} → `
    + `${money(c.new, c.currency)}, ${c.outcome}`));
  if (changed.length > SHOWN) lines.push(el("li", {}, `and ${changed.length - SHOWN} more`));
  const held = run.held.map((h) => el("li", { class: "held" }, `Held: ${h}`));
  const errors = Object.entries(run.errors || {}).map(([step, e]) =>
    el("li", { class: "error" }, `${step} failed: ${e}`));
  return el("li", { class: `run run-${run.status}`, "data-run-id": run.id }, head,
    lines.length + held.length + errors.length ? el("ul", {}, ...lines, ...held, ...errors) : null);
}

async function loadRuns() {
  if (!can("read_audit")) {
    $("#runs").replaceChildren(el("li", { class: "empty" },
      "Your role does not read the run log (finance, managers and admins do)."));
    return;
  }
  const list = await api(`/nightly-runs?portfolio=${portfolio()}&limit=5`);
  $("#runs").replaceChildren(...(list.data.length ? list.data.map(runItem)
    : [el("li", { class: "empty" }, "No nightly run has finished yet.")]));
}

$("#pause-all").onclick = () => control("pause", { scope: "global", scope_key: "" });
$("#pause-portfolio").onclick = () =>
  control("pause", { scope: "portfolio", scope_key: $("#portfolio").value || "default" });
$("#pause-account").onclick = () =>
  control("pause", { scope: "account", scope_key: $("#pause-account-key").value });
