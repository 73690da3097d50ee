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
import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import grpc
from google.ads.googleads.v26.services.types import google_ads_service as gas

from tests.connectors.fake_gads_mutate import (
    MutateRequestPb,
    MutateResponsePb,
    apply_operations,
    error_code,
    mutate_response,
)
from tests.connectors.fake_gads_rows import rows
from tests.connectors.fake_gads_state import GadsState, GFault, failure

FAILURE_KEY = "google.ads.googleads.v26.errors.googleadsfailure-bin"
SERVICES = "google.ads.googleads.v26.services"
BATCH = 10_000  # rows per stream message, as the real API

StreamRequestPb = gas.SearchGoogleAdsStreamRequest.pb()
StreamResponsePb = gas.SearchGoogleAdsStreamResponse.pb()


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
        for row in rows(self.state, cust, query):
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
        good, errors = apply_operations(st, request)
        if f is not None:  # applied above; the answer is lost on the way back
            self._raise_fault(context, f)
        if errors.errors and not request.partial_failure:
            first = errors.errors[0]
            self._abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                first.message,
                error_code(first),
                index=first.location.field_path_elements[0].index,
            )
        return mutate_response(st, request, good, errors)


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
