"""A nightly run's portfolios on the workers side by side, not one after another.

An agency keeps a portfolio per client; on the workers each portfolio's run is a workflow
of its own (:mod:`campaigns.jobs.nightly_workflow`), and the submitter only holds its locks
and waits. Waiting for each in turn left the workers idle at every portfolio's optimise
step (one task) and kept one portfolio's sync from running while another applied. Here each
portfolio is submitted and waited for on a thread of its own, up to ``[queue]
portfolios_at_once`` at a time, so their stages overlap on the workers. A portfolio
sharing a source with one listed before it still starts only once that one has finished
(the source's sync lock belongs to one run at a time, and the earlier portfolio's sync
must not be skipped as busy), so shared sources are synced as before. The report lists the
portfolios in the order given, whichever finished first.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine

from campaigns.config import Settings
from campaigns.jobs import nightly_progress as progress
from campaigns.jobs.lock import try_lock
from campaigns.jobs.nightly_report import NightlyReport, PortfolioOutcome
from campaigns.jobs.nightly_runs import run_key
from campaigns.jobs.nightly_sources import feeding_sources


def run_portfolios_on_workers(
    engine: Engine, settings: Settings, names: list[str],
    slot_of: Callable[[str], dt.datetime], *, force: bool, dry: bool, holder: str,
    report: NightlyReport, on_progress: Callable[[str], None] | None,
) -> None:
    """Each portfolio of ``names`` run as its workflow, several at once; their outcomes
    and reports join ``report`` in the order of ``names``."""
    sources = {name: {s.name for s in feeding_sources(settings, name)} for name in names}
    done = {name: threading.Event() for name in names}
    # The portfolios listed before each one that share a source with it: it waits for them.
    after = {name: [earlier for earlier in names[:i] if sources[earlier] & sources[name]]
             for i, name in enumerate(names)}
    parts = {name: NightlyReport(dry_run=dry) for name in names}

    def one(name: str) -> None:
        try:
            for earlier in after[name]:
                done[earlier].wait()
            parts[name].portfolios.append(_run_one(
                engine, settings, name, slot_of(name), force=force, dry=dry, holder=holder,
                report=parts[name], on_progress=on_progress))
        finally:
            done[name].set()

    # A portfolio waiting for an earlier one holds a thread but no connection; the earlier
    # one was submitted before it, so it always has a thread and the wait ends.
    at_once = settings.queue.portfolios_at_once
    with ThreadPoolExecutor(max_workers=max(1, min(at_once, len(names))),
                            thread_name_prefix="nightly") as pool:
        futures = [pool.submit(one, name) for name in names]
    for name, future in zip(names, futures, strict=True):
        future.result()  # an error of this process (not of a workflow) is raised here
        part = parts[name]
        report.portfolios += part.portfolios
        report.synced += part.synced
        report.sync_failures += part.sync_failures
        report.unsynced |= part.unsynced
        report.alerts_created += part.alerts_created
        report.timings += part.timings


def _run_one(
    engine: Engine, settings: Settings, name: str, at: dt.datetime, *, force: bool, dry: bool,
    holder: str, report: NightlyReport, on_progress: Callable[[str], None] | None,
) -> PortfolioOutcome:
    """One portfolio's run as the in-process loop starts it (its lock, skipped when another
    process runs it, finished already or paused), then its workflow, waited for."""
    from campaigns.jobs.nightly import _why_skipped
    from campaigns.jobs.nightly_workflow import run_on_workers

    key = run_key(name, at)
    with try_lock(engine, f"nightly:{name}") as held:
        skipped = _why_skipped(engine, name, key, at, held=held, force=force, dry=dry)
        if skipped is not None:
            return PortfolioOutcome(name, "skipped", skipped)
        run_as = f"{key} dry-run" if dry else key
        progress.begin(engine, run_as, name, holder=holder, on_workers=True)
        return run_on_workers(engine, settings, name, run_as, dry=dry, holder=holder,
                              report=report, on_progress=on_progress)
