"""Schemathesis against the app's own OpenAPI schema: no 5xx, responses as documented."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import Session

from tests.api.factories import (
    add_fx,
    add_metrics,
    create_account,
    create_adset,
    create_campaign,
    create_plan,
    create_shift,
    create_sync_run,
)

Headers = Callable[[str], dict[str, str]]
MAX_EXAMPLES = 10
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
def api_schema(app: FastAPI, db: Session) -> schemathesis.BaseSchema:
    acc = create_account(db, currency="USD", external_id="act_1")
    camp = create_campaign(db, account=acc, external_id="1")
    create_adset(db, campaign=camp)
    add_metrics(db, campaign=camp, start=dt.date(2024, 1, 1), spends=["10"] * 40)
    for i in range(40):
        add_fx(db, day=dt.date(2024, 1, 1) + dt.timedelta(days=i), currency="USD", quote="EUR",
               rate="0.9")
    create_plan(db, month=dt.date(2024, 1, 1), planned="300")
    create_sync_run(db, account=acc)
    create_shift(db, campaigns=[camp], new_budgets=["101"])
    db.commit()
    return schemathesis.openapi.from_asgi("/openapi.json", app)


# schemathesis' pytest plugin (``from_fixture``) does not run under pytest 9, so each
# operation's strategy is driven by hypothesis here, with the app's fixtures in scope.
def test_api_conforms(api_schema: schemathesis.BaseSchema, as_role: Headers) -> None:
    headers = as_role("admin")
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as e:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {str(e)[:1500]}")
    assert not failures, "\n\n".join(failures)


def _no_schema_refusal(ctx: object, response: schemathesis.Response, case: schemathesis.Case
                       ) -> bool | None:
    """A request generated from the schema must pass the request validators: a 422 listing
    field ``errors`` means a bound the schema does not state (a domain 422 — an unknown scope
    key, say — has no such list and is fine)."""
    if response.status_code == 422:
        errors = response.json().get("errors")
        assert not errors, f"valid per the schema, refused: {errors}"
    return None


def test_schema_states_the_bounds_validators_enforce(
    api_schema: schemathesis.BaseSchema, as_role: Headers,
) -> None:
    headers = as_role("admin")
    check_bounds = schemathesis.check(_no_schema_refusal)
    failures: list[str] = []
    for operation in (result.ok() for result in api_schema.get_all_operations()):
        @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[check_bounds])

        try:
            check()
        except Exception as e:
            failures.append(f"{operation.label}: {str(e)[:600]}")
    assert not failures, "\n\n".join(failures)
