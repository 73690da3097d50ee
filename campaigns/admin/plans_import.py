"""Monthly plans from a CSV file: finance's spreadsheet in one step, all or nothing.

Columns (header names, any order; ``;`` or tab delimiters and a UTF-8 byte-order mark are
fine): ``month`` (``2026-12`` or ``2026-12-01``), ``scope`` (total, network, account,
campaign), ``scope_key`` (blank for total; ``meta``, ``meta:act_1``, ``meta:act_1:123``),
``planned_spend`` (``12500``, ``12,500.00``), and optionally ``currency`` (must be the
portfolio's reporting currency) and ``hard`` (true/false, yes/no, 1/0).

A row for a month and scope that has a plan updates it (audited as an update); others create
one. Any bad cell rejects the whole file, each error naming its line and column, and nothing
is written. Importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.admin.plans import create_plan, update_plan
from campaigns.errors import BudgetPilotError, ImportRejected
from campaigns.lookup import get_portfolio
from campaigns.models import BudgetPlan, Portfolio
from campaigns.scopes import SCOPES, validate_scope
from connectors.currencies import decimals
from connectors.exports.numbers import clean_number

REQUIRED = ("month", "scope", "scope_key", "planned_spend")
OPTIONAL = ("currency", "hard")
_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}


@dataclass(frozen=True)
class PlanRow:
    line: int
    month: dt.date
    scope: str
    scope_key: str
    planned_spend: Decimal
    currency: str | None
    hard: bool | None  # None: keep an existing plan's flag (a new plan is soft)


@dataclass
class PlansImported:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    plan_ids: list[int] = field(default_factory=list)


def parse_plans(text: str) -> tuple[list[PlanRow], list[str]]:
    """The rows of a plans file and the errors found (``line N, column C: what``)."""
    text = text.removeprefix("\ufeff")
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, ",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        # the line a record ends on, as a spreadsheet numbers it (a quoted cell may span lines)
        records = [(reader.line_num, cells) for cells in reader]
    except csv.Error as e:  # a stray quote or newline: say where, rather than guess
        return [], [f"line {reader.line_num}: not readable as CSV ({e})"]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return [], [f"line 1: missing column(s) {', '.join(missing)}; a plans file has "
                    f"{', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}"]
    unknown = [h for h in header if h not in REQUIRED + OPTIONAL]
    if unknown:
        return [], [f"line 1: unknown column(s) {', '.join(unknown)}"]
    rows: list[PlanRow] = []
    errors: list[str] = []
    seen: dict[tuple[dt.date, str, str], int] = {}
    for line, cells in records:
        if not any(c.strip() for c in cells):
            continue
        values = dict(zip(header, (c.strip() for c in cells), strict=False))
        row, row_errors = _row(line, values)
        errors += row_errors
        if row is None:
            continue
        key = (row.month, row.scope, row.scope_key)
        if key in seen:
            errors.append(f"line {line}: the same month and scope as line {seen[key]}")
            continue
        seen[key] = line
        rows.append(row)
    return rows, errors


def _row(line: int, v: dict[str, str]) -> tuple[PlanRow | None, list[str]]:
    errors: list[str] = []

    def bad(column: str, what: str) -> None:
        errors.append(f"line {line}, column {column}: {what}")

    month = _month(v.get("month", ""))
    if month is None:
        bad("month", f"{v.get('month', '')!r} is not a month (use 2026-12 or 2026-12-01)")
    scope = v.get("scope", "").lower()
    if scope not in SCOPES:
        bad("scope", f"{scope!r} is not one of {', '.join(SCOPES)}")
    spend: Decimal | None = None
    raw = v.get("planned_spend", "")
    try:
        spend = Decimal(clean_number(raw))
        if not spend.is_finite() or spend < 0:
            raise InvalidOperation
    except InvalidOperation:
        bad("planned_spend", f"{raw!r} is not an amount of zero or more")
    hard_text = v.get("hard", "").lower()
    if hard_text not in _TRUE | _FALSE:
        bad("hard", f"{v.get('hard')!r} is not true or false")
    if errors or month is None or spend is None:
        return None, errors
    hard = None if "hard" not in v or not hard_text else hard_text in _TRUE
    return PlanRow(line, month, scope, v.get("scope_key", ""), spend,
                   v.get("currency") or None, hard), []


def _month(text: str) -> dt.date | None:
    for form in ("%Y-%m", "%Y-%m-%d"):
        try:
            day = dt.datetime.strptime(text, form).date()
        except ValueError:
            continue
        return day if day.day == 1 else None
    return None


def import_plans(
    session: Session, text: str, *, portfolio: str, actor: str, source: str = "plans file",
) -> PlansImported:
    """Create or update the file's plans in ``portfolio``; raises :class:`ImportRejected`
    listing every bad line (nothing written) — the caller commits once."""
    p = get_portfolio(session, portfolio)
    assert p.id is not None
    rows, errors = parse_plans(text)
    currency = p.reporting_currency
    places = decimals(currency)
    checked: list[tuple[PlanRow, str]] = []
    for row in rows:
        if row.currency and row.currency.upper() != currency:
            errors.append(f"line {row.line}, column currency: plans are in the portfolio's "
                          f"reporting currency {currency}, not {row.currency.upper()}")
            continue
        exponent = row.planned_spend.as_tuple().exponent  # an int: the amount is finite
        if isinstance(exponent, int) and -exponent > places:
            errors.append(f"line {row.line}, column planned_spend: {row.planned_spend} has more "
                          f"than the {places} decimals of {currency}")
            continue
        try:
            checked.append((row, validate_scope(session, p.id, row.scope, row.scope_key)))
        except BudgetPilotError as e:
            errors.append(f"line {row.line}, column scope_key: {e.message}")
    if errors:
        raise ImportRejected(source, errors)  # it shows the first 20 and counts the rest
    if not checked:
        raise ImportRejected(source, ["the file has no plan rows"])
    result = PlansImported()
    for row, key in checked:
        _write(session, p, row, key, actor, result)
    session.flush()
    return result


def _write(session: Session, portfolio: Portfolio, row: PlanRow, key: str, actor: str,
           result: PlansImported) -> None:
    """One row through the same create and update the API uses (audited alike); a row that
    matches its plan is left alone."""
    plan = session.scalars(select(BudgetPlan).where(
        col(BudgetPlan.portfolio_id) == portfolio.id, col(BudgetPlan.month) == row.month,
        col(BudgetPlan.scope) == row.scope, col(BudgetPlan.scope_key) == key,
    )).first()
    if plan is None:
        plan = create_plan(session, portfolio=portfolio.name, month=row.month, scope=row.scope,
                           scope_key=key, planned_spend=row.planned_spend, currency=None,
                           actor=actor, hard=bool(row.hard))
        result.created += 1
    elif Decimal(plan.planned_spend) == row.planned_spend and row.hard in (None, plan.hard):
        result.unchanged += 1
    else:
        assert plan.id is not None
        plan = update_plan(session, plan.id, planned_spend=row.planned_spend,
                           version=plan.version, actor=actor, hard=row.hard)
        result.updated += 1
    assert plan.id is not None
    result.plan_ids.append(plan.id)
