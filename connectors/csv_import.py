"""CSV import of daily campaign results from any network (DESIGN.md's CSV contract).

The file is streamed: rows are checked and upserted in chunks inside one transaction, so a
million-row file needs little memory, and a file with any bad row is rolled back whole —
nothing of a rejected file is written. Spreadsheet habits are accepted: a UTF-8 byte-order
mark, ``;`` or tab as the delimiter, a decimal comma in ``;`` files, blank counts as zero.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, tuple_
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.config import Settings, SourceSettings
from campaigns.errors import ImportRejected
from campaigns.models import AdAccount, Campaign, SyncRun, utcnow
from campaigns.store import set_current_budgets, upsert_account, upsert_metrics
from campaigns.sync import portfolio_name_for, resolve_portfolio
from connectors.base import AccountRecord
from connectors.currencies import is_currency

REQUIRED = (
    "date", "network", "account_id", "campaign_id", "campaign_name", "currency", "spend",
    "impressions", "clicks", "conversions", "revenue",
)  # fmt: skip
OPTIONAL = ("daily_budget",)
CHUNK = 20_000
MAX_ERRORS = 20
NETWORK_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
# Time zones run up to UTC+14: a row dated "tomorrow" in UTC can be today somewhere.
FUTURE_SLACK = dt.timedelta(days=1)


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


class _Rejected(Exception):
    pass


@dataclass
class _Parser:
    """Turns text cells into typed values, collecting errors that name line and column."""

    path: str
    decimal_comma: bool
    today: dt.date
    errors: list[str] = field(default_factory=list)
    _dates: dict[str, dt.date | str] = field(default_factory=dict)

    def fail(self, line: int, column: str | None, message: str) -> None:
        where = f"line {line}" + (f", column {column}" if column else "")
        self.errors.append(f"{self.path}: {where}: {message}")
        if len(self.errors) >= MAX_ERRORS:
            raise _Rejected

    def date(self, text: str, line: int) -> dt.date | None:
        parsed = self._dates.get(text)
        if parsed is None:
            parsed = self._parse_date(text)
            self._dates[text] = parsed
        if isinstance(parsed, str):
            self.fail(line, "date", parsed)
            return None
        return parsed

    def _parse_date(self, text: str) -> dt.date | str:
        value = text.strip()
        if value.endswith((" 00:00:00", "T00:00:00", " 00:00")):
            value = value.split(" ")[0].split("T")[0]
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return f"{text!r} is not a date in the form YYYY-MM-DD"
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return f"{value} is not a real date"
        if day > self.today + FUTURE_SLACK:
            return f"{value} is in the future"
        return day

    def number(
        self, text: str, line: int, column: str, *, required: bool = False
    ) -> Decimal | None:
        value = text.strip()
        if not value:
            if required:
                self.fail(line, column, "is empty")
            return None
        if self.decimal_comma and "," in value:
            value = value.replace(".", "").replace(",", ".")
        value = value.replace(" ", "").replace("\u00a0", "")
        try:
            number = Decimal(value)
        except InvalidOperation:
            self.fail(line, column, f"{text.strip()!r} is not a number")
            return None
        if not number.is_finite():
            self.fail(line, column, f"{text.strip()!r} is not a number")
            return None
        if number < 0:
            self.fail(line, column, f"{text.strip()} is negative")
            return None
        return number

    def count(self, text: str, line: int, column: str) -> int:
        number = self.number(text, line, column)
        if number is None:
            return 0
        if number != number.to_integral_value():
            self.fail(line, column, f"{text.strip()} is not a whole number")
            return 0
        return int(number)


def _open_rows(path: Path) -> tuple[Iterator[list[str]], csv.Dialect | str, Any]:
    handle = path.open("r", encoding="utf-8-sig", newline="")
    sample = handle.read(64 * 1024)
    if not sample.strip():
        handle.close()
        raise ImportRejected(str(path), [f"{path}: the file is empty"])
    first_line = sample.splitlines()[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    handle.seek(0)
    if sample.startswith("\ufeff"):
        handle.read(1)
    return csv.reader(handle, delimiter=delimiter), delimiter, handle


def import_csv(
    engine: Engine,
    path: str | Path,
    *,
    settings: Settings,
    today: dt.date | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import one file; raises :class:`ImportRejected` (and writes nothing) on any bad row."""
    path = Path(path)
    if not path.exists():
        raise ImportRejected(str(path), [f"{path}: no such file"])
    today = today or dt.datetime.now(dt.UTC).date()
    try:
        reader, delimiter, handle = _open_rows(path)
    except UnicodeDecodeError as e:
        raise ImportRejected(str(path), [f"{path}: not UTF-8 text ({e.reason})"]) from e
    parser = _Parser(str(path), decimal_comma=delimiter == ";", today=today)
    result = ImportResult(str(path))
    started = utcnow()
    try:
        with handle, Session(engine, expire_on_commit=False) as session:
            try:
                _import_rows(session, reader, parser, settings, result, on_rows)
            except _Rejected:
                pass
            except UnicodeDecodeError:
                parser.errors.append(f"{path}: line {reader.line_num + 1}: not UTF-8 text")
            except csv.Error as e:
                parser.errors.append(f"{path}: line {reader.line_num}: {e}")
            if parser.errors:
                session.rollback()
                raise ImportRejected(str(path), parser.errors)
            session.add(
                SyncRun(
                    source=f"csv:{path.name}",
                    stream="csv",
                    rows=result.rows,
                    status="succeeded",
                    window_start=result.first_date,
                    window_end=result.last_date,
                    started_at=started,
                    finished_at=utcnow(),
                )
            )
            session.commit()
    except ImportRejected as rejected:
        _record_rejection(engine, path, rejected, started)
        raise
    return result


def _record_rejection(engine: Engine, path: Path, rejected: ImportRejected, started: Any) -> None:
    with Session(engine) as session:
        session.add(
            SyncRun(
                source=f"csv:{path.name}",
                stream="csv",
                status="failed",
                started_at=started,
                finished_at=utcnow(),
                error=rejected.message[:4000],
            )
        )
        session.commit()


@dataclass
class _Latest:
    day: dt.date
    name: str
    budget: Decimal | None


def _import_rows(
    session: Session,
    reader: Iterator[list[str]],
    parser: _Parser,
    settings: Settings,
    result: ImportResult,
    on_rows: Callable[[int], None] | None,
) -> None:
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        parser.fail(1, None, "the file is empty")
        return
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        parser.fail(
            1,
            None,
            f"missing column(s): {', '.join(missing)} "
            f"(expected {','.join(REQUIRED)}[,daily_budget])",
        )
        return
    dupes = sorted({h for h in header if header.count(h) > 1 and h in REQUIRED + OPTIONAL})
    if dupes:
        parser.fail(1, None, f"column(s) appear twice: {', '.join(dupes)}")
        return
    idx = {c: header.index(c) for c in REQUIRED + OPTIONAL if c in header}
    width = len(header)
    csv_sources = [s for s in settings.sources if s.kind == "csv"]

    accounts: dict[tuple[str, str], tuple[int, str]] = {}  # (network, ext) -> (id, currency)
    campaigns: dict[tuple[int, str], int] = {}  # (account id, ext) -> campaign id
    seen: dict[int, int] = {}  # campaign-day key -> first line
    latest: dict[int, _Latest] = {}
    chunk: list[tuple[int, dict[str, Any], tuple[int, str], str]] = []

    def flush() -> None:
        if not chunk or parser.errors:
            chunk.clear()
            return
        _ensure_campaigns(session, chunk, campaigns, result)
        rows = []
        for line, row, ckey, name in chunk:
            cid = campaigns[ckey]
            key = (cid << 20) | row["date"].toordinal()
            first = seen.get(key)
            if first is not None:
                parser.fail(
                    line,
                    None,
                    f"the same campaign and date as line {first} "
                    f"({row['date']}, campaign {ckey[1]})",
                )
                continue
            seen[key] = line
            row["campaign_id"] = cid
            budget = row.pop("_budget")
            rows.append(row)
            prev = latest.get(cid)
            if prev is None or row["date"] >= prev.day:
                latest[cid] = _Latest(
                    row["date"],
                    name,
                    budget if budget is not None else (prev.budget if prev else None),
                )
        if not parser.errors:
            upsert_metrics(session, rows)
            result.rows += len(rows)
            if on_rows:
                on_rows(len(rows))
        chunk.clear()

    for cells in reader:
        line = reader.line_num  # type: ignore[attr-defined]
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if len(cells) != width:
            parser.fail(line, None, f"expected {width} fields, found {len(cells)}")
            continue
        parsed = _parse_row(cells, idx, line, parser)
        if parsed is None:
            continue
        network, account_ext, campaign_ext, name, currency, row = parsed
        akey = (network, account_ext)
        account = accounts.get(akey)
        if account is None:
            account = _ensure_account(
                session, settings, csv_sources, network, account_ext, currency, line, parser
            )
            if account is None:
                continue
            accounts[akey] = account
        if account[1] != currency:
            parser.fail(
                line,
                "currency",
                f"account {network}:{account_ext} is in {account[1]}, not {currency}",
            )
            continue
        row["account_id"] = account[0]
        day = row["date"]
        result.first_date = day if result.first_date is None else min(result.first_date, day)
        result.last_date = day if result.last_date is None else max(result.last_date, day)
        chunk.append((line, row, (account[0], campaign_ext), name or campaign_ext))
        if len(chunk) >= CHUNK:
            flush()
    flush()
    if not parser.errors and result.rows == 0:
        parser.fail(2, None, "the file has a header but no data rows")
    if parser.errors:
        return
    _finish_campaigns(session, latest)
    result.accounts = len(accounts)
    result.campaigns = len(latest)


def _parse_row(
    cells: list[str], idx: dict[str, int], line: int, p: _Parser
) -> tuple[str, str, str, str, str, dict[str, Any]] | None:
    before = len(p.errors)
    day = p.date(cells[idx["date"]], line)
    network = cells[idx["network"]].strip().lower()
    if not NETWORK_RE.match(network):
        p.fail(
            line,
            "network",
            f"{cells[idx['network']]!r} is not a network name (letters, digits, _ . -)",
        )
    account_ext = cells[idx["account_id"]].strip()
    if not account_ext:
        p.fail(line, "account_id", "is empty")
    campaign_ext = cells[idx["campaign_id"]].strip()
    if not campaign_ext:
        p.fail(line, "campaign_id", "is empty")
    currency = cells[idx["currency"]].strip().upper()
    if not is_currency(currency):
        p.fail(
            line, "currency", f"{cells[idx['currency']].strip()!r} is not an ISO 4217 currency code"
        )
    spend = p.number(cells[idx["spend"]], line, "spend", required=True)
    row = {
        "date": day,
        "spend": spend,
        "impressions": p.count(cells[idx["impressions"]], line, "impressions"),
        "clicks": p.count(cells[idx["clicks"]], line, "clicks"),
        "conversions": p.number(cells[idx["conversions"]], line, "conversions") or Decimal(0),
        "revenue": p.number(cells[idx["revenue"]], line, "revenue") or Decimal(0),
        "_budget": p.number(cells[idx["daily_budget"]], line, "daily_budget")
        if "daily_budget" in idx
        else None,
    }
    if len(p.errors) > before:
        return None
    name = cells[idx["campaign_name"]].strip()
    return network, account_ext, campaign_ext, name, currency, row


def _ensure_account(
    session: Session,
    settings: Settings,
    csv_sources: list[SourceSettings],
    network: str,
    ext: str,
    currency: str,
    line: int,
    parser: _Parser,
) -> tuple[int, str] | None:
    existing = session.scalars(
        select(AdAccount).where(AdAccount.network == network, AdAccount.external_id == ext)
    ).first()
    if existing is not None:
        if existing.currency != currency:
            parser.fail(
                line,
                "currency",
                f"account {network}:{ext} is in {existing.currency} "
                f"in the database, not {currency}",
            )
            return None
        return existing.id, existing.currency  # type: ignore[return-value]
    source = next(
        (s for s in csv_sources if network in s.options.get("networks", [network])),
        SourceSettings(name="csv", kind="csv"),
    )
    timezone = str(source.options.get("timezone", "UTC"))
    portfolio = resolve_portfolio(
        session, settings, portfolio_name_for(settings, source, network, ext)
    )
    account = upsert_account(
        session,
        AccountRecord(
            network=network, external_id=ext, name=ext, currency=currency, timezone=timezone
        ),
        source=source.name if source.name != "csv" else "csv",
        portfolio_id=portfolio.id,  # type: ignore[arg-type]
    )
    return account.id, account.currency  # type: ignore[return-value]


def _ensure_campaigns(
    session: Session,
    chunk: list[tuple[int, dict[str, Any], tuple[int, str], str]],
    campaigns: dict[tuple[int, str], int],
    result: ImportResult,
) -> None:
    wanted = {ckey: name for _, _, ckey, name in chunk if ckey not in campaigns}
    if not wanted:
        return
    keys = list(wanted)
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        found = session.execute(
            select(Campaign.account_id, Campaign.external_id, Campaign.id).where(
                tuple_(Campaign.account_id, Campaign.external_id).in_(part)
            )
        ).all()
        for account_id, ext, cid in found:
            campaigns[(account_id, ext)] = cid
    new = [k for k in keys if k not in campaigns]
    if new:
        networks = dict(
            session.execute(
                select(AdAccount.id, AdAccount.network).where(
                    AdAccount.id.in_({k[0] for k in new})  # type: ignore[union-attr]
                )
            ).all()
        )
        now = utcnow()
        session.execute(
            insert(Campaign),
            [
                {
                    "account_id": a,
                    "external_id": e,
                    "network": networks[a],
                    "name": wanted[(a, e)],
                    "status": "active",
                    "budget_level": "campaign",
                    "budget_shared": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for a, e in new
            ],
        )
        result.new_campaigns += len(new)
        for i in range(0, len(new), 500):
            part = new[i : i + 500]
            for account_id, ext, cid in session.execute(
                select(Campaign.account_id, Campaign.external_id, Campaign.id).where(
                    tuple_(Campaign.account_id, Campaign.external_id).in_(part)
                )
            ).all():
                campaigns[(account_id, ext)] = cid


def _finish_campaigns(session: Session, latest: dict[int, _Latest]) -> None:
    """The newest row of each campaign gives its name and (if present) its current budget."""
    budgets = {cid: v.budget for cid, v in latest.items() if v.budget is not None}
    ids = list(latest)
    for i in range(0, len(ids), 500):
        for campaign in session.scalars(
            select(Campaign).where(Campaign.id.in_(ids[i : i + 500]))  # type: ignore[union-attr]
        ):
            name = latest[campaign.id].name  # type: ignore[index]
            if campaign.name != name:
                campaign.name = name
                campaign.updated_at = utcnow()
                session.add(campaign)
    session.flush()
    set_current_budgets(session, budgets)
