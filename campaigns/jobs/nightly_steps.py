"""The nightly run as a Celery workflow: what its tasks (:mod:`campaigns.jobs.nightly_tasks`)
do, run by ``budgetpilot worker``.

Per portfolio (:mod:`campaigns.jobs.nightly_workflow` submits it)::

    nightly_prepare ── expire, apply_approved, list each source's accounts
      └─ chord(group(nightly_sync_account per account and source)) ─┐
         nightly_optimise ◄─────────────────────────────────────────┘ sync recorded,
           hard_stop, propose, auto_approve (the kill switch read before each)
           └─ chord(group(nightly_apply_account per account)) ─┐
              nightly_finish ◄────────────────────────────────┘ settle, alerts, finish

Every step is the in-process run's own (:class:`campaigns.jobs.nightly._Run`), rebuilt on the
worker from the run's context: what the earlier tasks decided travels as JSON (``ctx``). A
header task never fails the chord: an account whose sync failed, gave up after
``max_attempts`` or ran past ``[queue] account_time_limit`` comes back as that account's
failed outcome, so the callback always runs and the run names the account and goes on
without it. Tasks are acknowledged late: a task delivered again after its worker died runs
again unless the run has moved past its stage (:func:`progress.claim`: never two proposals
for one run); a redelivered apply claims its items again and finds them taken (exactly
once), and the run's finish is written once (:func:`progress.close`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from decimal import Decimal
from typing import Any

from celery import chord, group
from celery.exceptions import Retry
from kombu.utils.uuid import uuid
from sqlmodel import Session

from campaigns.columns import utcnow
from campaigns.db import session_scope
from campaigns.ingest.sync import (
    SyncReport,
    _list_accounts,
    account_failure,
    sync_fx,
)
from campaigns.jobs import nightly_progress as progress
from campaigns.jobs.apply_limits import fail_unfinished, task_claim
from campaigns.jobs.nightly import _evaluate_alerts, _Run, check_config
from campaigns.jobs.nightly_hard_stop import NIGHTLY
from campaigns.jobs.nightly_report import (
    NightlyReport,
    StepTiming,
    item_changes,
    outcome_from_json,
    outcome_to_json,
    timing_from_facts,
)
from campaigns.jobs.nightly_runs import error_text
from campaigns.jobs.nightly_sync import feeding_sources, source_done
from campaigns.jobs.nightly_tasks import (
    failed_sync,
    nightly_apply_account,
    nightly_chord_failed,
    nightly_finish,
    nightly_optimise,
    nightly_sync_account,
)
from campaigns.jobs.workers import (
    _connector,
    _engine,
    _worker_settings,
    account_time_limits,
    apply_one,
    hard_limit_reason,
    report_to_json,
)
from campaigns.jobs.workers import (
    outcome_from_json as stream_from_json,
)
from campaigns.jobs.workers import (
    outcome_to_json as stream_to_json,
)
from campaigns.models import SyncRun
from campaigns.shifts import lifecycle as shifts
from campaigns.shifts import writeback
from campaigns.shifts.report import ApplyReport, ItemOutcome
from campaigns.shifts.states import ShiftStatus
from connectors.base import AccountRecord, FxSource

log = logging.getLogger("budgetpilot.nightly")
# The workflow's stages (progress.claim): a task delivered again after its worker died runs
# its stage again unless the run moved past it, so nothing is proposed or approved twice.
PREPARE, OPTIMISE, PROPOSED, RECOVERED = 1, 2, 3, 4


def _run_for(ctx: dict[str, Any]) -> _Run:
    """The portfolio's run as the earlier tasks left it."""
    settings = _worker_settings()
    lookup = writeback.configured_connectors(settings)
    report = NightlyReport(dry_run=ctx["dry"])
    saved = ctx.get("report", {})
    report.synced = list(saved.get("synced", []))
    report.sync_failures = list(saved.get("sync_failures", []))
    report.unsynced = set(saved.get("unsynced", []))
    report.alerts_created = int(saved.get("alerts_created", 0))
    report.timings = [timing_from_facts(t) for t in saved.get("timings", [])]
    run = _Run(_engine(), settings, check_config(settings), ctx["portfolio"], ctx["key"],
               shifts.writeback_applier(settings, connectors=lookup), lookup, ctx["dry"],
               utcnow, report, set(), None, holder=ctx["holder"])
    if "outcome" in ctx:
        run.outcome = outcome_from_json(ctx["outcome"])
        run.applier = _timed(run)
    run.started_at = dt.datetime.fromisoformat(ctx["started_at"])
    return run


def _timed(run: _Run) -> shifts.ItemApplier:
    from campaigns.jobs.nightly_apply import timed_applier

    return timed_applier(shifts.writeback_applier(run.settings, connectors=run.lookup),
                         run.outcome.timings)


def _saved(run: _Run, ctx: dict[str, Any]) -> dict[str, Any]:
    """``ctx`` with what the run has decided so far, for the next task."""
    r = run.report
    return {**ctx, "outcome": outcome_to_json(run.outcome), "report": {
        "synced": r.synced, "sync_failures": r.sync_failures, "unsynced": sorted(r.unsynced),
        "alerts_created": r.alerts_created, "timings": [t.facts() for t in r.timings]}}


def _steps(run: _Run, *names: str) -> list[Any]:
    return [s for s in run.steps() if s[0] in names]


def prepare(ctx: dict[str, Any]) -> None:
    """Apply what managers approved, then list the accounts and fan their syncs out."""
    if not progress.claim(_engine(), ctx["key"], PREPARE, again=True):
        log.warning("nightly %s: prepared already; this delivery does nothing", ctx["key"])
        return
    run = _run_for(ctx)
    run.run_steps(_steps(run, "expire", "apply_approved"))
    body = nightly_optimise.s(_saved(run, ctx))
    if not run.config.scheduler.sync:
        body.delay([])
        return
    progress.at_step(run.engine, run.key, "sync")
    now = utcnow()
    sources, signatures = _listings(run, now, ctx.get("busy_sources", []))
    body = nightly_optimise.s({**_saved(run, ctx), "sources": sources,
                               "sync_started": now.isoformat(),
                               "sync_tasks": [s.id for s in signatures]})
    if signatures:
        # A header task ended by force (the hard time limit, a worker lost for good) fails
        # the chord, and Celery then calls the body's errback instead of the body: it
        # optimises without the accounts those tasks held (nightly_sync_recover).
        chord(group(signatures), body.on_error(nightly_chord_failed.s())).apply_async()
    else:
        body.delay([])


def _listings(run: _Run, now: dt.datetime, busy: list[str]
              ) -> tuple[list[dict[str, Any]], list[Any]]:
    """Each source's accounts (one listing call each) and one sync task per account; an
    account the listing could not reach is failed here, by name. A source in ``busy`` is
    being synced by another run: left out, as in-process."""
    limits = account_time_limits(run.settings)
    sources, signatures = [], []
    for source in feeding_sources(run.settings, run.name):
        entry: dict[str, Any] = {"source": source.name, "accounts": [], "failures": [],
                                 "complete": False}
        sources.append(entry)
        if source.name in busy:  # its sync lock is another run's (the submitter tried it)
            entry["busy"] = True
            continue
        try:
            connector = _connector(source.name)
            listed = SyncReport(source.name)
            listing = _list_accounts(run.engine, source, connector, listed)
        except Exception as e:  # one source never stops the run
            log.exception("nightly: listing the accounts of %s failed", source.name)
            entry["error"] = error_text(e)
            continue
        entry["failures"] = [stream_to_json(o) for o in listed.outcomes]
        if listing is None:
            continue
        accounts, unreachable = listing
        network = getattr(connector, "name", source.kind)
        entry["failures"] += [stream_to_json(account_failure(run.engine, source, network, ext,
                                                             err))
                              for ext, err in unreachable.items()]
        entry["complete"] = not unreachable
        entry["accounts"] = [dataclasses.asdict(a) for a in accounts]
        progress.add_accounts(run.engine, run.key, len(accounts) + len(unreachable))
        for _ in unreachable:
            progress.account_done(run.engine, run.key, failed=True)
        signatures += [
            nightly_sync_account.s(run.key, source.name, record, now.isoformat())
            # Past the soft limit the task stops and names the account; the hard limit
            # (the grace later) ends a task that ignores it. Each task's id is known up
            # front, so a failed chord can still read every account's result.
            .set(**limits, task_id=uuid())
            for record in entry["accounts"]
        ]
    return sources, signatures


def optimise(results: list[Any], ctx: dict[str, Any]) -> None:
    """The chord's callback: the portfolio's accounts are in (or named as failed). Record
    the sync, then hard stop, propose and auto-approve, and fan the apply out."""
    if not progress.claim(_engine(), ctx["key"], OPTIMISE, again=True):
        # A delivery after a lost worker whose run had proposed already: never twice.
        log.warning("nightly %s: proposed already; this delivery does nothing", ctx["key"])
        return
    # Recording thousands of accounts' outcomes takes a while: the progress line says so
    # instead of a sync whose accounts are all in (their counts stay in the row).
    progress.at_step(_engine(), ctx["key"], "record_sync")
    run = _run_for(ctx)
    if run.config.scheduler.sync:
        _record_sync(run, ctx, results)
    run.run_steps(_steps(run, "hard_stop"))
    progress.claim(run.engine, run.key, PROPOSED)
    run.run_steps(_steps(run, "propose", "auto_approve"))
    ctx = _saved(run, ctx)
    if run.config.scheduler.apply:
        progress.at_step(run.engine, run.key, "apply")
        started = utcnow().isoformat()
        try:
            groups = _start_apply(run)
        except Exception as e:  # recorded as the apply step's failure; the run still ends
            log.exception("nightly: apply of portfolio %s failed", run.name)
            ctx = {**ctx, "apply": {"error": error_text(e), "started": started}}
        else:
            ctx = {**_saved(run, ctx), "apply": {"groups": groups, "started": started,
                                                 "shift_id": run.outcome.shift_id}}
            if groups:
                now = utcnow().isoformat()
                # The sync's time limits: past the soft one an account's unwritten items
                # fail by name, the hard one ends a task that ignores it (recover()).
                limits = account_time_limits(run.settings)
                header = [nightly_apply_account.s(run.outcome.shift_id, ids, NIGHTLY.name, now)
                          .set(**limits, task_id=uuid()) for ids in groups.values()]
                ctx = {**ctx, "apply_tasks": [s.id for s in header]}
                chord(group(header),
                      nightly_finish.s(ctx).on_error(nightly_chord_failed.s())).apply_async()
                return
    nightly_finish.delay([], ctx)


def _record_sync(run: _Run, ctx: dict[str, Any], results: list[Any]) -> None:
    """The sync step as the in-process run records it: each source (its accounts, their
    failures named, FX rates), the accounts left out of what the run approves."""
    started = dt.datetime.fromisoformat(ctx["sync_started"])
    step = StepTiming("sync")
    answers = iter(results or [])
    now = started
    try:
        for entry in ctx.get("sources", []):
            seconds = round((utcnow() - started).total_seconds(), 3)
            timing = StepTiming("sync", entry["source"], seconds)
            run.outcome.timings.append(timing)
            if entry.get("busy"):  # as the in-process run reports it
                timing.error = "being synced by another run"
                run.report.sync_failures.append(f"{entry['source']}: {timing.error}")
                continue
            if "error" in entry:
                run.report.unsynced |= source_done(run.engine, run.key, run.report,
                                                   run.outcome.timings, timing, None,
                                                   [entry["error"]])
                continue
            result = SyncReport(entry["source"], [stream_from_json(o)
                                                  for o in entry["failures"]])
            for _ in entry["accounts"]:
                result.outcomes.extend(stream_from_json(o) for o in next(answers, []))
            _after_accounts(run, entry, result, now)
            failed = [f"{o.account} {o.stream}: {o.error}" for o in result.failed]
            run.report.unsynced |= source_done(run.engine, run.key, run.report,
                                               run.outcome.timings, timing, result, failed)
    except Exception as e:  # recorded as the sync step's failure; the next steps still run
        log.exception("nightly: sync of portfolio %s failed", run.name)
        run.fail("sync", step, e)
    step.seconds = round((utcnow() - started).total_seconds(), 3)
    run.outcome.timings.append(step)
    run.step_done("sync", step)


def _after_accounts(run: _Run, entry: dict[str, Any], result: SyncReport,
                    now: dt.datetime) -> None:
    """What :func:`campaigns.ingest.sync.sync_source` does once the accounts are synced:
    a complete listing clears old listing failures; the FX rates the accounts need."""
    accounts = [AccountRecord(**a) for a in entry["accounts"]]
    if entry["complete"]:
        with session_scope(run.engine) as session:
            session.add(SyncRun(source=entry["source"], stream="accounts", rows=len(accounts),
                                status="succeeded", finished_at=utcnow()))
    connector = _connector(entry["source"])
    if isinstance(connector, FxSource) and accounts:
        result.outcomes.append(sync_fx(run.engine, run.settings,
                                       run.settings.source(entry["source"]), connector,
                                       accounts, now=now))


def _start_apply(run: _Run) -> dict[str, list[int]]:
    """Move the auto-approved shift to ``applying`` and return its items per account (one
    task each); nothing when there is nothing to apply or an account is paused now."""
    from campaigns.admin import automation

    shift_id = run.outcome.shift_id
    if not run.outcome.auto_approved or shift_id is None or run.dry:
        return {}
    with session_scope(run.engine) as session:
        view = shifts.get_shift(session, shift_id)
        todo = [i for i in view.items if i.status in writeback.APPLICABLE]
        accounts = {c.item_id: c.account_key for c in item_changes(session, todo, "")}
        blocked = sorted(set(accounts.values()) & automation.pause_state(session).paused_accounts)
        if blocked:  # the kill switch, read again just before the write-back
            run.outcome.held.append(f"shift {shift_id} waits: accounts {', '.join(blocked)} "
                                    "are paused")
            return {}
        shifts.start_applying(session, view, user=NIGHTLY)
    groups: dict[str, list[int]] = {}
    for item in todo:
        assert item.id is not None
        groups.setdefault(accounts[item.id], []).append(item.id)
    return dict(sorted(groups.items()))


def apply_account(
    self: Any, shift_id: int, item_ids: list[int], actor: str, now: str,
) -> dict[str, Any]:
    """One account's items of the run's shift, claimed and written as ``shifts apply`` on
    the workers does; a failure comes back as the items' error, never the chord's."""
    start = time.monotonic()
    try:
        value = apply_one(self, shift_id, item_ids, actor, now, False)
    except Retry:
        raise
    except Exception as e:  # the items stay claimable for a later apply
        value = {"error": error_text(e)}
    return {**value, "seconds": round(time.monotonic() - start, 3)}


def finish(results: list[Any], ctx: dict[str, Any]) -> None:
    """Settle the shift from the accounts' reports, evaluate alerts, close the run."""
    run = _run_for(ctx)
    info = ctx.get("apply")
    if info is not None:
        step = StepTiming("apply")
        try:
            if "error" in info:
                raise RuntimeError(info["error"])
            _settle(run, info, results or [])
        except Exception as e:
            run.fail("apply", step, e)
        started = dt.datetime.fromisoformat(info["started"])
        step.seconds = round((utcnow() - started).total_seconds(), 3)
        run.outcome.timings.append(step)
        run.step_done("apply", step)
    if not run.dry:
        progress.at_step(run.engine, run.key, "alerts")
        run.report.alerts_created += _evaluate_alerts(run.engine, run.config, utcnow(),
                                                      run.report)
    if not run.finish(on_workers=True):
        log.info("nightly %s: already closed; this delivery records nothing", run.key)


def _settle(run: _Run, info: dict[str, Any], results: list[dict[str, Any]]) -> None:
    shift_id = info.get("shift_id")
    groups: dict[str, list[int]] = info.get("groups") or {}
    if shift_id is None or not groups:
        return
    report = ApplyReport(shift_id)
    for (account, item_ids), value in zip(groups.items(), results, strict=False):
        timing = StepTiming("apply_account", account, float(value.get("seconds", 0.0)))
        run.outcome.timings.append(timing)
        if "error" in value:
            timing.error = value["error"]
            continue
        part = _report(shift_id, value)
        timing.detail = f"shift {shift_id}: {part.done} of {len(item_ids)} items done"
        if int(value.get("attempt", 1)) > 1:
            timing.detail += f"; attempt {value['attempt']}: an earlier delivery lost its worker"
        if part.failed:
            timing.error = f"{part.failed} items failed"
        for outcome in part.outcomes:
            report.add(outcome)
    with session_scope(run.engine) as session:
        view = shifts.settle(session, shift_id, actor=NIGHTLY.name, now=utcnow())
    run.outcome.applied.append(shift_id)
    done = {i for ids in groups.values() for i in ids}
    with Session(run.engine) as session:
        now = shifts.get_shift(session, shift_id)
        touched = [i for i in now.items if i.id in done]
        run.outcome.changes.extend(item_changes(
            session, touched, {i.id or 0: i.status for i in touched}))
    if view.shift.status != ShiftStatus.APPLIED:
        raise RuntimeError(f"shift {shift_id} ended {view.shift.status}")


def _report(shift_id: int, value: dict[str, Any]) -> ApplyReport:
    report = ApplyReport(shift_id)
    report.claimed = int(value.get("claimed", 0))
    for o in value.get("outcomes", []):
        report.add(ItemOutcome(**{
            **o, "new_budget": Decimal(o["new_budget"]),
            "platform_budget": None if o["platform_budget"] is None
            else Decimal(o["platform_budget"]),
        }))
    return report


def recover(stage: str, ctx: dict[str, Any]) -> None:
    """The body of a chord that failed: each header task's result read from the result
    backend by its id; one that ended by force is its account's failure (recorded and counted
    as such: the task never did), and the run goes on without it."""
    # Celery may call a chord's errback more than once (a time limit is reported by the pool
    # and by the task's request): the first recovery of a stage is the only one.
    if not progress.claim(_engine(), ctx["key"], RECOVERED if stage == "apply" else OPTIMISE):
        log.warning("nightly %s: the %s chord was recovered already", ctx["key"], stage)
        return
    if stage == "apply":
        groups = (ctx.get("apply") or {}).get("groups") or {}
        values = []
        shift_id = (ctx.get("apply") or {}).get("shift_id")
        for (account, item_ids), task_id in zip(groups.items(), ctx.get("apply_tasks", []),
                                                 strict=False):
            value, error = _result_of(task_id, ctx)
            if isinstance(error, TimeoutError) and shift_id is not None:  # the hard limit
                # The task is over: the items it still held fail, named, instead of waiting
                # out the claim timeout; the shift is left to a later apply.
                part = fail_unfinished(_engine(), shift_id, item_ids, task_claim(task_id),
                                       f"apply of {account}: {error_text(error)}",
                                       actor=NIGHTLY.name, now=utcnow())
                value = {**report_to_json(part), "seconds": 0.0}
                error = None
            values.append(value if error is None else
                          {"error": f"apply of {account}: {error_text(error)}", "seconds": 0.0})
        finish(values, ctx)
        return
    engine = _engine()
    records = [(e["source"], a) for e in ctx.get("sources", []) if "error" not in e
               for a in e["accounts"]]
    answers = []
    for (source, record), task_id in zip(records, ctx.get("sync_tasks", []), strict=False):
        value, error = _result_of(task_id, ctx)
        if error is None:
            answers.append(value)
            continue
        log.error("nightly %s: sync of %s:%s ended by force: %s", ctx["key"],
                  record["network"], record["external_id"], error)
        answers.append([stream_to_json(failed_sync(source, record, error))])
        progress.account_done(engine, ctx["key"], failed=True)
    optimise(answers, ctx)


def _result_of(task_id: str, ctx: dict[str, Any]) -> tuple[Any, BaseException | None]:
    """A header task's value, or why it has none (its exception, named for a forced end)."""
    from campaigns.jobs.workers import worker_app

    result = worker_app().AsyncResult(task_id)
    state, value = result.state, result.result
    if state == "SUCCESS":
        return value, None
    kind = type(value).__name__ if isinstance(value, BaseException) else ""
    if kind == "TimeLimitExceeded":
        return None, TimeoutError(hard_limit_reason(_worker_settings()))
    if kind == "WorkerLostError":
        return None, RuntimeError("its worker process was lost mid-task")
    if isinstance(value, BaseException):
        return None, value
    return None, RuntimeError(f"no result from its task ({state})")
