"""Which applier writes approved budgets: in this process, or on Celery workers.

The shift lifecycle (:mod:`campaigns.shifts`) takes any ``ItemApplier`` and knows nothing of
workers; choosing one by the config's ``[queue]`` belongs here, above both.
"""

from __future__ import annotations

from typing import Any

from campaigns.shifts.lifecycle import ItemApplier, writeback_applier


def production_applier(settings: Any) -> ItemApplier:
    """With ``[queue] broker_url``, each account's items are applied by a Celery worker
    (:mod:`campaigns.jobs.writeback_fanout`); without one, in this process."""
    broker = getattr(getattr(settings, "queue", None), "broker_url", None)
    if broker:
        from campaigns.jobs.writeback_fanout import workers_applier

        return workers_applier(settings)
    return writeback_applier(settings)
