"""HTTP details clients rely on: 405 says what is allowed, the schema states the bounds."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

Headers = Callable[[str], dict[str, str]]


def test_405_names_the_allowed_methods(client: TestClient, as_role: Headers) -> None:
    cases = {("PATCH", "/api/v1/plans/1"): "DELETE, GET, PUT",
             ("POST", "/api/v1/me"): "GET",
             ("GET", "/api/v1/shifts/1/apply"): "POST",
             ("DELETE", "/health"): "GET"}
    for (method, path), allowed in cases.items():
        r = client.request(method, path, headers=as_role("admin"))
        assert r.status_code == 405, (method, path, r.status_code)
        assert r.headers["allow"] == allowed, (method, path)
        assert r.headers["content-type"].startswith("application/problem+json")


def _schemas(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schemas(value)


def _date_schemas(parameter: dict[str, Any]) -> list[dict[str, Any]]:
    inner = parameter["schema"]
    return [inner] if inner.get("format") in ("date", "date-time") or any(
        s.get("format") in ("date", "date-time") for s in inner.get("anyOf", [])) else []


def test_schema_states_date_and_amount_bounds(app: FastAPI) -> None:
    schema = app.openapi()
    dates = 0
    for path, item in schema["paths"].items():
        for op in item.values():
            for parameter in op.get("parameters", []):
                for s in _date_schemas(parameter):
                    dates += 1
                    assert s["formatMinimum"].startswith("2000-01-01"), (path, parameter)
                    sample = "2000-01-01" if s["formatMinimum"] == "2000-01-01" else (
                        "2000-01-01T00:00:00Z")
                    assert re.match(s["pattern"], sample), (path, parameter)
                    assert not re.match(s["pattern"], "1999" + sample[4:])
    assert dates >= 10
    bodies = schema["components"]["schemas"]
    month = bodies["PlanCreate"]["properties"]["month"]
    assert month["formatMinimum"] == "2000-01-01" and month["pattern"].endswith("-01$")
    assert bodies["FxRateCreate"]["properties"]["date"]["formatMaximum"] == "2100-12-31"
    amount = {s["type"]: s for s in bodies["PlanCreate"]["properties"]["planned_spend"]["anyOf"]}
    assert re.match(amount["string"]["pattern"], "12.50")
    assert not re.match(amount["string"]["pattern"], "12.1234567")  # six places at most
    assert amount["integer"]["maximum"] == 10**12 - 1
    rate = {s["type"]: s for s in bodies["FxRateCreate"]["properties"]["rate"]["anyOf"]}
    assert not re.match(rate["string"]["pattern"], "0.0") and rate["integer"]["minimum"] == 1
    limits = [p for p in schema["paths"]["/api/v1/plans"]["get"]["parameters"]
              if p["name"] == "limit"]
    assert limits[0]["schema"]["maximum"] == 500
    assert all(s.get("maxLength", 0) <= 10_000 for s in _schemas(schema) if "maxLength" in s)
