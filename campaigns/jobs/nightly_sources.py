"""Which sources feed a nightly run's portfolio, and the connections its submitter holds for
them: read from the settings alone, so that any command (`nightly`, `serve`) sizes its
engine without importing the nightly run itself (a second of imports)."""

from __future__ import annotations

from campaigns.config import Settings, SourceSettings
from campaigns.jobs.schedules import portfolio_names


def feeding_sources(settings: Settings, portfolio: str) -> list[SourceSettings]:
    """The sources whose accounts may belong to ``portfolio``: those assigned to it, or every
    source when the portfolio lists its accounts (they may come from any source)."""
    from campaigns.ingest.connectors import syncable_sources

    sources = syncable_sources(settings)
    listed = any(p.name == portfolio and p.accounts for p in settings.portfolios)
    return sources if listed else [s for s in sources if s.portfolio == portfolio]


# Connections a portfolio waited for holds beside its sources' sync locks: its own lock,
# and one now and then to read its progress.
OWN_CONNECTIONS = 2
# The submitter's other connections at the same time (the run's start, the report).
SPARE_CONNECTIONS = 5


def submitter_connections(settings: Settings) -> int:
    """PostgreSQL connections the process running a nightly on the workers may hold at once:
    the ``portfolios_at_once`` portfolios needing most, each its lock, its sources' sync
    locks (every source, for one that lists its accounts) and a progress read, and a few
    more. Its engine opens up to this many (:func:`campaigns.db.open_engine`) so that no
    portfolio waits for a connection another one holds for its whole run."""
    needs = sorted((OWN_CONNECTIONS + len(feeding_sources(settings, name))
                    for name in portfolio_names(settings)), reverse=True)
    return sum(needs[:settings.queue.portfolios_at_once]) + SPARE_CONNECTIONS


def engine_connections(settings: Settings) -> int | None:
    """The connections a command's engine opens up to: :func:`submitter_connections` when a
    broker is configured (any command may then submit a nightly: `nightly`, `serve`'s
    scheduler), else None (the engine's own default: the run stays in-process)."""
    return submitter_connections(settings) if settings.queue.broker_url else None
