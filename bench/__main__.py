"""Run every benchmark in bench/, printing its figures beside their targets as it goes, then one table of every
headline figure with its peer measured in the same run (bench/report.py). Exits non-zero when a target was missed
by more than its noise margin, or a benchmark crashed.

BENCH_QUICK=1 leaves out the end-to-end benchmarks whose length is their subject (a worker's 20 s lease running
out, live video through Chromium, servers under 200 clients); BENCH_ONLY=name[,name...] runs just those named,
e.g. BENCH_ONLY=live_video make bench."""

import logging
import os
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

BENCHMARKS = (
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
)
END_TO_END = (delivery_faults, live_video, serve_workers, device_heartbeats)


def name_of(benchmark: object) -> str:
    return benchmark.__name__.removeprefix("bench.")  # type: ignore[attr-defined]


only = [name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()]
if unknown := sorted(set(only) - {name_of(b) for b in BENCHMARKS}):
    sys.exit(f"BENCH_ONLY: no benchmark named {', '.join(unknown)}")
if only:
    chosen = [b for b in BENCHMARKS if name_of(b) in only]
else:
    chosen = [b for b in BENCHMARKS if not (QUICK and b in END_TO_END)]
if len(chosen) < len(BENCHMARKS):
    left_out = ", ".join(name_of(b) for b in BENCHMARKS if b not in chosen)
    print(f"Left out this time: {left_out} (BENCH_ONLY=name runs one)")
took: dict[str, float] = {}
for benchmark in chosen:
    began = time.monotonic()
    try:
        benchmark.main()
    except Exception as error:  # one benchmark's failure is reported in the table; the others still run
        traceback.print_exc()
        crashed(name_of(benchmark), error)
    took[name_of(benchmark)] = time.monotonic() - began
print("\nTime each benchmark took: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in took.items()))
total = sum(took.values())
if not only:
    figure = "all benchmarks but the end-to-end ones (BENCH_QUICK=1)" if QUICK else "all benchmarks"
    limit = Target(2 if QUICK else 10, higher_is_better=False)
    record("make bench itself", figure, f"{total / 60:.1f} min", measured=total / 60, target=limit)
sys.exit(0 if print_table() else 1)
