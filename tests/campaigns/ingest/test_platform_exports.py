"""Platform exports imported as they are, through the CLI: each sample in tests/data/ (written
from the platform's documented export columns, with its quirks) lands to the cent, a broken
copy of it is refused naming line and column, and a re-import changes nothing."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlmodel import Session
from typer.testing import CliRunner

from api.cli.main import EXIT_REJECTED, EXIT_USAGE, app
from campaigns.models import AdAccount, Campaign, DailyMetric

DATA = Path(__file__).resolve().parents[2] / "data"
runner = CliRunner()

# file, extra options, (network, account, currency), spend, revenue, impressions, clicks,
# conversions, rows, total rows skipped
SAMPLES = [
    ("tiktok_campaign_by_day.csv", [], ("tiktok", "7012345678901234567", "USD"),
     "3284.85", "7480.10", 328410, 5100, "60", 3, 1),
    ("snapchat_campaign_daily.csv", [], ("snapchat", "5f1c0a2e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
     "JPY"), "23500", "45000", 5900, 78, "3", 2, 0),
    ("x_campaign_daily.csv", ["--account", "18ce54d4x5t", "--currency", "USD"],
     ("x", "18ce54d4x5t", "USD"), "500.00", "0", 40300, 589, "7", 2, 0),
    ("linkedin_campaign_performance.csv", [],  # the account from its "Account:" line
     ("linkedin", "508000001", "EUR"), "3999.99", "3300.00", 80000, 400, "11", 2, 0),
    ("vk_ads_statistics.csv", ["--account", "vk_cab_1"], ("vk", "vk_cab_1", "RUB"),
     "22346.00", "0", 190000, 2334, "22", 2, 1),
    ("meta_ads_manager.csv", [], ("meta", "act_1000001", "EUR"),
     "3000.00", "12101.00", 299000, 3550, "85", 2, 0),
    ("google_ads_campaigns.csv", [], ("google", "123-456-7890", "USD"),
     "2384.59", "7850.00", 71841, 1901, "78.50", 3, 2),
]


def config(tmp: Path, extra: str = "") -> Path:
    cfg = tmp / "bp.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{tmp / "bp.db"}"\n' + extra)
    return cfg


def totals(tmp: Path) -> tuple[object, ...]:
    engine = create_engine(f"sqlite:///{tmp / 'bp.db'}")
    with Session(engine) as s:
        account = s.scalars(select(AdAccount)).one()
        row = s.execute(select(
            func.count(), func.sum(DailyMetric.spend), func.sum(DailyMetric.revenue),
            func.sum(DailyMetric.impressions), func.sum(DailyMetric.clicks),
            func.sum(DailyMetric.conversions),
        )).one()
    engine.dispose()
    return (account.network, account.external_id, account.currency), *row


@pytest.mark.parametrize(("name", "opts", "account", "spend", "revenue", "impressions",
                          "clicks", "conversions", "rows", "skipped"), SAMPLES)
def test_each_platform_sample_imports_to_the_cent_and_reimports_idempotently(
    tmp_path: Path, name: str, opts: list[str], account: tuple[str, str, str], spend: str,
    revenue: str, impressions: int, clicks: int, conversions: str, rows: int, skipped: int,
) -> None:
    cfg = config(tmp_path)
    args = ["import-csv", str(DATA / name), "--config", str(cfg), *opts]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    fmt = name.split("_")[0]
    assert f"imported {rows} rows" in result.stdout
    assert f"({fmt} format" in result.stdout  # detected from the header, and said
    assert (f"{skipped} total rows skipped" in result.stdout) == bool(skipped)
    expected = (account, rows, Decimal(spend), Decimal(revenue), impressions, clicks,
                Decimal(conversions))
    assert totals(tmp_path) == expected
    again = runner.invoke(app, [*args, "--format", fmt])
    assert again.exit_code == 0, again.output
    assert totals(tmp_path) == expected


# A broken copy of each sample: (file, line of the bad cell, the file's own column title)
BROKEN = [
    ("tiktok_campaign_by_day.csv", 3, "Cost", ("1,100.25", "1.100,25x")),
    ("snapchat_campaign_daily.csv", 2, "Start time", ("03/01/2026", "13/01/2026")),
    ("x_campaign_daily.csv", 3, "Impressions", ('"19,800"', '"19,8000"')),
    ("meta_ads_manager.csv", 2, "Amount spent (EUR)", ('"1,500.75"', '"1,50.75"')),
    ("google_ads_campaigns.csv", 4, "Cost", ('"1,204.50"', '"-1,204.50"')),
    ("vk_ads_statistics.csv", 3, "Дата", ("02.03.2026", "31.02.2026")),
]


@pytest.mark.parametrize(("name", "line", "column", "change"), BROKEN)
def test_a_broken_sample_is_refused_naming_line_and_column_and_nothing_is_written(
    tmp_path: Path, name: str, line: int, column: str, change: tuple[str, str],
) -> None:
    text = (DATA / name).read_text(encoding="utf-8-sig")
    assert change[0] in text
    broken = tmp_path / name
    broken.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    opts = ["--account", "a1", "--currency", "USD"] if name.startswith(("x_", "vk_")) else []
    result = runner.invoke(app, ["import-csv", str(broken), "--config", str(config(tmp_path)),
                                 *opts])
    assert result.exit_code == EXIT_REJECTED, result.output
    assert f"{name}: line {line}, column {column}: " in result.stderr
    engine = create_engine(f"sqlite:///{tmp_path / 'bp.db'}")
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0
    engine.dispose()


# A negative amount or count in each format, in the ways exports write one (a minus before
# or after the symbol, accounting parentheses, a typographic minus): (file, line, column,
# cell as written, negative cell).
NEGATIVE = [
    ("tiktok_campaign_by_day.csv", 3, "Cost", '"1,100.25"', '"-1,100.25"'),
    ("snapchat_campaign_daily.csv", 2, "Amount spent", '"12,000"', '"(12,000)"'),
    ("x_campaign_daily.csv", 2, "Spend", "$250.40", "-$250.40"),
    ("x_campaign_daily.csv", 3, "Impressions", '"19,800"', '"\u221219,800"'),
    ("meta_ads_manager.csv", 2, "Amount spent (EUR)", '"1,500.75"', '"-1,500.75"'),
    ("google_ads_campaigns.csv", 5, "Cost", "980.10", "$-980.10"),
    ("vk_ads_statistics.csv", 2, "Потрачено", "12 345,67", "-12 345,67"),
    ("linkedin_campaign_performance.csv", 7, "Total Spent", "2,040.00", "2,040.00-"),
]


@pytest.mark.parametrize(("name", "line", "column", "cell", "negative"), NEGATIVE)
def test_a_negative_amount_in_any_export_is_called_negative_with_line_and_column(
    tmp_path: Path, name: str, line: int, column: str, cell: str, negative: str,
) -> None:
    encoding = "utf-16" if name.startswith("linkedin") else "utf-8-sig"
    text = (DATA / name).read_text(encoding=encoding)
    assert cell in text
    broken = tmp_path / name
    broken.write_text(text.replace(cell, negative, 1), encoding=encoding)
    opts = {"x": ["--account", "a1", "--currency", "USD"],
            "vk": ["--account", "a1"]}.get(name.split("_")[0], [])
    result = runner.invoke(app, ["import-csv", str(broken), "--config", str(config(tmp_path)),
                                 *opts])
    assert result.exit_code == EXIT_REJECTED, result.output
    shown = negative.strip('"')
    assert f"{name}: line {line}, column {column}: {shown} is negative" in result.stderr
    assert "not a number" not in result.stderr


def test_utf16_linkedin_broken_row_names_its_line(tmp_path: Path) -> None:
    text = (DATA / "linkedin_campaign_performance.csv").read_text(encoding="utf-16")
    broken = tmp_path / "li.csv"
    broken.write_text(text.replace("39,200", "39.200.1"), encoding="utf-16")
    result = runner.invoke(app, ["import-csv", str(broken), "--config", str(config(tmp_path))])
    assert result.exit_code == EXIT_REJECTED
    assert "li.csv: line 8, column Impressions: '39.200.1' is not a number" in result.stderr


def test_linkedin_reads_its_account_from_the_report_lines_and_refuses_a_conflicting_one(
    tmp_path: Path,
) -> None:
    sample = DATA / "linkedin_campaign_performance.csv"
    cfg = config(tmp_path)
    same = runner.invoke(app, ["import-csv", str(sample), "--config", str(cfg),
                               "--account", "508000001"])  # saying it again is fine
    assert same.exit_code == 0, same.output
    other = runner.invoke(app, ["import-csv", str(sample), "--config", str(cfg),
                                "--account", "508000999"])
    assert other.exit_code == EXIT_REJECTED
    assert ("line 4: --account 508000999 conflicts with the account this export is for "
            "('Account: Acme GmbH (508000001)')") in other.stderr
    assert totals(tmp_path)[0] == ("linkedin", "508000001", "EUR")  # nothing else written
    text = sample.read_text(encoding="utf-16")
    for line, account in (("Account ID: 508000002", "508000002"),
                          ('"Account: 508000003",,,', "508000003")):
        (tmp_path / account).mkdir()
        variant = tmp_path / f"{account}.csv"
        variant.write_text(text.replace("Account: Acme GmbH (508000001)", line),
                           encoding="utf-16")
        result = runner.invoke(app, ["import-csv", str(variant), "--config",
                                     str(config(tmp_path / account))])
        assert result.exit_code == 0, result.output
        assert totals(tmp_path / account)[0] == ("linkedin", account, "EUR")
    without = tmp_path / "no-account.csv"
    without.write_text(text.replace("Account: Acme GmbH (508000001)\n", ""),
                       encoding="utf-16")
    result = runner.invoke(app, ["import-csv", str(without), "--config", str(cfg)])
    assert result.exit_code == EXIT_REJECTED
    assert "no account_id column, so it cannot be known: pass --account" in result.stderr


def test_what_an_export_lacks_is_asked_for_not_guessed(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    result = runner.invoke(app, ["import-csv", str(DATA / "x_campaign_daily.csv"),
                                 "--config", str(cfg)])
    assert result.exit_code == EXIT_REJECTED
    assert "no account_id or currency column, so it cannot be known: pass --account and " \
           "--currency" in result.stderr


def test_a_forced_format_that_does_not_fit_names_what_it_looks_for(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import-csv", str(DATA / "meta_ads_manager.csv"),
                                 "--config", str(config(tmp_path)), "--format", "google"])
    assert result.exit_code == EXIT_REJECTED
    assert "no google header found" in result.stderr and "'Cost'" in result.stderr


def test_a_config_mapping_imports_another_network(tmp_path: Path) -> None:
    cfg = config(tmp_path, extra=(
        '[[imports]]\nname = "pinterest"\nnetwork = "pinterest"\n'
        'date_formats = ["%d/%m/%Y"]\ndecimal = ","\ncurrency = "EUR"\n'
        '[imports.columns]\ndate = "Datum"\ncampaign_id = "Kampagnen-ID"\n'
        'campaign_name = "Kampagne"\naccount_id = "Konto"\nspend = ["Ausgaben", "Kosten"]\n'
        'impressions = "Impressionen"\n'))
    export = tmp_path / "pin.csv"
    export.write_text("Datum;Konto;Kampagnen-ID;Kampagne;Kosten;Impressionen\n"
                      "28/02/2026;549;77;Frühling;1.204,50;12.000\n"
                      "01/03/2026;549;77;Frühling;€ 99,95;1.000\n", encoding="utf-8")
    result = runner.invoke(app, ["import-csv", str(export), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "(pinterest format)" in result.stdout
    assert "note: no clicks column: counted as 0" in result.stdout
    assert totals(tmp_path)[:4] == (("pinterest", "549", "EUR"), 2, Decimal("1304.45"), 0)


@pytest.mark.parametrize(("bad", "key"), [
    ('[imports.columns]\ndate = "D"\nspend = "S"\ncampain_name = "C"\n', "campain_name"),
    ('decmial = ","\n[imports.columns]\ndate = "D"\nspend = "S"\ncampaign_name = "C"\n',
     "decmial"),
    ('date_formats = ["%d-%Y"]\n[imports.columns]\ndate = "D"\nspend = "S"\n'
     'campaign_name = "C"\n', "date_formats"),
])
def test_a_mistyped_import_mapping_is_refused_at_start_up_naming_the_key(
    tmp_path: Path, bad: str, key: str,
) -> None:
    cfg = config(tmp_path, extra=f'[[imports]]\nname = "pin"\nnetwork = "pin"\n{bad}')
    export = tmp_path / "a.csv"
    shutil.copy(DATA / "meta_ads_manager.csv", export)
    result = runner.invoke(app, ["import-csv", str(export), "--config", str(cfg)])
    assert result.exit_code == EXIT_USAGE
    assert key in result.stderr


def test_excel_csv_downloads_in_utf16_with_tabs_and_without_a_mark_import_alike(
    tmp_path: Path,
) -> None:
    google = (DATA / "google_ads_campaigns.csv").read_text(encoding="utf-8")
    excel = tmp_path / "excel.csv"
    rows = [line.split(",") for line in google.splitlines()]
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, delimiter="\t").writerows(csv.reader(io.StringIO(google)))
    excel.write_text(buf.getvalue(), encoding="utf-16")  # with its byte-order mark
    assert rows and excel.read_bytes()[:2] == b"\xff\xfe"
    cfg = config(tmp_path)
    result = runner.invoke(app, ["import-csv", str(excel), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert totals(tmp_path)[1:3] == (3, Decimal("2384.59"))
    linkedin = (DATA / "linkedin_campaign_performance.csv").read_text(encoding="utf-16")
    bare = tmp_path / "bare.csv"
    bare.write_bytes(linkedin.encode("utf-16-le"))  # no mark
    result = runner.invoke(app, ["import-csv", str(bare), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "(linkedin format)" in result.stdout


def test_account_and_currency_options_override_the_export(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import-csv", str(DATA / "tiktok_campaign_by_day.csv"),
                                 "--config", str(config(tmp_path)), "--account", "tt_eu",
                                 "--currency", "eur"])
    assert result.exit_code == 0, result.output
    assert totals(tmp_path)[0] == ("tiktok", "tt_eu", "EUR")


def test_a_header_that_fits_two_formats_equally_asks_for_format(tmp_path: Path) -> None:
    export = tmp_path / "both.csv"
    export.write_text("Day,Campaign ID,Amount spent,Cost\n2026-03-01,1,2,3\n")
    result = runner.invoke(app, ["import-csv", str(export), "--config", str(config(tmp_path))])
    assert result.exit_code == EXIT_REJECTED
    assert "line 1: the header fits several formats (meta, google): choose one with --format" \
        in result.stderr


def test_without_a_campaign_id_campaigns_are_told_apart_by_name_and_it_is_said(
    tmp_path: Path,
) -> None:
    cfg = config(tmp_path, extra=(
        '[[imports]]\nname = "reddit"\nnetwork = "reddit"\ncurrency = "USD"\n'
        'account_id = "t2_abc"\n[imports.columns]\ndate = "Date"\ncampaign_name = "Campaign"\n'
        'spend = "Spend"\nclicks = "Clicks"\nimpressions = "Impressions"\n'
        'conversions = "Conversions"\nrevenue = "Value"\n'))
    export = tmp_path / "r.csv"
    export.write_text("Date,Campaign,Spend,Clicks,Impressions,Conversions,Value\n"
                      '2026-03-01,Alpha,"$1,000.01",5,500,1,20\n2026-03-01,Beta,2.00,1,10,0,0\n')
    result = runner.invoke(app, ["import-csv", str(export), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "note: no campaign id column: campaigns are told apart by name" in result.stdout
    assert totals(tmp_path)[:3] == (("reddit", "t2_abc", "USD"), 2, Decimal("1002.01"))


def test_an_imports_name_that_is_taken_is_refused_at_start_up(tmp_path: Path) -> None:
    cfg = config(tmp_path, extra='[[imports]]\nname = "tiktok"\nnetwork = "tt"\n'
                 '[imports.columns]\ndate = "D"\nspend = "S"\ncampaign_name = "C"\n')
    result = runner.invoke(app, ["import-csv", str(DATA / "meta_ads_manager.csv"),
                                 "--config", str(cfg)])
    assert result.exit_code == EXIT_USAGE
    assert "imports.name: 'tiktok' is taken" in result.stderr


def test_an_unknown_format_is_bad_usage(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import-csv", str(DATA / "meta_ads_manager.csv"),
                                 "--config", str(config(tmp_path)), "--format", "facebook"])
    assert result.exit_code == EXIT_USAGE
    assert "--format: 'facebook' is not a format; one of auto, budgetpilot, tiktok" \
        in result.stderr
