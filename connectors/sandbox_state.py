"""Budgets written to the sandbox, kept in a snapshot file plus a journal beside it."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path

from connectors.sandbox_world import SimCampaign


class SandboxBudgetStore:
    """The budgets set through ``apply_budget``: ``overrides`` in memory, ``state_path`` on disk.

    A write appends a JSON line to the journal instead of rewriting every budget ever set,
    which made applying N items cost N snapshots. Loading folds a large journal into the
    snapshot.
    """

    seed: int
    campaigns: list[SimCampaign]
    state_path: Path | None
    overrides: dict[str, list[tuple[dt.date, float]]]

    JOURNAL_COMPACT_BYTES = 1 << 20
    _journal_seen = 0  # bytes of the journal read so far
    # The threads of a worker share one connector: catching up and recording take turns, so
    # no journal line is read past or counted twice.
    _state_lock = threading.RLock()

    @property
    def _journal(self) -> Path | None:
        return self.state_path.with_name(self.state_path.name + ".log") if self.state_path else None

    def _load_state(self) -> None:
        if not self.state_path:
            return
        if self.state_path.exists():
            raw = json.loads(self.state_path.read_text())
            if raw.get("seed") == self.seed:
                # State written before Google budgets had ids of their own is keyed by the
                # campaign's id: it belongs to that campaign's budget.
                renamed = {
                    c.history_key: c.budget_key for c in self.campaigns
                    if c.history_key and c.history_key != c.budget_key
                }
                self.overrides = {
                    renamed.get(k, k): [(dt.date.fromisoformat(d), float(b)) for d, b in v]
                    for k, v in raw.get("overrides", {}).items()
                }
        journal = self._journal
        assert journal is not None
        if not journal.exists():
            return
        compact = journal.stat().st_size > self.JOURNAL_COMPACT_BYTES
        if compact:  # take the journal away first: writers that come later start a new one
            taken = journal.with_name(f"{journal.name}.{os.getpid()}")
            try:
                journal.replace(taken)
            except OSError:
                compact, taken = False, journal
            journal = taken
        try:
            data = journal.read_bytes()
        except OSError:
            return
        if not compact:
            self._journal_seen = data.rfind(b"\n") + 1
        for line in data.decode().splitlines():
            entry = json.loads(line) if line.strip() else None
            if entry and entry.get("seed") == self.seed:
                self._set_override(entry["key"], dt.date.fromisoformat(entry["day"]),
                                   float(entry["budget"]))
        if compact:
            self._save_state()
            journal.unlink(missing_ok=True)

    def _catch_up(self) -> None:
        """The budgets other processes of this sandbox wrote since this one loaded it: a real
        platform is one platform, whichever worker asks (a worker reads a budget another
        worker, killed mid-apply, wrote a moment ago)."""
        with self._state_lock:
            self._catch_up_locked()

    def _catch_up_locked(self) -> None:
        journal = self._journal
        if journal is None:
            return
        try:
            with journal.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                if size < self._journal_seen:  # folded into the snapshot: a new journal
                    self._journal_seen = 0
                f.seek(self._journal_seen)
                data = f.read()
        except OSError:
            return
        complete = data.rfind(b"\n") + 1  # a line still being written waits for next time
        self._journal_seen += complete
        for line in data[:complete].decode().splitlines():
            entry = json.loads(line) if line.strip() else None
            if entry and entry.get("seed") == self.seed:
                self._set_override(entry["key"], dt.date.fromisoformat(entry["day"]),
                                   float(entry["budget"]))

    def _set_override(self, key: str, day: dt.date, amount: float) -> None:
        history = [(d, b) for d, b in self.overrides.get(key, []) if d < day]
        history.append((day, amount))
        self.overrides[key] = history

    def _save_state(self) -> None:
        if not self.state_path:
            return
        raw = {
            "seed": self.seed,
            "overrides": {k: [(d.isoformat(), b) for d, b in v] for k, v in self.overrides.items()},
        }
        tmp = self.state_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(raw))
        tmp.replace(self.state_path)

    def _record(self, key: str, day: dt.date, amount: float) -> None:
        with self._state_lock:
            self._set_override(key, day, amount)
            journal = self._journal
            if journal is not None:
                line = json.dumps({"seed": self.seed, "key": key, "day": day.isoformat(),
                                   "budget": amount})
                with journal.open("a", encoding="utf-8") as f:
                    f.write(line + "\n")
