"""The scheduler's cost on each store: SQLite (the anchor, measured in the same run) and
PostgreSQL (`--postgres-url`, an empty schema or database: the run makes its tables).

    python -m benchmarks.store_backends --postgres-url postgresql://... [--bookings 200]

Measured in-process on the real Scheduler and stores (mcu/store.py, mcu/store_postgres.py):
- book: one booking (validate, one exclusive transaction, commit), ms per booking;
- query: `conferences()` with nothing changed, as queryConferencesStatusEx does it (PostgreSQL
  first reads the revision counter: one round trip), µs per query;
- catch_up: a query on one gateway right after the other booked (it reads what changed
  since its own revision: that conference, the counters, the directory), ms, with about
  `--bookings` conferences stored;
- two at once: two schedulers on one store booking from two threads, bookings per second.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mcu.clock import ManualClock
from mcu.model import ConferenceSpec, SiteSpec
from mcu.scheduler import Scheduler, SchedulerSettings
from mcu.store_api import SchedulerStore, open_store

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def spec(tag: str, n: int) -> ConferenceSpec:
    # each booking its own sites and hour, so none refuses another
    return ConferenceSpec(name=f"{tag}{n}", begin=START + timedelta(hours=n),
                          duration=timedelta(minutes=30),
                          sites=[SiteSpec(uri=f"{tag}-{n}-{k}", name="site") for k in range(3)])


def timed(action: Callable[[], Any]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def percentiles(samples: list[float], scale: float) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered) * scale, 3),
            "p95": round(ordered[int(len(ordered) * 0.95) - 1] * scale, 3)}


def measure(open_one: Callable[[], SchedulerStore], bookings: int) -> dict[str, Any]:
    clock = ManualClock(START)
    settings = SchedulerSettings(max_ports=100_000, max_cp_resources=100_000)
    stores = [open_one(), open_one()]
    a = Scheduler(stores[0], clock, settings)
    result: dict[str, Any] = {}
    booking_times = []
    for n in range(bookings):
        began = time.perf_counter()
        a.schedule(spec("a", n))
        booking_times.append(time.perf_counter() - began)
    result["book_ms"] = percentiles(booking_times, 1e3)
    result["query_us"] = percentiles([timed(a.conferences) for _ in range(2000)], 1e6)
    if stores[0].shared:
        b = Scheduler(stores[1], clock, settings)
        catch_ups = []
        for n in range(20):
            b.schedule(spec("b", n))
            catch_ups.append(timed(a.conferences))  # a catches up with what b wrote
        result["catch_up_ms"] = percentiles(catch_ups, 1e3)
        result["conferences_stored"] = len(a.conferences())
        schedulers = [a, b]
    else:
        schedulers = [a, a]  # one SQLite file belongs to one process: two threads, one scheduler
    per_thread = bookings // 2
    go = threading.Barrier(3)

    def book(tag: str, scheduler: Scheduler) -> None:
        go.wait()
        for n in range(per_thread):
            scheduler.schedule(spec(tag, n))

    threads = [threading.Thread(target=book, args=(tag, scheduler))
               for tag, scheduler in zip(("c", "d"), schedulers, strict=True)]
    for thread in threads:
        thread.start()
    go.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    result["two_at_once_per_s"] = round(2 * per_thread / (time.perf_counter() - began), 1)
    for store in stores:
        store.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as data_dir:
        results = {
            "sqlite": measure(lambda: open_store("", Path(data_dir)), args.bookings),
            "postgresql": measure(lambda: open_store(args.postgres_url, Path(data_dir)),
                                  args.bookings),
        }
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
