"""Writing several Google Ads budgets at once against the gRPC fake: partial failure retries
only the rejected operations, and a write whose answer is lost is read back, not resent."""

from __future__ import annotations

from decimal import Decimal

import grpc
from google.ads.googleads.v26.enums.types.response_content_type import ResponseContentTypeEnum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import BudgetResult, BudgetTarget, ConnectorError, apply_budgets
from connectors.retry import RetryPolicy
from tests.connectors.fake_gads import FakeGoogleAds
from tests.connectors.fake_gads_mutate import MutateRequestPb, apply_operations, mutate_response

D = Decimal
CUSTOMER = "2000000002"
RCT = ResponseContentTypeEnum.ResponseContentType


def _budgets(gads: FakeGoogleAds, n: int = 4) -> list[str]:
    st = gads.state
    st.add_customer("1000000001", manager=True)
    st.add_customer(CUSTOMER, currency="EUR", parent="1000000001")
    ids = []
    for k in range(n):
        bid = st.add_budget(CUSTOMER, None, 20_000_000 + k * 1_000_000)
        st.add_campaign(CUSTOMER, None, bid)
        ids.append(bid)
    return ids


def _changes(ids: list[str], amount: str = "50") -> list[tuple[BudgetTarget, Decimal]]:
    return [(BudgetTarget(CUSTOMER, "campaign", bid, "EUR"), D(amount)) for bid in ids]


def test_partial_failure_retries_only_the_rejected_operations(gads, make_gads, sleeps) -> None:
    a, b, c, d = _budgets(gads)
    st = gads.state
    st.reject(CUSTOMER, b, error=("database_error", "CONCURRENT_MODIFICATION"))
    st.reject(CUSTOMER, c, error=("internal_error", "INTERNAL_ERROR"), message="Internal error.")
    st.reject(CUSTOMER, d, error=("campaign_budget_error", "CAMPAIGN_BUDGET_REMOVED"),
              message="The campaign budget was removed.", times=99)
    outcomes = apply_budgets(make_gads(), _changes([a, b, c, d]))

    assert [type(o) for o in outcomes] == [BudgetResult] * 3 + [ConnectorError]
    assert all(o.changed and o.daily_budget == D(50) for o in outcomes[:3])  # type: ignore[union-attr]
    refused = outcomes[3]
    assert isinstance(refused, ConnectorError) and refused.kind == "invalid"
    assert "CAMPAIGN_BUDGET_REMOVED" in str(refused) or "removed" in str(refused)
    # One request for all, then one with only the two rejected for a transient reason.
    assert st.mutate_requests == [[a, b, c, d], [b, c]]
    assert st.applied_mutations() == {(CUSTOMER, a): 1, (CUSTOMER, b): 1, (CUSTOMER, c): 1}
    assert [st.budgets[(CUSTOMER, x)]["amount_micros"] for x in (a, b, c)] == [50_000_000] * 3
    assert st.budgets[(CUSTOMER, d)]["amount_micros"] == 23_000_000
    assert len(sleeps) == 1  # backed off before the retry


def test_an_operation_that_keeps_failing_gives_up_after_the_limit(gads, make_gads) -> None:
    a, b = _budgets(gads, 2)
    gads.state.reject(CUSTOMER, b, times=99)
    outcomes = make_gads().apply_budgets(_changes([a, b]))
    assert isinstance(outcomes[0], BudgetResult) and outcomes[0].changed
    failed = outcomes[1]
    assert isinstance(failed, ConnectorError) and failed.kind == "transient"
    assert "after 5 attempts" in str(failed)
    assert len(gads.state.mutate_requests) == 5  # the policy's max_attempts
    assert gads.state.applied_mutations() == {(CUSTOMER, a): 1}


def test_a_lost_answer_is_read_back_not_resent(gads, make_gads) -> None:
    ids = _budgets(gads, 3)
    st = gads.state
    # Applied, then the answer is lost twice: UNAVAILABLE as from a dropped connection.
    st.fail("MutateCampaignBudgets", code=grpc.StatusCode.UNAVAILABLE, error=None,
            message="Socket closed", after_apply=True, times=2)
    outcomes = make_gads().apply_budgets(_changes(ids, "31.5"))
    assert all(isinstance(o, BudgetResult) and o.changed for o in outcomes), outcomes
    assert len(st.mutate_requests) == 1
    assert st.applied_mutations() == {(CUSTOMER, bid): 1 for bid in ids}


def test_a_lost_answer_before_the_platform_applied_is_sent_again(gads, make_gads) -> None:
    ids = _budgets(gads, 2)
    st = gads.state
    st.fail("MutateCampaignBudgets", code=grpc.StatusCode.UNAVAILABLE, error=None,
            message="Socket closed", times=1)  # rejected before anything was applied
    outcomes = make_gads().apply_budgets(_changes(ids, "31.5"))
    assert all(isinstance(o, BudgetResult) and o.changed for o in outcomes), outcomes
    assert len(st.mutate_requests) == 1  # the refused request reached no operation
    assert st.applied_mutations() == {(CUSTOMER, bid): 1 for bid in ids}


def test_one_outcome_per_change_in_order(gads, make_gads) -> None:
    a, b = _budgets(gads, 2)
    shared = gads.state.add_budget(CUSTOMER, None, 9_000_000, shared=True)
    gads.state.add_campaign(CUSTOMER, None, shared)
    gads.state.add_campaign(CUSTOMER, None, shared)
    changes = [
        (BudgetTarget(CUSTOMER, "campaign", b, "EUR"), D(21)),  # already there
        (BudgetTarget(CUSTOMER, "campaign", shared, "EUR"), D(12)),  # shared: one decision
        (BudgetTarget(CUSTOMER, "shared", shared, "EUR"), D(12)),
        (BudgetTarget(CUSTOMER, "adset", "5", "EUR"), D(12)),
        (BudgetTarget(CUSTOMER, "campaign", "123", "EUR"), D(12)),  # no such budget
        (BudgetTarget(CUSTOMER, "campaign", a, "EUR"), D(33)),
    ]
    outcomes = make_gads().apply_budgets(changes)
    kinds = [o.kind if isinstance(o, ConnectorError) else o.changed for o in outcomes]
    assert kinds == [False, "invalid", True, "invalid", "invalid", True]
    assert "shared by 2 campaigns" in str(outcomes[1])
    assert "123 not found" in str(outcomes[4])
    assert gads.state.mutate_requests == [[shared, a]]


def test_dry_run_is_validated_by_the_platform_and_changes_nothing(gads, make_gads) -> None:
    ids = _budgets(gads, 2)
    outcomes = make_gads().apply_budgets(_changes(ids), dry_run=True)
    assert all(isinstance(o, BudgetResult) and o.dry_run and not o.changed for o in outcomes)
    assert gads.state.applied_mutations() == {}
    assert len(gads.state.mutations) == 2  # validate-only operations


def test_one_budget_whose_answer_is_lost_is_written_once(gads, make_gads) -> None:
    (bid,) = _budgets(gads, 1)
    gads.state.fail("MutateCampaignBudgets", code=grpc.StatusCode.UNAVAILABLE, error=None,
                    message="Connection reset by peer", after_apply=True, times=2)
    result = make_gads().apply_budget(BudgetTarget(CUSTOMER, "campaign", bid, "EUR"), D("44.44"))
    assert result.changed and result.daily_budget == D("44.44")
    assert gads.state.applied_mutations() == {(CUSTOMER, bid): 1}


def test_the_last_attempt_that_landed_is_not_reported_failed(gads, make_gads) -> None:
    ids = _budgets(gads, 2)
    gads.state.fail("MutateCampaignBudgets", code=grpc.StatusCode.UNAVAILABLE, error=None,
                    message="Socket closed", after_apply=True, times=1)
    one_try = RetryPolicy(max_attempts=1, base_delay=0, timeout=10, sleep=lambda s: None)
    outcomes = make_gads(policy=one_try).apply_budgets(_changes(ids))
    assert all(isinstance(o, BudgetResult) and o.changed for o in outcomes), outcomes
    assert gads.state.applied_mutations() == {(CUSTOMER, bid): 1 for bid in ids}


TRANSIENT = [("database_error", "CONCURRENT_MODIFICATION"), ("internal_error", "INTERNAL_ERROR")]
PERMANENT = [("campaign_budget_error", "CAMPAIGN_BUDGET_REMOVED")]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rejections=st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(TRANSIENT + PERMANENT), st.integers(1, 6)),
        max_size=6,
    ),
    lost=st.integers(0, 2),
)
def test_whatever_is_rejected_no_budget_is_mutated_twice(gads, make_gads, rejections, lost):
    fake = gads.state
    fake.budgets.clear(), fake.campaigns.clear(), fake.mutations.clear()
    fake.rejections.clear(), fake.mutate_requests.clear(), fake.faults.clear()
    ids = _budgets(gads, 6)
    for k, error, times in rejections:
        fake.reject(CUSTOMER, ids[k], error=error, times=times)
    if lost:
        fake.fail("MutateCampaignBudgets", code=grpc.StatusCode.UNAVAILABLE, error=None,
                  message="Socket closed", after_apply=True, times=lost)
    outcomes = make_gads().apply_budgets(_changes(ids, "42"))
    assert len(outcomes) == len(ids)
    mutated = fake.applied_mutations()
    for bid, outcome in zip(ids, outcomes, strict=True):
        assert mutated[(CUSTOMER, bid)] <= 1  # never twice
        holds = fake.budgets[(CUSTOMER, bid)]["amount_micros"] == 42_000_000
        if isinstance(outcome, BudgetResult):
            assert outcome.changed and holds and mutated[(CUSTOMER, bid)] == 1
        else:  # reported failed: the platform really does not hold it
            assert not holds and mutated[(CUSTOMER, bid)] == 0


def test_the_fake_answers_a_mutate_as_its_response_content_type_asks(gads) -> None:
    """RESOURCE_NAME_ONLY (the default) answers names only; MUTABLE_RESOURCE the budget as
    the platform now holds it; validate-only answers no results; a failed operation's result
    is empty."""
    a, b = _budgets(gads, 2)
    st = gads.state
    st.stored_instead[(CUSTOMER, b)] = 30_000_000

    def send(content_type: int, validate_only: bool = False) -> list[tuple[str, bool, int]]:
        request = MutateRequestPb(customer_id=CUSTOMER, partial_failure=True,
                                  validate_only=validate_only, response_content_type=content_type)
        for bid, micros in ((a, 25_000_000), (b, 26_000_000), ("999", 1_000_000)):
            op = request.operations.add()
            op.update.resource_name = f"customers/{CUSTOMER}/campaignBudgets/{bid}"
            op.update.amount_micros = micros
            op.update_mask.paths.append("amount_micros")
        good, errors = apply_operations(st, request)
        response = mutate_response(st, request, good, errors)
        return [(r.resource_name.rsplit("/", 1)[-1], r.HasField("campaign_budget"),
                 r.campaign_budget.amount_micros) for r in response.results]

    assert send(RCT.RESOURCE_NAME_ONLY) == [(a, False, 0), (b, False, 0), ("", False, 0)]
    assert send(RCT.MUTABLE_RESOURCE) == [
        (a, True, 25_000_000), (b, True, 30_000_000), ("", False, 0)]
    assert send(RCT.MUTABLE_RESOURCE, validate_only=True) == []
