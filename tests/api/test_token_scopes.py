"""Creating tokens limited to portfolios, from the API and the CLI; old tokens stay global."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

from api.cli.main import app as cli
from campaigns.db import open_engine
from tests.api.factories import get_portfolio

Headers = Callable[[str], dict[str, str]]


def test_api_creates_and_lists_scoped_tokens(client: TestClient, as_role: Headers,
                                             db: Session) -> None:
    get_portfolio(db, "A"), get_portfolio(db, "B")
    db.commit()
    admin = as_role("admin")
    r = client.post("/api/v1/tokens", headers=admin,
                    json={"name": "brand-a", "role": "manager", "portfolios": ["B", "A", "A"]})
    assert r.status_code == 201, r.text
    assert r.json()["portfolios"] == ["A", "B"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert {k: me.json()[k] for k in ("name", "role", "portfolios")} == {
        "name": "brand-a", "role": "manager", "portfolios": ["A", "B"]}
    listed = {t["name"]: t["portfolios"] for t in
              client.get("/api/v1/tokens", headers=admin).json()["data"]}
    assert listed["brand-a"] == ["A", "B"] and listed["viewer"] is None  # old tokens: global
    for body, reason in [
        ({"name": "x", "role": "admin", "portfolios": ["A"]}, "global"),
        ({"name": "x", "role": "viewer", "portfolios": ["nope"]}, "nope"),
    ]:
        refused = client.post("/api/v1/tokens", headers=admin, json=body)
        assert refused.status_code == 422 and reason in refused.json()["detail"], refused.text


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUDGETPILOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("BUDGETPILOT_CONFIG", raising=False)
    path = tmp_path / "bp.toml"
    url = f"sqlite:///{tmp_path / 'bp.db'}"
    path.write_text(f'[database]\nurl = "{url}"\n')
    engine = open_engine(url)
    with Session(engine) as s:
        get_portfolio(s, "A"), get_portfolio(s, "B")
        s.commit()
    engine.dispose()
    return path


def test_cli_token_create_with_portfolios(cfg: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(cli, ["token", "create", "--name", "brand", "--role", "finance",
                               "--portfolio", "A", "--portfolio", "B", "--config", str(cfg)])
    assert made.exit_code == 0, made.output
    assert "(finance, A, B)" in made.output and made.output.strip().splitlines()[-1][:3] == "bp_"
    wide = runner.invoke(cli, ["token", "create", "--name", "ops", "--role", "viewer",
                               "--config", str(cfg)])
    assert "every portfolio" in wide.output
    listed = runner.invoke(cli, ["token", "list", "--config", str(cfg)]).output.splitlines()
    scopes = {line.split("\t")[1]: line.split("\t")[-1] for line in listed}
    assert scopes == {"brand": "A,B", "ops": "*"}
    bad = runner.invoke(cli, ["token", "create", "--name", "x", "--role", "admin",
                              "--portfolio", "A", "--config", str(cfg)])
    assert bad.exit_code == 2 and "global" in bad.output  # a usage error
