"""A Google Ads gRPC server on 127.0.0.1 for running the real ``google-ads`` SDK, plus a fake
OAuth token endpoint.

Built from the protobuf classes shipped in the package: ``GoogleAdsService/SearchStream`` (a
small GAQL reader for the queries the connector sends) and
``CampaignBudgetService/MutateCampaignBudgets`` (partial failure, validate-only). Errors carry
a ``GoogleAdsFailure`` in the trailing metadata, as the real API does. The server needs TLS:
:func:`make_certificate` writes a self-signed certificate that is also its own CA.

As in the API reference: a campaign budget is its own resource with its own id
(``customers/{customer_id}/campaignBudgets/{budget_id}``), never the id of a campaign that
draws on it; a campaign points at it through ``campaign.campaign_budget``. With
``partial_failure`` the good operations are applied and the failed ones come back in
``partial_failure_error`` (a ``GoogleAdsFailure`` whose errors carry the operation index in
``location.field_path_elements``); without it one bad operation rejects the whole request and
nothing is applied. A customer that is not enabled answers ``CUSTOMER_NOT_ENABLED``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import grpc
from google.ads.googleads.v26.enums.types.advertising_channel_type import (
    AdvertisingChannelTypeEnum,
)
from google.ads.googleads.v26.enums.types.campaign_status import CampaignStatusEnum
from google.ads.googleads.v26.enums.types.customer_status import CustomerStatusEnum
from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure
from google.ads.googleads.v26.services.types import campaign_budget_service as cbs
from google.ads.googleads.v26.services.types import google_ads_service as gas
from google.protobuf import any_pb2
from google.rpc import status_pb2

FAILURE_KEY = "google.ads.googleads.v26.errors.googleadsfailure-bin"
SERVICES = "google.ads.googleads.v26.services"
BATCH = 10_000  # rows per stream message, as the real API
MetricFn = Callable[[str, str, dt.date], dict[str, Any] | None]

RowPb = gas.GoogleAdsRow.pb()
StreamRequestPb = gas.SearchGoogleAdsStreamRequest.pb()
StreamResponsePb = gas.SearchGoogleAdsStreamResponse.pb()
MutateRequestPb = cbs.MutateCampaignBudgetsRequest.pb()
MutateResponsePb = cbs.MutateCampaignBudgetsResponse.pb()
ENABLED = CampaignStatusEnum.CampaignStatus.ENABLED
SEARCH = AdvertisingChannelTypeEnum.AdvertisingChannelType.SEARCH


def make_certificate(directory: Path) -> tuple[bytes, bytes, Path]:
    """A self-signed certificate for 127.0.0.1/localhost; returns (cert, key, CA file path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ca = directory / "fake-google-ads-ca.pem"
    ca.write_bytes(cert_pem)
    return cert_pem, key_pem, ca


def failure(
    field_name: str,
    enum_name: str,
    message: str,
    *,
    retry_delay: float | None = None,
    index: int | None = None,
) -> Any:
    """A GoogleAdsFailure (raw protobuf) with one error, e.g. ("quota_error", "RESOURCE_EXHAUSTED")."""
    pb = GoogleAdsFailure.pb()()
    error = pb.errors.add()
    enum = error.error_code.DESCRIPTOR.fields_by_name[field_name].enum_type
    setattr(error.error_code, field_name, enum.values_by_name[enum_name].number)
    error.message = message
    if retry_delay is not None:
        error.details.quota_error_details.retry_delay.FromNanoseconds(int(retry_delay * 1e9))
    if index is not None:
        element = error.location.field_path_elements.add()
        element.field_name = "operations"
        element.index = index
    return pb


@dataclass
class GFault:
    """Fail the next ``times`` calls of ``method`` after ``after_rows`` rows have been sent."""

    method: str
    code: grpc.StatusCode = grpc.StatusCode.RESOURCE_EXHAUSTED
    error: tuple[str, str] | None = ("quota_error", "RESOURCE_EXHAUSTED")
    message: str = "Too many requests"
    retry_delay: float | None = None
    after_rows: int = 0
    times: int = 1
    customer: str | None = None
    match: str | None = None  # a fragment of the query
    # A mutate that is applied and whose answer is then lost (UNAVAILABLE, a dropped stream).
    after_apply: bool = False


@dataclass
class OpRejection:
    """Reject the operations on one budget the next ``times`` mutates (partial failure)."""

    customer: str
    budget: str
    error: tuple[str, str] = ("database_error", "CONCURRENT_MODIFICATION")
    message: str = "Multiple requests were attempting to modify the same resource at once."
    times: int = 1


@dataclass
class GadsState:
    developer_token: str = "dev-token"
    refresh_tokens: set[str] = field(default_factory=lambda: {"good-refresh"})
    client_id: str = "client-id"
    client_secret: str = "client-secret"
    issued: set[str] = field(default_factory=set)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    budgets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    campaigns: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ad_groups: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    metrics: dict[tuple[str, str, dt.date], dict[str, Any]] = field(default_factory=dict)
    metric_fn: MetricFn | None = None
    faults: list[GFault] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    token_requests: int = 0
    mutations: list[tuple[str, str, int, bool]] = field(default_factory=list)
    rejections: list[OpRejection] = field(default_factory=list)
    mutate_requests: list[list[str]] = field(default_factory=list)  # budget ids per request
    seen_metadata: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Separate sequences, far apart: a budget and a campaign never share a number.
    _budget_ids: Iterator[int] = field(default_factory=lambda: itertools.count(7_400_000_001))
    _campaign_ids: Iterator[int] = field(default_factory=lambda: itertools.count(21_000_000_001))

    # -- building a world ------------------------------------------------------------------

    def add_customer(
        self,
        cid: str,
        *,
        currency: str = "EUR",
        tz: str = "Europe/Berlin",
        manager: bool = False,
        parent: str | None = None,
        status: str = "ENABLED",
    ) -> str:
        self.customers[cid] = {
            "name": f"Customer {cid}",
            "currency": currency,
            "tz": tz,
            "manager": manager,
            "parent": parent,
            "status": status,  # ENABLED | CANCELED | SUSPENDED | CLOSED
        }
        return cid

    def add_budget(
        self, cust: str, bid: str | None, amount_micros: int, *, shared: bool = False
    ) -> str:
        """A campaign budget; ``bid`` None draws a fresh id from the budgets' own sequence."""
        bid = bid or str(next(self._budget_ids))
        if (cust, bid) in self.campaigns:
            raise ValueError(f"budget id {bid} is a campaign id: on Google Ads they differ")
        self.budgets[(cust, bid)] = {"amount_micros": amount_micros, "shared": shared}
        return bid

    def add_campaign(
        self, cust: str, cid: str | None, budget: str, *, status: str = "ENABLED"
    ) -> str:
        """A campaign drawing on ``budget``; ``cid`` None draws a fresh campaign id."""
        cid = cid or str(next(self._campaign_ids))
        if (cust, cid) in self.budgets:
            raise ValueError(f"campaign id {cid} is a budget id: on Google Ads they differ")
        if (cust, budget) not in self.budgets:
            raise ValueError(f"no campaign budget {budget} in customer {cust}")
        self.campaigns[(cust, cid)] = {
            "name": f"Campaign {cid}",
            "status": status,
            "budget": budget,
        }
        return cid

    def set_metric(
        self,
        cust: str,
        cid: str,
        day: dt.date,
        *,
        cost_micros: int,
        impressions: int = 0,
        clicks: int = 0,
        conversions: float = 0.0,
        value: float = 0.0,
    ) -> None:
        self.metrics[(cust, cid, day)] = {
            "cost_micros": cost_micros,
            "impressions": impressions,
            "clicks": clicks,
            "conversions": conversions,
            "value": value,
        }

    def reject(self, cust: str, budget: str, **kw: Any) -> OpRejection:
        rejection = OpRejection(cust, budget, **kw)
        with self.lock:
            self.rejections.append(rejection)
        return rejection

    def applied_mutations(self) -> Counter[tuple[str, str]]:
        """How many times each (customer, budget) was really changed (validate-only excluded)."""
        return Counter((c, b) for c, b, _, validate in self.mutations if not validate)

    def fail(self, method: str, **kw: Any) -> GFault:
        fault = GFault(method=method, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def reference_count(self, cust: str, bid: str) -> int:
        return self.reference_counts(cust).get(bid, 0)

    def reference_counts(self, cust: str) -> Counter[str]:
        return Counter(row["budget"] for (c, _), row in self.campaigns.items() if c == cust)

    def unit_micros(self, cust: str) -> int:
        currency = self.customers[cust]["currency"]
        return 1_000_000 if currency in {"JPY", "KRW", "HUF", "CLP"} else 10_000

    def metric(self, cust: str, cid: str, day: dt.date) -> dict[str, Any] | None:
        if self.metric_fn is not None:
            return self.metric_fn(cust, cid, day)
        return self.metrics.get((cust, cid, day))


class _Abort(Exception):
    pass


class GoogleAdsServicer:
    def __init__(self, state: GadsState) -> None:
        self.state = state
        self._request_ids = itertools.count(1)

    # -- common ------------------------------------------------------------------------------

    def _abort(
        self,
        context: grpc.ServicerContext,
        code: grpc.StatusCode,
        message: str,
        error: tuple[str, str] | None,
        retry_delay: float | None = None,
        index: int | None = None,
    ) -> None:
        metadata: list[tuple[str, Any]] = [("request-id", f"req-{next(self._request_ids)}")]
        if error is not None:
            pb = failure(*error, message, retry_delay=retry_delay, index=index)
            metadata.append((FAILURE_KEY, pb.SerializeToString()))
        context.set_trailing_metadata(tuple(metadata))
        context.abort(code, message)

    def _authorise(self, context: grpc.ServicerContext, method: str) -> None:
        st = self.state
        md = dict(context.invocation_metadata())
        with st.lock:
            st.calls[method] += 1
            st.seen_metadata.append({k: v for k, v in md.items() if isinstance(v, str)})
        token = (md.get("authorization") or "").removeprefix("Bearer ")
        if token not in st.issued:
            self._abort(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                "Request is missing required authentication credential.",
                ("authentication_error", "AUTHENTICATION_ERROR"),
            )
        if md.get("developer-token") != st.developer_token:
            self._abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                "The developer token is not valid.",
                ("authentication_error", "DEVELOPER_TOKEN_INVALID"),
            )

    def _check_enabled(self, context: grpc.ServicerContext, cust: str) -> None:
        if self.state.customers[cust].get("status", "ENABLED") != "ENABLED":
            self._abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                "The customer account can't be accessed because it is not yet enabled or "
                "has been deactivated.",
                ("authorization_error", "CUSTOMER_NOT_ENABLED"),
            )

    def _fault(self, method: str, customer: str, query: str, sent: int) -> GFault | None:
        with self.state.lock:
            for f in self.state.faults:
                if f.times <= 0 or f.method != method or sent < f.after_rows:
                    continue
                if f.customer and f.customer != customer:
                    continue
                if f.match and f.match not in query:
                    continue
                f.times -= 1
                return f
        return None

    def _raise_fault(self, context: grpc.ServicerContext, f: GFault) -> None:
        self._abort(context, f.code, f.message, f.error, f.retry_delay)

    # -- SearchStream ------------------------------------------------------------------------

    def search_stream(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        self._authorise(context, "SearchStream")
        cust, query = request.customer_id, " ".join(request.query.split())
        if cust not in self.state.customers:
            self._abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"User doesn't have permission to access customer {cust}.",
                ("authorization_error", "USER_PERMISSION_DENIED"),
            )
        self._check_enabled(context, cust)
        sent = 0
        batch: list[Any] = []
        for row in self._rows(cust, query):
            f = self._fault("SearchStream", cust, query, sent)
            if f is not None:
                if batch:
                    yield StreamResponsePb(results=batch)
                self._raise_fault(context, f)
            batch.append(row)
            sent += 1
            if len(batch) >= BATCH:
                yield StreamResponsePb(results=batch)
                batch = []
        f = self._fault("SearchStream", cust, query, sent)
        if f is not None:
            if batch:
                yield StreamResponsePb(results=batch)
            self._raise_fault(context, f)
        if batch:
            yield StreamResponsePb(results=batch)

    def _rows(self, cust: str, query: str) -> Iterator[Any]:
        st = self.state
        source = re.search(r"FROM (\w+)", query)
        resource = source.group(1) if source else ""
        id_match = re.search(r"(campaign|campaign_budget)\.id = (\d+)", query)
        in_match = re.search(r"campaign_budget\.id IN \(([\d, ]+)\)", query)
        no_removed = "status != 'REMOVED'" in query
        if resource == "customer_client":
            for cid, c in st.customers.items():
                if c["parent"] == cust and not c["manager"]:
                    row = RowPb()
                    cc = row.customer_client
                    cc.id, cc.descriptive_name = int(cid), c["name"]
                    cc.currency_code, cc.time_zone, cc.level = c["currency"], c["tz"], 1
                    cc.manager = False
                    cc.status = CustomerStatusEnum.CustomerStatus[c["status"]]
                    if "customer_client.status = 'ENABLED'" in query and c["status"] != "ENABLED":
                        continue
                    yield row
        elif resource == "customer":
            c = st.customers[cust]
            row = RowPb()
            row.customer.id, row.customer.descriptive_name = int(cust), c["name"]
            row.customer.currency_code, row.customer.time_zone = c["currency"], c["tz"]
            row.customer.status = CustomerStatusEnum.CustomerStatus[c["status"]]
            yield row
        elif resource == "campaign_budget":
            if in_match is not None:
                wanted = [b.strip() for b in in_match.group(1).split(",")]
            else:
                assert id_match is not None and id_match.group(1) == "campaign_budget"
                wanted = [id_match.group(2)]
            counts = st.reference_counts(cust)
            for bid in dict.fromkeys(wanted):
                if (cust, bid) in st.budgets:
                    row = RowPb()
                    self._fill_budget(row.campaign_budget, cust, bid, counts)
                    yield row
        elif resource == "campaign" and "segments.date" in query:
            yield from self._metric_rows(cust, query)
        elif resource == "campaign":
            counts = st.reference_counts(cust)
            for (c, cid), camp in st.campaigns.items():
                if c != cust or (id_match and id_match.group(2) != cid):
                    continue
                if no_removed and camp["status"] == "REMOVED":
                    continue
                row = RowPb()
                row.campaign.id, row.campaign.name = int(cid), camp["name"]
                row.campaign.status = CampaignStatusEnum.CampaignStatus[camp["status"]]
                row.campaign.advertising_channel_type = SEARCH
                row.campaign.campaign_budget = budget_path(cust, camp["budget"])
                self._fill_budget(row.campaign_budget, cust, camp["budget"], counts)
                yield row
        elif resource == "ad_group":
            for (c, gid), group in st.ad_groups.items():
                if c == cust:
                    row = RowPb()
                    row.campaign.id, row.ad_group.id = int(group["campaign"]), int(gid)
                    row.ad_group.name, row.ad_group.status = group["name"], 2
                    yield row

    def _fill_budget(self, b: Any, cust: str, bid: str, counts: Counter[str] | None = None) -> None:
        budget = self.state.budgets[(cust, bid)]
        b.resource_name = budget_path(cust, bid)
        b.id, b.amount_micros = int(bid), budget["amount_micros"]
        b.explicitly_shared = budget["shared"]
        b.reference_count = (counts or self.state.reference_counts(cust)).get(bid, 0)
        b.delivery_method = 2  # STANDARD
        b.period = 2  # DAILY

    def _metric_rows(self, cust: str, query: str) -> Iterator[Any]:
        m = re.search(r"segments\.date BETWEEN '([\d-]+)' AND '([\d-]+)'", query)
        assert m is not None
        day, end = dt.date.fromisoformat(m.group(1)), dt.date.fromisoformat(m.group(2))
        cids = [cid for (c, cid) in self.state.campaigns if c == cust]
        while day <= end:
            iso = day.isoformat()
            for cid in cids:
                metric = self.state.metric(cust, cid, day)
                if metric is None:
                    continue
                row = RowPb()
                row.campaign.id = int(cid)
                row.segments.date = iso
                mm = row.metrics
                mm.cost_micros, mm.impressions = metric["cost_micros"], metric["impressions"]
                mm.clicks, mm.conversions = metric["clicks"], metric["conversions"]
                mm.conversions_value = metric["value"]
                yield row
            day += dt.timedelta(days=1)

    # -- MutateCampaignBudgets ---------------------------------------------------------------

    def mutate_budgets(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._authorise(context, "MutateCampaignBudgets")
        st = self.state
        cust = request.customer_id
        if cust in st.customers:
            self._check_enabled(context, cust)
        f = self._fault("MutateCampaignBudgets", cust, "", 0)
        if f is not None and not f.after_apply:
            self._raise_fault(context, f)
        # Check every operation first: without partial_failure one error rejects them all.
        errors = GoogleAdsFailure.pb()()
        good: list[tuple[int, tuple[str, str], int]] = []
        with st.lock:
            st.mutate_requests.append(
                [op.update.resource_name.rsplit("/", 1)[-1] for op in request.operations]
            )
            for index, op in enumerate(request.operations):
                problem = self._problem(cust, op)
                if problem is not None:
                    errors.errors.append(failure(*problem, index=index).errors[0])
                else:
                    key = _budget_key(op.update.resource_name)
                    assert key is not None
                    good.append((index, key, op.update.amount_micros))
            if errors.errors and not request.partial_failure:
                good = []
            for _, key, amount in good:
                if not request.validate_only:
                    st.budgets[key]["amount_micros"] = amount
                st.mutations.append((key[0], key[1], amount, request.validate_only))
        if f is not None:  # applied above; the answer is lost on the way back
            self._raise_fault(context, f)
        if errors.errors and not request.partial_failure:
            first = errors.errors[0]
            field_name = first.error_code.WhichOneof("error_code") or "internal_error"
            enum = first.error_code.DESCRIPTOR.fields_by_name[field_name].enum_type
            name = enum.values_by_number[getattr(first.error_code, field_name)].name
            self._abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                first.message,
                (field_name, name),
                index=first.location.field_path_elements[0].index,
            )
        response = MutateResponsePb()
        done = {index for index, _, _ in good}
        for index, op in enumerate(request.operations):
            result = response.results.add()  # an empty result for a failed operation
            if index in done:
                result.resource_name = op.update.resource_name
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

    def _problem(self, cust: str, op: Any) -> tuple[str, str, str] | None:
        """Why one operation is rejected (field, enum name, message), or None. Holds the lock."""
        st = self.state
        key = _budget_key(op.update.resource_name)
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


def budget_path(cust: str, bid: str) -> str:
    return f"customers/{cust}/campaignBudgets/{bid}"


def _budget_key(resource_name: str) -> tuple[str, str] | None:
    m = re.fullmatch(r"customers/(\d+)/campaignBudgets/(\d+)", resource_name)
    return (m.group(1), m.group(2)) if m else None


class _TokenHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    state: GadsState
    counter = itertools.count(1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = {k: v[-1] for k, v in parse_qs(body).items()}
        st = self.state
        with st.lock:
            st.token_requests += 1
        if (
            form.get("refresh_token") not in st.refresh_tokens
            or form.get("client_secret") != st.client_secret
        ):
            self._send(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                },
            )
            return
        token = f"ya29.fake-{next(self.counter)}"
        with st.lock:
            st.issued.add(token)
        self._send(
            200,
            {
                "access_token": token,
                "expires_in": 3599,
                "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/adwords",
            },
        )

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeGoogleAds:
    """The gRPC fake and its token endpoint; use as a context manager."""

    def __init__(self, cert_pem: bytes, key_pem: bytes, state: GadsState | None = None) -> None:
        self.state = state or GadsState()
        servicer = GoogleAdsServicer(self.state)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    f"{SERVICES}.GoogleAdsService",
                    {
                        "SearchStream": grpc.unary_stream_rpc_method_handler(
                            servicer.search_stream,
                            request_deserializer=StreamRequestPb.FromString,
                            response_serializer=StreamResponsePb.SerializeToString,
                        )
                    },
                ),
                grpc.method_handlers_generic_handler(
                    f"{SERVICES}.CampaignBudgetService",
                    {
                        "MutateCampaignBudgets": grpc.unary_unary_rpc_method_handler(
                            servicer.mutate_budgets,
                            request_deserializer=MutateRequestPb.FromString,
                            response_serializer=MutateResponsePb.SerializeToString,
                        )
                    },
                ),
            ]
        )
        creds = grpc.ssl_server_credentials([(key_pem, cert_pem)])
        port = self.server.add_secure_port("127.0.0.1:0", creds)
        self.endpoint = f"127.0.0.1:{port}"
        handler = type("BoundTokenHandler", (_TokenHandler,), {"state": self.state})
        self.token_server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.token_server.daemon_threads = True
        self.token_uri = f"http://127.0.0.1:{self.token_server.server_address[1]}/token"
        self._thread = threading.Thread(
            target=self.token_server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> FakeGoogleAds:
        self.server.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None)
        self.token_server.shutdown()
        self.token_server.server_close()
