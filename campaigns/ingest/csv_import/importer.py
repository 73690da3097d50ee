"""CSV import of daily campaign results: our format (DESIGN.md) or a platform export.

The file is streamed: rows are checked and upserted in chunks inside one transaction, so a
million-row file needs little memory, and a file with any bad row is rolled back whole —
nothing of a rejected file is written. Spreadsheet habits are accepted: a UTF-8 byte-order
mark, ``;`` or tab as the delimiter, a decimal comma in ``;`` files, blank counts as zero.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.columns import utcnow
from campaigns.config import Settings
from campaigns.errors import ImportRejected
from campaigns.ingest.csv_import.accounts import ensure_account
from campaigns.ingest.csv_import.cells import (
    OPTIONAL,
    REQUIRED,
    SOCIAL,
    CellParser,
    TooManyErrors,
)
from campaigns.ingest.csv_import.choose import format_names as format_names  # the CLI lists them
from campaigns.ingest.csv_import.choose import plan_export
from campaigns.ingest.csv_import.columns import ColumnChecks
from campaigns.ingest.csv_import.opening import header_is_ours, open_file
from campaigns.ingest.csv_import.runs import record_rejection, record_success
from campaigns.ingest.csv_import.writer import Writer, line_numbers
from campaigns.ingest.metrics_store import refresh_account_days
from campaigns.ingest.store import find_or_create_campaigns, set_names_and_budgets
from connectors.exports.reading import OUR_FORMAT, Opened
from connectors.exports.translate import Plan, is_summary_row, translate

CHUNK = 20_000


@dataclass
class ImportResult:
    path: str
    rows: int = 0
    accounts: int = 0
    campaigns: int = 0
    new_campaigns: int = 0
    first_date: dt.date | None = None
    last_date: dt.date | None = None
    warnings: list[str] = field(default_factory=list)
    format: str = OUR_FORMAT
    skipped: int = 0  # total and summary rows of a platform export


def import_csv(
    engine: Engine,
    path: str | Path,
    *,
    settings: Settings,
    today: dt.date | None = None,
    on_rows: Callable[[int], None] | None = None,
    format: str = "auto",
    account: str | None = None,
    currency: str | None = None,
) -> ImportResult:
    """Import one file; raises :class:`ImportRejected` (and writes nothing) on any bad row."""
    path = Path(path)
    opened = open_file(path, format, settings)
    today = today or dt.datetime.now(dt.UTC).date()
    parser = CellParser(str(path), decimal_comma=opened.delimiter == ";", today=today)
    result = ImportResult(str(path), format=OUR_FORMAT if opened.match is None
                          else opened.match.format.name)
    started = utcnow()
    # A bulk load makes millions of short-lived objects and keeps a large index of seen rows:
    # the cyclic collector would walk that index again and again for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with opened.handle, Session(engine, expire_on_commit=False) as session:
            _load_file(session, opened, parser, settings, result, on_rows,
                       account=account, currency=currency)
            record_success(session, path, result.rows, (result.first_date, result.last_date),
                           started)
            session.commit()
    except ImportRejected as rejected:
        record_rejection(engine, path, rejected, started)
        raise
    finally:
        if collecting:
            gc.enable()
    return result


def observed_on(today: dt.date) -> dt.datetime:
    """When an import's figures count as seen: now, or the start of `today` when the file is
    imported as of another day (a replay of past exports sees each on its own day)."""
    now = utcnow()
    return now if today == now.date() else dt.datetime.combine(today, dt.time(), dt.UTC)


def _load_file(
    session: Session,
    opened: Opened,
    parser: CellParser,
    settings: Settings,
    result: ImportResult,
    on_rows: Callable[[int], None] | None,
    *,
    account: str | None,
    currency: str | None,
) -> None:
    """Check and write every row; roll back and reject the file when any row is bad."""
    reader = opened.reader
    try:
        plan = plan_export(opened, parser, account=account, currency=currency)
        result.warnings.extend(plan.notes if plan else [])
        _import_rows(session, opened, plan, parser, settings, result, on_rows)
    except TooManyErrors:
        pass
    except UnicodeDecodeError:
        parser.errors.append(f"{parser.path}: line {reader.line_num + 1}: "
                             f"not {opened.encoding} text")
    except csv.Error as e:
        parser.errors.append(f"{parser.path}: line {reader.line_num}: {e}")
    if parser.errors:
        session.rollback()
        raise ImportRejected(str(result.path), parser.errors)


@dataclass
class _Latest:
    day: int  # date ordinal
    name: str
    budget: str | None


def _import_rows(
    session: Session,
    opened: Opened,
    plan: Plan | None,
    parser: CellParser,
    settings: Settings,
    result: ImportResult,
    on_rows: Callable[[int], None] | None,
) -> None:
    reader = opened.reader
    header_line = reader.line_num
    if parser.errors:
        return
    header = [h.strip().lower() for h in opened.header]
    if plan is None and not header_is_ours(header, parser):
        return
    with Writer(session.connection(), observed_at=observed_on(parser.today)) as writer:
        state = _ImportState(session, parser, settings, header, writer, plan)
        while True:
            start = reader.line_num
            block = list(islice(reader, CHUNK))
            if not block:
                break
            lines = line_numbers(block, start, reader.line_num)
            n = state.add_block(block, lines)
            result.rows += n
            result.skipped += state.skipped
            if on_rows and n:
                on_rows(n)
    if not parser.errors and result.rows == 0:
        parser.fail(header_line + 1, None, "the file has a header but no data rows")
    if not parser.errors:
        _finish_campaigns(session, state, result)


def _finish_campaigns(session: Session, state: _ImportState, result: ImportResult) -> None:
    """Give campaigns their newest name and budget, refresh account days, fill the result."""
    set_names_and_budgets(
        session, {cid: (v.name, v.budget) for cid, v in state.latest.items()}
    )
    if state.first_day is not None and state.last_day is not None:
        refresh_account_days(
            session, (a[0] for a in state.accounts.values() if a is not None),
            dt.date.fromordinal(state.first_day), dt.date.fromordinal(state.last_day),
        )
    result.accounts = len(state.accounts)
    result.campaigns = len(state.latest)
    result.new_campaigns = state.new_campaigns
    if state.first_day is not None and state.last_day is not None:
        result.first_date = dt.date.fromordinal(state.first_day)
        result.last_date = dt.date.fromordinal(state.last_day)


class _ImportState(ColumnChecks):
    """What the import knows across blocks: ids, seen campaign-days, each campaign's latest."""

    def __init__(
        self, session: Session, parser: CellParser, settings: Settings, header: list[str],
        writer: Writer, plan: Plan | None,
    ) -> None:
        self.session = session
        self.plan = plan
        # Errors name the column as the file titles it ("Cost", "Amount spent (EUR)").
        self.label = {c: c for c in REQUIRED + OPTIONAL} | (plan.labels if plan else {})
        self.skipped = 0
        self.writer = writer
        self.parser = parser
        self.settings = settings
        self.idx = {c: header.index(c) for c in REQUIRED + OPTIONAL if c in header}
        self.width = len(header)
        self.csv_sources = [s for s in settings.sources if s.kind == "csv"]
        self.accounts: dict[tuple[str, str], tuple[int, str] | None] = {}
        self.campaigns: dict[tuple[int, str], int] = {}
        self.seen: dict[int, int] = {}  # campaign id << 20 | date ordinal -> line
        self.latest: dict[int, _Latest] = {}
        self.new_campaigns = 0
        self.first_day: int | None = None
        self.last_day: int | None = None
        self._networks: dict[str, str | None] = {}
        self._currencies: dict[str, str | None] = {}

    def add_block(self, rows: list[list[str]], lines: Sequence[int]) -> int:
        """Check a block column by column; write it unless the file already has errors."""
        p = self.parser
        if set(map(len, rows)) != {self.width}:
            rows, lines = self._full_width_rows(rows, lines)
        cols, lines = self._columns(rows, lines)
        if not lines:
            return 0
        L = self.label
        before = len(p.errors)
        iso, ordinals = self._dates(cols["date"], lines)
        networks = self._lookup(cols["network"], lines, "network", self._networks,
                                self._network)
        currencies = self._lookup(cols["currency"], lines, "currency", self._currencies,
                                  self._currency)
        account_ext = self._ids(cols["account_id"], lines, L["account_id"])
        campaign_ext = self._ids(cols["campaign_id"], lines, L["campaign_id"])
        spend = self._money(cols["spend"], lines, L["spend"], required=True)
        impressions = self._counts(cols["impressions"], lines, L["impressions"])
        clicks = self._counts(cols["clicks"], lines, L["clicks"])
        conversions = self._money(cols["conversions"], lines, L["conversions"])
        revenue = self._money(cols["revenue"], lines, L["revenue"])
        budgets = (self._money(cols["daily_budget"], lines, L["daily_budget"], blank=None)
                   if "daily_budget" in cols else None)
        social = [self._optional_counts(cols[c], lines, L[c]) if c in cols else [None] * len(lines)
                  for c in SOCIAL] if any(c in cols for c in SOCIAL) else []
        if len(p.errors) > before:
            return 0
        account_ids = self._accounts(networks, account_ext, currencies, lines)
        if len(p.errors) > before or p.errors:
            return 0
        names = cols["campaign_name"]
        ckeys = list(zip(account_ids, campaign_ext, strict=True))
        self._ensure_campaigns(ckeys, names)
        cids = list(map(self.campaigns.__getitem__, ckeys))
        keys = ((np.array(cids, dtype=np.int64) << 20) | np.array(ordinals, dtype=np.int64))
        self._check_duplicates(keys.tolist(), lines, ordinals, campaign_ext)
        if p.errors:
            return 0
        self._track_latest(cids, ordinals, names, campaign_ext, budgets)
        self._widen_window(ordinals)
        self._write([cids, account_ids, iso, spend, impressions, clicks, conversions, revenue,
                     *social], budgets, with_social=bool(social))
        return len(cids)

    def _full_width_rows(
        self, rows: list[list[str]], lines: Sequence[int]
    ) -> tuple[list[list[str]], list[int]]:
        """The rows with the header's width; others fail unless blank or an export's summary."""
        keep = [i for i, cells in enumerate(rows) if len(cells) == self.width]
        for line, cells in zip(lines, rows, strict=True):
            if len(cells) != self.width and cells and not (
                len(cells) == 1 and not cells[0].strip()
            ) and not (self.plan is not None and is_summary_row(cells)):
                self.parser.fail(line, None, f"expected {self.width} fields, found {len(cells)}")
        return [rows[i] for i in keep], [lines[i] for i in keep]

    def _widen_window(self, ordinals: list[int]) -> None:
        """Stretch the imported date window to cover this block's days."""
        lo, hi = min(ordinals), max(ordinals)
        self.first_day = lo if self.first_day is None else min(self.first_day, lo)
        self.last_day = hi if self.last_day is None else max(self.last_day, hi)

    def _write(self, columns: list[Any], budgets: list[Any] | None, *, with_social: bool) -> None:
        """Hand the block's rows to the writer, with the budget column only when it has one."""
        with_budget = budgets is not None and any(b is not None for b in budgets)
        if with_budget:
            columns.append(budgets)
        self.writer.submit(list(zip(*columns, strict=True)), with_budget=with_budget,
                           with_social=with_social)

    def _columns(
        self, rows: list[list[str]], lines: Sequence[int]
    ) -> tuple[dict[str, tuple[str, ...]], Sequence[int]]:
        """Our columns of a block: picked from our own format, translated from an export's."""
        self.skipped = 0
        if not rows:
            return {}, []
        if self.plan is not None:
            cols, kept, self.skipped = translate(self.plan, rows, lines)
            return cols, kept
        source = list(zip(*rows, strict=True))
        return {c: source[i] for c, i in self.idx.items()}, lines

    # -- ids ------------------------------------------------------------------------------
    def _accounts(
        self, networks: list[str], exts: list[str], currencies: list[str], lines: Sequence[int]
    ) -> list[int]:
        triples = list(zip(networks, exts, currencies, strict=True))
        # Each distinct triple with the first line it appears on (later entries win in a
        # dict, so build it back to front).
        first_line = dict(zip(reversed(triples), reversed(lines), strict=True))
        for (network, ext, currency), line in sorted(first_line.items(), key=lambda kv: kv[1]):
            if (network, ext) not in self.accounts:
                self.writer.wait()  # the session is about to use the connection
                self.accounts[(network, ext)] = ensure_account(
                    self.session, self.settings, self.csv_sources, network, ext, currency,
                    line, self.parser, self.label["currency"],
                )
        ids: dict[tuple[str, str, str], int | None] = {}
        for network, ext, currency in first_line:
            account = self.accounts[(network, ext)]
            ids[(network, ext, currency)] = (
                account[0] if account is not None and account[1] == currency else None
            )
        if all(v is not None for v in ids.values()):
            return list(map(ids.__getitem__, triples))  # type: ignore[arg-type]  # no None: all()
        for (network, ext, currency), line in zip(triples, lines, strict=True):
            account = self.accounts[(network, ext)]
            if account is not None and account[1] != currency:
                self.parser.fail(line, self.label["currency"], f"account {network}:{ext} is in "
                                 f"{account[1]}, not {currency}")
        return []

    def _ensure_campaigns(self, ckeys: list[tuple[int, str]], names: tuple[str, ...]) -> None:
        wanted: dict[tuple[int, str], str] = {}
        for key, name in zip(ckeys, names, strict=True):
            if key not in self.campaigns and key not in wanted:
                wanted[key] = name.strip() or key[1]
        if wanted:
            self.writer.wait()  # the session is about to use the connection
            self.new_campaigns += find_or_create_campaigns(self.session, wanted, self.campaigns)

    def _check_duplicates(
        self, keys: list[int], lines: Sequence[int], days: list[int], exts: list[str]
    ) -> None:
        if len(set(keys)) == len(keys) and self.seen.keys().isdisjoint(keys):
            self.seen.update(zip(keys, lines, strict=True))
            return
        for key, line, day, ext in zip(keys, lines, days, exts, strict=True):
            first = self.seen.get(key)
            if first is not None:
                self.parser.fail(line, None, f"the same campaign and date as line {first} "
                                 f"({dt.date.fromordinal(day)}, campaign {ext})")
            else:
                self.seen[key] = line

    def _track_latest(
        self, cids: list[int], ordinals: list[int], names: tuple[str, ...],
        exts: list[str], budgets: list[Any] | None,
    ) -> None:
        latest = self.latest
        budget_col = budgets if budgets is not None else [None] * len(cids)
        if ordinals == sorted(ordinals):
            # Exports come sorted by date: a campaign's last row in the block is its newest,
            # so only one row per campaign needs a look (a dict keeps the last index).
            picks: Iterable[int] = dict(zip(cids, range(len(cids)), strict=True)).values()
        else:
            picks = range(len(cids))
        for i in picks:
            cid, day, budget = cids[i], ordinals[i], budget_col[i]
            prev = latest.get(cid)
            if prev is None or day >= prev.day:
                latest[cid] = _Latest(day, names[i].strip() or exts[i],
                                      budget if budget is not None else
                                      (prev.budget if prev else None))
