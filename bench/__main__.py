"""Run every benchmark in bench/, printing its figures beside their targets as it goes, then one table of every
headline figure with its peer measured in the same run (bench/report.py). Exits non-zero when a target was missed
by more than its noise margin, or a benchmark crashed."""

import logging
import sys
import time
import traceback

from bench import (
    area_request,
    delivery_faults,
    desired_latency,
    device_heartbeats,
    device_sweep,
    district_roster,
    evidence_upload,
    geo_search,
    live_video,
    page_weight,
    push_fanout,
    request_paths,
    serve_workers,
)
from bench.report import QUICK, Target, crashed, print_table, record

logging.getLogger("httpx").setLevel(logging.WARNING)

took: dict[str, float] = {}
for benchmark in (
    page_weight,
    request_paths,
    push_fanout,
    delivery_faults,
    area_request,
    evidence_upload,
    district_roster,
    geo_search,
    device_heartbeats,
    device_sweep,
    desired_latency,
    live_video,
    serve_workers,
):
    began = time.monotonic()
    try:
        benchmark.main()
    except Exception as error:  # one benchmark's failure is reported in the table; the others still run
        traceback.print_exc()
        crashed(benchmark.__name__.removeprefix("bench."), error)
    took[benchmark.__name__.removeprefix("bench.")] = time.monotonic() - began
print("\nTime each benchmark took: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in took.items()))
total = sum(took.values())
record("make bench itself", f"all benchmarks{' (BENCH_QUICK=1)' if QUICK else ''}", f"{total / 60:.1f} min",
       measured=total / 60, target=Target(2 if QUICK else 10, higher_is_better=False))  # fmt: skip
sys.exit(0 if print_table() else 1)
