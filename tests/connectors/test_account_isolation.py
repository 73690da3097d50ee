"""One bad account never stops the others, also when the accounts are listed in the config:
a token revoked on one Meta account, a cancelled or refused Google customer. Each is named in
the sync output and in its SyncRun record; every healthy account syncs fully."""

from __future__ import annotations

import datetime as dt

import grpc
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.cli.data import run_sync
from campaigns.alerts.service import sync_conditions
from campaigns.config import settings_from_dict
from campaigns.ingest.sync import sync_source
from campaigns.models import AdAccount, DailyMetric, SyncRun
from campaigns.policy import AlertSettings

NOW = dt.datetime(2025, 3, 31, 12, tzinfo=dt.UTC)
DAYS = [dt.date(2025, 3, 1) + dt.timedelta(days=i) for i in range(30)]
REVOKED = (190, 460, 400, "Error validating access token: the session has been invalidated")
NO_PERMISSION = (200, None, 403, "(#200) Requires ads_read permission on ad account act_3")


def _settings(kind: str, **options):
    return settings_from_dict({
        "sync": {"lookback_days": 7, "history_days": 30},
        "sources": [{"name": kind, "kind": kind, **options}],
    })


def _failed_runs(engine: Engine) -> list[SyncRun]:
    with Session(engine) as s:
        return list(s.scalars(select(SyncRun).where(SyncRun.status == "failed")
                              .order_by(SyncRun.id)))  # type: ignore[arg-type]


def _metric_rows(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(DailyMetric)) or 0


def _meta_world(graph) -> None:
    st = graph.state
    for act in ("act_1", "act_2", "act_3"):
        st.add_account(act)
        for i in range(3):
            cid = st.add_campaign(act, f"{act}_c{i}", daily_budget=5000)
            for day in DAYS:
                st.set_metric(cid, day, spend="10.00", purchases="1", purchase_value="30.00")


def test_meta_listed_accounts_one_revoked_one_refused(engine, graph, make_meta) -> None:
    _meta_world(graph)
    settings = _settings("meta")
    meta = make_meta(account_ids=["act_1", "act_2", "act_3"])
    first = sync_source(engine, settings, settings.sources[0], meta, now=NOW)
    assert first.ok, first.failed

    graph.state.account_errors["act_2"] = REVOKED
    graph.state.account_errors["act_3"] = NO_PERMISSION
    graph.state.set_metric("act_1_c0", DAYS[-1], spend="99.00")
    meta = make_meta(account_ids=["act_1", "act_2", "act_3"])
    report = sync_source(engine, settings, settings.sources[0], meta, now=NOW)
    failed = {o.account: o.error for o in report.failed}
    assert set(failed) == {"meta:act_2", "meta:act_3"}
    assert "[auth]" in failed["meta:act_2"] and "190" in failed["meta:act_2"]
    assert "[auth]" in failed["meta:act_3"] and "200" in failed["meta:act_3"]
    healthy = {(o.account, o.stream) for o in report.outcomes if o.status == "succeeded"}
    assert healthy == {("meta:act_1", "entities"), ("meta:act_1", "metrics")}
    assert {(o.account, o.stream) for o in report.failed} == {
        ("meta:act_2", "entities"), ("meta:act_3", "entities")
    }

    # Access restored: the next sync supersedes the failures, as the alerts read them.
    graph.state.account_errors.clear()
    again = sync_source(engine, settings, settings.sources[0], make_meta(
        account_ids=["act_1", "act_2", "act_3"]), now=NOW)
    assert again.ok, again.failed
    with Session(engine) as s:
        alerts = sync_conditions(s, AlertSettings(), NOW)
    assert [a for a in alerts if a.kind == "sync_failed"] == []
    assert _metric_rows(engine) == 3 * 3 * 30
    with Session(engine) as s:
        accounts = dict(s.execute(select(AdAccount.external_id, AdAccount.id)).all())
    runs = _failed_runs(engine)
    assert {(r.account_id, r.stream) for r in runs} == {
        (accounts["act_2"], "entities"), (accounts["act_3"], "entities")
    }
    assert all(r.error and r.error.startswith(f"meta:{ext}") for r, ext in
               zip(runs, ("act_2", "act_3"), strict=True))


def test_meta_sync_command_names_the_refused_account(engine, graph, monkeypatch, capsys):
    _meta_world(graph)
    graph.state.account_errors["act_2"] = REVOKED
    monkeypatch.setenv("T_META_TOKEN", "good-token")
    settings = _settings(
        "meta", access_token_env="T_META_TOKEN", base_url=graph.base_url,
        account_ids=["act_1", "act_2"], retry_base_delay=0.001, report_poll_seconds=0,
    )
    assert run_sync(engine, settings, now=NOW) == 1
    out = capsys.readouterr()
    assert "meta:act_1: 90 metric rows" in out.out
    assert "meta:act_2: accounts FAILED: [auth]" in out.err


def _google_world(gads) -> None:
    st = gads.state
    st.add_customer("1000000001", manager=True)
    st.add_customer("2000000002", parent="1000000001")
    st.add_customer("3000000003", parent="1000000001", status="CANCELED")
    st.add_customer("5000000005", parent="1000000001")
    for cust in ("2000000002", "3000000003", "5000000005"):
        for _ in range(2):
            cid = st.add_campaign(cust, None, st.add_budget(cust, None, 10_000_000))
            for day in DAYS:
                st.set_metric(cust, cid, day, cost_micros=5_000_000, conversions=1.0)


def test_google_listed_customers_one_cancelled_one_refused(engine, gads, make_gads) -> None:
    _google_world(gads)
    gads.state.fail(
        "SearchStream", customer="5000000005", code=grpc.StatusCode.PERMISSION_DENIED,
        error=("authorization_error", "USER_PERMISSION_DENIED"),
        message="User doesn't have permission to access customer.", times=100,
    )
    settings = _settings("google_ads")
    connector = make_gads(customer_ids=["2000000002", "300-000-0003", "5000000005"])
    report = sync_source(engine, settings, settings.sources[0], connector, now=NOW)
    failed = {o.account: o.error for o in report.failed}
    assert set(failed) == {"google_ads:3000000003", "google_ads:5000000005"}
    assert "CUSTOMER_NOT_ENABLED" in failed["google_ads:3000000003"]
    assert "USER_PERMISSION_DENIED" in failed["google_ads:5000000005"]
    assert _metric_rows(engine) == 2 * 30  # the healthy customer, complete
    runs = _failed_runs(engine)
    assert sorted((r.error or "").split(":")[1] for r in runs) == ["3000000003", "5000000005"]


def test_google_cancelled_client_under_the_manager_is_reported(engine, gads, make_gads) -> None:
    _google_world(gads)
    settings = _settings("google_ads")
    report = sync_source(engine, settings, settings.sources[0], make_gads(), now=NOW)
    assert [(o.account, o.stream) for o in report.failed] == [("google_ads:3000000003", "accounts")]
    assert "CANCELED" in (report.failed[0].error or "")
    assert _metric_rows(engine) == 2 * 2 * 30
    (run,) = _failed_runs(engine)
    assert run.stream == "accounts" and "google_ads:3000000003" in (run.error or "")
