"""CSV import: the contract, spreadsheet habits, and every kind of bad input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.config import Settings
from campaigns.errors import ImportRejected
from campaigns.ingest.csv_import.importer import REQUIRED, import_csv
from campaigns.models import (
    AccountDay,
    AdAccount,
    Campaign,
    DailyMetric,
    MetricObservation,
    Portfolio,
    SyncRun,
)

TODAY = dt.date(2026, 3, 10)
HEADER = ",".join([*REQUIRED, "daily_budget"])
GOOD = [
    "2026-03-01,tiktok,tt_1,c1,Spring sale,EUR,100.50,10000,250,12,840.00,110",
    "2026-03-02,tiktok,tt_1,c1,Spring sale,EUR,99.25,9800,240,11.5,790.10,120",
    "2026-03-01,tiktok,tt_1,c2,Brand,EUR,40,5000,90,3,150,",
    "2026-03-01,snap,sn_9,x7,Retarget JP,JPY,12000,3000,40,2,30000,15000",
]


def write(tmp_path: Path, lines: list[str], name: str = "export.csv", **kw: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", **kw)  # type: ignore[arg-type]
    return path


def counts(engine: Engine) -> tuple[int, int, int]:
    with Session(engine) as s:
        return (
            s.scalar(select(func.count()).select_from(AdAccount)) or 0,
            s.scalar(select(func.count()).select_from(Campaign)) or 0,
            s.scalar(select(func.count()).select_from(DailyMetric)) or 0,
        )


def run(engine: Engine, path: Path) -> object:
    return import_csv(engine, path, settings=Settings(), today=TODAY)


def test_import_creates_accounts_campaigns_and_exact_money(engine: Engine, tmp_path: Path) -> None:
    result = run(engine, write(tmp_path, [HEADER, *GOOD]))
    assert result.rows == 4 and result.accounts == 2 and result.campaigns == 3
    with Session(engine) as s:
        c1 = s.scalars(select(Campaign).where(Campaign.external_id == "c1")).one()
        # The latest row's budget becomes the current budget; money stays exact.
        assert c1.daily_budget == Decimal("120")
        assert c1.name == "Spring sale"
        spends = sorted(s.scalars(select(DailyMetric.spend).where(DailyMetric.campaign_id == c1.id)))
        assert spends == [Decimal("99.25"), Decimal("100.50")]
        conv = s.scalar(select(DailyMetric.conversions).where(
            DailyMetric.campaign_id == c1.id, DailyMetric.date == dt.date(2026, 3, 2)))
        assert conv == Decimal("11.5")
        jp = s.scalars(select(AdAccount).where(AdAccount.external_id == "sn_9")).one()
        assert jp.currency == "JPY" and jp.network == "snap"
        # Accounts from a CSV land in the default portfolio.
        assert s.get(Portfolio, jp.portfolio_id).name == "default"  # type: ignore[union-attr]
        run_row = s.scalars(select(SyncRun).where(SyncRun.stream == "csv")).one()
        assert run_row.status == "succeeded" and run_row.rows == 4


def test_reimport_changes_nothing_and_restatement_overwrites(
    engine: Engine, tmp_path: Path
) -> None:
    path = write(tmp_path, [HEADER, *GOOD])
    run(engine, path)
    with Session(engine) as s:
        before = s.execute(select(DailyMetric.id, DailyMetric.updated_at)).all()
    run(engine, path)
    with Session(engine) as s:
        assert s.execute(select(DailyMetric.id, DailyMetric.updated_at)).all() == before
    restated = GOOD[0].replace(",12,840.00,", ",14,980.00,")
    run(engine, write(tmp_path, [HEADER, restated], name="later.csv"))
    assert counts(engine) == (2, 3, 4)
    with Session(engine) as s:
        assert s.scalar(select(func.sum(DailyMetric.conversions))) == Decimal("30.5")


def test_spreadsheet_export_with_bom_semicolons_and_decimal_commas(
    engine: Engine, tmp_path: Path
) -> None:
    lines = [
        HEADER.replace(",", ";"),
        "2026-03-01;tiktok;tt_1;c1;Spring sale;EUR;1.234,56;10000;250;12;840,5;",
        "2026-03-02;tiktok;tt_1;c1;Spring sale;eur;99.25;;;;;",
    ]
    path = write(tmp_path, lines, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert run(engine, path).rows == 2
    with Session(engine) as s:
        spends = sorted(s.scalars(select(DailyMetric.spend)))
        assert spends == [Decimal("99.25"), Decimal("1234.56")]
        assert s.scalar(select(func.sum(DailyMetric.revenue))) == Decimal("840.5")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([HEADER.replace(",spend", "")], "line 1: missing column(s): spend"),
        ([HEADER, GOOD[0].replace("100.50", "12 EUR")], "line 2, column spend: '12 EUR' is not a number"),
        ([HEADER, GOOD[0], GOOD[1].replace("99.25", "-5")], "line 3, column spend: -5 is negative"),
        ([HEADER, GOOD[0].replace(",100.50,", ",−5,")], "line 2, column spend: −5 is negative"),
        ([HEADER, GOOD[0].replace(",10000,", ",(10000),")], "line 2, column impressions: (10000) is negative"),
        ([HEADER, GOOD[0].replace(",110", ",110-")], "line 2, column daily_budget: 110- is negative"),
        ([HEADER, GOOD[0].replace(",EUR,", ",EURO,")], "line 2, column currency: 'EURO' is not an ISO 4217"),
        ([HEADER, GOOD[0].replace("2026-03-01", "2026-02-30")], "line 2, column date: 2026-02-30 is not a real date"),
        ([HEADER, GOOD[0].replace("2026-03-01", "2027-01-01")], "line 2, column date: 2027-01-01 is in the future"),
        ([HEADER, GOOD[0].replace("2026-03-01", "01/03/2026")], "is not a date in the form YYYY-MM-DD"),
        ([HEADER, GOOD[0], GOOD[1], GOOD[0]], "line 4: the same campaign and date as line 2"),
        ([HEADER, GOOD[0], "2026-03-01,tiktok,tt_1,c9,x,USD,1,1,1,1,1,"], "line 3, column currency: account tiktok:tt_1 is in EUR, not USD"),
        ([HEADER, GOOD[0] + ",extra"], "line 2: expected 12 fields, found 13"),
        ([HEADER, GOOD[0].replace(",250,", ",2.5,")], "line 2, column clicks: 2.5 is not a whole number"),
        ([HEADER, GOOD[0].replace(",100.50,", ",NaN,")], "is not a number"),
        ([HEADER], "the file has a header but no data rows"),
        ([HEADER, GOOD[0], GOOD[1].replace(",99.25,", ",.,")], "line 3, column spend: '.' is not a number"),
        ([HEADER, GOOD[0].replace(",10000,", ",1²,")], "line 2, column impressions: '1²' is not a number"),
        ([HEADER, GOOD[0].replace(",100.50,", ",12345678901234,")], "line 2, column spend: 12345678901234 is too large"),
    ],
)
def test_bad_rows_are_named_and_nothing_is_written(
    engine: Engine, tmp_path: Path, lines: list[str], message: str
) -> None:
    run(engine, write(tmp_path, [HEADER, GOOD[3]], name="first.csv"))
    before = counts(engine)
    path = write(tmp_path, lines)
    with pytest.raises(ImportRejected) as err:
        run(engine, path)
    assert message in err.value.message
    assert str(path) in err.value.message
    assert counts(engine) == before
    with Session(engine) as s:
        failed = s.scalars(select(SyncRun).where(SyncRun.status == "failed")).one()
        assert message in (failed.error or "")


def test_a_folder_or_missing_file_is_refused_with_a_reason(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    with pytest.raises(ImportRejected, match="cannot be read: Is a directory"):
        run(sqlite_engine, tmp_path)
    with pytest.raises(ImportRejected, match="no such file"):
        run(sqlite_engine, tmp_path / "missing.csv")


def test_empty_file_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ImportRejected, match=r"empty\.csv: the file is empty"):
        run(engine, path)


def test_a_bad_row_after_many_good_chunks_rolls_back_everything(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("campaigns.ingest.csv_import.importer.CHUNK", 10)
    start = dt.date(2026, 1, 1)
    lines = [HEADER] + [
        f"{start + dt.timedelta(days=d)},meta,act_1,c{c},n,EUR,10,1,1,1,1,"
        for d in range(30) for c in range(5)
    ]
    lines.append("2026-01-01,meta,act_1,c999,n,EUR,oops,1,1,1,1,")
    with pytest.raises(ImportRejected, match=f"line {len(lines)}, column spend"):
        run(sqlite_engine, write(tmp_path, lines))
    assert counts(sqlite_engine) == (0, 0, 0)


rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 40),  # day offset
        st.sampled_from(["c1", "c2", "c3"]),
        st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False),
        st.integers(0, 10**6),
        st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False),
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda r: (r[0], r[1]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy)
def test_any_valid_file_round_trips_exactly_and_twice_is_once(
    sqlite_engine: Engine, tmp_path: Path, rows: list
) -> None:
    with Session(sqlite_engine) as s:  # each example starts from an empty database
        for table in (AccountDay, DailyMetric, MetricObservation, Campaign, AdAccount):
            s.execute(table.__table__.delete())  # type: ignore[attr-defined]
        s.commit()
    start = dt.date(2026, 1, 1)
    lines = [HEADER] + [
        f"{start + dt.timedelta(days=d)},meta,act_1,{c},name {c},EUR,{spend},{imp},1,{conv},0,"
        for d, c, spend, imp, conv in rows
    ]
    path = write(tmp_path, lines)
    run(sqlite_engine, path)
    run(sqlite_engine, path)
    with Session(sqlite_engine) as s:
        stored = {
            (d, c): (spend, conv)
            for d, c, spend, conv in s.execute(
                select(DailyMetric.date, Campaign.external_id, DailyMetric.spend,
                       DailyMetric.conversions).join(Campaign)
            ).all()
        }
    expected = {
        (start + dt.timedelta(days=d), c): (spend, conv) for d, c, spend, _, conv in rows
    }
    assert stored == expected
