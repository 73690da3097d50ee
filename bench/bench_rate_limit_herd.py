"""Task slots sharing one app's rate limit in Redis, under saturation: asks per call and calls
per second.

    .venv/bin/python -m bench.bench_rate_limit_herd [--processes 2] [--threads 64]
        [--rule 100/second] [--seconds 6]

``--processes`` worker processes of ``--threads`` slots each call ``wait_turn`` on one app
scope as fast as it lets them for ``--seconds``. Prints the calls granted per second (the
limit is the most there can be), the Redis commands per granted call (counted in each
process, around redis-py's ``execute_command``), the largest number of calls in any window
of the limit's length as the callers read their clocks after their turns (over the budget
only by the calls whose thread was not scheduled at once), and /proc/loadavg.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

WORKER = """
import json, sys, threading, time
import redis
from connectors.rate_limits import PlatformLimits, rule
uri, key, threads, text, start, stop, out = sys.argv[1:8]
asks = [0]
execute = redis.Redis.execute_command
lock = threading.Lock()
def counted(self, *args, **options):
    with lock:
        asks[0] += 1
    return execute(self, *args, **options)
redis.Redis.execute_command = counted
limits = PlatformLimits(uri)
limits.paused_for(("sandbox_app", key))
rules = {"sandbox_app": rule(text, "rate_limit_app")}
stamps = []
def slot():
    time.sleep(max(0.0, float(start) - time.time()))
    while time.time() < float(stop):
        limits.wait_turn([("sandbox_app", key)], "call", rules=rules)
        with lock:
            stamps.append(time.time())
pool = [threading.Thread(target=slot) for _ in range(int(threads))]
asks[0] = 0
for t in pool: t.start()
for t in pool: t.join()
open(out, "w").write(json.dumps({"asks": asks[0], "stamps": stamps}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--rule", default="100/second")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    from limits import parse

    item = parse(args.rule)
    key = f"bench_{uuid.uuid4().hex[:8]}"
    start = time.time() + 3.0
    stop = start + args.seconds
    outs = [Path(f"/tmp/bench_herd_{key}_{i}.json") for i in range(args.processes)]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, args.redis, key, str(args.threads),
                               args.rule, repr(start), repr(stop), str(out)]) for out in outs]
    for proc in procs:
        proc.wait()
    results = [json.loads(out.read_text()) for out in outs]
    for out in outs:
        out.unlink()
    stamps = sorted(t for r in results for t in r["stamps"])
    asks = sum(r["asks"] for r in results)
    span = item.get_expiry()
    # steady state: skip the first window (its budget is granted at once)
    steady = [t for t in stamps if start + span <= t < stop]
    # Calls come in bursts a window apart (a full window's waiters all get the turns of the
    # one before them, a window on): counting them over a fixed span is off by up to a burst,
    # so the rate sustained is the slope of calls granted over time.
    slope = statistics.linear_regression(steady, range(len(steady))).slope
    most = max(sum(1 for t in stamps[i:] if t < s + span) for i, s in enumerate(stamps))
    # the same after the first window: its budget's calls all read their clock at once
    later = [t for t in stamps if t >= start + span]
    most_later = max(sum(1 for t in later[i:] if t < s + span) for i, s in enumerate(later))
    print(f"{args.processes} processes x {args.threads} slots on {args.rule}: "
          f"{len(steady) / (stop - start - span):.1f} calls/s (limit {item.amount / span:.1f}; "
          f"{slope:.1f} sustained, the slope), "
          f"{asks / len(stamps):.2f} Redis commands a call ({asks} for {len(stamps)} calls), "
          f"at most {most} calls in any {span} s, {most_later} after the first window "
          f"(budget {item.amount}; as each caller read its clock after its turn)")
    print("load:", Path("/proc/loadavg").read_text().strip())


if __name__ == "__main__":
    main()
