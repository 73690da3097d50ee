"""``MutateCampaignBudgets`` on the fake: every operation checked, then applied (all of them,
or with ``partial_failure`` the good ones), and the answer that tells which failed.

The answer follows ``response_content_type`` as Google documents it: one result per operation
(empty for a failed one), holding only the ``resource_name`` by default (RESOURCE_NAME_ONLY),
and also the mutated ``campaign_budget`` (its mutable fields) with MUTABLE_RESOURCE. A
validate-only request returns errors only, no results."""

from __future__ import annotations

from typing import Any

import grpc
from google.ads.googleads.v26.enums.types.response_content_type import ResponseContentTypeEnum
from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure
from google.ads.googleads.v26.services.types import campaign_budget_service as cbs
from google.protobuf import any_pb2
from google.rpc import status_pb2

from tests.connectors.fake_gads_state import GadsState, budget_key, failure

MutateRequestPb = cbs.MutateCampaignBudgetsRequest.pb()
MutateResponsePb = cbs.MutateCampaignBudgetsResponse.pb()
# (operation index, (customer, budget id), micros) of an operation that passed its checks
Applied = tuple[int, tuple[str, str], int]
MUTABLE_RESOURCE = ResponseContentTypeEnum.ResponseContentType.MUTABLE_RESOURCE.value


def apply_operations(st: GadsState, request: Any) -> tuple[list[Applied], Any]:
    """(the operations applied, a GoogleAdsFailure with the rejected ones)."""
    cust = request.customer_id
    # Check every operation first: without partial_failure one error rejects them all.
    errors = GoogleAdsFailure.pb()()
    good: list[Applied] = []
    with st.lock:
        st.mutate_requests.append(
            [op.update.resource_name.rsplit("/", 1)[-1] for op in request.operations]
        )
        for index, op in enumerate(request.operations):
            problem = _problem(st, cust, op)
            if problem is not None:
                errors.errors.append(failure(*problem, index=index).errors[0])
            else:
                key = budget_key(op.update.resource_name)
                assert key is not None
                good.append((index, key, op.update.amount_micros))
        if errors.errors and not request.partial_failure:
            good = []
        for _, key, amount in good:
            if not request.validate_only:
                # the platform may keep another amount than the one sent (a test says so)
                st.budgets[key]["amount_micros"] = st.stored_instead.get(key, amount)
            st.mutations.append((key[0], key[1], amount, request.validate_only))
    return good, errors


def error_code(error: Any) -> tuple[str, str]:
    """(field, enum name) of one error of a GoogleAdsFailure."""
    field_name = error.error_code.WhichOneof("error_code") or "internal_error"
    enum = error.error_code.DESCRIPTOR.fields_by_name[field_name].enum_type
    return field_name, enum.values_by_number[getattr(error.error_code, field_name)].name


def mutate_response(st: GadsState, request: Any, good: list[Applied], errors: Any) -> Any:
    response = MutateResponsePb()
    done = {index: key for index, key, _ in good}
    for index, op in enumerate(request.operations if not request.validate_only else []):
        result = response.results.add()  # an empty result for a failed operation
        if index in done:
            result.resource_name = op.update.resource_name
            if request.response_content_type == MUTABLE_RESOURCE:
                with st.lock:
                    held = st.budgets[done[index]]["amount_micros"]
                result.campaign_budget.resource_name = op.update.resource_name
                result.campaign_budget.amount_micros = held
    if errors.errors:
        detail = any_pb2.Any()
        detail.Pack(errors)
        response.partial_failure_error.CopyFrom(
            status_pb2.Status(
                code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                message=f"Multiple errors in 'details'. First error: {errors.errors[0].message}",
                details=[detail],
            )
        )
    return response


def _problem(st: GadsState, cust: str, op: Any) -> tuple[str, str, str] | None:
    """Why one operation is rejected (field, enum name, message), or None. Holds the lock."""
    key = budget_key(op.update.resource_name)
    amount = op.update.amount_micros
    if key is None or key[0] != cust or key not in st.budgets:
        return ("mutate_error", "RESOURCE_NOT_FOUND", "Resource was not found.")
    for r in st.rejections:
        if r.times > 0 and (r.customer, r.budget) == key:
            r.times -= 1
            return (*r.error, r.message)
    if amount <= 0:
        return ("campaign_budget_error", "NEGATIVE_MONEY_AMOUNT", "amount <= 0")
    if amount % st.unit_micros(key[0]):
        return (
            "campaign_budget_error",
            "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT",
            "Amount is not a multiple of the minimum currency unit.",
        )
    return None
