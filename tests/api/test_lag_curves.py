"""GET /api/v1/curves/lag: the completion curves learnt from restated imports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.api.cli.test_curves_lag_cli import write_exports


def test_lag_curves_from_restated_imports(
    client: TestClient, engine: Engine, tmp_path: Path, as_role: Callable[[str], dict[str, str]]
) -> None:
    write_exports(tmp_path, engine)
    r = client.get("/api/v1/curves/lag", params={"as_of": "2026-03-02"},
                   headers=as_role("viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["portfolio"] == "default" and body["horizon_days"] == 30
    meta = next(c for c in body["curves"] if c["account"] is None)
    assert meta["learnt"] and abs(meta["share"]["1"] - 0.5) < 0.04
    assert meta["share"]["7"] == 1.0 and meta["days"] > 100
    # Read as of an earlier day, only what was known then: fewer observations.
    earlier = client.get("/api/v1/curves/lag", params={"as_of": "2026-02-10"},
                         headers=as_role("viewer")).json()
    assert next(c for c in earlier["curves"] if c["account"] is None)["observations"] < \
        meta["observations"]


def test_lag_curves_refuse_bad_input(
    client: TestClient, as_role: Callable[[str], dict[str, str]]
) -> None:
    assert client.get("/api/v1/curves/lag").status_code == 401
    missing = client.get("/api/v1/curves/lag", params={"portfolio": "nope"},
                         headers=as_role("viewer"))
    assert missing.status_code == 404 and "nope" in missing.text
    bad = client.get("/api/v1/curves/lag", params={"as_of": "03/02/2026"},
                     headers=as_role("viewer"))
    assert bad.status_code == 422
