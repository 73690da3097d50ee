"""Benchmark: what nowcasting costs `optimize` at 10,000 campaigns x 90 days (SQLite).

    python bench/bench_nowcast.py [--campaigns 10000] [--days 90]

Imports the campaign-days of `bench_import.py` (one observation each), then three daily
exports restating the last 10 days (conversions rising), and times `propose` (what
`budgetpilot optimize` runs) as of the next day with `nowcast` on and off, and the learning
of the completion curves alone. Prints seconds and the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from decimal import Decimal

from sqlmodel import Session, select

from bench.bench_import import HEADER, NETWORKS, write_csv
from campaigns.admin.fx import RateIn, upsert_rates
from campaigns.config import Settings
from campaigns.db import open_engine
from campaigns.ingest.csv_import.importer import import_csv
from campaigns.models import AdAccount
from campaigns.optimization.nowcast import load_lag
from campaigns.optimization.proposals import propose

LAST = dt.date(2025, 12, 31)  # the newest day bench_import writes


def _restated(path: Path, campaigns: int, today: dt.date, extra: int) -> None:
    """The last 10 days again, each campaign with `extra` more conversions a day."""
    with path.open("w") as f:
        f.write(HEADER + "\n")
        for back in range(1, 11):
            day = (today - dt.timedelta(days=back)).isoformat()
            for c in range(campaigns):
                network, currency = NETWORKS[c % 4]
                spend = 100 + c % 50
                f.write(f"{day},{network},acc_{c % 40},cmp_{c},Campaign {c},{currency},{spend},"
                        f"1000,20,{5 + extra + c % 3},{spend * 2.3:.2f},{spend + 5:.2f}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--campaigns", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=90)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings.model_validate({"database": {"url": url}})
        engine = open_engine(url)
        csv = Path(tmp) / "history.csv"
        write_csv(csv, args.campaigns * args.days)
        started = time.perf_counter()
        import_csv(engine, csv, settings=settings, today=LAST + dt.timedelta(days=1))
        print(f"import {args.campaigns * args.days:,} rows: {time.perf_counter() - started:.1f} s")
        for extra, today in enumerate((LAST + dt.timedelta(days=1), LAST + dt.timedelta(days=2),
                                       LAST + dt.timedelta(days=3))):
            _restated(Path(tmp) / "restated.csv", args.campaigns, today, extra)
            started = time.perf_counter()
            import_csv(engine, Path(tmp) / "restated.csv", settings=settings, today=today)
            print(f"restated import ({args.campaigns * 10:,} rows) as of {today}: "
                  f"{time.perf_counter() - started:.1f} s")
        today = LAST + dt.timedelta(days=3)
        with Session(engine) as session:
            upsert_rates(session, [RateIn(today - dt.timedelta(days=d), cur, "EUR", Decimal(r))
                                   for d in range(3) for cur, r in (("USD", "0.9"),
                                                                    ("GBP", "1.15"))],
                         actor="bench")
            session.commit()
        with Session(engine) as session:
            accounts = session.scalars(select(AdAccount)).all()
            started = time.perf_counter()
            lag = load_lag(session, accounts, today)
            print(f"completion curves learnt: {time.perf_counter() - started:.2f} s "
                  f"({sum(c.observations for c in lag.curves.networks.values()):,} observations)")
        for nowcast in (True, False):
            options = Settings.model_validate({"database": {"url": url}, "optimizer": {
                "nowcast": nowcast, "lag_days": 0 if nowcast else 7}})
            with Session(engine) as session:
                started = time.perf_counter()
                propose(session, options, today=today, created_by="bench")
                session.rollback()
                print(f"propose, nowcast={nowcast}: {time.perf_counter() - started:.1f} s")
        engine.dispose()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
