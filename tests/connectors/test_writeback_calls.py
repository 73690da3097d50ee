"""What one budget written costs on the platform, and the budgets changed outside budgetpilot.

The write-back reads an account's budgets in one listing (Meta: the account's campaigns or ad
sets edge; Google Ads: one GAQL query over ``campaign_budget``), then writes each budget that
changes without reading it again, and reads the writes back together: at most two calls per
budget written and one listing per account (Meta: one write each, and one more listing to
verify them all). A budget someone changed on the platform since the proposal is not
overwritten: its item fails and says so."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine

from campaigns.shifts.writeback import apply_items
from tests.connectors.test_writeback import _items, _shift

D = Decimal


def test_meta_writes_each_budget_in_one_call_between_two_listings(engine, graph, make_meta):
    st = graph.state
    st.add_account("act_1", currency="EUR")
    for i in range(1, 31):
        st.add_campaign("act_1", f"c{i}", daily_budget=10_000)
    moves = [(f"c{i}", "campaign", f"c{i}", "100", f"{100 + i}") for i in range(1, 13)]
    shift_id = _shift(engine, "meta", "act_1", "EUR", moves)
    meta = make_meta()
    st.requests.clear()

    report = apply_items(engine, shift_id, lambda account: meta, actor="tester")

    assert (report.applied, report.status) == (12, "applied")
    assert [int(p) for _, p in st.budget_posts] == [10_000 + 100 * i for i in range(1, 13)]
    # every budget of the account in one page: read before, and read back after the writes
    assert st.requests["GET /act_1/campaigns"] == 2
    assert st.total_requests() <= 2 * 12 + 1, st.requests
    assert st.total_requests() == 12 + 2 == meta.calls  # was 4 a budget: 48


def test_a_large_meta_account_with_few_changes_is_not_listed_page_after_page(
    engine, graph, make_meta
) -> None:
    st = graph.state
    st.add_account("act_1", currency="EUR")
    for i in range(1, 31):
        st.add_campaign("act_1", f"c{i}", daily_budget=10_000)
    shift_id = _shift(engine, "meta", "act_1", "EUR", [
        ("c1", "campaign", "c1", "100", "110"), ("c30", "campaign", "c30", "100", "120")])
    meta = make_meta(page_size=5)  # six pages of campaigns
    st.requests.clear()

    report = apply_items(engine, shift_id, lambda account: meta, actor="tester")

    assert (report.applied, report.status) == (2, "applied")
    # before and after the writes: the first page (c1 on it), then c30 read alone
    assert st.requests["GET /act_1/campaigns"] == 2 and st.requests["GET /c30"] == 2
    assert st.total_requests() == 6


def test_meta_budget_changed_outside_since_the_proposal_is_not_overwritten(
    engine, graph, make_meta
) -> None:
    st = graph.state
    st.add_account("act_1", currency="EUR")
    for i in range(1, 4):
        st.add_campaign("act_1", f"c{i}", daily_budget=10_000)
        st.add_adset(f"c{i}", f"s{i}", daily_budget=5_000)
    shift_id = _shift(engine, "meta", "act_1", "EUR", [
        ("c1", "campaign", "c1", "100", "110"), ("c2", "campaign", "c2", "100", "110"),
        ("c3", "campaign", "c3", "100", "110"), ("c1", "adset", "s1", "50", "55"),
        ("c2", "adset", "s2", "50", "55")])
    st.campaigns["c2"]["daily_budget"] = "12500"  # a person raised it in Ads Manager
    st.adsets["s2"]["daily_budget"] = "4000"

    report = apply_items(engine, shift_id, lambda account: make_meta(), actor="tester")

    assert (report.applied, report.failed, report.status) == (3, 2, "partially_applied")
    items = {i.target_external_id: i for i in _items(engine, shift_id)}
    assert {t: i.status for t, i in items.items()} == {
        "c1": "applied", "c2": "failed", "c3": "applied", "s1": "applied", "s2": "failed"}
    assert "campaign budget c2 is 125 on the platform, not the 100.00" in items["c2"].error
    assert "changed outside budgetpilot" in items["c2"].error
    assert "adset budget s2 is 40 on the platform" in items["s2"].error
    assert sorted(p for p, _ in st.budget_posts) == ["c1", "c3", "s1"]  # theirs stand
    assert (st.campaigns["c2"]["daily_budget"], st.adsets["s2"]["daily_budget"]) == (
        "12500", "4000")


def test_meta_taken_over_claim_with_the_budget_already_written_is_not_refused(
    sqlite_engine: Engine, graph, make_meta
) -> None:
    """A budget at its new value is this shift's own write (a crash before recording it),
    not an outside change."""
    st = graph.state
    st.add_account("act_1", currency="EUR")
    st.add_campaign("act_1", "c1", daily_budget=11_000)
    st.add_campaign("act_1", "c2", daily_budget=10_000)
    shift_id = _shift(sqlite_engine, "meta", "act_1", "EUR", [
        ("c1", "campaign", "c1", "100", "110"), ("c2", "campaign", "c2", "100", "110")])

    report = apply_items(sqlite_engine, shift_id, lambda account: make_meta(), actor="tester")

    assert [i.status for i in _items(sqlite_engine, shift_id)] == ["applied", "applied"]
    assert [p for p, _ in st.budget_posts] == ["c2"] and report.status == "applied"


def test_google_reads_a_customers_budgets_in_one_query_and_refuses_outside_changes(
    engine, gads, make_gads
) -> None:
    st = gads.state
    st.add_customer("1000000001", manager=True)
    st.add_customer("2000000002", currency="EUR", parent="1000000001")
    budgets = [st.add_budget("2000000002", None, 40_000_000) for _ in range(5)]
    for bid in budgets:
        st.add_campaign("2000000002", None, bid)
    shift_id = _shift(engine, "google_ads", "2000000002", "EUR", [
        (f"k{n}", "campaign", bid, "40", f"{41 + n}") for n, bid in enumerate(budgets)])
    st.budgets[("2000000002", budgets[3])]["amount_micros"] = 52_000_000  # changed by hand
    connector = make_gads()
    connector.calls = 0

    report = apply_items(engine, shift_id, lambda account: connector, actor="tester")

    assert (report.applied, report.failed) == (4, 1)
    items = _items(engine, shift_id)
    assert [i.status for i in items] == ["applied"] * 3 + ["failed", "applied"]
    assert "is 52 on the platform, not the 40.00" in items[3].error
    assert st.mutate_requests == [[b for n, b in enumerate(budgets) if n != 3]]
    assert st.budgets[("2000000002", budgets[3])]["amount_micros"] == 52_000_000
    # one query reading the budgets, one mutate answering with the budgets it changed, for
    # the whole customer: no read-back query (was 3 calls)
    assert connector.calls <= 2 * 4 + 1 and connector.calls == 2
    assert st.calls["SearchStream"] == 1 and st.calls["MutateCampaignBudgets"] == 1


def test_google_budget_kept_at_another_amount_than_written_fails_its_item(
    engine, gads, make_gads
) -> None:
    """The mutate's answer is the check: an amount the platform holds other than the one
    written is that item's failure, and the other items of the request stand."""
    st = gads.state
    st.add_customer("1000000001", manager=True)
    st.add_customer("2000000002", currency="EUR", parent="1000000001")
    budgets = [st.add_budget("2000000002", None, 40_000_000) for _ in range(3)]
    for bid in budgets:
        st.add_campaign("2000000002", None, bid)
    shift_id = _shift(engine, "google_ads", "2000000002", "EUR", [
        (f"k{n}", "campaign", bid, "40", f"{41 + n}") for n, bid in enumerate(budgets)])
    st.stored_instead[("2000000002", budgets[1])] = 40_500_000
    connector = make_gads()
    connector.calls = 0

    report = apply_items(engine, shift_id, lambda account: connector, actor="tester")

    items = _items(engine, shift_id)
    assert [i.status for i in items] == ["applied", "failed", "applied"]
    assert (report.applied, report.failed) == (2, 1)
    assert (f"budget {budgets[1]}: wrote 42000000 micros but the platform answered it holds "
            "40500000 micros") in items[1].error
    assert connector.calls == 2
