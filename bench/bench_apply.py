"""Applying one large approved shift: claim, read, batch-write and record every item.

    .venv/bin/python bench/bench_apply.py [--accounts 2] [--per-account 2500] [--pg]

An approved shift moving every campaign from 100 to 110, applied through the real write-back
against a platform at the connector's edge that answers at once and writes one batch per
account (tests/api/fake_platform.py): what is measured is our own cost per item (claims,
reads, outcomes, audit events, settling the shift), on SQLite, or on PostgreSQL in a schema of
its own (dropped afterwards) with ``--pg``.

Figures (2026-11, 2 shared vCPUs with other jobs on the machine), 2 accounts x 2,500 items:

    database      before (item by item)    now (claimed and recorded per account)
    SQLite        65 s                     13 s
    PostgreSQL    119 s                    15 s
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session

from campaigns.admin.auth import Principal, Role
from campaigns.db import create_db_engine, ensure_schema
from campaigns.policy import ShiftPolicy
from campaigns.shifts import lifecycle as shifts
from tests.api.factories import create_account, create_campaign, create_shift
from tests.api.fake_platform import FakeBatchPlatform

PG_URL = os.environ.get("BUDGETPILOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = "bench_apply"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2)
    parser.add_argument("--per-account", type=int, default=2500)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    if args.pg:
        admin = create_db_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
        url = f"{PG_URL}?options={quote(f'-csearch_path={SCHEMA}')}"
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    try:
        run(url, args.accounts, args.per_account)
    finally:
        if args.pg:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))


def run(url: str, accounts: int, per_account: int) -> None:
    engine = create_db_engine(url)
    ensure_schema(engine)
    platform = FakeBatchPlatform()
    boss = Principal("bench", Role.admin)
    with Session(engine, expire_on_commit=False) as db:
        camps = []
        for a in range(accounts):
            account = create_account(db, external_id=f"bench{a}")
            camps += [create_campaign(db, account=account, daily_budget="100",
                                      external_id=f"b{a}c{i}") for i in range(per_account)]
        shift = create_shift(db, campaigns=camps, new_budgets=["110"] * len(camps))
        db.commit()
        assert shift.id is not None
        shifts.approve(db, shift.id, version=1, user=boss,
                       policy=ShiftPolicy(auto_approve_max_change=1))
        db.commit()
    platform.budgets.update({c.external_id: Decimal(100) for c in camps})
    applier = shifts.writeback_applier(connectors=lambda account: platform)
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as session:
        view = shifts.apply(session, shift.id, version=2, user=boss, applier=applier)
        session.commit()
    seconds = time.perf_counter() - started
    print(f"{engine.dialect.name}: {len(camps)} items {view.shift.status} in {seconds:.1f} s "
          f"({seconds / len(camps) * 1000:.2f} ms/item); {platform.total_writes()} writes in "
          f"{len(platform.batches)} batches")
    engine.dispose()


if __name__ == "__main__":
    main()
