"""Benchmarks: `make bench` prints each figure next to its target. They are not tests."""
