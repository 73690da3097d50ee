"""Google Ads through the official ``google-ads`` SDK (API v26, gRPC).

The client is built by hand: ``GoogleAdsClient.load_from_dict`` refreshes the token at once
against Google's hard-coded token URI, so the OAuth ``Credentials`` are constructed here with a
configurable ``token_uri`` and the endpoint can point at staging or a local fake. The v26
methods have no default timeout or retry: every call passes ``timeout=`` and retries are ours.

Money arrives as ``*_micros`` integers (10^6 per unit) and must be written back as a multiple
of the currency's billable unit. A budget can be shared by several campaigns: it is then one
decision (level ``shared``, external id = budget id), and a per-campaign change to it is
refused rather than silently moving the other campaigns' budgets.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from google.ads.googleads.client import GoogleAdsClient
from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure
from google.oauth2.credentials import Credentials

from connectors.base import (
    AccountRecord,
    AdSetRecord,
    BudgetOutcome,
    BudgetResult,
    BudgetTarget,
    CampaignRecord,
    ConnectorError,
    MetricRecord,
)
from connectors.currencies import ISO_4217
from connectors.errors import PartialAccountList, classify_google, google_error_kind
from connectors.google_ads_options import DEFAULT_TOKEN_URI, GoogleAdsOptions
from connectors.retry import RETRYABLE, RetryPolicy, call_with_retry, retry_wait
from connectors.settings import secret

log = logging.getLogger(__name__)

API_VERSION = "v26"
MICROS = 1_000_000
# Google's billable unit where it is coarser than the ISO minor unit
# (developers.google.com/google-ads/api/data/codes-formats#currency-codes); other currencies
# bill in their ISO minor unit. The ``billable_units`` option adds or corrects entries.
GOOGLE_BILLABLE_UNIT_MICROS = {"HUF": MICROS, "TWD": MICROS, "IDR": MICROS}
STATUS = {"ENABLED": "active", "PAUSED": "paused", "REMOVED": "removed"}

CAMPAIGN_QUERY = """
SELECT campaign.id, campaign.name, campaign.status, campaign.serving_status,
  campaign.advertising_channel_type, campaign.bidding_strategy_type, campaign.campaign_budget,
  campaign_budget.id, campaign_budget.amount_micros, campaign_budget.total_amount_micros,
  campaign_budget.delivery_method, campaign_budget.explicitly_shared,
  campaign_budget.reference_count, campaign_budget.period
FROM campaign"""
AD_GROUP_QUERY = """
SELECT campaign.id, ad_group.id, ad_group.name, ad_group.status FROM ad_group"""
METRICS_QUERY = """
SELECT campaign.id, segments.date, metrics.cost_micros, metrics.impressions, metrics.clicks,
  metrics.conversions, metrics.conversions_value
FROM campaign WHERE segments.date BETWEEN '{start}' AND '{end}'"""
CLIENTS_QUERY = """
SELECT customer_client.id, customer_client.descriptive_name, customer_client.currency_code,
  customer_client.time_zone, customer_client.manager, customer_client.status,
  customer_client.level
FROM customer_client
WHERE customer_client.manager = FALSE"""
CUSTOMER_QUERY = """
SELECT customer.id, customer.descriptive_name, customer.currency_code, customer.time_zone,
  customer.status
FROM customer"""
BUDGETS_BY_ID = """
SELECT campaign_budget.id, campaign_budget.amount_micros, campaign_budget.explicitly_shared,
  campaign_budget.reference_count
FROM campaign_budget WHERE campaign_budget.id IN ({ids})"""
BUDGET_READ_CHUNK = 500  # ids per query, well inside GAQL's query length limit


def customer_id(value: str) -> str:
    digits = re.sub(r"\D", "", str(value))
    if not digits:
        raise ConnectorError(f"not a Google Ads customer id: {value!r}", kind="invalid")
    return digits


def billable_unit_micros(currency: str, overrides: dict[str, int] | None = None) -> int:
    """The smallest amount Google accepts for ``currency``, in micros (USD: 10,000)."""
    code = currency.upper()
    if overrides and code in overrides:
        return int(overrides[code])
    if code in GOOGLE_BILLABLE_UNIT_MICROS:
        return GOOGLE_BILLABLE_UNIT_MICROS[code]
    return MICROS // 10 ** ISO_4217.get(code, 2)


def to_micros(amount: Decimal, currency: str, overrides: dict[str, int] | None = None) -> int:
    """Round down to a multiple of the billable unit: never write more than was approved."""
    unit = billable_unit_micros(currency, overrides)
    micros = int(Decimal(amount) * MICROS)
    return micros - micros % unit


def from_micros(micros: int) -> Decimal:
    return Decimal(int(micros)) / MICROS


def _float_dec(value: float) -> Decimal:
    # Conversions are doubles (fractional under data-driven attribution); six places is what
    # the database keeps and drops binary noise such as 2.9999999999.
    return Decimal(repr(float(value))).quantize(Decimal("0.000001"))


@dataclass(frozen=True)
class _Budget:
    budget_id: str
    amount_micros: int
    shared: bool
    reference_count: int


class GoogleAdsConnector:
    """Google Ads as a :class:`connectors.base.Connector`."""

    name = "google_ads"

    def __init__(
        self,
        *,
        developer_token: str,
        refresh_token: str,
        client_id: str,
        client_secret: str,
        login_customer_id: str | None = None,
        customer_ids: Iterable[str] | None = None,
        endpoint: str | None = None,
        token_uri: str = DEFAULT_TOKEN_URI,
        policy: RetryPolicy | None = None,
        include_removed: bool = True,
        min_daily_budget: Decimal | None = None,
        billable_units: dict[str, int] | None = None,
        client_factory: Callable[..., GoogleAdsClient] = GoogleAdsClient,
    ) -> None:
        self.policy = policy or RetryPolicy()
        credentials = Credentials(
            None,
            refresh_token=refresh_token,
            client_id=client_id,
            client_secret=client_secret,
            token_uri=token_uri,
        )
        self.login_customer_id = customer_id(login_customer_id) if login_customer_id else None
        self.client = client_factory(
            credentials=credentials,
            developer_token=developer_token,
            endpoint=endpoint,
            login_customer_id=self.login_customer_id,
            version=API_VERSION,
            use_proto_plus=True,
        )
        self.customer_ids = [customer_id(c) for c in customer_ids] if customer_ids else None
        self.include_removed = include_removed
        self.min_daily_budget = min_daily_budget
        self.billable_units = {k.upper(): int(v) for k, v in (billable_units or {}).items()}
        self._services: dict[str, Any] = {}
        self._accounts: dict[str, AccountRecord] = {}
        self.calls = 0

    @classmethod
    def from_settings(cls, source: Any) -> GoogleAdsConnector:
        """The connector of a ``[[sources]]`` entry (its ``name`` and ``options``)."""
        return cls.from_options(source.name, source.options)

    @classmethod
    def from_options(
        cls, name: str, options: GoogleAdsOptions | dict[str, Any]
    ) -> GoogleAdsConnector:
        o = GoogleAdsOptions.model_validate(options)
        what = f"source {name}"
        return cls(
            developer_token=secret(o.developer_token_env, f"{what}: developer token"),
            refresh_token=secret(o.refresh_token_env, f"{what}: OAuth refresh token"),
            client_id=secret(o.client_id_env, f"{what}: OAuth client id"),
            client_secret=secret(o.client_secret_env, f"{what}: OAuth client secret"),
            login_customer_id=o.login_customer_id,
            customer_ids=o.customer_ids,
            endpoint=o.endpoint,
            token_uri=o.token_uri,
            policy=o.retry_policy(),
            include_removed=o.include_removed,
            min_daily_budget=o.min_daily_budget,
            billable_units=o.billable_units,
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _service(self, name: str) -> Any:
        # Each get_service opens a channel: keep one per service for the connector's life.
        if name not in self._services:
            self._services[name] = self.client.get_service(name, version=API_VERSION)
        return self._services[name]

    def _stream(
        self, customer: str, query: str, what: str, key: Callable[[Any], Any]
    ) -> Iterator[Any]:
        """Rows (raw protobuf) of a SearchStream, retried on throttling and transient failures.

        A stream can break after many rows (INTERNAL mid-stream); it is then read again from
        the start and rows already yielded (by ``key``) are skipped, so nothing is lost or
        yielded twice.
        """
        service = self._service("GoogleAdsService")
        seen: set[Any] = set()
        attempt = 0
        while True:
            attempt += 1
            try:
                self.calls += 1
                stream = service.search_stream(
                    customer_id=customer, query=query, timeout=self.policy.timeout
                )
                for batch in stream:
                    for row in batch._pb.results:
                        k = key(row)
                        if k not in seen:
                            seen.add(k)
                            yield row
                return
            except Exception as exc:  # classified by retry_wait; the unretryable re-raise
                wait = retry_wait(
                    exc, attempt, classify=classify_google, policy=self.policy, what=what
                )
                self.policy.sleep(wait)

    def _rows(self, customer: str, query: str, what: str) -> list[Any]:
        """All rows of a small query, read again whole when the stream breaks."""
        return call_with_retry(
            lambda: list(self._stream_once(customer, query)),
            classify=classify_google,
            policy=self.policy,
            what=what,
        )

    def _stream_once(self, customer: str, query: str) -> Iterator[Any]:
        self.calls += 1
        stream = self._service("GoogleAdsService").search_stream(
            customer_id=customer, query=query, timeout=self.policy.timeout
        )
        for batch in stream:
            yield from batch._pb.results

    # -- accounts and entities -------------------------------------------------------------

    def list_accounts(self) -> list[AccountRecord]:
        """The customers to sync: ``customer_ids``, or every client under the manager.

        A customer that cannot be read (access removed, ``CUSTOMER_NOT_ENABLED``) or is not
        enabled (cancelled, suspended, closed) is reported by name through
        :class:`PartialAccountList`; the others are still returned with it.
        """
        records: list[AccountRecord] = []
        failures: dict[str, ConnectorError] = {}
        if self.customer_ids:
            for cid in self.customer_ids:
                try:
                    rows = self._rows(cid, CUSTOMER_QUERY, f"Google Ads customer {cid}")
                except ConnectorError as err:
                    log.error("Google Ads customer %s: %s", cid, err)
                    failures[cid] = err
                    continue
                for row in rows:
                    c = row.customer
                    self._keep(records, failures, c.id, c.descriptive_name, c.currency_code,
                               c.time_zone, _enum(c, "status"))
        elif not self.login_customer_id:
            raise ConnectorError(
                "Google Ads: set login_customer_id (the manager account) or customer_ids",
                kind="invalid",
            )
        else:
            rows = self._rows(self.login_customer_id, CLIENTS_QUERY, "Google Ads customer_client")
            for c in (row.customer_client for row in rows):
                self._keep(records, failures, c.id, c.descriptive_name, c.currency_code,
                           c.time_zone, _enum(c, "status"))
        if failures:
            raise PartialAccountList(records, failures)
        return records

    def _keep(
        self,
        records: list[AccountRecord],
        failures: dict[str, ConnectorError],
        cid: int,
        name: str,
        currency: str,
        tz: str,
        status: str,
    ) -> None:
        if status == "ENABLED":
            records.append(self._account(cid, name, currency, tz, status))
            return
        failures[str(cid)] = ConnectorError(
            f"Google Ads customer {cid} ({name or 'no name'}) is {status or 'UNKNOWN'}, not "
            "enabled: nothing can be read or written there; remove it from the config or "
            "re-enable it",
            kind="auth",
        )

    def _account(self, cid: int, name: str, currency: str, tz: str, status: str) -> AccountRecord:
        record = AccountRecord(
            network="google_ads",
            external_id=str(cid),
            name=name,
            currency=currency.upper(),
            timezone=tz or "UTC",
            status=STATUS.get(status, status.lower()),
        )
        self._accounts[record.external_id] = record
        return record

    def list_campaigns(self, account_external_id: str) -> list[CampaignRecord]:
        cid = customer_id(account_external_id)
        query = CAMPAIGN_QUERY
        if not self.include_removed:
            query += " WHERE campaign.status != 'REMOVED'"
        out = []
        for row in self._rows(cid, query, f"Google Ads campaigns of {cid}"):
            c, b = row.campaign, row.campaign_budget
            shared = bool(b.explicitly_shared) or b.reference_count > 1
            daily = from_micros(b.amount_micros) if b.amount_micros else None
            total = from_micros(b.total_amount_micros) if b.total_amount_micros else None
            out.append(
                CampaignRecord(
                    external_id=str(c.id),
                    name=c.name,
                    status=STATUS.get(_enum(c, "status"), _enum(c, "status").lower()),
                    effective_status=_enum(c, "serving_status").lower() or None,
                    objective=_enum(c, "advertising_channel_type") or None,
                    bid_strategy=_enum(c, "bidding_strategy_type") or None,
                    budget_level="shared" if shared else "campaign",
                    daily_budget=daily,
                    lifetime_budget=total,
                    # The budget's own id, not the campaign's: write-back targets it.
                    budget_external_id=_budget_id(c.campaign_budget) or (
                        str(b.id) if b.id else None
                    ),
                    budget_shared=shared,
                )
            )
        return out

    def list_ad_sets(self, account_external_id: str) -> list[AdSetRecord]:
        """Ad groups; they hold no budget on Google Ads."""
        cid = customer_id(account_external_id)
        query = AD_GROUP_QUERY
        if not self.include_removed:
            query += " WHERE ad_group.status != 'REMOVED'"
        return [
            AdSetRecord(
                campaign_external_id=str(row.campaign.id),
                external_id=str(row.ad_group.id),
                name=row.ad_group.name,
                status=STATUS.get(_enum(row.ad_group, "status"), "unknown"),
            )
            for row in self._rows(cid, query, f"Google Ads ad groups of {cid}")
        ]

    def daily_metrics(
        self, account_external_id: str, start: dt.date, end: dt.date
    ) -> Iterator[MetricRecord]:
        cid = customer_id(account_external_id)
        query = METRICS_QUERY.format(start=start.isoformat(), end=end.isoformat())
        what = f"Google Ads metrics of {cid} {start}..{end}"
        for row in self._stream(cid, query, what, key=lambda r: (r.campaign.id, r.segments.date)):
            m = row.metrics
            yield MetricRecord(
                campaign_external_id=str(row.campaign.id),
                date=dt.date.fromisoformat(row.segments.date),
                spend=from_micros(m.cost_micros),
                impressions=int(m.impressions),
                clicks=int(m.clicks),
                conversions=_float_dec(m.conversions),
                revenue=_float_dec(m.conversions_value),
            )

    # -- budgets ----------------------------------------------------------------------------
    #
    # A target's external id is the campaign *budget* id (level "campaign" for a campaign's
    # own budget, "shared" for a budget several campaigns draw on): budgets are their own
    # resource on Google Ads, with ids of their own, and are read and mutated as
    # ``customers/{cid}/campaignBudgets/{budget_id}``.

    def _read_budgets(self, cid: str, budget_ids: Iterable[str]) -> dict[str, _Budget]:
        """The budgets with these ids, one query per chunk; missing ids are left out."""
        ids = sorted({str(int(b)) for b in budget_ids}, key=int)
        found: dict[str, _Budget] = {}
        for i in range(0, len(ids), BUDGET_READ_CHUNK):
            chunk = ids[i : i + BUDGET_READ_CHUNK]
            query = BUDGETS_BY_ID.format(ids=", ".join(chunk))
            what = f"Google Ads budgets of {cid}"
            for row in self._rows(cid, query, what):
                b = row.campaign_budget
                found[str(b.id)] = _Budget(
                    str(b.id), int(b.amount_micros), bool(b.explicitly_shared),
                    int(b.reference_count),
                )
        return found

    def _budget(self, target: BudgetTarget) -> _Budget:
        cid = _budget_customer(target)
        budget = self._read_budgets(cid, [target.external_id]).get(target.external_id)
        if budget is None:
            raise _not_found(target, cid)
        return budget

    def read_budget(self, target: BudgetTarget) -> Decimal:
        return from_micros(self._budget(target).amount_micros)

    def apply_budget(
        self, target: BudgetTarget, daily_budget: Decimal, *, dry_run: bool = False
    ) -> BudgetResult:
        outcome = self.apply_budgets([(target, daily_budget)], dry_run=dry_run)[0]
        if isinstance(outcome, ConnectorError):
            raise outcome
        return outcome

    def apply_budgets(
        self, changes: Sequence[tuple[BudgetTarget, Decimal]], *, dry_run: bool = False
    ) -> list[BudgetOutcome]:
        """Set several budgets: one outcome per change, in order (see connectors.base).

        Per customer, the budgets are read in one query, then every change that is needed goes
        in one ``MutateCampaignBudgets`` with ``partial_failure``: a rejected operation leaves
        the others applied, and only the rejected ones are sent again (transient kinds, with
        backoff, up to the policy's attempts). With ``dry_run`` the platform validates
        (``validate_only``) and nothing changes.
        """
        outcomes: list[BudgetOutcome | None] = [None] * len(changes)
        per_customer: dict[str, list[int]] = {}
        for index, (target, _) in enumerate(changes):
            try:
                per_customer.setdefault(_budget_customer(target), []).append(index)
            except ConnectorError as err:
                outcomes[index] = err
        for cid, indexes in per_customer.items():
            self._apply_customer(cid, [(i, *changes[i]) for i in indexes], outcomes, dry_run)
        assert all(o is not None for o in outcomes)
        return outcomes  # type: ignore[return-value]

    def _apply_customer(
        self,
        cid: str,
        items: list[tuple[int, BudgetTarget, Decimal]],
        outcomes: list[BudgetOutcome | None],
        dry_run: bool,
    ) -> None:
        try:
            current = self._read_budgets(cid, [t.external_id for _, t, _ in items])
        except ConnectorError as err:
            for index, _, _ in items:
                outcomes[index] = err
            return
        wanted: dict[str, int] = {}  # budget id -> micros to write
        waiting: dict[str, list[int]] = {}  # budget id -> indexes of the changes it settles
        for index, target, amount in items:
            try:
                micros = self._checked_micros(target, amount, current.get(target.external_id), cid)
            except ConnectorError as err:
                outcomes[index] = err
                continue
            bid = target.external_id
            if current[bid].amount_micros == micros:
                outcomes[index] = BudgetResult(
                    target, amount, from_micros(micros), changed=False, dry_run=dry_run
                )
            elif wanted.setdefault(bid, micros) != micros:
                outcomes[index] = ConnectorError(
                    f"Google Ads budget {bid}: two changes in one request "
                    f"({from_micros(wanted[bid])} and {from_micros(micros)}); refusing the second",
                    kind="invalid",
                )
            else:
                waiting.setdefault(bid, []).append(index)
        if not wanted:
            return
        done, failed = self._mutate_budgets(cid, wanted, validate_only=dry_run)
        for bid, err in failed.items():
            for index in waiting[bid]:
                outcomes[index] = err
        after: dict[str, _Budget] = {}
        if done and not dry_run:
            try:
                after = self._read_budgets(cid, done)
            except ConnectorError as err:
                for bid in done:
                    for index in waiting[bid]:
                        outcomes[index] = err
                return
        changes = {index: (target, amount) for index, target, amount in items}
        for bid in done:
            for index in waiting[bid]:
                target, amount = changes[index]
                if dry_run:
                    outcomes[index] = BudgetResult(
                        target, amount, from_micros(wanted[bid]), changed=False, dry_run=True
                    )
                elif bid in after and after[bid].amount_micros == wanted[bid]:
                    outcomes[index] = BudgetResult(
                        target, amount, from_micros(wanted[bid]), changed=True
                    )
                else:
                    got = after[bid].amount_micros if bid in after else "nothing"
                    outcomes[index] = ConnectorError(
                        f"Google Ads budget {bid}: wrote {wanted[bid]} micros but read back "
                        f"{got}",
                        kind="fatal",
                    )

    def _checked_micros(
        self, target: BudgetTarget, amount: Decimal, budget: _Budget | None, cid: str
    ) -> int:
        """The micros to write for one change, or the reason it must not be written."""
        if budget is None:
            raise _not_found(target, cid)
        if target.level == "campaign" and (budget.shared or budget.reference_count > 1):
            raise ConnectorError(
                f"Google Ads campaign budget {budget.budget_id} is shared by "
                f"{budget.reference_count} campaigns: changing it would move the others' "
                "budgets too; decide it as one shared budget (level 'shared')",
                kind="invalid",
            )
        micros = to_micros(amount, target.currency, self.billable_units)
        minimum = billable_unit_micros(target.currency, self.billable_units)
        if self.min_daily_budget is not None:
            minimum = max(
                minimum, to_micros(self.min_daily_budget, target.currency, self.billable_units)
            )
        if micros < minimum:
            raise ConnectorError(
                f"Google Ads budget {budget.budget_id}: {amount} {target.currency} is "
                f"below the minimum {from_micros(minimum)}",
                kind="invalid",
            )
        return micros

    def _mutate_budgets(
        self, cid: str, wanted: dict[str, int], *, validate_only: bool
    ) -> tuple[list[str], dict[str, ConnectorError]]:
        """Send the changes; returns (budget ids applied, budget id -> why it failed).

        A rejected operation is sent again alone with the others still pending (never one
        that was applied). When the whole request fails in a way that may have reached the
        platform (UNAVAILABLE, a deadline, a dropped stream), the budgets are read back before
        anything is resent: those already at their new amount are done.
        """
        pending = dict(wanted)
        done: list[str] = []
        failed: dict[str, ConnectorError] = {}
        attempt = 0
        while pending:
            attempt += 1
            ids = list(pending)
            what = f"Google Ads budgets {', '.join(ids)} of {cid}"
            try:
                response = self._send_mutate(cid, [(b, pending[b]) for b in ids], validate_only)
            except Exception as exc:  # classified: retried, or the reason for every pending
                try:
                    wait = retry_wait(
                        exc, attempt, classify=classify_google, policy=self.policy, what=what
                    )
                except ConnectorError as err:
                    if err.kind in RETRYABLE and not validate_only:
                        with contextlib.suppress(ConnectorError):  # the last try may have landed
                            self._landed(cid, pending, done, what)
                    failed.update(dict.fromkeys(pending, err))
                    break
                self.policy.sleep(wait)
                if validate_only:
                    continue
                try:
                    self._landed(cid, pending, done, what)
                except ConnectorError as err:
                    failed.update(dict.fromkeys(pending, err))
                    break
                continue
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
            done.extend(b for b in ids if b not in again and b not in failed)
            pending = again
            if pending:
                log.warning("%s: %d operations rejected, sending only those again", what,
                            len(pending))
                self.policy.sleep(delay)
        return done, failed

    def _landed(self, cid: str, pending: dict[str, int], done: list[str], what: str) -> None:
        """Move the pending budgets the platform already holds to ``done`` (read back)."""
        now = self._read_budgets(cid, pending)
        for bid in list(pending):
            if bid in now and now[bid].amount_micros == pending[bid]:
                log.info("%s: budget %s was applied before the answer was lost", what, bid)
                done.append(bid)
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
        self.calls += 1
        return service.mutate_campaign_budgets(request=request, timeout=self.policy.timeout)


def _budget_id(resource_name: str) -> str | None:
    """``customers/1/campaignBudgets/77`` -> "77"."""
    m = re.fullmatch(r"customers/\d+/campaignBudgets/(\d+)", resource_name or "")
    return m.group(1) if m else None


def _budget_customer(target: BudgetTarget) -> str:
    if target.level not in ("campaign", "shared"):
        raise ConnectorError("Google Ads ad groups hold no budget", kind="invalid")
    if not str(target.external_id).isdigit():
        raise ConnectorError(
            f"Google Ads campaign budget id must be a number, got {target.external_id!r}",
            kind="invalid",
        )
    return customer_id(target.account_external_id)


def _not_found(target: BudgetTarget, cid: str) -> ConnectorError:
    return ConnectorError(
        f"Google Ads campaign budget {target.external_id} not found in customer {cid}",
        kind="invalid",
    )


def partial_failures(response: Any) -> list[tuple[int, str, str]]:
    """(operation index, message, kind) for each failed operation of a partial-failure mutate."""
    status = response.partial_failure_error
    if not status or not status.code:
        return []
    out = []
    for detail in status.details:
        failure = GoogleAdsFailure.deserialize(detail.value)
        for error in failure.errors:
            index = -1
            for element in error.location.field_path_elements:
                if element.field_name == "operations":
                    index = element.index
            field = error.error_code._pb.WhichOneof("error_code") or ""
            kind = google_error_kind(field, _enum(error.error_code._pb, field) if field else "")
            out.append((index, error.message, kind))
    return out


def _enum(message: Any, field: str) -> str:
    """The name of an enum field of a raw protobuf message ("ENABLED")."""
    value = getattr(message, field)
    if hasattr(value, "name"):  # proto-plus enum
        return str(value.name)
    try:
        enum = message.DESCRIPTOR.fields_by_name[field].enum_type
        return str(enum.values_by_number[value].name)
    except (KeyError, AttributeError):
        return str(value)
