"""The folder where workers share rendered reports is private to our user and to one database:
another local user cannot read it, plant answers in it or redirect it, and two services on
different SQLite files never serve each other's reports."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from starlette.requests import Request

from api.caching import Responses
from api.server import shared_cache_dir
from campaigns.admin.auth import Action, Principal, Role
from campaigns.db import create_db_engine

STAMP = (1, 2, 3)
CALLER = Principal(name="finance", role=Role.finance)


class Report(BaseModel):
    total: str


def _request() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/api/v1/finance/spend-vs-plan",
                    "query_string": b"", "headers": [], "scheme": "http",
                    "server": ("testserver", 80)})


def _service_cache(engine: Any) -> Responses:
    """The cache as ``budgetpilot serve`` builds it in each worker."""
    return Responses(ttl_seconds=300, freshness_seconds=1, version=lambda _: STAMP,
                     shared_dir=shared_cache_dir(engine))


def _answer(cache: Responses, total: str) -> bytes:
    """The body served for the request: kept (here or by another worker), else ours."""
    response = cache.answer(_request(), None, CALLER, Action.read,  # type: ignore[arg-type]
                            lambda: Report(total=total))
    return bytes(response.body)


def _entry_name() -> str:
    """The name a worker gives the answer in the shared folder."""
    key = Responses(ttl_seconds=300, freshness_seconds=1, version=lambda _: STAMP).key(
        _request().scope, CALLER, STAMP)
    return hashlib.sha256(repr(key).encode()).hexdigest()


def _private_all_the_way(path: Path, base: Path) -> bool:
    """Every folder from ``base`` (exclusive) down to ``path``: ours, 0700 or stricter, real."""
    node = path
    while node != base:
        st = os.lstat(node)
        if (stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid()
                or st.st_mode & 0o077):
            return False
        node = node.parent
    return True


@pytest.fixture
def tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The machine's temporary folder, where anyone may create names."""
    root = tmp_path / "tmp"
    root.mkdir(mode=0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return root


def test_a_planted_world_writable_folder_is_not_used(tmp_root: Path, tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'a.db'}")
    where = shared_cache_dir(engine)
    assert where is not None
    # Another local user was first: every folder on the way open to all, an answer planted.
    where.mkdir(parents=True, exist_ok=True)
    node = where
    while node != tmp_root:
        node.chmod(0o777)
        node = node.parent
    planted = where / _entry_name()
    planted.write_bytes(b'{"total": "planted"}')

    cache = _service_cache(engine)
    assert _answer(cache, "1.00") == b'{"total":"1.00"}'
    if cache.shared_dir is not None:
        assert _private_all_the_way(cache.shared_dir, tmp_root)
        assert not planted.exists() or planted.read_bytes() != b'{"total": "planted"}'
    # a fresh worker reads our answer, never the planted one
    assert b"planted" not in _answer(_service_cache(engine), "2.00")


def test_a_symlink_planted_in_its_place_is_not_followed(tmp_root: Path, tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'a.db'}")
    where = shared_cache_dir(engine)
    assert where is not None
    top = tmp_root / where.relative_to(tmp_root).parts[0]
    if top.exists():
        import shutil

        shutil.rmtree(top)
    attacker = tmp_path / "attacker"
    attacker.mkdir(mode=0o777)
    top.symlink_to(attacker, target_is_directory=True)

    cache = _service_cache(engine)
    _answer(cache, "1.00")
    assert list(attacker.rglob("*")) == []  # nothing written where the link points
    if cache.shared_dir is not None:
        assert _private_all_the_way(cache.shared_dir, tmp_root)


def test_two_databases_do_not_share_answers(
    tmp_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two services, each started in its own folder with the default sqlite:///budgetpilot.db."""
    caches = []
    for name in ("brand-a", "brand-b"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        caches.append(_service_cache(create_db_engine("sqlite:///budgetpilot.db")))
    a, b = caches
    assert a.shared_dir is not None and b.shared_dir is not None
    assert _answer(a, "brand A") == b'{"total":"brand A"}'
    assert _answer(b, "brand B") == b'{"total":"brand B"}'  # not A's
    assert a.shared_dir != b.shared_dir
    # the password is not part of the name, and not written anywhere in it
    pg = create_db_engine("postgresql://bp:hunter2-secret@127.0.0.1:1/bp")
    pg_dir = shared_cache_dir(pg)
    assert pg_dir is not None and "hunter2" not in str(pg_dir)


def test_a_kept_answer_is_not_served_the_next_day() -> None:
    """A default ``as_of`` is yesterday: at midnight UTC every kept answer is rendered anew."""
    day, rendered = [1], []
    cache = Responses(ttl_seconds=300, freshness_seconds=1, version=lambda _: STAMP,
                      today=lambda: day[0])

    def answer() -> bytes:
        response = cache.answer(_request(), None, CALLER, Action.read,  # type: ignore[arg-type]
                                lambda: rendered.append(1) or Report(total=str(day[0])))
        return bytes(response.body)

    assert answer() == answer() == b'{"total":"1"}' and len(rendered) == 1
    day[0] = 2
    assert answer() == b'{"total":"2"}' and len(rendered) == 2
