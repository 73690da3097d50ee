"""The optimise step runs BLAS on one thread (on two cores its threads fought the rest of
the run), and the proposal is the same to the bit as with BLAS's own thread count."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from threadpoolctl import threadpool_info, threadpool_limits

import campaigns.optimization.proposals as proposals
from tests.campaigns.optimization.test_proposals_service import NOW, _portfolio, _settings


def _blas_threads() -> list[int]:
    return [int(p["num_threads"]) for p in threadpool_info() if p["user_api"] == "blas"]


def _proposal(engine: Engine, monkeypatch: pytest.MonkeyPatch, *, limit: bool
              ) -> tuple[dict[str, Any], list[int]]:
    """``optimize --json``'s object (without its ids) and the BLAS threads the fit ran on."""
    inside: list[int] = []
    real = proposals.fit_results

    def fit(*args: Any, **kwargs: Any) -> Any:
        inside.extend(_blas_threads())
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(proposals, "fit_results", fit)
        if not limit:
            patch.setattr(proposals, "threadpool_limits",
                          lambda **_: contextlib.nullcontext())
        with Session(engine) as session:  # rolled back: each proposal from the same state
            out = proposals.propose(session, _settings(), now=NOW).to_json()
            session.rollback()
    return {k: v for k, v in out.items() if k not in ("run_id", "shift_id")}, inside


def test_the_fit_runs_blas_on_one_thread_and_proposes_the_same(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(sqlite_engine) as session:
        _portfolio(session, last_day=NOW.date() - dt.timedelta(days=1))
        session.commit()
    # Two threads outside, whatever the machine's cores: the limit is what makes it one.
    with threadpool_limits(limits=2, user_api="blas"):
        if not _blas_threads() or set(_blas_threads()) != {2}:
            pytest.skip("no BLAS that can run two threads here")
        free, threads_free = _proposal(sqlite_engine, monkeypatch, limit=False)
        limited, threads_limited = _proposal(sqlite_engine, monkeypatch, limit=True)
        assert _blas_threads() and set(_blas_threads()) == {2}  # given back afterwards
    assert threads_free and set(threads_free) == {2}
    assert threads_limited and set(threads_limited) == {1}
    assert limited["allocations"] and limited == free
