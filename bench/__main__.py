"""Run every benchmark in bench/ and print its figures beside their targets."""

import logging

from bench import area_request, evidence_upload, geo_search, page_weight, push_fanout

logging.getLogger("httpx").setLevel(logging.WARNING)

for benchmark in (page_weight, push_fanout, area_request, evidence_upload, geo_search):
    benchmark.main()
