"""A Graph-API-shaped HTTP server on 127.0.0.1 for running the real ``facebook-business`` SDK.

It speaks the wire format the SDK expects: ``/v26.0/<node>[/<edge>]`` paths, ``access_token``
in the query or form body, JSON bodies with ``data`` + ``paging.cursors.after`` + ``paging.next``,
error bodies ``{"error": {"message", "type", "code", "error_subcode", "is_transient"}}``, usage
headers, and asynchronous report runs. Faults are injected per request with :meth:`fail`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.connectors.fake_graph_state import Fault, GraphState, Report


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _offset(cursor: str | None) -> int:
    return int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0


class GraphError(Exception):
    def __init__(
        self,
        status: int,
        code: int | None,
        message: str,
        subcode: int | None = None,
        transient: bool = False,
        headers: dict[str, str] | None = None,
        raw_body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.subcode = status, code, message, subcode
        self.transient, self.headers, self.raw_body = transient, headers or {}, raw_body


class _Dropped(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each keep-alive request stalls ~40 ms
    state: GraphState
    base_url: str

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        url = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            params.update({k: v[-1] for k, v in parse_qs(body).items()})
        parts = [p for p in url.path.split("/") if p][1:]  # drop the version
        st = self.state
        with st.lock:
            st.requests[f"{method} /{'/'.join(parts)}"] += 1
        try:
            fault = self._take_fault(method, url.path)
            if fault is not None and not fault.after_apply:
                self._fail(fault)
            if params.get("access_token") not in st.tokens:
                raise GraphError(
                    400, 190, "Error validating access token: Session has expired", subcode=463
                )
            payload = self._route(method, parts, params)
            if fault is not None:
                self._fail(fault)
            self._send(200, payload, st.usage_headers)
        except _Dropped:
            self.close_connection = True  # no answer at all: the client sees a reset
            return
        except GraphError as e:
            if e.raw_body is not None:
                self._send_raw(e.status, e.raw_body, "text/html", e.headers)
                return
            err: dict[str, Any] = {
                "message": e.message,
                "type": "OAuthException",
                "code": e.code,
                "fbtrace_id": "AbCdEf",
            }
            if e.subcode is not None:
                err["error_subcode"] = e.subcode
            if e.transient:
                err["is_transient"] = True
            self._send(e.status, {"error": err}, {**st.usage_headers, **e.headers})

    def _take_fault(self, method: str, path: str) -> Fault | None:
        st = self.state
        with st.lock:
            for fault in st.faults:
                if fault.times <= 0 or fault.match not in path:
                    continue
                if fault.method and fault.method != method:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.times -= 1
                return fault
        return None

    def _fail(self, fault: Fault) -> None:
        if fault.drop:
            raise _Dropped()
        raise GraphError(
            fault.status,
            fault.code,
            fault.message,
            fault.subcode,
            fault.transient,
            fault.headers,
            fault.raw_body,
        )

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        self._send_raw(status, json.dumps(payload), "application/json", headers)

    def _send_raw(self, status: int, body: str, ctype: str, headers: dict[str, str]) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", f"{ctype}; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    # -- routes ------------------------------------------------------------------------------

    def _route(self, method: str, parts: list[str], params: dict[str, str]) -> Any:
        st = self.state
        node = parts[0] if parts else ""
        edge = parts[1] if len(parts) > 1 else None
        if node.startswith("act_") and node in st.account_errors:
            code, subcode, status, message = st.account_errors[node]
            raise GraphError(status or 400, code, message, subcode)
        if node == "me" and edge == "adaccounts":
            return self._page(list(st.accounts.values()), params, parts)
        if node in st.accounts:
            account = st.accounts[node]
            if edge is None:
                return self._fields(account, params)
            if edge == "campaigns":
                return self._page(self._filter(st.campaigns, node, params), params, parts)
            if edge == "adsets":
                return self._page(self._filter(st.adsets, node, params), params, parts)
            if edge == "insights" and method == "POST":
                return self._start_report(node, params)
            if edge == "insights":
                keys = st.insight_keys(node, params)
                fields = params.get("fields")
                return self._page(keys, params, parts, lambda k: st.insight_row(k, fields))
        if node in st.reports:
            return self._report(st.reports[node], edge, params, parts)
        for table in (st.campaigns, st.adsets):
            if node in table:
                if method == "POST":
                    return self._update(table[node], params)
                return self._fields(table[node], params)
        raise GraphError(
            400, 100, f"Unsupported get request. Object with ID '{node}' does not exist", subcode=33
        )

    def _fields(self, row: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        fields = params.get("fields")
        if not fields:
            return dict(row)
        wanted = set(fields.split(",")) | {"id"}
        return {k: v for k, v in row.items() if k in wanted}

    def _filter(self, table: dict[str, dict[str, Any]], act: str, params: dict[str, str]):
        statuses = (
            json.loads(params["effective_status"])
            if "effective_status" in params
            else ["ACTIVE", "PAUSED", "IN_PROCESS", "WITH_ISSUES", "CAMPAIGN_PAUSED"]
        )
        return [
            self._fields(r, params)
            for r in table.values()
            if r["account_id"] == act and r["effective_status"] in statuses
        ]

    def _page(
        self,
        rows: list[Any],
        params: dict[str, str],
        parts: list[str],
        render: Callable[[Any], Any] | None = None,
    ) -> dict[str, Any]:
        limit = int(params.get("limit", 25))
        start = _offset(params.get("after"))
        chunk = rows[start : start + limit]
        body: dict[str, Any] = {"data": [render(r) for r in chunk] if render else chunk}
        if chunk:
            body["paging"] = {
                "cursors": {"before": _cursor(start), "after": _cursor(start + len(chunk))}
            }
            if start + len(chunk) < len(rows):
                body["paging"]["next"] = (
                    f"{self.base_url}/v26.0/{'/'.join(parts)}?after={_cursor(start + len(chunk))}"
                )
        if params.get("summary") == "true":
            body["summary"] = {"total_count": len(rows)}
        return body

    def _start_report(self, act: str, params: dict[str, str]) -> dict[str, Any]:
        st = self.state
        tr = json.loads(params["time_range"])
        days = (dt.date.fromisoformat(tr["until"]) - dt.date.fromisoformat(tr["since"])).days + 1
        with st.lock:
            rid = str(next(st._ids))
        failed = st.report_max_days is not None and days > st.report_max_days
        st.reports[rid] = Report(
            rid, act, [] if failed else st.insight_keys(act, params), st.report_polls, failed,
            params.get("fields"),
        )
        return {"report_run_id": rid}

    def _report(self, report: Report, edge: str | None, params: dict[str, str], parts: list[str]):
        if edge == "insights":
            return self._page(
                report.keys, params, parts, lambda k: self.state.insight_row(k, report.fields)
            )
        if report.failed:
            status = "Job Failed"
        elif report.polls_left > 0:
            report.polls_left -= 1
            status = "Job Running"
        else:
            status = "Job Completed"
        done = 100 if status == "Job Completed" else 50
        return {"id": report.id, "async_status": status, "async_percent_completion": done}

    def _update(self, row: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        if "daily_budget" in params:
            value = int(params["daily_budget"])
            if value <= 0:
                raise GraphError(400, 100, "Invalid parameter", subcode=1885272)
            row["daily_budget"] = str(value)
            self.state.budget_posts.append((row["id"], value))
        return {"success": True}


class FakeGraph:
    """Runs a :class:`GraphState` behind a threaded HTTP server; use as a context manager."""

    def __init__(self, state: GraphState | None = None) -> None:
        self.state = state or GraphState()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        handler.base_url = self.base_url
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakeGraph:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
