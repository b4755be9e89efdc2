"""The one table `make bench` ends with: each figure, ours, the peer measured in the same run, their ratio, the
target and whether it was met. A benchmark prints its details as it goes and records its headline figures here.

A figure within its target's noise margin (what two runs on this shared 2-core machine differ by) reads "noise";
further off reads "MISSED", and `make bench` then exits non-zero. BENCH_QUICK=1 runs every benchmark on less data
and for less time, for development: its figures are rougher, and a quick run never fails on a target.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

QUICK = os.environ.get("BENCH_QUICK") == "1"
NOISE = 0.10


@dataclass(frozen=True)
class Target:
    """What a measured value must reach: `value` or more (higher is better) or `value` or less (lower is better)."""

    value: float
    higher_is_better: bool = True
    noise: float = NOISE

    def __str__(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {self.value:g}"

    def verdict(self, measured: float) -> str:
        if measured >= self.value if self.higher_is_better else measured <= self.value:
            return "met"
        margin = self.value * (1 - self.noise) if self.higher_is_better else self.value * (1 + self.noise)
        return "noise" if (measured >= margin if self.higher_is_better else measured <= margin) else "MISSED"


@dataclass(frozen=True)
class Row:
    benchmark: str
    figure: str
    ours: str
    peer: str
    ratio: float | None
    target: Target | None
    verdict: str


ROWS: list[Row] = []


def record(
    benchmark: str,
    figure: str,
    ours: str,
    *,
    peer: str = "",
    ratio: float | None = None,
    target: Target | None = None,
    measured: float | None = None,
) -> None:
    """One line of the final table. The target applies to `measured` if given, else to the ratio."""
    value = measured if measured is not None else ratio
    verdict = target.verdict(value) if target is not None and value is not None else ""
    ROWS.append(Row(benchmark, figure, ours, peer, ratio, target, verdict))


def crashed(benchmark: str, error: BaseException) -> None:
    ROWS.append(Row(benchmark, f"crashed: {type(error).__name__}: {error}"[:120], "", "", None, None, "MISSED"))


def print_table() -> bool:
    """Print every recorded figure; True when no target was missed beyond its noise margin."""
    widths = (62, 14, 26, 6, 8)
    print(f"\n{'=' * 128}\nSummary{' (BENCH_QUICK: rough figures, targets not enforced)' if QUICK else ''}")
    print(f"{'figure':<{widths[0]}} {'ours':>{widths[1]}} {'peer (same run)':>{widths[2]}} "
          f"{'ratio':>{widths[3]}} {'target':>{widths[4]}}  verdict")  # fmt: skip
    current = None
    for row in ROWS:
        if row.benchmark != current:
            current = row.benchmark
            print(f"-- {current}")
        ratio = f"{row.ratio:.3g}" if row.ratio is not None else ""
        print(f"  {row.figure[: widths[0] - 2]:<{widths[0] - 2}} {row.ours:>{widths[1]}} {row.peer:>{widths[2]}} "
              f"{ratio:>{widths[3]}} {str(row.target or ''):>{widths[4]}}  {row.verdict}")  # fmt: skip
    missed = [row for row in ROWS if row.verdict == "MISSED"]
    print(f"{len(ROWS)} figures, {sum(r.verdict == 'met' for r in ROWS)} met, "
          f"{sum(r.verdict == 'noise' for r in ROWS)} within noise, {len(missed)} missed")  # fmt: skip
    return QUICK or not missed
