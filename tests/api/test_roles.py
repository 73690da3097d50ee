"""The role matrix: every endpoint x every role, against campaigns.auth.PERMISSIONS."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import API_PREFIX, api_routes, route_action
from campaigns.auth import PERMISSIONS, Action, Role

Headers = Callable[[str], dict[str, str]]


def _endpoints(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    out = []
    for path, route in api_routes(app):
        if path.startswith(API_PREFIX):
            for method in sorted(route.methods):
                out.append((method, re.sub(r"\{[^}]+\}", "1", path), route))
    return out


def test_every_endpoint_states_its_roles(app: FastAPI) -> None:
    endpoints = _endpoints(app)
    assert len(endpoints) > 30
    missing = [f"{m} {p}" for m, p, r in endpoints if route_action(r) is None]
    assert missing == []
    schema = app.openapi()
    for path, item in schema["paths"].items():
        if path.startswith(API_PREFIX):
            for op in item.values():
                assert op["x-roles"] and "Roles:" in op["description"]


def test_role_matrix(app: FastAPI, client: TestClient, as_role: Headers) -> None:
    seen: dict[Action, set[Role]] = {}
    for method, path, route in _endpoints(app):
        action = route_action(route)
        assert action is not None
        body = {} if method in ("POST", "PUT") else None
        anonymous = client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
        for role in Role:
            if method == "DELETE" and path.startswith(f"{API_PREFIX}/tokens"):
                continue  # revoking token 1 would log a role out for the rest of the test
            r = client.request(method, path, json=body, headers=as_role(role.value))
            allowed = role in PERMISSIONS[action]
            if allowed:
                assert r.status_code not in (401, 403), (method, path, role, r.text)
                assert r.status_code < 500 or r.status_code == 503, (method, path, r.text)
                seen.setdefault(action, set()).add(role)
            else:
                assert r.status_code == 403, (method, path, role, r.status_code)
                assert r.headers["content-type"].startswith("application/problem+json")
    assert set(seen) == set(PERMISSIONS)
