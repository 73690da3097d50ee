"""Benchmark: CSV import throughput and peak memory, into SQLite and PostgreSQL.

    python bench/bench_import.py [--rows 1000000] [--backend sqlite|postgres|both]
                                 [--format budgetpilot|google|tiktok|both|all ...]

Writes a CSV of N campaign-days (10,000 campaigns x N/10,000 days over four networks) in our
format, the same campaign-days as a Google Ads report download (title and date-range lines
above the header, "1,204.50" amounts, "--" for no value, two trailing total rows) and as a
TikTok Ads Manager custom report (its titles, quoted "1,204.50" amounts and "12,000"
counts, derived CTR and CPM columns, "-" for none, a trailing "Total of N results" row);
``both`` is ours and Google's, ``all`` the three. Each is imported once per back end in a
fresh process, which prints rows/s and its peak resident memory. PostgreSQL
(BUDGETPILOT_BENCH_PG_URL, default the local `test` database) is used in a scratch schema
that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PG_URL = os.environ.get("BUDGETPILOT_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
HEADER = ("date,network,account_id,campaign_id,campaign_name,currency,spend,impressions,clicks,"
          "conversions,revenue,daily_budget")
NETWORKS = (("meta", "EUR"), ("google", "USD"), ("tiktok", "EUR"), ("bing", "GBP"))


def campaign_days(rows: int, campaigns: int = 10_000) -> Iterator[tuple[str, int, float, int]]:
    """(day, campaign number, spend, conversions) for N campaign-days, the oldest day first."""
    rng = random.Random(1)
    days = max(1, rows // campaigns)
    start = dt.date(2026, 1, 1) - dt.timedelta(days=days)
    for n in range(rows):
        d, c = divmod(n, campaigns)
        day = (start + dt.timedelta(days=min(d, days - 1))).isoformat()
        yield day, c, rng.randint(1000, 500000) / 100, rng.randint(0, 30)


def write_csv(path: Path, rows: int) -> None:
    with path.open("w") as f:
        f.write(HEADER + "\n")
        for day, c, spend, conv in campaign_days(rows):
            network, currency = NETWORKS[c % 4]
            f.write(f"{day},{network},acc_{c % 40},cmp_{c},Campaign {c},{currency},{spend},"
                    f"{int(spend * 90)},{int(spend * 2)},{conv},{spend * 2.3:.2f},"
                    f"{spend + 5:.2f}\n")


GOOGLE_HEADER = ("Day,Customer ID,Campaign,Campaign ID,Currency code,Budget,Cost,Impr.,Clicks,"
                 "CTR,Conversions,Conv. value")


def write_google_csv(path: Path, rows: int) -> None:
    """The same campaign-days as a Google Ads report download, with its quirks."""
    with path.open("w") as f:
        f.write(f"Campaign performance report\n\"Last {rows} campaign-days\"\n{GOOGLE_HEADER}\n")
        for day, c, spend, conv in campaign_days(rows):
            value = f'"{spend * 2.3:,.2f}"' if conv else " --"
            f.write(f'{day},{100 + c % 40:03d}-555-0100,Campaign {c},{c},USD,'
                    f'"{spend + 5:,.2f}","{spend:,.2f}","{int(spend * 90):,}",'
                    f'{int(spend * 2)},2.22%,{conv},{value}\n')
        f.write("Total: Campaigns,,,,,,,,,,,\nTotal: Account,,,,,,,,,,,\n")


TIKTOK_HEADER = ("By Day,Advertiser ID,Campaign ID,Campaign name,Currency,Campaign budget,Cost,"
                 "Impressions,Clicks (destination),CTR,CPM,Conversions,"
                 "Total complete payment value")


def write_tiktok_csv(path: Path, rows: int) -> None:
    """The same campaign-days as a TikTok Ads Manager custom report export."""
    with path.open("w") as f:
        f.write(TIKTOK_HEADER + "\n")
        for day, c, spend, conv in campaign_days(rows):
            currency = NETWORKS[c % 4][1]
            impressions, clicks = int(spend * 90), int(spend * 2)
            value = f'"{spend * 2.3:,.2f}"' if conv else "-"
            f.write(f'{day},70000{c % 40:02d},{c},Campaign {c},{currency},"{spend + 5:,.2f}",'
                    f'"{spend:,.2f}","{impressions:,}",{clicks},'
                    f'{clicks / impressions:.2%},{spend / impressions * 1000:.2f},{conv},'
                    f'{value}\n')
        f.write(f"Total of {rows} results,-,-,-,-,-,-,-,-,-,-,-,-\n")


def child(url: str, csv_path: str) -> None:
    """Runs in its own process so that its peak memory is the import's alone."""
    from campaigns.config import Settings
    from campaigns.db import open_engine
    from campaigns.ingest.csv_import.importer import import_csv

    engine = open_engine(url)
    t0 = time.perf_counter()
    result = import_csv(engine, csv_path, settings=Settings(), today=dt.date(2026, 1, 2))
    elapsed = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": result.rows, "seconds": elapsed, "peak_mib": peak_mib}))


def run_child(url: str, csv_path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, str(csv_path)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--format", choices=["budgetpilot", "google", "tiktok", "both", "all"],
                        nargs="+", default=["both"])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    writers = {"budgetpilot": write_csv, "google": write_google_csv,
               "tiktok": write_tiktok_csv}
    groups = {"both": ["budgetpilot", "google"], "all": list(writers)}
    formats = list(dict.fromkeys(f for name in args.format for f in groups.get(name, [name])))
    with tempfile.TemporaryDirectory() as tmp:
        print(f"# load average before: {Path('/proc/loadavg').read_text().strip()}")
        print(f"{'format':<12} {'backend':<10} {'rows':>10} {'seconds':>8} {'rows/s':>9} "
              f"{'peak MiB':>9}")
        for fmt in formats:
            csv_path = Path(tmp) / f"bench-{fmt}.csv"
            t0 = time.perf_counter()
            writers[fmt](csv_path, args.rows)
            size = csv_path.stat().st_size / 2**20
            print(f"# wrote {args.rows:,} {fmt} rows ({size:.0f} MiB) "
                  f"in {time.perf_counter() - t0:.1f} s")
            results = []
            if args.backend in ("sqlite", "both"):
                results.append(("sqlite", run_child(f"sqlite:///{tmp}/{fmt}.db", csv_path)))
            if args.backend in ("postgres", "both"):
                results.append(("postgres", run_pg(csv_path)))
            for name, r in results:
                if r is None:
                    print(f"{fmt:<12} {name:<10} skipped: PostgreSQL not reachable at {PG_URL}")
                    continue
                print(f"{fmt:<12} {name:<10} {r['rows']:>10,} {r['seconds']:>8.1f} "
                      f"{r['rows'] / r['seconds']:>9,.0f} {r['peak_mib']:>9.0f}")
            csv_path.unlink()
        print(f"# load average after: {Path('/proc/loadavg').read_text().strip()}")


def run_pg(csv_path: Path) -> dict | None:
    from sqlalchemy import text

    from campaigns.db import create_db_engine

    try:
        admin = create_db_engine(PG_URL)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception:
        return None
    try:
        url = f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
        return run_child(url, csv_path)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
