"""Run every benchmark in bench/ and print its figures beside their targets."""

import logging

from bench import (
    area_request,
    delivery_faults,
    desired_latency,
    device_heartbeats,
    device_sweep,
    evidence_upload,
    geo_search,
    live_video,
    page_weight,
    push_fanout,
    request_paths,
    serve_workers,
)

logging.getLogger("httpx").setLevel(logging.WARNING)

for benchmark in (
    page_weight,
    request_paths,
    push_fanout,
    delivery_faults,
    area_request,
    evidence_upload,
    geo_search,
    device_heartbeats,
    device_sweep,
    desired_latency,
    live_video,
    serve_workers,
):
    benchmark.main()
