"""Google Ads budget reads and ``MutateCampaignBudgets`` with partial failure, sent once.

A rejected operation is sent again alone with the others still pending (never one that was
applied). When the whole request fails in a way that may have reached the platform, the
budgets are read back before anything is resent. The mutate asks for the budgets it changed
back (``MUTABLE_RESOURCE``), so what the platform holds after a write costs no other query.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.ads.googleads.v26.enums.types.response_content_type import ResponseContentTypeEnum
from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure

from connectors import deadline
from connectors.base import ConnectorError
from connectors.errors import classify_google, google_error_kind
from connectors.google_ads_stream import GoogleAdsStreams, enum_name
from connectors.retry import RETRYABLE, retry_wait

# One logger for the whole connector: its messages keep the name they have always carried.
log = logging.getLogger("connectors.google_ads")

BUDGETS_BY_ID = """
SELECT campaign_budget.id, campaign_budget.amount_micros, campaign_budget.explicitly_shared,
  campaign_budget.reference_count
FROM campaign_budget WHERE campaign_budget.id IN ({ids})"""
BUDGET_READ_CHUNK = 500  # ids per query, well inside GAQL's query length limit
MUTABLE_RESOURCE = ResponseContentTypeEnum.ResponseContentType.MUTABLE_RESOURCE


@dataclass(frozen=True)
class PlatformBudget:
    """A campaign budget as Google Ads holds it."""

    budget_id: str
    amount_micros: int
    shared: bool
    reference_count: int


@dataclass
class _Mutation:
    """One customer's budget writes on their way: pending until applied (done) or failed."""

    cid: str
    pending: dict[str, int]  # budget id -> micros to write
    validate_only: bool
    # budget id -> the micros the platform says it holds after the write (None: not said)
    done: dict[str, int | None] = dataclasses.field(default_factory=dict)
    failed: dict[str, ConnectorError] = dataclasses.field(default_factory=dict)


class GoogleAdsBudgetMutations(GoogleAdsStreams):
    """Budgets read by id and written in one partial-failure request per customer."""

    def _read_budgets(self, cid: str, budget_ids: Iterable[str]) -> dict[str, PlatformBudget]:
        """The budgets with these ids, one query per chunk; missing ids are left out."""
        ids = sorted({str(int(b)) for b in budget_ids}, key=int)
        found: dict[str, PlatformBudget] = {}
        for i in range(0, len(ids), BUDGET_READ_CHUNK):
            chunk = ids[i : i + BUDGET_READ_CHUNK]
            query = BUDGETS_BY_ID.format(ids=", ".join(chunk))
            what = f"Google Ads budgets of {cid}"
            for row in self._rows(cid, query, what):
                b = row.campaign_budget
                found[str(b.id)] = PlatformBudget(
                    str(b.id), int(b.amount_micros), bool(b.explicitly_shared),
                    int(b.reference_count),
                )
        return found

    def _mutate_budgets(
        self, cid: str, wanted: dict[str, int], *, validate_only: bool
    ) -> tuple[dict[str, int | None], dict[str, ConnectorError]]:
        """Send the changes; returns (budget id applied -> the micros the platform answered
        it holds, None when it did not say; budget id -> why it failed).

        A rejected operation is sent again alone with the others still pending (never one
        that was applied). When the whole request fails in a way that may have reached the
        platform (UNAVAILABLE, a deadline, a dropped stream), the budgets are read back before
        anything is resent: those already at their new amount are done.
        """
        mutation = _Mutation(cid, dict(wanted), validate_only)
        attempt = 0
        while mutation.pending:
            attempt += 1
            ids = list(mutation.pending)
            what = f"Google Ads budgets {', '.join(ids)} of {cid}"
            try:
                response = self._send_mutate(
                    cid, [(b, mutation.pending[b]) for b in ids], validate_only
                )
            except Exception as exc:  # classified: retried, or the reason for every pending
                if not self._after_lost_answer(mutation, exc, attempt, what):
                    break
                continue
            mutation.pending = self._after_answer(mutation, response, ids, attempt, what)
        return mutation.done, mutation.failed

    def _after_lost_answer(
        self, mutation: _Mutation, exc: Exception, attempt: int, what: str
    ) -> bool:
        """Whether to send the pending writes again after a request failed as a whole.

        Writes the platform already holds are moved to ``done`` first; when no more tries
        are left, every pending write fails with the request's error.
        """
        cid, pending, done = mutation.cid, mutation.pending, mutation.done
        try:
            wait = retry_wait(exc, attempt, classify=classify_google, policy=self.policy, what=what)
        except ConnectorError as err:
            if err.kind in RETRYABLE and not mutation.validate_only:
                with contextlib.suppress(ConnectorError):  # the last try may have landed
                    self._landed(cid, pending, done, what)
            mutation.failed.update(dict.fromkeys(pending, err))
            return False
        deadline.sleep(wait, what, self.policy.sleep)
        if mutation.validate_only:
            return True
        try:
            self._landed(cid, pending, done, what)
        except ConnectorError as err:
            mutation.failed.update(dict.fromkeys(pending, err))
            return False
        return True

    def _after_answer(
        self, mutation: _Mutation, response: Any, ids: list[str], attempt: int, what: str
    ) -> dict[str, int]:
        """The writes to send again after an answer: its rejected operations of a transient
        kind, while tries are left; the others are done or failed."""
        pending, failed = mutation.pending, mutation.failed
        again: dict[str, int] = {}
        delay = 0.0
        for index, message, kind in partial_failures(response):
            targets = [ids[index]] if 0 <= index < len(ids) else ids
            for bid in targets:
                text = f"Google Ads budget {bid}: operation {index} failed: {message}"
                if kind in RETRYABLE and attempt < self.policy.max_attempts:
                    again[bid] = pending[bid]
                    delay = self.policy.delay(attempt)
                elif kind in RETRYABLE:
                    failed[bid] = ConnectorError(
                        f"{text} (still failing after {attempt} attempts)",
                        kind=kind,  # type: ignore[arg-type]
                    )
                else:
                    failed[bid] = ConnectorError(text, kind=kind)  # type: ignore[arg-type]
        for index, bid in enumerate(ids):
            if bid not in again and bid not in failed:
                mutation.done[bid] = returned_micros(response, index)
        if again:
            log.warning("%s: %d operations rejected, sending only those again", what,
                        len(again))
            deadline.sleep(delay, what, self.policy.sleep)
        return again

    def _landed(
        self, cid: str, pending: dict[str, int], done: dict[str, int | None], what: str
    ) -> None:
        """Move the pending budgets the platform already holds to ``done`` (read back)."""
        now = self._read_budgets(cid, pending)
        for bid in list(pending):
            if bid in now and now[bid].amount_micros == pending[bid]:
                log.info("%s: budget %s was applied before the answer was lost", what, bid)
                done[bid] = now[bid].amount_micros
                del pending[bid]

    def _send_mutate(self, cid: str, ops: list[tuple[str, int]], validate_only: bool) -> Any:
        service = self._service("CampaignBudgetService")
        request = self.client.get_type("MutateCampaignBudgetsRequest")
        request.customer_id = cid
        for budget_id, micros in ops:
            operation = self.client.get_type("CampaignBudgetOperation")
            operation.update.resource_name = service.campaign_budget_path(cid, budget_id)
            operation.update.amount_micros = micros
            operation.update_mask.paths.append("amount_micros")
            request.operations.append(operation)
        request.partial_failure = True
        request.validate_only = validate_only
        # The default (RESOURCE_NAME_ONLY) answers names only: the budgets themselves spare
        # the query that would otherwise read the writes back.
        request.response_content_type = MUTABLE_RESOURCE
        self._turn(cid, f"Google Ads customer {cid} budget write")
        self.calls += 1
        try:
            return service.mutate_campaign_budgets(request=request, timeout=self.policy.timeout)
        except Exception as exc:  # noted for every worker; classified by the caller
            self._note(exc, cid)
            raise


def returned_micros(response: Any, index: int) -> int | None:
    """The amount of the budget operation ``index`` mutated, as the answer returns it, or
    None when the answer holds no budget for it (validate-only, a failed operation)."""
    results = response.results
    if not 0 <= index < len(results) or "campaign_budget" not in results[index]:
        return None
    return int(results[index].campaign_budget.amount_micros)


def partial_failures(response: Any) -> list[tuple[int, str, str]]:
    """(operation index, message, kind) for each failed operation of a partial-failure mutate."""
    status = response.partial_failure_error
    if not status or not status.code:
        return []
    out: list[tuple[int, str, str]] = []
    for detail in status.details:
        failure = GoogleAdsFailure.deserialize(detail.value)
        for error in failure.errors:
            index = -1
            for element in error.location.field_path_elements:
                if element.field_name == "operations":
                    index = element.index
            field = error.error_code._pb.WhichOneof("error_code") or ""
            kind = google_error_kind(field, enum_name(error.error_code._pb, field) if field else "")
            out.append((index, error.message, kind))
    return out

