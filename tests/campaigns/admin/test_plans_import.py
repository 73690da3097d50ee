"""Plans from finance's spreadsheet: all or nothing, every error with its line and column."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from campaigns.admin.plans_import import import_plans, parse_plans
from campaigns.errors import ImportRejected
from campaigns.models import AuditEvent, BudgetPlan
from tests.api.factories import create_account, get_portfolio

GOOD = """month,scope,scope_key,planned_spend,hard
2026-12,total,,"12,500.00",yes
2026-12-01,network,meta,8000,
2026-12,account,meta:act_7,3000.50,no
"""


def _world(session: Session) -> None:
    get_portfolio(session)
    create_account(session, network="meta", external_id="act_7")
    session.commit()


def _plans(session: Session) -> dict[tuple[str, str], tuple[Decimal, bool]]:
    return {(p.scope, p.scope_key): (Decimal(p.planned_spend), p.hard)
            for p in session.scalars(select(BudgetPlan))}


def test_a_plans_file_creates_then_updates_and_a_rerun_changes_nothing(engine: Engine) -> None:
    with Session(engine) as s:
        _world(s)
        first = import_plans(s, GOOD, portfolio="default", actor="fiona")
        s.commit()
        assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
        assert _plans(s) == {("total", ""): (Decimal("12500.00"), True),
                             ("network", "meta"): (Decimal("8000"), False),
                             ("account", "meta:act_7"): (Decimal("3000.50"), False)}
        again = import_plans(s, GOOD, portfolio="default", actor="fiona")
        s.commit()
        assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
        # a new figure for one scope updates that plan alone; a blank `hard` keeps its flag
        changed = GOOD.replace("8000", "8500").replace('"12,500.00",yes', '"12,500.00",')
        third = import_plans(s, changed, portfolio="default", actor="fiona")
        s.commit()
        assert (third.created, third.updated, third.unchanged) == (0, 1, 2)
        assert _plans(s)[("network", "meta")] == (Decimal("8500"), False)
        assert _plans(s)[("total", "")] == (Decimal("12500.00"), True)
        actions = [a for a in s.scalars(select(AuditEvent.action)) if a.startswith("plan.")]
        assert actions.count("plan.create") == 3 and actions.count("plan.update") == 1


@pytest.mark.parametrize(("bad_row", "line_and_column"), [
    ("2026-13,total,,100", "line 3, column month"),
    ("2026-12-15,network,meta,100", "line 3, column month"),
    ("2026-11,campaign_group,x,100", "line 3, column scope"),
    ("2026-11,network,meta,-5", "line 3, column planned_spend"),
    ("2026-11,network,meta,lots", "line 3, column planned_spend"),
    ("2026-11,network,tiktok,100", "line 3, column scope_key"),
    ("2026-11,account,meta:act_404,100", "line 3, column scope_key"),
    ("2026-11,network,meta,100.123", "line 3, column planned_spend"),
])
def test_a_bad_row_rejects_the_whole_file_naming_line_and_column(
    engine: Engine, bad_row: str, line_and_column: str
) -> None:
    text = "month,scope,scope_key,planned_spend\n2026-11,total,,500\n" + bad_row + "\n"
    with Session(engine) as s:
        _world(s)
        with pytest.raises(ImportRejected) as e:
            import_plans(s, text, portfolio="default", actor="fiona")
        s.rollback()
        assert line_and_column in e.value.message
        assert _plans(s) == {}  # the good line 2 was not written either


def test_the_wrong_currency_and_a_repeated_scope_are_refused(engine: Engine) -> None:
    text = ("month;scope;scope_key;planned_spend;currency\n"
            "2026-11;total;;500;USD\n2026-12;total;;1;EUR\n2026-12;total;;2;EUR\n")
    with Session(engine) as s:
        _world(s)
        with pytest.raises(ImportRejected) as e:
            import_plans(s, text, portfolio="default", actor="fiona")
        assert "line 2, column currency" in e.value.message and "EUR, not USD" in e.value.message
        assert "line 4: the same month and scope as line 3" in e.value.message


def test_a_header_without_the_columns_says_which_are_missing() -> None:
    rows, errors = parse_plans("month,scope,amount\n2026-12,total,5\n")
    assert rows == []
    assert errors == ["line 1: missing column(s) scope_key, planned_spend; a plans file has "
                      "month, scope, scope_key, planned_spend and optionally currency, hard"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(1, 12), st.decimals(0, 10**9, places=2)), min_size=1,
                max_size=12, unique_by=lambda r: r[0]))
def test_parsed_amounts_are_the_written_ones_to_the_cent(
    rows: list[tuple[int, Decimal]]
) -> None:
    text = "month,scope,scope_key,planned_spend\n" + "".join(
        f'2027-{m:02d},total,,"{a:,.2f}"\n' for m, a in rows)
    parsed, errors = parse_plans(text)
    assert errors == []
    assert [(p.month, p.planned_spend) for p in parsed] == [
        (dt.date(2027, m, 1), a) for m, a in rows]
